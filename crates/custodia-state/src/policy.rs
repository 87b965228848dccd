//! Access policy: a Cedar policy set kept on chain (`gov/policy`) and
//! evaluated by the state machine for every access request. Cedar is
//! deterministic, so every node reaches the same decision from the same state.

use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicyId,
    PolicySet, Request, RestrictedExpression,
};
use custodia_types::{AccessAction, AgentKind, KeyId, OrgId, OrgRole, Pseudonym, Purpose};
use std::{
    collections::{HashMap, HashSet},
    str::FromStr,
    sync::{Arc, Mutex, OnceLock},
};

/// The policy installed at genesis (see `policy/default.cedar`).
pub const DEFAULT_POLICY: &str = include_str!("../policy/default.cedar");

/// Largest policy text governance may install (it travels in one transaction).
pub const MAX_POLICY_LEN: usize = custodia_types::MAX_POLICY_BYTES;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the policy does not parse as Cedar: {0}")]
pub struct PolicyError(String);

/// Parse a policy text, as governance does before accepting it.
pub fn parse(text: &str) -> Result<PolicySet, PolicyError> {
    if text.len() > MAX_POLICY_LEN {
        return Err(PolicyError(format!(
            "{} bytes, the most is {MAX_POLICY_LEN}",
            text.len()
        )));
    }
    PolicySet::from_str(text).map_err(|e| PolicyError(e.to_string()))
}

/// Who is asking.
pub enum Asker<'a> {
    Agent {
        key: &'a KeyId,
        org: &'a OrgId,
        role: OrgRole,
        /// `None` for the organisation's admin key.
        kind: Option<AgentKind>,
    },
    Patient(&'a Pseudonym),
}

/// What is asked about.
pub enum Target<'a> {
    /// A resource (`Type/id`) or a patient's compartment: a
    /// `Custodia::Record` when it is a patient's, a
    /// `Custodia::DirectoryEntry` (no `patient` attribute) when it is
    /// directory data, in no patient's compartment.
    Record {
        /// `Type/id`, or `Patient/<pseudonym>` for the compartment.
        name: &'a str,
        resource_type: &'a str,
        patient: Option<&'a Pseudonym>,
        custodian: &'a OrgId,
        /// The agent who wrote the version in question, if one exists.
        /// (Its key in hex, as the record keeps it: no need to decode a
        /// point.)
        author: Option<&'a str>,
    },
    /// The whole audit log, across patients (`Custodia::AuditLog`, an
    /// entity with no attributes: no patient, no custodian).
    AuditLog,
}

pub struct Question<'a> {
    pub asker: Asker<'a>,
    pub action: AccessAction,
    pub target: Target<'a>,
    pub purpose: Purpose,
    pub consented: bool,
    pub break_glass: bool,
}

/// The answer, with the ids (`@id` annotations) of the policies that made it.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    pub permit: bool,
    pub reasons: Vec<String>,
}

/// Evaluates the policy in force, parsing it once per change.
#[derive(Default)]
pub struct PolicyEngine {
    /// The policy as state stores it (JSON text), and that text parsed.
    parsed: Mutex<Option<(Vec<u8>, Arc<Rules>)>>,
}

/// A parsed policy set and each rule's name (its `@id` annotation, else
/// its policy id), looked up once: Cedar parses the annotation's key at
/// every lookup.
struct Rules {
    set: PolicySet,
    names: HashMap<PolicyId, String>,
}

impl Rules {
    fn new(set: PolicySet) -> Self {
        let names = set
            .policies()
            .map(|policy| {
                let name = policy
                    .annotation("id")
                    .map_or_else(|| policy.id().to_string(), str::to_string);
                (policy.id().clone(), name)
            })
            .collect();
        Self { set, names }
    }

    fn name(&self, id: &PolicyId) -> String {
        self.names
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }
}

