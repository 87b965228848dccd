//! The supply domain as a node plugs it in.

use crate::{cli, openapi, router, Supply};
use clap::{FromArgMatches as _, Subcommand as _};
use custodia_engine::{
    domain::{Demo, Domain, NodeServices},
    engine::Runtime,
};
use custodia_state::modules::Module;
use custodia_supply::body::SupplyTx;
use custodia_types::Body;
use futures::{future::BoxFuture, FutureExt as _};
use std::sync::Arc;

/// Drug traceability: GS1 packs, EPCIS events, cold chain, verification.
pub struct SupplyDomain;

impl<E: Runtime> Domain<E> for SupplyDomain {
    fn name(&self) -> &'static str {
        custodia_supply::body::DOMAIN
    }

    fn module(&self) -> Option<Arc<dyn Module>> {
        Some(Arc::new(custodia_supply::module::Supply))
    }

    fn service(&self, node: NodeServices<E>) -> BoxFuture<'static, anyhow::Result<axum::Router>> {
        async move { Ok(router(Supply::new(node).await)) }.boxed()
    }

    fn body_from_json(&self, json: serde_json::Value) -> Result<Body, String> {
        serde_json::from_value::<SupplyTx>(json)
            .map(SupplyTx::into_body)
            .map_err(|e| e.to_string())
    }

    fn openapi_paths(&self) -> serde_json::Map<String, serde_json::Value> {
        openapi::paths()
    }

    fn command(&self) -> Option<clap::Command> {
        let command = clap::Command::new(custodia_supply::body::DOMAIN)
            .about(
                "Drug traceability: verify a pack before dispensing, trace packs and lots, \
                 recall reports, EPCIS events, cold-chain sensors",
            )
            .after_help(cli::AFTER_HELP)
            .subcommand_required(true)
            .arg_required_else_help(true);
        Some(cli::Command::augment_subcommands(command))
    }

    fn run_command(&self, matches: &clap::ArgMatches) -> anyhow::Result<()> {
        cli::run(cli::Command::from_arg_matches(matches)?)
    }

    fn seed_demo(&self, demo: &Demo) -> anyhow::Result<()> {
        cli::seed::seed(demo)
    }
}
