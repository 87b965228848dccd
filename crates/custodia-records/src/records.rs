//! Writing and reading records: vault for content, chain for hashes and
//! the audit trail.

use super::{caller::Caller, now_ms, pending::Unrecorded, rfc3339, unavailable, Clinical};
use custodia_engine::engine::Runtime;
use custodia_fhir::{IssueType, Method, Outcome, Resource, TransactionEntry};
use custodia_state::{
    keys,
    modules::{may_erase, may_write_version},
    records::{AuditEvent, Decision, RecordEntry, RecordHead},
    Rejection, TxStatus,
};
use custodia_types::{
    AccessAction, AccessRequest, Body, Digest, LogicalId, Pseudonym, RecordVersion, ResourceRef,
    ResourceType, MAX_BUNDLE_VERSIONS,
};
use custodia_vault::{seal, DataKey};
use serde_json::Value;

/// A resource version as the FHIR API returns it.
pub struct Version {
    pub json: Value,
    pub version: u64,
    /// When it was written (its `meta.lastUpdated`), ms since the epoch.
    pub time_ms: u64,
    /// The commitment's salt, for readers who verify the version offline.
    pub salt: Option<[u8; 32]>,
}

pub(super) fn aad(resource_type: ResourceType, id: &LogicalId, version: u64) -> String {
    format!("{resource_type}/{id}/_history/{version}")
}

/// A type whose versions are FHIR JSON: files (`Binary`) are refused
/// before anything is read or audited.
fn parse_json_type(text: &str) -> Result<ResourceType, Outcome> {
    match parse_type(text)? {
        ResourceType::Binary => Err(Outcome::new(
            400,
            IssueType::NotSupported,
            "files are not FHIR JSON: read one at /fhir/Binary/{id}, and find them through the DocumentReference or ImagingStudy that points to them",
        )),
        other => Ok(other),
    }
}

fn parse_type(text: &str) -> Result<ResourceType, Outcome> {
    text.parse().map_err(|_| {
        Outcome::new(
            404,
            IssueType::NotSupported,
            format!(
                "resource type {text:?} is not kept here; supported: {}",
                custodia_fhir::SUPPORTED.join(", ")
            ),
        )
    })
}

pub(super) fn refuse_patient_writers(caller: &Caller) -> Result<(), Outcome> {
    if caller.is_patient() {
        return Err(Outcome::new(
            403,
            IssueType::Forbidden,
            "patients read their records; their custodian writes them",
        ));
    }
    Ok(())
}

/// A fresh logical id: 128 random bits in hex, unguessable and unique.
pub(super) fn new_logical_id() -> LogicalId {
    LogicalId::new(hex::encode(rand::random::<[u8; 16]>()))
        .expect("32 hex digits are a valid logical id")
}

fn parse_id(text: &str) -> Result<LogicalId, Outcome> {
    LogicalId::new(text).map_err(|e| Outcome::new(400, IssueType::Value, e.to_string()))
}

/// What a write makes a version of, and whose record that is.
struct Target {
    resource_type: ResourceType,
    id: LogicalId,
    patient: Pseudonym,
    /// The version a version-aware update must replace (`If-Match`).
    if_match: Option<u64>,
}

/// A version sealed into the vault, not yet on the chain.
pub(super) struct Prepared {
    pub record: RecordVersion,
    pub json: Value,
}

