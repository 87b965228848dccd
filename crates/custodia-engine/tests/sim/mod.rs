//! The simulation harness: four validators (and a fifth key, for a member
//! voted in later) in Commonware's deterministic runtime over a simulated
//! network, with crashes, restarts, cut links and seed sweeps. The engine's
//! scenarios (`tests/simulation.rs`) and the clinical service's
//! (`custodia-records/tests/simulation.rs`, which includes this file)
//! stand on it.
//!
//! Every scenario runs over a sweep of seeds (each a different schedule of
//! tasks, message delays and losses): 20 by default, `CUSTODIA_SIM_SEEDS=N`
//! for a longer sweep, `CUSTODIA_SIM_SEED=S` to replay one. A failing seed
//! prints the command that replays it.

#![allow(dead_code)]

use commonware_consensus::types::Height;
use commonware_cryptography::{Digestible as _, Signer as _};
use commonware_p2p::simulated::{self, Link, Network, Oracle};
use commonware_runtime::{
    deterministic, Clock as _, Handle, Quota, Runner as _, Spawner as _, Supervisor as _,
};
use commonware_utils::{NZUsize, NZU32};
use custodia_engine::engine::{self, channel, Channels, Settings, SharedChain, Validator};
use custodia_types::{
    Body, Digest, Genesis, OrgId, OrgRole, Params, PrivateKey, PublicKey, TxPayload,
};
use futures::channel::oneshot;
use std::{
    collections::BTreeMap,
    time::{Duration, UNIX_EPOCH},
};

/// Genesis validators.
pub const VALIDATORS: usize = 4;
/// Keys known to the simulated network: the genesis validators plus one
/// organisation that joins later by governance.
pub const KEYS: usize = VALIDATORS + 1;
pub const GENESIS_MS: u64 = 1_800_000_000_000;
pub const QUOTA: Quota = Quota::per_second(NZU32!(100_000));

pub fn good_link() -> Link {
    Link {
        latency: Duration::from_millis(20),
        jitter: Duration::from_millis(5),
        success_rate: commonware_utils::probability!(1.0),
    }
}

pub struct Member {
    pub validator: PrivateKey,
    pub admin: PrivateKey,
}

/// Where member `i`'s API is (in simulation, a name for its node's
/// routes: nothing listens there).
pub fn api_address(i: usize) -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 32_000 + i as u16))
}

pub fn consortium(epoch_length: u64) -> (Genesis, Vec<Member>) {
    let members: Vec<Member> = (0..KEYS as u64)
        .map(|i| Member {
            validator: PrivateKey::from_seed(i),
            admin: PrivateKey::from_seed(1_000 + i),
        })
        .collect();
    let genesis = Genesis {
        chain_id: "custodia-sim".into(),
        genesis_time_ms: GENESIS_MS,
        params: Params {
            epoch_length,
            ..Params::default()
        },
        members: members
            .iter()
            .take(VALIDATORS)
            .enumerate()
            .map(|(i, m)| custodia_types::Member {
                id: OrgId::new(format!("org-{i}")).unwrap(),
                name: format!("Organisation {i}"),
                role: OrgRole::Provider,
                admin_key: m.admin.public_key(),
                validator_key: m.validator.public_key(),
                p2p: format!("127.0.0.1:{}", 31_000 + i).parse().unwrap(),
                api: Some(api_address(i)),
            })
            .collect(),
    };
    (genesis, members)
}

pub struct Running {
    pub task: Handle<()>,
    pub chain: SharedChain<deterministic::Context>,
    pub marshal: engine::Marshal,
    pub gossip: engine::gossip::Gossip,
}

/// What a started validator gives the services started beside it.
pub struct Parts {
    pub chain: SharedChain<deterministic::Context>,
    pub gossip: engine::gossip::Gossip,
}

