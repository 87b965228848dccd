//! The validator: marshal (block dissemination, backfill and finalized
//! storage), one simplex engine per epoch, and the application that builds
//! and checks blocks over [`Chain`].
//!
//! Everything is generic over the Commonware runtime and p2p types, so the
//! deterministic simulation and the real node run the same code.

mod app;
pub use app::Pacing;
pub mod committees;
pub mod epochs;
pub mod faults;
pub mod finalizer;
pub mod gossip;

use crate::chain::{genesis_block, Chain};
use commonware_broadcast::buffered;
use commonware_consensus::{
    marshal::{
        self, core::Actor as MarshalActor, resolver::p2p as marshal_resolver, standard::Standard,
    },
    types::{FixedEpocher, Height, ViewDelta},
};
use commonware_cryptography::{certificate::Verifier as _, Digestible as _, Signer as _};
use commonware_p2p::{Blocker, Provider, Receiver, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::{
    buffer::paged::{page_size, CacheRef},
    Clock, Handle, Metrics, Spawner, Storage, Supervisor,
};
use commonware_storage::archive::immutable;
use commonware_utils::{NZUsize, NZU64};
use custodia_store::StoreError;
use custodia_types::{Block, Genesis, PrivateKey, PublicKey};
use std::{
    num::{NonZeroU64, NonZeroUsize},
    sync::Arc,
    time::Duration,
};

pub use committees::Committees;
pub use epochs::Networks;

/// Signing scheme for consensus votes and certificates.
pub type Scheme = commonware_consensus::simplex::scheme::ed25519::Scheme;
/// Marshal's mailbox: finalized blocks and certificates by height.
pub type Marshal = marshal::core::Mailbox<Scheme, Standard<Block>>;
/// The chain, shared by consensus, the finalizer and the API.
pub type SharedChain<E> = Arc<futures::lock::Mutex<Chain<E>>>;
/// Finality certificate for a block.
pub type Finalization =
    commonware_consensus::simplex::types::Finalization<Scheme, custodia_types::Digest>;

/// An idle chain's heartbeat unless a node's config says otherwise (the
/// config's default, one constant for both).
pub use custodia_config::DEFAULT_HEARTBEAT_INTERVAL_MS;

/// Domain separation for consensus signatures.
pub const NAMESPACE: &[u8] = b"custodia/consensus/v1";
/// Domain separation for p2p handshakes.
pub const P2P_NAMESPACE: &[u8] = b"custodia/p2p/v1";

/// The p2p channels a validator uses.
pub mod channel {
    pub const VOTES: u64 = 0;
    pub const CERTIFICATES: u64 = 1;
    pub const RESOLVER: u64 = 2;
    pub const BACKFILL: u64 = 3;
    pub const BLOCKS: u64 = 4;
    pub const TXS: u64 = 5;
}

/// Told every member's validator key and p2p address whenever membership
/// changes (and once at start), so the network admits exactly the members.
/// `id` increases with every call.
pub trait PeerSets: Send + 'static {
    fn update(&mut self, id: u64, peers: Vec<(PublicKey, std::net::SocketAddr)>);
}

impl<F: FnMut(u64, Vec<(PublicKey, std::net::SocketAddr)>) + Send + 'static> PeerSets for F {
    fn update(&mut self, id: u64, peers: Vec<(PublicKey, std::net::SocketAddr)>) {
        self(id, peers)
    }
}

/// What a Commonware runtime must offer a validator.
pub trait Runtime:
    Clock + rand::CryptoRng + Spawner + Storage + Metrics + Supervisor + Send + Sync + 'static
{
}
impl<T> Runtime for T where
    T: Clock + rand::CryptoRng + Spawner + Storage + Metrics + Supervisor + Send + Sync + 'static
{
}

