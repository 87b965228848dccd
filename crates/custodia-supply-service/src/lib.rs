//! The supply domain's service, plugged into the node and the command
//! line by [`SupplyDomain`]: DSCSA-style verification, traces and recall
//! reports answered from committed chain state, EPCIS documents submitted
//! by an organisation's agents (the node signs them on the agent's behalf
//! and answers once they are final), `custodia supply`, and the demo's
//! supply chain.
//!
//! Queries run the pure functions of `custodia-supply` over the committed
//! state at one finalized height, which they name
//! (`custodia_engine::query`).

mod cli;
mod domain;
mod openapi;
mod routes;

pub use domain::SupplyDomain;
pub use routes::router;

use axum::http::HeaderMap;
use custodia_api::ApiError;
pub use custodia_engine::query::AsOf;
use custodia_engine::{
    auth::{authenticate, AuthError},
    chain::CommittedState,
    domain::NodeServices,
    engine::{gossip::Gossip, Runtime, SharedChain},
    query::{self, QueryError},
    submit::{WaitError, Waits},
};
use custodia_state::{records::Principal, Preloaded, Receipt};
use custodia_supply::{ledger::SupplyError, module::SupplyView};
use custodia_types::{AgentKind, Body, Digest, OrgId, PrivateKey, PublicKey};
use std::sync::Arc;

pub struct Supply<E: Runtime> {
    /// The node's runtime: the service's clock.
    context: E,
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

impl<E: Runtime> Supply<E> {
    pub async fn new(node: NodeServices<E>) -> Arc<Self> {
        let NodeServices {
            context,
            chain,
            gossip,
            config: service,
            ..
        } = node;
        let (finalized_heights, committed) = {
            let chain = chain.lock().await;
            (chain.finalized_heights(), chain.committed())
        };
        Arc::new(Self {
            context,
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

    /// Runs `query` over committed state at one finalized height (`AsOf`,
    /// `custodia_engine::query`). `hint` names keys worth loading together
    /// once others are known (a lot's packs), saving rounds.
    pub async fn query<T>(
        &self,
        hint: impl Fn(&SupplyView<'_, Preloaded>) -> Vec<Vec<u8>>,
        query: impl Fn(&SupplyView<'_, Preloaded>, AsOf) -> Result<T, SupplyError>,
    ) -> Result<(T, AsOf), ApiError> {
        query::at_finalized_tip(
            &self.chain,
            |loaded| hint(&SupplyView(loaded)),
            |loaded, as_of| query(&SupplyView(loaded), as_of),
        )
        .await
        .map_err(|error| match error {
            QueryError::Refused(error) => query_error(error),
            QueryError::Store(_) => unavailable(error),
            QueryError::TooManyRounds => unavailable(
                "a supply query needed more loading rounds than allowed (containers nested too deep?)",
            ),
        })
    }

    /// Who is calling: an agent or the admin of this node's organisation,
    /// by a bearer token (`custodia token`).
    pub async fn caller(&self, headers: &HeaderMap) -> Result<PublicKey, ApiError> {
        let now_ms = custodia_engine::time::now_ms(&self.context);
        let (key, principal) =
            authenticate(&self.committed, &self.chain_id, &self.org, headers, now_ms)
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
            &self.context,
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
