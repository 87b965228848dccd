//! Proofs that a key has a value, or none, under a state root.

use crate::db::{state_key, value_cfg, Encoding, Family, CHUNK, MAX_PROOF_DIGESTS};
use bytes::Bytes;
use commonware_codec::{Decode, Encode};
use commonware_cryptography::{sha256, Sha256};
use commonware_storage::qmdb::current::ordered::proof::constant::{ExclusionProof, KeyValueProof};

pub(crate) type Inclusion = KeyValueProof<Family, crate::StateKey, sha256::Digest, CHUNK>;
pub(crate) type Exclusion =
    ExclusionProof<Family, crate::StateKey, Encoding, sha256::Digest, CHUNK>;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProofError {
    #[error("proof bytes are not valid hex")]
    Hex,
    #[error("proof bytes do not decode: {0}")]
    Decode(String),
}

/// An inclusion proof (the key holds `value`) or an exclusion proof (the
/// key holds nothing), against one state root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateProof {
    Present { value: Vec<u8>, proof: Inclusion },
    Absent { proof: Exclusion },
}

impl StateProof {
    /// The value proven, if any.
    pub fn value(&self) -> Option<&[u8]> {
        match self {
            StateProof::Present { value, .. } => Some(value),
            StateProof::Absent { .. } => None,
        }
    }

    /// Does this proof show `key`'s value (or absence) under `root`?
    /// Pure: needs nothing but the proof, the key and a trusted root.
    pub fn verify(&self, key: &[u8], root: &sha256::Digest) -> bool {
        match self {
            StateProof::Present { value, proof } => {
                proof.verify::<Sha256, Encoding>(state_key(key), value.clone(), root)
            }
            StateProof::Absent { proof } => proof.verify::<Sha256>(&state_key(key), root),
        }
    }

    /// The proof's bytes (without the value), hex-encoded for JSON.
    pub fn proof_hex(&self) -> String {
        match self {
            StateProof::Present { proof, .. } => hex::encode(proof.encode()),
            StateProof::Absent { proof } => hex::encode(proof.encode()),
        }
    }

    /// Rebuild a proof from its JSON parts: the value (if present) and hex.
    pub fn from_parts(value: Option<Vec<u8>>, proof_hex: &str) -> Result<Self, ProofError> {
        let bytes = Bytes::from(hex::decode(proof_hex).map_err(|_| ProofError::Hex)?);
        let decode_err = |e: commonware_codec::Error| ProofError::Decode(e.to_string());
        Ok(match value {
            Some(value) => StateProof::Present {
                value,
                proof: Inclusion::decode_cfg(bytes, &(MAX_PROOF_DIGESTS, ()))
                    .map_err(decode_err)?,
            },
            None => StateProof::Absent {
                proof: Exclusion::decode_cfg(
                    bytes,
                    &(MAX_PROOF_DIGESTS, ((), value_cfg()), value_cfg()),
                )
                .map_err(decode_err)?,
            },
        })
    }
}
