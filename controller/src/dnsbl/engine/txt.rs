//! The TXT of listings a pass found, within the zones' budgets.
//!
//! A listing's TXT is one more query to the zone. Operators count it like
//! any other, so it comes out of the zone's budget too, and is charged in
//! the store before it is sent (like checks: a controller killed meanwhile
//! has already spent it, and the engine that takes over does not spend it
//! again). When the budget has no room the listing stands without a new
//! TXT and keeps the one it had (`state::apply`).

use std::collections::HashMap;
use std::time::Instant;

use tokio::task::JoinSet;

use super::Engine;
use crate::dnsbl::lookup::{Outcome, Status};
use crate::store::StoreError;

impl Engine {
    /// Fetches the TXT of each listing in `outcomes` on a zone that
    /// publishes one, as far as the zone's budget for `day` allows.
    pub(super) async fn fetch_txts(&self, outcomes: &mut [(usize, Outcome)], day: u32) -> Result<(), StoreError> {
        let started = Instant::now();
        let mut wanted = Vec::new();
        {
            let lift = self.inner.config.lift_budgets;
            let mut state = self.lock();
            for (k, (i, outcome)) in outcomes.iter().enumerate() {
                let rt = &mut state.zones[*i];
                if outcome.status != Status::Listed || !rt.zone.txt {
                    continue;
                }
                if lift || rt.bucket.take(started, day).is_ok() {
                    rt.queries_total += 1;
                    wanted.push((k, *i, rt.zone.clone()));
                }
            }
        }
        let mut per_zone: HashMap<usize, u64> = HashMap::new();
        for (_, i, _) in &wanted {
            *per_zone.entry(*i).or_default() += 1;
        }
        for (i, n) in per_zone {
            self.count_usage(i, day, n)?;
        }
        let mut tasks = JoinSet::new();
        for (k, _, zone) in wanted {
            let lookups = self.inner.lookups.clone();
            let target = outcomes[k].1.target.clone();
            tasks.spawn(async move { (k, lookups.txt_of(&zone, &target).await) });
        }
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok((k, txt)) => outcomes[k].1.txt = txt,
                Err(error) => tracing::error!(%error, "a listing's TXT lookup did not finish"),
            }
        }
        Ok(())
    }
}
