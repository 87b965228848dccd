//! The ingest workload: a synthetic cohort's transaction Bundles
//! (`cohort`: 51 entries a patient, with conditional creates) loaded
//! through the hospitals' FHIR facades, each bundle all-or-nothing and
//! answered once final; whether the rate holds as the data grows (each
//! tenth of the load against the first); then patients found by medical
//! record number, each search an audited read. PostgreSQL does the same:
//! one transaction per bundle (a row per resource, an identifier row),
//! and identifier lookups with an audit row.

use super::{
    cohort::{self, ENTRIES_PER_PATIENT, MRN_SYSTEM},
    cpu, postgres,
    records::{client, clinicians, succeeded, Phase},
    BenchOptions, Consortium, Latencies, ORGS,
};
use anyhow::Result;
use std::{
    io::Write as _,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

/// Identifier searches after the load (fewer if the cohort is smaller).
const SEARCHES: usize = 2_000;

/// A hospital's node and its clinician's token.
struct Hospital {
    api: String,
    bearer: String,
    name: String,
}

#[derive(Default)]
struct Tally {
    /// Each success: its latency, and when it was answered (since the
    /// phase started).
    done: Vec<(Duration, Duration)>,
    failed: usize,
    first_error: Option<String>,
}

impl Tally {
    /// Count a request sent at `sent` in a phase that began at `started`.
    fn count(&mut self, outcome: Result<(), String>, sent: Instant, started: Instant) {
        match outcome {
            Ok(()) => self.done.push((sent.elapsed(), started.elapsed())),
            Err(error) => {
                self.failed += 1;
                self.first_error.get_or_insert(error);
            }
        }
    }

    fn phase(self, seconds: f64) -> Phase {
        Phase {
            done: self.done.len(),
            failed: self.failed,
            first_error: self.first_error,
            seconds,
            latencies: Latencies::new(self.done.iter().map(|(l, _)| *l).collect()),
            cpu: None,
        }
    }
}

pub fn run(options: &BenchOptions) -> Result<()> {
    let consortium = Consortium::start("ingest", options)?;
    eprintln!("registering clinicians...");
    let hospitals: Vec<Hospital> = clinicians(&consortium)?
        .into_iter()
        .enumerate()
        .map(|(i, (api, bearer))| Hospital {
            api,
            bearer,
            name: format!("hospital-{i}"),
        })
        .collect();
    let hospitals = Arc::new(hospitals);
    let patients = options.records.div_ceil(ENTRIES_PER_PATIENT).max(1);
    let in_flight = options.concurrency * hospitals.len();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    eprintln!(
        "loading {patients} patients' bundles ({} resources), {in_flight} bundles in flight...",
        patients * ENTRIES_PER_PATIENT
    );
    let started = cpu::now();
    let (mut load, ends) =
        runtime.block_on(load_phase(hospitals.clone(), patients, options.concurrency));
    load.cpu = cpu::Use::since(started);
    let searches = SEARCHES.min(patients);
    eprintln!("finding {searches} patients by identifier, each search an audited read...");
    let started = cpu::now();
    let mut search = runtime.block_on(search_phase(
        hospitals.clone(),
        patients,
        searches,
        options.concurrency,
    ));
    search.cpu = cpu::Use::since(started);
    drop(consortium);

    println!(
        "custodia bench ingest: {ORGS} validators as local processes, {} hospitals, {in_flight} bundles in flight, {ENTRIES_PER_PATIENT} entries a bundle",
        hospitals.len()
    );
    println!("{}", load.line("transaction bundles (final)"));
    println!(
        "  {:<28} {:.0}/s",
        "resources",
        (load.done * ENTRIES_PER_PATIENT) as f64 / load.seconds.max(1e-9)
    );
    println!("{}", tenths_line(&tenths(&ends)));
    println!("{}", search.line("identifier search (audited)"));
    for phase in [&load, &search] {
        if let Some(error) = &phase.first_error {
            println!("  first failure: {error}");
        }
    }
    if options.no_postgres {
        return Ok(());
    }
    let comparison = postgres::IngestComparison {
        patients,
        clients: in_flight,
        standbys: options.postgres_standbys,
        searches,
        patient: &cohort::patient_bundle(0, "st-mary")["entry"][0]["resource"].to_string(),
        resource: &cohort::patient_bundle(0, "st-mary")["entry"][10]["resource"].to_string(),
        per_bundle: ENTRIES_PER_PATIENT,
        system: MRN_SYSTEM,
    };
    match postgres::ingest(&comparison)? {
        Some(measured) => {
            let copies = match options.postgres_standbys {
                0 => String::new(),
                n => format!(", {n} synchronous standbys"),
            };
            println!(
                "PostgreSQL, same machine, synchronous_commit=on{copies}, {in_flight} clients (pgbench):"
            );
            println!("{}", measured.bundles.line("bundle (one transaction)"));
            println!(
                "  {:<28} {:.0}/s",
                "rows",
                (measured.bundles.done * ENTRIES_PER_PATIENT) as f64
                    / measured.bundles.seconds.max(1e-9)
            );
            println!("{}", tenths_line(&tenths(&measured.ends)));
            println!(
                "{}",
                measured.searches.line("identifier lookup + audit row")
            );
        }
        None => println!(
            "PostgreSQL comparison skipped: no initdb/pg_ctl/pgbench found (apt install postgresql)"
        ),
    }
    Ok(())
}

/// `total` numbered requests, sent by `workers` tasks each as soon as its
/// last was answered; the tally of their answers and the phase's seconds.
async fn run_phase<F, Fut>(workers: usize, total: usize, request: F) -> (Tally, f64)
where
    F: Fn(reqwest::Client, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let request = Arc::new(request);
    let tally = Arc::new(Mutex::new(Tally::default()));
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (request, tally, next) = (request.clone(), tally.clone(), next.clone());
            tokio::spawn(async move {
                let client = client();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        break;
                    }
                    let sent = Instant::now();
                    let outcome = request(client.clone(), n).await;
                    tally.lock().expect("lock").count(outcome, sent, started);
                }
            })
        })
        .collect();
    let progress = progress(tally.clone(), total);
    for task in tasks {
        let _ = task.await;
    }
    progress.abort();
    eprintln!();
    let seconds = started.elapsed().as_secs_f64();
    let tally = std::mem::take(&mut *tally.lock().expect("lock"));
    (tally, seconds)
}

