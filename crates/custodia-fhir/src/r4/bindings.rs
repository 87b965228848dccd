//! The checks R4 asks beyond structure: a `code` under a required binding
//! holds a code of its value set, and a Reference names a resource of a
//! type its element allows. The walk follows the generated element table
//! through data types, backbone elements and contained resources.

use super::rules::{rules, Element, Rules};
use crate::outcome::{Issue, IssueType};
use crate::validate::valid_id;
use serde_json::{Map, Value};

/// Check `resource` (of type `resource_type`) and add every problem found
/// to `issues`, located by FHIRPath.
pub fn check_bindings_and_references(
    resource_type: &str,
    resource: &Value,
    issues: &mut Vec<Issue>,
) {
    if let Some(object) = resource.as_object() {
        Walk {
            rules: rules(),
            issues,
        }
        .object(resource_type, resource_type, object);
    }
}

struct Walk<'a> {
    rules: &'static Rules,
    issues: &'a mut Vec<Issue>,
}

impl Walk<'_> {
    /// `definition` is the element path the object's children hang from
    /// (`Observation`, `Observation.component`, `Quantity`); `location` is
    /// where the object is in the resource (`Observation.component[1]`).
    fn object(&mut self, definition: &str, location: &str, object: &Map<String, Value>) {
        for (key, value) in object {
            if key == "resourceType" || key.starts_with('_') {
                continue;
            }
            let Some((children_of, element)) = self.element(&format!("{definition}.{key}")) else {
                continue; // not one R4 defines: fhirkit reports it
            };
            let location = format!("{location}.{key}");
            match value {
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        self.value(&children_of, element, &format!("{location}[{i}]"), item);
                    }
                }
                item => self.value(&children_of, element, &location, item),
            }
        }
    }

    /// The element at `path`, following `contentReference`s, with the path
    /// its own children hang from.
    fn element(&self, path: &str) -> Option<(String, &'static Element)> {
        let mut path = path.to_string();
        for _ in 0..8 {
            match self.rules.elements.get(&path)? {
                Element::SameAs { same_as } => path = same_as.clone(),
                typed => return Some((path, typed)),
            }
        }
        None
    }

    fn value(&mut self, path: &str, element: &'static Element, location: &str, value: &Value) {
        let Element::Typed {
            type_code,
            value_set,
            targets,
        } = element
        else {
            return;
        };
        match type_code.as_str() {
            "code" => {
                if let (Some(value_set), Some(code)) = (value_set, value.as_str()) {
                    self.code(value_set, location, code);
                }
            }
            "BackboneElement" | "Element" => {
                if let Some(object) = value.as_object() {
                    self.object(path, location, object);
                }
            }
            "Resource" => {
                if let Some(inner) = value.get("resourceType").and_then(Value::as_str) {
                    if let Some(object) = value.as_object() {
                        self.object(inner, location, object);
                    }
                }
            }
            datatype if self.rules.is_datatype(datatype) => {
                if datatype == "Reference" {
                    self.reference(targets.as_deref(), location, value);
                }
                if let Some(object) = value.as_object() {
                    self.object(datatype, location, object);
                }
            }
            _ => {}
        }
    }

    fn code(&mut self, value_set: &str, location: &str, code: &str) {
        let Some((codes, listed)) = self.rules.codes(value_set) else {
            return;
        };
        if codes.contains(code) {
            return;
        }
        let mut allowed = listed
            .iter()
            .take(12)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if listed.len() > 12 {
            allowed.push_str(&format!(", … ({} in all)", listed.len()));
        }
        self.issues.push(Issue {
            code: IssueType::CodeInvalid,
            diagnostics: format!(
                "{location} is {code:?}, which is not in the value set R4 requires here ({value_set}): use one of {allowed}"
            ),
            expression: Some(location.to_string()),
        });
    }

    fn reference(&mut self, targets: Option<&[String]>, location: &str, value: &Value) {
        let Some(reference) = value.get("reference").and_then(Value::as_str) else {
            return;
        };
        let location = format!("{location}.reference");
        let named = match referenced_type(reference) {
            Ok(named) => named,
            Err(()) => {
                self.issues.push(Issue {
                    code: IssueType::Value,
                    diagnostics: format!(
                        "{location} {reference:?} is not a FHIR reference: write Type/id (Patient/123), Type/id/_history/version, #contained-id, urn:uuid:…, or an absolute URL"
                    ),
                    expression: Some(location),
                });
                return;
            }
        };
        let (Some(named), Some(targets)) = (named, targets) else {
            return;
        };
        if !super::is_resource_type(named) {
            self.issues.push(Issue {
                code: IssueType::Value,
                diagnostics: format!(
                    "{location} names {named:?}, which is not an R4 resource type"
                ),
                expression: Some(location),
            });
        } else if !targets.iter().any(|t| t == named) {
            self.issues.push(Issue {
                code: IssueType::Value,
                diagnostics: format!(
                    "{location} names a {named}, but R4 lets this element reference only {}",
                    targets.join(", ")
                ),
                expression: Some(location),
            });
        }
    }
}

