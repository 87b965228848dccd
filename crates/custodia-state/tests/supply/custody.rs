//! A pack's journey and the custody rules: who may ship, receive and
//! dispense, the counterfeit signals a wrong event leaves although it is
//! refused, and what a refusal that is no signal leaves behind.

use crate::world::*;
use commonware_cryptography::Signer as _;
use custodia_state::StateRead;
use custodia_supply::ledger::{trace_pack, SupplyAction};
use custodia_supply::model::{CounterfeitSignal, OrgId as SupplyOrg, PackStatus};
use custodia_supply::module::SupplyView;
use custodia_types::key_hex;

#[test]
fn a_pack_travels_from_manufacturer_to_patient_across_three_organisations() {
    let mut w = at_the_pharmacy();
    let before = w.verify("1");
    assert!(before.ok, "{:?}", before.reasons);
    assert!(before.genuine && before.custody_ok);
    assert_eq!(before.custodian, Some(supply_org(PHARMACY)));
    assert_eq!(
        before.lot.as_ref().map(ToString::to_string),
        Some(LOT.into())
    );

    w.ok(PHARMACY, dispense("1"));
    let after = w.verify("1");
    assert!(after.dispensed && !after.ok);
    assert_eq!(after.signals, Vec::<CounterfeitSignal>::new());
    // The trail names each organisation, its signing agent and the
    // transaction, in order.
    let orgs: Vec<usize> = after
        .trail
        .iter()
        .map(|e| {
            (0..4)
                .find(|i| e.org == supply_org(*i))
                .expect("a member organisation")
        })
        .collect();
    assert_eq!(
        orgs,
        [
            MANUFACTURER, // commissioned
            MANUFACTURER, // packed
            MANUFACTURER, // shipped
            DISTRIBUTOR,  // received
            DISTRIBUTOR,  // shipped
            PHARMACY,     // received
            PHARMACY,     // unpacked
            PHARMACY,     // dispensed
        ]
    );
    for entry in &after.trail {
        let agent = (0..4)
            .find(|i| entry.org == supply_org(*i))
            .map(|i| key_hex(&w.agents[i].public_key()));
        assert_eq!(Some(entry.agent.clone()), agent);
        assert_eq!(entry.tx.len(), 64, "the trail names the transaction id");
        let receipt = w.chain.state.get(format!("tx/{}", entry.tx).as_bytes());
        assert!(
            receipt.is_some(),
            "the transaction {} is on the chain",
            entry.tx
        );
    }
    let trace = trace_pack(&SupplyView(&w.chain.state), &sgtin("2")).unwrap();
    assert_eq!(trace.pack.custodian, supply_org(PHARMACY));
    assert_eq!(trace.pack.status, PackStatus::Active);
}

#[test]
fn only_the_current_custodian_may_ship() {
    let mut w = World::new();
    w.commission(&["1"], "2027-06-30");
    let before = w.custody();
    let message = w.refused(
        DISTRIBUTOR,
        ship(vec![pack_id("1")], PHARMACY, "S9"),
        "only the current custodian may ship",
    );
    assert!(message.contains("org-0"), "{message}");
    assert_eq!(w.custody(), before, "a refusal writes nothing");
}

#[test]
fn only_the_named_receiver_may_receive_and_a_wrong_receive_is_a_signal() {
    let mut w = World::new();
    w.commission(&["1"], "2027-06-30");
    w.ship(MANUFACTURER, vec![pack_id("1")], PHARMACY, "S1");
    let before = w.custody();
    w.refused(
        PHARMACY_2,
        receive(vec![pack_id("1")]),
        "only the named receiver may receive",
    );
    assert_eq!(w.custody(), before, "custody does not move");
    // The refused attempt is kept as a counterfeit signal on the serial.
    let v = w.verify("1");
    assert_eq!(v.signals, vec![CounterfeitSignal::ReceiveWithoutShip]);
    assert_eq!(v.signal_records[0].by, supply_org(PHARMACY_2));
    assert!(!v.custody_ok && !v.ok);
    // The named receiver still can.
    w.receive(PHARMACY, vec![pack_id("1")]);
    assert_eq!(w.pack("1").custodian, supply_org(PHARMACY));
}

#[test]
fn packs_are_shipped_only_to_member_organisations() {
    let mut w = World::new();
    w.commission(&["1"], "2027-06-30");
    // org-9 is well formed but not on this chain: the pack could never be
    // received.
    w.refused(
        MANUFACTURER,
        ship(vec![pack_id("1")], 9, "S-lost"),
        "not a member organisation",
    );
    w.ship(MANUFACTURER, vec![pack_id("1")], DISTRIBUTOR, "S1");
}

#[test]
fn a_dispensed_pack_takes_no_further_event() {
    let mut w = at_the_pharmacy();
    w.ok(PHARMACY, dispense("3"));
    w.refused(
        PHARMACY,
        ship(vec![pack_id("3")], PHARMACY_2, "S9"),
        "takes no further event",
    );
    w.refused(
        PHARMACY,
        SupplyAction::Decommission {
            packs: vec![sgtin("3")],
            reason: "damaged".into(),
        },
        "takes no further event",
    );
}

#[test]
fn a_second_dispense_is_a_clone_recorded_although_refused() {
    let mut w = at_the_pharmacy();
    w.ok(PHARMACY, dispense("1"));
    // The same serial presented again, here and at another pharmacy.
    w.refused(PHARMACY, dispense("1"), "clone");
    w.refused(PHARMACY_2, dispense("1"), "clone");
    let v = w.verify("1");
    assert!(!v.ok);
    assert_eq!(v.signals, vec![CounterfeitSignal::DispensedTwice]);
    let by: Vec<SupplyOrg> = v.signal_records.iter().map(|r| r.by.clone()).collect();
    assert_eq!(by, vec![supply_org(PHARMACY), supply_org(PHARMACY_2)]);
    assert!(v
        .reasons
        .iter()
        .any(|r| r.contains("counterfeit signal: dispensed twice")));
    // The original dispense stands.
    assert_eq!(
        w.pack("1").status,
        PackStatus::Dispensed {
            by: supply_org(PHARMACY),
            at_ms: v.trail.last().unwrap().at_ms
        }
    );
}

#[test]
fn unknown_serials_and_foreign_commissions_are_signals() {
    let mut w = World::new();
    w.refused(PHARMACY, dispense("404"), "unknown serial");
    let v = w.verify("404");
    assert!(!v.genuine);
    assert_eq!(v.signals, vec![CounterfeitSignal::UnknownSerial]);
    assert_eq!(
        v.signal_records.len(),
        1,
        "the refused dispense is recorded"
    );

    w.refused(
        DISTRIBUTOR,
        commission(&["7"], "2027-06-30"),
        "only the manufacturer may commission",
    );
    let v = w.verify("7");
    assert!(v
        .signals
        .contains(&CounterfeitSignal::CommissionedByNonManufacturer));
}

#[test]
fn a_refusal_that_is_no_signal_leaves_nothing_but_its_receipt() {
    let mut w = at_the_pharmacy();
    let before = w.chain.state.clone();
    w.refused(DISTRIBUTOR, dispense("1"), "only the current custodian");
    let changed: Vec<String> = w
        .chain
        .state
        .0
        .iter()
        .filter(|(k, v)| before.0.get(*k) != Some(*v))
        .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
        .collect();
    assert_eq!(changed.len(), 2, "{changed:?}");
    assert!(changed.iter().any(|k| k.starts_with("tx/")));
    assert!(changed.iter().any(|k| k.starts_with("id/nonce/")));
}
