//! Drug traceability throughput on the supply chain's four validators
//! (acme-pharma, medline-logistics, corner-pharmacy, oncology-trials):
//!
//! 1. custody events: the manufacturer's agents commission packs, ship
//!    them to the distributor, whose agents receive them (each event names
//!    [`PACKS_PER_EVENT`] packs, as a case-level EPCIS event would);
//! 2. sensor readings: the distributor's truck loggers, each signing its
//!    own batches of [`READINGS_PER_BATCH`] readings for one of the
//!    shipments;
//! 3. verification queries (`GET /v1/supply/verify/...`) from many
//!    clients across all four nodes.
//!
//! Everything is signed before the clock starts; every event and batch is
//! checked to be applied (not just finalized) before its rate is reported.

use super::{get_json, http, notes, BenchOptions, Consortium, Latencies, ORGS};
use crate::client::transact;
use anyhow::{anyhow, bail, Result};
use commonware_cryptography::Signer as _;
use custodia_node::home::Home;
use custodia_supply::body::SupplyTx;
use custodia_supply::{
    gs1::{Gtin, Lot, Serial, Sgtin},
    ledger::{Commission, Receive, Ship, SupplyAction},
    model::{ItemId, OrgId, Product, Reading, ReadingScope, ShipmentId, ShipmentRef, StorageRange},
    time::Date,
};
use custodia_types::{generate_key, key_hex, AgentKind, Body, PrivateKey, SignedTx, TxPayload};
use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

const GTIN: &str = "80614141123458";
const MAKER: &str = "acme-pharma";
const CARRIER: &str = "medline-logistics";
/// Packs named by one custody event.
const PACKS_PER_EVENT: usize = 5;
/// Signing agents per organisation, and truck loggers.
const SIGNERS: usize = 4;
const READINGS_PER_BATCH: usize = 60;
/// Between one logger's readings (they must all fall inside the transit).
const READING_STEP_MS: u64 = 2;
/// How long verification queries run.
const QUERY_SECONDS: u64 = 10;

/// Signs actions for one key, nonces from `next`.
struct Signer {
    key: PrivateKey,
    chain_id: String,
    next: u64,
}

impl Signer {
    fn sign(&mut self, action: SupplyAction) -> Result<SignedTx> {
        let tx = TxPayload {
            chain_id: self.chain_id.clone(),
            signer: self.key.public_key(),
            nonce: self.next,
            body: SupplyTx::new(action)?.into_body(),
        }
        .sign(&self.key);
        self.next += 1;
        Ok(tx)
    }
}

/// Registers `SIGNERS` agents of `kind` at `org`.
fn agents(api: &str, home: &Home, kind: AgentKind) -> Result<Vec<Signer>> {
    (0..SIGNERS)
        .map(|_| {
            let key = generate_key();
            transact(
                api,
                &home.admin_key,
                Body::RegisterAgent {
                    key: key.public_key(),
                    kind,
                    label: "bench".into(),
                },
            )?;
            Ok(Signer {
                key,
                chain_id: home.genesis.chain_id.clone(),
                next: 0,
            })
        })
        .collect()
}

fn sgtin(n: usize) -> Result<Sgtin> {
    Ok(Sgtin::new(
        Gtin::parse(GTIN)?,
        Serial::parse(&format!("B{n:07}"))?,
    ))
}

fn shipment(k: usize) -> Result<ShipmentId> {
    ShipmentId::new(&format!("SHIP-{k}")).map_err(|e| anyhow!(e))
}

/// Logger d's batches for shipment d (in transit), one reading every
/// [`READING_STEP_MS`], ending now: the batches must be dated after the
/// shipment left and not after the block time that records them, so the
/// span is waited out (outside any timing) before they are signed. Every
/// tenth batch holds a short warm spell, an excursion run opened and
/// closed (under the product's 30 allowed minutes, so packs stay usable).
fn transit_readings(loggers: &mut [Signer], events: usize) -> Result<Vec<Vec<SignedTx>>> {
    let batches = events.max(SIGNERS * 10) / SIGNERS;
    let span_ms = (batches * READINGS_PER_BATCH) as u64 * READING_STEP_MS;
    eprintln!(
        "waiting {:.1} s for the loggers' readings to be in the past...",
        span_ms as f64 / 1000.0
    );
    std::thread::sleep(Duration::from_millis(span_ms + 100));
    let start_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as u64
        - span_ms;
    let mut readings = vec![Vec::new(); loggers.len()];
    for (d, logger) in loggers.iter_mut().enumerate() {
        let device = key_hex(&logger.key.public_key());
        let scope = ReadingScope::Shipment(ShipmentRef {
            from: OrgId::new(MAKER).map_err(|e| anyhow!(e))?,
            id: shipment(d)?,
        });
        for b in 0..batches {
            let from = start_ms + (b * READINGS_PER_BATCH) as u64 * READING_STEP_MS;
            let warm = b % 10 == 9;
            let batch = (0..READINGS_PER_BATCH)
                .map(|i| {
                    let celsius = if warm && (20..30).contains(&i) {
                        9.5
                    } else {
                        4.0 + (i % 5) as f64 * 0.5
                    };
                    Reading::celsius(from + i as u64 * READING_STEP_MS, celsius)
                })
                .collect();
            readings[d].push(logger.sign(SupplyAction::RecordReadings {
                device: device.clone(),
                scope: scope.clone(),
                readings: batch,
            })?);
        }
    }
    Ok(readings)
}

