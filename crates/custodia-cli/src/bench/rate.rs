//! Fixed-rate (open-loop) load: request `i` is due at `start + i / rate`
//! and is sent then, whatever happened to the ones before it; its latency
//! counts from when it was due, not from when it was sent, so a stall
//! shows in every request it delayed instead of slowing the load down
//! (the coordinated-omission trap of closed loops).

use super::Latencies;
use std::{
    str::FromStr,
    time::{Duration, Instant},
};

/// An offered rate: requests a second, or a share of the maximum the same
/// run measured under saturation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rate {
    PerSecond(f64),
    /// A fraction (0.5 for `50%`).
    OfMax(f64),
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!("{text:?} is not a rate: give requests a second (2000) or a share of the measured maximum (80%)")
        };
        let rate = match text.trim().strip_suffix('%') {
            Some(percent) => Rate::OfMax(percent.trim().parse::<f64>().map_err(|_| bad())? / 100.0),
            None => Rate::PerSecond(text.trim().parse().map_err(|_| bad())?),
        };
        match rate {
            Rate::PerSecond(r) | Rate::OfMax(r) if r.is_finite() && r > 0.0 => Ok(rate),
            _ => Err(bad()),
        }
    }
}

impl Rate {
    /// Requests a second, given the saturated maximum.
    pub fn per_second(self, max: f64) -> f64 {
        match self {
            Rate::PerSecond(rate) => rate,
            Rate::OfMax(share) => share * max,
        }
    }

    /// "2000/s" or "80% (2000/s)".
    pub fn label(self, max: f64) -> String {
        match self {
            Rate::PerSecond(rate) => format!("{rate:.0}/s"),
            Rate::OfMax(share) => format!("{:.0} % ({:.0}/s)", share * 100.0, share * max),
        }
    }
}

/// When each request of a fixed-rate run is due.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    start: Instant,
    rate: f64,
    count: usize,
}

impl Schedule {
    /// `rate` requests a second for `length`, from now.
    pub fn new(rate: f64, length: Duration) -> Self {
        Self {
            start: Instant::now(),
            rate,
            count: (rate * length.as_secs_f64()).ceil().max(1.0) as usize,
        }
    }

    pub fn count(&self) -> usize {
        self.count
    }

    pub fn due(&self, index: usize) -> Instant {
        self.start + Duration::from_secs_f64(index as f64 / self.rate)
    }
}

/// What one fixed-rate run measured.
pub struct RateRun {
    pub label: String,
    /// Answered successfully.
    pub done: usize,
    pub failed: usize,
    pub first_error: Option<String>,
    /// From the first due time to the last answer.
    pub seconds: f64,
    /// From due to answered.
    pub latencies: Latencies,
}

impl RateRun {
    pub fn line(&self) -> String {
        format!(
            "  offered {:<18} achieved {:>6.0}/s   p50 {:>7.1} ms  p99 {:>7.1} ms  p99.9 {:>7.1} ms{}",
            self.label,
            self.done as f64 / self.seconds.max(1e-9),
            ms(self.latencies.percentile(0.50)),
            ms(self.latencies.percentile(0.99)),
            ms(self.latencies.percentile(0.999)),
            match (self.failed, &self.first_error) {
                (0, _) => String::new(),
                (n, Some(error)) => format!("   ({n} failed; first: {error})"),
                (n, None) => format!("   ({n} failed)"),
            }
        )
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_as_numbers_or_shares_of_the_maximum() {
        assert_eq!("2000".parse::<Rate>(), Ok(Rate::PerSecond(2000.0)));
        assert_eq!("80%".parse::<Rate>(), Ok(Rate::OfMax(0.8)));
        assert_eq!(Rate::OfMax(0.25).per_second(4000.0), 1000.0);
        assert_eq!(Rate::PerSecond(300.0).per_second(4000.0), 300.0);
        assert_eq!(Rate::OfMax(0.5).label(3000.0), "50 % (1500/s)");
        for bad in ["", "fast", "0", "-5", "0%", "NaN"] {
            let error = bad.parse::<Rate>().unwrap_err();
            assert!(error.contains("80%"), "{bad}: {error}");
        }
    }

    #[test]
    fn a_schedule_spaces_requests_evenly_from_its_start() {
        let schedule = Schedule::new(200.0, Duration::from_secs(2));
        assert_eq!(schedule.count(), 400);
        assert_eq!(schedule.due(0), schedule.start);
        assert_eq!(
            schedule.due(100) - schedule.due(0),
            Duration::from_millis(500)
        );
    }
}
