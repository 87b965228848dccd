//! Custodia's validator engine, and the toolkit the node's domain services
//! stand on.
//!
//! - `engine`: consensus (one simplex engine per epoch), marshal, the
//!   application that builds and checks blocks, gossip.
//! - `chain`: the finalized chain, its state and mempool.
//! - `submit`: a service signs what its callers ask, admits it, and waits
//!   for finality; the one mapping of admission refusals to HTTP.
//! - `auth`: bearer tokens of registered keys.
//! - `query`: queries over committed state that answer at one finalized
//!   height.
//! - `blocking`: blocking work off the async workers (inline in simulation).
//! - `peers`: calls to other members' nodes (HTTP, or simulated links).
//! - `domain`: what a plugged-in domain gives a node (state module,
//!   HTTP service, OpenAPI paths).

pub mod auth;
pub mod block_budget;
pub mod blocking;
pub mod chain;
pub mod domain;
pub mod engine;
pub mod mempool;
pub mod peers;
pub mod query;
pub mod submit;
pub mod time;

#[cfg(test)]
mod test_support;
