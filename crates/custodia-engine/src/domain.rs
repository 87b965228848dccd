//! A domain as a node plugs it in: its state module, its HTTP service and
//! that service's OpenAPI paths, behind one trait. `custodia-node` keeps
//! the one list of domains a node runs (`custodia_node::domains`).

use crate::{
    engine::{gossip::Gossip, Runtime, SharedChain},
    submit::ServiceConfig,
};
use custodia_state::modules::Module;
use custodia_types::Body;
use futures::future::BoxFuture;
use std::sync::Arc;

/// What a node gives a domain's service: the chain to query and submit
/// to, the gossip that spreads what it admits, and the service settings
/// (organisation, node key, waits).
pub struct NodeServices<E: Runtime> {
    pub chain: SharedChain<E>,
    pub gossip: Gossip,
    pub config: ServiceConfig,
}

/// One plugged-in domain.
pub trait Domain<E: Runtime>: Send + Sync {
    /// The name its actions travel under (`DomainTx::domain`); its state
    /// module's [`Module::name`].
    fn name(&self) -> &'static str;

    /// The state module that applies its actions.
    fn module(&self) -> Arc<dyn Module>;

    /// Start its HTTP service on a node: the routes to merge into the API.
    fn service(&self, node: NodeServices<E>) -> BoxFuture<'static, axum::Router>;

    /// One of its actions in the JSON form clients write (`custodia tx
    /// --body '{"type": "<name>", ...}'`), as a body; or why not.
    fn body_from_json(&self, json: serde_json::Value) -> Result<Body, String>;

    /// Its routes' OpenAPI path items, by path, merged into the node's
    /// `/v1/openapi.json`.
    fn openapi_paths(&self) -> serde_json::Map<String, serde_json::Value>;
}