/// Runs one phase and checks every transaction was applied; its rate.
fn phase(name: &str, apis: &[String], work: Vec<Vec<SignedTx>>) -> Result<notes::Driven> {
    let ids: Vec<String> = work
        .iter()
        .flatten()
        .map(|tx| tx.id().to_string())
        .collect();
    eprintln!("{name}: {} transactions...", ids.len());
    let driven = notes::drive(apis, work)?;
    if driven.refused > 0 {
        bail!(
            "{name}: {} transactions refused at admission",
            driven.refused
        );
    }
    let client = http();
    let rejected: Vec<_> = ids
        .iter()
        .filter_map(|id| get_json(&client, &format!("{}/v1/tx/{id}", apis[0])))
        .filter(|receipt| receipt["status"] != "finalized")
        .collect();
    if let Some(first) = rejected.first() {
        bail!(
            "{name}: {} transactions not applied, e.g. {first}",
            rejected.len()
        );
    }
    Ok(driven)
}

pub fn run(options: &BenchOptions) -> Result<()> {
    let consortium = Consortium::start_from("supply", options, 4)?;
    let apis = consortium.apis();
    let home = |org: &str| -> Result<Home> {
        let found = consortium
            .orgs
            .iter()
            .find(|o| o.id.as_str() == org)
            .ok_or_else(|| anyhow!("no {org} in the bench consortium"))?;
        Ok(Home::load(&found.home)?)
    };
    let (maker_home, carrier_home) = (home(MAKER)?, home(CARRIER)?);
    let maker_api = format!("http://{}", maker_home.config.api);
    let carrier_api = format!("http://{}", carrier_home.config.api);
    eprintln!("registering agents, loggers and the product...");
    let mut makers = agents(&maker_api, &maker_home, AgentKind::Service)?;
    let mut carriers = agents(&carrier_api, &carrier_home, AgentKind::Service)?;
    let mut loggers = agents(&carrier_api, &carrier_home, AgentKind::Device)?;
    let product = SupplyAction::RegisterProduct(Product {
        gtin: Gtin::parse(GTIN)?,
        name: "Bench vaccine".into(),
        manufacturer: OrgId::new(MAKER).map_err(|e| anyhow!(e))?,
        storage: StorageRange::celsius(2.0, 8.0, 30),
        shelf_life_days: 730,
        company_prefix_len: Some(7),
    });
    transact(
        &maker_api,
        &makers[0].key,
        SupplyTx::new(product)?.into_body(),
    )?;
    makers[0].next = 1;
    // Every node must know the new agents before it admits their work.
    let height = get_json(&http(), &format!("{maker_api}/v1/status"))
        .and_then(|s| s["finalized_height"].as_u64())
        .unwrap_or(0);
    consortium.wait_height(height)?;

    // Custody events: event k names packs k*PACKS_PER_EVENT.., signed by
    // agent k % SIGNERS of the acting organisation.
    let events = options.packs.div_ceil(PACKS_PER_EVENT).max(SIGNERS);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as u64;
    let expiry = Date::of_ms(now_ms)
        .and_then(|d| d.plus_days(365))
        .ok_or_else(|| anyhow!("the clock is out of range"))?;
    let packs = |k: usize| -> Result<Vec<Sgtin>> {
        (k * PACKS_PER_EVENT..(k + 1) * PACKS_PER_EVENT)
            .map(sgtin)
            .collect()
    };
    let items =
        |k: usize| -> Result<Vec<ItemId>> { Ok(packs(k)?.into_iter().map(ItemId::Pack).collect()) };
    let mut commission = vec![Vec::new(); SIGNERS];
    let mut ship = vec![Vec::new(); SIGNERS];
    let mut receive = vec![Vec::new(); SIGNERS];
    for k in 0..events {
        let s = k % SIGNERS;
        commission[s].push(makers[s].sign(SupplyAction::Commission(Commission {
            gtin: Gtin::parse(GTIN)?,
            serials: packs(k)?.into_iter().map(|p| p.serial).collect(),
            lot: Lot::parse(&format!("LOT{}", k / 100))?,
            expiry,
            location: None,
        }))?);
    }
    // Each signer's nonces run phase after phase: all its commissions,
    // then all its shipments.
    for k in 0..events {
        let s = k % SIGNERS;
        ship[s].push(makers[s].sign(SupplyAction::Ship(Ship {
            shipment: shipment(k)?,
            items: items(k)?,
            to: OrgId::new(CARRIER).map_err(|e| anyhow!(e))?,
            returning: false,
        }))?);
        receive[s].push(carriers[s].sign(SupplyAction::Receive(Receive {
            items: items(k)?,
            location: None,
        }))?);
    }

    let mut event_count = 0usize;
    let mut event_seconds = 0.0;
    let mut event_latencies = Vec::new();
    let mut custody = |name: &str, work: Vec<Vec<SignedTx>>| -> Result<()> {
        let driven = phase(name, &apis, work)?;
        event_count += driven.finalized;
        event_seconds += driven.window;
        event_latencies.extend(driven.latencies.0);
        Ok(())
    };
    custody("commissioning", commission)?;
    custody("shipping", ship)?;
    // The shipments are on the road: the loggers report on them now, so
    // every batch is matched against the packs' custody in transit.
    let readings = transit_readings(&mut loggers, events)?;
    let sensor = phase("sensor readings", &apis, readings)?;
    custody("receiving", receive)?;
    let queries = verify_load(&apis, events * PACKS_PER_EVENT, options.concurrency)?;

    let events_latency = Latencies::new(event_latencies);
    println!(
        "custodia bench --workload supply: {ORGS} validators as local processes \
         ({MAKER}, {CARRIER}, corner-pharmacy, oncology-trials), {} packs",
        events * PACKS_PER_EVENT
    );
    println!(
        "  custody events      {event_count} in {event_seconds:.2} s = {:.0} events/s \
         ({PACKS_PER_EVENT} packs each: commission, ship, receive), submit-to-finality {}",
        event_count as f64 / event_seconds.max(1e-9),
        events_latency.summary()
    );
    let total_readings = sensor.finalized * READINGS_PER_BATCH;
    println!(
        "  sensor readings     {total_readings} in {:.2} s = {:.0} readings/s \
         ({} signed batches of {READINGS_PER_BATCH} from {SIGNERS} loggers, {:.0} batches/s), \
         submit-to-finality {}",
        sensor.window,
        total_readings as f64 / sensor.window.max(1e-9),
        sensor.finalized,
        sensor.finalized as f64 / sensor.window.max(1e-9),
        sensor.latencies.summary()
    );
    println!(
        "  verifications       {} in {QUERY_SECONDS} s = {:.0} queries/s from {} clients across \
         {ORGS} nodes, {}",
        queries.0.len(),
        queries.0.len() as f64 / QUERY_SECONDS as f64,
        options.concurrency,
        queries.summary()
    );
    drop(consortium);
    Ok(())
}