impl<E: Runtime> Clinical<E> {
    /// `POST /fhir/{type}` (id `None`) and `PUT /fhir/{type}/{id}`; an
    /// update with `if_match` replaces only that version (`If-Match`).
    pub(super) async fn write(
        &self,
        caller: &Caller,
        type_name: &str,
        id: Option<&str>,
        if_match: Option<u64>,
        body: &[u8],
    ) -> Result<(Version, bool), Outcome> {
        let resource_type = parse_type(type_name)?;
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
    pub(super) async fn transaction(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Vec<(TransactionEntry, Version)>, Outcome> {
        refuse_patient_writers(caller)?;
        let entries = custodia_fhir::parse_transaction(body, MAX_BUNDLE_VERSIONS, |t| {
            if t == "Patient" {
                Pseudonym::random().to_hex()
            } else {
                new_logical_id().as_str().to_owned()
            }
        })?;
        let mut targets = Vec::with_capacity(entries.len());
        for entry in &entries {
            let resource_type = parse_type(&entry.resource.resource_type)?;
            let if_match = match entry.method {
                Method::Update { if_match } => if_match,
                Method::Create => None,
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
            .map(|target| target.patient)
            .collect();
        let mut content = Unrecorded::new(&self.objects, &self.keyring);
        let mut prepared = Vec::with_capacity(entries.len());
        for (entry, target) in entries.iter().zip(targets) {
            let json = entry.resource.json.clone();
            prepared.push(
                self.prepare(caller, target, json, &created_patients, &mut content)
                    .await?,
            );
        }
        let versions = self
            .record(prepared, content)
            .await
            .map_err(|refusal| changed_meanwhile(refusal, conditional))?;
        Ok(entries.into_iter().zip(versions).collect())
    }

    /// Check a version can be written, stamp it, seal it into the vault.
    async fn prepare(
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
        if resource_type != ResourceType::Patient && !created_patients.contains(&patient) {
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
        let time_ms = now_ms();
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
    pub(super) async fn record(
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
                Body::WriteRecords { versions }
            }
        };
        let tx = self.submit(body).await?;
        if let TxStatus::Rejected { reason } = self.settle(tx, content).await?.status {
            return Err(write_refusal(&reason));
        }
        self.replicator.push(
            &prepared
                .iter()
                .map(|p| super::replication::ReplicaOf {
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

    /// The resource a write is a version of, and its patient.
    fn identify(
        &self,
        resource_type: ResourceType,
        id: Option<&str>,
        resource: &Resource,
    ) -> Result<Target, Outcome> {
        if resource_type == ResourceType::Patient {
            // A Patient's id is its pseudonym: new ones get a fresh one.
            let patient = match id {
                Some(id) => id.parse::<Pseudonym>().map_err(|_| {
                    Outcome::new(400, IssueType::Value, "a Patient's id is its 64-hex-digit pseudonym; create new patients with POST /fhir/Patient")
                })?,
                None => Pseudonym::random(),
            };
            let id = parse_id(&patient.to_hex())?;
            return Ok(Target {
                resource_type,
                id,
                patient,
                if_match: None,
            });
        }
        let reference = resource.patient.as_deref().unwrap_or_default();
        let patient = reference.parse::<Pseudonym>().map_err(|_| {
            Outcome::new(400, IssueType::Value, format!("Patient/{reference} is not a patient on this ledger: patients are named by their 64-hex-digit pseudonym"))
        })?;
        let id = match id {
            Some(id) => parse_id(id)?,
            None => new_logical_id(),
        };
        Ok(Target {
            resource_type,
            id,
            patient,
            if_match: None,
        })
    }

    async fn audit_refused_write(
        &self,
        caller: &Caller,
        patient: Pseudonym,
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

    /// Ask the chain whether `caller` may read the whole audit log; the
    /// final audit event of the question.
    pub(super) async fn query_audit(&self, caller: &Caller) -> Result<AuditEvent, Outcome> {
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

    /// The audit event transaction `tx` recorded.
    async fn event_of(&self, tx: &Digest) -> Result<AuditEvent, Outcome> {
        let seq = self
            .read_raw(&keys::audit_of_tx(tx))
            .await?
            .and_then(|b| keys::decode_u64(&b))
            .ok_or_else(|| unavailable("an applied access has no audit event"))?;
        self.read(&keys::audit_event(seq))
            .await?
            .ok_or_else(|| unavailable("audit event missing"))
    }

    /// Ask the chain for access; the final audit event and its tx id.
    pub(super) async fn access(
        &self,
        caller: &Caller,
        patient: Pseudonym,
        resource: Option<ResourceRef>,
        action: AccessAction,
    ) -> Result<(Digest, AuditEvent), Outcome> {
        let request = AccessRequest {
            agent: (&caller.key).into(),
            patient,
            resource,
            action,
            purpose: caller.purpose,
            break_glass: caller.break_glass.clone(),
        };
        let (tx, receipt) = self.submit_final(Body::Access(request)).await?;
        if let TxStatus::Rejected { reason } = receipt.status {
            return Err(Outcome::new(403, IssueType::Forbidden, reason));
        }
        Ok((tx, self.event_of(&tx).await?))
    }

    /// The head of a resource that must exist.
    async fn existing(
        &self,
        resource_type: ResourceType,
        id: &LogicalId,
    ) -> Result<RecordHead, Outcome> {
        self.read(&keys::record_head(resource_type, id))
            .await?
            .ok_or_else(|| {
                Outcome::new(
                    404,
                    IssueType::NotFound,
                    format!("no {resource_type}/{id} on this ledger"),
                )
            })
    }

    /// Read access to one resource, audited; its head and the permitting tx.
    pub(super) async fn permitted_read(
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

    /// `DELETE /fhir/{type}/{id}`: erasure by the custodian. The chain
    /// marks the resource erased (its hashes stay, so the chain still
    /// verifies); the data keys of every version are destroyed and the
    /// ciphertexts deleted. Copies other members cached are unreadable
    /// without the keys, and each node deletes its copies when it next
    /// meets the erased resource.
    pub(super) async fn erase(
        &self,
        caller: &Caller,
        type_name: &str,
        id: &str,
    ) -> Result<(), Outcome> {
        let resource_type = parse_type(type_name)?;
        let id = parse_id(id)?;
        if caller.is_patient() {
            return Err(Outcome::new(
                403,
                IssueType::Forbidden,
                "erasure is carried out by the custodian, at the patient's request",
            ));
        }
        let head = self.existing(resource_type, &id).await?;
        let not_yet_erased = match may_erase(&head, &self.org, &format!("{resource_type}/{id}")) {
            Ok(()) => true,
            // Erasing again destroys whatever this node still holds.
            Err(Rejection::RecordErased(_)) => false,
            Err(refusal) => return Err(rule_refusal(&refusal)),
        };
        if not_yet_erased {
            let (_, receipt) = self
                .submit_final(Body::EraseRecord {
                    resource_type,
                    id: id.clone(),
                })
                .await?;
            if let TxStatus::Rejected { reason } = receipt.status {
                return Err(write_refusal(&reason));
            }
        }
        self.forget(resource_type, &id, head.version).await
    }

    /// Destroy what this node holds of an erased resource: keys and content.
    pub(super) async fn forget(
        &self,
        resource_type: ResourceType,
        id: &LogicalId,
        versions: u64,
    ) -> Result<(), Outcome> {
        for version in 1..=versions {
            let entry: Option<RecordEntry> = self
                .read(&keys::record_version(resource_type, id, version))
                .await?;
            let Some(entry) = entry else { continue };
            let hash: [u8; 32] = entry.ciphertext.as_ref().try_into().map_err(unavailable)?;
            self.vault(move |objects, keyring, _| {
                keyring.shred(&hash).map_err(unavailable)?;
                objects.delete(&hash).map_err(unavailable)
            })
            .await?;
        }
        Ok(())
    }

    /// `GET /fhir/{type}/{id}[/_history/{vid}]`.
    pub(super) async fn read_version(
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
    pub(super) async fn history(
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
    async fn patient_index(&self, patient: &Pseudonym) -> Result<Vec<String>, Outcome> {
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

    /// `GET /fhir/{type}?patient=…`: the patient's resources of a type that
    /// this caller may read; each read is audited on its own.
    pub(super) async fn search(
        &self,
        caller: &Caller,
        type_name: &str,
        patient: &str,
    ) -> Result<Vec<Version>, Outcome> {
        let resource_type = parse_json_type(type_name)?;
        let patient: Pseudonym = patient.parse().map_err(|_| {
            Outcome::new(
                400,
                IssueType::Value,
                "patient must be Patient/<64-hex-digit pseudonym> or the pseudonym itself",
            )
        })?;
        let names = self.patient_index(&patient).await?;
        let prefix = format!("{resource_type}/");
        let ids: Vec<LogicalId> = names
            .iter()
            .filter_map(|n| n.strip_prefix(&prefix))
            .filter_map(|id| LogicalId::new(id).ok())
            .collect();
        // Ask for every read at once so they share blocks.
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
    async fn content(
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

    async fn open_own(
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

fn denied(event: &AuditEvent) -> Outcome {
    Outcome::new(
        403,
        IssueType::Forbidden,
        format!(
            "access denied by the consortium's policy ({}); the attempt is recorded in the patient's audit trail. Ask the patient for consent, or state an emergency with X-Break-Glass",
            event.reasons.join(", ")
        ),
    )
}

/// A version-aware update whose `If-Match` names a version that is not the
/// latest on this node (the chain checks again: it records a version only
/// over the one before it).
fn stale(resource_type: ResourceType, id: &LogicalId, current: u64, expected: u64) -> Outcome {
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
fn changed_meanwhile(refusal: Outcome, conditional: bool) -> Outcome {
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
fn rule_refusal(refusal: &Rejection) -> Outcome {
    let (status, code) = match refusal {
        Rejection::RecordErased(_) => (410, IssueType::Deleted),
        Rejection::NotCustodian { .. } => (403, IssueType::Forbidden),
        _ => (422, IssueType::Processing),
    };
    Outcome::new(status, code, refusal.to_string())
}

fn write_refusal(reason: &str) -> Outcome {
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
