//! The HTTP API's front door: it accepts connections (TLS when configured),
//! caps them in all and per address, bounds how long a client may take to
//! send a request's headers and how long its body may stall, and limits
//! requests per address and per agent.
//!
//! Invariant: a refused connection or request never reaches a handler, so
//! a refusal stores nothing; each one says what to do (an OperationOutcome
//! under `/fhir`). Settings are `[limits]` in config.toml ([`Limits`]).

use crate::config::Limits;
use axum::{
    body::{Bytes, HttpBody},
    extract::{ConnectInfo, Request, State},
    http::{header, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    Router,
};
use commonware_runtime::{
    telemetry::metrics::{raw::Counter, Registered},
    Metrics,
};
use custodia_types::OrgId;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use std::{
    collections::HashMap,
    hash::{BuildHasher, RandomState},
    net::{IpAddr, SocketAddr},
    num::NonZeroU32,
    pin::Pin,
    sync::{Arc, Mutex},
    task::Poll,
    time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;
use tower_http::timeout::TimeoutBody;

/// How long a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Refused connections being answered at once (each for up to 2 s); past
/// this, a refused connection is closed unanswered, so a flood of
/// connections cannot hold more of the node's sockets through refusals.
const REFUSALS_IN_FLIGHT: usize = 256;
/// How often the rate limiters forget addresses and agents whose
/// buckets are full again.
const FORGET_IDLE_EVERY: Duration = Duration::from_secs(60);

/// What the front door counts, in `/metrics`.
#[derive(Clone)]
struct Refusals {
    connections: Registered<Counter>,
    requests: Registered<Counter>,
    slow_clients: Registered<Counter>,
}

impl Refusals {
    fn register(metrics: &impl Metrics) -> Self {
        Self {
            connections: metrics.register(
                "connections_refused",
                "API connections refused: over the node's or one address's connection cap",
                Counter::default(),
            ),
            requests: metrics.register(
                "requests_throttled",
                "API requests answered 429: over an address's or an agent's rate",
                Counter::default(),
            ),
            slow_clients: metrics.register(
                "slow_clients_closed",
                "API connections closed for sending a request's headers too slowly",
                Counter::default(),
            ),
        }
    }
}

/// What the front door needs to know of the node it serves.
pub struct Config {
    /// What one client may hold or send.
    pub limits: Limits,
    /// Serve over TLS with this, when given.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The chain and organisation whose bearer tokens this node accepts:
    /// rates are kept per agent whose token checks out for them.
    pub chain_id: String,
    pub org: OrgId,
}

/// Serve `app` on `listener` until the task is dropped, behind the front
/// door's limits.
pub async fn serve(listener: TcpListener, app: Router, config: Config, metrics: impl Metrics) {
    let Config {
        limits,
        tls,
        chain_id,
        org,
    } = config;
    let refusals = Refusals::register(&metrics);
    let audience = Audience { chain_id, org };
    let rates = Arc::new(Throttle::new(&limits, audience, refusals.requests.clone()));
    // Addresses and agents seen once must not hold memory: their
    // buckets are dropped once full again, every minute, for as long as
    // the API serves.
    tokio::spawn({
        let rates = Arc::downgrade(&rates);
        async move {
            let mut every = tokio::time::interval(FORGET_IDLE_EVERY);
            every.tick().await;
            loop {
                every.tick().await;
                match rates.upgrade() {
                    Some(rates) => rates.forget_idle(),
                    None => return,
                }
            }
        }
    });
    let app = app.layer(axum::middleware::from_fn_with_state(rates, throttle));
    let acceptor = tls.map(TlsAcceptor::from);
    let connections = Arc::new(Mutex::new(Connections::default()));
    let answering = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: pause rather than
                // spin (as axum's own listener does).
                tracing::warn!(%error, "accepting an API connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let admitted = match Connections::admit(&connections, peer.ip(), &limits) {
            Ok(admitted) => admitted,
            Err(refusal) => {
                refusals.connections.inc();
                tracing::debug!(%peer, ?refusal, "API connection refused");
                // Over TLS a refusal cannot be read without a handshake,
                // which is the work the cap saves: the connection is closed.
                use std::sync::atomic::Ordering::Relaxed;
                if acceptor.is_none() {
                    if answering.fetch_add(1, Relaxed) < REFUSALS_IN_FLIGHT {
                        let answering = answering.clone();
                        tokio::spawn(async move {
                            refuse(tcp, refusal).await;
                            answering.fetch_sub(1, Relaxed);
                        });
                    } else {
                        answering.fetch_sub(1, Relaxed);
                    }
                }
                continue;
            }
        };
        let (app, acceptor, limits) = (app.clone(), acceptor.clone(), limits.clone());
        let slow_clients = refusals.slow_clients.clone();
        tokio::spawn(async move {
            let _admitted = admitted;
            let served = match acceptor {
                None => serve_connection(tcp, peer, app, &limits).await,
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => serve_connection(tls, peer, app, &limits).await,
                        Ok(Err(error)) => {
                            tracing::debug!(%peer, %error, "a TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "a TLS handshake timed out");
                            return;
                        }
                    }
                }
            };
            if let Err(error) = served {
                if error.is_timeout() {
                    slow_clients.inc();
                    tracing::debug!(%peer, "closed a connection that sent its headers too slowly");
                } else {
                    tracing::debug!(%peer, %error, "API connection ended with an error");
                }
            }
        });
    }
}

