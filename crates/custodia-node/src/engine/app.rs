//! The application consensus drives: build blocks from the mempool and
//! check other leaders' blocks by executing them.

use crate::{
    chain::Chain,
    engine::{Runtime, Scheme, SharedChain},
};
use commonware_consensus::{marshal::ancestry::Ancestry, simplex::types::Context, Application};
use commonware_cryptography::{Digested, Digestible as _};
use commonware_runtime::Clock;
use custodia_types::{Block, Digest, PublicKey};
use futures::StreamExt;
use std::time::{Duration, UNIX_EPOCH};

/// How far ahead of a validator's clock a block's timestamp may be.
const MAX_CLOCK_DRIFT: Duration = Duration::from_secs(5);

pub struct App<E: Runtime> {
    chain: SharedChain<E>,
    block_interval: Duration,
    corrupt_proposals: bool,
}

// Not derived: that would demand `E: Clone`, which runtime contexts are not.
impl<E: Runtime> Clone for App<E> {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            block_interval: self.block_interval,
            corrupt_proposals: self.corrupt_proposals,
        }
    }
}

impl<E: Runtime> App<E> {
    pub fn new(chain: SharedChain<E>, block_interval: Duration, corrupt_proposals: bool) -> Self {
        Self {
            chain,
            block_interval,
            corrupt_proposals,
        }
    }

    /// Wait out the block interval after `parent` unless a full block is
    /// already waiting: an idle chain does not spin out empty blocks.
    async fn pace(&self, context: &E, parent: &Block) {
        let full = {
            let chain = self.chain.lock().await;
            chain.mempool_len() >= chain.block_tx_limit()
        };
        if full {
            return;
        }
        let now = now_ms(context);
        let due = parent.header().timestamp_ms + self.block_interval.as_millis() as u64;
        // Only when the clocks agree: a parent far in the future (or a
        // simulated clock) must not stall proposals.
        if now >= parent.header().timestamp_ms && now < due {
            context.sleep(Duration::from_millis(due - now)).await;
        }
    }
}

fn now_ms(context: &impl Clock) -> u64 {
    context
        .current()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Make sure `parent`'s state is available, executing the not-yet-final
/// blocks between it and the last executed ancestor (a node that was
/// offline or missed a proposal). `false` if the branch conflicts with the
/// finalized chain or holds an invalid block.
async fn ensure_executed<E: Runtime>(
    chain: &SharedChain<E>,
    parent: Digested<Block>,
    ancestry: &mut (impl Ancestry<Block> + 'static),
) -> bool {
    let mut path: Vec<Digested<Block>> = Vec::new();
    let mut cursor = parent;
    loop {
        {
            let chain = chain.lock().await;
            if chain.is_executed(&cursor.digest()) {
                break;
            }
            if cursor.inner().height() <= chain.tip().height {
                return false;
            }
        }
        path.push(cursor);
        match ancestry.next().await {
            Some(next) => cursor = next,
            None => return false,
        }
    }
    let mut chain = chain.lock().await;
    for block in path.iter().rev() {
        let block = block.inner();
        if chain.is_executed(&block.digest()) || block.height() <= chain.tip().height {
            continue;
        }
        match chain.execute(block).await {
            Ok(true) => {}
            Ok(false) => return false,
            Err(error) => {
                tracing::error!(%error, "state store failed while executing a block");
                return false;
            }
        }
    }
    true
}

/// Checks that need no state: shape, time, size and every signature.
fn check_block(chain: &Chain<impl Runtime>, block: &Block, parent: &Block, now_ms: u64) -> bool {
    if block.height() != parent.height() + 1 || block.parent() != parent.digest() {
        return false;
    }
    let ts = block.header().timestamp_ms;
    let parent_ts = parent.header().timestamp_ms;
    if ts < parent_ts || (ts > parent_ts && ts > now_ms + MAX_CLOCK_DRIFT.as_millis() as u64) {
        tracing::warn!(
            height = block.height(),
            "block timestamp is before its parent or in the future"
        );
        return false;
    }
    if block.txs().len() > chain.max_block_txs() {
        return false;
    }
    // A transaction in our mempool had its signature checked on admission.
    block
        .txs()
        .iter()
        .all(|tx| chain.is_pending(&tx.id()) || chain.machine().check_stateless(tx).is_ok())
}

impl<E: Runtime> Application<E> for App<E> {
    type SigningScheme = Scheme;
    type Context = Context<Digest, PublicKey>;
    type Block = Block;
    type Input = ();

    async fn propose(
        &mut self,
        (context, _): (E, Self::Context),
        mut ancestry: impl Ancestry<Block>,
        _: (),
    ) -> Option<Digested<Block>> {
        let parent = ancestry.next().await?;
        if !ensure_executed(&self.chain, parent.clone(), &mut ancestry).await {
            return None;
        }
        self.pace(&context, parent.inner()).await;
        let mut chain = self.chain.lock().await;
        match chain.build(parent.inner(), now_ms(&context)).await {
            Ok(Some(block)) => {
                let block = if self.corrupt_proposals {
                    let h = block.header();
                    Block::new(
                        h.parent,
                        h.height,
                        h.timestamp_ms,
                        custodia_types::sha256(&[b"forged"]),
                        block.txs().to_vec(),
                    )
                } else {
                    block
                };
                let digest = block.digest();
                tracing::debug!(
                    height = block.height(),
                    txs = block.txs().len(),
                    "proposing block"
                );
                Some(Digested::precomputed(block, digest))
            }
            Ok(None) => None,
            Err(error) => {
                tracing::error!(%error, "state store failed while building a block");
                None
            }
        }
    }

    async fn verify(
        &mut self,
        (context, _): (E, Self::Context),
        mut ancestry: impl Ancestry<Block>,
    ) -> bool {
        let Some(block) = ancestry.next().await else {
            return false;
        };
        let Some(parent) = ancestry.next().await else {
            return false;
        };
        {
            let chain = self.chain.lock().await;
            if chain.is_executed(&block.digest()) {
                return true;
            }
            if !check_block(&chain, block.inner(), parent.inner(), now_ms(&context)) {
                tracing::warn!(
                    height = block.inner().height(),
                    "refusing an invalid proposal"
                );
                return false;
            }
        }
        if !ensure_executed(&self.chain, parent, &mut ancestry).await {
            return false;
        }
        let mut chain = self.chain.lock().await;
        match chain.execute(block.inner()).await {
            Ok(valid) => valid,
            Err(error) => {
                tracing::error!(%error, "state store failed while verifying a block");
                false
            }
        }
    }
}
