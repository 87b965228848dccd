//! Search across the consortium. A member's records are indexed only at
//! their custodian's node (only it can open them), so a search asks every
//! other member's node for its matches: the query's parameters, signed
//! with the asking node's validator key. The custodian answers only a
//! member's node, with the ids that match and where they sort — never
//! content. The asking node then reads each match through the chain like
//! any other read: each is an audited access decision, the policy denies
//! those the caller may not see (and the denial is in the patient's
//! disclosure log), and only permitted content is released.
//!
//! What a custodian reveals to another member's node is which of its
//! record ids match a query; the chain already lists every record's id,
//! type and patient pseudonym. A node that asked and then skipped the
//! audited reads would leave no trace on chain, so each custodian logs
//! every search it answered (asking member, type, parameter names and
//! match count; no values) to compare with the chain's access log.

use super::Clinical;
use crate::index::Match;
use commonware_cryptography::Signer as _;
use custodia_engine::{engine::Runtime, peers::PeerRequest};
use custodia_fhir::{search::Query, IssueType, Outcome};
use custodia_types::{key_hex, OrgId, ResourceType};
use serde::{Deserialize, Serialize};

const SEARCH_NAMESPACE: &[u8] = b"custodia/search/v1";
/// A search request older (or newer) than this is refused: a recorded
/// one cannot be replayed later.
const FRESH_MS: u64 = 5 * 60 * 1000;
/// Most matches one search may have, over the whole consortium: each is
/// an audited read. More is refused as too costly (narrow the search).
pub(crate) const MAX_MATCHES: usize = 1000;
/// Most resources of one type a bulk export takes.
pub(crate) const MAX_EXPORT: usize = 100_000;

/// `POST /v1/index/search`: a member's node asks for this node's matches.
#[derive(Serialize, Deserialize)]
pub struct PeerSearch {
    pub resource_type: ResourceType,
    /// The member asked: a request signed for one member is refused by
    /// every other (it cannot be replayed to them).
    pub audience: OrgId,
    /// The search's parameters, decoded, as the client gave them.
    pub params: Vec<(String, String)>,
    /// Most matches wanted (the asker refuses more than this).
    pub limit: usize,
    pub time_ms: u64,
    /// The asking node's validator key (hex) and its signature (hex).
    pub requester: String,
    pub signature: String,
}

fn message(r: &PeerSearch) -> Vec<u8> {
    serde_json::to_vec(&(
        r.resource_type.as_str(),
        r.audience.as_str(),
        &r.params,
        r.limit,
        r.time_ms,
    ))
    .expect("strings and numbers serialize")
}

impl<E: Runtime> Clinical<E> {
    /// Every other member's matches for a search, and the members whose
    /// nodes did not answer (their records are missing from the result).
    pub(super) async fn peer_matches(
        &self,
        resource_type: ResourceType,
        params: &[(String, String)],
        limit: usize,
    ) -> (Vec<Match>, Vec<OrgId>) {
        let peers: Vec<_> = self
            .peers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(org, addr)| (org.clone(), *addr))
            .collect();
        let time_ms = self.now_ms();
        let asks = peers.into_iter().map(|(org, addr)| {
            let mut request = PeerSearch {
                resource_type,
                audience: org.clone(),
                params: params.to_vec(),
                limit,
                time_ms,
                requester: key_hex(&self.node_key.public_key()),
                signature: String::new(),
            };
            request.signature =
                hex::encode(self.node_key.sign(SEARCH_NAMESPACE, &message(&request)));
            let asking = self.ask_peer(
                addr,
                PeerRequest::json("/v1/index/search", &request),
                self.waits.peer,
            );
            async move {
                let answer = match asking.await {
                    Ok(answer) if answer.is_success() => {
                        answer.json::<Vec<Match>>().map_err(|e| e.to_string())
                    }
                    Ok(answer) => Err(format!("answered {}", answer.status)),
                    Err(e) => Err(e.to_string()),
                };
                (org, answer)
            }
        });
        let mut found = Vec::new();
        let mut unreachable = Vec::new();
        for (org, answer) in futures::future::join_all(asks).await {
            match answer {
                Ok(matches) => found.extend(matches),
                Err(error) => {
                    tracing::warn!(%org, %error, "a member's node did not answer a search");
                    unreachable.push(org);
                }
            }
        }
        (found, unreachable)
    }

    /// Serve a member's node's search: the ids of what this organisation
    /// holds that match, and where each sorts.
    pub(super) async fn answer_search(&self, request: PeerSearch) -> Result<Vec<Match>, Outcome> {
        let org = self
            .signing_member(
                &request.requester,
                &request.signature,
                SEARCH_NAMESPACE,
                &message(&request),
            )
            .await
            .map_err(|e| e.outcome("search other members' indexes"))?;
        if request.audience != self.org {
            return Err(Outcome::new(
                403,
                IssueType::Forbidden,
                format!(
                    "this search was signed for {}, not this member",
                    request.audience
                ),
            ));
        }
        if self.now_ms().abs_diff(request.time_ms) > FRESH_MS {
            return Err(Outcome::new(
                401,
                IssueType::Security,
                "the search request is not fresh: sign it at most five minutes before sending (are both clocks right?)",
            ));
        }
        let query = Query::parse(request.resource_type.as_str(), &request.params)?;
        self.index_ready().await?;
        let mut found = self.index.find(request.resource_type, &query);
        // One more than wanted tells the asker there were too many.
        found.truncate(request.limit.min(MAX_EXPORT) + 1);
        let names: Vec<&str> = request
            .params
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        tracing::info!(
            asking = %org,
            resource_type = %request.resource_type,
            params = ?names,
            matches = found.len(),
            "answered a member's search"
        );
        Ok(found)
    }
}

pub(super) fn too_costly(limit: usize) -> Outcome {
    Outcome::new(
        400,
        IssueType::TooCostly,
        format!(
            "the search matches more than {limit} resources, and each is an audited read: narrow it (patient, identifier, code, date), or export in bulk ($export)"
        ),
    )
}
