//! Search through the node's private index (`crate::index`): rebuilt at
//! start from what the organisation holds, searched here and by other
//! members' nodes (`crate::peer_search`). A search's matches, the
//! resources `_include` and `_revinclude` add, are each read through the
//! chain: an audited access the policy decides.

use super::*;
use crate::{
    index::{self, Match},
    peer_search::{too_costly, MAX_MATCHES},
};
use custodia_engine::time::within;
use custodia_fhir::search::{local_reference, IndexValue, Query};
use custodia_types::OrgId;
use std::{collections::HashSet, sync::Arc};

/// Whether the search index holds what the organisation does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IndexState {
    /// Being rebuilt from the vault after a start.
    Rebuilding,
    Ready,
    /// The rebuild failed: searching would miss records.
    Failed,
}

/// What a search found that the caller may read.
pub(crate) struct Found {
    pub matches: Vec<Value>,
    /// Members whose nodes did not answer: their records are missing.
    pub unreachable: Vec<OrgId>,
}

impl<E: Runtime> Clinical<E> {
    /// Rebuild the search index from the vault, in the background: the
    /// chain lists what this organisation holds; the node opens the latest
    /// version of each that is not erased. Logs only a count. Until it is
    /// done, searches and conditional writes wait (`index_ready`): a
    /// conditional create answered from half an index would duplicate.
    pub(crate) fn rebuild_index(self: &Arc<Self>, ready: tokio::sync::watch::Sender<IndexState>) {
        let this = self.clone();
        self.spawn("index_rebuild", async move {
            match this.index_held().await {
                Ok(count) => {
                    tracing::info!(resources = count, "search index rebuilt");
                    ready.send_replace(IndexState::Ready);
                }
                Err(outcome) => {
                    tracing::error!(?outcome, "rebuilding the search index failed");
                    ready.send_replace(IndexState::Failed);
                }
            }
        });
    }

    /// Wait until the search index holds everything this organisation
    /// does (at most the finality wait).
    pub(crate) async fn index_ready(&self) -> Result<(), Outcome> {
        let mut state = self.index_state.clone();
        let settled = within(&self.context, self.waits.finality, async {
            state
                .wait_for(|s| *s != IndexState::Rebuilding)
                .await
                .map(|s| *s)
        })
        .await;
        match settled {
            Some(Ok(IndexState::Ready)) => Ok(()),
            Some(_) => Err(Outcome::new(
                503,
                IssueType::Exception,
                "this node could not rebuild its search index; see its log (searches and conditional writes are refused until it restarts cleanly)",
            )),
            None => Err(Outcome::new(
                503,
                IssueType::Transient,
                format!(
                    "this node is still rebuilding its search index after a restart ({} resources so far); retry in a moment",
                    self.index.len()
                ),
            )),
        }
    }

    async fn index_held(&self) -> Result<usize, Outcome> {
        let count = self
            .read_raw(&keys::custodian_records(&self.org))
            .await?
            .and_then(|b| keys::decode_u64(&b))
            .unwrap_or(0);
        for i in 0..count {
            let Some(name) = self
                .read::<String>(&keys::custodian_record(&self.org, i))
                .await?
            else {
                continue;
            };
            let Some((resource_type, id)) = record_name(&name) else {
                continue;
            };
            let Some(head) = self
                .read::<RecordHead>(&keys::record_head(resource_type, &id))
                .await?
            else {
                continue;
            };
            if head.erased_height.is_some() || resource_type == ResourceType::Binary {
                continue;
            }
            let version = self.own_content(resource_type, &id, head.version).await?;
            self.index.record(resource_type, &id, &version);
        }
        Ok(self.index.len())
    }

    /// The content of a version this organisation holds, opened from its
    /// own vault (no key release, no audit: the node's own bookkeeping).
    async fn own_content(
        &self,
        resource_type: ResourceType,
        id: &LogicalId,
        version: u64,
    ) -> Result<Value, Outcome> {
        let entry: RecordEntry = self
            .read(&keys::record_version(resource_type, id, version))
            .await?
            .ok_or_else(|| unavailable(format!("{resource_type}/{id} v{version} missing")))?;
        let hash: [u8; 32] = entry.ciphertext.as_ref().try_into().map_err(unavailable)?;
        let opened = self.open_own(hash, aad(resource_type, id, version)).await?;
        serde_json::from_slice(&opened.plaintext).map_err(unavailable)
    }

