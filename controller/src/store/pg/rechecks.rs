//! The queue of forced rechecks (`migrations/0003_rechecks.sql`): written
//! by any controller's ingest, emptied by the engine's leader.

use super::{Pg, db};
use crate::store::StoreError;

impl Pg {
    /// Asks the engine's leader to check `target` (an IP or a domain, as
    /// `Target` prints it) at its next pass.
    pub(crate) fn queue_recheck(&self, target: &str, now_ms: i64) -> Result<(), StoreError> {
        let target = target.to_string();
        self.call(move |client| async move {
            client
                .execute(
                    "INSERT INTO recheck_queue (target, asked_ms) VALUES ($1, $2) ON CONFLICT (target) DO NOTHING",
                    &[&target, &now_ms],
                )
                .await
                .map_err(db("queueing a forced recheck"))?;
            Ok(())
        })
    }

    /// Every queued target, oldest first, removed from the queue in the
    /// same statement (two takers never get the same row).
    pub(crate) fn take_rechecks(&self) -> Result<Vec<String>, StoreError> {
        self.call(|client| async move {
            let rows = client
                .query("DELETE FROM recheck_queue RETURNING target, asked_ms", &[])
                .await
                .map_err(db("taking the forced rechecks"))?;
            let mut taken: Vec<(i64, String)> = rows.iter().map(|row| (row.get(1), row.get(0))).collect();
            taken.sort();
            Ok(taken.into_iter().map(|(_, target)| target).collect())
        })
    }
}
