//! Validation of incoming resources against FHIR R4 as the specification
//! defines it: structure by `fhirkit` (generated from the official
//! package), required bindings and reference targets by the generated
//! rules (`crate::r4`), and which patient a resource belongs to by R4's
//! Patient compartment. Every problem is reported, located by FHIRPath,
//! in one OperationOutcome.

use crate::{
    outcome::{Issue, IssueType, Outcome},
    r4,
};
use serde_json::{Map, Value};

/// A validated resource and what the server needs from it.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    pub resource_type: String,
    pub id: Option<String>,
    pub json: Value,
    /// Whose record it is.
    pub owner: Owner,
    /// `system|code` of the codings of its main code, for search.
    pub codes: Vec<String>,
}

/// Whose record a resource is, as R4's Patient compartment decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// A Patient resource: its own compartment (its id is the pseudonym).
    ThePatient,
    /// A resource in the compartment of the Patient with this logical id.
    Patient(String),
    /// A resource of a type in no patient's compartment (Practitioner,
    /// Organization, Location, Medication, ...): directory data.
    Directory,
}

impl Resource {
    /// The logical id of the Patient it belongs to, if it is in a
    /// patient's compartment through a reference.
    pub fn patient(&self) -> Option<&str> {
        match &self.owner {
            Owner::Patient(id) => Some(id),
            Owner::ThePatient | Owner::Directory => None,
        }
    }
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

/// R4's structural rules, checked by fhirkit: element names to the leaves,
/// data types, cardinality, choice types and primitive formats.
fn structure_issues(text: &str, issues: &mut Vec<Issue>) {
    let decoded = fhirkit::from_json::<fhirkit::r4::Resource>(text);
    let Ok((_, found)) = decoded else {
        // serde_json accepted it; fhirkit's stricter reader (duplicate keys
        // and the like) did not.
        if let Err(e) = decoded {
            issues.push(Issue {
                code: IssueType::Structure,
                diagnostics: format!("the body is not FHIR JSON: {e}"),
                expression: None,
            });
        }
        return;
    };
    for found in found {
        if found.severity != fhirkit::Severity::Error {
            continue;
        }
        let path = found.path;
        let (code, diagnostics) = match found.message.as_str() {
            "unknown element" => (
                IssueType::Structure,
                format!("{path} is not an element FHIR R4 defines here (check its spelling, or carry local data in an extension)"),
            ),
            "required element missing" => (
                IssueType::Required,
                format!("{path} is required in FHIR R4 (cardinality 1..): add it"),
            ),
            message => (IssueType::Structure, format!("{path}: {message}")),
        };
        issues.push(issue(code, path, diagnostics));
    }
}

/// The references found at `path` (dotted, relative to `value`), through
/// repeating elements.
fn references_at<'a>(value: &'a Value, path: &str, out: &mut Vec<&'a str>) {
    match value {
        Value::Array(items) => items.iter().for_each(|item| references_at(item, path, out)),
        Value::Object(object) => match path.split_once('.') {
            Some((first, rest)) => {
                if let Some(inner) = object.get(first) {
                    references_at(inner, rest, out);
                }
            }
            None if path.is_empty() => {
                if let Some(reference) = object.get("reference").and_then(Value::as_str) {
                    out.push(reference);
                }
            }
            None => {
                if let Some(inner) = object.get(path) {
                    references_at(inner, "", out);
                }
            }
        },
        _ => {}
    }
}

