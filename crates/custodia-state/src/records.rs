//! The records kept in state, stored as JSON.

use crate::StateRead;
use custodia_types::{
    AccessAction, AgentKind, ConsentGrant, Digest, Grantee, KeyId, OrgId, OrgRole, Params,
    Proposal, Pseudonym, PublicKey, Purpose, ResourceType,
};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// Serialize a record for storage. Records are plain structs with no maps
/// or floats, so serde_json's output is canonical.
pub fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    serde_json::to_vec(record).expect("state records always serialise")
}

/// Read a record. A record that fails to parse was written by this code, so
/// that is a bug, not bad input: say so loudly.
pub fn read<T: DeserializeOwned>(state: &(impl StateRead + ?Sized), key: &[u8]) -> Option<T> {
    let bytes = state.get(key)?;
    Some(serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "corrupt state record at {}: {e}",
            String::from_utf8_lossy(key)
        )
    }))
}

pub use custodia_types::Member;

/// Who a signing key belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "as", rename_all = "snake_case")]
pub enum Principal {
    /// The key governs an organisation.
    Admin { org: OrgId },
    /// The key is an agent (clinician, device, service) of an organisation.
    Agent {
        org: OrgId,
        kind: AgentKind,
        label: String,
        revoked: bool,
    },
    /// The key is a member's validator: its node signs audit events and
    /// records on behalf of the organisation's agents it authenticated.
    Node { org: OrgId },
    /// The key is a patient's own, given at enrolment by their custodian.
    Patient { patient: Pseudonym },
}

impl Principal {
    /// The member organisation the key acts for (patients act for nobody).
    pub fn org(&self) -> Option<&OrgId> {
        match self {
            Principal::Admin { org } | Principal::Agent { org, .. } | Principal::Node { org } => {
                Some(org)
            }
            Principal::Patient { .. } => None,
        }
    }
}

/// The validators in force and, if governance changed them, those that
/// take over at the next epoch boundary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    pub epoch: u64,
    #[serde(with = "custodia_types::hexser::list")]
    pub current: Vec<PublicKey>,
    #[serde(with = "custodia_types::hexser::list")]
    pub next: Vec<PublicKey>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalStatus {
    Open,
    Passed,
    Rejected,
    Expired,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalRecord {
    pub id: u64,
    pub proposer: OrgId,
    pub proposal: Proposal,
    pub created_height: u64,
    pub expires_height: u64,
    pub approvals: Vec<OrgId>,
    pub rejections: Vec<OrgId>,
    pub status: ProposalStatus,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TxStatus {
    Applied,
    Rejected { reason: String },
}

/// What happened to a transaction, kept in state under `tx/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub height: u64,
    pub index: u32,
    pub kind: String,
    #[serde(flatten)]
    pub status: TxStatus,
    /// For a batch (`Body::Batch`) whose signer and nonce were accepted:
    /// what happened to each entry, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entries: Vec<EntryReceipt>,
}

/// What happened to one entry of a batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryReceipt {
    pub kind: String,
    #[serde(flatten)]
    pub status: TxStatus,
}

impl Receipt {
    /// The receipt of entry `index` of this batch, as if it had been a
    /// transaction of its own: the batch's refusal if the batch itself was
    /// refused, `None` if it has no such entry.
    pub fn entry(&self, index: u32) -> Option<Receipt> {
        let status = match &self.status {
            TxStatus::Rejected { .. } => self.status.clone(),
            TxStatus::Applied => self.entries.get(index as usize)?.status.clone(),
        };
        let kind = self
            .entries
            .get(index as usize)
            .map_or_else(|| self.kind.clone(), |entry| entry.kind.clone());
        Some(Receipt {
            height: self.height,
            index: self.index,
            kind,
            status,
            entries: Vec::new(),
        })
    }
}

/// A patient pseudonym's registration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientEntry {
    pub custodian: OrgId,
    pub created_height: u64,
}

