//! Devices: registered as device agents of their organisation, the only
//! keys that sign readings, and only about the custody their organisation
//! takes part in; a cold-chain excursion compromises exactly the packs in
//! the measured custody.

use crate::common::*;
use crate::world::*;
use commonware_cryptography::Signer as _;
use custodia_state::TxStatus;
use custodia_supply::ledger::{SupplyAction, SupplyStore};
use custodia_supply::model::{ReadingScope, ShipmentId, ShipmentRef};
use custodia_supply::module::SupplyView;
use custodia_types::{key_hex, Body, PrivateKey};

#[test]
fn readings_come_only_from_the_organisations_own_registered_devices() {
    let mut w = World::new();
    w.commission(&["1"], "2027-06-30");
    w.ship(MANUFACTURER, vec![pack_id("1")], DISTRIBUTOR, "S1");
    let now = w.chain.time_ms;
    let batch = || celsius(now - 10 * MINUTE, &[(0, 5.0), (1, 5.1)]);
    let s1 = ReadingScope::Shipment(ShipmentRef {
        from: supply_org(MANUFACTURER),
        id: ShipmentId::new("S1").unwrap(),
    });

    // An unregistered key cannot sign anything.
    let stranger = PrivateKey::from_seed(999);
    let status = w.readings(&stranger, s1.clone(), batch());
    assert!(
        rejected(&status, "not a registered member admin or agent"),
        "{status:?}"
    );

    // The pharmacy's fridge is not a party to shipment S1.
    let fridge = w.fridge.clone();
    let status = w.readings(&fridge, s1.clone(), batch());
    assert!(rejected(&status, "cannot report on it"), "{status:?}");

    // A device signing another organisation's device's readings.
    let action = SupplyAction::RecordReadings {
        device: key_hex(&w.truck.public_key()),
        scope: ReadingScope::Site { location: None },
        readings: batch(),
    };
    let status = w.signed(&fridge, supply(action.clone()));
    assert!(rejected(&status, "registered to org-1"), "{status:?}");

    // A person's or system's key is not a device; neither is an admin's.
    let status = w.act(DISTRIBUTOR, action.clone());
    assert!(
        rejected(&status, "signed by the device's own key"),
        "{status:?}"
    );
    let admin = w.chain.admins[DISTRIBUTOR].clone();
    let status = w.signed(&admin, supply(action));
    assert!(
        rejected(&status, "signed by the device's own key"),
        "{status:?}"
    );

    // A device id that is no device agent.
    let agent_hex = key_hex(&w.agents[DISTRIBUTOR].public_key());
    let action = SupplyAction::RecordReadings {
        device: agent_hex,
        scope: s1.clone(),
        readings: batch(),
    };
    let truck = w.truck.clone();
    let status = w.signed(&truck, supply(action));
    assert!(rejected(&status, "is not registered"), "{status:?}");

    // A device may only report readings.
    let status = w.signed(&truck, supply(receive(vec![pack_id("1")])));
    assert!(rejected(&status, "devices may only report"), "{status:?}");

    // The truck is the distributor's, and S1 goes to the distributor.
    let status = w.readings(&truck, s1, batch());
    assert_eq!(status, TxStatus::Applied);
    let device = SupplyView(&w.chain.state)
        .device(&key_hex(&truck.public_key()))
        .unwrap()
        .expect("the device's record exists after its first readings");
    assert_eq!(device.org, supply_org(DISTRIBUTOR));

    // A revoked device is refused.
    w.signed(
        &admin,
        Body::RevokeAgent {
            key: truck.public_key(),
        },
    );
    let status = w.readings(
        &truck,
        ReadingScope::Site { location: None },
        celsius(w.chain.time_ms - MINUTE, &[(0, 5.0)]),
    );
    assert!(rejected(&status, "revoked"), "{status:?}");
}

