//! Durable controller state, in sled or PostgreSQL. No other module knows
//! either.
//!
//! sled trees (the PostgreSQL tables mirror them one to one, see
//! `pg/migrations`):
//! - `meta`: `schema_version` → u32 big-endian.
//! - `hosts`: host id → [`encoding`] of a `HostSummary` (latest state per host).
//! - `reports`: host id, 0x00, epoch (u64 BE), seq (u64 BE) → [`encoding`] of
//!   the `HostReport` as received. Big-endian keys keep one host's reports in
//!   arrival order for range scans.
//! - `checks`, `episodes`, `zone_usage`: blocklist state (see `listings`).
//! - `rollups`: hourly evidence per host (see `history`).
//! - `cases`, `case_index`, `receivers`: delisting cases and receiver-side
//!   listing state (see `cases`).
//! - `host_domains`, `sending`: the domains hosts serve and send with (see
//!   `domains`).
//! - `outbreak`, `warnings`: the outbreak detector's state per host and the
//!   early warnings it raised (see `outbreak`).
//! - `actions`: containment actions and their audit (see `actions`).
//!
//! Every write that acknowledges something to an agent is flushed to disk
//! (on PostgreSQL: committed) before the acknowledgement leaves, so a report
//! acked before a crash is present after it.
//!
//! # Two backends
//!
//! [`Store`] is a facade (see `facade`) over sled (the default, embedded)
//! or PostgreSQL (`pg`, for a fleet that outgrows one box). Nothing outside
//! this module knows which one it talks to, and the API stays synchronous
//! for both:
//!
//! - sled answers most reads from its page cache in microseconds, and ~36
//!   files call the store; making every method `async` would touch all of
//!   them for a backend most installations never use.
//! - PostgreSQL is driven by tokio-postgres on the store's own runtime
//!   thread (`pg::Pg`): a method hands its query to that runtime and waits
//!   on a std channel for the answer. The caller's thread blocks for one
//!   round trip (~0.1–1 ms on a LAN), like a sled read that misses the
//!   cache; nothing ever calls `block_on` inside a runtime. Report ingest,
//!   the hot path, does not block a tokio worker at all: it goes through the
//!   group-commit queue (`commit`), whose writer thread waits instead.
//! - The cost: a slow database holds the calling worker for as long as the
//!   query takes. Long scans (reports, listings of the whole fleet) belong
//!   in `spawn_blocking`, as `prune` already is; if profiling shows workers
//!   starved, the facade can grow `async` twins method by method without
//!   changing the backends.

mod acks;
mod actions;
#[cfg(test)]
pub(crate) mod backends;
mod backup;
mod cases;
mod commit;
mod domains;
mod encoding;
mod facade;
#[cfg(test)]
pub(crate) mod fixture;
mod history;
mod leadership;
mod listings;
mod migrate;
mod outbreak;
mod pg;
mod rechecks;
mod reports;
mod restore;
pub mod rollup;
mod space;
mod verify;

use std::path::{Path, PathBuf};

pub use acks::AckReads;
pub use backup::{BACKUP_FORMAT, BackupError, BackupInfo, TreeCount, inspect_backup};
pub use commit::CommitStats;
pub use domains::WatchedDomain;
pub use facade::{PG_BACKUP, PG_VERIFY};
pub use history::Pruned;
pub use leadership::{Leadership, Role, TURN_WAIT, Task, Turn};
pub use migrate::{MigrateError, Migrated, TableCopy, migrate_from_sled};
pub use outbreak::MAX_WARNINGS_PER_HOST;
/// A throwaway PostgreSQL for tests (this crate's, and with the
/// `test-support` feature other crates').
#[cfg(any(test, feature = "test-support"))]
pub use pg::cluster::TestDb;
/// The election's pace, for tests that run it faster.
#[cfg(test)]
pub(crate) use pg::lead::Timing as LeadTiming;
pub use pg::{PgOptions, PgPassword, ServingLock, Share};
pub use reports::Applied;
pub use restore::{Restored, restore};
pub use space::{DEFAULT_MIN_FREE_BYTES, SpaceStatus};
pub use verify::{Problem, TreeSummary, VerifyReport, verify_dir};

/// Receiver-side listing states by (ip, provider) (`Store::receiver_states`).
pub type ReceiverStates = std::collections::HashMap<(String, String), rblfleet_proto::v1::ReceiverState>;

/// Cases by (ip, list id), as [`Store::cases_for`] returns them.
pub type CasesFor = std::collections::HashMap<(String, String), rblfleet_proto::v1::Case>;

/// The on-disk layout this binary reads and writes.
pub const SCHEMA_VERSION: u32 = 1;
const SCHEMA_KEY: &[u8] = b"schema_version";

