//! Records that must stay bounded: a record growing past what the store
//! holds is refused and the chain goes on; a flood of refused attempts on
//! one serial keeps a bounded list of signals.

use crate::world::*;
use custodia_state::TxStatus;
use custodia_supply::gs1::{Lot, Serial};
use custodia_supply::ledger::{Commission, SupplyAction, SupplyStore};
use custodia_supply::model::CounterfeitSignal;
use custodia_supply::module::SupplyView;
use custodia_supply::time::Date;

#[test]
fn a_record_growing_past_what_the_store_holds_is_refused_and_the_chain_goes_on() {
    let mut w = World::new();
    // A lot's record lists its serials (about 10 bytes each here); the
    // store holds 64 KiB a record. The manufacturer's site list is spread
    // over buckets and stays small.
    let mut refused = None;
    for batch in 0..20 {
        let serials: Vec<String> = (0..500).map(|i| format!("N{batch:02}{i:04}")).collect();
        let serials: Vec<&str> = serials.iter().map(String::as_str).collect();
        let status = w.act(MANUFACTURER, commission(&serials, "2027-06-30"));
        if status != TxStatus::Applied {
            refused = Some((batch, reason(&status)));
            break;
        }
    }
    let (batch, reason) = refused.expect("a record past 64 KiB is refused");
    assert!(
        batch >= 10,
        "5 000 packs fit in one lot: refused at batch {batch}"
    );
    assert!(
        reason.contains("supply/lot/") && reason.contains("65536"),
        "{reason}"
    );
    // Nothing of the refused batch was written; later actions still apply.
    assert!(SupplyView(&w.chain.state)
        .pack(&sgtin(&format!("N{batch:02}0000")))
        .unwrap()
        .is_none());
    w.ok(
        MANUFACTURER,
        SupplyAction::Commission(Commission {
            gtin: gtin(),
            serials: vec![Serial::parse("after").unwrap()],
            lot: Lot::parse("L2026B").unwrap(),
            expiry: Date::parse("2027-06-30").unwrap(),
            location: None,
        }),
    );
}

#[test]
fn a_flood_of_refused_attempts_on_one_serial_keeps_a_bounded_record() {
    let mut w = at_the_pharmacy();
    w.ok(PHARMACY, dispense("3"));
    for _ in 0..custodia_supply::ledger::MAX_SIGNAL_RECORDS + 4 {
        w.refused(PHARMACY_2, dispense("3"), "already dispensed");
    }
    let v = w.verify("3");
    assert_eq!(v.signals, vec![CounterfeitSignal::DispensedTwice]);
    assert_eq!(
        v.signal_records.len(),
        custodia_supply::ledger::MAX_SIGNAL_RECORDS
    );
}
