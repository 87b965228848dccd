//! A Custodia validator node.

pub mod config;
pub mod home;
pub mod init;
pub mod mempool;
