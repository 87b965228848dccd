//! `custodia verify` against a real consortium's stored chain: a clean
//! chain verifies; a flipped byte in a stored block, the state files, the
//! marshal's metadata or the consensus journal is reported, naming where.

mod common;

use common::{custodia, submit, Consortium};
use std::{
    path::{Path, PathBuf},
    time::Duration,
};

fn flip_byte(path: &Path, offset: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    let offset = offset.min(bytes.len() - 1);
    bytes[offset] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

fn only_file(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn verify(home: &Path) -> (bool, String) {
    let out = custodia(&["verify", "--home", home.to_str().unwrap()]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The page the state's operation log is written in.
const LOG_PAGE_BYTES: usize = custodia_store::CACHE_PAGE_BYTES;

#[test]
fn verify_accepts_a_clean_chain_and_names_tampering() {
    let mut consortium = Consortium::init("verify");
    consortium.start_all();
    consortium.await_height(0, 25, Duration::from_secs(90));
    let note = consortium.note(0, 0, b"audit");
    let (code, answer) = submit(consortium.api(0), &note);
    assert_eq!(code, 202, "{answer}");
    common::await_finalized(consortium.api(0), &note.id(), Duration::from_secs(30));

    // Stop cleanly, as an auditor would before taking a copy.
    consortium.stop_all();

    let home = &consortium.nodes[0].home.clone();
    let root = &consortium.root.clone();
    let (ok, report) = verify(home);
    assert!(ok, "a clean chain verifies: {report}");
    assert!(
        report.starts_with("OK:") && report.contains("1 transactions"),
        "{report}"
    );

    // A flipped byte inside the stored blocks names the block.
    let tampered = root.join("tampered-block");
    copy_tree(home, &tampered);
    let blocks = only_file(&tampered.join("data/custodia-blocks-freezer-value"));
    let len = std::fs::metadata(&blocks).unwrap().len() as usize;
    // Past the blob header, inside the last blocks written.
    flip_byte(&blocks, len - 64);
    let (ok, report) = verify(&tampered);
    assert!(!ok, "a tampered block is caught: {report}");
    assert!(
        report.contains("TAMPERED: block ") && report.contains(" is bad"),
        "{report}"
    );

    // A flipped byte in the state files names the state store.
    let tampered = root.join("tampered-state");
    copy_tree(home, &tampered);
    let metadata = only_file(&tampered.join("data/custodia-state-mmr-metadata"));
    flip_byte(&metadata, 20);
    let (ok, report) = verify(&tampered);
    assert!(!ok, "tampered state is caught: {report}");
    assert!(report.contains("state store is bad"), "{report}");

    // A flipped byte in marshal's record of the last block the node
    // applied (the node would not start with it) names that file.
    let tampered = root.join("tampered-acknowledged");
    copy_tree(home, &tampered);
    let acknowledged = tampered.join("data/custodia-marshal-application-metadata");
    for copy in std::fs::read_dir(&acknowledged).unwrap() {
        let copy = copy.unwrap().path();
        let len = std::fs::metadata(&copy).unwrap().len() as usize;
        flip_byte(&copy, len / 2);
    }
    let (ok, report) = verify(&tampered);
    assert!(!ok, "a damaged application metadata is caught: {report}");
    assert!(
        report.contains("custodia-marshal-application-metadata cannot be read"),
        "{report}"
    );

    // A flipped byte in the validator's own consensus votes (which exist
    // nowhere else: opening the journal would cut them with a warning)
    // names the journal's file and says to keep the validator stopped.
    let tampered = root.join("tampered-votes");
    copy_tree(home, &tampered);
    let (journal, len) = std::fs::read_dir(tampered.join("data"))
        .unwrap()
        .flatten()
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .starts_with("custodia-simplex-")
        })
        .flat_map(|partition| std::fs::read_dir(partition.path()).unwrap().flatten())
        .map(|section| (section.path(), section.metadata().unwrap().len() as usize))
        .max_by_key(|(_, len)| *len)
        .expect("the validator keeps a consensus journal");
    // Past the file's 4 KiB header, among the first votes written (the
    // rest of a page past its last vote holds nothing).
    assert!(len > 4096, "{} holds votes", journal.display());
    flip_byte(&journal, 4096 + 16);
    let (ok, report) = verify(&tampered);
    assert!(!ok, "damaged votes are caught: {report}");
    let partition = journal
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy();
    assert!(
        report.contains(&format!("own consensus votes are damaged in {partition}/"))
            && report.contains("Keep it stopped"),
        "{report}"
    );

    // Damaged entries in the blocks' hash table (lookups by digest, which
    // reads by height do not use) name the table. Every stored entry is
    // hit: a slot holds the current entry and an older one, and damage to
    // the older one alone loses nothing.
    let tampered = root.join("tampered-table");
    copy_tree(home, &tampered);
    let table = only_file(&tampered.join("data/custodia-blocks-freezer-table"));
    let mut bytes = std::fs::read(&table).unwrap();
    let mut flipped = 0;
    for byte in bytes.iter_mut().skip(4096).filter(|b| **b != 0) {
        *byte ^= 0x01;
        flipped += 1;
    }
    assert!(flipped > 0, "the table holds entries");
    std::fs::write(&table, bytes).unwrap();
    let (ok, report) = verify(&tampered);
    assert!(!ok, "a damaged hash table is caught: {report}");
    assert!(
        report.contains("custodia-blocks-freezer-table is damaged"),
        "{report}"
    );

    // A flipped byte anywhere in the state's operation log (the state
    // itself: every value, and what proofs are built from) names the
    // operation and its file; ten places spread over the log's operations.
    // The log is written in whole pages: the rest of the last page, past
    // the last operation, holds nothing (README, "What verify checks").
    let log = only_file(&home.join("data/custodia-state-log_data"));
    let file = format!(
        "custodia-state-log_data/{}",
        log.file_name().unwrap().to_string_lossy()
    );
    let len = std::fs::metadata(&log).unwrap().len() as usize - LOG_PAGE_BYTES;
    for k in 1..=10 {
        let tampered = root.join(format!("tampered-log-{k}"));
        copy_tree(home, &tampered);
        let log = tampered.join("data").join(&file);
        flip_byte(&log, len * k / 11);
        let (ok, report) = verify(&tampered);
        assert!(
            !ok,
            "a flip at byte {} of the log is caught: {report}",
            len * k / 11
        );
        assert!(report.contains(&file), "flip {k}: {report}");
    }

    // Verification works on a copy: the original still verifies.
    assert!(verify(home).0);

    // A node whose state log is damaged refuses to start, saying what to
    // do, rather than run on a state it rolled back.
    flip_byte(&log, len / 2);
    consortium.start(0);
    let status = consortium.wait_exit(0, Duration::from_secs(60));
    assert!(!status.success(), "{status}");
    let node_log = std::fs::read_to_string(home.join("node.log")).unwrap();
    assert!(
        node_log.contains("committed state is unreadable") && node_log.contains("custodia verify"),
        "{node_log}"
    );

    // `custodia repair` rebuilds the state from the node's own verified
    // blocks; the node then verifies, starts and goes on with the others.
    let out = custodia(&["repair", "--home", home.to_str().unwrap()]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && report.starts_with("REPAIRED"),
        "{report}"
    );
    let repaired_at: u64 = report
        .split(" verified blocks")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the repair names the height: {report}"));
    let (ok, report) = verify(home);
    assert!(ok, "the repaired node verifies: {report}");
    consortium.start_all();
    consortium.await_height(0, repaired_at + 5, Duration::from_secs(90));
    common::await_finalized(consortium.api(0), &note.id(), Duration::from_secs(30));
}
