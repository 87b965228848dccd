//! Writing clinical records: only a patient's custodian writes, version by
//! version; a bundle of versions is kept whole or not at all; a patient's
//! index grows past what one state record holds.

use crate::common::*;
use crate::world::*;
use commonware_cryptography::Signer as _;
use custodia_state::{
    keys,
    records::{self, Decision, RecordEntry, RecordHead},
    StateRead, TxStatus,
};
use custodia_types::{AccessAction, Body, KeyId, Pseudonym, ResourceType};

#[test]
fn a_custodian_writes_versions_and_nobody_else_can() {
    let mut w = World::new();
    let obs = observation(&w, 1);
    assert_eq!(w.write(0, obs.clone()), TxStatus::Applied);
    assert_eq!(w.write(0, observation(&w, 2)), TxStatus::Applied);

    // Skipping or repeating a version, another org's node, a device author,
    // a patient author, an unknown patient, a second Patient v1: refused.
    assert!(rejected(
        &w.write(0, observation(&w, 2)),
        "expected version 3"
    ));
    assert!(rejected(
        &w.write(0, observation(&w, 4)),
        "expected version 3"
    ));
    let mut foreign = observation(&w, 3);
    foreign.author = w.clinician[1].public_key().into();
    assert!(rejected(&w.write(1, foreign), "only its custodian"));
    let mut stolen = observation(&w, 3);
    stolen.author = w.clinician[0].public_key().into();
    assert!(rejected(
        &w.write(1, stolen),
        "not registered to the signing organisation"
    ));
    let mut by_device = observation(&w, 3);
    by_device.author = w.device.public_key().into();
    assert!(rejected(&w.write(0, by_device), "devices may not"));
    let mut by_patient = observation(&w, 3);
    by_patient.author = w.patient_key.public_key().into();
    assert!(rejected(&w.write(0, by_patient), "patients do not write"));
    // Bodies name authors by their bytes, unchecked: bytes that are no key
    // at all name no registered agent.
    let mut by_nobody = observation(&w, 3);
    by_nobody.author = KeyId::from([0xff; 32]);
    assert!(rejected(&w.write(0, by_nobody), "not a registered"));
    let stranger = version(
        Pseudonym::new([1; 32]),
        ResourceType::Condition,
        "c-1",
        1,
        w.clinician[0].public_key(),
    );
    assert!(rejected(
        &w.write(0, stranger),
        "write the Patient resource first"
    ));
    let p = w.patient;
    let again = version(
        p,
        ResourceType::Patient,
        &p.to_hex(),
        1,
        w.clinician[0].public_key(),
    );
    assert!(rejected(&w.write(0, again), "already exists"));
    let wrong_id = version(
        Pseudonym::new([2; 32]),
        ResourceType::Patient,
        "someone",
        1,
        w.clinician[0].public_key(),
    );
    assert!(rejected(&w.write(0, wrong_id), "pseudonym"));
    // A regulator's node writes nothing.
    let mut by_regulator = observation(&w, 3);
    by_regulator.author = w.regulator_agent.public_key().into();
    assert!(rejected(&w.write(2, by_regulator), "regulators"));

    let head: RecordHead = records::read(
        &w.chain.state,
        &keys::record_head(ResourceType::Observation, &obs.id),
    )
    .unwrap();
    assert_eq!((head.version, head.custodian.as_str()), (2, "org-0"));
    let v1: RecordEntry = records::read(
        &w.chain.state,
        &keys::record_version(ResourceType::Observation, &obs.id, 1),
    )
    .unwrap();
    assert_eq!(v1.ciphertext, obs.ciphertext);
    assert_eq!(
        v1.author,
        custodia_types::key_hex(&w.clinician[0].public_key())
    );
    let index = patient_index(&w, &w.patient);
    assert_eq!(
        index,
        vec![format!("Patient/{}", w.patient), "Observation/obs-1".into()]
    );

    // Writes are audit events too: the Patient, then two versions.
    let trail = w.audit_trail();
    assert_eq!(trail.len(), 3);
    assert!(trail
        .iter()
        .all(|e| e.action == AccessAction::Write && e.decision == Decision::Permit));
}

#[test]
fn a_bundle_of_versions_is_recorded_all_together_or_not_at_all() {
    let mut w = World::new();
    let author = w.clinician[0].public_key();
    let newborn = Pseudonym::new([5; 32]);
    let patient = version(
        newborn,
        ResourceType::Patient,
        &newborn.to_hex(),
        1,
        author.clone(),
    );
    let condition = version(
        newborn,
        ResourceType::Condition,
        "cond-1",
        1,
        author.clone(),
    );
    let audit_count = |w: &World| {
        w.chain
            .state
            .get(keys::AUDIT_COUNT)
            .and_then(|b| keys::decode_u64(&b))
            .unwrap_or(0)
    };
    let events_before = audit_count(&w);

    // The second entry skips a version: the whole bundle is refused and
    // even the new Patient, which alone would be fine, is not kept.
    let mut bad = condition.clone();
    bad.version = 2;
    let status = w.send(
        &node(0),
        Body::WriteRecords {
            versions: vec![patient.clone(), bad],
        },
    );
    assert!(rejected(&status, "expected version 1"));
    assert!(w.chain.state.get(&keys::patient(&newborn)).is_none());
    assert!(w
        .chain
        .state
        .get(&keys::record_head(ResourceType::Patient, &patient.id))
        .is_none());
    assert_eq!(audit_count(&w), events_before);

    // A Patient and a resource about it in one bundle: both recorded, in
    // order, each with its audit event.
    let status = w.send(
        &node(0),
        Body::WriteRecords {
            versions: vec![patient.clone(), condition.clone()],
        },
    );
    assert_eq!(status, TxStatus::Applied);
    let index = patient_index(&w, &newborn);
    assert_eq!(
        index,
        vec![format!("Patient/{newborn}"), "Condition/cond-1".into()]
    );
    assert_eq!(audit_count(&w), events_before + 2);
    // Another organisation cannot slip a version into someone else's record
    // by bundling it with its own.
    let mut foreign = version(newborn, ResourceType::Condition, "cond-1", 2, author);
    foreign.author = w.clinician[1].public_key().into();
    let status = w.send(
        &node(1),
        Body::WriteRecords {
            versions: vec![foreign],
        },
    );
    assert!(rejected(&status, "only its custodian"));
}

/// A patient's index is an entry per resource, not one list, so it grows
/// past what one state record holds (64 KiB: about 2 800 names).
#[test]
fn a_patients_history_outgrows_one_state_record() {
    let mut w = World::new();
    let author = w.clinician[0].public_key();
    let first_nonce = w.chain.nonce(&node(0));
    let txs: Vec<_> = (0..100u64)
        .map(|t| {
            let entries = (0..30u64)
                .map(|i| {
                    let id = format!("obs-{}", t * 30 + i);
                    Body::WriteRecord(version(
                        w.patient,
                        ResourceType::Observation,
                        &id,
                        1,
                        author.clone(),
                    ))
                })
                .collect();
            sign(&node(0), first_nonce + t, Body::Batch { entries })
        })
        .collect();
    let receipts = w.chain.block_receipts(txs);
    assert!(receipts.iter().all(|r| r.status == TxStatus::Applied
        && r.entries.iter().all(|e| e.status == TxStatus::Applied)));
    let index = patient_index(&w, &w.patient);
    assert_eq!(index.len(), 3_001);
    assert_eq!(index[3_000], "Observation/obs-2999");
}
