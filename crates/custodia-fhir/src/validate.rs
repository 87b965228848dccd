//! Structural validation of incoming resources against the R4 rules that
//! matter for storing them safely: a JSON object of a supported type, a
//! valid id, the elements R4 marks required (1..1 / 1..*), the right JSON
//! shape for the elements we check (codes are strings, CodeableConcepts
//! and References are objects, repeating elements are arrays), and
//! references of a shape FHIR allows. Every problem is reported, with its
//! location, in one OperationOutcome.

use crate::{
    elements::known_element,
    outcome::{Issue, IssueType, Outcome},
};
use serde_json::{Map, Value};

/// The resource types this server keeps.
pub const SUPPORTED: &[&str] = &[
    "Patient",
    "Encounter",
    "Observation",
    "Condition",
    "Procedure",
    "MedicationRequest",
    "AllergyIntolerance",
    "Immunization",
    "DiagnosticReport",
    "DocumentReference",
    "ImagingStudy",
];

/// An element's expected JSON shape.
#[derive(Clone, Copy)]
enum Shape {
    Code,
    String,
    Concept,
    Coding,
    Reference,
    Array,
    Object,
}

/// `(element, shape, required)` per type: R4's required elements and the
/// elements the server itself relies on.
fn rules(resource_type: &str) -> &'static [(&'static str, Shape, bool)] {
    use Shape::*;
    match resource_type {
        "Patient" => &[
            ("gender", Code, false),
            ("birthDate", String, false),
            ("name", Array, false),
            ("identifier", Array, false),
        ],
        "Encounter" => &[
            ("status", Code, true),
            ("class", Coding, true),
            ("subject", Reference, false),
            ("type", Array, false),
        ],
        "Observation" => &[
            ("status", Code, true),
            ("code", Concept, true),
            ("subject", Reference, false),
            ("encounter", Reference, false),
        ],
        "Condition" => &[
            ("subject", Reference, true),
            ("code", Concept, false),
            ("clinicalStatus", Concept, false),
            ("encounter", Reference, false),
        ],
        "Procedure" => &[
            ("status", Code, true),
            ("subject", Reference, true),
            ("code", Concept, false),
        ],
        "MedicationRequest" => &[
            ("status", Code, true),
            ("intent", Code, true),
            ("subject", Reference, true),
            ("medicationCodeableConcept", Concept, false),
            ("medicationReference", Reference, false),
        ],
        "AllergyIntolerance" => &[("patient", Reference, true), ("code", Concept, false)],
        "Immunization" => &[
            ("status", Code, true),
            ("vaccineCode", Concept, true),
            ("patient", Reference, true),
        ],
        "DiagnosticReport" => &[
            ("status", Code, true),
            ("code", Concept, true),
            ("subject", Reference, false),
            ("result", Array, false),
        ],
        "DocumentReference" => &[
            ("status", Code, true),
            ("content", Array, true),
            ("subject", Reference, false),
            ("type", Concept, false),
        ],
        "ImagingStudy" => &[
            ("status", Code, true),
            ("subject", Reference, true),
            ("series", Array, false),
        ],
        _ => &[],
    }
}

/// Choice elements (`x[x]`) of which exactly one form is required.
fn required_choices(resource_type: &str) -> &'static [(&'static str, &'static [&'static str])] {
    match resource_type {
        "MedicationRequest" => &[(
            "medication[x]",
            &["medicationCodeableConcept", "medicationReference"],
        )],
        "Immunization" => &[("occurrence[x]", &["occurrenceDateTime", "occurrenceString"])],
        _ => &[],
    }
}

/// The element naming the patient a resource is about.
fn patient_element(resource_type: &str) -> Option<&'static str> {
    match resource_type {
        "Patient" => None,
        "AllergyIntolerance" | "Immunization" => Some("patient"),
        _ => Some("subject"),
    }
}

/// A validated resource and what the server needs from it.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    pub resource_type: String,
    pub id: Option<String>,
    pub json: Value,
    /// The logical id of the Patient it is about (from `subject` or
    /// `patient`; for a Patient, none: its id is assigned by the server).
    pub patient: Option<String>,
    /// `system|code` of the codings of its main code, for search.
    pub codes: Vec<String>,
}

pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

fn issue(code: IssueType, expression: String, diagnostics: String) -> Issue {
    Issue {
        code,
        diagnostics,
        expression: Some(expression),
    }
}

