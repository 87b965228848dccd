//! Applies finalized blocks, in order, as marshal delivers them, and tells
//! the epoch orchestrator when an epoch's last block is final.

use crate::engine::{committees::Committees, Runtime, SharedChain};
use commonware_actor::Feedback;
use commonware_consensus::{marshal::Update, Reporter};
use commonware_cryptography::Digested;
use commonware_utils::{acknowledgement::Exact, channel::mpsc, Acknowledgement};
use custodia_types::{Block, Digest, PublicKey};

/// Marshal's view of the application: a queue of finalized blocks.
#[derive(Clone)]
pub struct Finalized {
    queue: mpsc::UnboundedSender<(Digested<Block>, Exact)>,
}

impl Reporter for Finalized {
    type Activity = Update<Block>;

    fn report(&mut self, activity: Self::Activity) -> Feedback {
        match activity {
            Update::Block(block, ack) => match self.queue.send((block, ack)) {
                Ok(()) => Feedback::Ok,
                Err(_) => Feedback::Closed,
            },
            Update::Tip(..) => Feedback::Ok,
        }
    }
}

/// The next epoch is ready: its committee and the block it starts from.
pub struct Transition {
    pub epoch: u64,
    pub floor: Digest,
}

pub fn queue() -> (Finalized, mpsc::UnboundedReceiver<(Digested<Block>, Exact)>) {
    let (queue, receiver) = mpsc::unbounded_channel();
    (Finalized { queue }, receiver)
}

/// The committee the state names for `epoch`.
pub async fn committee<E: Runtime>(chain: &SharedChain<E>, epoch: u64) -> Option<Vec<PublicKey>> {
    chain.lock().await.committee(epoch).await.ok().flatten()
}

/// Apply blocks until the queue closes. A block that does not reproduce
/// its header's state root means this node has diverged: it stops rather
/// than serve a wrong state.
pub async fn run<E: Runtime>(
    chain: SharedChain<E>,
    committees: Committees,
    epoch_length: u64,
    mut blocks: mpsc::UnboundedReceiver<(Digested<Block>, Exact)>,
    transitions: mpsc::UnboundedSender<Transition>,
) {
    while let Some((block, ack)) = blocks.recv().await {
        let block = block.inner();
        if let Err(error) = chain.lock().await.finalize(block).await {
            tracing::error!(%error, height = block.height(), "cannot apply finalized block; stopping");
            return;
        }
        tracing::debug!(
            height = block.height(),
            txs = block.txs().len(),
            "finalized"
        );
        if (block.height() + 1) % epoch_length == 0 {
            let epoch = (block.height() + 1) / epoch_length;
            match committee(&chain, epoch).await {
                Some(validators) => {
                    committees.insert(epoch, validators);
                    let _ = transitions.send(Transition {
                        epoch,
                        floor: block.digest(),
                    });
                }
                None => {
                    tracing::error!(
                        epoch,
                        "state names no committee for the next epoch; stopping"
                    );
                    return;
                }
            }
        }
        ack.acknowledge();
    }
}
