//! Transactions admitted through one node's API reach every node's mempool,
//! so whichever validator leads next can include them. Batched: one p2p
//! message carries everything admitted in the last few milliseconds.

use crate::{
    chain::check_tx,
    engine::{Runtime, SharedChain},
};
use bytes::Bytes;
use commonware_p2p::{Receiver, Recipients, Sender};
use commonware_utils::channel::mpsc;
use custodia_types::{
    framing::{decode_txs, encode_txs},
    PublicKey,
};
use std::time::Duration;

/// How long admitted transactions wait to be sent together.
const BATCH_WINDOW: Duration = Duration::from_millis(10);
/// Largest batch sent in one message.
pub const MAX_BATCH_BYTES: usize = 1 << 20;

/// Where the API hands transactions it admitted.
#[derive(Clone)]
pub struct Gossip {
    outbox: mpsc::UnboundedSender<Bytes>,
}

impl Gossip {
    pub fn new() -> (Self, mpsc::UnboundedReceiver<Bytes>) {
        let (outbox, receiver) = mpsc::unbounded_channel();
        (Self { outbox }, receiver)
    }

    /// Share an admitted transaction with the other validators.
    pub fn publish(&self, tx: Bytes) {
        let _ = self.outbox.send(tx);
    }
}

/// Send our admitted transactions out; admit the ones peers send in.
pub async fn run<E: Runtime>(
    context: E,
    chain: SharedChain<E>,
    (mut sender, mut receiver): (
        impl Sender<PublicKey = PublicKey>,
        impl Receiver<PublicKey = PublicKey>,
    ),
    mut outbox: mpsc::UnboundedReceiver<Bytes>,
) {
    // Only its stateless checks are used here (no module is asked), outside
    // the chain lock.
    let machine = custodia_state::StateMachine::new(
        chain.lock().await.machine().chain_id(),
        custodia_state::Domains::none(),
    );
    let mut batch: Vec<Bytes> = Vec::new();
    let mut batch_bytes = 0usize;
    loop {
        commonware_macros::select! {
            tx = outbox.recv() => {
                let Some(tx) = tx else { return };
                batch_bytes += tx.len() + 4;
                batch.push(tx);
                // Gather what else arrives in the window, then send once.
                if batch_bytes < MAX_BATCH_BYTES {
                    context.sleep(BATCH_WINDOW).await;
                    while let Ok(tx) = outbox.try_recv() {
                        batch_bytes += tx.len() + 4;
                        batch.push(tx);
                        if batch_bytes >= MAX_BATCH_BYTES {
                            break;
                        }
                    }
                }
                let _ = sender.send(Recipients::All, encode_txs(&batch), false);
                batch.clear();
                batch_bytes = 0;
            },
            message = receiver.recv() => {
                let Ok((peer, bytes)) = message else { return };
                let Some(txs) = decode_txs(Bytes::copy_from_slice(bytes.as_ref())) else {
                    tracing::warn!(peer = %custodia_types::key_hex(&peer), "malformed transaction batch from peer");
                    continue;
                };
                // Signatures first, without holding the chain.
                let checked: Vec<_> = txs.iter().filter_map(|tx| check_tx(&machine, tx).ok()).collect();
                let mut chain = chain.lock().await;
                for tx in checked {
                    // Refusals are expected (already final, already pending).
                    let _ = chain.admit_checked(tx).await;
                }
            },
        }
    }
}
