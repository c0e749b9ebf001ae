//! Hourly roll-ups of host reports: what the controller keeps after the raw
//! reports expire (48 h by default), for 90 days, so a listing can be
//! correlated with what each source did before it and compared with its
//! own baseline.
//!
//! Pure: merging a report into its hour. Lists are bounded so an hour stays
//! small whatever an agent sends.

use rblfleet_proto::v1::{BlocklistEvidence, DeliveryTotals, HostReport, HourRollup, ReceiverStats, SourceStats};

/// Sources kept per hour (by blocklisted, then messages).
pub const MAX_SOURCES: usize = 200;
/// Blocklist evidence rows kept per hour.
pub const MAX_EVIDENCE: usize = 200;
const HOUR_MS: i64 = 3_600_000;

/// The start of the hour containing `ms`.
pub fn hour_of(ms: i64) -> i64 {
    ms.div_euclid(HOUR_MS) * HOUR_MS
}

/// Adds `report` to `rollup` (the hour of the report's period end).
pub fn merge(rollup: &mut HourRollup, report: &HostReport) {
    rollup.host_id.clone_from(&report.host_id);
    rollup.hour_ms = hour_of(report.period_end_ms);
    rollup.reports += 1;
    if let Some(d) = &report.deliveries {
        add_totals(rollup.deliveries.get_or_insert_with(DeliveryTotals::default), d);
    }
    if let Some(q) = &report.queue {
        rollup.queue_last = q.total;
        rollup.queue_max = rollup.queue_max.max(q.total);
    }
    for e in &report.blocklist {
        merge_evidence(&mut rollup.blocklist, e);
    }
    for s in &report.sources {
        merge_source(&mut rollup.sources, s);
    }
    for r in &report.receivers {
        merge_receiver(&mut rollup.receivers, r);
    }
    bound(rollup);
}

/// Merges one evidence row into a list keyed by (provider, zone, code, ip,
/// family): an IP listing and a domain listing are never added up.
pub fn merge_evidence(list: &mut Vec<BlocklistEvidence>, e: &BlocklistEvidence) {
    let same = |x: &BlocklistEvidence| {
        x.provider == e.provider
            && x.zone == e.zone
            && x.code == e.code
            && x.ip == e.ip
            && x.family == e.family
            && x.domain == e.domain
    };
    match list.iter_mut().find(|x| same(x)) {
        Some(x) => {
            x.count += e.count;
            x.first_seen_ms = if x.first_seen_ms == 0 { e.first_seen_ms } else { x.first_seen_ms.min(e.first_seen_ms) };
            if e.last_seen_ms >= x.last_seen_ms {
                x.last_seen_ms = e.last_seen_ms;
                x.sample.clone_from(&e.sample);
            }
            x.temporary &= e.temporary;
        }
        None => list.push(e.clone()),
    }
}

/// Merges one source into a list keyed by (kind, id).
pub fn merge_source(list: &mut Vec<SourceStats>, s: &SourceStats) {
    match list.iter_mut().find(|x| x.kind == s.kind && x.id == s.id) {
        Some(x) => {
            x.messages += s.messages;
            x.recipients += s.recipients;
            x.sent += s.sent;
            x.deferred += s.deferred;
            x.bounced += s.bounced;
            x.blocklisted += s.blocklisted;
            x.recipient_domains = x.recipient_domains.max(s.recipient_domains);
            x.client_ips = x.client_ips.max(s.client_ips);
            for script in &s.scripts {
                if !x.scripts.contains(script) && x.scripts.len() < 16 {
                    x.scripts.push(script.clone());
                }
            }
            if x.uid.is_none() {
                x.uid = s.uid;
            }
            if x.subscription.is_empty() {
                x.subscription.clone_from(&s.subscription);
            }
            x.first_seen_ms = if x.first_seen_ms == 0 { s.first_seen_ms } else { x.first_seen_ms.min(s.first_seen_ms) };
            x.last_seen_ms = x.last_seen_ms.max(s.last_seen_ms);
            if s.suspicion > x.suspicion {
                x.suspicion = s.suspicion;
                x.reasons.clone_from(&s.reasons);
            }
        }
        None => list.push(s.clone()),
    }
}

fn bound(rollup: &mut HourRollup) {
    if rollup.sources.len() > MAX_SOURCES {
        rollup.sources.sort_by_key(|s| std::cmp::Reverse((s.blocklisted, s.messages)));
        rollup.sources.truncate(MAX_SOURCES);
    }
    if rollup.blocklist.len() > MAX_EVIDENCE {
        rollup.blocklist.sort_by_key(|e| std::cmp::Reverse(e.count));
        rollup.blocklist.truncate(MAX_EVIDENCE);
    }
    rollup.receivers.truncate(64);
}

/// Sums roll-ups into one (for "the last 24 hours" views).
pub fn sum<'a>(rollups: impl IntoIterator<Item = &'a HourRollup>) -> HourRollup {
    let mut total = HourRollup::default();
    for r in rollups {
        total.reports += r.reports;
        if let Some(d) = &r.deliveries {
            add_totals(total.deliveries.get_or_insert_with(DeliveryTotals::default), d);
        }
        total.queue_max = total.queue_max.max(r.queue_max);
        total.queue_last = r.queue_last;
        for e in &r.blocklist {
            merge_evidence(&mut total.blocklist, e);
        }
        for s in &r.sources {
            merge_source(&mut total.sources, s);
        }
        for x in &r.receivers {
            merge_receiver(&mut total.receivers, x);
        }
    }
    total
}

fn add_totals(total: &mut DeliveryTotals, d: &DeliveryTotals) {
    total.sent += d.sent;
    total.deferred += d.deferred;
    total.bounced += d.bounced;
    total.blocklisted += d.blocklisted;
}

fn merge_receiver(list: &mut Vec<ReceiverStats>, r: &ReceiverStats) {
    match list.iter_mut().find(|x| x.provider == r.provider && x.ip == r.ip) {
        Some(x) => {
            x.sent += r.sent;
            x.deferred += r.deferred;
            x.bounced += r.bounced;
            x.blocklisted += r.blocklisted;
        }
        None => list.push(r.clone()),
    }
}

#[cfg(test)]
mod tests;