/// Tunables of one validator.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Prefix of every storage partition this validator owns.
    pub partition_prefix: String,
    pub epoch_length: u64,
    pub max_block_txs: usize,
    pub mempool_capacity: usize,
    /// Pages of the state store's page cache (see
    /// [`custodia_store::CACHE_PAGE_BYTES`]).
    pub state_cache_pages: std::num::NonZeroUsize,
    /// Test hook for simulations: propose blocks whose state root is
    /// wrong, as a byzantine leader would. Honest validators must refuse them.
    #[doc(hidden)]
    pub corrupt_proposals: bool,
    /// Time between blocks while transactions wait (less than a full
    /// block) and while none do.
    pub pacing: Pacing,
    pub leader_timeout: Duration,
    pub certification_timeout: Duration,
    pub timeout_retry: Duration,
    /// The domains plugged into the state machine (every validator of a
    /// chain runs the same list: `custodia-node`'s `domains`).
    pub domains: custodia_state::Domains,
}

impl Settings {
    pub fn new(genesis: &Genesis, partition_prefix: impl Into<String>) -> Self {
        Self {
            partition_prefix: partition_prefix.into(),
            epoch_length: genesis.params.epoch_length,
            max_block_txs: (genesis.params.max_block_txs as usize)
                .min(custodia_types::MAX_BLOCK_TXS),
            mempool_capacity: 50_000,
            state_cache_pages: custodia_store::DEFAULT_CACHE_PAGES,
            pacing: Pacing {
                busy: Duration::from_millis(50),
                heartbeat: Duration::from_millis(DEFAULT_HEARTBEAT_INTERVAL_MS),
            },
            corrupt_proposals: false,
            leader_timeout: Duration::from_secs(1),
            certification_timeout: Duration::from_secs(2),
            timeout_retry: Duration::from_secs(5),
            domains: custodia_state::Domains::none(),
        }
    }

    fn epoch_length_nz(&self) -> NonZeroU64 {
        NonZeroU64::new(self.epoch_length).unwrap_or(NZU64!(1))
    }

    fn mailbox_size(&self) -> NonZeroUsize {
        NZUsize!(1024)
    }

    fn io_buffer(&self) -> NonZeroUsize {
        NZUsize!(1 << 20)
    }
}

/// The channel pairs, in the order of [`channel`].
pub struct Channels<S, R> {
    pub votes: (S, R),
    pub certificates: (S, R),
    pub resolver: (S, R),
    pub backfill: (S, R),
    pub blocks: (S, R),
    pub txs: (S, R),
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the state store is at height {0} but the block archive does not hold that block; the node's data directory is damaged")]
    MissingBlock(u64),
    #[error("cannot open the block archive: {0}")]
    Archive(commonware_storage::archive::Error),
    #[error("the state names no committee for epoch {0}")]
    MissingCommittee(u64),
    /// The state is committed before a block is acknowledged to marshal,
    /// so state below the acknowledged height was lost after it was
    /// written: the state's files are damaged or altered.
    #[error("the node's state is at height {state} but it had applied block {acknowledged}: committed state is unreadable, its files (data/custodia-state-*) are damaged or altered. Run `custodia verify --home <this node>` to see which file, then replace this node's data directory with a verified copy (or re-join the consortium) before starting it again")]
    StateLost { state: u64, acknowledged: u64 },
}

/// A running validator.
pub struct Validator<E: Runtime> {
    pub chain: SharedChain<E>,
    pub marshal: Marshal,
    pub committees: Committees,
    /// Shares transactions admitted through this node with the others.
    pub gossip: gossip::Gossip,
    /// Ends when the finalizer stops (shutdown or a fatal error).
    pub finalizer: Handle<()>,
}

/// Largest p2p message a validator sends: a full block or a certificate.
pub fn max_message_size(validators: usize, max_block_txs: usize) -> u32 {
    use commonware_consensus::{marshal::max_payload_size, simplex};
    commonware_p2p::max_message_size(&[
        simplex::max_payload_size::<Scheme, custodia_types::Digest>(validators as u32) + 16,
        max_payload_size::<Standard<Block>, Scheme>(validators as u32, &max_block_txs),
    ])
}

