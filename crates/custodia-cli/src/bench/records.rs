//! The records workload: FHIR Observations written through each hospital's
//! FHIR facade (validated, encrypted into the vault, recorded on the chain,
//! answered once final), then read back by the custodian's clinicians
//! (each read answered only after its audit event is final). The same
//! workload then runs against PostgreSQL.

use super::{
    cpu, postgres,
    rate::{RateRun, Schedule},
    BenchOptions, Consortium, Latencies, ORGS,
};
use anyhow::{anyhow, Result};
use commonware_cryptography::Signer as _;
use custodia_node::home::{disk_use, DiskUse, Home};
use custodia_types::{generate_key, AgentKind, Body, OrgRole};
use serde_json::json;
use std::{
    io::Write as _,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

/// Patients each writing organisation has; writes spread over them.
const PATIENTS_PER_ORG: usize = 20;

/// One hospital's side of the load: its node, a clinician's token and its
/// patients.
pub(super) struct Writer {
    api: String,
    bearer: String,
    patients: Vec<String>,
}

/// What one phase measured.
pub(super) struct Phase {
    pub done: usize,
    pub failed: usize,
    pub first_error: Option<String>,
    pub seconds: f64,
    pub latencies: Latencies,
    /// The machine's processor use while the phase ran.
    pub cpu: Option<super::cpu::Use>,
}

impl Phase {
    pub fn line(&self, what: &str) -> String {
        format!(
            "  {what:<28} {:>6} in {:>6.2} s = {:>6.0}/s   {}{}",
            self.done,
            self.seconds,
            self.done as f64 / self.seconds.max(1e-9),
            self.latencies.summary(),
            if self.failed > 0 {
                format!("   ({} failed)", self.failed)
            } else {
                String::new()
            }
        ) + &self
            .cpu
            .map(|cpu| format!("\n  {:<28} {cpu}", ""))
            .unwrap_or_default()
    }
}

pub fn run(options: &BenchOptions) -> Result<()> {
    let consortium = Consortium::start("records", options)?;
    eprintln!("registering clinicians and patients...");
    let writers = setup(&consortium)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let in_flight = options.concurrency * writers.len();

    eprintln!(
        "writing {} Observations, {in_flight} requests in flight...",
        options.records
    );
    let writers = Arc::new(writers);
    let disk = Disk::of(&consortium)?;
    let before_writes = disk.used();
    let started = cpu::now();
    let (mut writes, written) = runtime.block_on(write_phase(
        writers.clone(),
        options.records,
        options.concurrency,
    ));
    writes.cpu = cpu::Use::since(started);
    let after_writes = disk.used();
    eprintln!("reading them back, each read audited on the chain...");
    let started = cpu::now();
    let mut reads = runtime.block_on(read_phase(writers.clone(), written, options.concurrency));
    reads.cpu = cpu::Use::since(started);
    let after_reads = disk.used();
    let max = writes.done as f64 / writes.seconds.max(1e-9);
    let mut at_rates = Vec::new();
    for rate in &options.rates {
        eprintln!(
            "FHIR writes at {} for {} s...",
            rate.label(max),
            options.rate_secs
        );
        let schedule = Schedule::new(rate.per_second(max), Duration::from_secs(options.rate_secs));
        at_rates.push(runtime.block_on(write_at_rate(writers.clone(), schedule, rate.label(max))));
    }
    drop(consortium);

    println!(
        "custodia bench records: {ORGS} validators as local processes, {} writing organisations, {in_flight} requests in flight",
        writers.len()
    );
    println!("{}", writes.line("FHIR writes (final)"));
    println!("{}", reads.line("audited FHIR reads (final)"));
    println!(
        "  disk per node, each write   {}",
        Disk::growth(&before_writes, &after_writes, writes.done)
    );
    println!(
        "  disk per node, each read    {}",
        Disk::growth(&after_writes, &after_reads, reads.done)
    );
    for phase in [&writes, &reads] {
        if let Some(error) = &phase.first_error {
            println!("  first failure: {error}");
        }
    }
    if !at_rates.is_empty() {
        println!("  FHIR writes at fixed rates (latency from when each was due to its answer):");
        for run in &at_rates {
            println!("{}", run.line());
        }
    }
    if options.no_postgres {
        return Ok(());
    }
    let body = custodia_fhir::example("Observation", &writers[0].patients[0])
        .ok_or_else(|| anyhow!("no Observation example"))?
        .to_string();
    let standbys = options.postgres_standbys;
    let rates: Vec<(String, f64)> = options
        .rates
        .iter()
        .map(|rate| (rate.label(max), rate.per_second(max)))
        .collect();
    let comparison = postgres::Comparison {
        records: options.records,
        clients: in_flight,
        standbys,
        body: &body,
        rates: &rates,
        rate_secs: options.rate_secs,
    };
    match postgres::run(&comparison)? {
        Some(measured) => {
            let copies = match standbys {
                0 => String::new(),
                n => format!(", {n} synchronous standbys"),
            };
            println!(
                "PostgreSQL, same machine, synchronous_commit=on{copies}, {in_flight} clients (pgbench):"
            );
            println!("{}", measured.writes.line("row per version (commit)"));
            println!("{}", measured.reads.line("read + audit row (commit)"));
            if !measured.at_rates.is_empty() {
                println!("  rows at the chain's fixed rates (pgbench --rate: Poisson arrivals, latency from when each was due):");
                for run in &measured.at_rates {
                    println!("{}", run.line());
                }
            }
        }
        None => println!(
            "PostgreSQL comparison skipped: no initdb/pg_ctl/pgbench found (apt install postgresql)"
        ),
    }
    Ok(())
}

/// Where each node keeps the chain (`data/`) and ciphertexts (`vault/`).
struct Disk(Vec<(std::path::PathBuf, std::path::PathBuf)>);

impl Disk {
    fn of(consortium: &Consortium) -> Result<Self> {
        consortium
            .orgs
            .iter()
            .map(|org| {
                let home = Home::load(&org.home)?;
                Ok((home.data_dir(), home.vault_dir()))
            })
            .collect::<Result<_>>()
            .map(Self)
    }

    /// Each node's (chain, vault) disk use.
    fn used(&self) -> Vec<(DiskUse, DiskUse)> {
        self.0
            .iter()
            .map(|(data, vault)| (disk_use(data), disk_use(vault)))
            .collect()
    }

    /// "chain 2.2 KiB written (2.3 allocated), vault ..." a request, the
    /// most of any node. Both counts: the chain's archives have sparse
    /// tables (allocated lags written), the vault's log is preallocated
    /// (written lags allocated).
    fn growth(
        before: &[(DiskUse, DiskUse)],
        after: &[(DiskUse, DiskUse)],
        requests: usize,
    ) -> String {
        let most = |pick: fn(&(DiskUse, DiskUse)) -> DiskUse| {
            let grown = before
                .iter()
                .zip(after)
                .map(|(b, a)| pick(a).since(pick(b)))
                .fold(DiskUse::default(), |most, g| DiskUse {
                    written: most.written.max(g.written),
                    allocated: most.allocated.max(g.allocated),
                });
            let kib = |bytes: u64| bytes as f64 / requests.max(1) as f64 / 1024.0;
            format!(
                "{:.1} KiB written ({:.1} allocated)",
                kib(grown.written),
                kib(grown.allocated)
            )
        };
        format!(
            "chain {}, vault {}",
            most(|(chain, _)| *chain),
            most(|(_, vault)| *vault)
        )
    }
}

/// A clinician at each non-regulator member, and its patients.
pub(super) fn setup(consortium: &Consortium) -> Result<Vec<Writer>> {
    let mut writers = Vec::new();
    for (api, bearer) in clinicians(consortium)? {
        let mut patients = Vec::new();
        for i in 0..PATIENTS_PER_ORG {
            let patient = custodia_client::post_fhir(
                &api,
                &bearer,
                "Patient",
                &json!({
                    "resourceType": "Patient",
                    "name": [{ "text": format!("Bench Patient {i}") }],
                    "gender": "unknown"
                }),
            )?;
            patients.push(
                patient["id"]
                    .as_str()
                    .ok_or_else(|| anyhow!("no id in {patient}"))?
                    .to_string(),
            );
        }
        writers.push(Writer {
            api,
            bearer,
            patients,
        });
    }
    Ok(writers)
}

/// A clinician registered at each non-regulator member: its node's API and
/// the clinician's bearer token.
pub(super) fn clinicians(consortium: &Consortium) -> Result<Vec<(String, String)>> {
    let mut clinicians = Vec::new();
    for org in &consortium.orgs {
        let home = Home::load(&org.home)?;
        if home.member().is_some_and(|m| m.role == OrgRole::Regulator) {
            continue;
        }
        let api = format!("http://{}", org.api);
        let clinician = generate_key();
        crate::client::transact(
            &api,
            &home.admin_key,
            Body::RegisterAgent {
                key: clinician.public_key(),
                kind: AgentKind::Clinician,
                label: "bench".into(),
            },
        )?;
        let bearer = crate::client::token(&api, &clinician, Duration::from_secs(3600))?;
        clinicians.push((api, bearer));
    }
    Ok(clinicians)
}

pub(super) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(1024)
        .build()
        .expect("a plain HTTP client always builds")
}

