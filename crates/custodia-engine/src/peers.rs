//! Calls between members' nodes outside consensus (key release, replica
//! pushes, searches of other members' indexes): a service asks through
//! one [`PeerNetwork`], so the same code runs over HTTP in a node
//! ([`HttpPeers`]) and over links a simulation can cut. File streams,
//! which do not fit one request and one answer, go over HTTP directly
//! with the [`PeerTransport`].

use bytes::Bytes;
use futures::future::BoxFuture;
use std::{net::SocketAddr, time::Duration};

/// How long a connection to a peer stays pooled unused: below a node's
/// default `header_timeout_ms` (30 s), after which the peer's front door
/// closes an idle connection, so a call never races that close.
const POOL_IDLE: Duration = Duration::from_secs(20);

/// One call to another member's node: `POST path` with `body`.
pub struct PeerRequest {
    /// The API path, e.g. `/v1/vault/release`.
    pub path: &'static str,
    /// The body's media type.
    pub content_type: &'static str,
    pub body: Bytes,
}

impl PeerRequest {
    /// A JSON request.
    pub fn json(path: &'static str, value: &impl serde::Serialize) -> Self {
        Self {
            path,
            content_type: "application/json",
            body: serde_json::to_vec(value)
                .expect("requests between nodes serialize")
                .into(),
        }
    }
}

/// What the peer answered: any HTTP status, with its body.
pub struct PeerAnswer {
    pub status: u16,
    pub body: Bytes,
}

impl PeerAnswer {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON of type `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, PeerError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| PeerError::Unreadable(format!("its answer is not what was asked: {e}")))
    }

    /// The body as text, for an error message.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Why a peer gave no answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PeerError {
    /// Not reached: refused, reset, or a certificate this node does not
    /// trust (the reason names the causes).
    #[error("{0}")]
    Unreachable(String),
    /// No answer within the caller's wait.
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
    /// An answer that could not be read.
    #[error("{0}")]
    Unreadable(String),
}

/// The calls a node's services make to other members' nodes.
pub trait PeerNetwork: Send + Sync + 'static {
    /// Send `request` to the node whose API is at `peer`; its answer,
    /// whatever its status. The caller bounds the wait (by its runtime's
    /// clock: `time::within`).
    fn post(
        &self,
        peer: SocketAddr,
        request: PeerRequest,
    ) -> BoxFuture<'static, Result<PeerAnswer, PeerError>>;
}

/// The transport to other members' APIs: HTTPS trusting only the
/// consortium's certificate authorities, or plain HTTP where every node is
/// on one trusted machine (the demo). Cheap to clone.
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

/// The longest any one call over [`HttpPeers`] may take; callers wait
/// less (their own waits, by their runtime's clock).
const HTTP_CALL_LIMIT: Duration = Duration::from_secs(600);

/// [`PeerNetwork`] over HTTP(S): a node's.
#[derive(Clone)]
pub struct HttpPeers {
    transport: PeerTransport,
    http: reqwest::Client,
}

impl HttpPeers {
    pub fn new(transport: PeerTransport) -> Self {
        Self {
            http: transport.client(HTTP_CALL_LIMIT),
            transport,
        }
    }
}

impl PeerNetwork for HttpPeers {
    fn post(
        &self,
        peer: SocketAddr,
        request: PeerRequest,
    ) -> BoxFuture<'static, Result<PeerAnswer, PeerError>> {
        let sending = self
            .http
            .post(self.transport.url(peer, request.path))
            .header(reqwest::header::CONTENT_TYPE, request.content_type)
            .body(request.body)
            .send();
        Box::pin(async move {
            let answer = sending.await.map_err(unreachable)?;
            let status = answer.status().as_u16();
            let body = answer
                .bytes()
                .await
                .map_err(|e| PeerError::Unreadable(with_causes(&e)))?;
            Ok(PeerAnswer { status, body })
        })
    }
}

fn unreachable(error: reqwest::Error) -> PeerError {
    PeerError::Unreachable(with_causes(&error))
}

/// An error and its causes (refused, timed out, a certificate this node
/// does not trust), on one line.
pub fn with_causes(error: &dyn std::error::Error) -> String {
    let mut reason = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    reason
}
