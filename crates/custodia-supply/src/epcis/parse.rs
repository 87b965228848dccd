//! Reading EPCIS 2.0 JSON / JSON-LD into [`Event`]s.

use serde_json::Value;

use crate::gs1::{Epc, EpcUri, Lot};
use crate::time::{Date, Timestamp};

use super::event::{AggregationEvent, EventCommon, Ilmd, ObjectEvent, Place, Quantity, SourceDest};
use super::reader::{item_str, parse_epc, Obj};
use super::sensor::{SensorElement, SensorMetadata, SensorReport};
use super::vocab::{Action, BizStep, Disposition, SourceDestType};
use super::{EpcisError, Event};

/// Instance identifiers an event may list: packs and logistic units.
const INSTANCES: &[&str] = &["SGTIN", "SSCC"];

/// Reads one event object. `event` is its 1-based position in a document,
/// used in error messages.
pub fn event_from_json(value: &Value, event: Option<usize>) -> Result<Event, EpcisError> {
    let mut o = Obj::new(value, "", event)?;
    let kind = o.req_str("type")?;
    match kind.as_str() {
        "ObjectEvent" => {
            let epc_list = instance_list(&mut o, "epcList")?;
            let quantity_list = quantities(&mut o, "quantityList")?;
            let ilmd = match o.opt_object("ilmd")? {
                Some(v) => Some(ilmd(&v, &o.path("ilmd"), event)?),
                None => None,
            };
            if epc_list.is_empty() && quantity_list.is_empty() {
                return Err(o.err(
                    "epcList",
                    "is empty and there is no quantityList: an ObjectEvent must name its objects",
                ));
            }
            let common = common(o)?;
            if ilmd.is_some() && common.action != Action::Add {
                return Err(EpcisError::new(
                    event,
                    "ilmd",
                    "is only allowed when action is ADD (it describes newly commissioned objects)",
                ));
            }
            Ok(Event::Object(ObjectEvent {
                common,
                epc_list,
                quantity_list,
                ilmd,
            }))
        }
        "AggregationEvent" => {
            let parent_id = match o.opt_str("parentID")? {
                Some(text) => Some(parse_epc(&text, event, "parentID", INSTANCES)?),
                None => None,
            };
            let child_epcs = instance_list(&mut o, "childEPCs")?;
            let child_quantity_list = quantities(&mut o, "childQuantityList")?;
            let common = common(o)?;
            if parent_id.is_none() && common.action != Action::Observe {
                return Err(EpcisError::new(
                    event,
                    "parentID",
                    format!("is required when action is {}", common.action.as_str()),
                ));
            }
            Ok(Event::Aggregation(AggregationEvent {
                common,
                parent_id,
                child_epcs,
                child_quantity_list,
            }))
        }
        other => Err(EpcisError::new(
            event,
            "type",
            format!(
                "{other:?} is not supported: this ledger reads ObjectEvent and AggregationEvent"
            ),
        )),
    }
}

fn instance_list(o: &mut Obj, key: &str) -> Result<Vec<super::EpcRef>, EpcisError> {
    let event = o.event();
    o.list(key)?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let field = o.path(&format!("{key}[{i}]"));
            parse_epc(item_str(v, event, &field)?, event, &field, INSTANCES)
        })
        .collect()
}

fn quantities(o: &mut Obj, key: &str) -> Result<Vec<Quantity>, EpcisError> {
    let event = o.event();
    let base = o.path(key);
    o.list(key)?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut q = Obj::new(v, &format!("{base}[{i}]"), event)?;
            let text = q.req_str("epcClass")?;
            let class = parse_epc(&text, event, &q.path("epcClass"), &["LGTIN"])?;
            let quantity = q.opt_number("quantity")?;
            let uom = q.opt_str("uom")?;
            Ok(Quantity {
                class,
                quantity,
                uom,
                extra: q.rest(),
            })
        })
        .collect()
}

fn ilmd(value: &Value, path: &str, event: Option<usize>) -> Result<Ilmd, EpcisError> {
    let mut o = Obj::new(value, path, event)?;
    let lot = match o.opt_str("cbvmda:lotNumber")? {
        Some(text) => {
            Some(Lot::parse(&text).map_err(|e| o.err("cbvmda:lotNumber", e.to_string()))?)
        }
        None => None,
    };
    let expiry = match o.opt_str("cbvmda:itemExpirationDate")? {
        Some(text) => Some(Date::parse(&text).map_err(|e| o.err("cbvmda:itemExpirationDate", e))?),
        None => None,
    };
    Ok(Ilmd {
        lot,
        expiry,
        extra: o.rest(),
    })
}

