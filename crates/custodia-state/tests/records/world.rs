//! The clinical world every test starts from: two hospitals and a
//! regulator, their agents, and one enrolled patient; the helpers through
//! which nodes write, read and consult the audit trail.

use crate::common::*;
use commonware_cryptography::Signer as _;
use custodia_state::{
    keys,
    records::{self, AuditEvent, Decision},
    StateRead, TxStatus,
};
use custodia_types::{
    AccessAction, AccessRequest, AgentKind, Body, ConsentGrant, LogicalId, OrgRole, Params,
    PrivateKey, Pseudonym, PublicKey, Purpose, RecordVersion, ResourceRef, ResourceType,
};

pub const HOUR: u64 = 3_600_000;

/// Org 0 and org 1 are hospitals, org 2 a regulator. Each hospital has a
/// clinician and a device; nodes sign on their behalf with validator keys.
pub struct World {
    pub chain: Chain,
    pub clinician: [PrivateKey; 2],
    pub device: PrivateKey,
    pub regulator_agent: PrivateKey,
    pub patient_key: PrivateKey,
    pub patient: Pseudonym,
}

pub fn node(i: u64) -> PrivateKey {
    validator(i)
}

impl World {
    pub fn new() -> Self {
        let mut chain = Chain::with_roles(
            &[OrgRole::Provider, OrgRole::Provider, OrgRole::Regulator],
            Params::default(),
        );
        let clinician = [PrivateKey::from_seed(300), PrivateKey::from_seed(301)];
        let device = PrivateKey::from_seed(310);
        let regulator_agent = PrivateKey::from_seed(320);
        let register = |chain: &Chain, admin: usize, key: &PrivateKey, kind| {
            chain.register_agent(admin, &key.public_key(), kind, "test")
        };
        let txs = vec![register(&chain, 0, &clinician[0], AgentKind::Clinician)];
        chain.block_applied(txs);
        let txs = vec![
            register(&chain, 0, &device, AgentKind::Device),
            register(&chain, 1, &clinician[1], AgentKind::Clinician),
            register(&chain, 2, &regulator_agent, AgentKind::Clinician),
        ];
        chain.block_applied(txs);
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

    /// One block holding `body` signed by `key`.
    pub fn send(&mut self, key: &PrivateKey, body: Body) -> TxStatus {
        self.chain.send(key, body)
    }

    /// Org `org`'s node writes a version.
    pub fn write(&mut self, org: u64, record: RecordVersion) -> TxStatus {
        self.send(&node(org), Body::WriteRecord(record))
    }

    /// Org `org`'s node asks for `agent` and returns the audit event.
    pub fn access(
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
            patient: Some(self.patient),
            resource: resource.map(|(resource_type, id)| ResourceRef {
                resource_type,
                id: LogicalId::new(id).unwrap(),
            }),
            action,
            purpose,
            break_glass: break_glass.map(str::to_string),
        });
        self.audited(org, body)
    }

    /// Org `org`'s node asks for `agent` to read the whole audit log.
    pub fn query_audit(&mut self, org: u64, agent: &PublicKey) -> AuditEvent {
        let body = Body::QueryAudit {
            agent: agent.into(),
            purpose: Purpose::Treatment,
        };
        self.audited(org, body)
    }

    /// Org `org`'s node sends `body` in a block of its own; it must apply.
    /// The audit event it left.
    pub fn audited(&mut self, org: u64, body: Body) -> AuditEvent {
        let tx = self.chain.tx(&node(org), body);
        assert_eq!(self.chain.send_tx(&tx), TxStatus::Applied);
        let seq =
            keys::decode_u64(&self.chain.state.get(&keys::audit_of_tx(&tx.id())).unwrap()).unwrap();
        records::read(&self.chain.state, &keys::audit_event(seq)).unwrap()
    }

    /// An emergency read of the observation, with a stated reason.
    pub fn break_glass(&mut self, org: u64, agent: &PublicKey, reason: &str) -> AuditEvent {
        self.access(
            org,
            agent,
            Some((ResourceType::Observation, "obs-1")),
            AccessAction::Read,
            Purpose::Treatment,
            Some(reason),
        )
    }

    pub fn read_as(&mut self, org: u64, agent: &PublicKey, purpose: Purpose) -> Decision {
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

    pub fn grant(&mut self, grant: ConsentGrant) -> custodia_types::Digest {
        let tx = self.chain.tx(&self.patient_key, Body::GrantConsent(grant));
        assert_eq!(self.chain.send_tx(&tx), TxStatus::Applied);
        tx.id()
    }

    pub fn audit_trail(&self) -> Vec<AuditEvent> {
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

pub fn version(
    patient: Pseudonym,
    resource_type: ResourceType,
    id: &str,
    version: u64,
    author: PublicKey,
) -> RecordVersion {
    RecordVersion {
        patient: Some(patient),
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
pub fn patient_index(w: &World, patient: &Pseudonym) -> Vec<String> {
    let count =
        keys::decode_u64(&w.chain.state.get(&keys::patient_records(patient)).unwrap()).unwrap();
    (0..count)
        .map(|i| records::read(&w.chain.state, &keys::patient_record(patient, i)).unwrap())
        .collect()
}

pub fn observation(world: &World, v: u64) -> RecordVersion {
    version(
        world.patient,
        ResourceType::Observation,
        "obs-1",
        v,
        world.clinician[0].public_key(),
    )
}
