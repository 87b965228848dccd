//! `custodia fhir`: the clinical records from the command line, and the
//! demo's sample records.
//!
//! - `load`: a folder of FHIR JSON (Bundles or single resources) and NDJSON
//!   files into one organisation's node, as transaction Bundles.
//! - `seed`: the demo's clinicians, patients and records.

mod load;
pub(crate) mod seed;

pub use load::{load, LoadConfig};
use std::path::PathBuf;

/// The subcommand's name.
pub const NAME: &str = "fhir";

// `custodia fhir ...` (no doc comment: clap would take it for the
// command's about, over the domain's).
#[derive(clap::Subcommand)]
pub enum Command {
    /// Load every .json (Bundles or single resources) and .ndjson file of a
    /// folder into a node, as FHIR transaction Bundles, with a progress bar.
    #[command(
        after_help = "Example (a synthetic cohort's export, as a hospital clinician):
  custodia fhir load output/fhir --node http://127.0.0.1:8400 --key custodia-demo/st-mary/keys/clinician.key

Transaction Bundles load whole or not at all, batch Bundles entry by entry
(both with their ifNoneExist conditional creates and conditional
references); other Bundles and single resources are sent as transactions of
creates, NDJSON --chunk lines to a Bundle. Directory data (practitioners, organisations, locations)
goes first. A refused file is reported with the server's reason and its FHIRPath
location, and the load goes on; the command fails at the end if any was refused."
    )]
    Load {
        /// The folder to load (not its subfolders).
        dir: PathBuf,
        /// The node's API base URL.
        #[arg(long, default_value = "http://127.0.0.1:8400", env = "CUSTODIA_NODE")]
        node: String,
        /// File holding the writing agent's hex-encoded ed25519 private key
        /// (a clinician or service of the node's organisation).
        #[arg(long)]
        key: PathBuf,
        /// NDJSON resources per Bundle.
        #[arg(long, default_value = "500")]
        chunk: usize,
    },
}

/// Run what the command line asked.
pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Load {
            dir,
            node,
            key,
            chunk,
        } => load(&LoadConfig {
            dir,
            node,
            key: custodia_client::read_key(&key)?,
            chunk,
        }),
    }
}
