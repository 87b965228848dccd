//! Resources the server answers with.

use crate::{r4, search};
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BundleKind {
    Searchset,
    History,
}

pub struct BundleEntry {
    /// The resource's URL relative to the server's base (`Patient/123`).
    pub full_url: String,
    pub resource: Value,
}

/// A Bundle of `entries`, with paging links when there is more. `base` is
/// the server's absolute base URL (`http://host:port/fhir`); the links
/// (`self_path`, `next_path`) and entries' URLs are relative to it and come
/// out absolute, as FHIR asks (clients resolve them against nothing else).
pub fn bundle(
    kind: BundleKind,
    base: &str,
    self_path: &str,
    next_path: Option<&str>,
    total: usize,
    entries: Vec<BundleEntry>,
) -> Value {
    let absolute = |path: &str| format!("{}/{path}", base.trim_end_matches('/'));
    let mut links = vec![json!({ "relation": "self", "url": absolute(self_path) })];
    if let Some(next) = next_path {
        links.push(json!({ "relation": "next", "url": absolute(next) }));
    }
    let entries: Vec<Value> = entries
        .into_iter()
        .map(|e| {
            let mut entry = json!({ "fullUrl": absolute(&e.full_url), "resource": e.resource });
            if kind == BundleKind::Searchset {
                entry["search"] = json!({ "mode": "match" });
            }
            entry
        })
        .collect();
    json!({
        "resourceType": "Bundle",
        "type": match kind { BundleKind::Searchset => "searchset", BundleKind::History => "history" },
        "total": total,
        "link": links,
        "entry": entries,
    })
}

/// A searchset page: its matches, then what `_include` and `_revinclude`
/// added (`search.mode` `include`), then, if some results are missing, an
/// OperationOutcome saying why (`search.mode` `outcome`).
pub struct SearchPage<'a> {
    pub base: &'a str,
    pub self_path: &'a str,
    pub next_path: Option<&'a str>,
    /// All matches, over every page; `None` where it is not given.
    pub total: usize,
    pub matches: Vec<BundleEntry>,
    pub included: Vec<BundleEntry>,
    /// A warning (`incomplete`) for the client.
    pub incomplete: Option<String>,
}

pub fn search_bundle(page: SearchPage<'_>) -> Value {
    let matched = page.matches.len();
    let mut entries = page.matches;
    entries.extend(page.included);
    let mut bundle = bundle(
        BundleKind::Searchset,
        page.base,
        page.self_path,
        page.next_path,
        page.total,
        entries,
    );
    if let Some(list) = bundle["entry"].as_array_mut() {
        for entry in list.iter_mut().skip(matched) {
            entry["search"] = json!({ "mode": "include" });
        }
        if let Some(warning) = page.incomplete {
            list.push(json!({
                "resource": {
                    "resourceType": "OperationOutcome",
                    "issue": [{ "severity": "warning", "code": "incomplete", "diagnostics": warning }]
                },
                "search": { "mode": "outcome" }
            }));
        }
    }
    bundle
}

/// The R4 types whose resources the ledger derives from its own chain
/// rather than storing what clients send: AuditEvent (the audit trail) and
/// Consent (patients' signed consents). They are read, not written.
pub const LEDGER_VIEWS: &[&str] = &["AuditEvent", "Consent"];

