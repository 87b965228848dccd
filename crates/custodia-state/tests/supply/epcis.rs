//! EPCIS 2.0 documents as transactions: malformed or unsupported events
//! refused with the event named, a document driving custody and kept as
//! received, and sensor data signed by the device that measured it.

use crate::common::*;
use crate::world::*;
use commonware_cryptography::Signer as _;
use custodia_state::{StateRead, TxStatus};
use custodia_supply::epcis;
use custodia_supply::ledger::SupplyAction;
use custodia_supply::model::PackStatus;
use custodia_types::key_hex;

#[test]
fn malformed_or_unsupported_epcis_is_refused_with_the_event_named() {
    let mut w = World::new();
    w.commission(&["1"], "2027-06-30");
    let doc = |event: serde_json::Value| {
        let json = serde_json::json!({
            "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": "2026-03-01T08:00:00Z",
            "epcisBody": { "eventList": [event] }
        });
        let events = epcis::parse_document(json.to_string().as_bytes()).unwrap();
        SupplyAction::Epcis { events }
    };
    // Shipping without saying to whom.
    let no_destination = doc(serde_json::json!({
        "type": "ObjectEvent",
        "eventTime": "2026-03-01T08:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "epcList": ["urn:epc:id:sgtin:0614141.812345.1"],
        "action": "OBSERVE",
        "bizStep": "shipping"
    }));
    let message = w.refused(MANUFACTURER, no_destination, "destinationList");
    assert!(message.starts_with("event 1:"), "{message}");
    // Commissioning without lot and expiry.
    let no_ilmd = doc(serde_json::json!({
        "type": "ObjectEvent",
        "eventTime": "2026-03-01T08:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "epcList": ["urn:epc:id:sgtin:0614141.812345.2"],
        "action": "ADD",
        "bizStep": "commissioning"
    }));
    w.refused(MANUFACTURER, no_ilmd, "ilmd");
    // A business step the ledger does not map.
    let inspecting = doc(serde_json::json!({
        "type": "ObjectEvent",
        "eventTime": "2026-03-01T08:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "epcList": ["urn:epc:id:sgtin:0614141.812345.1"],
        "action": "OBSERVE",
        "bizStep": "inspecting"
    }));
    w.refused(MANUFACTURER, inspecting, "not supported by the ledger");
}

#[test]
fn an_epcis_document_drives_custody_and_is_kept_as_received() {
    let mut w = World::new();
    for (org, party) in [
        (MANUFACTURER, "urn:epc:id:pgln:0614141.00001"),
        (DISTRIBUTOR, "urn:epc:id:pgln:0614141.00002"),
    ] {
        w.ok(
            org,
            SupplyAction::LinkParty {
                party: party.into(),
            },
        );
    }
    let json = serde_json::json!({
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-03-01T08:00:00Z",
        "epcisBody": { "eventList": [
            {
                "type": "ObjectEvent",
                "eventID": "ni:///sha-256;commission-1?ver=CBV2.0",
                "eventTime": "2026-03-01T07:00:00Z",
                "eventTimeZoneOffset": "+00:00",
                "epcList": ["urn:epc:id:sgtin:0614141.812345.E1"],
                "action": "ADD",
                "bizStep": "commissioning",
                "disposition": "active",
                "ilmd": { "cbvmda:lotNumber": LOT, "cbvmda:itemExpirationDate": "2027-06-30" },
                "example:myField": "kept"
            },
            {
                "type": "ObjectEvent",
                "eventID": "ni:///sha-256;ship-1?ver=CBV2.0",
                "eventTime": "2026-03-01T07:30:00Z",
                "eventTimeZoneOffset": "+00:00",
                "epcList": ["urn:epc:id:sgtin:0614141.812345.E1"],
                "action": "OBSERVE",
                "bizStep": "shipping",
                "disposition": "in_transit",
                "destinationList": [{ "type": "owning_party", "destination": "urn:epc:id:pgln:0614141.00002" }]
            }
        ]}
    });
    let events = epcis::parse_document(json.to_string().as_bytes()).unwrap();
    let tx = w.chain.tx(
        &w.agents[MANUFACTURER].clone(),
        supply(SupplyAction::Epcis {
            events: events.clone(),
        }),
    );
    let id = hex::encode(tx.id());
    assert_eq!(w.chain.block(vec![tx]), vec![TxStatus::Applied]);
    w.chain.time_ms += 1_000;
    let pack = w.pack("E1");
    assert!(matches!(pack.status, PackStatus::InTransit(ref t) if t.to == supply_org(DISTRIBUTOR)));
    assert_eq!(
        pack.history[0].epcis_event_id.as_deref(),
        Some("ni:///sha-256;commission-1?ver=CBV2.0")
    );
    // The events are kept under the transaction, in their standard form.
    let stored = w
        .chain
        .state
        .get(format!("supply/events/{id}").as_bytes())
        .expect("events kept");
    let stored: serde_json::Value = serde_json::from_slice(&stored).unwrap();
    assert_eq!(stored, json["epcisBody"]["eventList"]);
}

#[test]
fn readings_as_epcis_sensor_data_are_signed_by_the_device() {
    let mut w = World::new();
    w.commission(&["1"], "2027-06-30");
    w.chain.time_ms = T0 + HOUR;
    w.ship(MANUFACTURER, vec![pack_id("1")], DISTRIBUTOR, "S1");
    let device = key_hex(&w.truck.public_key());
    let at = |minute: u64| {
        chrono::DateTime::from_timestamp_millis((T0 + HOUR + minute * MINUTE) as i64)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let json = serde_json::json!({
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": at(100),
        "epcisBody": { "eventList": [{
            "type": "ObjectEvent",
            "eventTime": at(100),
            "eventTimeZoneOffset": "+00:00",
            "epcList": ["urn:epc:id:sgtin:0614141.812345.1"],
            "action": "OBSERVE",
            "bizStep": "sensor_reporting",
            "sensorElementList": [{
                "sensorMetadata": { "deviceID": device },
                "sensorReport": [
                    { "type": "Temperature", "value": 12.0, "uom": "CEL", "time": at(10) },
                    { "type": "Temperature", "value": 13.0, "uom": "CEL", "time": at(50) },
                    { "type": "Temperature", "value": 5.0, "uom": "CEL", "time": at(90) }
                ]
            }]
        }]}
    });
    let events = epcis::parse_document(json.to_string().as_bytes()).unwrap();
    let action = SupplyAction::Epcis { events };
    // The distributor's system may not submit its truck's readings...
    let status = w.act(DISTRIBUTOR, action.clone());
    assert!(rejected(&status, "device's own key"), "{status:?}");
    // ...the truck itself may.
    w.chain.time_ms = T0 + HOUR + 101 * MINUTE;
    let truck = w.truck.clone();
    assert_eq!(w.signed(&truck, supply(action)), TxStatus::Applied);
    assert_eq!(w.compromised(&["1"]), ["1"]);
}
