//! `custodia tx`: sign a transaction body written as JSON and submit it.

use anyhow::{anyhow, Context, Result};
use custodia_client::{read_key, submit_body, wait_final};
use std::path::Path;

/// `body` is the JSON (or `@file`): a core body or a plugged-in domain's
/// action (`custodia_node::domains::body_from_json`).
pub fn submit(
    node: &str,
    key_file: &Path,
    body: &str,
    nonce: Option<u64>,
    wait: bool,
) -> Result<()> {
    let key = read_key(key_file)?;
    let body_text = match body.strip_prefix('@') {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?
        }
        None => body.to_string(),
    };
    let body = custodia_node::domains::body_from_json(&body_text).map_err(|e| {
        anyhow!("the body is not a valid transaction body ({e}); see `custodia tx --help` for the types")
    })?;
    let id = submit_body(node, &key, body, nonce)?;
    println!("submitted {id}");
    if wait {
        let receipt = wait_final(node, &id)?;
        println!("{}", serde_json::to_string_pretty(&receipt)?);
    }
    Ok(())
}
