//! An organisation joins a running consortium, as real processes: `custodia
//! join` writes its home and prints the proposal; the members vote it in;
//! its node follows the chain from genesis and, from the next epoch, is a
//! validator whose votes the others need; clinical records flow between it
//! and the others.

mod common;

use common::{
    clinical::{transact, Fhir},
    finalized_height, free_ports, get, Consortium,
};
use commonware_cryptography::Signer as _;
use custodia_types::{key_hex, AgentKind, Body, PrivateKey};
use serde_json::{json, Value};
use std::{path::Path, time::Duration};

/// Short epochs, so the new validator's first one comes soon.
const EPOCH: u64 = 20;
const MINUTE: Duration = Duration::from_secs(60);

/// The validators `api`'s node says its current epoch has.
fn validators(api: &str) -> Vec<String> {
    let (code, status) = get(api, "/v1/status");
    assert_eq!(code, 200, "{status}");
    status["validators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// `custodia join` for `org` (a provider) into the home `dir`.
fn join(genesis: &Path, org: &str, p2p: &str, api: &str, dir: &Path) -> std::process::Output {
    common::custodia(&[
        "join",
        "--genesis",
        genesis.to_str().unwrap(),
        "--org",
        org,
        "--name",
        "A Hospital",
        "--role",
        "provider",
        "--p2p",
        p2p,
        "--api",
        api,
        "--dir",
        dir.to_str().unwrap(),
    ])
}

#[test]
fn an_organisation_voted_in_joins_as_a_validator_the_others_need() {
    let mut c = Consortium::init("join");
    let consortium = c.root.join("consortium");
    let genesis = consortium.join("genesis.toml");
    for file in std::iter::once(genesis.clone())
        .chain(c.nodes.iter().map(|node| node.home.join("genesis.toml")))
    {
        let text = std::fs::read_to_string(&file).unwrap();
        let short = text.replace("epoch_length = 10000", &format!("epoch_length = {EPOCH}"));
        assert_ne!(
            short,
            text,
            "{} has the default epoch length",
            file.display()
        );
        std::fs::write(&file, short).unwrap();
    }
    c.start_all();
    c.await_all(1, MINUTE);

    // The newcomer's home and the proposal that admits it.
    let home = consortium.join("city-hospital");
    let (p2p, api) = (free_ports(1), free_ports(1));
    let out = join(
        &genesis,
        "city-hospital",
        &format!("127.0.0.1:{p2p}"),
        &format!("127.0.0.1:{api}"),
        &home,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("custodia node --home"), "{stderr}");
    let proposal: Body = serde_json::from_slice(&out.stdout).expect("the proposal as JSON");
    let newcomer = c.adopt(home.clone());
    let validator_key = std::fs::read_to_string(home.join("keys/validator.key")).unwrap();
    let validator_key = custodia_types::parse_private_key(&validator_key).unwrap();
    let validator = key_hex(&validator_key.public_key());
    match &proposal {
        Body::Propose {
            proposal: custodia_types::Proposal::AddMember(member),
        } => {
            assert_eq!(key_hex(&member.validator_key), validator);
            assert_eq!(member.p2p.port(), p2p);
        }
        other => panic!("not a proposal to add a member: {other:?}"),
    }
    // Joining twice, or as an existing member, is refused before any key
    // is written.
    let twin = consortium.join("st-mary-again");
    let again = join(&genesis, "st-mary", "127.0.0.1:1", "127.0.0.1:2", &twin);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("a member in genesis already"));
    assert!(!twin.exists());

    // Proposed by one member (its approval) and approved by two more: three
    // of four, more than two thirds.
    let admin = |i: usize| -> PrivateKey { c.nodes[i].admin_key.clone() };
    transact(&c, &admin(0), 0, proposal);
    for i in [1, 2] {
        let vote = Body::Vote {
            proposal_id: 0,
            approve: true,
        };
        transact(&c, &admin(i), 0, vote);
    }
    let (code, members) = get(c.api(0), "/v1/state/gov/members");
    assert_eq!(code, 200, "{members}");
    assert!(members.to_string().contains("city-hospital"), "{members}");

    // Its node follows the chain from genesis, and from the next epoch on
    // every node counts it among the validators.
    c.start(newcomer);
    let passed = finalized_height(c.api(0)).unwrap();
    let next_epoch = (passed / EPOCH + 1) * EPOCH;
    c.await_all(next_epoch + 2, MINUTE);
    let (_, status) = get(c.api(0), "/v1/status");
    let listed = status["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["org"] == "city-hospital")
        .unwrap_or_else(|| panic!("not among the peers: {status}"));
    assert_eq!(listed["api"], format!("127.0.0.1:{api}"), "{status}");
    for i in 0..c.nodes.len() {
        let set = validators(c.api(i));
        assert_eq!(set.len(), 5, "node {i}: {set:?}");
        assert!(set.contains(&validator), "node {i}: {set:?}");
    }

    // Clinical records flow both ways with the newcomer: St Mary's reads
    // (by break-glass) a record the newcomer holds, asking its node, found
    // by the API address on chain; St Mary's records replicate to it.
    let st_mary = c.index_of("st-mary");
    let (city_doctor, mary_doctor) = (PrivateKey::from_seed(9_001), PrivateKey::from_seed(9_002));
    for (i, doctor) in [(newcomer, &city_doctor), (st_mary, &mary_doctor)] {
        let register = Body::RegisterAgent {
            key: doctor.public_key(),
            kind: AgentKind::Clinician,
            label: "dr".into(),
        };
        transact(&c, &c.nodes[i].admin_key, 0, register);
    }
    let city = Fhir::new(&c, "city-hospital", &city_doctor);
    let mary = Fhir::new(&c, "st-mary", &mary_doctor);
    let created = |fhir: &Fhir, body: Value| -> String {
        let (code, answer) = fhir.call(
            "POST",
            &format!("/fhir/{}", body["resourceType"].as_str().unwrap()),
            Some(body),
            &[],
        );
        assert_eq!(code, 201, "{answer}");
        answer["id"].as_str().unwrap().to_string()
    };
    let patient = created(
        &city,
        json!({"resourceType": "Patient", "gender": "unknown"}),
    );
    let observation = created(
        &city,
        custodia_fhir::example("Observation", &patient).unwrap(),
    );
    c.settle();
    let (code, read) = mary.call(
        "GET",
        &format!("/fhir/Observation/{observation}"),
        None,
        &[("x-break-glass", "unconscious on arrival")],
    );
    assert_eq!(code, 200, "{read}");
    assert_eq!(read["id"], observation.as_str());
    let theirs = created(
        &mary,
        json!({"resourceType": "Patient", "gender": "unknown"}),
    );
    let (code, version) = get(
        c.api(st_mary),
        &format!("/v1/state/rec/Patient/{theirs}/_history/1"),
    );
    assert_eq!(code, 200, "{version}");
    let hash = version["value"]["ciphertext"].as_str().unwrap();
    let deadline = std::time::Instant::now() + MINUTE;
    while !common::vault_holds(c.api(newcomer), hash) {
        assert!(
            std::time::Instant::now() < deadline,
            "no replica at the newcomer"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // With one original validator down, four of five are a quorum only if
    // the newcomer votes: the chain goes on, and they agree.
    c.kill(3);
    let before = finalized_height(c.api(0)).unwrap();
    for i in [0, 1, 2, newcomer] {
        c.await_height(i, before + 5, MINUTE);
    }
    let at = |i: usize| -> Value { get(c.api(i), &format!("/v1/blocks/{}", before + 5)).1 };
    assert_eq!(at(newcomer)["digest"], at(0)["digest"]);
    assert!(at(0)["digest"].is_string(), "{}", at(0));
    c.stop_all();
}
