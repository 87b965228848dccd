//! A blocking client of a node's HTTP API, for the command line and the
//! domains' subcommands and demo seeding: JSON reads, signed
//! transactions (submitted, then awaited as final), bearer tokens, keys.

use anyhow::{anyhow, bail, Context, Result};
use commonware_cryptography::Signer as _;
use custodia_types::{key_hex, parse_private_key, AuthToken, Body, OrgId, PrivateKey, TxPayload};
use serde_json::Value;
use std::{path::Path, time::Duration};

/// The environment variable naming a PEM file of certificate authorities
/// to trust besides the system's: those of a consortium whose nodes serve
/// HTTPS with certificates its own authority signed (`[tls]`).
pub const CA_FILE_ENV: &str = "CUSTODIA_CA_FILE";

fn http() -> Result<reqwest::blocking::Client> {
    client(Duration::from_secs(10))
}

/// A client of nodes' APIs (plain HTTP, or HTTPS trusting the system's
/// authorities and those in [`CA_FILE_ENV`]).
pub fn client(timeout: Duration) -> Result<reqwest::blocking::Client> {
    let mut builder = reqwest::blocking::Client::builder().timeout(timeout);
    if let Some(path) = std::env::var_os(CA_FILE_ENV) {
        let path = Path::new(&path);
        let pem = std::fs::read(path)
            .with_context(|| format!("cannot read {CA_FILE_ENV}={}", path.display()))?;
        let authorities = reqwest::Certificate::from_pem_bundle(&pem).with_context(|| {
            format!("{CA_FILE_ENV}={} holds no PEM certificates", path.display())
        })?;
        builder = builder.tls_certs_merge(authorities);
    }
    builder.build().context("cannot set up the HTTP client")
}

/// GET a JSON document, turning HTTP errors into the node's own message.
pub fn get_json(node: &str, path: &str) -> Result<Value> {
    let url = format!("{}{path}", node.trim_end_matches('/'));
    let response = http()?
        .get(&url)
        .send()
        .with_context(|| format!("cannot reach the node at {node} (is it running?)"))?;
    read_json(response)
}

fn read_json(response: reqwest::blocking::Response) -> Result<Value> {
    let status = response.status();
    let text = response.text().context("reading the node's answer")?;
    let json: Value = serde_json::from_str(&text)
        .with_context(|| format!("the node answered {status} with non-JSON: {text}"))?;
    if !status.is_success() {
        let message = json["error"].as_str().unwrap_or(&text).to_string();
        bail!("the node refused ({status}): {message}");
    }
    Ok(json)
}

pub fn status(node: &str) -> Result<()> {
    let status = get_json(node, "/v1/status")?;
    println!("{}", serde_json::to_string_pretty(&status)?);
    Ok(())
}

/// Read a hex ed25519 private key from a file.
pub fn read_key(key_file: &Path) -> Result<PrivateKey> {
    let key_text = std::fs::read_to_string(key_file)
        .with_context(|| format!("cannot read key file {}", key_file.display()))?;
    parse_private_key(&key_text).map_err(|_| {
        anyhow!(
            "{} does not hold a hex ed25519 private key",
            key_file.display()
        )
    })
}

/// Sign `body` with `key` (asking the node for the nonce unless given) and
/// submit it; the transaction id.
pub fn submit_body(node: &str, key: &PrivateKey, body: Body, nonce: Option<u64>) -> Result<String> {
    let chain_id = chain_id(node)?;
    let nonce = match nonce {
        Some(nonce) => nonce,
        None => get_json(
            node,
            &format!("/v1/accounts/{}", key_hex(&key.public_key())),
        )?["next_nonce"]
            .as_u64()
            .ok_or_else(|| anyhow!("the node did not say the signer's next nonce"))?,
    };
    let tx = TxPayload {
        chain_id,
        signer: key.public_key(),
        nonce,
        body,
    }
    .sign(key);
    let response = http()?
        .post(format!("{}/v1/tx", node.trim_end_matches('/')))
        .header("content-type", "application/octet-stream")
        .body(tx.to_bytes().to_vec())
        .send()
        .with_context(|| format!("cannot reach the node at {node}"))?;
    let accepted = read_json(response)?;
    Ok(accepted["id"].as_str().unwrap_or_default().to_string())
}

/// Wait until transaction `id` is final; its receipt.
pub fn wait_final(node: &str, id: &str) -> Result<Value> {
    for _ in 0..300 {
        let status = get_json(node, &format!("/v1/tx/{id}"))?;
        if status["status"] != "pending" {
            return Ok(status);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("transaction {id} was still pending after 30 s")
}

fn chain_id(node: &str) -> Result<String> {
    let status = get_json(node, "/v1/status")?;
    status["chain_id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("the node's status has no chain_id"))
}

/// A bearer token for `node`'s FHIR API, signed with `key`.
pub fn token(node: &str, key: &PrivateKey, ttl: Duration) -> Result<String> {
    let status = get_json(node, "/v1/status")?;
    let chain_id = status["chain_id"].as_str().unwrap_or_default().to_string();
    let org = status["org"]
        .as_str()
        .ok_or_else(|| anyhow!("the node's status does not name its organisation"))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Ok(AuthToken {
        chain_id,
        audience: OrgId::new(org)?,
        key: key.public_key(),
        expires_ms: (now + ttl).as_millis() as u64,
    }
    .sign(key))
}

/// Write `key` hex-encoded to `path` (creating its directory).
pub fn save_key(path: &Path, key: &PrivateKey) -> Result<()> {
    use commonware_codec::Encode as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, hex::encode(key.encode()))
        .with_context(|| format!("writing {}", path.display()))
}

/// POST `body` (of `content_type`) with a bearer token and read the JSON
/// answer; the node's own message on a refusal. Waits up to a minute: such
/// requests answer once their transaction is final.
pub fn post_authorized(
    node: &str,
    path: &str,
    bearer: &str,
    content_type: &str,
    body: String,
) -> Result<Value> {
    let response = client(Duration::from_secs(60))?
        .post(format!("{}{path}", node.trim_end_matches('/')))
        .header("authorization", format!("Bearer {bearer}"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .with_context(|| format!("cannot reach the node at {node} (is it running?)"))?;
    read_json(response)
}

/// `POST /fhir/{resource_type}` with a bearer token: the resource as
/// created.
pub fn post_fhir(node: &str, bearer: &str, resource_type: &str, body: &Value) -> Result<Value> {
    post_authorized(
        node,
        &format!("/fhir/{resource_type}"),
        bearer,
        "application/fhir+json",
        body.to_string(),
    )
    .with_context(|| format!("writing a {resource_type}"))
}

/// Sign `body`, submit it and wait until it is final; an error naming the
/// reason if the chain refused it.
pub fn transact(node: &str, key: &PrivateKey, body: Body) -> Result<Value> {
    let id = submit_body(node, key, body, None)?;
    let receipt = wait_final(node, &id)?;
    if receipt["status"] != "finalized" {
        bail!(
            "the chain refused transaction {id}: {}",
            receipt["reason"].as_str().unwrap_or(&receipt.to_string())
        );
    }
    Ok(receipt)
}
