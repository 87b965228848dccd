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

/// How often a leader waiting out an idle interval looks again for work.
const IDLE_POLL: Duration = Duration::from_millis(10);

/// Time between a block and the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pacing {
    /// While transactions wait: short, so a request waits little for its
    /// block (latency is what bounds throughput at a given number of
    /// requests in flight).
    pub busy: Duration,
    /// While none wait: how often an idle chain proposes an empty block.
    pub idle: Duration,
}

pub struct App<E: Runtime> {
    chain: SharedChain<E>,
    pacing: Pacing,
    corrupt_proposals: bool,
}

// Not derived: that would demand `E: Clone`, which runtime contexts are not.
impl<E: Runtime> Clone for App<E> {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            pacing: self.pacing,
            corrupt_proposals: self.corrupt_proposals,
        }
    }
}

impl<E: Runtime> App<E> {
    pub fn new(chain: SharedChain<E>, pacing: Pacing, corrupt_proposals: bool) -> Self {
        Self {
            chain,
            pacing,
            corrupt_proposals,
        }
    }

    /// Wait out the interval after `parent`: the busy one once
    /// transactions wait, the idle one while none do (an idle chain does
    /// not spin out empty blocks), none if a full block is waiting.
    async fn pace(&self, context: &E, parent: &Block) {
        let parent_ms = parent.header().timestamp_ms;
        loop {
            let waiting = {
                let chain = self.chain.lock().await;
                if chain.mempool_len() >= chain.block_tx_limit() {
                    return;
                }
                chain.mempool_len() > 0
            };
            let now = now_ms(context);
            // Only when the clocks agree: a parent far in the future (or a
            // simulated clock) must not stall proposals.
            if now < parent_ms {
                return;
            }
            let interval = if waiting {
                self.pacing.busy
            } else {
                self.pacing.idle
            };
            let due = parent_ms + interval.as_millis() as u64;
            if now >= due {
                return;
            }
            let left = Duration::from_millis(due - now);
            // While idle, look again now and then: a transaction arriving
            // shortens the wait to the busy interval.
            context
                .sleep(if waiting { left } else { left.min(IDLE_POLL) })
                .await;
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
