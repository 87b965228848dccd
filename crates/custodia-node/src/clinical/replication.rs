//! Ciphertext replication between the members' vaults, and erasure
//! everywhere. Once a version is final, its custodian pushes the
//! ciphertext to every other member's node, which keeps it only if its own
//! copy of the chain records exactly that hash: the vaults hold the
//! consortium's content, not just the custodian's disk. Keys are not
//! replicated: a replica is unreadable until the chain permits a read and
//! the custodian releases the key. Every node follows the chain's erasure
//! log (`erased/{seq}`) and deletes what it holds of each erased resource.
//! Files (`Binary`) are pushed as streams, one at a time per peer, in flat
//! memory; a permitted reader's node still streams them from their
//! custodian, which releases the key with the ciphertext.

use super::{unavailable, Clinical};
use crate::engine::Runtime;
use bytes::Bytes;
use custodia_fhir::{IssueType, Outcome};
use custodia_state::{
    keys,
    records::{RecordEntry, RecordHead},
};
use custodia_types::{LogicalId, ResourceType};
use custodia_vault::DiskStore;
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tokio::sync::mpsc;

/// Attempts to hand a replica to a peer whose chain lags by a block or so.
const PUSH_ATTEMPTS: u32 = 20;
const PUSH_RETRY: Duration = Duration::from_millis(250);

/// Which version a replica is.
#[derive(Clone)]
pub(super) struct ReplicaOf {
    pub resource_type: ResourceType,
    pub id: LogicalId,
    pub version: u64,
    pub ciphertext: [u8; 32],
}

impl ReplicaOf {
    fn path(&self) -> String {
        format!(
            "/v1/vault/replica/{}/{}/{}",
            self.resource_type, self.id, self.version
        )
    }
}

/// Versions waiting to be pushed to one peer. Bounded: a peer that is down
/// or slow must not make the writer's node hold an ever-growing backlog;
/// what does not fit is dropped (logged), and the peer fetches that
/// ciphertext from the custodian on its first read.
const QUEUE_PER_PEER: usize = 4096;
/// One push may take this long before the peer counts as unreachable.
const PUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// One queue and one worker per peer, so a slow peer delays only itself.
pub(super) struct Replicator {
    queues: Vec<(SocketAddr, mpsc::Sender<ReplicaOf>)>,
}

impl Replicator {
    /// Start a worker for each of `peers`; must run inside the runtime.
    pub(super) fn start(peers: Vec<SocketAddr>, objects: DiskStore) -> Self {
        let http = reqwest::Client::builder()
            .timeout(PUSH_TIMEOUT)
            .build()
            .expect("a plain HTTP client builds");
        let queues = peers
            .into_iter()
            .map(|peer| {
                let (sender, receiver) = mpsc::channel(QUEUE_PER_PEER);
                tokio::spawn(push_to(peer, receiver, http.clone(), objects.clone()));
                (peer, sender)
            })
            .collect();
        Self { queues }
    }

    /// Queue final versions for every peer; the writer's answer does not
    /// wait for them.
    pub(super) fn push(&self, versions: &[ReplicaOf]) {
        for (peer, queue) in &self.queues {
            for version in versions {
                if queue.try_send(version.clone()).is_err() {
                    tracing::warn!(peer = %peer, "replica queue full; the member will fetch that version on first read");
                }
            }
        }
    }
}

impl<E: Runtime> Clinical<E> {
    /// `POST /v1/vault/replica/{type}/{id}/{version}`: keep another
    /// member's ciphertext if this node's chain records exactly its hash.
    pub(super) async fn accept_replica(
        &self,
        resource_type: ResourceType,
        id: &LogicalId,
        version: u64,
        ciphertext: &[u8],
    ) -> Result<(), Outcome> {
        let hash: [u8; 32] = self
            .replica_entry(resource_type, id, version)
            .await?
            .ciphertext
            .into();
        self.objects
            .put_replica(&hash, ciphertext)
            .map_err(|e| Outcome::new(422, IssueType::Invalid, e.to_string()))?;
        self.unless_erased_meanwhile(resource_type, id, &hash).await
    }

