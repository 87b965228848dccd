//! HL7 FHIR Bulk Data export on real processes: kick-off, status polling,
//! NDJSON files; system, patient and group scopes; each resource an
//! audited read, so another member's export holds a patient's records
//! only after that patient consents.

mod common;

use common::clinical::{enrol_and_consent, registered_clinician, transact, Fhir};
use common::{client, Consortium};
use commonware_cryptography::Signer as _;
use custodia_types::{AgentKind, Body, PrivateKey, Pseudonym};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn observation(patient: &str) -> Value {
    json!({
        "resourceType": "Observation", "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "8867-4" }] },
        "subject": { "reference": format!("Patient/{patient}") }
    })
}

/// Kick an export off at `path` (with its query); the status URL.
fn kick_off(fhir: &Fhir, path: &str) -> String {
    let response = client()
        .get(format!("{}{path}", fhir.api))
        .bearer_auth(&fhir.token)
        .header("prefer", "respond-async")
        .header("accept", "application/fhir+json")
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 202, "{path}");
    response.headers()["content-location"]
        .to_str()
        .unwrap()
        .to_string()
}

/// Poll a status URL until the manifest is ready.
fn manifest(fhir: &Fhir, status: &str) -> Value {
    let started = Instant::now();
    loop {
        let response = client()
            .get(status)
            .bearer_auth(&fhir.token)
            .send()
            .unwrap();
        match response.status().as_u16() {
            202 => assert!(response.headers().contains_key("x-progress")),
            200 => return response.json().unwrap(),
            other => panic!("status {other}: {}", response.text().unwrap()),
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the export did not finish"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Each output file's resources, by type (ids), checked against the
/// manifest's counts.
fn exported(fhir: &Fhir, manifest: &Value) -> BTreeMap<String, Vec<String>> {
    assert_eq!(manifest["requiresAccessToken"], true);
    let mut by_type = BTreeMap::new();
    for output in manifest["output"].as_array().unwrap() {
        let url = output["url"].as_str().unwrap();
        let response = client().get(url).bearer_auth(&fhir.token).send().unwrap();
        assert_eq!(response.status().as_u16(), 200, "{url}");
        assert_eq!(
            response.headers()["content-type"],
            "application/fhir+ndjson"
        );
        let text = response.text().unwrap();
        let resource_type = output["type"].as_str().unwrap().to_string();
        let ids: Vec<String> = text
            .lines()
            .map(|line| {
                let resource: Value = serde_json::from_str(line).unwrap();
                assert_eq!(resource["resourceType"], resource_type.as_str());
                resource["id"].as_str().unwrap().to_string()
            })
            .collect();
        assert_eq!(output["count"], ids.len(), "{manifest}");
        by_type.insert(resource_type, ids);
    }
    by_type
}

#[test]
fn bulk_exports_hold_what_each_caller_may_read() {
    let mut c = Consortium::init("export");
    c.start_all();
    c.await_all(1, Duration::from_secs(60));
    let (_, st_mary) = registered_clinician(&c, "st-mary", 1_401);
    let first = st_mary.create_patient();
    let second = st_mary.create_patient();
    let first_obs: Vec<String> = (0..3)
        .map(|_| st_mary.create(observation(&first)))
        .collect();
    st_mary.create(observation(&second));
    let organization =
        st_mary.create(json!({ "resourceType": "Organization", "name": "St Mary's cardiology" }));
    let group = st_mary.create(json!({
        "resourceType": "Group", "type": "person", "actual": true,
        "member": [{ "entity": { "reference": format!("Patient/{first}") } }]
    }));

    // The custodian exports everything it holds.
    let status = kick_off(&st_mary, "/fhir/$export");
    assert!(status.starts_with(&format!("{}/fhir/$export-status/", st_mary.api)));
    let everything = exported(&st_mary, &manifest(&st_mary, &status));
    assert_eq!(everything["Patient"].len(), 2, "{everything:?}");
    assert_eq!(everything["Observation"].len(), 4);
    assert_eq!(everything["Organization"], vec![organization.clone()]);
    assert_eq!(everything["Group"], vec![group.clone()]);

    // Only the caller who started it sees it; deleted, it is gone.
    let admin = c.nodes[c.index_of("st-mary")].admin_key.clone();
    let colleague = PrivateKey::from_seed(1_402);
    let register = Body::RegisterAgent {
        key: colleague.public_key(),
        kind: AgentKind::Clinician,
        label: "colleague".into(),
    };
    transact(&c, &admin, 1, register);
    let other = Fhir::new(&c, "st-mary", &colleague);
    let (code, _) = other.get(&status[st_mary.api.len()..]);
    assert_eq!(code, 404);
    let deleted = client()
        .delete(&status)
        .bearer_auth(&st_mary.token)
        .send()
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 202);
    let (code, _) = st_mary.get(&status[st_mary.api.len()..]);
    assert_eq!(code, 404);

    // A group's export: its patients' records, of the types asked for.
    let status = kick_off(
        &st_mary,
        &format!("/fhir/Group/{group}/$export?_type=Observation"),
    );
    let of_group = exported(&st_mary, &manifest(&st_mary, &status));
    let mut observations = of_group["Observation"].clone();
    observations.sort();
    let mut expected = first_obs.clone();
    expected.sort();
    assert_eq!(observations, expected);
    assert_eq!(of_group.len(), 1, "{of_group:?}");
    // Nothing updated after a future instant.
    let status = kick_off(&st_mary, "/fhir/$export?_since=2999-01-01T00:00:00Z");
    assert!(exported(&st_mary, &manifest(&st_mary, &status)).is_empty());

    // Bad kick-offs are refused with what to do.
    let (code, outcome) = st_mary.get("/fhir/$export");
    assert_eq!(code, 400);
    assert!(
        outcome.to_string().contains("Prefer: respond-async"),
        "{outcome}"
    );
    for (path, says) in [
        (
            "/fhir/Patient/$export?_type=Organization",
            "Patient compartment",
        ),
        ("/fhir/$export?_since=yesterday", "_since"),
        ("/fhir/$export?_type=Nonsense", "not an R4 resource type"),
    ] {
        let response = client()
            .get(format!("{}{path}", st_mary.api))
            .bearer_auth(&st_mary.token)
            .header("prefer", "respond-async")
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{path}");
        let text = response.text().unwrap();
        assert!(text.contains(says), "{path}: {text}");
    }

    // Another member's patient export: nothing before consent, the
    // consenting patient's records after, and the other patient's never.
    let (_, riverside) = registered_clinician(&c, "riverside-clinic", 1_403);
    let status = kick_off(&riverside, "/fhir/Patient/$export");
    let before = exported(&riverside, &manifest(&riverside, &status));
    assert!(before.is_empty(), "{before:?}");
    let patient_key = PrivateKey::from_seed(1_404);
    let pseudonym: Pseudonym = first.parse().unwrap();
    enrol_and_consent(&c, &admin, 2, pseudonym, &patient_key, "riverside-clinic");
    let status = kick_off(&riverside, "/fhir/Patient/$export");
    let after = exported(&riverside, &manifest(&riverside, &status));
    assert_eq!(after["Patient"], vec![first.clone()], "{after:?}");
    assert_eq!(after["Observation"].len(), 3);
    assert_eq!(
        after["Group"],
        vec![group.clone()],
        "the group names them: theirs too"
    );
    // Each read, denied and permitted, is in the patient's disclosure log:
    // the Patient, three Observations and the Group naming them.
    let me = Fhir::new(&c, "st-mary", &patient_key);
    let (code, trail) = me.get(&format!(
        "/fhir/AuditEvent?patient=Patient/{first}&_count=100"
    ));
    assert_eq!(code, 200, "{trail}");
    let outcomes: Vec<&str> = trail["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["agent"][0]["onBehalfOf"]["identifier"]["value"] == "riverside-clinic")
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == "4").count(),
        5,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|o| **o == "0").count(),
        5,
        "{outcomes:?}"
    );
}
