//! A synthetic cohort shaped like a hospital's export (Synthea-style): one
//! transaction Bundle a patient, 51 entries — the patient (with a medical
//! record number), conditional creates of their practitioner and the
//! hospital (`ifNoneExist` by identifier, as exports write them), four
//! encounters, four conditions, 36 vital-sign observations and four
//! reports, all linked by `urn:uuid` references.

use serde_json::{json, Value};

/// Entries in each patient's bundle.
pub const ENTRIES_PER_PATIENT: usize = 51;
/// The identifier system of the cohort's medical record numbers.
pub const MRN_SYSTEM: &str = "urn:custodia-bench:mrn";
/// Practitioners each hospital's exports name.
const PRACTITIONERS: usize = 50;

/// The medical record number of the cohort's `n`th patient.
pub fn mrn(n: usize) -> String {
    format!("MRN-{n:08}")
}

fn uuid(n: usize, kind: usize, i: usize) -> String {
    format!("urn:uuid:{n:08x}-{kind:04x}-4000-8000-{i:012x}")
}

fn entry(full_url: &str, resource: Value) -> Value {
    let resource_type = resource["resourceType"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    json!({
        "fullUrl": full_url,
        "resource": resource,
        "request": { "method": "POST", "url": resource_type }
    })
}

fn conditional(full_url: &str, resource: Value, system: &str, value: &str) -> Value {
    let mut entry = entry(full_url, resource);
    entry["request"]["ifNoneExist"] = json!(format!("identifier={system}|{value}"));
    entry
}

/// The `n`th patient's bundle, written at `hospital`.
pub fn patient_bundle(n: usize, hospital: &str) -> Value {
    let patient = uuid(n, 0, 0);
    let organization = uuid(n, 1, 0);
    let practitioner = uuid(n, 2, 0);
    let npi = format!("{}", 1_000_000_000 + n % PRACTITIONERS);
    let given = [
        "Ada", "Ben", "Chloe", "Dev", "Elif", "Femi", "Greta", "Hiro",
    ][n % 8];
    let mut entries = vec![
        entry(
            &patient,
            json!({
                "resourceType": "Patient",
                "identifier": [{ "system": MRN_SYSTEM, "value": mrn(n) }],
                "name": [{ "family": format!("Cohort{n}"), "given": [given] }],
                "gender": if n.is_multiple_of(2) { "female" } else { "male" },
                "birthDate": format!("{}-{:02}-{:02}", 1940 + n % 60, 1 + n % 12, 1 + n % 28)
            }),
        ),
        conditional(
            &organization,
            json!({
                "resourceType": "Organization",
                "identifier": [{ "system": "urn:custodia-bench:org", "value": hospital }],
                "name": hospital
            }),
            "urn:custodia-bench:org",
            hospital,
        ),
        conditional(
            &practitioner,
            json!({
                "resourceType": "Practitioner",
                "identifier": [{ "system": "http://hl7.org/fhir/sid/us-npi", "value": npi }],
                "name": [{ "family": format!("Doctor{}", n % PRACTITIONERS) }]
            }),
            "http://hl7.org/fhir/sid/us-npi",
            &npi,
        ),
    ];
    let mut observations = Vec::new();
    for visit in 0..4 {
        let encounter = uuid(n, 3, visit);
        let day = format!("2026-{:02}-{:02}", 1 + visit * 3, 1 + n % 28);
        entries.push(entry(
            &encounter,
            json!({
                "resourceType": "Encounter",
                "status": "finished",
                "class": { "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB" },
                "subject": { "reference": patient },
                "participant": [{ "individual": { "reference": practitioner } }],
                "serviceProvider": { "reference": organization },
                "period": { "start": format!("{day}T09:00:00Z"), "end": format!("{day}T09:30:00Z") }
            }),
        ));
        let condition = ["38341003", "44054006", "195967001", "40055000"][visit];
        entries.push(entry(
            &uuid(n, 4, visit),
            json!({
                "resourceType": "Condition",
                "clinicalStatus": { "coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active"
                }] },
                "code": { "coding": [{ "system": "http://snomed.info/sct", "code": condition }] },
                "subject": { "reference": patient },
                "encounter": { "reference": encounter },
                "onsetDateTime": format!("{day}T09:10:00Z")
            }),
        ));
        for i in 0..9 {
            let id = uuid(n, 5, visit * 9 + i);
            let (code, unit, value) = [
                ("8867-4", "/min", 60 + (n + i) % 40),
                ("8480-6", "mm[Hg]", 110 + (n + i) % 40),
                ("8462-4", "mm[Hg]", 70 + (n + i) % 20),
                ("29463-7", "kg", 50 + (n + i) % 50),
                ("8302-2", "cm", 150 + (n + i) % 40),
                ("8310-5", "Cel", 36 + (n + i) % 3),
                ("9279-1", "/min", 12 + (n + i) % 8),
                ("2708-6", "%", 94 + (n + i) % 6),
                ("39156-5", "kg/m2", 18 + (n + i) % 15),
            ][i];
            entries.push(entry(
                &id,
                json!({
                    "resourceType": "Observation",
                    "status": "final",
                    "category": [{ "coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs"
                    }] }],
                    "code": { "coding": [{ "system": "http://loinc.org", "code": code }] },
                    "subject": { "reference": patient },
                    "encounter": { "reference": encounter },
                    "effectiveDateTime": format!("{day}T09:{:02}:00Z", 10 + i),
                    "valueQuantity": { "value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit }
                }),
            ));
            observations.push(id);
        }
        entries.push(entry(
            &uuid(n, 6, visit),
            json!({
                "resourceType": "DiagnosticReport",
                "status": "final",
                "code": { "coding": [{ "system": "http://loinc.org", "code": "85353-1" }] },
                "subject": { "reference": patient },
                "encounter": { "reference": encounter },
                "effectiveDateTime": format!("{day}T09:30:00Z"),
                "issued": format!("{day}T10:00:00Z"),
                "result": observations[visit * 9..visit * 9 + 3]
                    .iter()
                    .map(|o| json!({ "reference": o }))
                    .collect::<Vec<_>>()
            }),
        ));
    }
    debug_assert_eq!(entries.len(), ENTRIES_PER_PATIENT);
    json!({ "resourceType": "Bundle", "type": "transaction", "entry": entries })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bundle_is_a_valid_transaction_of_its_size() {
        let bundle = patient_bundle(7, "st-mary");
        let mut next = 0;
        let entries = custodia_fhir::parse_transaction(
            bundle,
            10_000,
            |t| {
                next += 1;
                format!("{}-{next}", t.to_lowercase())
            },
            |_: &str, _: &custodia_fhir::search::IdentifierToken| None,
        )
        .expect("valid R4, resolvable references");
        assert_eq!(entries.len(), ENTRIES_PER_PATIENT);
    }
}