fn reference_shape_ok(reference: &str) -> bool {
    if let Some(rest) = reference.strip_prefix('#') {
        return !rest.is_empty();
    }
    if reference.starts_with("urn:uuid:") || reference.starts_with("urn:oid:") {
        return reference.len() > 9;
    }
    if reference.starts_with("http://") || reference.starts_with("https://") {
        return true;
    }
    let mut parts = reference.split('/');
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some(t), Some(id), None, None, None) => is_type_name(t) && valid_id(id),
        (Some(t), Some(id), Some("_history"), Some(v), None) => {
            is_type_name(t) && valid_id(id) && valid_id(v)
        }
        _ => false,
    }
}

fn is_type_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && name.chars().all(|c| c.is_ascii_alphanumeric())
}

fn check_shape(path: &str, value: &Value, shape: Shape, issues: &mut Vec<Issue>) {
    let wrong = |what: &str| {
        issue(
            IssueType::Structure,
            path.to_string(),
            format!("{path} must be {what}"),
        )
    };
    match shape {
        Shape::Code => match value.as_str() {
            Some(code) if !code.is_empty() && code.trim() == code => {}
            _ => issues.push(wrong("a code (a non-empty string without surrounding spaces)")),
        },
        Shape::String => {
            if !value.is_string() {
                issues.push(wrong("a string"));
            }
        }
        Shape::Array => {
            if !value.is_array() {
                issues.push(wrong("an array (it repeats)"));
            }
        }
        Shape::Object => {
            if !value.is_object() {
                issues.push(wrong("an object"));
            }
        }
        Shape::Coding => match value.as_object() {
            Some(coding) => {
                if let Some(code) = coding.get("code") {
                    check_shape(&format!("{path}.code"), code, Shape::Code, issues);
                }
            }
            None => issues.push(wrong("a Coding object")),
        },
        Shape::Concept => match value.as_object() {
            Some(concept) => {
                match concept.get("coding") {
                    Some(Value::Array(codings)) => {
                        for (i, coding) in codings.iter().enumerate() {
                            check_shape(&format!("{path}.coding[{i}]"), coding, Shape::Coding, issues);
                        }
                    }
                    Some(_) => issues.push(issue(
                        IssueType::Structure,
                        format!("{path}.coding"),
                        format!("{path}.coding must be an array of Codings"),
                    )),
                    None => {}
                }
                if !concept.contains_key("coding") && !concept.contains_key("text") {
                    issues.push(issue(
                        IssueType::Required,
                        path.to_string(),
                        format!("{path} needs a coding or a text"),
                    ));
                }
            }
            None => issues.push(wrong("a CodeableConcept object")),
        },
        Shape::Reference => match value.as_object() {
            Some(reference) => match reference.get("reference") {
                Some(Value::String(text)) if reference_shape_ok(text) => {}
                Some(Value::String(text)) => issues.push(issue(
                    IssueType::Value,
                    format!("{path}.reference"),
                    format!("{path}.reference {text:?} is not a FHIR reference (Type/id, #contained, urn:uuid:…, or an absolute URL)"),
                )),
                Some(_) => issues.push(wrong("a Reference whose reference is a string")),
                None if reference.contains_key("identifier") || reference.contains_key("display") => {}
                None => issues.push(issue(
                    IssueType::Required,
                    format!("{path}.reference"),
                    format!("{path} needs a reference"),
                )),
            },
            None => issues.push(wrong("a Reference object")),
        },
    }
}

fn codes_of(json: &Map<String, Value>, resource_type: &str) -> Vec<String> {
    let element = match resource_type {
        "Immunization" => "vaccineCode",
        "MedicationRequest" => "medicationCodeableConcept",
        "DocumentReference" => "type",
        "ImagingStudy" => "procedureCode",
        "Encounter" => "type",
        _ => "code",
    };
    let concepts: Vec<&Value> = match json.get(element) {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(value) => vec![value],
        None => vec![],
    };
    concepts
        .into_iter()
        .filter_map(|c| c.get("coding")?.as_array())
        .flatten()
        .filter_map(|coding| {
            let code = coding.get("code")?.as_str()?;
            let system = coding.get("system").and_then(Value::as_str).unwrap_or("");
            Some(format!("{system}|{code}"))
        })
        .collect()
}

