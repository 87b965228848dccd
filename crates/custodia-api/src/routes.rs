//! Routes and their request handling.

use crate::{openapi, ApiError, Ledger, MAX_REQUEST_BYTES};
use axum::{
    body::Bytes,
    extract::{rejection::BytesRejection, DefaultBodyLimit, Path, Query, State},
    http::{header, StatusCode},
    response::IntoResponse,
    routing::{get, post},
    Json, Router,
};
use serde::Deserialize;
use serde_json::json;

/// The ledger's routes; `/v1/openapi.json` also describes the plugged-in
/// domains' routes (`domain_paths`, OpenAPI path items by path).
pub fn router<L: Ledger>(
    ledger: L,
    domain_paths: &serde_json::Map<String, serde_json::Value>,
) -> Router {
    let openapi = std::sync::Arc::new(openapi::document(domain_paths));
    Router::new()
        .route("/v1/status", get(status::<L>))
        .route("/v1/tx", post(submit::<L>))
        .route(
            "/v1/txs",
            post(submit_batch::<L>).layer(DefaultBodyLimit::max(crate::MAX_BATCH_BYTES)),
        )
        .route("/v1/tx/{id}", get(transaction::<L>))
        .route("/v1/accounts/{key}", get(account::<L>))
        .route("/v1/blocks/{height}", get(block::<L>))
        .route("/v1/state/{*key}", get(state::<L>))
        .route(
            "/v1/openapi.json",
            get(move || async move { Json(openapi.as_ref().clone()) }),
        )
        .route("/metrics", get(metrics::<L>))
        .fallback(|| async {
            ApiError::not_found("no such route; see GET /v1/openapi.json for the API")
        })
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(ledger)
}

async fn status<L: Ledger>(State(ledger): State<L>) -> impl IntoResponse {
    Json(ledger.status().await)
}

async fn submit<L: Ledger>(
    State(ledger): State<L>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let body = body.map_err(|rejection| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("request body refused: {rejection}; a transaction is at most a few KiB"),
        )
    })?;
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "empty",
            "send the encoded signed transaction as the request body",
        ));
    }
    let id = ledger.submit(body).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "id": id, "status": "pending" })),
    ))
}

async fn submit_batch<L: Ledger>(
    State(ledger): State<L>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let body = body.map_err(|rejection| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("request body refused: {rejection}; send at most 8 MiB per batch"),
        )
    })?;
    let results = ledger.submit_batch(body).await?;
    let answers: Vec<_> = results
        .into_iter()
        .map(|result| match result {
            Ok(id) => json!({ "id": id, "status": "pending" }),
            Err(error) => json!({ "error": error.message, "code": error.code }),
        })
        .collect();
    Ok(Json(answers))
}

async fn transaction<L: Ledger>(
    State(ledger): State<L>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(ledger.transaction(id).await?))
}

async fn account<L: Ledger>(
    State(ledger): State<L>,
    Path(key): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(ledger.account(key).await?))
}

async fn block<L: Ledger>(
    State(ledger): State<L>,
    Path(height): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let height: u64 = height.parse().map_err(|_| {
        ApiError::bad_request("bad_height", format!("{height:?} is not a block height"))
    })?;
    Ok(Json(ledger.block(height).await?))
}

#[derive(Deserialize)]
struct StateQuery {
    #[serde(default)]
    proof: bool,
}

async fn state<L: Ledger>(
    State(ledger): State<L>,
    Path(key): Path<String>,
    query: Result<Query<StateQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(query) =
        query.map_err(|e| ApiError::bad_request("bad_query", format!("{e}; use ?proof=true")))?;
    Ok(Json(ledger.state(key, query.proof).await?))
}

async fn metrics<L: Ledger>(State(ledger): State<L>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        ledger.metrics().await,
    )
}
