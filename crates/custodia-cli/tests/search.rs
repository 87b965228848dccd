//! FHIR search on real processes: R4's search parameters through each
//! node's private index, results and includes that are each an audited
//! read, and a patient found by identifier at another member's node only
//! after they consent, every attempt in their disclosure log.

mod common;

use common::clinical::{enrol_and_consent, files_holding, registered_clinician, Fhir};
use common::Consortium;
use commonware_cryptography::Signer as _;
use custodia_types::{PrivateKey, Pseudonym};
use serde_json::{json, Value};
use std::time::Duration;

const FAMILY: &str = "Quillfeather-Oyelaran";
const MRN_SYSTEM: &str = "urn:st-mary:mrn";

fn patient(mrn: &str, family: &str, given: &str, gender: &str, birth: &str) -> Value {
    json!({
        "resourceType": "Patient",
        "identifier": [{ "system": MRN_SYSTEM, "value": mrn }],
        "name": [{ "family": family, "given": [given] }],
        "gender": gender,
        "birthDate": birth
    })
}

fn observation(patient: &str, code: &str, day: &str, status: &str) -> Value {
    json!({
        "resourceType": "Observation",
        "status": status,
        "category": [{ "coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "vital-signs"
        }] }],
        "code": { "coding": [{ "system": "http://loinc.org", "code": code }] },
        "subject": { "reference": format!("Patient/{patient}") },
        "effectiveDateTime": day,
        "valueQuantity": { "value": 70, "unit": "beats/minute" }
    })
}

/// The ids of a searchset's entries in `mode` (match, include), in order.
fn ids(bundle: &Value, mode: &str) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["search"]["mode"] == mode)
        .map(|e| e["resource"]["id"].as_str().unwrap().to_string())
        .collect()
}

fn found(fhir: &Fhir, query: &str) -> Value {
    let (code, bundle) = fhir.get(query);
    assert_eq!(code, 200, "{query}: {bundle}");
    bundle
}

