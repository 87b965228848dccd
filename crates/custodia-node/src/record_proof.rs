//! Offline check of one record version, as a patient (or auditor) does it:
//! the version's entry is in the chain's state (a proof against a state
//! root), that root is in a block header whose finality certificate carries
//! a quorum of the validators' signatures, and the content the reader got
//! matches the salted commitment in the entry. Inputs are the node's own
//! API answers and the genesis file; nothing is taken on the node's word.

use commonware_codec::Decode as _;
use commonware_consensus::Epochable as _;
use commonware_cryptography::Signer as _;
use commonware_parallel::Sequential;
use custodia_engine::engine::{Committees, Finalization, Scheme};
use custodia_store::StateProof;
use custodia_types::{hexser::decode_fixed, Digest, Genesis, Header, PrivateKey};
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum RecordProofError {
    #[error("the node's answer is missing or malformed: {0}")]
    Malformed(&'static str),
    #[error("the state proof does not verify against the block's state root")]
    BadStateProof,
    #[error("there is no such version in the proven state")]
    Absent,
    #[error("the finality certificate is for another block")]
    WrongBlock,
    #[error("the finality certificate does not carry a quorum of the genesis validators' signatures (if governance changed the validator set, verify the whole chain with `custodia verify`)")]
    BadCertificate,
    #[error("the content does not match the commitment on chain")]
    CommitmentMismatch,
}

/// What was proven.
pub struct VerifiedRecord {
    pub height: u64,
    pub block: Digest,
    pub entry: Value,
}

/// `state`: `GET /v1/state/rec/{T}/{id}/_history/{v}?proof=true`;
/// `block`: `GET /v1/blocks/{state.height}`; `content` and `salt`: the
/// version as read (the body) and its `X-Custodia-Commitment-Salt`.
pub fn verify_record(
    genesis: &Genesis,
    key: &str,
    state: &Value,
    block: &Value,
    content: &[u8],
    salt: &[u8; 32],
) -> Result<VerifiedRecord, RecordProofError> {
    use RecordProofError::Malformed;
    let digest = |v: &Value, what| {
        v.as_str()
            .and_then(decode_fixed::<Digest>)
            .ok_or(Malformed(what))
    };
    let header = Header {
        parent: digest(&block["parent"], "block parent")?,
        height: block["height"].as_u64().ok_or(Malformed("block height"))?,
        timestamp_ms: block["timestamp_ms"]
            .as_u64()
            .ok_or(Malformed("block time"))?,
        txs_root: digest(&block["txs_root"], "block txs_root")?,
        state_root: digest(&block["state_root"], "block state_root")?,
    };
    if state["state_root"] != block["state_root"] {
        return Err(Malformed(
            "the state answer and the block name different roots",
        ));
    }
    let value = state["value_hex"]
        .as_str()
        .ok_or(RecordProofError::Absent)
        .and_then(|h| hex::decode(h).map_err(|_| Malformed("value_hex")))?;
    let proof = StateProof::from_parts(value, state["proof"].as_str().ok_or(Malformed("proof"))?)
        .map_err(|_| Malformed("proof"))?;
    if !proof.verify(key.as_bytes(), &header.state_root) {
        return Err(RecordProofError::BadStateProof);
    }
    let entry: Value =
        serde_json::from_slice(proof.value()).map_err(|_| Malformed("proven version entry"))?;

    let certificate = block["finalization"]
        .as_str()
        .and_then(|h| hex::decode(h).ok())
        .ok_or(Malformed("finalization"))?;
    let finalization = Finalization::decode_cfg(
        bytes::Bytes::from(certificate),
        &<Scheme as commonware_cryptography::certificate::Verifier>::certificate_codec_config_unbounded(),
    )
    .map_err(|_| Malformed("finalization"))?;
    if finalization.proposal.payload != header.digest() {
        return Err(RecordProofError::WrongBlock);
    }
    let committees = Committees::new(PrivateKey::from_seed(0));
    committees.insert(
        finalization.epoch().get(),
        genesis
            .members
            .iter()
            .map(|m| m.validator_key.clone())
            .collect(),
    );
    let scheme =
        commonware_cryptography::certificate::Provider::scoped(&committees, finalization.epoch())
            .and_then(|s| s.into_scheme())
            .ok_or(RecordProofError::BadCertificate)?;
    let mut rng = rand::rng();
    if !finalization.verify(&mut rng, scheme.as_ref(), &Sequential) {
        return Err(RecordProofError::BadCertificate);
    }

    let commitment = entry["commitment"]
        .as_str()
        .and_then(|c| hex::decode(c).ok())
        .ok_or(Malformed("commitment"))?;
    if custodia_vault::commitment(salt, content).as_slice() != commitment.as_slice() {
        return Err(RecordProofError::CommitmentMismatch);
    }
    Ok(VerifiedRecord {
        height: header.height,
        block: header.digest(),
        entry,
    })
}
