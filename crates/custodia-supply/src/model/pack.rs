//! A serialised pack and its life: status, custody over time, and the
//! trail of events that is the evidence a verification returns.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::gs1::{Lot, Sgtin, Sscc};
use crate::time::Date;

use super::cold::Excursion;
use super::{OrgId, ShipmentId, ShipmentRef};

/// A pack or a logistic unit (case, pallet): what custody events act on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemId {
    Pack(Sgtin),
    Container(Sscc),
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ItemId::Pack(s) => write!(f, "pack {s}"),
            ItemId::Container(s) => write!(f, "container (00){s}"),
        }
    }
}

/// A shipment under way: from whom, to whom, since when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transit {
    pub shipment: ShipmentId,
    pub from: OrgId,
    pub to: OrgId,
    pub shipped_at_ms: u64,
    /// A return up the chain (CBV disposition `returned`).
    #[serde(default)]
    pub returning: bool,
}

impl Transit {
    pub fn reference(&self) -> ShipmentRef {
        ShipmentRef {
            from: self.from.clone(),
            id: self.shipment.clone(),
        }
    }
}

/// Where a pack is in its life. Each state carries only what is true of
/// it: a dispensed pack has no destination, a pack in transit has one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum PackStatus {
    /// Held by its custodian, at a site.
    Active,
    InTransit(Transit),
    /// Handed to a patient: the end of the pack's life.
    Dispensed {
        by: OrgId,
        at_ms: u64,
    },
    /// Destroyed, sampled or otherwise taken out of the supply chain.
    Decommissioned {
        by: OrgId,
        at_ms: u64,
        reason: String,
    },
}

impl PackStatus {
    /// Dispensed and decommissioned packs take no further event.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            PackStatus::Dispensed { .. } | PackStatus::Decommissioned { .. }
        )
    }
}

impl fmt::Display for PackStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PackStatus::Active => f.write_str("active"),
            PackStatus::InTransit(t) => write!(f, "in transit from {} to {}", t.from, t.to),
            PackStatus::Dispensed { by, .. } => write!(f, "dispensed by {by}"),
            PackStatus::Decommissioned { by, reason, .. } => {
                write!(f, "decommissioned by {by} ({reason})")
            }
        }
    }
}

/// Where a custody interval was spent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustodyPlace {
    /// On the organisation's premises, at a location if one was given.
    Site {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        location: Option<String>,
    },
    /// On the way to `to`, under shipment `shipment`.
    Shipment { shipment: ShipmentId, to: OrgId },
}

/// One stretch of a pack's custody: who was responsible, where, when.
/// Cold-chain readings are matched against these to find exactly the packs
/// a device was measuring.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustodyInterval {
    pub org: OrgId,
    pub place: CustodyPlace,
    pub from_ms: u64,
    /// `None` while the interval is the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<u64>,
}

impl CustodyInterval {
    /// Does the interval share any time with `[from_ms, until_ms]`? An
    /// interval that ends at the very first out-of-range reading, or starts
    /// at the first reading back in range, does not.
    pub fn overlaps(&self, from_ms: u64, until_ms: u64) -> bool {
        self.from_ms < until_ms && self.until_ms.is_none_or(|end| end > from_ms)
    }
}

/// One event in a pack's (or container's) trail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrailEntry {
    /// Block time.
    pub at_ms: u64,
    pub org: OrgId,
    /// The signing agent (person, system or device key).
    pub agent: String,
    /// The transaction that carried the event.
    pub tx: String,
    /// The EPCIS eventID, when the event came as EPCIS and had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epcis_event_id: Option<String>,
    pub event: TrailEvent,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum TrailEvent {
    Commissioned {
        lot: Lot,
        expiry: Date,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        location: Option<String>,
    },
    Packed {
        into: Sscc,
    },
    Unpacked {
        from: Sscc,
    },
    Shipped {
        shipment: ShipmentId,
        to: OrgId,
        #[serde(default)]
        returning: bool,
    },
    Received {
        shipment: ShipmentId,
        from: OrgId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        location: Option<String>,
    },
    Dispensed,
    Decommissioned {
        reason: String,
    },
    Recalled {
        reason: String,
    },
    Compromised {
        excursion: String,
    },
}

/// A serialised pack: the unit a pharmacist verifies and dispenses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pack {
    pub sgtin: Sgtin,
    pub lot: Lot,
    pub expiry: Date,
    /// Who commissioned it: always the product's manufacturer (a
    /// commission by anyone else is refused).
    pub manufacturer: OrgId,
    pub commissioned_at_ms: u64,
    /// Who is responsible for it now; stays the shipper while in transit.
    pub custodian: OrgId,
    pub status: PackStatus,
    /// The case it is packed in, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<Sscc>,
    #[serde(default)]
    pub recalled: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compromised: Vec<Excursion>,
    pub custody: Vec<CustodyInterval>,
    pub history: Vec<TrailEntry>,
}

impl Pack {
    /// Is the pack past its expiry on the UTC day of `now_ms`? A pack may
    /// be used through its expiry date.
    pub fn expired_at(&self, now_ms: u64) -> bool {
        Date::of_ms(now_ms).is_some_and(|today| today > self.expiry)
    }
}
