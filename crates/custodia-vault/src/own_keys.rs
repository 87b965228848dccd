//! The custodian's own data keys: wrapped to its own public key, many to
//! one HPKE encapsulation.
//!
//! Every record version gets a data key, and the custodian keeps it
//! wrapped to itself. Single-shot HPKE ([`crate::wrap`]) costs an ephemeral
//! X25519 key pair and a Diffie-Hellman per key, and unwrapping another
//! Diffie-Hellman per read: about a tenth of a writing node's processor.
//! Here one HPKE context (RFC 9180, base mode, same suite) serves a session
//! of up to [`SESSION_KEYS`] keys: each key is sealed under a secret
//! exported from the context (RFC 9180 §5.3) for its index in the session
//! and its purpose (the ciphertext hash), so no two keys share a secret,
//! and a wrapped key is bound to the version it opens. The reading side
//! remembers the contexts of recent sessions, so a read costs no
//! Diffie-Hellman either.
//!
//! Shredding still destroys one key: the slot holding its sealed bytes is
//! zeroed, and the session's context opens nothing without them.
//!
//! A session-wrapped key is `encapsulated key (32) || index (4, big-endian)
//! || sealed data key (48)`; a single-shot one is 80 bytes, so the two are
//! told apart by length and both open here.

use crate::{
    keys::{self, EncryptionPublic, EncryptionSecret, HpkeAead, HpkeKdf, HpkeKem, WrappedKey},
    DataKey, VaultError,
};
use chacha20poly1305::{
    aead::{Aead, KeyInit},
    ChaCha20Poly1305,
};
use hpke::{Deserializable, OpModeR, OpModeS, Serializable};
use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
};

/// Keys wrapped under one encapsulation before a new one is made.
pub const SESSION_KEYS: u32 = 4096;
/// Sessions whose opening contexts a reader keeps.
const REMEMBERED_SESSIONS: usize = 64;
const ENCAPPED: usize = 32;
const INDEX: usize = 4;
const SEALED: usize = 32 + 16;
pub(crate) const SESSION_WRAPPED_LEN: usize = ENCAPPED + INDEX + SEALED;
/// Binds the context to this use.
const CONTEXT_INFO: &[u8] = b"custodia/own-keys/v1";
const EXPORT_LABEL: &[u8] = b"custodia/data-key/";

type SendContext = hpke::aead::AeadCtxS<HpkeAead, HpkeKdf, HpkeKem>;
type OpenContext = hpke::aead::AeadCtxR<HpkeAead, HpkeKdf, HpkeKem>;

struct Session {
    encapped: [u8; ENCAPPED],
    context: SendContext,
    next: u32,
}

/// An organisation's key pair, with the wrapping sessions of its own keys.
pub struct OwnKeys {
    secret: EncryptionSecret,
    public: EncryptionPublic,
    sending: Mutex<Option<Session>>,
    opening: Mutex<HashMap<[u8; ENCAPPED], OpenContext>>,
}

impl OwnKeys {
    pub fn new(secret: EncryptionSecret) -> Self {
        Self {
            public: secret.public(),
            secret,
            sending: Mutex::new(None),
            opening: Mutex::new(HashMap::new()),
        }
    }

    pub fn public(&self) -> &EncryptionPublic {
        &self.public
    }

    /// Wrap `key` to this organisation, bound to `info` (the ciphertext
    /// hash).
    pub fn wrap(&self, key: &DataKey, info: &[u8]) -> WrappedKey {
        let (encapped, index, secret) = {
            let mut sending = self.sending.lock().unwrap_or_else(PoisonError::into_inner);
            let session = match sending.as_mut() {
                Some(session) if session.next < SESSION_KEYS => session,
                _ => sending.insert(self.new_session()),
            };
            let index = session.next;
            session.next += 1;
            let mut secret = [0u8; 32];
            session
                .context
                .export(&export_label(index, info), &mut secret)
                .expect(EXPORT_FITS);
            (session.encapped, index, secret)
        };
        let sealed = ChaCha20Poly1305::new(&secret.into())
            .encrypt(&[0u8; 12].into(), key.as_bytes().as_slice())
            .expect("ChaCha20-Poly1305 seals 32 bytes");
        let mut bytes = Vec::with_capacity(SESSION_WRAPPED_LEN);
        bytes.extend_from_slice(&encapped);
        bytes.extend_from_slice(&index.to_be_bytes());
        bytes.extend_from_slice(&sealed);
        WrappedKey::from_bytes(bytes).expect("a session-wrapped key has its fixed length")
    }

