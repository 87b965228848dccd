//! Organisation encryption keys and data-key wrapping with HPKE (RFC 9180,
//! base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305).
//! A wrapped key is `encapsulated key (32) || sealed data key (48)`.

use crate::{DataKey, VaultError};
use hpke::{
    aead::ChaCha20Poly1305, kdf::HkdfSha256, kem::X25519HkdfSha256, Deserializable, Kem as _,
    OpModeR, OpModeS, Serializable,
};
use std::{fmt, str::FromStr};

type Kem = X25519HkdfSha256;
/// The suite, named for [`crate::own_keys`].
pub(crate) type HpkeKem = Kem;
pub(crate) type HpkeKdf = HkdfSha256;
pub(crate) type HpkeAead = ChaCha20Poly1305;
const ENCAPPED_LEN: usize = 32;

/// An organisation's (or a reader's one-time) X25519 decryption key.
pub struct EncryptionSecret(<Kem as hpke::Kem>::PrivateKey);

/// Its public half, which anyone may wrap data keys to.
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptionPublic(<Kem as hpke::Kem>::PublicKey);

impl EncryptionSecret {
    pub fn generate() -> Self {
        Self(Kem::gen_keypair().0)
    }

    pub fn public(&self) -> EncryptionPublic {
        EncryptionPublic(Kem::sk_to_pk(&self.0))
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes().into()
    }

    pub(crate) fn hpke(&self) -> &<Kem as hpke::Kem>::PrivateKey {
        &self.0
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, VaultError> {
        <Kem as hpke::Kem>::PrivateKey::from_bytes(bytes)
            .map(Self)
            .map_err(|e| VaultError::BadKey(e.to_string()))
    }
}

impl EncryptionPublic {
    pub(crate) fn hpke(&self) -> &<Kem as hpke::Kem>::PublicKey {
        &self.0
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes().into()
    }

    /// Parse a public key, refusing points no key can be wrapped to (the
    /// low-order points, whose shared secret is all zeros): checked here so
    /// that [`wrap`] cannot fail on a key that came from outside.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, VaultError> {
        let key = <Kem as hpke::Kem>::PublicKey::from_bytes(bytes)
            .map_err(|e| VaultError::BadKey(e.to_string()))?;
        hpke::setup_sender::<ChaCha20Poly1305, HkdfSha256, Kem>(&OpModeS::Base, &key, b"")
            .map_err(|_| {
                VaultError::BadKey("a low-order point, which no key can be wrapped to".into())
            })?;
        Ok(Self(key))
    }
}

impl fmt::Display for EncryptionPublic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.to_bytes()))
    }
}

impl fmt::Debug for EncryptionPublic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncryptionPublic({self})")
    }
}

impl FromStr for EncryptionPublic {
    type Err = VaultError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = hex::decode(s).map_err(|e| VaultError::BadKey(e.to_string()))?;
        Self::from_bytes(&bytes)
    }
}

/// A data key sealed to one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedKey(Vec<u8>);

impl WrappedKey {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, VaultError> {
        if bytes.len() <= ENCAPPED_LEN {
            return Err(VaultError::BadWrappedKey);
        }
        Ok(Self(bytes))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }

    pub fn from_hex(text: &str) -> Result<Self, VaultError> {
        Self::from_bytes(hex::decode(text).map_err(|_| VaultError::BadWrappedKey)?)
    }
}

/// Seal `key` to `to`; `info` binds it to its purpose (e.g. the ciphertext
/// hash), so a wrapped key cannot be replayed for another version.
pub fn wrap(key: &DataKey, to: &EncryptionPublic, info: &[u8]) -> WrappedKey {
    let (encapped, sealed) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, Kem>(
        &OpModeS::Base,
        &to.0,
        info,
        key.as_bytes(),
        b"",
    )
    .expect("X25519 encapsulation to a valid public key succeeds");
    let mut bytes = encapped.to_bytes().to_vec();
    bytes.extend_from_slice(&sealed);
    WrappedKey(bytes)
}

pub fn unwrap(
    wrapped: &WrappedKey,
    with: &EncryptionSecret,
    info: &[u8],
) -> Result<DataKey, VaultError> {
    let (encapped, sealed) = wrapped.0.split_at(ENCAPPED_LEN);
    let encapped = <Kem as hpke::Kem>::EncappedKey::from_bytes(encapped)
        .map_err(|_| VaultError::BadWrappedKey)?;
    let key = hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, Kem>(
        &OpModeR::Base,
        &with.0,
        &encapped,
        info,
        sealed,
        b"",
    )
    .map_err(|_| VaultError::Decrypt)?;
    let key: [u8; 32] = key.try_into().map_err(|_| VaultError::BadWrappedKey)?;
    Ok(DataKey::from_bytes(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_round_trip_only_for_the_recipient_and_purpose() {
        let org = EncryptionSecret::generate();
        let key = DataKey::generate();
        let wrapped = wrap(&key, &org.public(), b"ct-hash");
        assert_eq!(
            unwrap(&wrapped, &org, b"ct-hash").unwrap().as_bytes(),
            key.as_bytes()
        );
        assert!(unwrap(&wrapped, &EncryptionSecret::generate(), b"ct-hash").is_err());
        assert!(unwrap(&wrapped, &org, b"other").is_err());

        let restored = EncryptionSecret::from_bytes(&org.to_bytes()).unwrap();
        assert_eq!(restored.public(), org.public());
        let public: EncryptionPublic = org.public().to_string().parse().unwrap();
        assert_eq!(public, org.public());
        let again = WrappedKey::from_hex(&wrapped.to_hex()).unwrap();
        assert!(unwrap(&again, &restored, b"ct-hash").is_ok());
        assert!(WrappedKey::from_hex("00").is_err());
    }

    #[test]
    fn low_order_points_are_refused_when_parsed() {
        // The identity and a small-order point of Curve25519.
        assert!(EncryptionPublic::from_bytes(&[0; 32]).is_err());
        let mut one = [0u8; 32];
        one[0] = 1;
        assert!(EncryptionPublic::from_bytes(&one).is_err());
        assert!("00".repeat(32).parse::<EncryptionPublic>().is_err());
    }
}
