//! A node's settings, read from `config.toml` in its home directory: what
//! each setting means, its default, and the commented file `custodia init`
//! writes. No I/O, and light to build, so the parser is fuzzed on its own
//! (`fuzz/fuzz_targets/config_toml.rs`).

mod limits;
mod tls;
mod vault;

pub use limits::Limits;
pub use tls::TlsFiles;
pub use vault::{S3Settings, VaultBackend};

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Which member organisation this node is (its id in genesis.toml).
    pub org: String,
    /// Where the HTTP API listens.
    pub api: SocketAddr,
    /// Where peer-to-peer traffic listens; defaults to this member's address
    /// in genesis.toml.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p2p: Option<SocketAddr>,
    /// Where blocks and state are stored, relative to the home directory.
    #[serde(default = "defaults::data_dir")]
    pub data_dir: String,
    /// Log format: "text" for people, "json" for log shippers.
    #[serde(default = "defaults::log_format")]
    pub log_format: String,
    /// Most transactions waiting for a block before new ones are refused.
    #[serde(default = "defaults::mempool_capacity")]
    pub mempool_capacity: usize,
    /// Time between blocks while transactions wait, in milliseconds.
    #[serde(default = "defaults::busy_block_interval_ms")]
    pub busy_block_interval_ms: u64,
    /// The most time between two blocks while no transaction waits (an
    /// idle chain's heartbeat), in milliseconds. Read from
    /// `block_interval_ms` too, its name before idle chains went quiet.
    #[serde(
        default = "defaults::heartbeat_interval_ms",
        alias = "block_interval_ms"
    )]
    pub heartbeat_interval_ms: u64,
    /// Memory for the state database's page cache, in MiB.
    #[serde(default = "defaults::state_cache_mib")]
    pub state_cache_mib: usize,
    /// Largest file (FHIR Binary) accepted, in bytes.
    #[serde(default = "defaults::max_file_bytes")]
    pub max_file_bytes: u64,
    /// File uploads and downloads served at once; more are refused (503).
    #[serde(default = "defaults::max_file_transfers")]
    pub max_file_transfers: usize,
    /// How long a request waits for its transaction to be final, in ms.
    #[serde(default = "defaults::finality_timeout_ms")]
    pub finality_timeout_ms: u64,
    /// How long a custodian waits to see an access decision another
    /// member's node saw final before it releases a key, in ms.
    #[serde(default = "defaults::decision_wait_ms")]
    pub decision_wait_ms: u64,
    /// How long a call to another member's node may take, in ms.
    #[serde(default = "defaults::peer_timeout_ms")]
    pub peer_timeout_ms: u64,
    /// How long a validator that sent what no honest one sends is refused
    /// (its connections dropped and not accepted), in seconds.
    #[serde(default = "defaults::peer_block_secs")]
    pub peer_block_secs: u64,
    /// Where the vault keeps ciphertexts (`[vault]`): local disk unless
    /// `store = "s3"`. Keys stay local either way.
    #[serde(default)]
    pub vault: VaultBackend,
    /// `[tls]`: serve the API over HTTPS and call other members over
    /// HTTPS, trusting only the consortium's authorities. Plain HTTP
    /// without it (the demo, on 127.0.0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFiles>,
    /// `[limits]`: what one client may hold or send ([`Limits`]).
    #[serde(default)]
    pub limits: Limits,
}

/// An idle chain's heartbeat unless a node's config says otherwise: long
/// enough that an idle node's disk grows by megabytes a day, short enough
/// that a stalled chain shows within a minute.
pub const DEFAULT_HEARTBEAT_INTERVAL_MS: u64 = 30_000;

/// A node's state cache unless its config says otherwise: room for a
/// server's working set. A whole consortium on one machine (`custodia
/// demo`) gives each node less.
pub const DEFAULT_STATE_CACHE_MIB: usize = 256;

mod defaults {
    pub fn data_dir() -> String {
        "data".into()
    }
    pub fn log_format() -> String {
        "text".into()
    }
    pub fn mempool_capacity() -> usize {
        200_000
    }
    pub fn busy_block_interval_ms() -> u64 {
        50
    }
    pub fn heartbeat_interval_ms() -> u64 {
        super::DEFAULT_HEARTBEAT_INTERVAL_MS
    }
    pub fn state_cache_mib() -> usize {
        super::DEFAULT_STATE_CACHE_MIB
    }
    pub fn max_file_bytes() -> u64 {
        16 << 30
    }
    pub fn max_file_transfers() -> usize {
        16
    }
    pub fn finality_timeout_ms() -> u64 {
        30_000
    }
    pub fn decision_wait_ms() -> u64 {
        5_000
    }
    pub fn peer_timeout_ms() -> u64 {
        30_000
    }
    pub fn peer_block_secs() -> u64 {
        3_600
    }
}

