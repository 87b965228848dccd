//! Drug traceability through real signed transactions: the supply rules as
//! the state machine applies them, device identity, and counterfeit
//! signals kept although their transaction is refused.

mod common;

use common::*;
use commonware_cryptography::Signer as _;
use custodia_state::{modules::SupplyView, StateRead, TxStatus};
use custodia_supply::epcis;
use custodia_supply::gs1::{EpcUri, Gtin, Lgtin, Lot, Serial, Sgtin, Sscc};
use custodia_supply::ledger::{
    recall_report, trace_pack, verify, Commission, Receive, Ship, SupplyAction, SupplyStore,
    Verification, VerifyRequest,
};
use custodia_supply::model::{
    CounterfeitSignal, ItemId, OrgId as SupplyOrg, Pack, PackStatus, Product, Reading,
    ReadingScope, ShipmentId, ShipmentRef, StorageRange,
};
use custodia_supply::time::Date;
use custodia_types::{key_hex, AgentKind, Body, OrgRole, Params, PrivateKey, SupplyTx};

/// 2026-03-01T07:00:00Z
const T0: u64 = 1_772_348_400_000;
const MINUTE: u64 = 60_000;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

const MANUFACTURER: usize = 0;
const DISTRIBUTOR: usize = 1;
const PHARMACY: usize = 2;
const PHARMACY_2: usize = 3;

const GTIN: &str = "80614141123458";
const LOT: &str = "L2026A";

fn gtin() -> Gtin {
    Gtin::parse(GTIN).unwrap()
}

fn sgtin(serial: &str) -> Sgtin {
    Sgtin::new(gtin(), Serial::parse(serial).unwrap())
}

fn pack_id(serial: &str) -> ItemId {
    ItemId::Pack(sgtin(serial))
}

fn sscc(n: u32) -> Sscc {
    match EpcUri::parse(&format!("urn:epc:id:sscc:0614141.1{n:09}"))
        .unwrap()
        .epc
    {
        custodia_supply::gs1::Epc::Sscc(s) => s,
        other => panic!("not an SSCC: {other:?}"),
    }
}

fn case_id(n: u32) -> ItemId {
    ItemId::Container(sscc(n))
}

fn supply_org(i: usize) -> SupplyOrg {
    SupplyOrg::new(&format!("org-{i}")).unwrap()
}

/// Insulin pens: 2–8 °C, 30 minutes of excursion tolerated.
fn insulin() -> Product {
    Product {
        gtin: gtin(),
        name: "Insulin glargine 100 U/ml pen".into(),
        manufacturer: supply_org(MANUFACTURER),
        storage: StorageRange {
            min_celsius: 2.0,
            max_celsius: 8.0,
            min_humidity_pct: None,
            max_humidity_pct: None,
            max_excursion_minutes: 30,
        },
        shelf_life_days: 730,
        company_prefix_len: Some(7),
    }
}

/// Org 0 makes insulin, org 1 distributes it with a refrigerated truck
/// (a device agent), orgs 2 and 3 are pharmacies (org 2 has a fridge
/// probe). Each organisation has a service agent that signs its events.
struct World {
    chain: Chain,
    agents: Vec<PrivateKey>,
    truck: PrivateKey,
    fridge: PrivateKey,
}

