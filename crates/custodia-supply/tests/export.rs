//! A pack's history emitted as standard EPCIS: events received as EPCIS
//! come back exactly as received; events recorded from typed actions come
//! back in the CBV form that, read again, drives the same custody.

mod common;

use common::*;
use custodia_supply::epcis::{to_json, EpcisDocument, Event};
use custodia_supply::ledger::{pack_events, SupplyAction};
use custodia_supply::model::{PackStatus, TrailEvent};
use custodia_supply::time::Timestamp;

fn kinds(w: &World, serial: &str) -> Vec<(String, String)> {
    w.pack(serial)
        .history
        .iter()
        .map(|e| {
            let kind = serde_json::to_value(&e.event).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_string();
            (kind, e.org.to_string())
        })
        .collect()
}

#[test]
fn typed_actions_come_back_as_epcis_that_replays_to_the_same_custody() {
    let mut w = World::new();
    w.commission(&["1", "2"]);
    w.pack_into(MANUFACTURER, 1, vec![pack_id("1"), pack_id("2")]);
    w.pack_into(MANUFACTURER, 2, vec![case_id(1)]);
    w.advance(HOUR);
    w.ship(MANUFACTURER, vec![case_id(2)], DISTRIBUTOR, "S1");
    w.advance(HOUR);
    w.receive(DISTRIBUTOR, vec![case_id(2)]);
    w.ok(
        DISTRIBUTOR,
        SupplyAction::Unpack {
            container: sscc(2),
            children: Vec::new(),
        },
    );
    w.ship(DISTRIBUTOR, vec![case_id(1)], PHARMACY, "S2");
    w.receive(PHARMACY, vec![case_id(1)]);
    w.ok(
        PHARMACY,
        SupplyAction::Unpack {
            container: sscc(1),
            children: vec![pack_id("1")],
        },
    );
    w.dispense(PHARMACY, "1").unwrap();

    let events = pack_events(&w.store, &sgtin("1")).unwrap();
    let history = w.pack("1").history;
    assert_eq!(events.len(), history.len());
    let steps: Vec<String> = events
        .iter()
        .map(|e| {
            let j = to_json(e);
            format!(
                "{} {}",
                j["bizStep"].as_str().unwrap(),
                j["action"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            "commissioning ADD",
            "packing ADD",
            "packing ADD",
            "shipping OBSERVE",
            "receiving OBSERVE",
            "unpacking DELETE",
            "shipping OBSERVE",
            "receiving OBSERVE",
            "unpacking DELETE",
            "dispensing OBSERVE",
        ]
    );
    // The case, not the pack inside it, is what was shipped.
    let ship = to_json(&events[3]);
    assert_eq!(
        ship["epcList"][0],
        custodia_supply::gs1::digital_link(&custodia_supply::gs1::Epc::Sscc(sscc(2)))
    );
    assert_eq!(
        ship["destinationList"][0]["destination"],
        format!("urn:custodia:org:{DISTRIBUTOR}")
    );
    assert_eq!(
        to_json(&events[0])["epcList"][0],
        "urn:epc:id:sgtin:0614141.812345.1"
    );

    // Read back by a fresh ledger, by the same organisations in turn, the
    // events produce the same custody trail.
    // `urn:custodia:org:<id>` names its organisation without a link.
    let mut replay = World::new();
    for (event, entry) in events.into_iter().zip(&history) {
        let described = to_json(&event).to_string();
        replay
            .epcis(entry.org.as_str(), vec![event])
            .unwrap_or_else(|e| panic!("{described}: {e}"));
        replay.advance(MINUTE);
    }
    assert_eq!(kinds(&replay, "1"), kinds(&w, "1"));
    assert!(matches!(
        replay.pack("1").status,
        PackStatus::Dispensed { .. }
    ));
}

#[test]
fn epcis_events_come_back_exactly_as_received() {
    let mut w = World::new();
    let doc = EpcisDocument::parse(
        &std::fs::read(format!(
            "{}/tests/fixtures/lifecycle_urn.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    let Event::Object(first) = &doc.events[0] else {
        panic!("the fixture starts with a commissioning ObjectEvent")
    };
    w.epcis(MANUFACTURER, vec![doc.events[0].clone()]).unwrap();
    let serial = match &first.epc_list[0].epc {
        custodia_supply::gs1::Epc::Sgtin(s) => s.clone(),
        other => panic!("not a pack: {other:?}"),
    };
    // A typed recall follows.
    let lot = custodia_supply::gs1::Lgtin::new(serial.gtin.clone(), w.pack_by(&serial).lot);
    w.ok(
        MANUFACTURER,
        SupplyAction::RecallLot {
            lot,
            reason: "test".into(),
        },
    );
    let events = pack_events(&w.store, &serial).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(
        to_json(&events[0]),
        to_json(&doc.events[0]),
        "received EPCIS is emitted unchanged"
    );
    let recall = to_json(&events[1]);
    assert_eq!(recall["disposition"], "recalled");
    assert!(recall["quantityList"][0]["epcClass"]
        .as_str()
        .unwrap()
        .starts_with("urn:epc:class:lgtin:"));
    assert!(matches!(
        w.pack_by(&serial).history[1].event,
        TrailEvent::Recalled { .. }
    ));
    // Event times are the block times, in RFC 3339.
    let time = recall["eventTime"].as_str().unwrap();
    assert_eq!(
        Timestamp::parse(time).unwrap().ms as u64,
        w.pack_by(&serial).history[1].at_ms
    );
}
