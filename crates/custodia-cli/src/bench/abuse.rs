//! The abuse workload: the hospitals' FHIR write rate, alone and then while
//! one other member's node (the regulator's, which writes nothing) is
//! flooded with garbage from this machine: random bytes, oversized
//! headers, malformed transactions, forged bearer tokens and connections
//! that trickle their headers (slow-loris). The flood runs on the same
//! cores as the consortium, so its own processor use is part of the cost.

use super::{
    cpu,
    records::{setup, write_phase},
    BenchOptions, Consortium, ORGS,
};
use anyhow::{anyhow, Result};
use custodia_node::home::Home;
use custodia_types::OrgRole;
use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

/// Threads sending garbage, and connections held open by the slow-loris.
const FLOODERS: usize = 4;
const SLOW_CONNECTIONS: usize = 256;

pub fn run(options: &BenchOptions) -> Result<()> {
    let consortium = Consortium::start("abuse", options)?;
    let victim = consortium
        .orgs
        .iter()
        .position(|org| {
            Home::load(&org.home)
                .ok()
                .and_then(|home| home.member().map(|m| m.role == OrgRole::Regulator))
                .unwrap_or(false)
        })
        .ok_or_else(|| anyhow!("the consortium has no regulator to flood"))?;
    let target = consortium.orgs[victim].api;
    let flooded_pid = consortium.children[victim].id().to_string();
    // Processor seconds of the flooded node and of this process (the load
    // and, in the second phase, the flood), over a phase.
    let cpu = || {
        (
            cpu::process_seconds(&flooded_pid).unwrap_or(0.0),
            cpu::process_seconds("self").unwrap_or(0.0),
        )
    };
    eprintln!("registering clinicians and patients...");
    let writers = Arc::new(setup(&consortium)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;

    eprintln!("{} FHIR writes, no flood...", options.records);
    let before = cpu();
    let (alone, _) = runtime.block_on(write_phase(
        writers.clone(),
        options.records,
        options.concurrency,
    ));
    let after_alone = cpu();
    eprintln!(
        "{} FHIR writes while {target} is flooded...",
        options.records
    );
    let flood = Flood::start(target);
    let (flooded, _) = runtime.block_on(write_phase(
        writers.clone(),
        options.records,
        options.concurrency,
    ));
    let sent = flood.stop();
    let after_flood = cpu();
    let refusals = refusals(target);
    drop(consortium);

    let rate = |phase: &super::records::Phase| phase.done as f64 / phase.seconds.max(1e-9);
    println!(
        "custodia bench abuse: {ORGS} validators as local processes, {} writing organisations, {} requests in flight; the regulator's node flooded from {FLOODERS} threads and {SLOW_CONNECTIONS} slow-loris connections",
        writers.len(),
        options.concurrency * writers.len()
    );
    println!("{}", alone.line("FHIR writes, no flood"));
    println!("{}", flooded.line("FHIR writes, flood"));
    println!(
        "  under the flood: {:.0} % of the rate alone",
        100.0 * rate(&flooded) / rate(&alone).max(1e-9)
    );
    println!("  garbage sent: {sent}");
    let used = |from: (f64, f64), to: (f64, f64), seconds: f64| {
        format!(
            "flooded node {:.2} cores, load generator {:.2} cores",
            (to.0 - from.0) / seconds.max(1e-9),
            (to.1 - from.1) / seconds.max(1e-9)
        )
    };
    println!(
        "  processors, no flood: {}",
        used(before, after_alone, alone.seconds)
    );
    println!(
        "  processors, flood:    {}",
        used(after_alone, after_flood, flooded.seconds)
    );
    println!("  the flooded node's refusals: {refusals}");
    for phase in [&alone, &flooded] {
        if let Some(error) = &phase.first_error {
            println!("  first failure: {error}");
        }
    }
    Ok(())
}

/// The garbage senders, until stopped.
struct Flood {
    running: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Flood {
    fn start(target: SocketAddr) -> Self {
        let running = Arc::new(AtomicBool::new(true));
        let sent = Arc::new(AtomicU64::new(0));
        let mut threads: Vec<_> = (0..FLOODERS)
            .map(|k| {
                let (running, sent) = (running.clone(), sent.clone());
                std::thread::spawn(move || {
                    let mut n = k as u64;
                    while running.load(Ordering::Relaxed) {
                        send_garbage(target, n);
                        sent.fetch_add(1, Ordering::Relaxed);
                        n += FLOODERS as u64;
                    }
                })
            })
            .collect();
        let slow_running = running.clone();
        threads.push(std::thread::spawn(move || slow_loris(target, slow_running)));
        Self {
            running,
            sent,
            threads,
        }
    }

    /// Stop; how many garbage requests were sent.
    fn stop(self) -> u64 {
        self.running.store(false, Ordering::Relaxed);
        for thread in self.threads {
            let _ = thread.join();
        }
        self.sent.load(Ordering::Relaxed)
    }
}

/// One connection of garbage, of a kind chosen by `n`; reads the answer
/// (if any) so the node does the whole of its work.
fn send_garbage(target: SocketAddr, n: u64) {
    let Ok(mut stream) = TcpStream::connect_timeout(&target, Duration::from_secs(2)) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let junk: Vec<u8> = match n % 4 {
        0 => (0..4096u64)
            .map(|i| (i.wrapping_mul(2_654_435_761) ^ n) as u8)
            .collect(),
        1 => format!(
            "GET /v1/status HTTP/1.1\r\nhost: x\r\nx-junk: {}\r\n\r\n",
            "a".repeat(200_000)
        )
        .into_bytes(),
        2 => b"POST /v1/tx HTTP/1.1\r\nhost: x\r\ncontent-length: 9\r\n\r\nnot a tx!".to_vec(),
        _ => {
            let body = r#"{"resourceType":"Patient","gender":"unknown"}"#;
            format!(
                "POST /fhir/Patient HTTP/1.1\r\nhost: x\r\nauthorization: Bearer forged.{n}\r\ncontent-type: application/fhir+json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        }
    };
    let _ = stream.write_all(&junk);
    let _ = stream.read(&mut [0u8; 1024]);
}

/// Keep up to [`SLOW_CONNECTIONS`] connections open, each sending a
/// header line every second and never finishing its headers.
fn slow_loris(target: SocketAddr, running: Arc<AtomicBool>) {
    let mut open: Vec<TcpStream> = Vec::new();
    while running.load(Ordering::Relaxed) {
        while open.len() < SLOW_CONNECTIONS {
            match TcpStream::connect_timeout(&target, Duration::from_secs(2)) {
                Ok(mut stream) => {
                    let _ = stream.write_all(b"GET /v1/status HTTP/1.1\r\nhost: x\r\n");
                    open.push(stream);
                }
                Err(_) => break,
            }
        }
        // The node closes them at its header timeout: replace those.
        open.retain_mut(|stream| stream.write_all(b"x-slow: 1\r\n").is_ok());
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// The flooded node's front-door counters, as one line.
fn refusals(target: SocketAddr) -> String {
    let metrics = reqwest::blocking::get(format!("http://{target}/metrics"))
        .and_then(|response| response.text())
        .unwrap_or_default();
    [
        "connections_refused",
        "requests_throttled",
        "slow_clients_closed",
    ]
    .iter()
    .map(|name| {
        let value = metrics
            .lines()
            .find_map(|line| line.strip_prefix(&format!("api_{name}_total ")))
            .unwrap_or("?");
        format!("{name} {value}")
    })
    .collect::<Vec<_>>()
    .join(", ")
}
