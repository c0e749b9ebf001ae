//! The PostgreSQL backend: the same API as the sled store (see `facade`),
//! for a fleet that outgrows one box or wants the database team's
//! replication and backups.
//!
//! # Driver
//!
//! tokio-postgres, without TLS and without a pool crate. Measured with
//! `cargo tree -e normal,build` for Linux against this workspace: it adds 22
//! crates, all small (tokio-postgres 9k lines, postgres-protocol 3.5k,
//! postgres-types 4.4k; then phf, md-5, hmac, stringprep, whoami and a
//! newer digest/sha2 generation). sqlx 0.8 with only `postgres` and
//! `runtime-tokio` adds 30, among them sqlx-core (14k lines) and
//! sqlx-postgres (20k), plus hashlink, crossbeam-queue, event-listener,
//! futures-intrusive, rand 0.8 and url, for a query layer this backend does
//! not use. A pool crate (deadpool) would manage what `Pg` does in forty
//! lines: a fixed number of connections, each owned by one worker task.
//! TLS to the database is left to a later phase (it would use the rustls +
//! ring already in the tree, through
//! tokio-postgres-rustls); until then the URL must point at a server on
//! loopback, a Unix socket, or a network the operator trusts.
//!
//! # Threads
//!
//! `Pg` owns one thread running a current-thread tokio runtime with
//! `pool_size` connection workers. A store method packs its statements into
//! a job, queues it and waits on a std channel for the answer (see the
//! store's `# Two backends`): no `block_on` in anybody's runtime, and the
//! connections never see the callers' runtimes (a store opened in one test
//! runtime and used from another works). On a multi-thread runtime the
//! wait is `block_in_place`, so the waiting worker's other tasks move to
//! another thread meanwhile. A worker whose connection broke reconnects
//! before its next job.

mod cases;
#[cfg(any(test, feature = "test-support"))]
pub mod cluster;
mod held;
pub(super) mod import;
mod ingest;
pub(super) mod lead;
mod listings;
mod noc;
mod other;
mod rechecks;
mod reports;
mod retention;
mod schema;
mod serving;
#[cfg(test)]
mod tests;
pub(super) mod turn;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{Mutex, mpsc};
use tokio_postgres::{Client, NoTls};

use super::StoreError;
pub use serving::{ServingLock, Share};

/// Where the database is and how to log in.
#[derive(Clone)]
pub struct PgOptions {
    /// `postgresql://user@host:port/db` or key=value form, without a
    /// password (refused: it would end up in configs and process lists).
    pub url: String,
    /// Connections kept open (and statements in flight at once).
    pub pool_size: usize,
    pub password: Option<PgPassword>,
}

/// A database password: never printed, not even by `{:?}`.
#[derive(Clone, PartialEq, Eq)]
pub struct PgPassword(pub String);

impl std::fmt::Debug for PgPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgPassword(<redacted>)")
    }
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("url", &self.url)
            .field("pool_size", &self.pool_size)
            .field("password", &self.password)
            .finish()
    }
}

impl PgOptions {
    /// The driver's configuration: the URL parsed, the password added.
    pub fn driver_config(&self) -> Result<tokio_postgres::Config, StoreError> {
        let mut config: tokio_postgres::Config = self
            .url
            .parse()
            .map_err(|e| StoreError::Postgres(format!("store.url is not a PostgreSQL connection string: {e}")))?;
        if config.get_password().is_some() {
            return Err(StoreError::Postgres(
                "store.url contains a password: put it in store.password_file or RBLFLEET_PG_PASSWORD instead".into(),
            ));
        }
        if let Some(password) = &self.password {
            config.password(password.0.as_bytes());
        }
        if config.get_application_name().is_none() {
            config.application_name("rblfleet");
        }
        // Without one, a database host that drops packets holds every
        // store call for the kernel's TCP timeout (minutes) per attempt.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        keep_alive(&mut config);
        Ok(config)
    }
}

/// How long one connection attempt may take unless the URL says
/// (`connect_timeout`).
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// TCP keepalive on every connection unless the URL says otherwise
/// (`keepalives_idle`, `keepalives_interval`, `keepalives_retries`,
/// `tcp_user_timeout`; `keepalives=0` turns probing off).
///
/// The driver's defaults are the kernel's: the first probe after two hours
/// idle, and unacknowledged data retransmitted for about 15 minutes. A
/// database host that vanished (power cut, network partition: no RST ever
/// comes) would hold an idle connection — the serving lock's, a pooled one
/// — for hours, and a busy one for a quarter of an hour. With these, an
/// idle connection is found dead after 5 s + 3 × 2 s = 11 s and one with
/// unacknowledged data after 10 s; the worker reconnects before its next
/// job (or reports the database down).
pub const KEEPALIVE_IDLE: std::time::Duration = std::time::Duration::from_secs(5);
pub const KEEPALIVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);
pub const KEEPALIVE_RETRIES: u32 = 3;
pub const TCP_USER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The driver's default idle time before the first probe (two hours): a
/// URL that leaves it there did not set it.
const DRIVER_KEEPALIVE_IDLE: std::time::Duration = std::time::Duration::from_secs(2 * 60 * 60);

