//! Access requests and the audit trail. A node asks the chain, for one of
//! its organisation's agents (or a patient), to read, search or write a
//! patient's records; the chain decides by the Cedar policy in state and
//! keeps the request and the decision, permitted or denied, as an audit
//! event. Nodes answer a read only once its event is final.

use super::{consent::consents_of, Module, TxContext};
use crate::{
    keys,
    policy::{Asker, PolicyEngine, Question, Target},
    records::{self, AuditEvent, Decision, PatientEntry, Principal, RecordEntry, RecordHead},
    Rejection, StateRead,
};
use custodia_types::{
    key_hex, AccessAction, AccessRequest, AgentKind, Body, KeyId, OrgId, OrgRole, Pseudonym,
    PublicKey, Purpose,
};
use std::collections::BTreeSet;

#[derive(Default)]
pub struct Access {
    policy: PolicyEngine,
}

impl Module for Access {
    fn name(&self) -> &'static str {
        "access"
    }

    fn authorize(&self, _: &Principal, _: &Body) -> Result<(), Rejection> {
        // Anyone may ask; who they ask for is checked in `apply`, and the
        // answer is the policy's.
        Ok(())
    }

    fn read_set(&self, _signer: &PublicKey, body: &Body, keys: &mut BTreeSet<Vec<u8>>) {
        if let Body::QueryAudit { agent, .. } = body {
            keys.insert(keys::principal(agent));
            keys.insert(keys::AUDIT_COUNT.to_vec());
            keys.insert(keys::POLICY.to_vec());
            return;
        }
        let Body::Access(request) = body else {
            return;
        };
        keys.insert(keys::principal(&request.agent));
        if let Some(patient) = &request.patient {
            keys.insert(keys::patient(patient));
            keys.insert(keys::patient_consents(patient));
            keys.insert(keys::patient_audit_count(patient));
        }
        keys.insert(keys::AUDIT_COUNT.to_vec());
        keys.insert(keys::POLICY.to_vec());
        if let Some(resource) = &request.resource {
            keys.insert(keys::record_head(resource.resource_type, &resource.id));
        }
    }

    fn apply(&self, ctx: &mut TxContext<'_>, body: &Body) -> Result<(), Rejection> {
        if let Body::QueryAudit { agent, purpose } = body {
            return self.query_audit(ctx, agent, *purpose);
        }
        let Body::Access(request) = body else {
            unreachable!("dispatch only sends access bodies here")
        };
        let actor = resolve_actor(&*ctx.state, ctx.signer, ctx.principal, &request.agent)?;
        let TargetFacts {
            name,
            resource_type,
            custodian,
            author,
        } = target_facts(&*ctx.state, request)?;
        let break_glass = request
            .break_glass
            .as_deref()
            .is_some_and(|reason| !reason.trim().is_empty());
        let consented = match (&actor, &request.patient) {
            (Actor::Agent { org, .. }, Some(patient)) => {
                let resource_type = request.resource.as_ref().map(|r| r.resource_type);
                consents_of(&*ctx.state, patient).iter().any(|c| {
                    c.allows(
                        &request.agent,
                        org,
                        resource_type,
                        request.purpose,
                        ctx.time_ms,
                    )
                })
            }
            // Directory data has no patient to consent; patients ask for
            // themselves.
            (Actor::Agent { .. }, None) | (Actor::Patient(_), _) => false,
        };
        let question = Question {
            asker: actor.asker(&request.agent),
            action: request.action,
            target: Target::Record {
                name: &name,
                resource_type: &resource_type,
                patient: request.patient.as_ref(),
                custodian: &custodian,
                author: author.as_deref(),
            },
            purpose: request.purpose,
            consented,
            break_glass,
        };
        let (decision, reasons) = self.decide(&*ctx.state, &question);
        let seq = record_event(ctx, request, actor.org().cloned(), decision, reasons);
        index_by_action(ctx, seq);
        Ok(())
    }
}

/// What the policy is told of an access's target.
struct TargetFacts {
    /// `Type/id`, or `Patient/<pseudonym>` for a search of a compartment.
    name: String,
    resource_type: String,
    custodian: OrgId,
    /// The agent who wrote the latest version, if one exists.
    author: Option<String>,
}

