//! Who may ask: regulators see the audit but not content, patients see
//! their own, devices read nothing; nodes speak only for their own agents
//! and agents only for themselves.

use crate::common::*;
use crate::world::*;
use commonware_cryptography::Signer as _;
use custodia_state::{records::Decision, TxStatus};
use custodia_types::{
    AccessAction, AccessRequest, Body, ConsentGrant, Grantee, OrgId, PrivateKey, Pseudonym,
    PublicKey, Purpose,
};

#[test]
fn regulators_see_audit_but_not_content_and_patients_see_their_own() {
    let mut w = World::new();
    assert_eq!(w.write(0, observation(&w, 1)), TxStatus::Applied);
    let regulator = w.regulator_agent.public_key();
    assert_eq!(w.read_as(2, &regulator, Purpose::Treatment), Decision::Deny);
    let audit = w.access(
        2,
        &regulator,
        None,
        AccessAction::ReadAudit,
        Purpose::Treatment,
        None,
    );
    assert_eq!(audit.decision, Decision::Permit);
    assert_eq!(audit.reasons, vec!["regulator-audit".to_string()]);
    // Even break-glass does not open content to a regulator.
    let glass = w.break_glass(2, &regulator, "inspection");
    assert_eq!(glass.decision, Decision::Deny);

    // The patient reads their own records and trail through any node.
    let me = w.patient_key.public_key();
    assert_eq!(w.read_as(1, &me, Purpose::Treatment), Decision::Permit);
    let mine = w.access(
        1,
        &me,
        None,
        AccessAction::ReadAudit,
        Purpose::Treatment,
        None,
    );
    assert_eq!(mine.decision, Decision::Permit);
    assert_eq!(mine.org, None);

    // A device may not read, even at its own custodian.
    let device = w.device.public_key();
    assert_eq!(w.read_as(0, &device, Purpose::Treatment), Decision::Deny);

    // The whole audit log, across patients: the regulator only. Both
    // queries are themselves events of the log, in no patient's trail.
    let trail_before = w.audit_trail().len();
    let oversight = w.query_audit(2, &regulator);
    assert_eq!(oversight.decision, Decision::Permit);
    assert_eq!(oversight.reasons, vec!["regulator-audit".to_string()]);
    assert_eq!(
        (oversight.patient, oversight.resource.as_deref()),
        (None, Some("AuditLog"))
    );
    let clinician = w.clinician[0].public_key();
    assert_eq!(w.query_audit(0, &clinician).decision, Decision::Deny);
    assert_eq!(w.audit_trail().len(), trail_before);
}

#[test]
fn nodes_speak_only_for_their_own_agents_and_agents_only_for_themselves() {
    let mut w = World::new();
    assert_eq!(w.write(0, observation(&w, 1)), TxStatus::Applied);
    let request = |agent: PublicKey, patient| {
        Body::Access(AccessRequest {
            agent: agent.into(),
            patient: Some(patient),
            resource: None,
            action: AccessAction::Search,
            purpose: Purpose::Treatment,
            break_glass: None,
        })
    };
    let p = w.patient;
    // Org 1's node cannot claim org 0's clinician.
    let status = w.send(&node(1), request(w.clinician[0].public_key(), p));
    assert!(rejected(
        &status,
        "not registered to the signing organisation"
    ));
    // A clinician signing directly cannot claim someone else.
    let status = w.send(
        &w.clinician[1].clone(),
        request(w.clinician[0].public_key(), p),
    );
    assert!(rejected(&status, "only a member's node"));
    // A clinician may sign their own request.
    let status = w.send(
        &w.clinician[1].clone(),
        request(w.clinician[1].public_key(), p),
    );
    assert_eq!(status, TxStatus::Applied);
    // Unknown patients and records are refused, not audited as reads.
    let status = w.send(
        &node(0),
        request(w.clinician[0].public_key(), Pseudonym::new([3; 32])),
    );
    assert!(rejected(&status, "no patient"));
    // Only the patient signs consents.
    let grant = ConsentGrant {
        grantee: Grantee::Org {
            org: OrgId::new("org-1").unwrap(),
        },
        scope: vec![],
        purpose: Purpose::Treatment,
        from_ms: 0,
        until_ms: 1,
    };
    let status = w.send(&node(0), Body::GrantConsent(grant.clone()));
    assert!(rejected(&status, "patient's own key"));
    let status = w.send(
        &w.patient_key.clone(),
        Body::GrantConsent(ConsentGrant {
            until_ms: 0,
            ..grant
        }),
    );
    assert!(rejected(&status, "must end after"));
    // Only the custodian enrols a patient's key.
    let status = w.send(
        &node(1),
        Body::EnrolPatient {
            patient: p,
            key: PrivateKey::from_seed(401).public_key(),
        },
    );
    assert!(rejected(&status, "only its custodian"));
}
