//! Pending transactions waiting for a block, per signer in nonce order.

use custodia_types::{Digest, PublicKey, SignedTx};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Why the mempool would not take a transaction.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MempoolError {
    #[error("the mempool is full ({0} pending transactions); retry shortly")]
    Full(usize),
    #[error("this transaction is already pending")]
    Duplicate,
    #[error("another pending transaction from this signer already uses nonce {0}")]
    NonceTaken(u64),
}

#[derive(Default)]
pub struct Mempool {
    capacity: usize,
    by_signer: HashMap<PublicKey, BTreeMap<u64, SignedTx>>,
    /// Signers in the order they first had work pending, for fairness.
    queue: VecDeque<PublicKey>,
    ids: HashMap<Digest, (PublicKey, u64)>,
}

impl Mempool {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            ..Self::default()
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn contains(&self, id: &Digest) -> bool {
        self.ids.contains_key(id)
    }

    /// The signer's next nonce counting pending transactions, if any pend.
    pub fn next_nonce(&self, signer: &PublicKey) -> Option<u64> {
        self.by_signer
            .get(signer)
            .and_then(|txs| txs.last_key_value())
            .map(|(nonce, _)| nonce + 1)
    }

    /// Signers with transactions pending, in fairness order.
    pub fn signers(&self) -> Vec<PublicKey> {
        self.queue.iter().cloned().collect()
    }

    /// Add an admitted transaction (the caller checked nonce and signer).
    pub fn insert(&mut self, tx: SignedTx) -> Result<(), MempoolError> {
        if self.ids.contains_key(&tx.id()) {
            return Err(MempoolError::Duplicate);
        }
        if self.ids.len() >= self.capacity {
            return Err(MempoolError::Full(self.ids.len()));
        }
        let signer = tx.signer().clone();
        let txs = self.by_signer.entry(signer.clone()).or_default();
        if txs.contains_key(&tx.nonce()) {
            return Err(MempoolError::NonceTaken(tx.nonce()));
        }
        if txs.is_empty() {
            self.queue.push_back(signer.clone());
        }
        self.ids.insert(tx.id(), (signer, tx.nonce()));
        txs.insert(tx.nonce(), tx);
        Ok(())
    }

    /// Pick up to `limit` transactions for a block, round-robin over signers
    /// so one busy signer cannot starve the rest. `next_nonce` tells, for a
    /// signer, the nonce the block's parent state expects next; each signer
    /// contributes only an unbroken run from there.
    pub fn select(
        &self,
        limit: usize,
        mut next_nonce: impl FnMut(&PublicKey) -> u64,
    ) -> Vec<SignedTx> {
        let mut runs: Vec<_> = self
            .queue
            .iter()
            .filter_map(|signer| {
                let txs = self.by_signer.get(signer)?;
                let start = next_nonce(signer);
                Some(txs.range(start..).scan(start, |want, (nonce, tx)| {
                    (*nonce == *want).then(|| {
                        *want += 1;
                        tx
                    })
                }))
            })
            .collect();
        let mut picked = Vec::with_capacity(limit.min(self.len()));
        while picked.len() < limit && !runs.is_empty() {
            runs.retain_mut(|run| match run.next() {
                Some(tx) if picked.len() < limit => {
                    picked.push(tx.clone());
                    true
                }
                _ => false,
            });
        }
        picked
    }

    /// Drop a signer's transactions below `next_nonce` (finalized or replaced).
    pub fn prune(&mut self, signer: &PublicKey, next_nonce: u64) {
        let Some(txs) = self.by_signer.get_mut(signer) else {
            return;
        };
        let keep = txs.split_off(&next_nonce);
        for tx in txs.values() {
            self.ids.remove(&tx.id());
        }
        *txs = keep;
        if txs.is_empty() {
            self.by_signer.remove(signer);
            self.queue.retain(|s| s != signer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use commonware_cryptography::Signer as _;
    use custodia_types::{Body, PrivateKey, TxPayload};

    fn tx(key: &PrivateKey, nonce: u64) -> SignedTx {
        TxPayload {
            chain_id: "c".into(),
            signer: key.public_key(),
            nonce,
            body: Body::Note { data: Bytes::new() },
        }
        .sign(key)
    }

    #[test]
    fn selects_contiguous_runs_round_robin() {
        let (a, b) = (PrivateKey::from_seed(1), PrivateKey::from_seed(2));
        let mut pool = Mempool::new(100);
        for n in [0, 1, 2, 4] {
            pool.insert(tx(&a, n)).unwrap();
        }
        pool.insert(tx(&b, 0)).unwrap();
        let picked = pool.select(10, |_| 0);
        let nonces: Vec<_> = picked
            .iter()
            .map(|t| (t.signer() == &a.public_key(), t.nonce()))
            .collect();
        // a's nonce 4 waits for 3; b is served between a's.
        assert_eq!(nonces, vec![(true, 0), (false, 0), (true, 1), (true, 2)]);
        assert_eq!(pool.select(2, |_| 0).len(), 2);
        // With a's parent state already past 1, only 2 is eligible.
        let picked = pool.select(10, |k| if k == &a.public_key() { 2 } else { 1 });
        assert_eq!(
            picked.iter().map(|t| t.nonce()).collect::<Vec<_>>(),
            vec![2]
        );
    }

    #[test]
    fn refuses_duplicates_taken_nonces_and_overflow() {
        let a = PrivateKey::from_seed(1);
        let mut pool = Mempool::new(2);
        pool.insert(tx(&a, 0)).unwrap();
        assert_eq!(pool.insert(tx(&a, 0)), Err(MempoolError::Duplicate));
        pool.insert(tx(&a, 1)).unwrap();
        assert_eq!(pool.insert(tx(&a, 2)), Err(MempoolError::Full(2)));
        assert_eq!(pool.next_nonce(&a.public_key()), Some(2));
        pool.prune(&a.public_key(), 1);
        assert_eq!(pool.len(), 1);
        pool.prune(&a.public_key(), 2);
        assert!(pool.is_empty());
        assert_eq!(pool.next_nonce(&a.public_key()), None);
    }
}