    /// What this node's chain records of the version a replica is of (its
    /// ciphertext hash is the replica's address). 410 if the resource was
    /// erased, 409 if the version is not final here yet.
    pub(super) async fn replica_entry(
        &self,
        resource_type: ResourceType,
        id: &LogicalId,
        version: u64,
    ) -> Result<RecordEntry, Outcome> {
        let name = format!("{resource_type}/{id}");
        let head: Option<RecordHead> = self.read(&keys::record_head(resource_type, id)).await?;
        if head.as_ref().is_some_and(|h| h.erased_height.is_some()) {
            return Err(Outcome::new(
                410,
                IssueType::Deleted,
                format!("{name} was erased"),
            ));
        }
        self.read(&keys::record_version(resource_type, id, version))
            .await?
            .ok_or_else(|| {
                Outcome::new(
                    409,
                    IssueType::NotFound,
                    format!("{name} version {version} is not final on this node yet; retry"),
                )
            })
    }

    /// After a replica is written: an erasure may have become final, and
    /// been followed, while the copy was written. Look again, or the copy
    /// outlives the erasure.
    pub(super) async fn unless_erased_meanwhile(
        &self,
        resource_type: ResourceType,
        id: &LogicalId,
        hash: &[u8; 32],
    ) -> Result<(), Outcome> {
        let head: Option<RecordHead> = self.read(&keys::record_head(resource_type, id)).await?;
        if head.is_some_and(|h| h.erased_height.is_some()) {
            self.objects.delete(hash).map_err(unavailable)?;
            return Err(Outcome::new(
                410,
                IssueType::Deleted,
                format!("{resource_type}/{id} was erased"),
            ));
        }
        Ok(())
    }

    /// Follow the chain's erasure log for as long as the node runs,
    /// deleting local keys and replicas of every erased resource (from the
    /// start of the log at each start: deleting twice is harmless).
    pub(super) fn follow_erasures(self: &Arc<Self>) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut heights = this.finalized_heights.clone();
            let mut done = 0u64;
            loop {
                heights.borrow_and_update();
                match this.forget_erased_since(done).await {
                    Ok(count) => done = count,
                    Err(outcome) => tracing::warn!(?outcome, "following erasures failed"),
                }
                if heights.changed().await.is_err() {
                    return;
                }
            }
        });
    }

    /// Forget every resource erased from log position `from` on; the log's
    /// length.
    async fn forget_erased_since(&self, from: u64) -> Result<u64, Outcome> {
        let count = self
            .read_raw(keys::ERASED_COUNT)
            .await?
            .and_then(|b| keys::decode_u64(&b))
            .unwrap_or(0);
        for seq in from..count {
            let Some(name) = self.read::<String>(&keys::erased(seq)).await? else {
                continue;
            };
            let Some((type_name, id)) = name.split_once('/') else {
                continue;
            };
            let (Ok(resource_type), Ok(id)) =
                (type_name.parse::<ResourceType>(), LogicalId::new(id))
            else {
                continue;
            };
            let head: Option<RecordHead> =
                self.read(&keys::record_head(resource_type, &id)).await?;
            if let Some(head) = head {
                self.forget(resource_type, &id, head.version).await?;
            }
        }
        Ok(count)
    }
}

