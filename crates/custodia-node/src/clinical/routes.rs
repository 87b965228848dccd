//! The FHIR R4 REST facade (`/fhir/...`) and the key-release endpoint.

use super::{
    caller::Caller,
    records::Version,
    release::{ReleaseRequest, WRAPPED_KEY_HEADER},
    rfc3339, Clinical,
};
use crate::engine::Runtime;
use axum::{
    body::Bytes,
    extract::{rejection::BytesRejection, DefaultBodyLimit, Path, Query, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use custodia_fhir::{BundleEntry, BundleKind, IssueType, Outcome};
use custodia_state::{
    keys,
    records::{AuditEvent, ConsentEntry, Decision},
};
use custodia_types::{AccessAction, Grantee, Pseudonym, ResourceType};
use serde_json::Value;
use std::{collections::HashMap, sync::Arc};

/// Largest FHIR resource accepted in one request.
pub const MAX_RESOURCE_BYTES: usize = 1024 * 1024;
const FHIR_JSON: &str = "application/fhir+json";

type Shared<E> = Arc<Clinical<E>>;

pub fn router<E: Runtime>(service: Shared<E>) -> Router {
    // Files stream through the vault whatever their size: no body limit.
    let binaries = Router::new()
        // The same path's other methods must be routed here too: axum does
        // not fall back to `/fhir/{type}/{id}` for a method this path lacks.
        .route("/fhir/Binary", post(upload_binary::<E>).get(search_binary))
        .route(
            "/fhir/Binary/{id}",
            get(download_binary::<E>).delete(erase_binary::<E>),
        )
        // A file's replica streams in, whatever its size.
        .route(
            "/v1/vault/replica/Binary/{id}/{version}",
            post(accept_file_replica::<E>),
        )
        // Where an upload's Location points: files have one version.
        .route(
            "/fhir/Binary/{id}/_history/{vid}",
            get(download_binary_version::<E>),
        )
        .layer(DefaultBodyLimit::disable())
        .with_state(service.clone());
    // Replicas come many to a push (each a resource's ciphertext, a little
    // larger than the resource).
    let replicas = Router::new()
        .route("/v1/vault/replicas", post(accept_replicas::<E>))
        .layer(DefaultBodyLimit::max(
            super::replication::MAX_BATCH_BYTES + 2 * MAX_RESOURCE_BYTES,
        ))
        .with_state(service.clone());
    Router::new()
        .route("/fhir", post(transaction::<E>))
        .route("/fhir/metadata", get(metadata))
        .route("/fhir/{type}", post(create::<E>).get(search::<E>))
        .route(
            "/fhir/{type}/{id}",
            get(read::<E>).put(update::<E>).delete(erase::<E>),
        )
        .route("/fhir/{type}/{id}/_history", get(history::<E>))
        .route("/fhir/{type}/{id}/_history/{vid}", get(vread::<E>))
        .route("/v1/vault/release", post(release::<E>))
        .route("/v1/vault/objects", get(vault_count::<E>))
        .route("/v1/vault/objects/{hash}", get(vault_holds::<E>))
        .layer(DefaultBodyLimit::max(MAX_RESOURCE_BYTES))
        .with_state(service)
        .merge(binaries)
        .merge(replicas)
        // A bug in a handler answers as FHIR clients expect, and the node
        // keeps serving (the node's outer layer does the same for /v1).
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_outcome,
        ))
}

/// The answer to a request whose handler panicked: an OperationOutcome
/// that does not repeat the panic's message (it may hold request data).
fn panic_outcome(_: Box<dyn std::any::Any + Send>) -> Response {
    tracing::error!("a FHIR handler panicked; answered 500");
    Fhir::from(Outcome::new(
        500,
        IssueType::Exception,
        "the node failed on this request and logged it; other requests are unaffected",
    ))
    .into_response()
}