/// `clients` threads asking `GET /v1/supply/verify` for the bench's packs
/// round robin across the nodes for [`QUERY_SECONDS`]; the latencies of
/// the answers that were complete verifications.
fn verify_load(apis: &[String], packs: usize, clients: usize) -> Result<Latencies> {
    eprintln!("verification queries: {clients} clients for {QUERY_SECONDS} s...");
    let failed = std::sync::Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(QUERY_SECONDS);
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let (apis, failed) = (apis.to_vec(), failed.clone());
            std::thread::spawn(move || {
                let client = http();
                let mut samples = Vec::new();
                let mut n = c;
                while Instant::now() < deadline {
                    let url = format!(
                        "{}/v1/supply/verify/{GTIN}/B{:07}",
                        apis[n % apis.len()],
                        (n * 7919) % packs
                    );
                    let sent = Instant::now();
                    match get_json(&client, &url) {
                        // A complete answer about a genuine pack.
                        Some(answer) if answer["genuine"] == true => samples.push(sent.elapsed()),
                        _ => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    n += clients;
                }
                samples
            })
        })
        .collect();
    let mut samples = Vec::new();
    for thread in threads {
        samples.extend(
            thread
                .join()
                .map_err(|_| anyhow!("a query thread panicked"))?,
        );
    }
    let failed = failed.load(Ordering::Relaxed);
    if failed > 0 {
        bail!("{failed} verification queries failed or answered not genuine");
    }
    Ok(Latencies::new(samples))
}
