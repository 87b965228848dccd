//! What a pharmacist asks before dispensing: clones, unknown serials,
//! receives nobody shipped, counterfeit commissions, recalls through
//! aggregation, expiry, and the label.

mod common;

use common::*;
use custodia_supply::gs1::{Lot, Serial};
use custodia_supply::ledger::{
    recall_report, trace_lot, verify, Commission, Receive, SupplyAction, SupplyError, SupplyStore,
    VerifyRequest,
};
use custodia_supply::model::{CounterfeitSignal, PackStatus};
use custodia_supply::time::Date;

/// Pack 1 at the pharmacy, pack 2 at the second pharmacy.
fn at_pharmacies() -> World {
    let mut w = World::new();
    w.commission(&["1", "2", "3"]);
    w.advance(HOUR);
    w.ship(MANUFACTURER, vec![pack_id("1")], PHARMACY, "S1");
    w.ship(MANUFACTURER, vec![pack_id("2")], PHARMACY_2, "S2");
    w.advance(HOUR);
    w.receive(PHARMACY, vec![pack_id("1")]);
    w.receive(PHARMACY_2, vec![pack_id("2")]);
    w.advance(DAY);
    w
}

#[test]
fn a_second_dispense_is_refused_and_reported_as_a_clone() {
    let mut w = at_pharmacies();
    w.dispense(PHARMACY, "1").expect("first dispense");
    let before = w.custody_state();
    // A copy of pack 1's code turns up at the second pharmacy.
    w.advance(HOUR);
    let err = w.dispense(PHARMACY_2, "1").unwrap_err();
    assert_eq!(
        err,
        SupplyError::AlreadyDispensed {
            sgtin: sgtin("1"),
            by: org(PHARMACY)
        }
    );
    assert!(err.to_string().contains("means a clone"));
    assert_eq!(
        w.custody_state(),
        before,
        "custody untouched by the refusal"
    );

    let v = w.verify("1");
    assert!(
        v.genuine,
        "the serial itself is genuine; a copy of it is not"
    );
    assert!(v.dispensed && !v.ok);
    assert_eq!(v.signals, vec![CounterfeitSignal::DispensedTwice]);
    let record = &v.signal_records[0];
    assert_eq!(record.by, org(PHARMACY_2));
    assert_eq!(record.at_ms, w.now);
    assert!(record
        .detail
        .contains("already dispensed by corner-pharmacy"));
    assert!(
        v.reasons.iter().any(|r| r.contains("dispensed twice")),
        "{:?}",
        v.reasons
    );
    // The trail still shows one dispense, by the pharmacy that did it.
    assert_eq!(
        v.status,
        Some(PackStatus::Dispensed {
            by: org(PHARMACY),
            at_ms: w.now - HOUR
        })
    );
}

#[test]
fn unknown_serials_are_counterfeit_signals() {
    let mut w = at_pharmacies();
    let v = w.verify("999");
    assert!(!v.genuine && !v.ok);
    assert_eq!(v.signals, vec![CounterfeitSignal::UnknownSerial]);
    assert_eq!(v.product.as_deref(), Some("Insulin glargine 100 U/ml pen"));
    assert!(v.reasons[0].contains("never commissioned"));
    // An attempt to dispense it is refused and recorded.
    let err = w.dispense(PHARMACY, "999").unwrap_err();
    assert_eq!(err, SupplyError::UnknownPack(sgtin("999")));
    let v = w.verify("999");
    assert_eq!(v.signals, vec![CounterfeitSignal::UnknownSerial]);
    assert_eq!(v.signal_records.len(), 1);
    assert_eq!(v.signal_records[0].by, org(PHARMACY));
}

#[test]
fn a_receive_without_a_ship_is_recorded() {
    let mut w = at_pharmacies();
    // The second pharmacy claims to receive pack 3, still at the manufacturer.
    let err = w
        .act(
            PHARMACY_2,
            SupplyAction::Receive(Receive {
                items: vec![pack_id("3")],
                location: None,
            }),
        )
        .unwrap_err();
    assert!(matches!(err, SupplyError::NotShipped { .. }), "{err}");
    let v = w.verify("3");
    assert_eq!(v.signals, vec![CounterfeitSignal::ReceiveWithoutShip]);
    assert!(!v.custody_ok && !v.ok);
    assert_eq!(v.custodian, Some(org(MANUFACTURER)), "custody did not move");
}

