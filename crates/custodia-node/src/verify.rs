//! Offline audit of a node's stored chain: replay every finalized block
//! from genesis and check what the node claims against what it holds.
//!
//! First, this validator's consensus journals must replay whole. Then, in
//! order, for each height: the block decodes (its checksum and
//! transactions root), it links to its parent, its finality certificate
//! names it, both are found by its digest too (the archives' hash tables),
//! the certificate carries a quorum of that epoch's committee, every
//! transaction is well signed, and re-executing it gives the state root in
//! its header. Finally the node's own state store must have that root and
//! the replay's operations.
//! Verification works on a copy, so it never alters the node's files.

use crate::home::{Home, HomeError};
use commonware_consensus::Epochable as _;
use commonware_parallel::Sequential;
use commonware_runtime::{
    buffer::paged::{page_size, CacheRef},
    tokio as cw_tokio, Runner as _, Supervisor as _,
};
use commonware_storage::archive::{immutable, Archive as _, Identifier};
use commonware_utils::NZUsize;
use custodia_engine::{
    chain::{genesis_block, read_committee, state_partition},
    engine::{archive_config, Committees, Finalization, Settings},
};
use custodia_state::StateMachine;
use custodia_store::StateStore;
use custodia_types::{Block, Digest};
use std::path::{Path, PathBuf};
use std::{collections::BTreeSet, num::NonZeroU64};

/// What a clean verification covered.
#[derive(Debug)]
pub struct Verified {
    pub height: u64,
    pub transactions: u64,
    pub state_root: Digest,
}

/// The first thing found wrong.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Home(#[from] HomeError),
    #[error("cannot copy the node's data for verification: {0}")]
    Copy(std::io::Error),
    #[error("the {what} archive cannot be opened (damaged storage): {reason}")]
    Archive { what: &'static str, reason: String },
    #[error("block {height} is bad: {reason}")]
    Block { height: u64, reason: String },
    #[error("the node's state store is bad: {reason}")]
    State { reason: String },
    #[error(
        "{partition} cannot be read (damaged storage: the node would not start with it): {reason}"
    )]
    Metadata { partition: String, reason: String },
    #[error(
        "this validator's own consensus votes are damaged in {files}: it cannot tell what it voted in epoch {epoch}, and restarted now it could vote twice in a view still open. Keep it stopped until the other validators have finalized past epoch {epoch}, then remove data/{partition} and start it"
    )]
    Votes {
        epoch: u64,
        partition: String,
        files: String,
    },
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Verify the chain stored in the (stopped) node at `dir`. `progress` is
/// told `(height, last)` as blocks are checked.
pub fn verify_home(
    dir: &Path,
    progress: impl FnMut(u64, u64) + Send + 'static,
) -> Result<Verified, VerifyError> {
    let home = Home::load(dir)?;
    let copy = copy_of(&home)?;
    run_replay(home, &copy, Mode::Verify, progress)
}

/// What a repair did.
#[derive(Debug)]
pub struct Repaired {
    pub verified: Verified,
    /// Where the damaged state files were moved.
    pub damaged: PathBuf,
}

