//! Reading: one version, history, search over a patient's records and
//! the whole audit log, each an audited access decided by the chain.

use super::*;

impl<E: Runtime> Clinical<E> {
    /// Ask the chain whether `caller` may read the whole audit log; the
    /// final audit event of the question.
    pub(crate) async fn query_audit(&self, caller: &Caller) -> Result<AuditEvent, Outcome> {
        let body = Body::QueryAudit {
            agent: (&caller.key).into(),
            purpose: caller.purpose,
        };
        let (tx, receipt) = self.submit_final(body).await?;
        if let TxStatus::Rejected { reason } = receipt.status {
            return Err(Outcome::new(403, IssueType::Forbidden, reason));
        }
        self.event_of(&tx).await
    }

    /// Read access to one resource, audited; its head and the permitting tx.
    pub(crate) async fn permitted_read(
        &self,
        caller: &Caller,
        resource_type: ResourceType,
        id: &LogicalId,
    ) -> Result<(RecordHead, Digest), Outcome> {
        let head = self.existing(resource_type, id).await?;
        let resource = ResourceRef {
            resource_type,
            id: id.clone(),
        };
        let (tx, event) = self
            .access(caller, head.patient, Some(resource), AccessAction::Read)
            .await?;
        if event.decision == Decision::Deny {
            return Err(denied(&event));
        }
        // Re-read: the decision is final, so this node's state now holds
        // everything up to it, an erasure included.
        let head: RecordHead = self
            .read(&keys::record_head(resource_type, id))
            .await?
            .unwrap_or(head);
        if head.erased_height.is_some() {
            self.forget(resource_type, id, head.version).await?;
            return Err(Outcome::new(
                410,
                IssueType::Deleted,
                format!("{resource_type}/{id} was erased at its custodian's request"),
            ));
        }
        Ok((head, tx))
    }

    /// `GET /fhir/{type}/{id}[/_history/{vid}]`.
    pub(crate) async fn read_version(
        &self,
        caller: &Caller,
        type_name: &str,
        id: &str,
        version: Option<u64>,
    ) -> Result<Version, Outcome> {
        let resource_type = parse_json_type(type_name)?;
        let id = parse_id(id)?;
        let (head, tx) = self.permitted_read(caller, resource_type, &id).await?;
        let version = version.unwrap_or(head.version);
        self.content(resource_type, &id, version, &tx).await
    }

    /// `GET /fhir/{type}/{id}/_history`: every version, newest first.
    pub(crate) async fn history(
        &self,
        caller: &Caller,
        type_name: &str,
        id: &str,
    ) -> Result<Vec<Version>, Outcome> {
        let resource_type = parse_json_type(type_name)?;
        let id = parse_id(id)?;
        let (head, tx) = self.permitted_read(caller, resource_type, &id).await?;
        let mut versions = Vec::new();
        for version in (1..=head.version).rev() {
            versions.push(self.content(resource_type, &id, version, &tx).await?);
        }
        Ok(versions)
    }

    /// The resources (`Type/id`) recorded about `patient`, oldest first
    /// (the entries in one batched read).
    pub(super) async fn patient_index(&self, patient: &Pseudonym) -> Result<Vec<String>, Outcome> {
        let count = self
            .read_raw(&keys::patient_records(patient))
            .await?
            .and_then(|b| keys::decode_u64(&b))
            .unwrap_or(0);
        let entries: Vec<Vec<u8>> = (0..count)
            .map(|i| keys::patient_record(patient, i))
            .collect();
        let mut loaded = custodia_state::Preloaded::default();
        self.committed
            .load(None, &entries, &mut loaded)
            .await
            .map_err(unavailable)?;
        Ok(entries
            .iter()
            .filter_map(|key| custodia_state::StateRead::get(&loaded, key))
            .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
            .collect())
    }

