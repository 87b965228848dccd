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
use bytes::Bytes;
use commonware_runtime::Clock;
use custodia_engine::{
    blocking,
    engine::Runtime,
    peers::{PeerNetwork, PeerRequest, PeerTransport},
    time::within,
};
use custodia_fhir::{IssueType, Outcome};
use custodia_state::{
    keys,
    records::{RecordEntry, RecordHead},
};
use custodia_types::{
    framing::{encode_replicas, Replica},
    LogicalId, OrgId, ResourceType,
};
use custodia_vault::DiskStore;
use std::{collections::BTreeMap, net::SocketAddr, sync::Arc, time::Duration};
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

/// Versions waiting to be pushed to one peer. Bounded: a peer that is down
/// or slow must not make the writer's node hold an ever-growing backlog;
/// what does not fit is dropped (logged), and the peer fetches that
/// ciphertext from the custodian on its first read.
const QUEUE_PER_PEER: usize = 4096;
/// One push may take this long before the peer counts as unreachable.
const PUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// Most versions, and most ciphertext bytes, one push carries: a peer
/// takes many small replicas in one request rather than one request each.
const BATCH_VERSIONS: usize = 256;
pub(super) const MAX_BATCH_BYTES: usize = 4 << 20;

/// Each member but `org` whose API address is known, with it.
pub(super) fn peers_of(
    org: &OrgId,
    members: impl IntoIterator<Item = custodia_types::Member>,
) -> BTreeMap<OrgId, SocketAddr> {
    members
        .into_iter()
        .filter(|m| &m.id != org)
        .filter_map(|m| Some((m.id, m.api?)))
        .collect()
}

/// One queue and one worker per peer, so a slow peer delays only itself.
/// The peers follow the membership (`set_peers`).
pub(super) struct Replicator<E: Runtime> {
    /// Where the workers run.
    context: E,
    network: Arc<dyn PeerNetwork>,
    /// For files, which stream over HTTP.
    streams: PeerTransport,
    objects: DiskStore,
    queues: std::sync::RwLock<Vec<(SocketAddr, mpsc::Sender<ReplicaOf>)>>,
}

impl<E: Runtime> Replicator<E> {
    /// Start a worker for each of `peers`, on `context`.
    pub(super) fn start(
        context: E,
        peers: Vec<SocketAddr>,
        objects: DiskStore,
        network: Arc<dyn PeerNetwork>,
        streams: PeerTransport,
    ) -> Self {
        let replicator = Self {
            context,
            network,
            streams,
            objects,
            queues: std::sync::RwLock::new(Vec::new()),
        };
        replicator.set_peers(&peers);
        replicator
    }

    /// Push to exactly `peers` from now on: a worker starts for each new
    /// one; a peer no longer listed gets nothing more (its worker ends once
    /// it has pushed what was queued).
    pub(super) fn set_peers(&self, peers: &[SocketAddr]) {
        let mut queues = self
            .queues
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        queues.retain(|(peer, _)| peers.contains(peer));
        for peer in peers {
            if queues.iter().any(|(known, _)| known == peer) {
                continue;
            }
            let (sender, receiver) = mpsc::channel(QUEUE_PER_PEER);
            let worker = Worker {
                peer: *peer,
                network: self.network.clone(),
                streams: self.streams.clone(),
                objects: self.objects.clone(),
            };
            self.context
                .child("replica_push")
                .spawn(move |context| worker.run(context, receiver));
            queues.push((*peer, sender));
        }
    }

    /// Queue final versions for every peer; the writer's answer does not
    /// wait for them. Returns how many (version, peer) pairs found the
    /// peer's queue full and were dropped.
    pub(super) fn push(&self, versions: &[ReplicaOf]) -> usize {
        let mut dropped_total = 0;
        let queues = self
            .queues
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (peer, queue) in queues.iter() {
            let dropped = versions
                .iter()
                .filter(|version| queue.try_send((*version).clone()).is_err())
                .count();
            if dropped > 0 {
                // One line per push, not per version: a stalled peer must
                // not flood the log.
                tracing::warn!(peer = %peer, dropped, "replica queue full; the member will fetch those versions on first read");
            }
            dropped_total += dropped;
        }
        dropped_total
    }
}

