//! Leadership of singleton work on PostgreSQL: one session-level advisory
//! lock per role, `(LEAD_LOCK, role key)` in the two-key lock space (ingest
//! uses `(1, hashtext(host))` there; the migration and import locks are
//! one-key locks, a separate space).
//!
//! Each role's election runs on a thread of its own with a connection of
//! its own, outside the pool: a pooled connection is shared by every
//! store call and reconnects under them, and a session lock must live
//! exactly as long as the session that proves it.
//!
//! - A follower calls `pg_try_advisory_lock` every [`Timing::retry`]. One
//!   whose session was lost waits [`Timing::settle`] before it tries again.
//! - Having got the lock, it waits [`Timing::settle`] before it leads, so
//!   a previous leader that lost its session has noticed and stopped.
//! - A leader checks every [`Timing::check`] that its session still holds
//!   the lock (each statement bounded by [`Timing::timeout`]); a failed or
//!   late check, or the connection closing, ends its leadership at once.
//!
//! # Takeover within 30 s
//!
//! A leader killed with `kill -9` (or crashed): its kernel closes the
//! socket, the server ends the session and frees the lock at once; a
//! follower gets it at its next try (≤ 2 s) and leads 6 s later: ≤ 8 s.
//!
//! A leader whose machine died or was cut off sends nothing more, so the
//! server has to find out by itself. The lock connection sets the server's
//! side of the socket to `tcp_keepalives_idle = 5`,
//! `tcp_keepalives_interval = 2`, `tcp_keepalives_count = 3` and
//! `tcp_user_timeout = 10000` (ms): an idle socket is dropped after
//! 5 + 3 × 2 = 11 s without an answer, one with unacknowledged data (the
//! answer to a check) after 10 s. Then ≤ 2 s until a follower's try and
//! 6 s of settling: ≤ 19 s after the leader went silent, within 30 s.
//! (The server's defaults, `tcp_keepalives_idle` of 2 hours, would hold
//! the lock for hours.) The client's side gets the same keepalives, so a
//! leader notices a dead server too.
//!
//! # Never two leaders at once
//!
//! The cut-off leader's check comes within 3 s and fails within 2 s: it
//! has stopped ≤ 5 s after it went silent, while the server frees its lock
//! ≥ 10 s after. When the session ended while the leader still runs
//! (`pg_terminate_backend`, a server restart), its connection closes and it
//! stops at once, and the new leader's 6 s of settling cover a leader
//! that only finds out at its next check (3 + 2 s) plus the role runner's
//! 1 s of grace. A leader that is paused (SIGSTOP, a VM frozen) keeps its
//! TCP session, and so its lock: nobody takes over from a paused leader.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio_postgres::{Client, NoTls};

use super::{Pg, db};
use crate::store::StoreError;
use crate::store::leadership::Role;

/// First key of the leadership locks ("lead" in ASCII).
pub(crate) const LEAD_LOCK: i32 = 0x6c65_6164;

/// The election's pace. [`Timing::default`] gives the arithmetic above;
/// tests run it faster.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    pub retry: Duration,
    pub check: Duration,
    pub timeout: Duration,
    pub settle: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            retry: Duration::from_secs(2),
            check: Duration::from_secs(3),
            timeout: Duration::from_secs(2),
            settle: Duration::from_secs(6),
        }
    }
}

/// The server side of the lock connection's socket (see `# Takeover`).
const SERVER_KEEPALIVE: [&str; 4] = [
    "SET tcp_keepalives_idle = 5",
    "SET tcp_keepalives_interval = 2",
    "SET tcp_keepalives_count = 3",
    "SET tcp_user_timeout = 10000",
];

/// A running election; dropping it stops it and closes its connection.
#[derive(Debug)]
pub(crate) struct Campaign {
    stop: Option<watch::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<()>>,
    pid: Arc<AtomicI32>,
}

impl Campaign {
    /// The lock connection's backend process id, None while not connected.
    pub(crate) fn backend_pid(&self) -> Option<i32> {
        Some(self.pid.load(Ordering::Acquire)).filter(|pid| *pid != 0)
    }
}

impl Drop for Campaign {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("a leadership election thread panicked");
        }
    }
}

impl Pg {
    /// Starts this controller's election for `role`.
    pub(crate) fn campaign(&self, role: Role, timing: Timing) -> Result<(watch::Receiver<bool>, Campaign), StoreError> {
        let mut config = self.config.clone();
        config.application_name(format!("rblfleet-lead-{}", role.name()));
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(5));
        config.keepalives_interval(Duration::from_secs(2));
        config.keepalives_retries(3);
        config.tcp_user_timeout(Duration::from_secs(10));
        let (state_tx, state) = watch::channel(false);
        let (stop, stopped) = watch::channel(false);
        let pid = Arc::new(AtomicI32::new(0));
        let election = Election { config, role, timing, state: state_tx, stop: stopped, pid: pid.clone() };
        let thread = std::thread::Builder::new()
            .name(format!("rblfleet-lead-{}", role.name()))
            .spawn(move || election.run())
            .map_err(|e| StoreError::Postgres(format!("cannot start the leadership thread: {e}")))?;
        Ok((state, Campaign { stop: Some(stop), thread: Some(thread), pid }))
    }
}

