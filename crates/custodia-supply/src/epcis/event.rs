//! The EPCIS 2.0 events this domain reads and writes: `ObjectEvent` and
//! `AggregationEvent`, with the what/when/where/why fields the custody rules
//! use. Every other member of an event (bizTransactionList, recordTime,
//! persistentDisposition, certificationInfo, user extensions such as
//! `example:myField`, a standalone event's `@context`, …) is kept in `extra`
//! and written back unchanged, so a partner's event survives the ledger.

use serde_json::{Map, Number, Value};

use crate::gs1::{Epc, IdForm, Lgtin, Lot, Sgln};
use crate::time::{Date, Timestamp};

use super::sensor::SensorElement;
use super::vocab::{Action, BizStep, Disposition, SourceDestType};

/// Members the model does not interpret, written back verbatim.
pub type Extra = Map<String, Value>;

/// An identifier as it appeared in the event: the parsed value, its form,
/// and the exact text (written back as is).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpcRef {
    pub epc: Epc,
    pub form: IdForm,
    pub text: String,
}

/// `readPoint` / `bizLocation`: an SGLN, or another location URI (for
/// example `geo:`) that is kept but not interpreted.
#[derive(Clone, Debug, PartialEq)]
pub struct Place {
    pub id: String,
    pub sgln: Option<Sgln>,
    pub extra: Extra,
}

/// One `sourceList` / `destinationList` entry: a party or location URI of
/// a CBV type (`owning_party`, `possessing_party`, `location`).
#[derive(Clone, Debug, PartialEq)]
pub struct SourceDest {
    pub kind: SourceDestType,
    pub id: String,
    pub extra: Extra,
}

/// A `quantityList` entry naming a lot (LGTIN class) and an amount.
#[derive(Clone, Debug, PartialEq)]
pub struct Quantity {
    pub class: EpcRef,
    pub quantity: Option<Number>,
    pub uom: Option<String>,
    pub extra: Extra,
}

impl Quantity {
    /// The lot named, if the class is an LGTIN (it always is once parsed).
    pub fn lot(&self) -> Option<&Lgtin> {
        match &self.class.epc {
            Epc::Lgtin(lot) => Some(lot),
            _ => None,
        }
    }
}

/// Instance/lot master data of a commissioning event: the two CBV master
/// data attributes the DSCSA product identifier needs, plus anything else.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ilmd {
    /// `cbvmda:lotNumber`
    pub lot: Option<Lot>,
    /// `cbvmda:itemExpirationDate`
    pub expiry: Option<Date>,
    pub extra: Extra,
}

/// The fields both event types share.
#[derive(Clone, Debug, PartialEq)]
pub struct EventCommon {
    pub event_time: Timestamp,
    /// `±HH:MM`
    pub event_time_zone_offset: String,
    pub event_id: Option<String>,
    pub action: Action,
    pub biz_step: Option<BizStep>,
    pub disposition: Option<Disposition>,
    pub read_point: Option<Place>,
    pub biz_location: Option<Place>,
    pub source_list: Vec<SourceDest>,
    pub destination_list: Vec<SourceDest>,
    pub sensor_element_list: Vec<SensorElement>,
    pub extra: Extra,
}

/// Something happened to the listed packs or cases.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectEvent {
    pub common: EventCommon,
    /// SGTINs and SSCCs.
    pub epc_list: Vec<EpcRef>,
    /// Lots (LGTIN classes) with quantities.
    pub quantity_list: Vec<Quantity>,
    pub ilmd: Option<Ilmd>,
}

/// Children put into (ADD), seen in (OBSERVE) or taken out of (DELETE) a
/// parent container.
#[derive(Clone, Debug, PartialEq)]
pub struct AggregationEvent {
    pub common: EventCommon,
    pub parent_id: Option<EpcRef>,
    /// SGTINs and SSCCs.
    pub child_epcs: Vec<EpcRef>,
    pub child_quantity_list: Vec<Quantity>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Object(ObjectEvent),
    Aggregation(AggregationEvent),
}

impl Event {
    pub fn common(&self) -> &EventCommon {
        match self {
            Event::Object(e) => &e.common,
            Event::Aggregation(e) => &e.common,
        }
    }

    pub fn common_mut(&mut self) -> &mut EventCommon {
        match self {
            Event::Object(e) => &mut e.common,
            Event::Aggregation(e) => &mut e.common,
        }
    }

    /// `ObjectEvent` or `AggregationEvent`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::Object(_) => "ObjectEvent",
            Event::Aggregation(_) => "AggregationEvent",
        }
    }
}
