//! The node's clinical service: the FHIR facade's engine. It keeps content
//! in the vault, records hashes and access on the chain (signing with the
//! node's validator key on behalf of the agent or patient it
//! authenticated), and answers reads only once their audit event is final.
//!
//! - `caller`: who is asking (bearer tokens from registered keys).
//! - `records`: write, read, history, search, audit trail.
//! - `index`: the node's private, in-memory search index of what its
//!   organisation holds.
//! - `peer_search`: other members' nodes asked for their matches.
//! - `pending`: vault content whose transaction is not final yet.
//! - `binary`: large files, streamed through the vault.
//! - `replication`: ciphertexts pushed to every member; erasure followed
//!   on every node.
//! - `release`: a custodian handing a data key to another member's node
//!   for a read the chain permitted.
//! - `routes`: the FHIR REST surface.
//! - `domain`: the records as a node plugs them in (`ClinicalDomain`).
//! - `cli`: `custodia fhir`, and the demo's sample records.

mod binary;
mod caller;
mod cli;
mod domain;
mod index;
mod peer_search;
mod pending;
mod records;
mod release;
mod replication;
mod routes;

pub use binary::FileLimits;
pub use custodia_engine::peers::PeerTransport;
pub use domain::{vault_dir, ClinicalDomain};
pub use routes::router;

use custodia_engine::{
    chain::{AdmitError, CommittedState},
    domain::NodeServices,
    engine::Runtime,
    peers::{PeerAnswer, PeerError, PeerNetwork, PeerRequest},
    submit::{Batcher, Receipts, ServiceConfig, Signing, Ticket, Waits},
    time::within,
};
use custodia_fhir::{IssueType, Outcome};
use custodia_state::Receipt;
use custodia_types::{Body, Digest, LogicalId, OrgId, PrivateKey};
use custodia_vault::{DiskStore, EncryptionSecret, KeyRing, OwnKeys};
use serde::de::DeserializeOwned;
use std::{collections::BTreeMap, net::SocketAddr, path::PathBuf, sync::Arc};

/// Where the clinical service keeps content: the node's vault.
pub struct VaultConfig {
    /// The vault's directory (its key ring lives there).
    pub dir: PathBuf,
    /// Where ciphertexts are kept (local disk or an S3 bucket).
    pub objects: DiskStore,
    /// The secret the organisation's private key is kept under.
    pub secret: EncryptionSecret,
    pub files: FileLimits,
}

pub struct Clinical<E: Runtime> {
    /// The node's runtime: the service's clock and tasks (Commonware's
    /// deterministic runtime in simulation). Blocking vault work is not
    /// on it: see [`Clinical::vault`].
    context: E,
    /// Committed state, read without the chain's lock.
    committed: CommittedState<E>,
    /// Signs and admits what the service asks the chain, in batches.
    batcher: Batcher,
    /// Waits for their receipts, all with one read per block.
    receipts: Receipts,
    chain_id: String,
    org: OrgId,
    node_key: PrivateKey,
    objects: DiskStore,
    keyring: KeyRing,
    /// The organisation's key pair and its key-wrapping sessions, shared
    /// with the blocking threads that wrap and unwrap data keys.
    own_keys: Arc<OwnKeys>,
    /// Other members' API addresses, for key release; kept in step with
    /// the membership (`follow_members`).
    peers: std::sync::RwLock<BTreeMap<OrgId, SocketAddr>>,
    /// Calls to their nodes (key release, replicas, searches).
    network: Arc<dyn PeerNetwork>,
    /// File streams to and from their nodes (over HTTP; not simulated).
    streams: PeerTransport,
    /// The client files are released to this node through (one, pooled).
    file_releases: reqwest::Client,
    /// The runtime's randomness (ids, one-time keys), one draw at a time.
    rng: std::sync::Mutex<E>,
    replicator: replication::Replicator<E>,
    files: FileLimits,
    /// One permit per file transfer in progress.
    transfers: Arc<tokio::sync::Semaphore>,
    finalized_heights: tokio::sync::watch::Receiver<u64>,
    waits: Waits,
    /// What this organisation holds is found by (never persisted).
    index: index::SearchIndex,
    /// Whether `index` is rebuilt yet after the start.
    index_state: tokio::sync::watch::Receiver<records::IndexState>,
    /// Bulk Data export jobs and their files (memory only).
    exports: records::Exports,
}

