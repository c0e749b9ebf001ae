//! One minute of one simulated host: what its agent would report.

use rblfleet_proto::v1::{
    BlocklistEvidence, DeliveryTotals, HostIp, HostReport, QueueStats, ReceiverStats, SourceKind, SourceStats,
};

use crate::rng::Rng;
use crate::scenario::{Draw, Host, MINUTE_MS, TOP_K, TRAP_THRESHOLD, distinct, draw, rhythm};

/// Reputation deferrals of clean mail per message (a Yahoo TSS04 now and then).
const CLEAN_REP: f64 = 0.0005;

/// The big receivers the agent names and the code their reputation
/// deferrals carry; mail to small domains goes to a sixth slot, whose
/// reputation deferrals the agent reports with no provider.
const RECEIVERS: [(&str, &str); 5] =
    [("google", "4.7.28"), ("microsoft", "4.7.650"), ("yahoo", "TSS04"), ("apple", ""), ("gmx", "")];
/// Where ordinary mail (and a spam run to bought lists) goes: 60% to the
/// big receivers, as in [`distinct`].
const SPREAD: [f64; 5] = [0.30, 0.15, 0.10, 0.03, 0.02];
/// A forward to a Gmail address: all of it to Google.
pub(crate) const TO_GMAIL: [f64; 5] = [1.0, 0.0, 0.0, 0.0, 0.0];

/// One minute's deliveries per receiver (the last slot: small domains).
#[derive(Default, Clone, Copy)]
pub(crate) struct Routed {
    sent: u64,
    deferred: u64,
    bounced: u64,
    rep: u64,
}

/// Splits `n` among the receivers by `shares` (the rest to the last slot).
fn split(r: &mut Rng, n: u64, shares: &[f64; 5]) -> [u64; 6] {
    let mut out = [0; 6];
    let (mut left, mut rest) = (n, 1.0);
    for (i, s) in shares.iter().enumerate() {
        if left == 0 || rest <= 0.0 {
            break;
        }
        let k = r.binomial(left, (s / rest).min(1.0));
        out[i] = k;
        left -= k;
        rest -= s;
    }
    out[5] = left;
    out
}

/// Routes `m` messages with outcome `d` to the receivers.
pub(crate) fn route(r: &mut Rng, to: &mut [Routed; 6], shares: &[f64; 5], m: u64, d: &Draw) {
    if m == 0 {
        return;
    }
    let bounced = split(r, d.bounced, shares);
    let rep = split(r, d.rep, shares);
    let deferred = split(r, d.deferred - d.rep, shares);
    let sent = split(r, m - d.bounced - d.deferred, shares);
    for i in 0..6 {
        to[i].bounced += bounced[i];
        to[i].rep += rep[i];
        to[i].deferred += deferred[i] + rep[i];
        to[i].sent += sent[i];
    }
}

