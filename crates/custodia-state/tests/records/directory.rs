//! Directory data: resources in no patient's compartment (Practitioner,
//! Organization, Location, ...). Written by their custodian like any
//! record, read by every member's agents, audited in the consortium's log
//! and never in a patient's trail.

use crate::common::*;
use crate::world::*;
use commonware_cryptography::Signer as _;
use custodia_state::{
    keys,
    records::{self, Decision},
    StateRead, TxStatus,
};
use custodia_types::{
    AccessAction, AccessRequest, Body, LogicalId, PublicKey, Purpose, RecordVersion, ResourceRef,
    ResourceType,
};

fn practitioner(w: &World, v: u64) -> RecordVersion {
    RecordVersion {
        patient: None,
        ..version(
            w.patient,
            ResourceType::Practitioner,
            "dr-osler",
            v,
            w.clinician[0].public_key(),
        )
    }
}

fn read_request(agent: &PublicKey, patient: Option<custodia_types::Pseudonym>) -> Body {
    Body::Access(AccessRequest {
        agent: agent.into(),
        patient,
        resource: Some(ResourceRef {
            resource_type: ResourceType::Practitioner,
            id: LogicalId::new("dr-osler").unwrap(),
        }),
        action: AccessAction::Read,
        purpose: Purpose::Treatment,
        break_glass: None,
    })
}

#[test]
fn directory_data_is_written_by_its_custodian_and_names_no_patient() {
    let mut w = World::new();
    assert_eq!(w.write(0, practitioner(&w, 1)), TxStatus::Applied);
    assert_eq!(w.write(0, practitioner(&w, 2)), TxStatus::Applied);
    // Another member may not write a version of it.
    let foreign = RecordVersion {
        author: w.clinician[1].public_key().into(),
        ..practitioner(&w, 3)
    };
    assert!(rejected(&w.write(1, foreign), "custodian"));
    // A Patient always names itself.
    let nameless_patient = RecordVersion {
        patient: None,
        ..version(
            w.patient,
            ResourceType::Patient,
            &"ab".repeat(32),
            1,
            w.clinician[0].public_key(),
        )
    };
    assert!(rejected(&w.write(0, nameless_patient), "pseudonym"));
    // A type the compartment can hold, naming no patient (an Observation of
    // a device), is directory data too; it joins no patient's index.
    let before = patient_index(&w, &w.patient);
    let device_reading = RecordVersion {
        patient: None,
        ..version(
            w.patient,
            ResourceType::Observation,
            "calibration-1",
            1,
            w.clinician[0].public_key(),
        )
    };
    assert_eq!(w.write(0, device_reading), TxStatus::Applied);
    assert_eq!(patient_index(&w, &w.patient), before);
    // The custodian's own index lists every resource it holds, once (its
    // node rebuilds its local search index from it).
    let org = custodia_types::OrgId::new("org-0").unwrap();
    let held: Vec<String> = (0..w
        .chain
        .state
        .get(&keys::custodian_records(&org))
        .and_then(|b| keys::decode_u64(&b))
        .unwrap_or(0))
        .map(|i| records::read(&w.chain.state, &keys::custodian_record(&org, i)).unwrap())
        .collect();
    assert!(
        held.ends_with(&[
            "Practitioner/dr-osler".to_string(),
            "Observation/calibration-1".to_string()
        ]),
        "{held:?}"
    );
    assert_eq!(
        held.iter()
            .filter(|n| *n == "Practitioner/dr-osler")
            .count(),
        1
    );
}

#[test]
fn every_members_agents_read_directory_data_and_each_read_is_audited_outside_patients_trails() {
    let mut w = World::new();
    assert_eq!(w.write(0, practitioner(&w, 1)), TxStatus::Applied);
    let trail_before = w.audit_trail().len();
    let other_hospital = w.clinician[1].public_key();
    let event = w.audited(1, read_request(&other_hospital, None));
    assert_eq!(event.decision, Decision::Permit, "{event:?}");
    assert_eq!(event.reasons, ["directory-reads"]);
    assert_eq!(event.patient, None);
    assert_eq!(event.resource.as_deref(), Some("Practitioner/dr-osler"));
    assert_eq!(w.audit_trail().len(), trail_before);
    // The regulator's agents see no content, directory or not.
    let regulator = w.regulator_agent.public_key();
    assert_eq!(
        w.audited(2, read_request(&regulator, None)).decision,
        Decision::Deny
    );
    // A request must say whose the record is, as the chain has it.
    let status = w.send(&node(1), read_request(&other_hospital, Some(w.patient)));
    assert!(rejected(&status, "pseudonym"), "{status:?}");
    let nothing = Body::Access(AccessRequest {
        resource: None,
        ..match read_request(&other_hospital, None) {
            Body::Access(request) => request,
            _ => unreachable!(),
        }
    });
    assert!(rejected(&w.send(&node(1), nothing), "names a patient"));
}