/// Storage errors. Each names what was being read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "cannot open the data directory {path}: {cause} (is another `rblfleet serve` using it? a corrupt store can be moved aside and restored from a backup)"
    )]
    Open { path: PathBuf, cause: sled::Error },
    #[error("the data directory {path} has schema version {found}; this rblfleet reads version {expected}")]
    Schema { path: PathBuf, found: u32, expected: u32 },
    /// Built by `From<sled::Error>` (in `space`), which tells a full disk apart.
    #[error("storage I/O failed: {0}")]
    Io(sled::Error),
    #[error("{}", space::disk_full_message(path, *free, *reserve))]
    DiskFull { path: PathBuf, free: u64, reserve: u64 },
    #[error("cannot measure the free space of {path}: {cause}")]
    SpaceProbe { path: PathBuf, cause: std::io::Error },
    #[error("stored record {key} is corrupt: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("report ({epoch}, {seq}) from {host_id} was already stored with different content")]
    Conflict { host_id: String, epoch: u64, seq: u64 },
    #[error(
        "{host_id} sent sequence {seq} in epoch {epoch}, but the controller already has sequence {last_seq}; sequences must increase"
    )]
    SeqBackwards { host_id: String, epoch: u64, seq: u64, last_seq: u64 },
    #[error("the controller is over capacity: {pending} reports are already waiting to be stored")]
    Overloaded { pending: usize },
    #[error(
        "{host_id} sent epoch {epoch}, older than the epoch {current} already stored; the agent's spool was replaced by an older one"
    )]
    StaleEpoch { host_id: String, epoch: u64, current: u64 },
    /// A PostgreSQL statement or connection failed (the text names which).
    #[error("PostgreSQL: {0}")]
    Postgres(String),
    #[error(
        "the database has rblfleet schema version {found}, newer than version {expected} that this rblfleet knows: upgrade rblfleet (or point it at another database)"
    )]
    SchemaNewer { found: i32, expected: i32 },
    /// Another controller (or a migration) holds the database's serving
    /// lock (see `pg::serving`).
    #[error(
        "the PostgreSQL database {database} is in use by another rblfleet controller or migration ({holder}); one controller per database unless all of them set [store] controllers = \"several\" (a migration needs it to itself): stop the other one first, or give this one its own database"
    )]
    DatabaseInUse { database: String, holder: String },
    /// `rblfleet backup` on a PostgreSQL store: what to run instead.
    #[error("{}; this controller's database is {database}", facade::PG_BACKUP)]
    BackupWithPgDump { database: String },
    /// Something only the sled store does (backup, verify, free space);
    /// the text names the PostgreSQL tool that does it there instead.
    #[error("{0}")]
    Unsupported(&'static str),
}

/// The controller's store: sled or PostgreSQL behind one API (see
/// `facade` for the methods and `# Two backends` above for why it is
/// synchronous).
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    /// The group-commit writer's queue (see `commit`).
    commit: std::sync::Arc<commit::CommitQueue>,
}

/// Where the data lives.
#[derive(Debug, Clone)]
enum Backend {
    Sled(Sled),
    Postgres(std::sync::Arc<pg::Pg>),
}

/// The sled store: one data directory, one process.
#[derive(Debug, Clone)]
pub(super) struct Sled {
    db: sled::Db,
    /// Transactions and flushes take turns here. In sled 0.34 a transaction
    /// waiting for its exclusive lock while flushes hold shared ones
    /// deadlocked the store (seen with 32 agents reporting at once, gdb
    /// showing `TransactionalTrees::stage` against `iobuf::flush`).
    writes: std::sync::Arc<std::sync::Mutex<()>>,
    hosts: sled::Tree,
    reports: sled::Tree,
    meta: sled::Tree,
    checks: sled::Tree,
    episodes: sled::Tree,
    zone_usage: sled::Tree,
    rollups: sled::Tree,
    cases: sled::Tree,
    case_index: sled::Tree,
    receivers: sled::Tree,
    host_domains: sled::Tree,
    sending: sled::Tree,
    outbreak: sled::Tree,
    warnings: sled::Tree,
    actions: sled::Tree,
    /// See [`Store::domains_generation`].
    domains_generation: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Free space of the data directory and the reserve (see `space`).
    space: std::sync::Arc<space::Space>,
}

