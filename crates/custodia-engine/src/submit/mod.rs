//! Transactions a node signs with its own validator key on behalf of a
//! caller it authenticated (clinical writes and reads, supply events): sign,
//! admit, gossip, and wait until the receipt is committed.
//!
//! Shared by the node's services so that every one of them waits for
//! finality the same way: only a committed receipt counts. `batcher` puts
//! actions asked for at about the same time under one signature;
//! `receipts` waits for all of a service's receipts with one read a block.

mod batcher;
mod receipts;

pub use batcher::{Batcher, Signing};
pub use receipts::Receipts;

use crate::{
    chain::AdmitError,
    engine::{gossip::Gossip, Runtime, SharedChain},
    mempool::MempoolError,
};
use axum::http::StatusCode;
use custodia_api::ApiError;
use custodia_state::{keys, Receipt, Rejection};
use custodia_store::StoreError;
use custodia_types::{entry_id, Body, Digest, Genesis, OrgId, PrivateKey, TxPayload};
use std::time::Duration;

/// What every service of a node is told about it (one struct, from the
/// node's home and `config.toml`).
#[derive(Clone)]
pub struct ServiceConfig {
    pub genesis: Genesis,
    /// The member organisation this node is.
    pub org: OrgId,
    /// The node's validator key: it signs what the service submits.
    pub node_key: PrivateKey,
    pub waits: Waits,
}

/// How long the node's services wait (`config.toml`: `finality_timeout_ms`,
/// `decision_wait_ms`, `peer_timeout_ms`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waits {
    /// A request, for its transaction to be final (then 504).
    pub finality: Duration,
    /// A custodian, for the chain to show it an access decision another
    /// member's node already saw final (then the key is not released).
    pub decision: Duration,
    /// A call to another member's node (key release), files aside.
    pub peer: Duration,
}

/// Why a node-signed transaction has no receipt.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("transaction {0} was not final in time")]
    Timeout(Digest),
    #[error("the chain stopped")]
    Stopped,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("batch {tx} has no entry {index}")]
    NoEntry { tx: Digest, index: u32 },
    #[error("receipt of {id} is not readable: {error}")]
    BadReceipt { id: Digest, error: String },
    #[error("the chain's state could not be read: {0}")]
    Unreadable(String),
}

/// Where a node-signed action landed: a transaction of its own, or entry
/// `entry` of a batch transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket {
    pub tx: Digest,
    pub entry: Option<u32>,
}

impl Ticket {
    pub fn single(tx: Digest) -> Self {
        Self { tx, entry: None }
    }

    pub fn entry(tx: Digest, index: u32) -> Self {
        Self {
            tx,
            entry: Some(index),
        }
    }

    /// The action's own id: what the chain files its effects (its audit
    /// event) under.
    pub fn id(&self) -> Digest {
        match self.entry {
            None => self.tx,
            Some(index) => entry_id(&self.tx, index),
        }
    }
}

/// Signs `body` with `key` at the signer's next nonce, admits the bytes
/// (exactly what peers will decode, not the struct) and gossips them.
pub async fn sign_and_admit<E: Runtime>(
    chain: &SharedChain<E>,
    gossip: &Gossip,
    chain_id: &str,
    key: &PrivateKey,
    body: Body,
) -> Result<Digest, AdmitError> {
    use commonware_cryptography::Signer as _;
    let signer = key.public_key();
    let mut chain = chain.lock().await;
    let nonce = chain.next_nonce(&signer).await?;
    let bytes = TxPayload {
        chain_id: chain_id.to_string(),
        signer,
        nonce,
        body,
    }
    .sign(key)
    .to_bytes();
    let id = chain.admit(&bytes).await?;
    drop(chain);
    gossip.publish(bytes);
    Ok(id)
}

/// Waits until transaction `id`'s receipt is committed, for at most
/// `timeout` on `clock`.
pub async fn wait_final<E: Runtime>(
    clock: &E,
    chain: &SharedChain<E>,
    finalized_heights: &tokio::sync::watch::Receiver<u64>,
    id: &Digest,
    timeout: Duration,
) -> Result<Receipt, WaitError> {
    let wait = receipt_when_final(chain, finalized_heights.clone(), id);
    crate::time::within(clock, timeout, wait)
        .await
        .unwrap_or(Err(WaitError::Timeout(*id)))
}

/// Waits, for as long as it takes, until transaction `id`'s receipt is
/// committed.
pub async fn receipt_when_final<E: Runtime>(
    chain: &SharedChain<E>,
    mut heights: tokio::sync::watch::Receiver<u64>,
    id: &Digest,
) -> Result<Receipt, WaitError> {
    loop {
        // Marked seen before reading: a block finalized after the read
        // wakes the wait below.
        heights.borrow_and_update();
        let receipt = chain.lock().await.get(&keys::receipt(id)).await?;
        if let Some(bytes) = receipt {
            return serde_json::from_slice(&bytes).map_err(|error| WaitError::BadReceipt {
                id: *id,
                error: error.to_string(),
            });
        }
        if heights.changed().await.is_err() {
            return Err(WaitError::Stopped);
        }
    }
}

/// The one mapping of an admission refusal to the API's answer: its HTTP
/// status and a code a client can act on.
pub fn admit_error(error: AdmitError) -> ApiError {
    let message = error.to_string();
    let (status, code) = match &error {
        AdmitError::Decode(custodia_types::TxDecodeError::TooLarge { .. }) => {
            (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
        }
        AdmitError::Decode(_) => (StatusCode::BAD_REQUEST, "malformed"),
        AdmitError::Rejected(rejection) => match rejection {
            Rejection::WrongChainId { .. } => (StatusCode::BAD_REQUEST, "wrong_chain_id"),
            Rejection::BadSignature => (StatusCode::UNAUTHORIZED, "bad_signature"),
            Rejection::UnknownSigner(_) => (StatusCode::FORBIDDEN, "unknown_signer"),
            Rejection::RevokedSigner(_) => (StatusCode::FORBIDDEN, "revoked_signer"),
            Rejection::NonceReplayed { .. } => (StatusCode::CONFLICT, "nonce_replayed"),
            Rejection::NonceGap { .. } => (StatusCode::CONFLICT, "nonce_gap"),
            Rejection::NotMemberAdmin(_)
            | Rejection::NotRecordAuthor(_)
            | Rejection::NotAllowed(_) => (StatusCode::FORBIDDEN, "unauthorized"),
            _ => (StatusCode::UNPROCESSABLE_ENTITY, "rejected"),
        },
        AdmitError::Mempool(MempoolError::Full(_)) => {
            (StatusCode::SERVICE_UNAVAILABLE, "mempool_full")
        }
        AdmitError::Mempool(MempoolError::Duplicate) => (StatusCode::CONFLICT, "duplicate"),
        AdmitError::Mempool(MempoolError::NonceTaken(_)) => {
            (StatusCode::CONFLICT, "nonce_replayed")
        }
        AdmitError::Store(_) => return store_error(error),
        AdmitError::Stopped => (StatusCode::SERVICE_UNAVAILABLE, "stopping"),
    };
    ApiError::new(status, code, message)
}

/// A state store failure, logged here and answered as unavailable (the
/// message names no data).
pub fn store_error(error: impl std::fmt::Display) -> ApiError {
    tracing::error!(%error, "state store error while answering the API");
    ApiError::unavailable("the node's state store failed; see the node log")
}