async fn accept_replicas<E: Runtime>(
    State(service): State<Shared<E>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Fhir> {
    let body = body.map_err(|e| Outcome::new(413, IssueType::TooLong, e.to_string()))?;
    let replicas = super::replication::decode_replicas(body)
        .map_err(|problem| Outcome::new(400, IssueType::Structure, problem))?;
    let statuses = service.accept_replicas(replicas).await;
    Ok(Json(super::replication::Statuses { statuses }).into_response())
}

/// How many ciphertexts this node's vault holds (its own and replicas),
/// for operators watching replication and erasure. Counts only.
async fn vault_count<E: Runtime>(State(service): State<Shared<E>>) -> Result<Response, Fhir> {
    // (Over an object store, counting lists the whole prefix.)
    let objects = service
        .vault(|objects, _, _| objects.count().map_err(super::unavailable))
        .await?;
    Ok(Json(serde_json::json!({ "objects": objects })).into_response())
}

/// Whether this node's vault holds the ciphertext whose SHA-256 (hex, as
/// the chain records it) is `hash`: 204 if it does, 404 if not.
async fn vault_holds<E: Runtime>(
    State(service): State<Shared<E>>,
    Path(hash): Path<String>,
) -> Result<Response, Fhir> {
    let hash: [u8; 32] = hex::decode(&hash)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| {
            Outcome::new(
                400,
                IssueType::Value,
                "an object is named by its SHA-256: 64 hex digits",
            )
        })?;
    let held = service
        .vault(move |objects, _, _| Ok(objects.contains(&hash)))
        .await?;
    Ok(match held {
        true => StatusCode::NO_CONTENT.into_response(),
        false => StatusCode::NOT_FOUND.into_response(),
    })
}

