//! A Custodia validator node: wiring. It opens the node's home, starts the
//! validator engine (`custodia-engine`) and the domain services
//! (`custodia-records`, `custodia-supply-service`), and serves their routes
//! beside the ledger's API.

pub mod config;
pub mod home;
pub mod init;
pub mod ledger;
pub mod record_proof;
pub mod run;
pub mod verify;
