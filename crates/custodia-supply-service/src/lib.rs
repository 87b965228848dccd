//! The supply domain's service, plugged into the node and the command
//! line ([`SupplyDomain`]): routes, `custodia supply`, demo seeding.
//!
//! The node's supply-chain service: DSCSA-style verification, traces and
//! recall reports answered from committed chain state, and EPCIS documents
//! submitted by an organisation's agents (the node signs them on the
//! agent's behalf and answers once they are final).
//!
//! Queries run the pure functions of `custodia-supply` over the committed
//! state: the keys they read are loaded round by round (a missing key is
//! loaded and the query run again). The chain's lock is held only while a
//! round's keys are read, in one batch; if a block was committed between
//! rounds the query starts over at the new tip, so an answer always
//! reflects one finalized height, which it names.

mod cli;
mod domain;
mod openapi;
mod routes;

pub use domain::SupplyDomain;
pub use routes::router;

use axum::http::HeaderMap;
use custodia_api::ApiError;
use custodia_engine::{
    auth::{authenticate, AuthError},
    chain::CommittedState,
    engine::{gossip::Gossip, Runtime, SharedChain},
    submit::{ServiceConfig, WaitError, Waits},
};
use custodia_state::{records::Principal, Preloaded, Receipt};
use custodia_supply::{ledger::SupplyError, module::SupplyView};
use custodia_types::{AgentKind, Body, Digest, OrgId, PrivateKey, PublicKey};
use std::sync::Arc;

/// Rounds of loading a query may take (a lot's packs are prefetched, so
/// this bounds only deep container nesting and damaged state).
const MAX_QUERY_ROUNDS: usize = 64;
/// Fresh starts when blocks keep being committed under a query; the last
/// attempt holds the chain's lock throughout, so a busy chain slows a
/// query down but never starves it.
const MAX_QUERY_ATTEMPTS: usize = 4;

pub struct Supply<E: Runtime> {
    chain: SharedChain<E>,
    /// Committed state, read without the chain's lock (bearer tokens).
    committed: CommittedState<E>,
    gossip: Gossip,
    chain_id: String,
    org: OrgId,
    node_key: PrivateKey,
    finalized_heights: tokio::sync::watch::Receiver<u64>,
    waits: Waits,
}

/// The finalized block an answer was computed at.
#[derive(Clone, Copy, Debug)]
pub struct AsOf {
    pub height: u64,
    /// That block's timestamp: "now" for expiry, identical on every node.
    pub time_ms: u64,
}

impl<E: Runtime> Supply<E> {
    pub async fn new(chain: SharedChain<E>, gossip: Gossip, service: ServiceConfig) -> Arc<Self> {
        let (finalized_heights, committed) = {
            let chain = chain.lock().await;
            (chain.finalized_heights(), chain.committed())
        };
        Arc::new(Self {
            chain,
            committed,
            gossip,
            chain_id: service.genesis.chain_id,
            org: service.org,
            node_key: service.node_key,
            finalized_heights,
            waits: service.waits,
        })
    }

