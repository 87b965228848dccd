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

/// When a leader proposes after its parent block.
///
/// An idle chain costs (almost) nothing: with no transaction waiting the
/// leader holds its proposal until one arrives or the heartbeat falls due.
/// Simplex meanwhile ends the view by its leader timeout (a nullification,
/// a few votes, no block) and asks the next leader, which waits the same
/// way; so the chain makes one empty block a heartbeat, and the first
/// transaction to arrive is proposed by whichever leader holds the view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pacing {
    /// While transactions wait: short, so a request waits little for its
    /// block (latency is what bounds throughput at a given number of
    /// requests in flight).
    pub busy: Duration,
    /// While none wait: the most time between two blocks, so that the
    /// chain's clock advances and its liveness shows.
    pub heartbeat: Duration,
}

pub struct App<E: Runtime> {
    chain: SharedChain<E>,
    pacing: Pacing,
    corrupt_proposals: bool,
    /// Where an invalid proposal is noted, with its leader.
    faults: Option<super::faults::Faults>,
}

// Not derived: that would demand `E: Clone`, which runtime contexts are not.
impl<E: Runtime> Clone for App<E> {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            pacing: self.pacing,
            corrupt_proposals: self.corrupt_proposals,
            faults: self.faults.clone(),
        }
    }
}

impl<E: Runtime> App<E> {
    pub fn new(chain: SharedChain<E>, pacing: Pacing, corrupt_proposals: bool) -> Self {
        Self {
            chain,
            pacing,
            corrupt_proposals,
            faults: None,
        }
    }

    /// Note each invalid proposal in `faults`, naming its leader.
    pub fn with_faults(self, faults: super::faults::Faults) -> Self {
        Self {
            faults: Some(faults),
            ..self
        }
    }

    fn refused(&self, leader: &PublicKey) {
        if let Some(faults) = &self.faults {
            faults.invalid_proposal(leader);
        }
    }

    /// Wait out the interval after `parent`: none if a full block is
    /// waiting, the busy one once transactions wait (or a new committee
    /// waits for its epoch), the heartbeat while none do. An arriving
    /// transaction wakes the wait (no polling).
    ///
    /// The first block after genesis comes at once: it shows that the
    /// consortium has formed (a quorum connected and voting).
    async fn pace(&self, context: &E, parent: &Block) {
        if parent.height() == 0 {
            return;
        }
        let parent_ms = parent.header().timestamp_ms;
        loop {
            let (waiting, mut arrivals) = {
                let chain = self.chain.lock().await;
                if chain.mempool_len() >= chain.block_tx_limit() {
                    return;
                }
                // A new committee waits for the epoch boundary, counted in
                // blocks: reach it at the busy pace, not at the heartbeat.
                let seating = chain.committee_change_pending().await.unwrap_or(false);
                (chain.mempool_len() > 0 || seating, chain.arrivals())
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
                self.pacing.heartbeat
            };
            let due = parent_ms.saturating_add(interval.as_millis() as u64);
            if now >= due {
                return;
            }
            let left = context.sleep(Duration::from_millis(due - now));
            if waiting {
                left.await;
            } else {
                // A transaction arriving shortens the wait to the busy
                // interval (already over if the parent is old).
                futures::pin_mut!(left);
                let arrived = arrivals.changed();
                futures::pin_mut!(arrived);
                futures::future::select(left, arrived).await;
            }
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
                // Finalization runs while this walk fetches ancestors and
                // can overtake it: then a block already walked is the tip,
                // and only the blocks above it need executing.
                if path
                    .iter()
                    .any(|walked| chain.is_executed(&walked.digest()))
                {
                    break;
                }
                tracing::debug!(
                    height = cursor.inner().height(),
                    tip = chain.tip().height,
                    "an ancestor at or below the tip is not the tip"
                );
                return false;
            }
        }
        let height = cursor.inner().height();
        path.push(cursor);
        match ancestry.next().await {
            Some(next) => cursor = next,
            None => {
                tracing::debug!(
                    after = height,
                    "the ancestry ended before an executed block"
                );
                return false;
            }
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
        let Some(parent) = ancestry.next().await else {
            tracing::debug!("not proposing: the parent block is unavailable");
            return None;
        };
        if !ensure_executed(&self.chain, parent.clone(), &mut ancestry).await {
            tracing::debug!(
                parent = parent.inner().height(),
                "not proposing: the parent could not be executed"
            );
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
            Ok(None) => {
                tracing::debug!(
                    parent = parent.inner().height(),
                    "not proposing: the parent is neither the tip nor pending"
                );
                None
            }
            Err(error) => {
                tracing::error!(%error, "state store failed while building a block");
                None
            }
        }
    }

