//! What an engine reads again when its controller becomes the engine's
//! leader (several controllers on one database, `roles`).
//!
//! Another controller's engine may have run since this one was built or
//! last led: it moved pairs' next due times and spent zone budgets. Both
//! live in the store, so they are read again here: without the due times
//! the new leader would check at once every pair that was due when it
//! started (a burst the zones see as abuse), and without the usage it
//! would spend a day's budget a second time. Zone health and the lookup
//! counters stay this process's own: health is probed again on the zones'
//! own schedule, counters are per process. Forced rechecks asked for on
//! other controllers come through the store at each pass (`forced`).

use std::collections::HashMap;

use super::super::budget::utc_day;
use super::{Engine, counters};
use crate::catalog::target_from_key;
use crate::clock::now_ms;
use crate::store::StoreError;

impl Engine {
    /// Re-reads every pair's next due time and each zone's query count for
    /// today from the store (blocking: call it off the runtime's workers).
    pub fn resume(&self) -> Result<(), StoreError> {
        let day = utc_day(now_ms());
        let store = &self.inner.store;
        let zone_ids: Vec<String> = self.lock().zones.iter().map(|rt| rt.zone.id.clone()).collect();
        let used = store.zones_usage(&zone_ids, day)?;
        let checks = store.all_checks()?;
        let index: HashMap<&str, usize> = zone_ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
        let mut guard = self.lock();
        let state = &mut *guard;
        let mut listed = vec![0; state.zones.len()];
        for check in &checks {
            if let Some(&i) = index.get(check.zone_id.as_str()) {
                state.due.set(&target_from_key(&check.ip), i, check.next_due_ms);
                listed[i] += u64::from(counters::is_listed(check));
            }
        }
        for ((rt, used), listed) in state.zones.iter_mut().zip(used).zip(listed) {
            rt.bucket.catch_up(day, used);
            rt.counters.listed_ips = listed;
        }
        // Rebuilt at the next pass: hosts may have reported elsewhere.
        state.domains_generation = None;
        Ok(())
    }

    /// [`Engine::resume`], then passes until `stop` turns true: one term as
    /// the engine's leader.
    pub async fn lead(self, stop: tokio::sync::watch::Receiver<bool>) {
        // Forced rechecks this process claimed in an earlier term and did
        // not finish are claimed again with the rest (`forced`).
        self.new_claims_term();
        let engine = self.clone();
        match tokio::task::spawn_blocking(move || engine.resume()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::error!(%error, "the engine could not re-read due times and budgets; using its own")
            }
            Err(error) => tracing::error!(%error, "the engine's resume task failed; using its own due times"),
        }
        self.run(stop).await;
    }
}

#[cfg(test)]
mod tests;
