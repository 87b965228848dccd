//! Ciphertext replication between the members' vaults, and erasure
//! everywhere. Once a version is final, its custodian pushes the
//! ciphertext to every other member's node, which keeps it only if its own
//! copy of the chain records exactly that hash: the vaults hold the
//! consortium's content, not just the custodian's disk. Keys are not
//! replicated: a replica is unreadable until the chain permits a read and
//! the custodian releases the key. Every node follows the chain's erasure
//! log (`erased/{seq}`) and deletes what it holds of each erased resource.
//! Files (`Binary`) stay with their custodian.

use super::Clinical;
use crate::engine::Runtime;
use custodia_fhir::{IssueType, Outcome};
use custodia_state::{
    keys,
    records::{RecordEntry, RecordHead},
};
use custodia_types::{LogicalId, ResourceType};
use std::{net::SocketAddr, sync::Arc, time::Duration};

/// Attempts to hand a replica to a peer (whose chain may lag by a block).
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

impl<E: Runtime> Clinical<E> {
    /// Push final versions' ciphertexts to every other member, in the
    /// background: the writer's answer does not wait for it.
    pub(super) fn push_replicas(&self, versions: Vec<ReplicaOf>) {
        let peers: Vec<SocketAddr> = self
            .peers
            .iter()
            .filter(|(org, _)| **org != self.org)
            .map(|(_, addr)| *addr)
            .collect();
        if peers.is_empty() {
            return;
        }
        let (http, objects) = (self.http.clone(), self.objects.clone());
        tokio::spawn(async move {
            for version in versions {
                let Ok(Some(ciphertext)) = objects.get(&version.ciphertext) else {
                    continue;
                };
                let pushes = peers
                    .iter()
                    .map(|peer| push(&http, *peer, &version, ciphertext.clone()));
                futures::future::join_all(pushes).await;
            }
        });
    }

    /// `POST /v1/vault/replica/{type}/{id}/{version}`: keep another
    /// member's ciphertext if this node's chain records exactly its hash.
    pub(super) async fn accept_replica(
        &self,
        resource_type: ResourceType,
        id: &LogicalId,
        version: u64,
        ciphertext: &[u8],
    ) -> Result<(), Outcome> {
        let name = format!("{resource_type}/{id}");
        let head: Option<RecordHead> = self.read(&keys::record_head(resource_type, id)).await?;
        if head.as_ref().is_some_and(|h| h.erased_height.is_some()) {
            return Err(Outcome::new(
                410,
                IssueType::Deleted,
                format!("{name} was erased"),
            ));
        }
        let entry: RecordEntry = self
            .read(&keys::record_version(resource_type, id, version))
            .await?
            .ok_or_else(|| {
                Outcome::new(
                    409,
                    IssueType::NotFound,
                    format!("{name} version {version} is not final on this node yet; retry"),
                )
            })?;
        let hash: [u8; 32] = entry.ciphertext.into();
        self.objects
            .put_replica(&hash, ciphertext)
            .map_err(|e| Outcome::new(422, IssueType::Invalid, e.to_string()))
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

async fn push(http: &reqwest::Client, peer: SocketAddr, version: &ReplicaOf, ciphertext: Vec<u8>) {
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
            // Not final there yet, or the peer is down: try again shortly.
            Ok(409) | Err(_) => tokio::time::sleep(PUSH_RETRY).await,
            Ok(status) => {
                tracing::warn!(status, peer = %peer, "a member refused a replica");
                return;
            }
        }
    }
    tracing::warn!(peer = %peer, "a member did not take a replica; it will fetch it on first read");
}