/// The facts of the resource (or compartment) `request` names. A record's
/// patient must be the one the request names (none for directory data).
fn target_facts(
    state: &(impl StateRead + ?Sized),
    request: &AccessRequest,
) -> Result<TargetFacts, Rejection> {
    let patient_entry = match &request.patient {
        Some(patient) => Some(
            records::read::<PatientEntry>(state, &keys::patient(patient))
                .ok_or_else(|| Rejection::UnknownPatient(patient.to_hex()))?,
        ),
        None => None,
    };
    let Some(resource) = &request.resource else {
        let (Some(patient), Some(entry)) = (&request.patient, patient_entry) else {
            return Err(Rejection::AccessNamesNothing);
        };
        return Ok(TargetFacts {
            name: format!("Patient/{patient}"),
            resource_type: "Patient".into(),
            custodian: entry.custodian,
            author: None,
        });
    };
    let name = resource.to_string();
    let head: Option<RecordHead> = records::read(
        state,
        &keys::record_head(resource.resource_type, &resource.id),
    );
    match (head, patient_entry) {
        (Some(head), _) if head.patient != request.patient => {
            Err(Rejection::PatientIdMismatch(name))
        }
        (Some(head), _) => {
            let latest: Option<RecordEntry> = records::read(
                state,
                &keys::record_version(resource.resource_type, &resource.id, head.version),
            );
            Ok(TargetFacts {
                name,
                resource_type: resource.resource_type.to_string(),
                custodian: head.custodian,
                author: latest.map(|e| e.author),
            })
        }
        // A refused write of a new resource in a compartment: it is the
        // patient's custodian's to create.
        (None, Some(entry)) if request.action == AccessAction::Write => Ok(TargetFacts {
            name,
            resource_type: resource.resource_type.to_string(),
            custodian: entry.custodian,
            author: None,
        }),
        (None, _) => Err(Rejection::UnknownRecord(name)),
    }
}

impl Access {
    /// The decision of the policy in force, and the ids of the rules that
    /// made it.
    fn decide(
        &self,
        state: &(impl StateRead + ?Sized),
        question: &Question<'_>,
    ) -> (Decision, Vec<String>) {
        let stored = state.get(keys::POLICY);
        let answer = self.policy.decide_stored(stored.as_deref(), question);
        let decision = if answer.permit {
            Decision::Permit
        } else {
            Decision::Deny
        };
        (decision, answer.reasons)
    }

    /// A query of the whole audit log: its target is the `AuditLog`
    /// entity, with no patient and no custodian, so only rules about the
    /// asker (the regulator's) permit.
    fn query_audit(
        &self,
        ctx: &mut TxContext<'_>,
        agent: &KeyId,
        purpose: Purpose,
    ) -> Result<(), Rejection> {
        let actor = resolve_actor(&*ctx.state, ctx.signer, ctx.principal, agent)?;
        let question = Question {
            asker: actor.asker(agent),
            action: AccessAction::ReadAudit,
            target: Target::AuditLog,
            purpose,
            consented: false,
            break_glass: false,
        };
        let (decision, reasons) = self.decide(&*ctx.state, &question);
        let event = EventFacts {
            agent,
            patient: None,
            resource: Some(AUDIT_LOG.to_string()),
            action: AccessAction::ReadAudit,
            purpose,
            break_glass: None,
        };
        let seq = append_event(ctx, event, actor.org().cloned(), decision, reasons);
        index_by_action(ctx, seq);
        Ok(())
    }
}

/// The name a query of the whole audit log is recorded under.
pub const AUDIT_LOG: &str = "AuditLog";

/// The agent (or patient) a transaction acts for.
pub enum Actor {
    Agent {
        org: OrgId,
        role: OrgRole,
        kind: Option<AgentKind>,
    },
    Patient(Pseudonym),
}

impl Actor {
    fn org(&self) -> Option<&OrgId> {
        match self {
            Actor::Agent { org, .. } => Some(org),
            Actor::Patient(_) => None,
        }
    }

    fn asker<'a>(&'a self, key: &'a KeyId) -> Asker<'a> {
        match self {
            Actor::Agent { org, role, kind } => Asker::Agent {
                key,
                org,
                role: *role,
                kind: *kind,
            },
            Actor::Patient(p) => Asker::Patient(p),
        }
    }
}

