//! The node's clinical service: the FHIR facade's engine. It keeps content
//! in the vault, records hashes and access on the chain (signing with the
//! node's validator key on behalf of the agent or patient it
//! authenticated), and answers reads only once their audit event is final.
//!
//! - `caller`: who is asking (bearer tokens from registered keys).
//! - `records`: write, read, history, search, audit trail.
//! - `pending`: vault content whose transaction is not final yet.
//! - `binary`: large files, streamed through the vault.
//! - `replication`: ciphertexts pushed to every member; erasure followed
//!   on every node.
//! - `release`: a custodian handing a data key to another member's node
//!   for a read the chain permitted.
//! - `routes`: the FHIR REST surface.

mod binary;
mod caller;
mod pending;
mod records;
mod release;
mod replication;
mod routes;

pub use binary::FileLimits;
pub use routes::router;

use crate::{
    auth::now_ms,
    chain::AdmitError,
    engine::{gossip::Gossip, Runtime, SharedChain},
};
use custodia_fhir::{IssueType, Outcome};
use custodia_state::Receipt;
use custodia_types::{Body, Digest, OrgId, PrivateKey};
use custodia_vault::{DiskStore, EncryptionSecret, KeyRing};
use serde::de::DeserializeOwned;
use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Duration};

/// How long a request waits for its transaction to be final.
const FINALITY_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Clinical<E: Runtime> {
    chain: SharedChain<E>,
    gossip: Gossip,
    chain_id: String,
    org: OrgId,
    node_key: PrivateKey,
    objects: DiskStore,
    keyring: KeyRing,
    secret: EncryptionSecret,
    /// Other members' API addresses, for key release.
    peers: HashMap<OrgId, SocketAddr>,
    http: reqwest::Client,
    replicator: replication::Replicator,
    files: FileLimits,
    /// One permit per file transfer in progress.
    transfers: Arc<tokio::sync::Semaphore>,
    finalized_heights: tokio::sync::watch::Receiver<u64>,
}

impl<E: Runtime> Clinical<E> {
    #[allow(clippy::too_many_arguments)]
    pub async fn new(
        chain: SharedChain<E>,
        gossip: Gossip,
        chain_id: String,
        org: OrgId,
        node_key: PrivateKey,
        vault_dir: &std::path::Path,
        secret: EncryptionSecret,
        peers: HashMap<OrgId, SocketAddr>,
        files: FileLimits,
    ) -> Result<Arc<Self>, custodia_vault::VaultError> {
        let finalized_heights = chain.lock().await.finalized_heights();
        let objects = DiskStore::open(vault_dir)?;
        let others = peers
            .iter()
            .filter(|(peer, _)| **peer != org)
            .map(|(_, addr)| *addr)
            .collect();
        let replicator = replication::Replicator::start(others, objects.clone());
        let service = Arc::new(Self {
            chain,
            gossip,
            chain_id,
            org,
            node_key,
            objects,
            keyring: KeyRing::open(vault_dir)?,
            secret,
            peers,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("a plain HTTP client builds"),
            replicator,
            files,
            transfers: Arc::new(tokio::sync::Semaphore::new(files.max_transfers)),
            finalized_heights,
        });
        service.follow_erasures();
        Ok(service)
    }

    /// Sign `body` with the node's key, admit it and gossip it.
    async fn submit(&self, body: Body) -> Result<Digest, Outcome> {
        crate::submit::sign_and_admit(
            &self.chain,
            &self.gossip,
            &self.chain_id,
            &self.node_key,
            body,
        )
        .await
        .map_err(|e| match e {
            AdmitError::Rejected(rejection) => {
                Outcome::new(403, IssueType::Forbidden, rejection.to_string())
            }
            other => unavailable(other),
        })
    }

    /// Wait until transaction `id` is final; its receipt.
    async fn finalized(&self, id: &Digest) -> Result<Receipt, Outcome> {
        crate::submit::wait_final(&self.chain, &self.finalized_heights, id, FINALITY_TIMEOUT)
            .await
            .map_err(|e| match e {
                crate::submit::WaitError::Timeout(_) => finality_timeout(),
                other => unavailable(other),
            })
    }

    /// Submit and wait: the receipt of a node-signed transaction.
    async fn submit_final(&self, body: Body) -> Result<(Digest, Receipt), Outcome> {
        let id = self.submit(body).await?;
        Ok((id, self.finalized(&id).await?))
    }

    /// A committed state record.
    async fn read<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, Outcome> {
        let bytes = self
            .chain
            .lock()
            .await
            .get(key)
            .await
            .map_err(unavailable)?;
        Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    async fn read_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Outcome> {
        self.chain.lock().await.get(key).await.map_err(unavailable)
    }
}

/// Wait, without a limit, until transaction `id` has a receipt.
async fn wait_receipt<E: Runtime>(
    chain: &SharedChain<E>,
    heights: tokio::sync::watch::Receiver<u64>,
    id: &Digest,
) -> Result<Receipt, Outcome> {
    crate::submit::receipt_when_final(chain, heights, id)
        .await
        .map_err(unavailable)
}

fn finality_timeout() -> Outcome {
    Outcome::new(
        504,
        IssueType::Timeout,
        "the chain did not finalize the request in time; is a quorum of validators up?",
    )
}

fn unavailable(error: impl std::fmt::Display) -> Outcome {
    tracing::error!(%error, "clinical service failed");
    Outcome::new(
        503,
        IssueType::Exception,
        "the node could not complete the request; see its log",
    )
}

fn rfc3339(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
