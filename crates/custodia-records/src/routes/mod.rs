//! The FHIR R4 REST facade (`/fhir/...`), the vault's endpoints between
//! members (replicas, key release), and the router that mounts them.

use super::{
    records::Version,
    release::{ReleaseRequest, WRAPPED_KEY_HEADER},
    rfc3339, Clinical,
};
use axum::{
    body::Bytes,
    extract::{rejection::BytesRejection, DefaultBodyLimit, Path, Query, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use custodia_engine::engine::Runtime;
use custodia_fhir::{BundleEntry, BundleKind, IssueType, Outcome};
use custodia_types::{Pseudonym, ResourceType};
use serde_json::Value;
use std::sync::Arc;

/// Largest FHIR resource accepted in one request.
pub const MAX_RESOURCE_BYTES: usize = 1024 * 1024;
/// Largest FHIR transaction Bundle accepted (`POST /fhir`).
pub const MAX_BUNDLE_BYTES: usize = 64 * 1024 * 1024;
const FHIR_JSON: &str = "application/fhir+json";

type Shared<E> = Arc<Clinical<E>>;

mod audit;
mod consent;
mod export;
mod search;

use search::{search, searchset, Params};

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
    // A transaction Bundle of thousands of entries (a hospital's export).
    let bundles = Router::new()
        .route("/fhir", post(transaction::<E>))
        .layer(DefaultBodyLimit::max(MAX_BUNDLE_BYTES))
        .with_state(service.clone());
    Router::new()
        .route("/fhir/metadata", get(metadata::<E>))
        .route("/fhir/{type}", post(create::<E>).get(search::<E>))
        .route(
            "/fhir/{type}/{id}",
            get(read::<E>).put(update::<E>).delete(erase::<E>),
        )
        .route("/fhir/{type}/{id}/_history", get(history::<E>))
        .route("/fhir/Patient/{id}/$everything", get(everything::<E>))
        .route("/fhir/$export", get(export::system::<E>))
        .route("/fhir/Patient/$export", get(export::patients::<E>))
        .route("/fhir/Group/{id}/$export", get(export::group::<E>))
        .route(
            "/fhir/$export-status/{id}",
            get(export::status::<E>).delete(export::delete::<E>),
        )
        .route("/fhir/$export-file/{id}/{type}", get(export::file::<E>))
        .route("/fhir/{type}/{id}/_history/{vid}", get(vread::<E>))
        .route("/v1/vault/release", post(release::<E>))
        .route("/v1/index/search", post(answer_search::<E>))
        .route("/v1/vault/objects", get(vault_count::<E>))
        .route("/v1/vault/objects/{hash}", get(vault_holds::<E>))
        .layer(DefaultBodyLimit::max(MAX_RESOURCE_BYTES))
        .with_state(service)
        .merge(binaries)
        .merge(replicas)
        .merge(bundles)
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
    let replicas = custodia_types::framing::decode_replicas(body)
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
            format!("request body refused: {rejection}; resources are at most {MAX_RESOURCE_BYTES} bytes and transaction Bundles {MAX_BUNDLE_BYTES} (send large files to POST /fhir/Binary as their raw bytes, and point a DocumentReference at the Binary)"),
        )
    })
}

/// The FHIR base URL this request reached, absolute: what links and
/// `fullUrl`s are built on. Behind a proxy, its `X-Forwarded-Proto` and
/// `X-Forwarded-Host` name what clients see.
pub(crate) fn fhir_base(headers: &HeaderMap) -> String {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|h| h.to_str().ok())
            .and_then(|value| value.split(',').next())
            .map(str::trim)
            .filter(|value| !value.is_empty())
    };
    let proto = header("x-forwarded-proto").unwrap_or("http");
    let host = header("x-forwarded-host")
        .or(header(header::HOST.as_str()))
        .unwrap_or("localhost");
    format!("{proto}://{host}/fhir")
}

