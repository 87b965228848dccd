//! Every rule, broken: refused with the right error and a message a person
//! can act on, and custody left exactly as it was.

mod common;

use common::*;
use custodia_supply::gs1::{Gs1Error, Gtin, Lot, Serial};
use custodia_supply::ledger::{Commission, Receive, Ship, SupplyAction, SupplyError};
use custodia_supply::model::{Reading, ReadingScope, ShipmentId};
use custodia_supply::time::Date;
use serde_json::json;

/// Submits `action`, expects a refusal, and checks custody did not move.
fn refused(w: &mut World, who: &str, action: SupplyAction) -> SupplyError {
    let before = w.custody_state();
    let err = w.act(who, action).expect_err("the rule should refuse this");
    assert_eq!(
        w.custody_state(),
        before,
        "a refusal changed custody: {err}"
    );
    err
}

fn ship_action(items: Vec<custodia_supply::model::ItemId>, to: &str, id: &str) -> SupplyAction {
    SupplyAction::Ship(Ship {
        shipment: ShipmentId::new(id).unwrap(),
        items,
        to: org(to),
        returning: false,
    })
}

fn receive_action(items: Vec<custodia_supply::model::ItemId>) -> SupplyAction {
    SupplyAction::Receive(Receive {
        items,
        location: None,
    })
}

fn commission_action(serials: &[&str]) -> SupplyAction {
    SupplyAction::Commission(Commission {
        gtin: gtin(),
        serials: serials.iter().map(|s| Serial::parse(s).unwrap()).collect(),
        lot: Lot::parse(LOT).unwrap(),
        expiry: Date::parse(EXPIRY).unwrap(),
        location: None,
    })
}

#[test]
fn only_the_current_custodian_may_ship() {
    let mut w = World::new();
    w.commission(&["1"]);
    let err = refused(
        &mut w,
        DISTRIBUTOR,
        ship_action(vec![pack_id("1")], PHARMACY, "S1"),
    );
    assert!(
        matches!(err, SupplyError::NotCustodian { ref custodian, .. } if *custodian == org(MANUFACTURER))
    );
    assert_eq!(
        err.to_string(),
        format!(
            "pack (01){GTIN}(21)1 is held by acme-pharma; only the current custodian may ship it"
        )
    );
    // In transit, even the shipper may not ship it again.
    w.ship(MANUFACTURER, vec![pack_id("1")], DISTRIBUTOR, "S1");
    let err = refused(
        &mut w,
        MANUFACTURER,
        ship_action(vec![pack_id("1")], PHARMACY, "S2"),
    );
    assert!(matches!(err, SupplyError::InTransit { .. }), "{err}");
    assert!(err
        .to_string()
        .contains("medline-logistics must receive it before anyone can ship it"));
}

#[test]
fn only_the_named_receiver_may_receive() {
    let mut w = World::new();
    w.commission(&["1"]);
    w.ship(MANUFACTURER, vec![pack_id("1")], DISTRIBUTOR, "S1");
    let err = refused(&mut w, PHARMACY, receive_action(vec![pack_id("1")]));
    assert!(matches!(err, SupplyError::NotReceiver { .. }), "{err}");
    assert!(err
        .to_string()
        .contains("was shipped to medline-logistics, not to corner-pharmacy"));
    // The right receiver still can.
    w.receive(DISTRIBUTOR, vec![pack_id("1")]);
}

#[test]
fn a_receive_without_a_ship_is_refused() {
    let mut w = World::new();
    w.commission(&["1"]);
    let err = refused(&mut w, DISTRIBUTOR, receive_action(vec![pack_id("1")]));
    assert!(matches!(err, SupplyError::NotShipped { .. }), "{err}");
    assert!(err.to_string().contains("a receive needs a matching ship"));
    // Nor can a pack inside a shipped case be received on its own.
    w.commission(&["2"]);
    w.pack_into(MANUFACTURER, 1, vec![pack_id("2")]);
    w.ship(MANUFACTURER, vec![case_id(1)], DISTRIBUTOR, "S1");
    let err = refused(&mut w, DISTRIBUTOR, receive_action(vec![pack_id("2")]));
    assert!(matches!(err, SupplyError::InsideContainer { .. }), "{err}");
}

