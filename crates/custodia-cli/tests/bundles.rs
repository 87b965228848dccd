//! FHIR transaction Bundles of a hospital export's size, end to end on real
//! processes: more entries than one chain transaction holds, staged in
//! parts and committed, written all together or not at all.

mod common;

use common::clinical::{registered_clinician, Fhir};
use common::Consortium;
use serde_json::{json, Value};
use std::time::Duration;

/// Entries of the large transaction: the most one holds (8 192: 256
/// staged parts of 32), beyond the 5 000 a hospital's export may hold.
const LARGE: usize =
    custodia_types::MAX_BUNDLE_VERSIONS * custodia_types::MAX_STAGED_PARTS as usize;

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
fn a_transaction_of_the_most_entries_is_written_whole_or_not_at_all() {
    let mut c = Consortium::init("bundles");
    c.start_all();
    c.await_all(1, Duration::from_secs(60));
    let (_, st_mary) = registered_clinician(&c, "st-mary", 1_201);
    let vault_objects = || {
        let (code, body) = common::get(&st_mary.api, "/v1/vault/objects");
        assert_eq!(code, 200, "{body}");
        body["objects"].as_u64().unwrap()
    };

    // A new patient and 8 191 observations naming it before it has an id.
    let mut entries = vec![json!({
        "fullUrl": PATIENT_URL,
        "request": { "method": "POST", "url": "Patient" },
        "resource": { "resourceType": "Patient", "gender": "unknown" }
    })];
    entries.extend((1..LARGE).map(|n| observation(PATIENT_URL, n)));
    let (code, response) = st_mary.call("POST", "/fhir", Some(transaction(entries)), &[]);
    assert_eq!(code, 200, "{response}");
    let written = response["entry"].as_array().unwrap();
    assert_eq!(written.len(), LARGE);
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
    assert_eq!(u64::from_be_bytes(count.try_into().unwrap()), LARGE as u64);
    let last = written[LARGE - 1]["response"]["location"].as_str().unwrap();
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
        LARGE as u64,
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

/// One patient's bundle as a hospital export writes it: the patient (found
/// again by MRN), the practitioner and organisation as conditional creates
/// (`ifNoneExist`), and encounters and observations naming them by
/// conditional reference and `urn:uuid`.
fn export(patient: usize, observations: usize) -> Value {
    let patient_url = format!("urn:uuid:7c1d3a52-0000-4000-8000-{patient:012}");
    let mut entries = vec![
        json!({
            "request": { "method": "POST", "url": "Practitioner", "ifNoneExist": "identifier=http://hl7.org/fhir/sid/us-npi|9999912345" },
            "resource": { "resourceType": "Practitioner",
                "identifier": [{ "system": "http://hl7.org/fhir/sid/us-npi", "value": "9999912345" }],
                "name": [{ "family": "Osler", "given": ["William"] }] }
        }),
        json!({
            "request": { "method": "POST", "url": "Organization", "ifNoneExist": "identifier=https://example.org/hospitals|st-mary" },
            "resource": { "resourceType": "Organization",
                "identifier": [{ "system": "https://example.org/hospitals", "value": "st-mary" }],
                "name": "St Mary's" }
        }),
        json!({
            "fullUrl": patient_url,
            "request": { "method": "PUT", "url": format!("Patient?identifier=urn:st-mary:mrn|MRN-{patient}") },
            "resource": { "resourceType": "Patient",
                "identifier": [{ "system": "urn:st-mary:mrn", "value": format!("MRN-{patient}") }],
                "gender": "unknown" }
        }),
    ];
    entries.extend((0..observations).map(|n| {
        let mut entry = observation(&patient_url, n);
        entry["resource"]["performer"] =
            json!([{ "reference": "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999912345" }]);
        entry
    }));
    transaction(entries)
}

#[test]
fn exports_load_twice_without_duplicates_and_patients_are_found_by_identifier() {
    let mut c = Consortium::init("exports");
    c.start_all();
    c.await_all(1, Duration::from_secs(60));
    let st = c.index_of("st-mary");
    let (doctor, st_mary) = registered_clinician(&c, "st-mary", 1_301);

    // Two patients' exports of 500 entries each, loaded twice.
    let mut first_load = Vec::new();
    for round in 0..2 {
        for patient in 0..2 {
            let (code, response) = st_mary.call("POST", "/fhir", Some(export(patient, 497)), &[]);
            assert_eq!(code, 200, "round {round}: {response}");
            let statuses: Vec<&str> = response["entry"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["response"]["status"].as_str().unwrap())
                .collect();
            let locations: Vec<String> = response["entry"]
                .as_array()
                .unwrap()
                .iter()
                .take(3)
                .map(|e| {
                    let location = e["response"]["location"].as_str().unwrap();
                    location.split("/_history").next().unwrap().to_string()
                })
                .collect();
            match (round, patient) {
                // The very first bundle creates the directory entries.
                (0, 0) => assert_eq!(statuses[..3], ["201 Created"; 3]),
                // Later ones find them; a known patient gets a new version.
                (0, _) => assert_eq!(statuses[..3], ["200 OK", "200 OK", "201 Created"]),
                (_, _) => assert_eq!(statuses[..3], ["200 OK"; 3]),
            }
            match round {
                0 => first_load.push(locations),
                _ => assert_eq!(
                    locations, first_load[patient],
                    "the same resources, no duplicates"
                ),
            }
        }
    }

    // The custodian finds a patient by MRN; the read is in their log.
    let find = |fhir: &Fhir| {
        let (code, found) = fhir.get("/fhir/Patient?identifier=urn:st-mary:mrn|MRN-1");
        assert_eq!(code, 200, "{found}");
        found
    };
    let found = find(&st_mary);
    assert_eq!(found["total"], 1, "{found}");
    let patient = found["entry"][0]["resource"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(format!("Patient/{patient}"), first_load[1][2]);
    assert!(found["entry"][0]["fullUrl"]
        .as_str()
        .unwrap()
        .starts_with("http://"));
    let trail = || {
        let (code, trail) = st_mary.get(&format!(
            "/fhir/AuditEvent?patient=Patient/{patient}&_count=1"
        ));
        assert_eq!(code, 200, "{trail}");
        trail["total"].as_u64().unwrap()
    };
    let before = trail();
    find(&st_mary);
    // The search's read, and the read of the trail itself.
    assert_eq!(trail(), before + 2, "each search result is an audited read");
    // Where each version came from, as the chain recorded it: by the
    // agent's name, for its organisation, in a transaction and block.
    let (code, provenance) = st_mary.get(&format!("/fhir/Provenance?target=Patient/{patient}"));
    assert_eq!(code, 200, "{provenance}");
    assert_eq!(provenance["total"], 2, "two versions: {provenance}");
    for (i, entry) in provenance["entry"].as_array().unwrap().iter().enumerate() {
        let p = &entry["resource"];
        assert_eq!(
            p["target"][0]["reference"],
            format!("Patient/{patient}/_history/{}", i + 1)
        );
        assert_eq!(p["agent"][0]["who"]["display"], "dr", "{p}");
        assert_eq!(
            p["agent"][0]["onBehalfOf"]["identifier"]["value"],
            "st-mary"
        );
        assert!(p["agent"][0]["onBehalfOf"]["display"].is_string(), "{p}");
        assert!(
            p["extension"].to_string().contains("urn:custodia:tx"),
            "{p}"
        );
        let parsed = custodia_fhir::parse(p.to_string().as_bytes(), Some("Provenance"));
        assert!(parsed.is_ok(), "valid R4: {parsed:?}");
    }
    let (code, none) =
        st_mary.get("/fhir/Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|0");
    assert_eq!((code, none["total"].clone()), (200, json!(0)), "{none}");

    // A batch: each entry on its own; a refused one is answered in place,
    // located in the batch, and the others are written.
    let batch = json!({ "resourceType": "Bundle", "type": "batch", "entry": [
        { "request": { "method": "POST", "url": "Location" },
          "resource": { "resourceType": "Location", "name": "Ward 3" } },
        { "request": { "method": "POST", "url": "Observation" },
          "resource": { "resourceType": "Observation", "status": "done", "code": { "text": "x" } } },
    ] });
    let (code, answered) = st_mary.call("POST", "/fhir", Some(batch), &[]);
    assert_eq!(code, 200, "{answered}");
    assert_eq!(answered["type"], "batch-response");
    assert_eq!(
        answered["entry"][0]["response"]["status"], "201 Created",
        "{answered}"
    );
    let refused = &answered["entry"][1]["response"];
    assert_eq!(refused["status"], "400 Bad Request", "{answered}");
    assert_eq!(
        refused["outcome"]["issue"][0]["expression"][0],
        "Bundle.entry[1].resource.status"
    );
    let location = answered["entry"][0]["response"]["location"]
        .as_str()
        .unwrap();
    assert_eq!(st_mary.get(&format!("/fhir/{location}")).0, 200);

    // `custodia fhir load`: a folder of a practitioner list (a batch
    // Bundle), a patient's export, NDJSON, and one broken file, which is
    // reported and fails the command while the rest loads.
    let folder = c.root.join("export");
    std::fs::create_dir_all(&folder).unwrap();
    let practitioners = json!({ "resourceType": "Bundle", "type": "batch", "entry": [{
        "request": { "method": "POST", "url": "Practitioner", "ifNoneExist": "identifier=http://hl7.org/fhir/sid/us-npi|777" },
        "resource": { "resourceType": "Practitioner",
            "identifier": [{ "system": "http://hl7.org/fhir/sid/us-npi", "value": "777" }] } }] });
    std::fs::write(
        folder.join("practitionerInformation.json"),
        practitioners.to_string(),
    )
    .unwrap();
    std::fs::write(folder.join("patient-2.json"), export(2, 40).to_string()).unwrap();
    let lines: Vec<String> = (0..30)
        .map(|n| {
            let mut o = observation("Patient?identifier=urn:st-mary:mrn|MRN-1", n)["resource"].clone();
            o["performer"] = json!([{ "reference": "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|777" }]);
            o.to_string()
        })
        .collect();
    std::fs::write(folder.join("observations.ndjson"), lines.join("\n")).unwrap();
    let broken =
        json!({ "resourceType": "Observation", "status": "finished", "code": { "text": "x" } });
    std::fs::write(folder.join("broken.json"), broken.to_string()).unwrap();
    let key_file = c.root.join("doctor.key");
    std::fs::write(
        &key_file,
        hex::encode(commonware_codec::Encode::encode(&doctor)),
    )
    .unwrap();
    let out = common::custodia(&[
        "fhir",
        "load",
        folder.to_str().unwrap(),
        "--node",
        &st_mary.api,
        "--key",
        key_file.to_str().unwrap(),
        "--chunk",
        "8",
    ]);
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success(),
        "a refused file fails the load: {printed}"
    );
    assert!(
        printed.contains("refused broken.json") && printed.contains("Observation.status"),
        "{printed}"
    );
    // 1 + 43 + 30 resources; of those 2 already here (the practitioner and
    // organisation of the earlier exports).
    assert!(
        printed.contains("72 resources created, 2 updated or already here, 1 Bundles refused"),
        "{printed}"
    );
    let (code, found) = st_mary.get("/fhir/Patient?identifier=urn:st-mary:mrn|MRN-2");
    assert_eq!((code, found["total"].clone()), (200, json!(1)), "{found}");

    // The index is the node's own, in memory: rebuilt from the vault when
    // the node starts again.
    c.kill(st);
    c.start(st);
    c.await_height(st, 1, Duration::from_secs(60));
    // The first search waits for the rebuild: never an answer from half an
    // index (a conditional create would duplicate).
    assert_eq!(find(&st_mary)["total"], 1, "found at once after restart");
    c.stop_all();
}
