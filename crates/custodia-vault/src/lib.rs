//! Custodia's vault: what keeps clinical content off the chain.
//!
//! - [`envelope`]: every record version is encrypted (XChaCha20-Poly1305)
//!   under its own random data key, with a salted commitment to the
//!   plaintext that the chain records.
//! - [`keys`]: data keys are wrapped with HPKE (X25519, HKDF-SHA256,
//!   ChaCha20-Poly1305) to the organisation that holds them, or to a
//!   reader's one-time key when the custodian releases one.
//! - [`store`]: ciphertexts on local disk, addressed by their SHA-256, and
//!   the custodian's wrapped data keys beside them. Deleting a key is
//!   crypto-shredding: the ciphertext left anywhere is noise.
//!
//! No network and no chain knowledge: the node decides who gets what.

pub mod envelope;
pub mod keys;
pub mod store;

pub use envelope::{commitment, open, seal, DataKey, Hash, Opened, Sealed};
pub use keys::{unwrap, wrap, EncryptionPublic, EncryptionSecret, WrappedKey};
pub use store::{DiskStore, KeyRing};

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("vault storage failed: {0}")]
    Io(#[from] std::io::Error),
    /// Deliberately says nothing more: which part failed would help an attacker.
    #[error("decryption failed: wrong key, or the ciphertext was altered")]
    Decrypt,
    #[error("content hash mismatch: expected {expected}, got {got}")]
    HashMismatch { expected: String, got: String },
    #[error("not a wrapped data key (bad length or encoding)")]
    BadWrappedKey,
    #[error("not an X25519 key: {0}")]
    BadKey(String),
}

pub(crate) fn sha256(parts: &[&[u8]]) -> Hash {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}
