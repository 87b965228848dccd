use custodia_fhir::{example, parse, set_meta, IssueType, Outcome, EXAMPLE_TYPES};
use serde_json::{json, Value};

fn refused(body: Value, expected: Option<&str>) -> Outcome {
    parse(body.to_string().as_bytes(), expected).expect_err(&body.to_string())
}

#[test]
fn every_supported_type_has_a_valid_example_that_names_its_patient() {
    for t in EXAMPLE_TYPES {
        let body = example(t, "p-1").unwrap();
        let resource = parse(body.to_string().as_bytes(), Some(t)).unwrap();
        assert_eq!(resource.resource_type, *t);
        let expected_patient = (*t != "Patient").then_some("p-1");
        assert_eq!(resource.patient(), expected_patient, "{t}");
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
            "Immunization.patient.reference",
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
    let outcome = refused(json!({"resourceType": "Banana"}), Some("Banana"));
    assert_eq!(outcome.issues[0].code, IssueType::NotSupported);
    let outcome = refused(json!({"resourceType": "patient"}), None);
    assert_eq!(
        (outcome.status, outcome.issues[0].code),
        (404, IssueType::NotSupported)
    );
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
    // Every R4 type, once.
    for t in custodia_fhir::r4::resource_types() {
        let listed = types.iter().filter(|listed| *listed == t).count();
        assert_eq!(listed, 1, "{t}");
    }
    assert_eq!(types.len(), 146);
    // R4's own search parameters of each type.
    let params = |t: &str| -> Vec<String> {
        let resources = statement["rest"][0]["resource"].as_array().unwrap();
        let resource = resources.iter().find(|r| r["type"] == t).unwrap();
        resource["searchParam"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(params("Observation").contains(&"patient".to_string()));
    assert!(!params("Practitioner").contains(&"patient".to_string()));
    assert!(params("Practitioner").contains(&"identifier".to_string()));
    for p in [
        "family",
        "given",
        "birthdate",
        "gender",
        "_id",
        "_lastUpdated",
    ] {
        assert!(params("Patient").contains(&p.to_string()), "{p}");
    }
    for p in ["code", "date", "status", "category", "subject"] {
        assert!(params("Observation").contains(&p.to_string()), "{p}");
    }
    // Number, quantity, composite and special parameters are not offered.
    assert!(!params("Observation").contains(&"value-quantity".to_string()));
    let resources = statement["rest"][0]["resource"].as_array().unwrap();
    let patient = resources.iter().find(|r| r["type"] == "Patient").unwrap();
    assert_eq!(patient["operation"][0]["name"], "everything");
    assert_eq!(patient["operation"][1]["name"], "export");
    assert_eq!(statement["rest"][0]["operation"][0]["name"], "export");
}

#[test]
fn only_elements_r4_defines_are_accepted() {
    let mut obs = example("Observation", "p").unwrap();
    // Choice forms, primitive extensions and extensions are R4.
    obs["valueQuantity"] = json!({ "value": 70, "unit": "kg" });
    obs["_status"] = json!({ "extension": [{ "url": "urn:local", "valueCode": "checked" }] });
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

/// Where each refusal is located, and what it says to do.
fn located(body: Value) -> Vec<(String, String)> {
    refused(body, None)
        .issues
        .into_iter()
        .map(|i| (i.expression.unwrap_or_default(), i.diagnostics))
        .collect()
}

#[test]
fn r4_is_checked_to_the_leaves() {
    let patient = json!({"reference": "Patient/p"});
    // An unknown element deep inside a data type inside a backbone element.
    let problems = located(json!({
        "resourceType": "Observation", "status": "final", "code": {"text": "x"}, "subject": patient,
        "component": [{"code": {"text": "a"}}, {"code": {"text": "b", "coding": [{"sytem": "http://loinc.org"}]}}]
    }));
    assert_eq!(
        problems[0].0, "Observation.component[1].code.coding[0].sytem",
        "{problems:?}"
    );
    assert!(problems[0].1.contains("not an element"), "{problems:?}");
    // Primitive formats: date, dateTime, instant, decimal, uri.
    for (element, value, at) in [
        (
            "effectiveDateTime",
            json!("2026-13-01"),
            "Observation.effectiveDateTime",
        ),
        ("issued", json!("2026-01-01"), "Observation.issued"),
        (
            "valueQuantity",
            json!({"value": "70"}),
            "Observation.valueQuantity.value",
        ),
    ] {
        let mut obs = json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "subject": patient});
        obs[element] = value;
        let problems = located(obs);
        assert!(
            problems.iter().any(|(path, _)| path == at),
            "{element}: {problems:?}"
        );
    }
    // A required binding on a code, in the resource and in a data type.
    let problems = located(json!({
        "resourceType": "Patient", "gender": "woman",
        "telecom": [{"system": "pager", "value": "1"}, {"system": "carrier-pigeon", "value": "2"}]
    }));
    let paths: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        ["Patient.gender", "Patient.telecom[1].system"],
        "{problems:?}"
    );
    assert!(
        problems[0].1.contains("female, male, other, unknown"),
        "{problems:?}"
    );
    // A reference to a type the element does not allow.
    let problems = located(json!({
        "resourceType": "Observation", "status": "final", "code": {"text": "x"},
        "subject": {"reference": "Medication/m1"}
    }));
    assert_eq!(
        problems[0].0, "Observation.subject.reference",
        "{problems:?}"
    );
}

#[test]
fn the_patient_compartment_decides_whose_record_a_resource_is() {
    use custodia_fhir::Owner;
    let owner = |body: Value| parse(body.to_string().as_bytes(), None).unwrap().owner;
    assert_eq!(owner(json!({"resourceType": "Patient"})), Owner::ThePatient);
    // In the compartment through any of its compartment elements.
    assert_eq!(
        owner(
            json!({"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/p1"}})
        ),
        Owner::Patient("p1".into())
    );
    assert_eq!(
        owner(json!({"resourceType": "Encounter", "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": "Patient/p2"}})),
        Owner::Patient("p2".into())
    );
    // Directory data: in no patient's compartment.
    for directory in [
        json!({"resourceType": "Practitioner", "name": [{"family": "Osler"}]}),
        json!({"resourceType": "Organization", "name": "St Mary's"}),
        json!({"resourceType": "Location", "name": "Ward 3"}),
        json!({"resourceType": "Medication", "code": {"text": "aspirin"}}),
    ] {
        assert_eq!(owner(directory.clone()), Owner::Directory, "{directory}");
    }
    // A compartment type that names no patient is in no patient's
    // compartment; one that names two is refused.
    assert_eq!(
        owner(json!({"resourceType": "Schedule", "actor": [{"reference": "Practitioner/d1"}]})),
        Owner::Directory
    );
    // What points to a patient outside R4's compartment elements is that
    // patient's record all the same: never directory data.
    assert_eq!(
        owner(
            json!({"resourceType": "Task", "status": "ready", "intent": "order",
            "for": {"reference": "Patient/p1"}})
        ),
        Owner::Patient("p1".into())
    );
    assert_eq!(
        owner(
            json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
            "subject": {"reference": "Device/d"},
            "focus": [{"reference": "https://elsewhere.example/fhir/Patient/p3/_history/2"}]})
        ),
        Owner::Patient("p3".into())
    );
    let two = located(json!({"resourceType": "AllergyIntolerance",
        "patient": {"reference": "Patient/a"}, "recorder": {"reference": "Patient/b"}}));
    assert!(two[0].1.contains("Patient/a, Patient/b"), "{two:?}");
    let list = located(
        json!({"resourceType": "List", "status": "current", "mode": "working",
        "entry": [{"item": {"reference": "Patient/a"}}, {"item": {"reference": "Patient/b"}}]}),
    );
    assert_eq!(list[0].0, "List.entry[0].item.reference", "{list:?}");
}
