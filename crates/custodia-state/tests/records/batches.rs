//! A node's batch: one signature and nonce, each entry applied on its own
//! and filed under its entry id; a batch inside a batch is refused whole.

use crate::common::*;
use crate::world::*;
use commonware_cryptography::Signer as _;
use custodia_state::{
    keys,
    records::{self, AuditEvent, Decision, RecordEntry},
    StateRead, TxStatus,
};
use custodia_types::{
    AccessAction, AccessRequest, Body, LogicalId, Pseudonym, Purpose, ResourceRef, ResourceType,
};

/// A node's batch: one signature and nonce, each entry applied on its own.
#[test]
fn a_batch_applies_each_entry_on_its_own_and_files_it_under_its_entry_id() {
    let mut w = World::new();
    let nonce_before = w.chain.nonce(&node(0));
    let clinician = w.clinician[0].public_key();
    let stranger = Pseudonym::new([7; 32]);
    let read = Body::Access(AccessRequest {
        agent: (&clinician).into(),
        patient: Some(w.patient),
        resource: Some(ResourceRef {
            resource_type: ResourceType::Observation,
            id: LogicalId::new("obs-1").unwrap(),
        }),
        action: AccessAction::Read,
        purpose: Purpose::Treatment,
        break_glass: None,
    });
    let entries = vec![
        Body::WriteRecord(observation(&w, 1)),
        // The same version again: it sees the first entry's write.
        Body::WriteRecord(observation(&w, 1)),
        read,
        Body::WriteRecord(version(
            stranger,
            ResourceType::Observation,
            "obs-2",
            1,
            clinician.clone(),
        )),
    ];
    let tx = w.chain.tx(&node(0), Body::Batch { entries });
    let receipt = w.chain.block_receipts(vec![tx.clone()]).remove(0);

    assert_eq!(receipt.status, TxStatus::Applied);
    assert_eq!(receipt.kind, "batch");
    let statuses: Vec<_> = (0..4).map(|i| receipt.entry(i).unwrap().status).collect();
    assert_eq!(statuses[0], TxStatus::Applied);
    assert!(
        rejected(&statuses[1], "already exists"),
        "{:?}",
        statuses[1]
    );
    assert_eq!(statuses[2], TxStatus::Applied);
    assert!(rejected(&statuses[3], "no patient"), "{:?}", statuses[3]);
    assert!(receipt.entry(4).is_none());
    assert_eq!(receipt.entry(2).unwrap().kind, "access");
    // One signature, one nonce.
    assert_eq!(w.chain.nonce(&node(0)), nonce_before + 1);

    // A question's effects are filed under its own entry id.
    let event_of = |index| -> AuditEvent {
        let id = custodia_types::entry_id(&tx.id(), index);
        let seq = keys::decode_u64(&w.chain.state.get(&keys::audit_of_tx(&id)).unwrap()).unwrap();
        records::read(&w.chain.state, &keys::audit_event(seq)).unwrap()
    };
    assert_eq!(event_of(2).action, AccessAction::Read);
    assert_eq!(event_of(2).decision, Decision::Permit);
    assert!(w.chain.state.get(&keys::audit_of_tx(&tx.id())).is_none());
    let entry: RecordEntry = records::read(
        &w.chain.state,
        &keys::record_version(
            ResourceType::Observation,
            &LogicalId::new("obs-1").unwrap(),
            1,
        ),
    )
    .unwrap();
    // ... and names the batch and its place in it, so it can be looked up.
    assert_eq!((entry.tx, entry.entry), (tx.id(), Some(0)));
    assert_eq!((event_of(2).tx, event_of(2).entry), (tx.id(), Some(2)));
    // A write is answered by its receipt and not filed by entry id; its
    // audit event names the same batch and place as its version entry.
    let write_id = custodia_types::entry_id(&tx.id(), 0);
    assert!(w.chain.state.get(&keys::audit_of_tx(&write_id)).is_none());
    let audited = keys::decode_u64(&w.chain.state.get(keys::AUDIT_COUNT).unwrap()).unwrap();
    let write_events: Vec<AuditEvent> = (0..audited)
        .map(|seq| records::read(&w.chain.state, &keys::audit_event(seq)).unwrap())
        .filter(|event: &AuditEvent| event.tx == tx.id() && event.action == AccessAction::Write)
        .collect();
    assert_eq!(write_events.len(), 1, "{write_events:?}");
    assert_eq!(write_events[0].entry, Some(0));
    assert!(w
        .chain
        .state
        .get(&keys::record_head(
            ResourceType::Observation,
            &LogicalId::new("obs-2").unwrap()
        ))
        .is_none());
}

#[test]
fn a_batch_inside_a_batch_is_refused_whole() {
    let mut w = World::new();
    let inner = Body::Batch {
        entries: vec![Body::WriteRecord(observation(&w, 1))],
    };
    let status = w.chain.send(
        &node(0),
        Body::Batch {
            entries: vec![Body::WriteRecord(observation(&w, 1)), inner],
        },
    );
    assert!(rejected(&status, "batches themselves"), "{status:?}");
    assert!(w
        .chain
        .state
        .get(&keys::record_head(
            ResourceType::Observation,
            &LogicalId::new("obs-1").unwrap()
        ))
        .is_none());
}
