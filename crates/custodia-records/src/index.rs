//! The node's local search index: what each resource its organisation
//! holds as custodian is found by (`custodia_fhir::search::index`, from
//! R4's SearchParameters), and lookup tables from codes, identifiers and
//! references to resources. Private to the node: never on chain, never in
//! logs, never on disk. It lives in memory and is rebuilt at start from
//! the vault (`records::search`). It answers searches (this node's own and
//! other members' nodes') and resolves conditional creates, updates and
//! references.

use custodia_fhir::search::{index, IdentifierToken, IndexValue, Indexed, Query, SortKey};
use custodia_types::{LogicalId, ResourceType};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

#[derive(Default)]
pub struct SearchIndex {
    inner: RwLock<Inner>,
}

/// One resource a query matched, and where it sorts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Match {
    pub id: LogicalId,
    pub sort: SortKey,
}

/// A lookup table's key: a type, a parameter and a token's code, an
/// identifier's value or a reference's `Type/id`.
type LookupKey = (ResourceType, &'static str, String);

#[derive(Default)]
struct Inner {
    /// What each resource is found by (its latest version).
    entries: HashMap<ResourceType, HashMap<LogicalId, Indexed>>,
    lookup: HashMap<LookupKey, HashSet<LogicalId>>,
}

/// The lookup-table key of a value, where it has one.
fn lookup_value(value: &IndexValue) -> Option<&str> {
    match value {
        IndexValue::Token { code, .. } => Some(code),
        IndexValue::Reference(reference) => Some(reference),
        IndexValue::Text(_) | IndexValue::Date(_) | IndexValue::Uri(_) => None,
    }
}

impl SearchIndex {
    /// Index the latest version of a resource (replacing its earlier one).
    pub fn record(&self, resource_type: ResourceType, id: &LogicalId, json: &Value) {
        let indexed = index(resource_type.as_str(), json);
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        inner.remove(resource_type, id);
        for (code, value) in indexed.iter() {
            if let Some(key) = lookup_value(value) {
                inner
                    .lookup
                    .entry((resource_type, code, key.to_string()))
                    .or_default()
                    .insert(id.clone());
            }
        }
        inner
            .entries
            .entry(resource_type)
            .or_default()
            .insert(id.clone(), indexed);
    }

    /// Forget an erased resource.
    pub fn forget(&self, resource_type: ResourceType, id: &LogicalId) {
        self.inner
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(resource_type, id);
    }

    /// The resources of the query's type that match it, in its order (ties
    /// by id). A parameter with a lookup table narrows the candidates
    /// first; otherwise every resource of the type is checked.
    pub fn find(&self, resource_type: ResourceType, query: &Query) -> Vec<Match> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let Some(of_type) = inner.entries.get(&resource_type) else {
            return Vec::new();
        };
        let check = |id: &LogicalId, indexed: &Indexed| {
            query.matches(indexed).then(|| Match {
                id: id.clone(),
                sort: query.sort_key(indexed),
            })
        };
        let mut found: Vec<Match> = match query.lookup_keys() {
            Some((code, keys)) => {
                let code = static_code(resource_type, code);
                let candidates: HashSet<&LogicalId> = keys
                    .into_iter()
                    .filter_map(|key| inner.lookup.get(&(resource_type, code?, key)))
                    .flatten()
                    .collect();
                candidates
                    .into_iter()
                    .filter_map(|id| check(id, of_type.get(id)?))
                    .collect()
            }
            None => of_type
                .iter()
                .filter_map(|(id, indexed)| check(id, indexed))
                .collect(),
        };
        sort(query, &mut found);
        found
    }

    /// The resources of `resource_type` with an identifier matching
    /// `token`, oldest update first.
    pub fn find_identifier(
        &self,
        resource_type: ResourceType,
        token: &IdentifierToken,
    ) -> Vec<LogicalId> {
        let value = match &token.system {
            Some(system) => format!("{system}|{}", escape(&token.value)),
            None => escape(&token.value),
        };
        let params = [("identifier".to_string(), value)];
        match Query::parse(resource_type.as_str(), &params) {
            Ok(query) => self
                .find(resource_type, &query)
                .into_iter()
                .map(|m| m.id)
                .collect(),
            // A type without an identifier parameter has none to find.
            Err(_) => Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.entries.values().map(HashMap::len).sum()
    }
}

/// Order matches as `query` sorts them, ties by id.
pub fn sort(query: &Query, found: &mut [Match]) {
    found.sort_by(|a, b| {
        query
            .compare(&a.sort, &b.sort)
            .then_with(|| a.id.cmp(&b.id))
    });
}

/// A value with its commas escaped, as one value of a search parameter.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace(',', "\\,")
}

