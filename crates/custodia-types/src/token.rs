//! Bearer tokens: how a person (an organisation's agent, or a patient)
//! authenticates to a node's FHIR API with the key registered on chain.
//! A token is the agent's signature over (chain, node org, key, expiry), so
//! it works only at the node it was made for and only until it expires; any
//! FHIR client can send it as `Authorization: Bearer <token>`.

use crate::{
    codec_util::{read_str, str_size, write_str},
    OrgId, PrivateKey, PublicKey, Signature,
};
use bytes::BufMut;
use commonware_codec::{Buf, DecodeExt as _, Encode as _, EncodeSize, Error, Read, ReadExt, Write};
use commonware_cryptography::{Signer as _, Verifier as _};

pub const TOKEN_NAMESPACE: &[u8] = b"custodia/token/v1";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthToken {
    pub chain_id: String,
    /// The organisation whose node accepts it.
    pub audience: OrgId,
    pub key: PublicKey,
    pub expires_ms: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error(
        "the bearer token is not valid hex of a Custodia token; make one with `custodia token`"
    )]
    Malformed,
    #[error("the bearer token's signature does not match its key")]
    BadSignature,
    #[error("the bearer token is for chain {0:?}, not this one")]
    WrongChain(String),
    #[error("the bearer token is for {0}'s node; make one for this node's organisation")]
    WrongAudience(OrgId),
    #[error("the bearer token expired; make a new one with `custodia token`")]
    Expired,
}

impl AuthToken {
    /// Sign and encode as hex (what goes after `Bearer `).
    pub fn sign(&self, key: &PrivateKey) -> String {
        let payload = self.encode();
        let signature = key.sign(TOKEN_NAMESPACE, &payload);
        let mut bytes = payload.to_vec();
        bytes.extend_from_slice(&signature.encode());
        hex::encode(bytes)
    }

    /// Decode and check a token for this chain, node and time.
    pub fn verify(
        text: &str,
        chain_id: &str,
        audience: &OrgId,
        now_ms: u64,
    ) -> Result<Self, TokenError> {
        let bytes = hex::decode(text.trim()).map_err(|_| TokenError::Malformed)?;
        let signature_len = <Signature as commonware_codec::FixedSize>::SIZE;
        if bytes.len() <= signature_len {
            return Err(TokenError::Malformed);
        }
        let (payload, signature) = bytes.split_at(bytes.len() - signature_len);
        let token = Self::decode(bytes::Bytes::copy_from_slice(payload))
            .map_err(|_| TokenError::Malformed)?;
        let signature = Signature::decode(bytes::Bytes::copy_from_slice(signature))
            .map_err(|_| TokenError::Malformed)?;
        if !token.key.verify(TOKEN_NAMESPACE, payload, &signature) {
            return Err(TokenError::BadSignature);
        }
        if token.chain_id != chain_id {
            return Err(TokenError::WrongChain(token.chain_id));
        }
        if &token.audience != audience {
            return Err(TokenError::WrongAudience(token.audience));
        }
        if token.expires_ms <= now_ms {
            return Err(TokenError::Expired);
        }
        Ok(token)
    }
}

impl Write for AuthToken {
    fn write(&self, buf: &mut impl BufMut) {
        write_str(&self.chain_id, buf);
        self.audience.write(buf);
        self.key.write(buf);
        self.expires_ms.write(buf);
    }
}

impl EncodeSize for AuthToken {
    fn encode_size(&self) -> usize {
        str_size(&self.chain_id)
            + self.audience.encode_size()
            + self.key.encode_size()
            + self.expires_ms.encode_size()
    }
}

impl Read for AuthToken {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            chain_id: read_str(buf, 64)?,
            audience: OrgId::read(buf)?,
            key: PublicKey::read(buf)?,
            expires_ms: u64::read(buf)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_where_and_while_meant() {
        let key = PrivateKey::from_seed(5);
        let org = OrgId::new("st-mary").unwrap();
        let token = AuthToken {
            chain_id: "c".into(),
            audience: org.clone(),
            key: key.public_key(),
            expires_ms: 100,
        };
        let text = token.sign(&key);
        assert_eq!(AuthToken::verify(&text, "c", &org, 99), Ok(token.clone()));
        assert_eq!(
            AuthToken::verify(&text, "c", &org, 100),
            Err(TokenError::Expired)
        );
        assert!(matches!(
            AuthToken::verify(&text, "d", &org, 1),
            Err(TokenError::WrongChain(_))
        ));
        let other = OrgId::new("other").unwrap();
        assert!(matches!(
            AuthToken::verify(&text, "c", &other, 1),
            Err(TokenError::WrongAudience(_))
        ));
        let forged = token.sign(&PrivateKey::from_seed(6));
        assert_eq!(
            AuthToken::verify(&forged, "c", &org, 1),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            AuthToken::verify("zz", "c", &org, 1),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            AuthToken::verify(&text[..20], "c", &org, 1),
            Err(TokenError::Malformed)
        );
    }
}