impl World {
    fn new() -> Self {
        let mut chain = Chain::with_roles(
            &[
                OrgRole::Manufacturer,
                OrgRole::Distributor,
                OrgRole::Pharmacy,
                OrgRole::Pharmacy,
            ],
            Params::default(),
        );
        chain.time_ms = T0;
        let agents: Vec<PrivateKey> = (0..4).map(|i| PrivateKey::from_seed(500 + i)).collect();
        let truck = PrivateKey::from_seed(600);
        let fridge = PrivateKey::from_seed(601);
        let mut txs = Vec::new();
        for (i, agent) in agents.iter().enumerate() {
            txs.push(chain.tx(
                &chain.admins[i],
                Body::RegisterAgent {
                    key: agent.public_key(),
                    kind: AgentKind::Service,
                    label: "supply system".into(),
                },
            ));
        }
        assert!(chain.block(txs).iter().all(|s| *s == TxStatus::Applied));
        let txs = vec![
            chain.tx(
                &chain.admins[DISTRIBUTOR],
                Body::RegisterAgent {
                    key: truck.public_key(),
                    kind: AgentKind::Device,
                    label: "truck 7 logger".into(),
                },
            ),
            chain.tx(
                &chain.admins[PHARMACY],
                Body::RegisterAgent {
                    key: fridge.public_key(),
                    kind: AgentKind::Device,
                    label: "fridge probe".into(),
                },
            ),
        ];
        assert!(chain.block(txs).iter().all(|s| *s == TxStatus::Applied));
        let mut world = Self {
            chain,
            agents,
            truck,
            fridge,
        };
        world.ok(MANUFACTURER, SupplyAction::RegisterProduct(insulin()));
        world
    }

    /// One block holding `action` signed by `key`, at the current time; the
    /// clock then moves one second.
    fn signed(&mut self, key: &PrivateKey, body: Body) -> TxStatus {
        let tx = self.chain.tx(key, body);
        let status = self.chain.block(vec![tx]).remove(0);
        self.chain.time_ms += 1_000;
        status
    }

    fn act(&mut self, org: usize, action: SupplyAction) -> TxStatus {
        let key = self.agents[org].clone();
        self.signed(&key, supply(action))
    }

    fn ok(&mut self, org: usize, action: SupplyAction) {
        let described = action.name();
        let status = self.act(org, action);
        assert_eq!(status, TxStatus::Applied, "org-{org}: {described}");
    }

    fn refused(&mut self, org: usize, action: SupplyAction, needle: &str) -> String {
        let status = self.act(org, action);
        assert!(rejected(&status, needle), "expected {needle:?}: {status:?}");
        reason(&status)
    }

    fn readings(
        &mut self,
        device: &PrivateKey,
        scope: ReadingScope,
        batch: Vec<Reading>,
    ) -> TxStatus {
        let action = SupplyAction::RecordReadings {
            device: key_hex(&device.public_key()),
            scope,
            readings: batch,
        };
        self.signed(&device.clone(), supply(action))
    }

    fn commission(&mut self, serials: &[&str], expiry: &str) {
        self.ok(MANUFACTURER, commission(serials, expiry));
    }

    fn ship(&mut self, from: usize, items: Vec<ItemId>, to: usize, shipment: &str) {
        self.ok(from, ship(items, to, shipment));
    }

    fn receive(&mut self, org: usize, items: Vec<ItemId>) {
        self.ok(org, receive(items));
    }

    fn pack(&self, serial: &str) -> Pack {
        SupplyView(&self.chain.state)
            .pack(&sgtin(serial))
            .unwrap()
            .unwrap_or_else(|| panic!("no pack {serial}"))
    }

    fn verify(&self, serial: &str) -> Verification {
        verify(
            &SupplyView(&self.chain.state),
            &VerifyRequest::new(sgtin(serial), self.chain.time_ms),
        )
        .unwrap()
    }

    fn compromised(&self, serials: &[&str]) -> Vec<String> {
        serials
            .iter()
            .filter(|s| !self.pack(s).compromised.is_empty())
            .map(|s| s.to_string())
            .collect()
    }

