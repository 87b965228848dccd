//! The supply body (`Body::Domain` named supply): every supply action
//! survives the canonical encoding and the clients' JSON form; malformed,
//! non-canonical and oversized input is refused with a reason.

use commonware_codec::{DecodeExt, Encode};
use commonware_cryptography::Signer as _;
use custodia_supply::body::{SupplyTx, SupplyTxError, DOMAIN, MAX_SUPPLY_JSON_BYTES};
use custodia_supply::epcis::{self, EpcisDocument};
use custodia_supply::gs1::{Gtin, Lgtin, Lot, Serial, Sgtin};
use custodia_supply::ledger::{Commission, Receive, Ship, SupplyAction};
use custodia_supply::model::{
    CounterfeitSignal, ItemId, OrgId, Product, Reading, ReadingScope, ShipmentId, StorageRange,
};
use custodia_supply::time::Date;
use custodia_types::{Body, DomainTx, PrivateKey, SignedTx, TxPayload, MAX_TX_BYTES};

const FIXTURES: [&str; 4] = [
    include_str!("fixtures/lifecycle_urn.json"),
    include_str!("fixtures/lifecycle_digital_link.json"),
    include_str!("fixtures/recall_and_return.json"),
    include_str!("fixtures/sensor_reporting.json"),
];

fn gtin() -> Gtin {
    Gtin::parse("80614141123458").unwrap()
}

fn sgtin(serial: &str) -> Sgtin {
    Sgtin::new(gtin(), Serial::parse(serial).unwrap())
}

fn org(id: &str) -> OrgId {
    OrgId::new(id).unwrap()
}

fn every_action() -> Vec<SupplyAction> {
    let mut actions = vec![
        SupplyAction::RegisterProduct(Product {
            gtin: gtin(),
            name: "Insulin glargine 100 U/ml pen".into(),
            manufacturer: org("acme-pharma"),
            storage: StorageRange {
                min_celsius: 2.0,
                max_celsius: 8.0,
                min_humidity_pct: Some(20.5),
                max_humidity_pct: Some(70.0),
                max_excursion_minutes: 30,
            },
            shelf_life_days: 730,
            company_prefix_len: Some(7),
        }),
        SupplyAction::Commission(Commission {
            gtin: gtin(),
            serials: vec![
                Serial::parse("S1").unwrap(),
                Serial::parse("a/b%c").unwrap(),
            ],
            lot: Lot::parse("L2026A").unwrap(),
            expiry: Date::parse("2027-06-30").unwrap(),
            location: Some("urn:epc:id:sgln:0614141.00001.0".into()),
        }),
        SupplyAction::Ship(Ship {
            shipment: ShipmentId::new("ship-1").unwrap(),
            items: vec![ItemId::Pack(sgtin("S1"))],
            to: org("medline-logistics"),
            returning: false,
        }),
        SupplyAction::Receive(Receive {
            items: vec![ItemId::Pack(sgtin("S1"))],
            location: None,
        }),
        SupplyAction::Dispense {
            packs: vec![sgtin("S1")],
        },
        SupplyAction::Decommission {
            packs: vec![sgtin("S1")],
            reason: "damaged".into(),
        },
        SupplyAction::RecallLot {
            lot: Lgtin::new(gtin(), Lot::parse("L2026A").unwrap()),
            reason: "particles".into(),
        },
        SupplyAction::RegisterDevice {
            device: "ab".repeat(32),
        },
        SupplyAction::RecordReadings {
            device: "ab".repeat(32),
            scope: ReadingScope::Site {
                location: Some("fridge-1".into()),
            },
            readings: vec![
                Reading::celsius(1_772_348_400_000, 4.5),
                Reading {
                    time_ms: 1_772_348_460_000,
                    celsius: Some(-0.1),
                    humidity_pct: Some(33.3),
                },
            ],
        },
        SupplyAction::LinkParty {
            party: "urn:epc:id:pgln:0614141.00001".into(),
        },
        SupplyAction::ReportSuspect {
            sgtin: sgtin("S1"),
            signal: CounterfeitSignal::DispensedTwice,
            detail: "the pack in my hand was dispensed elsewhere".into(),
        },
    ];
    for fixture in FIXTURES {
        let events = epcis::parse_document(fixture.as_bytes()).expect("fixture parses");
        actions.push(SupplyAction::Epcis { events });
    }
    actions
}

