//! A node's caches of recent consensus (marshal's blocks and certificates
//! of views not yet final) keep a bounded window of views as the chain
//! grows, while the history (every finalized block and certificate) stays:
//! a restarted node serves its first block and verifies the whole chain.

mod common;

use common::{get, verify_offline, Consortium, ORGS};
use custodia_node::home::Home;
use std::{path::Path, time::Duration};

/// Views the chain runs to: past two 256-view cache sections behind the
/// finalized tip, so the first section must have been dropped.
const HEIGHT: u64 = 800;
/// Blocks as fast as the machine makes them.
const PACE_MS: u64 = 10;

/// The section blobs of one of marshal's caches, by name.
fn sections(data: &Path, cache: &str) -> Vec<String> {
    let partition = data.join(format!("custodia-marshal-cache-cache-0-{cache}-value"));
    let mut names: Vec<String> = std::fs::read_dir(&partition)
        .unwrap_or_else(|e| panic!("{}: {e}", partition.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn consensus_caches_are_pruned_and_a_restarted_node_serves_and_verifies_its_history() {
    let mut c = Consortium::init("pruning");
    for index in 0..ORGS {
        c.configure(index, |config| {
            config.heartbeat_interval_ms = PACE_MS;
            config.busy_block_interval_ms = PACE_MS;
        });
    }
    c.start_all();
    c.await_all(HEIGHT, Duration::from_secs(300));
    c.stop_all();

    let home = c.nodes[0].home.clone();
    let data = Home::load(&home).unwrap().data_dir();
    for cache in ["verified", "notarizations", "finalizations"] {
        let sections = sections(&data, cache);
        assert!(
            !sections.is_empty() && sections.len() <= 3,
            "the {cache} cache holds sections {sections:?}"
        );
        assert!(
            !sections.contains(&format!("{:016x}", 0)),
            "the {cache} cache still holds the first views: {sections:?}"
        );
    }

    assert!(verify_offline(&home) >= HEIGHT, "the whole chain verifies");

    c.start(0);
    c.await_height(0, HEIGHT, Duration::from_secs(60));
    let (code, first) = get(c.api(0), "/v1/blocks/1");
    assert_eq!(code, 200, "{first}");
    assert_eq!(first["height"], 1);
    assert!(
        first["finalization"]
            .as_str()
            .is_some_and(|f| !f.is_empty()),
        "the first block is served with its finality certificate: {first}"
    );
}