    async fn verify(
        &mut self,
        (context, round): (E, Self::Context),
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
                self.refused(&round.leader);
                return false;
            }
        }
        if !ensure_executed(&self.chain, parent, &mut ancestry).await {
            return false;
        }
        let mut chain = self.chain.lock().await;
        match chain.execute(block.inner()).await {
            Ok(true) => true,
            Ok(false) => {
                self.refused(&round.leader);
                false
            }
            Err(error) => {
                tracing::error!(%error, "state store failed while verifying a block");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::genesis_block;
    use commonware_runtime::{deterministic, Runner as _, Supervisor as _};
    use custodia_types::Genesis;
    use futures::{future::BoxFuture, Stream};
    use std::{
        collections::VecDeque,
        pin::Pin,
        sync::{Arc, Mutex},
        task::{Context as TaskContext, Poll},
    };

    /// Ancestors handed out one by one; before the first, `before` runs to
    /// completion (what another task does meanwhile).
    #[derive(Clone)]
    struct Scripted {
        blocks: VecDeque<Digested<Block>>,
        before: Arc<Mutex<Option<BoxFuture<'static, ()>>>>,
    }

    impl Stream for Scripted {
        type Item = Digested<Block>;

        fn poll_next(
            mut self: Pin<&mut Self>,
            cx: &mut TaskContext<'_>,
        ) -> Poll<Option<Self::Item>> {
            {
                let mut before = self.before.lock().expect("lock");
                if let Some(work) = before.as_mut() {
                    if work.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    *before = None;
                }
            }
            Poll::Ready(self.blocks.pop_front())
        }
    }

    impl Ancestry<Block> for Scripted {
        fn peek(&self) -> Option<&Digested<Block>> {
            self.blocks.front()
        }
    }

    fn genesis() -> Genesis {
        crate::test_support::one_member_genesis("custodia-app-test")
    }

    fn digested(block: Block) -> Digested<Block> {
        let digest = block.digest();
        Digested::precomputed(block, digest)
    }

    #[test]
    fn a_proposer_builds_on_a_parent_finalized_while_it_walked_the_ancestry() {
        deterministic::Runner::default().start(|context| async move {
            let genesis = genesis();
            let (first, writes) = genesis_block(context.child("genesis"), &genesis, "t")
                .await
                .expect("genesis");
            let sizing = crate::test_support::small_sizing();
            let open = |name: &'static str| {
                let context = context.child(name);
                let (genesis, first, writes) = (genesis.clone(), first.clone(), writes.clone());
                async move {
                    Chain::open(
                        context,
                        &genesis,
                        custodia_state::Domains::none(),
                        &first,
                        &writes,
                        sizing,
                        name,
                    )
                    .await
                    .expect("open a chain")
                }
            };
            // Another leader built the parent; this node has not executed it.
            let parent = open("leader")
                .await
                .build(&first, genesis.genesis_time_ms + 1)
                .await
                .expect("build")
                .expect("a block on genesis");
            let chain: SharedChain<_> = Arc::new(futures::lock::Mutex::new(open("proposer").await));
            // While the proposer fetches the parent's parent, the parent is
            // finalized here.
            let finalizing = {
                let (chain, parent) = (chain.clone(), parent.clone());
                async move {
                    chain
                        .lock()
                        .await
                        .finalize(&parent)
                        .await
                        .expect("finalize");
                }
            };
            let mut ancestry = Scripted {
                blocks: VecDeque::from([digested(first.clone())]),
                before: Arc::new(Mutex::new(Some(Box::pin(finalizing)))),
            };

            assert!(ensure_executed(&chain, digested(parent.clone()), &mut ancestry).await);
            let mut chain = chain.lock().await;
            assert_eq!(chain.tip().digest, parent.digest());
            let child = chain
                .build(&parent, genesis.genesis_time_ms + 2)
                .await
                .expect("build")
                .expect("a block on the finalized parent");
            assert_eq!(child.parent(), parent.digest());
        });
    }
}