pub struct Sim {
    pub context: deterministic::Context,
    pub oracle: Oracle<PublicKey, deterministic::Context>,
    pub genesis: Genesis,
    pub members: Vec<Member>,
    pub nodes: Vec<Option<Running>>,
    pub byzantine: Option<usize>,
    /// The most time between blocks while none is needed. Scenarios that
    /// count blocks use a short one, as a busy chain would make them; the
    /// idle scenario uses the nodes' default.
    pub heartbeat: Duration,
}

/// The heartbeat of scenarios that wait for the chain to grow by itself.
pub const SHORT_HEARTBEAT: Duration = Duration::from_millis(200);

impl Sim {
    pub async fn new(
        context: deterministic::Context,
        epoch_length: u64,
        byzantine: Option<usize>,
    ) -> Self {
        let (genesis, members) = consortium(epoch_length);
        let keys: Vec<PublicKey> = members.iter().map(|m| m.validator.public_key()).collect();
        let max = engine::max_message_size(VALIDATORS, genesis.params.max_block_txs as usize);
        let (network, oracle) = Network::new_with_peers(
            context.child("network"),
            simulated::Config {
                max_size: max,
                max_peers_per_set: NZUsize!(KEYS),
                disconnect_on_block: false,
                tracked_peer_sets: NZUsize!(1),
            },
            keys.clone(),
        )
        .await;
        network.start();
        let sim = Self {
            context,
            oracle,
            genesis,
            members,
            nodes: (0..KEYS).map(|_| None).collect(),
            byzantine,
            heartbeat: SHORT_HEARTBEAT,
        };
        sim.link_all(good_link()).await;
        sim
    }

    pub fn key(&self, i: usize) -> PublicKey {
        self.members[i].validator.public_key()
    }

    pub async fn link(&self, a: usize, b: usize, link: Link) {
        let _ = self.oracle.remove_link(self.key(a), self.key(b)).await;
        self.oracle
            .add_link(self.key(a), self.key(b), link)
            .await
            .unwrap();
    }

    pub async fn link_all(&self, link: Link) {
        for a in 0..KEYS {
            for b in 0..KEYS {
                if a != b {
                    self.link(a, b, link.clone()).await;
                }
            }
        }
    }

    pub async fn cut(&self, a: usize, b: usize) {
        let _ = self.oracle.remove_link(self.key(a), self.key(b)).await;
        let _ = self.oracle.remove_link(self.key(b), self.key(a)).await;
    }

    /// Start (or restart, from its stored partitions) validator `i`.
    pub async fn start(&mut self, i: usize) {
        self.start_with(i, |_, _| async {}).await
    }

    /// Start (or restart) validator `i`, then `services` on a child of its
    /// task's context (so a crash stops them with it), given its chain and
    /// gossip; what `services` returns.
    pub async fn start_with<T, F, Fut>(&mut self, i: usize, services: F) -> T
    where
        T: Send + 'static,
        F: FnOnce(deterministic::Context, Parts) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = T> + Send,
    {
        let control = self.oracle.control(self.key(i));
        let mut register = Vec::new();
        for ch in [
            channel::VOTES,
            channel::CERTIFICATES,
            channel::RESOLVER,
            channel::BACKFILL,
            channel::BLOCKS,
            channel::TXS,
        ] {
            register.push(control.register(ch, QUOTA).await.unwrap());
        }
        let mut pairs = register.into_iter();
        let channels = Channels {
            votes: pairs.next().unwrap(),
            certificates: pairs.next().unwrap(),
            resolver: pairs.next().unwrap(),
            backfill: pairs.next().unwrap(),
            blocks: pairs.next().unwrap(),
            txs: pairs.next().unwrap(),
        };
        let defaults = Settings::new(&self.genesis, format!("validator-{i}"));
        let settings = Settings {
            corrupt_proposals: self.byzantine == Some(i),
            pacing: engine::Pacing {
                heartbeat: self.heartbeat,
                ..defaults.pacing
            },
            ..defaults
        };
        let signer = self.members[i].validator.clone();
        let genesis = self.genesis.clone();
        let manager = self.oracle.manager();
        let (ready, started) = oneshot::channel::<(Validator<deterministic::Context>, T)>();
        let task = self
            .context
            .child("validator")
            .with_attribute("index", i)
            .spawn(move |context| async move {
                // The simulated network already connects every key.
                let peer_sets = |_: u64, _: Vec<(PublicKey, std::net::SocketAddr)>| {};
                let network = engine::Network {
                    peers: manager,
                    blocker: control,
                    channels,
                    peer_sets,
                };
                let services_context = context.child("services");
                let validator = engine::start(context, signer, &genesis, settings, network)
                    .await
                    .expect("validator starts");
                let parts = Parts {
                    chain: validator.chain.clone(),
                    gossip: validator.gossip.clone(),
                };
                let started = services(services_context, parts).await;
                let _ = ready.send((validator, started));
                futures::future::pending::<()>().await;
            });
        let (validator, services) = started.await.expect("validator task reports its handles");
        self.nodes[i] = Some(Running {
            task,
            chain: validator.chain,
            marshal: validator.marshal,
            gossip: validator.gossip,
        });
        services
    }