    /// Every supply record except counterfeit signals: custody as stored.
    fn custody(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.chain
            .state
            .0
            .iter()
            .filter(|(k, _)| k.starts_with(b"supply/") && !k.starts_with(b"supply/signals/"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

fn supply(action: SupplyAction) -> Body {
    Body::Supply(SupplyTx::new(action).unwrap())
}

fn reason(status: &TxStatus) -> String {
    match status {
        TxStatus::Rejected { reason } => reason.clone(),
        TxStatus::Applied => String::new(),
    }
}

fn commission(serials: &[&str], expiry: &str) -> SupplyAction {
    SupplyAction::Commission(Commission {
        gtin: gtin(),
        serials: serials.iter().map(|s| Serial::parse(s).unwrap()).collect(),
        lot: Lot::parse(LOT).unwrap(),
        expiry: Date::parse(expiry).unwrap(),
        location: None,
    })
}

fn ship(items: Vec<ItemId>, to: usize, shipment: &str) -> SupplyAction {
    SupplyAction::Ship(Ship {
        shipment: ShipmentId::new(shipment).unwrap(),
        items,
        to: supply_org(to),
        returning: false,
    })
}

fn receive(items: Vec<ItemId>) -> SupplyAction {
    SupplyAction::Receive(Receive {
        items,
        location: None,
    })
}

fn dispense(serial: &str) -> SupplyAction {
    SupplyAction::Dispense {
        packs: vec![sgtin(serial)],
    }
}

fn celsius(from: u64, points: &[(u64, f64)]) -> Vec<Reading> {
    points
        .iter()
        .map(|(m, c)| Reading::celsius(from + m * MINUTE, *c))
        .collect()
}

/// Packs 1 and 2 in case 1, pack 3 loose: made by org 0, at org 1, then
/// at pharmacy org 2.
fn at_the_pharmacy() -> World {
    let mut w = World::new();
    w.commission(&["1", "2", "3"], "2027-06-30");
    w.ok(
        MANUFACTURER,
        SupplyAction::Pack {
            container: sscc(1),
            children: vec![pack_id("1"), pack_id("2")],
        },
    );
    w.ship(
        MANUFACTURER,
        vec![case_id(1), pack_id("3")],
        DISTRIBUTOR,
        "S1",
    );
    w.receive(DISTRIBUTOR, vec![case_id(1), pack_id("3")]);
    w.ship(DISTRIBUTOR, vec![case_id(1), pack_id("3")], PHARMACY, "S2");
    w.receive(PHARMACY, vec![case_id(1), pack_id("3")]);
    w.ok(
        PHARMACY,
        SupplyAction::Unpack {
            container: sscc(1),
            children: Vec::new(),
        },
    );
    w
}

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
    let revoke = w.chain.tx(
        &w.chain.admins[DISTRIBUTOR].clone(),
        Body::RevokeAgent {
            key: truck.public_key(),
        },
    );
    w.chain.block(vec![revoke]);
    w.chain.time_ms += 1_000;
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
fn nodes_sign_for_their_own_organisations_agents_only() {
    let mut w = World::new();
    let node = validator(MANUFACTURER as u64);
    let action = commission(&["1"], "2027-06-30");
    // A node acting for itself.
    let status = w.signed(&node, supply(action.clone()));
    assert!(rejected(&status, "on behalf of"), "{status:?}");
    // For another organisation's agent.
    let foreign = SupplyTx::on_behalf_of(w.agents[PHARMACY].public_key(), action.clone()).unwrap();
    let status = w.signed(&node, Body::Supply(foreign));
    assert!(
        rejected(&status, "not registered to the signing"),
        "{status:?}"
    );
    // For its own agent: the trail names the agent, not the node.
    let own = SupplyTx::on_behalf_of(w.agents[MANUFACTURER].public_key(), action).unwrap();
    assert_eq!(w.signed(&node, Body::Supply(own)), TxStatus::Applied);
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
    let status = w.signed(&validator(DISTRIBUTOR as u64), Body::Supply(readings));
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
fn nobody_acts_in_a_devices_name() {
    let mut w = World::new();
    // The distributor's node, for the distributor's own truck logger: not
    // even its organisation's node may act as the device.
    let as_truck = SupplyTx::on_behalf_of(w.truck.public_key(), dispense("1")).unwrap();
    let status = w.signed(&validator(DISTRIBUTOR as u64), Body::Supply(as_truck));
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
