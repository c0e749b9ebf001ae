//! Group commit: a writer thread stores queued reports and flushes once
//! for the whole batch.
//!
//! A flush (fsync) costs far more than the transaction it makes durable;
//! flushing per report capped ingest near 2,800 reports/s. Reports that
//! arrive while a flush runs wait in a bounded queue and share the next one,
//! and every report is answered only after the flush that covers it, so an
//! acknowledged report is still on disk after a crash. A full queue is the
//! controller's signal that it is over capacity: the report is refused at
//! once (the agent keeps it and retries) instead of waiting ever longer.
//!
//! sled has one writer. PostgreSQL has [`PG_WRITERS`]: while one batch's
//! COMMIT waits for its WAL flush, the next batch is gathered and runs on
//! another connection (see `Turn` for how one host's reports stay in order).

mod sled_batch;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use rblfleet_proto::v1::HostReport;
use tokio::sync::oneshot;

use super::acks::{self, AckReads, Acked};
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
    /// The receiver states to read for it (see `acks`).
    pairs: Vec<(String, String)>,
    done: oneshot::Sender<Acked>,
}

/// PostgreSQL transactions in flight at once. Two keep the database busy
/// while a COMMIT waits for its flush; more would only queue on the same
/// WAL flush and hold more connections.
pub(super) const PG_WRITERS: usize = 2;

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
    writers: Vec<std::thread::JoinHandle<()>>,
}

impl Drop for CommitQueue {
    fn drop(&mut self) {
        drop(self.jobs.take());
        for writer in self.writers.drain(..) {
            if writer.join().is_err() {
                tracing::error!("a store writer thread panicked");
            }
        }
    }
}

impl CommitQueue {
    /// Starts the writer thread for `store` (the backend, not a `Store`, so
    /// the thread does not keep its own queue alive).
    pub(super) fn start(store: Backend, capacity: usize) -> Result<CommitQueue, std::io::Error> {
        let (jobs, queue) = mpsc::sync_channel(capacity);
        let stats = Arc::new(CommitCounters::default());
        let count = match store {
            Backend::Sled(_) => 1,
            Backend::Postgres(_) => PG_WRITERS,
        };
        let shared = Arc::new(Shared { queue: Mutex::new(queue), turn: TurnState::default() });
        let mut writers = Vec::with_capacity(count);
        for _ in 0..count {
            let (store, shared, counters) = (store.clone(), shared.clone(), stats.clone());
            let writer = std::thread::Builder::new()
                .name("rblfleet-store-writer".into())
                .spawn(move || write_batches(&store, &shared, &counters))?;
            writers.push(writer);
        }
        Ok(CommitQueue { jobs: Some(jobs), capacity, stats, writers })
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
pub(super) struct CommitCounters {
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
        Ok(self.ingest_report(report, now_ms, Vec::new()).await?.0)
    }

    /// [`Store::apply_report`], and what the report's ack needs besides:
    /// the receiver states of `pairs` and the host's actions, read inside
    /// the report's batch (see `acks`).
    pub async fn ingest_report(
        &self,
        report: &HostReport,
        now_ms: i64,
        pairs: Vec<(String, String)>,
    ) -> Result<(Applied, AckReads), StoreError> {
        let Some(jobs) = self.commit.jobs.as_ref() else {
            return Err(writer_gone("this store handle has no writer"));
        };
        let capacity = self.commit.capacity;
        // Refused before anything is written: a disk below the reserve.
        self.check_space()?;
        let (done, outcome) = oneshot::channel();
        let job = Job { report: report.clone(), now_ms, pairs, done };
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
pub(super) fn batch_failed(error: &StoreError, message: &str) -> StoreError {
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

/// What the writers share: the queue, and whose turn it is to take from it.
struct Shared {
    queue: Mutex<Receiver<Job>>,
    turn: TurnState,
}

/// Whether a writer holds the turn.
#[derive(Default)]
struct TurnState {
    taken: Mutex<bool>,
    free: Condvar,
}

/// The right to gather the next batch and start its transaction. A writer
/// keeps it until its batch holds the per-host locks (PostgreSQL gives it
/// back from inside the transaction, see `pg::ingest`), so the next
/// batch's transaction begins only then: a later report of the same host
/// waits for the earlier one's COMMIT, and reports are stored in the order
/// they were queued. Dropping it hands it on.
pub(crate) struct Turn(Arc<Shared>);

impl Turn {
    fn take(shared: &Arc<Shared>) -> Turn {
        let mut taken = shared.turn.taken.lock().unwrap_or_else(|p| p.into_inner());
        while *taken {
            taken = shared.turn.free.wait(taken).unwrap_or_else(|p| p.into_inner());
        }
        *taken = true;
        Turn(shared.clone())
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        *self.0.turn.taken.lock().unwrap_or_else(|p| p.into_inner()) = false;
        self.0.turn.free.notify_one();
    }
}

/// A writer: in its turn, waits for a report, takes every other one
/// already queued (up to `MAX_BATCH`), stores them in one transaction,
/// flushes once, answers.
fn write_batches(store: &Backend, shared: &Arc<Shared>, counters: &CommitCounters) {
    loop {
        let turn = Turn::take(shared);
        let Some(batch) = gather(&shared.queue.lock().unwrap_or_else(|p| p.into_inner())) else { return };
        let reports: Vec<(&HostReport, i64)> = batch.iter().map(|job| (&job.report, job.now_ms)).collect();
        let asked: Vec<&[(String, String)]> = batch.iter().map(|job| job.pairs.as_slice()).collect();
        let outcomes = match store {
            Backend::Sled(sled) => {
                drop(turn);
                sled_batch::commit(sled, &reports, &asked, counters)
            }
            Backend::Postgres(pg) => {
                let applying = Instant::now();
                let pairs = acks::all_pairs(&asked);
                let outcomes = match pg.apply_batch(&reports, &pairs, Some(turn)) {
                    Ok((outcomes, reads)) => {
                        let hosts: Vec<&str> = reports.iter().map(|(r, _)| r.host_id.as_str()).collect();
                        acks::split(&hosts, &asked, outcomes, Some(&reads))
                    }
                    Err(error) => {
                        let message = error.to_string();
                        reports.iter().map(|_| Err(batch_failed(&error, &message))).collect()
                    }
                };
                counters.apply_micros.fetch_add(micros(applying), Ordering::Relaxed);
                outcomes
            }
        };
        drop((reports, asked));
        counters.batches.fetch_add(1, Ordering::Relaxed);
        counters.reports.fetch_add(batch.len() as u64, Ordering::Relaxed);
        for (job, outcome) in batch.into_iter().zip(outcomes) {
            // The requester may have gone (client cancelled); the report is
            // stored anyway and a resend is acknowledged as a duplicate.
            let _ = job.done.send(outcome);
        }
    }
}

/// The next batch: waits for a report, then lingers briefly for more. At a
/// few thousand reports/s a flush costs as much as several transactions,
/// so fuller batches leave the writer idle more of the time. A lone report
/// waits at most `LINGER`. `None` when the queue has closed.
fn gather(queue: &Receiver<Job>) -> Option<Vec<Job>> {
    let mut batch = vec![queue.recv().ok()?];
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
    Some(batch)
}

pub(super) fn micros(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
