//! The demo's supply chain: Acme Pharmaceuticals makes a vaccine, Medline
//! Logistics carries it in a refrigerated truck with a signed temperature
//! logger, Corner Pharmacy and Harbour Pharmacy dispense it. One case warms
//! up in the truck (its packs verify red, with the logger's readings as
//! evidence) and one serial is presented for dispensing twice (a clone).
//! Everything goes through the public API, signed by each organisation's
//! own agents and device, as an integration would.

use super::supply_body;
use anyhow::{anyhow, Context, Result};
use commonware_cryptography::Signer as _;
use custodia_client::{save_key, transact};
use custodia_engine::domain::{Demo, DemoMember};
use custodia_supply::{
    gs1::{Epc, EpcUri, Gtin, Lot, Serial, Sgtin, Sscc},
    ledger::{Commission, Receive, Ship, SupplyAction},
    model::{
        ItemId, OrgId as SupplyOrg, Product, Reading, ReadingScope, ShipmentId, ShipmentRef,
        StorageRange,
    },
    time::Date,
};
use custodia_types::{generate_key, key_hex, AgentKind, Body, PrivateKey};
use std::time::Duration;

const MANUFACTURER: &str = "acme-pharma";
const DISTRIBUTOR: &str = "medline-logistics";
const PHARMACY: &str = "corner-pharmacy";
const PHARMACY_2: &str = "harbour-pharmacy";
pub const GTIN: &str = "80614141123458";
pub const LOT: &str = "VX2611";
const CASE: &str = "urn:epc:id:sscc:0614141.1000000001";

/// Is this consortium the demo's supply chain (all four organisations)?
fn present(demo: &Demo) -> bool {
    [MANUFACTURER, DISTRIBUTOR, PHARMACY, PHARMACY_2]
        .iter()
        .all(|org| demo.members.contains_key(*org))
}

fn member<'a>(demo: &'a Demo, org: &str) -> Result<&'a DemoMember> {
    demo.members
        .get(org)
        .ok_or_else(|| anyhow!("the demo has no member {org}"))
}

struct Org {
    api: String,
    agent: PrivateKey,
}

impl Org {
    /// Registers a service agent that signs the organisation's supply
    /// events; its key is kept as `<org>/keys/supply.key`.
    fn enrol(demo: &Demo, org: &str) -> Result<Self> {
        let member = member(demo, org)?;
        let api = member.api.clone();
        let agent = generate_key();
        transact(
            &api,
            &member.admin_key,
            Body::RegisterAgent {
                key: agent.public_key(),
                kind: AgentKind::Service,
                label: "supply".into(),
            },
        )?;
        save_key(&member.home.join("keys/supply.key"), &agent)?;
        Ok(Self { api, agent })
    }

    fn act(&self, action: SupplyAction) -> Result<()> {
        let name = action.name();
        transact(&self.api, &self.agent, supply_body(action)?)
            .with_context(|| format!("demo supply action {name}"))?;
        Ok(())
    }
}

fn org(id: &str) -> Result<SupplyOrg> {
    SupplyOrg::new(id).map_err(|e| anyhow!(e))
}

fn sgtin(serial: &str) -> Result<Sgtin> {
    Ok(Sgtin::new(Gtin::parse(GTIN)?, Serial::parse(serial)?))
}

fn pack(serial: &str) -> Result<ItemId> {
    Ok(ItemId::Pack(sgtin(serial)?))
}

fn case() -> Result<ItemId> {
    match EpcUri::parse(CASE)?.epc {
        Epc::Sscc(sscc) => Ok(ItemId::Container(sscc)),
        other => Err(anyhow!("{CASE} is not an SSCC: {other:?}")),
    }
}

fn sscc(item: &ItemId) -> Result<Sscc> {
    match item {
        ItemId::Container(sscc) => Ok(sscc.clone()),
        ItemId::Pack(_) => Err(anyhow!("not a container")),
    }
}

fn ship(shipment: &str, items: Vec<ItemId>, to: &str) -> Result<SupplyAction> {
    Ok(SupplyAction::Ship(Ship {
        shipment: ShipmentId::new(shipment).map_err(|e| anyhow!(e))?,
        items,
        to: org(to)?,
        returning: false,
    }))
}

