//! Calendar dates and timestamps as the domain needs them.
//!
//! The ledger never reads a clock: "now" is always the block time (ms since
//! the Unix epoch, UTC) handed in by the caller. Dates (expiry) are calendar
//! days; timestamps from EPCIS keep the exact text they arrived in so they
//! can be written back unchanged.

use std::fmt;

use chrono::{DateTime, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A calendar date, written `YYYY-MM-DD` (ISO 8601, as in CBV master data
/// `cbvmda:itemExpirationDate`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(NaiveDate);

impl Date {
    /// Parses exactly `YYYY-MM-DD` (zero-padded), so writing it back gives
    /// the same text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let date = NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|e| format!("{text:?} is not a date (YYYY-MM-DD): {e}"))?;
        let parsed = Self(date);
        if parsed.to_string() != text {
            return Err(format!("{text:?} is not written as YYYY-MM-DD"));
        }
        Ok(parsed)
    }

    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Self> {
        NaiveDate::from_ymd_opt(year, month, day).map(Self)
    }

    /// The UTC calendar day containing `ms` (ms since the Unix epoch).
    pub fn of_ms(ms: u64) -> Option<Self> {
        let ms = i64::try_from(ms).ok()?;
        DateTime::from_timestamp_millis(ms).map(|t| Self(t.date_naive()))
    }

    /// This date plus `days`.
    pub fn plus_days(self, days: u32) -> Option<Self> {
        self.0
            .checked_add_days(chrono::Days::new(u64::from(days)))
            .map(Self)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// An RFC 3339 timestamp with its original text (EPCIS `eventTime`,
/// sensor `time`): `ms` is for ordering and arithmetic, `text` for writing
/// the event back exactly as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timestamp {
    pub text: String,
    /// Milliseconds since the Unix epoch, UTC.
    pub ms: i64,
}

impl Timestamp {
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = DateTime::parse_from_rfc3339(text).map_err(|e| {
            format!("{text:?} is not an RFC 3339 date-time with offset (e.g. 2026-03-01T08:00:00.000Z): {e}")
        })?;
        Ok(Self {
            text: text.to_string(),
            ms: t.timestamp_millis(),
        })
    }

    /// A UTC timestamp for `ms`, e.g. for events the ledger writes itself.
    pub fn from_ms(ms: i64) -> Option<Self> {
        let t = DateTime::from_timestamp_millis(ms)?;
        Some(Self {
            text: t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_exact() {
        assert_eq!(Date::parse("2027-01-31").unwrap().to_string(), "2027-01-31");
        assert!(Date::parse("2027-1-31").is_err());
        assert!(Date::parse("2027-02-30").is_err());
        let d = Date::of_ms(0).unwrap();
        assert_eq!(d.to_string(), "1970-01-01");
        assert_eq!(d.plus_days(31).unwrap().to_string(), "1970-02-01");
    }

    #[test]
    fn timestamps_keep_text() {
        let t = Timestamp::parse("2005-04-03T20:33:31.116-06:00").unwrap();
        assert_eq!(t.ms, 1_112_582_011_116);
        assert!(Timestamp::parse("2005-04-03T20:33:31").is_err());
        assert_eq!(
            Timestamp::from_ms(t.ms).unwrap().text,
            "2005-04-04T02:33:31.116Z"
        );
    }
}
