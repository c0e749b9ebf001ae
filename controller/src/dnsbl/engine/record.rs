//! What the engine remembers after a pass: each check, its episode, the
//! pair's next due time, the zone's counters and health, and the cases a
//! listing opens or clears.
//!
//! Checks are written in transactions of [`CHUNK`] outcomes, not one each:
//! a first sweep stores hundreds of thousands of checks, and one sled
//! transaction (with its flush traffic) per check was what bounded it.

use super::super::lookup::{Outcome, Status};
use super::super::state;
use super::{Engine, counters};
use crate::cases::work::{self, ListInfo};
use crate::clock::now_ms;
use crate::store::StoreError;

/// Checks stored per transaction.
const CHUNK: usize = 512;

impl Engine {
    /// Stores the outcomes of one pass (zone index, outcome), chunk by chunk.
    pub(super) fn record_all(&self, outcomes: &[(usize, Outcome)]) -> Result<(), StoreError> {
        for chunk in outcomes.chunks(CHUNK) {
            self.record_chunk(chunk)?;
        }
        Ok(())
    }

    fn record_chunk(&self, chunk: &[(usize, Outcome)]) -> Result<(), StoreError> {
        let now = now_ms();
        let store = &self.inner.store;
        // A pass asks each (target, zone) pair once, so the previous check
        // read here is not written by an earlier outcome of the chunk.
        let mut applied = Vec::with_capacity(chunk.len());
        for (_, outcome) in chunk {
            let subject = outcome.target.to_string();
            let prev = store.zone_check(&subject, &outcome.zone_id)?;
            let open = match prev.as_ref().filter(|p| p.listed_since_ms != 0) {
                Some(p) => store.episode(&subject, &outcome.zone_id, p.listed_since_ms)?,
                None => None,
            };
            let was_listed = prev.as_ref().is_some_and(counters::is_listed);
            let (check, episode) = state::apply(prev.as_ref(), open, outcome, now, &self.inner.config.cadence);
            applied.push((subject, was_listed, check, episode));
        }
        let writes: Vec<_> = applied.iter().map(|(_, _, check, episode)| (check, episode.as_ref())).collect();
        store.record_checks(&writes)?;
        for ((zone_index, outcome), (subject, was_listed, check, episode)) in chunk.iter().zip(&applied) {
            if let Some(e) = episode {
                if e.first_seen_ms == now && e.cleared_ms == 0 {
                    tracing::warn!(target = %subject, zone = %outcome.zone, codes = ?outcome.codes, "new listing");
                    let list = ListInfo::of(self.catalog(), &outcome.zone_id);
                    work::listing_opened(store, &list, subject, now, now)?;
                } else if e.cleared_ms == now {
                    tracing::info!(target = %subject, zone = %outcome.zone, "listing cleared");
                    let why = format!("{} consecutive clean checks", self.inner.config.cadence.clear_after);
                    work::listing_cleared(store, &outcome.zone_id, subject, &why, now)?;
                }
            }
            let mut state = self.lock();
            state.due.set(&outcome.target, *zone_index, check.next_due_ms);
            let rt = &mut state.zones[*zone_index];
            rt.queries_total += 1;
            rt.counters.lookup(outcome.status);
            rt.counters.listing(*was_listed, counters::is_listed(check));
            if outcome.status == Status::Error {
                rt.errors_total += 1;
            }
            let was_in_service = rt.health.in_service();
            rt.health.looked_up(outcome, now, &self.inner.config.health);
            if was_in_service && !rt.health.in_service() {
                tracing::warn!(zone = %rt.zone.display_zone(), reason = ?rt.health.state, "zone taken out of service");
            }
        }
        Ok(())
    }
}