    /// `GET /fhir/{type}?...`: what matches `query` anywhere in the
    /// consortium and this caller may read, in the query's order.
    pub(crate) async fn search(
        &self,
        caller: &Caller,
        resource_type: ResourceType,
        query: &Query,
        params: &[(String, String)],
    ) -> Result<Found, Outcome> {
        let (ids, unreachable) = self
            .matching(resource_type, query, params, MAX_MATCHES)
            .await?;
        let matches = self
            .read_permitted(caller, resource_type, &ids)
            .await?
            .into_iter()
            .map(|v| v.json)
            .collect();
        Ok(Found {
            matches,
            unreachable,
        })
    }

    /// The ids matching a query here and at every other member's node,
    /// in the query's order; more than `limit` is refused as too costly.
    pub(crate) async fn matching(
        &self,
        resource_type: ResourceType,
        query: &Query,
        params: &[(String, String)],
        limit: usize,
    ) -> Result<(Vec<LogicalId>, Vec<OrgId>), Outcome> {
        self.index_ready().await?;
        let mut found = self.index.find(resource_type, query);
        let (theirs, unreachable) = self.peer_matches(resource_type, params, limit).await;
        found.extend(theirs);
        if found.len() > limit {
            return Err(too_costly(limit));
        }
        index::sort(query, &mut found);
        let mut seen = HashSet::new();
        let ids = found
            .into_iter()
            .map(|Match { id, .. }| id)
            .filter(|id| seen.insert(id.clone()))
            .collect();
        Ok((ids, unreachable))
    }

    /// What `_include` and `_revinclude` add to a page of matches (of
    /// `resource_type`), each read audited; the resources already on the
    /// page are not repeated.
    pub(crate) async fn included(
        &self,
        caller: &Caller,
        resource_type: ResourceType,
        query: &Query,
        page: &[Value],
    ) -> Result<Found, Outcome> {
        let mut wanted: Vec<(ResourceType, Vec<LogicalId>)> = Vec::new();
        let mut want = |reference: &str| {
            let Some((t, id)) = reference.split_once('/') else {
                return;
            };
            let (Ok(t), Ok(id)) = (t.parse::<ResourceType>(), LogicalId::new(id)) else {
                return;
            };
            if t == ResourceType::Binary {
                return;
            }
            match wanted.iter_mut().find(|(held, _)| *held == t) {
                Some((_, ids)) if !ids.contains(&id) => ids.push(id),
                Some(_) => {}
                None => wanted.push((t, vec![id])),
            }
        };
        for include in &query.include {
            for resource in page {
                let indexed = custodia_fhir::search::index(resource_type.as_str(), resource);
                for value in indexed.values(&include.param) {
                    let IndexValue::Reference(reference) = value else {
                        continue;
                    };
                    let fits = include.target.as_ref().is_none_or(|t| {
                        reference
                            .strip_prefix(t.as_str())
                            .is_some_and(|r| r.starts_with('/'))
                    });
                    if fits {
                        want(reference);
                    }
                }
            }
        }
        let mut unreachable = Vec::new();
        let targets: Vec<String> = page
            .iter()
            .map(|r| {
                let reference = format!("{resource_type}/{}", r["id"].as_str().unwrap_or_default());
                local_reference(&reference).replace(',', "\\,")
            })
            .collect();
        for revinclude in query.revinclude.iter().filter(|_| !targets.is_empty()) {
            let source: ResourceType = parse_json_type(&revinclude.source_type)?;
            let params = [(revinclude.param.clone(), targets.join(","))];
            let sub = Query::parse(source.as_str(), &params)?;
            let (ids, missing) = self.matching(source, &sub, &params, MAX_MATCHES).await?;
            unreachable.extend(missing);
            for id in ids {
                want(&format!("{source}/{id}"));
            }
        }
        let on_page: HashSet<String> = page
            .iter()
            .map(|r| {
                format!(
                    "{}/{}",
                    r["resourceType"].as_str().unwrap_or_default(),
                    r["id"].as_str().unwrap_or_default()
                )
            })
            .collect();
        let mut matches = Vec::new();
        for (t, ids) in wanted {
            let ids: Vec<LogicalId> = ids
                .into_iter()
                .filter(|id| !on_page.contains(&format!("{t}/{id}")))
                .collect();
            let versions = self.read_permitted(caller, t, &ids).await?;
            matches.extend(versions.into_iter().map(|v| v.json));
        }
        Ok(Found {
            matches,
            unreachable,
        })
    }
}
