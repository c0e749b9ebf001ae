//! Suspects of a listing: the hosts' hourly roll-ups handed to `correlate`.

use std::collections::{BTreeSet, HashMap};

use rblfleet_proto::v1::{HourRollup, Suspect};

use super::Context;
use crate::correlate::{self, BASELINE_MS, BEFORE_MS, HostHour};
use crate::store::{StoreError, rollup};

/// The suspected sources on `hosts` for a listing first seen at `since_ms`
/// (for a host's own drill-down: `since_ms` = now), most suspicious first.
pub fn suspects(ctx: &Context<'_>, hosts: &[String], since_ms: i64) -> Result<Vec<Suspect>, StoreError> {
    let rollups = ctx.store.hosts_rollups(hosts, window_start(since_ms), ctx.now_ms + correlate::HOUR_MS)?;
    Ok(rank(&rollups, since_ms, ctx.now_ms))
}

/// The roll-ups behind many listings' suspects, read in one call (one round
/// trip on PostgreSQL, where one read per listing made the fleet report
/// slow) and handed out listing by listing.
#[derive(Debug, Default)]
pub struct ListingsRollups {
    by_host: HashMap<String, Vec<HourRollup>>,
    now_ms: i64,
}

impl ListingsRollups {
    /// The roll-ups of every host in `listings` (hosts, first seen), from
    /// the earliest window any of them needs.
    pub fn load<'a>(
        ctx: &Context<'_>,
        listings: impl IntoIterator<Item = (&'a [String], i64)>,
    ) -> Result<ListingsRollups, StoreError> {
        let mut hosts: BTreeSet<&String> = BTreeSet::new();
        let mut from = i64::MAX;
        for (listed_on, since_ms) in listings {
            hosts.extend(listed_on);
            from = from.min(window_start(since_ms));
        }
        let mut by_host: HashMap<String, Vec<HourRollup>> = HashMap::new();
        if !hosts.is_empty() {
            let hosts: Vec<String> = hosts.into_iter().cloned().collect();
            for r in ctx.store.hosts_rollups(&hosts, from, ctx.now_ms + correlate::HOUR_MS)? {
                by_host.entry(r.host_id.clone()).or_default().push(r);
            }
        }
        Ok(ListingsRollups { by_host, now_ms: ctx.now_ms })
    }

    /// The same answer as [`suspects`] for one of the loaded listings.
    pub fn suspects(&self, hosts: &[String], since_ms: i64) -> Vec<Suspect> {
        let from = rollup::hour_of(window_start(since_ms));
        let rollups: Vec<HourRollup> =
            hosts.iter().filter_map(|h| self.by_host.get(h)).flatten().filter(|r| r.hour_ms >= from).cloned().collect();
        rank(&rollups, since_ms, self.now_ms)
    }
}

/// The first hour `correlate` looks at for a listing first seen at `since_ms`.
fn window_start(since_ms: i64) -> i64 {
    since_ms - BEFORE_MS - BASELINE_MS
}

fn rank(rollups: &[HourRollup], since_ms: i64, now_ms: i64) -> Vec<Suspect> {
    let hours: Vec<HostHour<'_>> = rollups
        .iter()
        .map(|r| HostHour { host_id: &r.host_id, hour_ms: r.hour_ms, reports: r.reports, sources: &r.sources })
        .collect();
    correlate::rank(&hours, since_ms, now_ms)
}
