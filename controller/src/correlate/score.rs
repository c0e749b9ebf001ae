//! The score of one source: a sum of points, one term per piece of evidence,
//! each with the sentence that explains it. Points, not a probability: the
//! terms are capped so that no single weak signal outranks a strong one, and
//! the NOC can read off why a source is where it is.
//!
//! ```text
//! blocklisted  45 · √(refused / deliveries) · min(1, refused / 20)
//! bounces      15 · ramp(bounce ratio, 5 % → 30 %) · min(1, bounces / 20)      (blocklist refusals not counted)
//! spread       10 · ramp(domains / recipients of one report, 0.3 → 0.8) · min(1, domains / 100)
//! login IPs    15 · ramp(client IPs, 3 → 30)                                    (SASL users only)
//! increase     15 · min(1, log10(rate / baseline rate)) · min(1, messages / 100)  (from 3×; needs ≥ 20 messages)
//!              15 · min(1, messages / 100) when it sent nothing in the baseline (a new sender)
//! new script   10 when a script sends that was not seen in the baseline
//! agent         5 · (1 − e^(−suspicion))                                        (the agent's own rating, weak)
//! ```
//!
//! Blocklist refusals weigh most: they are the receivers saying this
//! source's mail is what the list is about. The share, not the count, is
//! scored, because once an IP is listed every sender on it collects
//! refusals in proportion to its volume; the count only sets the confidence.
//! Ratios get a volume factor so that three messages to three domains do not
//! look like a spam run. Increase and newness need a baseline (see the module
//! above); without one they are left out rather than guessed. So a big,
//! steady newsletter with normal bounces and no refusals scores near zero,
//! and a small mailbox that suddenly sends to hundreds of domains from dozens
//! of IPs scores high.

use std::collections::BTreeSet;

use rblfleet_proto::v1::SourceKind;

use super::{Agg, HOUR_MS, Key, MIN_BASELINE_HOURS};

const W_BLOCKLISTED: f64 = 45.0;
const BLOCKLISTED_FULL_AT: f64 = 20.0;
const W_BOUNCES: f64 = 15.0;
const BOUNCE_NORMAL: f64 = 0.05;
const BOUNCE_FULL: f64 = 0.30;
const BOUNCES_FULL_AT: f64 = 20.0;
const W_SPREAD: f64 = 10.0;
const SPREAD_FROM: f64 = 0.3;
const SPREAD_FULL: f64 = 0.8;
const DOMAINS_FULL_AT: f64 = 100.0;
const W_LOGIN_IPS: f64 = 15.0;
const IPS_NORMAL: f64 = 3.0;
const IPS_FULL: f64 = 30.0;
const W_INCREASE: f64 = 15.0;
const INCREASE_FROM: f64 = 3.0;
const MIN_VOLUME: u64 = 20;
const VOLUME_FULL_AT: f64 = 100.0;
const W_NEW_SCRIPT: f64 = 10.0;
const W_AGENT: f64 = 5.0;
/// Further new scripts named in the reason (the suspect lists them all).
const MAX_OTHER_SCRIPTS: usize = 2;

/// What a source is compared with.
#[derive(Debug)]
pub(super) struct Context<'a> {
    pub first_seen_ms: i64,
    /// Hours the host reported in the window (at least 1).
    pub window_hours: usize,
    /// Hours the host reported in the baseline.
    pub baseline_hours: usize,
    /// The source's own baseline, if it sent anything then.
    pub baseline: Option<&'a Agg>,
    pub baseline_scripts: &'a BTreeSet<String>,
}

/// The score and its reasons, strongest first.
#[derive(Debug)]
pub(super) struct Found {
    pub score: f64,
    pub reasons: Vec<String>,
}

pub(super) fn evaluate(key: &Key, agg: &Agg, ctx: &Context<'_>) -> Found {
    let mut terms: Vec<(f64, String)> = Vec::new();
    blocklisted(agg, &mut terms);
    bounces(agg, &mut terms);
    spread(agg, &mut terms);
    if key.1 == SourceKind::SaslUser as i32 {
        login_ips(agg, &mut terms);
    }
    if ctx.baseline_hours >= MIN_BASELINE_HOURS {
        increase(agg, ctx, &mut terms);
        new_scripts(agg, ctx, &mut terms);
    }
    terms.retain(|(points, _)| *points > 0.0);
    terms.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut score: f64 = terms.iter().map(|(p, _)| p).sum();
    let mut reasons: Vec<String> = terms.into_iter().map(|(_, r)| r).collect();
    // The agent's rating comes last whatever its weight: it is the agent's
    // opinion, the terms above are the controller's own reading.
    if agg.suspicion > 0.0 {
        score += W_AGENT * (1.0 - (-agg.suspicion).exp());
        if agg.agent_reasons.is_empty() {
            reasons.push(format!("the agent rated it suspicious ({:.1})", agg.suspicion));
        }
        reasons.extend(agg.agent_reasons.iter().map(|r| format!("agent: {}", super::hints::printable(r))));
    }
    Found { score: (score * 10.0).round() / 10.0, reasons }
}

