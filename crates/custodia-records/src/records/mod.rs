//! Clinical records over the vault and the chain: `write` (versions,
//! transaction and batch Bundles), `read` (reads, history, search, the
//! audit log), `search` (the search index: rebuilt, searched here and
//! across the consortium, includes),
//! `provenance` (each version's origin as FHIR Provenance), `export`
//! (Bulk Data export jobs), `erase`
//! (crypto-shredding at the custodian, followed everywhere). What
//! they share is here: parsing a request's type and id, asking the chain
//! for access, and reading a record's head.

mod erase;
mod export;
mod provenance;
mod read;
mod search;
mod write;

pub(crate) use export::{ExportRequest, ExportScope, ExportStatus, Exports};
pub(crate) use search::IndexState;
pub(crate) use write::max_transaction_entries;

pub(super) use write::Prepared;

use crate::{caller::Caller, pending::Unrecorded, rfc3339, unavailable, Clinical};
use custodia_engine::engine::Runtime;
use custodia_fhir::{
    search::IdentifierToken, IssueType, Method, Outcome, Owner, Resource, TransactionEntry,
};
use custodia_state::{
    keys,
    modules::{may_erase, may_write_version},
    records::{AuditEvent, Decision, RecordEntry, RecordHead},
    Rejection, TxStatus,
};
use custodia_types::{
    AccessAction, AccessRequest, Body, Digest, LogicalId, Pseudonym, RecordVersion, ResourceRef,
    ResourceType, MAX_BUNDLE_VERSIONS, MAX_STAGED_PARTS,
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
pub(crate) fn parse_json_type(text: &str) -> Result<ResourceType, Outcome> {
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
            format!("{text:?} is not a FHIR R4 resource type (the names are case-sensitive: Patient, Observation, ...; GET /fhir/metadata lists them)"),
        )
    })
}

/// A type whose resources clients write: not one of the ledger's own
/// views (`custodia_fhir::LEDGER_VIEWS`), which the chain derives.
fn parse_writable_type(text: &str) -> Result<ResourceType, Outcome> {
    let resource_type = parse_type(text)?;
    match resource_type {
        ResourceType::AuditEvent => Err(Outcome::new(
            405,
            IssueType::NotSupported,
            "AuditEvents are written by the ledger itself: every read and write is recorded on chain. Read them with GET /fhir/AuditEvent?patient=Patient/<pseudonym>",
        )),
        ResourceType::Consent => Err(Outcome::new(
            405,
            IssueType::NotSupported,
            "a consent is signed by the patient as a chain transaction (custodia tx --body '{\"type\":\"grant_consent\",...}'); read them with GET /fhir/Consent?patient=Patient/<pseudonym>",
        )),
        other => Ok(other),
    }
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

/// A resource as the chain's indexes name it (`Type/id`: a patient's
/// records, a custodian's, the erasure log); `None` for anything else.
pub(crate) fn record_name(name: &str) -> Option<(ResourceType, LogicalId)> {
    let (resource_type, id) = name.split_once('/')?;
    Some((resource_type.parse().ok()?, LogicalId::new(id).ok()?))
}

fn parse_id(text: &str) -> Result<LogicalId, Outcome> {
    LogicalId::new(text).map_err(|e| Outcome::new(400, IssueType::Value, e.to_string()))
}

impl<E: Runtime> Clinical<E> {
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
        patient: Option<Pseudonym>,
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
