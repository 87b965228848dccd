//! The `EPCISDocument` envelope: header members (`@context`,
//! `schemaVersion`, `creationDate`, sender/receiver, …) kept as received,
//! and `epcisBody.eventList`.

use serde_json::Value;

use crate::time::Timestamp;

use super::event::Extra;
use super::parse::event_from_json;
use super::reader::Obj;
use super::{emit, EpcisError, Event};

/// The JSON-LD context of EPCIS 2.0 documents.
pub const EPCIS_CONTEXT: &str = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld";

#[derive(Clone, Debug, PartialEq)]
pub struct EpcisDocument {
    pub events: Vec<Event>,
    /// Document members other than `type` and `epcisBody`.
    pub extra: Extra,
    /// `epcisBody` members other than `eventList`.
    pub body_extra: Extra,
}

impl EpcisDocument {
    /// A new EPCIS 2.0 document. `creation_date` is passed in because this
    /// crate has no clock (the chain uses its block time).
    pub fn new(events: Vec<Event>, creation_date: &Timestamp) -> Self {
        let mut extra = Extra::new();
        extra.insert("@context".into(), EPCIS_CONTEXT.into());
        extra.insert("schemaVersion".into(), "2.0".into());
        extra.insert("creationDate".into(), creation_date.text.clone().into());
        Self {
            events,
            extra,
            body_extra: Extra::new(),
        }
    }

    /// Reads an EPCIS 2.0 JSON/JSON-LD document.
    pub fn parse(bytes: &[u8]) -> Result<Self, EpcisError> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| EpcisError::new(None, "", format!("the document is not JSON: {e}")))?;
        Self::from_json(&value)
    }

    pub fn from_json(value: &Value) -> Result<Self, EpcisError> {
        let mut doc = Obj::new(value, "", None)?;
        let kind = doc.req_str("type")?;
        if kind != "EPCISDocument" {
            return Err(doc.err(
                "type",
                format!("is {kind:?}; expected \"EPCISDocument\" (send single events to the event endpoint)"),
            ));
        }
        let body = doc
            .opt_object("epcisBody")?
            .ok_or_else(|| doc.err("epcisBody", "is required"))?;
        let mut body = Obj::new(&body, "epcisBody", None)?;
        if !body.has("eventList") {
            return Err(body.err("eventList", "is required"));
        }
        let events = body
            .list("eventList")?
            .iter()
            .enumerate()
            .map(|(i, v)| event_from_json(v, Some(i + 1)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            events,
            extra: doc.rest(),
            body_extra: body.rest(),
        })
    }

    /// The document as EPCIS 2.0 JSON.
    pub fn to_json(&self) -> Value {
        let mut body = self.body_extra.clone();
        body.insert(
            "eventList".into(),
            Value::Array(self.events.iter().map(emit::to_json).collect()),
        );
        let mut m = self.extra.clone();
        m.insert("type".into(), "EPCISDocument".into());
        m.insert("epcisBody".into(), Value::Object(body));
        Value::Object(m)
    }
}