fn keep_alive(config: &mut tokio_postgres::Config) {
    if config.get_keepalives_idle() == DRIVER_KEEPALIVE_IDLE {
        config.keepalives_idle(KEEPALIVE_IDLE);
    }
    if config.get_keepalives_interval().is_none() {
        config.keepalives_interval(KEEPALIVE_INTERVAL);
    }
    if config.get_keepalives_retries().is_none() {
        config.keepalives_retries(KEEPALIVE_RETRIES);
    }
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(TCP_USER_TIMEOUT);
    }
}

/// A connection for a job, or why there is none.
type Checkout = Result<Arc<Conn>, String>;
type Job = Box<dyn FnOnce(Checkout) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// A pooled connection and the statements prepared on it.
///
/// `Client::query` with SQL text costs two round trips (Parse/Describe,
/// then Bind/Execute) and a plan each time; the hot statements (ingest's,
/// the reads every report makes) are prepared once per connection and then
/// cost one. Everything else uses the client as before (`Deref`).
pub(crate) struct Conn {
    client: Client,
    statements: std::sync::Mutex<std::collections::HashMap<&'static str, tokio_postgres::Statement>>,
}

impl std::ops::Deref for Conn {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Conn {
    /// `sql` prepared on this connection, the first time only.
    pub(crate) async fn prepared(&self, sql: &'static str) -> Result<tokio_postgres::Statement, tokio_postgres::Error> {
        if let Some(statement) = self.statements.lock().unwrap_or_else(|p| p.into_inner()).get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql).await?;
        self.statements.lock().unwrap_or_else(|p| p.into_inner()).insert(sql, statement.clone());
        Ok(statement)
    }
}

/// The PostgreSQL store: a queue of jobs for the connection workers.
#[derive(Debug)]
pub(crate) struct Pg {
    jobs: Option<mpsc::UnboundedSender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// See `Store::domains_generation`.
    domains_generation: AtomicU64,
    /// Report partitions known to exist (UTC day numbers).
    partitions: std::sync::Mutex<std::collections::BTreeSet<i32>>,
    /// How to connect, for connections outside the pool (the serving
    /// lock, `lead`).
    config: tokio_postgres::Config,
    /// `host:port/db`, for messages.
    database: String,
}

impl Drop for Pg {
    fn drop(&mut self) {
        // Closing the queue ends the workers, then the runtime thread.
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the PostgreSQL store thread panicked");
        }
    }
}

impl Pg {
    /// Connects `pool_size` connections (the first failure is the answer)
    /// and brings the schema up to date.
    pub(super) fn connect(options: &PgOptions) -> Result<Pg, StoreError> {
        let config = options.driver_config()?;
        let database = database_name(&config);
        let size = options.pool_size.max(1);
        let (jobs, queue) = mpsc::unbounded_channel::<Job>();
        let (ready, connected) = std::sync::mpsc::sync_channel::<Result<(), StoreError>>(1);
        let pool_config = config.clone();
        let thread = std::thread::Builder::new()
            .name("rblfleet-pg".into())
            .spawn(move || run(pool_config, size, queue, ready))
            .map_err(|e| StoreError::Postgres(format!("cannot start the PostgreSQL thread: {e}")))?;
        let pg = Pg {
            jobs: Some(jobs),
            thread: Some(thread),
            domains_generation: AtomicU64::new(0),
            partitions: Default::default(),
            config,
            database,
        };
        connected.recv().map_err(|_| gone())??;
        schema::migrate(&pg)?;
        Ok(pg)
    }