fn receive(items: Vec<ItemId>) -> SupplyAction {
    SupplyAction::Receive(Receive {
        items,
        location: None,
    })
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A date `days` from now, for the lot's expiry.
fn date_in(days: u32) -> Result<Date> {
    Date::of_ms(now_ms())
        .and_then(|today| today.plus_days(days))
        .ok_or_else(|| anyhow!("the clock is out of range"))
}

/// Seed the supply chain; skipped when the consortium lacks its members.
pub fn seed(demo: &Demo) -> Result<()> {
    if !present(demo) {
        println!(
            "(no {MANUFACTURER}, {DISTRIBUTOR}, {PHARMACY} and {PHARMACY_2} in this consortium: \
             sample supply chain skipped; use --orgs 9)"
        );
        return Ok(());
    }
    println!("Seeding a sample supply chain (vaccine {GTIN}, lot {LOT})...");
    let acme = Org::enrol(demo, MANUFACTURER)?;
    let medline = Org::enrol(demo, DISTRIBUTOR)?;
    let corner = Org::enrol(demo, PHARMACY)?;
    let harbour = Org::enrol(demo, PHARMACY_2)?;

    // The refrigerated truck's logger: a device agent with its own key.
    let truck = generate_key();
    let medline_admin = member(demo, DISTRIBUTOR)?.admin_key.clone();
    transact(
        &medline.api,
        &medline_admin,
        Body::RegisterAgent {
            key: truck.public_key(),
            kind: AgentKind::Device,
            label: "truck 7 temperature logger".into(),
        },
    )?;
    save_key(
        &member(demo, DISTRIBUTOR)?.home.join("keys/truck.key"),
        &truck,
    )?;

    acme.act(SupplyAction::RegisterProduct(Product {
        gtin: Gtin::parse(GTIN)?,
        name: "Influenza vaccine 0.5 ml prefilled syringe".into(),
        manufacturer: org(MANUFACTURER)?,
        // Any time outside 2–8 °C compromises it (a demo can't wait half
        // an hour for a realistic tolerance).
        storage: StorageRange::celsius(2.0, 8.0, 0),
        shelf_life_days: 365,
        company_prefix_len: Some(7),
    }))?;
    let serials: Vec<String> = (1..=6).map(|i| format!("DEMO-{i:04}")).collect();
    acme.act(SupplyAction::Commission(Commission {
        gtin: Gtin::parse(GTIN)?,
        serials: serials
            .iter()
            .map(|s| Serial::parse(s))
            .collect::<Result<_, _>>()?,
        lot: Lot::parse(LOT)?,
        expiry: date_in(300)?,
        location: None,
    }))?;
    // DEMO-0001..3 in a case; 4..6 loose.
    acme.act(SupplyAction::Pack {
        container: sscc(&case()?)?,
        children: vec![pack("DEMO-0001")?, pack("DEMO-0002")?, pack("DEMO-0003")?],
    })?;
    let everything = vec![
        case()?,
        pack("DEMO-0004")?,
        pack("DEMO-0005")?,
        pack("DEMO-0006")?,
    ];
    acme.act(ship("ACME-0001", everything.clone(), DISTRIBUTOR)?)?;
    medline.act(receive(everything))?;

    // The case rides truck 7 to Corner Pharmacy and warms up on the way.
    medline.act(ship("TRUCK7-0001", vec![case()?], PHARMACY)?)?;
    // Half a second apart over two seconds of the trip: device time must
    // not run ahead of the block that records it, so they are sent after.
    let start = now_ms();
    std::thread::sleep(Duration::from_millis(2_100));
    let readings: Vec<Reading> = [5.1, 5.4, 11.8, 12.6, 6.0]
        .iter()
        .enumerate()
        .map(|(i, c)| Reading::celsius(start + i as u64 * 500, *c))
        .collect();
    transact(
        &medline.api,
        &truck,
        supply_body(SupplyAction::RecordReadings {
            device: key_hex(&truck.public_key()),
            scope: ReadingScope::Shipment(ShipmentRef {
                from: SupplyOrg::new(DISTRIBUTOR).map_err(|e| anyhow!(e))?,
                id: ShipmentId::new("TRUCK7-0001").map_err(|e| anyhow!(e))?,
            }),
            readings,
        })?,
    )?;
    corner.act(receive(vec![case()?]))?;
    corner.act(SupplyAction::Unpack {
        container: sscc(&case()?)?,
        children: Vec::new(),
    })?;

    // The loose packs go to Harbour Pharmacy, which dispenses DEMO-0004.
    let loose = vec![pack("DEMO-0004")?, pack("DEMO-0005")?, pack("DEMO-0006")?];
    medline.act(ship("MED-0002", loose.clone(), PHARMACY_2)?)?;
    harbour.act(receive(loose))?;
    harbour.act(SupplyAction::Dispense {
        packs: vec![sgtin("DEMO-0004")?],
    })?;
    // A pack with the same serial turns up at Corner Pharmacy: the chain
    // refuses the second dispense and records it as a clone.
    let clone = transact(
        &corner.api,
        &corner.agent,
        supply_body(SupplyAction::Dispense {
            packs: vec![sgtin("DEMO-0004")?],
        })?,
    );
    match clone {
        Ok(_) => return Err(anyhow!("the chain accepted a second dispense of DEMO-0004")),
        // Anything else (a timeout, a node down) is not the clone caught.
        Err(error) if !error.to_string().contains("already dispensed") => {
            return Err(error.context("presenting the cloned DEMO-0004"))
        }
        Err(_) => {}
    }
    println!(
        "  DEMO-0001..3 warmed to 12.6 °C in truck 7 (compromised), DEMO-0004 dispensed at \
         {PHARMACY_2} and presented again at {PHARMACY} (a clone), DEMO-0005/6 fine."
    );
    println!(
        "  Keys: <dir>/<org>/keys/supply.key (agents), <dir>/{DISTRIBUTOR}/keys/truck.key (the logger); \
         see README.md, \"Drug traceability\"."
    );
    Ok(())
}
