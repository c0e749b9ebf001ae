//! Legitimate traffic that looks like a slow forward of spam to Gmail, on
//! clean hosts only: the negatives a rule for such a forward must pass.
//!
//! - a campaign to a Gmail-heavy list that Gmail rate-limits (4.7.28) for
//!   hours;
//! - a mailbox forwarding its mail to a Gmail address every day (hundreds of
//!   envelope senders, a few percent deferred), and on half of those hosts a
//!   surge of it for hours (a busy mailing list, a customer alias on a sale
//!   day) with more deferrals and some 4.7.28;
//! - a password-reset storm of a shop whose customers are mostly on Gmail.
//!
//! The ranges were written down before any rule was tuned on them. Every
//! draw, at setup and per minute, comes from the host's own look-alike
//! stream ([`crate::rng::Rng`] seeded apart from the fleet's), so a seed's
//! outbreaks and the rest of its clean traffic are the same with or without
//! this module.

use rblfleet_proto::v1::{SourceKind, SourceStats};

use crate::rng::Rng;
use crate::scenario::{DAY_MS, HOUR_MS, MINUTE_MS, Rhythm, START_MS, distinct, draw, rhythm};
use crate::tick::{Routed, TO_GMAIL, add, route};

/// Mail not to Gmail: the other big receivers in the fleet's proportions
/// (see `tick::SPREAD`), the rest to small domains.
const NOT_GMAIL: [f64; 5] = [0.0, 0.15 / 0.7, 0.10 / 0.7, 0.03 / 0.7, 0.02 / 0.7];

/// Seed offset of the look-alike streams.
const STREAM: u64 = 0x100C_A11E;

/// One look-alike sender of one clean host.
#[derive(Debug)]
pub struct Lookalike {
    pub what: &'static str,
    kind: SourceKind,
    /// The source id; for a forward, a prefix of its envelope senders.
    id: String,
    sub: String,
    /// Ordinary messages per hour (before the rhythm); 0 for none.
    rate: f64,
    rhythm: Rhythm,
    /// Share of its mail that goes to Gmail.
    gmail: f64,
    /// Ordinary bounces, deferrals and Gmail 4.7.28 per Gmail message.
    usual: (f64, f64, f64),
    /// The burst: from `start` to `end`, `per_hour` more messages and the
    /// rate times `factor`, with its own bounces, deferrals and 4.7.28.
    pub start: i64,
    pub end: i64,
    per_hour: f64,
    factor: f64,
    burst: (f64, f64, f64),
    /// Many envelope senders (a forward), not one source.
    forwarded: bool,
}

/// The look-alike stream of the fleet drawn with `seed`.
pub fn stream(seed: u64) -> Rng {
    Rng::new(seed ^ STREAM)
}

