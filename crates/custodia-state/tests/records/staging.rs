//! Writes too large for one transaction: staged in parts, then committed
//! all or nothing.

use crate::common::*;
use crate::world::*;
use commonware_cryptography::Signer as _;
use custodia_state::{keys, StateRead, TxStatus};
use custodia_types::{Body, LogicalId, RecordVersion, ResourceType};

fn stage(
    w: &mut World,
    org: u64,
    bundle: &[u8],
    part: u32,
    versions: Vec<RecordVersion>,
) -> TxStatus {
    let body = Body::StageRecords {
        bundle: custodia_types::sha256(&[bundle]),
        part,
        versions,
    };
    w.send(&node(org), body)
}

fn commit(w: &mut World, org: u64, bundle: &[u8], parts: u32) -> TxStatus {
    let body = Body::CommitRecords {
        bundle: custodia_types::sha256(&[bundle]),
        parts,
    };
    w.send(&node(org), body)
}

fn discard(w: &mut World, org: u64, bundle: &[u8], parts: u32) -> TxStatus {
    let body = Body::DiscardStaged {
        bundle: custodia_types::sha256(&[bundle]),
        parts,
    };
    w.send(&node(org), body)
}

fn condition(w: &World, id: &str) -> RecordVersion {
    version(
        w.patient,
        ResourceType::Condition,
        id,
        1,
        w.clinician[0].public_key(),
    )
}

fn written(w: &World, id: &str) -> bool {
    let key = keys::record_head(ResourceType::Condition, &LogicalId::new(id).unwrap());
    w.chain.state.get(&key).is_some()
}

#[test]
fn staged_parts_are_written_only_by_their_commit_all_together() {
    let mut w = World::new();
    let part0 = vec![condition(&w, "c-0"), condition(&w, "c-1")];
    let part1 = vec![condition(&w, "c-2")];
    assert_eq!(stage(&mut w, 0, b"b1", 0, part0.clone()), TxStatus::Applied);
    assert!(rejected(
        &stage(&mut w, 0, b"b1", 0, part0),
        "already staged"
    ));
    assert_eq!(stage(&mut w, 0, b"b1", 1, part1), TxStatus::Applied);
    assert!(!written(&w, "c-0"), "staged is not written");
    // A commit naming a part never staged writes nothing.
    assert!(rejected(&commit(&mut w, 0, b"b1", 3), "part 2"));
    assert!(!written(&w, "c-0"));
    // Another member cannot commit what this one staged.
    assert!(rejected(&commit(&mut w, 1, b"b1", 2), "never staged"));
    assert_eq!(commit(&mut w, 0, b"b1", 2), TxStatus::Applied);
    assert!(["c-0", "c-1", "c-2"].iter().all(|id| written(&w, id)));
    // Committed once: its parts are gone.
    assert!(rejected(&commit(&mut w, 0, b"b1", 2), "never staged"));
}

#[test]
fn one_refused_version_in_any_part_keeps_every_part_unwritten() {
    let mut w = World::new();
    let stranger = custodia_types::Pseudonym::new([42; 32]);
    let first = condition(&w, "c-8");
    let orphan = version(
        stranger,
        ResourceType::Condition,
        "c-9",
        1,
        w.clinician[0].public_key(),
    );
    assert_eq!(stage(&mut w, 0, b"b2", 0, vec![first]), TxStatus::Applied);
    assert_eq!(stage(&mut w, 0, b"b2", 1, vec![orphan]), TxStatus::Applied);
    assert!(rejected(&commit(&mut w, 0, b"b2", 2), "no patient"));
    assert!(!written(&w, "c-8"), "the first part is not kept either");
    // The refused bundle's parts stay staged until their organisation
    // discards them; another member's discard touches nothing of theirs.
    let staged = |w: &World, part: u32| {
        let org = custodia_types::OrgId::new("org-0").unwrap();
        let bundle = custodia_types::sha256(&[b"b2"]);
        w.chain
            .state
            .get(&keys::staged(&org, &bundle, part))
            .is_some()
    };
    assert!(staged(&w, 0) && staged(&w, 1));
    assert_eq!(discard(&mut w, 1, b"b2", 2), TxStatus::Applied);
    assert!(staged(&w, 0) && staged(&w, 1), "not theirs to discard");
    assert_eq!(discard(&mut w, 0, b"b2", 2), TxStatus::Applied);
    assert!(!staged(&w, 0) && !staged(&w, 1));
    assert!(rejected(&commit(&mut w, 0, b"b2", 2), "never staged"));
}
