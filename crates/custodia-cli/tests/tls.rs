//! The API over TLS: a consortium whose nodes serve HTTPS only (`[tls]` in
//! config.toml), a FHIR write at one member and a read at another, which
//! needs the custodian's key released over HTTPS; a node that does not
//! trust its peers' authority cannot get it.

mod common;

use common::clinical::{enrol_and_consent, transact, Fhir};
use common::Consortium;
use commonware_cryptography::Signer as _;
use custodia_types::{AgentKind, Body, PrivateKey, Pseudonym};
use serde_json::json;
use std::time::Duration;

#[test]
fn members_talk_over_https_and_refuse_a_peer_they_cannot_verify() {
    let mut c = Consortium::init("tls");
    for index in 0..c.nodes.len() {
        c.use_tls(index, "ca.pem");
    }
    c.start_all();
    c.await_all(1, Duration::from_secs(60));
    let (st_mary, riverside) = (c.index_of("st-mary"), c.index_of("riverside-clinic"));
    assert!(c.api(st_mary).starts_with("https://127.0.0.1:"));

    // The command line reaches an HTTPS node when told the consortium's
    // authority (CUSTODIA_CA_FILE), and refuses its certificate otherwise.
    let ca = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls/ca.pem");
    let status = |ca: Option<&std::path::Path>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_custodia"));
        command.args(["status", "--node", c.api(st_mary)]);
        match ca {
            Some(ca) => command.env("CUSTODIA_CA_FILE", ca),
            None => command.env_remove("CUSTODIA_CA_FILE"),
        };
        command.output().expect("custodia runs")
    };
    let trusted = status(Some(&ca));
    assert!(
        trusted.status.success(),
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );
    assert!(String::from_utf8_lossy(&trusted.stdout).contains("finalized_height"));
    assert!(
        !status(None).status.success(),
        "an unknown authority is refused"
    );

    // Plain HTTP to an HTTPS node gets no answer from the API.
    let plain = c.api(st_mary).replacen("https://", "http://", 1);
    let answer = common::client().get(format!("{plain}/v1/status")).send();
    assert!(
        answer.as_ref().map_or(true, |r| !r.status().is_success()),
        "plain HTTP was served: {answer:?}"
    );

    let admin = |index: usize| c.nodes[index].admin_key.clone();
    let doctor_a = PrivateKey::from_seed(3_001);
    let doctor_b = PrivateKey::from_seed(3_002);
    for (index, key) in [(st_mary, &doctor_a), (riverside, &doctor_b)] {
        let body = Body::RegisterAgent {
            key: key.public_key(),
            kind: AgentKind::Clinician,
            label: "dr".into(),
        };
        transact(&c, &admin(index), 0, body);
    }
    let writer = Fhir::new(&c, "st-mary", &doctor_a);
    let reader = Fhir::new(&c, "riverside-clinic", &doctor_b);

    // A write at St Mary's, and the patient's consent for Riverside.
    let (code, created) = writer.call(
        "POST",
        "/fhir/Patient",
        Some(json!({"resourceType": "Patient", "gender": "other"})),
        &[],
    );
    assert_eq!(code, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert!(
        created["meta"].is_object(),
        "the created resource comes back: {created}"
    );
    let patient: Pseudonym = id.parse().unwrap();
    let patient_key = PrivateKey::from_seed(3_003);
    enrol_and_consent(
        &c,
        &admin(st_mary),
        1,
        patient,
        &patient_key,
        "riverside-clinic",
    );

    // Riverside reads it: St Mary's released the key over HTTPS.
    let path = format!("/fhir/Patient/{id}");
    let (code, read) = reader.get(&path);
    assert_eq!(code, 200, "{read}");
    assert_eq!(read["id"], id.as_str());

    // Riverside, trusting only another authority, cannot verify St Mary's
    // certificate: it gets no key, and says the custodian failed.
    c.kill(riverside);
    c.use_tls(riverside, "other-ca.pem");
    c.start(riverside);
    c.await_all(1, Duration::from_secs(60));
    c.settle();
    let (code, refused) = reader.get(&path);
    assert_eq!(code, 502, "{refused}");
    let diagnostics = refused["issue"][0]["diagnostics"]
        .as_str()
        .unwrap_or_default();
    assert!(diagnostics.contains("st-mary"), "{refused}");
    assert!(diagnostics.contains("certificate"), "{refused}");
}
