//! Access policy: a Cedar policy set kept on chain (`gov/policy`) and
//! evaluated by the state machine for every access request. Cedar is
//! deterministic, so every node reaches the same decision from the same state.

use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid,
    PolicySet, Request, RestrictedExpression,
};
use custodia_types::{AccessAction, AgentKind, OrgId, OrgRole, Pseudonym, PublicKey, Purpose};
use std::{
    collections::{HashMap, HashSet},
    str::FromStr,
    sync::{Arc, Mutex},
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
        key: &'a PublicKey,
        org: &'a OrgId,
        role: OrgRole,
        /// `None` for the organisation's admin key.
        kind: Option<AgentKind>,
    },
    Patient(&'a Pseudonym),
}

/// What is asked about: a resource (`Type/id`), a patient's compartment,
/// or the whole audit log (no patient, no custodian).
pub struct Target<'a> {
    /// `Type/id`, `Patient/<pseudonym>` for the compartment, or `AuditLog`.
    pub name: &'a str,
    pub resource_type: &'a str,
    pub patient: Option<&'a Pseudonym>,
    pub custodian: Option<&'a OrgId>,
    /// The agent who wrote the version in question, if one exists.
    /// (Its key in hex, as the record keeps it: no need to decode a point.)
    pub author: Option<&'a str>,
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
    parsed: Mutex<Option<(String, Arc<PolicySet>)>>,
}

impl PolicyEngine {
    /// Decide `question` under the policy `text` (read from state).
    pub fn decide(&self, text: &str, question: &Question<'_>) -> Answer {
        let policies = match self.policies(text) {
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
        let response = Authorizer::new().is_authorized(&request, &policies, &entities);
        let permit = response.decision() == Decision::Allow;
        let mut reasons: Vec<String> = response
            .diagnostics()
            .reason()
            .map(|id| {
                policies
                    .annotation(id, "id")
                    .map_or_else(|| id.to_string(), str::to_string)
            })
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

    fn policies(&self, text: &str) -> Result<Arc<PolicySet>, PolicyError> {
        let mut cached = self.parsed.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((cached_text, set)) = cached.as_ref() {
            if cached_text == text {
                return Ok(set.clone());
            }
        }
        let set = Arc::new(parse(text)?);
        *cached = Some((text.to_string(), set.clone()));
        Ok(set)
    }
}

fn uid(kind: &str, id: &str) -> Result<EntityUid, String> {
    let type_name =
        EntityTypeName::from_str(&format!("Custodia::{kind}")).map_err(|e| e.to_string())?;
    Ok(EntityUid::from_type_name_and_id(
        type_name,
        EntityId::new(id),
    ))
}

fn string(value: &str) -> RestrictedExpression {
    RestrictedExpression::new_string(value.to_string())
}

fn build(q: &Question<'_>) -> Result<(Request, Entities), String> {
    let mut entities = Vec::new();
    let patient = q
        .target
        .patient
        .map(|p| uid("Patient", &p.to_hex()))
        .transpose()?;
    let custodian = q
        .target
        .custodian
        .map(|c| uid("Org", c.as_str()))
        .transpose()?;
    let principal = match &q.asker {
        Asker::Patient(p) => {
            let principal = uid("Patient", &p.to_hex())?;
            if q.target.patient != Some(*p) {
                entities.push(Entity::new_no_attrs(principal.clone(), HashSet::new()));
            }
            principal
        }
        Asker::Agent {
            key,
            org,
            role,
            kind,
        } => {
            let org_uid = uid("Org", org.as_str())?;
            let principal = uid("Agent", &custodia_types::key_hex(key))?;
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
                Entity::new(principal.clone(), attrs, HashSet::from([org_uid.clone()]))
                    .map_err(|e| e.to_string())?,
            );
            if q.target.custodian != Some(*org) {
                entities.push(Entity::new_no_attrs(org_uid, HashSet::new()));
            }
            principal
        }
    };
    let resource = uid("Record", q.target.name)?;
    // Attributes a target lacks are absent: a rule that reads them does not
    // apply (Cedar skips it), so only rules about the asker can permit.
    let mut attrs = HashMap::from([("type".to_string(), string(q.target.resource_type))]);
    if let Some(patient) = patient {
        entities.push(Entity::new_no_attrs(patient.clone(), HashSet::new()));
        attrs.insert(
            "patient".to_string(),
            RestrictedExpression::new_entity_uid(patient),
        );
    }
    if let Some(custodian) = custodian {
        entities.push(Entity::new_no_attrs(custodian.clone(), HashSet::new()));
        attrs.insert(
            "custodian".to_string(),
            RestrictedExpression::new_entity_uid(custodian),
        );
    }
    if let Some(author) = q.target.author {
        let author = uid("Agent", author)?;
        attrs.insert(
            "author".to_string(),
            RestrictedExpression::new_entity_uid(author),
        );
    }
    entities.push(Entity::new(resource.clone(), attrs, HashSet::new()).map_err(|e| e.to_string())?);
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
    let action = uid("Action", q.action.as_str())?;
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

    #[test]
    fn garbage_is_refused() {
        assert!(parse("permit(principal, action, resource) when {").is_err());
        assert!(parse(&"x".repeat(MAX_POLICY_LEN + 1)).is_err());
    }
}
