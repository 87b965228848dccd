//! A node puts what its callers ask for at about the same time under one
//! signature (a batch transaction), and each caller still gets its own
//! answer: concurrent writes and audited reads all succeed and are each
//! audited, and of concurrent updates to one resource exactly one wins
//! while the others, in the same batch, get their own conflict (and their
//! sealed content is deleted). The patient's accounting names each
//! batched action's batch and index.

mod common;

use common::clinical::{transact, Fhir};
use common::{finalized_height, get, Consortium};
use commonware_cryptography::Signer as _;
use custodia_types::{AgentKind, Body, PrivateKey};
use serde_json::{json, Value};
use std::time::Duration;

const CALLERS: usize = 24;

/// Every batch transaction on the chain so far, as block JSON.
fn batches(api: &str) -> Vec<Value> {
    let top = finalized_height(api).expect("the node answers its status");
    (1..=top)
        .flat_map(|height| {
            let (code, block) = get(api, &format!("/v1/blocks/{height}"));
            assert_eq!(code, 200, "{block}");
            block["transactions"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|tx| tx["body"]["type"] == "batch")
        .collect()
}

/// Run `call` from `CALLERS` threads at once; their answers.
fn at_once<T: Send>(call: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let start = std::sync::Barrier::new(CALLERS);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..CALLERS)
            .map(|i| {
                let (call, start) = (&call, &start);
                scope.spawn(move || {
                    start.wait();
                    call(i)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn concurrent_requests_share_a_signature_and_keep_their_own_outcomes() {
    let mut c = Consortium::init("batching");
    c.start_all();
    c.await_all(1, Duration::from_secs(60));
    let doctor = PrivateKey::from_seed(2_001);
    let inspector = PrivateKey::from_seed(2_002);
    for (org, key) in [("st-mary", &doctor), ("health-authority", &inspector)] {
        let register = Body::RegisterAgent {
            key: key.public_key(),
            kind: AgentKind::Clinician,
            label: "dr".into(),
        };
        transact(&c, &c.nodes[c.index_of(org)].admin_key, 0, register);
    }
    // Final at the first node: wait until St Mary's has that block too.
    let registered = finalized_height(&c.nodes[0].api).unwrap();
    c.await_height(c.index_of("st-mary"), registered, Duration::from_secs(30));
    let st_mary = Fhir::new(&c, "st-mary", &doctor);
    let (code, patient) = st_mary.call(
        "POST",
        "/fhir/Patient",
        Some(json!({ "resourceType": "Patient", "gender": "other" })),
        &[],
    );
    assert_eq!(code, 201, "{patient}");
    let patient_id = patient["id"].as_str().unwrap().to_string();

    // Concurrent writes: each one created, each its own resource.
    let written = at_once(|i| {
        let mut body = custodia_fhir::example("Observation", &patient_id).unwrap();
        body["valueQuantity"]["value"] = json!(i);
        st_mary.call("POST", "/fhir/Observation", Some(body), &[])
    });
    let mut ids: Vec<String> = written
        .iter()
        .map(|(code, created)| {
            assert_eq!(*code, 201, "{created}");
            created["id"].as_str().unwrap().to_string()
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), CALLERS);

    // Concurrent audited reads: each answered with its own resource.
    let read = at_once(|i| st_mary.get(&format!("/fhir/Observation/{}", ids[i])));
    for (i, (code, resource)) in read.iter().enumerate() {
        assert_eq!(*code, 200, "{resource}");
        assert_eq!(resource["id"], ids[i].as_str());
    }

    // They went out in batches, every entry applied and audited.
    let api = &c.nodes[c.index_of("st-mary")].api;
    let found = batches(api);
    let entries = |kind: &str| -> usize {
        found
            .iter()
            .flat_map(|tx| {
                tx["body"]["entries"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter(|entry| entry["type"] == kind)
            .count()
    };
    assert!(entries("write_record") >= 2, "no batched writes: {found:?}");
    assert!(entries("access") >= 2, "no batched reads: {found:?}");
    let id = found[0]["id"].as_str().unwrap();
    let (code, receipt) = get(api, &format!("/v1/tx/{id}"));
    assert_eq!(code, 200, "{receipt}");
    assert_eq!(receipt["kind"], "batch");
    let statuses = receipt["entries"].as_array().expect("a batch has entries");
    assert_eq!(
        statuses.len(),
        found[0]["body"]["entries"].as_array().unwrap().len()
    );
    assert!(
        statuses.iter().all(|s| s["status"] == "applied"),
        "{receipt}"
    );

    // The patient's accounting names, for each batched action, the batch
    // and the entry's index in it: as AuditEvent extensions and as CSV.
    let regulator = Fhir::new(&c, "health-authority", &inspector);
    let (code, trail) = regulator.get(&format!("/fhir/AuditEvent?patient={patient_id}&_count=200"));
    assert_eq!(code, 200, "{trail}");
    // An event of an action that went alone (a plain transaction) has no
    // index; one of a batched action has its entry's.
    // (The query itself is in the trail, perhaps in a batch of its own,
    // final at the regulator's node when answered.)
    let found = batches(&c.nodes[c.index_of("health-authority")].api);
    let mut batched = Vec::new();
    for event in trail["entry"].as_array().expect("an accounting") {
        let event = &event["resource"];
        let tx = event["source"]["observer"]["identifier"]["value"]
            .as_str()
            .expect("each event names its transaction");
        let index = event["extension"]
            .as_array()
            .and_then(|x| x.iter().find(|x| x["url"] == "urn:custodia:batch-entry"))
            .and_then(|x| x["valueInteger"].as_u64());
        match found.iter().find(|b| b["id"] == tx) {
            Some(batch) => {
                let index = index.unwrap_or_else(|| panic!("no entry index: {event}"));
                let entries = batch["body"]["entries"].as_array().unwrap();
                assert!((index as usize) < entries.len(), "{event}");
                batched.push((tx.to_string(), index));
            }
            None => assert_eq!(index, None, "{event}"),
        }
    }
    // At least the batched writes and reads counted above.
    assert!(batched.len() >= 4, "{trail}");
    let (code, csv) = regulator.get(&format!(
        "/fhir/AuditEvent?patient={patient_id}&_format=csv"
    ));
    assert_eq!(code, 200);
    let csv = csv.as_str().expect("CSV as text").to_string();
    assert!(
        csv.starts_with("seq,") && csv.lines().next().unwrap().ends_with(",tx,entry"),
        "{csv}"
    );
    let (tx, index) = &batched[0];
    assert!(csv.contains(&format!(",{tx},{index}\n")), "{csv}");

    // Concurrent updates of one resource, all of version 1 (If-Match, so a
    // caller the machine schedules late is refused too, not applied on top
    // of the winner): one wins; each other gets its own conflict, not the
    // winner's answer.
    let target = ids[0].clone();
    let updated = at_once(|i| {
        let mut body = custodia_fhir::example("Observation", &patient_id).unwrap();
        body["id"] = json!(target);
        body["valueQuantity"]["value"] = json!(1_000 + i);
        st_mary.call(
            "PUT",
            &format!("/fhir/Observation/{target}"),
            Some(body),
            &[("if-match", "W/\"1\"")],
        )
    });
    let won: Vec<_> = updated.iter().filter(|(code, _)| *code == 200).collect();
    assert_eq!(won.len(), 1, "{updated:?}");
    assert_eq!(won[0].1["meta"]["versionId"], "2");
    for (code, answer) in updated.iter().filter(|(code, _)| *code != 200) {
        assert_eq!(*code, 412, "{answer}");
        assert_eq!(answer["resourceType"], "OperationOutcome");
    }
    let (code, history) = st_mary.get(&format!("/fhir/Observation/{target}/_history"));
    assert_eq!(code, 200, "{history}");
    assert_eq!(history["total"], 2, "{history}");
    // A refused entry's sealed content was deleted before its caller was
    // answered: the vault holds the patient, the observations and the one
    // update that won (only St Mary's writes, so no replicas from others).
    let (code, vault) = get(api, "/v1/vault/objects");
    assert_eq!(code, 200, "{vault}");
    assert_eq!(vault["objects"], 1 + CALLERS + 1, "{vault}");
    c.stop_all();
}
