//! A pack's full life: manufacturer → distributor → pharmacy → patient,
//! with a case in between, by direct actions and by EPCIS documents in both
//! identifier forms.

mod common;

use common::*;
use custodia_supply::epcis::to_json;
use custodia_supply::ledger::{keys, trace_pack, SupplyAction, SupplyStore, VerifyRequest};
use custodia_supply::model::{CustodyPlace, PackStatus, TrailEvent};

fn kinds(trail: &[custodia_supply::model::TrailEntry]) -> Vec<(&'static str, String)> {
    trail
        .iter()
        .map(|e| {
            let kind = match e.event {
                TrailEvent::Commissioned { .. } => "commissioned",
                TrailEvent::Packed { .. } => "packed",
                TrailEvent::Unpacked { .. } => "unpacked",
                TrailEvent::Shipped { .. } => "shipped",
                TrailEvent::Received { .. } => "received",
                TrailEvent::Dispensed => "dispensed",
                TrailEvent::Decommissioned { .. } => "decommissioned",
                TrailEvent::Recalled { .. } => "recalled",
                TrailEvent::Compromised { .. } => "compromised",
            };
            (kind, e.org.to_string())
        })
        .collect()
}

#[test]
fn full_life_cycle_across_three_organisations() {
    let mut w = World::new();
    w.commission(&["2017", "2018", "2019"]);
    w.advance(10 * MINUTE);
    w.pack_into(MANUFACTURER, 1, vec![pack_id("2017"), pack_id("2018")]);

    let v = w.verify("2017");
    assert!(v.genuine && v.ok, "{:?}", v.reasons);
    assert_eq!(v.custodian, Some(org(MANUFACTURER)));
    assert_eq!(v.containers, vec![sscc(1)]);
    assert_eq!(v.lot.as_ref().map(|l| l.as_str()), Some(LOT));
    assert_eq!(v.expiry.map(|d| d.to_string()).as_deref(), Some(EXPIRY));

    w.advance(HOUR);
    w.ship(
        MANUFACTURER,
        vec![case_id(1), pack_id("2019")],
        DISTRIBUTOR,
        "S1",
    );
    let v = w.verify("2018");
    assert!(matches!(v.status, Some(PackStatus::InTransit(ref t)) if t.to == org(DISTRIBUTOR)));
    assert!(!v.custody_ok && !v.ok);

    w.advance(6 * HOUR);
    w.receive(DISTRIBUTOR, vec![case_id(1), pack_id("2019")]);
    w.advance(DAY);
    w.ship(DISTRIBUTOR, vec![case_id(1)], PHARMACY, "S2");
    w.advance(4 * HOUR);
    w.receive(PHARMACY, vec![case_id(1)]);
    w.ok(
        PHARMACY,
        SupplyAction::Unpack {
            container: sscc(1),
            children: vec![],
        },
    );
    w.advance(DAY);
    w.dispense(PHARMACY, "2017").expect("dispense");

    // The dispensed pack: the whole trail, every organisation in order.
    let v = w.verify("2017");
    assert!(v.genuine && v.dispensed && !v.ok);
    assert_eq!(
        v.status,
        Some(PackStatus::Dispensed {
            by: org(PHARMACY),
            at_ms: w.now
        })
    );
    assert_eq!(
        kinds(&v.trail),
        vec![
            ("commissioned", MANUFACTURER.to_string()),
            ("packed", MANUFACTURER.to_string()),
            ("shipped", MANUFACTURER.to_string()),
            ("received", DISTRIBUTOR.to_string()),
            ("shipped", DISTRIBUTOR.to_string()),
            ("received", PHARMACY.to_string()),
            ("unpacked", PHARMACY.to_string()),
            ("dispensed", PHARMACY.to_string()),
        ]
    );
    // Custody intervals: at each site and on each shipment, contiguous,
    // closed at dispense.
    let custody = &w.pack("2017").custody;
    let places: Vec<(String, bool)> = custody
        .iter()
        .map(|c| {
            (
                c.org.to_string(),
                matches!(c.place, CustodyPlace::Shipment { .. }),
            )
        })
        .collect();
    assert_eq!(
        places,
        vec![
            (MANUFACTURER.into(), false),
            (MANUFACTURER.into(), true),
            (DISTRIBUTOR.into(), false),
            (DISTRIBUTOR.into(), true),
            (PHARMACY.into(), false),
        ]
    );
    for pair in custody.windows(2) {
        assert_eq!(pair[0].until_ms, Some(pair[1].from_ms));
    }
    assert_eq!(custody.last().and_then(|c| c.until_ms), Some(w.now));

    // The other packs are where they should be.
    let mut req = VerifyRequest::new(sgtin("2018"), w.now);
    req.asked_by = Some(org(PHARMACY));
    let v = custodia_supply::ledger::verify(&w.store, &req).unwrap();
    assert!(
        v.ok && v.custody_ok && v.containers.is_empty(),
        "{:?}",
        v.reasons
    );
    req.sgtin = sgtin("2019");
    let v = custodia_supply::ledger::verify(&w.store, &req).unwrap();
    assert_eq!(v.custodian, Some(org(DISTRIBUTOR)));
    assert!(!v.custody_ok, "the pharmacy does not hold 2019");

    let s1 = w
        .store
        .shipment(&custodia_supply::model::ShipmentRef {
            from: org(MANUFACTURER),
            id: custodia_supply::model::ShipmentId::new("S1").unwrap(),
        })
        .unwrap()
        .unwrap();
    assert!(s1.outstanding.is_empty());
    assert_eq!(s1.packs.len(), 3, "the case's packs travel with it");
    assert!(s1.received_at_ms.is_some());
    let case = w.store.container(&sscc(1)).unwrap().unwrap();
    assert!(case.children.is_empty());
    assert_eq!(case.custodian, org(PHARMACY));
}

