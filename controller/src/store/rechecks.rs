//! Forced rechecks that must reach the engine wherever it runs.
//!
//! A bounce that names a listed IP (or a refused sending domain) makes the
//! blocklist engine check that target at its next pass instead of at its
//! due time (`Engine::recheck`). The bounce arrives at whichever controller
//! the agent reports to; with several controllers on one database the
//! engine may run on another one. On PostgreSQL the request is therefore
//! stored (`pg::rechecks`) and the engine's leader takes it at each pass.
//! sled is one process's store, whose engine runs in that same process:
//! nothing to share, and the request stays in the engine's memory.

use super::{Backend, Store, StoreError};

impl Store {
    /// Stores a forced recheck of `target` for the engine's leader. Ok(false)
    /// on sled, which has no queue: the caller keeps it in memory.
    pub fn queue_recheck(&self, target: &str) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sled(_) => Ok(false),
            Backend::Postgres(p) => p.queue_recheck(target, crate::clock::now_ms()).map(|()| true),
        }
    }

    /// Takes every stored forced recheck (none on sled).
    pub fn take_rechecks(&self) -> Result<Vec<String>, StoreError> {
        match &self.backend {
            Backend::Sled(_) => Ok(Vec::new()),
            Backend::Postgres(p) => p.take_rechecks(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crate::store::pg::cluster::TestDb;
    use crate::store::{Store, StoreOptions};

    #[test]
    fn a_queued_recheck_is_taken_once_by_whoever_asks_first() {
        let test = "store::rechecks::tests::a_queued_recheck_is_taken_once_by_whoever_asks_first";
        let Some(db) = TestDb::create_or_skip(test) else { return };
        // Two controllers' stores on one database.
        let ingest = Store::open_postgres(&db.options(), &StoreOptions::default()).unwrap();
        let engine = Store::open_postgres(&db.options(), &StoreOptions::default()).unwrap();
        assert!(ingest.queue_recheck("203.0.113.9").unwrap());
        assert!(ingest.queue_recheck("shop.example").unwrap());
        assert!(ingest.queue_recheck("203.0.113.9").unwrap(), "asked twice, queued once");
        let mut taken = engine.take_rechecks().unwrap();
        taken.sort();
        assert_eq!(taken, ["203.0.113.9", "shop.example"]);
        assert!(ingest.take_rechecks().unwrap().is_empty());

        let tmp = tempfile::tempdir().unwrap();
        let sled = Store::open(tmp.path(), &StoreOptions::default()).unwrap();
        assert!(!sled.queue_recheck("203.0.113.9").unwrap());
        assert!(sled.take_rechecks().unwrap().is_empty());
    }
}
