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

    /// Claims for the engine's `term` (a name no other term uses) every
    /// stored forced recheck it has not claimed yet, those a dead leader
    /// claimed included; none on sled. They stay stored until
    /// [`Store::finish_rechecks`], so a leader that dies before checking
    /// them leaves them to the next.
    pub fn claim_rechecks(&self, term: &str) -> Result<Vec<String>, StoreError> {
        match &self.backend {
            Backend::Sled(_) => Ok(Vec::new()),
            Backend::Postgres(p) => p.claim_rechecks(term, crate::clock::now_ms()),
        }
    }

    /// Removes `targets`, claimed by `term`, once their checks are stored;
    /// returns how many rows went. One asked for again since it was
    /// claimed stays, for another check.
    pub fn finish_rechecks(&self, term: &str, targets: &[String]) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::Sled(_) => Ok(0),
            Backend::Postgres(p) => p.finish_rechecks(term, targets),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crate::store::pg::cluster::TestDb;
    use crate::store::{Store, StoreOptions};

    #[test]
    fn a_queued_recheck_is_claimed_by_one_term_and_removed_once_checked() {
        let test = "store::rechecks::tests::a_queued_recheck_is_claimed_by_one_term_and_removed_once_checked";
        let Some(db) = TestDb::create_or_skip(test) else { return };
        // Two controllers' stores on one database.
        let ingest = Store::open_postgres(&db.options(), &StoreOptions::default()).unwrap();
        let engine = Store::open_postgres(&db.options(), &StoreOptions::default()).unwrap();
        assert!(ingest.queue_recheck("203.0.113.9").unwrap());
        assert!(ingest.queue_recheck("shop.example").unwrap());
        assert!(ingest.queue_recheck("203.0.113.9").unwrap(), "asked twice, queued once");
        let mut taken = engine.claim_rechecks("term-a").unwrap();
        taken.sort();
        assert_eq!(taken, ["203.0.113.9", "shop.example"]);
        assert!(engine.claim_rechecks("term-a").unwrap().is_empty(), "a term claims a row once");
        // Asked again while claimed: checked once more after this bounce.
        assert!(ingest.queue_recheck("shop.example").unwrap());
        assert_eq!(engine.finish_rechecks("term-a", &taken).unwrap(), 1);
        assert_eq!(engine.claim_rechecks("term-a").unwrap(), ["shop.example"]);
        assert_eq!(engine.finish_rechecks("term-a", &["shop.example".to_string()]).unwrap(), 1);
        assert!(engine.claim_rechecks("term-b").unwrap().is_empty(), "finished rows are gone");

        let tmp = tempfile::tempdir().unwrap();
        let sled = Store::open(tmp.path(), &StoreOptions::default()).unwrap();
        assert!(!sled.queue_recheck("203.0.113.9").unwrap());
        assert!(sled.claim_rechecks("term-a").unwrap().is_empty());
    }

    #[test]
    fn rechecks_a_dead_leader_claimed_go_to_the_next_leader() {
        let test = "store::rechecks::tests::rechecks_a_dead_leader_claimed_go_to_the_next_leader";
        let Some(db) = TestDb::create_or_skip(test) else { return };
        let old = Store::open_postgres(&db.options(), &StoreOptions::default()).unwrap();
        assert!(old.queue_recheck("198.51.100.7").unwrap());
        assert_eq!(old.claim_rechecks("old-term").unwrap(), ["198.51.100.7"]);
        // The old leader dies before its pass stores the check.
        drop(old);
        let new = Store::open_postgres(&db.options(), &StoreOptions::default()).unwrap();
        assert_eq!(new.claim_rechecks("new-term").unwrap(), ["198.51.100.7"]);
        // A late finish under the dead term removes nothing the new one holds.
        let late = Store::open_postgres(&db.options(), &StoreOptions::default()).unwrap();
        assert_eq!(late.finish_rechecks("old-term", &["198.51.100.7".to_string()]).unwrap(), 0);
        assert_eq!(new.finish_rechecks("new-term", &["198.51.100.7".to_string()]).unwrap(), 1);
    }
}