#[test]
fn a_dispensed_or_decommissioned_pack_takes_no_further_event() {
    let mut w = World::new();
    w.commission(&["1", "2"]);
    w.ship(
        MANUFACTURER,
        vec![pack_id("1"), pack_id("2")],
        PHARMACY,
        "S1",
    );
    w.receive(PHARMACY, vec![pack_id("1"), pack_id("2")]);
    w.dispense(PHARMACY, "1").unwrap();
    w.ok(
        PHARMACY,
        SupplyAction::Decommission {
            packs: vec![sgtin("2")],
            reason: "damaged".into(),
        },
    );
    for serial in ["1", "2"] {
        let attempts = [
            ship_action(vec![pack_id(serial)], DISTRIBUTOR, "S9"),
            receive_action(vec![pack_id(serial)]),
            SupplyAction::Pack {
                container: sscc(5),
                children: vec![pack_id(serial)],
            },
            SupplyAction::Decommission {
                packs: vec![sgtin(serial)],
                reason: "destroyed".into(),
            },
        ];
        for attempt in attempts {
            let err = refused(&mut w, PHARMACY, attempt);
            let finished = matches!(err.root(), SupplyError::Finished { .. })
                || matches!(err.root(), SupplyError::NotShipped { .. });
            assert!(finished, "{err}");
            assert!(
                err.to_string().contains("dispensed by corner-pharmacy")
                    || err
                        .to_string()
                        .contains("decommissioned by corner-pharmacy"),
                "{err}"
            );
        }
    }
    let err = refused(
        &mut w,
        PHARMACY,
        SupplyAction::Dispense {
            packs: vec![sgtin("2")],
        },
    );
    assert!(matches!(err, SupplyError::Finished { .. }), "{err}");
    assert!(err
        .to_string()
        .contains("a dispensed or decommissioned pack takes no further event"));
}

#[test]
fn only_the_manufacturer_registers_and_commissions() {
    let mut w = World::new();
    let mut fake = insulin();
    fake.manufacturer = org(DISTRIBUTOR);
    let err = refused(&mut w, DISTRIBUTOR, SupplyAction::RegisterProduct(fake));
    assert!(matches!(err, SupplyError::ProductExists { .. }), "{err}");

    let mut other = insulin();
    other.gtin = Gtin::parse("4006381333931").unwrap();
    let err = refused(&mut w, DISTRIBUTOR, SupplyAction::RegisterProduct(other));
    assert!(matches!(err, SupplyError::NotManufacturer { .. }), "{err}");
    assert!(err
        .to_string()
        .contains("only its manufacturer acme-pharma may"));

    let err = w
        .act(DISTRIBUTOR, commission_action(&["X1"]))
        .expect_err("counterfeit commission");
    assert!(
        matches!(err, SupplyError::CommissionByNonManufacturer { .. }),
        "{err}"
    );
    assert!(err
        .to_string()
        .contains("only the manufacturer may commission its packs"));
    assert!(w
        .store
        .entries
        .keys()
        .all(|k| !k.starts_with(b"supply/pack/")));
}

#[test]
fn serials_are_unique_per_gtin() {
    let mut w = World::new();
    w.commission(&["1"]);
    let err = refused(&mut w, MANUFACTURER, commission_action(&["2", "1"]));
    assert_eq!(err, SupplyError::DuplicateSerial(sgtin("1")));
    assert!(err.to_string().contains("serials are unique per GTIN"));
    assert!(
        w.store.entries.keys().all(|k| !k.ends_with(b"/2")),
        "no partial commission"
    );
    let err = refused(&mut w, MANUFACTURER, commission_action(&["3", "3"]));
    assert_eq!(err, SupplyError::DuplicateSerial(sgtin("3")));
}

