//! Clinical records, consent and the audit trail, as the state machine
//! enforces them.

mod common;

use common::*;
use commonware_cryptography::Signer as _;
use custodia_state::{
    keys,
    records::{self, AuditEvent, Decision, RecordEntry, RecordHead},
    StateRead, TxStatus,
};
use custodia_types::{
    AccessAction, AccessRequest, AgentKind, Body, ConsentGrant, Grantee, KeyId, LogicalId, OrgId,
    OrgRole, Params, PrivateKey, Proposal, Pseudonym, PublicKey, Purpose, RecordVersion,
    ResourceRef, ResourceType,
};

const HOUR: u64 = 3_600_000;

/// Org 0 and org 1 are hospitals, org 2 a regulator. Each hospital has a
/// clinician and a device; nodes sign on their behalf with validator keys.
struct World {
    chain: Chain,
    clinician: [PrivateKey; 2],
    device: PrivateKey,
    regulator_agent: PrivateKey,
    patient_key: PrivateKey,
    patient: Pseudonym,
}

fn node(i: u64) -> PrivateKey {
    validator(i)
}

impl World {
    fn new() -> Self {
        let mut chain = Chain::with_roles(
            &[OrgRole::Provider, OrgRole::Provider, OrgRole::Regulator],
            Params::default(),
        );
        let clinician = [PrivateKey::from_seed(300), PrivateKey::from_seed(301)];
        let device = PrivateKey::from_seed(310);
        let regulator_agent = PrivateKey::from_seed(320);
        let register = |chain: &Chain, admin: usize, key: &PrivateKey, kind| {
            chain.tx(
                &chain.admins[admin].clone(),
                Body::RegisterAgent {
                    key: key.public_key(),
                    kind,
                    label: "test".into(),
                },
            )
        };
        let txs = vec![register(&chain, 0, &clinician[0], AgentKind::Clinician)];
        assert_eq!(chain.block(txs), vec![TxStatus::Applied]);
        let txs = vec![
            register(&chain, 0, &device, AgentKind::Device),
            register(&chain, 1, &clinician[1], AgentKind::Clinician),
            register(&chain, 2, &regulator_agent, AgentKind::Clinician),
        ];
        assert!(chain.block(txs).iter().all(|s| *s == TxStatus::Applied));
        let patient = Pseudonym::new([9; 32]);
        let mut world = Self {
            chain,
            clinician,
            device,
            regulator_agent,
            patient_key: PrivateKey::from_seed(400),
            patient,
        };
        let author = world.clinician[0].public_key();
        assert_eq!(
            world.write(
                0,
                version(patient, ResourceType::Patient, &patient.to_hex(), 1, author)
            ),
            TxStatus::Applied
        );
        let enrol = Body::EnrolPatient {
            patient,
            key: world.patient_key.public_key(),
        };
        assert_eq!(world.send(&node(0), enrol), TxStatus::Applied);
        world
    }

    fn send(&mut self, key: &PrivateKey, body: Body) -> TxStatus {
        let tx = self.chain.tx(key, body);
        self.chain.block(vec![tx]).remove(0)
    }

    /// Org `org`'s node writes a version.
    fn write(&mut self, org: u64, record: RecordVersion) -> TxStatus {
        self.send(&node(org), Body::WriteRecord(record))
    }

    /// Org `org`'s node asks for `agent` and returns the audit event.
    fn access(
        &mut self,
        org: u64,
        agent: &PublicKey,
        resource: Option<(ResourceType, &str)>,
        action: AccessAction,
        purpose: Purpose,
        break_glass: Option<&str>,
    ) -> AuditEvent {
        let body = Body::Access(AccessRequest {
            agent: agent.into(),
            patient: self.patient,
            resource: resource.map(|(resource_type, id)| ResourceRef {
                resource_type,
                id: LogicalId::new(id).unwrap(),
            }),
            action,
            purpose,
            break_glass: break_glass.map(str::to_string),
        });
        let tx = self.chain.tx(&node(org), body);
        let status = self.chain.block(vec![tx.clone()]).remove(0);
        assert_eq!(status, TxStatus::Applied);
        let seq =
            keys::decode_u64(&self.chain.state.get(&keys::audit_of_tx(&tx.id())).unwrap()).unwrap();
        records::read(&self.chain.state, &keys::audit_event(seq)).unwrap()
    }

    /// Org `org`'s node asks for `agent` to read the whole audit log.
    fn query_audit(&mut self, org: u64, agent: &PublicKey) -> AuditEvent {
        let body = Body::QueryAudit {
            agent: agent.into(),
            purpose: Purpose::Treatment,
        };
        let tx = self.chain.tx(&node(org), body);
        assert_eq!(
            self.chain.block(vec![tx.clone()]).remove(0),
            TxStatus::Applied
        );
        let seq =
            keys::decode_u64(&self.chain.state.get(&keys::audit_of_tx(&tx.id())).unwrap()).unwrap();
        records::read(&self.chain.state, &keys::audit_event(seq)).unwrap()
    }

    /// An emergency read of the observation, with a stated reason.
    fn break_glass(&mut self, org: u64, agent: &PublicKey, reason: &str) -> AuditEvent {
        self.access(
            org,
            agent,
            Some((ResourceType::Observation, "obs-1")),
            AccessAction::Read,
            Purpose::Treatment,
            Some(reason),
        )
    }

    fn read_as(&mut self, org: u64, agent: &PublicKey, purpose: Purpose) -> Decision {
        self.access(
            org,
            agent,
            Some((ResourceType::Observation, "obs-1")),
            AccessAction::Read,
            purpose,
            None,
        )
        .decision
    }

