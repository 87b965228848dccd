//! What an idle consortium costs, and how fast it answers when work comes:
//! the machine's processor use and each node's new data while nothing is
//! submitted, then notes submitted one at a time into the quiet chain,
//! each timed from submission to final.

use super::{cpu, get_json, http, BenchOptions, Consortium, Latencies, ORGS};
use anyhow::{bail, Context, Result};
use commonware_cryptography::Signer as _;
use custodia_node::home::{disk_use, Home};
use custodia_types::{Body, TxPayload};
use std::time::{Duration, Instant};

/// Left alone before measuring: the consensus journal keeps the votes of
/// the last 256 views (about one a second while idle) behind the last
/// final block, and the marshal's caches sections of 256 views; until
/// they are full and pruning, a node's data grows faster than it will.
const WARM_UP: Duration = Duration::from_secs(300);

/// Notes submitted into the idle chain, one at a time.
const FIRST_WRITES: u64 = 20;
/// Quiet between them: not a multiple of the heartbeat, so they fall at
/// different points of it.
const QUIET: Duration = Duration::from_millis(2_300);

pub fn run(options: &BenchOptions) -> Result<()> {
    let consortium = Consortium::start("idle", options)?;
    let apis = consortium.apis();
    let client = http();
    let height = |api: &str| {
        get_json(&client, &format!("{api}/v1/status"))
            .and_then(|s| s["finalized_height"].as_u64())
            .unwrap_or(0)
    };
    let data_dirs = consortium
        .orgs
        .iter()
        .map(|org| Ok(Home::load(&org.home)?.data_dir()))
        .collect::<Result<Vec<_>>>()?;
    let data = |org: usize| disk_use(&data_dirs[org]);

    eprintln!(
        "idle for {} s (measured after {} s of warm-up)...",
        options.idle_secs,
        WARM_UP.as_secs()
    );
    std::thread::sleep(WARM_UP);
    let window = Duration::from_secs(options.idle_secs);
    let (height_before, data_before) = (height(&apis[0]), (0..ORGS).map(data).collect::<Vec<_>>());
    let (started, cpu_before) = (Instant::now(), cpu::now());
    std::thread::sleep(window);
    let cpu_use = cpu::Use::since(cpu_before);
    let seconds = started.elapsed().as_secs_f64();
    let blocks = height(&apis[0]) - height_before;
    let grown: Vec<_> = (0..ORGS)
        .map(|org| data(org).since(data_before[org]))
        .collect();
    let per_day = |bytes: u64| bytes as f64 / seconds * 86_400.0 / (1 << 20) as f64;

    eprintln!("{FIRST_WRITES} notes into the quiet chain, {QUIET:?} apart...");
    let home = Home::load(&consortium.orgs[1].home)?;
    let mut latencies = Vec::new();
    for nonce in 0..FIRST_WRITES {
        std::thread::sleep(QUIET);
        let tx = TxPayload {
            chain_id: home.genesis.chain_id.clone(),
            signer: home.admin_key.public_key(),
            nonce,
            body: Body::Note {
                data: b"after a quiet spell".to_vec().into(),
            },
        }
        .sign(&home.admin_key);
        let api = &apis[1];
        let sent = Instant::now();
        let answer = client
            .post(format!("{api}/v1/tx"))
            .header("content-type", "application/octet-stream")
            .body(tx.to_bytes().to_vec())
            .send()
            .context("submitting a note")?;
        if !answer.status().is_success() {
            bail!("a note was refused: {}", answer.text().unwrap_or_default());
        }
        let id = tx.id().to_string();
        loop {
            let status = get_json(&client, &format!("{api}/v1/tx/{id}"));
            if status.as_ref().is_some_and(|s| s["status"] != "pending") {
                break;
            }
            if sent.elapsed() > Duration::from_secs(30) {
                bail!("a note on the idle chain was not final within 30 s");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        latencies.push(sent.elapsed());
    }
    let latencies = Latencies::new(latencies);
    drop(consortium);

    println!(
        "custodia bench idle: {ORGS} validators as local processes, nothing submitted for {seconds:.0} s"
    );
    println!(
        "  blocks              {blocks} ({:.1} a minute)",
        blocks as f64 / seconds * 60.0
    );
    if let Some(cpu_use) = cpu_use {
        println!(
            "  machine busy        {:.1} % (user {:.1} %, system {:.1} %)",
            100.0 - cpu_use.idle,
            cpu_use.user,
            cpu_use.system
        );
    }
    let each = |pick: fn(&custodia_node::home::DiskUse) -> u64| {
        grown
            .iter()
            .map(|grown| format!("{:.1}", per_day(pick(grown))))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "  new data per node   written {} MiB a day; allocated {} MiB a day (at this rate:\n\
         \x20                     the archives' sparse hash tables fill page by page, a few MiB once)",
        each(|g| g.written),
        each(|g| g.allocated)
    );
    println!(
        "  first write, idle   {} submit-to-final over {FIRST_WRITES} notes {QUIET:?} apart (max {:.1} ms)",
        latencies.summary(),
        latencies.percentile(1.0).as_secs_f64() * 1e3
    );
    Ok(())
}