/// Applies the fixture life cycle event by event, each by the organisation
/// that would send it, and returns the world.
fn run_epcis_life_cycle(fixture: &str) -> World {
    let mut w = World::new();
    for (who, party) in [
        (MANUFACTURER, "urn:epc:id:pgln:0614141.00001"),
        (DISTRIBUTOR, "urn:epc:id:pgln:0012345.00001"),
        (PHARMACY, "urn:epc:id:pgln:4012345.00001"),
    ] {
        w.ok(
            who,
            SupplyAction::LinkParty {
                party: party.into(),
            },
        );
    }
    let events = fixture_events(fixture);
    let senders = [
        MANUFACTURER,
        MANUFACTURER,
        MANUFACTURER,
        DISTRIBUTOR,
        DISTRIBUTOR,
        PHARMACY,
        PHARMACY,
        PHARMACY,
    ];
    for (event, who) in events.into_iter().zip(senders) {
        w.advance(HOUR);
        w.epcis(who, vec![event.clone()])
            .unwrap_or_else(|e| panic!("{fixture}: {} by {who}: {e}", to_json(&event)));
    }
    w
}

#[test]
fn life_cycle_from_epcis_in_both_identifier_forms() {
    let urn = run_epcis_life_cycle("lifecycle_urn.json");
    let link = run_epcis_life_cycle("lifecycle_digital_link.json");
    for w in [&urn, &link] {
        let v = w.verify("2017");
        assert!(v.dispensed && v.genuine);
        assert_eq!(kinds(&v.trail).len(), 8);
        let v = w.verify("2018");
        assert_eq!(v.custodian, Some(org(PHARMACY)));
        assert!(v.ok, "{:?}", v.reasons);
        let v = w.verify("2019");
        assert_eq!(v.custodian, Some(org(DISTRIBUTOR)));
        assert_eq!(v.status, Some(PackStatus::Active));
        // ILMD lot and expiry were taken from the commissioning event.
        assert_eq!(v.lot.as_ref().map(|l| l.as_str()), Some(LOT));
    }
    // The same custody, whichever spelling the partners used.
    for serial in ["2017", "2018", "2019"] {
        let a = trace_pack(&urn.store, &sgtin(serial)).unwrap().pack;
        let b = trace_pack(&link.store, &sgtin(serial)).unwrap().pack;
        assert_eq!(a.status, b.status);
        assert_eq!(a.custody.len(), b.custody.len());
        assert_eq!(kinds(&a.history), kinds(&b.history));
    }
    // The trail points at the EPCIS event and the transaction.
    let first = &urn.pack("2017").history[0];
    assert_eq!(
        first.epcis_event_id.as_deref(),
        Some("urn:uuid:4f1c2d1e-0001-4a6b-9d0e-000000000001")
    );
    // Locations from bizLocation are kept in custody.
    let at_distributor = &urn.pack("2019").custody[2];
    assert_eq!(
        at_distributor.place,
        CustodyPlace::Site {
            location: Some("urn:epc:id:sgln:0012345.11111.0".into())
        }
    );
    // The events are kept as received, under the transaction that carried them.
    let stored = urn
        .store
        .get(&keys::events(&first.tx))
        .expect("events stored");
    let stored: serde_json::Value = serde_json::from_slice(&stored).unwrap();
    assert_eq!(stored[0]["ilmd"]["cbvmda:countryOfOrigin"], "DE");
    assert_eq!(
        stored[0]["epcList"][0],
        "urn:epc:id:sgtin:0614141.812345.2017"
    );
}