/// The resource type a reference names: `Some` for `Type/id`,
/// `Type/id/_history/v` and absolute URLs ending so; `None` for those that
/// name no type (`#contained`, `urn:uuid:`, `urn:oid:`); `Err` for text
/// that is no reference at all.
fn referenced_type(reference: &str) -> Result<Option<&str>, ()> {
    if let Some(local) = reference.strip_prefix('#') {
        return if local.is_empty() { Err(()) } else { Ok(None) };
    }
    for urn in ["urn:uuid:", "urn:oid:"] {
        if let Some(rest) = reference.strip_prefix(urn) {
            return if rest.is_empty() { Err(()) } else { Ok(None) };
        }
    }
    let (relative, absolute) = match reference.split_once("://") {
        Some((_, rest)) => (
            rest.split_once('/').map(|(_, path)| path).unwrap_or(""),
            true,
        ),
        None => (reference, false),
    };
    let parts: Vec<&str> = relative.split('/').collect();
    let (type_name, id) = match parts.as_slice() {
        [.., t, id, "_history", v] if valid_id(v) => (*t, *id),
        [.., t, id] => (*t, *id),
        _ if absolute => return Ok(None),
        _ => return Err(()),
    };
    let type_like = type_name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_uppercase())
        && type_name.chars().all(|c| c.is_ascii_alphanumeric());
    match (type_like && valid_id(id), absolute) {
        (true, _) => Ok(Some(type_name)),
        // An absolute URL that does not end in Type/id is still a URL.
        (false, true) => Ok(None),
        (false, false) => Err(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(resource: Value) -> Vec<String> {
        let mut issues = Vec::new();
        let t = resource["resourceType"].as_str().unwrap().to_string();
        check_bindings_and_references(&t, &resource, &mut issues);
        issues.into_iter().filter_map(|i| i.expression).collect()
    }

    #[test]
    fn required_codes_are_checked_in_resources_data_types_and_backbone_elements() {
        assert!(problems(json!({"resourceType": "Observation", "status": "final"})).is_empty());
        assert_eq!(
            problems(json!({
                "resourceType": "Observation", "status": "done",
                "valueQuantity": {"value": 1, "comparator": "~"},
                "component": [{"code": {"text": "x"}, "valueQuantity": {"comparator": "<"}},
                              {"code": {"text": "y"}, "valueQuantity": {"comparator": "about"}}],
                "contained": [{"resourceType": "Patient", "gender": "f"}]
            })),
            [
                "Observation.status",
                "Observation.valueQuantity.comparator",
                "Observation.component[1].valueQuantity.comparator",
                "Observation.contained[0].gender",
            ]
        );
        // contentReference: Questionnaire.item.item is a Questionnaire.item.
        assert_eq!(
            problems(json!({"resourceType": "Questionnaire", "status": "draft",
                "item": [{"linkId": "1", "type": "group", "item": [{"linkId": "2", "type": "essay"}]}]})),
            ["Questionnaire.item[0].item[0].type"]
        );
    }

    #[test]
    fn references_name_a_type_the_element_allows() {
        let obs = |reference: &str| {
            problems(json!({"resourceType": "Observation", "subject": {"reference": reference}}))
        };
        for fine in [
            "Patient/p1",
            "Group/g/_history/2",
            "https://other.example/fhir/Patient/p1",
            "urn:uuid:7a1c2b1e-0f3a-4bd1-9a2e-1f2d3c4b5a69",
            "#pat",
        ] {
            assert!(obs(fine).is_empty(), "{fine}");
        }
        for wrong in [
            "Practitioner/d1",
            "Patients/p1",
            "Patient/has space",
            "Patient",
            "#",
        ] {
            assert_eq!(obs(wrong), ["Observation.subject.reference"], "{wrong}");
        }
        // Any type where R4 allows any.
        assert!(problems(
            json!({"resourceType": "Provenance", "target": [{"reference": "Claim/c"}]})
        )
        .is_empty());
    }
}