#[test]
fn r4_search_parameters_find_what_each_caller_may_read_across_members() {
    let mut c = Consortium::init("search");
    c.start_all();
    c.await_all(1, Duration::from_secs(60));
    let (_, st_mary) = registered_clinician(&c, "st-mary", 1_301);

    let chalmers = st_mary.create(patient("MRN-1", FAMILY, "Peter", "male", "1974-12-25"));
    let windsor = st_mary.create(patient("MRN-2", "Windsor", "Anne", "female", "1950-08-15"));
    let heart = "8867-4";
    let weight = "29463-7";
    let mut observations = Vec::new();
    for (day, code, status) in [
        ("2026-01-03", heart, "final"),
        ("2026-01-01", heart, "final"),
        ("2026-01-02", weight, "preliminary"),
    ] {
        observations.push(st_mary.create(observation(&chalmers, code, day, status)));
    }
    st_mary.create(observation(&windsor, heart, "2026-01-05", "final"));

    // Patient search: name (starts with, any case), family, given,
    // gender, birthdate ranges, identifier, and combinations (AND).
    let patients = |query: &str| ids(&found(&st_mary, &format!("/fhir/Patient?{query}")), "match");
    assert_eq!(patients("family=quillf"), vec![chalmers.clone()]);
    assert_eq!(patients("name=peter"), vec![chalmers.clone()]);
    assert_eq!(patients("given=Anne"), vec![windsor.clone()]);
    assert_eq!(patients("gender=female"), vec![windsor.clone()]);
    assert_eq!(patients("birthdate=lt1960"), vec![windsor.clone()]);
    assert_eq!(
        patients("birthdate=ge1970&birthdate=le1974-12"),
        vec![chalmers.clone()]
    );
    assert_eq!(
        patients(&format!("identifier={MRN_SYSTEM}|MRN-2")),
        vec![windsor.clone()]
    );
    assert_eq!(patients("gender=male&birthdate=1950"), Vec::<String>::new());
    assert_eq!(
        patients("_sort=-birthdate&_count=1"),
        vec![chalmers.clone()]
    );

    // Observations: patient, code, date, status, category, _sort.
    let obs = |query: &str| {
        let path = format!("/fhir/Observation?patient=Patient/{chalmers}&{query}");
        ids(&found(&st_mary, &path), "match")
    };
    let (newest, oldest, middle) = (&observations[0], &observations[1], &observations[2]);
    assert_eq!(
        obs(&format!("code=http://loinc.org|{heart}&_sort=date")),
        vec![oldest.clone(), newest.clone()]
    );
    assert_eq!(
        obs("_sort=-date"),
        vec![newest.clone(), middle.clone(), oldest.clone()]
    );
    assert_eq!(
        obs("date=ge2026-01-02&_sort=date"),
        vec![middle.clone(), newest.clone()]
    );
    assert_eq!(obs("status=preliminary"), vec![middle.clone()]);
    assert_eq!(obs("category=vital-signs").len(), 3);
    assert_eq!(obs(&format!("_id={middle}")), vec![middle.clone()]);
    assert_eq!(obs("_lastUpdated=gt2999-01-01"), Vec::<String>::new());
    let across = ids(
        &found(&st_mary, &format!("/fhir/Observation?code={heart}")),
        "match",
    );
    assert_eq!(across.len(), 3, "both patients' heart rates: {across:?}");

    // _summary=count: the total alone. _elements: what was asked, tagged.
    let count = found(
        &st_mary,
        &format!("/fhir/Observation?patient={chalmers}&_summary=count"),
    );
    assert_eq!(
        (
            count["total"].clone(),
            count["entry"].as_array().unwrap().len()
        ),
        (json!(3), 0)
    );
    let cut = found(
        &st_mary,
        &format!("/fhir/Observation?_id={middle}&_elements=status"),
    );
    let resource = &cut["entry"][0]["resource"];
    assert_eq!(resource["status"], "preliminary");
    assert!(resource.get("valueQuantity").is_none(), "{resource}");
    assert_eq!(resource["meta"]["tag"][0]["code"], "SUBSETTED");

    // _include and _revinclude: the linked resources, marked as included.
    let with_patient = found(
        &st_mary,
        &format!("/fhir/Observation?_id={middle}&_include=Observation:patient"),
    );
    assert_eq!(ids(&with_patient, "match"), vec![middle.clone()]);
    assert_eq!(ids(&with_patient, "include"), vec![chalmers.clone()]);
    let with_observations = found(
        &st_mary,
        &format!("/fhir/Patient?_id={windsor}&_revinclude=Observation:patient"),
    );
    assert_eq!(ids(&with_observations, "match"), vec![windsor.clone()]);
    assert_eq!(ids(&with_observations, "include").len(), 1);

    // What is not understood is refused, saying what is supported.
    for (query, says) in [
        ("/fhir/Patient?nickname=Pete", "GET /fhir/metadata"),
        ("/fhir/Patient?birthdate=last-year", "prefix"),
        ("/fhir/Patient?gender:contains=ale", ":contains"),
        ("/fhir/Observation?_summary=true", "_summary=count"),
    ] {
        let (code, outcome) = st_mary.get(query);
        assert_eq!(code, 400, "{query}: {outcome}");
        assert_eq!(outcome["resourceType"], "OperationOutcome");
        assert!(outcome.to_string().contains(says), "{query}: {outcome}");
    }

    // Another member's clinician finds the patient by MRN only once the
    // patient consents; each attempt is in the patient's disclosure log.
    let (_, riverside) = registered_clinician(&c, "riverside-clinic", 1_302);
    let by_mrn = format!("/fhir/Patient?identifier={MRN_SYSTEM}|MRN-1");
    let before = found(&riverside, &by_mrn);
    assert_eq!(before["total"], 0, "nothing before consent: {before}");
    let patient_key = PrivateKey::from_seed(1_303);
    let pseudonym: Pseudonym = chalmers.parse().unwrap();
    let st_mary_admin = c.nodes[c.index_of("st-mary")].admin_key.clone();
    enrol_and_consent(
        &c,
        &st_mary_admin,
        1,
        pseudonym,
        &patient_key,
        "riverside-clinic",
    );
    let after = found(&riverside, &by_mrn);
    assert_eq!(ids(&after, "match"), vec![chalmers.clone()], "{after}");
    assert!(after["entry"][0]["fullUrl"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{}/fhir/Patient/", riverside.api)));
    let their_heart_rates = found(
        &riverside,
        &format!("/fhir/Observation?patient={chalmers}&code={heart}&_sort=-date"),
    );
    assert_eq!(
        ids(&their_heart_rates, "match"),
        vec![newest.clone(), oldest.clone()]
    );
    let me = Fhir::new(&c, "st-mary", &patient_key);
    let (code, trail) = me.get(&format!("/fhir/AuditEvent?patient=Patient/{chalmers}"));
    assert_eq!(code, 200, "{trail}");
    let riverside_patient_reads: Vec<String> = trail["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["agent"][0]["onBehalfOf"]["identifier"]["value"] == "riverside-clinic")
        .filter(|r| r["entity"][1]["what"]["reference"] == format!("Patient/{chalmers}"))
        .map(|r| r["outcome"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        riverside_patient_reads,
        ["4", "0"],
        "denied, then read: {trail}"
    );

    // Members' nodes ask each other for matches with signed requests; one
    // signed for another member is refused, and so is one from no member.
    let riverside_node =
        custodia_node::home::Home::load(&c.nodes[c.index_of("riverside-clinic")].home)
            .unwrap()
            .validator_key;
    let peer_search = |audience: &str, key: &PrivateKey| {
        let params = vec![("identifier".to_string(), format!("{MRN_SYSTEM}|MRN-1"))];
        let time_ms = common::clinical::now_ms();
        let message =
            serde_json::to_vec(&("Patient", audience, &params, 10usize, time_ms)).unwrap();
        let signature = hex::encode(key.sign(b"custodia/search/v1", &message));
        let request = json!({
            "resource_type": "Patient", "audience": audience, "params": params,
            "limit": 10, "time_ms": time_ms,
            "requester": custodia_types::key_hex(&key.public_key()), "signature": signature,
        });
        let response = common::client()
            .post(format!("{}/v1/index/search", st_mary.api))
            .json(&request)
            .send()
            .unwrap();
        let code = response.status().as_u16();
        (code, response.json::<Value>().unwrap())
    };
    let (code, matches) = peer_search("st-mary", &riverside_node);
    assert_eq!(code, 200, "{matches}");
    assert_eq!(matches[0]["id"], chalmers.as_str(), "ids only: {matches}");
    assert!(matches[0].get("resource").is_none());
    let (code, refused) = peer_search("northwind-health", &riverside_node);
    assert_eq!(code, 403, "signed for another member: {refused}");
    let (code, refused) = peer_search("st-mary", &patient_key);
    assert_eq!(code, 403, "not a member's node: {refused}");

    // The index is the node's memory only: no file of any node holds the
    // family name or the MRN (vault ciphertexts aside).
    c.stop_all();
    for needle in [FAMILY, "MRN-1"] {
        let mut holding = Vec::new();
        files_holding(&c.root, needle.as_bytes(), &mut holding);
        assert!(holding.is_empty(), "{needle:?} found in {holding:?}");
    }
}
