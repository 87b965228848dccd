//! Custodia's HTTP API.
//!
//! [`router`] builds the axum router over any [`Ledger`]. Errors are JSON
//! objects `{"error": "...", "code": "..."}` with a status that says whose
//! fault it was; nothing a client sends can stop the node from serving.

mod error;
pub mod openapi;
mod routes;

pub use error::ApiError;
pub use routes::router;

use serde::Serialize;
use serde_json::Value;
use std::future::Future;

/// Largest request body the API reads (transactions are far smaller; the
/// extra room lets an oversized transaction get a precise error).
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Largest batch of transactions `POST /v1/txs` reads.
pub const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;

/// What the node must answer for the API.
pub trait Ledger: Clone + Send + Sync + 'static {
    fn status(&self) -> impl Future<Output = Value> + Send;
    /// Admit an encoded transaction; its hex id on success.
    fn submit(&self, bytes: bytes::Bytes) -> impl Future<Output = Result<String, ApiError>> + Send;
    /// Admit a framed batch (see `POST /v1/txs`); one result per transaction.
    fn submit_batch(
        &self,
        bytes: bytes::Bytes,
    ) -> impl Future<Output = Result<Vec<Result<String, ApiError>>, ApiError>> + Send;
    fn transaction(&self, id: String) -> impl Future<Output = Result<Value, ApiError>> + Send;
    fn account(&self, key: String) -> impl Future<Output = Result<Value, ApiError>> + Send;
    fn block(&self, height: u64) -> impl Future<Output = Result<Value, ApiError>> + Send;
    fn state(
        &self,
        key: String,
        proof: bool,
    ) -> impl Future<Output = Result<Value, ApiError>> + Send;
    /// Prometheus text exposition.
    fn metrics(&self) -> impl Future<Output = String> + Send;
}

/// A JSON body for a successful answer.
pub fn json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("API views always serialise")
}
