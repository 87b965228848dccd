//! Transactions admitted through one node's API reach every node's mempool,
//! so whichever validator leads next can include them. Batched: one p2p
//! message carries everything admitted in the last few milliseconds.

use crate::{
    chain::check_tx,
    engine::{Runtime, SharedChain},
};
use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use commonware_p2p::{Receiver, Recipients, Sender};
use commonware_utils::channel::mpsc;
use custodia_types::{PublicKey, MAX_TX_BYTES};
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

/// Frame transactions as `u32 length, bytes` pairs (also the body of the
/// API's batch submission).
pub fn encode(batch: &[Bytes]) -> Bytes {
    let mut out = BytesMut::with_capacity(batch.iter().map(|t| t.len() + 4).sum());
    for tx in batch {
        out.put_u32(tx.len() as u32);
        out.put_slice(tx);
    }
    out.freeze()
}

/// Split a framed batch; `None` if it is malformed.
pub fn decode(mut bytes: Bytes) -> Option<Vec<Bytes>> {
    let mut txs = Vec::new();
    while bytes.has_remaining() {
        if bytes.remaining() < 4 {
            return None;
        }
        let len = bytes.get_u32() as usize;
        if len > MAX_TX_BYTES || len > bytes.remaining() {
            return None;
        }
        txs.push(bytes.split_to(len));
    }
    Some(txs)
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
                let _ = sender.send(Recipients::All, encode(&batch), false);
                batch.clear();
                batch_bytes = 0;
            },
            message = receiver.recv() => {
                let Ok((peer, bytes)) = message else { return };
                let Some(txs) = decode(Bytes::copy_from_slice(bytes.as_ref())) else {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_round_trip_and_garbage_is_refused() {
        let txs = vec![
            Bytes::from_static(b"one"),
            Bytes::from_static(b""),
            Bytes::from_static(b"three"),
        ];
        assert_eq!(decode(encode(&txs)).unwrap(), txs);
        assert!(decode(Bytes::from_static(&[0, 0, 0, 9, 1])).is_none());
        assert!(decode(Bytes::from_static(&[0, 0])).is_none());
        let huge = ((MAX_TX_BYTES + 1) as u32).to_be_bytes();
        assert!(decode(Bytes::copy_from_slice(&huge)).is_none());
    }
}
