//! One simulated agent: reports come due on its schedule, wait in an
//! in-memory outbox, and leave it in order, one at a time, only when the
//! controller acknowledged them, as the real agent's on-disk outbox does.
//!
//! Refusals the controller means as "later" (RESOURCE_EXHAUSTED,
//! UNAVAILABLE, any transport error) keep the report and resend the very
//! same (epoch, seq) after the controller's `grpc-retry-pushback-ms` hint or
//! an exponential backoff; refusals it means as "never" (INVALID_ARGUMENT,
//! FAILED_PRECONDITION, OUT_OF_RANGE) drop it and count it as rejected.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use rblfleet_agent::backoff::Backoff;
use rblfleet_agent::client::SendError;
use rblfleet_proto::v1::HostReport;
use rblfleet_proto::v1::agent_service_client::AgentServiceClient;
use rblfleet_tests::generate::Fleet;
use tokio::time::{Instant, sleep_until};
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::schedule::{Load, Schedule};
use crate::stats::{Counters, Latencies};

/// What every agent of a run shares.
#[derive(Debug)]
pub struct Shared {
    pub fleet: Arc<Fleet>,
    pub counters: Counters,
    pub load: Load,
    pub seed: u64,
    /// The agents' spool epoch: newer than any earlier run's, so a reused
    /// data directory never sees sequences go backwards.
    pub epoch: u64,
    /// When the load starts (agents are connected by then).
    pub start: Instant,
    /// Wall clock at `start`, Unix ms: reports carry real times.
    pub start_wall_ms: i64,
    /// Reports come due during this long.
    pub duration: Duration,
    /// After `duration`, how long agents keep resending what is unacknowledged.
    pub drain: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
}

/// What one agent leaves behind.
#[derive(Debug, Default)]
pub struct Outcome {
    pub latencies: Latencies,
    /// Reports still in the outbox when the drain ended.
    pub unacked: u64,
}

struct Pending {
    report: HostReport,
    due: Instant,
}

/// Runs agent `index` until its schedule is done and its outbox empty, or
/// until the drain ends.
pub async fn run(shared: Arc<Shared>, index: usize, mut client: AgentServiceClient<Channel>) -> Outcome {
    let agents = shared.fleet.len();
    let mut schedule = Schedule::new(shared.load, agents, index, shared.seed);
    let mut next_due = schedule.next_due();
    let mut outbox: VecDeque<Pending> = VecDeque::new();
    let mut backoff = Backoff::new(shared.backoff_initial, shared.backoff_max);
    let mut retry_at: Option<Instant> = None;
    let mut seq = 0u64;
    let mut outcome = Outcome::default();
    let end = shared.start + shared.duration;
    let deadline = end + shared.drain;
    let counters = &shared.counters;

    loop {
        let now = Instant::now();
        while next_due < shared.duration && shared.start + next_due <= now {
            seq += 1;
            let now_ms = shared.start_wall_ms + i64::try_from(next_due.as_millis()).unwrap_or(i64::MAX / 2);
            let report = shared.fleet.report(index, shared.epoch, seq, now_ms);
            outbox.push_back(Pending { report, due: shared.start + next_due });
            Counters::add(&counters.generated, 1);
            next_due = schedule.next_due();
        }
        let more_due = (next_due < shared.duration).then(|| shared.start + next_due);
        if now >= deadline || (outbox.is_empty() && more_due.is_none()) {
            break;
        }
        let Some(front) = outbox.front().filter(|_| retry_at.is_none_or(|t| t <= now)) else {
            let wake = [retry_at.filter(|_| !outbox.is_empty()), more_due].into_iter().flatten().min();
            sleep_until(wake.unwrap_or(deadline).min(deadline)).await;
            continue;
        };
        let sent = Instant::now();
        let result = client.report(front.report.clone()).await;
        let answered = Instant::now();
        match result {
            Ok(ack) => {
                Counters::add(&counters.acked, 1);
                if answered <= end {
                    Counters::add(&counters.acked_in_window, 1);
                }
                if ack.get_ref().duplicate {
                    Counters::add(&counters.duplicates, 1);
                }
                outcome.latencies.record(answered - front.due, answered - sent);
                outbox.pop_front();
                backoff.reset();
                retry_at = None;
            }
            Err(status) => {
                counters.error(status.code());
                if is_permanent(status.code()) {
                    Counters::add(&counters.rejected, 1);
                    outbox.pop_front();
                } else {
                    Counters::add(&counters.retries, 1);
                    let wait = pushback(&status).unwrap_or_else(|| backoff.next_delay());
                    retry_at = Some(answered + wait);
                }
            }
        }
    }
    outcome.unacked = outbox.len() as u64;
    outcome
}

/// The controller will never accept this report: the real agent drops it
/// (the agent's own classification).
fn is_permanent(code: Code) -> bool {
    matches!(SendError::from_status(&Status::new(code, "")), SendError::Rejected { .. })
}

/// The controller's retry hint as the agent reads it, plus up to 20% so
/// agents refused together do not come back together.
fn pushback(status: &Status) -> Option<Duration> {
    let hint = SendError::from_status(status).retry_after()?;
    let ms = u64::try_from(hint.as_millis()).unwrap_or(u64::MAX);
    Some(hint + Duration::from_millis(fastrand::u64(0..=ms / 5)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rblfleet_controller::server::RETRY_PUSHBACK_KEY;

    #[test]
    fn pushback_hint_is_honoured_with_a_little_jitter() {
        let mut status = Status::resource_exhausted("busy");
        assert_eq!(pushback(&status), None);
        status.metadata_mut().insert(RETRY_PUSHBACK_KEY, "250".parse().expect("ascii"));
        for _ in 0..100 {
            let wait = pushback(&status).expect("hint present");
            assert!(wait >= Duration::from_millis(250) && wait <= Duration::from_millis(300), "{wait:?}");
        }
        status.metadata_mut().insert(RETRY_PUSHBACK_KEY, "soon".parse().expect("ascii"));
        assert_eq!(pushback(&status), None, "a malformed hint falls back to the backoff");
    }

    #[test]
    fn only_refusals_for_good_drop_a_report() {
        for code in [Code::InvalidArgument, Code::FailedPrecondition, Code::OutOfRange] {
            assert!(is_permanent(code));
        }
        for code in [Code::ResourceExhausted, Code::Unavailable, Code::DeadlineExceeded, Code::PermissionDenied] {
            assert!(!is_permanent(code));
        }
    }
}
