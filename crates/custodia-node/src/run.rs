//! Run one validator on the tokio runtime: authenticated p2p to the other
//! members, the consensus engine, and the HTTP API, until Ctrl-C/SIGTERM.

use crate::{
    home::{Home, HomeError},
    ledger::{NodeInfo, NodeLedger},
};
use commonware_cryptography::{ChaCha20Poly1305, Signer as _};
use commonware_p2p::{authenticated::lookup, Address, AddressableManager as _};
use commonware_runtime::{tokio as cw_tokio, Quota, Runner as _, Spawner as _, Supervisor as _};
use commonware_stream::{cups, sake};
use commonware_utils::{ordered::Map, NZUsize, NZU32};
use custodia_engine::{
    engine::{self, channel, Channels, Pacing, Settings},
    peers::{HttpPeers, PeerNetwork, PeerTransport},
};
use std::{path::Path, sync::Arc, time::Duration};

/// Prefix of every storage partition a node keeps in its data directory.
pub const PARTITION_PREFIX: &str = "custodia";

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Home(#[from] HomeError),
    #[error("cannot start the validator: {0}")]
    Start(#[from] engine::StartError),
    #[error("cannot listen for the HTTP API on {addr}: {source}")]
    Api {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("the {domain} domain cannot start: {source:#}")]
    Domain {
        domain: &'static str,
        source: anyhow::Error,
    },
    #[error("genesis lists a validator key twice")]
    DuplicateValidator,
    #[error("this organisation is not in genesis.toml, so config.toml must set `p2p` (the address governance registered for it)")]
    NoP2pAddress,
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Run the validator whose home directory is `dir` until it is told to stop.
pub fn run_node(dir: &Path) -> Result<(), RunError> {
    let home = Home::load(dir)?;
    init_logging(&home.config.log_format);
    // What the domains need from the node's files before anything else: a
    // vault bucket that cannot be reached stops the node before it joins
    // the network.
    let files = custodia_engine::domain::NodeFiles::new(
        home.dir.clone(),
        home.config.clone(),
        home.encryption_key()?.to_bytes(),
    );
    for domain in crate::domains::all::<cw_tokio::Context>() {
        domain.check(&files).map_err(|source| RunError::Domain {
            domain: domain.name(),
            source,
        })?;
    }
    let config = cw_tokio::Config::new()
        .with_storage_directory(home.data_dir())
        .with_worker_threads(
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .max(2),
        )
        .with_catch_panics(false);
    cw_tokio::Runner::new(config).start(|context| async move { serve(context, home, files).await })
}

async fn serve(
    context: cw_tokio::Context,
    home: Home,
    files: custodia_engine::domain::NodeFiles,
) -> Result<(), RunError> {
    let genesis = home.genesis.clone();
    // A member added after genesis is not in it: its config names the
    // address (the same one governance recorded).
    let listen = home.p2p_listen();
    // The API port is claimed first: a port taken by someone else stops the
    // node before it joins consensus, and peers dialling this node (whose
    // outgoing connections may be given any free local port) cannot take it
    // while storage and p2p start. Requests queue until the router serves.
    let api_addr = home.config.api;
    let listener = tokio::net::TcpListener::bind(api_addr)
        .await
        .map_err(|source| RunError::Api {
            addr: api_addr,
            source,
        })?;
    // Checked before anything starts: a wrong path or key stops the node
    // with the file named.
    let tls = match &home.config.tls {
        Some(files) => Some(crate::tls::load(files, &home.dir)?),
        None => None,
    };
    let transport = match &tls {
        Some(tls) => PeerTransport::https(tls.peer_roots.clone()),
        None => PeerTransport::plain(),
    };
    let peer_network: Arc<dyn PeerNetwork> = Arc::new(HttpPeers::new(transport.clone()));
    let signer = home.validator_key.clone();
    let settings = Settings {
        pacing: Pacing {
            busy: Duration::from_millis(home.config.busy_block_interval_ms),
            heartbeat: Duration::from_millis(home.config.heartbeat_interval_ms),
        },
        mempool_capacity: home.config.mempool_capacity,
        state_cache_pages: crate::config::state_cache_pages(&home.config),
        domains: crate::domains::modules(),
        ..Settings::new(&genesis, PARTITION_PREFIX)
    };

    let validators = genesis.members.len();
    let max_message = engine::max_message_size(validators, settings.max_block_txs);
    let handshake = cups::Cups::<_, ChaCha20Poly1305>::new(
        sake::Sake {
            signer: signer.clone(),
            synchrony_bound: Duration::from_secs(5),
            max_handshake_age: Duration::from_secs(10),
            version: sake::Version::V1,
        },
        cups::Version::V1,
    );
    let p2p_config = lookup::Config {
        block_duration: Duration::from_secs(home.config.peer_block_secs),
        ..lookup::Config::local(
            handshake,
            engine::P2P_NAMESPACE,
            listen,
            NZUsize!(validators.max(1) + 8),
            max_message,
            NZUsize!(4096),
        )
    };
    let (mut network, mut oracle) = lookup::Network::new(context.child("p2p"), p2p_config);
    let mut initial: Vec<_> = genesis
        .members
        .iter()
        .map(|m| (m.validator_key.clone(), m.p2p))
        .collect();
    if !initial.iter().any(|(key, _)| *key == signer.public_key()) {
        initial.push((signer.public_key(), listen));
    }
    let peers = Map::try_from(
        initial
            .into_iter()
            .map(|(key, addr)| (key, Address::Symmetric(addr)))
            .collect::<Vec<_>>(),
    )
    .map_err(|_| RunError::DuplicateValidator)?;
    let _ = oracle.track(0, peers);
    let quota = Quota::per_second(NZU32!(1_024));
    let channels = Channels {
        votes: network.register(channel::VOTES, quota),
        certificates: network.register(channel::CERTIFICATES, quota),
        resolver: network.register(channel::RESOLVER, quota),
        backfill: network.register(channel::BACKFILL, quota),
        blocks: network.register(channel::BLOCKS, quota),
        txs: network.register(channel::TXS, quota),
    };
    network.start();

    // A test build may misbehave instead (`byzantine` feature; never in a
    // release binary).
    #[cfg(feature = "byzantine")]
    let settings = {
        let byzantine = crate::byzantine::Mode::from_env();
        if let Some(mode) = byzantine.filter(|mode| !mode.runs_the_engine()) {
            crate::byzantine::run(context, mode, signer, &genesis, channels, max_message).await;
            return Ok(());
        }
        Settings {
            corrupt_proposals: byzantine == Some(crate::byzantine::Mode::InvalidBlocks),
            ..settings
        }
    };

    let validator = engine::start(
        context.child("validator"),
        signer.clone(),
        &genesis,
        settings,
        engine::Network {
            peers: oracle.clone(),
            blocker: oracle.clone(),
            channels,
            peer_sets: {
                let mut oracle = oracle.clone();
                move |id, members: Vec<(custodia_types::PublicKey, std::net::SocketAddr)>| {
                    let peers: Vec<_> = members
                        .into_iter()
                        .map(|(key, addr)| (key, Address::Symmetric(addr)))
                        .collect();
                    match Map::try_from(peers) {
                        Ok(peers) => {
                            let _ = oracle.track(id, peers);
                        }
                        Err(_) => tracing::error!("member list holds a validator key twice"),
                    }
                }
            },
        },
    )
    .await?;

    let ledger = NodeLedger {
        context: Arc::new(context.child("api_metrics")),
        chain: validator.chain.clone(),
        marshal: validator.marshal.clone(),
        committees: validator.committees.clone(),
        gossip: validator.gossip.clone(),
        machine: Arc::new(custodia_state::StateMachine::new(
            genesis.chain_id.clone(),
            crate::domains::modules(),
        )),
        info: Arc::new(NodeInfo {
            org: home.config.org.clone(),
            genesis: genesis.clone(),
        }),
    };
    let org = custodia_types::OrgId::new(home.config.org.clone()).map_err(|e| {
        RunError::Home(HomeError::Invalid {
            path: Home::config_path(&home.dir),
            message: e.to_string(),
        })
    })?;
    let service_org = org.clone();
    let service = custodia_engine::submit::ServiceConfig {
        genesis: genesis.clone(),
        org,
        node_key: signer.clone(),
        waits: crate::config::waits(&home.config),
    };
    let services = || custodia_engine::domain::NodeServices {
        context: context.child("services"),
        chain: validator.chain.clone(),
        gossip: validator.gossip.clone(),
        config: service.clone(),
        peers: peer_network.clone(),
        streams: transport.clone(),
        files: files.clone(),
    };
    let mut app = axum::Router::new();
    let mut domain_paths = serde_json::Map::new();
    for domain in crate::domains::all() {
        domain_paths.extend(domain.openapi_paths());
        let routes = domain
            .service(services())
            .await
            .map_err(|source| RunError::Domain {
                domain: domain.name(),
                source,
            })?;
        app = app.merge(routes);
    }
    let app = app
        .merge(custodia_api::router(ledger, &domain_paths))
        // A bug in one handler answers that request with a 500 and leaves
        // the node serving (and logs it; the message holds no request data).
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                tracing::error!("an HTTP handler panicked; answered 500");
                axum::response::IntoResponse::into_response((
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    r#"{"error":"internal","message":"the node failed on this request and logged it; other requests are unaffected"}"#,
                ))
            },
        ));
    tracing::info!(
        org = %home.config.org,
        api = %api_addr,
        p2p = %listen,
        https = tls.is_some(),
        validator = %custodia_types::key_hex(&signer.public_key()),
        "node started"
    );
    let front_door = crate::front_door::Config {
        limits: home.config.limits.clone(),
        tls: tls.map(|tls| tls.server),
        chain_id: home.genesis.chain_id.clone(),
        org: service_org,
    };
    let api = context
        .child("api")
        .spawn(move |context| crate::front_door::serve(listener, app, front_door, context));

    let finalizer = validator.finalizer;
    commonware_macros::select! {
        _ = shutdown_signal() => {
            tracing::info!("shutting down");
        },
        _ = finalizer => {
            tracing::error!("the finalizer stopped; shutting down");
        },
    }
    api.abort();
    let _ = context.stop(0, Some(Duration::from_secs(10))).await;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
