//! Correlation: which source on the hosts carrying a listed IP most likely
//! caused the listing, with the evidence in plain words and the Plesk steps
//! an admin would take. rblfleet suggests; it changes nothing on the hosts.
//!
//! Input: the hourly roll-ups of every host that carries the IP (what each
//! source sent, bounced, got refused by blocklists, …), the listing's first
//! seen, and now. Two periods are compared, per source (host, kind, id):
//!
//! - **around the listing**: from [`BEFORE_MS`] (24 h) before the first seen
//!   to [`AFTER_MS`] (2 h) after it (or now, if sooner). Listings lag the
//!   abuse by minutes to hours (trap hits are batched, zones are published
//!   periodically), so the cause lies mostly before the first seen; the two
//!   hours after catch a source that is still going.
//! - **baseline**: the [`BASELINE_MS`] (7 days) before that window: what is
//!   normal for this source. A baseline only counts when the host reported
//!   for at least [`MIN_BASELINE_HOURS`]; with less, "new sender", "new
//!   script" and "N× its usual volume" are not claimed, because a host that
//!   was not reporting says nothing about what was usual.
//!
//! The score is a sum of points, each from one piece of evidence (see
//! `score.rs` for the formula); a source is a suspect only when it was active
//! around the listing and its evidence adds up to at least [`MIN_SCORE`].

mod hints;
mod score;

use std::collections::{BTreeMap, BTreeSet};

use rblfleet_proto::v1::{SourceKind, SourceStats, Suspect};

pub use hints::hints;

pub const HOUR_MS: i64 = 3_600_000;
/// How far before the listing's first seen the evidence window starts.
pub const BEFORE_MS: i64 = 24 * HOUR_MS;
/// How far after the first seen the evidence window ends (capped at now).
pub const AFTER_MS: i64 = 2 * HOUR_MS;
/// The baseline: this long before the evidence window.
pub const BASELINE_MS: i64 = 7 * 24 * HOUR_MS;
/// Hours a host must have reported in the baseline for it to count.
pub const MIN_BASELINE_HOURS: usize = 24;
/// Below this score the evidence is noise (a normal mailbox writing to two
/// domains), and the source is not listed as a suspect.
pub const MIN_SCORE: f64 = 1.0;

/// One host's sources during one hour: the store's hourly roll-up, as
/// `HostHour { host_id: &r.host_id, hour_ms: r.hour_ms, reports: r.reports, sources: &r.sources }`.
#[derive(Debug, Clone, Copy)]
pub struct HostHour<'a> {
    pub host_id: &'a str,
    /// Start of the hour, Unix ms.
    pub hour_ms: i64,
    /// Reports merged into the hour (0 when unknown): distinct counts
    /// (recipient domains, client IPs) are per report, so a spread is
    /// measured against one report's share of the hour's recipients.
    pub reports: u64,
    pub sources: &'a [SourceStats],
}

/// Ranks the suspected sources of a listing first seen at `first_seen_ms`,
/// most suspicious first. `hours` holds the roll-ups of the hosts carrying
/// the listed IP, at least from 7 days + 24 h before the first seen; hours
/// outside the two periods are ignored. Hours in which a host reported but
/// sent nothing should be included (with no sources): they are what tells a
/// quiet baseline from a missing one.
pub fn rank(hours: &[HostHour<'_>], first_seen_ms: i64, now_ms: i64) -> Vec<Suspect> {
    let start = hour_floor(first_seen_ms - BEFORE_MS);
    let end = (first_seen_ms + AFTER_MS).min(now_ms.max(first_seen_ms));
    let base_start = start - BASELINE_MS;

    let mut hosts: BTreeMap<&str, HostView> = BTreeMap::new();
    let mut window: BTreeMap<Key, Agg> = BTreeMap::new();
    let mut baseline: BTreeMap<Key, Agg> = BTreeMap::new();
    for h in hours {
        let host = hosts.entry(h.host_id).or_default();
        for s in h.sources {
            note_hosted(&mut host.hosted, s);
        }
        let (target, in_window) = if h.hour_ms >= start && h.hour_ms < end {
            host.window_hours.insert(h.hour_ms);
            (&mut window, true)
        } else if h.hour_ms >= base_start && h.hour_ms < start {
            host.baseline_hours.insert(h.hour_ms);
            (&mut baseline, false)
        } else {
            continue;
        };
        for s in h.sources {
            if !in_window {
                host.baseline_scripts.extend(scripts_of(s).map(str::to_string));
            }
            let key = (h.host_id.to_string(), s.kind, s.id.clone());
            target.entry(key).or_default().add(s, h);
        }
    }

    let mut suspects: Vec<Suspect> = window
        .into_iter()
        .filter(|(_, agg)| agg.volume() > 0)
        .filter_map(|(key, agg)| {
            let host = hosts.get(key.0.as_str())?;
            let ctx = score::Context {
                first_seen_ms,
                window_hours: host.window_hours.len().max(1),
                baseline_hours: host.baseline_hours.len(),
                baseline: baseline.get(&key),
                baseline_scripts: &host.baseline_scripts,
            };
            let found = score::evaluate(&key, &agg, &ctx);
            (found.score >= MIN_SCORE).then(|| suspect(key, agg, found, &host.hosted))
        })
        .collect();
    suspects.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(b.blocklisted.cmp(&a.blocklisted))
            .then(b.messages.cmp(&a.messages))
            .then_with(|| (&a.host_id, a.kind, &a.id).cmp(&(&b.host_id, b.kind, &b.id)))
    });
    suspects
}

