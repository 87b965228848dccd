//! Compound identifiers: a serialised pack (SGTIN), a lot (LGTIN) and a
//! location (SGLN), plus the [`Epc`] sum of everything EPCIS may name.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Gln, GlnExtension, Gtin, Lot, Serial, Sscc};

/// One serialised pack: GTIN + serial. This is the DSCSA "product
/// identifier" without lot and expiry (those are the pack's attributes).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Sgtin {
    pub gtin: Gtin,
    pub serial: Serial,
}

/// A lot of one product: GTIN + batch/lot. Recalls name lots.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Lgtin {
    pub gtin: Gtin,
    pub lot: Lot,
}

/// A location: a GLN, optionally with an extension for a sub-location.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Sgln {
    pub gln: Gln,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<GlnExtension>,
}

impl Sgtin {
    pub fn new(gtin: Gtin, serial: Serial) -> Self {
        Self { gtin, serial }
    }
}

impl Lgtin {
    pub fn new(gtin: Gtin, lot: Lot) -> Self {
        Self { gtin, lot }
    }
}

/// GS1 human-readable interpretation, as printed under the pack's barcode.
impl fmt::Display for Sgtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(01){}(21){}", self.gtin, self.serial)
    }
}

impl fmt::Display for Lgtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(01){}(10){}", self.gtin, self.lot)
    }
}

impl fmt::Display for Sgln {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.extension {
            Some(ext) => write!(f, "(414){}(254){}", self.gln, ext),
            None => write!(f, "(414){}", self.gln),
        }
    }
}

/// Any identifier an EPCIS event in this domain may carry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Epc {
    /// A pack.
    Sgtin(Sgtin),
    /// A logistic unit (case, pallet).
    Sscc(Sscc),
    /// A location.
    Sgln(Sgln),
    /// A lot (a class, not an instance: appears in quantity lists).
    Lgtin(Lgtin),
}

impl Epc {
    /// The identifier scheme's name, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Epc::Sgtin(_) => "SGTIN",
            Epc::Sscc(_) => "SSCC",
            Epc::Sgln(_) => "SGLN",
            Epc::Lgtin(_) => "LGTIN",
        }
    }
}

impl fmt::Display for Epc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Epc::Sgtin(id) => id.fmt(f),
            Epc::Sscc(id) => write!(f, "(00){id}"),
            Epc::Sgln(id) => id.fmt(f),
            Epc::Lgtin(id) => id.fmt(f),
        }
    }
}