/// Rebuild the state of the (stopped) node at `dir` from its own blocks:
/// every block and certificate is verified from genesis as `verify` does,
/// the replayed state replaces the node's, and the node's old state files
/// are kept aside under `data/damaged-<unix time>/`. Blocks themselves are
/// not repaired: a bad block fails the repair as it fails `verify`.
pub fn repair_home(
    dir: &Path,
    progress: impl FnMut(u64, u64) + Send + 'static,
) -> Result<Repaired, VerifyError> {
    let home = Home::load(dir)?;
    let data = home.data_dir();
    let copy = copy_of(&home)?;
    let state_prefix = state_partition(crate::run::PARTITION_PREFIX);
    let verified = run_replay(home, &copy, Mode::Repair, progress)?;
    let damaged = data.join(format!(
        "damaged-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    ));
    let partitions = |dir: &Path, prefix: &str| -> std::io::Result<Vec<String>> {
        Ok(std::fs::read_dir(dir)?
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with(&format!("{prefix}-")))
            .collect())
    };
    let moved = (|| -> std::io::Result<()> {
        std::fs::create_dir_all(&damaged)?;
        for name in partitions(&data, &state_prefix)? {
            std::fs::rename(data.join(&name), damaged.join(&name))?;
        }
        let replayed = state_partition(REPLAY_PREFIX);
        for name in partitions(&copy.0, &replayed)? {
            let target = name.replacen(&replayed, &state_prefix, 1);
            copy_dir(&copy.0.join(&name), &data.join(target))?;
        }
        Ok(())
    })();
    moved.map_err(VerifyError::Copy)?;
    Ok(Repaired { verified, damaged })
}

/// A scratch copy of the node's data directory (removed when dropped).
fn copy_of(home: &Home) -> Result<TempDir, VerifyError> {
    let copy = TempDir(std::env::temp_dir().join(format!(
        "custodia-verify-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )));
    copy_dir(&home.data_dir(), &copy.0).map_err(VerifyError::Copy)?;
    Ok(copy)
}

fn run_replay(
    home: Home,
    copy: &TempDir,
    mode: Mode,
    progress: impl FnMut(u64, u64) + Send + 'static,
) -> Result<Verified, VerifyError> {
    let config = cw_tokio::Config::new().with_storage_directory(&copy.0);
    let data = copy.0.clone();
    cw_tokio::Runner::new(config)
        .start(|context| async move { replay(context, home, &data, mode, progress).await })
}

/// What a replay is for: verifying the node's state against the chain, or
/// rebuilding it (the replayed state is kept, the node's not read).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Verify,
    Repair,
}

async fn replay(
    context: cw_tokio::Context,
    home: Home,
    data: &Path,
    mode: Mode,
    mut progress: impl FnMut(u64, u64),
) -> Result<Verified, VerifyError> {
    let genesis = &home.genesis;
    let settings = Settings::new(genesis, crate::run::PARTITION_PREFIX);
    let prefix = settings.partition_prefix.clone();
    let page_cache = CacheRef::new(page_size(4096), NZUsize!(1024));
    let archive_error = |what| {
        move |e: commonware_storage::archive::Error| VerifyError::Archive {
            what,
            reason: e.to_string(),
        }
    };

    let blocks = immutable::Archive::<_, Digest, Block>::init(
        context.child("blocks"),
        archive_config(
            &prefix,
            "blocks",
            page_cache.clone(),
            settings.max_block_txs,
        ),
    )
    .await
    .map_err(archive_error("block"))?;
    let finalizations = immutable::Archive::<_, Digest, Finalization>::init(
        context.child("finalizations"),
        archive_config(
            &prefix,
            "finalizations",
            page_cache,
            <custodia_engine::engine::Scheme as commonware_cryptography::certificate::Verifier>::certificate_codec_config_unbounded(),
        ),
    )
    .await
    .map_err(archive_error("finality certificate"))?;

    check_vote_journals(&context, data, &prefix).await?;

    let state_error = |e: custodia_store::StoreError| VerifyError::State {
        reason: e.to_string(),
    };
    // The node's own state, as it claims it (a repair does not read it: it
    // is what the repair replaces).
    let claimed = match mode {
        Mode::Repair => None,
        Mode::Verify => Some(open_claimed(&context, data, &prefix).await?),
    };

    // A fresh replay from genesis, next to the copy.
    let machine = StateMachine::new(genesis.chain_id.clone(), crate::domains::modules());
    let (genesis_block, writes) = genesis_block(context.child("genesis"), genesis, REPLAY_PREFIX)
        .await
        .map_err(state_error)?;
    let mut replay = StateStore::open(context.child("replay"), &state_partition(REPLAY_PREFIX))
        .await
        .map_err(state_error)?;
    let batch = replay.stage(None, &writes, 0).await.map_err(state_error)?;
    replay.commit(batch).await.map_err(state_error)?;
    let mut touched: BTreeSet<Vec<u8>> = writes.keys().cloned().collect();
    // A verifier only: its own key is never in any committee.
    let committees = Committees::new(custodia_types::generate_key());
    let committee = committee_at(&replay, 0).await?.ok_or(VerifyError::State {
        reason: "genesis state names no committee".into(),
    })?;
    committees.insert(0, committee);

    let last = blocks.last_index().unwrap_or(0);
    let mut rng = rand::rng();
    let mut parent = genesis_block.digest();
    let mut roots = vec![genesis_block.header().state_root];
    let mut transactions = 0u64;
    for height in 1..=last {
        let bad = |reason: String| VerifyError::Block { height, reason };
        let block = blocks
            .get(Identifier::Index(height))
            .await
            .map_err(|e| {
                bad(format!(
                    "stored block is unreadable ({e}); its bytes were altered"
                ))
            })?
            .ok_or_else(|| bad("missing from the block archive".into()))?;
        if block.height() != height {
            return Err(bad(format!(
                "stored under height {height} but says height {}",
                block.height()
            )));
        }
        if block.parent() != parent {
            return Err(bad(format!(
                "links to parent {} but block {} is {parent}",
                block.parent(),
                height - 1
            )));
        }
        let finalization = finalizations
            .get(Identifier::Index(height))
            .await
            .map_err(|e| bad(format!("finality certificate is unreadable ({e})")))?
            .ok_or_else(|| bad("has no finality certificate".into()))?;
        if finalization.proposal.payload != block.digest() {
            return Err(bad(
                "its finality certificate is for a different block".into()
            ));
        }
        // Lookups by digest (marshal serving peers) go through each
        // archive's hash table, which reads by height do not use: a damaged
        // slot is cleared when the archive opens, and only such a lookup
        // shows it. (Metadata commits the tables with the heights, so after
        // a crash both hold the same blocks.)
        let digest = block.digest();
        for (what, found) in [
            ("blocks", blocks.has(Identifier::Key(&digest)).await),
            (
                "finalizations",
                finalizations.has(Identifier::Key(&digest)).await,
            ),
        ] {
            if !matches!(found, Ok(true)) {
                return Err(bad(format!(
                    "cannot be found by its digest: its entry in {prefix}-{what}-freezer-table is damaged (cleared when the archive opened), so the node cannot serve it to a peer that asks by digest; it still answers by height. Restore the {prefix}-{what}-* files from a backup"
                )));
            }
        }
        let epoch = height / settings.epoch_length;
        if finalization.epoch().get() != epoch {
            return Err(bad(format!(
                "certificate is from epoch {} but the block is in epoch {epoch}",
                finalization.epoch().get()
            )));
        }
        let scheme = commonware_cryptography::certificate::Provider::scoped(
            &committees,
            finalization.epoch(),
        )
        .and_then(|s| s.into_scheme())
        .ok_or_else(|| bad(format!("no committee known for epoch {epoch}")))?;
        if !finalization.verify(&mut rng, scheme.as_ref(), &Sequential) {
            return Err(bad(
                "finality certificate does not carry a quorum of the committee's signatures".into(),
            ));
        }
        for tx in block.txs() {
            machine
                .check_stateless(tx)
                .map_err(|e| bad(format!("transaction {} is invalid: {e}", tx.id())))?;
        }
        let executed = replay
            .execute(
                &machine,
                None,
                height,
                block.header().timestamp_ms,
                block.txs(),
            )
            .await
            .map_err(state_error)?;
        if executed.root() != block.header().state_root {
            return Err(bad(format!(
                "header claims state root {} but re-executing its transactions gives {}",
                block.header().state_root,
                executed.root()
            )));
        }
        touched.extend(executed.outcome.writes.keys().cloned());
        replay.commit(executed.batch).await.map_err(state_error)?;
        if (height + 1) % settings.epoch_length == 0 {
            let next = (height + 1) / settings.epoch_length;
            let keys = committee_at(&replay, next)
                .await?
                .ok_or_else(|| bad(format!("leaves no committee for epoch {next}")))?;
            committees.insert(next, keys);
        }
        transactions += block.txs().len() as u64;
        roots.push(block.header().state_root);
        parent = block.digest();
        progress(height, last);
    }

    if let Some((claimed, claimed_height)) = claimed {
        // The node's state must be the chain's: same root, same values.
        let expected = roots
            .get(claimed_height as usize)
            .ok_or_else(|| VerifyError::State {
                reason: format!("it claims height {claimed_height} but the archive ends at {last}"),
            })?;
        let claimed_root = claimed.root().map_err(state_error)?;
        if *expected != claimed_root {
            return Err(VerifyError::State {
                reason: format!(
                    "at height {claimed_height} its root is {claimed_root} but the chain says {expected}; state files were altered"
                ),
            });
        }
        compare_operation_logs(&claimed, &replay, &state_partition(&prefix)).await?;
        if claimed_height == last {
            for key in &touched {
                let theirs = claimed.get(key).await.map_err(|e| VerifyError::State {
                    reason: format!(
                        "value of {:?} is unreadable ({e}); state files were altered",
                        String::from_utf8_lossy(key)
                    ),
                })?;
                let ours = replay.get(key).await.map_err(state_error)?;
                if theirs != ours {
                    return Err(VerifyError::State {
                        reason: format!(
                            "the value of {:?} differs from the replayed chain; state files were altered",
                            String::from_utf8_lossy(key)
                        ),
                    });
                }
            }
        }
    }
    Ok(Verified {
        height: last,
        transactions,
        state_root: *roots.last().expect("genesis root"),
    })
}

/// Every operation the node's state log holds must be the replay's at the
/// same location: the log is the state (values, and what proofs are built
/// from), and the root check alone reads only its summary. The first
/// operation that differs or cannot be read is named with its file.
async fn compare_operation_logs<E>(
    claimed: &StateStore<E>,
    replay: &StateStore<E>,
    prefix: &str,
) -> Result<(), VerifyError>
where
    E: commonware_storage::Context + commonware_runtime::Spawner,
{
    const CHUNK: u64 = 1024;
    let unexpected = |e: custodia_store::StoreError| VerifyError::State {
        reason: e.to_string(),
    };
    let bounds = claimed.operation_bounds().map_err(unexpected)?;
    let replayed = replay.operation_bounds().map_err(unexpected)?;
    if bounds.end > replayed.end {
        return Err(VerifyError::State {
            reason: format!(
                "its operation log holds {} operations but the chain makes {}; state files were altered",
                bounds.end, replayed.end
            ),
        });
    }
    let altered = |location: u64, how: &str| VerifyError::State {
        reason: format!(
            "operation {location} of its state log ({}) {how}; state files were altered",
            custodia_store::operation_file(prefix, location)
        ),
    };
    let mut start = bounds.start;
    while start < bounds.end {
        let count = CHUNK.min(bounds.end - start);
        let ours = replay
            .operations(start, NonZeroU64::new(count).expect("count > 0"))
            .await
            .map_err(unexpected)?;
        let theirs = match claimed
            .operations(start, NonZeroU64::new(count).expect("count > 0"))
            .await
        {
            Ok(theirs) => theirs,
            // Some operation in this chunk is unreadable: find the first.
            Err(_) => {
                for location in start..start + count {
                    if claimed.operations(location, NonZeroU64::MIN).await.is_err() {
                        return Err(altered(location, "is unreadable"));
                    }
                }
                return Err(altered(start, "is unreadable"));
            }
        };
        if let Some(offset) = (0..count as usize).find(|&i| theirs.get(i) != ours.get(i)) {
            return Err(altered(
                start + offset as u64,
                "differs from the replayed chain's",
            ));
        }
        start += count;
    }
    Ok(())
}

/// Open the node's own state store and its height. Opening a store
/// recovers it: a log whose operations stop being readable somewhere is cut
/// there, as if a write had been torn; the log's file sizes before and
/// after show where. The node commits a block's state before it
/// acknowledges the block to marshal, which records the acknowledged
/// height: committed state below it was lost after it was written.
async fn open_claimed(
    context: &cw_tokio::Context,
    data: &Path,
    prefix: &str,
) -> Result<(StateStore<cw_tokio::Context>, u64), VerifyError> {
    let state_error = |e: custodia_store::StoreError| VerifyError::State {
        reason: e.to_string(),
    };
    let partition = state_partition(prefix);
    let log_dir = data.join(format!("{partition}-log_data"));
    let before = file_sizes(&log_dir);
    let claimed = StateStore::open(context.child("claimed"), &partition)
        .await
        .map_err(state_error)?;
    let claimed_height = claimed.height().await.map_err(state_error)?.unwrap_or(0);
    let acknowledged = acknowledged_height(context, prefix).await?;
    if acknowledged <= claimed_height {
        return Ok((claimed, claimed_height));
    }
    let cut = cut_short(&before, &log_dir, &format!("{partition}-log_data"));
    let files = match cut.is_empty() {
        true => "its state files".to_string(),
        false => cut.join(", "),
    };
    Err(VerifyError::State {
        reason: format!(
            "its state is at height {claimed_height} but it had applied block {acknowledged}: committed operations are unreadable in {files}; state files were altered or damaged"
        ),
    })
}

/// Every consensus journal the node keeps (its own votes and the
/// certificates it saw, one partition per recent epoch) must replay whole.
/// Opening a journal cuts a section at its first page that fails its
/// checksum, with only a warning, and these votes exist nowhere else: a
/// validator that lost them could vote twice. So the journals are replayed
/// in the copy, as the consensus engine does at start, and any section that
/// replay cut or could not read is named.
async fn check_vote_journals(
    context: &cw_tokio::Context,
    data: &Path,
    prefix: &str,
) -> Result<(), VerifyError> {
    use commonware_consensus::simplex::types::Artifact;
    use commonware_cryptography::certificate::Verifier as _;
    use commonware_runtime::ReadOptions;
    use commonware_storage::journal::segmented::variable::{Config, Journal};
    use custodia_engine::engine::{
        epochs::{simplex_partition, simplex_partitions},
        Scheme,
    };

    let marker = simplex_partitions(prefix);
    let mut epochs: Vec<u64> = std::fs::read_dir(data)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.strip_prefix(&marker)?.parse().ok()
        })
        .collect();
    epochs.sort_unstable();
    for epoch in epochs {
        let partition = simplex_partition(prefix, epoch);
        let dir = data.join(&partition);
        let before = file_sizes(&dir);
        let damaged = |reason: String| {
            let cut = cut_short(&before, &dir, &partition);
            VerifyError::Votes {
                epoch,
                partition: partition.clone(),
                files: match cut.is_empty() {
                    true => format!("{partition} ({reason})"),
                    false => cut.join(", "),
                },
            }
        };
        let journal = Journal::<_, Artifact<Scheme, Digest>>::init(
            context.child("votes"),
            Config {
                partition: partition.clone(),
                compression: None,
                codec_config: Scheme::certificate_codec_config_unbounded(),
                page_cache: CacheRef::new(page_size(4096), NZUsize!(64)),
                write_buffer: NZUsize!(1 << 16),
            },
        )
        .await
        .map_err(|e| damaged(e.to_string()))?;
        let mut replay = journal
            .replay(0, 0, NZUsize!(1 << 16), ReadOptions::DONT_CACHE)
            .await
            .map_err(|e| damaged(e.to_string()))?;
        while let Some(artifact) = replay.next().await {
            artifact.map_err(|e| damaged(e.to_string()))?;
        }
        drop(replay);
        if !cut_short(&before, &dir, &partition).is_empty() {
            return Err(damaged("a section was cut short".into()));
        }
    }
    Ok(())
}

/// The files of `dir` (named under `label`) that opening a store cut
/// short, given their sizes `before`: each with where it now ends.
fn cut_short(
    before: &std::collections::BTreeMap<String, u64>,
    dir: &Path,
    label: &str,
) -> Vec<String> {
    let after = file_sizes(dir);
    before
        .iter()
        .filter(|(name, size)| after.get(*name).is_none_or(|now| now < *size))
        .map(|(name, size)| {
            let now = after.get(name).copied().unwrap_or(0);
            format!("{label}/{name} (unreadable from byte {now} of {size})")
        })
        .collect()
}

/// The size of every file in `dir` (none if it cannot be read).
fn file_sizes(dir: &Path) -> std::collections::BTreeMap<String, u64> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let size = entry.metadata().ok()?.len();
            Some((entry.file_name().to_string_lossy().into_owned(), size))
        })
        .collect()
}

