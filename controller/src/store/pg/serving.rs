//! The serving lock: one controller per PostgreSQL database.
//!
//! Until several controllers share a database (leases for the engine,
//! alerts and retention), two controllers on one would both run the
//! engine (every zone asked twice, budgets spent twice) and both send
//! every alert. A controller therefore holds a session-level advisory
//! lock, on a connection of its own, for as long as it serves; a second
//! one is refused at start with [`StoreError::DatabaseInUse`], naming who
//! holds it as far as `pg_stat_activity` lets this role see.
//!
//! # Key
//!
//! The two-key form `(SERVING_NS, SERVING_KEY)`: two-key and one-key
//! advisory locks never meet (`pg_locks.objsubid` 2 and 1), so it cannot
//! collide with the schema-migration and import locks (one-key), and its
//! first key differs from ingest's per-host locks (`HOST_LOCK = 1`).
//!
//! # Modes
//!
//! [`Share::Exclusive`] is what a controller takes today. A later
//! `controllers = "several"` takes the same key with [`Share::Shared`]:
//! shared holders coexist, and every exclusive taker (a controller in
//! one-controller mode, `rblfleet migrate --to`, which takes the key
//! exclusively for its transaction) is refused while any of them serves,
//! and refuses them in turn.
//!
//! # Losing it
//!
//! The lock dies with its connection (a database restart, a network cut,
//! an administrator's `pg_terminate_backend`). The holder checks every
//! [`CHECK_EVERY`] that its session still holds the lock, with an answer
//! required within [`CHECK_TIMEOUT`]; otherwise [`ServingLock::lost`]
//! resolves and the controller stops serving and exits non-zero (systemd's
//! `Restart=on-failure` starts it again, and start-up takes the lock or
//! refuses). It does not re-take the lock in-process: meanwhile another
//! controller or a migration may have taken it, and resuming would need a
//! second, rarely exercised path that proves nothing ran in the gap; the
//! start-up path already handles both outcomes and is tested.

use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio_postgres::{Client, NoTls};

use super::db;
use super::held::{LockThread, thread_runtime};
use crate::store::StoreError;

/// First key of the serving lock (ingest's host locks use 1).
pub(crate) const SERVING_NS: i32 = 2;
/// Second key: the whole database (several-controller mode may add
/// shards under other keys of the same namespace).
pub(crate) const SERVING_KEY: i32 = 0;

/// How often the holder checks that it still holds the lock.
pub const CHECK_EVERY: Duration = Duration::from_secs(5);
/// How long a check may take before the lock counts as lost.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// How the serving lock is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Share {
    /// The only controller on the database (today's mode).
    Exclusive,
    /// One of several controllers (reserved for `controllers = "several"`).
    Shared,
}

impl Share {
    fn try_sql(self) -> &'static str {
        match self {
            Share::Exclusive => "SELECT pg_try_advisory_lock($1, $2)",
            Share::Shared => "SELECT pg_try_advisory_lock_shared($1, $2)",
        }
    }
}

/// A held serving lock. Dropping it closes its connection, which releases
/// the lock.
#[derive(Debug)]
pub struct ServingLock {
    database: String,
    lost: watch::Receiver<Option<String>>,
    /// Dropped last: closes the connection, which releases the lock.
    _holder: LockThread,
}

impl ServingLock {
    /// Connects, takes the lock in `share` mode and starts watching it;
    /// `DatabaseInUse` when another holder conflicts.
    pub(crate) fn take(
        mut config: tokio_postgres::Config,
        database: String,
        share: Share,
    ) -> Result<ServingLock, StoreError> {
        // What a refused controller reads about this one.
        config.application_name(holder_name());
        let (taken, outcome) = std::sync::mpsc::sync_channel(1);
        let (stop, stopped) = oneshot::channel();
        let (lost_tx, lost) = watch::channel(None);
        let name = database.clone();
        let thread = std::thread::Builder::new()
            .name("rblfleet-pg-lock".into())
            .spawn(move || hold(config, name, share, taken, stopped, lost_tx))
            .map_err(|e| StoreError::Postgres(format!("cannot start the serving-lock thread: {e}")))?;
        let lock = ServingLock { database, lost, _holder: LockThread::new(stop, thread, "serving-lock") };
        // On a refusal the thread has ended; dropping `lock` joins it.
        outcome
            .recv()
            .unwrap_or_else(|_| Err(StoreError::Postgres("the serving-lock thread stopped before answering".into())))
            .map(|()| lock)
    }

    /// The database as `host:port/db`.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// Resolves when the lock is lost, with why; never while it is held.
    pub async fn lost(&mut self) -> String {
        match self.lost.wait_for(Option::is_some).await {
            Ok(why) => why.clone().unwrap_or_default(),
            Err(_) => "the serving-lock thread stopped".into(),
        }
    }
}

/// `rblfleet controller pid N on HOST`: shown in `pg_stat_activity`.
fn holder_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = host.trim();
    let mut name = format!("rblfleet controller pid {}", std::process::id());
    if !host.is_empty() {
        name.push_str(" on ");
        name.push_str(host);
    }
    // PostgreSQL keeps 63 bytes of it.
    name.chars().take(63).collect()
}

