//! `GET /fhir/{type}?...`: FHIR search, and the searchset Bundles every
//! search-like answer ($everything, Provenance) pages through.

use super::{audit, consent, fhir_base, pseudonym, resource, Fhir, Shared};
use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use custodia_engine::engine::Runtime;
use custodia_fhir::{search, BundleEntry, IssueType, Outcome, SearchPage};
use serde_json::{json, Value};
use std::collections::HashMap;

/// Parameters, decoded, repeats kept (`birthdate=ge1970&birthdate=lt1980`).
pub(super) type Params = Vec<(String, String)>;

fn first<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

pub(super) async fn search<E: Runtime>(
    State(service): State<Shared<E>>,
    Path(type_name): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Result<Response, Fhir> {
    let caller = service.caller(&headers).await?;
    let patient = first(&params, "patient").map(|p| p.trim_start_matches("Patient/"));
    // The ledger's own views: the audit trail and consents, from the chain.
    match (type_name.as_str(), patient) {
        ("AuditEvent", None) => {
            let map: HashMap<String, String> = params.iter().cloned().collect();
            return audit::audit_log(&service, &caller, &map, &fhir_base(&headers)).await;
        }
        ("AuditEvent", Some(patient)) => {
            let map: HashMap<String, String> = params.iter().cloned().collect();
            let patient = pseudonym(patient)?;
            return audit::audit(&service, &caller, patient, &map, &fhir_base(&headers)).await;
        }
        ("Consent", Some(patient)) => {
            return consent::consents(&service, pseudonym(patient)?, &fhir_base(&headers)).await;
        }
        ("Consent", None) => {
            return Err(Outcome::new(
                400,
                IssueType::Required,
                "consents are searched per patient: Consent?patient=Patient/<pseudonym>",
            )
            .into())
        }
        _ => {}
    }
    // Where each version came from, as the chain recorded it.
    if let (true, Some(target)) = (type_name == "Provenance", first(&params, "target")) {
        let found = service.provenance(&caller, target).await?;
        return Ok(searchset(&type_name, found, &params, &headers)?);
    }
    let resource_type = crate::records::parse_json_type(&type_name)?;
    let query = search::Query::parse(&type_name, &params)?;
    let found = service
        .search(&caller, resource_type, &query, &params)
        .await?;
    let total = found.matches.len();
    let page: Vec<Value> = match query.count_only {
        true => Vec::new(),
        false => found
            .matches
            .into_iter()
            .skip(query.offset)
            .take(query.count)
            .collect(),
    };
    let included = service
        .included(&caller, resource_type, &query, &page)
        .await?;
    let mut unreachable = found.unreachable;
    unreachable.extend(included.unreachable);
    unreachable.sort();
    unreachable.dedup();
    let page = match &query.elements {
        Some(elements) => page.into_iter().map(|r| subset(r, elements)).collect(),
        None => page,
    };
    let after = query.offset.saturating_add(query.count);
    let next = (!query.count_only && after < total).then_some(after);
    let links = Links::new(&type_name, &params);
    let bundle = custodia_fhir::search_bundle(SearchPage {
        base: &fhir_base(&headers),
        self_path: &links.page(query.offset),
        next_path: next.map(|n| links.page(n)).as_deref(),
        total,
        matches: entries(page),
        included: entries(included.matches),
        incomplete: (!unreachable.is_empty()).then(|| {
            let names: Vec<String> = unreachable.iter().map(ToString::to_string).collect();
            format!(
                "the nodes of {} did not answer: their records are missing from this result; search again later",
                names.join(", ")
            )
        }),
    });
    Ok(resource(StatusCode::OK, &bundle))
}

/// A resource cut down to `elements` (and what every resource keeps:
/// `resourceType`, `id`, `meta`), tagged SUBSETTED as R4 asks.
fn subset(resource: Value, elements: &[String]) -> Value {
    let Value::Object(fields) = resource else {
        return resource;
    };
    let mut kept: serde_json::Map<String, Value> = fields
        .into_iter()
        .filter(|(k, _)| {
            matches!(k.as_str(), "resourceType" | "id" | "meta") || elements.contains(k)
        })
        .collect();
    let meta = kept.entry("meta").or_insert_with(|| json!({}));
    if let Some(meta) = meta.as_object_mut() {
        let tags = meta.entry("tag").or_insert_with(|| json!([]));
        if let Some(tags) = tags.as_array_mut() {
            tags.push(json!({
                "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
                "code": "SUBSETTED"
            }));
        }
    }
    Value::Object(kept)
}

fn entries(resources: Vec<Value>) -> Vec<BundleEntry> {
    resources
        .into_iter()
        .map(|v| BundleEntry {
            full_url: format!(
                "{}/{}",
                v["resourceType"].as_str().unwrap_or_default(),
                v["id"].as_str().unwrap_or_default()
            ),
            resource: v,
        })
        .collect()
}

/// Paging links: the same query at another offset, its values escaped.
struct Links {
    path: String,
    query: String,
}

impl Links {
    fn new(path: &str, params: &Params) -> Self {
        let mut kept: Vec<&(String, String)> =
            params.iter().filter(|(k, _)| k != "_offset").collect();
        kept.sort();
        let query = kept
            .iter()
            .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
            .collect::<Vec<_>>()
            .join("&");
        Self {
            path: path.to_string(),
            query,
        }
    }

    fn page(&self, offset: usize) -> String {
        match self.query.is_empty() {
            true => format!("{}?_offset={offset}", self.path),
            false => format!("{}?{}&_offset={offset}", self.path, self.query),
        }
    }
}

/// Percent-encode all but what reads plainly in a FHIR query.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'.'
            | b'_'
            | b'~'
            | b':'
            | b'/'
            | b'|'
            | b','
            | b'$' => out.push(byte as char),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// A searchset of what a search-like request at `path` (`Provenance`,
/// `Patient/<id>/$everything`) found, paged by `_count` and `_offset`.
pub(super) fn searchset(
    path: &str,
    found: Vec<Value>,
    params: &Params,
    headers: &HeaderMap,
) -> Result<Response, Outcome> {
    let number = |name: &str, default: usize| -> Result<usize, Outcome> {
        first(params, name).map_or(Ok(default), |n| {
            n.parse().map_err(|_| {
                Outcome::new(
                    400,
                    IssueType::Value,
                    format!("{name}={n:?}: a whole number, please"),
                )
            })
        })
    };
    let count = number("_count", 20)?.clamp(1, search::MAX_COUNT);
    let offset = number("_offset", 0)?;
    let total = found.len();
    let page: Vec<Value> = found.into_iter().skip(offset).take(count).collect();
    let after = offset.saturating_add(count);
    let next = (after < total).then_some(after);
    let links = Links::new(path, params);
    let bundle = custodia_fhir::search_bundle(SearchPage {
        base: &fhir_base(headers),
        self_path: &links.page(offset),
        next_path: next.map(|n| links.page(n)).as_deref(),
        total,
        matches: entries(page),
        included: Vec::new(),
        incomplete: None,
    });
    Ok(resource(StatusCode::OK, &bundle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_escape_what_a_url_cannot_carry_and_drop_the_offset() {
        let params: Params = vec![
            ("name".into(), "O'Brien & Sons".into()),
            ("_offset".into(), "20".into()),
            ("code".into(), "http://loinc.org|8867-4".into()),
        ];
        let links = Links::new("Patient", &params);
        assert_eq!(
            links.page(40),
            "Patient?code=http://loinc.org|8867-4&name=O%27Brien%20%26%20Sons&_offset=40"
        );
        assert_eq!(Links::new("Patient", &vec![]).page(0), "Patient?_offset=0");
    }

    #[test]
    fn elements_keep_what_was_asked_and_say_so() {
        let patient =
            json!({"resourceType": "Patient", "id": "p", "gender": "male", "birthDate": "1970"});
        let cut = subset(patient, &["gender".to_string()]);
        assert_eq!(cut["gender"], "male");
        assert!(cut.get("birthDate").is_none());
        assert_eq!(cut["meta"]["tag"][0]["code"], "SUBSETTED");
    }
}