/// A peer's worker: pushes each queued version in order until the node stops.
async fn push_to(
    peer: SocketAddr,
    mut queue: mpsc::Receiver<ReplicaOf>,
    http: reqwest::Client,
    objects: DiskStore,
) {
    while let Some(version) = queue.recv().await {
        if version.resource_type == ResourceType::Binary {
            let objects = objects.clone();
            let pushed = tokio::task::spawn_blocking(move || push_file(peer, &version, &objects));
            if let Ok(Err(problem)) = pushed.await {
                tracing::warn!(peer = %peer, %problem, "a member did not take a file replica; it streams the file from its custodian when read");
            }
            continue;
        }
        // Read per peer: the page cache makes the repeats cheap, and the
        // queues then hold names, not ciphertexts.
        let Ok(Some(ciphertext)) = objects.get(&version.ciphertext) else {
            continue;
        };
        push(&http, peer, &version, Bytes::from(ciphertext)).await;
    }
}

/// The least rate a file replica must move at before its push is given
/// up (a peer that stops reading must not hold a thread forever).
const MIN_FILE_BYTES_PER_SEC: u64 = 1 << 20;

/// Stream a file's ciphertext to `peer` from the vault, in flat memory,
/// unless the peer already holds it. Runs on a blocking thread.
fn push_file(peer: SocketAddr, version: &ReplicaOf, objects: &DiskStore) -> Result<(), String> {
    let len = objects
        .len(&version.ciphertext)
        .map_err(|e| e.to_string())?
        .ok_or("the file is no longer in this vault")?;
    let http = reqwest::blocking::Client::builder()
        .connect_timeout(PUSH_TIMEOUT)
        .timeout(PUSH_TIMEOUT + Duration::from_secs(len / MIN_FILE_BYTES_PER_SEC))
        .build()
        .map_err(|e| e.to_string())?;
    let answers = |url: &str| http.get(url).send().ok().map(|r| r.status().as_u16());
    let held = format!(
        "http://{peer}/v1/vault/objects/{}",
        hex::encode(version.ciphertext)
    );
    if answers(&held) == Some(204) {
        return Ok(());
    }
    // A peer refuses a version its chain does not have yet before reading
    // the body, which breaks the upload off: wait until it has it.
    let final_there = format!(
        "http://{peer}/v1/state/rec/{}/{}/_history/{}",
        version.resource_type, version.id, version.version
    );
    for _ in 0..PUSH_ATTEMPTS {
        if answers(&final_there) == Some(200) {
            break;
        }
        std::thread::sleep(PUSH_RETRY);
    }
    let url = format!("http://{peer}{}", version.path());
    for _ in 0..PUSH_ATTEMPTS {
        let reader = objects
            .reader(&version.ciphertext)
            .map_err(|e| e.to_string())?
            .ok_or("the file is no longer in this vault")?;
        let sent = http
            .post(&url)
            .header("content-type", "application/octet-stream")
            .body(reqwest::blocking::Body::sized(reader, len))
            .send()
            .map_err(|e| e.to_string())?;
        match sent.status().as_u16() {
            204 | 410 => return Ok(()),
            // Not final there yet: try again shortly.
            409 => std::thread::sleep(PUSH_RETRY),
            status => return Err(format!("it answered {status}")),
        }
    }
    Err("its chain stayed behind".into())
}

async fn push(http: &reqwest::Client, peer: SocketAddr, version: &ReplicaOf, ciphertext: Bytes) {
    let url = format!("http://{peer}{}", version.path());
    for _ in 0..PUSH_ATTEMPTS {
        let sent = http
            .post(&url)
            .header("content-type", "application/octet-stream")
            .body(ciphertext.clone())
            .send()
            .await;
        match sent.map(|r| r.status().as_u16()) {
            Ok(204) | Ok(410) => return,
            // Not final there yet: try again shortly.
            Ok(409) => tokio::time::sleep(PUSH_RETRY).await,
            // Down or too slow: give up on this version rather than stall
            // the queue behind it.
            Err(error) => {
                tracing::warn!(peer = %peer, %error, "a member did not take a replica; it will fetch it on first read");
                return;
            }
            Ok(status) => {
                tracing::warn!(status, peer = %peer, "a member refused a replica");
                return;
            }
        }
    }
    tracing::warn!(peer = %peer, "a member did not take a replica; it will fetch it on first read");
}
