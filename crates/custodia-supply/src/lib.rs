//! Custodia's drug traceability domain: GS1 identifiers, EPCIS 2.0
//! events, the custody rules of serialised packs from manufacture to
//! dispense, the cold chain, and DSCSA-style verification; its
//! transaction body ([`body`]) and the state module that plugs it into the
//! chain ([`module`]). Pure and deterministic (no I/O, clock or
//! randomness), so the chain's state machine can run it on every node.
//! See README.md.

pub mod body;
pub mod epcis;
pub mod gs1;
pub mod ledger;
pub mod model;
#[cfg(feature = "chain")]
pub mod module;
pub mod time;
