//! Custodia's deterministic state machine.
//!
//! The node asks [`StateMachine::read_set`] which keys a block will touch,
//! loads them from its authenticated store, then calls
//! [`StateMachine::execute_block`] to get the block's writes and receipts.
//! Nothing here performs I/O, so every node (and `custodia verify`) computes
//! the same result from the same inputs.

mod domains;
mod error;
pub mod keys;
mod machine;
pub mod modules;
pub mod policy;
pub mod records;
mod view;

pub use domains::{DomainError, Domains, DuplicateDomain};
pub use error::Rejection;

/// Largest value one state key may hold: the state store refuses to read
/// back anything larger, so the machine refuses a transaction that would
/// write it (a block holding one could never be proposed again).
pub const MAX_STATE_VALUE: usize = 64 * 1024;
pub use machine::{BlockOutcome, StateMachine};
pub use records::{EntryReceipt, Receipt, TxStatus};
pub use view::{MapState, Overlay, Preloaded, StateRead, WriteSet};
