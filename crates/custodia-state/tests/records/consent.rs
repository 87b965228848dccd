//! Consent: reads follow a patient's grants, their revocation and their
//! expiry; break-glass lets a clinician in and shows; every attempt is
//! audited.

use crate::common::*;
use crate::world::*;
use commonware_cryptography::Signer as _;
use custodia_state::{records::Decision, TxStatus};
use custodia_types::{AccessAction, Body, ConsentGrant, Grantee, OrgId, Purpose, ResourceType};

#[test]
fn reads_follow_consent_revocation_and_expiry_and_every_attempt_is_audited() {
    let mut w = World::new();
    assert_eq!(w.write(0, observation(&w, 1)), TxStatus::Applied);
    let own = w.clinician[0].public_key();
    let other = w.clinician[1].public_key();

    assert_eq!(
        w.read_as(0, &own, Purpose::Treatment),
        Decision::Permit,
        "custodian"
    );
    assert_eq!(
        w.read_as(1, &other, Purpose::Treatment),
        Decision::Deny,
        "no consent"
    );

    let start = w.chain.time_ms;
    let consent = w.grant(ConsentGrant {
        grantee: Grantee::Org {
            org: OrgId::new("org-1").unwrap(),
        },
        scope: vec![ResourceType::Observation],
        purpose: Purpose::Treatment,
        from_ms: start,
        until_ms: start + HOUR,
    });
    assert_eq!(
        w.read_as(1, &other, Purpose::Treatment),
        Decision::Permit,
        "consented"
    );
    assert_eq!(
        w.read_as(1, &other, Purpose::Research),
        Decision::Deny,
        "other purpose"
    );

    // Revoked: denied again.
    let status = w.send(&w.patient_key.clone(), Body::RevokeConsent { consent });
    assert_eq!(status, TxStatus::Applied);
    assert_eq!(
        w.read_as(1, &other, Purpose::Treatment),
        Decision::Deny,
        "revoked"
    );
    let again = w.send(&w.patient_key.clone(), Body::RevokeConsent { consent });
    assert!(rejected(&again, "already revoked"));

    // A fresh consent for one practitioner, then time passes beyond it.
    w.grant(ConsentGrant {
        grantee: Grantee::Agent { key: other.clone() },
        scope: vec![],
        purpose: Purpose::Treatment,
        from_ms: start,
        until_ms: start + HOUR,
    });
    assert_eq!(
        w.read_as(1, &other, Purpose::Treatment),
        Decision::Permit,
        "practitioner consent"
    );
    w.chain.time_ms = start + HOUR;
    assert_eq!(
        w.read_as(1, &other, Purpose::Treatment),
        Decision::Deny,
        "expired"
    );

    // Break-glass: a clinician with a reason is let in, and it shows.
    let event = w.break_glass(1, &other, "unconscious in A&E, allergies unknown");
    assert_eq!(event.decision, Decision::Permit);
    assert_eq!(event.reasons, vec!["break-glass".to_string()]);
    assert!(event.break_glass.is_some());

    let trail = w.audit_trail();
    let reads: Vec<(String, Decision, bool)> = trail
        .iter()
        .filter(|e| e.action == AccessAction::Read)
        .map(|e| {
            (
                e.org.clone().unwrap().to_string(),
                e.decision,
                e.break_glass.is_some(),
            )
        })
        .collect();
    use Decision::*;
    let expected = [
        ("org-0", Permit, false),
        ("org-1", Deny, false),
        ("org-1", Permit, false),
        ("org-1", Deny, false),
        ("org-1", Deny, false),
        ("org-1", Permit, false),
        ("org-1", Deny, false),
        ("org-1", Permit, true),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(o, d, b)| (o.to_string(), *d, *b))
        .collect();
    assert_eq!(reads, expected);
}
