//! `custodia fhir load DIR`: every `.json` and `.ndjson` file of a folder
//! into one node, each as FHIR transaction Bundles (all or nothing per
//! Bundle), with a progress bar.
//!
//! - A `transaction` Bundle (all or nothing) or `batch` (entry by entry)
//!   is sent as it is; any other Bundle (`collection`, ...) and single
//!   resources become POST entries of transactions.
//! - NDJSON (one resource a line, as Bulk Data exports write it) is sent
//!   `chunk` lines to a Bundle.
//! - Bundles of directory data only (a hospital's practitioner and
//!   organisation lists) go first, so patients' data can name them by
//!   conditional reference.
//!
//! A refused file (or batch entry) is reported with the server's first
//! issue and the load goes on; the command fails at the end if anything
//! was refused.

use anyhow::{anyhow, bail, Context, Result};
use custodia_types::PrivateKey;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What `custodia fhir load` is asked to do.
pub struct LoadConfig {
    pub dir: PathBuf,
    pub node: String,
    pub key: PrivateKey,
    /// NDJSON lines per Bundle.
    pub chunk: usize,
}

/// One Bundle to send, and where it came from.
struct Batch {
    file: String,
    bundle: Value,
    entries: u64,
    /// Every resource is of a type in no patient's compartment.
    directory_only: bool,
}

impl Batch {
    fn new(file: String, bundle: Value) -> Self {
        let resources: Vec<&Value> = bundle["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|entry| &entry["resource"])
            .collect();
        let directory_only = resources.iter().all(|r| {
            let t = r["resourceType"].as_str().unwrap_or("Patient");
            t != "Patient" && custodia_fhir::r4::compartment_paths(t).is_none()
        });
        Self {
            file,
            entries: resources.len() as u64,
            bundle,
            directory_only,
        }
    }
}

pub fn load(config: &LoadConfig) -> Result<()> {
    let files = files_in(&config.dir)?;
    if files.is_empty() {
        bail!("no .json or .ndjson files in {}", config.dir.display());
    }
    let mut batches = Vec::new();
    for file in &files {
        batches.extend(batches_of(file, config.chunk)?);
    }
    // Directory data first (practitioners, organisations, locations):
    // patients' data may name it by conditional reference.
    batches.sort_by_key(|b| !b.directory_only);
    let total: u64 = batches.iter().map(|b| b.entries).sum();
    let client = custodia_client::client(Duration::from_secs(600))?;
    let token = custodia_client::token(&config.node, &config.key, Duration::from_secs(8 * 3600))?;
    let url = format!("{}/fhir", config.node.trim_end_matches('/'));
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template(
            "{bar:40} {pos}/{len} resources, {per_sec}, {eta} left  {msg}",
        )
        .map_err(|e| anyhow!("progress bar template: {e}"))?,
    );
    let (mut created, mut existing, mut refused) = (0u64, 0u64, Vec::new());
    for batch in &batches {
        bar.set_message(batch.file.clone());
        let response = client
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", "application/fhir+json")
            .body(batch.bundle.to_string())
            .send()
            .with_context(|| format!("sending {} to {url}", batch.file))?;
        let status = response.status();
        let answer: Value = response.json().unwrap_or(Value::Null);
        if status.is_success() {
            // A batch answers each entry: some may be refused.
            for entry in answer["entry"].as_array().into_iter().flatten() {
                match entry["response"]["status"].as_str() {
                    Some(s) if s.starts_with("201") => created += 1,
                    Some(s) if s.starts_with("200") => existing += 1,
                    other => {
                        let issue = &entry["response"]["outcome"]["issue"][0];
                        let location = issue["expression"][0].as_str().unwrap_or("");
                        let why = issue["diagnostics"].as_str().unwrap_or("");
                        let status = other.unwrap_or("no status");
                        bar.suspend(|| {
                            eprintln!("refused in {} ({status}): {location} {why}", batch.file)
                        });
                        refused.push(batch.file.clone());
                    }
                }
            }
        } else {
            let issue = &answer["issue"][0];
            let location = issue["expression"][0].as_str().unwrap_or("");
            let why = issue["diagnostics"]
                .as_str()
                .unwrap_or("no OperationOutcome");
            // Printed whether or not the bar is drawn (it is not without a
            // terminal).
            bar.suspend(|| eprintln!("refused {} ({status}): {location} {why}", batch.file));
            refused.push(batch.file.clone());
        }
        bar.inc(batch.entries);
    }
    bar.finish_and_clear();
    println!(
        "{} files, {} Bundles: {created} resources created, {existing} updated or already here, {} Bundles refused",
        files.len(),
        batches.len(),
        refused.len()
    );
    if !refused.is_empty() {
        bail!("refused: {}", refused.join(", "));
    }
    Ok(())
}

/// The folder's `.json` and `.ndjson` files, in name order.
fn files_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.is_file()
                && matches!(
                    path.extension().and_then(|e| e.to_str()),
                    Some("json" | "ndjson")
                )
        })
        .collect();
    files.sort();
    Ok(files)
}

/// The Bundles one file becomes.
fn batches_of(path: &Path, chunk: usize) -> Result<Vec<Batch>> {
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let resources: Vec<Value> = if path.extension().and_then(|e| e.to_str()) == Some("ndjson") {
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| {
                serde_json::from_str(line)
                    .with_context(|| format!("{name} line {}: not JSON", i + 1))
            })
            .collect::<Result<_>>()?
    } else {
        let value: Value =
            serde_json::from_str(&text).with_context(|| format!("{name}: not JSON"))?;
        match value["type"].as_str() {
            Some("transaction" | "batch") if value["resourceType"] == "Bundle" => {
                return Ok(vec![Batch::new(name, value)]);
            }
            _ if value["resourceType"] == "Bundle" => value["entry"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e.get("resource").cloned())
                .collect(),
            _ => vec![value],
        }
    };
    Ok(resources
        .chunks(chunk.max(1))
        .map(|resources| {
            let bundle = json!({
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": resources.iter().map(|r| json!({
                    "request": { "method": "POST", "url": r["resourceType"] },
                    "resource": r,
                })).collect::<Vec<_>>(),
            });
            Batch::new(name.clone(), bundle)
        })
        .collect())
}
