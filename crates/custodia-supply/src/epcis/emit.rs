//! Writing [`Event`]s back as EPCIS 2.0 JSON. Modelled fields are written
//! from the model, in the spelling they were read in; everything else comes
//! from the kept extension content, so an accepted event is emitted equal
//! (as a JSON value) to what was received.

use serde_json::{Map, Value};

use super::event::{EventCommon, Extra, Ilmd, Place, Quantity, SourceDest};
use super::sensor::SensorElement;
use super::Event;

/// The event as an EPCIS 2.0 JSON object.
pub fn to_json(event: &Event) -> Value {
    let common = event.common();
    let mut m = common.extra.clone();
    put(&mut m, "type", event.type_name().into());
    match event {
        Event::Object(e) => {
            put_list(
                &mut m,
                "epcList",
                e.epc_list.iter().map(|r| r.text.clone().into()),
            );
            put_list(&mut m, "quantityList", e.quantity_list.iter().map(quantity));
            if let Some(ilmd) = &e.ilmd {
                put(&mut m, "ilmd", ilmd_json(ilmd));
            }
        }
        Event::Aggregation(e) => {
            if let Some(parent) = &e.parent_id {
                put(&mut m, "parentID", parent.text.clone().into());
            }
            put_list(
                &mut m,
                "childEPCs",
                e.child_epcs.iter().map(|r| r.text.clone().into()),
            );
            put_list(
                &mut m,
                "childQuantityList",
                e.child_quantity_list.iter().map(quantity),
            );
        }
    }
    common_json(common, &mut m);
    Value::Object(m)
}

fn put(m: &mut Extra, key: &str, value: Value) {
    m.insert(key.to_string(), value);
}

/// Non-empty lists only: an empty list that was sent is in the extension
/// content already.
fn put_list(m: &mut Extra, key: &str, items: impl Iterator<Item = Value>) {
    let items: Vec<Value> = items.collect();
    if !items.is_empty() {
        put(m, key, Value::Array(items));
    }
}

fn opt(m: &mut Extra, key: &str, value: Option<&str>) {
    if let Some(v) = value {
        put(m, key, v.into());
    }
}

fn common_json(c: &EventCommon, m: &mut Extra) {
    put(m, "eventTime", c.event_time.text.clone().into());
    put(
        m,
        "eventTimeZoneOffset",
        c.event_time_zone_offset.clone().into(),
    );
    opt(m, "eventID", c.event_id.as_deref());
    put(m, "action", c.action.as_str().into());
    if let Some(step) = &c.biz_step {
        put(m, "bizStep", step.to_string().into());
    }
    if let Some(disp) = &c.disposition {
        put(m, "disposition", disp.to_string().into());
    }
    if let Some(p) = &c.read_point {
        put(m, "readPoint", place(p));
    }
    if let Some(p) = &c.biz_location {
        put(m, "bizLocation", place(p));
    }
    put_list(
        m,
        "sourceList",
        c.source_list.iter().map(|s| party(s, "source")),
    );
    put_list(
        m,
        "destinationList",
        c.destination_list.iter().map(|s| party(s, "destination")),
    );
    put_list(
        m,
        "sensorElementList",
        c.sensor_element_list.iter().map(sensor),
    );
}

fn place(p: &Place) -> Value {
    let mut m = p.extra.clone();
    put(&mut m, "id", p.id.clone().into());
    Value::Object(m)
}

fn party(s: &SourceDest, member: &str) -> Value {
    let mut m = s.extra.clone();
    put(&mut m, "type", s.kind.to_string().into());
    put(&mut m, member, s.id.clone().into());
    Value::Object(m)
}

fn quantity(q: &Quantity) -> Value {
    let mut m = q.extra.clone();
    put(&mut m, "epcClass", q.class.text.clone().into());
    if let Some(n) = &q.quantity {
        put(&mut m, "quantity", Value::Number(n.clone()));
    }
    opt(&mut m, "uom", q.uom.as_deref());
    Value::Object(m)
}

fn ilmd_json(i: &Ilmd) -> Value {
    let mut m = i.extra.clone();
    if let Some(lot) = &i.lot {
        put(&mut m, "cbvmda:lotNumber", lot.as_str().into());
    }
    if let Some(expiry) = &i.expiry {
        put(
            &mut m,
            "cbvmda:itemExpirationDate",
            expiry.to_string().into(),
        );
    }
    Value::Object(m)
}

fn sensor(s: &SensorElement) -> Value {
    let mut m = s.extra.clone();
    if let Some(meta) = &s.metadata {
        let mut md = meta.extra.clone();
        if let Some(t) = &meta.time {
            put(&mut md, "time", t.text.clone().into());
        }
        opt(&mut md, "deviceID", meta.device_id.as_deref());
        put(&mut m, "sensorMetadata", Value::Object(md));
    }
    put_list(
        &mut m,
        "sensorReport",
        s.reports.iter().map(|r| {
            let mut rm: Map<String, Value> = r.extra.clone();
            opt(&mut rm, "type", r.kind.as_deref());
            if let Some(v) = &r.value {
                put(&mut rm, "value", Value::Number(v.clone()));
            }
            opt(&mut rm, "uom", r.uom.as_deref());
            if let Some(t) = &r.time {
                put(&mut rm, "time", t.text.clone().into());
            }
            opt(&mut rm, "deviceID", r.device_id.as_deref());
            Value::Object(rm)
        }),
    );
    Value::Object(m)
}
