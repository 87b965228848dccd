//! A byzantine validator as a real process (a `byzantine` test build, see
//! custodia-node's `src/byzantine.rs`): one of four validators misbehaves
//! in each of its ways in turn, restarted between them, while the three
//! honest ones keep finalizing (every note admitted at them is final, they
//! hold the same blocks) and show what they saw in `/metrics` and their
//! logs, naming the offender.
//!
//! Runs only with the feature: `cargo test -p custodia-cli --features
//! byzantine --test byzantine` (`.ci/run` does).
#![cfg(feature = "byzantine")]

mod common;

use common::{counter, finalized_height, get, submit, Consortium};
use std::time::{Duration, Instant};

/// The misbehaviours, in turn.
const MODES: [&str; 7] = [
    "invalid-blocks",
    "equivocate",
    "replay",
    "conflict",
    "nullify-finalize",
    "impersonate",
    "garbage",
];

/// What the honest nodes saw, summed over them.
#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    invalid_proposals: u64,
    faults: u64,
    blocked: u64,
}

fn seen(c: &Consortium, honest: &[usize]) -> Seen {
    honest.iter().fold(Seen::default(), |sum, &k| Seen {
        invalid_proposals: sum.invalid_proposals + counter(c.api(k), "consensus_invalid_proposals"),
        faults: sum.faults + counter(c.api(k), "consensus_faults"),
        blocked: sum.blocked + counter(c.api(k), "consensus_peers_blocked"),
    })
}

#[test]
fn three_honest_validators_finalize_through_every_misbehaviour_and_name_it() {
    let mut c = Consortium::init("byzantine");
    let liar = c.index_of("northwind-health");
    let honest: Vec<usize> = (0..c.nodes.len()).filter(|k| *k != liar).collect();
    for &k in &honest {
        // A blocked liar is let back in after a second, so that each of
        // its misbehaviours in turn reaches the honest nodes.
        c.configure(k, |config| config.peer_block_secs = 1);
        c.start(k);
    }
    let bound = Duration::from_secs(60);
    for &k in &honest {
        c.await_height(k, 1, Duration::from_secs(90));
    }
    let mut nonces = vec![0u64; c.nodes.len()];
    for mode in MODES {
        c.nodes[liar].launcher = vec!["env".into(), format!("CUSTODIA_BYZANTINE={mode}")];
        c.start(liar);
        let from = honest
            .iter()
            .map(|&k| finalized_height(c.api(k)).unwrap())
            .max()
            .unwrap();
        let before = seen(&c, &honest);
        let started = Instant::now();
        // Every honest node finalizes a note admitted at each of them.
        for &k in &honest {
            let note = c.note(k, nonces[k], mode.as_bytes());
            nonces[k] += 1;
            let (code, answer) = submit(c.api(k), &note);
            assert_eq!(code, 202, "{mode}: {answer}");
            for &other in &honest {
                common::await_finalized(c.api(other), &note.id(), bound);
            }
        }
        // And goes on: 20 more blocks.
        for &k in &honest {
            c.await_height(k, from + 20, bound);
        }
        let rate = 20.0 / started.elapsed().as_secs_f64();
        // The same block at every height on every honest node.
        let lowest = honest
            .iter()
            .map(|&k| finalized_height(c.api(k)).unwrap())
            .min()
            .unwrap();
        for height in from..=lowest {
            let digests: Vec<_> = honest
                .iter()
                .map(|&k| get(c.api(k), &format!("/v1/blocks/{height}")).1["digest"].clone())
                .collect();
            assert!(
                digests.iter().all(|d| d.is_string() && d == &digests[0]),
                "{mode}: honest nodes disagree at height {height}: {digests:?}"
            );
        }
        let after = seen(&c, &honest);
        eprintln!(
            "{mode}: honest nodes finalized {rate:.1} blocks/s; invalid proposals +{}, proven faults +{}, peers blocked +{}",
            after.invalid_proposals - before.invalid_proposals,
            after.faults - before.faults,
            after.blocked - before.blocked
        );
        match mode {
            "invalid-blocks" => assert!(
                after.invalid_proposals > before.invalid_proposals,
                "{mode}: the honest nodes refused no proposal"
            ),
            "conflict" | "nullify-finalize" => assert!(
                after.faults > before.faults,
                "{mode}: the honest nodes proved no fault"
            ),
            "impersonate" | "garbage" => assert!(
                after.blocked > before.blocked,
                "{mode}: the honest nodes blocked no one"
            ),
            _ => {}
        }
        c.kill(liar);
    }
    // The offender is named in the honest nodes' logs.
    let named = honest.iter().any(|&k| {
        std::fs::read_to_string(c.nodes[k].home.join("node.log"))
            .unwrap()
            .contains("offender=northwind-health")
    });
    assert!(named, "an honest node's log names the offender");
}