/// Who `agent` is, given that `signer` (as `principal`) speaks for it: a
/// node speaks for its own organisation's agents and admin, and for any
/// patient it serves; anyone else speaks only for themselves.
pub fn resolve_actor(
    state: &(impl StateRead + ?Sized),
    signer: &PublicKey,
    principal: &Principal,
    agent: &KeyId,
) -> Result<Actor, Rejection> {
    let is_node = matches!(principal, Principal::Node { .. });
    if !is_node && agent != signer {
        return Err(Rejection::NotAllowed(
            "only a member's node may act on behalf of another key",
        ));
    }
    let agent_principal: Principal = if agent == signer {
        principal.clone()
    } else {
        records::read(state, &keys::principal(agent))
            .ok_or_else(|| Rejection::UnknownSigner(key_hex(agent)))?
    };
    let role_of = |org: &OrgId| {
        records::member_role(state, org).ok_or_else(|| Rejection::UnknownMember(org.clone()))
    };
    let foreign = |org: &OrgId| principal.org().is_some_and(|signer_org| signer_org != org);
    match agent_principal {
        Principal::Patient { patient } => Ok(Actor::Patient(patient)),
        Principal::Agent { revoked: true, .. } => Err(Rejection::RevokedSigner(key_hex(agent))),
        Principal::Agent { org, .. } | Principal::Admin { org } if foreign(&org) => {
            Err(Rejection::AgentNotOwned(key_hex(agent)))
        }
        Principal::Agent { org, kind, .. } => Ok(Actor::Agent {
            role: role_of(&org)?,
            org,
            kind: Some(kind),
        }),
        Principal::Admin { org } => Ok(Actor::Agent {
            role: role_of(&org)?,
            org,
            kind: None,
        }),
        Principal::Node { .. } => Err(Rejection::NotAllowed(
            "a node acts for agents and patients, not for itself",
        )),
    }
}

/// What an audit event is about.
pub(crate) struct EventFacts<'a> {
    agent: &'a KeyId,
    patient: Option<Pseudonym>,
    resource: Option<String>,
    action: AccessAction,
    purpose: Purpose,
    break_glass: Option<String>,
}

/// Append the audit event of an access request; its sequence number.
pub(crate) fn record_event(
    ctx: &mut TxContext<'_>,
    request: &AccessRequest,
    org: Option<OrgId>,
    decision: Decision,
    reasons: Vec<String>,
) -> u64 {
    let facts = EventFacts {
        agent: &request.agent,
        patient: request.patient,
        resource: request.resource.as_ref().map(ToString::to_string),
        action: request.action,
        purpose: request.purpose,
        break_glass: request.break_glass.clone(),
    };
    append_event(ctx, facts, org, decision, reasons)
}

/// File a question's audit event under the action that asked it, where
/// the node that asked looks for the answer (and a custodian, for the
/// permit a key release rests on). Writes are not filed so: their answer is
/// the receipt, and their event is found from the version they wrote.
fn index_by_action(ctx: &mut TxContext<'_>, seq: u64) {
    ctx.state
        .put(keys::audit_of_tx(&ctx.tx_id), keys::encode_u64(seq));
}

/// Append an audit event under `audit/{seq}` and, when it is about a
/// patient, in that patient's index; its sequence number.
fn append_event(
    ctx: &mut TxContext<'_>,
    facts: EventFacts<'_>,
    org: Option<OrgId>,
    decision: Decision,
    reasons: Vec<String>,
) -> u64 {
    let seq = counter(&*ctx.state, keys::AUDIT_COUNT);
    let event = AuditEvent {
        seq,
        height: ctx.height,
        time_ms: ctx.time_ms,
        tx: ctx.origin.tx,
        entry: ctx.origin.entry,
        agent: key_hex(facts.agent),
        org,
        recorded_by: ctx.principal.org().cloned(),
        patient: facts.patient,
        resource: facts.resource,
        action: facts.action,
        purpose: facts.purpose,
        decision,
        break_glass: facts.break_glass,
        reasons,
    };
    ctx.state
        .put(keys::audit_event(seq), records::encode(&event));
    ctx.state
        .put(keys::AUDIT_COUNT.to_vec(), keys::encode_u64(seq + 1));
    if let Some(patient) = facts.patient {
        let patient_count_key = keys::patient_audit_count(&patient);
        let index = counter(&*ctx.state, &patient_count_key);
        ctx.state
            .put(keys::patient_audit(&patient, index), keys::encode_u64(seq));
        ctx.state
            .put(patient_count_key, keys::encode_u64(index + 1));
    }
    seq
}

fn counter(state: &(impl StateRead + ?Sized), key: &[u8]) -> u64 {
    state
        .get(key)
        .and_then(|bytes| keys::decode_u64(&bytes))
        .unwrap_or(0)
}

/// An audit request for a write the chain accepted (the write itself is
/// the permission: only a custodian gets this far).
pub(crate) fn write_request(agent: KeyId, record: &custodia_types::RecordVersion) -> AccessRequest {
    AccessRequest {
        agent,
        patient: record.patient,
        resource: Some(custodia_types::ResourceRef {
            resource_type: record.resource_type,
            id: record.id.clone(),
        }),
        action: AccessAction::Write,
        purpose: Purpose::Treatment,
        break_glass: None,
    }
}