/// Parse and validate a resource body. `expected_type` is the type in the
/// URL, which the body must match.
pub fn parse(body: &[u8], expected_type: Option<&str>) -> Result<Resource, Outcome> {
    let json: Value = serde_json::from_slice(body).map_err(|e| {
        Outcome::new(
            400,
            IssueType::Structure,
            format!("the body is not JSON: {e}"),
        )
    })?;
    let Some(object) = json.as_object() else {
        return Err(Outcome::new(
            400,
            IssueType::Structure,
            "a FHIR resource is a JSON object",
        ));
    };
    let resource_type = match object.get("resourceType") {
        Some(Value::String(t)) => t.clone(),
        _ => {
            return Err(Outcome::new(
                400,
                IssueType::Required,
                "the resource has no resourceType",
            ))
        }
    };
    if !SUPPORTED.contains(&resource_type.as_str()) {
        return Err(Outcome::new(
            if expected_type.is_some() { 400 } else { 404 },
            IssueType::NotSupported,
            format!(
                "resource type {resource_type:?} is not kept here; supported: {}",
                SUPPORTED.join(", ")
            ),
        ));
    }
    if let Some(expected) = expected_type {
        if expected != resource_type {
            return Err(Outcome::new(
                400,
                IssueType::Invalid,
                format!("the URL names {expected} but the body is a {resource_type}"),
            ));
        }
    }
    let mut issues = Vec::new();
    for name in object.keys() {
        if !known_element(&resource_type, name) {
            issues.push(issue(
                IssueType::Structure,
                format!("{resource_type}.{name}"),
                format!("{name:?} is not an element of {resource_type} in FHIR R4 (check its spelling, or carry local data in an extension)"),
            ));
        }
    }
    let id = match object.get("id") {
        None => None,
        Some(Value::String(id)) if valid_id(id) => Some(id.clone()),
        Some(_) => {
            issues.push(issue(
                IssueType::Value,
                format!("{resource_type}.id"),
                "id must be 1-64 characters of A-Z, a-z, 0-9, '-' and '.'".into(),
            ));
            None
        }
    };
    if let Some(meta) = object.get("meta") {
        check_shape(
            &format!("{resource_type}.meta"),
            meta,
            Shape::Object,
            &mut issues,
        );
    }
    for (element, shape, required) in rules(&resource_type) {
        let path = format!("{resource_type}.{element}");
        match object.get(*element) {
            Some(Value::Null) | None if *required => issues.push(issue(
                IssueType::Required,
                path.clone(),
                format!("{path} is required (cardinality 1..)"),
            )),
            Some(Value::Array(items)) if *required && items.is_empty() => issues.push(issue(
                IssueType::Required,
                path.clone(),
                format!("{path} needs at least one entry"),
            )),
            None => {}
            Some(value) => check_shape(&path, value, *shape, &mut issues),
        }
    }
    for (choice, forms) in required_choices(&resource_type) {
        let present = forms.iter().filter(|f| object.contains_key(**f)).count();
        if present != 1 {
            issues.push(issue(
                IssueType::Required,
                format!("{resource_type}.{choice}"),
                format!(
                    "{resource_type}.{choice} is required, exactly one of {}",
                    forms.join(", ")
                ),
            ));
        }
    }
    let patient = match patient_element(&resource_type) {
        None => None,
        Some(element) => {
            let reference = object
                .get(element)
                .and_then(|r| r.get("reference"))
                .and_then(Value::as_str);
            match reference.and_then(|r| r.strip_prefix("Patient/")) {
                Some(id) if valid_id(id) => Some(id.to_string()),
                _ => {
                    issues.push(issue(
                        IssueType::Required,
                        format!("{resource_type}.{element}"),
                        format!("{resource_type}.{element} must reference the patient as \"Patient/<id>\": every record here belongs to a patient"),
                    ));
                    None
                }
            }
        }
    };
    if !issues.is_empty() {
        return Err(Outcome::invalid(issues));
    }
    Ok(Resource {
        codes: codes_of(object, &resource_type),
        resource_type,
        id,
        patient,
        json,
    })
}

/// Stamp the server-assigned id, version and time into a resource.
pub fn set_meta(json: &mut Value, id: &str, version_id: u64, last_updated: &str) {
    if let Some(object) = json.as_object_mut() {
        object.insert("id".into(), Value::String(id.into()));
        let meta = object
            .entry("meta")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert("versionId".into(), Value::String(version_id.to_string()));
            meta.insert("lastUpdated".into(), Value::String(last_updated.into()));
        }
    }
}
