//! The body every plugged-in domain travels in: which domain, for whom,
//! and the domain's own bytes.
//!
//! The core types know no domain's actions. A domain crate (supply,
//! claims, trials, …) defines its actions and their canonical encoding,
//! and its state module, registered under the domain's name, decodes and
//! applies them. A body naming a domain the chain does not run is refused
//! as a transaction (`Rejection::UnknownDomain`), never a panic.
//!
//! **Canonical form.** The payload is the domain's canonical encoding;
//! the domain refuses bytes that are not (one action has one encoding,
//! so one transaction has one id).

use crate::{
    codec_util::{read_str, str_size, write_str},
    PublicKey,
};
use bytes::{BufMut, Bytes};
use commonware_codec::{Buf, EncodeSize, Error, RangeCfg, Read, Write};
use serde::{Deserialize, Serialize};

/// Largest payload one domain action may carry: what is left of a
/// transaction (8 KiB) after the chain id, signer, nonce, domain name,
/// agent and signature.
pub const MAX_DOMAIN_PAYLOAD_BYTES: usize = 7 * 1024 + 704;
/// Longest domain name.
pub const MAX_DOMAIN_NAME_LEN: usize = 32;

/// Why a domain action cannot be put in a transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainTxError {
    #[error(
        "the {domain} action is {size} bytes; one transaction carries at most {max} \
         (a transaction is at most 8 KiB): split it into several smaller actions"
    )]
    TooLarge {
        domain: String,
        size: usize,
        max: usize,
    },
    #[error(
        "{0:?} is not a domain name: 1 to 32 characters of lowercase letters, digits, '-' or '_'"
    )]
    BadName(String),
}

/// One action of a plugged-in domain. Compared by its bytes.
///
/// Its JSON form here is generic (`domain`, `on_behalf_of` as a hex key,
/// `payload` in hex); a domain offers clients its own, friendlier form
/// (supply: `{"type": "supply", "action": {...}}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainTx {
    domain: String,
    on_behalf_of: Option<PublicKey>,
    payload: Bytes,
}

#[derive(Serialize, Deserialize)]
struct DomainTxJson {
    domain: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    on_behalf_of: Option<String>,
    payload: String,
}

impl Serialize for DomainTx {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        DomainTxJson {
            domain: self.domain.clone(),
            on_behalf_of: self.on_behalf_of.as_ref().map(crate::key_hex),
            payload: hex::encode(&self.payload),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for DomainTx {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let json = DomainTxJson::deserialize(d)?;
        let on_behalf_of = json
            .on_behalf_of
            .map(|hex| crate::parse_public_key(&hex).map_err(D::Error::custom))
            .transpose()?;
        let payload = hex::decode(&json.payload).map_err(D::Error::custom)?;
        Self::new(&json.domain, on_behalf_of, payload.into()).map_err(D::Error::custom)
    }
}

impl DomainTx {
    /// `payload` is the domain's canonical encoding of one action.
    pub fn new(
        domain: &str,
        on_behalf_of: Option<PublicKey>,
        payload: Bytes,
    ) -> Result<Self, DomainTxError> {
        if !is_domain_name(domain) {
            return Err(DomainTxError::BadName(domain.to_string()));
        }
        if payload.is_empty() || payload.len() > MAX_DOMAIN_PAYLOAD_BYTES {
            return Err(DomainTxError::TooLarge {
                domain: domain.to_string(),
                size: payload.len(),
                max: MAX_DOMAIN_PAYLOAD_BYTES,
            });
        }
        Ok(Self {
            domain: domain.to_string(),
            on_behalf_of,
            payload,
        })
    }

    /// The name of the domain whose state module applies it.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The agent a node signed for; `None` when the signer acts itself.
    pub fn agent(&self) -> Option<&PublicKey> {
        self.on_behalf_of.as_ref()
    }

    /// The domain's own bytes.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }
}

fn is_domain_name(name: &str) -> bool {
    (1..=MAX_DOMAIN_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl Write for DomainTx {
    fn write(&self, buf: &mut impl BufMut) {
        write_str(&self.domain, buf);
        self.on_behalf_of.write(buf);
        self.payload.write(buf);
    }
}

impl EncodeSize for DomainTx {
    fn encode_size(&self) -> usize {
        str_size(&self.domain) + self.on_behalf_of.encode_size() + self.payload.encode_size()
    }
}

impl Read for DomainTx {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        let domain = read_str(buf, MAX_DOMAIN_NAME_LEN)?;
        if !is_domain_name(&domain) {
            return Err(Error::Invalid("DomainTx", "not a domain name"));
        }
        Ok(Self {
            domain,
            on_behalf_of: Option::<PublicKey>::read_cfg(buf, &())?,
            payload: Bytes::read_cfg(buf, &RangeCfg::new(1..=MAX_DOMAIN_PAYLOAD_BYTES))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{DecodeExt, Encode};

    #[test]
    fn a_domain_action_round_trips_and_bad_names_are_refused() {
        use commonware_cryptography::Signer as _;
        let key = crate::generate_key();
        let tx = DomainTx::new("supply", Some(key.public_key()), Bytes::from_static(b"{}"))
            .expect("a valid action");
        assert_eq!(DomainTx::decode(tx.encode()).expect("decodes"), tx);
        let json = serde_json::to_string(&tx).expect("json");
        assert_eq!(serde_json::from_str::<DomainTx>(&json).expect("parses"), tx);

        for bad in ["", "Supply", "sup ply", &"x".repeat(33)] {
            assert_eq!(
                DomainTx::new(bad, None, Bytes::from_static(b"{}")),
                Err(DomainTxError::BadName(bad.to_string()))
            );
        }
        assert!(matches!(
            DomainTx::new("supply", None, Bytes::new()),
            Err(DomainTxError::TooLarge { size: 0, .. })
        ));
        let mut wrong = Vec::new();
        write_str("Bad Name", &mut wrong);
        None::<PublicKey>.write(&mut wrong);
        Bytes::from_static(b"{}").write(&mut wrong);
        assert!(DomainTx::decode(Bytes::from(wrong)).is_err());
    }
}
