//! Zone health probes and the budget's count in the store: both spend
//! queries, and both are charged before the queries go out (see `pass`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use tokio::task::JoinSet;

use super::super::budget::utc_day;
use super::super::health;
use super::Engine;
use crate::catalog::Zone;
use crate::clock::now_ms;
use crate::store::StoreError;

impl Engine {
    /// Probes every zone whose probe is due; returns how many were probed.
    pub(super) async fn probe_due_zones(&self) -> Result<usize, StoreError> {
        let now = now_ms();
        let day = utc_day(now);
        let due: Vec<(usize, Arc<Zone>)> = {
            let mut state = self.lock();
            let lift = self.inner.config.lift_budgets;
            let started = Instant::now();
            // A probe (two queries) takes one token: a zone allowed one query
            // per second must still be probed. Its day must have room for
            // both queries.
            state
                .zones
                .iter_mut()
                .enumerate()
                .filter(|(_, rt)| rt.health.probe_due(now))
                .filter_map(|(i, rt)| {
                    (lift || (rt.bucket.has_room(day, 2) && rt.bucket.take(started, day).is_ok()))
                        .then(|| (i, rt.zone.clone()))
                })
                .collect()
        };
        // Counted before the probes go out (see `pass`).
        for (i, _) in &due {
            self.count_usage(*i, day, 2)?;
        }
        let mut tasks = JoinSet::new();
        let mut started = HashMap::new();
        for (i, zone) in due.iter().cloned() {
            let lookups = self.inner.lookups.clone();
            let handle = tasks.spawn(async move {
                let (listed, unlisted) = zone.test_points();
                let (a, b) = tokio::join!(lookups.probe(&zone, &listed), lookups.probe(&zone, &unlisted));
                (i, health::judge(&a, &b))
            });
            started.insert(handle.id(), i);
        }
        let mut probed = 0;
        while let Some(result) = tasks.join_next_with_id().await {
            // A probe that panicked fails: the zone backs off instead of being
            // probed again at every tick.
            let (i, verdict) = match result {
                Ok((_, pair)) => pair,
                Err(error) => {
                    let Some(i) = started.remove(&error.id()) else { continue };
                    tracing::error!(%error, "a blocklist health probe did not finish");
                    (i, Err("internal error: the health probe did not finish (a bug; the log has the details)".into()))
                }
            };
            probed += 1;
            {
                let mut state = self.lock();
                let rt = &mut state.zones[i];
                rt.queries_total += 2;
                rt.counters.probe(verdict.is_ok());
                let was = rt.health.in_service();
                if let Err(reason) = &verdict {
                    rt.errors_total += 1;
                    tracing::warn!(zone = %rt.zone.display_zone(), %reason, "zone failed its health probe");
                } else if !was {
                    tracing::info!(zone = %rt.zone.display_zone(), "zone in service");
                }
                rt.health.probed(verdict, now_ms(), &self.inner.config.health);
            }
        }
        Ok(probed)
    }

    /// Adds `n` queries to zone `i`'s count for `day` in the store, and
    /// takes the fleet's total (other controllers' engines included) as
    /// what the zone's budget has spent.
    pub(super) fn count_usage(&self, i: usize, day: u32, n: u64) -> Result<(), StoreError> {
        let id = self.lock().zones[i].zone.id.clone();
        let total = self.inner.store.add_zone_usage(&id, day, n)?;
        self.lock().zones[i].bucket.catch_up(day, total);
        Ok(())
    }
}
