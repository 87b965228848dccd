//! `custodia verify` against a real consortium's stored chain: a clean
//! chain verifies; a flipped byte in a stored block or in the state files
//! is reported, naming where.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

const BIN: &str = env!("CARGO_BIN_EXE_custodia");
const ORGS: usize = 4;

/// `count` consecutive free loopback ports.
fn free_ports(count: u16) -> u16 {
    for _ in 0..200 {
        let base = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if base > 65_000 - count {
            continue;
        }
        let held: Vec<_> = (base..base + count)
            .map(|p| TcpListener::bind(("127.0.0.1", p)))
            .collect();
        if held.iter().all(|h| h.is_ok()) {
            return base;
        }
    }
    panic!("no run of {count} free ports on 127.0.0.1");
}

struct Nodes(Vec<Child>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("custodia runs")
}

fn orgs(dir: &Path) -> Vec<PathBuf> {
    let mut homes: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("config.toml").exists())
        .collect();
    homes.sort();
    homes
}

fn height(api: u16) -> Option<u64> {
    let body = reqwest::blocking::get(format!("http://127.0.0.1:{api}/v1/status"))
        .ok()?
        .text()
        .ok()?;
    let status: serde_json::Value = serde_json::from_str(&body).ok()?;
    status["finalized_height"].as_u64()
}

fn flip_byte(path: &Path, offset: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    let offset = offset.min(bytes.len() - 1);
    bytes[offset] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

fn only_file(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn verify(home: &Path) -> (bool, String) {
    let out = run(&["verify", "--home", home.to_str().unwrap()]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn verify_accepts_a_clean_chain_and_names_tampering() {
    let root = std::env::temp_dir().join(format!("custodia-verify-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let dir = root.join("consortium");
    let p2p = free_ports(ORGS as u16);
    let api = free_ports(ORGS as u16);
    let out = run(&[
        "init",
        "--dir",
        dir.to_str().unwrap(),
        "--orgs",
        "4",
        "--p2p-port",
        &p2p.to_string(),
        "--api-port",
        &api.to_string(),
    ]);
    assert!(
        out.status.success(),
        "init failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let homes = orgs(&dir);
    assert_eq!(homes.len(), ORGS);

    let mut nodes = Nodes(
        homes
            .iter()
            .map(|home| {
                let log = std::fs::File::create(home.join("node.log")).unwrap();
                Command::new(BIN)
                    .args(["node", "--home", home.to_str().unwrap()])
                    .stdout(log.try_clone().unwrap())
                    .stderr(log)
                    .stdin(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect(),
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    while height(api).unwrap_or(0) < 25 {
        assert!(
            Instant::now() < deadline,
            "the consortium did not reach height 25"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let admin = homes[0].join("keys/admin.key");
    let out = run(&[
        "tx",
        "--node",
        &format!("http://127.0.0.1:{api}"),
        "--key",
        admin.to_str().unwrap(),
        "--body",
        r#"{"type":"note","data":"6175646974"}"#,
        "--wait",
    ]);
    assert!(
        out.status.success(),
        "tx failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Stop cleanly, as an auditor would before taking a copy.
    for child in &mut nodes.0 {
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    }
    for child in &mut nodes.0 {
        let _ = child.wait();
    }

    let home = &homes[0];
    let (ok, report) = verify(home);
    assert!(ok, "a clean chain verifies: {report}");
    assert!(
        report.starts_with("OK:") && report.contains("1 transactions"),
        "{report}"
    );

    // A flipped byte inside the stored blocks names the block.
    let tampered = root.join("tampered-block");
    copy_tree(home, &tampered);
    let blocks = only_file(&tampered.join("data/custodia-blocks-freezer-value"));
    let len = std::fs::metadata(&blocks).unwrap().len() as usize;
    // Past the blob header, inside the last blocks written.
    flip_byte(&blocks, len - 64);
    let (ok, report) = verify(&tampered);
    assert!(!ok, "a tampered block is caught: {report}");
    assert!(
        report.contains("TAMPERED: block ") && report.contains(" is bad"),
        "{report}"
    );

    // A flipped byte in the state files names the state store.
    let tampered = root.join("tampered-state");
    copy_tree(home, &tampered);
    let metadata = only_file(&tampered.join("data/custodia-state-mmr-metadata"));
    flip_byte(&metadata, 20);
    let (ok, report) = verify(&tampered);
    assert!(!ok, "tampered state is caught: {report}");
    assert!(report.contains("state store is bad"), "{report}");

    // Verification works on a copy: the original still verifies.
    assert!(verify(home).0);
    drop(nodes);
    let _ = std::fs::remove_dir_all(&root);
}
