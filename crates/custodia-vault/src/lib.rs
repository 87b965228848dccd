//! Custodia's vault: what keeps clinical content off the chain.
//!
//! - [`envelope`]: every record version is encrypted (XChaCha20-Poly1305)
//!   under its own random data key, with a salted commitment to the
//!   plaintext that the chain records.
//! - [`keys`]: data keys are wrapped with HPKE (X25519, HKDF-SHA256,
//!   ChaCha20-Poly1305) to the organisation that holds them, or to a
//!   reader's one-time key when the custodian releases one. The
//!   custodian's own keys ([`OwnKeys`]) share one HPKE context per
//!   session of keys, each sealed under its own exported secret.
//! - [`stream`]: the same encryption for large files (imaging, PDFs), in
//!   64 KiB chunks with the STREAM construction, so a file of any size
//!   passes through a few 64 KiB buffers. Same data keys, same commitment.
//! - [`store`]: ciphertexts addressed by their SHA-256, on local disk by
//!   default or in an S3-compatible object store ([`VaultBackend`], a
//!   configuration switch), and the custodian's wrapped data keys, always
//!   on local disk. Deleting a key is crypto-shredding: the ciphertext
//!   left anywhere (a replica, a bucket) is noise. Large objects are
//!   sealed, opened and replicated in flat memory
//!   ([`DiskStore::put_stream`], [`DiskStore::open_stream`],
//!   [`DiskStore::reader`], [`DiskStore::put_verified_stream`]).
//!
//! No chain knowledge: the node decides who gets what. The only network
//! is the object store's, when one is configured.

mod backend;
mod bridge;
pub mod envelope;
mod files;
mod key_slots;
pub mod keys;
mod local;
mod object_db;
mod own_keys;
mod remote;
mod store;
pub mod stream;

pub use backend::{describe_store, open_store};
pub use custodia_config::{S3Settings, VaultBackend};
pub use envelope::{commitment, open, seal, DataKey, Hash, Opened, Sealed};
pub use keys::{unwrap, wrap, EncryptionPublic, EncryptionSecret, WrappedKey};
/// The object-store crate the remote backend is built on, so callers of
/// [`DiskStore::remote`] name the same `ObjectStore` trait.
pub use object_store;
pub use own_keys::{OwnKeys, SESSION_KEYS};
pub use store::{DiskStore, KeyRing, UnsyncedKey};
pub use stream::{open_stream, seal_stream, StreamOpened, StreamSealed};

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("vault storage failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("vault database failed: {0}")]
    Database(String),
    /// A request to the object store failed. Names the store, its prefix
    /// and what was being done; never content or credentials.
    #[error("vault object store {store}: could not {operation}: {reason}")]
    Remote {
        store: String,
        operation: &'static str,
        reason: String,
    },
    /// The vault's settings cannot work (e.g. an empty bucket name).
    #[error("vault settings: {0}")]
    Settings(String),
    /// Deliberately says nothing more: which part failed would help an attacker.
    #[error(
        "decryption failed: wrong key, wrong context (aad), or the ciphertext was altered or cut short"
    )]
    Decrypt,
    #[error("content hash mismatch: expected {expected}, got {got}")]
    HashMismatch { expected: String, got: String },
    #[error("not a wrapped data key (bad length or encoding)")]
    BadWrappedKey,
    #[error("not an X25519 key: {0}")]
    BadKey(String),
    /// An encrypted stream ended at a chunk boundary before its final chunk
    /// (a cut inside a chunk fails authentication: [`VaultError::Decrypt`]).
    #[error(
        "encrypted stream is truncated: its final chunk is missing; fetch the whole ciphertext again"
    )]
    Truncated,
    /// The reader yielded bytes after the final chunk. Bytes appended to a
    /// stream in a file usually show up as [`VaultError::Decrypt`] instead,
    /// because they join the last chunk.
    #[error(
        "encrypted stream has data after its final chunk: the ciphertext was altered or concatenated; fetch it again"
    )]
    TrailingData,
    /// The bytes are not an encrypted stream this version can read (for
    /// instance an envelope ciphertext: open those with [`open`]).
    #[error("not a Custodia encrypted stream ({0}); small objects are opened with `open`, not `open_stream`")]
    BadStreamHeader(&'static str),
    /// More chunks than the STREAM counter allows (2^32 - 1 of 64 KiB).
    #[error("file too large to encrypt as one stream (limit: 2^32 - 1 chunks of 64 KiB, about 256 TiB); split it")]
    TooLarge,
}

pub(crate) fn sha256(parts: &[&[u8]]) -> Hash {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}
