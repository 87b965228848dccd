//! Containers (cases, pallets), shipments and lots: the groupings that
//! events act through.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::gs1::{Gtin, Lgtin, Serial, Sgtin, Sscc};
use crate::time::Date;

use super::pack::{ItemId, TrailEntry, Transit};
use super::OrgId;

/// A logistic unit identified by its SSCC. It exists from the first time
/// something is packed into it; an event on it applies to everything inside,
/// recursively (packs in cases on a pallet).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Container {
    pub sscc: Sscc,
    pub custodian: OrgId,
    pub status: ContainerStatus,
    /// The container this one is packed in (a case on a pallet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Sscc>,
    pub children: Vec<ItemId>,
    pub history: Vec<TrailEntry>,
}

/// A container is at a site or on its way; it never ends (it is emptied).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum ContainerStatus {
    Active,
    InTransit(Transit),
}

/// Names a shipment: the shipping event's EPCIS eventID, or the
/// transaction's reference. 1–200 characters, no control characters.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShipmentId(String);

impl ShipmentId {
    pub fn new(id: &str) -> Result<Self, String> {
        if id.is_empty() || id.chars().count() > 200 || id.chars().any(char::is_control) {
            return Err(format!(
                "shipment id {id:?} must be 1 to 200 characters without control characters"
            ));
        }
        Ok(Self(id.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ShipmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for ShipmentId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ShipmentId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::new(&text).map_err(serde::de::Error::custom)
    }
}

/// A shipment as the chain knows it: the id is the shipper's own, so two
/// organisations may use the same id and nobody can claim another's id
/// first (say, after seeing a pending ship event in the mempool).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ShipmentRef {
    /// The shipping organisation.
    pub from: OrgId,
    pub id: ShipmentId,
}

impl fmt::Display for ShipmentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (shipped by {})", self.id, self.from)
    }
}

/// One ship event and its receipt: what a receive must match, and what a
/// device on the truck is measuring.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shipment {
    pub id: ShipmentId,
    pub from: OrgId,
    pub to: OrgId,
    pub shipped_at_ms: u64,
    #[serde(default)]
    pub returning: bool,
    /// The items named by the ship event.
    pub items: Vec<ItemId>,
    /// Every pack travelling, including those inside containers.
    pub packs: Vec<Sgtin>,
    /// Named items not received yet.
    pub outstanding: Vec<ItemId>,
    /// When the last outstanding item was received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at_ms: Option<u64>,
}

impl Shipment {
    pub fn reference(&self) -> ShipmentRef {
        ShipmentRef {
            from: self.from.clone(),
            id: self.id.clone(),
        }
    }
}

/// A lot: its packs (the unit of recall) and whether it is recalled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LotRecord {
    pub lgtin: Lgtin,
    /// Every pack of one lot shares its expiry.
    pub expiry: Date,
    pub serials: Vec<Serial>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recall: Option<Recall>,
}

impl LotRecord {
    pub fn gtin(&self) -> &Gtin {
        &self.lgtin.gtin
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recall {
    pub at_ms: u64,
    pub by: OrgId,
    pub reason: String,
    pub tx: String,
}