    pub fn crash(&mut self, i: usize) {
        if let Some(node) = self.nodes[i].take() {
            node.task.abort();
        }
    }

    pub fn node(&self, i: usize) -> &Running {
        self.nodes[i].as_ref().expect("validator is running")
    }

    pub async fn height(&self, i: usize) -> u64 {
        self.node(i).chain.lock().await.tip().height
    }

    /// Wait (in simulated time) until every listed validator reaches `height`.
    pub async fn wait_for(&self, nodes: &[usize], height: u64, deadline: Duration) {
        let start = self.context.current();
        loop {
            let mut lowest = u64::MAX;
            for &i in nodes {
                lowest = lowest.min(self.height(i).await);
            }
            if lowest >= height {
                return;
            }
            let waited = self.context.current().duration_since(start).unwrap();
            assert!(
                waited < deadline,
                "validators {nodes:?} did not reach height {height} within {deadline:?} (lowest {lowest})"
            );
            self.context.sleep(Duration::from_millis(100)).await;
        }
    }

    /// Submit a note signed by org `org`'s admin through validator `via`.
    pub async fn submit_note(&self, via: usize, org: usize, nonce: u64, text: &str) -> Digest {
        let body = Body::Note {
            data: text.as_bytes().to_vec().into(),
        };
        self.submit(via, org, nonce, body).await
    }

    /// Admit `body`, signed by `org`'s admin, at validator `via` only.
    pub async fn submit(&self, via: usize, org: usize, nonce: u64, body: Body) -> Digest {
        self.admit(via, &self.sign(org, nonce, body)).await
    }

    /// Admit `body` at validator `via`, which gossips it to the others (as
    /// a node does with what its API admits).
    pub async fn submit_gossiped(&self, via: usize, org: usize, nonce: u64, body: Body) -> Digest {
        let tx = self.sign(org, nonce, body);
        let id = self.admit(via, &tx).await;
        self.node(via).gossip.publish(tx.to_bytes());
        id
    }

    pub fn sign(&self, org: usize, nonce: u64, body: Body) -> custodia_types::SignedTx {
        TxPayload {
            chain_id: self.genesis.chain_id.clone(),
            signer: self.members[org].admin.public_key(),
            nonce,
            body,
        }
        .sign(&self.members[org].admin)
    }

    pub async fn admit(&self, via: usize, tx: &custodia_types::SignedTx) -> Digest {
        self.node(via)
            .chain
            .lock()
            .await
            .admit(&tx.to_bytes())
            .await
            .expect("a well-formed transaction is admitted")
    }

