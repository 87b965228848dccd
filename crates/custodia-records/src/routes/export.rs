//! HL7 FHIR Bulk Data export: `GET /fhir/$export`, `/fhir/Patient/$export`
//! and `/fhir/Group/{id}/$export` (with `Prefer: respond-async`) answer 202
//! and a status URL; polling it answers 202 with `X-Progress` until the
//! manifest (200) lists one NDJSON file a type; `DELETE` forgets the job.
//! Only the caller who started an export sees it.

use super::{fhir_base, resource, search::Params, Fhir, Shared};
use crate::records::{ExportRequest, ExportScope, ExportStatus};
use axum::{
    extract::{OriginalUri, Path, Query, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use custodia_engine::engine::Runtime;
use custodia_fhir::{IssueType, Outcome};
use custodia_types::{LogicalId, ResourceType};
use serde_json::json;

const NDJSON: &str = "application/fhir+ndjson";

pub(super) async fn system<E: Runtime>(
    state: State<Shared<E>>,
    uri: OriginalUri,
    params: Query<Params>,
    headers: HeaderMap,
) -> Result<Response, Fhir> {
    kick_off(state, uri, params, headers, ExportScope::System).await
}

pub(super) async fn patients<E: Runtime>(
    state: State<Shared<E>>,
    uri: OriginalUri,
    params: Query<Params>,
    headers: HeaderMap,
) -> Result<Response, Fhir> {
    kick_off(state, uri, params, headers, ExportScope::Patients).await
}

pub(super) async fn group<E: Runtime>(
    state: State<Shared<E>>,
    Path(id): Path<String>,
    uri: OriginalUri,
    params: Query<Params>,
    headers: HeaderMap,
) -> Result<Response, Fhir> {
    let id = LogicalId::new(id).map_err(|e| Outcome::new(400, IssueType::Value, e.to_string()))?;
    kick_off(state, uri, params, headers, ExportScope::Group(id)).await
}

async fn kick_off<E: Runtime>(
    State(service): State<Shared<E>>,
    OriginalUri(uri): OriginalUri,
    Query(params): Query<Params>,
    headers: HeaderMap,
    scope: ExportScope,
) -> Result<Response, Fhir> {
    let caller = service.caller(&headers).await?;
    let asynchronous = headers
        .get("prefer")
        .and_then(|p| p.to_str().ok())
        .is_some_and(|p| p.split(',').any(|p| p.trim() == "respond-async"));
    if !asynchronous {
        return Err(bad("a bulk export runs in the background: send Prefer: respond-async, then poll the Content-Location it answers").into());
    }
    let mut request = ExportRequest {
        scope,
        types: Vec::new(),
        since: None,
        url: format!(
            "{}{}",
            fhir_base(&headers).trim_end_matches("/fhir"),
            uri.path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/fhir/$export")
        ),
    };
    for (name, value) in &params {
        match name.as_str() {
            "_type" => {
                for t in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                    let resource_type: ResourceType = t
                        .parse()
                        .map_err(|_| bad(format!("_type={t}: not an R4 resource type")))?;
                    request.types.push(resource_type);
                }
            }
            "_since" => {
                if custodia_fhir::search::DateRange::parse(value).is_none() {
                    return Err(bad(format!(
                        "_since={value:?}: an instant such as 2026-12-01T00:00:00Z"
                    ))
                    .into());
                }
                request.since = Some(value.clone());
            }
            "_outputFormat" => {
                if !matches!(
                    value.as_str(),
                    "application/fhir+ndjson" | "application/ndjson" | "ndjson"
                ) {
                    return Err(bad(format!(
                        "_outputFormat={value}: only application/fhir+ndjson"
                    ))
                    .into());
                }
            }
            other => {
                return Err(Outcome::new(
                    400,
                    IssueType::NotSupported,
                    format!("{other}: an export takes _type, _since and _outputFormat"),
                )
                .into())
            }
        }
    }
    let id = service.start_export(caller, request)?;
    let mut response = StatusCode::ACCEPTED.into_response();
    let status = format!("{}/$export-status/{id}", fhir_base(&headers));
    if let Ok(status) = HeaderValue::from_str(&status) {
        response
            .headers_mut()
            .insert(header::CONTENT_LOCATION, status);
    }
    Ok(response)
}

fn bad(diagnostics: impl Into<String>) -> Outcome {
    Outcome::new(400, IssueType::Value, diagnostics)
}

/// `GET /fhir/$export-status/{id}`.
pub(super) async fn status<E: Runtime>(
    State(service): State<Shared<E>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Fhir> {
    let caller = service.caller(&headers).await?;
    match service.export_status(&caller, &id)? {
        ExportStatus::Running { types_done, types } => {
            let mut response = StatusCode::ACCEPTED.into_response();
            let progress = format!("{types_done} of {types} types read");
            for (name, value) in [("x-progress", progress.as_str()), ("retry-after", "1")] {
                if let Ok(value) = HeaderValue::from_str(value) {
                    response.headers_mut().insert(name, value);
                }
            }
            Ok(response)
        }
        ExportStatus::Failed(outcome) => Err(outcome.into()),
        ExportStatus::Complete(exported) => {
            let base = fhir_base(&headers);
            let output: Vec<_> = exported
                .files
                .iter()
                .map(|file| {
                    json!({
                        "type": file.resource_type.as_str(),
                        "url": format!("{base}/$export-file/{id}/{}", file.resource_type),
                        "count": file.count,
                    })
                })
                .collect();
            // Members whose nodes did not answer: one OperationOutcome file
            // names them all.
            let error: Vec<_> = (!exported.unreachable.is_empty())
                .then(|| {
                    json!({
                        "type": "OperationOutcome",
                        "url": format!("{base}/$export-file/{id}/OperationOutcome"),
                    })
                })
                .into_iter()
                .collect();
            let manifest = json!({
                "transactionTime": crate::rfc3339(exported.began_ms),
                "request": exported.url,
                "requiresAccessToken": true,
                "output": output,
                "error": error,
            });
            Ok(resource(StatusCode::OK, &manifest))
        }
    }
}

/// `DELETE /fhir/$export-status/{id}`.
pub(super) async fn delete<E: Runtime>(
    State(service): State<Shared<E>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Fhir> {
    let caller = service.caller(&headers).await?;
    service.delete_export(&caller, &id)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `GET /fhir/$export-file/{id}/{type}`: one type's NDJSON; for
/// `OperationOutcome`, which members' records are missing.
pub(super) async fn file<E: Runtime>(
    State(service): State<Shared<E>>,
    Path((id, resource_type)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Fhir> {
    let caller = service.caller(&headers).await?;
    let body = match resource_type.as_str() {
        "OperationOutcome" => {
            let ExportStatus::Complete(exported) = service.export_status(&caller, &id)? else {
                return Err(
                    Outcome::new(404, IssueType::NotFound, "this export is not finished").into(),
                );
            };
            let mut lines = String::new();
            for org in &exported.unreachable {
                let outcome = json!({
                    "resourceType": "OperationOutcome",
                    "issue": [{
                        "severity": "error",
                        "code": "incomplete",
                        "diagnostics": format!("the node of {org} did not answer: its records are missing from this export")
                    }]
                });
                lines.push_str(&outcome.to_string());
                lines.push('\n');
            }
            bytes::Bytes::from(lines)
        }
        _ => service.export_file(&caller, &id, &resource_type)?,
    };
    Ok(([(header::CONTENT_TYPE, NDJSON)], body).into_response())
}
