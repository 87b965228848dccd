//! FHIR `transaction` Bundles (`POST /fhir`): several creates and updates
//! that succeed or fail together. Entries that create resources may name
//! each other by their `fullUrl` (`urn:uuid:...`); once the server has
//! assigned ids, those references are rewritten to `Type/id` before each
//! resource is validated like any single write. Conditional creates
//! (`ifNoneExist`), conditional updates (`PUT Type?identifier=...`) and
//! conditional references (`Type?identifier=sys|val`) are resolved by
//! identifier: against the bundle's own entries, then the caller's
//! `Lookup` (the node's index of what it holds).

use crate::{
    outcome::Issue,
    parse,
    search::{identifiers, IdentifierToken},
    IssueType, Outcome, Resource,
};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};

/// Whether an entry creates a resource or writes a version of a named one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `POST Type`: the server assigns the id.
    Create,
    /// `PUT Type/id`; with `ifMatch`, only over that version.
    Update { if_match: Option<u64> },
    /// A conditional create (`ifNoneExist`) that matched an existing
    /// resource: nothing is written, and the entry's `fullUrl` names it.
    Matched,
}

/// A bundle entry's type, id and identifiers (`system`, `value`).
type OwnIdentifiers = (String, String, Vec<(String, String)>);

/// Finds the resource of a type whose identifier matches a token, among
/// those the server holds (`None` if none does).
pub trait Lookup {
    fn find(&mut self, resource_type: &str, token: &IdentifierToken) -> Option<String>;
}

impl<F: FnMut(&str, &IdentifierToken) -> Option<String>> Lookup for F {
    fn find(&mut self, resource_type: &str, token: &IdentifierToken) -> Option<String> {
        self(resource_type, token)
    }
}

/// One entry of a transaction, validated, with its id decided.
#[derive(Clone, Debug, PartialEq)]
pub struct TransactionEntry {
    pub method: Method,
    pub id: String,
    pub resource: Resource,
}

/// A request body as JSON, or the OperationOutcome that says it is not.
pub fn parse_json(body: &[u8]) -> Result<Value, Outcome> {
    serde_json::from_slice(body).map_err(|e| {
        Outcome::new(
            400,
            IssueType::Structure,
            format!("the body is not JSON: {e}"),
        )
    })
}

