//! The records kept in state, stored as JSON.

use crate::StateRead;
use custodia_types::{AgentKind, OrgId, OrgRole, Params, Proposal, PublicKey};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::net::SocketAddr;

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

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: OrgId,
    pub name: String,
    pub role: OrgRole,
    #[serde(with = "custodia_types::hexser")]
    pub admin_key: PublicKey,
    #[serde(with = "custodia_types::hexser")]
    pub validator_key: PublicKey,
    pub p2p: SocketAddr,
}

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
}

impl Principal {
    pub fn org(&self) -> &OrgId {
        match self {
            Principal::Admin { org } | Principal::Agent { org, .. } => org,
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
}

pub fn params(state: &(impl StateRead + ?Sized)) -> Params {
    read(state, crate::keys::PARAMS).expect("params are written at genesis")
}

pub fn members(state: &(impl StateRead + ?Sized)) -> Vec<Member> {
    read(state, crate::keys::MEMBERS).unwrap_or_default()
}