/// The lock thread: take, answer, then check until stopped or lost.
fn hold(
    config: tokio_postgres::Config,
    database: String,
    share: Share,
    taken: std::sync::mpsc::SyncSender<Result<(), StoreError>>,
    mut stopped: oneshot::Receiver<()>,
    lost: watch::Sender<Option<String>>,
) {
    let Some(runtime) = thread_runtime(&taken) else { return };
    runtime.block_on(async move {
        let client = match take_on(&config, &database, share).await {
            Ok(client) => client,
            Err(e) => {
                let _ = taken.send(Err(e));
                return;
            }
        };
        let _ = taken.send(Ok(()));
        loop {
            tokio::select! {
                _ = &mut stopped => {
                    // Released now rather than when the server notices the
                    // closed connection, so a restart can take it at once.
                    let _ = tokio::time::timeout(CHECK_TIMEOUT, client.batch_execute("SELECT pg_advisory_unlock_all()")).await;
                    return;
                }
                () = tokio::time::sleep(CHECK_EVERY) => {}
            }
            let why = match tokio::time::timeout(CHECK_TIMEOUT, still_held(&client)).await {
                Ok(Ok(true)) => continue,
                Ok(Ok(false)) => "the session no longer holds the lock".to_string(),
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("no answer within {} s", CHECK_TIMEOUT.as_secs()),
            };
            tracing::error!(%database, %why, "the PostgreSQL serving lock is lost");
            let _ = lost.send(Some(format!("the serving lock on {database} is lost: {why}")));
            return;
        }
    });
}

async fn take_on(config: &tokio_postgres::Config, database: &str, share: Share) -> Result<Client, StoreError> {
    let (client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|e| StoreError::Postgres(format!("cannot connect for the serving lock: {e}")))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "the serving lock's PostgreSQL connection closed");
        }
    });
    let row =
        client.query_one(share.try_sql(), &[&SERVING_NS, &SERVING_KEY]).await.map_err(db("taking the serving lock"))?;
    if row.get::<_, bool>(0) {
        return Ok(client);
    }
    Err(StoreError::DatabaseInUse { database: database.into(), holder: holder(&client).await })
}

async fn still_held(client: &Client) -> Result<bool, StoreError> {
    let row = client
        .query_one(
            &format!(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
                   AND classid = {SERVING_NS} AND objid = {SERVING_KEY} AND objsubid = 2 AND granted)"
            ),
            &[],
        )
        .await
        .map_err(db("checking the serving lock"))?;
    Ok(row.get(0))
}

/// Takes the serving lock exclusively for the rest of `client`'s open
/// transaction (`rblfleet migrate --to`): `DatabaseInUse` while a
/// controller serves the database.
pub(crate) async fn exclude_controllers(client: &Client, database: &str) -> Result<(), StoreError> {
    let row = client
        .query_one("SELECT pg_try_advisory_xact_lock($1, $2)", &[&SERVING_NS, &SERVING_KEY])
        .await
        .map_err(db("taking the serving lock"))?;
    if row.get::<_, bool>(0) {
        return Ok(());
    }
    Err(StoreError::DatabaseInUse { database: database.into(), holder: holder(client).await })
}

/// Who holds the serving lock, as far as this role may see.
pub(crate) async fn holder(client: &Client) -> String {
    let sql = format!(
        "SELECT l.pid, l.mode, a.application_name, host(a.client_addr), a.backend_start::text
           FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'advisory' AND l.granted AND l.database =
                (SELECT oid FROM pg_database WHERE datname = current_database())
            AND l.classid = {SERVING_NS} AND l.objid = {SERVING_KEY} AND l.objsubid = 2
          ORDER BY l.pid"
    );
    let rows = match client.query(&sql, &[]).await {
        Ok(rows) => rows,
        Err(e) => return format!("holder unknown: pg_locks unreadable ({e})"),
    };
    if rows.is_empty() {
        return "a holder that let go just now: try again".into();
    }
    let each: Vec<String> = rows
        .iter()
        .map(|row| {
            let pid: i32 = row.get(0);
            let mode: Option<String> = row.get(1);
            let app: Option<String> = row.get(2);
            let client_addr: Option<String> = row.get(3);
            let since: Option<String> = row.get(4);
            let shared = if mode.as_deref() == Some("ShareLock") { "shared, " } else { "" };
            // backend_start is NULL for sessions this role may not inspect.
            match since {
                Some(since) => format!(
                    "{shared}server pid {pid}, \"{}\" from {}, connected since {since}",
                    app.unwrap_or_default(),
                    client_addr.as_deref().unwrap_or("a local socket"),
                ),
                None => format!(
                    "{shared}server pid {pid}; its client is hidden from this role (grant it pg_read_all_stats to see it)"
                ),
            }
        })
        .collect();
    each.join("; ")
}

#[cfg(test)]
mod tests;
