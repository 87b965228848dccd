//! `[limits]`: what the API's front door allows one client.

use serde::{Deserialize, Serialize};

/// What the API's front door allows one client (`[limits]`): enforced by the node's
/// front door. The defaults are far above what one integration
/// engine sends from one address; they bound abuse, not use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// API connections open at once; more are refused.
    pub max_connections: usize,
    /// API connections open at once from one address; more are refused
    /// (a plain-HTTP client is answered 503).
    pub max_connections_per_address: usize,
    /// Requests a second from one address (0: no limit); more are 429.
    pub requests_per_second_per_address: u32,
    /// Requests a second for one agent (the key that signed the bearer
    /// token; 0: no limit). Its earlier name is still read.
    #[serde(alias = "requests_per_second_per_credential")]
    pub requests_per_second_per_agent: u32,
    /// How long a client may take to send a request's headers, and how
    /// long a connection may sit idle between requests, in ms.
    pub header_timeout_ms: u64,
    /// How long a request body may stall (no bytes arriving), in ms.
    pub body_idle_timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 8_192,
            max_connections_per_address: 2_048,
            requests_per_second_per_address: 50_000,
            requests_per_second_per_agent: 20_000,
            header_timeout_ms: 30_000,
            body_idle_timeout_ms: 60_000,
        }
    }
}

impl Limits {
    /// The `[limits]` table, explained, with the values in force.
    pub(crate) fn to_commented_toml(&self) -> String {
        format!(
            r#"# What the HTTP API allows one client. Each refusal says which setting
# refused it. The defaults bound abuse, far above what one integration
# engine sends from one address.
[limits]
# API connections open at once, in all; more are closed at once.
max_connections = {max_connections}
# API connections open at once from one address; more are answered 503
# (plain HTTP) or closed (HTTPS).
max_connections_per_address = {max_connections_per_address}
# Requests a second from one address, and for one agent (the key that
# signed the bearer token, however many tokens it mints); more are
# answered 429 with Retry-After. 0 means no limit.
requests_per_second_per_address = {requests_per_second_per_address}
requests_per_second_per_agent = {requests_per_second_per_agent}
# How long a client may take to send a request's headers, and how long a
# connection may sit idle between requests, in milliseconds (a client that
# trickles its headers is closed: slow-loris).
header_timeout_ms = {header_timeout_ms}
# How long a request body may stall with no bytes arriving, in
# milliseconds; the request then fails. Large files stream as long as
# bytes keep coming.
body_idle_timeout_ms = {body_idle_timeout_ms}
"#,
            max_connections = self.max_connections,
            max_connections_per_address = self.max_connections_per_address,
            requests_per_second_per_address = self.requests_per_second_per_address,
            requests_per_second_per_agent = self.requests_per_second_per_agent,
            header_timeout_ms = self.header_timeout_ms,
            body_idle_timeout_ms = self.body_idle_timeout_ms,
        )
    }
}
