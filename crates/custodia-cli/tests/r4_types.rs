//! Every FHIR R4 resource type, end to end on real processes: one of each
//! (the specification's own example where the HL7 package ships a valid
//! one; tests/fixtures/r4-examples, written by custodia-fhir's
//! `r4_examples` test) is written at St Mary's and read back at Riverside
//! Clinic, identical. Directory data (in no patient's compartment) is read
//! there without consent; a patient's records only once the patient
//! consents.

mod common;

use common::clinical::{enrol_and_consent, registered_clinician};
use common::Consortium;
use commonware_cryptography::Signer as _;
use custodia_types::{PrivateKey, Pseudonym};
use serde_json::{json, Value};
use std::time::Duration;

/// A resource as its writer meant it: without what the server stamps (the
/// id, `meta.versionId`, `meta.lastUpdated`).
fn as_meant(mut resource: Value) -> Value {
    let object = resource.as_object_mut().unwrap();
    object.remove("id");
    if let Some(Value::Object(meta)) = object.get_mut("meta") {
        meta.remove("versionId");
        meta.remove("lastUpdated");
        if meta.is_empty() {
            object.remove("meta");
        }
    }
    resource
}

#[test]
fn every_r4_resource_type_is_written_at_one_member_and_read_back_identical_at_another() {
    let mut c = Consortium::init("r4-types");
    c.start_all();
    c.await_all(1, Duration::from_secs(60));
    let (_, st_mary) = registered_clinician(&c, "st-mary", 1_101);
    let (_, riverside) = registered_clinician(&c, "riverside-clinic", 1_102);
    let pseudonym = st_mary.create_patient();

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/r4-examples");
    let mut fixtures: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path)
                .unwrap()
                .replace("{{patient}}", &pseudonym);
            let t = path.file_stem().unwrap().to_string_lossy().to_string();
            (t, serde_json::from_str(&text).unwrap())
        })
        .collect();
    fixtures.sort_by(|a, b| a.0.cmp(&b.0));
    // Every R4 type but files (tests/binary.rs) and the ledger's own views.
    assert_eq!(fixtures.len(), 146 - 3);

    // Written at St Mary's, a few at a time (each waits for finality).
    let written: Vec<(String, String, Value, bool)> = std::thread::scope(|s| {
        let workers: Vec<_> = fixtures
            .chunks(fixtures.len().div_ceil(6))
            .map(|chunk| {
                let (st_mary, pseudonym) = (&st_mary, &pseudonym);
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|(t, body)| {
                            // The Patient example becomes the patient's
                            // second version; every other one is new.
                            let (path, method, status) = match t.as_str() {
                                "Patient" => (format!("/fhir/Patient/{pseudonym}"), "PUT", 200),
                                _ => (format!("/fhir/{t}"), "POST", 201),
                            };
                            let mut body = body.clone();
                            if t == "Patient" {
                                body["id"] = json!(pseudonym);
                            }
                            let (code, created) =
                                st_mary.call(method, &path, Some(body.clone()), &[]);
                            assert_eq!(code, status, "{t}: {created}");
                            let id = created["id"].as_str().unwrap().to_string();
                            let patients = t == "Patient"
                                || body.to_string().contains(&format!("Patient/{pseudonym}"));
                            (t.clone(), id, body, patients)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let (patients, directory): (Vec<_>, Vec<_>) =
        written.iter().partition(|(_, _, _, patients)| *patients);
    assert!(
        patients.len() > 40 && directory.len() > 70,
        "{} / {}",
        patients.len(),
        directory.len()
    );

    let read_all = |records: &[&(String, String, Value, bool)]| {
        std::thread::scope(|s| {
            for chunk in records.chunks(records.len().div_ceil(6)) {
                let riverside = &riverside;
                s.spawn(move || {
                    for (t, id, sent, _) in chunk {
                        let (code, read) = riverside.get(&format!("/fhir/{t}/{id}"));
                        assert_eq!(code, 200, "{t}/{id} at Riverside: {read}");
                        assert_eq!(read["id"], json!(id));
                        assert_eq!(as_meant(read), as_meant(sent.clone()), "{t}");
                    }
                });
            }
        })
    };
    // Directory data: every member reads it, no consent needed.
    read_all(&directory);
    // A patient's records (all that point to the patient): none before the
    // patient consents...
    for (t, id, _, _) in &patients {
        let (code, denied) = riverside.get(&format!("/fhir/{t}/{id}"));
        assert_eq!(code, 403, "{t}/{id}: {denied}");
    }
    let everything = || {
        let path = format!("/fhir/Patient/{pseudonym}/$everything?_count=100");
        let (code, found) = riverside.get(&path);
        assert_eq!(code, 200, "{found}");
        found
    };
    assert_eq!(everything()["total"], 0, "nothing before consent");
    // ... and every one after.
    let patient_key = PrivateKey::from_seed(2_101);
    let admin = c.nodes[c.index_of("st-mary")].admin_key.clone();
    let patient = pseudonym.parse::<Pseudonym>().unwrap();
    enrol_and_consent(&c, &admin, 1, patient, &patient_key, "riverside-clinic");
    read_all(&patients);
    // $everything: all of them at once, the Patient first.
    let all = everything();
    assert_eq!(all["total"], patients.len(), "{all}");
    assert_eq!(all["entry"][0]["resource"]["resourceType"], "Patient");
    let mut listed: Vec<String> = all["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["fullUrl"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    let mut expected: Vec<String> = patients.iter().map(|(_, id, _, _)| id.clone()).collect();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);

    // The ledger's own views are read, never written.
    for t in custodia_fhir::LEDGER_VIEWS {
        let (code, refused) = st_mary.call(
            "POST",
            &format!("/fhir/{t}"),
            Some(json!({"resourceType": t})),
            &[],
        );
        assert_eq!(code, 405, "{t}: {refused}");
        assert_eq!(refused["resourceType"], "OperationOutcome");
    }
    c.stop_all();
}
