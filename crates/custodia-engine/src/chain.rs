//! The node's view of the chain: committed state, blocks executed on top of
//! it but not yet final, and the mempool. Consensus calls `propose`,
//! `verify` and `finalize`; the API reads and admits transactions.

use crate::block_budget::BlockBudget;
use crate::mempool::{Mempool, MempoolError};
use commonware_runtime::{
    telemetry::metrics::raw::{Counter, Gauge},
    Metrics, Spawner,
};
use commonware_storage::Context;
use custodia_state::{keys, Preloaded, Rejection, StateMachine, StateRead, WriteSet};
use custodia_store::{Batch, StateProof, StateStore, StoreError};
use custodia_types::{Block, Digest, Genesis, Header, SignedTx, TxDecodeError};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// Why a submitted transaction was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    #[error(transparent)]
    Decode(#[from] TxDecodeError),
    #[error(transparent)]
    Rejected(#[from] Rejection),
    #[error(transparent)]
    Mempool(#[from] MempoolError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the node is shutting down")]
    Stopped,
}

/// Why a block could not be executed or finalized.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("finalized block {height} commits to state root {claimed} but executing it gives {computed}; this node's state has diverged and it must stop")]
    Diverged {
        height: u64,
        claimed: Digest,
        computed: Digest,
    },
}

/// A block executed but not yet finalized.
struct Pending {
    height: u64,
    parent: Digest,
    batch: Batch,
}

/// The last finalized block whose state is committed.
#[derive(Clone, Debug)]
pub struct Tip {
    pub height: u64,
    pub digest: Digest,
    pub header: Header,
}

struct ChainMetrics {
    finalized_height: commonware_runtime::telemetry::metrics::Registered<Gauge>,
    finalized_txs: commonware_runtime::telemetry::metrics::Registered<Counter>,
    mempool_size: commonware_runtime::telemetry::metrics::Registered<Gauge>,
    admitted: commonware_runtime::telemetry::metrics::Registered<Counter>,
    refused: commonware_runtime::telemetry::metrics::Registered<Counter>,
    block_tx_limit: commonware_runtime::telemetry::metrics::Registered<Gauge>,
}

pub struct Chain<E: Context + Spawner> {
    machine: StateMachine,
    store: CommittedState<E>,
    tip: Tip,
    pending: HashMap<Digest, Pending>,
    mempool: Mempool,
    max_block_txs: usize,
    /// How many transactions the next block we build may hold.
    budget: BlockBudget,
    /// Times block execution, for `budget`.
    clock: E,
    metrics: ChainMetrics,
    /// The finalized height, for whoever waits on finality.
    finalized: tokio::sync::watch::Sender<u64>,
    /// Bumped whenever a transaction enters the mempool: an idle leader
    /// waits on it instead of polling.
    arrivals: tokio::sync::watch::Sender<u64>,
}

/// The committed state, shared between the chain and readers that do not
/// take the chain's lock (the clinical service, bearer-token checks,
/// receipt waits). Reading takes a read lock on the store alone, so API
/// reads do not queue behind block building and checking, which hold the
/// chain's lock and only read the store; committing a finalized block
/// takes the write lock, briefly, and a reader sees the state before or
/// after that block, never part of it.
pub struct CommittedState<E: Context + Spawner>(Arc<tokio::sync::RwLock<StateStore<E>>>);

impl<E: Context + Spawner> Clone for CommittedState<E> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<E: Context + Spawner + Metrics> CommittedState<E> {
    pub async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.read().await.get(key).await
    }

    /// Values of `keys` as of `parent` (a pending block's batch) or the
    /// committed state, in one read, added to `into`.
    pub async fn load<'k>(
        &self,
        parent: Option<&Batch>,
        keys: impl IntoIterator<Item = &'k Vec<u8>>,
        into: &mut Preloaded,
    ) -> Result<(), StoreError> {
        self.0.read().await.load(parent, keys, into).await
    }

    async fn height(&self) -> Result<Option<u64>, StoreError> {
        self.0.read().await.height().await
    }

    async fn execute(
        &self,
        machine: &StateMachine,
        parent: Option<&Batch>,
        height: u64,
        time_ms: u64,
        txs: &[SignedTx],
    ) -> Result<custodia_store::Executed, StoreError> {
        self.0
            .read()
            .await
            .execute(machine, parent, height, time_ms, txs)
            .await
    }

    async fn prove(&self, key: &[u8]) -> Result<Option<StateProof>, StoreError> {
        self.0.read().await.prove(key).await
    }

    async fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        self.0.write().await.commit(batch).await
    }
}