impl<E: Runtime> Clinical<E> {
    /// `POST /v1/vault/replicas`: keep each of another member's
    /// ciphertexts whose hash this node's chain records for that version.
    /// One status per replica, in order: 204 kept, 409 not final here yet
    /// (send it again), 410 erased, 422 not what the chain records.
    pub(super) async fn accept_replicas(&self, replicas: Vec<Replica>) -> Vec<u16> {
        let mut statuses = vec![204; replicas.len()];
        // Checked against the chain one by one, then stored together: one
        // vault commit for the whole push.
        let mut wanted = Vec::with_capacity(replicas.len());
        for (index, replica) in replicas.into_iter().enumerate() {
            match self
                .replica_entry(replica.resource_type, &replica.id, replica.version)
                .await
            {
                Ok(entry) => wanted.push((index, replica, <[u8; 32]>::from(entry.ciphertext))),
                Err(outcome) => statuses[index] = outcome.status,
            }
        }
        let stored = self
            .vault(move |objects, _, _| {
                let pairs: Vec<_> = wanted
                    .iter()
                    .map(|(_, replica, hash)| (*hash, &replica.ciphertext[..]))
                    .collect();
                let results = objects.put_replicas(&pairs);
                drop(pairs);
                Ok(wanted.into_iter().zip(results).collect::<Vec<_>>())
            })
            .await;
        let stored = match stored {
            Ok(stored) => stored,
            Err(outcome) => {
                // The vault could not be reached at all: nothing was kept.
                for status in statuses.iter_mut().filter(|s| **s == 204) {
                    *status = outcome.status;
                }
                return statuses;
            }
        };
        for ((index, replica, hash), result) in stored {
            statuses[index] = match result {
                Err(_) => 422,
                Ok(()) => match self
                    .unless_erased_meanwhile(replica.resource_type, &replica.id, &hash)
                    .await
                {
                    Ok(()) => 204,
                    Err(outcome) => outcome.status,
                },
            };
        }
        statuses
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
            let hash = *hash;
            self.vault(move |objects, _, _| objects.delete(&hash).map_err(unavailable))
                .await?;
            return Err(Outcome::new(
                410,
                IssueType::Deleted,
                format!("{resource_type}/{id} was erased"),
            ));
        }
        Ok(())
    }

    /// A member's API address, if this node knows it.
    pub(super) fn peer_api(&self, org: &OrgId) -> Option<SocketAddr> {
        self.peers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(org)
            .copied()
    }

    /// Follow the membership for as long as the node runs: a member voted
    /// in (with its API address on chain) gets replicas and is asked for
    /// its records' keys; one voted out gets nothing more.
    pub(super) fn follow_members(self: &Arc<Self>) {
        let this = self.clone();
        self.spawn("follow_members", async move {
            let mut heights = this.finalized_heights.clone();
            let mut known: Option<Vec<u8>> = None;
            loop {
                heights.borrow_and_update();
                match this.read_raw(keys::MEMBERS).await {
                    Ok(Some(record)) if known.as_ref() != Some(&record) => {
                        this.set_members(&record);
                        known = Some(record);
                    }
                    Ok(_) => {}
                    Err(outcome) => tracing::warn!(?outcome, "following members failed"),
                }
                if heights.changed().await.is_err() {
                    return;
                }
            }
        });
    }

    /// The members as the chain records them: each other member's API
    /// address becomes a peer.
    fn set_members(&self, record: &[u8]) {
        let members: Vec<custodia_types::Member> = match serde_json::from_slice(record) {
            Ok(members) => members,
            Err(error) => {
                tracing::error!(%error, "member list in state does not decode");
                return;
            }
        };
        let peers = peers_of(&self.org, members);
        self.replicator
            .set_peers(&peers.values().copied().collect::<Vec<_>>());
        *self
            .peers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = peers;
    }

    /// Follow the chain's erasure log for as long as the node runs,
    /// deleting local keys and replicas of every erased resource (from the
    /// start of the log at each start: deleting twice is harmless).
    pub(super) fn follow_erasures(self: &Arc<Self>) {
        let this = self.clone();
        self.spawn("follow_erasures", async move {
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
            let Some((resource_type, id)) = crate::records::record_name(&name) else {
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

/// A peer's worker: pushes queued versions in order until the node stops,
/// as many at a time as are waiting (files one by one, as streams).
struct Worker {
    peer: SocketAddr,
    network: Arc<dyn PeerNetwork>,
    streams: PeerTransport,
    objects: DiskStore,
}

impl Worker {
    async fn run<E: Runtime>(self, context: E, mut queue: mpsc::Receiver<ReplicaOf>) {
        while let Some(first) = queue.recv().await {
            let mut versions = vec![first];
            while versions.len() < BATCH_VERSIONS {
                match queue.try_recv() {
                    Ok(version) => versions.push(version),
                    Err(_) => break,
                }
            }
            let (files, small): (Vec<_>, Vec<_>) = versions
                .into_iter()
                .partition(|v| v.resource_type == ResourceType::Binary);
            // Read per peer: the page cache makes the repeats cheap, and
            // the queues then hold names, not ciphertexts. (Off the async
            // workers: the store may sync or go over the network.)
            let store = self.objects.clone();
            let read = blocking::run(move || {
                small
                    .into_iter()
                    .filter_map(|version| match store.get(&version.ciphertext) {
                        Ok(Some(ciphertext)) => Some((version, ciphertext)),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap_or_default();
            let mut batch = Vec::with_capacity(read.len());
            let mut bytes = 0;
            for (version, ciphertext) in read {
                if bytes + ciphertext.len() > MAX_BATCH_BYTES && !batch.is_empty() {
                    self.push(&context, std::mem::take(&mut batch)).await;
                    bytes = 0;
                }
                bytes += ciphertext.len();
                batch.push((version, Bytes::from(ciphertext)));
            }
            if !batch.is_empty() {
                self.push(&context, batch).await;
            }
            for version in files {
                let (objects, streams, peer) =
                    (self.objects.clone(), self.streams.clone(), self.peer);
                let pushed = blocking::run(move || push_file(&streams, peer, &version, &objects));
                if let Ok(Err(problem)) = pushed.await {
                    tracing::warn!(peer = %self.peer, %problem, "a member did not take a file replica; it streams the file from its custodian when read");
                }
            }
        }
    }

    /// Push small replicas in one request; send again, shortly, those the
    /// peer cannot take yet because its chain is a block or so behind.
    async fn push(&self, clock: &impl Clock, mut batch: Vec<(ReplicaOf, Bytes)>) {
        let peer = self.peer;
        for _ in 0..PUSH_ATTEMPTS {
            let request = PeerRequest {
                path: "/v1/vault/replicas",
                content_type: "application/octet-stream",
                body: encode_replicas(
                    &batch
                        .iter()
                        .map(|(version, ciphertext)| Replica {
                            resource_type: version.resource_type,
                            id: version.id.clone(),
                            version: version.version,
                            ciphertext: ciphertext.clone(),
                        })
                        .collect::<Vec<_>>(),
                ),
            };
            let sent = within(clock, PUSH_TIMEOUT, self.network.post(peer, request)).await;
            let statuses: Vec<u16> = match sent {
                Some(Ok(answer)) if answer.is_success() => match answer.json::<Statuses>() {
                    Ok(answer) => answer.statuses,
                    Err(error) => {
                        tracing::warn!(peer = %peer, %error, "a member answered replicas unreadably");
                        return;
                    }
                },
                Some(Ok(answer)) => {
                    tracing::warn!(status = answer.status, peer = %peer, "a member refused replicas");
                    return;
                }
                // Down or too slow: give up on these versions rather than
                // stall the queue behind them.
                Some(Err(error)) => {
                    tracing::warn!(peer = %peer, %error, "a member did not take replicas; it will fetch them on first read");
                    return;
                }
                None => {
                    tracing::warn!(peer = %peer, "a member did not answer a replica push in time; it will fetch them on first read");
                    return;
                }
            };
            let refused = statuses
                .iter()
                .filter(|s| !matches!(s, 204 | 409 | 410))
                .count();
            if refused > 0 {
                tracing::warn!(peer = %peer, refused, "a member refused replicas");
            }
            let mut statuses = statuses.into_iter();
            batch.retain(|_| statuses.next() == Some(409));
            if batch.is_empty() {
                return;
            }
            clock.sleep(PUSH_RETRY).await;
        }
        tracing::warn!(peer = %peer, versions = batch.len(), "a member did not take replicas; it will fetch them on first read");
    }
}

/// The least rate a file replica must move at before its push is given
/// up (a peer that stops reading must not hold a thread forever).
const MIN_FILE_BYTES_PER_SEC: u64 = 1 << 20;

/// Stream a file's ciphertext to `peer` from the vault, in flat memory,
/// unless the peer already holds it. Runs on a blocking thread.
fn push_file(
    transport: &PeerTransport,
    peer: SocketAddr,
    version: &ReplicaOf,
    objects: &DiskStore,
) -> Result<(), String> {
    let len = objects
        .len(&version.ciphertext)
        .map_err(|e| e.to_string())?
        .ok_or("the file is no longer in this vault")?;
    let http = transport
        .blocking_client(
            PUSH_TIMEOUT,
            PUSH_TIMEOUT + Duration::from_secs(len / MIN_FILE_BYTES_PER_SEC),
        )
        .map_err(|e| e.to_string())?;
    let answers = |url: &str| http.get(url).send().ok().map(|r| r.status().as_u16());
    let held = transport.url(
        peer,
        &format!("/v1/vault/objects/{}", hex::encode(version.ciphertext)),
    );
    if answers(&held) == Some(204) {
        return Ok(());
    }
    // A peer refuses a version its chain does not have yet before reading
    // the body, which breaks the upload off: wait until it has it.
    let final_there = transport.url(
        peer,
        &format!(
            "/v1/state/rec/{}/{}/_history/{}",
            version.resource_type, version.id, version.version
        ),
    );
    for _ in 0..PUSH_ATTEMPTS {
        if answers(&final_there) == Some(200) {
            break;
        }
        std::thread::sleep(PUSH_RETRY);
    }
    let url = transport.url(
        peer,
        &format!(
            "/v1/vault/replica/Binary/{}/{}",
            version.id, version.version
        ),
    );
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

/// A peer's answer to a push: one status per replica, in order.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct Statuses {
    pub statuses: Vec<u16>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_runtime::Supervisor as _;

    /// A peer that takes connections and never answers holds its worker in
    /// one push; the queue behind it fills to its bound, and what does not
    /// fit is dropped at once, without making the writer wait.
    #[test]
    fn a_stalled_peer_gets_a_bounded_queue_and_the_rest_is_dropped() {
        use commonware_runtime::Runner as _;
        commonware_runtime::tokio::Runner::default()
            .start(|context| async move { stalled_peer(context).await });
    }

    async fn stalled_peer(context: commonware_runtime::tokio::Context) {
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dir = std::env::temp_dir().join(format!(
            "custodia-replica-queue-{}-{:x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let objects = DiskStore::open(&dir).unwrap();
        let ciphertext = objects.put(b"sealed").unwrap();
        let version = |n: u64| ReplicaOf {
            ciphertext,
            ..replica(ResourceType::Observation, &format!("obs-{n}"), 1)
        };
        let replicator = Replicator::start(
            context.child("replication"),
            vec![silent.local_addr().unwrap()],
            objects,
            Arc::new(custodia_engine::peers::HttpPeers::new(
                PeerTransport::plain(),
            )),
            PeerTransport::plain(),
        );
        // The worker takes the first and waits on the silent peer.
        assert_eq!(replicator.push(&[version(0)]), 0);
        context.sleep(Duration::from_millis(300)).await;
        let backlog: Vec<ReplicaOf> = (1..=QUEUE_PER_PEER as u64 + 10).map(version).collect();
        let dropped = replicator.push(&backlog);
        // 10 over the bound; 11 if the worker had not taken the first yet.
        assert!((10..=11).contains(&dropped), "dropped {dropped}");
        assert_eq!(replicator.push(&[version(0)]), 1, "still full");
        let _ = std::fs::remove_dir_all(dir);
    }

    fn replica(resource_type: ResourceType, id: &str, version: u64) -> ReplicaOf {
        ReplicaOf {
            resource_type,
            id: LogicalId::new(id).unwrap(),
            version,
            ciphertext: [0; 32],
        }
    }
}
