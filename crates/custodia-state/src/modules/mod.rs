//! The core's modules: each owns some transaction bodies and the state
//! they touch. Plugged-in domains implement [`Module`] in their own
//! crates (`crate::Domains`).

mod access;
mod clinical;
mod consent;
mod governance;
mod identity;
mod note;

pub use access::{resolve_actor, Access, Actor, AUDIT_LOG};
pub use clinical::{may_erase, may_write_version, Clinical};
pub use consent::Consent;
pub use governance::Governance;
pub use identity::Identity;
pub use note::Note;

use crate::{records::Principal, view::Overlay, Rejection, StateRead};
use custodia_types::{Body, Digest, PublicKey};
use std::collections::BTreeSet;

/// State that a module may read and write while applying a transaction.
pub trait StateWrite: StateRead {
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>);
    fn delete(&mut self, key: Vec<u8>);
}

impl<R: StateRead + ?Sized> StateWrite for Overlay<'_, R> {
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        Overlay::put(self, key, value)
    }
    fn delete(&mut self, key: Vec<u8>) {
        Overlay::delete(self, key)
    }
}

/// Everything a module knows about the transaction it is applying.
/// The transaction an action came in: its id and, for an entry of a
/// batch, the entry's index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin {
    pub tx: Digest,
    pub entry: Option<u32>,
}

pub struct TxContext<'a> {
    pub height: u64,
    /// The block's timestamp (ms since the Unix epoch).
    pub time_ms: u64,
    /// The id this action is filed under: its transaction's id, or, for
    /// an entry of a batch, its entry id (`custodia_types::entry_id`).
    pub tx_id: Digest,
    /// The transaction it came in, for the records that name it (so an
    /// auditor can look it up): its id, and the entry's index in a batch.
    pub origin: Origin,
    pub signer: &'a PublicKey,
    pub principal: &'a Principal,
    pub state: &'a mut dyn StateWrite,
}

/// A domain module of the state machine.
pub trait Module: Send + Sync {
    /// A short name for logs and tests (the state machine decides which
    /// bodies a module applies: `machine::Modules::owner`).
    fn name(&self) -> &'static str;

    /// May this principal send this body at all? Checked at mempool
    /// admission and again when the transaction is applied.
    fn authorize(&self, principal: &Principal, body: &Body) -> Result<(), Rejection>;

    /// Add every key `apply` may read for `tx` (the signer's own keys are
    /// always loaded), so the node can pre-load them.
    fn read_set(&self, signer: &PublicKey, body: &Body, keys: &mut BTreeSet<Vec<u8>>);

    /// Apply an authorized transaction. On error nothing it wrote is kept.
    fn apply(&self, ctx: &mut TxContext<'_>, body: &Body) -> Result<(), Rejection>;

    /// After `apply` refused a transaction and its writes were discarded:
    /// whatever must be recorded because of the refusal itself (a
    /// counterfeit signal), written to a fresh overlay that is kept. The
    /// receipt still says rejected. Must be deterministic like `apply`.
    fn record_refusal(&self, _ctx: &mut TxContext<'_>, _body: &Body, _refusal: &Rejection) {}

    /// Keys `end_block` reads at `height`.
    fn end_block_read_set(&self, _height: u64, _keys: &mut BTreeSet<Vec<u8>>) {}

    /// Runs after a block's transactions (epoch changes and the like).
    fn end_block(&self, _height: u64, _state: &mut dyn StateWrite) {}
}
