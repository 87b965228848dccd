//! The supply domain's transaction body: one [`SupplyAction`] (an EPCIS
//! document's events, a product registration, sensor readings, …),
//! optionally signed by a member's node on behalf of one of its agents.
//! On chain it is a `Body::Domain` named [`DOMAIN`].
//!
//! **Encoding.** The payload is the action's JSON (the serde form this
//! crate defines, EPCIS events in their standard JSON). JSON is what the
//! domain already round-trips exactly (EPCIS keeps identifier spellings,
//! unknown members and number forms), and it needs no second schema. To
//! keep the encoding canonical, decoding re-encodes the parsed action and
//! refuses bytes that differ: one action has exactly one encoding, so one
//! transaction has one id.
//!
//! **Size.** A transaction is at most 8 KiB, so an action's JSON is at most
//! [`MAX_SUPPLY_JSON_BYTES`]. An EPCIS document larger than that must be
//! split into several transactions (each is applied all or nothing);
//! [`SupplyTx::new`] says so.

use crate::ledger::{SupplyAction, SupplyError};
use custodia_types::{Body, DomainTx, DomainTxError, PublicKey, MAX_DOMAIN_PAYLOAD_BYTES};
use serde::{Deserialize, Serialize};

/// The name the supply domain is plugged in under.
pub const DOMAIN: &str = "supply";
/// Largest JSON form of one supply action.
pub const MAX_SUPPLY_JSON_BYTES: usize = MAX_DOMAIN_PAYLOAD_BYTES;

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

/// A supply action and who it is for. Compared by its canonical bytes.
#[derive(Clone, Debug)]
pub struct SupplyTx {
    on_behalf_of: Option<PublicKey>,
    action: SupplyAction,
    json: Vec<u8>,
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
            json,
        })
    }

    /// The supply action a domain body carries, refused with the reason
    /// when its payload is not one action's canonical JSON.
    pub fn decode(tx: &DomainTx) -> Result<Self, SupplyError> {
        let action: SupplyAction = serde_json::from_slice(tx.payload())
            .map_err(|e| SupplyError::Invalid(format!("the supply action is not valid: {e}")))?;
        let canonical = serde_json::to_vec(&action).map_err(|e| {
            SupplyError::Invalid(format!("the supply action cannot be re-encoded: {e}"))
        })?;
        if canonical != tx.payload() {
            return Err(SupplyError::Invalid(
                "the supply action's JSON is not in canonical form; encode it with \
                 custodia_supply::body::SupplyTx::new (serde_json of the action)"
                    .into(),
            ));
        }
        Ok(Self {
            on_behalf_of: tx.agent().cloned(),
            action,
            json: canonical,
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

    /// The transaction body that carries it.
    pub fn into_body(self) -> Body {
        let tx = DomainTx::new(DOMAIN, self.on_behalf_of, self.json.into());
        // `build` and `decode` bound the JSON to the payload limit, and
        // the domain's name is a valid one.
        Body::Domain(tx.unwrap_or_else(|e: DomainTxError| unreachable!("{e}")))
    }
}

impl PartialEq for SupplyTx {
    fn eq(&self, other: &Self) -> bool {
        self.on_behalf_of == other.on_behalf_of && self.json == other.json
    }
}

impl Eq for SupplyTx {}

/// The JSON form clients write (`custodia tx --body`):
/// `{"type": "supply", "action": {"action": "ship", ...}, "on_behalf_of": "hex key"?}`.
#[derive(Deserialize)]
struct SupplyTxJson {
    #[serde(default)]
    on_behalf_of: Option<String>,
    action: SupplyAction,
}

#[derive(Serialize)]
struct SupplyTxJsonRef<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    on_behalf_of: Option<String>,
    action: &'a SupplyAction,
}

impl Serialize for SupplyTx {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        SupplyTxJsonRef {
            kind: DOMAIN,
            on_behalf_of: self.on_behalf_of.as_ref().map(custodia_types::key_hex),
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
            .map(|hex| custodia_types::parse_public_key(&hex).map_err(D::Error::custom))
            .transpose()?;
        Self::build(on_behalf_of, json.action).map_err(D::Error::custom)
    }
}