    /// `Patient/{id}/$everything`: the latest version of every record of
    /// `patient` this caller may read, the Patient first, then the rest in
    /// the order they were recorded. Files (Binary) are found through the
    /// documents that point to them.
    pub(crate) async fn everything(
        &self,
        caller: &Caller,
        patient: Pseudonym,
    ) -> Result<Vec<Value>, Outcome> {
        let mut by_type: Vec<(ResourceType, Vec<LogicalId>)> = Vec::new();
        for name in self.patient_index(&patient).await? {
            let Some((resource_type, id)) = record_name(&name) else {
                continue;
            };
            if resource_type == ResourceType::Binary {
                continue;
            }
            match by_type.iter_mut().find(|(t, _)| *t == resource_type) {
                Some((_, ids)) => ids.push(id),
                None => by_type.push((resource_type, vec![id])),
            }
        }
        by_type.sort_by_key(|(t, _)| *t != ResourceType::Patient);
        let mut found = Vec::new();
        for (resource_type, ids) in by_type {
            let versions = self.read_permitted(caller, resource_type, &ids).await?;
            found.extend(versions.into_iter().map(|v| v.json));
        }
        Ok(found)
    }

    /// The latest version of each of `ids` this caller may read, each read
    /// audited; those the policy denies, or that were erased, are left
    /// out. The reads are asked for at once, so they share blocks.
    pub(super) async fn read_permitted(
        &self,
        caller: &Caller,
        resource_type: ResourceType,
        ids: &[LogicalId],
    ) -> Result<Vec<Version>, Outcome> {
        let reads = ids
            .iter()
            .map(|id| self.permitted_read(caller, resource_type, id));
        let results = futures::future::join_all(reads).await;
        let mut found = Vec::new();
        for (id, result) in ids.iter().zip(results) {
            match result {
                Ok((head, tx)) => {
                    found.push(self.content(resource_type, id, head.version, &tx).await?)
                }
                Err(outcome) if matches!(outcome.status, 403 | 410) => {}
                Err(outcome) => return Err(outcome),
            }
        }
        Ok(found)
    }

    /// The decrypted content of a version the chain let this node read
    /// (`access_tx` is the permitting audit event), checked against the
    /// chain's hashes.
    pub(super) async fn content(
        &self,
        resource_type: ResourceType,
        id: &LogicalId,
        version: u64,
        access_tx: &Digest,
    ) -> Result<Version, Outcome> {
        let entry: RecordEntry = self
            .read(&keys::record_version(resource_type, id, version))
            .await?
            .ok_or_else(|| {
                Outcome::new(
                    404,
                    IssueType::NotFound,
                    format!("{resource_type}/{id} has no version {version}"),
                )
            })?;
        let hash: [u8; 32] = entry.ciphertext.as_ref().try_into().map_err(unavailable)?;
        let aad = aad(resource_type, id, version);
        let opened = if entry.custodian == self.org {
            self.open_own(hash, aad).await?
        } else {
            self.open_released(
                &entry,
                resource_type,
                id,
                version,
                access_tx,
                aad.as_bytes(),
            )
            .await?
        };
        if opened.commitment.as_slice() != entry.commitment.as_ref() {
            return Err(unavailable(format!(
                "{resource_type}/{id} v{version} does not match its commitment on chain"
            )));
        }
        let json = serde_json::from_slice(&opened.plaintext).map_err(unavailable)?;
        Ok(Version {
            json,
            version,
            time_ms: entry.time_ms,
            salt: Some(opened.salt),
        })
    }

    pub(super) async fn open_own(
        &self,
        hash: [u8; 32],
        aad: String,
    ) -> Result<custodia_vault::Opened, Outcome> {
        self.vault(move |objects, keyring, own_keys| {
            let gone = || {
                Outcome::new(
                    410,
                    IssueType::Deleted,
                    "this content's key was destroyed (erased)",
                )
            };
            let wrapped = keyring.get(&hash).map_err(unavailable)?.ok_or_else(gone)?;
            let ciphertext = objects.get(&hash).map_err(unavailable)?.ok_or_else(gone)?;
            let key = own_keys.unwrap(&wrapped, &hash).map_err(unavailable)?;
            custodia_vault::open(&key, &ciphertext, aad.as_bytes()).map_err(unavailable)
        })
        .await
    }
}