/// The supply action a decoded body carries.
fn decode_supply(body: &Body) -> SupplyTx {
    let Body::Domain(tx) = body else {
        panic!("not a domain body: {body:?}")
    };
    assert_eq!(tx.domain(), DOMAIN);
    SupplyTx::decode(tx).expect("a supply action")
}

fn signed(body: Body) -> SignedTx {
    let key = PrivateKey::from_seed(7);
    TxPayload {
        chain_id: "c".repeat(64),
        signer: key.public_key(),
        nonce: u64::MAX,
        body,
    }
    .sign(&key)
}

#[test]
fn every_action_round_trips_through_the_codec_and_json() {
    let node_agent = PrivateKey::from_seed(9).public_key();
    for action in every_action() {
        for supply in [
            SupplyTx::new(action.clone()).unwrap(),
            SupplyTx::on_behalf_of(node_agent.clone(), action.clone()).unwrap(),
        ] {
            let body = supply.clone().into_body();
            let bytes = body.encode();
            let decoded = Body::decode(bytes.clone()).expect("decodes");
            assert_eq!(decoded, body);
            let back = decode_supply(&decoded);
            assert_eq!(back.action(), &action, "{}", action.name());
            assert_eq!(back.agent(), supply.agent());
            assert_eq!(decoded.encode(), bytes, "one action, one encoding");

            // The clients' JSON form (`custodia tx`) gives the same action,
            // and the generic form the same body.
            let json = serde_json::to_string(&supply).unwrap();
            assert!(json.starts_with(r#"{"type":"supply""#), "{json}");
            let from_json: SupplyTx = serde_json::from_str(&json).unwrap();
            assert_eq!(from_json, supply, "{json}");
            let generic = serde_json::to_string(&body).unwrap();
            assert_eq!(serde_json::from_str::<Body>(&generic).unwrap(), body);

            let tx = signed(body);
            let back = SignedTx::decode_untrusted(&tx.to_bytes()).unwrap();
            assert_eq!(back, tx);
            assert!(back.verify_signature());
        }
    }
}

#[test]
fn readings_of_any_precision_decode_as_encoded() {
    // Shortest-form floats that a best-effort parser reads one unit off,
    // which would make the node think the JSON is not canonical.
    let awkward = [
        14.829037328432975,
        38.069366128071636,
        91.83171240665075,
        -49.225585136767364,
        0.1 + 0.2,
    ];
    for (i, celsius) in awkward.into_iter().enumerate() {
        let action = SupplyAction::RecordReadings {
            device: "ab".repeat(32),
            scope: ReadingScope::Site { location: None },
            readings: vec![Reading::celsius(1_772_348_400_000 + i as u64, celsius)],
        };
        let body = SupplyTx::new(action.clone()).unwrap().into_body();
        let decoded = Body::decode(body.encode())
            .unwrap_or_else(|e| panic!("a reading of {celsius} does not decode: {e:?}"));
        assert_eq!(decoded, body, "{celsius}");
        assert_eq!(decode_supply(&decoded).action(), &action, "{celsius}");
    }
}

#[test]
fn epcis_events_in_a_body_are_emitted_back_in_standard_form() {
    for fixture in FIXTURES {
        let original: serde_json::Value = serde_json::from_str(fixture).unwrap();
        let events = epcis::parse_document(fixture.as_bytes()).unwrap();
        let body = SupplyTx::new(SupplyAction::Epcis { events })
            .unwrap()
            .into_body();
        let back = decode_supply(&Body::decode(body.encode()).unwrap());
        let SupplyAction::Epcis { events } = back.action() else {
            panic!("not an EPCIS action")
        };
        let emitted: Vec<serde_json::Value> = events.iter().map(epcis::to_json).collect();
        assert_eq!(
            serde_json::Value::Array(emitted),
            original["epcisBody"]["eventList"]
        );
        // And as a whole document again.
        let doc = EpcisDocument::parse(fixture.as_bytes()).unwrap();
        assert_eq!(doc.to_json(), original);
    }
}

#[test]
fn a_maximal_supply_transaction_fits_the_transaction_limit() {
    let agent = PrivateKey::from_seed(9).public_key();
    // A decommission reason padded until the JSON is exactly the limit.
    let base = SupplyAction::Decommission {
        packs: vec![sgtin("S1")],
        reason: String::new(),
    };
    let overhead = serde_json::to_vec(&base).unwrap().len();
    let action = SupplyAction::Decommission {
        packs: vec![sgtin("S1")],
        reason: "x".repeat(MAX_SUPPLY_JSON_BYTES - overhead),
    };
    let supply = SupplyTx::on_behalf_of(agent, action).unwrap();
    assert_eq!(supply.json().len(), MAX_SUPPLY_JSON_BYTES);
    let tx = signed(supply.into_body());
    assert!(
        tx.to_bytes().len() <= MAX_TX_BYTES,
        "{} bytes",
        tx.to_bytes().len()
    );
    assert!(SignedTx::decode_untrusted(&tx.to_bytes()).is_ok());

    let too_big = SupplyAction::Decommission {
        packs: vec![sgtin("S1")],
        reason: "x".repeat(MAX_SUPPLY_JSON_BYTES - overhead + 1),
    };
    let error = SupplyTx::new(too_big).unwrap_err();
    assert!(matches!(error, SupplyTxError::TooLarge { .. }));
    assert!(
        error.to_string().contains("split the EPCIS document"),
        "{error}"
    );
}

/// Why a supply body whose payload is `json` (as an attacker or a buggy
/// client would send it) is refused.
fn decode_error(json: &[u8]) -> String {
    let tx = DomainTx::new(DOMAIN, None, bytes::Bytes::copy_from_slice(json)).unwrap();
    SupplyTx::decode(&tx).unwrap_err().to_string()
}

#[test]
fn malformed_epcis_is_refused_with_the_reason() {
    // A shipping event whose epcList names something that is not a GS1 id.
    let json = br#"{"action":"epcis","events":[{"type":"ObjectEvent","eventTime":"2026-03-01T08:00:00Z","eventTimeZoneOffset":"+00:00","epcList":["not-an-epc"],"action":"OBSERVE","bizStep":"shipping"}]}"#;
    let message = decode_error(json);
    assert!(message.contains("supply action"), "{message}");
    assert!(message.contains("not-an-epc"), "{message}");

    let message = decode_error(br#"{"action":"teleport"}"#);
    assert!(message.contains("teleport"), "{message}");

    let message = decode_error(b"\xff\xfe");
    assert!(message.contains("not valid"), "{message}");
}

#[test]
fn non_canonical_json_is_refused() {
    let action = SupplyAction::Dispense {
        packs: vec![sgtin("S1")],
    };
    let canonical = serde_json::to_vec(&action).unwrap();
    let pretty = serde_json::to_vec_pretty(&action).unwrap();
    assert_ne!(canonical, pretty);
    let message = decode_error(&pretty);
    assert!(message.contains("canonical"), "{message}");
    // The canonical bytes of the same action decode.
    let ok = DomainTx::new(DOMAIN, None, canonical.into()).unwrap();
    assert_eq!(
        SupplyTx::decode(&ok).unwrap(),
        SupplyTx::new(action).unwrap()
    );
}

#[test]
fn clients_write_supply_bodies_as_json() {
    let supply: SupplyTx = serde_json::from_str(
        r#"{"type":"supply","action":{"action":"link_party","party":"urn:epc:id:pgln:0614141.00001"}}"#,
    )
    .unwrap();
    assert_eq!(supply.clone().into_body().kind(), "supply");
    assert_eq!(supply.action().name(), "link_party");
    assert!(supply.agent().is_none());

    let error = serde_json::from_str::<SupplyTx>(
        r#"{"type":"supply","action":{"action":"dispense","packs":[{"gtin":"12345","serial":"1"}]}}"#,
    )
    .unwrap_err();
    assert!(error.to_string().contains("12345"), "{error}");
}
