//! `/v1/supply/...`: verification, traces, recall reports, a pack's events
//! as EPCIS, and EPCIS submission by an organisation's agents.

use super::{AsOf, Supply};
use axum::{
    body::Bytes,
    extract::{rejection::BytesRejection, DefaultBodyLimit, Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::IntoResponse,
    routing::{get, post},
    Json, Router,
};
use custodia_api::ApiError;
use custodia_engine::engine::Runtime;
use custodia_state::{Preloaded, TxStatus};
use custodia_supply::{body::SupplyTx, module::SupplyView};
use custodia_supply::{
    epcis::EpcisDocument,
    gs1::{Gtin, Lgtin, Lot, Serial, Sgtin},
    ledger::{self, keys, SupplyAction, SupplyStore, VerifyRequest},
    model::OrgId as SupplyOrg,
    time::{Date, Timestamp},
};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// Largest EPCIS document read (a transaction carries at most ~7.75 KiB of
/// it; the room lets a larger one get a precise error).
const MAX_EPCIS_BYTES: usize = 256 * 1024;

type Shared<E> = Arc<Supply<E>>;

pub fn router<E: Runtime>(service: Shared<E>) -> Router {
    Router::new()
        .route("/v1/supply/verify/{gtin}/{serial}", get(verify::<E>))
        .route(
            "/v1/supply/packs/{gtin}/{serial}/trace",
            get(pack_trace::<E>),
        )
        .route(
            "/v1/supply/packs/{gtin}/{serial}/epcis",
            get(pack_epcis::<E>),
        )
        .route("/v1/supply/lots/{gtin}/{lot}/trace", get(lot_trace::<E>))
        .route("/v1/supply/lots/{gtin}/{lot}/recall", get(lot_recall::<E>))
        .route("/v1/supply/epcis", post(submit_epcis::<E>))
        .layer(DefaultBodyLimit::max(MAX_EPCIS_BYTES))
        .with_state(service)
}

fn sgtin(gtin: &str, serial: &str) -> Result<Sgtin, ApiError> {
    let gtin = Gtin::parse(gtin).map_err(|e| ApiError::bad_request("bad_gtin", e.to_string()))?;
    let serial =
        Serial::parse(serial).map_err(|e| ApiError::bad_request("bad_serial", e.to_string()))?;
    Ok(Sgtin::new(gtin, serial))
}

fn lgtin(gtin: &str, lot: &str) -> Result<Lgtin, ApiError> {
    let gtin = Gtin::parse(gtin).map_err(|e| ApiError::bad_request("bad_gtin", e.to_string()))?;
    let lot = Lot::parse(lot).map_err(|e| ApiError::bad_request("bad_lot", e.to_string()))?;
    Ok(Lgtin::new(gtin, lot))
}

/// An answer with the finalized block it reflects.
fn answer(mut body: Value, as_of: AsOf) -> Json<Value> {
    if let Value::Object(map) = &mut body {
        map.insert(
            "as_of".into(),
            json!({ "height": as_of.height, "time_ms": as_of.time_ms }),
        );
    }
    Json(body)
}

fn no_hint(_: &SupplyView<'_, Preloaded>) -> Vec<Vec<u8>> {
    Vec::new()
}

/// Once a lot's record is known, load all its packs (and their signals and
/// containers' parents come round by round).
fn lot_hint(lot: Lgtin) -> impl Fn(&SupplyView<'_, Preloaded>) -> Vec<Vec<u8>> {
    move |view| match view.lot(&lot) {
        Ok(Some(record)) => record
            .serials
            .iter()
            .flat_map(|s| {
                let sgtin = Sgtin::new(lot.gtin.clone(), s.clone());
                [keys::pack(&sgtin), keys::signals(&sgtin)]
            })
            .chain([keys::product(&lot.gtin)])
            .collect(),
        _ => Vec::new(),
    }
}

#[derive(Deserialize)]
struct VerifyQuery {
    /// The lot printed on the pack.
    lot: Option<String>,
    /// The expiry printed on the pack (YYYY-MM-DD).
    expiry: Option<String>,
    /// The organisation about to dispense: custody is checked against it.
    asked_by: Option<String>,
}

async fn verify<E: Runtime>(
    State(service): State<Shared<E>>,
    Path((gtin, serial)): Path<(String, String)>,
    query: Result<Query<VerifyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(query) = query.map_err(|e| {
        ApiError::bad_request(
            "bad_query",
            format!("{e}; use ?lot=…&expiry=YYYY-MM-DD&asked_by=org-id"),
        )
    })?;
    let sgtin = sgtin(&gtin, &serial)?;
    let label_lot = query
        .lot
        .as_deref()
        .map(Lot::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request("bad_lot", e.to_string()))?;
    let label_expiry = query
        .expiry
        .as_deref()
        .map(Date::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request("bad_expiry", e))?;
    let asked_by = query
        .asked_by
        .as_deref()
        .map(SupplyOrg::new)
        .transpose()
        .map_err(|e| ApiError::bad_request("bad_org", e))?;
    let (verification, as_of) = service
        .query(no_hint, |view, as_of| {
            // "Now" is the block time, so every node at this height answers alike.
            let request = VerifyRequest {
                sgtin: sgtin.clone(),
                now_ms: as_of.time_ms,
                asked_by: asked_by.clone(),
                label_lot: label_lot.clone(),
                label_expiry,
            };
            ledger::verify(view, &request)
        })
        .await?;
    Ok(answer(custodia_api::json(&verification), as_of))
}

async fn pack_trace<E: Runtime>(
    State(service): State<Shared<E>>,
    Path((gtin, serial)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let sgtin = sgtin(&gtin, &serial)?;
    let (trace, as_of) = service
        .query(no_hint, |view, _| ledger::trace_pack(view, &sgtin))
        .await?;
    Ok(answer(custodia_api::json(&trace), as_of))
}

async fn pack_epcis<E: Runtime>(
    State(service): State<Shared<E>>,
    Path((gtin, serial)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let sgtin = sgtin(&gtin, &serial)?;
    let (events, as_of) = service
        .query(no_hint, |view, _| ledger::pack_events(view, &sgtin))
        .await?;
    let created = i64::try_from(as_of.time_ms)
        .ok()
        .and_then(Timestamp::from_ms)
        .ok_or_else(|| ApiError::unavailable("the chain's block time is out of range"))?;
    // Standard EPCIS only: the height is in a header, not in the document.
    let document = EpcisDocument::new(events, &created).to_json();
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/ld+json".to_string(),
            ),
            (
                axum::http::HeaderName::from_static("x-custodia-height"),
                as_of.height.to_string(),
            ),
        ],
        Json(document),
    ))
}