    /// Open a key wrapped to this organisation, by a session or single-shot.
    pub fn unwrap(&self, wrapped: &WrappedKey, info: &[u8]) -> Result<DataKey, VaultError> {
        let bytes = wrapped.as_bytes();
        if bytes.len() != SESSION_WRAPPED_LEN {
            return keys::unwrap(wrapped, &self.secret, info);
        }
        let (encapped, rest) = bytes.split_at(ENCAPPED);
        let (index, sealed) = rest.split_at(INDEX);
        let encapped: [u8; ENCAPPED] = encapped.try_into().expect("split at its length");
        let index = u32::from_be_bytes(index.try_into().expect("split at its length"));
        let secret = {
            let mut opening = self.opening.lock().unwrap_or_else(PoisonError::into_inner);
            if !opening.contains_key(&encapped) {
                let context = open_context(&self.secret, &encapped)?;
                if opening.len() >= REMEMBERED_SESSIONS {
                    // Any one will do: sessions are read back in no
                    // particular order, and a miss costs one exchange.
                    let evicted = *opening.keys().next().expect("the map is full");
                    opening.remove(&evicted);
                }
                opening.insert(encapped, context);
            }
            let mut secret = [0u8; 32];
            opening[&encapped]
                .export(&export_label(index, info), &mut secret)
                .expect(EXPORT_FITS);
            secret
        };
        let key = ChaCha20Poly1305::new(&secret.into())
            .decrypt(&[0u8; 12].into(), sealed)
            .map_err(|_| VaultError::Decrypt)?;
        let key: [u8; 32] = key.try_into().map_err(|_| VaultError::BadWrappedKey)?;
        Ok(DataKey::from_bytes(key))
    }

    fn new_session(&self) -> Session {
        let (encapped, context) = hpke::setup_sender::<HpkeAead, HpkeKdf, HpkeKem>(
            &OpModeS::Base,
            self.public.hpke(),
            CONTEXT_INFO,
        )
        .expect("X25519 encapsulation to our own valid public key succeeds");
        Session {
            encapped: encapped.to_bytes().into(),
            context,
            next: 0,
        }
    }
}

fn open_context(
    secret: &EncryptionSecret,
    encapped: &[u8; ENCAPPED],
) -> Result<OpenContext, VaultError> {
    let encapped = <HpkeKem as hpke::Kem>::EncappedKey::from_bytes(encapped)
        .map_err(|_| VaultError::BadWrappedKey)?;
    hpke::setup_receiver::<HpkeAead, HpkeKdf, HpkeKem>(
        &OpModeR::Base,
        secret.hpke(),
        &encapped,
        CONTEXT_INFO,
    )
    .map_err(|_| VaultError::Decrypt)
}

/// What a session exports the secret sealing key `index` for `info` under.
fn export_label(index: u32, info: &[u8]) -> Vec<u8> {
    let mut label = Vec::with_capacity(EXPORT_LABEL.len() + INDEX + info.len());
    label.extend_from_slice(EXPORT_LABEL);
    label.extend_from_slice(&index.to_be_bytes());
    label.extend_from_slice(info);
    label
}