    /// Runs `query` over committed state at the finalized tip (`AsOf`). `hint` names keys worth loading
    /// together once others are known (a lot's packs), saving rounds.
    pub async fn query<T>(
        &self,
        hint: impl Fn(&SupplyView<'_, Preloaded>) -> Vec<Vec<u8>>,
        query: impl Fn(&SupplyView<'_, Preloaded>, AsOf) -> Result<T, SupplyError>,
    ) -> Result<(T, AsOf), ApiError> {
        for attempt in 1..=MAX_QUERY_ATTEMPTS {
            let last = attempt == MAX_QUERY_ATTEMPTS;
            if let Some(answer) = self.query_once(&hint, &query, last).await? {
                return Ok(answer);
            }
            tracing::debug!(
                attempt,
                "a block was committed under a supply query; starting over"
            );
        }
        // Not reached: the last attempt holds the lock, so its tip stays.
        Err(unavailable(
            "the chain kept moving under a supply query; retry",
        ))
    }

    /// One attempt at `query` at the current tip; `None` if a block was
    /// committed between two of its rounds. With `hold_lock` the chain's
    /// lock is kept from the first round to the last.
    async fn query_once<T>(
        &self,
        hint: &impl Fn(&SupplyView<'_, Preloaded>) -> Vec<Vec<u8>>,
        query: &impl Fn(&SupplyView<'_, Preloaded>, AsOf) -> Result<T, SupplyError>,
        hold_lock: bool,
    ) -> Result<Option<(T, AsOf)>, ApiError> {
        let guard = match hold_lock {
            true => Some(self.chain.lock().await),
            false => None,
        };
        let as_of = {
            let tip = match &guard {
                Some(chain) => chain.tip().clone(),
                None => self.chain.lock().await.tip().clone(),
            };
            AsOf {
                height: tip.height,
                time_ms: tip.header.timestamp_ms,
            }
        };
        let mut loaded = Preloaded::default();
        for _ in 0..MAX_QUERY_ROUNDS {
            let result = query(&SupplyView(&loaded), as_of);
            let mut wanted = loaded.take_misses();
            wanted.extend(
                hint(&SupplyView(&loaded))
                    .into_iter()
                    .filter(|k| !loaded.contains(k)),
            );
            loaded.take_misses();
            if wanted.is_empty() {
                return result
                    .map(|answer| Some((answer, as_of)))
                    .map_err(query_error);
            }
            let round = match &guard {
                Some(chain) => chain.load_committed(&wanted, &mut loaded).await,
                None => {
                    let chain = self.chain.lock().await;
                    if chain.tip().height != as_of.height {
                        return Ok(None);
                    }
                    chain.load_committed(&wanted, &mut loaded).await
                }
            };
            round.map_err(unavailable)?;
        }
        Err(unavailable(
            "a supply query needed more loading rounds than allowed (containers nested too deep?)",
        ))
    }

    /// Who is calling: an agent or the admin of this node's organisation,
    /// by a bearer token (`custodia token`).
    pub async fn caller(&self, headers: &HeaderMap) -> Result<PublicKey, ApiError> {
        let (key, principal) = authenticate(&self.committed, &self.chain_id, &self.org, headers)
            .await
            .map_err(|error| match error {
                AuthError::Store(_) => unavailable(error),
                AuthError::Missing => {
                    ApiError::new(error.status(), "unauthenticated", error.to_string())
                }
                AuthError::BadToken(_) | AuthError::Unregistered => {
                    ApiError::new(error.status(), "bad_token", error.to_string())
                }
                _ => ApiError::new(error.status(), "forbidden", error.to_string()),
            })?;
        let forbidden = |m: &str| {
            ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "forbidden",
                m.to_string(),
            )
        };
        match principal {
            Principal::Agent {
                kind: AgentKind::Device,
                ..
            } => Err(forbidden(
                "a device signs its own readings: submit a supply transaction signed with the \
                 device's key to POST /v1/tx",
            )),
            Principal::Agent { .. } | Principal::Admin { .. } => Ok(key),
            _ => Err(forbidden(
                "only an organisation's agents and admin submit supply events",
            )),
        }
    }

    /// Signs `body` with the node's key, admits and gossips it, and waits
    /// until it is final: its id and receipt.
    pub async fn submit_final(&self, body: Body) -> Result<(Digest, Receipt), ApiError> {
        let id = custodia_engine::submit::sign_and_admit(
            &self.chain,
            &self.gossip,
            &self.chain_id,
            &self.node_key,
            body,
        )
        .await
        .map_err(custodia_engine::submit::admit_error)?;
        let receipt = custodia_engine::submit::wait_final(
            &self.chain,
            &self.finalized_heights,
            &id,
            self.waits.finality,
        )
        .await
        .map_err(|e| match e {
            WaitError::Timeout(id) => ApiError::new(
                axum::http::StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                format!(
                    "transaction {id} was not final within {} s; is a quorum of \
                             validators up? Ask GET /v1/tx/{id} later",
                    self.waits.finality.as_secs()
                ),
            ),
            other => unavailable(other),
        })?;
        Ok((id, receipt))
    }
}

/// A query's refusal: what was not found is a 404, damage a 503.
fn query_error(error: SupplyError) -> ApiError {
    match error.root() {
        SupplyError::UnknownPack(_)
        | SupplyError::UnknownLot(_)
        | SupplyError::UnknownProduct(_) => ApiError::not_found(error.to_string()),
        SupplyError::Corrupt { .. } => unavailable(error),
        _ => ApiError::bad_request("bad_request", error.to_string()),
    }
}

fn unavailable(error: impl std::fmt::Display) -> ApiError {
    tracing::error!(%error, "supply service failed");
    ApiError::unavailable("the node could not complete the request; see its log")
}
