//! Crash cycles under FHIR write load: `kill -9` of one validator, of a
//! quorum (three of four) and of all four, in turn, again and again. After
//! each restart every write that was answered 201 is still readable at its
//! custodian with the content it was written with, no node lost a block
//! it had finalized, and every node holds the same block at every height.
//!
//! The test command runs one cycle of each kind; `CUSTODIA_CRASH_CYCLES=N`
//! runs N (the long run is recorded in BENCHMARKS.md).

mod common;

use common::clinical::{now_ms, transact};
use common::{finalized_height, Consortium, ORGS};
use commonware_cryptography::Signer as _;
use custodia_types::{AgentKind, AuthToken, Body, OrgId, PrivateKey};
use serde_json::{json, Value};
use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

const MINUTE: Duration = Duration::from_secs(60);
/// Writes acknowledged before each kill, and again after each restart.
const WRITES_PER_STEP: usize = 8;
/// Clients reading the acknowledged writes back.
const READERS: usize = 8;
/// A writer's pause between two writes: the load stays moderate, so the
/// writes a long run acknowledges (all read back after every cycle) stay
/// in the thousands.
const WRITE_PAUSE: Duration = Duration::from_millis(50);
/// The organisations whose clinicians write (each at its own node).
const WRITERS: [&str; 2] = ["st-mary", "riverside-clinic"];

/// A write answered 201: where, and what.
#[derive(Clone, Debug)]
struct Acknowledged {
    api: String,
    token: String,
    id: String,
    family: String,
}

/// The writers' switches and what they had acknowledged.
#[derive(Default)]
struct Load {
    stop: AtomicBool,
    /// Held while the acknowledged writes are read back, so a long run
    /// reads back what its kills were under, not an ever longer backlog.
    paused: AtomicBool,
    acknowledged: Mutex<Vec<Acknowledged>>,
}

impl Load {
    fn count(&self) -> usize {
        self.acknowledged.lock().unwrap().len()
    }

    /// Wait until `more` further writes have been acknowledged: progress
    /// measured in work done, not in time.
    fn await_more(&self, more: usize, c: &mut Consortium) {
        let target = self.count() + more;
        let deadline = Instant::now() + 3 * MINUTE;
        while self.count() < target {
            if Instant::now() >= deadline {
                panic!(
                    "the writes stalled at {} acknowledged\n{}",
                    self.count(),
                    c.post_mortem()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A clinician writing Patients at their own node until told to stop.
/// Refusals and connection errors while nodes are down are expected; only
/// a 201 counts as acknowledged.
fn writer(
    api: String,
    token: String,
    name: &'static str,
    load: Arc<Load>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let client = common::client_with_timeout(Duration::from_secs(40));
        let mut n = 0u64;
        while !load.stop.load(Ordering::Relaxed) {
            if load.paused.load(Ordering::Relaxed) {
                std::thread::sleep(WRITE_PAUSE);
                continue;
            }
            n += 1;
            let family = format!("{name}-{n}");
            let sent = client
                .post(format!("{api}/fhir/Patient"))
                .bearer_auth(&token)
                .header("content-type", "application/fhir+json")
                .body(json!({"resourceType": "Patient", "name": [{"family": family}]}).to_string())
                .send();
            match sent {
                Ok(response) if response.status().as_u16() == 201 => {
                    let created: Value = response.json().expect("a created Patient");
                    let id = created["id"].as_str().expect("an id").to_string();
                    load.acknowledged.lock().unwrap().push(Acknowledged {
                        api: api.clone(),
                        token: token.clone(),
                        id,
                        family,
                    });
                    std::thread::sleep(WRITE_PAUSE);
                }
                // Down, or not final in time while a quorum is down.
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    })
}

/// Which validators a cycle kills.
fn victims(cycle: usize) -> Vec<usize> {
    match cycle % 3 {
        0 => vec![2],
        1 => vec![0, 1, 2],
        _ => (0..ORGS).collect(),
    }
}

/// Every acknowledged write reads back at its custodian as written (read
/// by several clients at once: each read is an audited transaction).
fn assert_readable(acknowledged: &[Acknowledged]) {
    let per_reader = acknowledged.len().div_ceil(READERS).max(1);
    std::thread::scope(|scope| {
        for writes in acknowledged.chunks(per_reader) {
            scope.spawn(move || {
                let client = common::client_with_timeout(MINUTE);
                for write in writes {
                    let response = client
                        .get(format!("{}/fhir/Patient/{}", write.api, write.id))
                        .bearer_auth(&write.token)
                        .send()
                        .expect("the custodian answers");
                    let status = response.status().as_u16();
                    let body: Value = response.json().expect("JSON");
                    assert_eq!(status, 200, "acknowledged write {write:?} lost: {body}");
                    assert_eq!(body["name"][0]["family"], write.family.as_str(), "{body}");
                }
            });
        }
    });
}

#[test]
fn acknowledged_writes_and_finalized_blocks_survive_crash_cycles() {
    let cycles: usize = std::env::var("CUSTODIA_CRASH_CYCLES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3);
    let mut c = Consortium::init("crash-cycles");
    c.start_all();
    c.await_all(1, MINUTE);

    let load = Arc::new(Load::default());
    let mut writers = Vec::new();
    for (i, org) in WRITERS.into_iter().enumerate() {
        let index = c.index_of(org);
        let clinician = PrivateKey::from_seed(4_000 + i as u64);
        let body = Body::RegisterAgent {
            key: clinician.public_key(),
            kind: AgentKind::Clinician,
            label: "dr".into(),
        };
        transact(&c, &c.nodes[index].admin_key.clone(), 0, body);
        let token = AuthToken {
            chain_id: c.chain_id.clone(),
            audience: OrgId::new(org).unwrap(),
            key: clinician.public_key(),
            expires_ms: now_ms() + 6 * 3_600_000,
        }
        .sign(&clinician);
        writers.push(writer(c.api(index).to_string(), token, org, load.clone()));
    }

    for cycle in 0..cycles {
        load.await_more(WRITES_PER_STEP, &mut c);
        let victims = victims(cycle);
        let heights: Vec<u64> = victims
            .iter()
            .map(|&node| finalized_height(c.api(node)).unwrap_or(0))
            .collect();
        for &node in &victims {
            c.kill(node);
        }
        for &node in &victims {
            c.start(node);
        }
        // Each restarted node is back at least where it was, and the
        // consortium moves on (writes are acknowledged again).
        for (&node, &height) in victims.iter().zip(&heights) {
            c.await_height(node, height + 1, 2 * MINUTE);
        }
        load.await_more(WRITES_PER_STEP, &mut c);
        load.paused.store(true, Ordering::Relaxed);
        let acknowledged = load.acknowledged.lock().unwrap().clone();
        assert_readable(&acknowledged);
        let height = c.assert_same_blocks(1);
        load.paused.store(false, Ordering::Relaxed);
        println!(
            "cycle {cycle}: killed {victims:?}; {} writes acknowledged and readable, blocks agree to height {height}",
            acknowledged.len()
        );
    }
    load.stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.join().expect("the writer ran");
    }
}
