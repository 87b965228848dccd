//! A minimal valid example of the commonest clinical types, about one
//! patient: what the demo seeds and the tests send.

use serde_json::{json, Value};

/// The types [`example`] has an example of.
pub const EXAMPLE_TYPES: &[&str] = &[
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

pub fn example(resource_type: &str, patient_id: &str) -> Option<Value> {
    let subject = json!({ "reference": format!("Patient/{patient_id}") });
    let loinc = |code: &str, display: &str| json!({ "coding": [{ "system": "http://loinc.org", "code": code, "display": display }] });
    let snomed = |code: &str, display: &str| json!({ "coding": [{ "system": "http://snomed.info/sct", "code": code, "display": display }] });
    Some(match resource_type {
        "Patient" => {
            json!({ "resourceType": "Patient", "gender": "female", "birthDate": "1970-01-01" })
        }
        "Encounter" => {
            json!({ "resourceType": "Encounter", "status": "finished", "class": { "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB" }, "subject": subject })
        }
        "Observation" => {
            json!({ "resourceType": "Observation", "status": "final", "code": loinc("8867-4", "Heart rate"), "subject": subject, "valueQuantity": { "value": 72, "unit": "beats/minute" } })
        }
        "Condition" => {
            json!({ "resourceType": "Condition", "code": snomed("44054006", "Diabetes mellitus type 2"), "subject": subject })
        }
        "Procedure" => {
            json!({ "resourceType": "Procedure", "status": "completed", "code": snomed("80146002", "Appendectomy"), "subject": subject })
        }
        "MedicationRequest" => {
            json!({ "resourceType": "MedicationRequest", "status": "active", "intent": "order", "medicationCodeableConcept": { "coding": [{ "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "860975", "display": "metformin 500 MG" }] }, "subject": subject })
        }
        "AllergyIntolerance" => {
            json!({ "resourceType": "AllergyIntolerance", "code": snomed("91936005", "Allergy to penicillin"), "patient": subject })
        }
        "Immunization" => {
            json!({ "resourceType": "Immunization", "status": "completed", "vaccineCode": { "coding": [{ "system": "http://hl7.org/fhir/sid/cvx", "code": "140" }] }, "patient": subject, "occurrenceDateTime": "2026-10-01" })
        }
        "DiagnosticReport" => {
            json!({ "resourceType": "DiagnosticReport", "status": "final", "code": loinc("58410-2", "Complete blood count"), "subject": subject })
        }
        "DocumentReference" => {
            json!({ "resourceType": "DocumentReference", "status": "current", "subject": subject, "content": [{ "attachment": { "contentType": "text/plain", "data": "RGlzY2hhcmdlIHN1bW1hcnk=" } }] })
        }
        "ImagingStudy" => {
            json!({ "resourceType": "ImagingStudy", "status": "available", "subject": subject, "numberOfSeries": 1 })
        }
        _ => return None,
    })
}