#[test]
fn bad_gtin_check_digits_are_refused_with_the_right_digit() {
    let err = Gtin::parse("80614141123459").unwrap_err();
    assert_eq!(
        err,
        Gs1Error::CheckDigit {
            kind: "GTIN",
            value: "80614141123459".into(),
            found: 9,
            expected: 8
        }
    );
    // Also inside an EPCIS event and a JSON transaction body.
    let event = json!({
        "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-03-01T07:00:00Z",
        "epcisBody": {"eventList": [{
            "type": "ObjectEvent", "eventTime": "2026-03-01T07:00:00Z", "eventTimeZoneOffset": "+00:00",
            "epcList": ["https://id.gs1.org/01/80614141123459/21/1"], "action": "ADD",
            "bizStep": "commissioning",
            "ilmd": {"cbvmda:lotNumber": "L1", "cbvmda:itemExpirationDate": "2027-01-01"}
        }]}
    });
    let err = custodia_supply::epcis::parse_document(event.to_string().as_bytes()).unwrap_err();
    assert!(
        err.to_string().contains("check digit is 9, expected 8"),
        "{err}"
    );
    let body = json!({"action": "dispense", "packs": [{"gtin": "80614141123459", "serial": "1"}]});
    let err = serde_json::from_value::<SupplyAction>(body).unwrap_err();
    assert!(err.to_string().contains("expected 8"), "{err}");
}

#[test]
fn commissioning_checks_lot_and_shelf_life() {
    let mut w = World::new();
    let mut c = Commission {
        gtin: gtin(),
        serials: vec![Serial::parse("1").unwrap()],
        lot: Lot::parse(LOT).unwrap(),
        expiry: Date::parse("2030-01-01").unwrap(),
        location: None,
    };
    let err = refused(&mut w, MANUFACTURER, SupplyAction::Commission(c.clone()));
    assert!(err.to_string().contains("beyond product"), "{err}");
    assert!(
        err.to_string()
            .contains("shelf life of 730 days (latest 2028-02-29)"),
        "{err}"
    );
    c.expiry = Date::parse("2026-03-01").unwrap();
    let err = refused(&mut w, MANUFACTURER, SupplyAction::Commission(c.clone()));
    assert!(
        err.to_string()
            .contains("is not after the commissioning date"),
        "{err}"
    );
    w.commission(&["1"]);
    c.serials = vec![Serial::parse("2").unwrap()];
    c.expiry = Date::parse("2027-05-31").unwrap();
    let err = refused(&mut w, MANUFACTURER, SupplyAction::Commission(c));
    assert!(
        matches!(err, SupplyError::LotExpiryMismatch { .. }),
        "{err}"
    );
}

#[test]
fn containers_move_as_a_whole() {
    let mut w = World::new();
    w.commission(&["1", "2", "3"]);
    w.pack_into(MANUFACTURER, 1, vec![pack_id("1"), pack_id("2")]);
    // A packed pack cannot be shipped, dispensed or packed elsewhere alone.
    let err = refused(
        &mut w,
        MANUFACTURER,
        ship_action(vec![pack_id("1")], DISTRIBUTOR, "S1"),
    );
    assert!(matches!(err, SupplyError::InsideContainer { .. }), "{err}");
    assert!(err
        .to_string()
        .contains("unpack it first, or act on the container"));
    let err = refused(
        &mut w,
        MANUFACTURER,
        SupplyAction::Pack {
            container: sscc(2),
            children: vec![pack_id("1")],
        },
    );
    assert!(matches!(err, SupplyError::InsideContainer { .. }), "{err}");
    // A case onto a pallet; the pallet cannot go into the case.
    w.pack_into(MANUFACTURER, 9, vec![case_id(1), pack_id("3")]);
    let err = refused(
        &mut w,
        MANUFACTURER,
        SupplyAction::Pack {
            container: sscc(1),
            children: vec![case_id(9)],
        },
    );
    assert!(matches!(err, SupplyError::ContainerCycle(_)), "{err}");
    // Nobody else may unpack or pack into it.
    let err = refused(
        &mut w,
        DISTRIBUTOR,
        SupplyAction::Unpack {
            container: sscc(9),
            children: vec![],
        },
    );
    assert!(matches!(err, SupplyError::NotCustodian { .. }), "{err}");
    let err = refused(
        &mut w,
        MANUFACTURER,
        SupplyAction::Unpack {
            container: sscc(9),
            children: vec![pack_id("1")],
        },
    );
    assert!(matches!(err, SupplyError::NotInContainer { .. }), "{err}");
    // Shipping the pallet moves everything on it, recursively.
    w.ship(MANUFACTURER, vec![case_id(9)], DISTRIBUTOR, "S1");
    for serial in ["1", "2", "3"] {
        assert!(matches!(
            w.pack(serial).status,
            custodia_supply::model::PackStatus::InTransit(_)
        ));
    }
    w.receive(DISTRIBUTOR, vec![case_id(9)]);
    assert_eq!(w.pack("2").custodian, org(DISTRIBUTOR));
    assert_eq!(w.pack("2").container, Some(sscc(1)));
}

