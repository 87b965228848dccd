//! WAN latency, jitter and loss on the members' network, without netem.
//!
//! This project's kernels have no `netem` (nor `fq`), so links cannot be
//! shaped with `tc`. They do have netfilter's packet queues: in each node's
//! namespace, `iptables` hands every packet the node sends to the members'
//! network (`-j NFQUEUE`) to a thread of this test, which gives the kernel
//! its verdict once the packet has waited its one-way latency, or drops it
//! (loss). Jitter varies the wait but never reorders a node's packets, as
//! netem's does not with its default queue. The verdicts go through the
//! `nfq` crate; a packet no thread holds (`--queue-bypass`) passes
//! unshaped.

use super::{enter, ip, Network, SUBNET};
use rand::RngExt as _;
use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Arc, Mutex,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

/// How every node's sends to the others are shaped.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// One-way latency.
    pub latency: Duration,
    /// Each packet waits `latency` ± up to this.
    pub jitter: Duration,
    /// The share of packets dropped, 0 to 1.
    pub loss: f64,
}

impl Shape {
    pub const CLEAR: Shape = Shape {
        latency: Duration::ZERO,
        jitter: Duration::ZERO,
        loss: 0.0,
    };
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ms ± {} ms one-way, {} % loss",
            self.latency.as_millis(),
            self.jitter.as_millis(),
            self.loss * 100.0
        )
    }
}

/// The shapes whose finality BENCHMARKS.md records: one-way latency
/// with a fifth of it as jitter, then loss.
pub const RECORDED: [Shape; 6] = [
    Shape::CLEAR,
    shape(20, 4, 0.0),
    shape(50, 10, 0.0),
    shape(50, 10, 0.01),
    shape(50, 10, 0.05),
    shape(80, 16, 0.0),
];

const fn shape(latency_ms: u64, jitter_ms: u64, loss: f64) -> Shape {
    Shape {
        latency: Duration::from_millis(latency_ms),
        jitter: Duration::from_millis(jitter_ms),
        loss,
    }
}

/// The queue every node's packets to the members' network go through.
const QUEUE: u16 = 0;

/// One shaping thread per node; every link unshaped (and the threads
/// gone) when dropped.
pub struct Wan {
    shape: Arc<Mutex<Shape>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Wan {
    /// Queue every node's sends to the members' network and start a thread
    /// in each node's namespace to hold them; `Err` says why that cannot
    /// be done here.
    pub fn start(network: &Network) -> Result<Wan, String> {
        let mut wan = Wan {
            shape: Arc::new(Mutex::new(Shape::CLEAR)),
            stop: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
        };
        for ns in &network.nodes {
            iptables(ns)?;
            let (ready, started) = mpsc::channel();
            let (ns, shape, stop) = (ns.clone(), wan.shape.clone(), wan.stop.clone());
            wan.threads.push(std::thread::spawn(move || {
                shape_sends(&ns, shape, stop, ready)
            }));
            started
                .recv()
                .map_err(|_| "a shaping thread ended before it started".to_string())??;
        }
        Ok(wan)
    }

    /// Shape every link so from now on.
    pub fn set(&self, shape: Shape) {
        *self.shape.lock().unwrap() = shape;
    }
}

impl Drop for Wan {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// In namespace `ns`: every packet to the members' network goes to the
/// queue, and passes as before while no thread holds the queue.
fn iptables(ns: &str) -> Result<(), String> {
    let destination = format!("{SUBNET}.0/24");
    let rule = [
        "netns",
        "exec",
        ns,
        "iptables",
        "-A",
        "OUTPUT",
        "-d",
        &destination,
        "-j",
        "NFQUEUE",
        "--queue-num",
        "0",
        "--queue-bypass",
    ];
    ip(&rule).map_err(|why| format!("iptables cannot queue packets ({why})"))
}

/// Hold each packet node `ns` sends for the current shape's latency (or
/// drop it), until `stop`. Says on `ready` whether the queue could be
/// bound.
fn shape_sends(
    ns: &str,
    shape: Arc<Mutex<Shape>>,
    stop: Arc<AtomicBool>,
    ready: mpsc::Sender<Result<(), String>>,
) {
    let queue = enter(ns).and_then(|()| {
        let mut queue = nfq::Queue::open().map_err(|e| format!("nfqueue: {e}"))?;
        queue
            .bind(QUEUE)
            .map_err(|e| format!("nfqueue bind: {e}"))?;
        // A full queue lets packets through rather than drop them: loss
        // is the shape's alone.
        queue
            .set_fail_open(QUEUE, true)
            .and_then(|()| queue.set_queue_max_len(QUEUE, 65_536))
            .map_err(|e| format!("nfqueue settings: {e}"))?;
        queue.set_nonblocking(true);
        Ok(queue)
    });
    let mut queue = match queue {
        Ok(queue) => {
            let _ = ready.send(Ok(()));
            queue
        }
        Err(why) => {
            let _ = ready.send(Err(why));
            return;
        }
    };
    let mut rng = rand::rng();
    // Packets waiting, in the order they were sent; release times never
    // decrease, so jitter does not reorder.
    let mut held: VecDeque<(Instant, nfq::Message)> = VecDeque::new();
    let mut last_release = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let mut received = false;
        // Until nothing more is to be read now; a lost notification
        // (ENOBUFS) is a packet the kernel let through.
        while let Ok(mut packet) = queue.recv() {
            received = true;
            let shape = *shape.lock().unwrap();
            if rng.random::<f64>() < shape.loss {
                packet.set_verdict(nfq::Verdict::Drop);
                let _ = queue.verdict(packet);
                continue;
            }
            let jitter = shape.jitter.as_secs_f64() * (2.0 * rng.random::<f64>() - 1.0);
            let wait = (shape.latency.as_secs_f64() + jitter).max(0.0);
            last_release = last_release.max(now + Duration::from_secs_f64(wait));
            packet.set_verdict(nfq::Verdict::Accept);
            held.push_back((last_release, packet));
        }
        while held.front().is_some_and(|(at, _)| *at <= now) {
            let (_, packet) = held.pop_front().expect("checked");
            let _ = queue.verdict(packet);
        }
        if !received {
            std::thread::sleep(Duration::from_micros(500));
        }
    }
    // Let through whatever is still held.
    for (_, packet) in held {
        let _ = queue.verdict(packet);
    }
}

/// The value below which `share` of `samples` fall (sorted in place).
pub fn percentile(samples: &mut [Duration], share: f64) -> Duration {
    samples.sort();
    let rank = ((samples.len() as f64 * share).ceil() as usize).clamp(1, samples.len());
    samples[rank - 1]
}
