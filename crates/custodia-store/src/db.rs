//! The qmdb configuration. Everything here is part of the state root's
//! definition (hasher, Merkle family, unordered keys, chunk size, floor
//! policy) or fixed for the life of the data (page and section sizes):
//! change none of it on a running chain.

use commonware_codec::RangeCfg;
use commonware_cryptography::{sha256, Hasher as _, Sha256};
use commonware_parallel::Sequential;
use commonware_runtime::buffer::paged::{page_size, CacheRef};
use commonware_storage::{
    journal::contiguous::variable::Config as JournalConfig,
    merkle::full::Config as MerkleConfig,
    mmr,
    qmdb::{
        any::{unordered::Update, value::VariableEncoding},
        current::{batch::MerkleizedBatch, unordered::variable::Db, VariableConfig},
    },
    translator::EightCap,
};
use commonware_utils::{NZUsize, NZU64};
use std::num::NonZeroUsize;

pub(crate) type Family = mmr::Family;
/// Bitmap chunk size in bytes; part of the root's definition.
pub(crate) const CHUNK: usize = 32;
/// Largest value the state holds.
pub(crate) const MAX_VALUE: usize = custodia_state::MAX_STATE_VALUE;
/// Most digests a proof from an untrusted source may carry.
pub(crate) const MAX_PROOF_DIGESTS: usize = 256;

/// Keys in the store are the SHA-256 of the state machine's readable keys:
/// uniformly spread, so qmdb's compact in-memory index rarely collides.
pub type StateKey = sha256::Digest;
pub(crate) type Encoding = VariableEncoding<Vec<u8>>;
pub type StateDb<E> = Db<Family, E, StateKey, Vec<u8>, Sha256, EightCap, CHUNK, Sequential>;
pub(crate) type Merkleized =
    MerkleizedBatch<Family, sha256::Digest, Update<StateKey, Encoding>, CHUNK, Sequential>;
pub(crate) type OpCfg = ((), (RangeCfg<usize>, ()));

/// Operations per file of the operation log (a journal section).
const OPS_PER_SECTION: u64 = 1 << 14;

/// The file (partition directory and blob) that holds operation `location`
/// of the store opened with `prefix`, relative to the node's data directory.
pub fn operation_file(prefix: &str, location: u64) -> String {
    format!("{prefix}-log_data/{:016x}", location / OPS_PER_SECTION)
}

pub fn state_key(key: &[u8]) -> StateKey {
    Sha256::hash(&[key])
}

pub(crate) fn value_cfg() -> (RangeCfg<usize>, ()) {
    ((0..=MAX_VALUE).into(), ())
}

/// Bytes in one page of the state's page cache.
pub const CACHE_PAGE_BYTES: usize = 4096;
/// The page cache of a store opened without saying: 16 MiB, for throwaway
/// and replaying stores. A node's own store is sized by its configuration.
pub const DEFAULT_CACHE_PAGES: NonZeroUsize = NZUsize!(4096);

/// The page cache is qmdb's only read cache: a miss is a direct read from
/// disk that bypasses the operating system's cache, so it must hold the
/// state's hot part. It is allocated whole when the store opens.
pub(crate) fn config(
    prefix: &str,
    cache_pages: NonZeroUsize,
) -> VariableConfig<EightCap, OpCfg, Sequential> {
    let page_cache = CacheRef::new(page_size(CACHE_PAGE_BYTES as u32), cache_pages);
    VariableConfig {
        merkle_config: MerkleConfig {
            journal_partition: format!("{prefix}-mmr-journal"),
            metadata_partition: format!("{prefix}-mmr-metadata"),
            items_per_blob: NZU64!(1 << 16),
            write_buffer: NZUsize!(1 << 20),
            replay_buffer: NZUsize!(1 << 20),
            strategy: Sequential,
            page_cache: page_cache.clone(),
        },
        journal_config: JournalConfig {
            partition: format!("{prefix}-log"),
            items_per_section: NZU64!(OPS_PER_SECTION),
            compression: None,
            codec_config: ((), value_cfg()),
            page_cache,
            write_buffer: NZUsize!(1 << 20),
            replay_buffer: NZUsize!(1 << 20),
        },
        grafted_metadata_partition: format!("{prefix}-grafted-metadata"),
        translator: EightCap,
        init_cache: Some(NZUsize!(1 << 16)),
        init_buffer: NZUsize!(1 << 21),
        init_concurrency: (),
    }
}
