//! Real-network faults with real processes: each validator runs in its own
//! network namespace, made by this test (`ip netns`), joined to the others
//! by veth pairs on a bridge in a "switch" namespace; addresses exist only
//! inside those namespaces (10.231.0.0/24, consensus and the members' calls
//! to each other). The test itself reaches each node's API over a second
//! bridge (10.232.0.0/24) that faults never touch. It cuts a minority off,
//! then splits the consortium 2|2 (no quorum anywhere), heals each, and
//! slows one validator's disk (fdatasync and fsync delayed by a preloaded
//! shim). After each: no two nodes hold different blocks at one height,
//! the chain is live again within a bound, and every acknowledged write is
//! final on every node.
//!
//! Then WAN latency, jitter and loss on every link (`wan`: netfilter
//! queues, since this project's kernels have no netem): the same checks
//! under each shape, and how long a write takes to be final. Where
//! `iptables` cannot queue packets that phase says so and is skipped;
//! where namespaces cannot be made at all (no privilege), the whole test
//! says so and is skipped.

mod common;
#[path = "netns/wan.rs"]
mod wan;

use common::{finalized_height, submit, Consortium};
use custodia_node::home::Home;
use custodia_types::Digest;
use std::{
    os::fd::AsRawFd,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

/// The members' network, and the test's own path to each node's API;
/// inside this test's namespaces only.
const SUBNET: &str = "10.231.0";
const MANAGEMENT: &str = "10.232.0";

/// Run `ip` with `args`; whether it succeeded, and what it said.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip cannot run: {e}"))?;
    match out.status.success() {
        true => Ok(()),
        false => Err(String::from_utf8_lossy(&out.stderr).trim().to_string()),
    }
}

fn must(args: &[&str]) {
    ip(args).unwrap_or_else(|e| panic!("ip {}: {e}", args.join(" ")));
}

/// The namespaces of one run: a switch (a bridge, and this test's own
/// address) and one per node. Removed when dropped.
struct Network {
    switch: String,
    nodes: Vec<String>,
}

impl Network {
    /// Make the namespaces; `Err` says why they cannot be made here.
    fn make(nodes: usize) -> Result<Self, String> {
        let id = std::process::id();
        let network = Network {
            switch: format!("cu{id}sw"),
            nodes: (0..nodes).map(|i| format!("cu{id}n{i}")).collect(),
        };
        ip(&["netns", "add", &network.switch])?;
        let sw = network.switch.as_str();
        must(&["-n", sw, "link", "set", "lo", "up"]);
        for bridge in ["br0", "br1"] {
            must(&["-n", sw, "link", "add", bridge, "type", "bridge"]);
            must(&["-n", sw, "link", "set", bridge, "up"]);
        }
        must(&["-n", sw, "link", "add", "mg", "type", "bridge"]);
        must(&["-n", sw, "link", "set", "mg", "up"]);
        must(&[
            "-n",
            sw,
            "addr",
            "add",
            &format!("{MANAGEMENT}.254/24"),
            "dev",
            "mg",
        ]);
        for (i, ns) in network.nodes.iter().enumerate() {
            must(&["netns", "add", ns]);
            must(&["-n", ns, "link", "set", "lo", "up"]);
            for (link, port, bridge, subnet) in [
                ("eth0", format!("p{i}"), "br0", SUBNET),
                ("mgmt", format!("m{i}"), "mg", MANAGEMENT),
            ] {
                must(&[
                    "-n", ns, "link", "add", link, "type", "veth", "peer", "name", &port, "netns",
                    sw,
                ]);
                must(&[
                    "-n",
                    ns,
                    "addr",
                    "add",
                    &format!("{subnet}.{}/24", i + 1),
                    "dev",
                    link,
                ]);
                must(&["-n", ns, "link", "set", link, "up"]);
                must(&["-n", sw, "link", "set", &port, "master", bridge]);
                must(&["-n", sw, "link", "set", &port, "up"]);
            }
        }
        Ok(network)
    }

    /// Put this thread (and the threads it starts) in the switch, where
    /// every node's API is reachable over the management bridge.
    fn enter_switch(&self) {
        enter(&self.switch).unwrap();
    }

    /// Attach node `i`'s link to bridge `bridge` (br0: everyone; br1: the
    /// other side of a split).
    fn attach(&self, i: usize, bridge: &str) {
        must(&[
            "-n",
            &self.switch,
            "link",
            "set",
            &format!("p{i}"),
            "master",
            bridge,
        ]);
    }

    /// Cut node `i`'s link, or restore it.
    fn link(&self, i: usize, up: bool) {
        let state = if up { "up" } else { "down" };
        must(&["-n", &self.switch, "link", "set", &format!("p{i}"), state]);
    }
}

