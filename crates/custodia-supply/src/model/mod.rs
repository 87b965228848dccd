//! Domain records, serde-serialisable as the chain stores them (JSON under
//! byte keys). Enums carry only what is true in each state, so a record
//! cannot say something impossible (a dispensed pack in transit).

mod cold;
mod logistics;
mod org;
mod pack;
mod product;
mod signal;

pub use cold::{Device, Excursion, ExcursionKind, OpenExcursion, Reading, ReadingScope, ValueSpan};
pub use logistics::{
    Container, ContainerStatus, LotRecord, Recall, Shipment, ShipmentId, ShipmentRef,
};
pub use org::OrgId;
pub use pack::{
    CustodyInterval, CustodyPlace, ItemId, Pack, PackStatus, TrailEntry, TrailEvent, Transit,
};
pub use product::{Product, StorageRange};
pub use signal::{CounterfeitSignal, SignalRecord};
