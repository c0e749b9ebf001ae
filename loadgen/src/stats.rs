//! What the simulated agents saw: live counters for the timeline, and each
//! agent's own latency samples merged into percentiles at the end.
//!
//! Latencies are kept as raw samples (microseconds) and sorted once: at the
//! rates this tool offers (a few thousand per second for minutes) that is a
//! few MB, and exact percentiles need no histogram crate.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use tonic::Code;

/// Counters every agent updates as it goes; the sampler reads them.
#[derive(Debug, Default)]
pub struct Counters {
    pub generated: AtomicU64,
    pub acked: AtomicU64,
    /// Acks that arrived before the run's end (the drain excluded).
    pub acked_in_window: AtomicU64,
    pub duplicates: AtomicU64,
    /// Reports the controller refused for good (INVALID_ARGUMENT and the like).
    pub rejected: AtomicU64,
    /// Sends that failed and were (or would have been) tried again.
    pub retries: AtomicU64,
    /// Failed sends by gRPC status code (index = the code's number).
    errors: [AtomicU64; 17],
}

impl Counters {
    pub fn error(&self, code: Code) {
        if let Some(slot) = self.errors.get(code as usize) {
            slot.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Failed sends by canonical code name ("RESOURCE_EXHAUSTED": 12).
    pub fn errors(&self) -> BTreeMap<String, u64> {
        self.errors
            .iter()
            .enumerate()
            .filter_map(|(i, n)| {
                let n = n.load(Ordering::Relaxed);
                (n > 0).then(|| (code_name(Code::from_i32(i as i32)).to_string(), n))
            })
            .collect()
    }

    pub fn error_total(&self) -> u64 {
        self.errors.iter().map(|n| n.load(Ordering::Relaxed)).sum()
    }
}

pub use rblfleet_agent::client::code_name;

/// One agent's latency samples, microseconds.
#[derive(Debug, Default)]
pub struct Latencies {
    /// From the report's due time to its ack (queueing and retries included).
    pub from_due: Vec<u64>,
    /// From the last send to its ack (one successful RPC).
    pub rpc: Vec<u64>,
}

impl Latencies {
    pub fn record(&mut self, from_due: Duration, rpc: Duration) {
        self.from_due.push(micros(from_due));
        self.rpc.push(micros(rpc));
    }

    pub fn merge(&mut self, other: Latencies) {
        self.from_due.extend(other.from_due);
        self.rpc.extend(other.rpc);
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `samples` (microseconds); sorts them.
    pub fn of(samples: &mut [u64]) -> Percentiles {
        if samples.is_empty() {
            return Percentiles::default();
        }
        samples.sort_unstable();
        let ms = |us: u64| us as f64 / 1000.0;
        let sum: u128 = samples.iter().map(|&s| u128::from(s)).sum();
        Percentiles {
            count: samples.len() as u64,
            p50: ms(rank(samples, 50.0)),
            p90: ms(rank(samples, 90.0)),
            p99: ms(rank(samples, 99.0)),
            max: ms(samples[samples.len() - 1]),
            mean: (sum as f64 / samples.len() as f64) / 1000.0,
        }
    }
}

/// The nearest-rank `p`-th percentile of sorted, non-empty `sorted`: the
/// smallest sample with at least p% of the samples at or below it.
fn rank(sorted: &[u64], p: f64) -> u64 {
    let n = sorted.len();
    let k = ((p / 100.0) * n as f64).ceil() as usize;
    sorted[k.clamp(1, n) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        // 1..=100 ms: p50 is the 50th sample, p99 the 99th.
        let mut samples: Vec<u64> = (1..=100).rev().map(|ms| ms * 1000).collect();
        let p = Percentiles::of(&mut samples);
        assert_eq!((p.count, p.p50, p.p90, p.p99, p.max), (100, 50.0, 90.0, 99.0, 100.0));
        assert_eq!(p.mean, 50.5);
        // One slow outlier in 1000 moves max, not p99.
        let mut samples = vec![2000; 999];
        samples.push(900_000);
        let p = Percentiles::of(&mut samples);
        assert_eq!((p.p50, p.p99, p.max), (2.0, 2.0, 900.0));
        // Eleven in 1000 move p99.
        let mut samples = vec![2000; 989];
        samples.extend([900_000; 11]);
        assert_eq!(Percentiles::of(&mut samples).p99, 900.0);
        assert_eq!(Percentiles::of(&mut [7000]).p50, 7.0);
        assert_eq!(Percentiles::of(&mut []), Percentiles::default());
    }

    #[test]
    fn errors_are_counted_by_code_name() {
        let c = Counters::default();
        c.error(Code::ResourceExhausted);
        c.error(Code::ResourceExhausted);
        c.error(Code::Unavailable);
        let errors = c.errors();
        assert_eq!(errors.get("RESOURCE_EXHAUSTED"), Some(&2));
        assert_eq!(errors.get("UNAVAILABLE"), Some(&1));
        assert_eq!((errors.len(), c.error_total()), (2, 3));
    }

    #[test]
    fn merged_latencies_keep_every_sample() {
        let mut a = Latencies::default();
        a.record(Duration::from_millis(3), Duration::from_millis(1));
        let mut b = Latencies::default();
        b.record(Duration::from_millis(9), Duration::from_millis(2));
        a.merge(b);
        assert_eq!(Percentiles::of(&mut a.from_due).max, 9.0);
        assert_eq!(Percentiles::of(&mut a.rpc).count, 2);
    }
}
