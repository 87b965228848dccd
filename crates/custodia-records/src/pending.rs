//! Vault content written ahead of the chain transaction that records it.
//! Until the chain accepts that transaction the content belongs to no
//! record, so a refused or abandoned write must not leave it behind:
//! `Unrecorded` deletes it when dropped, which covers a request its client
//! gave up on midway. Once the transaction is submitted its fate is the
//! chain's: a task that outlives the request waits for the receipt and
//! deletes the content only if the chain refused it. A write the request
//! stopped waiting for (a timeout) may still become final, and then its
//! content must be there.

use super::{unavailable, Clinical};
use custodia_engine::engine::Runtime;
use custodia_engine::{submit::Ticket, time::within};
use custodia_fhir::Outcome;
use custodia_state::{Receipt, TxStatus};
use custodia_vault::{DiskStore, Hash, KeyRing};
use std::time::Duration;
use tokio::sync::oneshot;

/// How long a submitted write's content waits for a verdict before it is
/// kept for good (a transaction the chain never includes leaves it behind,
/// logged).
const SETTLE_LIMIT: Duration = Duration::from_secs(600);

/// Content in the vault that no final transaction records yet.
pub(super) struct Unrecorded {
    objects: DiskStore,
    keyring: KeyRing,
    hashes: Vec<Hash>,
}

impl Unrecorded {
    pub(super) fn new(objects: &DiskStore, keyring: &KeyRing) -> Self {
        Self {
            objects: objects.clone(),
            keyring: keyring.clone(),
            hashes: Vec::new(),
        }
    }

    /// Guard one more object (and its keys).
    pub(super) fn add(&mut self, hash: Hash) {
        self.hashes.push(hash);
    }

    /// Stop guarding: the chain now decides.
    fn disarm(mut self) -> Vec<Hash> {
        std::mem::take(&mut self.hashes)
    }

    fn discard(objects: &DiskStore, keyring: &KeyRing, hashes: &[Hash]) {
        for hash in hashes {
            if let Err(error) = keyring.shred(hash) {
                tracing::warn!(%error, "could not delete an unrecorded write's key");
            }
            if let Err(error) = objects.delete(hash) {
                tracing::warn!(%error, "could not delete an unrecorded write's content");
            }
        }
    }
}

impl Drop for Unrecorded {
    fn drop(&mut self) {
        Self::discard(&self.objects, &self.keyring, &self.hashes);
    }
}

impl<E: Runtime> Clinical<E> {
    /// Wait (at most `waits.finality`) for submitted transaction `tx`,
    /// which records `content`; the content is deleted if the chain
    /// refuses it, whether or not this request is still waiting by then.
    pub(super) async fn settle(&self, tx: Ticket, content: Unrecorded) -> Result<Receipt, Outcome> {
        let (objects, keyring) = (content.objects.clone(), content.keyring.clone());
        let hashes = content.disarm();
        let receipts = self.receipts.clone();
        let (verdict, receiver) = oneshot::channel();
        let clock = self.context.child("settle");
        self.spawn("settle", async move {
            let receipt = within(&clock, SETTLE_LIMIT, receipts.when_final(&tx)).await;
            match &receipt {
                Some(Ok(receipt)) if matches!(receipt.status, TxStatus::Rejected { .. }) => {
                    Unrecorded::discard(&objects, &keyring, &hashes);
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    tracing::warn!(tx = %tx.tx, "a write's transaction got no verdict; its content is kept in case it is still recorded");
                }
            }
            let _ = verdict.send(receipt);
        });
        match within(&self.context, self.waits.finality, receiver).await {
            Some(Ok(Some(receipt))) => receipt.map_err(unavailable),
            Some(Err(_)) => Err(unavailable("a write's settling task stopped")),
            Some(Ok(None)) | None => Err(super::finality_timeout()),
        }
    }
}