    fn grant(&mut self, grant: ConsentGrant) -> custodia_types::Digest {
        let tx = self.chain.tx(&self.patient_key, Body::GrantConsent(grant));
        assert_eq!(self.chain.block(vec![tx.clone()]), vec![TxStatus::Applied]);
        tx.id()
    }

    fn audit_trail(&self) -> Vec<AuditEvent> {
        let count = self
            .chain
            .state
            .get(&keys::patient_audit_count(&self.patient))
            .and_then(|b| keys::decode_u64(&b))
            .unwrap_or(0);
        (0..count)
            .map(|i| {
                let seq = keys::decode_u64(
                    &self
                        .chain
                        .state
                        .get(&keys::patient_audit(&self.patient, i))
                        .unwrap(),
                )
                .unwrap();
                records::read(&self.chain.state, &keys::audit_event(seq)).unwrap()
            })
            .collect()
    }
}

fn version(
    patient: Pseudonym,
    resource_type: ResourceType,
    id: &str,
    version: u64,
    author: PublicKey,
) -> RecordVersion {
    RecordVersion {
        patient,
        resource_type,
        id: LogicalId::new(id).unwrap(),
        version,
        ciphertext: custodia_types::sha256(&[id.as_bytes(), &version.to_be_bytes()]),
        commitment: custodia_types::sha256(&[b"salted", id.as_bytes()]),
        size: 100,
        time_ms: 1_000,
        author: author.into(),
    }
}

/// The resources recorded about `patient`, oldest first.
fn patient_index(w: &World, patient: &Pseudonym) -> Vec<String> {
    let count =
        keys::decode_u64(&w.chain.state.get(&keys::patient_records(patient)).unwrap()).unwrap();
    (0..count)
        .map(|i| records::read(&w.chain.state, &keys::patient_record(patient, i)).unwrap())
        .collect()
}

fn observation(world: &World, v: u64) -> RecordVersion {
    version(
        world.patient,
        ResourceType::Observation,
        "obs-1",
        v,
        world.clinician[0].public_key(),
    )
}

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
            patient,
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

#[test]
fn the_access_policy_changes_only_by_governance() {
    let mut w = World::new();
    assert_eq!(w.write(0, observation(&w, 1)), TxStatus::Applied);
    let other = w.clinician[1].public_key();
    let emergency = |w: &mut World| w.break_glass(1, &other, "cardiac arrest").decision;
    assert_eq!(emergency(&mut w), Decision::Permit);

    // A policy that does not parse is refused when proposed.
    let admin = w.chain.admins[0].clone();
    let garbage = Body::Propose {
        proposal: Proposal::SetPolicy {
            policy: "permit(principal,".into(),
        },
    };
    assert!(rejected(
        &w.send(&admin, garbage),
        "does not parse as Cedar"
    ));

    // The consortium votes break-glass out.
    let without_break_glass: String = custodia_state::policy::DEFAULT_POLICY
        .split("\n\n")
        .filter(|rule| !rule.contains("@id(\"break-glass\")"))
        .collect::<Vec<_>>()
        .join("\n\n");
    let propose = Body::Propose {
        proposal: Proposal::SetPolicy {
            policy: without_break_glass.clone(),
        },
    };
    assert_eq!(w.send(&admin, propose), TxStatus::Applied);
    assert_eq!(emergency(&mut w), Decision::Permit, "not until it passes");
    for voter in [1, 2] {
        let key = w.chain.admins[voter].clone();
        let vote = Body::Vote {
            proposal_id: 0,
            approve: true,
        };
        assert_eq!(w.send(&key, vote), TxStatus::Applied);
    }
    let installed: String = records::read(&w.chain.state, keys::POLICY).unwrap();
    assert_eq!(installed, without_break_glass);
    assert_eq!(emergency(&mut w), Decision::Deny);
    // Only admins propose: a node or an agent cannot.
    let sneaky = Body::Propose {
        proposal: Proposal::SetPolicy {
            policy: custodia_state::policy::DEFAULT_POLICY.into(),
        },
    };
    assert!(rejected(&w.send(&node(0), sneaky), "admin"));
}

#[test]
fn erasures_are_logged_for_every_node_to_follow_and_only_the_custodian_erases() {
    let mut w = World::new();
    assert_eq!(w.write(0, observation(&w, 1)), TxStatus::Applied);
    let erase = || Body::EraseRecord {
        resource_type: ResourceType::Observation,
        id: LogicalId::new("obs-1").unwrap(),
    };
    assert!(rejected(&w.send(&node(1), erase()), "only its custodian"));
    assert!(w.chain.state.get(keys::ERASED_COUNT).is_none());
    assert_eq!(w.send(&node(0), erase()), TxStatus::Applied);
    assert_eq!(
        keys::decode_u64(&w.chain.state.get(keys::ERASED_COUNT).unwrap()),
        Some(1)
    );
    let logged: String = records::read(&w.chain.state, &keys::erased(0)).unwrap();
    assert_eq!(logged, "Observation/obs-1");
    assert!(rejected(&w.send(&node(0), erase()), "erased"));
}

/// A node's batch: one signature and nonce, each entry applied on its own.
#[test]
fn a_batch_applies_each_entry_on_its_own_and_files_it_under_its_entry_id() {
    let mut w = World::new();
    let nonce_before = w.chain.nonce(&node(0));
    let clinician = w.clinician[0].public_key();
    let stranger = Pseudonym::new([7; 32]);
    let read = Body::Access(AccessRequest {
        agent: (&clinician).into(),
        patient: w.patient,
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
    let tx = w.chain.tx(
        &node(0),
        Body::Batch {
            entries: vec![Body::WriteRecord(observation(&w, 1)), inner],
        },
    );
    let status = w.chain.block(vec![tx]).remove(0);
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
