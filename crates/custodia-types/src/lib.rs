//! Custodia's wire types and their canonical encoding.
//!
//! Everything here is pure data: what a transaction, a body, a block and the
//! genesis file look like, and how they become bytes. Validation that needs
//! chain state lives in `custodia-state`.

mod block;
mod body;
mod codec_util;
mod consent;
mod domain;
pub mod framing;
mod genesis;
pub mod hexser;
mod ids;
mod key_id;
mod record;
mod resource_type;
mod token;
mod tx;

pub use block::{txs_root, Block, BlockCfg, Header, MAX_BLOCK_TXS};
pub use body::{
    AgentKind, Body, Member, Parameter, Proposal, MAX_BATCH_ENTRIES, MAX_BUNDLE_VERSIONS,
    MAX_NOTE_BYTES, MAX_POLICY_BYTES, MAX_STAGED_PARTS,
};
pub use consent::{
    AccessAction, AccessRequest, ConsentGrant, Grantee, Purpose, ResourceRef, MAX_REASON_LEN,
};
pub use domain::{DomainTx, DomainTxError, MAX_DOMAIN_NAME_LEN, MAX_DOMAIN_PAYLOAD_BYTES};
pub use genesis::{Genesis, GenesisError, Params};
pub use ids::{IdError, OrgId, OrgRole};
pub use key_id::KeyId;
pub use record::{LogicalId, Pseudonym, RecordIdError, RecordVersion};
pub use resource_type::ResourceType;
pub use token::{AuthToken, TokenError, TOKEN_NAMESPACE};
pub use tx::{SignedTx, TxDecodeError, TxPayload, MAX_TX_BYTES, TX_NAMESPACE};

/// The signature scheme used by organisations, agents and validators.
pub type PublicKey = commonware_cryptography::ed25519::PublicKey;
pub type PrivateKey = commonware_cryptography::ed25519::PrivateKey;
pub type Signature = commonware_cryptography::ed25519::Signature;
/// Hash used for transaction ids, block digests and state roots.
pub type Digest = commonware_cryptography::sha256::Digest;

/// Hash arbitrary parts with SHA-256.
pub fn sha256(parts: &[&[u8]]) -> Digest {
    use commonware_cryptography::{Hasher, Sha256};
    Sha256::hash(parts)
}

/// The id of entry `index` of batch transaction `tx` (see `Body::Batch`):
/// what its audit event and effects are filed under, as a transaction's
/// own id is for a transaction that is not a batch.
pub fn entry_id(tx: &Digest, index: u32) -> Digest {
    sha256(&[b"custodia/batch-entry", tx.as_ref(), &index.to_be_bytes()])
}

/// Generate a fresh ed25519 key from the operating system's randomness.
pub fn generate_key() -> PrivateKey {
    use commonware_math::algebra::Random;
    PrivateKey::random(rand::rng())
}

/// Hex form of a public key, as used in files, URLs and logs.
pub fn key_hex(key: &(impl AsRef<[u8]> + ?Sized)) -> String {
    hex::encode(key.as_ref())
}

/// Parse a public key from hex.
pub fn parse_public_key(text: &str) -> Result<PublicKey, IdError> {
    hexser::decode_fixed(text).ok_or_else(|| IdError::BadKey(text.chars().take(80).collect()))
}

/// Parse a private key from hex.
pub fn parse_private_key(text: &str) -> Result<PrivateKey, IdError> {
    hexser::decode_fixed(text.trim()).ok_or_else(|| IdError::BadKey("<private key>".into()))
}
