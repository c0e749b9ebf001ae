//! Group commit: one writer thread stores queued reports and flushes once
//! for the whole batch.
//!
//! A flush (fsync) costs far more than the transaction it makes durable;
//! flushing per report capped ingest near 2,800 reports/s. Reports that
//! arrive while a flush runs wait in a bounded queue and share the next one,
//! and every report is answered only after the flush that covers it, so an
//! acknowledged report is still on disk after a crash. A full queue is the
//! controller's signal that it is over capacity: the report is refused at
//! once (the agent keeps it and retries) instead of waiting ever longer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::time::Instant;

use rblfleet_proto::v1::HostReport;
use tokio::sync::oneshot;

use super::{Applied, Backend, Store, StoreError};

/// Largest number of reports one flush covers.
const MAX_BATCH: usize = 1024;

/// How long the writer waits for more reports when its batch is small.
const LINGER: std::time::Duration = std::time::Duration::from_micros(1500);

/// A batch this full is flushed without waiting for more.
const LINGER_UNTIL: usize = 32;

/// A report waiting for the writer, with where to send the outcome.
#[derive(Debug)]
struct Job {
    report: HostReport,
    now_ms: i64,
    done: oneshot::Sender<Result<Applied, StoreError>>,
}

/// The sending side of the writer's queue. When the last `Store` clone
/// holding it is dropped, the writer finishes its batch and stops, and the
/// drop waits for it: the data directory is free to reopen afterwards.
///
/// On PostgreSQL the batch is one transaction of multi-row statements and
/// its COMMIT is the flush (synchronous_commit as the server has it, `on`
/// by default): batching saves round trips and WAL flushes, never
/// durability.
#[derive(Debug)]
pub(super) struct CommitQueue {
    jobs: Option<SyncSender<Job>>,
    capacity: usize,
    stats: Arc<CommitCounters>,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl Drop for CommitQueue {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(writer) = self.writer.take()
            && writer.join().is_err()
        {
            tracing::error!("the store writer thread panicked");
        }
    }
}

impl CommitQueue {
    /// Starts the writer thread for `store` (the backend, not a `Store`, so
    /// the thread does not keep its own queue alive).
    pub(super) fn start(store: Backend, capacity: usize) -> Result<CommitQueue, std::io::Error> {
        let (jobs, queue) = mpsc::sync_channel(capacity);
        let stats = Arc::new(CommitCounters::default());
        let counters = stats.clone();
        let writer = std::thread::Builder::new()
            .name("rblfleet-store-writer".into())
            .spawn(move || write_batches(&store, &queue, &counters))?;
        Ok(CommitQueue { jobs: Some(jobs), capacity, stats, writer: Some(writer) })
    }
}

/// What the writer has done since the store was opened (for `/metrics` and
/// for telling whether ingest is bound by transactions or by flushes).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CommitStats {
    pub batches: u64,
    pub reports: u64,
    /// Time spent in report transactions, seconds.
    pub apply_seconds: f64,
    /// Time spent waiting for flushes (fsync), seconds.
    pub flush_seconds: f64,
}

#[derive(Debug, Default)]
struct CommitCounters {
    batches: AtomicU64,
    reports: AtomicU64,
    apply_micros: AtomicU64,
    flush_micros: AtomicU64,
}

impl Store {
    /// The group-commit writer's counters.
    pub fn commit_stats(&self) -> CommitStats {
        let c = &self.commit.stats;
        CommitStats {
            batches: c.batches.load(Ordering::Relaxed),
            reports: c.reports.load(Ordering::Relaxed),
            apply_seconds: c.apply_micros.load(Ordering::Relaxed) as f64 / 1e6,
            flush_seconds: c.flush_micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }

    /// Stores a validated report received at `now_ms`, exactly once.
    ///
    /// Returns after the report's batch is flushed, so the caller may
    /// acknowledge a `Stored` or `Duplicate` result as soon as it has it.
    /// `StoreError::Overloaded` means the queue is full and nothing was done.
    pub async fn apply_report(&self, report: &HostReport, now_ms: i64) -> Result<Applied, StoreError> {
        let Some(jobs) = self.commit.jobs.as_ref() else {
            return Err(writer_gone("this store handle has no writer"));
        };
        let capacity = self.commit.capacity;
        // Refused before anything is written: a disk below the reserve.
        self.check_space()?;
        let (done, outcome) = oneshot::channel();
        let job = Job { report: report.clone(), now_ms, done };
        match jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(StoreError::Overloaded { pending: capacity }),
            Err(TrySendError::Disconnected(_)) => return Err(writer_gone("the store writer has stopped")),
        }
        outcome.await.map_err(|_| writer_gone("the store writer stopped before answering"))?
    }
}

