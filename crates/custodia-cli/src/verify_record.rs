//! `custodia verify-record`: read one version of a record (an audited read,
//! with the caller's key) and prove it offline against the chain.

use crate::client::{get_json, read_key, token};
use anyhow::{anyhow, bail, Context, Result};
use custodia_node::record_proof::verify_record;
use std::{path::Path, time::Duration};

pub fn run(
    node: &str,
    key_file: &Path,
    genesis: &Path,
    resource: &str,
    version: Option<u64>,
) -> Result<()> {
    let genesis = custodia_types::Genesis::from_toml(
        &std::fs::read_to_string(genesis)
            .with_context(|| format!("reading {}", genesis.display()))?,
    )?;
    let (resource_type, id) = resource
        .split_once('/')
        .ok_or_else(|| anyhow!("--resource is Type/id, e.g. Observation/abc123"))?;
    let key = read_key(key_file)?;
    let bearer = token(node, &key, Duration::from_secs(300))?;
    let path = match version {
        Some(v) => format!("/fhir/{resource_type}/{id}/_history/{v}"),
        None => format!("/fhir/{resource_type}/{id}"),
    };
    let response = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?
        .get(format!("{}{path}", node.trim_end_matches('/')))
        .header("authorization", format!("Bearer {bearer}"))
        .send()
        .with_context(|| format!("cannot reach the node at {node}"))?;
    let status = response.status();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let salt = header("x-custodia-commitment-salt");
    let etag = header("etag");
    let content = response.bytes()?.to_vec();
    if !status.is_success() {
        bail!(
            "the node refused the read ({status}): {}",
            String::from_utf8_lossy(&content)
        );
    }
    let salt: [u8; 32] = salt
        .and_then(|s| hex::decode(s).ok())
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| anyhow!("the node did not send the commitment salt"))?;
    let version = etag
        .as_deref()
        .and_then(|e| {
            e.trim_start_matches("W/")
                .trim_matches('"')
                .parse::<u64>()
                .ok()
        })
        .ok_or_else(|| anyhow!("the node did not say which version it returned"))?;
    let key = format!("rec/{resource_type}/{id}/_history/{version}");
    let state = get_json(node, &format!("/v1/state/{key}?proof=true"))?;
    let height = state["height"]
        .as_u64()
        .ok_or_else(|| anyhow!("no height in the proof"))?;
    let block = get_json(node, &format!("/v1/blocks/{height}"))?;
    let verified = verify_record(&genesis, &key, &state, &block, &content, &salt)?;
    println!(
        "OK: {resource_type}/{id} version {version} is on chain (proven against block {} at height {}, finalized by a quorum of validators), and the content you read matches its commitment.",
        verified.block, verified.height
    );
    println!("{}", serde_json::to_string_pretty(&verified.entry)?);
    Ok(())
}
