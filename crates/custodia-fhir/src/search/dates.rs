//! FHIR dates as time ranges: `2026` is the whole year, `2026-11-25` the
//! whole day, `2026-11-25T10:00:00Z` one second. Search compares ranges
//! (R4 3.1.1.5.4), so a value of any precision can be compared with a
//! query of any other.

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

/// `[low, high)` in milliseconds since the epoch (UTC). Open ends (a
/// Period without `end`) are `i64::MIN` / `i64::MAX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DateRange {
    pub low: i64,
    pub high: i64,
}

impl DateRange {
    /// A FHIR `date`, `dateTime` or `instant`; `None` if it is none of them.
    /// A time without a zone is taken as UTC.
    pub fn parse(text: &str) -> Option<Self> {
        let day = |y: i32, m: u32, d: u32| NaiveDate::from_ymd_opt(y, m, d);
        let start = |date: NaiveDate| {
            date.and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc().timestamp_millis())
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        match text.len() {
            4 if digits(text) => {
                let year: i32 = text.parse().ok()?;
                Some(Self {
                    low: start(day(year, 1, 1)?)?,
                    high: start(day(year + 1, 1, 1)?)?,
                })
            }
            7 => {
                let (y, m) = text.split_once('-')?;
                let (year, month): (i32, u32) = (y.parse().ok()?, m.parse().ok()?);
                let next = if month == 12 {
                    day(year + 1, 1, 1)
                } else {
                    day(year, month + 1, 1)
                };
                Some(Self {
                    low: start(day(year, month, 1)?)?,
                    high: start(next?)?,
                })
            }
            10 => {
                let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
                Some(Self {
                    low: start(date)?,
                    high: start(date.succ_opt()?)?,
                })
            }
            _ => {
                let instant = DateTime::parse_from_rfc3339(text)
                    .map(|t| t.timestamp_millis())
                    .or_else(|_| {
                        NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                            .map(|t| t.and_utc().timestamp_millis())
                    })
                    .ok()?;
                // Precision: milliseconds if given, else the second.
                let width = if text.contains('.') { 1 } else { 1000 };
                Some(Self {
                    low: instant,
                    high: instant + width,
                })
            }
        }
    }

    /// A Period: from its start to its end, either open.
    pub fn period(start: Option<&str>, end: Option<&str>) -> Option<Self> {
        let low = match start {
            Some(s) => Self::parse(s)?.low,
            None => i64::MIN,
        };
        let high = match end {
            Some(e) => Self::parse(e)?.high,
            None => i64::MAX,
        };
        (start.is_some() || end.is_some()).then_some(Self { low, high })
    }
}

/// A date search's comparison (R4 3.1.1.5.4), on the value's range and the
/// query's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefix {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    /// Starts after the query's range.
    Sa,
    /// Ends before the query's range.
    Eb,
    /// Approximately: the ranges overlap.
    Ap,
}

impl Prefix {
    /// Split `ge2026-01-01` into its prefix and date (no prefix: `eq`).
    pub fn split(param: &str) -> (Self, &str) {
        let prefixes = [
            ("eq", Self::Eq),
            ("ne", Self::Ne),
            ("gt", Self::Gt),
            ("lt", Self::Lt),
            ("ge", Self::Ge),
            ("le", Self::Le),
            ("sa", Self::Sa),
            ("eb", Self::Eb),
            ("ap", Self::Ap),
        ];
        prefixes
            .iter()
            .find_map(|(text, prefix)| param.strip_prefix(text).map(|rest| (*prefix, rest)))
            .unwrap_or((Self::Eq, param))
    }

    /// Does a value spanning `value` satisfy this comparison with `query`?
    pub fn holds(self, value: DateRange, query: DateRange) -> bool {
        let within = value.low >= query.low && value.high <= query.high;
        match self {
            Self::Eq => within,
            Self::Ne => !within,
            Self::Gt => value.high > query.high,
            Self::Lt => value.low < query.low,
            Self::Ge => value.high > query.high || within,
            Self::Le => value.low < query.low || within,
            Self::Sa => value.low >= query.high,
            Self::Eb => value.high <= query.low,
            Self::Ap => value.low < query.high && query.low < value.high,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(text: &str) -> DateRange {
        DateRange::parse(text).unwrap()
    }

    #[test]
    fn precision_decides_the_range() {
        let day = range("2026-11-25");
        assert_eq!(day.high - day.low, 86_400_000);
        let year = range("2024");
        assert_eq!(year.high - year.low, 366 * 86_400_000, "a leap year");
        assert_eq!(range("2026-12").high, range("2027-01").low);
        let second = range("2026-11-25T10:00:00Z");
        assert_eq!(second.high - second.low, 1000);
        assert_eq!(range("2026-11-25T12:00:00+02:00"), second);
        assert_eq!(range("2026-11-25T10:00:00"), second, "no zone: UTC");
        assert_eq!(range("2026-11-25T10:00:00.250Z").low, second.low + 250);
        for not_a_date in [
            "",
            "yesterday",
            "2026-13",
            "2026-02-30",
            "20261125",
            "2026-11-25T25:00:00Z",
        ] {
            assert_eq!(DateRange::parse(not_a_date), None, "{not_a_date}");
        }
    }

    #[test]
    fn comparisons_follow_r4_on_ranges() {
        let moment = range("2026-11-25T10:00:00Z");
        let holds = |param: &str| {
            let (prefix, date) = Prefix::split(param);
            prefix.holds(moment, range(date))
        };
        assert!(holds("2026-11-25") && holds("2026-11") && holds("eq2026"));
        assert!(!holds("2026-11-24") && holds("ne2026-11-24"));
        assert!(holds("gt2026-11-24") && !holds("gt2026-11-25"));
        assert!(holds("ge2026-11-25") && holds("le2026-11-25"));
        assert!(holds("lt2026-11-26") && !holds("lt2026-11-25"));
        assert!(holds("sa2026-11-24") && !holds("sa2026-11-25"));
        assert!(holds("eb2026-11-26") && holds("ap2026-11"));
        // An open Period overlaps everything after its start.
        let open = DateRange::period(Some("2026-01-01"), None).unwrap();
        assert!(Prefix::Gt.holds(open, range("2030")));
        assert!(!Prefix::Lt.holds(open, range("2026")));
        assert_eq!(DateRange::period(None, None), None);
    }
}
