//! A small world for the ledger tests: three organisations (a
//! manufacturer, a distributor, a pharmacy, plus a second pharmacy), one
//! cold-chain product, and a clock that only moves when a test moves it.

#![allow(dead_code)]

use custodia_supply::epcis::{self, Event};
use custodia_supply::gs1::{Epc, EpcUri, Gtin, Lgtin, Lot, Serial, Sgtin, Sscc};
use custodia_supply::ledger::{
    submit, verify, Commission, Ctx, MemoryStore, Receive, Ship, SupplyAction, SupplyError,
    SupplyStore, Verification, VerifyRequest,
};
use custodia_supply::model::{ItemId, OrgId, Pack, Product, ShipmentId, ShipmentRef, StorageRange};
use custodia_supply::time::Date;

pub const MANUFACTURER: &str = "acme-pharma";
pub const DISTRIBUTOR: &str = "medline-logistics";
pub const PHARMACY: &str = "corner-pharmacy";
pub const PHARMACY_2: &str = "harbor-pharmacy";

/// 2026-03-01T07:00:00Z
pub const T0: u64 = 1_772_348_400_000;
pub const MINUTE: u64 = 60_000;
pub const HOUR: u64 = 60 * MINUTE;
pub const DAY: u64 = 24 * HOUR;

pub const GTIN: &str = "80614141123458";
pub const LOT: &str = "L2026A";
pub const EXPIRY: &str = "2027-06-30";

pub fn org(id: &str) -> OrgId {
    OrgId::new(id).expect("test org id")
}

pub fn gtin() -> Gtin {
    Gtin::parse(GTIN).expect("test GTIN")
}

pub fn sgtin(serial: &str) -> Sgtin {
    Sgtin::new(gtin(), Serial::parse(serial).expect("test serial"))
}

pub fn lot() -> Lgtin {
    Lgtin::new(gtin(), Lot::parse(LOT).expect("test lot"))
}

pub fn pack_id(serial: &str) -> ItemId {
    ItemId::Pack(sgtin(serial))
}

/// Case (or pallet) number `n` of the manufacturer's company prefix.
pub fn sscc(n: u32) -> Sscc {
    let uri = format!("urn:epc:id:sscc:0614141.1{n:09}");
    match EpcUri::parse(&uri).expect("test SSCC").epc {
        Epc::Sscc(s) => s,
        other => panic!("not an SSCC: {other:?}"),
    }
}

pub fn case_id(n: u32) -> ItemId {
    ItemId::Container(sscc(n))
}

/// Insulin pens: 2–8 °C, 20–70 % RH, 30 minutes of excursion tolerated.
pub fn insulin() -> Product {
    Product {
        gtin: gtin(),
        name: "Insulin glargine 100 U/ml pen".into(),
        manufacturer: org(MANUFACTURER),
        storage: StorageRange {
            min_celsius: 2.0,
            max_celsius: 8.0,
            min_humidity_pct: Some(20.0),
            max_humidity_pct: Some(70.0),
            max_excursion_minutes: 30,
        },
        shelf_life_days: 730,
        company_prefix_len: Some(7),
    }
}

pub struct World {
    pub store: MemoryStore,
    pub now: u64,
    tx: u64,
}

impl World {
    /// The manufacturer has registered its insulin product.
    pub fn new() -> Self {
        let mut w = Self {
            store: MemoryStore::new(),
            now: T0,
            tx: 0,
        };
        w.ok(MANUFACTURER, SupplyAction::RegisterProduct(insulin()));
        w
    }

    pub fn advance(&mut self, ms: u64) -> &mut Self {
        self.now += ms;
        self
    }

    pub fn ctx(&mut self, who: &str) -> Ctx {
        self.tx += 1;
        Ctx::new(
            org(who),
            &format!("{who}-agent"),
            self.now,
            &format!("tx-{}", self.tx),
        )
    }

    /// Submits an action as one transaction: refused actions leave only
    /// their counterfeit signal, as on the chain.
    pub fn act(&mut self, who: &str, action: SupplyAction) -> Result<(), SupplyError> {
        let ctx = self.ctx(who);
        submit(&mut self.store, &ctx, &action)
    }

    pub fn ok(&mut self, who: &str, action: SupplyAction) {
        let described = format!("{action:?}");
        if let Err(e) = self.act(who, action) {
            panic!("{who}: {described} refused: {e}");
        }
    }

    /// Submits an EPCIS document's events as one transaction.
    pub fn epcis(&mut self, who: &str, events: Vec<Event>) -> Result<(), SupplyError> {
        self.act(who, SupplyAction::Epcis { events })
    }

    pub fn epcis_json(&mut self, who: &str, json: &serde_json::Value) -> Result<(), SupplyError> {
        let events = epcis::parse_document(json.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("test EPCIS: {e}"));
        self.epcis(who, events)
    }

    pub fn commission(&mut self, serials: &[&str]) {
        self.ok(
            MANUFACTURER,
            SupplyAction::Commission(Commission {
                gtin: gtin(),
                serials: serials
                    .iter()
                    .map(|s| Serial::parse(s).expect("serial"))
                    .collect(),
                lot: Lot::parse(LOT).expect("lot"),
                expiry: Date::parse(EXPIRY).expect("date"),
                location: None,
            }),
        );
    }

    pub fn pack_into(&mut self, who: &str, case: u32, children: Vec<ItemId>) {
        self.ok(
            who,
            SupplyAction::Pack {
                container: sscc(case),
                children,
            },
        );
    }

    pub fn ship(&mut self, who: &str, items: Vec<ItemId>, to: &str, shipment: &str) -> ShipmentRef {
        let id = ShipmentId::new(shipment).expect("shipment id");
        self.ok(
            who,
            SupplyAction::Ship(Ship {
                shipment: id.clone(),
                items,
                to: org(to),
                returning: false,
            }),
        );
        ShipmentRef { from: org(who), id }
    }

    pub fn receive(&mut self, who: &str, items: Vec<ItemId>) {
        self.ok(
            who,
            SupplyAction::Receive(Receive {
                items,
                location: None,
            }),
        );
    }

    pub fn dispense(&mut self, who: &str, serial: &str) -> Result<(), SupplyError> {
        self.act(
            who,
            SupplyAction::Dispense {
                packs: vec![sgtin(serial)],
            },
        )
    }

    pub fn pack(&self, serial: &str) -> Pack {
        self.store
            .pack(&sgtin(serial))
            .expect("readable")
            .unwrap_or_else(|| panic!("no pack {serial}"))
    }

    pub fn pack_by(&self, sgtin: &Sgtin) -> Pack {
        self.store
            .pack(sgtin)
            .expect("readable")
            .unwrap_or_else(|| panic!("no pack {sgtin}"))
    }

    pub fn verify(&self, serial: &str) -> Verification {
        verify(&self.store, &VerifyRequest::new(sgtin(serial), self.now)).expect("verify")
    }

    /// The state without counterfeit signals: what custody looks like.
    pub fn custody_state(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.store
            .entries
            .iter()
            .filter(|(k, _)| !k.starts_with(b"supply/signals/"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// Reads a fixture document.
pub fn fixture_events(name: &str) -> Vec<Event> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    epcis::parse_document(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"))
}