/// A source: (host, kind, id).
type Key = (String, i32, String);

/// What is known of one host across the two periods.
#[derive(Debug, Default)]
struct HostView {
    window_hours: BTreeSet<i64>,
    baseline_hours: BTreeSet<i64>,
    /// Scripts seen sending in the baseline.
    baseline_scripts: BTreeSet<String>,
    /// Mail domains this host serves, as far as its sources show.
    hosted: BTreeSet<String>,
}

/// One source's activity summed over a period.
#[derive(Debug, Default, Clone)]
struct Agg {
    messages: u64,
    recipients: u64,
    sent: u64,
    deferred: u64,
    bounced: u64,
    blocklisted: u64,
    /// The largest per-report distinct counts, and that report's estimated recipients.
    domains: u64,
    recipients_then: u64,
    client_ips: u64,
    /// Scripts with the first time each was seen.
    scripts: BTreeMap<String, i64>,
    uid: Option<u32>,
    subscription: String,
    suspicion: f64,
    agent_reasons: Vec<String>,
}

impl Agg {
    fn add(&mut self, s: &SourceStats, hour: &HostHour<'_>) {
        self.messages += s.messages;
        self.recipients += s.recipients;
        self.sent += s.sent;
        self.deferred += s.deferred;
        self.bounced += s.bounced;
        self.blocklisted += s.blocklisted;
        if s.recipient_domains > self.domains {
            self.domains = s.recipient_domains;
            let per_hour = if s.recipients > 0 { s.recipients } else { s.messages };
            self.recipients_then = (per_hour / hour.reports.max(1)).max(s.recipient_domains);
        }
        self.client_ips = self.client_ips.max(s.client_ips);
        let seen = if s.first_seen_ms > 0 { s.first_seen_ms } else { hour.hour_ms };
        for script in scripts_of(s) {
            let first = self.scripts.entry(script.to_string()).or_insert(seen);
            *first = (*first).min(seen);
        }
        if self.uid.is_none() {
            self.uid = s.uid;
        }
        if self.subscription.is_empty() {
            self.subscription.clone_from(&s.subscription);
        }
        if s.suspicion > self.suspicion {
            self.suspicion = s.suspicion;
            self.agent_reasons.clone_from(&s.reasons);
        }
    }

    /// Delivery attempts (sent, deferred or bounced).
    fn deliveries(&self) -> u64 {
        (self.sent + self.deferred + self.bounced).max(self.blocklisted)
    }

    /// Messages when the agent counted them, else delivery attempts.
    fn volume(&self) -> u64 {
        if self.messages > 0 { self.messages } else { self.deliveries() }
    }
}

/// A source's scripts: its own path when it is one, and those seen sending as it.
fn scripts_of(s: &SourceStats) -> impl Iterator<Item = &str> {
    let own = (s.kind == SourceKind::Script as i32 && !s.id.is_empty()).then_some(s.id.as_str());
    own.into_iter().chain(s.scripts.iter().map(String::as_str))
}

/// Records the mail domains a host evidently serves: its subscriptions and
/// the domains of its SASL users.
fn note_hosted(hosted: &mut BTreeSet<String>, s: &SourceStats) {
    if !s.subscription.is_empty() {
        hosted.insert(s.subscription.to_ascii_lowercase());
    }
    if s.kind == SourceKind::SaslUser as i32
        && let Some((_, domain)) = s.id.rsplit_once('@')
    {
        hosted.insert(domain.to_ascii_lowercase());
    }
}

fn suspect(key: Key, agg: Agg, found: score::Found, hosted: &BTreeSet<String>) -> Suspect {
    let (host_id, kind, id) = key;
    let mut suspect = Suspect {
        host_id,
        kind,
        id,
        uid: agg.uid,
        subscription: agg.subscription.clone(),
        score: found.score,
        reasons: found.reasons,
        hints: Vec::new(),
        messages: agg.volume(),
        bounced: agg.bounced,
        blocklisted: agg.blocklisted,
        recipient_domains: agg.domains,
        client_ips: agg.client_ips,
        scripts: agg.scripts.keys().cloned().collect(),
    };
    suspect.hints = hints(&suspect, hosted);
    suspect
}

/// The start of the hour containing `ms`.
fn hour_floor(ms: i64) -> i64 {
    ms.div_euclid(HOUR_MS) * HOUR_MS
}

#[cfg(test)]
mod tests;
