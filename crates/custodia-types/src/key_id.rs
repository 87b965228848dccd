//! A public key named by its bytes, for transaction bodies that refer to an
//! agent (who wrote a record version, who asks for access).

use crate::PublicKey;
use bytes::BufMut;
use commonware_codec::{Buf, Error, FixedSize, Read, ReadExt as _, Write};
use std::fmt;

/// The 32 bytes of an ed25519 public key, not checked to be a point on the
/// curve. A body only ever names a key to look up what the chain
/// registered for it (an unknown key is refused there), and nobody verifies
/// a signature with it. Decoding a full [`PublicKey`] instead costs a point
/// decompression for every record version on every node, about a twentieth
/// of the machine while writing. The encoding is a `PublicKey`'s.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId([u8; 32]);

impl KeyId {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl From<[u8; 32]> for KeyId {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl From<&PublicKey> for KeyId {
    fn from(key: &PublicKey) -> Self {
        let mut bytes = [0; 32];
        bytes.copy_from_slice(key.as_ref());
        Self(bytes)
    }
}

impl From<PublicKey> for KeyId {
    fn from(key: PublicKey) -> Self {
        Self::from(&key)
    }
}

impl PartialEq<PublicKey> for KeyId {
    fn eq(&self, key: &PublicKey) -> bool {
        self.0.as_slice() == key.as_ref()
    }
}

impl AsRef<[u8]> for KeyId {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl Write for KeyId {
    fn write(&self, buf: &mut impl BufMut) {
        self.0.write(buf);
    }
}

impl FixedSize for KeyId {
    const SIZE: usize = 32;
}

impl Read for KeyId {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self(<[u8; 32]>::read(buf)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{DecodeExt as _, Encode as _};
    use commonware_cryptography::Signer as _;

    #[test]
    fn a_key_id_encodes_as_its_public_key_and_names_the_same_key() {
        let key = crate::PrivateKey::from_seed(3).public_key();
        let id = KeyId::from(&key);
        assert_eq!(id.encode(), key.encode());
        assert_eq!(KeyId::decode(key.encode()).unwrap(), key);
        assert_eq!(id.to_hex(), crate::key_hex(&key));
        assert_ne!(
            KeyId::from(crate::PrivateKey::from_seed(4).public_key()),
            key
        );
    }

    #[test]
    fn any_32_bytes_decode_but_not_31() {
        // Not every 32 bytes are a curve point; a KeyId does not care.
        assert!(KeyId::decode(commonware_codec::Copying([0xff; 32].as_slice())).is_ok());
        assert!(KeyId::decode(commonware_codec::Copying([0xff; 31].as_slice())).is_err());
    }
}
