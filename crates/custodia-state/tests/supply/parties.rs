//! Who may act in the supply chain: nodes sign only for their own
//! organisation's agents, only manufacturers register products, nobody acts
//! in a device's name, and patients take no part.

use crate::common::*;
use crate::world::*;
use commonware_cryptography::Signer as _;
use custodia_state::TxStatus;
use custodia_supply::body::SupplyTx;
use custodia_supply::gs1::Gtin;
use custodia_supply::ledger::SupplyAction;
use custodia_supply::model::ReadingScope;
use custodia_types::{key_hex, PrivateKey};

#[test]
fn nodes_sign_for_their_own_organisations_agents_only() {
    let mut w = World::new();
    let node = validator(MANUFACTURER as u64);
    let action = commission(&["1"], "2027-06-30");
    // A node acting for itself.
    let status = w.signed(&node, supply(action.clone()));
    assert!(rejected(&status, "on behalf of"), "{status:?}");
    // For another organisation's agent.
    let foreign = SupplyTx::on_behalf_of(w.agents[PHARMACY].public_key(), action.clone()).unwrap();
    let status = w.signed(&node, foreign.into_body());
    assert!(
        rejected(&status, "not registered to the signing"),
        "{status:?}"
    );
    // For its own agent: the trail names the agent, not the node.
    let own = SupplyTx::on_behalf_of(w.agents[MANUFACTURER].public_key(), action).unwrap();
    assert_eq!(w.signed(&node, own.into_body()), TxStatus::Applied);
    let entry = &w.pack("1").history[0];
    assert_eq!(entry.agent, key_hex(&w.agents[MANUFACTURER].public_key()));
    // A node cannot pass off readings as a device's.
    let readings = SupplyTx::on_behalf_of(
        w.truck.public_key(),
        SupplyAction::RecordReadings {
            device: key_hex(&w.truck.public_key()),
            scope: ReadingScope::Site { location: None },
            readings: celsius(w.chain.time_ms - MINUTE, &[(0, 5.0)]),
        },
    )
    .unwrap();
    let status = w.signed(&validator(DISTRIBUTOR as u64), readings.into_body());
    assert!(
        rejected(&status, "may not act on behalf of a device"),
        "{status:?}"
    );
}

#[test]
fn only_manufacturers_register_products() {
    let mut w = World::new();
    // A pharmacy registering a GTIN under its own name would make the packs
    // it commissions verify as genuine.
    let mut own_brand = insulin();
    own_brand.gtin = Gtin::parse("80614141123465").unwrap();
    own_brand.manufacturer = supply_org(PHARMACY);
    w.refused(
        PHARMACY,
        SupplyAction::RegisterProduct(own_brand.clone()),
        "role is manufacturer",
    );
    own_brand.manufacturer = supply_org(MANUFACTURER);
    w.ok(MANUFACTURER, SupplyAction::RegisterProduct(own_brand));
}

#[test]
fn nobody_acts_in_a_devices_name() {
    let mut w = World::new();
    // The distributor's node, for the distributor's own truck logger: not
    // even its organisation's node may act as the device.
    let as_truck = SupplyTx::on_behalf_of(w.truck.public_key(), dispense("1")).unwrap();
    let status = w.signed(&validator(DISTRIBUTOR as u64), as_truck.into_body());
    assert!(
        rejected(&status, "may not act on behalf of a device"),
        "{status:?}"
    );
}

#[test]
fn patients_take_no_part() {
    let mut w = World::new();
    let patient = PrivateKey::from_seed(700);
    // Enrolling needs a Patient record; a bare principal is enough here.
    w.chain.state.0.insert(
        custodia_state::keys::principal(&patient.public_key()),
        serde_json::to_vec(&custodia_state::records::Principal::Patient {
            patient: custodia_types::Pseudonym::new([1; 32]),
        })
        .unwrap(),
    );
    let status = w.signed(&patient, supply(dispense("1")));
    assert!(rejected(&status, "patients do not take part"), "{status:?}");
}