/// Move this thread into namespace `ns`.
fn enter(ns: &str) -> Result<(), String> {
    let file = std::fs::File::open(format!("/var/run/netns/{ns}")).map_err(|e| e.to_string())?;
    // SAFETY: setns(2) on a namespace file we hold open; it changes only
    // this thread's network namespace.
    match unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } {
        0 => Ok(()),
        _ => Err(format!("setns: {}", std::io::Error::last_os_error())),
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for ns in self.nodes.iter().chain([&self.switch]) {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

/// Move node `k`'s addresses into namespace `k`: in genesis (and each
/// home's copy) its member's p2p and API addresses on the members'
/// network; its own API listening on every interface of its namespace,
/// which the test reaches over the management bridge.
fn readdress(c: &mut Consortium, network: &Network) {
    let genesis = Home::load(&c.nodes[0].home).unwrap().genesis;
    let mut moves: Vec<(String, String)> = Vec::new();
    for (k, node) in c.nodes.iter().enumerate() {
        let org = Home::load(&node.home).unwrap().config.org;
        let member = genesis
            .members
            .iter()
            .find(|m| m.id.as_str() == org)
            .unwrap();
        let api = member.api.expect("init names every member's API");
        moves.push((
            member.p2p.to_string(),
            format!("{SUBNET}.{}:{}", k + 1, member.p2p.port()),
        ));
        moves.push((
            api.to_string(),
            format!("{SUBNET}.{}:{}", k + 1, api.port()),
        ));
    }
    let rewrite = |path: &Path| {
        let mut text = std::fs::read_to_string(path).unwrap();
        for (from, to) in &moves {
            text = text.replace(&format!("\"{from}\""), &format!("\"{to}\""));
        }
        std::fs::write(path, text).unwrap();
    };
    rewrite(&c.root.join("consortium/genesis.toml"));
    for k in 0..c.nodes.len() {
        let home = c.nodes[k].home.clone();
        rewrite(&Home::genesis_path(&home));
        c.configure(k, |config| config.api.set_ip([0, 0, 0, 0].into()));
        c.reload(k);
        let port = Home::load(&home).unwrap().config.api.port();
        c.nodes[k].api = format!("http://{MANAGEMENT}.{}:{port}", k + 1);
        c.nodes[k].launcher = ["ip", "netns", "exec", network.nodes[k].as_str()]
            .map(String::from)
            .to_vec();
    }
}

/// The shim that delays fdatasync(2) and fsync(2) by `SLOW_SYNC_US`
/// microseconds and leaves `SLOW_SYNC_MARK` once it has delayed one,
/// built with the system's C compiler.
fn slow_sync_shim(dir: &Path) -> PathBuf {
    let source = dir.join("slow_sync.c");
    std::fs::write(
        &source,
        r#"#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
static void slow(void) {
    const char *us = getenv("SLOW_SYNC_US");
    usleep(us ? atoi(us) : 20000);
    static int marked;
    const char *mark = getenv("SLOW_SYNC_MARK");
    if (!marked && mark) { marked = 1; close(open(mark, O_CREAT | O_WRONLY, 0644)); }
}
int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    slow();
    return real(fd);
}
int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    slow();
    return real(fd);
}
"#,
    )
    .unwrap();
    let shim = dir.join("slow_sync.so");
    let out = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&shim)
        .arg(&source)
        .arg("-ldl")
        .output()
        .expect("a C compiler (cc) builds the slow-disk shim");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    shim
}

/// Submit a note at node `index`; its id (answered 202: admitted).
fn admit_note(c: &Consortium, index: usize, nonce: u64) -> Digest {
    let note = c.note(index, nonce, format!("netns {nonce}").as_bytes());
    let (code, answer) = submit(c.api(index), &note);
    assert_eq!(code, 202, "{answer}");
    note.id()
}

/// Every note in `notes` is final (applied) on every running node.
fn all_final(c: &Consortium, notes: &[Digest], within: Duration) {
    for index in 0..c.nodes.len() {
        for id in notes {
            common::await_finalized(c.api(index), id, within);
        }
    }
}

/// The chain is live: every node gets `blocks` past the highest height any
/// node has now, within `bound`.
fn live_within(c: &mut Consortium, blocks: u64, bound: Duration) -> u64 {
    let top = (0..c.nodes.len())
        .filter_map(|index| finalized_height(c.api(index)))
        .max()
        .unwrap_or(0);
    c.await_all(top + blocks, bound);
    top + blocks
}

