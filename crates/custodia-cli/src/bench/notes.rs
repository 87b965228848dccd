//! Ledger throughput: signed Note transactions submitted in batches to
//! `POST /v1/txs`, finalized throughput and submit-to-finality latency
//! measured from the finalized blocks themselves.

use super::{
    get_json, http,
    rate::{RateRun, Schedule},
    BenchOptions, Consortium, Latencies, ORGS,
};
use anyhow::{bail, Result};
use commonware_cryptography::Signer as _;
use custodia_node::home::Home;
use custodia_types::{Body, SignedTx, TxPayload};
use std::{
    collections::HashMap,
    io::Write as _,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

/// Transactions per `POST /v1/txs`.
const BATCH: usize = 250;

/// Verifications/s of one core: the ceiling every validator works under.
fn ed25519_verifications_per_second() -> f64 {
    let key = custodia_types::generate_key();
    let tx = TxPayload {
        chain_id: "bench".into(),
        signer: key.public_key(),
        nonce: 0,
        body: Body::Note {
            data: vec![7u8; 64].into(),
        },
    }
    .sign(&key);
    let start = Instant::now();
    let mut count = 0u64;
    while start.elapsed() < Duration::from_secs(1) {
        for _ in 0..256 {
            assert!(tx.verify_signature());
        }
        count += 256;
    }
    count as f64 / start.elapsed().as_secs_f64()
}

pub fn run(options: &BenchOptions) -> Result<()> {
    eprintln!("measuring single-core ed25519 verification...");
    let ceiling = ed25519_verifications_per_second();
    let consortium = Consortium::start("notes", options)?;
    let orgs = &consortium.orgs;
    let apis = consortium.apis();

    // Sign everything before the clock starts: the load generator measures
    // the chain, not its own signing.
    eprintln!("signing {} transactions...", options.txs_per_org * ORGS);
    let signers: Vec<Home> = orgs
        .iter()
        .map(|org| Home::load(&org.home))
        .collect::<Result<_, _>>()?;
    let sign = |nonces: std::ops::Range<u64>| -> Vec<Vec<SignedTx>> {
        signers
            .iter()
            .map(|home| {
                let key = &home.admin_key;
                nonces
                    .clone()
                    .map(|nonce| {
                        TxPayload {
                            chain_id: home.genesis.chain_id.clone(),
                            signer: key.public_key(),
                            nonce,
                            body: Body::Note {
                                data: nonce.to_be_bytes().repeat(8).into(),
                            },
                        }
                        .sign(key)
                    })
                    .collect()
            })
            .collect()
    };
    let work = sign(0..options.txs_per_org as u64);
    let total = work.iter().map(Vec::len).sum::<usize>() as u64;
    let Driven {
        finalized,
        window,
        latencies,
        blocks,
        refused,
    } = drive(&apis, work)?;

    println!("custodia bench: {ORGS} validators as local processes, {total} signed Note transactions over HTTP");
    println!(
        "  finalized           {finalized} txs in {window:.2} s = {:.0} tx/s",
        finalized as f64 / window
    );
    println!("  submit-to-finality  {}", latencies.summary());
    let busy: Vec<_> = blocks.iter().filter(|(_, txs)| *txs > 0).collect();
    println!(
        "  blocks              {} with transactions, {:.0} txs per block on average, largest {}",
        busy.len(),
        busy.iter().map(|(_, t)| *t).sum::<usize>() as f64 / busy.len().max(1) as f64,
        busy.iter().map(|(_, t)| *t).max().unwrap_or(0)
    );
    println!("  refused             {refused}");
    println!("  ceiling             {ceiling:.0} ed25519 verifications/s on one core");
    if !options.rates.is_empty() {
        let max = finalized as f64 / window;
        println!(
            "  at fixed rates ({} s each; latency from when each note was due to seen final, within {} ms):",
            options.rate_secs,
            RATE_TICK.as_millis()
        );
        let mut next_nonce = options.txs_per_org as u64;
        for rate in &options.rates {
            let schedule =
                Schedule::new(rate.per_second(max), Duration::from_secs(options.rate_secs));
            let per_org = schedule.count().div_ceil(ORGS) as u64;
            eprintln!(
                "signing {} notes for {}...",
                per_org * ORGS as u64,
                rate.label(max)
            );
            let work = sign(next_nonce..next_nonce + per_org);
            next_nonce += per_org;
            // Signing took a while: the schedule starts now.
            let schedule =
                Schedule::new(rate.per_second(max), Duration::from_secs(options.rate_secs));
            let run = drive_at_rate(&apis, work, schedule, rate.label(max))?;
            println!("{}", run.line());
        }
    }
    drop(consortium);
    Ok(())
}

/// What driving a load measured.
pub(super) struct Driven {
    /// Transactions seen in finalized blocks (applied or rejected: check
    /// receipts where that matters).
    pub finalized: usize,
    /// Seconds from the first submission to the last finalization.
    pub window: f64,
    pub latencies: Latencies,
    /// (height, transactions) of every finalized block seen.
    pub blocks: Vec<(u64, usize)>,
    /// Refused at admission.
    pub refused: u64,
}

/// Submits each list of signed transactions in order, in batches to
/// `POST /v1/txs` (list i to node i, round robin), from its own thread, and
/// watches the finalized blocks until every admitted one is in a block.
pub(super) fn drive(apis: &[String], work: Vec<Vec<SignedTx>>) -> Result<Driven> {
    let total = work.iter().map(Vec::len).sum::<usize>() as u64;

    let submitted_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let submitted = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));

    let observer = Observer::start(&apis[0], Duration::from_millis(20));
    let finalized_at = observer.finalized_at.clone();

    let started = Instant::now();
    let loaders: Vec<_> = work
        .into_iter()
        .zip(apis.iter().cycle().cloned())
        .map(|(txs, api)| {
            let (submitted_at, submitted, refused) =
                (submitted_at.clone(), submitted.clone(), refused.clone());
            std::thread::spawn(move || {
                let client = http();
                let url = format!("{api}/v1/txs");
                let mut rest: &[SignedTx] = &txs;
                while !rest.is_empty() {
                    let batch = &rest[..rest.len().min(BATCH)];
                    let sent = Instant::now();
                    let answers = match post_batch(&client, &url, batch) {
                        Some(answers) => answers,
                        None => {
                            std::thread::sleep(Duration::from_millis(50));
                            continue;
                        }
                    };
                    let mut taken = 0;
                    for (tx, answer) in batch.iter().zip(&answers) {
                        if answer["status"] == "pending" {
                            submitted_at
                                .lock()
                                .expect("lock")
                                .insert(tx.id().to_string(), sent);
                            submitted.fetch_add(1, Ordering::Relaxed);
                        } else if answer["code"] == "mempool_full" {
                            // Resend from here, in order, once there is room.
                            std::thread::sleep(Duration::from_millis(20));
                            break;
                        } else {
                            if refused.fetch_add(1, Ordering::Relaxed) == 0 {
                                eprintln!("\nfirst refusal: {answer}");
                            }
                        }
                        taken += 1;
                    }
                    rest = &rest[taken..];
                }
            })
        })
        .collect();

    let deadline = Duration::from_secs(300);
    loop {
        let done = finalized_at.lock().expect("lock").len() as u64;
        eprint!(
            "\r  submitted {:>7}/{total}  finalized {:>7}/{total}  {:>5.1}s",
            submitted.load(Ordering::Relaxed),
            done,
            started.elapsed().as_secs_f64()
        );
        let _ = std::io::stderr().flush();
        if done >= total - refused.load(Ordering::Relaxed)
            && loaders.iter().all(|l| l.is_finished())
        {
            break;
        }
        if started.elapsed() > deadline {
            eprintln!();
            bail!("not every transaction finalized within {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    eprintln!();
    for loader in loaders {
        let _ = loader.join();
    }
    let blocks = observer.stop();

    let submitted_at = submitted_at.lock().expect("lock");
    let finalized_at = finalized_at.lock().expect("lock");
    let latencies = Latencies::new(
        submitted_at
            .iter()
            .filter_map(|(id, sent)| {
                finalized_at
                    .get(id)
                    .map(|seen| seen.saturating_duration_since(*sent))
            })
            .collect(),
    );
    let first = submitted_at.values().min().copied().unwrap_or(started);
    let last = finalized_at.values().max().copied().unwrap_or(started);
    let window = last
        .saturating_duration_since(first)
        .as_secs_f64()
        .max(1e-9);
    let finalized = latencies.0.len();
    Ok(Driven {
        finalized,
        window,
        latencies,
        blocks,
        refused: refused.load(Ordering::Relaxed),
    })
}

/// `POST /v1/txs` with `batch`; the node's answer for each transaction,
/// or `None` if it could not be reached or answered no list.
fn post_batch(
    client: &reqwest::blocking::Client,
    url: &str,
    batch: &[SignedTx],
) -> Option<Vec<serde_json::Value>> {
    let body = custodia_types::framing::encode_txs(
        &batch.iter().map(|tx| tx.to_bytes()).collect::<Vec<_>>(),
    );
    client
        .post(url)
        .header("content-type", "application/octet-stream")
        .body(body.to_vec())
        .send()
        .and_then(|r| r.text())
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
}

/// Watches one node's finalized blocks and notes when each transaction
/// was first seen final.
struct Observer {
    finalized_at: Arc<Mutex<HashMap<String, Instant>>>,
    /// (height, transactions) of every finalized block seen.
    blocks: Arc<Mutex<Vec<(u64, usize)>>>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Observer {
    /// Look at `api`'s finalized height every `poll` (the error of every
    /// latency it gives), from the blocks after the current one.
    fn start(api: &str, poll: Duration) -> Self {
        let finalized_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let blocks: Arc<Mutex<Vec<(u64, usize)>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (api, finalized_at, stop, blocks) = (
                api.to_string(),
                finalized_at.clone(),
                stop.clone(),
                blocks.clone(),
            );
            std::thread::spawn(move || {
                let client = http();
                // Only blocks from now on: earlier ones hold none of this work.
                let mut next = get_json(&client, &format!("{api}/v1/status"))
                    .and_then(|s| s["finalized_height"].as_u64())
                    .unwrap_or(0)
                    + 1;
                while !stop.load(Ordering::Relaxed) {
                    let height = get_json(&client, &format!("{api}/v1/status"))
                        .and_then(|s| s["finalized_height"].as_u64())
                        .unwrap_or(0);
                    while next <= height {
                        let Some(block) = get_json(&client, &format!("{api}/v1/blocks/{next}"))
                        else {
                            break;
                        };
                        let seen = Instant::now();
                        let mut finalized = finalized_at.lock().expect("lock");
                        let txs = block["transactions"].as_array().map_or(0, Vec::len);
                        blocks.lock().expect("lock").push((next, txs));
                        for tx in block["transactions"].as_array().into_iter().flatten() {
                            if let Some(id) = tx["id"].as_str() {
                                finalized.insert(id.to_string(), seen);
                            }
                        }
                        next += 1;
                    }
                    std::thread::sleep(poll);
                }
            })
        };
        Self {
            finalized_at,
            blocks,
            stop,
            thread,
        }
    }

    /// Stop watching; the blocks seen.
    fn stop(self) -> Vec<(u64, usize)> {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        std::mem::take(&mut *self.blocks.lock().expect("lock"))
    }
}

/// How often a fixed-rate run's senders post what has fallen due (one
/// batch per organisation): part of every latency, and counted in it.
const RATE_TICK: Duration = Duration::from_millis(5);

/// Notes at a fixed rate: `work[i]` is organisation i's next transactions,
/// in nonce order; note `k` overall (organisation `k % work.len()`) is due
/// at `schedule.due(k)`. Latency is from due to seen in a finalized block
/// (seen within `RATE_TICK`).
pub(super) fn drive_at_rate(
    apis: &[String],
    work: Vec<Vec<SignedTx>>,
    schedule: Schedule,
    label: String,
) -> Result<RateRun> {
    let orgs = work.len();
    let observer = Observer::start(&apis[0], RATE_TICK);
    let due_of: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let failures: Arc<Mutex<(usize, Option<String>)>> = Arc::default();
    let senders: Vec<_> = work
        .into_iter()
        .enumerate()
        .zip(apis.iter().cycle().cloned())
        .map(|((org, txs), api)| {
            let (due_of, failures) = (due_of.clone(), failures.clone());
            std::thread::spawn(move || {
                let client = http();
                let url = format!("{api}/v1/txs");
                let mut sent = 0;
                while sent < txs.len() {
                    let now = Instant::now();
                    // Note `sent` of this organisation is note
                    // `sent * orgs + org` overall.
                    let mut until = sent;
                    while until < txs.len() && schedule.due(until * orgs + org) <= now {
                        until += 1;
                    }
                    if until == sent {
                        std::thread::sleep(RATE_TICK);
                        continue;
                    }
                    let batch = &txs[sent..until];
                    let answers = post_batch(&client, &url, batch).unwrap_or_default();
                    for (i, tx) in batch.iter().enumerate() {
                        let due = schedule.due((sent + i) * orgs + org);
                        match answers.get(i) {
                            Some(answer) if answer["status"] == "pending" => {
                                due_of
                                    .lock()
                                    .expect("lock")
                                    .insert(tx.id().to_string(), due);
                            }
                            other => {
                                let mut failures = failures.lock().expect("lock");
                                failures.0 += 1;
                                failures.1.get_or_insert_with(|| {
                                    other.map_or("no answer".into(), |a| a.to_string())
                                });
                            }
                        }
                    }
                    sent = until;
                }
            })
        })
        .collect();
    for sender in senders {
        let _ = sender.join();
    }
    // Wait for the admitted ones to be final (a minute at most).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let waiting = {
            let due_of = due_of.lock().expect("lock");
            let finalized = observer.finalized_at.lock().expect("lock");
            due_of
                .keys()
                .filter(|id| !finalized.contains_key(*id))
                .count()
        };
        if waiting == 0 || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let finalized_at = observer.finalized_at.clone();
    observer.stop();
    let due_of = due_of.lock().expect("lock");
    let finalized_at = finalized_at.lock().expect("lock");
    let (mut failed, first_error) = std::mem::take(&mut *failures.lock().expect("lock"));
    let mut latencies = Vec::new();
    let mut last = schedule.due(0);
    for (id, due) in due_of.iter() {
        match finalized_at.get(id) {
            Some(seen) => {
                latencies.push(seen.saturating_duration_since(*due));
                last = last.max(*seen);
            }
            None => failed += 1,
        }
    }
    Ok(RateRun {
        label,
        done: latencies.len(),
        failed,
        first_error,
        seconds: last
            .saturating_duration_since(schedule.due(0))
            .as_secs_f64(),
        latencies: Latencies::new(latencies),
    })
}
