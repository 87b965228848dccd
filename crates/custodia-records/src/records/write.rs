//! Writing versions: one resource, or a transaction Bundle all or
//! nothing; checked against the chain's own rules before anything is
//! sealed, sealed into the vault, then recorded on the chain.

use super::*;

/// What a write makes a version of, and whose record that is.
pub(super) struct Target {
    resource_type: ResourceType,
    id: LogicalId,
    /// `None` for directory data.
    patient: Option<Pseudonym>,
    /// The version a version-aware update must replace (`If-Match`).
    if_match: Option<u64>,
}

/// A version sealed into the vault, not yet on the chain.
pub(crate) struct Prepared {
    pub record: RecordVersion,
    pub json: Value,
}
impl<E: Runtime> Clinical<E> {
    /// `POST /fhir/{type}` (id `None`) and `PUT /fhir/{type}/{id}`; an
    /// update with `if_match` replaces only that version (`If-Match`).
    pub(crate) async fn write(
        &self,
        caller: &Caller,
        type_name: &str,
        id: Option<&str>,
        if_match: Option<u64>,
        body: &[u8],
    ) -> Result<(Version, bool), Outcome> {
        let resource_type = parse_writable_type(type_name)?;
        let resource = custodia_fhir::parse(body, Some(type_name))?;
        refuse_patient_writers(caller)?;
        if let (Some(url_id), Some(body_id)) = (id, resource.id.as_deref()) {
            if url_id != body_id {
                return Err(Outcome::new(
                    400,
                    IssueType::Invalid,
                    format!("the URL names id {url_id} but the body has id {body_id}"),
                ));
            }
        }
        let target = Target {
            if_match,
            ..self.identify(resource_type, id, &resource)?
        };
        let mut content = Unrecorded::new(&self.objects, &self.keyring);
        let prepared = self
            .prepare(caller, target, resource.json, &[], &mut content)
            .await?;
        self.record(vec![prepared], content)
            .await
            .map_err(|refusal| changed_meanwhile(refusal, if_match.is_some()))
            .map(|mut versions| {
                let version = versions.remove(0);
                let created = version.version == 1;
                (version, created)
            })
    }

    /// `POST /fhir` with a `transaction` Bundle: every entry is written, in
    /// one chain transaction, or none is.
    pub(crate) async fn transaction(
        &self,
        caller: &Caller,
        bundle: Value,
    ) -> Result<Vec<(TransactionEntry, Version)>, Outcome> {
        refuse_patient_writers(caller)?;
        // Conditional entries are resolved against the index: whole, or
        // a create could duplicate what the organisation already holds.
        self.index_ready().await?;
        let assign_id = |t: &str| {
            if t == "Patient" {
                Pseudonym::new(self.random()).to_hex()
            } else {
                self.new_logical_id().as_str().to_owned()
            }
        };
        let held = |t: &str, token: &IdentifierToken| {
            let resource_type: ResourceType = t.parse().ok()?;
            let found = self.index.find_identifier(resource_type, token);
            found.first().map(ToString::to_string)
        };
        let entries =
            custodia_fhir::parse_transaction(bundle, max_transaction_entries(), assign_id, held)?;
        // Conditional creates that matched write nothing.
        let (matched, to_write): (Vec<_>, Vec<_>) = entries
            .into_iter()
            .enumerate()
            .partition(|(_, entry)| entry.method == Method::Matched);
        let mut targets = Vec::with_capacity(to_write.len());
        for (_, entry) in &to_write {
            let resource_type = parse_writable_type(&entry.resource.resource_type)?;
            let if_match = match entry.method {
                Method::Update { if_match } => if_match,
                Method::Create | Method::Matched => None,
            };
            targets.push(Target {
                if_match,
                ..self.identify(resource_type, Some(&entry.id), &entry.resource)?
            });
        }
        let conditional = targets.iter().any(|target| target.if_match.is_some());
        // Patients the bundle creates count as known to every entry,
        // wherever in the bundle they come.
        let created_patients: Vec<Pseudonym> = targets
            .iter()
            .filter(|target| target.resource_type == ResourceType::Patient)
            .filter_map(|target| target.patient)
            .collect();
        let mut content = Unrecorded::new(&self.objects, &self.keyring);
        let mut prepared = Vec::with_capacity(to_write.len());
        for ((_, entry), target) in to_write.iter().zip(targets) {
            let json = entry.resource.json.clone();
            prepared.push(
                self.prepare(caller, target, json, &created_patients, &mut content)
                    .await?,
            );
        }
        let versions = match prepared.is_empty() {
            true => vec![],
            false => self
                .record(prepared, content)
                .await
                .map_err(|refusal| changed_meanwhile(refusal, conditional))?,
        };
        let mut results: Vec<(usize, TransactionEntry, Version)> = to_write
            .into_iter()
            .zip(versions)
            .map(|((i, entry), version)| (i, entry, version))
            .collect();
        for (i, entry) in matched {
            let resource_type = parse_type(&entry.resource.resource_type)?;
            let id = parse_id(&entry.id)?;
            let head = self.existing(resource_type, &id).await?;
            let recorded: Option<RecordEntry> = self
                .read(&keys::record_version(resource_type, &id, head.version))
                .await?;
            let version = Version {
                json: Value::Null,
                version: head.version,
                time_ms: recorded.map_or(0, |r| r.time_ms),
                salt: None,
            };
            results.push((i, entry, version));
        }
        results.sort_by_key(|(i, _, _)| *i);
        Ok(results
            .into_iter()
            .map(|(_, entry, version)| (entry, version))
            .collect())
    }

