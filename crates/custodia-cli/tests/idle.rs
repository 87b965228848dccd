//! An idle consortium of real processes makes a block only at its
//! heartbeat, its nodes' data grows by the heartbeats' share only, and a
//! transaction arriving in the quiet is final at once, not at the next
//! heartbeat.

mod common;

use common::{finalized_height, get, Consortium, ORGS};
use custodia_node::home::{disk_use, Home};
use std::time::Duration;

/// Long enough that blocks made by anything but the heartbeat would show
/// (the chain made one every 200 ms before it went quiet when idle).
const HEARTBEAT_MS: u64 = 2_000;
/// Heartbeats watched.
const BEATS: u64 = 3;
/// Bytes one heartbeat may write to a node's `data/`: a block, its
/// finalization, the state's commit, and the journal of the views
/// nullified between two heartbeats (about 17 KiB were measured in this
/// test's first seconds, while the journal has not yet reached the 256
/// views it keeps and prunes).
const DATA_PER_BEAT: u64 = 64 << 10;
const MINUTE: Duration = Duration::from_secs(60);

fn block_ms(api: &str, height: u64) -> u64 {
    let (code, block) = get(api, &format!("/v1/blocks/{height}"));
    assert_eq!(code, 200, "block {height}: {block}");
    block["timestamp_ms"]
        .as_u64()
        .unwrap_or_else(|| panic!("block {height} has a timestamp: {block}"))
}

#[test]
fn an_idle_consortium_makes_only_heartbeats_and_answers_a_write_at_once() {
    let mut c = Consortium::init("idle");
    for index in 0..ORGS {
        c.configure(index, |config| config.heartbeat_interval_ms = HEARTBEAT_MS);
    }
    c.start_all();
    // The first block comes as soon as a quorum votes; the second a
    // heartbeat later.
    c.await_all(2, MINUTE);
    let api = c.api(0).to_string();
    let data_dirs: Vec<_> = (0..ORGS)
        .map(|i| Home::load(&c.nodes[i].home).unwrap().data_dir())
        .collect();
    let start = finalized_height(&api).unwrap();
    let before: Vec<u64> = data_dirs.iter().map(|d| disk_use(d).written).collect();

    c.await_all(start + BEATS, MINUTE);
    c.settle();
    let grown: Vec<u64> = data_dirs
        .iter()
        .zip(&before)
        .map(|(dir, before)| disk_use(dir).written.saturating_sub(*before))
        .collect();
    for height in start + 1..=start + BEATS {
        let gap = block_ms(&api, height) - block_ms(&api, height - 1);
        assert!(
            gap >= HEARTBEAT_MS,
            "empty block {height} came {gap} ms after its parent on an idle chain"
        );
    }
    // Blocks made meanwhile count too (the watch may have overrun).
    let beats = finalized_height(&api).unwrap() - start;
    for (node, grown) in grown.iter().enumerate() {
        assert!(
            *grown <= beats * DATA_PER_BEAT,
            "node {node}'s data grew by {grown} bytes over {beats} heartbeats"
        );
    }

    // Just after a heartbeat, a note arrives: it is proposed at once, not
    // with the next heartbeat.
    let quiet = finalized_height(&api).unwrap();
    c.await_all(quiet + 1, MINUTE);
    let tx = c.note(1, 0, b"after a quiet spell");
    let (code, answer) = common::submit(c.api(1), &tx);
    assert_eq!(code, 202, "{answer}");
    let receipt = common::await_finalized(c.api(1), &tx.id(), MINUTE);
    let height = receipt["height"].as_u64().expect("a finalized height");
    let after_parent = block_ms(&api, height) - block_ms(&api, height - 1);
    assert!(
        after_parent < HEARTBEAT_MS / 2,
        "the note's block came {after_parent} ms after its parent: it waited for the heartbeat"
    );
}
