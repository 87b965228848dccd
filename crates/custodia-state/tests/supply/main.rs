//! Drug traceability through real signed transactions: the supply rules as
//! the state machine applies them, device identity, and counterfeit
//! signals kept although their transaction is refused.
//!
//! [`world`] builds the chain every test starts from; each other module is
//! one topic.

#[path = "../common/mod.rs"]
mod common;
mod world;

mod bounds;
mod custody;
mod devices;
mod epcis;
mod parties;
mod recall;