    /// `POST /fhir` with a `batch` Bundle: each entry on its own, as a
    /// one-entry transaction (a refused entry leaves the others written);
    /// at most 64 in flight. Each entry's result, in order.
    pub(crate) async fn batch(
        &self,
        caller: &Caller,
        entries: Vec<Value>,
    ) -> Vec<Result<(TransactionEntry, Version), Outcome>> {
        use futures::StreamExt as _;
        futures::stream::iter(entries)
.map(|entry: Value| async move {
                let one = serde_json::json!({ "resourceType": "Bundle", "type": "transaction", "entry": [entry] });
                let mut written = self.transaction(caller, one).await?;
                written.pop().ok_or_else(|| unavailable("a one-entry transaction wrote nothing"))
            })
            .buffered(64)
            .collect()
            .await
    }

    /// Check a version can be written, stamp it, seal it into the vault.
    pub(super) async fn prepare(
        &self,
        caller: &Caller,
        target: Target,
        mut json: Value,
        created_patients: &[Pseudonym],
        content: &mut Unrecorded,
    ) -> Result<Prepared, Outcome> {
        let Target {
            resource_type,
            id,
            patient,
            if_match,
        } = target;
        let head: Option<RecordHead> = self.read(&keys::record_head(resource_type, &id)).await?;
        if let Some(head) = &head {
            let name = format!("{resource_type}/{id}");
            if let Err(refusal) = may_write_version(head, &self.org, &name) {
                if matches!(refusal, Rejection::NotCustodian { .. }) {
                    self.audit_refused_write(caller, patient, resource_type, &id)
                        .await?;
                }
                return Err(rule_refusal(&refusal));
            }
        }
        // Before anything is sealed: a stale update stores nothing.
        let current = head.as_ref().map_or(0, |h| h.version);
        if let Some(expected) = if_match.filter(|expected| *expected != current) {
            return Err(stale(resource_type, &id, current, expected));
        }
        let new_in_compartment = patient
            .filter(|p| resource_type != ResourceType::Patient && !created_patients.contains(p));
        if let Some(patient) = new_in_compartment {
            let known: Option<Value> = self.read(&keys::patient(&patient)).await?;
            if known.is_none() {
                return Err(Outcome::new(
                    422,
                    IssueType::NotFound,
                    format!("no Patient/{patient} on the chain; create the Patient first"),
                ));
            }
        }
        let version = head.as_ref().map_or(1, |h| h.version + 1);
        let time_ms = self.now_ms();
        custodia_fhir::set_meta(&mut json, id.as_str(), version, &rfc3339(time_ms));
        let plaintext = serde_json::to_vec(&json).map_err(unavailable)?;
        let size = plaintext.len() as u64;
        let aad = aad(resource_type, &id, version);
        let sealed = self
            .vault(move |objects, keyring, own_keys| {
                let key = DataKey::generate();
                let sealed = seal(&key, &plaintext, aad.as_bytes());
                let hash = sealed.ciphertext_hash;
                let wrapped = own_keys.wrap(&key, &hash);
                // The key is written first and synced after the ciphertext
                // is stored: the writers whose ciphertexts went into the
                // same vault commit then share one sync of the key file.
                let unsynced = keyring.put_unsynced(&hash, &wrapped).map_err(unavailable)?;
                if let Err(error) = objects
                    .put(&sealed.ciphertext)
                    .and_then(|_| keyring.sync(unsynced))
                {
                    // Neither is of use without the other.
                    let _ = keyring.shred(&hash);
                    let _ = objects.delete(&hash);
                    return Err(unavailable(error));
                }
                Ok(sealed)
            })
            .await?;
        content.add(sealed.ciphertext_hash);
        Ok(Prepared {
            record: RecordVersion {
                patient,
                resource_type,
                id,
                version,
                ciphertext: Digest::from(sealed.ciphertext_hash),
                commitment: Digest::from(sealed.commitment),
                size,
                time_ms,
                author: (&caller.key).into(),
            },
            json,
        })
    }