/// A resource's latest version and who holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordHead {
    /// The patient whose record it is; none for directory data.
    pub patient: Option<Pseudonym>,
    pub custodian: OrgId,
    pub version: u64,
    /// Set once the custodian erased it (keys and ciphertext destroyed).
    pub erased_height: Option<u64>,
}

/// A patient's consent, under `consent/{tx id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentEntry {
    pub patient: Pseudonym,
    #[serde(flatten)]
    pub grant: ConsentGrant,
    pub granted_height: u64,
    pub revoked_height: Option<u64>,
}

impl ConsentEntry {
    /// Does this consent let `principal` (an agent of `org`) use records of
    /// `resource_type` (none: any type) for `purpose` at `time_ms`?
    pub fn allows(
        &self,
        agent: &KeyId,
        org: &OrgId,
        resource_type: Option<ResourceType>,
        purpose: Purpose,
        time_ms: u64,
    ) -> bool {
        let grantee = match &self.grant.grantee {
            Grantee::Org { org: granted } => granted == org,
            Grantee::Agent { key } => agent == key,
        };
        grantee
            && self.revoked_height.is_none()
            && self.grant.purpose == purpose
            && self.grant.is_active_at(time_ms)
            && resource_type.is_none_or(|t| self.grant.covers(t))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Permit,
    Deny,
}

/// One access to a patient's records, permitted or denied: the audit trail.
/// Stored under `audit/{seq}`, indexed per patient.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub seq: u64,
    pub height: u64,
    pub time_ms: u64,
    /// The transaction that caused it (for an entry of a batch, the
    /// batch, and `entry` its index).
    #[serde(with = "custodia_types::hexser")]
    pub tx: Digest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<u32>,
    /// The agent's or patient's key (hex).
    pub agent: String,
    /// The agent's organisation (none for a patient).
    pub org: Option<OrgId>,
    /// The member whose node recorded it (none if the patient signed).
    pub recorded_by: Option<OrgId>,
    /// Whose records; none for a query of the whole audit log.
    pub patient: Option<Pseudonym>,
    /// `Type/id`, `AuditLog` for a query of the whole log, or none for a
    /// search over the patient's records.
    pub resource: Option<String>,
    pub action: AccessAction,
    pub purpose: Purpose,
    pub decision: Decision,
    /// The emergency reason given, if this was break-glass access.
    pub break_glass: Option<String>,
    /// Which policies decided (their ids), or why nothing permitted it.
    pub reasons: Vec<String>,
}

/// One version of a resource, as recorded on chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordEntry {
    #[serde(with = "custodia_types::hexser")]
    pub ciphertext: Digest,
    #[serde(with = "custodia_types::hexser")]
    pub commitment: Digest,
    pub size: u64,
    pub time_ms: u64,
    /// The signing key (hex) of the agent or admin who wrote it.
    pub author: String,
    pub custodian: OrgId,
    pub height: u64,
    /// The transaction that recorded it (for an entry of a batch, the
    /// batch, and `entry` its index).
    #[serde(with = "custodia_types::hexser")]
    pub tx: Digest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<u32>,
}

pub fn params(state: &(impl StateRead + ?Sized)) -> Params {
    read(state, crate::keys::PARAMS).expect("params are written at genesis")
}

pub fn members(state: &(impl StateRead + ?Sized)) -> Vec<Member> {
    read(state, crate::keys::MEMBERS).unwrap_or_default()
}

/// A member's id and role, read without the rest of its record.
#[derive(Deserialize)]
struct MemberRole {
    id: OrgId,
    role: OrgRole,
}

/// The role of member `org`, if it is one. Called for nearly every
/// transaction: it skips the members' keys rather than decoding them
/// (each decode is an elliptic-curve point decompression).
pub fn member_role(state: &(impl StateRead + ?Sized), org: &OrgId) -> Option<OrgRole> {
    let members: Vec<MemberRole> = read(state, crate::keys::MEMBERS).unwrap_or_default();
    members.into_iter().find(|m| &m.id == org).map(|m| m.role)
}