/// Check a transaction Bundle and resolve its internal and conditional
/// references. `assign_id(type)` gives the id of each created resource;
/// `held` finds what the server already holds. At most `max_entries`
/// entries. The bundle is consumed: each resource is moved out of it, not
/// copied, so a large bundle is held once.
pub fn parse_transaction(
    mut bundle: Value,
    max_entries: usize,
    mut assign_id: impl FnMut(&str) -> String,
    mut held: impl Lookup,
) -> Result<Vec<TransactionEntry>, Outcome> {
    if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err(Outcome::new(
            400,
            IssueType::Invalid,
            "POST /fhir takes a Bundle of type \"transaction\"; post single resources to /fhir/{type}",
        ));
    }
    match bundle.get("type").and_then(Value::as_str) {
        Some("transaction") => {}
        // (A batch is split into one-entry transactions before this.)
        Some("batch") => {
            return Err(Outcome::new(
                400,
                IssueType::Invalid,
                "a batch's entries are written one by one: POST the batch to /fhir",
            ))
        }
        other => {
            return Err(Outcome::new(
                400,
                IssueType::Invalid,
                format!("Bundle.type must be \"transaction\" (got {other:?})"),
            ))
        }
    }
    let entries = match bundle.get_mut("entry") {
        Some(Value::Array(entries)) if !entries.is_empty() => entries,
        _ => {
            return Err(Outcome::new(
                400,
                IssueType::Required,
                "Bundle.entry is required: a transaction needs at least one entry",
            ))
        }
    };
    if entries.len() > max_entries {
        return Err(Outcome::new(
            413,
            IssueType::TooLong,
            format!(
                "a transaction holds at most {max_entries} entries (got {}); split it",
                entries.len()
            ),
        ));
    }

    // First pass: each entry's target, and ids for the created ones.
    let mut planned = Vec::with_capacity(entries.len());
    let mut aliases: HashMap<String, String> = HashMap::new();
    let mut targets = HashSet::new();
    let mut issues = Vec::new();
    for (i, entry) in entries.iter_mut().enumerate() {
        match plan(i, entry, &mut assign_id, &mut held) {
            Ok((method, resource_type, id, full_url)) => {
                let target = format!("{resource_type}/{id}");
                if !targets.insert(target.clone()) {
                    issues.push(at(
                        i,
                        "request.url",
                        format!("{target} appears twice in one transaction"),
                    ));
                }
                if let Some(full_url) = full_url {
                    aliases.insert(full_url, target);
                }
                planned.push((method, resource_type, id, entry["resource"].take()));
            }
            Err(issue) => issues.push(issue),
        }
    }
    if !issues.is_empty() {
        return Err(Outcome::invalid(issues));
    }

    // The identifiers of what the bundle writes, for conditional
    // references to its own entries.
    let own: Vec<OwnIdentifiers> = planned
        .iter()
        .map(|(_, resource_type, id, json)| (resource_type.clone(), id.clone(), identifiers(json)))
        .collect();
    let mut find = |resource_type: &str, token: &IdentifierToken| {
        own.iter()
            .find(|(t, _, ids)| t == resource_type && ids.iter().any(|(s, v)| token.matches(s, v)))
            .map(|(_, id, _)| id.clone())
            .or_else(|| held.find(resource_type, token))
    };

    // Second pass: rewrite internal and conditional references, then
    // validate each resource exactly as a single write would be.
    let mut resolved = Vec::with_capacity(planned.len());
    for (i, (method, resource_type, id, mut json)) in planned.into_iter().enumerate() {
        rewrite_references(&mut json, &aliases);
        let mut unresolved = Vec::new();
        resolve_conditional_references(&mut json, &mut find, &mut unresolved);
        for (reference, why) in unresolved {
            issues.push(at(
                i,
                "resource",
                format!("the reference {reference:?} resolves to nothing: {why}"),
            ));
        }
        if let Some(object) = json.as_object_mut() {
            object.insert("id".into(), Value::String(id.clone()));
        }
        let bytes = serde_json::to_vec(&json).unwrap_or_default();
        match parse(&bytes, Some(&resource_type)) {
            Ok(resource) => resolved.push(TransactionEntry {
                method,
                id,
                resource,
            }),
            Err(outcome) => {
                for issue in outcome.issues {
                    issues.push(Issue {
                        // `Observation.status` in entry 3 is
                        // `Bundle.entry[3].resource.status`.
                        expression: issue.expression.map(|e| {
                            let inner = e.strip_prefix(&format!("{resource_type}.")).unwrap_or(&e);
                            format!("Bundle.entry[{i}].resource.{inner}")
                        }),
                        ..issue
                    });
                }
            }
        }
    }
    if !issues.is_empty() {
        return Err(Outcome::invalid(issues));
    }
    Ok(resolved)
}