/// The error each report of an undone batch gets: a full disk stays a full
/// disk; anything else is a storage error naming the cause.
fn batch_failed(error: &StoreError, message: &str) -> StoreError {
    match error {
        StoreError::DiskFull { path, free, reserve } => {
            StoreError::DiskFull { path: path.clone(), free: *free, reserve: *reserve }
        }
        StoreError::Corrupt { key, reason } => StoreError::Corrupt { key: key.clone(), reason: reason.clone() },
        StoreError::Postgres(_) => StoreError::Postgres(message.to_string()),
        _ => StoreError::Io(sled::Error::Io(std::io::Error::other(message.to_string()))),
    }
}

fn writer_gone(what: &str) -> StoreError {
    StoreError::Io(sled::Error::ReportableBug(what.into()))
}

/// The writer: waits for a report, takes every other one already queued (up
/// to `MAX_BATCH`), stores them in one transaction, flushes once, answers.
fn write_batches(store: &Backend, queue: &Receiver<Job>, counters: &CommitCounters) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        // Linger briefly for more: at a few thousand reports/s a flush costs
        // as much as several transactions, so fuller batches leave the writer
        // idle more of the time. A lone report waits at most `LINGER`.
        let deadline = Instant::now() + LINGER;
        while batch.len() < MAX_BATCH {
            let job = match queue.try_recv() {
                Ok(job) => job,
                Err(_) if batch.len() >= LINGER_UNTIL => break,
                Err(_) => match queue.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                    Ok(job) => job,
                    Err(_) => break,
                },
            };
            batch.push(job);
        }
        let reports: Vec<(&HostReport, i64)> = batch.iter().map(|job| (&job.report, job.now_ms)).collect();
        let outcomes = match store {
            Backend::Sled(sled) => commit_sled(sled, &reports, counters),
            Backend::Postgres(pg) => {
                let applying = Instant::now();
                let outcomes = match pg.apply_batch(&reports) {
                    Ok(outcomes) => outcomes,
                    Err(error) => {
                        let message = error.to_string();
                        reports.iter().map(|_| Err(batch_failed(&error, &message))).collect()
                    }
                };
                counters.apply_micros.fetch_add(micros(applying), Ordering::Relaxed);
                outcomes
            }
        };
        drop(reports);
        counters.batches.fetch_add(1, Ordering::Relaxed);
        counters.reports.fetch_add(batch.len() as u64, Ordering::Relaxed);
        for (job, outcome) in batch.into_iter().zip(outcomes) {
            // The requester may have gone (client cancelled); the report is
            // stored anyway and a resend is acknowledged as a duplicate.
            let _ = job.done.send(outcome);
        }
    }
}

fn micros(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// One batch on sled: one transaction, then one flush, in the writer's turn.
fn commit_sled(
    store: &super::Sled,
    reports: &[(&HostReport, i64)],
    counters: &CommitCounters,
) -> Vec<Result<Applied, StoreError>> {
    let turn = store.write_turn();
    let applying = Instant::now();
    let mut outcomes: Vec<Result<Applied, StoreError>> = match store.apply_batch_unflushed(reports) {
        Ok(outcomes) => outcomes,
        // The batch was undone: every report in it gets the error (and is resent).
        Err(error) => {
            let message = error.to_string();
            reports.iter().map(|_| Err(batch_failed(&error, &message))).collect()
        }
    };
    // Duplicates too: after a failed flush a report may be visible but not
    // durable, and its resend must not be acknowledged before it is.
    counters.apply_micros.fetch_add(micros(applying), Ordering::Relaxed);
    let answered_any = outcomes.iter().any(Result::is_ok);
    let flushing = Instant::now();
    let flushed = if answered_any { store.db.flush().map(|_| ()) } else { Ok(()) };
    counters.flush_micros.fetch_add(micros(flushing), Ordering::Relaxed);
    if let Err(error) = flushed {
        // Nothing in this batch may be acknowledged: its durability is unknown.
        // The error kind survives, so a full disk (ENOSPC) reads as `DiskFull`.
        let message = error.to_string();
        let kind = match &error {
            sled::Error::Io(e) => e.kind(),
            _ => std::io::ErrorKind::Other,
        };
        for outcome in outcomes.iter_mut().filter(|o| o.is_ok()) {
            *outcome = Err(StoreError::from(sled::Error::Io(std::io::Error::new(kind, message.clone()))));
        }
    }
    drop(turn);
    outcomes
}