/// The server's CapabilityStatement (`GET /fhir/metadata`).
pub fn capability_statement(base_url: &str, software_version: &str, date: &str) -> Value {
    let by_target = json!({ "name": "target", "type": "reference", "documentation": "Type/id[/_history/v]: where each version came from, as the chain recorded it (agent, organisation, transaction, block)" });
    // Every R4 type is kept, but for the ledger's own views (audit trail,
    // consents: written only through the chain) and files (Binary: the raw
    // file streamed in and out, found through what points to it).
    let resources: Vec<Value> = r4::resource_types()
        .iter()
        .filter(|t| !LEDGER_VIEWS.contains(&t.as_str()) && t.as_str() != "Binary")
        .map(|t| {
            // R4's own parameters of the type, as the node's index keeps
            // them; a Provenance `target` is answered from the chain.
            let params: Vec<Value> = search::params_of(t)
                .map(|(code, param)| match (t.as_str(), code) {
                    ("Provenance", "target") => by_target.clone(),
                    _ => json!({ "name": code, "type": param.kind.name() }),
                })
                .collect();
            let includes: Vec<String> = search::params_of(t)
                .filter(|(_, param)| param.kind == search::ParamKind::Reference)
                .map(|(code, _)| format!("{t}:{code}"))
                .collect();
            let mut resource = json!({
                "type": t,
                "versioning": "versioned-update",
                "readHistory": true,
                "updateCreate": true,
                "conditionalCreate": true,
                "conditionalUpdate": true,
                "interaction": [
                    { "code": "read" }, { "code": "vread" }, { "code": "update" }, { "code": "delete" },
                    { "code": "create" }, { "code": "history-instance" }, { "code": "search-type" }
                ],
                "searchParam": params,
                "searchInclude": includes,
            });
            if t == "Patient" {
                resource["operation"] = json!([{
                    "name": "everything",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"
                }, {
                    "name": "export",
                    "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export"
                }]);
            }
            if t == "Group" {
                resource["operation"] = json!([{
                    "name": "export",
                    "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export"
                }]);
            }
            resource
        })
        .chain(std::iter::once(json!({
            "type": "Binary",
            "interaction": [{ "code": "create" }, { "code": "read" }, { "code": "vread" }, { "code": "delete" }],
        })))
        .chain(LEDGER_VIEWS.iter().map(|t| {
            json!({
                "type": t,
                "interaction": [{ "code": "search-type" }],
                "searchParam": [{ "name": "patient", "type": "reference" }],
            })
        }))
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "kind": "instance",
        "software": { "name": "Custodia", "version": software_version },
        "implementation": { "description": "Custodia node FHIR facade", "url": base_url },
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "security": {
                "description": "Authorization: Bearer <token> signed by an agent's or patient's registered key (`custodia token`)"
            },
            "resource": resources,
            "searchParam": [
                { "name": "_count", "type": "number", "documentation": "Page size (default 20, at most 100)" },
                { "name": "_sort", "type": "string", "documentation": "Parameters to sort by, comma-separated; a leading - sorts descending (default: _lastUpdated)" },
                { "name": "_summary", "type": "token", "documentation": "count: the total alone" },
                { "name": "_elements", "type": "string", "documentation": "Top-level elements to return; the resources come back tagged SUBSETTED" },
                { "name": "_include", "type": "special", "documentation": "<Type>:<reference parameter>[:<target type>] of the searched type" },
                { "name": "_revinclude", "type": "special", "documentation": "<Type>:<reference parameter>: resources of any type pointing to the matches" }
            ],
            "operation": [{
                "name": "export",
                "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export",
                "documentation": "Bulk Data export (Prefer: respond-async; _type, _since): one NDJSON file a type of what the caller may read, each resource an audited read"
            }],
            "interaction": [{
                "code": "transaction",
                "documentation": "POST /fhir with a transaction Bundle of POST/PUT entries (at most 8192, 64 MiB): all written or none"
            }, {
                "code": "batch",
                "documentation": "POST /fhir with a batch Bundle: each entry written on its own, a refused one answered in place with its OperationOutcome"
            }],
        }],
    })
}

/// One chain audit event as an R4 AuditEvent.
pub struct AuditFacts<'a> {
    pub id: &'a str,
    pub recorded: &'a str,
    pub action: &'a str,
    pub permitted: bool,
    pub agent: &'a str,
    pub org: Option<&'a str>,
    /// None for a query of the whole audit log.
    pub patient: Option<&'a str>,
    pub resource: Option<&'a str>,
    pub purpose: &'a str,
    pub break_glass: Option<&'a str>,
    pub reasons: &'a [String],
    pub tx: &'a str,
    /// The entry's index when `tx` is a batch (one signature over many
    /// actions).
    pub entry: Option<u32>,
    pub height: u64,
}

pub fn audit_event(f: &AuditFacts<'_>) -> Value {
    let action_code = match f.action {
        "write" => "U",
        "read" | "read_audit" => "R",
        _ => "E",
    };
    let mut agent = json!({
        "who": { "identifier": { "system": "urn:custodia:key", "value": f.agent } },
        "requestor": true,
        "purposeOfUse": [{ "coding": [{ "system": "urn:custodia:purpose", "code": f.purpose }] }],
    });
    if let Some(org) = f.org {
        agent["onBehalfOf"] =
            json!({ "identifier": { "system": "urn:custodia:org", "value": org } });
    }
    let mut entity = Vec::new();
    if let Some(patient) = f.patient {
        entity.push(json!({ "what": { "reference": format!("Patient/{patient}") }, "role": { "code": "1", "display": "Patient" } }));
    }
    match f.resource {
        Some(resource) if resource.contains('/') => {
            entity.push(json!({ "what": { "reference": resource } }))
        }
        // Not a resource: the whole audit log.
        Some(other) => entity.push(json!({ "what": { "display": other } })),
        None => {}
    }
    let mut event = json!({
        "resourceType": "AuditEvent",
        "id": f.id,
        "type": { "system": "urn:custodia:action", "code": f.action },
        "action": action_code,
        "recorded": f.recorded,
        "outcome": if f.permitted { "0" } else { "4" },
        "outcomeDesc": f.reasons.join(", "),
        "agent": [agent],
        "source": { "observer": { "identifier": { "system": "urn:custodia:tx", "value": f.tx } } },
        "entity": entity,
        "extension": [{ "url": "urn:custodia:block-height", "valueInteger": f.height }],
    });
    if let Some(entry) = f.entry {
        event["extension"]
            .as_array_mut()
            .expect("built above as an array")
            .push(json!({ "url": "urn:custodia:batch-entry", "valueInteger": entry }));
    }
    if let Some(reason) = f.break_glass {
        event["purposeOfEvent"] = json!([{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "ETREAT", "display": "Emergency treatment (break-glass)" }], "text": reason }]);
    }
    event
}

