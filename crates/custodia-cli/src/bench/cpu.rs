//! The whole machine's processor use over a phase, from `/proc/stat`
//! (Linux): it says whether a rate was bounded by the processors (little
//! idle time) or by latency (requests in flight ÷ time to answer).

/// Cumulative CPU time counters, in clock ticks, of all processors.
#[derive(Clone, Copy, Debug)]
pub(super) struct Counters {
    user: u64,
    system: u64,
    idle: u64,
    total: u64,
}

/// Shares of the machine's processor time, in percent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Use {
    pub user: f64,
    pub system: f64,
    pub idle: f64,
}

/// The counters now; `None` where `/proc/stat` cannot be read.
pub(super) fn now() -> Option<Counters> {
    parse(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// Processor seconds (user and system) process `pid` has used so far, from
/// `/proc/<pid>/stat`; `"self"` for this process.
pub(super) fn process_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command (which may hold spaces) end with ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (per_second > 0).then(|| ticks as f64 / per_second as f64)
}

/// The first line of `/proc/stat`: `cpu user nice system idle iowait irq
/// softirq steal ...`.
fn parse(stat: &str) -> Option<Counters> {
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let at = |i: usize| fields.get(i).copied().unwrap_or(0);
    Some(Counters {
        user: at(0) + at(1),
        system: at(2) + at(5) + at(6),
        idle: at(3) + at(4),
        total: fields.iter().take(8).sum(),
    })
}

impl Counters {
    /// The use between `start` and these counters.
    pub(super) fn since(&self, start: &Counters) -> Option<Use> {
        let total = self.total.checked_sub(start.total).filter(|t| *t > 0)? as f64;
        let share = |now: u64, then: u64| 100.0 * now.saturating_sub(then) as f64 / total;
        Some(Use {
            user: share(self.user, start.user),
            system: share(self.system, start.system),
            idle: share(self.idle, start.idle),
        })
    }
}

impl Use {
    /// The use between `start` and now.
    pub(super) fn since(start: Option<Counters>) -> Option<Use> {
        now()?.since(&start?)
    }
}

impl std::fmt::Display for Use {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CPU {:.0} % idle (user {:.0} %, system {:.0} %)",
            self.idle, self.user, self.system
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_come_from_the_difference_of_two_readings() {
        let before = parse("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3\n").unwrap();
        let after = parse("cpu  160 10 70 890 60 5 5 0 0 0\n").unwrap();
        // 200 ticks passed: 70 user, 30 system, 100 idle (with iowait).
        let used = after.since(&before).unwrap();
        assert_eq!((used.user, used.system, used.idle), (35.0, 15.0, 50.0));
        assert_eq!(used.to_string(), "CPU 50 % idle (user 35 %, system 15 %)");
        assert!(before.since(&before).is_none());
        assert!(parse("intr 1 2 3").is_none());
    }
}