impl PolicyEngine {
    /// Decide `question` under the policy as state stores it under
    /// `gov/policy` (a JSON string; none: [`DEFAULT_POLICY`]). Called for
    /// every access, so the stored bytes are compared with the last ones
    /// rather than decoded and parsed again.
    pub fn decide_stored(&self, stored: Option<&[u8]>, question: &Question<'_>) -> Answer {
        let stored = stored.unwrap_or_default();
        let cached = {
            let cached = self.parsed.lock().unwrap_or_else(|e| e.into_inner());
            cached
                .as_ref()
                .filter(|(bytes, _)| bytes == stored)
                .map(|(_, set)| set.clone())
        };
        let policies = match cached {
            Some(set) => Ok(set),
            None => self.parse_stored(stored),
        };
        self.answer(policies, question)
    }

    fn parse_stored(&self, stored: &[u8]) -> Result<Arc<Rules>, PolicyError> {
        let text = if stored.is_empty() {
            DEFAULT_POLICY.to_string()
        } else {
            serde_json::from_slice::<String>(stored)
                .map_err(|e| PolicyError(format!("the stored policy is not a JSON string: {e}")))?
        };
        let set = Arc::new(Rules::new(parse(&text)?));
        *self.parsed.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((stored.to_vec(), set.clone()));
        Ok(set)
    }

    /// Decide `question` under the policy `text`.
    #[cfg(test)]
    pub fn decide(&self, text: &str, question: &Question<'_>) -> Answer {
        self.answer(parse(text).map(|set| Arc::new(Rules::new(set))), question)
    }

    fn answer(&self, policies: Result<Arc<Rules>, PolicyError>, question: &Question<'_>) -> Answer {
        let policies = match policies {
            Ok(policies) => policies,
            // Governance only installs policies that parse, so this is a
            // bug; deny (the safe answer) and say why in the audit event.
            Err(e) => {
                return Answer {
                    permit: false,
                    reasons: vec![e.to_string()],
                }
            }
        };
        let (request, entities) = match build(question) {
            Ok(built) => built,
            Err(e) => {
                return Answer {
                    permit: false,
                    reasons: vec![format!("request could not be built: {e}")],
                }
            }
        };
        let response = Authorizer::new().is_authorized(&request, &policies.set, &entities);
        // Cedar skips a rule that fails to evaluate, `forbid` rules too: a
        // forbid that silently stops applying is a hole, so any evaluation
        // error denies, naming the rule (fail closed).
        let failed: Vec<String> = response
            .diagnostics()
            .errors()
            .map(|error| {
                let cedar_policy::AuthorizationError::PolicyEvaluationError(error) = error;
                let id = error.policy_id();
                let name = policies.name(id);
                format!("rule {name} could not be evaluated: {}", error.inner())
            })
            .collect();
        if !failed.is_empty() {
            let mut reasons = failed;
            reasons.sort();
            return Answer {
                permit: false,
                reasons,
            };
        }
        let permit = response.decision() == Decision::Allow;
        let mut reasons: Vec<String> = response
            .diagnostics()
            .reason()
            .map(|id| policies.name(id))
            .collect();
        if reasons.is_empty() {
            reasons.push(if permit {
                "permitted".into()
            } else {
                "no policy permits this".into()
            });
        }
        // Cedar reports reasons as a set; sort so every node writes the same.
        reasons.sort();
        Answer { permit, reasons }
    }
}

/// The entity types requests name, parsed once: parsing a type name runs
/// Cedar's grammar, which was most of the cost of a decision.
struct Types {
    agent: EntityTypeName,
    org: EntityTypeName,
    patient: EntityTypeName,
    record: EntityTypeName,
    directory_entry: EntityTypeName,
    audit_log: EntityTypeName,
    action: EntityTypeName,
}

fn types() -> &'static Types {
    static TYPES: OnceLock<Types> = OnceLock::new();
    TYPES.get_or_init(|| {
        let name = |kind: &str| {
            EntityTypeName::from_str(&format!("Custodia::{kind}"))
                .expect("Custodia's entity type names are valid Cedar names")
        };
        Types {
            agent: name("Agent"),
            org: name("Org"),
            patient: name("Patient"),
            record: name("Record"),
            directory_entry: name("DirectoryEntry"),
            audit_log: name("AuditLog"),
            action: name("Action"),
        }
    })
}