/// One HTTP/1.1 connection: headers must arrive within the header timeout
/// (which also ends a connection idle between requests), and a body may
/// not stall longer than the body timeout.
async fn serve_connection<I>(
    io: I,
    peer: SocketAddr,
    app: Router,
    limits: &Limits,
) -> Result<(), hyper::Error>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let stall = Duration::from_millis(limits.body_idle_timeout_ms);
    let app = app.map_request(move |request: Request<Incoming>| {
        let mut request = request.map(|body| StallLimited::new(body, stall));
        request.extensions_mut().insert(ConnectInfo(peer));
        request
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(limits.header_timeout_ms));
    http.serve_connection(TokioIo::new(io), TowerToHyperService::new(app))
        .await
}

/// A request body that fails once it stalls for its timeout (tower-http's
/// `TimeoutBody`) and still says how much of it is left, as the body it
/// wraps did: `TimeoutBody` forwards no size hint, and without one an
/// upload declared larger than a node takes could not be refused unread.
struct StallLimited {
    inner: Pin<Box<TimeoutBody<Incoming>>>,
    left: SizeHint,
}

impl StallLimited {
    fn new(body: Incoming, stall: Duration) -> Self {
        Self {
            left: body.size_hint(),
            inner: Box::pin(TimeoutBody::new(stall, body)),
        }
    }
}

impl HttpBody for StallLimited {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let frame = std::task::ready!(self.inner.as_mut().poll_frame(cx));
        if let Some(Ok(data)) = frame.as_ref().map(|f| f.as_ref().map(Frame::data_ref)) {
            let read = data.map_or(0, |data| data.len() as u64);
            let mut left = SizeHint::new();
            left.set_lower(self.left.lower().saturating_sub(read));
            if let Some(upper) = self.left.upper() {
                left.set_upper(upper.saturating_sub(read));
            }
            self.left = left;
        }
        Poll::Ready(frame)
    }

    fn size_hint(&self) -> SizeHint {
        self.left
    }
}

/// Why a connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConnectionRefusal {
    /// The node holds `max_connections` already.
    Node,
    /// This address holds `max_connections_per_address` already.
    Address,
}

/// The connections open now, in all and per address.
#[derive(Default)]
struct Connections {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
}

/// An admitted connection's place, given back when it is dropped.
struct Admitted {
    connections: Arc<Mutex<Connections>>,
    address: IpAddr,
}

impl Connections {
    fn admit(
        connections: &Arc<Mutex<Connections>>,
        address: IpAddr,
        limits: &Limits,
    ) -> Result<Admitted, ConnectionRefusal> {
        let mut open = connections.lock().unwrap_or_else(|e| e.into_inner());
        if open.total >= limits.max_connections {
            return Err(ConnectionRefusal::Node);
        }
        let mine = open.per_address.entry(address).or_default();
        if *mine >= limits.max_connections_per_address {
            return Err(ConnectionRefusal::Address);
        }
        *mine += 1;
        open.total += 1;
        Ok(Admitted {
            connections: connections.clone(),
            address,
        })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.connections.lock().unwrap_or_else(|e| e.into_inner());
        open.total -= 1;
        if let Some(mine) = open.per_address.get_mut(&self.address) {
            *mine -= 1;
            if *mine == 0 {
                open.per_address.remove(&self.address);
            }
        }
    }
}

