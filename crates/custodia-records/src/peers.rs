//! How this node reaches other members' nodes (key release, replicas,
//! file streams): over HTTPS, trusting only the consortium's certificate
//! authorities, or over plain HTTP where every node is on one trusted
//! machine (the demo). Every call to another member goes through here.

use std::{net::SocketAddr, time::Duration};

/// How long a connection to a peer stays pooled unused: below a node's
/// default `header_timeout_ms` (30 s), after which the peer's front door
/// closes an idle connection, so a call never races that close.
const POOL_IDLE: Duration = Duration::from_secs(20);

/// The transport to other members' APIs. Cheap to clone.
#[derive(Clone, Default)]
pub struct PeerTransport {
    /// `Some`: HTTPS, and a peer's certificate must chain to one of these.
    roots: Option<Vec<reqwest::Certificate>>,
}

impl PeerTransport {
    /// Plain HTTP (a consortium on one machine, or a network that already
    /// encrypts and authenticates).
    pub fn plain() -> Self {
        Self::default()
    }

    /// HTTPS, verifying every peer's certificate against `roots` only (not
    /// the system's authorities: a consortium names its own).
    pub fn https(roots: Vec<reqwest::Certificate>) -> Self {
        Self { roots: Some(roots) }
    }

    /// The URL of `path` on `peer`'s API.
    pub fn url(&self, peer: SocketAddr, path: &str) -> String {
        let scheme = match self.roots {
            Some(_) => "https",
            None => "http",
        };
        format!("{scheme}://{peer}{path}")
    }

    /// An async client for peers, giving up after `timeout`.
    pub fn client(&self, timeout: Duration) -> reqwest::Client {
        let builder = reqwest::Client::builder()
            .timeout(timeout)
            .pool_idle_timeout(POOL_IDLE);
        let builder = match &self.roots {
            Some(roots) => builder.https_only(true).tls_certs_only(roots.clone()),
            None => builder,
        };
        builder
            .build()
            .expect("an HTTP client with parsed root certificates builds")
    }

    /// A blocking client for peers (file streams, on blocking threads).
    pub fn blocking_client(
        &self,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Result<reqwest::blocking::Client, reqwest::Error> {
        let builder = reqwest::blocking::Client::builder()
            .connect_timeout(connect_timeout)
            .timeout(timeout)
            .pool_idle_timeout(POOL_IDLE);
        let builder = match &self.roots {
            Some(roots) => builder.https_only(true).tls_certs_only(roots.clone()),
            None => builder,
        };
        builder.build()
    }
}