#[test]
fn shipping_rules() {
    let mut w = World::new();
    w.commission(&["1", "2"]);
    let err = refused(
        &mut w,
        MANUFACTURER,
        ship_action(vec![pack_id("1")], MANUFACTURER, "S1"),
    );
    assert!(matches!(err, SupplyError::ShipToSelf { .. }), "{err}");
    w.ship(MANUFACTURER, vec![pack_id("1")], DISTRIBUTOR, "S1");
    let err = refused(
        &mut w,
        MANUFACTURER,
        ship_action(vec![pack_id("2")], DISTRIBUTOR, "S1"),
    );
    assert!(matches!(err, SupplyError::ShipmentExists(_)), "{err}");
    // Shipment ids are each shipper's own: another member using the same
    // id (say, having seen this one in the mempool) claims nothing of the
    // manufacturer's, and the manufacturer's next shipment is not blocked
    // by someone else's.
    w.commission(&["7"]);
    w.ship(MANUFACTURER, vec![pack_id("7")], PHARMACY, "S1-next");
    w.receive(PHARMACY, vec![pack_id("7")]);
    w.ship(PHARMACY, vec![pack_id("7")], DISTRIBUTOR, "S2");
    w.commission(&["8"]);
    w.ship(MANUFACTURER, vec![pack_id("8")], DISTRIBUTOR, "S2");
    w.receive(DISTRIBUTOR, vec![pack_id("7"), pack_id("8")]);
    // A return must go back to someone who held the pack.
    w.receive(DISTRIBUTOR, vec![pack_id("1")]);
    let mut ret = Ship {
        shipment: ShipmentId::new("R1").unwrap(),
        items: vec![pack_id("1")],
        to: org(PHARMACY),
        returning: true,
    };
    let err = refused(&mut w, DISTRIBUTOR, SupplyAction::Ship(ret.clone()));
    assert!(matches!(err, SupplyError::ReturnToStranger { .. }), "{err}");
    ret.to = org(MANUFACTURER);
    w.ok(DISTRIBUTOR, SupplyAction::Ship(ret));
    w.receive(MANUFACTURER, vec![pack_id("1")]);
    assert_eq!(w.pack("1").custodian, org(MANUFACTURER));
}

#[test]
fn an_unknown_serial_is_refused() {
    let mut w = World::new();
    let err = refused(
        &mut w,
        PHARMACY,
        SupplyAction::Dispense {
            packs: vec![sgtin("404")],
        },
    );
    assert_eq!(err, SupplyError::UnknownPack(sgtin("404")));
    assert!(err.to_string().contains("unknown serial"));
}

