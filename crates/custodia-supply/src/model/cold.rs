//! Cold chain: sensor readings, devices, and excursions as evidence.

use serde::{Deserialize, Serialize};

use crate::gs1::Gtin;

use super::{OrgId, ShipmentRef};

/// One measurement from a device. Either quantity may be missing (a
/// thermometer reports no humidity), not both.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// Device time, ms since the Unix epoch (UTC).
    pub time_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub celsius: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub humidity_pct: Option<f64>,
}

impl Reading {
    pub fn celsius(time_ms: u64, celsius: f64) -> Self {
        Self {
            time_ms,
            celsius: Some(celsius),
            humidity_pct: None,
        }
    }
}

/// What a batch of readings was measuring: the inside of one shipment (a
/// truck's or a shipper's logger), or the reporting organisation's own
/// premises (a warehouse or pharmacy fridge), optionally one location there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadingScope {
    Shipment(ShipmentRef),
    Site {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        location: Option<String>,
    },
}

/// Which bound was broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExcursionKind {
    TooCold,
    TooWarm,
    TooDry,
    TooHumid,
}

/// The extreme values seen during an excursion.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ValueSpan {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_celsius: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_celsius: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_humidity_pct: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_humidity_pct: Option<f64>,
}

impl ValueSpan {
    pub fn add(&mut self, r: &Reading) {
        fn lo(a: Option<f64>, b: Option<f64>) -> Option<f64> {
            match (a, b) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        }
        fn hi(a: Option<f64>, b: Option<f64>) -> Option<f64> {
            match (a, b) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            }
        }
        self.min_celsius = lo(self.min_celsius, r.celsius);
        self.max_celsius = hi(self.max_celsius, r.celsius);
        self.min_humidity_pct = lo(self.min_humidity_pct, r.humidity_pct);
        self.max_humidity_pct = hi(self.max_humidity_pct, r.humidity_pct);
    }

    /// " (3.1–12.6 °C, 40–80 % RH)", or "" when nothing was measured.
    pub fn describe(&self) -> String {
        let range = |lo: Option<f64>, hi: Option<f64>, unit: &str| match (lo, hi) {
            (Some(lo), Some(hi)) if lo == hi => Some(format!("{lo} {unit}")),
            (Some(lo), Some(hi)) => Some(format!("{lo}–{hi} {unit}")),
            _ => None,
        };
        let parts: Vec<String> = [
            range(self.min_celsius, self.max_celsius, "°C"),
            range(self.min_humidity_pct, self.max_humidity_pct, "% RH"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if parts.is_empty() {
            String::new()
        } else {
            format!(" ({})", parts.join(", "))
        }
    }
}

/// Evidence that packs of one product were out of their storage range for
/// longer than allowed: recorded on every pack that was in the measured
/// custody during the span.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Excursion {
    /// `{device}@{from_ms}/{gtin}`: stable while an open excursion grows.
    pub id: String,
    pub device: String,
    /// The device's organisation, whose custody was measured.
    pub org: OrgId,
    pub scope: ReadingScope,
    pub gtin: Gtin,
    /// First out-of-range reading.
    pub from_ms: u64,
    /// First reading back in range, or the last reading so far.
    pub until_ms: u64,
    /// No in-range reading has been seen yet: the span may still grow.
    pub ongoing: bool,
    pub allowed_minutes: u32,
    /// Out-of-range readings counted.
    pub readings: u32,
    pub values: ValueSpan,
    pub kinds: Vec<ExcursionKind>,
}

impl Excursion {
    pub fn minutes(&self) -> u64 {
        self.until_ms.saturating_sub(self.from_ms) / 60_000
    }

    /// How long, in words a pharmacist reads: minutes, or seconds when
    /// under one (a zero-tolerance product is flagged by any excursion).
    pub fn duration_text(&self) -> String {
        let ms = self.until_ms.saturating_sub(self.from_ms);
        if ms >= 60_000 {
            format!("{} min", ms / 60_000)
        } else if ms >= 1000 {
            format!("{:.1} s", ms as f64 / 1000.0)
        } else {
            format!("{ms} ms")
        }
    }
}

/// A run of out-of-range readings not yet closed by an in-range one, kept
/// per device and product between batches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpenExcursion {
    pub gtin: Gtin,
    pub from_ms: u64,
    pub last_ms: u64,
    pub readings: u32,
    pub values: ValueSpan,
    pub kinds: Vec<ExcursionKind>,
}

/// A registered sensor: it belongs to one organisation, and its readings
/// speak only about that organisation's custody.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub id: String,
    pub org: OrgId,
    pub registered_at_ms: u64,
    /// Time of the last accepted reading: batches must move forward.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reading_ms: Option<u64>,
    /// What the last batch measured; open excursions belong to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<ReadingScope>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub open: Vec<OpenExcursion>,
}