async fn lot_trace<E: Runtime>(
    State(service): State<Shared<E>>,
    Path((gtin, lot)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let lot = lgtin(&gtin, &lot)?;
    let (trace, as_of) = service
        .query(lot_hint(lot.clone()), |view, _| {
            ledger::trace_lot(view, &lot)
        })
        .await?;
    Ok(answer(custodia_api::json(&trace), as_of))
}

async fn lot_recall<E: Runtime>(
    State(service): State<Shared<E>>,
    Path((gtin, lot)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let lot = lgtin(&gtin, &lot)?;
    let (report, as_of) = service
        .query(lot_hint(lot.clone()), |view, _| {
            ledger::recall_report(view, &lot)
        })
        .await?;
    Ok(answer(custodia_api::json(&report), as_of))
}

/// `POST /v1/supply/epcis`: an EPCIS 2.0 JSON document, applied as one
/// transaction (all events or none) signed by this node on behalf of the
/// caller (an agent or the admin of the node's organisation).
async fn submit_epcis<E: Runtime>(
    State(service): State<Shared<E>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let agent = service.caller(&headers).await?;
    let body = body.map_err(|rejection| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "request body refused: {rejection}; one EPCIS document per transaction carries at \
                 most {} bytes of events",
                custodia_supply::body::MAX_SUPPLY_JSON_BYTES
            ),
        )
    })?;
    let document = EpcisDocument::parse(&body).map_err(|e| {
        ApiError::bad_request(
            "bad_epcis",
            format!("not a valid EPCIS 2.0 JSON document: {e}"),
        )
    })?;
    let count = document.events.len();
    let action = SupplyAction::Epcis {
        events: document.events,
    };
    let supply = SupplyTx::on_behalf_of(agent, action)
        .map_err(|e| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string()))?;
    let (id, receipt) = service.submit_final(supply.into_body()).await?;
    match receipt.status {
        TxStatus::Applied => Ok((
            StatusCode::CREATED,
            Json(json!({
                "id": id.to_string(),
                "status": "finalized",
                "height": receipt.height,
                "events": count,
            })),
        )),
        TxStatus::Rejected { reason } => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "rejected",
            format!("transaction {id} was refused by the chain: {reason}"),
        )),
    }
}
