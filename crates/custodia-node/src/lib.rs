//! A Custodia validator node.

pub mod auth;
pub mod block_budget;
pub mod chain;
pub mod clinical;
pub mod config;
pub mod engine;
pub mod home;
pub mod init;
pub mod ledger;
pub mod mempool;
pub mod record_proof;
pub mod run;
pub mod submit;
pub mod supply;
pub mod verify;