fn common(mut o: Obj) -> Result<EventCommon, EpcisError> {
    let event = o.event();
    let time_text = o.req_str("eventTime")?;
    let event_time = Timestamp::parse(&time_text).map_err(|e| o.err("eventTime", e))?;
    let event_time_zone_offset = o.req_str("eventTimeZoneOffset")?;
    if !is_offset(&event_time_zone_offset) {
        return Err(o.err(
            "eventTimeZoneOffset",
            format!("{event_time_zone_offset:?} must be written ±HH:MM, e.g. +01:00"),
        ));
    }
    let event_id = o.opt_str("eventID")?;
    let action_text = o.req_str("action")?;
    let action = Action::parse(&action_text).map_err(|e| o.err("action", e))?;
    let biz_step = match o.opt_str("bizStep")? {
        Some(t) => Some(BizStep::parse(&t).map_err(|e| o.err("bizStep", e))?),
        None => None,
    };
    let disposition = match o.opt_str("disposition")? {
        Some(t) => Some(Disposition::parse(&t).map_err(|e| o.err("disposition", e))?),
        None => None,
    };
    let read_point = match o.opt_object("readPoint")? {
        Some(v) => Some(place(&v, &o.path("readPoint"), event)?),
        None => None,
    };
    let biz_location = match o.opt_object("bizLocation")? {
        Some(v) => Some(place(&v, &o.path("bizLocation"), event)?),
        None => None,
    };
    let source_list = parties(&mut o, "sourceList", "source")?;
    let destination_list = parties(&mut o, "destinationList", "destination")?;
    let base = o.path("sensorElementList");
    let sensor_element_list = o
        .list("sensorElementList")?
        .iter()
        .enumerate()
        .map(|(i, v)| sensor_element(v, &format!("{base}[{i}]"), event))
        .collect::<Result<_, _>>()?;
    Ok(EventCommon {
        event_time,
        event_time_zone_offset,
        event_id,
        action,
        biz_step,
        disposition,
        read_point,
        biz_location,
        source_list,
        destination_list,
        sensor_element_list,
        extra: o.rest(),
    })
}

fn is_offset(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 6
        && (b[0] == b'+' || b[0] == b'-')
        && b[1..3].iter().all(u8::is_ascii_digit)
        && b[3] == b':'
        && b[4..6].iter().all(u8::is_ascii_digit)
        && (b[1] - b'0') * 10 + (b[2] - b'0') <= 14
        && (b[4] - b'0') * 10 + (b[5] - b'0') < 60
}

fn place(value: &Value, path: &str, event: Option<usize>) -> Result<Place, EpcisError> {
    let mut o = Obj::new(value, path, event)?;
    let id = o.req_str("id")?;
    let sgln = match EpcUri::parse(&id) {
        Ok(EpcUri {
            epc: Epc::Sgln(sgln),
            ..
        }) => Some(sgln),
        Ok(other) => {
            return Err(o.err(
                "id",
                format!("{id:?} is not an SGLN: it names an {}", other.epc.kind()),
            ))
        }
        Err(e) if id.starts_with("urn:epc:") || id.starts_with("https://id.gs1.org/") => {
            return Err(o.err("id", format!("{id:?} is not an SGLN: {e}")))
        }
        // Another kind of location URI (geo:, a partner's own URI): kept.
        Err(_) if id.contains(':') => None,
        Err(_) => return Err(o.err("id", format!("{id:?} is not a URI"))),
    };
    Ok(Place {
        id,
        sgln,
        extra: o.rest(),
    })
}

fn parties(o: &mut Obj, key: &str, member: &str) -> Result<Vec<SourceDest>, EpcisError> {
    let event = o.event();
    let base = o.path(key);
    o.list(key)?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut p = Obj::new(v, &format!("{base}[{i}]"), event)?;
            let kind_text = p.req_str("type")?;
            let kind = SourceDestType::parse(&kind_text).map_err(|e| p.err("type", e))?;
            let id = p.req_str(member)?;
            if !id.contains(':') {
                return Err(p.err(
                    member,
                    format!("{id:?} is not a URI (e.g. urn:epc:id:pgln:0614141.00001)"),
                ));
            }
            Ok(SourceDest {
                kind,
                id,
                extra: p.rest(),
            })
        })
        .collect()
}

fn sensor_element(
    value: &Value,
    path: &str,
    event: Option<usize>,
) -> Result<SensorElement, EpcisError> {
    let mut o = Obj::new(value, path, event)?;
    let metadata = match o.opt_object("sensorMetadata")? {
        Some(v) => {
            let mut m = Obj::new(&v, &o.path("sensorMetadata"), event)?;
            Some(SensorMetadata {
                time: m.opt_time("time")?,
                device_id: m.opt_str("deviceID")?,
                extra: m.rest(),
            })
        }
        None => None,
    };
    let base = o.path("sensorReport");
    let reports: Vec<SensorReport> = o
        .list("sensorReport")?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let field = format!("{base}[{i}]");
            let mut r = Obj::new(v, &field, event)?;
            let report = SensorReport {
                kind: r.opt_str("type")?,
                value: r.opt_number("value")?,
                uom: r.opt_str("uom")?,
                time: r.opt_time("time")?,
                device_id: r.opt_str("deviceID")?,
                extra: r.rest(),
            };
            report
                .measurement()
                .map_err(|e| EpcisError::new(event, &field, e))?;
            Ok(report)
        })
        .collect::<Result<_, EpcisError>>()?;
    if !o.has("sensorReport") && reports.is_empty() && metadata.is_none() {
        return Err(o.err("", "has neither sensorMetadata nor sensorReport"));
    }
    Ok(SensorElement {
        metadata,
        reports,
        extra: o.rest(),
    })
}
