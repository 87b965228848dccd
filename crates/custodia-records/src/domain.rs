//! The clinical records as a node plugs them in. Their actions are the
//! core's bodies (records, consent, access, audit are decided across each
//! other in `custodia-state`), so the domain brings no state module of its
//! own: it brings the service (the FHIR facade and the calls between
//! members' vaults), its OpenAPI paths, `custodia fhir` and the demo's
//! sample records.

use crate::{cli, router, Clinical, FileLimits, VaultConfig};
use anyhow::Context as _;
use clap::{FromArgMatches as _, Subcommand as _};
use custodia_engine::{
    domain::{Demo, Domain, NodeFiles, NodeServices},
    engine::Runtime,
};
use custodia_state::modules::Module;
use custodia_vault::{DiskStore, EncryptionSecret};
use futures::{future::BoxFuture, FutureExt as _};
use serde_json::{json, Map, Value};
use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

/// Clinical records: FHIR R4 in and out, the vault, consent-checked reads
/// across members, replication and erasure.
pub struct ClinicalDomain;

/// The domain's name.
pub const NAME: &str = "clinical";

/// Where a node keeps its vault (encrypted clinical content and wrapped
/// keys; see `custodia-vault`), under its home directory.
pub fn vault_dir(home: &Path) -> PathBuf {
    home.join("vault")
}

/// The vault's ciphertext store as `config.toml`'s `[vault]` says, opened
/// off the async workers (an object store's client blocks).
async fn open_store(files: &NodeFiles) -> anyhow::Result<DiskStore> {
    let (backend, dir, org) = (
        files.settings.vault.clone(),
        vault_dir(&files.home),
        files.settings.org.clone(),
    );
    custodia_engine::blocking::run(move || custodia_vault::open_store(&backend, &dir, &org))
        .await?
        .context("cannot open the vault")
}

impl<E: Runtime> Domain<E> for ClinicalDomain {
    fn name(&self) -> &'static str {
        NAME
    }

    fn module(&self) -> Option<Arc<dyn Module>> {
        None
    }

    fn check(&self, files: &NodeFiles) -> anyhow::Result<()> {
        let settings = &files.settings;
        tracing::info!(
            ciphertexts = %custodia_vault::describe_store(&settings.vault, &settings.org),
            "opening the vault"
        );
        custodia_vault::open_store(&settings.vault, &vault_dir(&files.home), &settings.org)
            .context("cannot open the vault")?;
        Ok(())
    }

    fn service(&self, node: NodeServices<E>) -> BoxFuture<'static, anyhow::Result<axum::Router>> {
        async move {
            let files = node.files.clone();
            let vault = VaultConfig {
                objects: open_store(&files).await?,
                dir: vault_dir(&files.home),
                secret: EncryptionSecret::from_bytes(files.secret.as_slice())
                    .context("the node's secret at rest is not a key")?,
                files: FileLimits {
                    max_bytes: files.settings.max_file_bytes,
                    max_transfers: files.settings.max_file_transfers,
                },
            };
            let clinical = Clinical::new(node, vault)
                .await
                .context("cannot open the vault")?;
            Ok(router(clinical))
        }
        .boxed()
    }

    fn openapi_paths(&self) -> Map<String, Value> {
        openapi_paths()
    }

    fn command(&self) -> Option<clap::Command> {
        let command = clap::Command::new(cli::NAME)
            .about("FHIR work: load a folder of Bundles and NDJSON into a node")
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

/// The routes members' nodes call on each other (the FHIR surface under
/// `/fhir` describes itself: `GET /fhir/metadata`).
fn openapi_paths() -> Map<String, Value> {
    let error = |description: &str| custodia_api::openapi::error_response(description);
    let ok = |description: &str| custodia_api::openapi::ok_json(description);
    let signed_by_a_member =
        "Signed by the asking node's validator key; answered only to a member's node.";
    let paths = json!({
        "/v1/vault/release": { "post": {
            "summary": "Another member's node asks this custodian for a version's key, for a read the chain permitted",
            "description": signed_by_a_member,
            "responses": {
                "200": ok("The ciphertext and the data key wrapped to the asker's one-time key (a file's ciphertext streams, its key in a header)"),
                "403": error("The chain does not show this read permitted to the asker"),
                "410": error("The record was erased")
            }
        }},
        "/v1/vault/replicas": { "post": {
            "summary": "A custodian pushes final versions' ciphertexts (framed replicas)",
            "responses": { "200": ok("One status per replica: 204 kept, 409 not final here yet, 410 erased") }
        }},
        "/v1/vault/replica/Binary/{id}/{version}": { "post": {
            "summary": "A custodian streams a file's ciphertext",
            "parameters": [
                { "name": "id", "in": "path", "required": true, "schema": { "type": "string" } },
                { "name": "version", "in": "path", "required": true, "schema": { "type": "integer" } }
            ],
            "responses": { "204": { "description": "Kept" }, "409": error("Not final here yet"), "410": error("Erased") }
        }},
        "/v1/index/search": { "post": {
            "summary": "Another member's node asks for this organisation's matches of a FHIR search",
            "description": signed_by_a_member,
            "responses": { "200": ok("The matching ids and where each sorts") }
        }},
        "/v1/vault/objects": { "get": {
            "summary": "How many ciphertexts this node's vault holds",
            "responses": { "200": ok("{objects}") }
        }},
        "/v1/vault/objects/{hash}": { "get": {
            "summary": "Whether this node's vault holds a ciphertext (by its SHA-256, as the chain records it)",
            "parameters": [{ "name": "hash", "in": "path", "required": true, "schema": { "type": "string", "pattern": "^[0-9a-f]{64}$" } }],
            "responses": { "204": { "description": "Held" }, "404": { "description": "Not held" } }
        }}
    });
    match paths {
        Value::Object(paths) => paths,
        _ => unreachable!("a JSON object literal"),
    }
}
