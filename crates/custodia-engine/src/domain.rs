//! A domain as a node and the command line plug it in: its state module
//! (unless its actions are the core's), its HTTP service and that
//! service's OpenAPI paths, its clients' JSON form, its subcommand and its
//! demo data, behind one trait. `custodia-node` keeps the one list of
//! domains a node runs (`custodia_node::domains`).

use crate::{
    engine::{gossip::Gossip, Runtime, SharedChain},
    peers::{PeerNetwork, PeerTransport},
    submit::ServiceConfig,
};
use custodia_state::modules::Module;
use custodia_types::{Body, PrivateKey};
use futures::future::BoxFuture;
use std::{collections::BTreeMap, path::PathBuf, sync::Arc};

/// What a node gives a domain's service: its runtime (the service's clock,
/// tasks and randomness: never tokio's or the machine's directly, so that
/// the service runs in simulation too), the chain to query and submit
/// to, the gossip that spreads what it admits, the service settings
/// (organisation, node key, waits) and the other members' nodes.
pub struct NodeServices<E: Runtime> {
    pub context: E,
    pub chain: SharedChain<E>,
    pub gossip: Gossip,
    pub config: ServiceConfig,
    /// Calls to other members' nodes ([`HttpPeers`](crate::peers::HttpPeers)
    /// in a node; links a simulation can cut).
    pub peers: Arc<dyn PeerNetwork>,
    /// File streams to and from other members' nodes, over HTTP(S) (not
    /// simulated).
    pub streams: PeerTransport,
    /// The node's files and settings.
    pub files: NodeFiles,
}

/// What a node keeps on its disk that a domain may need: its home
/// directory (a domain keeps its own files under it), its settings
/// (`config.toml`, every table) and its secret for data at rest
/// (`keys/encryption.key`). Cheap to clone.
#[derive(Clone)]
pub struct NodeFiles {
    pub home: PathBuf,
    pub settings: Arc<custodia_config::Config>,
    pub secret: Arc<zeroize::Zeroizing<[u8; 32]>>,
}

impl NodeFiles {
    pub fn new(home: PathBuf, settings: custodia_config::Config, secret: [u8; 32]) -> Self {
        Self {
            home,
            settings: Arc::new(settings),
            secret: Arc::new(zeroize::Zeroizing::new(secret)),
        }
    }
}

/// The demo consortium (`custodia demo`) a domain seeds, once its chain
/// is running.
pub struct Demo {
    /// The consortium's directory (one home per member).
    pub dir: PathBuf,
    /// Every member's node, by organisation id.
    pub members: BTreeMap<String, DemoMember>,
}

/// One member of the demo consortium.
pub struct DemoMember {
    /// Its node's HTTP API base URL.
    pub api: String,
    /// Its admin key (registers agents).
    pub admin_key: PrivateKey,
    /// Its home directory (keys a domain makes for the demo go under `keys/`).
    pub home: PathBuf,
}

/// One plugged-in domain.
pub trait Domain<E: Runtime>: Send + Sync {
    /// The name its actions travel under (`DomainTx::domain`); its state
    /// module's [`Module::name`].
    fn name(&self) -> &'static str;

    /// The state module that applies its actions; `None` for a domain
    /// whose actions are the core's bodies (the clinical records: consent,
    /// access policy and audit are decided across them in
    /// `custodia-state`).
    fn module(&self) -> Option<Arc<dyn Module>>;

    /// Check, before the node joins the network, what its service will
    /// need from the node's files (a store that cannot be opened stops the
    /// node first, with its reason).
    fn check(&self, files: &NodeFiles) -> anyhow::Result<()> {
        let _ = files;
        Ok(())
    }

    /// Start its HTTP service on a node: the routes to merge into the API,
    /// or why it cannot start (the node stops).
    fn service(&self, node: NodeServices<E>) -> BoxFuture<'static, anyhow::Result<axum::Router>>;

    /// One of its actions in the JSON form clients write (`custodia tx
    /// --body '{"type": "<name>", ...}'`), as a body; or why not.
    fn body_from_json(&self, json: serde_json::Value) -> Result<Body, String> {
        let _ = json;
        Err(format!(
            "the {} domain's actions are core bodies: write them by their own type",
            self.name()
        ))
    }

    /// Its routes' OpenAPI path items, by path, merged into the node's
    /// `/v1/openapi.json`.
    fn openapi_paths(&self) -> serde_json::Map<String, serde_json::Value>;

    /// Its subcommand (`custodia <command> ...`; `custodia` runs the
    /// domain whose command's name was matched).
    fn command(&self) -> Option<clap::Command> {
        None
    }

    /// Run its subcommand with what the command line matched.
    fn run_command(&self, matches: &clap::ArgMatches) -> anyhow::Result<()> {
        let _ = matches;
        anyhow::bail!("the {} domain has no subcommand", self.name())
    }

    /// Seed the demo consortium with its example data; a consortium
    /// without the members it needs is left alone.
    fn seed_demo(&self, demo: &Demo) -> anyhow::Result<()> {
        let _ = demo;
        Ok(())
    }
}
