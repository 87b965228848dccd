//! Node settings, read from `config.toml` in the node's home directory.

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
    /// Target time between blocks, in milliseconds.
    #[serde(default = "defaults::block_interval_ms")]
    pub block_interval_ms: u64,
    /// Largest file (FHIR Binary) accepted, in bytes.
    #[serde(default = "defaults::max_file_bytes")]
    pub max_file_bytes: u64,
    /// File uploads and downloads served at once; more are refused (503).
    #[serde(default = "defaults::max_file_transfers")]
    pub max_file_transfers: usize,
}

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
    pub fn block_interval_ms() -> u64 {
        200
    }
    pub fn max_file_bytes() -> u64 {
        16 << 30
    }
    pub fn max_file_transfers() -> usize {
        16
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
            block_interval_ms: defaults::block_interval_ms(),
            max_file_bytes: defaults::max_file_bytes(),
            max_file_transfers: defaults::max_file_transfers(),
        }
    }

    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
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
org = "{org}"

# Where the HTTP API listens (GET /v1/status, POST /v1/tx, GET /metrics, ...).
api = "{api}"

# Where peer-to-peer traffic listens. Defaults to this member's p2p address
# in genesis.toml; set it to bind another interface (e.g. 0.0.0.0:30400).
{p2p}

# Where blocks and state are stored, relative to this directory.
data_dir = "{data_dir}"

# Log format: "text" for people, "json" for log shippers. Logs never
# contain transaction contents, only ids, kinds and heights.
log_format = "{log_format}"

# Most transactions waiting for a block before new ones are refused
# with "mempool is full" (HTTP 503).
mempool_capacity = {mempool_capacity}

# Target time between blocks, in milliseconds. Lower means lower latency
# and more, smaller blocks.
block_interval_ms = {block_interval_ms}

# Largest file (imaging, PDFs: FHIR Binary) accepted, in bytes. Files
# stream through the vault, so this bounds disk use, not memory.
max_file_bytes = {max_file_bytes}

# File uploads and downloads served at once; more are refused with
# HTTP 503 (retry shortly). Each one holds a thread while it runs.
max_file_transfers = {max_file_transfers}
"#,
            org = self.org,
            api = self.api,
            data_dir = self.data_dir,
            log_format = self.log_format,
            mempool_capacity = self.mempool_capacity,
            block_interval_ms = self.block_interval_ms,
            max_file_bytes = self.max_file_bytes,
            max_file_transfers = self.max_file_transfers,
        )
    }
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
    }

    #[test]
    fn unknown_settings_are_refused() {
        let err = Config::from_toml("org = \"a\"\napi = \"127.0.0.1:1\"\nbogus = 1\n").unwrap_err();
        assert!(err.to_string().contains("bogus"));
    }
}
