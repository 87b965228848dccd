//! `custodia supply ...`: drug traceability from the command line, over a
//! node's `/v1/supply` API and signed transactions.
//!
//! - `verify`, `trace`, `recall-report`: questions answered from chain state.
//! - `epcis`: an EPCIS 2.0 JSON document submitted by an agent (the node
//!   signs it on the agent's behalf, authenticated by a bearer token).
//! - `register-device`, `readings`: a sensor is an agent of kind device
//!   with its own key; it signs its own batches of readings.
//!
//! Typed actions (register a product, commission, ship, ...) go through
//! `custodia tx --body '{"type":"supply","action":{...}}'`.

pub mod seed;

use anyhow::{anyhow, Context, Result};
use clap::Subcommand;
use commonware_cryptography::Signer as _;
use custodia_client::{self as client, get_json, read_key};
use custodia_supply::body::SupplyTx;
use custodia_supply::{
    ledger::SupplyAction,
    model::{OrgId as SupplyOrg, Reading, ReadingScope, ShipmentId, ShipmentRef},
};
use custodia_types::{generate_key, key_hex, AgentKind, Body};
use serde_json::Value;
use std::{path::PathBuf, time::Duration};

/// The end of `custodia supply --help`.
pub const AFTER_HELP: &str = "Examples (the demo's supply chain):\n  \
custodia supply verify --node http://127.0.0.1:8406 80614141123458 DEMO-0003 --asked-by corner-pharmacy\n  \
custodia supply trace --node http://127.0.0.1:8406 80614141123458 --lot VX2611\n  \
custodia supply epcis --node http://127.0.0.1:8404 --key custodia-demo/acme-pharma/keys/supply.key events.json\n\n\
Typed actions (register_product, commission, pack, ship, receive, dispense,\n\
recall_lot, ...) are transactions: custodia tx --body '{\"type\":\"supply\",\"action\":{...}}'.";

/// Exit status of `verify` when the pack must not be dispensed.
pub const RED_EXIT: i32 = 2;

#[derive(Subcommand)]
pub enum Command {
    /// Ask whether a pack is safe to dispense: genuine, in date, not recalled,
    /// not compromised by the cold chain, not dispensed before, in expected custody.
    #[command(after_help = "Example:\n  \
custodia supply verify --node http://127.0.0.1:8406 80614141123458 DEMO-0001 --asked-by corner-pharmacy\n\n\
Prints GREEN or RED with the reasons, then the full answer as JSON: the custody\n\
trail, cold-chain excursions (device, time span, extreme values) and counterfeit\n\
signals as evidence. Exits 0 when GREEN, 2 when RED. The answer comes from the\n\
latest finalized block (named in as_of), so every node gives the same one.")]
    Verify {
        #[arg(long, default_value = "http://127.0.0.1:8400", env = "CUSTODIA_NODE")]
        node: String,
        /// GTIN-8/12/13/14 with its check digit.
        gtin: String,
        /// The pack's serial number (AI 21).
        serial: String,
        /// The lot printed on the pack, to compare with the ledger.
        #[arg(long)]
        lot: Option<String>,
        /// The expiry printed on the pack (YYYY-MM-DD).
        #[arg(long)]
        expiry: Option<String>,
        /// The organisation about to dispense: custody is ok only if it holds the pack.
        #[arg(long)]
        asked_by: Option<String>,
    },
    /// Everything known about a pack (with a serial) or a lot (with --lot).
    #[command(after_help = "Examples:\n  \
custodia supply trace 80614141123458 DEMO-0001\n  \
custodia supply trace 80614141123458 --lot VX2611\n  \
custodia supply trace 80614141123458 DEMO-0001 --epcis   # the pack's events as EPCIS 2.0 JSON-LD")]
    Trace {
        #[arg(long, default_value = "http://127.0.0.1:8400", env = "CUSTODIA_NODE")]
        node: String,
        gtin: String,
        /// The pack's serial; omit it and give --lot for a lot.
        #[arg(required_unless_present = "lot")]
        serial: Option<String>,
        #[arg(long, conflicts_with = "serial")]
        lot: Option<String>,
        /// The pack's events as a standard EPCIS document instead.
        #[arg(long, requires = "serial")]
        epcis: bool,
    },
    /// Every pack of a lot: status, custodian and container path (what to
    /// pull off which shelf), and how many are still in the supply chain.
    #[command(
        name = "recall-report",
        after_help = "Example:\n  custodia supply recall-report 80614141123458 VX2611\n\n\
Recall a lot first (its manufacturer's agent):\n  \
custodia tx --key acme.key --wait --body '{\"type\":\"supply\",\"action\":{\"action\":\"recall_lot\",\n    \
\"lot\":{\"gtin\":\"80614141123458\",\"lot\":\"VX2611\"},\"reason\":\"particulates\"}}'"
    )]
    RecallReport {
        #[arg(long, default_value = "http://127.0.0.1:8400", env = "CUSTODIA_NODE")]
        node: String,
        gtin: String,
        lot: String,
    },
    /// Submit an EPCIS 2.0 JSON document (commissioning, packing, shipping,
    /// receiving, dispensing, ...) as one transaction: all events or none.
    #[command(after_help = "Example:\n  \
