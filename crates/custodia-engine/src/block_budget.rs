//! How many transactions a leader puts in its next block.
//!
//! A proposal is useful only if the leader builds it, and the others
//! execute it, well inside consensus's timeouts. A fixed transaction count
//! cannot promise that: a block of notes executes in milliseconds, one of
//! commissions that rewrite large lot records can take seconds. When every
//! leader in turn proposes a block that cannot be built in time, views time
//! out one after another while the mempool only grows, and the chain stops.
//!
//! So the count follows what execution has cost on this node lately: as
//! many transactions as fit in the execution budget at the recent cost per
//! transaction, between [`MIN_BLOCK_TXS`] and the genesis maximum. A slow
//! block raises the cost at once, so the very next proposal is smaller; fast
//! blocks lower it gradually. The clock is the runtime's, so in the
//! deterministic simulation (whose clock does not move while code runs)
//! execution looks free and blocks keep their maximum size.

use std::time::Duration;

/// The fewest transactions a leader offers when it has them, however slow
/// recent blocks were: the chain always makes progress.
pub const MIN_BLOCK_TXS: usize = 64;

/// Blocks with fewer transactions say more about fixed per-block costs
/// (merkleization, commit) than about the cost of a transaction.
const MIN_OBSERVED_TXS: usize = 32;

/// Weight of the newest observation when execution got cheaper.
const EASE: f64 = 0.25;

#[derive(Debug, Clone)]
pub struct BlockBudget {
    budget: Duration,
    max_txs: usize,
    /// Recent execution cost of one transaction, in seconds; `None` until
    /// a block big enough to tell has been executed.
    per_tx_secs: Option<f64>,
}

impl BlockBudget {
    pub fn new(budget: Duration, max_txs: usize) -> Self {
        Self {
            budget,
            max_txs,
            per_tx_secs: None,
        }
    }

    /// Transactions the next block may hold.
    pub fn limit(&self) -> usize {
        let Some(per_tx) = self.per_tx_secs.filter(|c| *c > 0.0) else {
            return self.max_txs;
        };
        let fit = (self.budget.as_secs_f64() / per_tx) as usize;
        fit.clamp(MIN_BLOCK_TXS.min(self.max_txs), self.max_txs)
    }

    /// `txs` transactions took `elapsed` to execute (build or verify).
    pub fn observe(&mut self, txs: usize, elapsed: Duration) {
        if txs < MIN_OBSERVED_TXS {
            return;
        }
        let cost = elapsed.as_secs_f64() / txs as f64;
        self.per_tx_secs = Some(match self.per_tx_secs {
            Some(recent) if cost < recent => recent + EASE * (cost - recent),
            _ => cost,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 4_000;

    fn budget() -> BlockBudget {
        BlockBudget::new(Duration::from_millis(250), MAX)
    }

    #[test]
    fn full_blocks_until_execution_has_been_measured() {
        let mut b = budget();
        assert_eq!(b.limit(), MAX);
        // Simulated time: execution looks free.
        b.observe(1_000, Duration::ZERO);
        assert_eq!(b.limit(), MAX);
    }

    #[test]
    fn a_slow_block_shrinks_the_next_one_at_once() {
        let mut b = budget();
        // 3 000 transactions in 1.5 s: 0.5 ms each, 500 fit in 250 ms.
        b.observe(3_000, Duration::from_millis(1_500));
        assert_eq!(b.limit(), 500);
    }

    #[test]
    fn cheaper_blocks_grow_the_limit_gradually_back_to_the_maximum() {
        let mut b = budget();
        b.observe(3_000, Duration::from_millis(1_500));
        b.observe(500, Duration::from_millis(5));
        let after_one = b.limit();
        assert!(after_one > 500 && after_one < MAX, "{after_one}");
        for _ in 0..40 {
            b.observe(500, Duration::from_millis(5));
        }
        assert_eq!(b.limit(), MAX);
    }

    #[test]
    fn the_limit_never_falls_below_the_minimum() {
        let mut b = budget();
        b.observe(64, Duration::from_secs(60));
        assert_eq!(b.limit(), MIN_BLOCK_TXS);
        let mut tiny = BlockBudget::new(Duration::from_millis(250), 10);
        tiny.observe(64, Duration::from_secs(60));
        assert_eq!(tiny.limit(), 10);
    }

    #[test]
    fn small_blocks_do_not_count() {
        let mut b = budget();
        b.observe(3, Duration::from_millis(100));
        assert_eq!(b.limit(), MAX);
    }
}