#[test]
fn devices_register_as_device_agents_of_their_organisation() {
    let mut w = World::new();
    let truck = key_hex(&w.truck.public_key());
    w.refused(
        PHARMACY,
        SupplyAction::RegisterDevice {
            device: truck.clone(),
        },
        "registered to org-1",
    );
    w.refused(
        DISTRIBUTOR,
        SupplyAction::RegisterDevice {
            device: "urn:epc:id:giai:0012345.TRUCK7".into(),
        },
        "is not registered",
    );
    w.ok(DISTRIBUTOR, SupplyAction::RegisterDevice { device: truck });
}

#[test]
fn cold_chain_flags_exactly_the_packs_in_the_measured_custody() {
    let mut w = World::new();
    w.commission(&["1", "2", "3", "4", "5"], "2027-06-30");
    w.ok(
        MANUFACTURER,
        SupplyAction::Pack {
            container: sscc(1),
            children: vec![pack_id("1"), pack_id("2")],
        },
    );
    // Case 1 (packs 1, 2) and pack 3 travel in S1 on the truck; pack 4 in
    // S2 without a logger; pack 5 stays at the manufacturer.
    w.chain.time_ms = T0 + HOUR;
    w.ship(
        MANUFACTURER,
        vec![case_id(1), pack_id("3")],
        DISTRIBUTOR,
        "S1",
    );
    w.ship(MANUFACTURER, vec![pack_id("4")], DISTRIBUTOR, "S2");
    let start = T0 + HOUR + 10 * MINUTE;
    let s1 = ReadingScope::Shipment(ShipmentRef {
        from: supply_org(MANUFACTURER),
        id: ShipmentId::new("S1").unwrap(),
    });
    let truck = w.truck.clone();
    let all = ["1", "2", "3", "4", "5"];

    // In range: nothing.
    w.chain.time_ms = start + 31 * MINUTE;
    let batch = celsius(start, &[(0, 4.0), (10, 5.5), (20, 7.9), (30, 2.1)]);
    assert_eq!(w.readings(&truck, s1.clone(), batch), TxStatus::Applied);
    assert!(w.compromised(&all).is_empty());

    // A 20-minute excursion (allowed: 30): nothing.
    w.chain.time_ms = start + 71 * MINUTE;
    let batch = celsius(start, &[(40, 9.5), (50, 11.0), (60, 6.0), (70, 5.0)]);
    assert_eq!(w.readings(&truck, s1.clone(), batch), TxStatus::Applied);
    assert!(w.compromised(&all).is_empty());

    // A 50-minute excursion: exactly the packs in S1, inside the case too.
    w.chain.time_ms = start + 141 * MINUTE;
    let batch = celsius(
        start,
        &[(80, 12.0), (100, 14.5), (120, 10.0), (130, 5.0), (140, 4.0)],
    );
    assert_eq!(w.readings(&truck, s1, batch), TxStatus::Applied);
    assert_eq!(w.compromised(&all), ["1", "2", "3"]);
    let evidence = &w.pack("2").compromised[0];
    assert_eq!(evidence.device, key_hex(&truck.public_key()));
    assert_eq!(evidence.org, supply_org(DISTRIBUTOR));
    assert_eq!(evidence.from_ms, start + 80 * MINUTE);
    assert_eq!(evidence.until_ms, start + 130 * MINUTE);
    assert_eq!(evidence.values.max_celsius, Some(14.5));
    let v = w.verify("1");
    assert!(v.compromised && !v.ok);
    assert!(v.reasons.iter().any(|r| r.contains("cold-chain excursion")));

    // The distributor receives them; a compromised pack cannot be dispensed
    // further down the chain.
    w.receive(DISTRIBUTOR, vec![case_id(1), pack_id("3")]);
    w.ship(DISTRIBUTOR, vec![pack_id("3")], PHARMACY, "S3");
    w.receive(PHARMACY, vec![pack_id("3")]);
    w.refused(PHARMACY, dispense("3"), "compromised");
}
