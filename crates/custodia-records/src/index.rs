//! The node's local search index: the identifiers (`system|value`) of the
//! resources its organisation holds as custodian, by type. Private to the
//! node: never on chain, never in logs, never on disk. It lives in memory
//! and is rebuilt at start from the vault (the chain lists the
//! organisation's records under `org/{org}/records`; the node decrypts its
//! own). It answers identifier search and resolves conditional creates,
//! updates and references.

use custodia_fhir::search::{identifiers, IdentifierToken};
use custodia_types::{LogicalId, ResourceType};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::RwLock;

#[derive(Default)]
pub struct Identifiers {
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    /// By type and identifier value: `(system, id)` of each resource
    /// carrying it.
    by_value: HashMap<(ResourceType, String), Vec<(String, LogicalId)>>,
    /// What each resource was indexed under, to replace or forget it.
    of_resource: HashMap<(ResourceType, LogicalId), Vec<(String, String)>>,
}

impl Identifiers {
    /// Index the latest version of a resource (replacing its earlier one).
    pub fn record(&self, resource_type: ResourceType, id: &LogicalId, json: &Value) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        inner.remove(resource_type, id);
        let found = identifiers(json);
        for (system, value) in &found {
            inner
                .by_value
                .entry((resource_type, value.clone()))
                .or_default()
                .push((system.clone(), id.clone()));
        }
        inner.of_resource.insert((resource_type, id.clone()), found);
    }

    /// Forget an erased resource.
    pub fn forget(&self, resource_type: ResourceType, id: &LogicalId) {
        self.inner
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(resource_type, id);
    }

    /// The resources of `resource_type` whose identifier matches `token`,
    /// oldest indexed first.
    pub fn find(&self, resource_type: ResourceType, token: &IdentifierToken) -> Vec<LogicalId> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let mut found: Vec<LogicalId> = inner
            .by_value
            .get(&(resource_type, token.value.clone()))
            .into_iter()
            .flatten()
            .filter(|(system, _)| token.matches(system, &token.value))
            .map(|(_, id)| id.clone())
            .collect();
        found.dedup();
        found
    }

    pub fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .of_resource
            .len()
    }
}

impl Inner {
    fn remove(&mut self, resource_type: ResourceType, id: &LogicalId) {
        let Some(old) = self.of_resource.remove(&(resource_type, id.clone())) else {
            return;
        };
        for (_, value) in old {
            let key = (resource_type, value);
            if let Some(holders) = self.by_value.get_mut(&key) {
                holders.retain(|(_, holder)| holder != id);
                if holders.is_empty() {
                    self.by_value.remove(&key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identifiers_are_found_replaced_and_forgotten() {
        let index = Identifiers::default();
        let id = LogicalId::new("dr-1").unwrap();
        let practitioner = ResourceType::Practitioner;
        index.record(
            practitioner,
            &id,
            &json!({"identifier": [{"system": "urn:npi", "value": "99"}]}),
        );
        let npi = IdentifierToken::parse("urn:npi|99").unwrap();
        assert_eq!(index.find(practitioner, &npi), std::slice::from_ref(&id));
        let any_system = IdentifierToken::parse("99").unwrap();
        assert_eq!(
            index.find(practitioner, &any_system),
            std::slice::from_ref(&id)
        );
        assert!(index
            .find(
                practitioner,
                &IdentifierToken::parse("urn:other|99").unwrap()
            )
            .is_empty());
        assert!(
            index.find(ResourceType::Patient, &npi).is_empty(),
            "by type"
        );
        // A new version replaces what the old one said.
        index.record(
            practitioner,
            &id,
            &json!({"identifier": [{"system": "urn:npi", "value": "100"}]}),
        );
        assert!(index.find(practitioner, &npi).is_empty());
        assert_eq!(index.len(), 1);
        index.forget(practitioner, &id);
        assert_eq!(index.len(), 0);
        assert!(index
            .find(practitioner, &IdentifierToken::parse("100").unwrap())
            .is_empty());
    }
}