/// The checks a transaction's bytes pass before any state is read:
/// encoding, size, chain id and signature.
/// Where a node keeps its state store: the partitions
/// `<partition_prefix>-state-*` of its data directory.
pub fn state_partition(partition_prefix: &str) -> String {
    format!("{partition_prefix}-state")
}

pub fn check_tx(machine: &StateMachine, bytes: &[u8]) -> Result<SignedTx, AdmitError> {
    let tx = SignedTx::decode_untrusted(bytes)?;
    machine.check_stateless(&tx)?;
    Ok(tx)
}

/// The genesis state's writes and its block.
pub async fn genesis_block<E: Context + Spawner>(
    context: E,
    genesis: &Genesis,
    partition_prefix: &str,
) -> Result<(Block, WriteSet), StoreError> {
    let writes: WriteSet = StateMachine::genesis_state(genesis)
        .0
        .into_iter()
        .map(|(k, v)| (k, Some(v)))
        .collect();
    // The genesis root is computed in a throwaway store so it is the same
    // whether or not this node's own store has moved past genesis.
    let scratch = StateStore::open(context, &format!("{partition_prefix}-genesis-scratch")).await?;
    let batch = scratch.stage(None, &writes, 0).await?;
    let root = batch.root();
    drop(batch);
    scratch.destroy().await?;
    let block = Block::genesis(genesis.digest(), genesis.genesis_time_ms, root);
    Ok((block, writes))
}

/// How much a chain may hold and spend.
#[derive(Clone, Copy, Debug)]
pub struct ChainSizing {
    /// Most transactions waiting for a block.
    pub mempool_capacity: usize,
    /// Time a block this node builds may take to execute.
    pub execution_budget: std::time::Duration,
    /// Pages of the state store's page cache.
    pub state_cache_pages: std::num::NonZeroUsize,
}

impl<E: Context + Spawner + Metrics> Chain<E> {
    /// Open the committed state, writing genesis on first start; blocks
    /// are executed with the core's modules and the plugged-in `domains`.
    pub async fn open(
        context: E,
        genesis: &Genesis,
        domains: custodia_state::Domains,
        genesis_block: &Block,
        genesis_writes: &WriteSet,
        sizing: ChainSizing,
        partition_prefix: &str,
    ) -> Result<Self, StoreError> {
        let metrics = ChainMetrics {
            finalized_height: context.register(
                "finalized_height",
                "Height of the last finalized block applied to state",
                Gauge::default(),
            ),
            finalized_txs: context.register(
                "finalized_txs",
                "Transactions in finalized blocks (applied or rejected)",
                Counter::default(),
            ),
            mempool_size: context.register(
                "mempool_size",
                "Transactions waiting for a block",
                Gauge::default(),
            ),
            admitted: context.register(
                "txs_admitted",
                "Transactions admitted to the mempool",
                Counter::default(),
            ),
            refused: context.register(
                "txs_refused",
                "Transactions refused at submission",
                Counter::default(),
            ),
            block_tx_limit: context.register(
                "block_tx_limit",
                "Transactions the next block this node builds may hold (follows recent execution cost)",
                Gauge::default(),
            ),
        };
        let clock = context.child("clock");
        let mut store = StateStore::open_with_cache(
            context,
            &state_partition(partition_prefix),
            sizing.state_cache_pages,
        )
        .await?;
        if store.height().await?.is_none() {
            let batch = store.stage(None, genesis_writes, 0).await?;
            store.commit(batch).await?;
        }
        let tip = Tip {
            height: 0,
            digest: genesis_block.digest(),
            header: genesis_block.header().clone(),
        };
        let max_block_txs =
            (genesis.params.max_block_txs as usize).min(custodia_types::MAX_BLOCK_TXS);
        let chain = Self {
            machine: StateMachine::new(genesis.chain_id.clone(), domains),
            store: CommittedState(Arc::new(tokio::sync::RwLock::new(store))),
            tip,
            pending: HashMap::new(),
            mempool: Mempool::new(sizing.mempool_capacity),
            max_block_txs,
            budget: BlockBudget::new(sizing.execution_budget, max_block_txs),
            clock,
            metrics,
            finalized: tokio::sync::watch::Sender::new(0),
            arrivals: tokio::sync::watch::Sender::new(0),
        };
        chain.metrics.finalized_height.set(0);
        chain.metrics.block_tx_limit.set(max_block_txs as i64);
        Ok(chain)
    }