/// An entry's method, type, id and `fullUrl`.
fn plan(
    i: usize,
    entry: &Value,
    assign_id: &mut impl FnMut(&str) -> String,
    held: &mut impl Lookup,
) -> Result<(Method, String, String, Option<String>), Issue> {
    let request = entry.get("request").ok_or_else(|| {
        at(
            i,
            "request",
            "each entry needs a request (method and url)".into(),
        )
    })?;
    // Conditional reads have no place in a write; refused rather than
    // ignored.
    for condition in ["ifNoneMatch", "ifModifiedSince"] {
        if request.get(condition).is_some() {
            return Err(at(
                i,
                &format!("request.{condition}"),
                format!("{condition} is not supported here; a transaction's entries are unconditional creates, or updates with ifMatch"),
            ));
        }
    }
    let if_match = match request.get("ifMatch") {
        None => None,
        Some(value) => Some(
            value
                .as_str()
                .and_then(crate::version_etag)
                .ok_or_else(|| {
                    at(
                        i,
                        "request.ifMatch",
                        "ifMatch names a version as its ETag does, e.g. W/\"3\"".into(),
                    )
                })?,
        ),
    };
    let method = match request.get("method").and_then(Value::as_str) {
        Some("POST") if if_match.is_some() => {
            return Err(at(
                i,
                "request.ifMatch",
                "ifMatch applies to updates (PUT): a created resource has no version yet".into(),
            ))
        }
        Some("POST") => Method::Create,
        Some("PUT") => Method::Update { if_match },
        other => {
            return Err(at(
                i,
                "request.method",
                format!(
                    "{} is not supported in a transaction here; use POST (create) or PUT (update)",
                    other.unwrap_or("a missing method")
                ),
            ))
        }
    };
    let url = request
        .get("url")
        .and_then(Value::as_str)
        .ok_or_else(|| at(i, "request.url", "request.url is required".into()))?;
    let resource_type = entry
        .get("resource")
        .and_then(|r| r.get("resourceType"))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            at(
                i,
                "resource",
                "each entry needs a resource with a resourceType".into(),
            )
        })?
        .to_string();
    let full_url = entry
        .get("fullUrl")
        .and_then(Value::as_str)
        .map(str::to_string);
    let path = url.trim_start_matches('/');
    let condition = |query: &str, element: &str| {
        IdentifierToken::from_query(query).map_err(|why| at(i, element, why))
    };
    if let Some(query) = request.get("ifNoneExist") {
        let query = query.as_str().unwrap_or_default();
        let token = condition(query, "request.ifNoneExist")?;
        if method != Method::Create {
            return Err(at(
                i,
                "request.ifNoneExist",
                "ifNoneExist applies to creates (POST)".into(),
            ));
        }
        if let Some(id) = held.find(&resource_type, &token) {
            return Ok((Method::Matched, resource_type, id, full_url));
        }
    }
    // A conditional update: the resource the query names, or a new one.
    if let (Method::Update { .. }, Some((named_type, query))) = (method, path.split_once('?')) {
        if named_type != resource_type {
            return Err(at(
                i,
                "request.url",
                format!("PUT {url} does not match the entry's {resource_type}"),
            ));
        }
        let token = condition(query, "request.url")?;
        return Ok(match held.find(&resource_type, &token) {
            Some(id) => (method, resource_type, id, full_url),
            None => (
                Method::Create,
                resource_type.clone(),
                assign_id(&resource_type),
                full_url,
            ),
        });
    }
    match method {
        Method::Matched => unreachable!("plan makes Matched only above"),
        Method::Create => {
            if path != resource_type {
                return Err(at(
                    i,
                    "request.url",
                    format!("POST {url} does not match the entry's {resource_type}"),
                ));
            }
            let id = assign_id(&resource_type);
            Ok((Method::Create, resource_type, id, full_url))
        }
        Method::Update { .. } => {
            let id = path
                .strip_prefix(&format!("{resource_type}/"))
                .filter(|id| crate::validate::valid_id(id))
                .ok_or_else(|| {
                    at(
                        i,
                        "request.url",
                        format!("PUT {url} must be {resource_type}/<id>"),
                    )
                })?;
            if let Some(body_id) = entry["resource"].get("id").and_then(Value::as_str) {
                if body_id != id {
                    return Err(at(
                        i,
                        "resource.id",
                        format!("the request names id {id} but the resource has id {body_id}"),
                    ));
                }
            }
            Ok((method, resource_type, id.to_string(), full_url))
        }
    }
}

fn at(i: usize, element: &str, diagnostics: String) -> Issue {
    Issue {
        code: IssueType::Invalid,
        expression: Some(format!("Bundle.entry[{i}].{element}")),
        diagnostics,
    }
}