/// Results shared by a phase's tasks.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    failed: usize,
    first_error: Option<String>,
    written: Vec<(usize, String)>,
}

impl Tally {
    fn fail(&mut self, error: String) {
        self.failed += 1;
        self.first_error.get_or_insert(error);
    }
}

/// `total` writes spread over the writers, `concurrency` tasks each.
/// Returns the phase and the (writer, id) of every resource written.
pub(super) async fn write_phase(
    writers: Arc<Vec<Writer>>,
    total: usize,
    concurrency: usize,
) -> (Phase, Vec<(usize, String)>) {
    let tally = Arc::new(Mutex::new(Tally::default()));
    let per_writer = total.div_ceil(writers.len());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers.len() {
        let next = Arc::new(AtomicUsize::new(0));
        for _ in 0..concurrency {
            let (writers, tally, next) = (writers.clone(), tally.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                let client = client();
                let writer = &writers[w];
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= per_writer {
                        break;
                    }
                    let sent = Instant::now();
                    let outcome = write_one(&client, writer, n).await;
                    let latency = sent.elapsed();
                    let mut tally = tally.lock().expect("lock");
                    match outcome {
                        Ok(id) => {
                            tally.latencies.push(latency);
                            tally.written.push((w, id));
                        }
                        Err(error) => tally.fail(error),
                    }
                }
            }));
        }
    }
    let progress = progress(tally.clone(), per_writer * writers.len());
    for task in tasks {
        let _ = task.await;
    }
    progress.abort();
    eprintln!();
    let seconds = started.elapsed().as_secs_f64();
    let mut tally = std::mem::take(&mut *tally.lock().expect("lock"));
    let written = std::mem::take(&mut tally.written);
    (finish(tally, seconds), written)
}

