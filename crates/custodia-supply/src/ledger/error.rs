//! Why an action was refused, in words a person can act on, and which
//! refusals are also counterfeit signals to be recorded.

use crate::gs1::{Gtin, Lgtin, Sgtin, Sscc};
use crate::model::{CounterfeitSignal, ItemId, OrgId, ShipmentRef};
use crate::time::Date;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SupplyError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0} is named twice in one event")]
    NamedTwice(ItemId),
    #[error("stored record {key} cannot be read ({reason}); the state is damaged")]
    Corrupt { key: String, reason: String },

    #[error("no product {0} is registered; its manufacturer must register it first")]
    UnknownProduct(Gtin),
    #[error("product {gtin} is already registered by {manufacturer}")]
    ProductExists { gtin: Gtin, manufacturer: OrgId },
    #[error("{org} may not {action} product {gtin}: only its manufacturer {manufacturer} may")]
    NotManufacturer {
        gtin: Gtin,
        manufacturer: OrgId,
        org: OrgId,
        action: &'static str,
    },
    #[error(
        "{org} tried to commission {sgtin}, but product {} is made by {manufacturer}; \
         only the manufacturer may commission its packs (recorded as a counterfeit signal)",
        sgtin.gtin
    )]
    CommissionByNonManufacturer {
        sgtin: Sgtin,
        manufacturer: OrgId,
        org: OrgId,
    },
    #[error("pack {0} was already commissioned; serials are unique per GTIN")]
    DuplicateSerial(Sgtin),
    #[error("lot {lot} expires {expiry}; every pack of one lot shares its expiry (got {got})")]
    LotExpiryMismatch { lot: Lgtin, expiry: Date, got: Date },
    #[error("no lot {0} was ever commissioned")]
    UnknownLot(Lgtin),
    #[error("lot {0} is recalled; commission new packs into a new lot")]
    LotRecalled(Lgtin),
    #[error("lot {0} is already recalled")]
    AlreadyRecalled(Lgtin),

    #[error(
        "no pack {0} was ever commissioned: unknown serial (recorded as a counterfeit signal)"
    )]
    UnknownPack(Sgtin),
    #[error("no container (00){0} exists; pack something into it first")]
    UnknownContainer(Sscc),
    #[error("{item} is held by {custodian}; only the current custodian may {action} it")]
    NotCustodian {
        item: ItemId,
        custodian: OrgId,
        action: &'static str,
    },
    #[error(
        "{item} is in transit from {from} to {to}; {to} must receive it before anyone can {action} it"
    )]
    InTransit {
        item: ItemId,
        from: OrgId,
        to: OrgId,
        action: &'static str,
    },
    #[error(
        "{item} was shipped to {to}, not to {org}; only the named receiver may receive it \
         (recorded as a counterfeit signal)"
    )]
    NotReceiver { item: ItemId, to: OrgId, org: OrgId },
    #[error(
        "{item} was not shipped to anyone (it is {state}, held by {custodian}); a receive needs a \
         matching ship (recorded as a counterfeit signal)"
    )]
    NotShipped {
        item: ItemId,
        state: String,
        custodian: OrgId,
    },
    #[error("{item} is {state}; a dispensed or decommissioned pack takes no further event")]
    Finished { item: ItemId, state: String },
    #[error(
        "pack {sgtin} was already dispensed by {by}; a second dispense of one serial means a \
         clone (recorded as a counterfeit signal)"
    )]
    AlreadyDispensed { sgtin: Sgtin, by: OrgId },
    #[error(
        "{item} is inside container (00){container}; unpack it first, or act on the container"
    )]
    InsideContainer { item: ItemId, container: Sscc },
    #[error("{item} is not inside container (00){container}")]
    NotInContainer { item: ItemId, container: Sscc },
    #[error("container (00){0} cannot be packed into itself or into a container it holds")]
    ContainerCycle(Sscc),
    #[error(
        "pack {sgtin} belongs to recalled lot {lot}; it may not be dispensed or shipped onward \
         (return it up the chain or decommission it)"
    )]
    Recalled { sgtin: Sgtin, lot: String },
    #[error("pack {sgtin} expired on {expiry}; it may not be dispensed")]
    Expired { sgtin: Sgtin, expiry: Date },
    #[error(
        "pack {sgtin} is compromised by cold-chain excursion {excursion}; it may not be dispensed"
    )]
    Compromised { sgtin: Sgtin, excursion: String },
    #[error("{org} cannot ship to itself")]
    ShipToSelf { org: OrgId },
    #[error("{0} is not a member organisation of this chain; packs are shipped only to members, who can receive them")]
    NotAMember(OrgId),
    #[error("a return goes back up the chain: {item} was never held by {to}")]
    ReturnToStranger { item: ItemId, to: OrgId },
    #[error("shipment {0} already exists; use a new shipment id")]
    ShipmentExists(ShipmentRef),
    #[error("no shipment {0}")]
    UnknownShipment(ShipmentRef),
    #[error("shipment {shipment} goes to {to}; {org}'s devices cannot report on it")]
    NotShipmentParty {
        shipment: ShipmentRef,
        to: OrgId,
        org: OrgId,
    },

    #[error("device {0} is not registered; its organisation must register it first")]
    UnknownDevice(String),
    #[error("device {device} is registered to {owner}; it cannot report for {org}")]
    DeviceOfOtherOrg {
        device: String,
        owner: OrgId,
        org: OrgId,
    },
    #[error("device {device} is already registered to {owner}")]
    DeviceExists { device: String, owner: OrgId },
    #[error("device {device}: {problem}")]
    BadReadings { device: String, problem: String },

    #[error("party {party} is linked to {org}; it cannot be linked to another organisation")]
    PartyClaimed { party: String, org: OrgId },
    #[error("party {0} is not linked to any organisation; its organisation must link it first (action link_party), or name the organisation as urn:custodia:org:<org id>")]
    UnknownParty(String),
    #[error("{0}")]
    Epcis(String),
    /// A refusal inside an EPCIS document, with the event's position (from 1).
    #[error("event {event}: {source}")]
    InEvent {
        event: usize,
        source: Box<SupplyError>,
    },
}

impl SupplyError {
    /// The counterfeit signal this refusal stands for, and the item it is
    /// about: callers record it after discarding the refused writes.
    pub fn signal(&self) -> Option<(ItemId, CounterfeitSignal)> {
        match self.root() {
            SupplyError::UnknownPack(s) => {
                Some((ItemId::Pack(s.clone()), CounterfeitSignal::UnknownSerial))
            }
            SupplyError::AlreadyDispensed { sgtin, .. } => Some((
                ItemId::Pack(sgtin.clone()),
                CounterfeitSignal::DispensedTwice,
            )),
            SupplyError::NotReceiver { item, .. } | SupplyError::NotShipped { item, .. } => {
                Some((item.clone(), CounterfeitSignal::ReceiveWithoutShip))
            }
            SupplyError::CommissionByNonManufacturer { sgtin, .. } => Some((
                ItemId::Pack(sgtin.clone()),
                CounterfeitSignal::CommissionedByNonManufacturer,
            )),
            _ => None,
        }
    }

    /// The refusal itself, without the EPCIS event it happened in.
    pub fn root(&self) -> &SupplyError {
        match self {
            SupplyError::InEvent { source, .. } => source.root(),
            other => other,
        }
    }
}
