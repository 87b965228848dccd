//! `custodia fhir`: FHIR work from the command line.
//!
//! - `load`: a folder of FHIR JSON (Bundles or single resources) and NDJSON
//!   files into one organisation's node, as transaction Bundles.

mod load;

pub use load::{load, LoadConfig};
