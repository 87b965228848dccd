//! The supply-chain transaction body: one `custodia_supply` action (an
//! EPCIS document's events, a product registration, sensor readings, …),
//! optionally signed by a member's node on behalf of one of its agents.
//!
//! **Encoding.** The action travels as its JSON (the same serde form the
//! supply crate defines, EPCIS events in their standard JSON), as
//! length-limited bytes inside the binary codec. JSON is what the domain
//! already round-trips exactly (EPCIS keeps identifier spellings, unknown
//! members and number forms), and it needs no second schema. To keep the
//! encoding canonical, decoding re-encodes the parsed action and refuses
//! bytes that differ: one action has exactly one encoding, so one
//! transaction has one id.
//!
//! **Size.** A transaction is at most [`crate::MAX_TX_BYTES`] (8 KiB), so
//! an action's JSON is at most [`MAX_SUPPLY_JSON_BYTES`]. An EPCIS document
//! larger than that must be split into several transactions (each is
//! applied all or nothing); [`SupplyTx::new`] says so.

use bytes::{BufMut, Bytes};
use commonware_codec::{Buf, EncodeSize, Error, RangeCfg, Read, Write};
use custodia_supply::ledger::SupplyAction;
use serde::{Deserialize, Serialize};

use crate::PublicKey;

/// Largest JSON form of one supply action: what is left of a transaction
/// (8 KiB) after the chain id, signer, nonce, agent and signature.
pub const MAX_SUPPLY_JSON_BYTES: usize = 7 * 1024 + 768;

/// Why a supply action cannot be put in a transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SupplyTxError {
    #[error(
        "the supply action is {size} bytes of JSON; one transaction carries at most {max} \
         (a transaction is at most 8 KiB): split the EPCIS document into several documents \
         of fewer events, or the readings into smaller batches"
    )]
    TooLarge { size: usize, max: usize },
    #[error("the supply action cannot be encoded as JSON: {0}")]
    Encode(String),
}

/// The body of a supply transaction. Compared by its canonical bytes.
#[derive(Clone, Debug)]
pub struct SupplyTx {
    on_behalf_of: Option<PublicKey>,
    action: SupplyAction,
    json: Bytes,
}

impl SupplyTx {
    /// An action signed by the acting agent (or admin, or device) itself.
    pub fn new(action: SupplyAction) -> Result<Self, SupplyTxError> {
        Self::build(None, action)
    }

    /// An action a member's node signs for one of its organisation's agents
    /// (whom it authenticated, e.g. with a bearer token).
    pub fn on_behalf_of(agent: PublicKey, action: SupplyAction) -> Result<Self, SupplyTxError> {
        Self::build(Some(agent), action)
    }

    fn build(on_behalf_of: Option<PublicKey>, action: SupplyAction) -> Result<Self, SupplyTxError> {
        let json = serde_json::to_vec(&action).map_err(|e| SupplyTxError::Encode(e.to_string()))?;
        if json.len() > MAX_SUPPLY_JSON_BYTES {
            return Err(SupplyTxError::TooLarge {
                size: json.len(),
                max: MAX_SUPPLY_JSON_BYTES,
            });
        }
        Ok(Self {
            on_behalf_of,
            action,
            json: json.into(),
        })
    }

    pub fn action(&self) -> &SupplyAction {
        &self.action
    }

    /// The agent a node signed for; `None` when the signer acts itself.
    pub fn agent(&self) -> Option<&PublicKey> {
        self.on_behalf_of.as_ref()
    }

    /// The action's canonical JSON, as carried.
    pub fn json(&self) -> &[u8] {
        &self.json
    }
}

impl PartialEq for SupplyTx {
    fn eq(&self, other: &Self) -> bool {
        self.on_behalf_of == other.on_behalf_of && self.json == other.json
    }
}

impl Eq for SupplyTx {}

impl Write for SupplyTx {
    fn write(&self, buf: &mut impl BufMut) {
        self.on_behalf_of.write(buf);
        self.json.write(buf);
    }
}

impl EncodeSize for SupplyTx {
    fn encode_size(&self) -> usize {
        self.on_behalf_of.encode_size() + self.json.encode_size()
    }
}

/// A decoding failure with its reason (the codec's own errors carry only
/// static text).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Reason(String);

impl Read for SupplyTx {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        let on_behalf_of = Option::<PublicKey>::read_cfg(buf, &())?;
        let json = Bytes::read_cfg(buf, &RangeCfg::new(1..=MAX_SUPPLY_JSON_BYTES))?;
        let action: SupplyAction = serde_json::from_slice(&json).map_err(|e| {
            Error::Wrapped(
                "supply action",
                Box::new(Reason(format!("the supply action is not valid: {e}"))),
            )
        })?;
        let canonical = serde_json::to_vec(&action).map_err(|e| {
            Error::Wrapped(
                "supply action",
                Box::new(Reason(format!(
                    "the supply action cannot be re-encoded: {e}"
                ))),
            )
        })?;
        if canonical != json.as_ref() {
            return Err(Error::Wrapped(
                "supply action",
                Box::new(Reason(
                    "the supply action's JSON is not in canonical form; encode it with \
                     custodia_types::SupplyTx::new (serde_json of the action)"
                        .into(),
                )),
            ));
        }
        Ok(Self {
            on_behalf_of,
            action,
            json,
        })
    }
}

/// The JSON form used by clients (`custodia tx`):
/// `{"type": "supply", "action": {"action": "ship", ...}, "on_behalf_of": "hex key"?}`.
#[derive(Deserialize)]
struct SupplyTxJson {
    #[serde(default)]
    on_behalf_of: Option<String>,
    action: SupplyAction,
}

#[derive(Serialize)]
struct SupplyTxJsonRef<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    on_behalf_of: Option<String>,
    action: &'a SupplyAction,
}

impl Serialize for SupplyTx {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        SupplyTxJsonRef {
            on_behalf_of: self.on_behalf_of.as_ref().map(crate::key_hex),
            action: &self.action,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for SupplyTx {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let json = SupplyTxJson::deserialize(d)?;
        let on_behalf_of = json
            .on_behalf_of
            .map(|hex| crate::parse_public_key(&hex).map_err(D::Error::custom))
            .transpose()?;
        Self::build(on_behalf_of, json.action).map_err(D::Error::custom)
    }
}
