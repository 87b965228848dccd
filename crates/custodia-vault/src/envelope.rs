//! Envelope encryption of one record version.
//!
//! Layout of a ciphertext: `nonce (24) || AEAD(salt (32) || plaintext)`.
//! The salt rides inside the encryption so a reader who can decrypt can
//! recompute the commitment `SHA-256("custodia/commitment/v1" || salt ||
//! plaintext)` that the chain holds; without the salt, the commitment
//! tells nobody anything about the content (it cannot be guessed even for
//! short, predictable resources).

use crate::{sha256, VaultError};
use chacha20poly1305::{
    aead::{Aead, KeyInit, Payload},
    XChaCha20Poly1305,
};
use rand::RngExt as _;
use sha2::{Digest as _, Sha256};

pub type Hash = [u8; 32];

const NONCE_LEN: usize = 24;
/// Bytes of the commitment salt.
pub const SALT_LEN: usize = 32;
const COMMITMENT_DOMAIN: &[u8] = b"custodia/commitment/v1";

/// A record version's own key. Never stored in the clear: only wrapped.
pub struct DataKey([u8; 32]);

impl DataKey {
    pub fn generate() -> Self {
        Self(rand::rng().random())
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub(crate) fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.0.into())
    }
}

impl Drop for DataKey {
    fn drop(&mut self) {
        // Best effort: a volatile write the optimiser will not elide.
        for byte in self.0.iter_mut() {
            unsafe { std::ptr::write_volatile(byte, 0) };
        }
    }
}

/// An encrypted version, with what the chain records about it.
pub struct Sealed {
    pub ciphertext: Vec<u8>,
    pub ciphertext_hash: Hash,
    pub commitment: Hash,
}

pub struct Opened {
    pub plaintext: Vec<u8>,
    /// Revealed to readers so they can check the commitment themselves.
    pub salt: [u8; SALT_LEN],
    pub commitment: Hash,
}

/// The commitment to `plaintext` under `salt`.
pub fn commitment(salt: &[u8; SALT_LEN], plaintext: &[u8]) -> Hash {
    let mut hasher = commitment_hasher(salt);
    hasher.update(plaintext);
    hasher.finalize().into()
}

/// A commitment hasher with the domain and salt absorbed: feed it the
/// plaintext, in one piece or many, and finalise. [`commitment`] and
/// [`crate::stream`] both start here, so a file committed chunk by chunk
/// gets the same commitment as the same bytes sealed in one go.
pub(crate) fn commitment_hasher(salt: &[u8; SALT_LEN]) -> Sha256 {
    let mut hasher = Sha256::new();
    hasher.update(COMMITMENT_DOMAIN);
    hasher.update(salt);
    hasher
}

/// Encrypt `plaintext` under `key`; `aad` binds it to where it belongs
/// (e.g. `Observation/abc/_history/2`), so it cannot be passed off as
/// another resource or version.
pub fn seal(key: &DataKey, plaintext: &[u8], aad: &[u8]) -> Sealed {
    let salt: [u8; SALT_LEN] = rand::rng().random();
    let nonce: [u8; NONCE_LEN] = rand::rng().random();
    let mut message = Vec::with_capacity(SALT_LEN + plaintext.len());
    message.extend_from_slice(&salt);
    message.extend_from_slice(plaintext);
    let encrypted = key
        .cipher()
        .encrypt(&nonce.into(), Payload { msg: &message, aad })
        .expect("XChaCha20-Poly1305 encrypts any message under 256 GiB");
    let mut ciphertext = Vec::with_capacity(NONCE_LEN + encrypted.len());
    ciphertext.extend_from_slice(&nonce);
    ciphertext.extend_from_slice(&encrypted);
    Sealed {
        ciphertext_hash: sha256(&[&ciphertext]),
        commitment: commitment(&salt, plaintext),
        ciphertext,
    }
}

/// Decrypt a ciphertext made by [`seal`] with the same key and `aad`.
pub fn open(key: &DataKey, ciphertext: &[u8], aad: &[u8]) -> Result<Opened, VaultError> {
    if ciphertext.len() < NONCE_LEN {
        return Err(VaultError::Decrypt);
    }
    let (nonce, encrypted) = ciphertext.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| VaultError::Decrypt)?;
    let mut message = key
        .cipher()
        .decrypt(
            &nonce.into(),
            Payload {
                msg: encrypted,
                aad,
            },
        )
        .map_err(|_| VaultError::Decrypt)?;
    if message.len() < SALT_LEN {
        return Err(VaultError::Decrypt);
    }
    let plaintext = message.split_off(SALT_LEN);
    let salt: [u8; SALT_LEN] = message.try_into().map_err(|_| VaultError::Decrypt)?;
    Ok(Opened {
        commitment: commitment(&salt, &plaintext),
        plaintext,
        salt,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tampering() {
        let key = DataKey::generate();
        let sealed = seal(
            &key,
            b"{\"resourceType\":\"Patient\"}",
            b"Patient/p/_history/1",
        );
        assert_eq!(sealed.ciphertext_hash, sha256(&[&sealed.ciphertext]));
        let opened = open(&key, &sealed.ciphertext, b"Patient/p/_history/1").unwrap();
        assert_eq!(opened.plaintext, b"{\"resourceType\":\"Patient\"}");
        assert_eq!(opened.commitment, sealed.commitment);

        assert!(open(
            &DataKey::generate(),
            &sealed.ciphertext,
            b"Patient/p/_history/1"
        )
        .is_err());
        assert!(open(&key, &sealed.ciphertext, b"Patient/p/_history/2").is_err());
        let mut flipped = sealed.ciphertext.clone();
        flipped[30] ^= 1;
        assert!(open(&key, &flipped, b"Patient/p/_history/1").is_err());
        assert!(open(&key, &sealed.ciphertext[..10], b"").is_err());
    }

    #[test]
    fn the_same_content_gets_unlinkable_commitments_and_ciphertexts() {
        let key = DataKey::generate();
        let a = seal(&key, b"same", b"");
        let b = seal(&key, b"same", b"");
        assert_ne!(a.commitment, b.commitment);
        assert_ne!(a.ciphertext, b.ciphertext);
    }
}