/// Where one version came from, as the chain recorded it.
pub struct ProvenanceFacts<'a> {
    /// `Type/id/_history/version`.
    pub target: &'a str,
    pub recorded: &'a str,
    /// The writing agent's key (hex) and the name it was registered with.
    pub author_key: &'a str,
    pub author_name: Option<&'a str>,
    /// The custodian organisation's id and name.
    pub org: &'a str,
    pub org_name: Option<&'a str>,
    pub tx: &'a str,
    pub entry: Option<u32>,
    pub height: u64,
}

/// One version's provenance as an R4 Provenance: who wrote it for which
/// organisation, when, and the chain transaction and block that recorded
/// it. Its id is derived from the version, so it is the same on every
/// node.
pub fn provenance(f: &ProvenanceFacts<'_>) -> Value {
    let id: String = f
        .target
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let mut who = json!({ "identifier": { "system": "urn:custodia:key", "value": f.author_key } });
    if let Some(name) = f.author_name {
        who["display"] = json!(name);
    }
    let mut on_behalf_of =
        json!({ "identifier": { "system": "urn:custodia:org", "value": f.org } });
    if let Some(name) = f.org_name {
        on_behalf_of["display"] = json!(name);
    }
    let mut extension = vec![
        json!({ "url": "urn:custodia:tx", "valueString": f.tx }),
        json!({ "url": "urn:custodia:block-height", "valueInteger": f.height }),
    ];
    if let Some(entry) = f.entry {
        extension.push(json!({ "url": "urn:custodia:batch-entry", "valueInteger": entry }));
    }
    json!({
        "resourceType": "Provenance",
        "id": id.chars().rev().take(64).collect::<Vec<_>>().into_iter().rev().collect::<String>(),
        "target": [{ "reference": f.target }],
        "recorded": f.recorded,
        "agent": [{
            "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "author" }] },
            "who": who,
            "onBehalfOf": on_behalf_of,
        }],
        "extension": extension,
    })
}

/// A patient's consent (as the chain holds it) as an R4 Consent.
pub struct ConsentFacts<'a> {
    pub id: &'a str,
    pub patient: &'a str,
    pub active: bool,
    /// `("org", id)` or `("key", hex)`.
    pub grantee: (&'a str, &'a str),
    pub purpose: &'a str,
    /// Resource types covered; empty for all.
    pub scope: &'a [String],
    pub start: &'a str,
    pub end: &'a str,
}

pub fn consent(f: &ConsentFacts<'_>) -> Value {
    let purpose = match f.purpose {
        "treatment" => "TREAT",
        "payment" => "HPAYMT",
        _ => "HRESCH",
    };
    let mut provision = json!({
        "type": "permit",
        "period": { "start": f.start, "end": f.end },
        "actor": [{
            "role": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PRCP" }] },
            "reference": { "identifier": { "system": format!("urn:custodia:{}", f.grantee.0), "value": f.grantee.1 } }
        }],
        "purpose": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": purpose }],
    });
    if !f.scope.is_empty() {
        provision["class"] = json!(f
            .scope
            .iter()
            .map(|t| json!({ "system": "http://hl7.org/fhir/resource-types", "code": t }))
            .collect::<Vec<_>>());
    }
    json!({
        "resourceType": "Consent",
        "id": f.id,
        "status": if f.active { "active" } else { "inactive" },
        "scope": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy" }] },
        "category": [{ "coding": [{ "system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent" }] }],
        "patient": { "reference": format!("Patient/{}", f.patient) },
        "policyRule": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN" }] },
        "provision": provision,
    })
}
