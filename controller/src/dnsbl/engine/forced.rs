//! Forced rechecks across controllers.
//!
//! The ingest that sees a bounce naming a listed IP (or a refused domain)
//! asks the engine to check it at the next pass. With several controllers
//! on one database that ingest may run on a controller whose engine does
//! not run passes (another one leads the engine, `roles`), so on a store
//! others share the request goes through the store (`Store::queue_recheck`)
//! and the leading engine takes every stored request at the start of each
//! pass. On sled, and when the store cannot take it, it stays in this
//! engine's memory, as before.

use super::Engine;
use crate::catalog::{Target, target_from_key};
use crate::store::StoreError;

impl Engine {
    /// Checks `target` at the next pass of whichever engine leads.
    pub(super) fn force(&self, target: Target) {
        if self.inner.store.is_shared() {
            match self.inner.store.queue_recheck(&target.to_string()) {
                Ok(true) => return,
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(%error, %target, "could not store a forced recheck; only this controller's engine will see it")
                }
            }
        }
        self.lock().due.force(target);
    }

    /// Moves the stored forced rechecks into this engine's due list (called
    /// by the engine that runs passes, i.e. the leader).
    pub(super) fn take_stored_rechecks(&self) -> Result<(), StoreError> {
        if !self.inner.store.is_shared() {
            return Ok(());
        }
        let targets = self.inner.store.take_rechecks()?;
        let mut state = self.lock();
        for key in targets {
            state.due.force(target_from_key(&key));
        }
        Ok(())
    }
}