    pub fn machine(&self) -> &StateMachine {
        &self.machine
    }

    /// Height the committed state reflects (may be ahead of `tip` right
    /// after a restart, until marshal redelivers the tip block).
    pub async fn state_height(&self) -> Result<u64, StoreError> {
        Ok(self.store.height().await?.unwrap_or(0))
    }

    pub fn tip(&self) -> &Tip {
        &self.tip
    }

    pub fn mempool_len(&self) -> usize {
        self.mempool.len()
    }

    pub fn max_block_txs(&self) -> usize {
        self.max_block_txs
    }

    /// Transactions the next block this node builds may hold: what fits in
    /// the execution budget at the recent cost (see `block_budget`).
    pub fn block_tx_limit(&self) -> usize {
        self.budget.limit()
    }

    /// Execute `txs` on `base` as block `height`; also how long it took,
    /// for [`Chain::learn_cost`].
    async fn execute_timed(
        &self,
        base: Option<&Batch>,
        height: u64,
        timestamp_ms: u64,
        txs: &[SignedTx],
    ) -> Result<(custodia_store::Executed, std::time::Duration), StoreError> {
        let started = self.clock.current();
        let executed = self
            .store
            .execute(&self.machine, base, height, timestamp_ms, txs)
            .await?;
        let elapsed = self
            .clock
            .current()
            .duration_since(started)
            .unwrap_or_default();
        Ok((executed, elapsed))
    }

    /// `txs` transactions took `elapsed` to execute: size the next block
    /// we build by it.
    fn learn_cost(&mut self, txs: usize, elapsed: std::time::Duration) {
        self.budget.observe(txs, elapsed);
        self.metrics.block_tx_limit.set(self.budget.limit() as i64);
    }

    /// Is this block's state available to build on (finalized tip or pending)?
    pub fn is_executed(&self, digest: &Digest) -> bool {
        *digest == self.tip.digest || self.pending.contains_key(digest)
    }

    fn base(&self, parent: &Digest) -> Option<Option<&Batch>> {
        if *parent == self.tip.digest {
            Some(None)
        } else {
            self.pending.get(parent).map(|p| Some(&p.batch))
        }
    }

    /// Execute `block` on its (executed) parent; keep it pending if its
    /// header's state root matches. `false` if the block is invalid.
    pub async fn execute(&mut self, block: &Block) -> Result<bool, StoreError> {
        if self.pending.contains_key(&block.digest()) {
            return Ok(true);
        }
        let Some(base) = self.base(&block.parent()) else {
            return Ok(false);
        };
        let (executed, elapsed) = self
            .execute_timed(
                base,
                block.height(),
                block.header().timestamp_ms,
                block.txs(),
            )
            .await?;
        self.learn_cost(block.txs().len(), elapsed);
        if executed.root() != block.header().state_root {
            tracing::warn!(
                height = block.height(),
                "block's state root does not match its transactions"
            );
            return Ok(false);
        }
        self.pending.insert(
            block.digest(),
            Pending {
                height: block.height(),
                parent: block.parent(),
                batch: executed.batch,
            },
        );
        Ok(true)
    }

