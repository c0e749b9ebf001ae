//! When each simulated agent's reports are due.
//!
//! The schedule is open-loop: a report's due time never depends on how fast
//! the controller answered the previous one. Latency is measured from the
//! due time, so a slow controller shows up as latency and backlog instead of
//! silently lowering the offered load (coordinated omission).

use std::time::Duration;

use fastrand::Rng;

/// The offered load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// Each agent reports every `every`, varied by ±`jitter` (a fraction,
    /// 0.1 = ±10%), like real agents; starts are spread over one interval.
    Interval { every: Duration, jitter: f64 },
    /// `per_second` reports per second in total, spread evenly over the agents.
    Rate { per_second: f64 },
}

impl Load {
    /// Reports per second the whole fleet offers.
    pub fn offered_per_second(&self, agents: usize) -> f64 {
        match *self {
            Load::Interval { every, .. } => agents as f64 / every.as_secs_f64().max(1e-9),
            Load::Rate { per_second } => per_second,
        }
    }

    /// "interval 60s ±10%" or "rate 5000/s", for the summary.
    pub fn describe(&self) -> String {
        match *self {
            Load::Interval { every, jitter } => {
                format!("interval {} ±{:.0}%", humantime::format_duration(every), jitter * 100.0)
            }
            Load::Rate { per_second } => format!("rate {per_second}/s"),
        }
    }
}

/// Due times of one agent's reports, as offsets from the run's start.
#[derive(Debug)]
pub struct Schedule {
    load: Load,
    /// Offset of the first report.
    first: Duration,
    /// Offset of the next report (interval mode accumulates jitter).
    next: Duration,
    /// Reports handed out so far.
    count: u32,
    /// Time between one agent's reports in rate mode.
    period: Duration,
    rng: Rng,
}

impl Schedule {
    /// The schedule of agent `index` of `agents`. Agents are staggered evenly
    /// over one period so the fleet does not report in lockstep.
    pub fn new(load: Load, agents: usize, index: usize, seed: u64) -> Schedule {
        let agents = agents.max(1);
        let mut rng = Rng::with_seed(seed ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let (period, first) = match load {
            Load::Interval { every, .. } => {
                // A random place within this agent's slot of the interval.
                let slot = (index as f64 + rng.f64()) / agents as f64;
                (every, every.mul_f64(slot))
            }
            Load::Rate { per_second } => {
                let period = Duration::from_secs_f64(agents as f64 / per_second.max(1e-9));
                (period, period.mul_f64(index as f64 / agents as f64))
            }
        };
        Schedule { load, first, next: first, count: 0, period, rng }
    }

    /// The offset of the next report, advancing the schedule.
    pub fn next_due(&mut self) -> Duration {
        let due = match self.load {
            // Exact multiples: no drift however long the run.
            Load::Rate { .. } => self.first + self.period.saturating_mul(self.count),
            Load::Interval { jitter, .. } => {
                let due = self.next;
                let factor = 1.0 + jitter.clamp(0.0, 0.9) * (2.0 * self.rng.f64() - 1.0);
                self.next += self.period.mul_f64(factor);
                due
            }
        };
        self.count = self.count.saturating_add(1);
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dues(load: Load, agents: usize, horizon: Duration) -> Vec<Duration> {
        let mut all = Vec::new();
        for index in 0..agents {
            let mut s = Schedule::new(load, agents, index, 1);
            loop {
                let due = s.next_due();
                if due >= horizon {
                    break;
                }
                all.push(due);
            }
        }
        all.sort();
        all
    }

    #[test]
    fn rate_mode_offers_the_rate_evenly() {
        let all = dues(Load::Rate { per_second: 1000.0 }, 200, Duration::from_secs(10));
        assert_eq!(all.len(), 10_000);
        // Every 100 ms window holds the same number of reports: no bursts.
        for w in 0..100u64 {
            let (lo, hi) = (Duration::from_millis(w * 100), Duration::from_millis((w + 1) * 100));
            let n = all.iter().filter(|d| **d >= lo && **d < hi).count();
            assert!((99..=101).contains(&n), "window {w}: {n}");
        }
    }

    #[test]
    fn interval_mode_staggers_starts_and_keeps_the_mean_interval() {
        let every = Duration::from_secs(60);
        let load = Load::Interval { every, jitter: 0.1 };
        let firsts: Vec<Duration> = (0..100).map(|i| Schedule::new(load, 100, i, 3).next_due()).collect();
        for (i, first) in firsts.iter().enumerate() {
            assert!(*first >= every.mul_f64(i as f64 / 100.0) && *first < every.mul_f64((i + 1) as f64 / 100.0));
        }
        let mut s = Schedule::new(load, 100, 5, 3);
        let first = s.next_due();
        let mut last = first;
        for _ in 0..1000 {
            let due = s.next_due();
            let gap = due - last;
            assert!(gap >= every.mul_f64(0.9) && gap <= every.mul_f64(1.1), "{gap:?}");
            last = due;
        }
        let mean = (last - first).as_secs_f64() / 1000.0;
        assert!((57.0..63.0).contains(&mean), "{mean}");
        assert_eq!(load.offered_per_second(600), 10.0);
    }
}
