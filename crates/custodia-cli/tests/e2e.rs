//! Four real validator processes on loopback: transactions submitted through
//! different nodes are final and provable on every node; a validator killed
//! with SIGKILL under load does not stop the others, and when restarted it
//! recovers from disk, catches up and holds every finalized transaction.

mod common;

use common::{
    await_finalized, finalized_height, get, proven_value, submit, verify_offline, Consortium, ORGS,
};
use custodia_types::SignedTx;
use std::{
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

const MINUTE: Duration = Duration::from_secs(60);
/// Transactions loaded before the kill, and again after the restart.
const LOAD_STEP: usize = 25;

fn note_key(tx: &SignedTx) -> String {
    format!("note/{}", tx.id())
}

fn note_data(tx: &SignedTx) -> Vec<u8> {
    match tx.body() {
        custodia_types::Body::Note { data } => data.to_vec(),
        other => panic!("not a note: {other:?}"),
    }
}

fn receipt_height(receipt: &serde_json::Value) -> u64 {
    receipt["height"]
        .as_u64()
        .expect("a finalized receipt names its height")
}

/// Every node has `tx` final and proves the note it wrote.
fn assert_everywhere(consortium: &Consortium, tx: &SignedTx) {
    for node in 0..ORGS {
        let api = consortium.api(node);
        await_finalized(api, &tx.id(), MINUTE);
        assert_eq!(
            proven_value(api, &note_key(tx)),
            note_data(tx),
            "node {node} proves a different value for {}",
            tx.id()
        );
    }
}

/// Organisation `org`'s admin submits notes through its own node until told
/// to stop; the transactions the node accepted.
/// Load generators' shared switch and tally.
#[derive(Default)]
struct Load {
    stop: AtomicBool,
    sent: AtomicUsize,
}

impl Load {
    /// Wait until the generators have had `more` further transactions
    /// accepted: progress the test measures in work, not in time.
    fn await_more(&self, more: usize) {
        let target = self.sent.load(Ordering::Relaxed) + more;
        let deadline = std::time::Instant::now() + MINUTE;
        while self.sent.load(Ordering::Relaxed) < target {
            assert!(
                std::time::Instant::now() < deadline,
                "the load stalled at {} transactions",
                self.sent.load(Ordering::Relaxed)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn load(
    consortium: &Consortium,
    org: usize,
    first_nonce: u64,
    tally: Arc<Load>,
) -> std::thread::JoinHandle<Vec<SignedTx>> {
    let api = consortium.api(org).to_string();
    let (chain_id, key) = (
        consortium.chain_id.clone(),
        consortium.nodes[org].admin_key.clone(),
    );
    std::thread::spawn(move || {
        let mut accepted = Vec::new();
        let mut nonce = first_nonce;
        while !tally.stop.load(Ordering::Relaxed) {
            let data = format!("load from org {org}, nonce {nonce}");
            let tx = common::sign(
                &chain_id,
                &key,
                nonce,
                custodia_types::Body::Note {
                    data: data.into_bytes().into(),
                },
            );
            let (code, answer) = submit(&api, &tx);
            assert_eq!(code, 202, "org {org} nonce {nonce}: {answer}");
            accepted.push(tx);
            tally.sent.fetch_add(1, Ordering::Relaxed);
            nonce += 1;
            std::thread::sleep(Duration::from_millis(20));
        }
        accepted
    })
}

#[test]
fn transactions_are_proven_on_every_node_and_survive_a_killed_validator() {
    let mut consortium = Consortium::init("e2e");
    consortium.start_all();
    for node in 0..ORGS {
        consortium.await_height(node, 2, Duration::from_secs(90));
    }

    // Each organisation writes through its own node; every node has every
    // write, with a proof against its finalized header.
    let notes: Vec<SignedTx> = (0..ORGS)
        .map(|org| consortium.note(org, 0, format!("first note of org {org}").as_bytes()))
        .collect();
    for (org, note) in notes.iter().enumerate() {
        let (code, answer) = submit(consortium.api(org), note);
        assert_eq!(code, 202, "{answer}");
        assert_eq!(answer["id"], note.id().to_string());
    }
    for note in &notes {
        assert_everywhere(&consortium, note);
    }
    // A key that holds nothing has no proof, and the answer says so.
    let never_written = format!("note/{}", "00".repeat(32));
    let (code, answer) = get(
        consortium.api(2),
        &format!("/v1/state/{never_written}?proof=true"),
    );
    assert_eq!(code, 404, "{answer}");
    assert!(answer.to_string().contains("holds no value"), "{answer}");

    // Every node holds the same finalized block at a common height.
    let common_height = (0..ORGS)
        .map(|node| finalized_height(consortium.api(node)).unwrap())
        .min()
        .unwrap();
    let digests: Vec<_> = (0..ORGS)
        .map(|node| {
            get(consortium.api(node), &format!("/v1/blocks/{common_height}")).1["digest"].clone()
        })
        .collect();
    assert!(
        digests.iter().all(|d| d == &digests[0] && d.is_string()),
        "{digests:?}"
    );

    // Load through two nodes while a third is killed mid-flight.
    let tally = Arc::new(Load::default());
    let loaders = [
        load(&consortium, 0, 1, tally.clone()),
        load(&consortium, 1, 1, tally.clone()),
    ];
    tally.await_more(LOAD_STEP);
    let final_before_kill = finalized_height(consortium.api(3)).unwrap();
    consortium.kill(3);
    let at_kill = finalized_height(consortium.api(0)).unwrap();
    // Its own disk, read with no peer to refill it, holds every block it
    // had finalized (and answered for) before the kill.
    let kept = verify_offline(&consortium.nodes[3].home);
    assert!(
        kept >= final_before_kill,
        "node 3 finalized height {final_before_kill} before kill -9, its disk holds {kept}"
    );
    for node in 0..3 {
        consortium.await_height(node, at_kill + 5, MINUTE);
    }

    // Restarted, it recovers from its own disk and catches up from peers.
    consortium.start(3);
    tally.await_more(LOAD_STEP);
    tally.stop.store(true, Ordering::Relaxed);
    let loaded: Vec<SignedTx> = loaders
        .into_iter()
        .flat_map(|loader| loader.join().expect("the load generator ran"))
        .collect();
    assert!(
        loaded.len() >= 2 * LOAD_STEP,
        "only {} transactions loaded",
        loaded.len()
    );

    let final_height = loaded
        .iter()
        .map(|tx| receipt_height(&await_finalized(consortium.api(0), &tx.id(), MINUTE)))
        .max()
        .unwrap();
    consortium.await_height(3, final_height, MINUTE);

    // Nothing finalized is missing on the restarted node.
    let heights: Vec<u64> = notes
        .iter()
        .chain(&loaded)
        .map(|tx| receipt_height(&await_finalized(consortium.api(3), &tx.id(), MINUTE)))
        .collect();
    for tx in notes.iter().chain(loaded.iter().step_by(10)) {
        assert_everywhere(&consortium, tx);
    }
    assert!(
        heights.iter().any(|h| *h > at_kill),
        "some transactions were finalized while node 3 was down"
    );
}

/// A node whose API port is taken stops at once, naming the address, rather
/// than joining consensus without an API.
#[test]
fn a_node_whose_api_port_is_taken_stops_and_says_which() {
    let mut consortium = Consortium::init("api-port-taken");
    let addr = consortium.api(0).trim_start_matches("http://").to_string();
    let _squatter = std::net::TcpListener::bind(&addr).expect("the port was free at init");
    consortium.start(0);
    let status = consortium.wait_exit(0, MINUTE);
    assert!(!status.success(), "{status}");
    let log = std::fs::read_to_string(consortium.nodes[0].home.join("node.log")).unwrap();
    assert!(
        log.contains(&format!("cannot listen for the HTTP API on {addr}")),
        "{log}"
    );
    assert!(!log.contains("starting consensus"), "{log}");
}

/// Without a quorum a write cannot be final: the node answers 504 after
/// the `finality_timeout_ms` its config names (here 1 s; the default 30 s
/// would outlast this client's 10 s and fail the test), and keeps serving.
#[test]
fn a_write_without_a_quorum_is_answered_504_after_the_configured_wait() {
    let mut c = Consortium::init("no-quorum");
    c.configure(0, |config| config.finality_timeout_ms = 1_000);
    c.start_all();
    c.await_all(1, MINUTE);
    let bearer = common::clinical::clinician_bearer(&c, 0, 77);
    c.kill(2);
    c.kill(3);
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let response = client
        .post(format!("{}/fhir/Patient", c.api(0)))
        .header("authorization", &bearer)
        .header("content-type", "application/fhir+json")
        .body(r#"{"resourceType":"Patient","gender":"unknown"}"#)
        .send()
        .expect("answered before the client gives up");
    assert_eq!(response.status().as_u16(), 504);
    let outcome = response.text().unwrap();
    assert!(
        outcome.contains("did not finalize the request in time"),
        "{outcome}"
    );
    let (code, _) = get(c.api(0), "/v1/status");
    assert_eq!(code, 200, "the node keeps serving");
}
