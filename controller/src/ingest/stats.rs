//! Counters of what the agent API did with the reports it received, for
//! `/metrics` and the load generator's comparisons. Plain atomics: the
//! ingest path must not wait on a metrics lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the ack-latency histogram buckets; the last
/// bucket is +Inf.
pub const LATENCY_BUCKETS: [f64; 12] = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0];

/// Why a report was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The certificate names another host, or there is none.
    Identity,
    /// The report failed validation.
    Invalid,
    /// Backwards sequence, stale epoch or a conflicting resend.
    Sequence,
    /// The controller shed the report because it is over capacity.
    Overloaded,
    /// The store could not write (disk full, I/O error).
    Storage,
}

impl Refusal {
    pub const ALL: [Refusal; 5] =
        [Refusal::Identity, Refusal::Invalid, Refusal::Sequence, Refusal::Overloaded, Refusal::Storage];

    /// The label value used in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Identity => "identity",
            Refusal::Invalid => "invalid",
            Refusal::Sequence => "sequence",
            Refusal::Overloaded => "overloaded",
            Refusal::Storage => "storage",
        }
    }
}

/// Ingest counters since the controller started.
#[derive(Debug, Default)]
pub struct IngestStats {
    stored: AtomicU64,
    duplicates: AtomicU64,
    refused: [AtomicU64; 5],
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    latency_sum_micros: AtomicU64,
    in_flight: AtomicU64,
}

/// A consistent-enough copy of the counters (each read atomically).
#[derive(Debug, Clone, PartialEq)]
pub struct IngestSnapshot {
    pub stored: u64,
    pub duplicates: u64,
    /// Refusals by reason, in `Refusal::ALL` order.
    pub refused: [(Refusal, u64); 5],
    /// Cumulative counts per bucket of `LATENCY_BUCKETS`, then +Inf.
    pub latency_cumulative: Vec<u64>,
    pub latency_sum_seconds: f64,
    pub in_flight: u64,
}

impl IngestStats {
    pub fn stored(&self, latency: Duration) {
        self.stored.fetch_add(1, Ordering::Relaxed);
        self.observe(latency);
    }

    pub fn duplicate(&self, latency: Duration) {
        self.duplicates.fetch_add(1, Ordering::Relaxed);
        self.observe(latency);
    }

    pub fn refused(&self, why: Refusal) {
        self.refused[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a report being handled until the guard drops.
    pub fn enter(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    fn observe(&self, latency: Duration) {
        let seconds = latency.as_secs_f64();
        let bucket = LATENCY_BUCKETS.iter().position(|&upper| seconds <= upper).unwrap_or(LATENCY_BUCKETS.len());
        self.latency_buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> IngestSnapshot {
        let mut running = 0;
        let latency_cumulative = self
            .latency_buckets
            .iter()
            .map(|b| {
                running += b.load(Ordering::Relaxed);
                running
            })
            .collect();
        IngestSnapshot {
            stored: self.stored.load(Ordering::Relaxed),
            duplicates: self.duplicates.load(Ordering::Relaxed),
            refused: Refusal::ALL.map(|r| (r, self.refused[r as usize].load(Ordering::Relaxed))),
            latency_cumulative,
            latency_sum_seconds: self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
            in_flight: self.in_flight(),
        }
    }
}

/// See `IngestStats::enter`.
#[derive(Debug)]
pub struct InFlight<'a>(&'a IngestStats);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;
