//! EPCIS 2.0 JSON: documents modelled on the standard's examples are
//! accepted and emitted back equal (as JSON values), in both identifier
//! forms and all CBV spellings; malformed input is refused with the event,
//! the field and the reason.

use custodia_supply::epcis::{
    self, parse_document, parse_event, to_json, Action, EpcisDocument, Event, Measurement,
};
use custodia_supply::gs1::{Epc, IdForm};
use serde_json::{json, Value};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn round_trip(name: &str) -> EpcisDocument {
    let bytes = fixture(name);
    let original: Value = serde_json::from_slice(&bytes).expect("fixture is JSON");
    let doc = EpcisDocument::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(doc.to_json(), original, "{name} emitted differently");
    // Each event also round-trips on its own.
    for (i, event) in doc.events.iter().enumerate() {
        assert_eq!(
            &to_json(event),
            &original["epcisBody"]["eventList"][i],
            "{name} event {}",
            i + 1
        );
    }
    doc
}

#[test]
fn life_cycle_in_epc_urns_round_trips() {
    let doc = round_trip("lifecycle_urn.json");
    assert_eq!(doc.events.len(), 8);
    let Event::Object(commission) = &doc.events[0] else {
        panic!("event 1 is not an ObjectEvent")
    };
    assert_eq!(commission.common.action, Action::Add);
    assert!(commission
        .common
        .biz_step
        .as_ref()
        .unwrap()
        .is("commissioning"));
    let ilmd = commission.ilmd.as_ref().expect("ilmd");
    assert_eq!(ilmd.lot.as_ref().unwrap().as_str(), "L2026A");
    assert_eq!(ilmd.expiry.unwrap().to_string(), "2027-06-30");
    assert_eq!(ilmd.extra["cbvmda:countryOfOrigin"], "DE");
    assert_eq!(commission.common.extra["example:line"], "packaging line 3");
    assert_eq!(
        commission.epc_list[0].form,
        IdForm::Urn {
            company_prefix_len: 7
        }
    );

    let Event::Aggregation(pack) = &doc.events[1] else {
        panic!("event 2 is not an AggregationEvent")
    };
    assert_eq!(pack.common.action, Action::Add);
    assert!(matches!(pack.parent_id.as_ref().unwrap().epc, Epc::Sscc(_)));
    assert_eq!(pack.child_epcs.len(), 2);

    let Event::Object(ship) = &doc.events[2] else {
        panic!("event 3")
    };
    assert!(ship.common.biz_step.as_ref().unwrap().is("shipping"));
    let dest = &ship.common.destination_list[0];
    assert!(dest.kind.is("owning_party"));
    assert_eq!(dest.id, "urn:epc:id:pgln:0012345.00001");
    assert!(ship.common.extra.contains_key("bizTransactionList"));

    let Event::Aggregation(unpack) = &doc.events[6] else {
        panic!("event 7")
    };
    assert_eq!(unpack.common.action, Action::Delete);
    assert!(unpack.common.biz_step.as_ref().unwrap().is("unpacking"));
}

#[test]
fn life_cycle_in_digital_links_round_trips() {
    let urn = parse_document(&fixture("lifecycle_urn.json")).unwrap();
    let doc = round_trip("lifecycle_digital_link.json");
    // Same identifiers and terms, other spelling.
    for (a, b) in urn.iter().zip(&doc.events) {
        assert_eq!(
            a.common().biz_step.as_ref().unwrap().term(),
            b.common().biz_step.as_ref().unwrap().term()
        );
        assert_eq!(
            b.common().biz_step.as_ref().unwrap().to_string(),
            format!(
                "https://ref.gs1.org/cbv/BizStep-{}",
                a.common().biz_step.as_ref().unwrap()
            )
        );
    }
    let (Event::Object(a), Event::Object(b)) = (&urn[0], &doc.events[0]) else {
        panic!("commissioning events")
    };
    assert_eq!(
        a.epc_list.iter().map(|r| &r.epc).collect::<Vec<_>>(),
        b.epc_list.iter().map(|r| &r.epc).collect::<Vec<_>>()
    );
    assert!(matches!(b.epc_list[0].form, IdForm::DigitalLink { .. }));
    let Event::Object(dispense) = &doc.events[7] else {
        panic!("event 8")
    };
    let place = dispense.common.biz_location.as_ref().unwrap();
    assert_eq!(place.sgln.as_ref().unwrap().gln.as_str(), "4012345000054");
}

