//! Custodia's authenticated state store.

mod db;
mod proof;
mod store;

pub use db::{operation_file, state_key, StateDb, StateKey, CACHE_PAGE_BYTES, DEFAULT_CACHE_PAGES};
pub use proof::{ProofError, StateProof};
pub use store::{Batch, Executed, StateStore, StoreError};