/// The `'static` spelling of a parameter code (as the index keys it).
fn static_code(resource_type: ResourceType, code: &str) -> Option<&'static str> {
    custodia_fhir::search::params_of(resource_type.as_str())
        .find(|(c, _)| *c == code)
        .map(|(c, _)| c)
}

impl Inner {
    fn remove(&mut self, resource_type: ResourceType, id: &LogicalId) {
        let Some(old) = self
            .entries
            .get_mut(&resource_type)
            .and_then(|of_type| of_type.remove(id))
        else {
            return;
        };
        for (code, value) in old.iter() {
            let Some(key) = lookup_value(value) else {
                continue;
            };
            let key = (resource_type, code, key.to_string());
            if let Some(holders) = self.lookup.get_mut(&key) {
                holders.remove(id);
                if holders.is_empty() {
                    self.lookup.remove(&key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn query(resource_type: &str, params: &[(&str, &str)]) -> Query {
        let params: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Query::parse(resource_type, &params).unwrap()
    }

    #[test]
    fn identifiers_are_found_replaced_and_forgotten() {
        let index = SearchIndex::default();
        let id = LogicalId::new("dr-1").unwrap();
        let practitioner = ResourceType::Practitioner;
        index.record(
            practitioner,
            &id,
            &json!({"identifier": [{"system": "urn:npi", "value": "99,1"}]}),
        );
        let npi = IdentifierToken::parse("urn:npi|99,1").unwrap();
        assert_eq!(
            index.find_identifier(practitioner, &npi),
            std::slice::from_ref(&id)
        );
        let any_system = IdentifierToken::parse("99,1").unwrap();
        assert_eq!(
            index.find_identifier(practitioner, &any_system),
            std::slice::from_ref(&id)
        );
        assert!(index
            .find_identifier(
                practitioner,
                &IdentifierToken::parse("urn:other|99,1").unwrap()
            )
            .is_empty());
        assert!(
            index
                .find_identifier(ResourceType::Patient, &npi)
                .is_empty(),
            "by type"
        );
        // A new version replaces what the old one said.
        index.record(
            practitioner,
            &id,
            &json!({"identifier": [{"system": "urn:npi", "value": "100"}]}),
        );
        assert!(index.find_identifier(practitioner, &npi).is_empty());
        assert_eq!(index.len(), 1);
        index.forget(practitioner, &id);
        assert_eq!(index.len(), 0);
        assert!(index
            .find_identifier(practitioner, &IdentifierToken::parse("100").unwrap())
            .is_empty());
    }

    #[test]
    fn queries_narrow_by_lookup_or_scan_and_sort() {
        let index = SearchIndex::default();
        let observation = ResourceType::Observation;
        for (id, code, day, patient) in [
            ("a", "1", "2026-01-03", "p1"),
            ("b", "2", "2026-01-01", "p1"),
            ("c", "1", "2026-01-02", "p2"),
        ] {
            index.record(
                observation,
                &LogicalId::new(id).unwrap(),
                &json!({
                    "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                    "effectiveDateTime": day,
                    "subject": {"reference": format!("Patient/{patient}")},
                }),
            );
        }
        let ids = |q: &Query| -> Vec<String> {
            index
                .find(observation, q)
                .into_iter()
                .map(|m| m.id.as_str().to_string())
                .collect()
        };
        // Looked up by code, by patient; scanned by date.
        assert_eq!(
            ids(&query("Observation", &[("code", "1"), ("_sort", "date")])),
            ["c", "a"]
        );
        assert_eq!(
            ids(&query(
                "Observation",
                &[("patient", "p1"), ("_sort", "-date")]
            )),
            ["a", "b"]
        );
        assert_eq!(
            ids(&query(
                "Observation",
                &[("date", "lt2026-01-03"), ("_sort", "date")]
            )),
            ["b", "c"]
        );
        assert_eq!(
            ids(&query(
                "Observation",
                &[("code", "http://snomed.info/sct|1")]
            )),
            Vec::<String>::new()
        );
        index.forget(observation, &LogicalId::new("c").unwrap());
        assert_eq!(ids(&query("Observation", &[("code", "1")])), ["a"]);
    }
}
