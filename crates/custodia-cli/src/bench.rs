//! `custodia bench`: a local 4-validator consortium as real processes, a
//! separate load generator submitting signed transactions over HTTP, and
//! finalized throughput and submit-to-finality latency measured from the
//! finalized blocks themselves.

use anyhow::{bail, Context, Result};
use commonware_cryptography::Signer as _;
use custodia_node::{
    home::Home,
    init::{init_consortium, InitOptions},
};
use custodia_types::{Body, SignedTx, TxPayload};
use std::{
    collections::HashMap,
    io::Write as _,
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

pub struct BenchOptions {
    /// Transactions each organisation's admin submits.
    pub txs_per_org: usize,
    /// Keep the consortium directory afterwards (for `custodia verify`).
    pub keep: bool,
}

const ORGS: usize = 4;
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

fn free_ports(count: u16) -> Result<u16> {
    for _ in 0..200 {
        let base = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        if base > 65_000 - count {
            continue;
        }
        let held: Vec<_> = (base..base + count)
            .map(|p| TcpListener::bind(("127.0.0.1", p)))
            .collect();
        if held.iter().all(|h| h.is_ok()) {
            return Ok(base);
        }
    }
    bail!("no run of {count} free ports on 127.0.0.1")
}

/// The node processes; stopped (SIGTERM, then SIGKILL) when dropped.
struct Consortium {
    dir: PathBuf,
    children: Vec<Child>,
    keep: bool,
}

impl Drop for Consortium {
    fn drop(&mut self) {
        for child in &self.children {
            // SAFETY: kill(2) on a child we spawned and still own.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        }
        for child in &mut self.children {
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a plain HTTP client always builds")
}

fn get_json(client: &reqwest::blocking::Client, url: &str) -> Option<serde_json::Value> {
    let text = client.get(url).send().ok()?.text().ok()?;
    serde_json::from_str(&text).ok()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

pub fn run(options: BenchOptions) -> Result<()> {
    eprintln!("measuring single-core ed25519 verification...");
    let ceiling = ed25519_verifications_per_second();

    let dir = std::env::temp_dir().join(format!("custodia-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let init = InitOptions {
        p2p_base_port: free_ports(ORGS as u16)?,
        api_base_port: free_ports(ORGS as u16)?,
        ..InitOptions::new(ORGS)
    };
    let orgs = init_consortium(&dir, &init)?;
    let exe = std::env::current_exe().context("finding the custodia binary")?;
    let mut consortium = Consortium {
        dir: dir.clone(),
        children: Vec::new(),
        keep: options.keep,
    };
    for org in &orgs {
        let log = std::fs::File::create(org.home.join("node.log"))?;
        consortium.children.push(
            Command::new(&exe)
                .args(["node", "--home"])
                .arg(&org.home)
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .context("starting a node")?,
        );
    }
    let apis: Vec<String> = orgs.iter().map(|o| format!("http://{}", o.api)).collect();
    let client = http();
    let ready = Instant::now();
    loop {
        let height = get_json(&client, &format!("{}/v1/status", apis[0]))
            .and_then(|s| s["finalized_height"].as_u64())
            .unwrap_or(0);
        if height >= 2 {
            break;
        }
        if ready.elapsed() > Duration::from_secs(60) {
            bail!(
                "the consortium did not start finalizing within 60 s; see {}/*/node.log",
                dir.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    // Sign everything before the clock starts: the load generator measures
    // the chain, not its own signing.
    eprintln!("signing {} transactions...", options.txs_per_org * ORGS);
    let mut work: Vec<Vec<SignedTx>> = Vec::new();
    for org in &orgs {
        let home = Home::load(&org.home)?;
        let key = home.admin_key.clone();
        work.push(
            (0..options.txs_per_org as u64)
                .map(|nonce| {
                    TxPayload {
                        chain_id: home.genesis.chain_id.clone(),
                        signer: key.public_key(),
                        nonce,
                        body: Body::Note {
                            data: nonce.to_be_bytes().repeat(8).into(),
                        },
                    }
                    .sign(&key)
                })
                .collect(),
        );
    }
    let total = work.iter().map(Vec::len).sum::<usize>() as u64;

    let submitted_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let finalized_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let submitted = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));

    let blocks = Arc::new(Mutex::new(Vec::<(u64, usize)>::new()));
    let observer = {
        let (api, finalized_at, stop, blocks) = (
            apis[0].clone(),
            finalized_at.clone(),
            stop.clone(),
            blocks.clone(),
        );
        std::thread::spawn(move || {
            let client = http();
            let mut next = 1u64;
            while !stop.load(Ordering::Relaxed) {
                let height = get_json(&client, &format!("{api}/v1/status"))
                    .and_then(|s| s["finalized_height"].as_u64())
                    .unwrap_or(0);
                while next <= height {
                    let Some(block) = get_json(&client, &format!("{api}/v1/blocks/{next}")) else {
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
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };

    let started = Instant::now();
    let loaders: Vec<_> = work
        .into_iter()
        .zip(apis.clone())
        .map(|(txs, api)| {
            let (submitted_at, submitted, refused) =
                (submitted_at.clone(), submitted.clone(), refused.clone());
            std::thread::spawn(move || {
                let client = http();
                let url = format!("{api}/v1/txs");
                let mut rest: &[SignedTx] = &txs;
                while !rest.is_empty() {
                    let batch = &rest[..rest.len().min(BATCH)];
                    let body = custodia_node::engine::gossip::encode(
                        &batch.iter().map(|tx| tx.to_bytes()).collect::<Vec<_>>(),
                    );
                    let sent = Instant::now();
                    let answers: Vec<serde_json::Value> = match client
                        .post(&url)
                        .header("content-type", "application/octet-stream")
                        .body(body.to_vec())
                        .send()
                        .and_then(|r| r.text())
                        .ok()
                        .and_then(|t| serde_json::from_str(&t).ok())
                    {
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
                            refused.fetch_add(1, Ordering::Relaxed);
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
    stop.store(true, Ordering::Relaxed);
    for loader in loaders {
        let _ = loader.join();
    }
    let _ = observer.join();

    let submitted_at = submitted_at.lock().expect("lock");
    let finalized_at = finalized_at.lock().expect("lock");
    let mut latencies: Vec<Duration> = submitted_at
        .iter()
        .filter_map(|(id, sent)| {
            finalized_at
                .get(id)
                .map(|seen| seen.saturating_duration_since(*sent))
        })
        .collect();
    latencies.sort();
    let first = submitted_at.values().min().copied().unwrap_or(started);
    let last = finalized_at.values().max().copied().unwrap_or(started);
    let window = last
        .saturating_duration_since(first)
        .as_secs_f64()
        .max(1e-9);
    let finalized = latencies.len();

    println!("custodia bench: {ORGS} validators as local processes, {total} signed Note transactions over HTTP");
    println!(
        "  finalized           {finalized} txs in {window:.2} s = {:.0} tx/s",
        finalized as f64 / window
    );
    println!(
        "  submit-to-finality  p50 {:.0} ms, p99 {:.0} ms",
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3
    );
    let blocks = blocks.lock().expect("lock");
    let busy: Vec<_> = blocks.iter().filter(|(_, txs)| *txs > 0).collect();
    println!(
        "  blocks              {} with transactions, {:.0} txs per block on average, largest {}",
        busy.len(),
        busy.iter().map(|(_, t)| *t).sum::<usize>() as f64 / busy.len().max(1) as f64,
        busy.iter().map(|(_, t)| *t).max().unwrap_or(0)
    );
    println!("  refused             {}", refused.load(Ordering::Relaxed));
    println!("  ceiling             {ceiling:.0} ed25519 verifications/s on one core");
    if options.keep {
        println!("  consortium kept in  {}", dir.display());
    }
    drop(consortium);
    Ok(())
}