#[test]
fn sensor_data_round_trips_and_converts_units() {
    let doc = round_trip("sensor_reporting.json");
    let sensors = &doc.events[0].common().sensor_element_list;
    assert_eq!(sensors.len(), 3);
    let meta = sensors[0].metadata.as_ref().unwrap();
    assert_eq!(
        meta.device_id.as_deref(),
        Some("urn:epc:id:giai:0012345.TRUCK7")
    );
    assert_eq!(meta.extra["ext1:firmware"], "4.2");
    let kinds: Vec<_> = sensors[0]
        .reports
        .iter()
        .map(|r| r.measurement().unwrap())
        .collect();
    assert_eq!(
        kinds,
        vec![
            Some(Measurement::Celsius(5.5)),
            Some(Measurement::HumidityPct(41.0)),
            None // absolute humidity (g/m³) is not a storage condition
        ]
    );
    let Some(Measurement::Celsius(c)) = sensors[2].reports[0].measurement().unwrap() else {
        panic!("fahrenheit report")
    };
    assert!((c - 12.0).abs() < 1e-9, "{c}");
}

#[test]
fn recall_return_and_decommission_round_trip() {
    let doc = round_trip("recall_and_return.json");
    let Event::Object(recall) = &doc.events[0] else {
        panic!("event 1")
    };
    assert!(recall.common.disposition.as_ref().unwrap().is("recalled"));
    let lot = recall.quantity_list[0].lot().unwrap();
    assert_eq!(lot.lot.as_str(), "L2026A");
    let Event::Object(ret) = &doc.events[1] else {
        panic!("event 2")
    };
    assert!(ret.common.biz_step.as_ref().unwrap().is("shipping"));
    assert_eq!(
        ret.common.biz_step.as_ref().unwrap().to_string(),
        "urn:epcglobal:cbv:bizstep:shipping"
    );
    assert!(ret.common.disposition.as_ref().unwrap().is("returned"));
    assert!(ret.common.destination_list[0].kind.is("owning_party"));
    let Event::Object(decommission) = &doc.events[2] else {
        panic!("event 3")
    };
    assert_eq!(decommission.common.action, Action::Delete);
    assert!(decommission.quantity_list.is_empty());
}

#[test]
fn standalone_event_and_serde_keep_the_json_form() {
    let event = json!({
        "@context": "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
        "type": "ObjectEvent",
        "eventTime": "2026-03-03T10:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "epcList": ["https://id.gs1.org/01/80614141123458/21/A%2FB"],
        "action": "OBSERVE",
        "bizStep": "dispensing",
        "disposition": "dispensed"
    });
    let parsed = parse_event(event.to_string().as_bytes()).unwrap();
    assert_eq!(to_json(&parsed), event);
    let Event::Object(o) = &parsed else {
        panic!("ObjectEvent")
    };
    let Epc::Sgtin(sgtin) = &o.epc_list[0].epc else {
        panic!("SGTIN")
    };
    assert_eq!(sgtin.serial.as_str(), "A/B");
    // Stored and carried as its EPCIS JSON.
    let stored = serde_json::to_value(&parsed).unwrap();
    assert_eq!(stored, event);
    let back: Event = serde_json::from_value(stored).unwrap();
    assert_eq!(back, parsed);
}

#[test]
fn emitting_a_new_document() {
    let events = parse_document(&fixture("recall_and_return.json")).unwrap();
    let created = custodia_supply::time::Timestamp::from_ms(1_772_000_000_000).unwrap();
    let doc = EpcisDocument::new(events.clone(), &created);
    let json = doc.to_json();
    assert_eq!(json["type"], "EPCISDocument");
    assert_eq!(json["schemaVersion"], "2.0");
    assert_eq!(json["@context"], epcis::EPCIS_CONTEXT);
    assert_eq!(json["creationDate"], created.text.as_str());
    assert_eq!(parse_document(json.to_string().as_bytes()).unwrap(), events);
}

/// The second event of a small document, with `patch` applied to it.
fn document_with_bad_second_event(patch: impl FnOnce(&mut Value)) -> Vec<u8> {
    let good = json!({
        "type": "ObjectEvent",
        "eventTime": "2026-03-01T08:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "epcList": ["urn:epc:id:sgtin:0614141.812345.1"],
        "action": "OBSERVE",
        "bizStep": "shipping"
    });
    let mut bad = good.clone();
    patch(&mut bad);
    json!({
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-03-01T08:00:00Z",
        "epcisBody": { "eventList": [good, bad] }
    })
    .to_string()
    .into_bytes()
}