    /// Runs `work` on a pooled connection and waits for its answer.
    pub(super) fn call<T, F, Fut>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Conn>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let (answer, answered) = std::sync::mpsc::sync_channel(1);
        let job: Job = Box::new(move |conn: Checkout| {
            Box::pin(async move {
                let result = match conn {
                    Ok(client) => work(client).await,
                    Err(why) => Err(StoreError::Postgres(why)),
                };
                let _ = answer.send(result);
            })
        });
        self.jobs.as_ref().ok_or_else(gone)?.send(job).map_err(|_| gone())?;
        let wait = || answered.recv().map_err(|_| gone());
        // On a multi-thread runtime's worker, hand the worker's other tasks
        // to another thread while this one waits; elsewhere (the commit
        // writer, a current-thread runtime, a blocking thread) just wait.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) if runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait)?
            }
            _ => wait()?,
        }
    }

    /// Takes the serving lock (see `serving`) on a connection of its own.
    pub(super) fn take_serving_lock(&self, share: Share) -> Result<ServingLock, StoreError> {
        ServingLock::take(self.config.clone(), self.database.clone(), share)
    }

    /// The database as `host:port/db`.
    pub(super) fn database(&self) -> &str {
        &self.database
    }

    pub(super) fn domains_generation(&self) -> u64 {
        self.domains_generation.load(Ordering::Acquire)
    }

    pub(super) fn domains_changed(&self) {
        self.domains_generation.fetch_add(1, Ordering::AcqRel);
    }
}

/// `host:port/db` of a driver configuration (the first host; a Unix
/// socket directory as its path), without user or password.
pub(super) fn database_name(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(dir)) => dir.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().or(config.get_user()).unwrap_or("postgres");
    format!("{host}:{port}/{db}")
}

fn gone() -> StoreError {
    StoreError::Postgres("the PostgreSQL store thread has stopped".into())
}

/// The store thread: connects the pool, reports the first connection's
/// outcome, then serves jobs until the queue closes.
fn run(
    config: tokio_postgres::Config,
    size: usize,
    queue: mpsc::UnboundedReceiver<Job>,
    ready: std::sync::mpsc::SyncSender<Result<(), StoreError>>,
) {
    let Some(runtime) = held::thread_runtime(&ready) else { return };
    runtime.block_on(async move {
        let mut clients = Vec::with_capacity(size);
        for _ in 0..size {
            match open(&config).await {
                Ok(client) => clients.push(client),
                Err(why) => {
                    let _ = ready.send(Err(StoreError::Postgres(why)));
                    return;
                }
            }
        }
        let _ = ready.send(Ok(()));
        let queue = Arc::new(Mutex::new(queue));
        let workers: Vec<_> =
            clients.into_iter().map(|client| tokio::spawn(serve(config.clone(), client, queue.clone()))).collect();
        for worker in workers {
            let _ = worker.await;
        }
    });
}

/// One connection's worker: takes the next job, reconnecting first when the
/// connection broke.
async fn serve(config: tokio_postgres::Config, mut client: Arc<Conn>, queue: Arc<Mutex<mpsc::UnboundedReceiver<Job>>>) {
    loop {
        let Some(job) = queue.lock().await.recv().await else { return };
        if client.is_closed() {
            match open(&config).await {
                Ok(fresh) => client = fresh,
                Err(why) => {
                    job(Err(why)).await;
                    continue;
                }
            }
        }
        job(Ok(client.clone())).await;
    }
}

async fn open(config: &tokio_postgres::Config) -> Result<Arc<Conn>, String> {
    let (client, connection) = config.connect(NoTls).await.map_err(|e| format!("cannot connect: {e}"))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "PostgreSQL connection closed");
        }
    });
    Ok(Arc::new(Conn { client, statements: Default::default() }))
}

/// Maps a driver error to the store's, naming what was being done.
pub(super) fn db(what: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |e| {
        let detail = match e.as_db_error() {
            Some(db) => format!("{} ({})", db.message(), db.code().code()),
            None => e.to_string(),
        };
        StoreError::Postgres(format!("{what}: {detail}"))
    }
}

/// Runs `body` between BEGIN and COMMIT on `client`; any error rolls back,
/// so the connection is clean for the next job.
pub(super) async fn in_transaction<T>(
    client: &Client,
    body: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    client.batch_execute("BEGIN").await.map_err(db("BEGIN"))?;
    match body.await {
        Ok(value) => {
            client.batch_execute("COMMIT").await.map_err(db("COMMIT"))?;
            Ok(value)
        }
        Err(error) => {
            if let Err(rollback) = client.batch_execute("ROLLBACK").await {
                tracing::warn!(%rollback, "ROLLBACK failed");
            }
            Err(error)
        }
    }
}

/// A stored u64 (PostgreSQL has no unsigned types; values above i64::MAX
/// never occur in sequence numbers or counts, and are clamped).
pub(super) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(super) fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// A stored enum's readable name: the proto name without its prefix, in
/// lower case ("CASE_STATE_OPEN" → "open"); an unknown value as its number.
pub(super) fn enum_name<E>(name: Result<&str, E>, prefix: &str, value: i32) -> String {
    match name {
        Ok(name) => name.trim_start_matches(prefix).to_ascii_lowercase(),
        Err(_) => value.to_string(),
    }
}
