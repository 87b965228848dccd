//! Clinical records end to end, on real processes: FHIR writes at one
//! hospital, reads at another only with the patient's consent, every
//! attempt in the patient's disclosure log, bad requests refused with an
//! OperationOutcome, and no personal data anywhere on disk but the vault.

mod common;

use common::clinical::{files_holding, now_ms, transact, Fhir};
use common::{sign, Consortium};
use commonware_cryptography::Signer as _;
use custodia_types::{
    AgentKind, Body, ConsentGrant, Digest, Grantee, OrgId, PrivateKey, Pseudonym, Purpose,
};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const NAME: &str = "Zebediah Quartermaine-Xylophone";
const MRN: &str = "MRN-ZQX-99887766";

fn outcome(status: u16, body: &Value, expected: u16, needle: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["resourceType"], "OperationOutcome", "{body}");
    let text = body["issue"][0]["diagnostics"].as_str().unwrap_or_default();
    assert!(text.contains(needle), "{needle:?} not in {text:?}");
}

fn grant(c: &Consortium, patient: &PrivateKey, nonce: u64, until_ms: u64) -> Digest {
    let body = Body::GrantConsent(ConsentGrant {
        grantee: Grantee::Org {
            org: OrgId::new("riverside-clinic").unwrap(),
        },
        scope: vec![],
        purpose: Purpose::Treatment,
        from_ms: 0,
        until_ms,
    });
    let tx = sign(&c.chain_id, patient, nonce, body.clone());
    transact(c, patient, nonce, body);
    tx.id()
}