#[test]
fn malformed_epcis_names_event_field_and_reason() {
    type Patch = fn(&mut Value);
    let cases: Vec<(Patch, &str)> = vec![
        (
            |e| e["epcList"][0] = json!("urn:epc:id:sgtin:06141.x"),
            "event 2: epcList[0] \"urn:epc:id:sgtin:06141.x\" is not an SGTIN or SSCC: ",
        ),
        (
            |e| e["epcList"][0] = json!("urn:epc:id:sgtin:0614141.812345.1#"),
            "is not in the GS1 AI encodable character set 82",
        ),
        (
            |e| e["epcList"][0] = json!("urn:epc:id:sgln:0614141.00001.0"),
            "event 2: epcList[0] \"urn:epc:id:sgln:0614141.00001.0\" is not an SGTIN or SSCC: it names an SGLN",
        ),
        (
            |e| e["epcList"][0] = json!("https://id.gs1.org/01/80614141123459/21/1"),
            "check digit is 9, expected 8",
        ),
        (
            |e| e["bizStep"] = json!("returning"),
            "event 2: bizStep \"returning\" is not a CBV 2.0 business step",
        ),
        (|e| e["action"] = json!("MOVE"), "event 2: action \"MOVE\" is not ADD, OBSERVE or DELETE"),
        (
            |e| {
                e.as_object_mut().unwrap().remove("eventTime");
            },
            "event 2: eventTime is required",
        ),
        (
            |e| e["eventTime"] = json!("yesterday"),
            "event 2: eventTime \"yesterday\" is not an RFC 3339 date-time",
        ),
        (
            |e| e["eventTimeZoneOffset"] = json!("UTC"),
            "event 2: eventTimeZoneOffset \"UTC\" must be written ±HH:MM",
        ),
        (
            |e| e["epcList"] = json!("urn:epc:id:sgtin:0614141.812345.1"),
            "event 2: epcList must be an array, not a string",
        ),
        (
            |e| e["epcList"] = json!([]),
            "event 2: epcList is empty and there is no quantityList",
        ),
        (
            |e| e["type"] = json!("TransformationEvent"),
            "event 2: type \"TransformationEvent\" is not supported",
        ),
        (
            |e| e["ilmd"] = json!({"cbvmda:lotNumber": "L1"}),
            "event 2: ilmd is only allowed when action is ADD",
        ),
        (
            |e| {
                e["action"] = json!("ADD");
                e["ilmd"] = json!({"cbvmda:itemExpirationDate": "31/12/2027"});
            },
            "event 2: ilmd.cbvmda:itemExpirationDate \"31/12/2027\" is not a date",
        ),
        (
            |e| e["readPoint"] = json!({"id": "urn:epc:id:sscc:0614141.1234567890"}),
            "event 2: readPoint.id \"urn:epc:id:sscc:0614141.1234567890\" is not an SGLN: it names an SSCC",
        ),
        (
            |e| e["destinationList"] = json!([{"type": "owner", "destination": "urn:epc:id:pgln:0012345.00001"}]),
            "event 2: destinationList[0].type \"owner\" is not a CBV 2.0 source/destination type",
        ),
        (
            |e| e["destinationList"] = json!([{"type": "owning_party", "destination": "medline"}]),
            "event 2: destinationList[0].destination \"medline\" is not a URI",
        ),
        (
            |e| {
                e["sensorElementList"] = json!([{"sensorReport": [
                    {"type": "gs1:Temperature", "value": 4.0, "uom": "CEL"},
                    {"type": "gs1:Temperature", "value": "cold", "uom": "CEL"}
                ]}])
            },
            "event 2: sensorElementList[0].sensorReport[1].value must be a number, not a string",
        ),
        (
            |e| {
                e["sensorElementList"] = json!([{"sensorReport": [
                    {"type": "Temperature", "value": 4.0, "uom": "GRM"}
                ]}])
            },
            "event 2: sensorElementList[0].sensorReport[0] temperature unit \"GRM\" is not CEL, FAH or KEL",
        ),
        (
            |e| {
                e["type"] = json!("AggregationEvent");
                e["action"] = json!("ADD");
            },
            "event 2: parentID is required when action is ADD",
        ),
        (
            |e| e["quantityList"] = json!([{"epcClass": "urn:epc:idpat:sgtin:0614141.812345.*", "quantity": 2}]),
            "event 2: quantityList[0].epcClass \"urn:epc:idpat:sgtin:0614141.812345.*\" is not an LGTIN",
        ),
    ];
    for (patch, expected) in cases {
        let bytes = document_with_bad_second_event(patch);
        let err = parse_document(&bytes).expect_err(expected).to_string();
        assert!(
            err.contains(expected),
            "expected {expected:?}\n     got {err:?}"
        );
    }
    // Document-level problems.
    for (text, expected) in [
        ("{not json", "the document is not JSON"),
        (
            r#"{"type": "ObjectEvent"}"#,
            "type is \"ObjectEvent\"; expected \"EPCISDocument\"",
        ),
        (r#"{"type": "EPCISDocument"}"#, "epcisBody is required"),
        (
            r#"{"type": "EPCISDocument", "epcisBody": {}}"#,
            "epcisBody.eventList is required",
        ),
        (r#"[1, 2]"#, "must be a JSON object, not an array"),
    ] {
        let err = parse_document(text.as_bytes()).expect_err(text).to_string();
        assert!(err.contains(expected), "{text}: {err}");
    }
}