/// Answer a refused plain-HTTP connection with a 503 that says why, then
/// close it (after reading briefly what the client sent, so the close
/// does not reset the connection before the answer is read).
async fn refuse(mut tcp: TcpStream, refusal: ConnectionRefusal) {
    let message = match refusal {
        ConnectionRefusal::Node => {
            "this node has as many API connections open as it allows (max_connections in [limits] of its config.toml); retry shortly"
        }
        ConnectionRefusal::Address => {
            "your address has as many API connections open to this node as it allows (max_connections_per_address in [limits] of its config.toml); reuse an open connection or close one, then retry"
        }
    };
    let body =
        serde_json::json!({ "error": "too_many_connections", "message": message }).to_string();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        tcp.write_all(answer.as_bytes()).await?;
        tcp.shutdown().await?;
        let mut sink = [0u8; 4096];
        while tcp.read(&mut sink).await? > 0 {}
        std::io::Result::Ok(())
    })
    .await;
}

/// Whose bearer tokens the node accepts.
struct Audience {
    chain_id: String,
    org: OrgId,
}

/// Requests per second per address and per agent: the key that signed the
/// request's bearer token, when the token checks out for this node (a
/// client minting itself fresh tokens still spends one budget), or else
/// the `Authorization` header as sent (refused later anyway; it cannot
/// spend an agent's budget, as it names no key provably).
struct Throttle {
    per_address: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_agent: Option<DefaultKeyedRateLimiter<u64>>,
    audience: Audience,
    /// Hashes agents and credentials for `per_agent` (keyed per process).
    hasher: RandomState,
    throttled: Registered<Counter>,
    limits: Limits,
}

impl Throttle {
    fn new(limits: &Limits, audience: Audience, throttled: Registered<Counter>) -> Self {
        let quota = |per_second: u32| NonZeroU32::new(per_second).map(Quota::per_second);
        Self {
            per_address: quota(limits.requests_per_second_per_address).map(RateLimiter::keyed),
            per_agent: quota(limits.requests_per_second_per_agent).map(RateLimiter::keyed),
            audience,
            hasher: RandomState::new(),
            throttled,
            limits: limits.clone(),
        }
    }

    /// The `per_agent` key of a request with this `Authorization` value.
    fn agent(&self, authorization: &HeaderValue) -> u64 {
        let signer = authorization.to_str().ok().and_then(|value| {
            custodia_engine::auth::bearer_signer(value, &self.audience.chain_id, &self.audience.org)
        });
        match signer {
            Some(key) => self.hasher.hash_one((0u8, &key)),
            None => self.hasher.hash_one((1u8, authorization.as_bytes())),
        }
    }

    /// Why this request is over a rate, if it is. The agent is checked
    /// first: a request refused for its agent's rate does not spend its
    /// address's (a limiter spends only on success), so one agent over its
    /// rate does not hold back the others at its address.
    fn check(&self, peer: Option<IpAddr>, authorization: Option<&HeaderValue>) -> Option<String> {
        if let (Some(limiter), Some(authorization)) = (&self.per_agent, authorization) {
            if limiter.check_key(&self.agent(authorization)).is_err() {
                return Some(format!(
                    "more than {} requests a second for your agent (requests_per_second_per_agent in [limits] of this node's config.toml); slow down and retry after the time in Retry-After",
                    self.limits.requests_per_second_per_agent
                ));
            }
        }
        if let (Some(limiter), Some(address)) = (&self.per_address, peer) {
            if limiter.check_key(&address).is_err() {
                return Some(format!(
                    "more than {} requests a second from your address (requests_per_second_per_address in [limits] of this node's config.toml); slow down and retry after the time in Retry-After",
                    self.limits.requests_per_second_per_address
                ));
            }
        }
        None
    }

    /// Forget keys whose buckets are full again (as if never seen), so
    /// addresses and agents seen once do not hold memory.
    fn forget_idle(&self) {
        if let Some(limiter) = &self.per_address {
            limiter.retain_recent();
        }
        if let Some(limiter) = &self.per_agent {
            limiter.retain_recent();
        }
    }
}

