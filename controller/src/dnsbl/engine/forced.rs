//! Forced rechecks across controllers.
//!
//! The ingest that sees a bounce naming a listed IP (or a refused domain)
//! asks the engine to check it at the next pass. With several controllers
//! on one database that ingest may run on a controller whose engine does
//! not run passes (another one leads the engine, `roles`), so on a store
//! others share the request goes through the store (`Store::queue_recheck`)
//! and the engine that runs passes claims the stored requests at the start
//! of each pass. On sled, and when the store cannot take it, it stays in
//! this engine's memory, as before.
//!
//! A claimed request stays stored until the pass that checked it has
//! stored its results ([`Engine::finish_stored_rechecks`]); claims are made
//! under a name for the engine's current term ([`Claims`]), so the next
//! leader claims again whatever a leader that died before that point held.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Engine;
use crate::catalog::{Target, target_from_key};
use crate::store::StoreError;

/// The stored rechecks this engine claimed and has not yet finished.
#[derive(Debug)]
pub(super) struct Claims {
    /// This term's name in `recheck_queue.claimed_by`: unique per process
    /// and term, so a new term (this process's own included) claims again
    /// what an ended one left.
    term: String,
    held: BTreeSet<String>,
}

impl Default for Claims {
    fn default() -> Claims {
        static TERMS: AtomicU64 = AtomicU64::new(0);
        let n = TERMS.fetch_add(1, Ordering::Relaxed);
        let term = format!("pid {} at {} term {n}", std::process::id(), crate::clock::now_ms());
        Claims { term, held: BTreeSet::new() }
    }
}

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

    /// Claims the stored forced rechecks and forces them, with those this
    /// term claimed before and has not finished (a pass that failed before
    /// storing its checks has forgotten them).
    pub(super) fn take_stored_rechecks(&self) -> Result<(), StoreError> {
        if !self.inner.store.is_shared() {
            return Ok(());
        }
        let term = self.lock().claims.term.clone();
        let claimed = self.inner.store.claim_rechecks(&term)?;
        let mut state = self.lock();
        let state = &mut *state;
        if state.claims.term != term {
            // A new term began meanwhile (`resume`): it claims them again.
            return Ok(());
        }
        state.claims.held.extend(claimed);
        for key in &state.claims.held {
            state.due.force(target_from_key(key));
        }
        Ok(())
    }

    /// Deletes from the store the claimed rechecks that are no longer
    /// forced: the pass that just stored its checks sent them (or they are
    /// no longer watched). Those a budget refused stay claimed and forced.
    pub(super) fn finish_stored_rechecks(&self) -> Result<(), StoreError> {
        let (term, done): (String, Vec<String>) = {
            let state = self.lock();
            let done = state
                .claims
                .held
                .iter()
                .filter(|key| match target_from_key(key) {
                    Target::Ip(ip) => !state.due.is_forced_ip(ip),
                    Target::Domain(name) => !state.due.is_forced_domain(&name),
                })
                .cloned()
                .collect();
            (state.claims.term.clone(), done)
        };
        if done.is_empty() {
            return Ok(());
        }
        self.inner.store.finish_rechecks(&term, &done)?;
        let mut state = self.lock();
        if state.claims.term == term {
            done.iter().for_each(|key| {
                state.claims.held.remove(key);
            });
        }
        Ok(())
    }

    /// Starts a new term of claims: what the previous one held (this
    /// process led before and lost it mid-pass) is claimed again.
    pub(super) fn new_claims_term(&self) {
        self.lock().claims = Claims::default();
    }
}