/// Wait until the node at `api` has finalized a block stamped after
/// `time_ms`: every block after it is too.
fn await_chain_time(api: &str, time_ms: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let height = common::finalized_height(api).unwrap_or(0);
        let (code, block) = common::get(api, &format!("/v1/blocks/{height}"));
        if code == 200 && block["timestamp_ms"].as_u64() > Some(time_ms) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no block after {time_ms} at {api}: {block}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn records_are_written_once_read_with_consent_and_every_access_is_disclosed() {
    let mut c = Consortium::init("records");
    c.start_all();
    c.await_all(1, Duration::from_secs(60));
    let admin = |org: &str| c.nodes[c.index_of(org)].admin_key.clone();

    // Agents: a clinician at each hospital, one at the regulator.
    let doctor_a = PrivateKey::from_seed(1_001);
    let doctor_b = PrivateKey::from_seed(1_002);
    let inspector = PrivateKey::from_seed(1_003);
    for (org, key) in [
        ("st-mary", &doctor_a),
        ("riverside-clinic", &doctor_b),
        ("health-authority", &inspector),
    ] {
        let body = Body::RegisterAgent {
            key: key.public_key(),
            kind: AgentKind::Clinician,
            label: "dr".into(),
        };
        transact(&c, &admin(org), 0, body);
    }
    let st_mary = Fhir::new(&c, "st-mary", &doctor_a);
    let riverside = Fhir::new(&c, "riverside-clinic", &doctor_b);
    let regulator = Fhir::new(&c, "health-authority", &inspector);

    // St Mary's records the patient and one resource of every type.
    let patient_body = json!({
        "resourceType": "Patient",
        "identifier": [{ "system": "urn:st-mary:mrn", "value": MRN }],
        "name": [{ "text": NAME }],
        "gender": "other"
    });
    let (code, created) = st_mary.call("POST", "/fhir/Patient", Some(patient_body), &[]);
    assert_eq!(code, 201, "{created}");
    let patient_id = created["id"].as_str().unwrap().to_string();
    let patient: Pseudonym = patient_id.parse().unwrap();
    assert_eq!(created["meta"]["versionId"], "1");
    let mut ids = vec![("Patient".to_string(), patient_id.clone())];
    for t in custodia_fhir::EXAMPLE_TYPES
        .iter()
        .filter(|t| **t != "Patient")
    {
        let mut body = custodia_fhir::example(t, &patient_id).unwrap();
        body["text"] = json!({ "status": "generated", "div": format!("<div>{NAME} {MRN}</div>") });
        let (code, created) = st_mary.call("POST", &format!("/fhir/{t}"), Some(body), &[]);
        assert_eq!(code, 201, "{t}: {created}");
        ids.push((t.to_string(), created["id"].as_str().unwrap().to_string()));
    }
    // A second version of the Observation.
    let obs_id = ids
        .iter()
        .find(|(t, _)| t == "Observation")
        .unwrap()
        .1
        .clone();
    let mut v2 = custodia_fhir::example("Observation", &patient_id).unwrap();
    v2["valueQuantity"]["value"] = json!(91);
    let (code, updated) =
        st_mary.call("PUT", &format!("/fhir/Observation/{obs_id}"), Some(v2), &[]);
    assert_eq!(code, 200, "{updated}");
    assert_eq!(updated["meta"]["versionId"], "2");
    // A read carries the version's ETag, and Last-Modified: its
    // meta.lastUpdated as an HTTP date (to the second).
    let answer = reqwest::blocking::Client::new()
        .get(format!("{}/fhir/Observation/{obs_id}", st_mary.api))
        .bearer_auth(&st_mary.token)
        .send()
        .unwrap();
    let header = |name: &str| answer.headers()[name].to_str().unwrap().to_string();
    assert_eq!(header("etag"), "W/\"2\"");
    let modified = httpdate::parse_http_date(&header("last-modified")).unwrap();
    let updated_at = updated["meta"]["lastUpdated"].as_str().unwrap();
    let updated_at = humantime::parse_rfc3339(updated_at).unwrap();
    let second = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_secs();
    assert_eq!(second(modified), second(updated_at));

    // A second observation, another code: search filters and pages.
    let mut weight = custodia_fhir::example("Observation", &patient_id).unwrap();
    weight["code"] = json!({"coding": [{"system": "http://loinc.org", "code": "29463-7"}]});
    let (code, created) = st_mary.call("POST", "/fhir/Observation", Some(weight), &[]);
    assert_eq!(code, 201, "{created}");
    ids.push((
        "Observation".into(),
        created["id"].as_str().unwrap().to_string(),
    ));
    let search = |query: &str| {
        let (code, bundle) = st_mary.get(&format!(
            "/fhir/Observation?patient=Patient/{patient_id}{query}"
        ));
        assert_eq!(code, 200, "{bundle}");
        bundle
    };
    let first = search("&_count=1");
    assert_eq!(
        (
            first["total"].clone(),
            first["entry"].as_array().unwrap().len()
        ),
        (json!(2), 1)
    );
    let next = first["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["relation"] == "next")
        .unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string();
    // Links and fullUrls are absolute: a client resolves them against
    // nothing (a relative one sent a stock client to /fhir/fhir/...).
    let base = format!("{}/fhir/", st_mary.api);
    assert!(next.starts_with(&base), "{next}");
    assert!(
        first["entry"][0]["fullUrl"]
            .as_str()
            .is_some_and(|url| url.starts_with(&format!("{base}Observation/"))),
        "{first}"
    );
    let (code, second) = st_mary.get(&next[st_mary.api.len()..]);
    assert_eq!(
        (code, second["entry"].as_array().unwrap().len()),
        (200, 1),
        "{second}"
    );
    assert_ne!(first["entry"][0]["fullUrl"], second["entry"][0]["fullUrl"]);
    assert!(second["link"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["relation"] != "next"));
    assert_eq!(search("&code=http://loinc.org|8867-4")["total"], 1);
    assert_eq!(search("&_lastUpdated=gt2999-01-01")["total"], 0);
    assert_eq!(search("&_lastUpdated=ge2020-01-01")["total"], 2);
    let (code, body) = st_mary.get(&format!(
        "/fhir/Observation?patient={patient_id}&_lastUpdated=soon"
    ));
    outcome(code, &body, 400, "_lastUpdated");

    // The custodian reads everything back, with history.
    for (t, id) in &ids {
        let (code, read) = st_mary.get(&format!("/fhir/{t}/{id}"));
        assert_eq!(code, 200, "{t}/{id}: {read}");
        assert_eq!(read["resourceType"], t.as_str());
    }
    let (code, history) = st_mary.get(&format!("/fhir/Observation/{obs_id}/_history"));
    assert_eq!(code, 200, "{history}");
    assert_eq!(history["type"], "history");
    assert_eq!(history["entry"].as_array().unwrap().len(), 2);
    let (code, v1) = st_mary.get(&format!("/fhir/Observation/{obs_id}/_history/1"));
    assert_eq!(
        (code, v1["valueQuantity"]["value"].clone()),
        (200, json!(72))
    );

    // Riverside may not read without consent.
    c.settle();
    let (code, denied) = riverside.get(&format!("/fhir/Observation/{obs_id}"));
    outcome(code, &denied, 403, "denied by the consortium's policy");

    // The patient gets a key and consents to Riverside for treatment.
    let patient_key = PrivateKey::from_seed(2_001);
    transact(
        &c,
        &admin("st-mary"),
        1,
        Body::EnrolPatient {
            patient,
            key: patient_key.public_key(),
        },
    );
    let consent = grant(&c, &patient_key, 0, now_ms() + 3_600_000);
    for (t, id) in &ids {
        let (code, read) = riverside.get(&format!("/fhir/{t}/{id}"));
        assert_eq!(code, 200, "{t}/{id} at riverside: {read}");
        let (_, original) = st_mary.get(&format!("/fhir/{t}/{id}"));
        assert_eq!(read, original, "the same record on both nodes");
    }
    let (code, history) = riverside.get(&format!("/fhir/Observation/{obs_id}/_history"));
    assert_eq!(
        (code, history["entry"].as_array().map(Vec::len)),
        (200, Some(2))
    );
    let (code, found) = riverside.get(&format!("/fhir/Condition?patient=Patient/{patient_id}"));
    assert_eq!((code, found["total"].clone()), (200, json!(1)), "{found}");

    // Revoked: denied again.
    transact(&c, &patient_key, 1, Body::RevokeConsent { consent });
    let (code, denied) = riverside.get(&format!("/fhir/Observation/{obs_id}"));
    outcome(code, &denied, 403, "denied");

    // A consent that runs out: allowed, then denied once it expires. What
    // counts is the time of the block deciding the read, so the window is
    // roomy and the wait is for the chain's clock, not the test's.
    let until_ms = now_ms() + 10_000;
    grant(&c, &patient_key, 2, until_ms);
    let (code, _) = riverside.get(&format!("/fhir/Observation/{obs_id}"));
    assert_eq!(code, 200);
    let (_, consents) = riverside.get(&format!("/fhir/Consent?patient={patient_id}"));
    assert_eq!(
        consents["entry"][1]["resource"]["status"], "active",
        "{consents}"
    );
    await_chain_time(&riverside.api, until_ms);
    let (code, denied) = riverside.get(&format!("/fhir/Observation/{obs_id}"));
    outcome(code, &denied, 403, "denied");

    // The patient's consents, as FHIR Consent resources: both over now.
    let (code, consents) = riverside.get(&format!("/fhir/Consent?patient={patient_id}"));
    assert_eq!(code, 200, "{consents}");
    let statuses: Vec<&str> = consents["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["inactive", "inactive"], "{consents}");
    let actor = &consents["entry"][0]["resource"]["provision"]["actor"][0]["reference"]
        ["identifier"]["value"];
    assert_eq!(actor, "riverside-clinic");
    // Consents and the audit trail are kept by pseudonym: anything else is
    // refused with what to send.
    for kind in ["Consent", "AuditEvent"] {
        let (code, refused) = riverside.get(&format!("/fhir/{kind}?patient=Patient/alice"));
        outcome(code, &refused, 400, "64-hex-digit pseudonym");
    }

    // Break-glass: allowed, and flagged.
    let reason = "unconscious in the emergency department";
    let (code, read) = riverside.call(
        "GET",
        &format!("/fhir/Observation/{obs_id}"),
        None,
        &[("x-break-glass", reason)],
    );
    assert_eq!(code, 200, "{read}");

    // The regulator sees the audit trail but no content.
    let (code, denied) = regulator.get(&format!("/fhir/Observation/{obs_id}"));
    outcome(code, &denied, 403, "denied");
    let (code, trail) = regulator.get(&format!("/fhir/AuditEvent?patient={patient_id}"));
    assert_eq!(code, 200, "{trail}");
    // Across patients, newest first and paged: the regulator only, and
    // the query is itself the newest event of the log.
    let (code, log) = regulator.get("/fhir/AuditEvent?_count=5");
    assert_eq!(code, 200, "{log}");
    let entries = log["entry"].as_array().unwrap();
    assert_eq!(entries.len(), 5, "{log}");
    assert!(log["total"].as_u64().unwrap() > 5);
    assert_eq!(
        entries[0]["resource"]["entity"][0]["what"]["display"],
        "AuditLog"
    );
    let next = log["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["relation"] == "next")
        .and_then(|l| l["url"].as_str())
        .unwrap()
        .to_string();
    let (code, page_two) = regulator.get(&next[regulator.api.len()..]);
    assert_eq!(code, 200, "{page_two}");
    assert_eq!(page_two["entry"].as_array().unwrap().len(), 5);
    // Page two goes on where page one stopped, although asking for it was
    // one more event.
    let seq = |entry: &Value| {
        entry["fullUrl"]
            .as_str()
            .and_then(|url| url.strip_prefix(&format!("{}/fhir/AuditEvent/", regulator.api)))
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    assert_eq!(
        seq(&page_two["entry"][0]) + 1,
        seq(&entries[4]),
        "{page_two}"
    );
    let (code, denied) = st_mary.get("/fhir/AuditEvent");
    outcome(code, &denied, 403, "only regulators");
    // Paging past the end (even absurdly far) is an empty page, not an error.
    let far = u64::MAX;
    let (code, empty) = regulator.get(&format!("/fhir/AuditEvent?_count=5&_offset={far}"));
    assert_eq!(code, 200, "{empty}");
    assert!(empty["entry"].as_array().unwrap().is_empty());
    let (code, empty) = st_mary.get(&format!(
        "/fhir/Observation?patient={patient_id}&_offset={far}"
    ));
    assert_eq!(code, 200, "{empty}");
    assert!(empty["entry"].as_array().unwrap().is_empty());

    // The patient's accounting of disclosures, read at Riverside's node.
    let me = Fhir::new(&c, "riverside-clinic", &patient_key);
    let (code, trail) = me.get(&format!("/fhir/AuditEvent?patient=Patient/{patient_id}"));
    assert_eq!(code, 200, "{trail}");
    let observation = format!("Observation/{obs_id}");
    let riverside_reads: Vec<(String, bool)> = trail["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["agent"][0]["onBehalfOf"]["identifier"]["value"] == "riverside-clinic")
        .filter(|r| r["entity"][1]["what"]["reference"] == observation.as_str())
        .map(|r| {
            (
                r["outcome"].as_str().unwrap().to_string(),
                r.get("purposeOfEvent").is_some(),
            )
        })
        .collect();
    let expected: Vec<(String, bool)> = [
        ("4", false), // no consent
        ("0", false), // consented: read
        ("0", false), // consented: history
        ("4", false), // revoked
        ("0", false), // within the short consent
        ("4", false), // expired
        ("0", true),  // break-glass
    ]
    .iter()
    .map(|(o, b)| (o.to_string(), *b))
    .collect();
    assert_eq!(riverside_reads, expected, "{trail}");
    let (code, csv) = me.get(&format!(
        "/fhir/AuditEvent?patient={patient_id}&_format=csv"
    ));
    assert_eq!(code, 200);
    assert!(csv.as_str().unwrap().contains(reason));

    // The patient proves a version offline: on chain, finalized, and the
    // content they read matches its commitment.
    let key_file = c.root.join("patient.key");
    std::fs::write(
        &key_file,
        hex::encode(commonware_codec::Encode::encode(&patient_key)),
    )
    .unwrap();
    let genesis = c.root.join("consortium/genesis.toml");
    let riverside_api = riverside.api.clone();
    let out = common::custodia(&[
        "verify-record",
        "--node",
        &riverside_api,
        "--key",
        key_file.to_str().unwrap(),
        "--genesis",
        genesis.to_str().unwrap(),
        "--resource",
        &format!("Observation/{obs_id}"),
        "--version",
        "1",
    ]);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(printed.contains("matches its commitment"), "{printed}");
    // The same proof refuses other content, and a state it was not made for.
    let key = format!("rec/Observation/{obs_id}/_history/1");
    let (_, state) = common::get(&riverside_api, &format!("/v1/state/{key}?proof=true"));
    let (_, block) = common::get(&riverside_api, &format!("/v1/blocks/{}", state["height"]));
    let genesis =
        custodia_types::Genesis::from_toml(&std::fs::read_to_string(&genesis).unwrap()).unwrap();
    use custodia_node::record_proof::{verify_record, RecordProofError};
    let forged = verify_record(&genesis, &key, &state, &block, b"{}", &[0; 32]);
    assert!(
        matches!(forged, Err(RecordProofError::CommitmentMismatch)),
        "{:?}",
        forged.err()
    );
    let other_key = format!("rec/Observation/{obs_id}/_history/2");
    let misplaced = verify_record(&genesis, &other_key, &state, &block, b"{}", &[0; 32]);
    assert!(
        matches!(misplaced, Err(RecordProofError::BadStateProof)),
        "{:?}",
        misplaced.err()
    );

    // Bad requests: refused with an OperationOutcome, nothing stored.
    let (code, body) = st_mary.call("POST", "/fhir/Observation", Some(json!({"resourceType": "Observation", "subject": {"reference": format!("Patient/{patient_id}")}})), &[]);
    outcome(code, &body, 400, "Observation.status is required");
    let (code, body) = st_mary.call(
        "POST",
        "/fhir/Basics",
        Some(json!({"resourceType": "Basics"})),
        &[],
    );
    outcome(code, &body, 404, "not a FHIR R4 resource type");
    let wrong_type = reqwest::blocking::Client::new()
        .post(format!("{}/fhir/Patient", st_mary.api))
        .header("authorization", format!("Bearer {}", st_mary.token))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(wrong_type.status().as_u16(), 415);
    let huge = json!({"resourceType": "Patient", "text": {"status": "generated", "div": "x".repeat(2 * 1024 * 1024)}});
    let (code, body) = st_mary.call("POST", "/fhir/Patient", Some(huge), &[]);
    outcome(code, &body, 413, "at most");
    let forged = Fhir {
        api: st_mary.api.clone(),
        // The last signature byte changed: a token nobody signed.
        token: {
            let mut t = st_mary.token.clone();
            let last = if t.ends_with('0') { "1" } else { "0" };
            t.replace_range(t.len() - 1.., last);
            t
        },
    };
    let (code, body) = forged.call(
        "POST",
        "/fhir/Patient",
        Some(json!({"resourceType": "Patient"})),
        &[],
    );
    assert!(matches!(code, 401), "{body}");
    let stranger = Fhir::new(&c, "st-mary", &doctor_b);
    let (code, body) = stranger.call(
        "POST",
        "/fhir/Patient",
        Some(json!({"resourceType": "Patient"})),
        &[],
    );
    outcome(code, &body, 403, "agent of riverside-clinic");
    let anonymous = Fhir {
        api: st_mary.api.clone(),
        token: String::new(),
    };
    let (code, _) = anonymous.call(
        "POST",
        "/fhir/Patient",
        Some(json!({"resourceType": "Patient"})),
        &[],
    );
    assert_eq!(code, 401);
    let (code, index) = common::get(
        &st_mary.api,
        &format!("/v1/state/patient/{patient_id}/records"),
    );
    assert_eq!(code, 200);
    // The patient's index is a count (u64, big-endian) and an entry each.
    let count = hex::decode(index["value"]["hex"].as_str().unwrap()).unwrap();
    assert_eq!(
        u64::from_be_bytes(count.try_into().unwrap()),
        ids.len() as u64,
        "nothing more was stored"
    );

    // A transaction Bundle: an Observation about a new patient, and that
    // patient (after it: order inside a bundle does not matter), named by
    // urn:uuid before either has an id, written together.
    let vault_objects = |node: &str| {
        let (code, body) = common::get(c.api(c.index_of(node)), "/v1/vault/objects");
        assert_eq!(code, 200, "{body}");
        body["objects"].as_u64().unwrap()
    };
    let observation = |subject: &str| {
        let mut o = custodia_fhir::example("Observation", "x").unwrap();
        o["subject"] = json!({ "reference": subject });
        o
    };
    let transaction = |entries: Value| json!({ "resourceType": "Bundle", "type": "transaction", "entry": entries });
    let (code, response) = st_mary.call(
        "POST",
        "/fhir",
        Some(transaction(json!([
            { "request": { "method": "POST", "url": "Observation" },
              "resource": observation("urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a") },
            { "fullUrl": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a",
              "request": { "method": "POST", "url": "Patient" },
              "resource": { "resourceType": "Patient", "gender": "other" } },
        ]))),
        &[],
    );
    assert_eq!(code, 200, "{response}");
    assert_eq!(response["type"], "transaction-response");
    let entries = response["entry"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert!(entries
        .iter()
        .all(|e| e["response"]["status"] == "201 Created"));
    let newborn = entries[1]["resource"]["id"].as_str().unwrap().to_string();
    let bundled = entries[0]["resource"]["id"].as_str().unwrap().to_string();
    let location = entries[0]["response"]["location"].as_str().unwrap();
    let (code, read_back) = st_mary.get(&format!("/fhir/{}", location));
    assert_eq!(code, 200, "{read_back}");
    assert_eq!(
        read_back["subject"]["reference"],
        format!("Patient/{newborn}"),
        "the internal reference resolved to the new patient"
    );
    // All or nothing: a new patient bundled with an Observation about a
    // patient the chain does not know is refused whole; no content kept.
    let before = vault_objects("st-mary");
    let (code, body) = st_mary.call(
        "POST",
        "/fhir",
        Some(transaction(json!([
            { "request": { "method": "POST", "url": "Patient" },
              "resource": { "resourceType": "Patient" } },
            { "request": { "method": "POST", "url": "Observation" },
              "resource": observation(&format!("Patient/{}", "ab".repeat(32))) },
        ]))),
        &[],
    );
    outcome(code, &body, 422, "create the Patient first");
    assert_eq!(
        vault_objects("st-mary"),
        before,
        "the refused bundle left no content"
    );
    let (code, body) = st_mary.call(
        "POST",
        "/fhir",
        Some(transaction(json!([
            { "request": { "method": "DELETE", "url": format!("Patient/{newborn}") } },
        ]))),
        &[],
    );
    outcome(code, &body, 400, "DELETE is not supported in a transaction");

    // Version-aware updates (If-Match): a write replaces only the version
    // it names; a stale one is refused and stores nothing.
    let path = format!("/fhir/Observation/{bundled}");
    let mut edited = observation(&format!("Patient/{newborn}"));
    edited["valueQuantity"]["value"] = json!(64);
    let before = vault_objects("st-mary");
    let stale = [("if-match", "W/\"2\"")];
    let (code, body) = st_mary.call("PUT", &path, Some(edited.clone()), &stale);
    outcome(code, &body, 412, "is at version 1, not version 2");
    assert_eq!(
        vault_objects("st-mary"),
        before,
        "the stale update left no content"
    );
    let (code, body) = st_mary.call("PUT", &path, Some(edited.clone()), &[("if-match", "1")]);
    outcome(code, &body, 400, "If-Match");
    let current = [("if-match", "W/\"1\"")];
    let (code, updated) = st_mary.call("PUT", &path, Some(edited.clone()), &current);
    assert_eq!(code, 200, "{updated}");
    assert_eq!(updated["meta"]["versionId"], "2");
    let (code, body) = st_mary.call("PUT", &path, Some(edited.clone()), &current);
    outcome(code, &body, 412, "is at version 2, not version 1");
    // In a transaction, a stale entry refuses the whole bundle.
    let (code, body) = st_mary.call(
        "POST",
        "/fhir",
        Some(transaction(json!([
            { "request": { "method": "POST", "url": "Patient" },
              "resource": { "resourceType": "Patient" } },
            { "request": { "method": "PUT", "url": format!("Observation/{bundled}"), "ifMatch": "W/\"1\"" },
              "resource": edited.clone() },
        ]))),
        &[],
    );
    outcome(code, &body, 412, "is at version 2, not version 1");
    assert_eq!(
        vault_objects("st-mary"),
        before + 1,
        "only the accepted update's content"
    );
    // Two editors of version 2 at once: one wins, the other is told to
    // read again (by its node, or by the chain if both got that far).
    let racing = [("if-match", "W/\"2\"")];
    let mut statuses: Vec<u16> = std::thread::scope(|scope| {
        let editors: Vec<_> = [65, 66]
            .into_iter()
            .map(|value| {
                let mut edit = edited.clone();
                edit["valueQuantity"]["value"] = json!(value);
                let (path, racing, st_mary) = (&path, &racing, &st_mary);
                scope.spawn(move || st_mary.call("PUT", path, Some(edit), racing).0)
            })
            .collect();
        editors.into_iter().map(|e| e.join().unwrap()).collect()
    });
    statuses.sort();
    assert_eq!(statuses, [200, 412]);
    let (code, history) = st_mary.get(&format!("{path}/_history"));
    assert_eq!(
        (code, history["entry"].as_array().map(Vec::len)),
        (200, Some(3)),
        "{history}"
    );

    // Erasure: St Mary's erases the Condition; unreadable on every node.
    let condition = ids
        .iter()
        .find(|(t, _)| t == "Condition")
        .unwrap()
        .1
        .clone();
    let (_, head) = common::get(
        &st_mary.api,
        &format!("/v1/state/rec/Condition/{condition}/_history/1"),
    );
    let ciphertext = head["value"]["ciphertext"].as_str().unwrap().to_string();
    let holds = |index: usize| common::vault_holds(c.api(index), &ciphertext);
    // Until then every member's vault holds the ciphertext (pushed by the
    // custodian once final), though only St Mary's holds its key.
    let everywhere = |present: bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while (0..c.nodes.len()).any(|i| holds(i) != present) {
            assert!(
                std::time::Instant::now() < deadline,
                "replicas: expected present={present} on every node"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    everywhere(true);
    let holders = |c: &Consortium| -> Vec<String> {
        c.nodes
            .iter()
            .filter(|n| common::key_ring_holds(&n.home, &ciphertext))
            .map(|n| n.home.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(holders(&c), ["st-mary"], "only the custodian holds the key");
    let (code, body) = riverside.call("DELETE", &format!("/fhir/Condition/{condition}"), None, &[]);
    outcome(code, &body, 403, "only its custodian");
    let (code, body) = st_mary.call("DELETE", &format!("/fhir/Condition/{condition}"), None, &[]);
    assert_eq!(code, 204, "{body}");
    let (code, body) = st_mary.get(&format!("/fhir/Condition/{condition}"));
    outcome(code, &body, 410, "erased");
    let glass = [("x-break-glass", reason)];
    let (code, body) = riverside.call("GET", &format!("/fhir/Condition/{condition}"), None, &glass);
    outcome(code, &body, 410, "erased");
    let (code, body) = st_mary.call(
        "PUT",
        &format!("/fhir/Condition/{condition}"),
        Some(custodia_fhir::example("Condition", &patient_id).unwrap()),
        &[],
    );
    outcome(code, &body, 410, "erased");
    // Erased and held by another member: the node answers as the chain's
    // rule does (erased), not that someone else holds it.
    let (code, body) = riverside.call(
        "PUT",
        &format!("/fhir/Condition/{condition}"),
        Some(custodia_fhir::example("Condition", &patient_id).unwrap()),
        &[],
    );
    outcome(code, &body, 410, "erased");
    // Every node follows the chain's erasure log: no key, no replica.
    everywhere(false);
    assert!(holders(&c).is_empty(), "the key was shredded in place");

    // No personal data anywhere on disk but the encrypted vault objects.
    c.stop_all();
    for needle in [NAME, MRN] {
        let mut found = Vec::new();
        files_holding(&c.root, needle.as_bytes(), &mut found);
        assert!(found.is_empty(), "{needle:?} found in {found:?}");
    }
    // The chain, erasure included, still verifies from genesis.
    let st_mary_home = c.nodes[c.index_of("st-mary")].home.clone();
    let out = common::custodia(&["verify", "--home", st_mary_home.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