/// Replace every conditional reference (`Type?identifier=sys|val`) by the
/// `Type/id` it names; those that name nothing go to `unresolved`, with why.
fn resolve_conditional_references(
    value: &mut Value,
    find: &mut impl FnMut(&str, &IdentifierToken) -> Option<String>,
    unresolved: &mut Vec<(String, String)>,
) {
    match value {
        Value::Object(object) => {
            for (key, child) in object.iter_mut() {
                let conditional = match child.as_str() {
                    Some(reference) if key == "reference" => reference
                        .split_once('?')
                        .map(|(t, q)| (t.to_string(), q.to_string())),
                    _ => None,
                };
                match conditional {
                    Some((resource_type, query)) => {
                        let reference = format!("{resource_type}?{query}");
                        match IdentifierToken::from_query(&query) {
                            Ok(token) => match find(&resource_type, &token) {
                                Some(id) => *child = Value::String(format!("{resource_type}/{id}")),
                                None => unresolved.push((reference, format!("no {resource_type} here or in this bundle has that identifier"))),
                            },
                            Err(why) => unresolved.push((reference, why)),
                        }
                    }
                    None => resolve_conditional_references(child, find, unresolved),
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| resolve_conditional_references(item, find, unresolved)),
        _ => {}
    }
}

/// Replace every `"reference": "<alias>"` by the aliased `Type/id`.
fn rewrite_references(value: &mut Value, aliases: &HashMap<String, String>) {
    match value {
        Value::Object(object) => {
            for (key, child) in object.iter_mut() {
                if key == "reference" {
                    if let Some(target) = child.as_str().and_then(|r| aliases.get(r)) {
                        *child = Value::String(target.clone());
                        continue;
                    }
                }
                rewrite_references(child, aliases);
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| rewrite_references(item, aliases)),
        _ => {}
    }
}

/// One entry of the `transaction-response`.
pub struct TransactionResult {
    pub created: bool,
    pub location: String,
    pub version: u64,
    pub last_modified: String,
    /// What was written; none for a conditional create that matched.
    pub resource: Option<Value>,
}

/// The `transaction-response` Bundle, entries in request order.
pub fn transaction_response(results: &[TransactionResult]) -> Value {
    let entries: Vec<Value> = results
        .iter()
        .map(|r| {
            let mut entry = json!({
                "response": {
                    "status": if r.created { "201 Created" } else { "200 OK" },
                    "location": r.location,
                    "etag": format!("W/\"{}\"", r.version),
                    "lastModified": r.last_modified,
                }
            });
            if let Some(resource) = &r.resource {
                entry["resource"] = resource.clone();
            }
            entry
        })
        .collect();
    json!({
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": entries,
    })
}

/// The `batch-response` Bundle: each entry's result in request order, a
/// refused entry with its status and OperationOutcome (its issues located
/// at its own place in the batch).
pub fn batch_response(results: &[Result<TransactionResult, Outcome>]) -> Value {
    let entries: Vec<Value> = results
        .iter()
        .enumerate()
        .map(|(i, result)| match result {
            Ok(written) => transaction_response(std::slice::from_ref(written))["entry"][0].clone(),
            Err(outcome) => {
                let mut outcome = outcome.clone();
                for issue in &mut outcome.issues {
                    issue.expression = issue
                        .expression
                        .take()
                        .map(|e| e.replacen("Bundle.entry[0]", &format!("Bundle.entry[{i}]"), 1));
                }
                json!({ "response": {
                    "status": format!("{} {}", outcome.status, reason_phrase(outcome.status)),
                    "outcome": outcome.to_json(),
                } })
            }
        })
        .collect();
    json!({ "resourceType": "Bundle", "type": "batch-response", "entry": entries })
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        410 => "Gone",
        412 => "Precondition Failed",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nothing_held(_: &str, _: &IdentifierToken) -> Option<String> {
        None
    }

    fn ids() -> impl FnMut(&str) -> String {
        let mut n = 0;
        move |t: &str| {
            n += 1;
            if t == "Patient" {
                format!("{n:064x}")
            } else {
                format!("new-{n}")
            }
        }
    }

    /// As a request body arrives: bytes.
    fn parse_bytes(
        body: &[u8],
        max_entries: usize,
        assign_id: impl FnMut(&str) -> String,
        held: impl Lookup,
    ) -> Result<Vec<TransactionEntry>, Outcome> {
        parse_transaction(parse_json(body)?, max_entries, assign_id, held)
    }

    fn bundle(entries: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "resourceType": "Bundle", "type": "transaction", "entry": entries
        }))
        .unwrap()
    }

    #[test]
    fn creates_get_ids_and_internal_references_resolve() {
        let body = bundle(json!([
            { "fullUrl": "urn:uuid:p1", "request": { "method": "POST", "url": "Patient" },
              "resource": { "resourceType": "Patient", "gender": "female" } },
            { "request": { "method": "POST", "url": "Observation" },
              "resource": crate::example("Observation", "x").map(|mut o| {
                  o["subject"] = json!({ "reference": "urn:uuid:p1" }); o
              }).unwrap() },
        ]));
        let entries = parse_bytes(&body, 10, ids(), nothing_held).unwrap();
        assert_eq!(entries.len(), 2);
        let patient_id = format!("{:064x}", 1);
        assert_eq!(entries[0].id, patient_id);
        assert_eq!(entries[0].method, Method::Create);
        assert_eq!(entries[1].id, "new-2");
        assert_eq!(entries[1].resource.patient(), Some(patient_id.as_str()));
        assert_eq!(
            entries[1].resource.json["subject"]["reference"],
            format!("Patient/{patient_id}")
        );
    }

    #[test]
    fn refuses_what_is_not_an_all_or_nothing_write() {
        let refused = |body: Vec<u8>, status: u16, words: &str| {
            let outcome = parse_bytes(&body, 2, ids(), nothing_held).unwrap_err();
            assert_eq!(outcome.status, status, "{outcome:?}");
            let text = serde_json::to_string(&outcome.to_json()).unwrap();
            assert!(text.contains(words), "{text} lacks {words:?}");
        };
        let patient = json!({ "resourceType": "Patient" });
        refused(b"{".to_vec(), 400, "not JSON");
        refused(
            serde_json::to_vec(&json!({ "resourceType": "Bundle", "type": "batch", "entry": [] }))
                .unwrap(),
            400,
            "batch",
        );
        refused(bundle(json!([])), 400, "at least one entry");
        refused(
            bundle(json!([
                { "request": { "method": "POST", "url": "Patient" }, "resource": patient },
                { "request": { "method": "POST", "url": "Patient" }, "resource": patient },
                { "request": { "method": "POST", "url": "Patient" }, "resource": patient },
            ])),
            413,
            "at most 2",
        );
        refused(
            bundle(
                json!([{ "request": { "method": "DELETE", "url": "Patient/a" }, "resource": patient }]),
            ),
            400,
            "DELETE is not supported",
        );
        refused(
            bundle(
                json!([{ "request": { "method": "POST", "url": "Observation" }, "resource": patient }]),
            ),
            400,
            "does not match",
        );
        refused(
            bundle(json!([
                { "request": { "method": "PUT", "url": "Patient/a" }, "resource": patient },
                { "request": { "method": "PUT", "url": "Patient/a" }, "resource": patient },
            ])),
            400,
            "appears twice",
        );
        // An invalid resource inside: located by its entry.
        refused(
            bundle(
                json!([{ "request": { "method": "POST", "url": "Observation" },
                            "resource": { "resourceType": "Observation" } }]),
            ),
            400,
            "Bundle.entry[0].resource.status",
        );
    }

    #[test]
    fn an_update_may_name_the_version_it_replaces_and_nothing_else_is_conditional() {
        let patient = json!({ "resourceType": "Patient" });
        let entries = parse_bytes(
            &bundle(json!([
                { "request": { "method": "PUT", "url": "Patient/a", "ifMatch": "W/\"2\"" }, "resource": patient },
                { "request": { "method": "PUT", "url": "Patient/b" }, "resource": patient },
            ])),
            10,
            ids(),
            nothing_held,
        )
        .unwrap();
        assert_eq!(entries[0].method, Method::Update { if_match: Some(2) });
        assert_eq!(entries[1].method, Method::Update { if_match: None });
        let refused = |request: Value, words: &str| {
            let body = bundle(json!([{ "request": request, "resource": patient }]));
            let outcome = parse_bytes(&body, 10, ids(), nothing_held).unwrap_err();
            assert_eq!(outcome.status, 400, "{outcome:?}");
            let text = serde_json::to_string(&outcome.to_json()).unwrap();
            assert!(text.contains(words), "{text} lacks {words:?}");
        };
        refused(
            json!({ "method": "PUT", "url": "Patient/a", "ifMatch": "2" }),
            "request.ifMatch",
        );
        refused(
            json!({ "method": "POST", "url": "Patient", "ifMatch": "W/\"1\"" }),
            "applies to updates",
        );
        refused(
            json!({ "method": "POST", "url": "Patient", "ifNoneExist": "name=x" }),
            "only identifier=system|value",
        );
        refused(
            json!({ "method": "POST", "url": "Patient", "ifNoneMatch": "*" }),
            "ifNoneMatch is not supported",
        );
    }

    #[test]
    fn conditional_creates_updates_and_references_resolve_by_identifier() {
        // What the server holds: Practitioner dr-1 (NPI 99) and Patient p-1
        // (MRN 7).
        let held = |t: &str, token: &IdentifierToken| match t {
            "Practitioner" if token.matches("urn:npi", "99") => Some("dr-1".to_string()),
            "Patient" if token.matches("urn:mrn", "7") => Some("p-1".to_string()),
            _ => None,
        };
        let entries = parse_bytes(
            &bundle(json!([
                { "fullUrl": "urn:uuid:1", "request": { "method": "POST", "url": "Practitioner", "ifNoneExist": "identifier=urn:npi|99" },
                  "resource": { "resourceType": "Practitioner", "identifier": [{ "system": "urn:npi", "value": "99" }] } },
                { "request": { "method": "POST", "url": "Organization", "ifNoneExist": "identifier=urn:org|5" },
                  "resource": { "resourceType": "Organization", "identifier": [{ "system": "urn:org", "value": "5" }] } },
                { "request": { "method": "PUT", "url": "Patient?identifier=urn:mrn|7" },
                  "resource": { "resourceType": "Patient", "gender": "female" } },
                { "request": { "method": "POST", "url": "Encounter" },
                  "resource": { "resourceType": "Encounter", "status": "finished",
                    "class": { "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB" },
                    "subject": { "reference": "Patient?identifier=urn:mrn|7" },
                    "participant": [{ "individual": { "reference": "urn:uuid:1" } }],
                    "serviceProvider": { "reference": "Organization?identifier=urn:org|5" } } },
            ])),
            10,
            ids(),
            held,
        )
        .unwrap();
        assert_eq!(
            (entries[0].method, entries[0].id.as_str()),
            (Method::Matched, "dr-1")
        );
        assert_eq!(entries[1].method, Method::Create);
        assert_eq!(
            (entries[2].method, entries[2].id.as_str()),
            (Method::Update { if_match: None }, "p-1")
        );
        let encounter = &entries[3].resource.json;
        assert_eq!(encounter["subject"]["reference"], "Patient/p-1");
        assert_eq!(
            encounter["participant"][0]["individual"]["reference"],
            "Practitioner/dr-1"
        );
        // The bundle's own new Organization, found by its identifier.
        assert_eq!(
            encounter["serviceProvider"]["reference"],
            format!("Organization/{}", entries[1].id)
        );
        // A conditional reference that names nothing is refused, located.
        let outcome = parse_bytes(
            &bundle(json!([{ "request": { "method": "POST", "url": "Observation" },
                "resource": { "resourceType": "Observation", "status": "final", "code": { "text": "x" },
                  "performer": [{ "reference": "Practitioner?identifier=urn:npi|404" }] } }])),
            10,
            ids(),
            held,
        )
        .unwrap_err();
        let text = serde_json::to_string(&outcome.to_json()).unwrap();
        assert!(
            text.contains("Bundle.entry[0].resource") && text.contains("no Practitioner"),
            "{text}"
        );
    }

    #[test]
    fn the_response_lists_each_entry_in_order() {
        let response = transaction_response(&[TransactionResult {
            created: true,
            location: "Patient/a/_history/1".into(),
            version: 1,
            last_modified: "2026-01-01T00:00:00.000Z".into(),
            resource: Some(json!({ "resourceType": "Patient", "id": "a" })),
        }]);
        assert_eq!(response["type"], "transaction-response");
        assert_eq!(response["entry"][0]["response"]["status"], "201 Created");
        assert_eq!(response["entry"][0]["response"]["etag"], "W/\"1\"");
    }
}