pub fn archive_config<C>(
    prefix: &str,
    name: &str,
    page_cache: CacheRef,
    codec_config: C,
) -> immutable::Config<C> {
    let buffer = NZUsize!(1 << 20);
    immutable::Config {
        metadata_partition: format!("{prefix}-{name}-metadata"),
        freezer_table_partition: format!("{prefix}-{name}-freezer-table"),
        freezer_table_initial_size: 65_536,
        freezer_table_resize_frequency: 4,
        freezer_table_resize_chunk_size: 1 << 16,
        freezer_key_partition: format!("{prefix}-{name}-freezer-key"),
        freezer_key_page_cache: page_cache,
        freezer_value_partition: format!("{prefix}-{name}-freezer-value"),
        freezer_value_target_size: 256 << 20,
        freezer_value_compression: None,
        ordinal_partition: format!("{prefix}-{name}-ordinal"),
        items_per_section: NZU64!(65_536),
        codec_config,
        replay_buffer: buffer,
        freezer_key_write_buffer: buffer,
        freezer_value_write_buffer: buffer,
        ordinal_write_buffer: buffer,
    }
}

/// How a validator reaches the others: who its peers are, how it blocks
/// one that misbehaves, its channels, and where it announces the members.
pub struct Network<M, B, S, R, P> {
    pub peers: M,
    pub blocker: B,
    pub channels: Channels<S, R>,
    pub peer_sets: P,
}