/// Write the writer's `n`th Observation (spread over its patients); the
/// new resource's id once final.
async fn write_one(client: &reqwest::Client, writer: &Writer, n: usize) -> Result<String, String> {
    let patient = &writer.patients[n % writer.patients.len()];
    let body = custodia_fhir::example("Observation", patient)
        .map(|b| b.to_string())
        .unwrap_or_default();
    let answer = client
        .post(format!("{}/fhir/Observation", writer.api))
        .bearer_auth(&writer.bearer)
        .header("content-type", "application/fhir+json")
        .body(body)
        .send()
        .await;
    match succeeded(answer).await {
        Ok(response) => response
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| v["id"].as_str().map(str::to_string))
            .ok_or_else(|| "a write answered without an id".to_string()),
        Err(error) => Err(error),
    }
}

/// Writes at a fixed rate, round robin over the writers: each is sent when
/// due, however many are still unanswered, and timed from when it was due.
async fn write_at_rate(writers: Arc<Vec<Writer>>, schedule: Schedule, label: String) -> RateRun {
    let tally = Arc::new(Mutex::new(Tally::default()));
    let client = client();
    let mut tasks = Vec::with_capacity(schedule.count());
    for n in 0..schedule.count() {
        let due = schedule.due(n);
        tokio::time::sleep_until(due.into()).await;
        let (writers, tally, client) = (writers.clone(), tally.clone(), client.clone());
        tasks.push(tokio::spawn(async move {
            let writer = &writers[n % writers.len()];
            let outcome = write_one(&client, writer, n / writers.len()).await;
            let latency = due.elapsed();
            let mut tally = tally.lock().expect("lock");
            match outcome {
                Ok(_) => tally.latencies.push(latency),
                Err(error) => tally.fail(error),
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let seconds = schedule.due(0).elapsed().as_secs_f64();
    let tally = std::mem::take(&mut *tally.lock().expect("lock"));
    RateRun {
        label,
        done: tally.latencies.len(),
        failed: tally.failed,
        first_error: tally.first_error,
        seconds,
        latencies: Latencies::new(tally.latencies),
    }
}

/// Read every written resource once at its custodian's node, in an order
/// unlike the writes'.
async fn read_phase(
    writers: Arc<Vec<Writer>>,
    written: Vec<(usize, String)>,
    concurrency: usize,
) -> Phase {
    let tally = Arc::new(Mutex::new(Tally::default()));
    let written = Arc::new(written);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency * writers.len() {
        let (writers, written, tally, next) = (
            writers.clone(),
            written.clone(),
            tally.clone(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let client = client();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= written.len() {
                    break;
                }
                // A scattered order that still reads each record once: a
                // prime stride is coprime with any length it does not divide.
                let stride = if written.len() % 7919 == 0 { 1 } else { 7919 };
                let (w, id) = &written[(n * stride) % written.len()];
                let writer = &writers[*w];
                let sent = Instant::now();
                let answer = client
                    .get(format!("{}/fhir/Observation/{id}", writer.api))
                    .bearer_auth(&writer.bearer)
                    .header("accept", "application/fhir+json")
                    .send()
                    .await;
                let outcome = match succeeded(answer).await {
                    Ok(response) => response
                        .bytes()
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string()),
                    Err(error) => Err(error),
                };
                let latency = sent.elapsed();
                let mut tally = tally.lock().expect("lock");
                match outcome {
                    Ok(()) => tally.latencies.push(latency),
                    Err(error) => tally.fail(error),
                }
            }
        }));
    }
    let progress = progress(tally.clone(), written.len());
    for task in tasks {
        let _ = task.await;
    }
    progress.abort();
    eprintln!();
    let seconds = started.elapsed().as_secs_f64();
    let tally = std::mem::take(&mut *tally.lock().expect("lock"));
    finish(tally, seconds)
}

/// A successful answer, or what went wrong (status and body, or transport).
pub(super) async fn succeeded(
    answer: reqwest::Result<reqwest::Response>,
) -> Result<reqwest::Response, String> {
    match answer {
        Ok(response) if response.status().is_success() => Ok(response),
        Ok(response) => Err(format!(
            "{}: {}",
            response.status(),
            response.text().await.unwrap_or_default()
        )),
        Err(e) => Err(e.to_string()),
    }
}

fn finish(tally: Tally, seconds: f64) -> Phase {
    Phase {
        done: tally.latencies.len(),
        failed: tally.failed,
        first_error: tally.first_error,
        seconds,
        latencies: Latencies::new(tally.latencies),
        cpu: None,
    }
}

/// A progress line on stderr while a phase runs.
fn progress(tally: Arc<Mutex<Tally>>, total: usize) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let started = Instant::now();
        loop {
            let (done, failed) = {
                let tally = tally.lock().expect("lock");
                (tally.latencies.len(), tally.failed)
            };
            eprint!(
                "\r  {done:>7}/{total} done, {failed} failed, {:>5.1}s",
                started.elapsed().as_secs_f64()
            );
            let _ = std::io::stderr().flush();
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
}
