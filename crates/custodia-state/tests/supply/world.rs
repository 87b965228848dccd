//! The supply world every test starts from: four member organisations
//! (a manufacturer, a distributor, two pharmacies), each with a service
//! agent, two device agents, and insulin registered as a product; the
//! constants, identifiers and action builders the tests share.

use crate::common::*;
use commonware_cryptography::Signer as _;
use custodia_state::TxStatus;
use custodia_supply::body::SupplyTx;
use custodia_supply::gs1::{EpcUri, Gtin, Lot, Serial, Sgtin, Sscc};
use custodia_supply::ledger::{
    verify, Commission, Receive, Ship, SupplyAction, SupplyStore, Verification, VerifyRequest,
};
use custodia_supply::model::{
    ItemId, OrgId as SupplyOrg, Pack, Product, Reading, ReadingScope, ShipmentId, StorageRange,
};
use custodia_supply::module::SupplyView;
use custodia_supply::time::Date;
use custodia_types::{key_hex, AgentKind, Body, OrgRole, Params, PrivateKey};

/// 2026-03-01T07:00:00Z
pub const T0: u64 = 1_772_348_400_000;
pub const MINUTE: u64 = 60_000;
pub const HOUR: u64 = 60 * MINUTE;
pub const DAY: u64 = 24 * HOUR;

pub const MANUFACTURER: usize = 0;
pub const DISTRIBUTOR: usize = 1;
pub const PHARMACY: usize = 2;
pub const PHARMACY_2: usize = 3;

pub const GTIN: &str = "80614141123458";
pub const LOT: &str = "L2026A";

pub fn gtin() -> Gtin {
    Gtin::parse(GTIN).unwrap()
}

pub fn sgtin(serial: &str) -> Sgtin {
    Sgtin::new(gtin(), Serial::parse(serial).unwrap())
}

pub fn pack_id(serial: &str) -> ItemId {
    ItemId::Pack(sgtin(serial))
}

pub fn sscc(n: u32) -> Sscc {
    match EpcUri::parse(&format!("urn:epc:id:sscc:0614141.1{n:09}"))
        .unwrap()
        .epc
    {
        custodia_supply::gs1::Epc::Sscc(s) => s,
        other => panic!("not an SSCC: {other:?}"),
    }
}

pub fn case_id(n: u32) -> ItemId {
    ItemId::Container(sscc(n))
}

pub fn supply_org(i: usize) -> SupplyOrg {
    SupplyOrg::new(&format!("org-{i}")).unwrap()
}

/// Insulin pens: 2–8 °C, 30 minutes of excursion tolerated.
pub fn insulin() -> Product {
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
pub struct World {
    pub chain: Chain,
    pub agents: Vec<PrivateKey>,
    pub truck: PrivateKey,
    pub fridge: PrivateKey,
}

impl World {
    pub fn new() -> Self {
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
        let txs = agents
            .iter()
            .enumerate()
            .map(|(i, agent)| {
                chain.register_agent(i, &agent.public_key(), AgentKind::Service, "supply system")
            })
            .collect();
        chain.block_applied(txs);
        let txs = vec![
            chain.register_agent(
                DISTRIBUTOR,
                &truck.public_key(),
                AgentKind::Device,
                "truck 7 logger",
            ),
            chain.register_agent(
                PHARMACY,
                &fridge.public_key(),
                AgentKind::Device,
                "fridge probe",
            ),
        ];
        chain.block_applied(txs);
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
    pub fn signed(&mut self, key: &PrivateKey, body: Body) -> TxStatus {
        let status = self.chain.send(key, body);
        self.chain.time_ms += 1_000;
        status
    }

    pub fn act(&mut self, org: usize, action: SupplyAction) -> TxStatus {
        let key = self.agents[org].clone();
        self.signed(&key, supply(action))
    }

    pub fn ok(&mut self, org: usize, action: SupplyAction) {
        let described = action.name();
        let status = self.act(org, action);
        assert_eq!(status, TxStatus::Applied, "org-{org}: {described}");
    }

    pub fn refused(&mut self, org: usize, action: SupplyAction, needle: &str) -> String {
        let status = self.act(org, action);
        assert!(rejected(&status, needle), "expected {needle:?}: {status:?}");
        reason(&status)
    }

    pub fn readings(
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

    pub fn commission(&mut self, serials: &[&str], expiry: &str) {
        self.ok(MANUFACTURER, commission(serials, expiry));
    }

    pub fn ship(&mut self, from: usize, items: Vec<ItemId>, to: usize, shipment: &str) {
        self.ok(from, ship(items, to, shipment));
    }

    pub fn receive(&mut self, org: usize, items: Vec<ItemId>) {
        self.ok(org, receive(items));
    }

    pub fn pack(&self, serial: &str) -> Pack {
        SupplyView(&self.chain.state)
            .pack(&sgtin(serial))
            .unwrap()
            .unwrap_or_else(|| panic!("no pack {serial}"))
    }

    pub fn verify(&self, serial: &str) -> Verification {
        verify(
            &SupplyView(&self.chain.state),
            &VerifyRequest::new(sgtin(serial), self.chain.time_ms),
        )
        .unwrap()
    }

    pub fn compromised(&self, serials: &[&str]) -> Vec<String> {
        serials
            .iter()
            .filter(|s| !self.pack(s).compromised.is_empty())
            .map(|s| s.to_string())
            .collect()
    }

    /// Every supply record except counterfeit signals: custody as stored.
    pub fn custody(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.chain
            .state
            .0
            .iter()
            .filter(|(k, _)| k.starts_with(b"supply/") && !k.starts_with(b"supply/signals/"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

pub fn supply(action: SupplyAction) -> Body {
    SupplyTx::new(action).unwrap().into_body()
}

pub fn reason(status: &TxStatus) -> String {
    match status {
        TxStatus::Rejected { reason } => reason.clone(),
        TxStatus::Applied => String::new(),
    }
}

pub fn commission(serials: &[&str], expiry: &str) -> SupplyAction {
    SupplyAction::Commission(Commission {
        gtin: gtin(),
        serials: serials.iter().map(|s| Serial::parse(s).unwrap()).collect(),
        lot: Lot::parse(LOT).unwrap(),
        expiry: Date::parse(expiry).unwrap(),
        location: None,
    })
}

pub fn ship(items: Vec<ItemId>, to: usize, shipment: &str) -> SupplyAction {
    SupplyAction::Ship(Ship {
        shipment: ShipmentId::new(shipment).unwrap(),
        items,
        to: supply_org(to),
        returning: false,
    })
}

pub fn receive(items: Vec<ItemId>) -> SupplyAction {
    SupplyAction::Receive(Receive {
        items,
        location: None,
    })
}

pub fn dispense(serial: &str) -> SupplyAction {
    SupplyAction::Dispense {
        packs: vec![sgtin(serial)],
    }
}

pub fn celsius(from: u64, points: &[(u64, f64)]) -> Vec<Reading> {
    points
        .iter()
        .map(|(m, c)| Reading::celsius(from + m * MINUTE, *c))
        .collect()
}

/// Packs 1 and 2 in case 1, pack 3 loose: made by org 0, at org 1, then
/// at pharmacy org 2.
pub fn at_the_pharmacy() -> World {
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