impl Host {
    /// The report for the minute ending at `end_ms`.
    pub fn report(&mut self, end_ms: i64) -> HostReport {
        let r = &mut self.rng;
        let mut stats: Vec<SourceStats> = Vec::new();
        let mut spam = 0u64;
        let mut routed = [Routed::default(); 6];
        let mut listed = false;
        let (mut spam_rate, mut spam_source, mut o_b, mut o_d, mut o_ips, mut spam_rep) =
            (0.0, None, 0.0, 0.0, 0.0, 0.0);
        let mut rep_scale = 10_000.0;
        if let Some(o) = &self.outbreak {
            rep_scale = o.rep_scale;
            listed = o.listed_ms.is_some_and(|l| l <= end_ms);
            let stop = o.listed_ms.map_or(o.stop_ms, |l| o.stop_ms.min(l + 2 * crate::scenario::HOUR_MS));
            if end_ms > o.start_ms && end_ms <= stop {
                let ramp = ((end_ms - o.start_ms) as f64 / o.ramp_ms.max(1) as f64).min(1.0);
                spam_rate = o.peak * ramp;
                spam_source = o.source;
                (o_b, o_d, o_ips) = (o.bounce, o.defer, o.ips);
                spam_rep = (self.pressure / o.rep_scale).min(0.4);
            }
        }
        let clean_rep = CLEAN_REP + (self.pressure / (4.0 * rep_scale)).min(0.1);
        for (i, s) in self.sources.iter().enumerate() {
            let f = rhythm(s.rhythm, end_ms);
            let mean = s.rate * f / 60.0;
            let m = r.poisson(mean);
            let d = draw(r, m, s.bounce, s.defer, clean_rep);
            route(r, &mut routed, &SPREAD, m, &d);
            let mut st = SourceStats {
                kind: s.kind as i32,
                id: s.id.clone(),
                subscription: s.sub.clone(),
                messages: m,
                bounced: d.bounced,
                deferred: d.deferred,
                sent: m - d.bounced - d.deferred,
                recipient_domains: (s.pool * (1.0 - (1.0 - 1.0 / s.pool).powf(0.85 * m as f64)) + 0.15 * m as f64)
                    .round() as u64,
                client_ips: if s.kind == SourceKind::SaslUser && m > 0 { 1 + u64::from(r.chance(0.1)) } else { 0 },
                ..SourceStats::default()
            };
            let mut universe = 0.0;
            let mut extra = 0u64;
            for e in self.episodes.iter().filter(|e| e.source == i && e.start < end_ms && end_ms <= e.end) {
                let k = r.poisson(e.per_hour / 60.0 + (e.factor - 1.0) * mean);
                let d = draw(r, k, e.bounce, e.defer, e.rep + clean_rep);
                add(&mut st, k, &d);
                route(r, &mut routed, &SPREAD, k, &d);
                extra += k;
                universe = e.universe;
            }
            if spam_source == Some(i) {
                let k = r.poisson(spam_rate / 60.0);
                let d = draw(r, k, o_b, o_d, spam_rep);
                add(&mut st, k, &d);
                route(r, &mut routed, &SPREAD, k, &d);
                spam += k;
                extra += k;
                universe = 50_000.0;
                if o_ips > 0.0 && k > 0 {
                    st.client_ips += 1 + r.poisson(o_ips);
                } else if k > 0 && st.kind == SourceKind::SaslUser as i32 {
                    st.client_ips = st.client_ips.max(1) + 1;
                }
                if listed {
                    st.blocklisted = r.binomial(st.bounced, 0.5);
                }
            }
            if extra > 0 {
                st.recipient_domains += distinct(extra as f64, universe).round() as u64;
            }
            if st.messages > 0 {
                st.recipients = st.messages + st.messages / 4;
                st.first_seen_ms = end_ms - MINUTE_MS;
                st.last_seen_ms = end_ms;
                stats.push(st);
            }
        }
        // Forwarded spam: many forged envelope senders, a few messages each.
        if spam_rate > 0.0 && spam_source.is_none() {
            let k = r.poisson(spam_rate / 60.0);
            spam += k;
            let parts = k.min(6);
            for p in 0..parts {
                let m = k / parts + u64::from(p < k % parts);
                let d = draw(r, m, o_b, o_d, spam_rep);
                route(r, &mut routed, &TO_GMAIL, m, &d);
                let mut st = SourceStats {
                    kind: SourceKind::Sender as i32,
                    id: format!("{:x}@{:x}.example", r.next() >> 44, r.next() >> 48),
                    recipient_domains: 1,
                    recipients: m,
                    first_seen_ms: end_ms - MINUTE_MS,
                    last_seen_ms: end_ms,
                    ..SourceStats::default()
                };
                add(&mut st, m, &d);
                if listed {
                    st.blocklisted = r.binomial(st.bounced, 0.5);
                }
                stats.push(st);
            }
        }
        // Look-alike legitimate traffic (clean hosts only), from its own stream.
        for l in &self.lookalikes {
            stats.extend(l.minute(&mut self.lrng, end_ms, clean_rep, &mut routed));
        }
        self.pressure = self.pressure * (1.0 - 1.0 / 120.0) + spam as f64;
        if let Some(o) = &mut self.outbreak {
            o.trap_hits += u32::try_from(r.poisson(spam as f64 * o.trap_p)).unwrap_or(u32::MAX);
            if o.trap_hits >= TRAP_THRESHOLD && o.due_ms.is_none() {
                o.due_ms = Some(end_ms + o.delay_ms);
            }
            if let Some(due) = o.due_ms
                && due <= end_ms
                && o.listed_ms.is_none()
            {
                o.listed_ms = Some(due);
            }
        }
        let mut totals = DeliveryTotals::default();
        for s in &stats {
            totals.sent += s.sent;
            totals.deferred += s.deferred;
            totals.bounced += s.bounced;
            totals.blocklisted += s.blocklisted;
        }
        self.backlog = self.backlog * (1.0 - 1.0 / 45.0) + totals.deferred as f64;
        let queue = (self.base_q + self.backlog).round() as u64 + r.poisson(2.0);
        let mut blocklist = Vec::new();
        let mut receivers = Vec::new();
        for (i, to) in routed.iter().enumerate() {
            let (provider, code) = RECEIVERS.get(i).copied().unwrap_or(("", ""));
            let count = to.rep;
            if !provider.is_empty() && to.sent + to.deferred + to.bounced > 0 {
                receivers.push(ReceiverStats {
                    provider: provider.into(),
                    sent: to.sent,
                    deferred: to.deferred,
                    bounced: to.bounced,
                    ..ReceiverStats::default()
                });
            }
            if count > 0 {
                blocklist.push(BlocklistEvidence {
                    provider: provider.into(),
                    code: code.into(),
                    family: "ip".into(),
                    ip: self.ip.clone(),
                    count,
                    temporary: true,
                    first_seen_ms: end_ms - MINUTE_MS,
                    last_seen_ms: end_ms,
                    ..BlocklistEvidence::default()
                });
            }
        }
        stats.sort_by_key(|s| std::cmp::Reverse(s.messages));
        stats.truncate(TOP_K);
        self.seq += 1;
        HostReport {
            host_id: self.id.clone(),
            epoch: 1,
            seq: self.seq,
            period_start_ms: end_ms - MINUTE_MS,
            period_end_ms: end_ms,
            ips: vec![HostIp { address: self.ip.clone(), public: true, sends_mail: true, ..HostIp::default() }],
            queue: Some(QueueStats { total: queue, ..QueueStats::default() }),
            deliveries: Some(totals),
            blocklist,
            sources: stats,
            receivers,
            ..HostReport::default()
        }
    }
}

pub(crate) fn add(st: &mut SourceStats, m: u64, d: &crate::scenario::Draw) {
    st.messages += m;
    st.bounced += d.bounced;
    st.deferred += d.deferred;
    st.sent += m - d.bounced - d.deferred;
}
