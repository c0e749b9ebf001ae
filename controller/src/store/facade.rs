//! The store's public methods, each passed to the backend that holds the
//! data. The semantics are documented where sled implements them (the
//! reference backend: `reports`, `listings`, `cases`, …); the PostgreSQL
//! backend (`pg`) must behave the same, and `tests` runs one suite against
//! both.

use std::collections::BTreeMap;
use std::path::Path;

use rblfleet_proto::v1::{
    ActionRecord, Case, HostDomains, HostReport, HostSummary, HourRollup, ListingEpisode, OutbreakWarning,
    ReceiverState, SendingDomain, ZoneCheck,
};

use super::{Backend, BackupError, BackupInfo, Pruned, SpaceStatus, Store, StoreError, VerifyReport};
use super::{CasesFor, ReceiverStates, WatchedDomain};
use super::{Leadership, Role};

/// What `rblfleet backup` answers for a PostgreSQL store. pg_dump takes a
/// consistent snapshot (one repeatable-read transaction) while the
/// controllers keep writing; the custom format restores table by table.
pub const PG_BACKUP: &str = "`rblfleet backup` copies a sled store; this controller keeps its data in PostgreSQL, \
     which is backed up with PostgreSQL's own tools: `pg_dump --format=custom --file=rblfleet.dump \
     'postgresql://USER@HOST/DB'` (a consistent snapshot, taken while the controllers keep running), restored into \
     a new empty database with `pg_restore --no-owner --dbname='postgresql://USER@HOST/NEWDB' rblfleet.dump`; or \
     the database team's continuous backups (base backups and WAL archiving, for point-in-time recovery)";

/// What `verify` answers for a PostgreSQL store.
pub const PG_VERIFY: &str = "`rblfleet verify` checks a sled store; PostgreSQL checks its own storage: run \
     `pg_amcheck --install-missing --heapallindexed 'postgresql://USER@HOST/DB'` (PostgreSQL 14 or later, as a \
     role that may create the amcheck extension; it names corrupt tables and indexes) and keep data checksums on \
     (`initdb --data-checksums`); rblfleet writes every change in a transaction, so what it stores there is \
     consistent unless the storage is damaged";