async fn throttle(State(throttle): State<Arc<Throttle>>, request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip());
    let authorization = request.headers().get(header::AUTHORIZATION);
    let Some(reason) = throttle.check(peer, authorization) else {
        return next.run(request).await;
    };
    throttle.throttled.inc();
    let retry_after = [(header::RETRY_AFTER, HeaderValue::from_static("1"))];
    if request.uri().path().starts_with("/fhir") {
        let outcome = custodia_fhir::Outcome::new(
            StatusCode::TOO_MANY_REQUESTS.as_u16(),
            custodia_fhir::IssueType::Throttled,
            reason,
        );
        (
            StatusCode::TOO_MANY_REQUESTS,
            retry_after,
            [(header::CONTENT_TYPE, "application/fhir+json")],
            outcome.to_json().to_string(),
        )
            .into_response()
    } else {
        (
            StatusCode::TOO_MANY_REQUESTS,
            retry_after,
            axum::Json(serde_json::json!({ "error": "rate_limited", "message": reason })),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::Signer as _;

    fn limits() -> Limits {
        Limits {
            max_connections: 3,
            max_connections_per_address: 2,
            requests_per_second_per_address: 5,
            requests_per_second_per_agent: 2,
            ..Limits::default()
        }
    }

    #[test]
    fn connections_are_capped_per_address_and_in_all_and_given_back() {
        let connections = Arc::new(Mutex::new(Connections::default()));
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let limits = limits();
        let first = Connections::admit(&connections, a, &limits).unwrap();
        let _second = Connections::admit(&connections, a, &limits).unwrap();
        assert_eq!(
            Connections::admit(&connections, a, &limits).err(),
            Some(ConnectionRefusal::Address)
        );
        let _third = Connections::admit(&connections, b, &limits).unwrap();
        assert_eq!(
            Connections::admit(&connections, b, &limits).err(),
            Some(ConnectionRefusal::Node)
        );
        drop(first);
        assert!(Connections::admit(&connections, a, &limits).is_ok());
    }

    fn audience() -> Audience {
        Audience {
            chain_id: "chain".into(),
            org: OrgId::new("st-mary").unwrap(),
        }
    }

    /// A bearer token of agent `seed` for this node; each `expires_ms`
    /// makes another token string.
    fn bearer(seed: u64, expires_ms: u64) -> HeaderValue {
        let key = custodia_types::PrivateKey::from_seed(seed);
        let token = custodia_types::AuthToken {
            chain_id: "chain".into(),
            audience: OrgId::new("st-mary").unwrap(),
            key: key.public_key(),
            expires_ms,
        }
        .sign(&key);
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap()
    }

    fn throttle(limits: &Limits) -> Throttle {
        Throttle::new(limits, audience(), Registered::detached(Counter::default()))
    }

    #[test]
    fn rates_are_kept_per_address_and_per_agent() {
        let throttle = throttle(&limits());
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let later = custodia_engine::auth::now_ms() + 3_600_000;
        // One agent: its second request a second is its last, and a
        // token it mints afresh does not give it another budget.
        let one = bearer(1, later);
        assert!(throttle.check(Some(a), Some(&one)).is_none());
        assert!(throttle.check(Some(a), Some(&one)).is_none());
        let refused = throttle.check(Some(a), Some(&one)).unwrap();
        assert!(
            refused.contains("requests_per_second_per_agent"),
            "{refused}"
        );
        let minted = bearer(1, later + 1);
        assert_ne!(one, minted);
        assert!(throttle.check(Some(a), Some(&minted)).is_some());
        // Another agent from the same address is not held back by it.
        assert!(throttle.check(Some(a), Some(&bearer(2, later))).is_none());
        // The address has spent 3 of its 5 (not the refused ones): two
        // more pass, a third does not.
        assert!(throttle.check(Some(a), None).is_none());
        assert!(throttle.check(Some(a), None).is_none());
        let refused = throttle.check(Some(a), None).unwrap();
        assert!(
            refused.contains("requests_per_second_per_address"),
            "{refused}"
        );
        // Another address is not held back by it.
        assert!(throttle.check(Some(b), None).is_none());
    }

    #[test]
    fn a_credential_that_names_no_agent_is_kept_as_sent() {
        let throttle = throttle(&limits());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let later = custodia_engine::auth::now_ms() + 3_600_000;
        // A token that does not check out (expired) spends its own budget,
        // not its key's: anyone could send one naming someone else's key.
        let expired = bearer(1, 1);
        assert!(throttle.check(Some(a), Some(&expired)).is_none());
        assert!(throttle.check(Some(a), Some(&expired)).is_none());
        assert!(throttle.check(Some(a), Some(&expired)).is_some());
        assert!(throttle.check(Some(a), Some(&bearer(1, later))).is_none());
    }

    #[test]
    fn a_zero_rate_means_no_limit() {
        let throttle = throttle(&Limits {
            requests_per_second_per_address: 0,
            requests_per_second_per_agent: 0,
            ..limits()
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let one = HeaderValue::from_static("Bearer one");
        for _ in 0..1000 {
            assert!(throttle.check(Some(a), Some(&one)).is_none());
        }
    }
}
