//! One watcher for every receipt a node's service waits for. Each finalized
//! block wakes it once, and it looks up the receipts of all the
//! transactions still waited for in one batched read of committed state,
//! instead of each waiting request reading after every block.

use super::{Ticket, WaitError};
use crate::{chain::CommittedState, engine::Runtime};
use custodia_state::{keys, Preloaded, Receipt, StateRead as _};
use custodia_types::Digest;
use std::collections::HashMap;
use tokio::sync::{mpsc, oneshot, watch};

type Reply = oneshot::Sender<Result<Receipt, WaitError>>;

/// A handle to the node's receipt watcher. Cheap to clone.
#[derive(Clone)]
pub struct Receipts {
    waits: mpsc::UnboundedSender<(Digest, Reply)>,
}

impl Receipts {
    /// Start the watcher on `context`. It ends when the last handle is
    /// dropped or the chain stops.
    pub fn start<E: Runtime>(
        context: E,
        state: CommittedState<E>,
        heights: watch::Receiver<u64>,
    ) -> Self {
        let (waits, requests) = mpsc::unbounded_channel();
        context
            .child("receipts")
            .spawn(move |_| watch_receipts(state, heights, requests));
        Self { waits }
    }

    /// Waits, for as long as it takes, until the action `ticket` names has
    /// a committed receipt: its transaction's, or its entry's in a batch.
    pub async fn when_final(&self, ticket: &Ticket) -> Result<Receipt, WaitError> {
        let (reply, receipt) = oneshot::channel();
        self.waits
            .send((ticket.tx, reply))
            .map_err(|_| WaitError::Stopped)?;
        let receipt = receipt.await.map_err(|_| WaitError::Stopped)??;
        match ticket.entry {
            None => Ok(receipt),
            Some(index) => receipt.entry(index).ok_or(WaitError::NoEntry {
                tx: ticket.tx,
                index,
            }),
        }
    }
}

async fn watch_receipts<E: Runtime>(
    state: CommittedState<E>,
    mut heights: watch::Receiver<u64>,
    mut requests: mpsc::UnboundedReceiver<(Digest, Reply)>,
) {
    let mut waiting: HashMap<Digest, Vec<Reply>> = HashMap::new();
    loop {
        // A new wait is looked up at once, alone (its transaction may be
        // final already); a new block looks up everything still waited for.
        let mut fresh = Vec::new();
        let block = commonware_macros::select! {
            request = requests.recv() => match request {
                Some(request) => {
                    fresh.push(request);
                    false
                }
                None => return,
            },
            changed = heights.changed() => {
                if changed.is_err() {
                    for reply in waiting.drain().flat_map(|(_, replies)| replies) {
                        let _ = reply.send(Err(WaitError::Stopped));
                    }
                    return;
                }
                true
            }
        };
        // Whatever else is queued joins this lookup.
        while let Ok(request) = requests.try_recv() {
            fresh.push(request);
        }
        // A block that landed meanwhile counts too: it is marked seen below,
        // and what it finalized must not wait for the next one.
        let block = block || heights.has_changed().unwrap_or(true);
        let mut lookup: Vec<Digest> = if block {
            // Waits whose callers gave up are dropped here.
            waiting.retain(|_, replies| {
                replies.retain(|reply| !reply.is_closed());
                !replies.is_empty()
            });
            waiting
                .keys()
                .chain(fresh.iter().map(|(tx, _)| tx))
                .copied()
                .collect()
        } else {
            fresh.iter().map(|(tx, _)| *tx).collect()
        };
        // Entries of one batch wait for the same transaction.
        lookup.sort_unstable();
        lookup.dedup();
        for (tx, reply) in fresh {
            waiting.entry(tx).or_default().push(reply);
        }
        // Marked seen before reading: a block finalized after the read
        // wakes the next round.
        heights.borrow_and_update();
        if let Err(error) = answer_final(&state, &lookup, &mut waiting).await {
            tracing::error!(%error, "could not read receipts");
            for reply in waiting.drain().flat_map(|(_, replies)| replies) {
                let _ = reply.send(Err(WaitError::Unreadable(error.to_string())));
            }
        }
    }
}

/// Answer the waits for each of `txs` that has a committed receipt.
async fn answer_final<E: Runtime>(
    state: &CommittedState<E>,
    txs: &[Digest],
    waiting: &mut HashMap<Digest, Vec<Reply>>,
) -> Result<(), custodia_store::StoreError> {
    let keys: Vec<(Digest, Vec<u8>)> = txs.iter().map(|tx| (*tx, keys::receipt(tx))).collect();
    let mut loaded = Preloaded::default();
    state
        .load(None, keys.iter().map(|(_, key)| key), &mut loaded)
        .await?;
    for (tx, key) in keys {
        let Some(bytes) = loaded.get(&key) else {
            continue;
        };
        let receipt = serde_json::from_slice::<Receipt>(&bytes).map_err(|e| e.to_string());
        for reply in waiting.remove(&tx).unwrap_or_default() {
            let _ = reply.send(match &receipt {
                Ok(receipt) => Ok(receipt.clone()),
                Err(error) => Err(WaitError::BadReceipt {
                    id: tx,
                    error: error.clone(),
                }),
            });
        }
    }
    Ok(())
}