    /// Build a block on `parent` (executed) from the mempool.
    pub async fn build(
        &mut self,
        parent: &Block,
        timestamp_ms: u64,
    ) -> Result<Option<Block>, StoreError> {
        let Some(base) = self.base(&parent.digest()) else {
            return Ok(None);
        };
        let base = base.cloned();
        // The parent state's next nonce for every signer with pending work.
        let signers = self.mempool.signers();
        let nonce_keys: BTreeSet<Vec<u8>> = signers.iter().map(keys::nonce).collect();
        let mut nonces = Preloaded::default();
        self.store
            .load(base.as_ref(), &nonce_keys, &mut nonces)
            .await?;
        let txs = self.mempool.select(self.budget.limit(), |signer| {
            nonces
                .get(&keys::nonce(signer))
                .and_then(|b| keys::decode_u64(&b))
                .unwrap_or(0)
        });
        let height = parent.height() + 1;
        let timestamp_ms = timestamp_ms.max(parent.header().timestamp_ms);
        let (executed, elapsed) = self
            .execute_timed(base.as_ref(), height, timestamp_ms, &txs)
            .await?;
        self.learn_cost(txs.len(), elapsed);
        let block = Block::new(parent.digest(), height, timestamp_ms, executed.root(), txs);
        self.pending.insert(
            block.digest(),
            Pending {
                height,
                parent: parent.digest(),
                batch: executed.batch,
            },
        );
        Ok(Some(block))
    }

    /// Apply a finalized block (delivered in height order, maybe again
    /// after a restart) and make its state durable.
    pub async fn finalize(&mut self, block: &Block) -> Result<(), ChainError> {
        if block.height() <= self.state_height().await? {
            // Redelivered after a restart: the state already holds it.
            if block.height() > self.tip.height {
                self.set_tip(block);
            }
            return Ok(());
        }
        let batch = match self.pending.remove(&block.digest()) {
            Some(pending) => pending.batch,
            None => {
                debug_assert_eq!(block.parent(), self.tip.digest, "marshal delivers in order");
                let executed = self
                    .store
                    .execute(
                        &self.machine,
                        None,
                        block.height(),
                        block.header().timestamp_ms,
                        block.txs(),
                    )
                    .await?;
                executed.batch
            }
        };
        if batch.root() != block.header().state_root {
            return Err(ChainError::Diverged {
                height: block.height(),
                claimed: block.header().state_root,
                computed: batch.root(),
            });
        }
        self.store.commit(batch).await?;
        self.set_tip(block);
        for tx in block.txs() {
            self.mempool.prune(tx.signer(), tx.nonce() + 1);
        }
        self.prune_pending();
        self.metrics.finalized_txs.inc_by(block.txs().len() as u64);
        self.metrics.mempool_size.set(self.mempool.len() as i64);
        Ok(())
    }

    /// After a restart, the block the committed state reflects becomes the
    /// tip to build on (marshal does not redeliver acknowledged blocks).
    pub fn restore_tip(&mut self, block: &Block) {
        self.set_tip(block);
    }

    fn set_tip(&mut self, block: &Block) {
        self.tip = Tip {
            height: block.height(),
            digest: block.digest(),
            header: block.header().clone(),
        };
        self.metrics.finalized_height.set(block.height() as i64);
        self.finalized.send_replace(block.height());
    }

    /// Changes whenever a block is finalized: lets a request wait for its
    /// transaction without polling the state.
    pub fn finalized_heights(&self) -> tokio::sync::watch::Receiver<u64> {
        self.finalized.subscribe()
    }

    /// Changes whenever a transaction enters the mempool: lets an idle
    /// leader propose the moment there is something to order.
    pub fn arrivals(&self) -> tokio::sync::watch::Receiver<u64> {
        self.arrivals.subscribe()
    }

    /// Keep only pending blocks that descend from the finalized tip.
    fn prune_pending(&mut self) {
        let mut live: BTreeSet<Digest> = BTreeSet::from([self.tip.digest]);
        let mut entries: Vec<(u64, Digest, Digest)> = self
            .pending
            .iter()
            .map(|(digest, p)| (p.height, *digest, p.parent))
            .collect();
        entries.sort();
        for (height, digest, parent) in entries {
            if height > self.tip.height && live.contains(&parent) {
                live.insert(digest);
            } else {
                self.pending.remove(&digest);
            }
        }
    }

    /// Admit an encoded transaction to the mempool.
    pub async fn admit(&mut self, bytes: &[u8]) -> Result<Digest, AdmitError> {
        match check_tx(&self.machine, bytes) {
            Ok(tx) => self.admit_checked(tx).await,
            Err(error) => {
                self.count_refusal();
                Err(error)
            }
        }
    }