/// Whose record this is. R4's Patient compartment names the elements
/// through which a resource of each type belongs to a patient: one that
/// names a patient there is that patient's record. One that names none
/// there but points to a patient elsewhere (a Task `for` a patient, a
/// Device implanted in one, a Provenance the patient signed) is governed
/// as that patient's record too, though R4's compartment leaves it out:
/// directory data is read by every member without consent, and nothing
/// that points to a patient may become it. One that names several
/// patients is refused: every record is governed by one patient's
/// consent. The rest is directory data.
fn owner(resource_type: &str, json: &Value, issues: &mut Vec<Issue>) -> Owner {
    if resource_type == "Patient" {
        return Owner::ThePatient;
    }
    let paths = r4::compartment_paths(resource_type).unwrap_or_default();
    let mut found: Vec<(String, &str)> = Vec::new();
    for path in paths {
        let mut references = Vec::new();
        references_at(json, path, &mut references);
        let at = format!("{resource_type}.{path}");
        found.extend(references.into_iter().map(|r| (at.clone(), r)));
    }
    found.retain(|(_, r)| patient_id(r).is_some());
    if found.is_empty() {
        patient_references_anywhere(json, resource_type, &mut found);
    }
    let mut patients: Vec<&str> = found.iter().filter_map(|(_, r)| patient_id(r)).collect();
    patients.sort_unstable();
    patients.dedup();
    let at = || found.first().map(|(at, _)| at.clone()).unwrap_or_default();
    match patients.as_slice() {
        [] => Owner::Directory,
        [one] if valid_id(one) => Owner::Patient(one.to_string()),
        [bad] => {
            issues.push(issue(
                IssueType::Value,
                at(),
                format!("\"Patient/{bad}\" does not name a patient: a logical id is 1-64 characters of A-Z, a-z, 0-9, '-' and '.'"),
            ));
            Owner::Directory
        }
        several => {
            issues.push(issue(
                IssueType::Invalid,
                at(),
                format!(
                    "this {resource_type} points to {} patients ({}); a record here belongs to exactly one patient, whose consent governs it",
                    several.len(),
                    several.iter().map(|p| format!("Patient/{p}")).collect::<Vec<_>>().join(", ")
                ),
            ));
            Owner::Directory
        }
    }
}

/// The patient a reference names: `Patient/<id>`, with or without a
/// version (`/_history/2`) or a base URL before it.
fn patient_id(reference: &str) -> Option<&str> {
    let after = match reference.strip_prefix("Patient/") {
        Some(rest) => rest,
        None => reference.rsplit_once("/Patient/")?.1,
    };
    after.split('/').next()
}

/// Every reference to a patient in `value`, with its FHIRPath location
/// under `location`.
fn patient_references_anywhere<'a>(
    value: &'a Value,
    location: &str,
    found: &mut Vec<(String, &'a str)>,
) {
    match value {
        Value::Object(object) => {
            for (key, inner) in object {
                let here = format!("{location}.{key}");
                match inner.as_str() {
                    Some(reference) if key == "reference" && patient_id(reference).is_some() => {
                        found.push((here, reference))
                    }
                    _ => patient_references_anywhere(inner, &here, found),
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                patient_references_anywhere(item, &format!("{location}[{i}]"), found);
            }
        }
        _ => {}
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
    let text = std::str::from_utf8(body).map_err(|e| {
        Outcome::new(
            400,
            IssueType::Structure,
            format!("the body is not UTF-8 text: {e}"),
        )
    })?;
    let json: Value = serde_json::from_str(text).map_err(|e| {
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
    if !r4::is_resource_type(&resource_type) {
        return Err(Outcome::new(
            if expected_type.is_some() { 400 } else { 404 },
            IssueType::NotSupported,
            format!("{resource_type:?} is not a FHIR R4 resource type (the names are case-sensitive: Patient, Observation, ...)"),
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
    structure_issues(text, &mut issues);
    r4::check_bindings_and_references(&resource_type, &json, &mut issues);
    let id_path = format!("{resource_type}.id");
    let id = match object.get("id") {
        None => None,
        Some(Value::String(id)) if valid_id(id) => Some(id.clone()),
        Some(_) => {
            if !issues
                .iter()
                .any(|i| i.expression.as_deref() == Some(&id_path))
            {
                issues.push(issue(
                    IssueType::Value,
                    id_path,
                    "id must be 1-64 characters of A-Z, a-z, 0-9, '-' and '.'".into(),
                ));
            }
            None
        }
    };
    let owner = owner(&resource_type, &json, &mut issues);
    if !issues.is_empty() {
        return Err(Outcome::invalid(issues));
    }
    Ok(Resource {
        codes: codes_of(object, &resource_type),
        resource_type,
        id,
        owner,
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