impl<E: Runtime> Clinical<E> {
    pub async fn new(
        node: NodeServices<E>,
        vault: VaultConfig,
    ) -> Result<Arc<Self>, custodia_vault::VaultError> {
        let NodeServices {
            context,
            chain,
            gossip,
            config: service,
            peers: network,
            streams,
            ..
        } = node;
        let ServiceConfig {
            genesis,
            org,
            node_key,
            waits,
        } = service;
        let VaultConfig {
            dir: vault_dir,
            objects,
            secret,
            files,
        } = vault;
        let (finalized_heights, committed) = {
            let chain = chain.lock().await;
            (chain.finalized_heights(), chain.committed())
        };
        let peers = replication::peers_of(&org, genesis.members);
        let replicator = replication::Replicator::start(
            context.child("replication"),
            peers.values().copied().collect(),
            objects.clone(),
            network.clone(),
            streams.clone(),
        );
        let chain_id = genesis.chain_id;
        let batcher = Batcher::start(
            context.child("batcher"),
            Signing {
                chain: chain.clone(),
                gossip,
                chain_id: chain_id.clone(),
                key: node_key.clone(),
            },
        );
        let receipts = Receipts::start(
            context.child("receipts"),
            committed.clone(),
            finalized_heights.clone(),
        );
        let (index_ready, index_state) =
            tokio::sync::watch::channel(records::IndexState::Rebuilding);
        let service = Arc::new(Self {
            rng: std::sync::Mutex::new(context.child("random")),
            context,
            committed,
            batcher,
            receipts,
            chain_id,
            org,
            node_key,
            objects,
            keyring: KeyRing::open(&vault_dir)?,
            own_keys: Arc::new(OwnKeys::new(secret)),
            peers: std::sync::RwLock::new(peers),
            network,
            // A file streams for as long as it takes: only idleness ends it.
            file_releases: streams.client(std::time::Duration::from_secs(24 * 3600)),
            streams,
            replicator,
            files,
            transfers: Arc::new(tokio::sync::Semaphore::new(files.max_transfers)),
            finalized_heights,
            waits,
            index: index::SearchIndex::default(),
            index_state,
            exports: records::Exports::default(),
        });
        service.rebuild_index(index_ready);
        service.follow_erasures();
        service.follow_members();
        Ok(service)
    }

    /// Sign `body` with the node's key (in a batch with whatever else is
    /// asked for at the same moment), admit it and gossip it.
    async fn submit(&self, body: Body) -> Result<Ticket, Outcome> {
        self.batcher.submit(body).await.map_err(|e| match e {
            AdmitError::Rejected(rejection) => {
                Outcome::new(403, IssueType::Forbidden, rejection.to_string())
            }
            other => unavailable(other),
        })
    }

    /// Wait until the action `ticket` names is final; its receipt.
    async fn finalized(&self, ticket: &Ticket) -> Result<Receipt, Outcome> {
        let wait = self.receipts.when_final(ticket);
        match within(&self.context, self.waits.finality, wait).await {
            Some(receipt) => receipt.map_err(unavailable),
            None => Err(finality_timeout()),
        }
    }

    /// Submit and wait: the action's id (its effects are filed under it)
    /// and its receipt.
    async fn submit_final(&self, body: Body) -> Result<(Digest, Receipt), Outcome> {
        let ticket = self.submit(body).await?;
        Ok((ticket.id(), self.finalized(&ticket).await?))
    }

    /// Run vault work (disk syncs, an object store's round trips, key
    /// wrapping) off the async workers (`custodia_engine::blocking`): they
    /// also carry consensus and every other request, and must not wait on
    /// a disk.
    async fn vault<T: Send + 'static>(
        &self,
        work: impl FnOnce(&DiskStore, &KeyRing, &OwnKeys) -> Result<T, Outcome> + Send + 'static,
    ) -> Result<T, Outcome> {
        let (objects, keyring, own_keys) = (
            self.objects.clone(),
            self.keyring.clone(),
            self.own_keys.clone(),
        );
        custodia_engine::blocking::run(move || work(&objects, &keyring, &own_keys))
            .await
            .map_err(unavailable)?
    }

    /// `N` random bytes from the runtime (seeded in simulation).
    fn random<const N: usize>(&self) -> [u8; N] {
        let mut bytes = [0; N];
        self.rng
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .fill_bytes(&mut bytes);
        bytes
    }

    /// A fresh logical id: 128 random bits in hex, unguessable and unique.
    fn new_logical_id(&self) -> LogicalId {
        LogicalId::new(hex::encode(self.random::<16>()))
            .expect("32 hex digits are a valid logical id")
    }

    /// Ask the node whose API is at `peer`, waiting at most `wait` (by
    /// the runtime's clock).
    async fn ask_peer(
        &self,
        peer: SocketAddr,
        request: PeerRequest,
        wait: std::time::Duration,
    ) -> Result<PeerAnswer, PeerError> {
        within(&self.context, wait, self.network.post(peer, request))
            .await
            .unwrap_or(Err(PeerError::TimedOut(wait)))
    }

    /// Milliseconds since the Unix epoch, by the runtime's clock.
    fn now_ms(&self) -> u64 {
        custodia_engine::time::now_ms(&self.context)
    }

    /// Spawn `task` on the service's runtime (it runs on its own).
    fn spawn<F>(&self, label: &'static str, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.context.child(label).spawn(move |_| task);
    }

    /// A committed state record.
    async fn read<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, Outcome> {
        let bytes = self.committed.get(key).await.map_err(unavailable)?;
        Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    async fn read_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Outcome> {
        self.committed.get(key).await.map_err(unavailable)
    }
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
