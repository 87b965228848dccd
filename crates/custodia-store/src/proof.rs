//! Proofs that a key holds a value under a state root.
//!
//! The state is an unordered qmdb, so it proves what a key holds but not
//! that a key holds nothing: exclusion proofs need an ordered store, which
//! rewrites a neighbour's link on every new key and cost about a seventh of
//! the chain's write throughput (BENCHMARKS.md).

use crate::db::{state_key, Family, StateDb, CHUNK, MAX_PROOF_DIGESTS};
use bytes::Bytes;
use commonware_codec::{Decode, Encode};
use commonware_cryptography::sha256;
use commonware_runtime::deterministic;
use commonware_storage::qmdb::current::unordered::proof::constant::KeyValueProof;

pub(crate) type Inclusion = KeyValueProof<Family, sha256::Digest, CHUNK>;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProofError {
    #[error("proof bytes are not valid hex")]
    Hex,
    #[error("proof bytes do not decode: {0}")]
    Decode(String),
}

/// An inclusion proof: the key holds `value` under one state root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateProof {
    value: Vec<u8>,
    proof: Inclusion,
}

impl StateProof {
    pub(crate) fn new(value: Vec<u8>, proof: Inclusion) -> Self {
        Self { value, proof }
    }

    /// The value proven.
    pub fn value(&self) -> &[u8] {
        &self.value
    }

    /// Does this proof show that `key` holds the value under `root`?
    /// Pure: needs nothing but the proof, the key and a trusted root.
    pub fn verify(&self, key: &[u8], root: &sha256::Digest) -> bool {
        // Verification is an associated function of the database type and
        // touches no runtime; any context type names it.
        StateDb::<deterministic::Context>::verify_key_value_proof(
            state_key(key),
            self.value.clone(),
            &self.proof,
            root,
        )
    }

    /// The proof's bytes (without the value), hex-encoded for JSON.
    pub fn proof_hex(&self) -> String {
        hex::encode(self.proof.encode())
    }

    /// Rebuild a proof from its JSON parts: the value and the hex.
    pub fn from_parts(value: Vec<u8>, proof_hex: &str) -> Result<Self, ProofError> {
        let bytes = Bytes::from(hex::decode(proof_hex).map_err(|_| ProofError::Hex)?);
        let proof = Inclusion::decode_cfg(bytes, &MAX_PROOF_DIGESTS)
            .map_err(|e| ProofError::Decode(e.to_string()))?;
        Ok(Self { value, proof })
    }
}
