//! `custodia bench`: a local 4-validator consortium as real processes and a
//! separate load generator driving it over HTTP.
//!
//! - `notes`: signed ledger transactions, finalized throughput and
//!   submit-to-finality latency read from the finalized blocks.
//! - `records`: FHIR writes and audited reads through the nodes' FHIR
//!   facades, as a hospital integration would send them.
//! - `ingest`: a synthetic cohort's transaction Bundles (51 entries a
//!   patient) through the FHIR facades, whether the rate holds as data
//!   grows, and patients found by identifier.
//! - `supply`: EPCIS-style custody events, signed sensor readings and
//!   verification queries between a manufacturer, a distributor and
//!   pharmacies.
//! - `postgres`: the same records workload against a throwaway PostgreSQL
//!   cluster on the same machine, for the side-by-side comparison.

mod abuse;
mod cohort;
mod cpu;
mod idle;
mod ingest;
mod notes;
mod postgres;
mod rate;
mod records;
mod supply;

pub use rate::Rate;

use anyhow::{bail, Context, Result};
use custodia_node::init::{init_consortium, InitOptions, InitializedOrg};
use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// Which workloads to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// Signed Note transactions straight to `POST /v1/txs`.
    Notes,
    /// FHIR writes and audited reads, then the same against PostgreSQL.
    Records,
    /// A synthetic cohort's transaction Bundles (51 entries a patient, with
    /// conditional creates), then patients found by identifier; the same
    /// against PostgreSQL.
    Ingest,
    /// Drug traceability: supply-chain events, cold-chain sensor readings and
    /// verification queries.
    Supply,
    /// An idle consortium: processor use, new data per node, and how fast
    /// a first write is final (not part of `all`).
    Idle,
    /// The hospitals' FHIR write rate alone, then while another member's
    /// node is flooded with garbage (not part of `all`).
    Abuse,
    /// Every workload but `idle` and `abuse`, one after the other, each on a fresh
    /// consortium.
    All,
}

pub struct BenchOptions {
    pub workload: Workload,
    /// Note transactions each organisation's admin submits.
    pub txs_per_org: usize,
    /// FHIR resources written (records: and as many audited reads;
    /// ingest: in bundles of 51).
    pub records: usize,
    /// Serialised packs taken through the supply chain (supply workload).
    pub packs: usize,
    /// Requests in flight per writing organisation (ingest: bundles).
    pub concurrency: usize,
    /// Skip the PostgreSQL comparison.
    pub no_postgres: bool,
    /// Synchronous standbys of the PostgreSQL comparison.
    pub postgres_standbys: usize,
    /// The nodes' time between blocks while transactions wait
    /// (`busy_block_interval_ms`).
    pub busy_block_interval_ms: u64,
    /// Keep the consortium directory afterwards (for `custodia verify`).
    pub keep: bool,
    /// Fixed rates to offer after the saturated phase (notes, records).
    pub rates: Vec<Rate>,
    /// Seconds each fixed rate runs.
    pub rate_secs: u64,
    /// Seconds the idle workload leaves the consortium alone.
    pub idle_secs: u64,
}

pub fn run(options: BenchOptions) -> Result<()> {
    if matches!(options.workload, Workload::Notes | Workload::All) {
        notes::run(&options)?;
    }
    if matches!(options.workload, Workload::Records | Workload::All) {
        records::run(&options)?;
    }
    if matches!(options.workload, Workload::Ingest | Workload::All) {
        ingest::run(&options)?;
    }
    if matches!(options.workload, Workload::Supply | Workload::All) {
        supply::run(&options)?;
    }
    if options.workload == Workload::Idle {
        idle::run(&options)?;
    }
    if options.workload == Workload::Abuse {
        abuse::run(&options)?;
    }
    Ok(())
}

const ORGS: usize = 4;

/// See [`custodia_node::init::free_loopback_ports`].
fn free_ports(count: u16) -> Result<u16> {
    Ok(custodia_node::init::free_loopback_ports(count)?)
}

/// The node processes; stopped (SIGTERM, then SIGKILL) when dropped.
struct Consortium {
    dir: PathBuf,
    orgs: Vec<InitializedOrg>,
    children: Vec<Child>,
    keep: bool,
}

impl Consortium {
    /// A fresh consortium of [`ORGS`] members on free loopback ports,
    /// started and finalizing.
    fn start(name: &str, options: &BenchOptions) -> Result<Self> {
        Self::start_from(name, options, 0)
    }

    /// As [`Consortium::start`], with the demo's organisations from the
    /// `first_org`th (4: the supply chain's).
    fn start_from(name: &str, options: &BenchOptions, first_org: usize) -> Result<Self> {
        let keep = options.keep;
        let dir =
            std::env::temp_dir().join(format!("custodia-bench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let init = InitOptions {
            p2p_base_port: free_ports(ORGS as u16)?,
            api_base_port: free_ports(ORGS as u16)?,
            first_org,
            ..InitOptions::new(ORGS)
        };
        let orgs = init_consortium(&dir, &init)?;
        for org in &orgs {
            let mut home = custodia_node::home::Home::load(&org.home)?;
            home.config.busy_block_interval_ms = options.busy_block_interval_ms;
            std::fs::write(
                custodia_node::home::Home::config_path(&org.home),
                home.config.to_commented_toml(),
            )?;
        }
        let exe = std::env::current_exe().context("finding the custodia binary")?;
        let mut consortium = Self {
            dir,
            orgs,
            children: Vec::new(),
            keep,
        };
        for org in &consortium.orgs {
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
        consortium.wait_finalizing()?;
        Ok(consortium)
    }

    fn apis(&self) -> Vec<String> {
        self.orgs
            .iter()
            .map(|o| format!("http://{}", o.api))
            .collect()
    }

    /// Wait until every node has finalized `height`.
    fn wait_height(&self, height: u64) -> Result<()> {
        let client = http();
        let started = Instant::now();
        for api in self.apis() {
            while get_json(&client, &format!("{api}/v1/status"))
                .and_then(|s| s["finalized_height"].as_u64())
                .unwrap_or(0)
                < height
            {
                if started.elapsed() > Duration::from_secs(60) {
                    bail!("{api} did not reach height {height} within 60 s");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }

    fn wait_finalizing(&self) -> Result<()> {
        let client = http();
        let status = format!("{}/v1/status", self.apis()[0]);
        let ready = Instant::now();
        loop {
            let height = get_json(&client, &status)
                .and_then(|s| s["finalized_height"].as_u64())
                .unwrap_or(0);
            // The first block comes as soon as a quorum is voting; the
            // next only at the heartbeat, or when the load arrives.
            if height >= 1 {
                return Ok(());
            }
            if ready.elapsed() > Duration::from_secs(60) {
                bail!(
                    "the consortium did not start finalizing within 60 s; see {}/*/node.log",
                    self.dir.display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
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
        if self.keep {
            println!("  consortium kept in  {}", self.dir.display());
        } else {
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

/// Latencies, sorted, summarised.
struct Latencies(Vec<Duration>);

impl Latencies {
    fn new(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        Self(samples)
    }

    fn percentile(&self, p: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        let index = ((self.0.len() as f64 - 1.0) * p).round() as usize;
        self.0[index]
    }

    /// "p50 12 ms, p99 40 ms"
    fn summary(&self) -> String {
        format!(
            "p50 {:.1} ms, p99 {:.1} ms",
            self.percentile(0.50).as_secs_f64() * 1e3,
            self.percentile(0.99).as_secs_f64() * 1e3
        )
    }
}
