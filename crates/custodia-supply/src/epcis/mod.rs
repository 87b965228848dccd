//! EPCIS 2.0 JSON / JSON-LD (GS1 EPCIS 2.0 and CBV 2.0): the standard
//! event format trading partners already exchange, read into typed events
//! and written back in the same form.
//!
//! Only what the custody rules need is modelled: `ObjectEvent` and
//! `AggregationEvent`, identifiers (EPC URN or Digital Link), the CBV
//! business step / disposition / source-destination vocabularies, ILMD lot
//! and expiry, and sensor data. Everything else in an event is kept as is.

mod document;
mod emit;
mod error;
mod event;
mod parse;
mod reader;
mod sensor;
mod vocab;

pub use document::{EpcisDocument, EPCIS_CONTEXT};
pub use emit::to_json;
pub use error::EpcisError;
pub use event::{
    AggregationEvent, EpcRef, Event, EventCommon, Extra, Ilmd, ObjectEvent, Place, Quantity,
    SourceDest,
};
pub use parse::event_from_json;
pub use sensor::{Measurement, SensorElement, SensorMetadata, SensorReport};
pub use vocab::{
    Action, BizStep, BizStepList, Code, CodeList, Disposition, DispositionList, SourceDestList,
    SourceDestType, Spelling,
};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Reads an EPCIS document's events (`epcisBody.eventList`).
pub fn parse_document(bytes: &[u8]) -> Result<Vec<Event>, EpcisError> {
    EpcisDocument::parse(bytes).map(|doc| doc.events)
}

/// Reads a single standalone event (JSON-LD, possibly with its own
/// `@context`, which is kept).
pub fn parse_event(bytes: &[u8]) -> Result<Event, EpcisError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| EpcisError::new(None, "", format!("the event is not JSON: {e}")))?;
    event_from_json(&value, None)
}

/// Events are stored and carried (e.g. in transaction bodies) in their
/// EPCIS JSON form.
impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        to_json(self).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        event_from_json(&value, None).map_err(serde::de::Error::custom)
    }
}
