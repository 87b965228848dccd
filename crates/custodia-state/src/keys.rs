//! The state's key layout. Keys are readable paths so `GET /v1/state/{key}`
//! can be used by people; values are JSON records (see `records`) except
//! counters, which are 8-byte big-endian integers.

use custodia_types::{key_hex, Digest, OrgId, PublicKey};

/// The ordered list of member organisations.
pub const MEMBERS: &[u8] = b"gov/members";
/// The chain parameters.
pub const PARAMS: &[u8] = b"gov/params";
/// The validator set in force and the one waiting for the next epoch.
pub const VALIDATORS: &[u8] = b"gov/validators";
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
pub fn principal(key: &PublicKey) -> Vec<u8> {
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

pub fn encode_u64(value: u64) -> Vec<u8> {
    value.to_be_bytes().to_vec()
}

pub fn decode_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}