/// Open storage, recover, and start every actor of one validator.
pub async fn start<E, M, B, S, R, P>(
    context: E,
    signer: PrivateKey,
    genesis: &Genesis,
    settings: Settings,
    network: Network<M, B, S, R, P>,
) -> Result<Validator<E>, StartError>
where
    E: Runtime,
    M: Provider<PublicKey = PublicKey> + Clone,
    B: Blocker<PublicKey = PublicKey> + Clone + Send + Sync,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
    P: PeerSets,
{
    let Network {
        peers,
        blocker,
        channels,
        peer_sets,
    } = network;
    let me = signer.public_key();
    let committees = Committees::new(signer);
    // Every block of a peer, every proven fault and every refused proposal
    // is logged with the offender and counted (`consensus_*` in /metrics).
    let faults = faults::Faults::new(&context.child("consensus"), genesis, committees.clone());
    let blocker = faults::FaultBlocker {
        inner: blocker,
        faults: faults.clone(),
    };
    let prefix = settings.partition_prefix.clone();
    let page_cache = CacheRef::new(page_size(4096), NZUsize!(4096));

    let (genesis_block, genesis_writes) =
        genesis_block(context.child("genesis"), genesis, &prefix).await?;
    let chain = Chain::open(
        context.child("chain"),
        genesis,
        settings.domains.clone(),
        &genesis_block,
        &genesis_writes,
        crate::chain::ChainSizing {
            mempool_capacity: settings.mempool_capacity,
            // The leader waits out the block interval, builds, then sends
            // the block, and the others execute it, all inside the leader
            // timeout: a third of it for building leaves room for the rest.
            execution_budget: settings.leader_timeout / 3,
            state_cache_pages: settings.state_cache_pages,
        },
        &prefix,
    )
    .await?;
    let chain: SharedChain<E> = Arc::new(futures::lock::Mutex::new(chain));

    let resolver = marshal_resolver::init(
        context.child("marshal_resolver"),
        marshal_resolver::Config {
            public_key: me.clone(),
            peer_provider: peers.clone(),
            blocker: blocker.clone(),
            mailbox_size: settings.mailbox_size(),
            fetch_timeout: commonware_utils::NZDuration!(Duration::from_secs(2)),
            fetch_retry_delay: Duration::from_millis(100),
            priority_requests: false,
            priority_responses: false,
        },
        channels.backfill,
    );
    let (broadcast, buffer) = buffered::Engine::new(
        context.child("broadcast"),
        buffered::Config {
            public_key: me.clone(),
            mailbox_size: settings.mailbox_size(),
            deque_size: 16,
            priority: false,
            codec_config: settings.max_block_txs,
            peer_provider: peers.clone(),
            strategy: Sequential,
        },
    );
    broadcast.start(channels.blocks);

    let finalizations = immutable::Archive::init(
        context.child("finalizations_by_height"),
        archive_config(
            &prefix,
            "finalizations",
            page_cache.clone(),
            Scheme::certificate_codec_config_unbounded(),
        ),
    )
    .await
    .map_err(StartError::Archive)?;
    let blocks = immutable::Archive::init(
        context.child("finalized_blocks"),
        archive_config(
            &prefix,
            "blocks",
            page_cache.clone(),
            settings.max_block_txs,
        ),
    )
    .await
    .map_err(StartError::Archive)?;

    let epocher = FixedEpocher::new(settings.epoch_length_nz());
    let (marshal_actor, marshal, marshal_floor) = MarshalActor::init(
        context.child("marshal"),
        finalizations,
        blocks,
        marshal::Config {
            provider: committees.clone(),
            epocher,
            start: marshal::Start::Genesis(commonware_cryptography::Digested::precomputed(
                genesis_block.clone(),
                genesis_block.digest(),
            )),
            partition_prefix: format!("{prefix}-marshal"),
            mailbox_size: settings.mailbox_size(),
            // Marshal's caches (blocks and certificates of views not yet
            // final) keep `view_retention` views behind the finalized tip
            // and drop whole sections of views older than that: at most
            // two sections' worth (512 views, each at most one block) stay
            // on disk. History is in the finalized archives.
            view_retention: ViewDelta::new(256),
            prunable_items_per_section: NZU64!(256),
            page_cache: page_cache.clone(),
            replay_buffer: settings.io_buffer(),
            key_write_buffer: settings.io_buffer(),
            value_write_buffer: settings.io_buffer(),
            block_codec_config: settings.max_block_txs,
            max_repair: NZUsize!(16),
            max_pending_acks: NZUsize!(16),
            strategy: Sequential,
        },
    )
    .await;
    let (finalized, queue) = finalizer::queue();
    marshal_actor.start(finalized, buffer, resolver);

    // Recover: the committed state is the tip; consensus resumes in its epoch.
    let height = chain.lock().await.state_height().await?;
    if let Some(acknowledged) = marshal_floor.processed().map(|p| p.height().get()) {
        if acknowledged > height {
            return Err(StartError::StateLost {
                state: height,
                acknowledged,
            });
        }
    }
    if height > 0 {
        let block = marshal
            .get_block(Height::new(height))
            .await
            .ok_or(StartError::MissingBlock(height))?;
        chain.lock().await.restore_tip(block.inner());
    }
    let epoch = (height + 1) / settings.epoch_length;
    for e in 0..=epoch {
        let validators = finalizer::committee(&chain, e)
            .await
            .ok_or(StartError::MissingCommittee(e))?;
        committees.insert(e, validators);
    }
    let floor = if epoch == 0 {
        genesis_block.digest()
    } else {
        let boundary = epoch * settings.epoch_length - 1;
        marshal
            .get_block(Height::new(boundary))
            .await
            .ok_or(StartError::MissingBlock(boundary))?
            .digest()
    };
    tracing::info!(height, epoch, "validator recovered; starting consensus");

    let (transitions_tx, transitions) = commonware_utils::channel::mpsc::unbounded_channel();
    let finalizer = context.child("finalizer").spawn({
        let chain = chain.clone();
        let committees = committees.clone();
        let epoch_length = settings.epoch_length;
        move |_| {
            let finalizer = finalizer::Finalizer {
                chain,
                committees,
                epoch_length,
                transitions: transitions_tx,
                peer_sets,
                start_height: height,
            };
            finalizer::run(finalizer, queue)
        }
    });
    context.child("epochs").spawn({
        let app = app::App::new(chain.clone(), settings.pacing, settings.corrupt_proposals)
            .with_faults(faults.clone());
        let committees = committees.clone();
        let marshal = marshal.clone();
        move |context| {
            let epochs = epochs::Epochs {
                settings,
                committees,
                app,
                marshal,
                blocker,
                faults,
                networks: Networks {
                    votes: channels.votes,
                    certificates: channels.certificates,
                    resolver: channels.resolver,
                },
                page_cache,
            };
            epochs::run(
                context,
                epochs,
                finalizer::Transition { epoch, floor },
                transitions,
            )
        }
    });

    let (gossip, outbox) = gossip::Gossip::new();
    context.child("gossip").spawn({
        let chain = chain.clone();
        move |context| gossip::run(context, chain, channels.txs, outbox)
    });

    Ok(Validator {
        chain,
        marshal,
        committees,
        gossip,
        finalizer,
    })
}