/// `Store::$name` calls `$name` on whichever backend the store has.
macro_rules! dispatch {
    ($( $(#[$doc:meta])* fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty; )*) => {
        impl Store {
            $(
                $(#[$doc])*
                pub fn $name(&self $(, $arg: $ty)*) -> $ret {
                    match &self.backend {
                        Backend::Sled(s) => s.$name($($arg),*),
                        Backend::Postgres(p) => p.$name($($arg),*),
                    }
                }
            )*
        }
    };
}

dispatch! {
    /// Every host the controller has heard from, ordered by host id.
    fn list_hosts(&self) -> Result<Vec<HostSummary>, StoreError>;
    /// One host's summary and its latest report, if the host is known.
    fn get_host(&self, host_id: &str) -> Result<Option<(HostSummary, Option<HostReport>)>, StoreError>;
    /// All stored reports of one host, oldest first.
    fn host_reports(&self, host_id: &str) -> Result<Vec<HostReport>, StoreError>;

    /// The latest check of (ip, zone), if any.
    fn zone_check(&self, ip: &str, zone_id: &str) -> Result<Option<ZoneCheck>, StoreError>;
    /// Every stored check, by (ip, zone).
    fn all_checks(&self) -> Result<Vec<ZoneCheck>, StoreError>;
    /// The checks of one IP.
    fn ip_checks(&self, ip: &str) -> Result<Vec<ZoneCheck>, StoreError>;
    /// The episode of (ip, zone) that began at `first_seen_ms`.
    fn episode(&self, ip: &str, zone_id: &str, first_seen_ms: i64) -> Result<Option<ListingEpisode>, StoreError>;
    /// Every episode of one IP, oldest first per zone.
    fn ip_episodes(&self, ip: &str) -> Result<Vec<ListingEpisode>, StoreError>;
    /// Stores a check and its episode (if any) atomically.
    fn record_check(&self, check: &ZoneCheck, episode: Option<&ListingEpisode>) -> Result<(), StoreError>;
    /// Stores checks with their episodes atomically.
    fn record_checks(&self, writes: &[(&ZoneCheck, Option<&ListingEpisode>)]) -> Result<(), StoreError>;
    /// Stores an episode on its own (receiver-side listings have no check).
    fn put_episode(&self, episode: &ListingEpisode) -> Result<(), StoreError>;
    /// Adds `n` queries to a zone's count for `day` and returns the new total.
    fn add_zone_usage(&self, zone_id: &str, day: u32, n: u64) -> Result<u64, StoreError>;
    /// A zone's query count for `day`.
    fn zone_usage(&self, zone_id: &str, day: u32) -> Result<u64, StoreError>;
    /// The query counts of `zone_ids` for `day`, in that order (one round
    /// trip on PostgreSQL).
    fn zones_usage(&self, zone_ids: &[String], day: u32) -> Result<Vec<u64>, StoreError>;

    /// A fresh case id (ids start at 1 and are never reused).
    fn next_case_id(&self) -> Result<u64, StoreError>;
    /// Stores a case and indexes it by (ip, list).
    fn put_case(&self, case: &Case) -> Result<(), StoreError>;
    /// One case by id.
    fn case(&self, id: u64) -> Result<Option<Case>, StoreError>;
    /// The case of (ip, list), if one was ever opened.
    fn case_for(&self, ip: &str, list_id: &str) -> Result<Option<Case>, StoreError>;
    /// The cases of several (ip, list) pairs in one call (one round trip
    /// on PostgreSQL, for views that show a case beside every listing);
    /// pairs without a case are absent.
    fn cases_for(&self, pairs: &[(String, String)]) -> Result<CasesFor, StoreError>;
    /// Every case, by id.
    fn all_cases(&self) -> Result<Vec<Case>, StoreError>;
    /// The receiver-side listing state of (ip, provider).
    fn receiver_state(&self, ip: &str, provider: &str) -> Result<Option<ReceiverState>, StoreError>;
    /// The receiver-side listing states of several (ip, provider) pairs, in
    /// one call (one round trip on PostgreSQL); pairs never stored are absent.
    fn receiver_states(&self, pairs: &[(String, String)]) -> Result<ReceiverStates, StoreError>;
    /// Stores a receiver-side listing state.
    fn put_receiver_state(&self, state: &ReceiverState) -> Result<(), StoreError>;
    /// Every receiver state.
    fn all_receiver_states(&self) -> Result<Vec<ReceiverState>, StoreError>;

    /// A host's roll-ups with `from_ms <= hour < to_ms`, oldest first.
    fn rollups(&self, host_id: &str, from_ms: i64, to_ms: i64) -> Result<Vec<HourRollup>, StoreError>;
    /// [`Store::rollups`] of several hosts in one call (one round trip on
    /// PostgreSQL): host by host in the order given, each oldest first.
    fn hosts_rollups(&self, host_ids: &[String], from_ms: i64, to_ms: i64) -> Result<Vec<HourRollup>, StoreError>;
    /// Deletes raw reports that ended before `raw_before_ms` (keeping each
    /// host's latest) and roll-ups older than `rollup_before_ms`.
    fn prune(&self, raw_before_ms: i64, rollup_before_ms: i64) -> Result<Pruned, StoreError>;

    /// Writes an action record durably (created or updated).
    fn put_action(&self, record: &ActionRecord) -> Result<(), StoreError>;
    /// One action record by id.
    fn action(&self, id: &str) -> Result<Option<ActionRecord>, StoreError>;
    /// Every action record (of `host_id` when given), newest first.
    fn actions(&self, host_id: Option<&str>) -> Result<Vec<ActionRecord>, StoreError>;

    /// Stores the host's outbreak-detector state and warning records.
    fn save_outbreak(&self, host_id: &str, state: &[u8], warnings: &[OutbreakWarning]) -> Result<(), StoreError>;
    /// The host's detector state as stored.
    fn outbreak_state(&self, host_id: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// The host's warning records, newest first.
    fn warnings_of(&self, host_id: &str) -> Result<Vec<OutbreakWarning>, StoreError>;
    /// Every warning record of the fleet, newest first.
    fn all_warnings(&self) -> Result<Vec<OutbreakWarning>, StoreError>;

    /// Bumped whenever a host's domain list or a new sender domain is stored.
    fn domains_generation(&self) -> u64;
    /// One host's last domain list, if its agent ever sent one.
    fn host_domains(&self, host_id: &str) -> Result<Option<HostDomains>, StoreError>;
    /// Hosts that sent with `domain` (wire form), by host id.
    fn sending_of(&self, domain: &str) -> Result<Vec<SendingDomain>, StoreError>;

    /// `Err(StoreError::DiskFull)` while the data directory's filesystem has
    /// less free space than the reserve (sled only: PostgreSQL refuses
    /// writes itself when its disk is full).
    fn check_space(&self) -> Result<(), StoreError>;
    /// Free space and reserve of the data directory now.
    fn space_status(&self) -> Result<SpaceStatus, StoreError>;
    /// What the store takes on disk.
    fn size_on_disk(&self) -> Result<u64, StoreError>;
    /// Checks the whole store at one point in time.
    fn verify(&self) -> Result<VerifyReport, StoreError>;
}

impl Store {
    /// Every registrable domain the fleet serves or sends with. `registrable`
    /// maps a reported name to the name the lists are asked about.
    pub fn watched_domains(
        &self,
        registrable: impl Fn(&str) -> String,
    ) -> Result<BTreeMap<String, WatchedDomain>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => s.watched_domains(registrable),
            Backend::Postgres(p) => p.watched_domains(&registrable),
        }
    }

    /// Writes every record to `out` as one point-in-time snapshot (sled; a
    /// PostgreSQL store is backed up with `pg_dump`, see [`PG_BACKUP`]).
    pub fn export_backup(
        &self,
        out: &mut dyn std::io::Write,
    ) -> Result<(BackupInfo, std::time::Duration), BackupError> {
        self.check_backup()?;
        match &self.backend {
            Backend::Sled(s) => s.export_backup(out),
            Backend::Postgres(p) => Err(StoreError::BackupWithPgDump { database: p.database().into() }.into()),
        }
    }

    /// `Ok` when `export_backup` can run: the admin API asks before it
    /// prepares anything, so a PostgreSQL controller answers with how its
    /// database is backed up rather than with a sled-only detail.
    pub fn check_backup(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sled(_) => Ok(()),
            Backend::Postgres(p) => Err(StoreError::BackupWithPgDump { database: p.database().into() }),
        }
    }

    /// Takes the serving lock of a PostgreSQL database (see
    /// `pg::serving`): `DatabaseInUse` while another controller or a
    /// migration holds it. `None` on sled, whose data directory is locked
    /// by the one process that opened it.
    pub fn take_serving_lock(&self, share: super::Share) -> Result<Option<super::ServingLock>, StoreError> {
        match &self.backend {
            Backend::Sled(_) => Ok(None),
            Backend::Postgres(p) => p.take_serving_lock(share).map(Some),
        }
    }

    /// Whether ingest is guarded by a free-space reserve this process
    /// watches (sled's data directory); PostgreSQL guards its own disk.
    pub fn watches_free_space(&self) -> bool {
        matches!(self.backend, Backend::Sled(_))
    }

    /// This controller's standing in `role` (see `leadership`): on sled
    /// always the leader; on PostgreSQL an election among the controllers
    /// that asked, decided by the database.
    pub fn leadership(&self, role: Role) -> Result<Leadership, StoreError> {
        self.leadership_at(role, super::pg::lead::Timing::default())
    }

    /// [`Store::leadership`] at another pace (tests run it faster).
    pub(crate) fn leadership_at(&self, role: Role, timing: super::pg::lead::Timing) -> Result<Leadership, StoreError> {
        match &self.backend {
            Backend::Sled(_) => Ok(Leadership::sole(role)),
            Backend::Postgres(p) => {
                let (state, campaign) = p.campaign(role, timing)?;
                Ok(Leadership::elected(role, state, campaign))
            }
        }
    }

    /// Whether other processes may write this store too (PostgreSQL):
    /// state read once and kept in memory goes stale, and must be read
    /// again now and then.
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// Refreshes the query planner's statistics of every rblfleet table
    /// (PostgreSQL `ANALYZE`; nothing to do on sled). Autovacuum does this
    /// on its own a minute or so after tables change a lot; after a bulk
    /// load (`migrate --from-sled`, a benchmark's fleet) the plans of the
    /// first queries would otherwise rest on empty-table estimates.
    pub fn analyze(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sled(_) => Ok(()),
            Backend::Postgres(p) => p.analyze(),
        }
    }

    /// Sets the free-space reserve, in bytes; 0 disables the check (sled).
    pub fn set_min_free(&self, bytes: u64) {
        if let Backend::Sled(s) = &self.backend {
            s.set_min_free(bytes);
        }
    }

    /// The directory the store lives in (empty for PostgreSQL, which has
    /// none on this machine).
    pub fn data_dir(&self) -> &Path {
        match &self.backend {
            Backend::Sled(s) => s.data_dir(),
            Backend::Postgres(_) => Path::new(""),
        }
    }

    /// Stores a batch of reports without the group-commit queue (tests:
    /// the outcomes of one batch, refusals included). On sled it is not
    /// flushed; on PostgreSQL it is one committed transaction.
    #[cfg(test)]
    pub(super) fn apply_batch_unflushed(
        &self,
        batch: &[(&HostReport, i64)],
    ) -> Result<Vec<super::reports::Outcome>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => {
                let _turn = s.write_turn();
                s.apply_batch_unflushed(batch)
            }
            Backend::Postgres(p) => p.apply_batch(batch, &[], None).map(|(outcomes, _)| outcomes),
        }
    }
}