    /// Put sealed versions on the chain (one transaction) and wait for it;
    /// `content` is theirs in the vault, kept only if the chain takes them.
    pub(crate) async fn record(
        &self,
        prepared: Vec<Prepared>,
        content: Unrecorded,
    ) -> Result<Vec<Version>, Outcome> {
        let body = match prepared.as_slice() {
            [one] => Body::WriteRecord(one.record.clone()),
            many => {
                let mut versions: Vec<RecordVersion> =
                    many.iter().map(|p| p.record.clone()).collect();
                // The chain checks versions in order: the patients a bundle
                // creates go first, wherever the bundle had them.
                versions.sort_by_key(|v| v.resource_type != ResourceType::Patient);
                if versions.len() <= MAX_BUNDLE_VERSIONS {
                    Body::WriteRecords { versions }
                } else {
                    self.stage(versions).await?
                }
            }
        };
        let staged = match &body {
            Body::CommitRecords { bundle, parts } => Some((*bundle, *parts)),
            _ => None,
        };
        let tx = self.submit(body).await?;
        if let TxStatus::Rejected { reason } = self.settle(tx, content).await?.status {
            if let Some((bundle, parts)) = staged {
                self.discard_staged(bundle, parts).await;
            }
            return Err(write_refusal(&reason));
        }
        for p in &prepared {
            self.index
                .record(p.record.resource_type, &p.record.id, &p.json);
        }
        self.replicator.push(
            &prepared
                .iter()
                .map(|p| crate::replication::ReplicaOf {
                    resource_type: p.record.resource_type,
                    id: p.record.id.clone(),
                    version: p.record.version,
                    ciphertext: p.record.ciphertext.into(),
                })
                .collect::<Vec<_>>(),
        );
        Ok(prepared
            .into_iter()
            .map(|p| Version {
                json: p.json,
                version: p.record.version,
                time_ms: p.record.time_ms,
                salt: None,
            })
            .collect())
    }

    /// Stage `versions`, too many for one transaction, in parts of
    /// `MAX_BUNDLE_VERSIONS` (all at once, so they share blocks); the
    /// commit that then writes them all or none.
    async fn stage(&self, versions: Vec<RecordVersion>) -> Result<Body, Outcome> {
        let bundle = Digest::from(self.random::<32>());
        let parts: Vec<Body> = versions
            .chunks(MAX_BUNDLE_VERSIONS)
            .zip(0u32..)
            .map(|(chunk, part)| Body::StageRecords {
                bundle,
                part,
                versions: chunk.to_vec(),
            })
            .collect();
        let count = u32::try_from(parts.len())
            .ok()
            .filter(|count| *count <= MAX_STAGED_PARTS)
            .ok_or_else(|| {
                Outcome::new(
                    413,
                    IssueType::TooLong,
                    format!(
                        "a transaction holds at most {} entries; split it",
                        max_transaction_entries()
                    ),
                )
            })?;
        let staged =
            futures::future::join_all(parts.into_iter().map(|part| self.submit_final(part))).await;
        for result in staged {
            if let TxStatus::Rejected { reason } = result?.1.status {
                return Err(write_refusal(&reason));
            }
        }
        Ok(Body::CommitRecords {
            bundle,
            parts: count,
        })
    }

    /// Delete the staged parts of a bundle whose commit the chain refused
    /// (best effort: parts left behind are bounded and attributed to this
    /// organisation).
    async fn discard_staged(&self, bundle: Digest, parts: u32) {
        let discard = Body::DiscardStaged { bundle, parts };
        match self.submit_final(discard).await {
            Ok((_, receipt)) if receipt.status == TxStatus::Applied => {}
            Ok((_, receipt)) => {
                tracing::warn!(status = ?receipt.status, "staged parts not discarded")
            }
            Err(outcome) => tracing::warn!(?outcome, "staged parts not discarded"),
        }
    }

