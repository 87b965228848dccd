//! Clinical records, consent and the audit trail, as the state machine
//! enforces them.
//!
//! [`world`] builds the chain every test starts from; each other module is
//! one topic.

#[path = "../common/mod.rs"]
mod common;
mod world;

mod access;
mod batches;
mod consent;
mod directory;
mod erasure;
mod policy;
mod staging;
mod writes;