async fn metadata<E: Runtime>(State(service): State<Shared<E>>, headers: HeaderMap) -> Response {
    let statement = custodia_fhir::capability_statement(
        &fhir_base(&headers),
        env!("CARGO_PKG_VERSION"),
        &rfc3339(service.now_ms()),
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
    let location = format!(
        "{}/{type_name}/{id}/_history/{}",
        fhir_base(&headers),
        version.version
    );
    Ok(version_response(
        StatusCode::CREATED,
        &version,
        Some(location),
    ))
}

/// `POST /fhir`: a `transaction` Bundle (all or nothing) or a `batch`
/// (entry by entry).
async fn transaction<E: Runtime>(
    State(service): State<Shared<E>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Fhir> {
    let body = body_or_outcome(&headers, body)?;
    let caller = service.caller(&headers).await?;
    let bundle = custodia_fhir::parse_json(&body)?;
    // The bundle is held once from here: as parsed JSON, its resources
    // then moved (not copied) into the entries to write.
    drop(body);
    if bundle["resourceType"] == "Bundle" && bundle["type"] == "batch" {
        let entries = match bundle {
            Value::Object(mut bundle) => match bundle.remove("entry") {
                Some(Value::Array(entries)) => entries,
                _ => vec![],
            },
            _ => vec![],
        };
        if entries.len() > crate::records::max_transaction_entries() {
            return Err(Outcome::new(
                413,
                IssueType::TooLong,
                format!(
                    "a batch holds at most {} entries; split it",
                    crate::records::max_transaction_entries()
                ),
            )
            .into());
        }
        let results: Vec<_> = service
            .batch(&caller, entries)
            .await
            .into_iter()
            .map(|result| result.map(|(entry, version)| transaction_result(entry, version)))
            .collect();
        return Ok(resource(
            StatusCode::OK,
            &custodia_fhir::batch_response(&results),
        ));
    }
    let written = service.transaction(&caller, bundle).await?;
    let results: Vec<_> = written
        .into_iter()
        .map(|(entry, version)| transaction_result(entry, version))
        .collect();
    Ok(resource(
        StatusCode::OK,
        &custodia_fhir::transaction_response(&results),
    ))
}

fn transaction_result(
    entry: custodia_fhir::TransactionEntry,
    version: crate::records::Version,
) -> custodia_fhir::TransactionResult {
    custodia_fhir::TransactionResult {
        created: entry.method != custodia_fhir::Method::Matched && version.version == 1,
        location: format!(
            "{}/{}/_history/{}",
            entry.resource.resource_type, entry.id, version.version
        ),
        version: version.version,
        last_modified: crate::rfc3339(version.time_ms),
        // A conditional create that matched: nothing written, nothing
        // read (the match is no audited read of the content).
        resource: (!version.json.is_null()).then_some(version.json),
    }
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
    let location = format!(
        "{}/{type_name}/{id}/_history/{}",
        fhir_base(&headers),
        version.version
    );
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

/// `GET /fhir/Patient/{id}/$everything`: every record of the patient this
/// caller may read, the Patient first, each an audited read.
async fn everything<E: Runtime>(
    State(service): State<Shared<E>>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Result<Response, Fhir> {
    let caller = service.caller(&headers).await?;
    let found = service.everything(&caller, pseudonym(&id)?).await?;
    let path = format!("Patient/{id}/$everything");
    Ok(searchset(&path, found, &params, &headers)?)
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
        &fhir_base(&headers),
        &format!("{type_name}/{id}/_history"),
        None,
        total,
        entries,
    );
    Ok(resource(StatusCode::OK, &bundle))
}

/// A patient named in a query, where a pseudonym is needed as such.
fn pseudonym(patient: &str) -> Result<Pseudonym, Outcome> {
    patient.parse().map_err(|_| {
        Outcome::new(
            400,
            IssueType::Value,
            "patient must be a 64-hex-digit pseudonym",
        )
    })
}

async fn answer_search<E: Runtime>(
    State(service): State<Shared<E>>,
    Json(request): Json<crate::peer_search::PeerSearch>,
) -> Result<Response, Fhir> {
    Ok(Json(service.answer_search(request).await?).into_response())
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    #[test]
    fn links_are_built_on_the_base_the_client_reached() {
        let mut headers = HeaderMap::new();
        assert_eq!(fhir_base(&headers), "http://localhost/fhir");
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8400"));
        assert_eq!(fhir_base(&headers), "http://127.0.0.1:8400/fhir");
        // Behind a TLS-terminating proxy: what the client sees.
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        headers.insert(
            "x-forwarded-host",
            HeaderValue::from_static("fhir.st-mary.example, inner"),
        );
        assert_eq!(fhir_base(&headers), "https://fhir.st-mary.example/fhir");
        let bundle = custodia_fhir::bundle(
            BundleKind::Searchset,
            &fhir_base(&headers),
            "Condition?patient=Patient/p&_offset=0",
            Some("Condition?patient=Patient/p&_offset=20"),
            21,
            vec![BundleEntry {
                full_url: "Condition/c1".into(),
                resource: serde_json::json!({ "resourceType": "Condition" }),
            }],
        );
        assert_eq!(
            bundle["link"][1]["url"],
            "https://fhir.st-mary.example/fhir/Condition?patient=Patient/p&_offset=20"
        );
        assert_eq!(
            bundle["entry"][0]["fullUrl"],
            "https://fhir.st-mary.example/fhir/Condition/c1"
        );
    }

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
