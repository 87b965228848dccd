//! Counterfeit signals: attempts the rules refused but that a verifier must
//! hear about. A refused transaction changes nothing, so these are stored
//! separately from custody (see `ledger::record_refusal`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::gs1::Sgtin;

use super::OrgId;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CounterfeitSignal {
    /// An event, or a verification, named a serial that was never commissioned.
    UnknownSerial,
    /// A dispensed serial was presented for dispensing again: a clone.
    DispensedTwice,
    /// Someone tried to receive a pack that was not shipped to them.
    ReceiveWithoutShip,
    /// Someone other than the product's manufacturer tried to commission it.
    CommissionedByNonManufacturer,
}

impl fmt::Display for CounterfeitSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CounterfeitSignal::UnknownSerial => "unknown serial",
            CounterfeitSignal::DispensedTwice => "dispensed twice (clone)",
            CounterfeitSignal::ReceiveWithoutShip => "receive without a matching ship",
            CounterfeitSignal::CommissionedByNonManufacturer => {
                "commissioned by someone other than the manufacturer"
            }
        })
    }
}

/// One recorded signal: the evidence of the refused attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalRecord {
    pub sgtin: Sgtin,
    pub signal: CounterfeitSignal,
    pub at_ms: u64,
    /// The organisation whose attempt raised it (or who reported it).
    pub by: OrgId,
    pub agent: String,
    pub tx: String,
    /// The refusal's message or the reporter's note.
    pub detail: String,
}