/// The look-alikes of clean host `n` over `days` days.
pub fn draw_for(stream: &mut Rng, n: usize, days: u32) -> (Rng, Vec<Lookalike>) {
    let mut r = stream.fork(n as u64);
    let days_f = f64::from(days);
    let mut out = Vec::new();
    let day_at = |r: &mut Rng, from_h: f64, to_h: f64| {
        let day = r.range(1.0_f64.min(days_f - 1.0), days_f - 0.6).floor() as i64;
        START_MS + day * DAY_MS + (r.range(from_h, to_h) * HOUR_MS as f64) as i64
    };
    let hours = |r: &mut Rng, lo: f64, hi: f64| (r.log_range(lo, hi) * HOUR_MS as f64) as i64;
    let site = format!("site0-{n}.example");
    if r.chance(0.15) {
        let start = day_at(&mut r, 8.0, 16.0);
        let end = start + hours(&mut r, 2.0, 12.0);
        out.push(Lookalike {
            what: "campaign to a Gmail-heavy list",
            kind: SourceKind::Script,
            id: format!("/var/www/vhosts/{site}/httpdocs/campaign.php"),
            sub: site.clone(),
            rate: 0.0,
            rhythm: Rhythm::Flat,
            gmail: r.range(0.4, 0.8),
            usual: (0.0, 0.0, 0.0),
            start,
            end,
            per_hour: r.log_range(150.0, 3000.0),
            factor: 1.0,
            burst: (r.range(0.005, 0.04), r.range(0.02, 0.08), r.range(0.005, 0.04)),
            forwarded: false,
        });
    }
    if r.chance(0.25) {
        let rate = r.log_range(3.0, 60.0);
        let usual = (r.range(0.003, 0.02), r.range(0.01, 0.05), r.range(0.001, 0.005));
        let surge = r.chance(0.5);
        let start = day_at(&mut r, 0.0, 20.0);
        let end = start + hours(&mut r, 2.0, 12.0);
        out.push(Lookalike {
            what: if surge { "forwarding to Gmail, with a surge" } else { "forwarding to Gmail" },
            kind: SourceKind::Sender,
            id: format!("fwd-{n}"),
            sub: String::new(),
            rate,
            rhythm: Rhythm::Shop,
            gmail: 1.0,
            usual,
            start: if surge { start } else { 0 },
            end: if surge { end } else { 0 },
            per_hour: 0.0,
            factor: r.range(3.0, 8.0),
            burst: (usual.0, r.range(0.02, 0.08), r.range(0.002, 0.015)),
            forwarded: true,
        });
    }
    if r.chance(0.15) {
        let start = day_at(&mut r, 0.0, 23.0);
        let end = start + hours(&mut r, 0.3, 3.0);
        let total = r.log_range(300.0, 5000.0);
        out.push(Lookalike {
            what: "password-reset storm, customers mostly on Gmail",
            kind: SourceKind::Script,
            id: format!("/var/www/vhosts/{site}/httpdocs/lost-password.php"),
            sub: site,
            rate: r.log_range(0.1, 1.0),
            rhythm: Rhythm::Shop,
            gmail: r.range(0.5, 0.7),
            usual: (0.01, 0.02, 0.0),
            start,
            end,
            per_hour: total / ((end - start) as f64 / HOUR_MS as f64),
            factor: 1.0,
            burst: (r.range(0.01, 0.06), r.range(0.02, 0.08), r.range(0.005, 0.03)),
            forwarded: false,
        });
    }
    (r, out)
}

impl Lookalike {
    /// Its minute ending at `end_ms`: sources for the report, deliveries per
    /// receiver into `routed`. `clean_rep` is the host's background rate of
    /// reputation deferrals per message.
    pub(crate) fn minute(
        &self,
        r: &mut Rng,
        end_ms: i64,
        clean_rep: f64,
        routed: &mut [Routed; 6],
    ) -> Vec<SourceStats> {
        let base = self.rate * rhythm(self.rhythm, end_ms);
        let bursting = self.start < end_ms && end_ms <= self.end;
        let (per_hour, (pb, pd, prep)) =
            if bursting { (base * self.factor + self.per_hour, self.burst) } else { (base, self.usual) };
        let m = r.poisson(per_hour / 60.0);
        if m == 0 {
            return Vec::new();
        }
        let parts = if self.forwarded { m.min(3) } else { 1 };
        let mut out = Vec::new();
        for p in 0..parts {
            let k = m / parts + u64::from(p < m % parts);
            let g = r.binomial(k, self.gmail);
            let dg = draw(r, g, pb, pd, prep + clean_rep);
            route(r, routed, &TO_GMAIL, g, &dg);
            let other = draw(r, k - g, pb, pd, clean_rep);
            route(r, routed, &NOT_GMAIL, k - g, &other);
            let id = if self.forwarded {
                format!("{:x}@{:x}.example", r.next() >> 44, r.next() >> 48)
            } else {
                self.id.clone()
            };
            let mut st = SourceStats {
                kind: self.kind as i32,
                id,
                subscription: self.sub.clone(),
                recipient_domains: if self.gmail >= 1.0 { 1 } else { distinct(k as f64, 3000.0).round() as u64 },
                recipients: k,
                first_seen_ms: end_ms - MINUTE_MS,
                last_seen_ms: end_ms,
                ..SourceStats::default()
            };
            add(&mut st, g, &dg);
            add(&mut st, k - g, &other);
            out.push(st);
        }
        out
    }

    /// When it is unusual: the burst, or the whole run for a steady forward.
    pub fn span(&self, days: u32) -> (i64, i64) {
        if self.end > 0 { (self.start, self.end) } else { (START_MS, START_MS + i64::from(days) * DAY_MS) }
    }
}
