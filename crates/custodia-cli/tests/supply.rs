//! Drug traceability end to end, on real processes: a manufacturer, a
//! distributor and a pharmacy, each running its own validator. A pack's
//! life cycle through EPCIS documents and signed actions, answered the same
//! by every node; the rules refused over HTTP with a message a person can
//! act on; a refrigerated truck's signed readings compromising the packs in
//! its case; a clone; a recall by lot; the CLI's verdict.

mod common;

use common::{custodia, get, sign, submit, Consortium};
use commonware_cryptography::Signer as _;
use custodia_supply::body::SupplyTx;
use custodia_supply::{
    gs1::{Epc, EpcUri, Gtin, Lgtin, Lot, Serial, Sgtin, Sscc},
    ledger::{Receive, Ship, SupplyAction},
    model::{
        ItemId, OrgId as SupplyOrg, Product, Reading, ReadingScope, ShipmentId, ShipmentRef,
        StorageRange,
    },
    time::Date,
};
use custodia_types::{key_hex, AgentKind, AuthToken, Body, OrgId, PrivateKey};
use serde_json::{json, Value};
use std::{
    collections::HashMap,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

const FINAL: Duration = Duration::from_secs(30);
const MAKER: &str = "acme-pharma";
const CARRIER: &str = "medline-logistics";
const PHARMACY: &str = "corner-pharmacy";
const GTIN: &str = "80614141123458";
const LOT: &str = "L7";
const CASE: &str = "urn:epc:id:sscc:0614141.1234567890";
const SERIALS: [&str; 4] = ["S1", "S2", "S3", "S4"];

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn sgtin(serial: &str) -> Sgtin {
    Sgtin::new(Gtin::parse(GTIN).unwrap(), Serial::parse(serial).unwrap())
}

fn pack(serial: &str) -> ItemId {
    ItemId::Pack(sgtin(serial))
}

fn urn(serial: &str) -> String {
    format!("urn:epc:id:sgtin:0614141.812345.{serial}")
}

fn org(id: &str) -> SupplyOrg {
    SupplyOrg::new(id).unwrap()
}

fn body(action: SupplyAction) -> Body {
    SupplyTx::new(action).unwrap().into_body()
}

/// The three organisations, their supply agents and devices, and the
/// nonces each signer has used.
struct Chain {
    c: Consortium,
    agents: HashMap<&'static str, PrivateKey>,
    nonces: HashMap<String, u64>,
}

impl Chain {
    fn api(&self, org: &str) -> String {
        self.c.api(self.c.index_of(org)).to_string()
    }

    fn admin(&self, org: &str) -> PrivateKey {
        self.c.nodes[self.c.index_of(org)].admin_key.clone()
    }

    /// Signs `body` with `key`, submits it to `org`'s node and waits for
    /// its receipt (applied or rejected).
    fn send(&mut self, org: &str, key: &PrivateKey, body: Body) -> Value {
        let api = self.api(org);
        let nonce = self.nonces.entry(key_hex(&key.public_key())).or_default();
        let tx = sign(&self.c.chain_id, key, *nonce, body);
        let (code, answer) = submit(&api, &tx);
        assert_eq!(code, 202, "{answer}");
        *nonce += 1;
        let deadline = std::time::Instant::now() + FINAL;
        loop {
            let (code, receipt) = get(&api, &format!("/v1/tx/{}", tx.id()));
            if code == 200 && receipt["status"] != "pending" {
                self.c.settle();
                return receipt;
            }
            assert!(std::time::Instant::now() < deadline, "{receipt}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `org`'s admin registers `key` as an agent of kind `kind`.
    fn register(&mut self, org: &str, key: &PrivateKey, kind: AgentKind) {
        let admin = self.admin(org);
        let body = Body::RegisterAgent {
            key: key.public_key(),
            kind,
            label: "supply".into(),
        };
        let receipt = self.send(org, &admin, body);
        assert_eq!(receipt["status"], "finalized", "{receipt}");
    }

    /// A supply action signed by `org`'s agent, which must be applied.
    fn act(&mut self, org: &str, action: SupplyAction) {
        let agent = self.agents[org].clone();
        let receipt = self.send(org, &agent, body(action));
        assert_eq!(receipt["status"], "finalized", "{receipt}");
    }

    /// A supply action signed by `key`, which the chain must refuse with a
    /// reason containing `needle`.
    fn refused(&mut self, org: &str, key: &PrivateKey, action: SupplyAction, needle: &str) {
        let receipt = self.send(org, key, body(action));
        assert_eq!(receipt["status"], "rejected", "{receipt}");
        let reason = receipt["reason"].as_str().unwrap_or_default();
        assert!(reason.contains(needle), "{needle:?} not in {reason:?}");
    }

    /// POST an EPCIS document to `org`'s node as its agent.
    fn epcis(&self, org: &str, document: &Value) -> (u16, Value) {
        self.epcis_as(org, &self.agents[org], document)
    }

    /// POST an EPCIS document to `org`'s node with a token of `agent`.
    fn epcis_as(&self, org: &str, agent: &PrivateKey, document: &Value) -> (u16, Value) {
        let token = AuthToken {
            chain_id: self.c.chain_id.clone(),
            audience: OrgId::new(org).unwrap(),
            key: agent.public_key(),
            expires_ms: now_ms() + 600_000,
        }
        .sign(agent);
        let response = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap()
            .post(format!("{}/v1/supply/epcis", self.api(org)))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/ld+json")
            .body(document.to_string())
            .send()
            .unwrap();
        let code = response.status().as_u16();
        let answer = serde_json::from_str(&response.text().unwrap()).unwrap();
        // Answered once final at `org`'s node (or refused: then moot).
        self.c.settle();
        (code, answer)
    }

    fn verify(&self, org: &str, serial: &str) -> Value {
        let (code, answer) = get(
            &self.api(org),
            &format!("/v1/supply/verify/{GTIN}/{serial}"),
        );
        assert_eq!(code, 200, "{answer}");
        answer
    }

    fn trace(&self, org: &str, serial: &str) -> Value {
        let path = format!("/v1/supply/packs/{GTIN}/{serial}/trace");
        let (code, answer) = get(&self.api(org), &path);
        assert_eq!(code, 200, "{answer}");
        answer
    }
}

fn document(events: Vec<Value>) -> Value {
    json!({
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-03-02T09:00:00.000Z",
        "epcisBody": { "eventList": events }
    })
}

fn refusal(code: u16, answer: &Value, expected: u16, needle: &str) {
    assert_eq!(code, expected, "{answer}");
    let message = answer["error"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "{needle:?} not in {message:?}");
}

/// The answer without the block it was computed at (nodes may be a block
/// apart when asked).
fn without_as_of(mut answer: Value) -> Value {
    answer.as_object_mut().unwrap().remove("as_of");
    answer
}

#[test]
fn packs_travel_from_maker_to_pharmacy_and_every_node_tells_the_same_story() {
    let mut c = Consortium::init_orgs("supply", 3, 4);
    c.start_all();
    c.await_all(1, Duration::from_secs(60));
    let mut chain = Chain {
        c,
        agents: HashMap::new(),
        nonces: HashMap::new(),
    };

    // Each organisation's supply agent; the carrier's truck logger and a
    // probe at the maker are device agents with keys of their own.
    let truck = PrivateKey::from_seed(7_001);
    let probe = PrivateKey::from_seed(7_002);
    for (i, org) in [MAKER, CARRIER, PHARMACY].into_iter().enumerate() {
        let agent = PrivateKey::from_seed(7_100 + i as u64);
        chain.register(org, &agent, AgentKind::Service);
        chain.agents.insert(org, agent);
    }
    chain.register(CARRIER, &truck, AgentKind::Device);
    chain.register(MAKER, &probe, AgentKind::Device);

    // The maker registers a vaccine that tolerates no time outside 2–8 °C.
    chain.act(
        MAKER,
        SupplyAction::RegisterProduct(Product {
            gtin: Gtin::parse(GTIN).unwrap(),
            name: "Vaccine 0.5 ml".into(),
            manufacturer: org(MAKER),
            storage: StorageRange::celsius(2.0, 8.0, 0),
            shelf_life_days: 730,
            company_prefix_len: Some(7),
        }),
    );

    // Commissioned, S1 and S2 packed into a case, the case and S3 shipped
    // to the carrier: one EPCIS document, in the standard form.
    let expiry = Date::of_ms(now_ms()).unwrap().plus_days(300).unwrap();
    let commissioning = json!({
        "type": "ObjectEvent",
        "eventID": "urn:uuid:00000000-0000-4000-8000-000000000001",
        "eventTime": "2026-03-01T08:00:00.000+01:00",
        "eventTimeZoneOffset": "+01:00",
        "epcList": SERIALS.iter().map(|s| urn(s)).collect::<Vec<_>>(),
        "action": "ADD",
        "bizStep": "commissioning",
        "disposition": "active",
        "ilmd": { "cbvmda:lotNumber": LOT, "cbvmda:itemExpirationDate": expiry.to_string() },
        "example:line": "packaging line 3"
    });
    let made = document(vec![
        commissioning.clone(),
        json!({
            "type": "AggregationEvent",
            "eventTime": "2026-03-01T08:10:00.000+01:00",
            "eventTimeZoneOffset": "+01:00",
            "parentID": CASE,
            "childEPCs": [urn("S1"), urn("S2")],
            "action": "ADD",
            "bizStep": "packing"
        }),
        json!({
            "type": "ObjectEvent",
            "eventID": "urn:uuid:00000000-0000-4000-8000-000000000003",
            "eventTime": "2026-03-01T09:00:00.000+01:00",
            "eventTimeZoneOffset": "+01:00",
            "epcList": [CASE, urn("S3")],
            "action": "OBSERVE",
            "bizStep": "shipping",
            "disposition": "in_transit",
            "destinationList": [{ "type": "owning_party", "destination": format!("urn:custodia:org:{CARRIER}") }]
        }),
    ]);
    let (code, answer) = chain.epcis(MAKER, &made);
    assert_eq!(code, 201, "{answer}");
    assert_eq!(answer["events"], 3);
    let received = document(vec![json!({
        "type": "ObjectEvent",
        "eventTime": "2026-03-01T15:30:00.000+01:00",
        "eventTimeZoneOffset": "+01:00",
        "epcList": [CASE, urn("S3")],
        "action": "OBSERVE",
        "bizStep": "receiving"
    })]);
    let (code, answer) = chain.epcis(CARRIER, &received);
    assert_eq!(code, 201, "{answer}");

    // Refusals over HTTP, each with the rule in words; the node serves on.
    // Shipping S4, which the maker still holds, by the carrier:
    let steal = document(vec![json!({
        "type": "ObjectEvent",
        "eventTime": "2026-03-01T16:00:00.000+01:00",
        "eventTimeZoneOffset": "+01:00",
        "epcList": [urn("S4")],
        "action": "OBSERVE",
        "bizStep": "shipping",
        "destinationList": [{ "type": "owning_party", "destination": format!("urn:custodia:org:{PHARMACY}") }]
    })]);
    let (code, answer) = chain.epcis(CARRIER, &steal);
    refusal(code, &answer, 422, "only the current custodian may ship");
    // Malformed EPCIS: not JSON, and JSON without an event list.
    let (code, answer) = chain.epcis(CARRIER, &json!("shipping S4"));
    refusal(code, &answer, 400, "not a valid EPCIS 2.0 JSON document");
    let (code, answer) = chain.epcis(CARRIER, &json!({"type": "EPCISDocument"}));
    refusal(code, &answer, 400, "not a valid EPCIS 2.0 JSON document");
    // Without a token; with a device's key; a GTIN with a bad check digit.
    let (code, answer) = common::post(
        &chain.api(CARRIER),
        "/v1/supply/epcis",
        received.to_string().into_bytes(),
    );
    refusal(code, &answer, 401, "Authorization: Bearer");
    let (code, answer) = chain.epcis_as(CARRIER, &truck, &received);
    refusal(code, &answer, 403, "a device signs its own readings");
    let (code, answer) = get(&chain.api(CARRIER), "/v1/supply/verify/80614141123459/S1");
    refusal(code, &answer, 400, "check digit");
    // The plugged-in domain's routes are in the node's API description.
    let (code, openapi) = get(&chain.api(CARRIER), "/v1/openapi.json");
    assert_eq!(code, 200);
    for path in [
        "/v1/supply/epcis",
        "/v1/supply/verify/{gtin}/{serial}",
        "/v1/tx",
    ] {
        assert!(
            openapi["paths"][path].is_object(),
            "{path} is not described"
        );
    }

    // The carrier sends the case on its refrigerated truck and S3 by van.
    let ship = |shipment: &str, items: Vec<ItemId>| {
        SupplyAction::Ship(Ship {
            shipment: ShipmentId::new(shipment).unwrap(),
            items,
            to: org(PHARMACY),
            returning: false,
        })
    };
    chain.act(CARRIER, ship("TRUCK-1", vec![ItemId::Container(case())]));
    chain.act(CARRIER, ship("VAN-2", vec![pack("S3")]));
    // The maker cannot receive what was shipped to the pharmacy.
    let maker = chain.agents[MAKER].clone();
    chain.refused(
        MAKER,
        &maker,
        SupplyAction::Receive(Receive {
            items: vec![ItemId::Container(case())],
            location: None,
        }),
        "only the named receiver may receive",
    );
    // The attempt is kept on the case's packs as a counterfeit signal.
    let s1 = chain.verify(PHARMACY, "S1");
    assert_eq!(s1["signals"], json!(["receive_without_ship"]), "{s1}");
    assert_eq!(s1["signal_records"][0]["by"], MAKER);

    // The truck's logger signs its readings, timed within the trip.
    let trace = chain.trace(CARRIER, "S1");
    let left = trace["pack"]["custody"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["place"]["shipment"]["shipment"] == "TRUCK-1")
        .unwrap_or_else(|| panic!("no truck interval in {trace}"))["from_ms"]
        .as_u64()
        .unwrap();
    let readings = |from: u64, celsius: &[f64]| SupplyAction::RecordReadings {
        device: key_hex(&truck.public_key()),
        scope: ReadingScope::Shipment(ShipmentRef {
            from: org(CARRIER),
            id: ShipmentId::new("TRUCK-1").unwrap(),
        }),
        readings: celsius
            .iter()
            .enumerate()
            .map(|(i, c)| Reading::celsius(from + i as u64, *c))
            .collect(),
    };
    let receipt = chain.send(CARRIER, &truck, body(readings(left + 1, &[4.5, 5.0])));
    assert_eq!(receipt["status"], "finalized", "{receipt}");
    assert_eq!(chain.verify(PHARMACY, "S1")["compromised"], false);
    // Another organisation's device cannot report for the truck.
    chain.refused(
        MAKER,
        &probe,
        readings(left + 3, &[20.0]),
        "medline-logistics",
    );
    // An unregistered device is not even admitted.
    let stranger = PrivateKey::from_seed(7_999);
    let tx = sign(
        &chain.c.chain_id,
        &stranger,
        0,
        body(readings(left + 3, &[20.0])),
    );
    let (code, answer) = submit(&chain.api(CARRIER), &tx);
    refusal(code, &answer, 403, "not a registered member admin or agent");
    // Too warm for two readings: both packs in the case are compromised,
    // with the logger's evidence; S3 (by van) and S4 (at the maker) are not.
    let receipt = chain.send(
        CARRIER,
        &truck,
        body(readings(left + 3, &[11.0, 12.5, 6.0])),
    );
    assert_eq!(receipt["status"], "finalized", "{receipt}");
    for serial in SERIALS {
        let v = chain.verify(PHARMACY, serial);
        let hit = matches!(serial, "S1" | "S2");
        assert_eq!(v["compromised"], hit, "{serial}: {v}");
        if hit {
            let e = &v["excursions"][0];
            assert_eq!(e["device"], key_hex(&truck.public_key()));
            assert_eq!(e["values"]["max_celsius"], 12.5);
            assert_eq!(
                (e["from_ms"].as_u64(), e["until_ms"].as_u64()),
                (Some(left + 3), Some(left + 5))
            );
            assert_eq!(v["ok"], false);
            assert!(
                v["reasons"][0]
                    .as_str()
                    .unwrap()
                    .contains("cold-chain excursion"),
                "{v}"
            );
        }
    }

    // The pharmacy receives both, dispenses S3, cannot dispense S1.
    let pharmacy = chain.agents[PHARMACY].clone();
    chain.act(
        PHARMACY,
        SupplyAction::Receive(Receive {
            items: vec![ItemId::Container(case()), pack("S3")],
            location: None,
        }),
    );
    let before = chain.verify(PHARMACY, "S3");
    assert_eq!(
        (before["ok"].clone(), before["custodian"].clone()),
        (json!(true), json!(PHARMACY)),
        "{before}"
    );
    chain.act(
        PHARMACY,
        SupplyAction::Dispense {
            packs: vec![sgtin("S3")],
        },
    );
    // An event after dispensing is refused.
    chain.refused(
        PHARMACY,
        &pharmacy,
        SupplyAction::Ship(Ship {
            shipment: ShipmentId::new("BACK-1").unwrap(),
            items: vec![pack("S3")],
            to: org(CARRIER),
            returning: false,
        }),
        "takes no further event",
    );
    // A second pack carrying S3's serial turns up at the carrier: a clone,
    // refused, and kept on the serial as a counterfeit signal.
    let carrier = chain.agents[CARRIER].clone();
    chain.refused(
        CARRIER,
        &carrier,
        SupplyAction::Dispense {
            packs: vec![sgtin("S3")],
        },
        "already dispensed",
    );
    let clone = chain.verify(MAKER, "S3");
    assert_eq!(clone["signals"], json!(["dispensed_twice"]), "{clone}");
    assert_eq!(clone["signal_records"][0]["by"], CARRIER);

    // A recall of the lot reaches the packs inside the case at the pharmacy.
    chain.act(
        MAKER,
        SupplyAction::RecallLot {
            lot: Lgtin::new(Gtin::parse(GTIN).unwrap(), Lot::parse(LOT).unwrap()),
            reason: "particulates".into(),
        },
    );
    let (code, report) = get(
        &chain.api(PHARMACY),
        &format!("/v1/supply/lots/{GTIN}/{LOT}/recall"),
    );
    assert_eq!(code, 200, "{report}");
    let rows = report["packs"]
        .as_array()
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(rows.len(), 4, "{report}");
    for serial in ["S1", "S2", "S4"] {
        assert_eq!(chain.verify(CARRIER, serial)["recalled"], true);
    }
    let s1 = rows.iter().find(|r| r["sgtin"]["serial"] == "S1").unwrap();
    assert_eq!(s1["custodian"], PHARMACY, "{s1}");
    assert_eq!(
        s1["containers"].as_array().map(Vec::len),
        Some(1),
        "in its case: {s1}"
    );

    // The events the maker sent come back as it sent them.
    let (code, exported) = get(
        &chain.api(CARRIER),
        &format!("/v1/supply/packs/{GTIN}/S1/epcis"),
    );
    assert_eq!(code, 200, "{exported}");
    assert_eq!(exported["epcisBody"]["eventList"][0], commissioning);

    // Every node tells the same story once it has the last block.
    chain.c.settle();
    for serial in SERIALS {
        let answers: Vec<Value> = [MAKER, CARRIER, PHARMACY]
            .iter()
            .map(|org| without_as_of(chain.verify(org, serial)))
            .collect();
        assert!(
            answers.windows(2).all(|w| w[0] == w[1]),
            "{serial}: {answers:?}"
        );
        let traces: Vec<Value> = [MAKER, CARRIER, PHARMACY]
            .iter()
            .map(|org| without_as_of(chain.trace(org, serial)))
            .collect();
        assert!(traces.windows(2).all(|w| w[0] == w[1]), "{serial}");
    }

    // The CLI's verdict: red, with the reason, and exit status 2.
    let out = custodia(&[
        "supply",
        "verify",
        "--node",
        &chain.api(PHARMACY),
        GTIN,
        "S2",
        "--asked-by",
        PHARMACY,
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.starts_with("RED")
            && text.contains("cold-chain excursion")
            && text.contains("recalled"),
        "{text}"
    );
}

fn case() -> Sscc {
    match EpcUri::parse(CASE).unwrap().epc {
        Epc::Sscc(s) => s,
        other => panic!("{other:?}"),
    }
}