fn uid(kind: &EntityTypeName, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(kind.clone(), EntityId::new(id))
}

fn string(value: &str) -> RestrictedExpression {
    RestrictedExpression::new_string(value.to_string())
}

fn build(q: &Question<'_>) -> Result<(Request, Entities), String> {
    let mut entities = Vec::new();
    let principal = match &q.asker {
        Asker::Patient(p) => uid(&types().patient, &p.to_hex()),
        Asker::Agent {
            key,
            org,
            role,
            kind,
        } => {
            let org_uid = uid(&types().org, org.as_str());
            let principal = uid(&types().agent, &custodia_types::key_hex(key));
            let attrs = HashMap::from([
                (
                    "org".to_string(),
                    RestrictedExpression::new_entity_uid(org_uid.clone()),
                ),
                (
                    "kind".to_string(),
                    string(kind.map_or("admin", AgentKind::as_str)),
                ),
                ("role".to_string(), string(role.as_str())),
            ]);
            entities.push(
                Entity::new(principal.clone(), attrs, HashSet::from([org_uid]))
                    .map_err(|e| e.to_string())?,
            );
            principal
        }
    };
    let resource = match &q.target {
        Target::AuditLog => uid(&types().audit_log, "all"),
        Target::Record {
            name,
            resource_type,
            patient,
            custodian,
            author,
        } => {
            let kind = match patient {
                Some(_) => &types().record,
                None => &types().directory_entry,
            };
            let resource = uid(kind, name);
            let custodian = uid(&types().org, custodian.as_str());
            let mut attrs = HashMap::from([
                ("type".to_string(), string(resource_type)),
                (
                    "custodian".to_string(),
                    RestrictedExpression::new_entity_uid(custodian),
                ),
            ]);
            if let Some(patient) = patient {
                attrs.insert(
                    "patient".to_string(),
                    RestrictedExpression::new_entity_uid(uid(&types().patient, &patient.to_hex())),
                );
            }
            if let Some(author) = author {
                attrs.insert(
                    "author".to_string(),
                    RestrictedExpression::new_entity_uid(uid(&types().agent, author)),
                );
            }
            entities.push(
                Entity::new(resource.clone(), attrs, HashSet::new()).map_err(|e| e.to_string())?,
            );
            resource
        }
    };
    let context = Context::from_pairs([
        ("purpose".to_string(), string(q.purpose.as_str())),
        (
            "consented".to_string(),
            RestrictedExpression::new_bool(q.consented),
        ),
        (
            "break_glass".to_string(),
            RestrictedExpression::new_bool(q.break_glass),
        ),
    ])
    .map_err(|e| e.to_string())?;
    let action = uid(&types().action, q.action.as_str());
    let request =
        Request::new(principal, action, resource, context, None).map_err(|e| e.to_string())?;
    let entities = Entities::from_entities(entities, None).map_err(|e| e.to_string())?;
    Ok((request, entities))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_parses_and_every_rule_has_an_id() {
        let set = parse(DEFAULT_POLICY).unwrap();
        assert!(DEFAULT_POLICY.len() <= MAX_POLICY_LEN);
        for policy in set.policies() {
            assert!(policy.annotation("id").is_some(), "{policy}");
        }
    }

    fn ask(policy: &str, asker: Asker<'_>, action: AccessAction, target: Target<'_>) -> Answer {
        PolicyEngine::default().decide(
            policy,
            &Question {
                asker,
                action,
                target,
                purpose: Purpose::Treatment,
                consented: false,
                break_glass: false,
            },
        )
    }

    fn agent<'a>(key: &'a KeyId, org: &'a OrgId, role: OrgRole) -> Asker<'a> {
        Asker::Agent {
            key,
            org,
            role,
            kind: Some(AgentKind::Clinician),
        }
    }

    #[test]
    fn only_regulators_read_the_whole_audit_log_and_no_rule_errs_on_it() {
        use commonware_cryptography::Signer as _;
        let key = KeyId::from(custodia_types::PrivateKey::from_seed(1).public_key());
        let org = OrgId::new("st-mary").unwrap();
        let patient = Pseudonym::random();
        let read_audit = AccessAction::ReadAudit;
        let regulator = ask(
            DEFAULT_POLICY,
            agent(&key, &org, OrgRole::Regulator),
            read_audit,
            Target::AuditLog,
        );
        assert_eq!(regulator.reasons, ["regulator-audit"]);
        assert!(regulator.permit);
        for asker in [
            agent(&key, &org, OrgRole::Provider),
            Asker::Patient(&patient),
        ] {
            let answer = ask(DEFAULT_POLICY, asker, read_audit, Target::AuditLog);
            assert_eq!(
                answer,
                Answer {
                    permit: false,
                    reasons: vec!["no policy permits this".into()]
                }
            );
        }
    }

    #[test]
    fn a_rule_that_cannot_be_evaluated_denies_even_a_permitted_request() {
        use commonware_cryptography::Signer as _;
        let key = KeyId::from(custodia_types::PrivateKey::from_seed(1).public_key());
        let org = OrgId::new("st-mary").unwrap();
        let patient = Pseudonym::random();
        let record = || Target::Record {
            name: "Observation/1",
            resource_type: "Observation",
            patient: Some(&patient),
            custodian: &org,
            author: None,
        };
        let reads = |policy: &str| {
            ask(
                policy,
                agent(&key, &org, OrgRole::Provider),
                AccessAction::Read,
                record(),
            )
        };
        assert!(reads(DEFAULT_POLICY).permit);
        // A forbid reading an attribute no record has: Cedar alone would
        // skip it and permit.
        let broken = format!(
            "{DEFAULT_POLICY}\n@id(\"no-night-reads\")\nforbid (principal, action, resource) when {{ resource.shift == \"night\" }};"
        );
        let answer = reads(&broken);
        assert!(!answer.permit);
        assert_eq!(answer.reasons.len(), 1, "{answer:?}");
        assert!(
            answer.reasons[0].starts_with("rule no-night-reads could not be evaluated"),
            "{answer:?}"
        );
    }

    #[test]
    fn directory_data_is_read_by_every_members_agents_and_written_by_its_custodian_only() {
        use commonware_cryptography::Signer as _;
        let key = KeyId::from(custodia_types::PrivateKey::from_seed(1).public_key());
        let (own, other) = (
            OrgId::new("st-mary").unwrap(),
            OrgId::new("riverside").unwrap(),
        );
        let entry = || Target::Record {
            name: "Practitioner/dr-osler",
            resource_type: "Practitioner",
            patient: None,
            custodian: &own,
            author: None,
        };
        let asks = |org: &OrgId, role, action| {
            ask(DEFAULT_POLICY, agent(&key, org, role), action, entry())
        };
        let read = asks(&other, OrgRole::Payer, AccessAction::Read);
        assert!(read.permit, "{read:?}");
        assert!(
            read.reasons.contains(&"directory-reads".to_string()),
            "{read:?}"
        );
        assert!(asks(&own, OrgRole::Provider, AccessAction::Write).permit);
        assert!(!asks(&other, OrgRole::Provider, AccessAction::Write).permit);
        // Regulators see no content, directory or not.
        assert!(!asks(&other, OrgRole::Regulator, AccessAction::Read).permit);
        // A patient's own-records rule never meets directory data.
        let patient = Pseudonym::random();
        let answer = ask(
            DEFAULT_POLICY,
            Asker::Patient(&patient),
            AccessAction::Read,
            entry(),
        );
        assert_eq!(answer.reasons, ["no policy permits this"], "{answer:?}");
    }

    #[test]
    fn garbage_is_refused() {
        assert!(parse("permit(principal, action, resource) when {").is_err());
        assert!(parse(&"x".repeat(MAX_POLICY_LEN + 1)).is_err());
    }
}
