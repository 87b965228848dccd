//! A Custodia validator node: wiring. It opens the node's home, starts the
//! validator engine (`custodia-engine`), the clinical records service
//! (`custodia-records`) and every plugged-in domain's service
//! ([`domains`]), and serves their routes beside the ledger's API.

#[cfg(feature = "byzantine")]
pub mod byzantine;
pub mod config;
pub mod domains;
pub mod front_door;
pub mod home;
pub mod init;
pub mod ledger;
pub mod record_proof;
pub mod run;
pub mod tls;
pub mod verify;
