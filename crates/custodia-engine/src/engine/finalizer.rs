//! Applies finalized blocks, in order, as marshal delivers them, and tells
//! the epoch orchestrator when an epoch's last block is final.

use crate::engine::{committees::Committees, PeerSets, Runtime, SharedChain};
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

/// What the finalizer applies blocks to and tells about them.
pub struct Finalizer<E: Runtime, P> {
    pub chain: SharedChain<E>,
    pub committees: Committees,
    pub epoch_length: u64,
    /// Told when the next epoch's committee is known.
    pub transitions: mpsc::UnboundedSender<Transition>,
    /// The p2p layer, told who the members are.
    pub peer_sets: P,
    /// The committed height it starts from.
    pub start_height: u64,
}

/// Apply blocks until the queue closes. A block that does not reproduce
/// its header's state root means this node has diverged: it stops rather
/// than serve a wrong state.
pub async fn run<E: Runtime, P: PeerSets>(
    finalizer: Finalizer<E, P>,
    mut blocks: mpsc::UnboundedReceiver<(Digested<Block>, Exact)>,
) {
    let Finalizer {
        chain,
        committees,
        epoch_length,
        transitions,
        mut peer_sets,
        start_height,
    } = finalizer;
    let mut members = None;
    announce_members(&chain, &mut members, &mut peer_sets, start_height).await;
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
        // A vote may have changed who the members are; the network must
        // admit a member voted in (it syncs, then votes from its epoch)
        // and stop admitting one voted out.
        if block.txs().iter().any(|tx| tx.body().is_governance()) {
            announce_members(&chain, &mut members, &mut peer_sets, block.height()).await;
        }
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

/// Tell the p2p layer about the members if they changed since `last`.
async fn announce_members<E: Runtime>(
    chain: &SharedChain<E>,
    last: &mut Option<Vec<u8>>,
    peer_sets: &mut impl PeerSets,
    height: u64,
) {
    let Ok(Some(record)) = chain.lock().await.members_record().await else {
        return;
    };
    if last.as_ref() == Some(&record) {
        return;
    }
    match serde_json::from_slice::<Vec<custodia_state::records::Member>>(&record) {
        Ok(members) => {
            let peers = members
                .into_iter()
                .map(|m| (m.validator_key, m.p2p))
                .collect();
            // Ids must increase; the genesis set is announced as 0 by the runner.
            peer_sets.update(height + 1, peers);
            *last = Some(record);
        }
        Err(error) => tracing::error!(%error, "member list in state does not decode"),
    }
}