async fn accept_file_replica<E: Runtime>(
    State(service): State<Shared<E>>,
    Path((id, version)): Path<(String, u64)>,
    body: axum::body::Body,
) -> Result<Response, Fhir> {
    let id = custodia_types::LogicalId::new(id)
        .map_err(|e| Outcome::new(400, IssueType::Value, e.to_string()))?;
    service.accept_file_replica(&id, version, body).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn upload_binary<E: Runtime>(
    State(service): State<Shared<E>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, Fhir> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_string();
    if content_type.starts_with(FHIR_JSON) {
        return Err(Outcome::new(
            415,
            IssueType::NotSupported,
            "send the file itself as the body, with its own media type (e.g. application/dicom, application/pdf), not a base64 Binary resource",
        )
        .into());
    }
    let caller = service.caller(&headers).await?;
    let patient = headers
        .get("x-security-context")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let json = service
        .upload_binary(&caller, &patient, content_type, body)
        .await?;
    let location = format!(
        "/fhir/Binary/{}/_history/1",
        json["id"].as_str().unwrap_or_default()
    );
    let mut response = resource(StatusCode::CREATED, &json);
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

async fn search_binary() -> Result<Response, Fhir> {
    Err(Outcome::new(
        400,
        IssueType::NotSupported,
        "files are found through the DocumentReference or ImagingStudy that points to them: search those, then read /fhir/Binary/{id}",
    )
    .into())
}

async fn erase_binary<E: Runtime>(
    State(service): State<Shared<E>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Fhir> {
    let caller = service.caller(&headers).await?;
    service.erase(&caller, "Binary", &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn download_binary_version<E: Runtime>(
    state: State<Shared<E>>,
    Path((id, vid)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Fhir> {
    if vid != "1" {
        return Err(Outcome::new(
            404,
            IssueType::NotFound,
            format!(
                "Binary/{id} has one version, 1: files are not updated, a new file is a new Binary"
            ),
        )
        .into());
    }
    download_binary(state, Path(id), headers).await
}

async fn download_binary<E: Runtime>(
    State(service): State<Shared<E>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Fhir> {
    let caller = service.caller(&headers).await?;
    let content = service.download_binary(&caller, &id).await?;
    let mut response = Response::new(content.body);
    let response_headers = response.headers_mut();
    if let Ok(media) = HeaderValue::from_str(&content.content_type) {
        response_headers.insert(header::CONTENT_TYPE, media);
    }
    response_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(content.size));
    if let Ok(etag) = HeaderValue::from_str(&format!("W/\"{}\"", content.version)) {
        response_headers.insert(header::ETAG, etag);
    }
    Ok(response)
}

struct Fhir(Response);

impl IntoResponse for Fhir {
    fn into_response(self) -> Response {
        self.0
    }
}

impl From<Outcome> for Fhir {
    fn from(outcome: Outcome) -> Self {
        let status = StatusCode::from_u16(outcome.status).unwrap_or(StatusCode::BAD_REQUEST);
        Fhir(resource(status, &outcome.to_json()))
    }
}

fn resource(status: StatusCode, json: &Value) -> Response {
    let mut response = (status, Json(json)).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    response
}

fn version_response(status: StatusCode, version: &Version, location: Option<String>) -> Response {
    let mut response = resource(status, &version.json);
    if let Ok(etag) = HeaderValue::from_str(&format!("W/\"{}\"", version.version)) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    let written = std::time::UNIX_EPOCH + std::time::Duration::from_millis(version.time_ms);
    if let Ok(date) = HeaderValue::from_str(&httpdate::fmt_http_date(written)) {
        response.headers_mut().insert(header::LAST_MODIFIED, date);
    }
    if let Some(salt) = version
        .salt
        .and_then(|s| HeaderValue::from_str(&hex::encode(s)).ok())
    {
        response
            .headers_mut()
            .insert("x-custodia-commitment-salt", salt);
    }
    if let Some(location) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

fn body_or_outcome(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Bytes, Outcome> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if media != FHIR_JSON && media != "application/json" {
        return Err(Outcome::new(
            415,
            IssueType::NotSupported,
            format!("send resources as {FHIR_JSON} (got {content_type:?})"),
        ));
    }
    body.map_err(|rejection| {
        Outcome::new(
            413,
            IssueType::TooLong,
            format!("request body refused: {rejection}; resources are at most {MAX_RESOURCE_BYTES} bytes (send large files to POST /fhir/Binary as their raw bytes, and point a DocumentReference at the Binary)"),
        )
    })
}

async fn metadata(headers: HeaderMap) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let statement = custodia_fhir::capability_statement(
        &format!("http://{host}/fhir"),
        env!("CARGO_PKG_VERSION"),
        &rfc3339(super::now_ms()),
    );
    resource(StatusCode::OK, &statement)
}

async fn create<E: Runtime>(
    State(service): State<Shared<E>>,
    Path(type_name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Fhir> {
    let body = body_or_outcome(&headers, body)?;
    let caller = service.caller(&headers).await?;
    let (version, _) = service
        .write(&caller, &type_name, None, None, &body)
        .await?;
    let id = version.json["id"].as_str().unwrap_or_default().to_string();
    let location = format!("/fhir/{type_name}/{id}/_history/{}", version.version);
    Ok(version_response(
        StatusCode::CREATED,
        &version,
        Some(location),
    ))
}

async fn transaction<E: Runtime>(
    State(service): State<Shared<E>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Fhir> {
    let body = body_or_outcome(&headers, body)?;
    let caller = service.caller(&headers).await?;
    let written = service.transaction(&caller, &body).await?;
    let results: Vec<_> = written
        .into_iter()
        .map(|(entry, version)| custodia_fhir::TransactionResult {
            created: version.version == 1,
            location: format!(
                "{}/{}/_history/{}",
                entry.resource.resource_type, entry.id, version.version
            ),
            version: version.version,
            last_modified: version.json["meta"]["lastUpdated"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            resource: version.json,
        })
        .collect();
    Ok(resource(
        StatusCode::OK,
        &custodia_fhir::transaction_response(&results),
    ))
}

async fn update<E: Runtime>(
    State(service): State<Shared<E>>,
    Path((type_name, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Fhir> {
    let body = body_or_outcome(&headers, body)?;
    let if_match = if_match(&headers)?;
    let caller = service.caller(&headers).await?;
    let (version, created) = service
        .write(&caller, &type_name, Some(&id), if_match, &body)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let location = format!("/fhir/{type_name}/{id}/_history/{}", version.version);
    Ok(version_response(status, &version, Some(location)))
}

/// The version an update must replace (`If-Match`), if it names one.
fn if_match(headers: &HeaderMap) -> Result<Option<u64>, Outcome> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(custodia_fhir::version_etag)
        .map(Some)
        .ok_or_else(|| {
            Outcome::new(
                400,
                IssueType::Value,
                "If-Match names the version to replace as its ETag does, e.g. W/\"3\"",
            )
        })
}

async fn read<E: Runtime>(
    State(service): State<Shared<E>>,
    Path((type_name, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Fhir> {
    let caller = service.caller(&headers).await?;
    let version = service.read_version(&caller, &type_name, &id, None).await?;
    Ok(version_response(StatusCode::OK, &version, None))
}

async fn erase<E: Runtime>(
    State(service): State<Shared<E>>,
    Path((type_name, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Fhir> {
    let caller = service.caller(&headers).await?;
    service.erase(&caller, &type_name, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn vread<E: Runtime>(
    State(service): State<Shared<E>>,
    Path((type_name, id, vid)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, Fhir> {
    let vid: u64 = vid.parse().map_err(|_| {
        Outcome::new(
            400,
            IssueType::Value,
            format!("version id {vid:?} is not a number"),
        )
    })?;
    let caller = service.caller(&headers).await?;
    let version = service
        .read_version(&caller, &type_name, &id, Some(vid))
        .await?;
    Ok(version_response(StatusCode::OK, &version, None))
}

async fn history<E: Runtime>(
    State(service): State<Shared<E>>,
    Path((type_name, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Fhir> {
    let caller = service.caller(&headers).await?;
    let versions = service.history(&caller, &type_name, &id).await?;
    let entries = versions
        .into_iter()
        .map(|v| BundleEntry {
            full_url: format!("{type_name}/{id}/_history/{}", v.version),
            resource: v.json,
        })
        .collect::<Vec<_>>();
    let total = entries.len();
    let bundle = custodia_fhir::bundle(
        BundleKind::History,
        &format!("/fhir/{type_name}/{id}/_history"),
        None,
        total,
        entries,
    );
    Ok(resource(StatusCode::OK, &bundle))
}

/// `?patient=Patient/<p>` (or `subject=`), with `_count` paging.
async fn search<E: Runtime>(
    State(service): State<Shared<E>>,
    Path(type_name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, Fhir> {
    let caller = service.caller(&headers).await?;
    if type_name == "AuditEvent" && !params.contains_key("patient") {
        return audit_log(&service, &caller, &params).await;
    }
    let patient = params
        .get("patient")
        .or_else(|| params.get("subject"))
        .map(|p| p.trim_start_matches("Patient/").to_string())
        .ok_or_else(|| {
            Outcome::new(
                400,
                IssueType::Required,
                "search needs patient=Patient/<pseudonym>: records are kept per patient",
            )
        })?;
    if type_name == "AuditEvent" {
        return audit(&service, &caller, &patient, &params).await;
    }
    if type_name == "Consent" {
        return consents(&service, &patient).await;
    }
    let last_updated = params
        .get("_lastUpdated")
        .map(|p| custodia_fhir::search::LastUpdated::parse(p))
        .transpose()?;
    let mut found = service.search(&caller, &type_name, &patient).await?;
    if let Some(code) = params.get("code") {
        found.retain(|v| custodia_fhir::search::matches_code(&v.json, code));
    }
    if let Some(filter) = &last_updated {
        found.retain(|v| filter.matches(&v.json));
    }
    let count: usize = params
        .get("_count")
        .and_then(|c| c.parse().ok())
        .unwrap_or(20)
        .clamp(1, 100);
    let offset: usize = params
        .get("_offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    let total = found.len();
    let entries = found
        .into_iter()
        .skip(offset)
        .take(count)
        .map(|v| BundleEntry {
            full_url: format!("{type_name}/{}", v.json["id"].as_str().unwrap_or_default()),
            resource: v.json,
        })
        .collect();
    // Paging links repeat the query with another offset.
    let mut query: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k.as_str() != "_offset")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    query.sort();
    let base: String = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let page = |offset: usize| format!("/fhir/{type_name}?{base}&_offset={offset}");
    let next = Some(offset.saturating_add(count))
        .filter(|n| *n < total)
        .map(page);
    let bundle = custodia_fhir::bundle(
        BundleKind::Searchset,
        &page(offset),
        next.as_deref(),
        total,
        entries,
    );
    Ok(resource(StatusCode::OK, &bundle))
}

/// The patient's accounting of disclosures: every access, as AuditEvents.
/// Reading it is itself audited. `_format=ndjson` or `csv` exports it.
async fn audit<E: Runtime>(
    service: &Clinical<E>,
    caller: &Caller,
    patient: &str,
    params: &HashMap<String, String>,
) -> Result<Response, Fhir> {
    let patient: Pseudonym = patient.parse().map_err(|_| {
        Outcome::new(
            400,
            IssueType::Value,
            "patient must be a 64-hex-digit pseudonym",
        )
    })?;
    let (_, event) = service
        .access(caller, patient, None, AccessAction::ReadAudit)
        .await?;
    if event.decision == Decision::Deny {
        return Err(Outcome::new(
            403,
            IssueType::Forbidden,
            "only the patient, their custodian and regulators read this audit trail",
        )
        .into());
    }
    let events = service.audit_trail(&patient).await?;
    let total = events.len();
    Ok(audit_answer(
        events,
        total,
        params,
        &format!("/fhir/AuditEvent?patient={patient}"),
        None,
    ))
}

/// Audit events across every patient, newest first: a regulator's
/// oversight. The query is decided by policy and is itself an event.
/// `_count` (default 100, at most 1000) and `_offset` page through it.
async fn audit_log<E: Runtime>(
    service: &Clinical<E>,
    caller: &Caller,
    params: &HashMap<String, String>,
) -> Result<Response, Fhir> {
    let event = service.query_audit(caller).await?;
    if event.decision == Decision::Deny {
        return Err(Outcome::new(
            403,
            IssueType::Forbidden,
            "only regulators read audit events across patients; others name one: /fhir/AuditEvent?patient=<pseudonym>",
        )
        .into());
    }
    let count: u64 = params
        .get("_count")
        .and_then(|c| c.parse().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    let offset: u64 = params
        .get("_offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    // Everything up to the query's own event, which is the newest it sees;
    // or, when paging on, up to where the first page ended. Every query is
    // itself an event, so the end must be fixed or pages would shift.
    let total = params
        .get("_before")
        .and_then(|b| b.parse::<u64>().ok())
        .map_or(event.seq + 1, |before| before.min(event.seq + 1));
    let events = service
        .audit_events(total.saturating_sub(offset), count)
        .await?;
    let format = params
        .get("_format")
        .map(|f| format!("&_format={f}"))
        .unwrap_or_default();
    let page = |offset: u64| {
        format!("/fhir/AuditEvent?_count={count}&_before={total}&_offset={offset}{format}")
    };
    let next = Some(offset.saturating_add(count))
        .filter(|n| *n < total)
        .map(page);
    Ok(audit_answer(
        events,
        total as usize,
        params,
        &page(offset),
        next.as_deref(),
    ))
}

/// Audit events as a searchset Bundle, or exported as NDJSON or CSV.
fn audit_answer(
    events: Vec<AuditEvent>,
    total: usize,
    params: &HashMap<String, String>,
    self_url: &str,
    next_url: Option<&str>,
) -> Response {
    match params.get("_format").map(String::as_str) {
        Some("ndjson") | Some("application/fhir+ndjson") => {
            let mut text = String::new();
            for e in &events {
                text.push_str(&serde_json::to_string(e).unwrap_or_default());
                text.push('\n');
            }
            ([(header::CONTENT_TYPE, "application/x-ndjson")], text).into_response()
        }
        Some("csv") | Some("text/csv") => {
            ([(header::CONTENT_TYPE, "text/csv")], audit_csv(&events)).into_response()
        }
        _ => {
            let entries: Vec<BundleEntry> = events
                .iter()
                .map(|e| {
                    let id = e.seq.to_string();
                    BundleEntry {
                        full_url: format!("AuditEvent/{id}"),
                        resource: fhir_audit_event(e),
                    }
                })
                .collect();
            let bundle =
                custodia_fhir::bundle(BundleKind::Searchset, self_url, next_url, total, entries);
            resource(StatusCode::OK, &bundle)
        }
    }
}

/// The patient's consents as FHIR Consent resources. Consents are chain
/// metadata (who may see what, for which purpose, until when), readable by
/// every member, so reading them is not an audited disclosure.
async fn consents<E: Runtime>(service: &Clinical<E>, patient: &str) -> Result<Response, Fhir> {
    let patient: Pseudonym = patient.parse().map_err(|_| {
        Outcome::new(
            400,
            IssueType::Value,
            "patient must be a 64-hex-digit pseudonym",
        )
    })?;
    let now = super::now_ms();
    let entries: Vec<BundleEntry> = service
        .consents(&patient)
        .await?
        .into_iter()
        .map(|(id, c)| {
            let active = c.revoked_height.is_none() && c.grant.is_active_at(now);
            let (kind, grantee) = match &c.grant.grantee {
                Grantee::Org { org } => ("org", org.to_string()),
                Grantee::Agent { key } => ("key", custodia_types::key_hex(key)),
            };
            let scope: Vec<String> = c.grant.scope.iter().map(ToString::to_string).collect();
            let resource = custodia_fhir::consent(&custodia_fhir::ConsentFacts {
                id: &id,
                patient: &patient.to_hex(),
                active,
                grantee: (kind, &grantee),
                purpose: c.grant.purpose.as_str(),
                scope: &scope,
                start: &rfc3339(c.grant.from_ms),
                end: &rfc3339(c.grant.until_ms.min(i64::MAX as u64)),
            });
            BundleEntry {
                full_url: format!("Consent/{id}"),
                resource,
            }
        })
        .collect();
    let total = entries.len();
    let bundle = custodia_fhir::bundle(
        BundleKind::Searchset,
        &format!("/fhir/Consent?patient={patient}"),
        None,
        total,
        entries,
    );
    Ok(resource(StatusCode::OK, &bundle))
}

fn fhir_audit_event(e: &AuditEvent) -> Value {
    let tx = hex::encode(e.tx);
    let patient = e.patient.map(Pseudonym::to_hex);
    let org = e.org.as_ref().map(|o| o.to_string());
    custodia_fhir::audit_event(&custodia_fhir::AuditFacts {
        id: &e.seq.to_string(),
        recorded: &rfc3339(e.time_ms),
        action: e.action.as_str(),
        permitted: e.decision == Decision::Permit,
        agent: &e.agent,
        org: org.as_deref(),
        patient: patient.as_deref(),
        resource: e.resource.as_deref(),
        purpose: e.purpose.as_str(),
        break_glass: e.break_glass.as_deref(),
        reasons: &e.reasons,
        tx: &tx,
        entry: e.entry,
        height: e.height,
    })
}

fn audit_csv(events: &[AuditEvent]) -> String {
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut out = String::from(
        "seq,time,height,action,decision,agent,org,patient,resource,purpose,break_glass,reasons,tx,entry\n",
    );
    for e in events {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            e.seq,
            rfc3339(e.time_ms),
            e.height,
            e.action,
            if e.decision == Decision::Permit {
                "permit"
            } else {
                "deny"
            },
            e.agent,
            e.org
                .as_ref()
                .map(|o| o.to_string())
                .unwrap_or_else(|| "patient".into()),
            e.patient.map(Pseudonym::to_hex).unwrap_or_default(),
            e.resource.as_deref().unwrap_or(""),
            e.purpose,
            quote(e.break_glass.as_deref().unwrap_or("")),
            quote(&e.reasons.join("; ")),
            hex::encode(e.tx),
            e.entry.map(|i| i.to_string()).unwrap_or_default(),
        ));
    }
    out
}

async fn release<E: Runtime>(
    State(service): State<Shared<E>>,
    Json(request): Json<ReleaseRequest>,
) -> Result<Response, Fhir> {
    if request.resource_type != ResourceType::Binary {
        let released = service.release(request).await?;
        return Ok(Json(released).into_response());
    }
    let file = service.release_file(&request).await?;
    let mut response = Response::new(file.body);
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE.as_str(), file.content_type),
        (WRAPPED_KEY_HEADER, file.wrapped_key),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(file.length));
    Ok(response)
}

impl<E: Runtime> Clinical<E> {
    /// A patient's consents with their ids (the granting transactions).
    async fn consents(&self, patient: &Pseudonym) -> Result<Vec<(String, ConsentEntry)>, Outcome> {
        let ids: Vec<String> = self
            .read(&keys::patient_consents(patient))
            .await?
            .unwrap_or_default();
        let mut consents = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(digest) = custodia_types::hexser::decode_fixed(&id) else {
                continue;
            };
            if let Some(entry) = self.read(&keys::consent(&digest)).await? {
                consents.push((id, entry));
            }
        }
        Ok(consents)
    }

    /// Up to `count` events of the whole log before sequence `end`,
    /// newest first.
    pub(super) async fn audit_events(
        &self,
        end: u64,
        count: u64,
    ) -> Result<Vec<AuditEvent>, Outcome> {
        let mut events = Vec::new();
        for seq in (end.saturating_sub(count)..end).rev() {
            if let Some(event) = self.read(&keys::audit_event(seq)).await? {
                events.push(event);
            }
        }
        Ok(events)
    }

    /// Every audit event about a patient, oldest first.
    pub(super) async fn audit_trail(
        &self,
        patient: &Pseudonym,
    ) -> Result<Vec<AuditEvent>, Outcome> {
        let count = self
            .read_raw(&keys::patient_audit_count(patient))
            .await?
            .and_then(|b| keys::decode_u64(&b))
            .unwrap_or(0);
        let mut events = Vec::with_capacity(count as usize);
        for index in 0..count {
            let Some(seq) = self
                .read_raw(&keys::patient_audit(patient, index))
                .await?
                .and_then(|b| keys::decode_u64(&b))
            else {
                continue;
            };
            if let Some(event) = self.read(&keys::audit_event(seq)).await? {
                events.push(event);
            }
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// One raw HTTP/1.1 GET; the whole answer as text.
    async fn fetch(addr: std::net::SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: node\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
    }

    #[tokio::test]
    async fn a_panicking_fhir_handler_answers_an_operation_outcome_and_serving_goes_on() {
        async fn buggy() -> &'static str {
            panic!("a bug with Patient/123's name in it")
        }
        let app = Router::new()
            .route("/fhir/Patient/{id}", get(buggy))
            .route("/fhir/metadata", get(|| async { "up" }))
            .layer(tower_http::catch_panic::CatchPanicLayer::custom(
                panic_outcome,
            ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });

        let answer = fetch(addr, "/fhir/Patient/123").await;
        assert!(answer.starts_with("HTTP/1.1 500"), "{answer}");
        assert!(
            answer
                .to_ascii_lowercase()
                .contains("content-type: application/fhir+json"),
            "{answer}"
        );
        assert!(
            answer.contains(r#""resourceType":"OperationOutcome""#),
            "{answer}"
        );
        assert!(answer.contains("exception"), "{answer}");
        assert!(
            !answer.contains("a bug with"),
            "the panic's message leaked: {answer}"
        );
        assert!(fetch(addr, "/fhir/metadata").await.ends_with("up"));
        server.abort();
    }
}
