//! A product (one GTIN) as its manufacturer declares it: the storage
//! conditions every pack of it must be kept in, and its shelf life.

use serde::{Deserialize, Serialize};

use crate::gs1::Gtin;

use super::cold::{ExcursionKind, Reading};
use super::OrgId;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub gtin: Gtin,
    pub name: String,
    pub manufacturer: OrgId,
    pub storage: StorageRange,
    /// Longest allowed time from commissioning to expiry.
    pub shelf_life_days: u32,
    /// Digits of the GS1 company prefix in the GTIN, when known: needed to
    /// write its packs as EPC URNs (Digital Links need nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_prefix_len: Option<u8>,
}

/// Declared storage conditions, e.g. 2–8 °C, 30–65 % RH, with a tolerated
/// excursion time (stability data usually allows a short time outside).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StorageRange {
    pub min_celsius: f64,
    pub max_celsius: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_humidity_pct: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_humidity_pct: Option<f64>,
    /// An excursion longer than this compromises the packs exposed to it.
    pub max_excursion_minutes: u32,
}

impl StorageRange {
    /// A temperature range only (no humidity condition).
    pub fn celsius(min_celsius: f64, max_celsius: f64, max_excursion_minutes: u32) -> Self {
        Self {
            min_celsius,
            max_celsius,
            min_humidity_pct: None,
            max_humidity_pct: None,
            max_excursion_minutes,
        }
    }
}

impl Product {
    /// Checks the declaration makes sense; the message says what to fix.
    pub fn validate(&self) -> Result<(), String> {
        let name = self.name.trim();
        if name.is_empty() || self.name.chars().count() > 200 {
            return Err("product name must be 1 to 200 characters".into());
        }
        if self.shelf_life_days == 0 {
            return Err("shelf life must be at least 1 day".into());
        }
        if let Some(cp) = self.company_prefix_len {
            if !(6..=12).contains(&cp) {
                return Err(format!("GS1 company prefix length {cp} must be 6 to 12"));
            }
        }
        self.storage.validate()
    }
}

impl StorageRange {
    pub fn validate(&self) -> Result<(), String> {
        let s = self;
        if !s.min_celsius.is_finite() || !s.max_celsius.is_finite() || s.min_celsius > s.max_celsius
        {
            return Err(format!(
                "storage temperature range {}..{} °C must be finite with min ≤ max",
                s.min_celsius, s.max_celsius
            ));
        }
        for h in [s.min_humidity_pct, s.max_humidity_pct]
            .into_iter()
            .flatten()
        {
            if !(0.0..=100.0).contains(&h) {
                return Err(format!("humidity bound {h} % must be within 0..100"));
            }
        }
        if let (Some(lo), Some(hi)) = (s.min_humidity_pct, s.max_humidity_pct) {
            if lo > hi {
                return Err(format!("humidity range {lo}..{hi} % must have min ≤ max"));
            }
        }
        Ok(())
    }

    /// Which bounds `reading` breaks (empty when it is in range). A
    /// quantity the reading does not measure breaks nothing.
    pub fn violations(&self, reading: &Reading) -> Vec<ExcursionKind> {
        let mut out = Vec::new();
        if let Some(c) = reading.celsius {
            if c < self.min_celsius {
                out.push(ExcursionKind::TooCold);
            }
            if c > self.max_celsius {
                out.push(ExcursionKind::TooWarm);
            }
        }
        if let Some(h) = reading.humidity_pct {
            if self.min_humidity_pct.is_some_and(|lo| h < lo) {
                out.push(ExcursionKind::TooDry);
            }
            if self.max_humidity_pct.is_some_and(|hi| h > hi) {
                out.push(ExcursionKind::TooHumid);
            }
        }
        out
    }
}