    /// The resource a write is a version of, and whose record it is (as
    /// R4's Patient compartment decides, in custodia-fhir).
    pub(super) fn identify(
        &self,
        resource_type: ResourceType,
        id: Option<&str>,
        resource: &Resource,
    ) -> Result<Target, Outcome> {
        let patient = match &resource.owner {
            Owner::ThePatient => {
                // A Patient's id is its pseudonym: new ones get a fresh one.
                let patient = match id {
                    Some(id) => id.parse::<Pseudonym>().map_err(|_| {
                        Outcome::new(400, IssueType::Value, "a Patient's id is its 64-hex-digit pseudonym; create new patients with POST /fhir/Patient")
                    })?,
                    None => Pseudonym::new(self.random()),
                };
                return Ok(Target {
                    resource_type,
                    id: parse_id(&patient.to_hex())?,
                    patient: Some(patient),
                    if_match: None,
                });
            }
            Owner::Patient(reference) => Some(reference.parse::<Pseudonym>().map_err(|_| {
                Outcome::new(400, IssueType::Value, format!("Patient/{reference} is not a patient on this ledger: patients are named by their 64-hex-digit pseudonym"))
            })?),
            Owner::Directory => None,
        };
        let id = match id {
            Some(id) => parse_id(id)?,
            None => self.new_logical_id(),
        };
        Ok(Target {
            resource_type,
            id,
            patient,
            if_match: None,
        })
    }

    pub(super) async fn audit_refused_write(
        &self,
        caller: &Caller,
        patient: Option<Pseudonym>,
        resource_type: ResourceType,
        id: &LogicalId,
    ) -> Result<(), Outcome> {
        self.access(
            caller,
            patient,
            Some(ResourceRef {
                resource_type,
                id: id.clone(),
            }),
            AccessAction::Write,
        )
        .await
        .map(|_| ())
    }
}

/// A version-aware update whose `If-Match` names a version that is not the
/// latest on this node (the chain checks again: it records a version only
/// over the one before it).
pub(super) fn stale(
    resource_type: ResourceType,
    id: &LogicalId,
    current: u64,
    expected: u64,
) -> Outcome {
    let name = format!("{resource_type}/{id}");
    let found = match current {
        0 => format!("{name} does not exist yet"),
        n => format!("{name} is at version {n}"),
    };
    Outcome::new(
        412,
        IssueType::Conflict,
        format!("{found}, not version {expected} as If-Match says: read it again and reapply the change"),
    )
}

/// A conditional write the chain refused for its version: another version
/// was recorded first, so the precondition failed.
/// Most entries a FHIR transaction Bundle may hold: what the chain stages
/// in its most parts.
pub(crate) fn max_transaction_entries() -> usize {
    MAX_BUNDLE_VERSIONS * MAX_STAGED_PARTS as usize
}

pub(super) fn changed_meanwhile(refusal: Outcome, conditional: bool) -> Outcome {
    if conditional && refusal.status == 409 {
        return Outcome::new(
            412,
            IssueType::Conflict,
            "another version was recorded while this update was written, so the version If-Match names is no longer the latest: read it again and reapply the change",
        );
    }
    refusal
}

/// A refusal by one of the chain's rules, checked here before anything is
/// sealed or submitted, as the HTTP answer the chain's would get.
pub(super) fn rule_refusal(refusal: &Rejection) -> Outcome {
    let (status, code) = match refusal {
        Rejection::RecordErased(_) => (410, IssueType::Deleted),
        Rejection::NotCustodian { .. } => (403, IssueType::Forbidden),
        _ => (422, IssueType::Processing),
    };
    Outcome::new(status, code, refusal.to_string())
}

pub(super) fn write_refusal(reason: &str) -> Outcome {
    let (status, code) = if reason.contains("expected version") || reason.contains("already exists")
    {
        (409, IssueType::Conflict)
    } else if reason.contains("custodian")
        || reason.contains("may not")
        || reason.contains("do not write")
    {
        (403, IssueType::Forbidden)
    } else {
        (422, IssueType::Processing)
    };
    Outcome::new(
        status,
        code,
        format!("the chain refused the write: {reason}"),
    )
}