#[test]
fn a_commission_by_someone_else_is_recorded_on_the_serial() {
    let mut w = at_pharmacies();
    let fake = SupplyAction::Commission(Commission {
        gtin: gtin(),
        serials: vec![Serial::parse("1").unwrap(), Serial::parse("77").unwrap()],
        lot: Lot::parse("FAKE1").unwrap(),
        expiry: Date::parse("2027-01-01").unwrap(),
        location: None,
    });
    let err = w.act(DISTRIBUTOR, fake).unwrap_err();
    assert!(matches!(
        err,
        SupplyError::CommissionByNonManufacturer { .. }
    ));
    let v = w.verify("1");
    assert!(v.genuine, "pack 1 is the manufacturer's");
    assert_eq!(
        v.signals,
        vec![CounterfeitSignal::CommissionedByNonManufacturer]
    );
    assert_eq!(v.signal_records[0].by, org(DISTRIBUTOR));
    assert!(!v.ok);
}

#[test]
fn organisations_can_report_what_they_saw() {
    let mut w = at_pharmacies();
    w.ok(
        PHARMACY,
        SupplyAction::ReportSuspect {
            sgtin: sgtin("1"),
            signal: CounterfeitSignal::DispensedTwice,
            detail: "patient returned with a second pen of this serial".into(),
        },
    );
    let v = w.verify("1");
    assert_eq!(v.signals, vec![CounterfeitSignal::DispensedTwice]);
    assert_eq!(w.pack("1").status, PackStatus::Active, "no custody change");
}

#[test]
fn a_recall_reaches_packs_inside_cases_on_pallets() {
    let mut w = World::new();
    w.commission(&["1", "2", "3", "4", "5"]);
    w.pack_into(MANUFACTURER, 1, vec![pack_id("1"), pack_id("2")]);
    w.pack_into(MANUFACTURER, 2, vec![pack_id("3")]);
    w.pack_into(MANUFACTURER, 9, vec![case_id(1), case_id(2)]);
    w.advance(HOUR);
    w.ship(MANUFACTURER, vec![case_id(9)], DISTRIBUTOR, "S1");
    w.ship(MANUFACTURER, vec![pack_id("4")], PHARMACY, "S2");
    w.advance(HOUR);
    w.receive(DISTRIBUTOR, vec![case_id(9)]);
    w.receive(PHARMACY, vec![pack_id("4")]);
    w.dispense(PHARMACY, "4").unwrap();

    // Only the manufacturer may recall.
    let recall = SupplyAction::RecallLot {
        lot: lot(),
        reason: "particles found in retained samples".into(),
    };
    let err = w.act(DISTRIBUTOR, recall.clone()).unwrap_err();
    assert!(matches!(err, SupplyError::NotManufacturer { .. }), "{err}");
    w.advance(DAY);
    w.ok(MANUFACTURER, recall.clone());
    assert!(matches!(
        w.act(MANUFACTURER, recall).unwrap_err(),
        SupplyError::AlreadyRecalled(_)
    ));

    for serial in ["1", "2", "3", "4", "5"] {
        assert!(w.pack(serial).recalled, "pack {serial}");
        assert!(w.verify(serial).recalled);
    }
    let v = w.verify("1");
    assert!(!v.ok && v.reasons.iter().any(|r| r.contains("recalled")));
    assert_eq!(v.containers, vec![sscc(1), sscc(9)], "case 1 on pallet 9");

    // The report says where each pack is now.
    let report = recall_report(&w.store, &lot()).unwrap();
    assert_eq!(report.packs.len(), 5);
    assert_eq!(report.outstanding, 4, "pack 4 was already dispensed");
    let p1 = &report.packs[0];
    assert_eq!(p1.custodian, org(DISTRIBUTOR));
    assert_eq!(p1.containers.last(), Some(&sscc(9)));
    let p5 = report.packs.iter().find(|p| p.sgtin == sgtin("5")).unwrap();
    assert_eq!(p5.custodian, org(MANUFACTURER));
    assert!(p5.containers.is_empty());
    assert_eq!(
        report.recall.as_ref().map(|r| r.by.clone()),
        Some(org(MANUFACTURER))
    );

    // Recalled packs go back up the chain, not onward, and are not dispensed.
    w.ok(
        DISTRIBUTOR,
        SupplyAction::Unpack {
            container: sscc(9),
            children: vec![],
        },
    );
    let onward = custodia_supply::ledger::Ship {
        shipment: custodia_supply::model::ShipmentId::new("S3").unwrap(),
        items: vec![case_id(1)],
        to: org(PHARMACY),
        returning: false,
    };
    let err = w
        .act(DISTRIBUTOR, SupplyAction::Ship(onward.clone()))
        .unwrap_err();
    assert!(matches!(err, SupplyError::Recalled { .. }), "{err}");
    let back = custodia_supply::ledger::Ship {
        to: org(MANUFACTURER),
        returning: true,
        ..onward
    };
    w.ok(DISTRIBUTOR, SupplyAction::Ship(back));
    // New packs cannot join a recalled lot.
    let err = w
        .act(
            MANUFACTURER,
            SupplyAction::Commission(Commission {
                gtin: gtin(),
                serials: vec![Serial::parse("6").unwrap()],
                lot: Lot::parse(LOT).unwrap(),
                expiry: Date::parse(EXPIRY).unwrap(),
                location: None,
            }),
        )
        .unwrap_err();
    assert!(matches!(err, SupplyError::LotRecalled(_)), "{err}");

    let trace = trace_lot(&w.store, &lot()).unwrap();
    assert_eq!(trace.packs.len(), 5);
    assert!(trace.lot.recall.is_some());
}