fn blocklisted(agg: &Agg, terms: &mut Vec<(f64, String)>) {
    let deliveries = agg.deliveries();
    if agg.blocklisted == 0 || deliveries == 0 {
        return;
    }
    let share = agg.blocklisted as f64 / deliveries as f64;
    let points = W_BLOCKLISTED * share.sqrt() * confidence(agg.blocklisted, BLOCKLISTED_FULL_AT);
    let reason = format!(
        "{} of its {deliveries} deliveries from 24 h before the listing to 2 h after were refused by \
         blocklists ({} refusals)",
        percent(share),
        agg.blocklisted
    );
    terms.push((points, reason));
}

fn bounces(agg: &Agg, terms: &mut Vec<(f64, String)>) {
    let deliveries = agg.deliveries();
    let bounced = agg.bounced.saturating_sub(agg.blocklisted);
    if bounced == 0 || deliveries == 0 {
        return;
    }
    let ratio = bounced as f64 / deliveries as f64;
    let points = W_BOUNCES * ramp(ratio, BOUNCE_NORMAL, BOUNCE_FULL) * confidence(bounced, BOUNCES_FULL_AT);
    let reason = format!("{} of its deliveries bounced ({bounced} bounces, blocklist refusals aside)", percent(ratio));
    terms.push((points, reason));
}

fn spread(agg: &Agg, terms: &mut Vec<(f64, String)>) {
    if agg.domains == 0 {
        return;
    }
    let ratio = agg.domains as f64 / agg.recipients_then.max(agg.domains) as f64;
    let points = W_SPREAD * ramp(ratio, SPREAD_FROM, SPREAD_FULL) * confidence(agg.domains, DOMAINS_FULL_AT);
    let reason = format!(
        "sent to {} recipient domains within one report (about {} recipients)",
        agg.domains, agg.recipients_then
    );
    terms.push((points, reason));
}

fn login_ips(agg: &Agg, terms: &mut Vec<(f64, String)>) {
    let points = W_LOGIN_IPS * ramp(agg.client_ips as f64, IPS_NORMAL, IPS_FULL);
    terms.push((points, format!("logged in from {} different IPs within one report", agg.client_ips)));
}

fn increase(agg: &Agg, ctx: &Context<'_>, terms: &mut Vec<(f64, String)>) {
    let volume = agg.volume();
    if volume < MIN_VOLUME {
        return;
    }
    let volume_factor = confidence(volume, VOLUME_FULL_AT);
    let before = ctx.baseline.map_or(0, Agg::volume);
    if before == 0 {
        let reason =
            format!("new sender: nothing from it in the 7 days before, then {volume} messages around the listing");
        terms.push((W_INCREASE * volume_factor, reason));
        return;
    }
    let rate = volume as f64 / ctx.window_hours as f64;
    let usual = before as f64 / ctx.baseline_hours as f64;
    let factor = rate / usual;
    if factor < INCREASE_FROM {
        return;
    }
    let points = W_INCREASE * factor.log10().min(1.0) * volume_factor;
    let reason = format!(
        "sent {}× its usual hourly volume ({}/h around the listing against {}/h in the 7 days before)",
        number(factor),
        number(rate),
        number(usual)
    );
    terms.push((points, reason));
}

fn new_scripts(agg: &Agg, ctx: &Context<'_>, terms: &mut Vec<(f64, String)>) {
    let mut new: Vec<(&String, i64)> =
        agg.scripts.iter().filter(|(s, _)| !ctx.baseline_scripts.contains(*s)).map(|(s, t)| (s, *t)).collect();
    if new.is_empty() {
        return;
    }
    new.sort_by_key(|(_, seen)| *seen);
    let (first, seen) = new[0];
    let mut reason =
        format!("new script {} first seen {}", super::hints::printable(first), relative(ctx.first_seen_ms - seen));
    if new.len() > 1 {
        let others: Vec<String> =
            new[1..].iter().take(MAX_OTHER_SCRIPTS).map(|(s, _)| super::hints::printable(s)).collect();
        let more = new.len() - 1 - others.len();
        reason.push_str(&format!(
            " (also new: {}{})",
            others.join(", "),
            if more > 0 { format!(" and {more} more") } else { String::new() }
        ));
    }
    terms.push((W_NEW_SCRIPT, reason));
}

/// "3 h before the listing", "2 h after the listing", "within the hour of the listing".
fn relative(before_ms: i64) -> String {
    let hours = (before_ms as f64 / HOUR_MS as f64).round() as i64;
    match hours {
        0 => "within the hour of the listing".to_string(),
        h if h > 0 => format!("{h} h before the listing"),
        h => format!("{} h after the listing", -h),
    }
}

/// 0 at `from`, 1 at `full`, linear between.
fn ramp(x: f64, from: f64, full: f64) -> f64 {
    ((x - from) / (full - from)).clamp(0.0, 1.0)
}

/// How much a ratio can be trusted given its count: full from `full_at` on.
fn confidence(n: u64, full_at: f64) -> f64 {
    (n as f64 / full_at).min(1.0)
}

fn percent(share: f64) -> String {
    let p = (share * 100.0).round();
    if p < 1.0 { "under 1%".to_string() } else { format!("{p}%") }
}

/// 14, 2.5, 0.3: whole numbers from 10 up, one decimal below.
fn number(x: f64) -> String {
    if x >= 10.0 { format!("{}", x.round()) } else { format!("{:.1}", x) }
}
