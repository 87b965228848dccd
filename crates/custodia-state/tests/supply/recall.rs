//! Packs taken out of use: a recall by lot reaches every pack wherever it
//! is, and an expired pack is not dispensed.

use crate::world::*;
use custodia_supply::gs1::{Lgtin, Lot};
use custodia_supply::ledger::{recall_report, SupplyAction};
use custodia_supply::model::OrgId as SupplyOrg;
use custodia_supply::module::SupplyView;

#[test]
fn a_recall_reaches_every_pack_of_the_lot_wherever_it_is() {
    let mut w = World::new();
    w.commission(&["1", "2", "3", "4"], "2027-06-30");
    w.ok(
        MANUFACTURER,
        SupplyAction::Pack {
            container: sscc(1),
            children: vec![pack_id("1"), pack_id("2")],
        },
    );
    w.ok(
        MANUFACTURER,
        SupplyAction::Pack {
            container: sscc(2),
            children: vec![case_id(1)],
        },
    );
    w.ship(
        MANUFACTURER,
        vec![case_id(2), pack_id("3")],
        DISTRIBUTOR,
        "S1",
    );
    w.receive(DISTRIBUTOR, vec![case_id(2), pack_id("3")]);
    w.ship(DISTRIBUTOR, vec![pack_id("3")], PHARMACY, "S2");
    w.receive(PHARMACY, vec![pack_id("3")]);
    let lot = Lgtin::new(gtin(), Lot::parse(LOT).unwrap());
    w.refused(
        DISTRIBUTOR,
        SupplyAction::RecallLot {
            lot: lot.clone(),
            reason: "particles".into(),
        },
        "only its manufacturer",
    );
    w.ok(
        MANUFACTURER,
        SupplyAction::RecallLot {
            lot: lot.clone(),
            reason: "particles".into(),
        },
    );
    for serial in ["1", "2", "3", "4"] {
        assert!(w.pack(serial).recalled, "pack {serial}");
        assert!(w.verify(serial).recalled);
    }
    let report = recall_report(&SupplyView(&w.chain.state), &lot).unwrap();
    assert_eq!(report.outstanding, 4);
    let where_: Vec<(String, SupplyOrg, usize)> = report
        .packs
        .iter()
        .map(|p| {
            (
                p.sgtin.serial.to_string(),
                p.custodian.clone(),
                p.containers.len(),
            )
        })
        .collect();
    assert_eq!(
        where_,
        vec![
            ("1".into(), supply_org(DISTRIBUTOR), 2),
            ("2".into(), supply_org(DISTRIBUTOR), 2),
            ("3".into(), supply_org(PHARMACY), 0),
            ("4".into(), supply_org(MANUFACTURER), 0),
        ]
    );
    w.refused(PHARMACY, dispense("3"), "recalled");
}

#[test]
fn expired_packs_are_not_dispensed() {
    let mut w = World::new();
    w.commission(&["1"], "2026-03-10");
    w.ship(MANUFACTURER, vec![pack_id("1")], PHARMACY, "S1");
    w.receive(PHARMACY, vec![pack_id("1")]);
    // Usable through its expiry date (block time decides)...
    w.chain.time_ms = T0 + 9 * DAY;
    assert!(!w.verify("1").expired);
    // ...not after.
    w.chain.time_ms = T0 + 10 * DAY;
    let v = w.verify("1");
    assert!(v.expired && !v.ok);
    w.refused(PHARMACY, dispense("1"), "expired on 2026-03-10");
    // An expiry beyond the product's shelf life is refused at commissioning.
    w.refused(MANUFACTURER, commission(&["2"], "2030-01-01"), "shelf life");
}