    /// Admit a transaction that passed [`check_tx`] (done outside the
    /// chain's lock: signatures are the expensive part).
    pub async fn admit_checked(&mut self, tx: SignedTx) -> Result<Digest, AdmitError> {
        let result = self.admit_stateful(tx).await;
        match &result {
            Ok(_) => self.metrics.admitted.inc(),
            Err(_) => self.metrics.refused.inc(),
        };
        self.metrics.mempool_size.set(self.mempool.len() as i64);
        result
    }

    /// Count a transaction refused before it reached the chain.
    pub fn count_refusal(&self) {
        self.metrics.refused.inc();
    }

    async fn admit_stateful(&mut self, tx: SignedTx) -> Result<Digest, AdmitError> {
        let mut state = Preloaded::default();
        let wanted = self
            .machine
            .read_set(self.tip.height + 1, std::slice::from_ref(&tx));
        self.store.load(None, &wanted, &mut state).await?;
        if state.get(&keys::receipt(&tx.id())).is_some() {
            return Err(Rejection::NonceReplayed {
                expected: StateMachine::next_nonce(&state, &tx),
                got: tx.nonce(),
            }
            .into());
        }
        let pending_next = self.mempool.next_nonce(tx.signer());
        self.machine.check_admission(&state, &tx, pending_next)?;
        let id = tx.id();
        self.mempool.insert(tx)?;
        self.arrivals
            .send_modify(|count| *count = count.wrapping_add(1));
        Ok(id)
    }

    pub fn is_pending(&self, id: &Digest) -> bool {
        self.mempool.contains(id)
    }

    /// The committed state, to read without this chain's lock.
    pub fn committed(&self) -> CommittedState<E> {
        self.store.clone()
    }

    /// A committed value.
    pub async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.store.get(key).await
    }

    /// Committed values of `keys`, in one read, added to `into`.
    pub async fn load_committed<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k Vec<u8>>,
        into: &mut Preloaded,
    ) -> Result<(), StoreError> {
        self.store.load(None, keys, into).await
    }

    /// The validators the committed state names for `epoch`, if any.
    pub async fn committee(
        &self,
        epoch: u64,
    ) -> Result<Option<Vec<custodia_types::PublicKey>>, StoreError> {
        read_committee(&*self.store.0.read().await, epoch).await
    }

    /// Whether governance has changed the next epoch's validators. Epochs
    /// are counted in blocks, so an idle chain would take days to reach
    /// the one that seats them; its leaders keep the busy pace until then.
    pub async fn committee_change_pending(&self) -> Result<bool, StoreError> {
        let Some(bytes) = self.store.get(keys::VALIDATORS).await? else {
            return Ok(false);
        };
        let validators: custodia_state::records::Validators = serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::Qmdb(format!("bad validators record: {e}")))?;
        Ok(validators.next != validators.current)
    }

    /// The encoded member list; changes exactly when membership does.
    pub async fn members_record(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.store.get(keys::MEMBERS).await
    }

    /// A committed value with its proof against the tip's state root.
    pub async fn prove(&self, key: &[u8]) -> Result<Option<StateProof>, StoreError> {
        self.store.prove(key).await
    }

    /// A signer's next nonce counting its pending transactions.
    pub async fn next_nonce(&self, signer: &custodia_types::PublicKey) -> Result<u64, StoreError> {
        let committed = self
            .store
            .get(&keys::nonce(signer))
            .await?
            .and_then(|b| keys::decode_u64(&b))
            .unwrap_or(0);
        Ok(self
            .mempool
            .next_nonce(signer)
            .unwrap_or(committed)
            .max(committed))
    }
}

/// The validators `store` names for `epoch` (`gov/committee/{e}`), if any.
pub async fn read_committee<E: Context + Spawner>(
    store: &StateStore<E>,
    epoch: u64,
) -> Result<Option<Vec<custodia_types::PublicKey>>, StoreError> {
    let Some(bytes) = store.get(&keys::committee(epoch)).await? else {
        return Ok(None);
    };
    let hexes: Vec<String> = serde_json::from_slice(&bytes).unwrap_or_default();
    let validators: Option<Vec<_>> = hexes
        .iter()
        .map(|h| custodia_types::parse_public_key(h).ok())
        .collect();
    Ok(validators.filter(|v| !v.is_empty()))
}