struct Election {
    config: tokio_postgres::Config,
    role: Role,
    timing: Timing,
    state: watch::Sender<bool>,
    stop: watch::Receiver<bool>,
    pid: Arc<AtomicI32>,
}

/// The lock connection and a signal for when it closes.
struct Session {
    client: Client,
    closed: oneshot::Receiver<()>,
}

impl Election {
    fn run(mut self) {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(error) => {
                tracing::error!(%error, role = self.role.name(), "cannot start the leadership runtime");
                return;
            }
        };
        runtime.block_on(async {
            let mut stop = self.stop.clone();
            tokio::select! {
                _ = stop.wait_for(|s| *s) => {}
                () = self.elect() => {}
            }
        });
        self.state.send_replace(false);
    }

    /// Connects, waits for the lock, leads while the session holds it;
    /// again from the start whenever the session is lost. Never returns
    /// (the caller's stop ends it).
    async fn elect(&mut self) {
        let mut failing = false;
        loop {
            let mut session = match self.open().await {
                Ok(session) => session,
                Err(error) => {
                    if !failing {
                        tracing::warn!(role = self.role.name(), %error, "leadership: cannot connect; trying again");
                    }
                    failing = true;
                    tokio::time::sleep(self.timing.retry).await;
                    continue;
                }
            };
            failing = false;
            let reason = match self.follow(&mut session).await {
                Ok(()) => {
                    self.state.send_replace(true);
                    let reason = self.lead(&mut session).await;
                    self.state.send_replace(false);
                    reason
                }
                Err(reason) => reason,
            };
            self.pid.store(0, Ordering::Release);
            tracing::warn!(role = self.role.name(), %reason, "leadership: lock session lost; reconnecting");
            drop(session);
            // The controllers whose sessions survived go first: this one
            // reconnects in milliseconds and would otherwise win the lock
            // back before they next try.
            tokio::time::sleep(self.timing.settle).await;
        }
    }

    async fn open(&self) -> Result<Session, String> {
        let (client, connection) = tokio::time::timeout(self.timing.timeout * 5, self.config.connect(NoTls))
            .await
            .map_err(|_| "connecting timed out".to_string())?
            .map_err(|e| e.to_string())?;
        let (ended, closed) = oneshot::channel();
        tokio::spawn(async move {
            let _ = connection.await;
            let _ = ended.send(());
        });
        for set in SERVER_KEEPALIVE {
            // A server on another OS may refuse one (tcp_user_timeout is
            // Linux only): the others still bound the takeover.
            if let Err(error) = self.bounded(client.batch_execute(set)).await {
                tracing::warn!(role = self.role.name(), %error, "leadership: `{set}` refused");
            }
        }
        let row = self.bounded(client.query_one("SELECT pg_backend_pid()", &[])).await?;
        self.pid.store(row.get(0), Ordering::Release);
        Ok(Session { client, closed })
    }

    /// Tries for the lock until it is held, then settles. Err: the session
    /// is lost.
    async fn follow(&self, session: &mut Session) -> Result<(), String> {
        loop {
            let row = self
                .bounded(
                    session.client.query_one("SELECT pg_try_advisory_lock($1, $2)", &[&LEAD_LOCK, &self.role.key()]),
                )
                .await?;
            if row.get::<_, bool>(0) {
                break;
            }
            tokio::select! {
                _ = &mut session.closed => return Err("the connection closed".into()),
                () = tokio::time::sleep(self.timing.retry) => {}
            }
        }
        tokio::select! {
            _ = &mut session.closed => return Err("the connection closed".into()),
            () = tokio::time::sleep(self.timing.settle) => {}
        }
        self.holds(session).await
    }

    /// Leads until a check fails; returns why.
    async fn lead(&self, session: &mut Session) -> String {
        loop {
            tokio::select! {
                _ = &mut session.closed => return "the connection closed".into(),
                () = tokio::time::sleep(self.timing.check) => {}
            }
            if let Err(reason) = self.holds(session).await {
                return reason;
            }
        }
    }

    /// Ok when the session still holds the role's lock.
    async fn holds(&self, session: &Session) -> Result<(), String> {
        let row = self
            .bounded(session.client.query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
                   AND classid::int8 = $1 AND objid::int8 = $2 AND objsubid = 2 AND granted)",
                &[&i64::from(LEAD_LOCK), &i64::from(self.role.key())],
            ))
            .await?;
        if row.get::<_, bool>(0) { Ok(()) } else { Err("the session no longer holds the lock".into()) }
    }

    /// A statement, given at most [`Timing::timeout`].
    async fn bounded<T>(&self, statement: impl Future<Output = Result<T, tokio_postgres::Error>>) -> Result<T, String> {
        match tokio::time::timeout(self.timing.timeout, statement).await {
            Ok(result) => result.map_err(|e| db("leadership")(e).to_string()),
            Err(_) => Err(format!("no answer within {:?}", self.timing.timeout)),
        }
    }
}

#[cfg(test)]
mod tests;
