//! Per-zone query budgets: a token bucket for queries per second and a
//! counter per UTC day. Operators publish both limits; exceeding them gets
//! the controller's resolver blocked, and then every answer is an error.

use std::time::{Duration, Instant};

/// Day number (days since the Unix epoch, UTC) of `ms`.
pub fn utc_day(ms: i64) -> u32 {
    u32::try_from(ms.max(0) / 86_400_000).unwrap_or(u32::MAX)
}

/// Why a query may not be sent now.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// The per-second bucket is empty; a token comes after this.
    Later(Duration),
    /// The daily budget is spent.
    DayExhausted { used: u64, limit: u64 },
}

#[derive(Debug, Clone)]
pub struct Bucket {
    per_second: f64,
    per_day: Option<u64>,
    tokens: f64,
    refilled: Instant,
    day: u32,
    used_today: u64,
}

impl Bucket {
    /// A full bucket. `used_today` is what the store says was spent on `day`.
    pub fn new(per_second: f64, per_day: Option<u64>, now: Instant, day: u32, used_today: u64) -> Bucket {
        let per_second = if per_second.is_finite() && per_second > 0.0 { per_second } else { 1.0 };
        Bucket { per_second, per_day, tokens: per_second.max(1.0), refilled: now, day, used_today }
    }

    /// Takes one query from the budget, or says why not.
    pub fn take(&mut self, now: Instant, day: u32) -> Result<(), Refusal> {
        if day != self.day {
            self.day = day;
            self.used_today = 0;
        }
        if let Some(limit) = self.per_day
            && self.used_today >= limit
        {
            return Err(Refusal::DayExhausted { used: self.used_today, limit });
        }
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.per_second.max(1.0));
        self.refilled = now;
        if self.tokens < 1.0 {
            let wait = Duration::try_from_secs_f64((1.0 - self.tokens) / self.per_second).unwrap_or(Duration::MAX);
            return Err(Refusal::Later(wait));
        }
        self.tokens -= 1.0;
        self.used_today += 1;
        Ok(())
    }

    /// Counts what the store says `day` has spent, when that is more than
    /// this bucket took: queries another controller's engine sent (before
    /// this one took over, or while two briefly overlapped). The daily
    /// budget is the fleet's, not this process's.
    pub fn catch_up(&mut self, day: u32, used: u64) {
        if day != self.day {
            self.day = day;
            self.used_today = used;
        } else {
            self.used_today = self.used_today.max(used);
        }
    }

    /// Whether `day`'s budget has room for `n` more queries (a probe sends
    /// two for its one token).
    pub fn has_room(&self, day: u32, n: u64) -> bool {
        let used = if day == self.day { self.used_today } else { 0 };
        self.per_day.is_none_or(|limit| used.saturating_add(n) <= limit)
    }

    pub fn used_today(&self) -> u64 {
        self.used_today
    }

    pub fn per_second(&self) -> f64 {
        self.per_second
    }

    pub fn per_day(&self) -> Option<u64> {
        self.per_day
    }
}

#[cfg(test)]
mod tests;