/// Every patient's bundle, spread round robin over the hospitals,
/// `concurrency` in flight at each; the phase, and when each bundle was
/// answered (since the start).
async fn load_phase(
    hospitals: Arc<Vec<Hospital>>,
    patients: usize,
    concurrency: usize,
) -> (Phase, Vec<Duration>) {
    let workers = concurrency * hospitals.len();
    let (tally, seconds) = run_phase(workers, patients, move |client, n| {
        let hospitals = hospitals.clone();
        async move {
            let hospital = &hospitals[n % hospitals.len()];
            let body = cohort::patient_bundle(n, &hospital.name).to_string();
            let answer = client
                .post(format!("{}/fhir", hospital.api))
                .bearer_auth(&hospital.bearer)
                .header("content-type", "application/fhir+json")
                .body(body)
                .send()
                .await;
            succeeded(answer).await.map(|_| ())
        }
    })
    .await;
    let ends = tally.done.iter().map(|(_, end)| *end).collect();
    (tally.phase(seconds), ends)
}

/// `searches` patients found by MRN at their hospital's node, spread over
/// the cohort; a search counts only if it finds exactly that patient.
async fn search_phase(
    hospitals: Arc<Vec<Hospital>>,
    patients: usize,
    searches: usize,
    concurrency: usize,
) -> Phase {
    let workers = concurrency * hospitals.len();
    let (tally, seconds) = run_phase(workers, searches, move |client, i| {
        let hospitals = hospitals.clone();
        async move {
            // Spread over the whole cohort, oldest to newest.
            let n = i * patients / searches;
            let hospital = &hospitals[n % hospitals.len()];
            let answer = client
                .get(format!(
                    "{}/fhir/Patient?identifier={MRN_SYSTEM}|{}",
                    hospital.api,
                    cohort::mrn(n)
                ))
                .bearer_auth(&hospital.bearer)
                .send()
                .await;
            let bundle = succeeded(answer)
                .await?
                .json::<serde_json::Value>()
                .await
                .map_err(|e| e.to_string())?;
            match bundle["total"] == 1 {
                true => Ok(()),
                false => Err(format!("{} found {}", cohort::mrn(n), bundle["total"])),
            }
        }
    })
    .await;
    tally.phase(seconds)
}

/// Bundles a second in each tenth of the load (by bundles answered, in
/// the order they were answered): whether the rate holds as data grows.
pub(super) fn tenths(ends: &[Duration]) -> Vec<f64> {
    let mut ends = ends.to_vec();
    ends.sort();
    let mut rates = Vec::new();
    let mut from = Duration::ZERO;
    for k in 0..10 {
        let slice = &ends[k * ends.len() / 10..(k + 1) * ends.len() / 10];
        let Some(last) = slice.last() else {
            continue;
        };
        let seconds = last.saturating_sub(from).as_secs_f64().max(1e-9);
        rates.push(slice.len() as f64 / seconds);
        from = *last;
    }
    rates
}

fn tenths_line(rates: &[f64]) -> String {
    let listed: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
    let ratio = match (rates.first(), rates.last()) {
        (Some(first), Some(last)) if *first > 0.0 => format!("{:.0} %", last / first * 100.0),
        _ => "-".into(),
    };
    format!(
        "  {:<28} {} bundles/s; last tenth {ratio} of the first",
        "rate by tenth of the load",
        listed.join(" ")
    )
}

fn progress(tally: Arc<Mutex<Tally>>, total: usize) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let started = Instant::now();
        loop {
            let (done, failed) = {
                let tally = tally.lock().expect("lock");
                (tally.done.len(), tally.failed)
            };
            eprint!(
                "\r  {done:>7}/{total} done, {failed} failed, {:>6.1}s",
                started.elapsed().as_secs_f64()
            );
            let _ = std::io::stderr().flush();
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenths_measure_each_tenth_from_where_the_last_ended() {
        // 100 bundles: the first 50 one a 10 ms, the rest one a 20 ms.
        let mut at = Duration::ZERO;
        let ends: Vec<Duration> = (0..100)
            .map(|i| {
                at += Duration::from_millis(if i < 50 { 10 } else { 20 });
                at
            })
            .collect();
        let rates = tenths(&ends);
        assert_eq!(rates.len(), 10);
        assert!((rates[0] - 100.0).abs() < 1e-6, "{rates:?}");
        assert!((rates[9] - 50.0).abs() < 1e-6, "{rates:?}");
        assert!(tenths_line(&rates).contains("50 % of the first"));
        assert!(tenths(&[]).is_empty());
    }
}
