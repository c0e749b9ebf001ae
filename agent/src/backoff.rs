//! Exponential backoff with full jitter.
//!
//! After the n-th consecutive failure the ceiling is `initial * 2^(n-1)`,
//! capped at `max`, and the wait is uniform in `[0, ceiling]` ("full jitter",
//! AWS architecture blog, 2015). The randomness matters for a fleet: when the
//! controller comes back, hundreds of agents must not reconnect in lockstep.

use std::time::Duration;

/// Backoff state between consecutive failures.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    /// A backoff whose ceiling grows from `initial` to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self { initial, max: max.max(initial), failures: 0 }
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Records a failure and returns how long to wait before the next try.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.failures = self.failures.saturating_add(1);
        let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(fastrand::u64(0..=ceiling_ms))
    }

    /// The ceiling for the next failure, without recording it.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.failures.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// Forgets the failures after a success.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_up_to_max_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(5));
        let mut ceilings = Vec::new();
        for _ in 0..5 {
            ceilings.push(b.ceiling().as_secs());
            let delay = b.next_delay();
            assert!(delay <= Duration::from_secs(5));
        }
        assert_eq!(ceilings, [1, 2, 4, 5, 5]);
        assert_eq!(b.failures(), 5);
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_secs(1));
    }

    #[test]
    fn many_failures_do_not_overflow() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(300));
        for _ in 0..200 {
            assert!(b.next_delay() <= Duration::from_secs(300));
        }
        assert_eq!(b.ceiling(), Duration::from_secs(300));
    }
}
