//! The generated rules (`rules.json`), read once.

use crate::search::SearchParam;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::OnceLock;

/// What `rules.json` says of one element path.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum Element {
    /// Its children are those of another element (`contentReference`:
    /// `Questionnaire.item.item` is a `Questionnaire.item`).
    SameAs { same_as: String },
    Typed {
        #[serde(rename = "type")]
        type_code: String,
        /// A required binding whose codes are listed in `value_sets`.
        value_set: Option<String>,
        /// The resource types a Reference may name (absent: any).
        targets: Option<Vec<String>>,
    },
}

#[derive(Deserialize)]
pub(crate) struct Rules {
    resources: Vec<String>,
    datatypes: Vec<String>,
    pub(crate) elements: HashMap<String, Element>,
    value_sets: HashMap<String, Vec<String>>,
    compartment: HashMap<String, Vec<String>>,
    /// Search parameters by base (`Resource`: those of every type).
    pub(crate) search: HashMap<String, BTreeMap<String, SearchParam>>,
    #[serde(skip)]
    resource_set: HashSet<String>,
    #[serde(skip)]
    datatype_set: HashSet<String>,
    #[serde(skip)]
    code_sets: HashMap<String, HashSet<String>>,
}

impl Rules {
    pub(crate) fn is_datatype(&self, name: &str) -> bool {
        self.datatype_set.contains(name)
    }

    pub(crate) fn codes(&self, value_set: &str) -> Option<(&HashSet<String>, &[String])> {
        Some((
            self.code_sets.get(value_set)?,
            self.value_sets.get(value_set)?,
        ))
    }
}

pub(crate) fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| {
        // The file is generated and compiled in: it parses, or the
        // `rules_json_is_read` test fails.
        let mut rules: Rules = serde_json::from_str(include_str!("rules.json"))
            .expect("rules.json (generated, compiled in) is valid");
        rules.resource_set = rules.resources.iter().cloned().collect();
        rules.datatype_set = rules.datatypes.iter().cloned().collect();
        rules.code_sets = rules
            .value_sets
            .iter()
            .map(|(url, codes)| (url.clone(), codes.iter().cloned().collect()))
            .collect();
        rules
    })
}

/// Every concrete R4 resource type, in alphabetical order.
pub fn resource_types() -> &'static [String] {
    &rules().resources
}

pub fn is_resource_type(name: &str) -> bool {
    rules().resource_set.contains(name)
}

/// The element paths (relative to the resource: `subject`,
/// `participant.individual`) through which a resource of this type belongs
/// to a patient's compartment, as R4's Patient CompartmentDefinition says;
/// `None` for a type in no patient's compartment.
pub fn compartment_paths(resource_type: &str) -> Option<&'static [String]> {
    rules().compartment.get(resource_type).map(Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_json_is_read() {
        assert_eq!(resource_types().len(), 146);
        assert!(is_resource_type("Practitioner") && !is_resource_type("Practitioners"));
        assert_eq!(
            compartment_paths("Observation").unwrap(),
            ["subject".to_string(), "performer".to_string()]
        );
        assert!(compartment_paths("Organization").is_none());
        let (codes, _) = rules()
            .codes("http://hl7.org/fhir/ValueSet/observation-status")
            .unwrap();
        assert!(codes.contains("final") && !codes.contains("done"));
    }
}
