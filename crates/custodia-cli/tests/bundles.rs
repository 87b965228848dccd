//! FHIR transaction Bundles of a hospital export's size, end to end on real
//! processes: more entries than one chain transaction holds, staged in
//! parts and committed, written all together or not at all.

mod common;

use common::clinical::{transact, Fhir};
use common::Consortium;
use commonware_cryptography::Signer as _;
use custodia_types::{AgentKind, Body, PrivateKey};
use serde_json::{json, Value};
use std::time::Duration;

const PATIENT_URL: &str = "urn:uuid:0b5e6f2e-5a7c-4a1e-9d55-3f1f3c6a7b10";

fn observation(subject: &str, n: usize) -> Value {
    json!({
        "request": { "method": "POST", "url": "Observation" },
        "resource": {
            "resourceType": "Observation", "status": "final",
            "code": { "coding": [{ "system": "http://loinc.org", "code": "8867-4" }] },
            "subject": { "reference": subject },
            "valueQuantity": { "value": 60 + n % 40, "unit": "beats/minute" }
        }
    })
}

fn transaction(entries: Vec<Value>) -> Value {
    json!({ "resourceType": "Bundle", "type": "transaction", "entry": entries })
}

#[test]
fn a_thousand_entry_transaction_is_written_whole_or_not_at_all() {
    let mut c = Consortium::init("bundles");
    c.start_all();
    c.await_all(1, Duration::from_secs(60));
    let doctor = PrivateKey::from_seed(1_201);
    let admin = c.nodes[c.index_of("st-mary")].admin_key.clone();
    let register = Body::RegisterAgent {
        key: doctor.public_key(),
        kind: AgentKind::Clinician,
        label: "dr".into(),
    };
    transact(&c, &admin, 0, register);
    let st_mary = Fhir::new(&c, "st-mary", &doctor);
    let vault_objects = || {
        let (code, body) = common::get(&st_mary.api, "/v1/vault/objects");
        assert_eq!(code, 200, "{body}");
        body["objects"].as_u64().unwrap()
    };

    // A new patient and 999 observations naming it before it has an id:
    // 32 chain transactions' worth.
    let mut entries = vec![json!({
        "fullUrl": PATIENT_URL,
        "request": { "method": "POST", "url": "Patient" },
        "resource": { "resourceType": "Patient", "gender": "unknown" }
    })];
    entries.extend((1..1000).map(|n| observation(PATIENT_URL, n)));
    let (code, response) = st_mary.call("POST", "/fhir", Some(transaction(entries)), &[]);
    assert_eq!(code, 200, "{response}");
    let written = response["entry"].as_array().unwrap();
    assert_eq!(written.len(), 1000);
    assert!(written
        .iter()
        .all(|e| e["response"]["status"] == "201 Created"));
    let patient = written[0]["resource"]["id"].as_str().unwrap().to_string();
    let (code, index) = common::get(
        &st_mary.api,
        &format!("/v1/state/patient/{patient}/records"),
    );
    assert_eq!(code, 200, "{index}");
    let count = hex::decode(index["value"]["hex"].as_str().unwrap()).unwrap();
    assert_eq!(u64::from_be_bytes(count.try_into().unwrap()), 1000);
    let last = written[999]["response"]["location"].as_str().unwrap();
    let (code, read) = st_mary.get(&format!("/fhir/{last}"));
    assert_eq!(code, 200, "{read}");
    assert_eq!(read["subject"]["reference"], format!("Patient/{patient}"));

    // All or nothing: 600 entries, one (the 500th) about a patient the
    // chain does not know. Nothing is written, no content is kept, and the
    // bundle's new patient does not exist.
    let before = vault_objects();
    let mut entries = vec![json!({
        "fullUrl": PATIENT_URL,
        "request": { "method": "POST", "url": "Patient" },
        "resource": { "resourceType": "Patient" }
    })];
    entries.extend((1..600).map(|n| match n {
        500 => observation(&format!("Patient/{}", "ab".repeat(32)), n),
        _ => observation(PATIENT_URL, n),
    }));
    let (code, refused) = st_mary.call("POST", "/fhir", Some(transaction(entries)), &[]);
    assert_eq!(code, 422, "{refused}");
    assert_eq!(refused["resourceType"], "OperationOutcome");
    assert_eq!(
        vault_objects(),
        before,
        "the refused bundle left no content"
    );
    let (_, index) = common::get(
        &st_mary.api,
        &format!("/v1/state/patient/{patient}/records"),
    );
    let count = hex::decode(index["value"]["hex"].as_str().unwrap()).unwrap();
    assert_eq!(
        u64::from_be_bytes(count.try_into().unwrap()),
        1000,
        "nothing more was stored"
    );

    // Past the most a transaction holds: refused before anything is read.
    let too_many: Vec<Value> = (0..8_193)
        .map(|n| observation(&format!("Patient/{patient}"), n))
        .collect();
    let (code, refused) = st_mary.call("POST", "/fhir", Some(transaction(too_many)), &[]);
    assert_eq!(code, 413, "{refused}");
    assert!(
        refused["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("at most 8192"),
        "{refused}"
    );
    c.stop_all();
}