/// The last block the node acknowledged to marshal (0 if none), from
/// marshal's application metadata: its partition and key (`0xFF`, the
/// processed height) are marshal's own, in the pinned Commonware release.
async fn acknowledged_height(
    context: &cw_tokio::Context,
    prefix: &str,
) -> Result<u64, VerifyError> {
    use commonware_codec::varint::UInt;
    use commonware_storage::metadata::{Config, Metadata};
    use commonware_utils::sequence::U64;
    let partition = format!("{prefix}-marshal-application-metadata");
    let config = Config {
        partition: partition.clone(),
        codec_config: (),
    };
    // Absent: nothing acknowledged yet. Present but unreadable (both
    // copies fail their checksums, or a file header is altered): the node
    // refuses to start, so verification must not pass it as height 0.
    match Metadata::<_, U64, UInt<u64>>::init(context.child("acknowledged"), config).await {
        Ok(metadata) => Ok(metadata.get(&U64::new(0xFF)).map_or(0, |height| height.0)),
        Err(e) => Err(VerifyError::Metadata {
            partition,
            reason: e.to_string(),
        }),
    }
}

/// Partition prefix of the replay store inside the verification copy.
const REPLAY_PREFIX: &str = "verify-replay";

async fn committee_at<E: commonware_storage::Context + commonware_runtime::Spawner>(
    store: &StateStore<E>,
    epoch: u64,
) -> Result<Option<Vec<custodia_types::PublicKey>>, VerifyError> {
    read_committee(store, epoch)
        .await
        .map_err(|e| VerifyError::State {
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_runtime::deterministic;
    use custodia_state::WriteSet;

    async fn store_with(
        context: &deterministic::Context,
        name: &'static str,
        blocks: &[&[(&str, &str)]],
    ) -> StateStore<deterministic::Context> {
        let mut store = StateStore::open(context.child(name), name).await.unwrap();
        for (height, writes) in blocks.iter().enumerate() {
            let writes: WriteSet = writes
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), Some(v.as_bytes().to_vec())))
                .collect();
            let batch = store.stage(None, &writes, height as u64).await.unwrap();
            store.commit(batch).await.unwrap();
        }
        store
    }

    #[test]
    fn the_first_operation_that_differs_is_named_with_its_file() {
        deterministic::Runner::default().start(|context| async move {
            let chain: &[&[(&str, &str)]] = &[&[("a", "1")], &[("b", "2")], &[("c", "3")]];
            let altered: &[&[(&str, &str)]] = &[&[("a", "1")], &[("b", "X")], &[("c", "3")]];
            let replay = store_with(&context, "replay", chain).await;
            let same = store_with(&context, "same", chain).await;
            let other = store_with(&context, "other", altered).await;
            assert!(compare_operation_logs(&same, &replay, "p").await.is_ok());
            let error = compare_operation_logs(&other, &replay, "p")
                .await
                .unwrap_err()
                .to_string();
            // Each block is its writes and a commit: block 1's write of "b"
            // follows block 0's two operations (and the store's first).
            assert!(
                error.contains("differs from the replayed chain")
                    && error.contains("(p-log_data/0000000000000000)"),
                "{error}"
            );
            let location: u64 = error
                .split("operation ")
                .nth(1)
                .and_then(|rest| rest.split(' ').next())
                .and_then(|n| n.parse().ok())
                .unwrap();
            let bounds = replay.operation_bounds().unwrap();
            assert!(location > bounds.start && location < bounds.end, "{error}");
        });
    }
}