custodia supply epcis --node http://127.0.0.1:8404 --key custodia-demo/acme-pharma/keys/supply.key events.json\n\n\
The key is an agent (or the admin) of the node's organisation; the node signs\n\
the transaction on its behalf and answers once it is final. A refusal names\n\
the event and the rule broken (e.g. only the current custodian may ship).\n\
Shipping names the receiver in destinationList as urn:custodia:org:<org id>\n\
or a party URI the receiver linked (action link_party).")]
    Epcis {
        #[arg(long, default_value = "http://127.0.0.1:8400", env = "CUSTODIA_NODE")]
        node: String,
        /// The agent's private key file.
        #[arg(long)]
        key: PathBuf,
        /// The EPCISDocument (JSON or JSON-LD); `-` reads standard input.
        file: PathBuf,
    },
    /// Register a sensor (a data logger in a truck, a fridge probe) as a device
    /// agent of your organisation, with a new key of its own.
    #[command(
        name = "register-device",
        after_help = "Example:\n  \
custodia supply register-device --node http://127.0.0.1:8405 \\\n    \
--admin-key custodia-demo/medline-logistics/keys/admin.key --out truck9.key --label 'truck 9'\n\n\
Prints the device id (its public key in hex): the id its readings carry."
    )]
    RegisterDevice {
        #[arg(long, default_value = "http://127.0.0.1:8400", env = "CUSTODIA_NODE")]
        node: String,
        /// Your organisation's admin key.
        #[arg(long)]
        admin_key: PathBuf,
        /// Where to write the device's new private key (install it on the device).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "sensor")]
        label: String,
    },
    /// Submit a batch of temperature/humidity readings signed by the device's key.
    #[command(after_help = "Example:\n  \
custodia supply readings --key truck9.key --shipment SHIP-42 --shipped-by medline \\\n    \
--readings '[{\"time_ms\":1767225600000,\"celsius\":5.1},{\"time_ms\":1767225660000,\"celsius\":9.4}]'\n\n\
Readings are in time order, after the device's previous batch, not in the\n\
future. Outside the product's range for longer than its allowed excursion\n\
time, they mark every pack that was in that custody as compromised, with\n\
this device, the time span and the extreme values as evidence.")]
    Readings {
        #[arg(long, default_value = "http://127.0.0.1:8400", env = "CUSTODIA_NODE")]
        node: String,
        /// The device's private key.
        #[arg(long)]
        key: PathBuf,
        /// The shipment the device travels with...
        #[arg(long, required_unless_present = "site", requires = "shipped_by")]
        shipment: Option<String>,
        /// ...and the organisation that shipped it (shipment ids are each
        /// shipper's own).
        #[arg(long, requires = "shipment")]
        shipped_by: Option<String>,
        /// ...or the organisation's own premises.
        #[arg(long, conflicts_with = "shipment")]
        site: bool,
        /// With --site: one location (e.g. an SGLN) rather than all premises.
        #[arg(long, requires = "site")]
        location: Option<String>,
        /// A JSON array of {"time_ms", "celsius"?, "humidity_pct"?}, or @file.
        #[arg(long)]
        readings: String,
    },
}

pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Verify {
            node,
            gtin,
            serial,
            lot,
            expiry,
            asked_by,
        } => {
            let mut query = Vec::new();
            for (name, value) in [("lot", lot), ("expiry", expiry), ("asked_by", asked_by)] {
                if let Some(value) = value {
                    query.push(format!("{name}={}", encode(&value)));
                }
            }
            let path = format!(
                "/v1/supply/verify/{}/{}?{}",
                encode(&gtin),
                encode(&serial),
                query.join("&")
            );
            let answer = get_json(&node, &path)?;
            let ok = answer["ok"].as_bool() == Some(true);
            if ok {
                println!("GREEN: safe to dispense");
            } else {
                println!("RED: do not dispense");
                for reason in answer["reasons"].as_array().into_iter().flatten() {
                    println!("  - {}", reason.as_str().unwrap_or_default());
                }
            }
            println!("{}", serde_json::to_string_pretty(&answer)?);
            if !ok {
                std::process::exit(RED_EXIT);
            }
            Ok(())
        }
        Command::Trace {
            node,
            gtin,
            serial,
            lot,
            epcis,
        } => {
            let path = match (serial, lot) {
                (Some(serial), _) if epcis => {
                    format!(
                        "/v1/supply/packs/{}/{}/epcis",
                        encode(&gtin),
                        encode(&serial)
                    )
                }
                (Some(serial), _) => {
                    format!(
                        "/v1/supply/packs/{}/{}/trace",
                        encode(&gtin),
                        encode(&serial)
                    )
                }
                (None, Some(lot)) => {
                    format!("/v1/supply/lots/{}/{}/trace", encode(&gtin), encode(&lot))
                }
                (None, None) => return Err(anyhow!("give a serial or --lot")),
            };
            print_json(&get_json(&node, &path)?)
        }
        Command::RecallReport { node, gtin, lot } => print_json(&get_json(
            &node,
            &format!("/v1/supply/lots/{}/{}/recall", encode(&gtin), encode(&lot)),
        )?),
        Command::Epcis { node, key, file } => {
            let document = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).context("reading standard input")?
            } else {
                std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?
            };
            let bearer = client::token(&node, &read_key(&key)?, Duration::from_secs(600))?;
            let answer = client::post_authorized(
                &node,
                "/v1/supply/epcis",
                &bearer,
                "application/json",
                document,
            )?;
            print_json(&answer)
        }
        Command::RegisterDevice {
            node,
            admin_key,
            out,
            label,
        } => {
            let admin = read_key(&admin_key)?;
            let device = generate_key();
            client::save_key(&out, &device)?;
            client::transact(
                &node,
                &admin,
                Body::RegisterAgent {
                    key: device.public_key(),
                    kind: AgentKind::Device,
                    label,
                },
            )?;
            println!("{}", key_hex(&device.public_key()));
            Ok(())
        }
        Command::Readings {
            node,
            key,
            shipment,
            shipped_by,
            site: _,
            location,
            readings,
        } => {
            let device = read_key(&key)?;
            let text = match readings.strip_prefix('@') {
                Some(path) => {
                    std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?
                }
                None => readings,
            };
            let readings: Vec<Reading> = serde_json::from_str(&text).context(
                "readings are a JSON array of {\"time_ms\": ms since 1970, \"celsius\": n, \"humidity_pct\": n}",
            )?;
            let scope = match (shipment, shipped_by) {
                (Some(id), Some(from)) => ReadingScope::Shipment(ShipmentRef {
                    from: SupplyOrg::new(&from).map_err(|e| anyhow!(e))?,
                    id: ShipmentId::new(&id).map_err(|e| anyhow!(e))?,
                }),
                _ => ReadingScope::Site { location },
            };
            let action = SupplyAction::RecordReadings {
                device: key_hex(&device.public_key()),
                scope,
                readings,
            };
            let receipt = client::transact(&node, &device, supply_body(action)?)?;
            print_json(&receipt)
        }
    }
}

/// A supply action as a transaction body the signer sends itself.
pub fn supply_body(action: SupplyAction) -> Result<Body> {
    Ok(SupplyTx::new(action)?.into_body())
}

fn print_json(value: &Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Percent-encodes a path segment or query value (serials and lots may hold
/// any of GS1's 82 characters, `/` and `%` among them).
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