#[test]
fn a_recall_by_epcis_names_the_lot() {
    let mut w = World::new();
    w.commission(&["2017", "2018"]);
    w.pack_into(MANUFACTURER, 1, vec![pack_id("2017")]);
    let events = fixture_events("recall_and_return.json");
    w.epcis(MANUFACTURER, vec![events[0].clone()]).unwrap();
    assert!(w.pack("2017").recalled && w.pack("2018").recalled);
    let lot_record = w.store.lot(&lot()).unwrap().unwrap();
    assert_eq!(
        lot_record.recall.unwrap().reason,
        "recall urn:uuid:0c2d7a5e-5a1f-4bde-8f3a-7c1d2e3f4a5b"
    );
}

#[test]
fn expiry() {
    let mut w = at_pharmacies();
    let expiry_day_noon = 1_814_356_800_000; // 2027-06-30T12:00:00Z
    w.now = expiry_day_noon;
    let v = w.verify("1");
    assert!(
        !v.expired && v.ok,
        "usable through its expiry date: {:?}",
        v.reasons
    );
    w.now = expiry_day_noon + DAY;
    let v = w.verify("1");
    assert!(v.expired && !v.ok);
    assert!(v.reasons.iter().any(|r| r == "expired on 2027-06-30"));
    let err = w.dispense(PHARMACY, "1").unwrap_err();
    assert_eq!(
        err,
        SupplyError::Expired {
            sgtin: sgtin("1"),
            expiry: Date::parse(EXPIRY).unwrap()
        }
    );
    // An expired pack may still be decommissioned.
    w.ok(
        PHARMACY,
        SupplyAction::Decommission {
            packs: vec![sgtin("1")],
            reason: "expired".into(),
        },
    );
}

#[test]
fn the_label_and_the_asker_are_checked() {
    let w = at_pharmacies();
    let mut req = VerifyRequest::new(sgtin("1"), w.now);
    req.label_lot = Some(Lot::parse(LOT).unwrap());
    req.label_expiry = Some(Date::parse(EXPIRY).unwrap());
    req.asked_by = Some(org(PHARMACY));
    let v = verify(&w.store, &req).unwrap();
    assert_eq!(v.label_matches, Some(true));
    assert!(v.ok, "{:?}", v.reasons);

    req.label_lot = Some(Lot::parse("L2025Z").unwrap());
    let v = verify(&w.store, &req).unwrap();
    assert_eq!(v.label_matches, Some(false));
    assert!(!v.ok);

    // Pack 2 is at the other pharmacy: out of its expected custody.
    let mut req = VerifyRequest::new(sgtin("2"), w.now);
    req.asked_by = Some(org(PHARMACY));
    let v = verify(&w.store, &req).unwrap();
    assert!(!v.custody_ok && !v.ok);
    assert!(v.reasons[0].contains("harbor-pharmacy holds it, not corner-pharmacy"));
}

#[test]
fn verification_answers_serialise_for_the_api() {
    let w = at_pharmacies();
    let v = w.verify("1");
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["genuine"], true);
    assert_eq!(json["status"]["state"], "active");
    assert_eq!(json["lot"], LOT);
    assert_eq!(json["sgtin"]["gtin"], GTIN);
    let back: custodia_supply::ledger::Verification = serde_json::from_value(json).unwrap();
    assert_eq!(back, v);
}
