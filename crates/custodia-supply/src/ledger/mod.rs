//! The rules: pure functions that apply one action, at a given block time,
//! by an acting organisation, to a [`SupplyStore`].
//!
//! Each function checks before it writes where it can, but an action over
//! several items may fail after writing some of them. Callers therefore run
//! every action on a transactional overlay and discard its writes when it
//! returns an error; the chain does this per transaction, [`submit`] does
//! it for any `Clone` store. A refusal that is a counterfeit signal is then
//! recorded separately ([`record_refusal`]).
//!
//! Nothing here reads a clock or does I/O: "now" is `Ctx::at_ms`, the block
//! time, so every node computes the same state.

mod action;
mod aggregation;
mod cold_chain;
mod custody;
mod end_of_life;
mod error;
mod export;
mod from_epcis;
mod items;
mod products;
mod queries;
mod signals;
mod store;

pub use action::{apply, submit, SupplyAction};
pub use aggregation::{pack_into, unpack};
pub use cold_chain::{
    record_readings, register_device, MAX_EXCURSIONS_PER_PACK, MAX_READING_AGE_MS,
};
pub use custody::{receive, ship, Receive, Ship};
pub use end_of_life::{decommission, dispense, recall_lot};
pub use error::SupplyError;
pub use export::pack_events;
pub use from_epcis::{apply_events, link_party, ORG_URI_PREFIX};
pub use products::{commission, register_product, Commission};
pub use queries::{
    recall_report, trace_lot, trace_pack, verify, LotTrace, PackPosition, PackTrace, RecallReport,
    Verification, VerifyRequest,
};
pub use signals::{record_refusal, report_suspect, MAX_SIGNAL_RECORDS};
pub use store::{keys, MemoryStore, SupplyStore};

use crate::model::{OrgId, TrailEntry, TrailEvent};

/// Who acts, when, and under which transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ctx {
    /// The acting organisation (the signer's).
    pub org: OrgId,
    /// The signing agent: a person's, system's or device's key.
    pub agent: String,
    /// Block time, ms since the Unix epoch.
    pub at_ms: u64,
    /// The transaction's reference (its id on the chain), recorded in
    /// trails as the evidence's address.
    pub tx: String,
    /// The EPCIS eventID being applied, if any.
    pub epcis_event_id: Option<String>,
}

impl Ctx {
    pub fn new(org: OrgId, agent: &str, at_ms: u64, tx: &str) -> Self {
        Self {
            org,
            agent: agent.to_string(),
            at_ms,
            tx: tx.to_string(),
            epcis_event_id: None,
        }
    }

    pub(crate) fn with_event_id(&self, id: Option<String>) -> Self {
        Self {
            epcis_event_id: id,
            ..self.clone()
        }
    }

    pub(crate) fn entry(&self, event: TrailEvent) -> TrailEntry {
        TrailEntry {
            at_ms: self.at_ms,
            org: self.org.clone(),
            agent: self.agent.clone(),
            tx: self.tx.clone(),
            epcis_event_id: self.epcis_event_id.clone(),
            event,
        }
    }
}