/// How to open the store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// sled page cache, bytes. sled's default (1 GiB) is far more than the
    /// controller needs and inflates the data directory.
    pub cache_bytes: u64,
    /// Reports that may wait for the writer; one more is refused as
    /// `StoreError::Overloaded`.
    pub max_pending_reports: usize,
    /// Free space kept on the data directory's filesystem: below it reports
    /// are refused (`StoreError::DiskFull`). 0 turns the check off.
    pub min_free_bytes: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { cache_bytes: 64 * 1024 * 1024, max_pending_reports: 512, min_free_bytes: DEFAULT_MIN_FREE_BYTES }
    }
}

impl Store {
    /// Opens (or creates) the sled store in `dir`, checking its schema version.
    pub fn open(dir: &Path, options: &StoreOptions) -> Result<Store, StoreError> {
        let sled = Sled::open(dir, options)?;
        let queue = commit::CommitQueue::start(Backend::Sled(sled.clone()), options.max_pending_reports.max(1))
            .map_err(|e| StoreError::Open { path: dir.into(), cause: sled::Error::Io(e) })?;
        Ok(Store { backend: Backend::Sled(sled), commit: std::sync::Arc::new(queue) })
    }

    /// Connects to the PostgreSQL database `options` names, applying the
    /// embedded schema migrations (refusing a newer schema).
    pub fn open_postgres(options: &PgOptions, store: &StoreOptions) -> Result<Store, StoreError> {
        let pg = std::sync::Arc::new(pg::Pg::connect(options)?);
        let queue = commit::CommitQueue::start(Backend::Postgres(pg.clone()), store.max_pending_reports.max(1))
            .map_err(|e| StoreError::Postgres(format!("cannot start the store writer: {e}")))?;
        Ok(Store { backend: Backend::Postgres(pg), commit: std::sync::Arc::new(queue) })
    }

    /// Waits until everything written so far is durable: on sled a flush
    /// in the writer's turn; PostgreSQL's commits already are.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let Backend::Sled(sled) = &self.backend else { return Ok(()) };
        let sled = sled.clone();
        tokio::task::spawn_blocking(move || {
            let _turn = sled.write_turn();
            sled.db.flush().map(|_| ())
        })
        .await
        .map_err(|e| StoreError::Io(sled::Error::ReportableBug(format!("store flush task failed: {e}"))))??;
        Ok(())
    }
}

impl Sled {
    fn open(dir: &Path, options: &StoreOptions) -> Result<Sled, StoreError> {
        let open_err = |cause| StoreError::Open { path: dir.into(), cause };
        let db = sled::Config::new().path(dir).cache_capacity(options.cache_bytes).open().map_err(open_err)?;
        let meta = db.open_tree("meta").map_err(open_err)?;
        match meta.get(SCHEMA_KEY).map_err(open_err)? {
            None => {
                meta.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes()).map_err(open_err)?;
                db.flush().map_err(open_err)?;
            }
            Some(raw) => {
                let found =
                    <[u8; 4]>::try_from(raw.as_ref()).map(u32::from_be_bytes).map_err(|_| StoreError::Corrupt {
                        key: "meta/schema_version".into(),
                        reason: format!("{} bytes, expected 4", raw.len()),
                    })?;
                if found != SCHEMA_VERSION {
                    return Err(StoreError::Schema { path: dir.into(), found, expected: SCHEMA_VERSION });
                }
            }
        }
        let hosts = db.open_tree("hosts").map_err(open_err)?;
        let reports = db.open_tree("reports").map_err(open_err)?;
        let checks = db.open_tree("checks").map_err(open_err)?;
        let episodes = db.open_tree("episodes").map_err(open_err)?;
        let zone_usage = db.open_tree("zone_usage").map_err(open_err)?;
        let rollups = db.open_tree("rollups").map_err(open_err)?;
        let cases = db.open_tree("cases").map_err(open_err)?;
        let case_index = db.open_tree("case_index").map_err(open_err)?;
        let receivers = db.open_tree("receivers").map_err(open_err)?;
        let host_domains = db.open_tree("host_domains").map_err(open_err)?;
        let sending = db.open_tree("sending").map_err(open_err)?;
        let outbreak = db.open_tree("outbreak").map_err(open_err)?;
        let warnings = db.open_tree("warnings").map_err(open_err)?;
        let actions = db.open_tree("actions").map_err(open_err)?;
        Ok(Sled {
            db,
            writes: Default::default(),
            hosts,
            reports,
            meta,
            checks,
            episodes,
            zone_usage,
            rollups,
            cases,
            case_index,
            receivers,
            host_domains,
            sending,
            outbreak,
            warnings,
            actions,
            domains_generation: Default::default(),
            space: std::sync::Arc::new(space::Space::new(dir, options.min_free_bytes)),
        })
    }

    /// Takes the writer's turn (see `writes`). A poisoned lock only means
    /// another writer panicked; sled's own state is still consistent.
    fn write_turn(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writes.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests;