    /// Propose member `newcomer` (org 0, whose proposal is its approval)
    /// and approve it (orgs 1 and 2: 3 of 4, more than two thirds); returns
    /// once the proposal is final.
    pub async fn vote_in(&self, newcomer: usize) {
        let proposal = Body::Propose {
            proposal: custodia_types::Proposal::AddMember(Box::new(custodia_types::Member {
                id: OrgId::new("newcomer").unwrap(),
                name: "Newcomer Clinic".into(),
                role: OrgRole::Provider,
                admin_key: self.members[newcomer].admin.public_key(),
                validator_key: self.key(newcomer),
                p2p: "127.0.0.1:31004".parse().unwrap(),
                api: None,
            })),
        };
        let proposed = self.submit(0, 0, 0, proposal).await;
        while self.receipt(0, &proposed).await.is_none() {
            self.context.sleep(Duration::from_millis(50)).await;
        }
        for org in [1, 2] {
            self.submit(
                org,
                org,
                0,
                Body::Vote {
                    proposal_id: 0,
                    approve: true,
                },
            )
            .await;
        }
    }

    /// The timestamp of finalized block `height`, as validator 0 holds it.
    pub async fn block_ms(&self, height: u64) -> u64 {
        self.node(0)
            .marshal
            .get_block(Height::new(height))
            .await
            .expect("finalized block")
            .inner()
            .header()
            .timestamp_ms
    }

    pub async fn receipt(&self, i: usize, tx: &Digest) -> Option<custodia_state::Receipt> {
        let bytes = self
            .node(i)
            .chain
            .lock()
            .await
            .get(&custodia_state::keys::receipt(tx))
            .await
            .unwrap()?;
        Some(serde_json::from_slice(&bytes).unwrap())
    }

    /// Every listed validator holds the same finalized block at each height.
    pub async fn assert_agree(&self, nodes: &[usize], up_to: u64) -> BTreeMap<u64, Digest> {
        let mut chain = BTreeMap::new();
        for height in 1..=up_to {
            for &i in nodes {
                let block = self
                    .node(i)
                    .marshal
                    .get_block(Height::new(height))
                    .await
                    .unwrap_or_else(|| panic!("validator {i} lacks finalized block {height}"));
                let digest = block.digest();
                let agreed = *chain.entry(height).or_insert(digest);
                assert_eq!(
                    agreed, digest,
                    "validators disagree on the block at height {height}"
                );
            }
        }
        chain
    }
}

/// Seeds each scenario runs over unless told otherwise.
pub const DEFAULT_SEEDS: u64 = 20;

/// The seeds of this run: `CUSTODIA_SIM_SEED` alone, or the first
/// `CUSTODIA_SIM_SEEDS` (default [`DEFAULT_SEEDS`]).
pub fn seeds() -> std::ops::Range<u64> {
    let read = |name: &str| {
        std::env::var(name).ok().map(|value| {
            value
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("{name} must be a number, not {value:?}"))
        })
    };
    match (read("CUSTODIA_SIM_SEED"), read("CUSTODIA_SIM_SEEDS")) {
        (Some(seed), _) => seed..seed + 1,
        (None, count) => 0..count.unwrap_or(DEFAULT_SEEDS),
    }
}

/// Run `scenario` in a fresh deterministic runtime once per seed; on a
/// failure, say which seed and how to replay it, then fail.
pub fn sweep<F, Fut>(scenario: F)
where
    F: Fn(deterministic::Context) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    // libtest names each test's thread after the test.
    let test = std::thread::current()
        .name()
        .unwrap_or("<scenario>")
        .to_string();
    for seed in seeds() {
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            runner(seed).start(&scenario)
        }));
        if let Err(failure) = run {
            eprintln!(
                "simulation {test} failed with seed {seed}; replay it with\n  \
                 CUSTODIA_SIM_SEED={seed} cargo test --locked -p {} --test {} -- --exact {test}",
                env!("CARGO_PKG_NAME"),
                env!("CARGO_CRATE_NAME")
            );
            std::panic::resume_unwind(failure);
        }
    }
}

pub fn runner(seed: u64) -> deterministic::Runner {
    deterministic::Runner::new(
        deterministic::Config::new()
            .with_seed(seed)
            .with_start_time(UNIX_EPOCH + Duration::from_millis(GENESIS_MS))
            .with_timeout(Some(Duration::from_secs(3_600))),
    )
}

pub fn all() -> Vec<usize> {
    (0..VALIDATORS).collect()
}
