//! The queue of forced rechecks (`migrations/0003_rechecks.sql`, claims in
//! `0004_recheck_claims.sql`): written by any controller's ingest, worked
//! off by the engine's leader.
//!
//! A row leaves the queue only once the check it asked for is stored: the
//! leader claims rows under its term's name, and deletes its claimed rows
//! after the pass that checked them has stored its results. The election
//! lets one engine lead at a time, and a term that ended (its controller
//! died, or lost the lock) never runs another pass, so a claim made under
//! any other term than the claimer's own is left over from a dead leader
//! and is claimed again. That is the whole lease: it lasts exactly as long
//! as its term, so a takeover gets the old leader's rechecks at its first
//! pass, and a slow but live leader never has its claims taken.

use super::{Pg, db};
use crate::store::StoreError;

impl Pg {
    /// Asks the engine's leader to check `target` (an IP or a domain, as
    /// `Target` prints it) at its next pass. Asking again for a target
    /// already claimed clears the claim: the pass under way may have
    /// checked it before this bounce, so it is checked once more.
    pub(crate) fn queue_recheck(&self, target: &str, now_ms: i64) -> Result<(), StoreError> {
        let target = target.to_string();
        self.call(move |client| async move {
            client
                .execute(
                    "INSERT INTO recheck_queue (target, asked_ms) VALUES ($1, $2)
                     ON CONFLICT (target) DO UPDATE SET claimed_by = NULL, claimed_ms = NULL
                       WHERE recheck_queue.claimed_by IS NOT NULL",
                    &[&target, &now_ms],
                )
                .await
                .map_err(db("queueing a forced recheck"))?;
            Ok(())
        })
    }

    /// Claims for `term` every queued target not claimed by it already
    /// (unclaimed, or left claimed by an ended term), oldest first. The
    /// rows stay until [`Pg::finish_rechecks`].
    pub(crate) fn claim_rechecks(&self, term: &str, now_ms: i64) -> Result<Vec<String>, StoreError> {
        let term = term.to_string();
        self.call(move |client| async move {
            let rows = client
                .query(
                    "UPDATE recheck_queue SET claimed_by = $1, claimed_ms = $2
                      WHERE claimed_by IS DISTINCT FROM $1
                      RETURNING target, asked_ms",
                    &[&term, &now_ms],
                )
                .await
                .map_err(db("claiming the forced rechecks"))?;
            let mut taken: Vec<(i64, String)> = rows.iter().map(|row| (row.get(1), row.get(0))).collect();
            taken.sort();
            Ok(taken.into_iter().map(|(_, target)| target).collect())
        })
    }

    /// Deletes `targets` where `term` still claims them: their checks are
    /// stored. A target asked for again since (its claim cleared) stays.
    pub(crate) fn finish_rechecks(&self, term: &str, targets: &[String]) -> Result<u64, StoreError> {
        let (term, targets) = (term.to_string(), targets.to_vec());
        self.call(move |client| async move {
            client
                .execute("DELETE FROM recheck_queue WHERE claimed_by = $1 AND target = ANY($2)", &[&term, &targets])
                .await
                .map_err(db("finishing the forced rechecks"))
        })
    }
}