#[test]
fn partitions_heal_and_a_slow_disk_never_fork_or_lose_acknowledged_writes() {
    let network = match Network::make(common::ORGS) {
        Ok(network) => network,
        Err(why) => {
            eprintln!("SKIPPED: network namespaces cannot be made here ({why}); run as root with iproute2 to test real-network faults");
            return;
        }
    };
    let mut c = Consortium::init("netns");
    readdress(&mut c, &network);
    network.enter_switch();
    // The mark and shim live outside the consortium directory, which is
    // removed when the test passes.
    let shim = slow_sync_shim(&c.root);
    c.start_all();
    c.await_all(3, Duration::from_secs(90));
    let bound = Duration::from_secs(60);
    let mut acknowledged = Vec::new();
    // Blocks agree up to here (each check goes on from the last).
    let mut checked = 1;
    // Each member's admin signs its notes, nonces in order from 0.
    let mut nonces = [0u64; common::ORGS];
    let mut note_at = |c: &Consortium, index: usize| {
        nonces[index] += 1;
        admit_note(c, index, nonces[index] - 1)
    };

    // Partition cycles (`CUSTODIA_NETNS_CYCLES`, 1 by default), each
    // cutting off another node and splitting another pair away.
    let cycles: usize = std::env::var("CUSTODIA_NETNS_CYCLES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let all = c.nodes.len();
    for cycle in 0..cycles {
        // A minority (one of four) cut off: the other three go on and
        // every write they admit is final among them.
        let cut = (all - 1 + cycle) % all;
        let others: Vec<usize> = (0..all).filter(|k| *k != cut).collect();
        network.link(cut, false);
        let cut_at = finalized_height(c.api(cut)).unwrap();
        for &index in &others {
            let id = note_at(&c, index);
            for &other in &others {
                common::await_finalized(c.api(other), &id, bound);
            }
            acknowledged.push(id);
        }
        let stalled = finalized_height(c.api(cut)).unwrap();
        let majority = finalized_height(c.api(others[0])).unwrap();
        assert!(
            majority > stalled,
            "cycle {cycle}: the three went on ({majority}) past the cut-off node ({stalled}, cut at {cut_at})"
        );
        // Healed: the cut-off node catches up, nothing forks, nothing is
        // lost.
        network.link(cut, true);
        live_within(&mut c, 3, bound);
        all_final(&c, &acknowledged, bound);
        checked = c.assert_same_blocks(checked);

        // Split 2|2: no side has a quorum, so nothing is final; writes
        // are admitted on both sides and are final once the split heals.
        let away = [cycle % all, (cycle + 1) % all];
        let stay = (0..all).find(|k| !away.contains(k)).unwrap();
        for &k in &away {
            network.attach(k, "br1");
        }
        let during: Vec<Digest> = [stay, away[0]].map(|index| note_at(&c, index)).to_vec();
        for &k in &away {
            network.attach(k, "br0");
        }
        live_within(&mut c, 3, bound);
        all_final(&c, &during, bound);
        acknowledged.extend(during);
        checked = c.assert_same_blocks(checked);
        eprintln!(
            "cycle {cycle}: node {cut} cut off and healed, nodes {away:?} split away and healed"
        );
    }

    // A slow disk: one validator's every fdatasync and fsync waits 20 ms.
    let mark = c.root.join("slow-sync-happened");
    c.stop_one(1);
    c.nodes[1].launcher.extend([
        "env".to_string(),
        format!("LD_PRELOAD={}", shim.display()),
        "SLOW_SYNC_US=20000".to_string(),
        format!("SLOW_SYNC_MARK={}", mark.display()),
    ]);
    let stopped_at = finalized_height(c.api(0)).unwrap();
    c.start(1);
    c.await_height(1, stopped_at, bound);
    for index in 0..c.nodes.len() {
        acknowledged.push(note_at(&c, index));
    }
    live_within(&mut c, 5, bound);
    all_final(&c, &acknowledged, bound);
    assert!(mark.exists(), "the slow-disk shim delayed the node's syncs");
    checked = c.assert_same_blocks(checked);
    // Its disk mended, so that only the links shape what follows.
    c.stop_one(1);
    let launcher = c.nodes[1].launcher.len() - 4;
    c.nodes[1].launcher.truncate(launcher);
    c.start(1);
    live_within(&mut c, 3, bound);

    // WAN latency, jitter and loss (see `wan`): safety and liveness
    // under each shape, and how long a write takes to be final at the
    // node that admitted it.
    let wan = match wan::Wan::start(&network) {
        Ok(wan) => wan,
        Err(why) => {
            eprintln!("SKIPPED (latency and loss): {why}; install iptables to shape links. Partitions and the slow disk were tested");
            return;
        }
    };
    // `CUSTODIA_NETNS_WAN_SAMPLES=N`: N writes under each shape of the
    // recorded table; by default 5 under one.
    let (samples, shapes) = match std::env::var("CUSTODIA_NETNS_WAN_SAMPLES") {
        Ok(n) => (
            n.parse().expect("a number of samples"),
            wan::RECORDED.to_vec(),
        ),
        Err(_) => (5, vec![wan::RECORDED[3]]),
    };
    for shape in shapes {
        wan.set(shape);
        let mut took = Vec::with_capacity(samples);
        for sample in 0..samples {
            let index = sample % all;
            let started = Instant::now();
            let id = note_at(&c, index);
            common::await_finalized_every(c.api(index), &id, bound, Duration::from_millis(2));
            took.push(started.elapsed());
            acknowledged.push(id);
        }
        live_within(&mut c, 3, bound);
        all_final(&c, &acknowledged, bound);
        checked = c.assert_same_blocks(checked);
        eprintln!(
            "under {shape}: {samples} writes final at the admitting node, p50 {:?}, p99 {:?}",
            wan::percentile(&mut took, 0.50),
            wan::percentile(&mut took, 0.99),
        );
    }
}