#[test]
fn devices_speak_only_for_their_own_organisation() {
    let mut w = World::new();
    w.commission(&["1"]);
    let site = ReadingScope::Site { location: None };
    let batch = |device: &str| SupplyAction::RecordReadings {
        device: device.into(),
        scope: site.clone(),
        readings: vec![Reading::celsius(T0 - MINUTE, 5.0)],
    };
    let err = refused(&mut w, DISTRIBUTOR, batch("truck-7"));
    assert!(matches!(err, SupplyError::UnknownDevice(_)), "{err}");
    w.ok(
        DISTRIBUTOR,
        SupplyAction::RegisterDevice {
            device: "truck-7".into(),
        },
    );
    let err = refused(
        &mut w,
        PHARMACY,
        SupplyAction::RegisterDevice {
            device: "truck-7".into(),
        },
    );
    assert!(matches!(err, SupplyError::DeviceExists { .. }), "{err}");
    let err = refused(&mut w, PHARMACY, batch("truck-7"));
    assert!(matches!(err, SupplyError::DeviceOfOtherOrg { .. }), "{err}");
    assert!(err
        .to_string()
        .contains("registered to medline-logistics; it cannot report for corner-pharmacy"));
    // A device reports on shipments its organisation sends or receives only.
    let s1 = w.ship(MANUFACTURER, vec![pack_id("1")], PHARMACY, "S1");
    let err = refused(
        &mut w,
        DISTRIBUTOR,
        SupplyAction::RecordReadings {
            device: "truck-7".into(),
            scope: ReadingScope::Shipment(s1),
            readings: vec![Reading::celsius(T0, 5.0)],
        },
    );
    assert!(matches!(err, SupplyError::NotShipmentParty { .. }), "{err}");
    // Time moves forward only, and not past the block time.
    w.ok(DISTRIBUTOR, batch("truck-7"));
    let err = refused(&mut w, DISTRIBUTOR, batch("truck-7"));
    assert!(
        err.to_string()
            .contains("is not after the previous reading"),
        "{err}"
    );
    let err = refused(
        &mut w,
        DISTRIBUTOR,
        SupplyAction::RecordReadings {
            device: "truck-7".into(),
            scope: site,
            readings: vec![Reading::celsius(T0 + HOUR, 5.0)],
        },
    );
    assert!(err.to_string().contains("after the block time"), "{err}");
}

#[test]
fn malformed_or_unsupported_epcis_is_refused() {
    let mut w = World::new();
    w.commission(&["1"]);
    let event = |step: &str, action: &str, extra: serde_json::Value| {
        let mut e = json!({
            "type": "ObjectEvent", "eventTime": "2026-03-01T07:00:00Z", "eventTimeZoneOffset": "+00:00",
            "epcList": [format!("https://id.gs1.org/01/{GTIN}/21/1")],
            "action": action, "bizStep": step
        });
        if let (Some(m), Some(x)) = (e.as_object_mut(), extra.as_object()) {
            m.extend(x.clone());
        }
        json!({"type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-03-01T07:00:00Z",
               "epcisBody": {"eventList": [e]}})
    };
    let before = w.custody_state();
    let err = w
        .epcis_json(MANUFACTURER, &event("inspecting", "OBSERVE", json!({})))
        .unwrap_err();
    assert!(err.to_string().starts_with(
        "event 1: ObjectEvent with bizStep inspecting and action OBSERVE is not supported"
    ));
    let err = w
        .epcis_json(MANUFACTURER, &event("shipping", "OBSERVE", json!({})))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("shipping needs a destinationList entry"),
        "{err}"
    );
    let err = w
        .epcis_json(
            MANUFACTURER,
            &event(
                "shipping",
                "OBSERVE",
                json!({"destinationList": [{"type": "owning_party", "destination": "urn:epc:id:pgln:9999999.00001"}]}),
            ),
        )
        .unwrap_err();
    assert!(matches!(err.root(), SupplyError::UnknownParty(_)), "{err}");
    let err = w
        .epcis_json(MANUFACTURER, &event("commissioning", "ADD", json!({})))
        .unwrap_err();
    assert!(
        err.to_string().contains("commissioning needs ilmd"),
        "{err}"
    );
    assert_eq!(w.custody_state(), before);
}

