//! Offline audit of a node's stored chain: replay every finalized block
//! from genesis and check what the node claims against what it holds.
//!
//! Checked, in order, for each height: the block decodes (its checksum and
//! transactions root), it links to its parent, its finality certificate
//! names it and carries a quorum of that epoch's committee, every
//! transaction is well signed, and re-executing it gives the state root in
//! its header. Finally the node's own state store must have that root.
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
    chain::{genesis_block, read_committee},
    engine::{archive_config, Committees, Finalization, Settings},
};
use custodia_state::StateMachine;
use custodia_store::StateStore;
use custodia_types::{Block, Digest};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

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
    let copy = TempDir(std::env::temp_dir().join(format!(
        "custodia-verify-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )));
    copy_dir(&home.data_dir(), &copy.0).map_err(VerifyError::Copy)?;
    let config = cw_tokio::Config::new().with_storage_directory(&copy.0);
    cw_tokio::Runner::new(config)
        .start(|context| async move { replay(context, home, progress).await })
}

async fn replay(
    context: cw_tokio::Context,
    home: Home,
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

    // The node's own state, as it claims it.
    let state_error = |e: custodia_store::StoreError| VerifyError::State {
        reason: e.to_string(),
    };
    let claimed = StateStore::open(context.child("claimed"), &format!("{prefix}-state"))
        .await
        .map_err(state_error)?;
    let claimed_height = claimed.height().await.map_err(state_error)?.unwrap_or(0);

    // A fresh replay from genesis, next to the copy.
    let machine = StateMachine::new(genesis.chain_id.clone());
    let (genesis_block, writes) = genesis_block(context.child("genesis"), genesis, REPLAY_PREFIX)
        .await
        .map_err(state_error)?;
    let mut replay = StateStore::open(context.child("replay"), &format!("{REPLAY_PREFIX}-state"))
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
    Ok(Verified {
        height: last,
        transactions,
        state_root: *roots.last().expect("genesis root"),
    })
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
