//! Signed transactions: the only way anything changes on the chain.

use crate::{
    codec_util::{read_str, str_size, write_str},
    sha256, Body, Digest, PrivateKey, PublicKey, Signature,
};
use bytes::{BufMut, Bytes};
use commonware_codec::{Buf, DecodeExt, Encode, EncodeSize, Error, Read, ReadExt, Write};
use commonware_cryptography::{Signer as _, Verifier as _};

/// Domain separation for transaction signatures, so a signature over a
/// transaction can never be replayed as a signature over anything else.
pub const TX_NAMESPACE: &[u8] = b"custodia/tx/v1";
/// Largest encoded transaction a node will accept.
pub const MAX_TX_BYTES: usize = 8 * 1024;
const MAX_CHAIN_ID_LEN: usize = 64;

/// Why bytes could not be turned into a transaction.
#[derive(Debug, thiserror::Error)]
pub enum TxDecodeError {
    #[error("transaction is {size} bytes; the limit is {max}")]
    TooLarge { size: usize, max: usize },
    #[error("transaction bytes are malformed: {}", describe(.0))]
    Malformed(#[from] Error),
}

/// A codec error with its wrapped reason, if it has one.
fn describe(error: &Error) -> String {
    match error {
        Error::Wrapped(context, source) => format!("{context}: {source}"),
        other => other.to_string(),
    }
}

/// What the signer signs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxPayload {
    pub chain_id: String,
    pub signer: PublicKey,
    /// Per-signer sequence number: the first transaction of a key uses 0,
    /// each next one the previous plus one. Replays are refused.
    pub nonce: u64,
    pub body: Body,
}

impl TxPayload {
    pub fn sign(self, key: &PrivateKey) -> SignedTx {
        let signature = key.sign(TX_NAMESPACE, &self.encode());
        SignedTx::from_parts(self, signature)
    }
}

impl Write for TxPayload {
    fn write(&self, buf: &mut impl BufMut) {
        write_str(&self.chain_id, buf);
        self.signer.write(buf);
        self.nonce.write(buf);
        self.body.write(buf);
    }
}

impl EncodeSize for TxPayload {
    fn encode_size(&self) -> usize {
        str_size(&self.chain_id)
            + self.signer.encode_size()
            + self.nonce.encode_size()
            + self.body.encode_size()
    }
}

impl Read for TxPayload {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            chain_id: read_str(buf, MAX_CHAIN_ID_LEN)?,
            signer: PublicKey::read(buf)?,
            nonce: u64::read(buf)?,
            body: Body::read(buf)?,
        })
    }
}

/// A transaction with its signature. Its id is the SHA-256 of its encoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTx {
    payload: TxPayload,
    signature: Signature,
    id: Digest,
}

impl SignedTx {
    fn from_parts(payload: TxPayload, signature: Signature) -> Self {
        let mut tx = Self {
            payload,
            signature,
            id: commonware_cryptography::sha256::Digest([0u8; 32]),
        };
        tx.id = sha256(&[&tx.encode()]);
        tx
    }

    /// Decode untrusted bytes, refusing oversized input before parsing it.
    pub fn decode_untrusted(bytes: &[u8]) -> Result<Self, TxDecodeError> {
        if bytes.len() > MAX_TX_BYTES {
            return Err(TxDecodeError::TooLarge {
                size: bytes.len(),
                max: MAX_TX_BYTES,
            });
        }
        Ok(Self::decode(commonware_codec::Copying(bytes))?)
    }

    pub fn payload(&self) -> &TxPayload {
        &self.payload
    }

    pub fn signer(&self) -> &PublicKey {
        &self.payload.signer
    }

    pub fn nonce(&self) -> u64 {
        self.payload.nonce
    }

    pub fn body(&self) -> &Body {
        &self.payload.body
    }

    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// The transaction id.
    pub fn id(&self) -> Digest {
        self.id
    }

    /// Check the signature against the signer key named in the payload.
    pub fn verify_signature(&self) -> bool {
        self.payload
            .signer
            .verify(TX_NAMESPACE, &self.payload.encode(), &self.signature)
    }

    pub fn to_bytes(&self) -> Bytes {
        self.encode()
    }
}

impl Write for SignedTx {
    fn write(&self, buf: &mut impl BufMut) {
        self.payload.write(buf);
        self.signature.write(buf);
    }
}

impl EncodeSize for SignedTx {
    fn encode_size(&self) -> usize {
        self.payload.encode_size() + self.signature.encode_size()
    }
}

impl Read for SignedTx {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        let payload = TxPayload::read(buf)?;
        let signature = Signature::read(buf)?;
        Ok(Self::from_parts(payload, signature))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u64) -> PrivateKey {
        PrivateKey::from_seed(seed)
    }

    fn note_tx(nonce: u64) -> SignedTx {
        let signer = key(1);
        TxPayload {
            chain_id: "test-chain".into(),
            signer: signer.public_key(),
            nonce,
            body: Body::Note {
                data: Bytes::from_static(b"hello"),
            },
        }
        .sign(&signer)
    }

    #[test]
    fn round_trips_and_verifies() {
        let tx = note_tx(7);
        let decoded = SignedTx::decode_untrusted(&tx.to_bytes()).unwrap();
        assert_eq!(decoded, tx);
        assert_eq!(decoded.id(), tx.id());
        assert!(decoded.verify_signature());
    }

    #[test]
    fn tampered_payload_fails_signature() {
        let tx = note_tx(7);
        let mut bytes = tx.to_bytes().to_vec();
        // The nonce sits right after the chain id and the 32-byte key.
        let nonce_at = 1 + "test-chain".len() + 32;
        bytes[nonce_at + 7] ^= 1;
        let forged = SignedTx::decode_untrusted(&bytes).unwrap();
        assert_ne!(forged.nonce(), 7);
        assert!(!forged.verify_signature());
    }

    #[test]
    fn refuses_oversized_and_truncated_input() {
        let big = vec![0u8; MAX_TX_BYTES + 1];
        assert!(matches!(
            SignedTx::decode_untrusted(&big),
            Err(TxDecodeError::TooLarge { .. })
        ));
        let bytes = note_tx(1).to_bytes();
        assert!(matches!(
            SignedTx::decode_untrusted(&bytes[..bytes.len() - 1]),
            Err(TxDecodeError::Malformed(_))
        ));
    }

    #[test]
    fn ids_differ_per_nonce() {
        assert_ne!(note_tx(1).id(), note_tx(2).id());
    }
}
