use custodia_fhir::{example, parse, set_meta, IssueType, Outcome, SUPPORTED};
use serde_json::{json, Value};

fn refused(body: Value, expected: Option<&str>) -> Outcome {
    parse(body.to_string().as_bytes(), expected).expect_err(&body.to_string())
}

#[test]
fn every_supported_type_has_a_valid_example_that_names_its_patient() {
    for t in SUPPORTED {
        let body = example(t, "p-1").unwrap();
        let resource = parse(body.to_string().as_bytes(), Some(t)).unwrap();
        assert_eq!(resource.resource_type, *t);
        let expected_patient = (*t != "Patient").then(|| "p-1".to_string());
        assert_eq!(resource.patient, expected_patient, "{t}");
    }
    let obs = parse(
        example("Observation", "p").unwrap().to_string().as_bytes(),
        None,
    )
    .unwrap();
    assert_eq!(obs.codes, vec!["http://loinc.org|8867-4".to_string()]);
}

#[test]
fn broken_resources_are_refused_with_the_element_named() {
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "Observation",
            json!({"resourceType": "Observation", "code": {"text": "x"}, "subject": {"reference": "Patient/p"}}),
            "Observation.status",
        ),
        (
            "Observation",
            json!({"resourceType": "Observation", "status": 7, "code": {"text": "x"}, "subject": {"reference": "Patient/p"}}),
            "Observation.status",
        ),
        (
            "Observation",
            json!({"resourceType": "Observation", "status": "final", "code": "8867-4", "subject": {"reference": "Patient/p"}}),
            "Observation.code",
        ),
        (
            "Condition",
            json!({"resourceType": "Condition", "subject": {"reference": "Patient/has space"}}),
            "Condition.subject.reference",
        ),
        (
            "Encounter",
            json!({"resourceType": "Encounter", "status": "finished", "subject": {"reference": "Patient/p"}}),
            "Encounter.class",
        ),
        (
            "MedicationRequest",
            json!({"resourceType": "MedicationRequest", "status": "active", "intent": "order", "subject": {"reference": "Patient/p"}}),
            "MedicationRequest.medication[x]",
        ),
        (
            "DocumentReference",
            json!({"resourceType": "DocumentReference", "status": "current", "content": [], "subject": {"reference": "Patient/p"}}),
            "DocumentReference.content",
        ),
        (
            "Immunization",
            json!({"resourceType": "Immunization", "status": "completed", "vaccineCode": {"text": "flu"}, "patient": {"reference": "Group/g"}, "occurrenceString": "today"}),
            "Immunization.patient",
        ),
        (
            "Patient",
            json!({"resourceType": "Patient", "id": "no/slash"}),
            "Patient.id",
        ),
        (
            "Patient",
            json!({"resourceType": "Patient", "name": {"family": "x"}}),
            "Patient.name",
        ),
    ];
    for (t, body, expression) in cases {
        let outcome = refused(body.clone(), Some(t));
        assert_eq!(outcome.status, 400, "{body}");
        let named = outcome
            .issues
            .iter()
            .any(|i| i.expression.as_deref() == Some(expression));
        assert!(named, "{body}: {:?}", outcome.issues);
        let json = outcome.to_json();
        assert_eq!(json["resourceType"], "OperationOutcome");
        assert_eq!(json["issue"][0]["severity"], "error");
    }
}

#[test]
fn wrong_types_and_non_resources_are_refused() {
    let outcome = refused(json!({"resourceType": "Basic"}), Some("Basic"));
    assert_eq!(outcome.issues[0].code, IssueType::NotSupported);
    let outcome = refused(example("Patient", "p").unwrap(), Some("Observation"));
    assert_eq!(outcome.issues[0].code, IssueType::Invalid);
    assert_eq!(
        refused(json!([1, 2]), None).issues[0].code,
        IssueType::Structure
    );
    assert_eq!(
        refused(json!({"id": "x"}), None).issues[0].code,
        IssueType::Required
    );
    let outcome = parse(b"{not json", None).unwrap_err();
    assert_eq!(outcome.issues[0].code, IssueType::Structure);
}

#[test]
fn meta_is_stamped() {
    let mut body = example("Patient", "p").unwrap();
    set_meta(&mut body, "abc", 3, "2026-11-25T00:00:00Z");
    assert_eq!(body["id"], "abc");
    assert_eq!(body["meta"]["versionId"], "3");
    assert_eq!(body["meta"]["lastUpdated"], "2026-11-25T00:00:00Z");
}

#[test]
fn the_capability_statement_lists_every_type_and_the_views() {
    let statement = custodia_fhir::capability_statement("http://x/fhir", "0", "2026-11-25");
    assert_eq!(statement["fhirVersion"], "4.0.1");
    let types: Vec<&str> = statement["rest"][0]["resource"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    for t in SUPPORTED.iter().chain(["AuditEvent", "Consent"].iter()) {
        assert!(types.contains(t), "{t}");
    }
}

#[test]
fn only_elements_r4_defines_are_accepted() {
    let mut obs = example("Observation", "p").unwrap();
    // Choice forms, primitive extensions and extensions are R4.
    obs["valueQuantity"] = json!({ "value": 70, "unit": "kg" });
    obs["_status"] = json!({ "extension": [] });
    obs["extension"] = json!([{ "url": "urn:local", "valueString": "x" }]);
    parse(obs.to_string().as_bytes(), Some("Observation")).unwrap();

    for (element, value) in [
        ("valu", json!(1)),
        ("valueBanana", json!(1)),
        ("birthDate", json!("2000-01-01")),
        ("_nonsense", json!({})),
    ] {
        let mut bad = example("Observation", "p").unwrap();
        bad[element] = value;
        let outcome = refused(bad, Some("Observation"));
        let text = serde_json::to_string(&outcome.to_json()).unwrap();
        assert!(
            text.contains(&format!("Observation.{element}")) && text.contains("not an element"),
            "{text}"
        );
    }
}
