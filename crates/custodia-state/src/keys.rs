//! The state's key layout. Keys are readable paths so `GET /v1/state/{key}`
//! can be used by people; values are JSON records (see `records`) except
//! counters, which are 8-byte big-endian integers.

use custodia_types::{key_hex, Digest, LogicalId, OrgId, Pseudonym, PublicKey, ResourceType};

/// The ordered list of member organisations.
pub const MEMBERS: &[u8] = b"gov/members";
/// The chain parameters.
pub const PARAMS: &[u8] = b"gov/params";
/// The validator set in force and the one waiting for the next epoch.
pub const VALIDATORS: &[u8] = b"gov/validators";
/// The Cedar policy set deciding access to records.
pub const POLICY: &[u8] = b"gov/policy";
/// How many audit events were ever recorded (the next one's sequence number).
pub const AUDIT_COUNT: &[u8] = b"audit/count";
/// How many resources were ever erased (the next erasure's sequence number).
pub const ERASED_COUNT: &[u8] = b"erased/count";
/// The id the next governance proposal will get.
pub const NEXT_PROPOSAL: &[u8] = b"gov/next-proposal";

/// The validator keys (hex) that run consensus in `epoch`.
pub fn committee(epoch: u64) -> Vec<u8> {
    format!("gov/committee/{epoch}").into_bytes()
}

pub fn proposal(id: u64) -> Vec<u8> {
    format!("gov/proposal/{id}").into_bytes()
}

/// Which organisation a key belongs to, and as what (admin or agent).
pub fn principal(key: &(impl AsRef<[u8]> + ?Sized)) -> Vec<u8> {
    format!("id/key/{}", key_hex(key)).into_bytes()
}

pub fn nonce(key: &PublicKey) -> Vec<u8> {
    format!("id/nonce/{}", key_hex(key)).into_bytes()
}

pub fn org(id: &OrgId) -> Vec<u8> {
    format!("id/org/{id}").into_bytes()
}

pub fn receipt(tx: &Digest) -> Vec<u8> {
    format!("tx/{}", hex::encode(tx)).into_bytes()
}

pub fn note(tx: &Digest) -> Vec<u8> {
    format!("note/{}", hex::encode(tx)).into_bytes()
}

/// Who holds a patient's records (the pseudonym's registration).
pub fn patient(patient: &Pseudonym) -> Vec<u8> {
    format!("patient/{patient}").into_bytes()
}

/// How many resources are recorded about a patient (`u64`); the `n`th,
/// oldest first, is at [`patient_record`]. An entry each, not one list, so
/// a patient's history can grow past what one record holds and a write
/// does not rewrite it.
pub fn patient_records(patient: &Pseudonym) -> Vec<u8> {
    format!("patient/{patient}/records").into_bytes()
}

/// The `index`th resource recorded about a patient: `Type/id` (JSON).
pub fn patient_record(patient: &Pseudonym, index: u64) -> Vec<u8> {
    format!("patient/{patient}/records/{index}").into_bytes()
}

/// How many resources an organisation holds as custodian (u64): its
/// node rebuilds its local search index from them at start.
pub fn custodian_records(org: &OrgId) -> Vec<u8> {
    format!("org/{org}/records").into_bytes()
}

/// The `index`th resource an organisation holds as custodian: `Type/id`
/// (JSON).
pub fn custodian_record(org: &OrgId, index: u64) -> Vec<u8> {
    format!("org/{org}/records/{index}").into_bytes()
}

/// Part `part` of a staged write of `bundle` by `org` (`StageRecords`):
/// the versions, JSON, until `CommitRecords` applies them.
pub fn staged(org: &OrgId, bundle: &Digest, part: u32) -> Vec<u8> {
    format!("stage/{org}/{}/{part}", hex::encode(bundle)).into_bytes()
}

/// The `seq`th erasure: `Type/id` of the erased resource. Every node
/// follows this log to delete its replicas.
pub fn erased(seq: u64) -> Vec<u8> {
    format!("erased/{seq}").into_bytes()
}

/// A resource's latest version, custodian and erasure.
pub fn record_head(resource_type: ResourceType, id: &LogicalId) -> Vec<u8> {
    format!("rec/{resource_type}/{id}").into_bytes()
}

/// One version of a resource: its hashes, author and time.
pub fn record_version(resource_type: ResourceType, id: &LogicalId, version: u64) -> Vec<u8> {
    format!("rec/{resource_type}/{id}/_history/{version}").into_bytes()
}

/// A patient's consents (ids of the granting transactions), oldest first.
pub fn patient_consents(patient: &Pseudonym) -> Vec<u8> {
    format!("patient/{patient}/consents").into_bytes()
}

pub fn consent(id: &Digest) -> Vec<u8> {
    format!("consent/{}", hex::encode(id)).into_bytes()
}

/// The audit event with sequence number `seq`.
pub fn audit_event(seq: u64) -> Vec<u8> {
    format!("audit/{seq}").into_bytes()
}

/// The audit event (its sequence number) an access request or audit-log
/// query produced; writes are not indexed so.
pub fn audit_of_tx(tx: &Digest) -> Vec<u8> {
    format!("audit/tx/{}", hex::encode(tx)).into_bytes()
}

/// How many audit events concern a patient.
pub fn patient_audit_count(patient: &Pseudonym) -> Vec<u8> {
    format!("patient/{patient}/audit").into_bytes()
}

/// The global sequence number of a patient's `index`-th audit event.
pub fn patient_audit(patient: &Pseudonym, index: u64) -> Vec<u8> {
    format!("patient/{patient}/audit/{index}").into_bytes()
}

pub fn encode_u64(value: u64) -> Vec<u8> {
    value.to_be_bytes().to_vec()
}

pub fn decode_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}