impl Config {
    pub fn new(org: impl Into<String>, api: SocketAddr) -> Self {
        Self {
            org: org.into(),
            api,
            p2p: None,
            data_dir: defaults::data_dir(),
            log_format: defaults::log_format(),
            mempool_capacity: defaults::mempool_capacity(),
            busy_block_interval_ms: defaults::busy_block_interval_ms(),
            heartbeat_interval_ms: defaults::heartbeat_interval_ms(),
            state_cache_mib: defaults::state_cache_mib(),
            max_file_bytes: defaults::max_file_bytes(),
            max_file_transfers: defaults::max_file_transfers(),
            finality_timeout_ms: defaults::finality_timeout_ms(),
            decision_wait_ms: defaults::decision_wait_ms(),
            peer_timeout_ms: defaults::peer_timeout_ms(),
            peer_block_secs: defaults::peer_block_secs(),
            vault: VaultBackend::default(),
            tls: None,
            limits: Limits::default(),
        }
    }

    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        let config: Self = toml::from_str(text)?;
        config
            .check_pacing()
            .map_err(<toml::de::Error as serde::de::Error>::custom)?;
        Ok(config)
    }

    fn check_pacing(&self) -> Result<(), String> {
        if self.heartbeat_interval_ms == 0 {
            return Err("heartbeat_interval_ms must be at least 1: an idle chain would propose empty blocks without pause".into());
        }
        if self.busy_block_interval_ms > self.heartbeat_interval_ms {
            return Err(format!(
                "busy_block_interval_ms ({}) is longer than heartbeat_interval_ms ({}): blocks would come slower while transactions wait than while none do",
                self.busy_block_interval_ms, self.heartbeat_interval_ms
            ));
        }
        Ok(())
    }

    /// The file `custodia init` writes: every setting, with what it does.
    pub fn to_commented_toml(&self) -> String {
        let p2p = match self.p2p {
            Some(addr) => format!("p2p = \"{addr}\""),
            None => "# p2p = \"127.0.0.1:30400\"".into(),
        };
        format!(
            r#"# Custodia node configuration.
# Values shown are this node's; commented lines show defaults.

# Which member organisation this node is (its id in genesis.toml).
org = {org}

# Where the HTTP API listens (GET /v1/status, POST /v1/tx, GET /metrics, ...).
api = "{api}"

# Where peer-to-peer traffic listens. Defaults to this member's p2p address
# in genesis.toml; set it to bind another interface (e.g. 0.0.0.0:30400).
{p2p}

# Where blocks and state are stored, relative to this directory.
data_dir = {data_dir}

# Log format: "text" for people, "json" for log shippers. Logs never
# contain transaction contents, only ids, kinds and heights.
log_format = {log_format}

# Most transactions waiting for a block before new ones are refused
# with "mempool is full" (HTTP 503).
mempool_capacity = {mempool_capacity}

# Time between blocks while transactions wait, in milliseconds. Lower
# means a request waits less for its block (lower latency, so more
# throughput for the same requests in flight) and more, smaller blocks.
# At most heartbeat_interval_ms.
busy_block_interval_ms = {busy_block_interval_ms}

# The most time between two blocks while no transaction waits, in
# milliseconds: an idle chain makes one empty block this often (its
# heartbeat: the chain's clock advances and its liveness shows) and
# nothing else but a few consensus votes a second. The first transaction
# to arrive is proposed at once. Every node should use the same value.
heartbeat_interval_ms = {heartbeat_interval_ms}

# Memory for the state database's page cache, in MiB, allocated when the
# node starts. It is the state's only read cache: a read that misses it
# goes to disk, past the operating system's cache. The default holds what
# roughly the last 70 000 clinical actions (writes, audited reads) wrote.
state_cache_mib = {state_cache_mib}

# Largest file (imaging, PDFs: FHIR Binary) accepted, in bytes. Files
# stream through the vault, so this bounds disk use, not memory.
max_file_bytes = {max_file_bytes}

# File uploads and downloads served at once; more are refused with
# HTTP 503 (retry shortly). Each one holds a thread while it runs.
max_file_transfers = {max_file_transfers}

# How long an API request waits for its transaction to be final, in
# milliseconds, before answering 504 (the transaction may still be final
# later: read it again before retrying a write).
finality_timeout_ms = {finality_timeout_ms}

# How long this node, as a record's custodian, waits to see an access
# decision that another member's node already saw final before it
# releases the record's key, in milliseconds (nodes finalize a block a
# moment apart).
decision_wait_ms = {decision_wait_ms}

# How long a call to another member's node may take (asking a custodian
# for a record's key), in milliseconds. File transfers end only when idle.
peer_timeout_ms = {peer_timeout_ms}

# How long a validator that sent what no honest one sends (conflicting
# votes, a bad signature, an undecodable message) is refused: its
# connections are dropped and not accepted, in seconds. The offender is
# logged by name and counted in /metrics (consensus_peers_blocked).
peer_block_secs = {peer_block_secs}

{limits}
{tls}
{vault}"#,
            org = quoted(&self.org),
            api = self.api,
            data_dir = quoted(&self.data_dir),
            log_format = quoted(&self.log_format),
            mempool_capacity = self.mempool_capacity,
            busy_block_interval_ms = self.busy_block_interval_ms,
            heartbeat_interval_ms = self.heartbeat_interval_ms,
            state_cache_mib = self.state_cache_mib,
            max_file_bytes = self.max_file_bytes,
            max_file_transfers = self.max_file_transfers,
            finality_timeout_ms = self.finality_timeout_ms,
            decision_wait_ms = self.decision_wait_ms,
            peer_timeout_ms = self.peer_timeout_ms,
            peer_block_secs = self.peer_block_secs,
            limits = self.limits.to_commented_toml(),
            tls = tls::tls_toml(self.tls.as_ref()),
            vault = vault::vault_toml(&self.vault, &self.org),
        )
    }
}

