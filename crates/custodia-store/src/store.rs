//! The state store: executes blocks speculatively and commits finalized ones.

use crate::{
    db::{config, state_key, Merkleized, StateDb, StateKey, DEFAULT_CACHE_PAGES},
    proof::StateProof,
};
use commonware_cryptography::{sha256, Sha256};
use commonware_runtime::Spawner;
use commonware_storage::{
    mmr::Location,
    qmdb::{floor::Proportional, Error as QmdbError},
    Context,
};
use custodia_state::{BlockOutcome, Preloaded, StateMachine, WriteSet};
use custodia_types::SignedTx;
use std::{num::NonZeroUsize, sync::Arc};

/// A block's state changes, merkleized but not yet durable.
pub type Batch = Arc<Merkleized>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state store error: {0}")]
    Qmdb(String),
    #[error("the state store failed earlier and must be reopened (restart the node)")]
    Poisoned,
}

impl<F: commonware_storage::merkle::Family> From<QmdbError<F>> for StoreError {
    fn from(e: QmdbError<F>) -> Self {
        StoreError::Qmdb(e.to_string())
    }
}

/// A block executed on top of its parent's state.
pub struct Executed {
    pub batch: Batch,
    pub outcome: BlockOutcome,
    /// How many times the block ran before every key it read was loaded
    /// (1 when its read set named them all).
    pub passes: usize,
}

impl Executed {
    /// The state root after this block: what its header must commit to.
    pub fn root(&self) -> sha256::Digest {
        self.batch.root()
    }
}

pub struct StateStore<E: Context + Spawner> {
    /// qmdb consumes the handle on every mutation; `None` after a failure
    /// means the in-memory view is gone and only a restart recovers it.
    db: Option<StateDb<E>>,
}

impl<E: Context + Spawner> StateStore<E> {
    /// Open (or create) the store under `prefix` with the default page
    /// cache ([`DEFAULT_CACHE_PAGES`]).
    pub async fn open(context: E, prefix: &str) -> Result<Self, StoreError> {
        Self::open_with_cache(context, prefix, DEFAULT_CACHE_PAGES).await
    }

    /// Open (or create) the store with a page cache of `cache_pages` pages
    /// of [`crate::CACHE_PAGE_BYTES`].
    pub async fn open_with_cache(
        context: E,
        prefix: &str,
        cache_pages: NonZeroUsize,
    ) -> Result<Self, StoreError> {
        let db = StateDb::init(context, config(prefix, cache_pages), None).await?;
        Ok(Self { db: Some(db) })
    }

    fn db(&self) -> Result<&StateDb<E>, StoreError> {
        self.db.as_ref().ok_or(StoreError::Poisoned)
    }

    /// The root of the committed state.
    pub fn root(&self) -> Result<sha256::Digest, StoreError> {
        Ok(self.db()?.root())
    }

    /// Locations of the operations the log holds (the state is every
    /// committed write, in order, as qmdb operations).
    pub fn operation_bounds(&self) -> Result<std::ops::Range<u64>, StoreError> {
        let bounds = self.db()?.bounds();
        Ok(*bounds.start..*bounds.end)
    }

    /// Up to `max` operations of the log from location `start`, each in its
    /// canonical encoding (what the state root commits to).
    pub async fn operations(
        &self,
        start: u64,
        max: std::num::NonZeroU64,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        use commonware_codec::Encode as _;
        let db = self.db()?;
        let (_, ops) = db
            .ops_historical_proof(db.bounds().end, Location::new(start), max)
            .await?;
        Ok(ops.iter().map(|op| op.encode().to_vec()).collect())
    }

    /// The height of the last block whose state is committed, if any.
    pub async fn height(&self) -> Result<Option<u64>, StoreError> {
        let metadata = self.db()?.get_metadata().await?;
        Ok(metadata.and_then(|bytes| Some(u64::from_be_bytes(bytes.try_into().ok()?))))
    }

    /// A committed value.
    pub async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db()?.get(&state_key(key)).await?)
    }

    /// A committed value with its proof against [`Self::root`]; `None` if
    /// the key holds nothing (the state proves only what it holds).
    pub async fn prove(&self, key: &[u8]) -> Result<Option<StateProof>, StoreError> {
        let db = self.db()?;
        let hashed = state_key(key);
        let Some(value) = db.get(&hashed).await? else {
            return Ok(None);
        };
        let proof = db.key_value_proof(hashed).await?;
        Ok(Some(StateProof::new(value, proof)))
    }

    /// Load `keys` as of `parent` (a pending block) or the committed state.
    pub async fn load<'k>(
        &self,
        parent: Option<&Batch>,
        keys: impl IntoIterator<Item = &'k Vec<u8>>,
        into: &mut Preloaded,
    ) -> Result<(), StoreError> {
        let db = self.db()?;
        let keys: Vec<&Vec<u8>> = keys.into_iter().collect();
        let hashed: Vec<StateKey> = keys.iter().map(|k| state_key(k)).collect();
        let refs: Vec<&StateKey> = hashed.iter().collect();
        let values = match parent {
            Some(batch) => batch.get_many(&refs, db).await?,
            None => db.get_many(&refs).await?,
        };
        for (key, value) in keys.into_iter().zip(values) {
            into.insert(key.clone(), value);
        }
        Ok(())
    }

    /// Execute a block's transactions on top of `parent` (`None`: the
    /// committed state). Nothing is written until [`Self::commit`].
    pub async fn execute(
        &self,
        machine: &StateMachine,
        parent: Option<&Batch>,
        height: u64,
        time_ms: u64,
        txs: &[SignedTx],
    ) -> Result<Executed, StoreError> {
        let mut loaded = Preloaded::default();
        let mut wanted = machine.read_set(height, txs);
        let mut passes = 0;
        let outcome = loop {
            self.load(parent, &wanted, &mut loaded).await?;
            let outcome = machine.execute_block(&loaded, height, time_ms, txs);
            passes += 1;
            // Modules may read keys their read set did not name (a vote
            // reads the proposal it settles): load those and run again.
            wanted = loaded.take_misses();
            if wanted.is_empty() {
                break outcome;
            }
        };
        let batch = self.stage(parent, &outcome.writes, height).await?;
        Ok(Executed {
            batch,
            outcome,
            passes,
        })
    }

    /// Merkleize `writes` as block `height` on top of `parent`.
    pub async fn stage(
        &self,
        parent: Option<&Batch>,
        writes: &WriteSet,
        height: u64,
    ) -> Result<Batch, StoreError> {
        let db = self.db()?;
        let mut batch = match parent {
            Some(parent) => parent.new_batch::<Sha256>(),
            None => db.new_batch(),
        };
        for (key, value) in writes {
            batch = batch.write(state_key(key), value.clone());
        }
        // The height is the batch's commit metadata: it is part of the root
        // and tells a restarted node which block its state reflects.
        let metadata = Some(height.to_be_bytes().to_vec());
        Ok(batch.merkleize(db, metadata, &mut Proportional).await?)
    }

    /// Delete the store and everything it holds.
    pub async fn destroy(mut self) -> Result<(), StoreError> {
        let db = self.db.take().ok_or(StoreError::Poisoned)?;
        db.destroy().await?;
        Ok(())
    }

    /// Make a finalized block's batch durable.
    pub async fn commit(&mut self, batch: Batch) -> Result<(), StoreError> {
        let db = self.db.take().ok_or(StoreError::Poisoned)?;
        let db = db.apply_batch(batch).await?;
        self.db = Some(db.commit().await?);
        Ok(())
    }
}