#[test]
fn recall_return_and_decommission_from_epcis() {
    let mut w = run_epcis_life_cycle("lifecycle_urn.json");
    let events = fixture_events("recall_and_return.json");
    w.advance(DAY);
    // The manufacturer recalls lot L2026A (a quantityList LGTIN)...
    w.epcis(MANUFACTURER, vec![events[0].clone()]).unwrap();
    // ...the pharmacy sends its recalled pack 2018 back to the distributor
    // (shipping, disposition returned), which receives it...
    w.advance(HOUR);
    w.epcis(PHARMACY, vec![events[1].clone()]).unwrap();
    let PackStatus::InTransit(t) = w.pack("2018").status else {
        panic!("2018 should be on its way back")
    };
    assert!(t.returning);
    assert_eq!(t.to, org(DISTRIBUTOR));
    w.advance(HOUR);
    w.receive(DISTRIBUTOR, vec![pack_id("2018")]);
    // ...and the distributor destroys its own recalled pack 2019.
    w.epcis(DISTRIBUTOR, vec![events[2].clone()]).unwrap();
    assert_eq!(
        w.pack("2019").status,
        PackStatus::Decommissioned {
            by: org(DISTRIBUTOR),
            at_ms: w.now,
            reason: "inactive".into()
        }
    );
    let report = custodia_supply::ledger::recall_report(&w.store, &lot()).unwrap();
    assert_eq!(report.outstanding, 1, "only 2018 is still in the chain");
    let still = report.packs.iter().find(|p| !p.status.is_final()).unwrap();
    assert_eq!(
        (&still.sgtin, &still.custodian),
        (&sgtin("2018"), &org(DISTRIBUTOR))
    );
}

#[test]
fn a_cloned_serial_dispensed_again_by_epcis_is_caught() {
    let mut w = run_epcis_life_cycle("lifecycle_digital_link.json");
    let dispense = fixture_events("lifecycle_digital_link.json")[7].clone();
    w.advance(HOUR);
    let err = w.epcis(PHARMACY_2, vec![dispense]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("event 1: pack (01)80614141123458(21)2017 was already dispensed"),
        "{err}"
    );
    let v = w.verify("2017");
    assert_eq!(
        v.signals,
        vec![custodia_supply::model::CounterfeitSignal::DispensedTwice]
    );
    assert_eq!(v.signal_records[0].by, org(PHARMACY_2));
}