const EXPORT_FITS: &str = "32 bytes is far below HPKE's export limit";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_open_only_for_their_owner_and_purpose() {
        let own = OwnKeys::new(EncryptionSecret::generate());
        let first = DataKey::generate();
        let second = DataKey::generate();
        let wrapped_first = own.wrap(&first, b"first-hash");
        let wrapped_second = own.wrap(&second, b"second-hash");
        assert_eq!(wrapped_first.as_bytes().len(), SESSION_WRAPPED_LEN);
        // One encapsulation for both.
        assert_eq!(
            wrapped_first.as_bytes()[..ENCAPPED],
            wrapped_second.as_bytes()[..ENCAPPED]
        );
        assert_eq!(
            own.unwrap(&wrapped_second, b"second-hash")
                .unwrap()
                .as_bytes(),
            second.as_bytes()
        );
        assert_eq!(
            own.unwrap(&wrapped_first, b"first-hash")
                .unwrap()
                .as_bytes(),
            first.as_bytes()
        );
        // Bound to its purpose: another version's hash opens nothing.
        assert!(own.unwrap(&wrapped_first, b"second-hash").is_err());
        // Bound to its index: the sealed bytes moved to another index fail.
        let mut moved = wrapped_first.as_bytes().to_vec();
        moved[ENCAPPED + INDEX - 1] ^= 1;
        let moved = WrappedKey::from_bytes(moved).unwrap();
        assert!(own.unwrap(&moved, b"first-hash").is_err());
        // Another organisation cannot open it, with or without a session.
        let other = OwnKeys::new(EncryptionSecret::generate());
        assert!(other.unwrap(&wrapped_first, b"first-hash").is_err());
        // A restarted node (no remembered sessions) opens it from its secret.
        let restarted = OwnKeys::new(EncryptionSecret::from_bytes(&own.secret.to_bytes()).unwrap());
        assert_eq!(
            restarted
                .unwrap(&wrapped_first, b"first-hash")
                .unwrap()
                .as_bytes(),
            first.as_bytes()
        );
    }

    #[test]
    fn single_shot_keys_still_open() {
        let own = OwnKeys::new(EncryptionSecret::generate());
        let key = DataKey::generate();
        let wrapped = keys::wrap(&key, own.public(), b"hash");
        assert_eq!(
            own.unwrap(&wrapped, b"hash").unwrap().as_bytes(),
            key.as_bytes()
        );
    }

    #[test]
    fn a_session_ends_after_its_keys_and_every_key_still_opens() {
        let own = OwnKeys::new(EncryptionSecret::generate());
        let keys: Vec<(DataKey, WrappedKey)> = (0..=SESSION_KEYS)
            .map(|i| {
                let key = DataKey::generate();
                let wrapped = own.wrap(&key, &i.to_be_bytes());
                (key, wrapped)
            })
            .collect();
        let encapped = |w: &WrappedKey| w.as_bytes()[..ENCAPPED].to_vec();
        let last = SESSION_KEYS as usize;
        assert_eq!(encapped(&keys[0].1), encapped(&keys[last - 1].1));
        assert_ne!(encapped(&keys[0].1), encapped(&keys[last].1));
        for (i, (key, wrapped)) in keys.iter().enumerate().step_by(511) {
            let opened = own.unwrap(wrapped, &(i as u32).to_be_bytes()).unwrap();
            assert_eq!(opened.as_bytes(), key.as_bytes());
        }
    }

    #[test]
    fn a_reader_keeps_a_bounded_number_of_sessions() {
        let writer = OwnKeys::new(EncryptionSecret::generate());
        let reader = OwnKeys::new(EncryptionSecret::from_bytes(&writer.secret.to_bytes()).unwrap());
        for session in 0..REMEMBERED_SESSIONS + 3 {
            // Force a new session per key.
            *writer.sending.lock().unwrap() = None;
            let key = DataKey::generate();
            let wrapped = writer.wrap(&key, &session.to_be_bytes());
            let opened = reader.unwrap(&wrapped, &session.to_be_bytes()).unwrap();
            assert_eq!(opened.as_bytes(), key.as_bytes());
        }
        assert_eq!(reader.opening.lock().unwrap().len(), REMEMBERED_SESSIONS);
    }
}
