//! Reads fleet state into a [`Snapshot`] (read-only: store, catalog and the
//! engine's in-memory zone health), and adds the top suspect to listing
//! events after detection, so correlation runs only for what changed.

use crate::dnsbl::engine::ZoneState as ServiceState;
use rblfleet_proto::v1::{CaseState, Suspect};

use super::detect::{CaseWait, HostState, Listed, Snapshot, ZoneState};
use super::event::{Delist, Event, ListingInfo, OutbreakInfo, TopSuspect, Warned, plan_command};
use crate::store::StoreError;
use crate::views::{self, Context};

fn delist(route: Option<&rblfleet_proto::v1::DelistRoute>) -> Delist {
    route.map_or_else(Delist::default, |d| Delist {
        kind: d.kind.clone(),
        url: d.url.clone(),
        expiry_secs: d.expiry_secs,
        note: d.note.clone(),
    })
}

/// The state the detector compares, at `ctx.now_ms`.
pub fn collect(ctx: &Context<'_>) -> Result<Snapshot, StoreError> {
    let watched = views::Watched::load(ctx)?;
    let hosts = &watched.hosts;
    let mut snapshot = Snapshot { at_ms: ctx.now_ms, ..Snapshot::default() };
    for row in views::current_listings(ctx, &watched)? {
        let info = ListingInfo {
            ip: row.ip.clone(),
            kind: if row.kind == "domain" { "domain" } else { "ip" }.into(),
            list_id: row.list_id.clone(),
            list: row.list.clone(),
            hosts: row.hosts.clone(),
            since_ms: row.since_ms,
            meanings: row.meanings.clone(),
            txt: row.txt.clone(),
            case_id: row.case_id,
            delist: delist(row.delist.as_ref()),
            top_suspect: None,
            warned: None,
        };
        let listed = Listed { info, relisting: row.relisting, severity: row.severity };
        snapshot.listings.insert((row.ip, row.list_id), listed);
    }
    for summary in hosts {
        let last = ctx.store.get_host(&summary.host_id)?.and_then(|(_, report)| report);
        let state = HostState {
            last_report_ms: summary.last_report_ms,
            interval_ms: last.as_ref().map_or(0, |r| (r.period_end_ms - r.period_start_ms).max(0)),
            queue: last.as_ref().and_then(|r| r.queue.as_ref()).map(|q| q.total),
        };
        snapshot.hosts.insert(summary.host_id.clone(), state);
    }
    for case in ctx.store.all_cases()? {
        if case.state() != CaseState::DelistRequested {
            continue;
        }
        let requested = case.history.iter().rev().find(|e| e.to == CaseState::DelistRequested as i32);
        let wait = CaseWait {
            ip: case.ip.clone(),
            list_id: case.list_id.clone(),
            list: case.list.clone(),
            since_ms: requested.map_or(case.updated_ms, |e| e.at_ms),
            delist: delist(case.delist.as_ref()),
        };
        snapshot.waiting.insert(case.id, wait);
    }
    for w in ctx.store.all_warnings()?.into_iter().filter(|w| w.cleared_ms == 0) {
        let source_kind = if w.source_id.is_empty() { "host" } else { crate::fleet::source_kind_name(w.source_kind) };
        let plan = plan_command(&w.host_id, source_kind, &w.source_id, &w.subscription);
        let info = OutbreakInfo {
            plan,
            host: w.host_id.clone(),
            ips: w.ips,
            source_kind: source_kind.into(),
            source: w.source_id.clone(),
            subscription: w.subscription,
            score: w.score,
            reasons: w.reasons,
            first_step: w.first_step,
            since_ms: w.first_seen_ms,
        };
        snapshot.warnings.insert((w.host_id, source_kind.to_string(), w.source_id, w.first_seen_ms), info);
    }
    if let Some(engine) = ctx.engine {
        for zone in engine.zone_health() {
            // The engine wrote the string from its own state: it always parses.
            let Some(service) = ServiceState::from_wire(&zone.state) else { continue };
            let state = ZoneState { zone: zone.zone, state: service, reason: zone.reason };
            snapshot.zones.insert(zone.zone_id, state);
        }
    }
    Ok(snapshot)
}

/// Adds the most suspicious source to each new listing (Listed / Relisted),
/// and the early warning that came before it, if one did.
pub fn add_suspects(ctx: &Context<'_>, events: &mut [Event]) -> Result<(), StoreError> {
    let mut warnings = None;
    for event in events {
        let cleared = matches!(event.kind, super::event::EventKind::Cleared { .. });
        let Some(listing) = event.listing_mut().filter(|_| !cleared) else { continue };
        if listing.hosts.is_empty() {
            continue;
        }
        listing.top_suspect = views::suspects(ctx, &listing.hosts, listing.since_ms)?.into_iter().next().map(top);
        if listing.kind == "ip" {
            let warnings = match &warnings {
                Some(w) => w,
                None => warnings.insert(ctx.store.all_warnings()?),
            };
            listing.warned = views::warning_for(&listing.ip, listing.since_ms, warnings).map(|w| Warned {
                host: w.host_id.clone(),
                subject: if w.source_id.is_empty() {
                    "the host".into()
                } else {
                    format!("{} {}", crate::fleet::source_kind_name(w.source_kind), w.source_id)
                },
                warned_ms: w.first_seen_ms,
                lead_secs: u64::try_from((listing.since_ms - w.first_seen_ms) / 1000).unwrap_or(0),
            });
        }
    }
    Ok(())
}

fn top(s: Suspect) -> TopSuspect {
    let kind = crate::fleet::source_kind_name(s.kind);
    let plan = plan_command(&s.host_id, kind, &s.id, &s.subscription);
    TopSuspect {
        plan,
        host_id: s.host_id,
        kind: kind.into(),
        id: s.id,
        subscription: s.subscription,
        reasons: s.reasons,
    }
}