#[test]
fn an_epcis_document_is_all_or_nothing() {
    let mut w = World::new();
    w.ok(
        DISTRIBUTOR,
        SupplyAction::LinkParty {
            party: "urn:epc:id:pgln:0012345.00001".into(),
        },
    );
    let err = w
        .act(
            PHARMACY,
            SupplyAction::LinkParty {
                party: "urn:epc:id:pgln:0012345.00001".into(),
            },
        )
        .unwrap_err();
    assert!(matches!(err, SupplyError::PartyClaimed { .. }), "{err}");
    let mut events = fixture_events("lifecycle_urn.json");
    events.truncate(3); // commission, pack, ship (to the distributor)
                        // The same document, with the shipment going to a party nobody linked.
    let mut bad = events.clone();
    if let custodia_supply::epcis::Event::Object(o) = &mut bad[2] {
        o.common.destination_list[0].id = "urn:epc:id:pgln:7777777.00001".into();
    }
    let err = w.epcis(MANUFACTURER, bad).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("event 3: party urn:epc:id:pgln:7777777.00001 is not linked"),
        "{err}"
    );
    assert!(
        w.store
            .entries
            .keys()
            .all(|k| !k.starts_with(b"supply/pack/")),
        "the commissioning in event 1 was discarded with the document"
    );
    w.epcis(MANUFACTURER, events).unwrap();
    assert!(matches!(
        w.pack("2017").status,
        custodia_supply::model::PackStatus::InTransit(_)
    ));
}

#[test]
fn packs_are_shipped_only_to_members() {
    let mut w = World::new();
    w.commission(&["1"]);
    w.store.members = Some([MANUFACTURER, DISTRIBUTOR].map(org).into());
    let err = w
        .act(
            MANUFACTURER,
            SupplyAction::Ship(Ship {
                shipment: ShipmentId::new("S-nowhere").unwrap(),
                to: org("nowhere-pharma"),
                items: vec![pack_id("1")],
                returning: false,
            }),
        )
        .unwrap_err();
    assert!(
        matches!(&err, SupplyError::NotAMember(to) if *to == org("nowhere-pharma")),
        "{err}"
    );
    w.ship(MANUFACTURER, vec![pack_id("1")], DISTRIBUTOR, "S1");
}

#[test]
fn an_organisation_uri_always_means_that_organisation() {
    let mut w = World::new();
    let pharmacy = format!("urn:custodia:org:{PHARMACY}");
    // Nobody links it, not even the organisation it names: if another
    // could, shipments addressed to the pharmacy would be theirs.
    for who in [DISTRIBUTOR, PHARMACY] {
        let err = w
            .act(
                who,
                SupplyAction::LinkParty {
                    party: pharmacy.clone(),
                },
            )
            .unwrap_err();
        assert!(err.to_string().contains("cannot be linked"), "{err}");
    }
    // A shipment addressed by that URI goes to the pharmacy, not to
    // whoever receives first.
    let mut events = fixture_events("lifecycle_urn.json");
    events.truncate(3); // commission, pack, ship
    if let custodia_supply::epcis::Event::Object(o) = &mut events[2] {
        o.common.destination_list[0].id = pharmacy;
    }
    w.epcis(MANUFACTURER, events).unwrap();
    let shipped = w.pack("2017");
    match shipped.status {
        custodia_supply::model::PackStatus::InTransit(transit) => {
            assert_eq!(transit.to, org(PHARMACY));
        }
        other => panic!("not in transit: {other:?}"),
    }
}

#[test]
fn an_item_named_twice_is_refused() {
    let mut w = World::new();
    w.commission(&["1"]);
    let err = refused(
        &mut w,
        MANUFACTURER,
        ship_action(vec![pack_id("1"), pack_id("1")], DISTRIBUTOR, "S1"),
    );
    assert_eq!(err, SupplyError::NamedTwice(pack_id("1")));
}