/// `text` as a one-line TOML basic string, quoted and escaped: it may
/// stand in a comment too, and nothing in it ends the string or the line.
/// (The `toml` crate writes text with a line break as a multi-line
/// string, which would end a comment.)
pub(crate) fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commented_toml_round_trips() {
        let mut config = Config::new("st-mary", "127.0.0.1:8400".parse().unwrap());
        assert_eq!(
            Config::from_toml(&config.to_commented_toml()).unwrap(),
            config
        );
        config.p2p = Some("0.0.0.0:30400".parse().unwrap());
        assert_eq!(
            Config::from_toml(&config.to_commented_toml()).unwrap(),
            config
        );
        assert!(config.to_commented_toml().contains("# [tls]\n"));
        config.tls = Some(TlsFiles {
            cert: "tls/st mary.pem".into(),
            key: "tls/node.key".into(),
            ca: "/etc/custodia/ca.pem".into(),
        });
        let text = config.to_commented_toml();
        assert!(
            text.contains("\n[tls]\ncert = \"tls/st mary.pem\"\n"),
            "{text}"
        );
        assert_eq!(Config::from_toml(&text).unwrap(), config);
        config.limits = Limits {
            max_connections: 10,
            max_connections_per_address: 2,
            requests_per_second_per_address: 0,
            requests_per_second_per_agent: 7,
            header_timeout_ms: 1_000,
            body_idle_timeout_ms: 2_000,
        };
        assert_eq!(
            Config::from_toml(&config.to_commented_toml()).unwrap(),
            config
        );
        // Text settings are written escaped: nothing in them can end the
        // string or the comment they appear in.
        config.org = "st \"mary\"\n[limits]\nmax_connections = 1 \\\t\u{7f}".into();
        config.data_dir = "d\"ata".into();
        config.vault = VaultBackend::S3(S3Settings {
            bucket: "b".into(),
            endpoint: None,
            region: None,
            prefix: None,
            allow_http: false,
        });
        assert_eq!(
            Config::from_toml(&config.to_commented_toml()).unwrap(),
            config
        );
        config.vault = VaultBackend::default();
        assert_eq!(
            Config::from_toml(&config.to_commented_toml()).unwrap(),
            config
        );
        // A config written before [limits] existed gets the defaults.
        let old = "org = \"st-mary\"\napi = \"127.0.0.1:8400\"\n";
        assert_eq!(Config::from_toml(old).unwrap().limits, Limits::default());
        // The per-agent rate's earlier name is still read.
        let renamed = format!("{old}[limits]\nrequests_per_second_per_credential = 3\n");
        let limits = Config::from_toml(&renamed).unwrap().limits;
        assert_eq!(limits.requests_per_second_per_agent, 3);
    }

    #[test]
    fn the_state_cache_and_waits_have_their_defaults() {
        let config = Config::new("st-mary", "127.0.0.1:8400".parse().unwrap());
        assert!(config
            .to_commented_toml()
            .contains("\nstate_cache_mib = 256\n"));
        let old = Config::from_toml("org = \"a\"\napi = \"127.0.0.1:1\"\n").unwrap();
        assert_eq!(old.state_cache_mib, 256);
        assert_eq!(
            (
                old.finality_timeout_ms,
                old.decision_wait_ms,
                old.peer_timeout_ms
            ),
            (30_000, 5_000, 30_000)
        );
    }

    #[test]
    fn the_vault_table_round_trips() {
        let mut config = Config::new("st-mary", "127.0.0.1:8400".parse().unwrap());
        let text = config.to_commented_toml();
        assert!(text.contains("# [vault]\n# store = \"s3\""), "{text}");
        assert!(text.contains("AWS_SECRET_ACCESS_KEY"), "{text}");
        let mut s3 = S3Settings {
            bucket: "custodia \"records\"".into(),
            endpoint: Some("http://127.0.0.1:9000".into()),
            region: None,
            prefix: None,
            allow_http: true,
        };
        config.vault = VaultBackend::S3(s3.clone());
        let text = config.to_commented_toml();
        assert!(text.contains("\n[vault]\nstore = \"s3\""), "{text}");
        assert_eq!(Config::from_toml(&text).unwrap(), config);
        s3.region = Some("eu-west-1".into());
        s3.prefix = Some("hospitals/st-mary".into());
        s3.endpoint = None;
        s3.allow_http = false;
        config.vault = VaultBackend::S3(s3);
        assert_eq!(
            Config::from_toml(&config.to_commented_toml()).unwrap(),
            config
        );
        let explicit = "org = \"a\"\napi = \"127.0.0.1:1\"\n[vault]\nstore = \"local\"\n";
        assert_eq!(
            Config::from_toml(explicit).unwrap().vault,
            VaultBackend::default()
        );
    }

    #[test]
    fn a_vault_table_that_cannot_work_is_refused() {
        let base = "org = \"a\"\napi = \"127.0.0.1:1\"\n[vault]\n";
        for (table, needle) in [
            ("store = \"s3\"\n", "bucket"),
            (
                "store = \"s3\"\nbucket = \"b\"\nsecret_access_key = \"x\"\n",
                "secret_access_key",
            ),
            ("store = \"ftp\"\n", "ftp"),
            ("bucket = \"b\"\n", "store"),
        ] {
            let err = Config::from_toml(&format!("{base}{table}")).unwrap_err();
            assert!(err.to_string().contains(needle), "{table}: {err}");
        }
    }

    #[test]
    fn block_pacing_that_cannot_work_is_refused() {
        let base = "org = \"a\"\napi = \"127.0.0.1:1\"\n";
        let slower_when_busy =
            format!("{base}busy_block_interval_ms = 300\nheartbeat_interval_ms = 200\n");
        let err = Config::from_toml(&slower_when_busy)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("busy_block_interval_ms (300) is longer"),
            "{err}"
        );
        let err = Config::from_toml(&format!(
            "{base}heartbeat_interval_ms = 0\nbusy_block_interval_ms = 0\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("at least 1"), "{err}");
        let fine = Config::from_toml(&format!("{base}busy_block_interval_ms = 20\n")).unwrap();
        assert_eq!(
            (fine.busy_block_interval_ms, fine.heartbeat_interval_ms),
            (20, DEFAULT_HEARTBEAT_INTERVAL_MS)
        );
        // A config written before the heartbeat keeps its idle interval.
        let old = Config::from_toml(&format!("{base}block_interval_ms = 200\n")).unwrap();
        assert_eq!(old.heartbeat_interval_ms, 200);
    }

    #[test]
    fn unknown_settings_are_refused() {
        let err = Config::from_toml("org = \"a\"\napi = \"127.0.0.1:1\"\nbogus = 1\n").unwrap_err();
        assert!(err.to_string().contains("bogus"));
    }
}
