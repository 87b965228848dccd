//! A 4-organisation consortium of real `custodia node` processes on
//! loopback, for the end-to-end tests, and the HTTP calls they make.
#![allow(dead_code)] // each test binary uses its own part of the harness

pub mod clinical;

use commonware_cryptography::Signer as _;
use custodia_node::home::Home;
use custodia_store::StateProof;
use custodia_types::{Body, Digest, PrivateKey, PublicKey, SignedTx, TxPayload};
use serde_json::Value;
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

pub const BIN: &str = env!("CARGO_BIN_EXE_custodia");
pub const ORGS: usize = 4;
/// The heartbeat of the tests' consortia: they wait for the chain to grow
/// (heights, epochs, a block stamped after a consent's expiry) as a busy
/// chain would, not for a production heartbeat. Tests of pacing set their
/// own with [`Consortium::configure`].
pub const TEST_HEARTBEAT_MS: u64 = 200;

/// Run the `custodia` binary to completion.
pub fn custodia(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("custodia runs")
}

/// `custodia verify` of a stopped node's home: it reads only that node's
/// disk, so what it verifies is what the node kept. The height verified
/// from genesis (the test fails on anything but a clean verification).
pub fn verify_offline(home: &std::path::Path) -> u64 {
    let out = custodia(&["verify", "--home", home.to_str().expect("a UTF-8 home")]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the node's chain verifies: {report}");
    report
        .strip_prefix("OK: ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|blocks| blocks.parse().ok())
        .unwrap_or_else(|| panic!("verify names the height it reached: {report}"))
}

/// `count` consecutive free loopback ports, out of the ephemeral range.
pub fn free_ports(count: u16) -> u16 {
    custodia_node::init::free_loopback_ports(count).expect("free loopback ports")
}

/// One organisation's node: its home and, while running, its process.
pub struct Node {
    pub home: PathBuf,
    pub api: String,
    pub admin_key: PrivateKey,
    /// What the node's command runs under (e.g. `ip netns exec <ns>`);
    /// empty: run directly.
    pub launcher: Vec<String>,
    process: Option<Child>,
}

impl Node {
    /// The node whose home is `home`, not running.
    fn at(home: PathBuf) -> Self {
        let loaded = Home::load(&home).expect("a loadable home");
        let scheme = match loaded.config.tls {
            Some(_) => "https",
            None => "http",
        };
        Node {
            api: format!("{scheme}://{}", loaded.config.api),
            admin_key: loaded.admin_key,
            home,
            launcher: Vec::new(),
            process: None,
        }
    }
}

/// The consortium; every process still running is killed when dropped, and
/// the directory removed unless the test failed (its logs are kept then).
pub struct Consortium {
    pub root: PathBuf,
    pub chain_id: String,
    pub nodes: Vec<Node>,
}

impl Consortium {
    /// `custodia init` a fresh 4-organisation consortium under the temp dir.
    pub fn init(test: &str) -> Self {
        Self::init_orgs(test, ORGS, 0)
    }

    /// `orgs` organisations of the demo list, from its `first_org`th
    /// (`custodia init --first-org`).
    pub fn init_orgs(test: &str, orgs: usize, first_org: usize) -> Self {
        let root = std::env::temp_dir().join(format!("custodia-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = root.join("consortium");
        let p2p = free_ports(orgs as u16);
        let api = free_ports(orgs as u16);
        let out = custodia(&[
            "init",
            "--dir",
            dir.to_str().unwrap(),
            "--orgs",
            &orgs.to_string(),
            "--first-org",
            &first_org.to_string(),
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
        let mut homes: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("config.toml").exists())
            .collect();
        homes.sort();
        assert_eq!(homes.len(), orgs);
        let chain_id = Home::load(&homes[0])
            .expect("init wrote a loadable home")
            .genesis
            .chain_id;
        let consortium = Consortium {
            root,
            chain_id,
            nodes: homes.into_iter().map(Node::at).collect(),
        };
        for index in 0..orgs {
            consortium.use_test_heartbeat(index);
        }
        consortium
    }

    /// Take in a node home made outside `init` (an organisation joining
    /// later); its index. It gets the tests' heartbeat too.
    #[allow(dead_code)]
    pub fn adopt(&mut self, home: PathBuf) -> usize {
        self.nodes.push(Node::at(home));
        let index = self.nodes.len() - 1;
        self.use_test_heartbeat(index);
        index
    }

    /// Serve node `index`'s API over HTTPS with the test certificate, and
    /// have it trust peers whose certificates chain to `ca` (a file of
    /// `tests/fixtures/tls`); from its next start.
    #[allow(dead_code)]
    pub fn use_tls(&mut self, index: usize, ca: &str) {
        let home = self.nodes[index].home.clone();
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
        std::fs::create_dir_all(home.join("tls")).unwrap();
        for file in ["node.pem", "node.key", ca] {
            std::fs::copy(fixtures.join(file), home.join("tls").join(file)).unwrap();
        }
        self.configure(index, |config| {
            config.tls = Some(custodia_node::config::TlsFiles {
                cert: "tls/node.pem".into(),
                key: "tls/node.key".into(),
                ca: Path::new("tls").join(ca),
            })
        });
        self.nodes[index] = Node::at(home);
    }

    /// Read node `index`'s home again (after its files were changed), keeping
    /// its launcher; it must not be running.
    #[allow(dead_code)]
    pub fn reload(&mut self, index: usize) {
        assert!(
            self.nodes[index].process.is_none(),
            "node {index} is running"
        );
        let launcher = std::mem::take(&mut self.nodes[index].launcher);
        self.nodes[index] = Node::at(self.nodes[index].home.clone());
        self.nodes[index].launcher = launcher;
    }

    /// Every running node holds the same block at every height from `from`
    /// up to the lowest finalized height among them; that height.
    #[allow(dead_code)]
    pub fn assert_same_blocks(&self, from: u64) -> u64 {
        let running: Vec<usize> = (0..self.nodes.len())
            .filter(|index| self.nodes[*index].process.is_some())
            .collect();
        let lowest = running
            .iter()
            .map(|index| finalized_height(self.api(*index)).expect("a running node answers"))
            .min()
            .expect("a node is running");
        for height in from.max(1)..=lowest {
            let digests: Vec<Value> = running
                .iter()
                .map(|index| {
                    get(self.api(*index), &format!("/v1/blocks/{height}")).1["digest"].clone()
                })
                .collect();
            assert!(
                digests.iter().all(|d| d.is_string() && d == &digests[0]),
                "nodes disagree at height {height}: {digests:?}"
            );
        }
        lowest
    }

    fn use_test_heartbeat(&self, index: usize) {
        self.configure(index, |config| {
            config.heartbeat_interval_ms = TEST_HEARTBEAT_MS
        });
    }

    /// Change node `index`'s `config.toml` (it takes effect at its next
    /// start).
    pub fn configure(&self, index: usize, change: impl FnOnce(&mut custodia_node::config::Config)) {
        let home = &self.nodes[index].home;
        let mut config = Home::load(home).expect("a loadable home").config;
        change(&mut config);
        std::fs::write(Home::config_path(home), config.to_commented_toml())
            .expect("write config.toml");
    }

    pub fn start(&mut self, index: usize) {
        let node = &mut self.nodes[index];
        assert!(node.process.is_none(), "node {index} is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.home.join("node.log"))
            .unwrap();
        let mut command = match node.launcher.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(BIN);
                command
            }
            None => Command::new(BIN),
        };
        node.process = Some(
            command
                .args(["node", "--home", node.home.to_str().unwrap()])
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .stdin(Stdio::null())
                .spawn()
                .unwrap(),
        );
    }

    /// The OS process id of a running node.
    #[allow(dead_code)]
    pub fn pid(&self, index: usize) -> Option<u32> {
        self.nodes[index].process.as_ref().map(Child::id)
    }

    pub fn start_all(&mut self) {
        for index in 0..self.nodes.len() {
            self.start(index);
        }
    }

    /// `kill -9`: no chance to flush or close anything.
    pub fn kill(&mut self, index: usize) {
        let mut child = self.nodes[index]
            .process
            .take()
            .expect("the node is running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Wait for node `index` to exit on its own; its exit status.
    pub fn wait_exit(&mut self, index: usize, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        let child = self.nodes[index]
            .process
            .as_mut()
            .expect("the node was started");
        loop {
            if let Some(status) = child.try_wait().expect("the node's status") {
                self.nodes[index].process = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "node {index} still running after {within:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM node `index` and wait for it to exit.
    #[allow(dead_code)]
    pub fn stop_one(&mut self, index: usize) {
        let mut child = self.nodes[index]
            .process
            .take()
            .expect("the node is running");
        // SAFETY: kill(2) on a child we spawned and still own.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        child.wait().unwrap();
    }

    /// SIGTERM every node and wait for each to exit.
    pub fn stop_all(&mut self) {
        for node in &self.nodes {
            if let Some(child) = &node.process {
                // SAFETY: kill(2) on a child we spawned and still own.
                unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            }
        }
        for node in &mut self.nodes {
            if let Some(mut child) = node.process.take() {
                child.wait().unwrap();
            }
        }
    }

    /// The index of organisation `org`'s node.
    pub fn index_of(&self, org: &str) -> usize {
        self.nodes
            .iter()
            .position(|n| n.home.file_name().is_some_and(|name| name == org))
            .unwrap_or_else(|| panic!("no organisation {org} in this consortium"))
    }

    pub fn api(&self, index: usize) -> &str {
        &self.nodes[index].api
    }

    /// Wait until node `index` has finalized `height`; on failure, say
    /// whether its process is still alive and show the end of every log
    /// (CI keeps only the test's output, not the consortium directory).
    pub fn await_height(&mut self, index: usize, height: u64, within: Duration) {
        let deadline = Instant::now() + within;
        while finalized_height(self.api(index)).unwrap_or(0) < height {
            let exited = self.nodes[index]
                .process
                .as_mut()
                .is_some_and(|child| !matches!(child.try_wait(), Ok(None)));
            if exited || Instant::now() >= deadline {
                panic!(
                    "node {index} did not reach height {height} (waited {:?} of {within:?})\n{}",
                    within.saturating_sub(deadline.saturating_duration_since(Instant::now())),
                    self.post_mortem()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Wait until every running node has finalized `height`.
    #[allow(dead_code)]
    pub fn await_all(&mut self, height: u64, within: Duration) {
        for index in 0..self.nodes.len() {
            if self.nodes[index].process.is_some() {
                self.await_height(index, height, within);
            }
        }
    }

    /// Wait until every running node has the newest block any of them has
    /// finalized: each applies blocks on its own schedule, and a read at
    /// one node must see what was just written at another.
    #[allow(dead_code)]
    pub fn settle(&self) {
        let running: Vec<&str> = self
            .nodes
            .iter()
            .filter(|node| node.process.is_some())
            .map(|node| node.api.as_str())
            .collect();
        let height = |api: &str| finalized_height(api).unwrap_or(0);
        let newest = running.iter().map(|api| height(api)).max().unwrap_or(0);
        let deadline = Instant::now() + Duration::from_secs(60);
        for api in running {
            while height(api) < newest {
                assert!(
                    Instant::now() < deadline,
                    "{api} did not reach height {newest}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Each node's state and the last lines of its log.
    pub fn post_mortem(&mut self) -> String {
        const LINES: usize = 40;
        let mut report = String::new();
        for (index, node) in self.nodes.iter_mut().enumerate() {
            let state = match node.process.as_mut().map(Child::try_wait) {
                None => "not started".to_string(),
                Some(Ok(None)) => "running".to_string(),
                Some(Ok(Some(status))) => format!("exited: {status}"),
                Some(Err(e)) => format!("unknown: {e}"),
            };
            let log = std::fs::read_to_string(node.home.join("node.log")).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(LINES)..].join("\n");
            report += &format!(
                "--- node {index} ({}), {state}, last {LINES} log lines:\n{tail}\n",
                node.home.display()
            );
        }
        report
    }

    /// A Note signed by organisation `org`'s admin key.
    pub fn note(&self, org: usize, nonce: u64, data: &[u8]) -> SignedTx {
        sign(
            &self.chain_id,
            &self.nodes[org].admin_key,
            nonce,
            Body::Note {
                data: data.to_vec().into(),
            },
        )
    }
}

impl Drop for Consortium {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.process.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if std::thread::panicking() {
            eprintln!("consortium kept for inspection in {}", self.root.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

pub fn sign(chain_id: &str, key: &PrivateKey, nonce: u64, body: Body) -> SignedTx {
    sign_as(chain_id, key, key.public_key(), nonce, body)
}

/// A transaction naming `signer` but signed with `key`: a forgery unless
/// the two match.
pub fn sign_as(
    chain_id: &str,
    key: &PrivateKey,
    signer: PublicKey,
    nonce: u64,
    body: Body,
) -> SignedTx {
    TxPayload {
        chain_id: chain_id.to_string(),
        signer,
        nonce,
        body,
    }
    .sign(key)
}

/// A client of the test nodes: plain HTTP, or HTTPS trusting the test
/// authority (`tests/fixtures/tls`).
pub fn client() -> reqwest::blocking::Client {
    client_with_timeout(Duration::from_secs(10))
}

pub fn client_with_timeout(timeout: Duration) -> reqwest::blocking::Client {
    let ca = include_bytes!("../fixtures/tls/ca.pem");
    reqwest::blocking::Client::builder()
        .timeout(timeout)
        .tls_certs_merge([reqwest::Certificate::from_pem(ca).unwrap()])
        .build()
        .unwrap()
}

fn answer(response: reqwest::blocking::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().unwrap();
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("the node answered {status} with non-JSON: {text}"));
    (status, json)
}

/// GET a path; the HTTP status and the JSON answer.
pub fn get(api: &str, path: &str) -> (u16, Value) {
    answer(client().get(format!("{api}{path}")).send().unwrap())
}

/// POST raw bytes to a path; the HTTP status and the JSON answer.
pub fn post(api: &str, path: &str, body: Vec<u8>) -> (u16, Value) {
    answer(
        client()
            .post(format!("{api}{path}"))
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .unwrap(),
    )
}

/// Submit one transaction; the HTTP status and the JSON answer.
pub fn submit(api: &str, tx: &SignedTx) -> (u16, Value) {
    post(api, "/v1/tx", tx.to_bytes().to_vec())
}

/// Counter `name` in node `api`'s `/metrics`, whatever prefix the node
/// gives it (0 while absent). A scrape answered 429 (a test driving the
/// node's rate limits) is retried once the rate has refilled.
pub fn counter(api: &str, name: &str) -> u64 {
    let client = client();
    let text = (0..600)
        .find_map(|_| {
            let response = client.get(format!("{api}/metrics")).send().unwrap();
            if response.status().as_u16() == 429 {
                std::thread::sleep(Duration::from_millis(100));
                return None;
            }
            assert!(
                response.status().is_success(),
                "/metrics: {}",
                response.status()
            );
            Some(response.text().unwrap())
        })
        .unwrap_or_else(|| panic!("{api}/metrics still throttled after a minute"));
    text.lines()
        .filter_map(|line| line.split_once(' '))
        .find(|(metric, _)| metric.ends_with(&format!("_{name}_total")))
        .and_then(|(_, value)| value.trim().parse::<f64>().ok())
        .unwrap_or(0.0) as u64
}

pub fn finalized_height(api: &str) -> Option<u64> {
    let response = client().get(format!("{api}/v1/status")).send().ok()?;
    let status: Value = serde_json::from_str(&response.text().ok()?).ok()?;
    status["finalized_height"].as_u64()
}

/// Wait until `tx` is final on the node at `api`; the finalized receipt.
pub fn await_finalized(api: &str, tx: &Digest, within: Duration) -> Value {
    await_finalized_every(api, tx, within, Duration::from_millis(100))
}

/// [`await_finalized`], asking every `interval`.
pub fn await_finalized_every(
    api: &str,
    tx: &Digest,
    within: Duration,
    interval: Duration,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (code, receipt) = get(api, &format!("/v1/tx/{tx}"));
        if code == 200 && receipt["status"] != "pending" {
            assert_eq!(receipt["status"], "finalized", "{receipt}");
            return receipt;
        }
        assert!(
            Instant::now() < deadline,
            "{tx} not finalized on {api} within {within:?}: {receipt}"
        );
        std::thread::sleep(interval);
    }
}

/// Whether the vault of the node at `api` holds the object `hash` (hex).
#[allow(dead_code)]
pub fn vault_holds(api: &str, hash: &str) -> bool {
    let url = format!("{api}/v1/vault/objects/{hash}");
    let status = client().get(&url).send().unwrap().status().as_u16();
    assert!(status == 204 || status == 404, "{url}: {status}");
    status == 204
}

/// Whether a node's key ring still holds a key for the ciphertext `hash`
/// (hex): its slot names the hash until shredding zeroes the slot.
#[allow(dead_code)]
pub fn key_ring_holds(home: &std::path::Path, hash: &str) -> bool {
    let hash = hex::decode(hash).unwrap();
    std::fs::read(home.join("vault/keys/ring"))
        .map(|ring| ring.windows(hash.len()).any(|w| w == hash))
        .unwrap_or(false)
}

/// Read `key` from the node at `api` with a proof, check the proof against
/// the state root of the finalized block it names (fetched separately), and
/// return the proven value.
pub fn proven_value(api: &str, key: &str) -> Vec<u8> {
    let (code, state) = get(api, &format!("/v1/state/{key}?proof=true"));
    assert_eq!(code, 200, "{state}");
    let height = state["height"].as_u64().expect("the answer names a height");
    let (code, block) = get(api, &format!("/v1/blocks/{height}"));
    assert_eq!(code, 200, "{block}");
    assert_eq!(state["state_root"], block["state_root"]);
    let root: Digest = custodia_types::hexser::decode_fixed(block["state_root"].as_str().unwrap())
        .expect("a state root is a 32-byte hex digest");
    let value = hex::decode(state["value_hex"].as_str().expect("a proven value")).unwrap();
    let proof = StateProof::from_parts(value.clone(), state["proof"].as_str().unwrap())
        .expect("the proof decodes");
    assert!(
        proof.verify(key.as_bytes(), &root),
        "the proof of {key} from {api} does not verify against block {height}"
    );
    value
}
