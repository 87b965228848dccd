//! Node-signed actions asked for at about the same time go out as one
//! batch transaction (`Body::Batch`): one signature to make, one for every
//! validator to check, one nonce, one mempool entry, one gossip frame and
//! one receipt to wait for, instead of one each per FHIR write or audited
//! read. Each action keeps its own outcome and id (see [`Ticket`]).
//!
//! One task signs and admits, one batch at a time; while it works, the
//! next requests queue up, so batches grow with load by themselves. A lone
//! request waits at most [`GATHER`] for company, which is small beside the
//! block interval it waits for anyway.

use super::{sign_and_admit, Ticket};
use crate::{
    chain::AdmitError,
    engine::{gossip::Gossip, Runtime, SharedChain},
    time::within,
};
use commonware_codec::EncodeSize as _;
use custodia_types::{Body, PrivateKey, MAX_BATCH_ENTRIES, MAX_TX_BYTES};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How long the first request of a batch waits for others.
pub const GATHER: Duration = Duration::from_millis(5);
/// Room left in a transaction for what is not the body: chain id (at most
/// 64 bytes), signer, nonce, signature and framing.
const ENVELOPE_BYTES: usize = 512;
/// Requests waiting for the batcher before callers wait for room.
const QUEUE: usize = 8192;

struct Request {
    body: Body,
    reply: oneshot::Sender<Result<Ticket, AdmitError>>,
}

/// A handle to the node's batching signer. Cheap to clone.
#[derive(Clone)]
pub struct Batcher {
    queue: mpsc::Sender<Request>,
}

/// What a batcher signs with, and where it sends what it signed.
pub struct Signing<E: Runtime> {
    pub chain: SharedChain<E>,
    pub gossip: Gossip,
    pub chain_id: String,
    pub key: PrivateKey,
}

impl Batcher {
    /// Start the batching task on `context`. The task ends when the last
    /// handle is dropped.
    pub fn start<E: Runtime>(context: E, signing: Signing<E>) -> Self {
        let (queue, requests) = mpsc::channel(QUEUE);
        context
            .child("batcher")
            .spawn(move |context| run(context, signing, requests));
        Self { queue }
    }

    /// Sign `body` (alone or in a batch), admit and gossip it; where it
    /// landed.
    pub async fn submit(&self, body: Body) -> Result<Ticket, AdmitError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || AdmitError::Stopped;
        self.queue
            .send(Request { body, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run<E: Runtime>(context: E, signing: Signing<E>, mut requests: mpsc::Receiver<Request>) {
    let mut carried: Option<Request> = None;
    loop {
        let first = match carried.take() {
            Some(request) => request,
            None => match requests.recv().await {
                Some(request) => request,
                None => return,
            },
        };
        let mut size = first.body.encode_size();
        let mut batch = vec![first];
        let deadline = context.current() + GATHER;
        while batch.len() < MAX_BATCH_ENTRIES {
            let left = deadline
                .duration_since(context.current())
                .unwrap_or_default();
            let Some(Some(next)) = within(&context, left, requests.recv()).await else {
                break;
            };
            let next_size = next.body.encode_size();
            if size + next_size > MAX_TX_BYTES - ENVELOPE_BYTES {
                carried = Some(next);
                break;
            }
            size += next_size;
            batch.push(next);
        }
        send(&signing, batch).await;
    }
}

/// Sign and admit one batch, answering every request in it. A batch the
/// mempool refuses as a whole is retried one request at a time, so each
/// caller gets the refusal that is its own.
async fn send<E: Runtime>(signing: &Signing<E>, mut batch: Vec<Request>) {
    if batch.len() == 1 {
        let request = batch.remove(0);
        let result = sign(signing, request.body).await.map(Ticket::single);
        let _ = request.reply.send(result);
        return;
    }
    let (bodies, replies): (Vec<Body>, Vec<_>) =
        batch.into_iter().map(|r| (r.body, r.reply)).unzip();
    // Kept for the one-by-one retry (a body is a few hundred bytes).
    let entries = bodies.clone();
    match sign(signing, Body::Batch { entries }).await {
        Ok(tx) => {
            for (reply, index) in replies.into_iter().zip(0u32..) {
                let _ = reply.send(Ok(Ticket::entry(tx, index)));
            }
        }
        Err(error) => {
            tracing::warn!(%error, entries = bodies.len(), "a batch was refused; submitting its entries one by one");
            for (body, reply) in bodies.into_iter().zip(replies) {
                let _ = reply.send(sign(signing, body).await.map(Ticket::single));
            }
        }
    }
}

async fn sign<E: Runtime>(
    signing: &Signing<E>,
    body: Body,
) -> Result<custodia_types::Digest, AdmitError> {
    sign_and_admit(
        &signing.chain,
        &signing.gossip,
        &signing.chain_id,
        &signing.key,
        body,
    )
    .await
}
