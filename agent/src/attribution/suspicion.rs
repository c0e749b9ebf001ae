//! How suspicious a sending source is: a number and the reasons, in words.
//!
//! The score ranks sources for a person who has to find, in a few minutes,
//! the mailbox or script that got an IP listed. It rests on what is abnormal
//! for legitimate mail, measured as *rates*, so that size alone never makes a
//! source suspicious — a large, clean newsletter must rank below a small
//! hijacked mailbox:
//!
//! - **trouble**: the share of its deliveries refused by blocklists (weight
//!   3), hard bounces beyond a normal 2 % (weight 1.5), deferrals beyond a
//!   normal 5 % (weight 0.5), refusals by Plesk's outgoing-mail limit;
//!   multiplied by a confidence `n / (n + 20)` in the number of deliveries,
//!   so one unlucky bounce is not a pattern;
//! - **logins**: a SASL user seen from many client IPs (a password sold to a
//!   botnet): `log2(ips / 4)`, from 0 at 4 IPs to 5 at 128 and more;
//! - **spread**: recipient domains per recipient, counted only from 20
//!   domains on. Mass mailings to many domains are normal for a newsletter,
//!   so spread never raises a source on its own: it amplifies the two
//!   signals above by up to 50 %.
//!
//! `score = (20 × trouble × confidence + 5 × logins) × (1 + spread / 2)`,
//! plus `0.5 × log10(1 + troubled deliveries)` to order equal rates by the
//! harm done. Scores are rounded to one decimal. Typical values: a clean
//! newsletter ≈ 0–2, a PHP form mailer bouncing 20 % ≈ 5–15, a hijacked
//! mailbox with blocklist refusals from dozens of IPs ≈ 40–70.

/// The figures of one source that the score looks at.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Figures {
    /// Messages with at least one outgoing delivery.
    pub messages: u64,
    /// Distinct recipients of those messages.
    pub recipients: u64,
    /// Distinct recipient domains (a lower bound when `domains_capped`).
    pub recipient_domains: u64,
    /// True when the domain count saturated its cap.
    pub domains_capped: bool,
    /// Delivery attempts accepted.
    pub sent: u64,
    /// Delivery attempts deferred.
    pub deferred: u64,
    /// Delivery attempts bounced.
    pub bounced: u64,
    /// Delivery attempts refused because the sending IP is listed.
    pub blocklisted: u64,
    /// Distinct client IPs (SASL logins; a lower bound when `ips_capped`).
    pub client_ips: u64,
    /// True when the IP count saturated its cap.
    pub ips_capped: bool,
    /// Messages refused by Plesk's outgoing-mail limit.
    pub limit_hits: u64,
    /// First and last time seen (Unix ms; 0 when unknown).
    pub first_seen_ms: i64,
    /// See `first_seen_ms`.
    pub last_seen_ms: i64,
}

/// A score and its reasons.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Suspicion {
    /// Higher is more suspicious; 0 means nothing abnormal was seen.
    pub score: f64,
    /// Plain-words reasons, most important first.
    pub reasons: Vec<String>,
}

/// Below these shares, bounces and deferrals are normal for legitimate mail.
const NORMAL_BOUNCE_RATE: f64 = 0.02;
const NORMAL_DEFER_RATE: f64 = 0.05;
/// Spread counts only from this many recipient domains on.
const SPREAD_MIN_DOMAINS: u64 = 20;
/// Logins from more IPs than this are unusual for one person (office,
/// home, a phone moving between networks).
const NORMAL_IPS: u64 = 4;

/// Scores one source; see the module documentation.
pub fn score(f: &Figures) -> Suspicion {
    let deliveries = f.sent + f.deferred + f.bounced;
    let n = deliveries as f64;
    let rate = |x: u64| if deliveries == 0 { 0.0 } else { x as f64 / n };
    let (block_rate, bounce_rate, defer_rate) = (rate(f.blocklisted), rate(f.bounced), rate(f.deferred));
    // Limit hits are refused messages, not deliveries: a share of all the
    // source tried to send.
    let tried = (f.messages + f.limit_hits) as f64;
    let limit_rate = if f.limit_hits == 0 { 0.0 } else { f.limit_hits as f64 / tried };

    let trouble = 3.0 * block_rate
        + 1.5 * (bounce_rate - NORMAL_BOUNCE_RATE).max(0.0)
        + 0.5 * (defer_rate - NORMAL_DEFER_RATE).max(0.0)
        + 1.0 * limit_rate;
    let confidence = (n + f.limit_hits as f64) / (n + f.limit_hits as f64 + 20.0);
    let logins =
        if f.client_ips > NORMAL_IPS { (f.client_ips as f64 / NORMAL_IPS as f64).log2().min(5.0) } else { 0.0 };
    let spread = if f.recipient_domains >= SPREAD_MIN_DOMAINS && f.recipients > 0 {
        (f.recipient_domains as f64 / f.recipients as f64).min(1.0)
    } else {
        0.0
    };
    let troubled = f.blocklisted.max(f.bounced) + f.limit_hits;
    let raw =
        (20.0 * trouble * confidence + 5.0 * logins) * (1.0 + spread / 2.0) + 0.5 * (1.0 + troubled as f64).log10();
    let score = if raw.is_finite() { (raw * 10.0).round() / 10.0 } else { 0.0 };
    // Spread is a reason only where it amplified something.
    let spread_matters = spread > 0.0 && (trouble > 0.0 || logins > 0.0);
    Suspicion { score, reasons: reasons(f, block_rate, bounce_rate, defer_rate, spread_matters) }
}

fn reasons(f: &Figures, block_rate: f64, bounce_rate: f64, defer_rate: f64, spread: bool) -> Vec<String> {
    let mut out = Vec::new();
    if f.blocklisted > 0 {
        out.push(format!("{} of its deliveries were refused by blocklists", percent(block_rate)));
    }
    if f.limit_hits > 0 {
        out.push(format!("hit Plesk's outgoing-mail limit {} {}", f.limit_hits, plural(f.limit_hits, "time", "times")));
    }
    if f.client_ips > NORMAL_IPS {
        let at_least = if f.ips_capped { "at least " } else { "" };
        out.push(format!("logged in from {at_least}{} IPs", f.client_ips));
    }
    if spread {
        let at_least = if f.domains_capped { "at least " } else { "" };
        out.push(format!("{at_least}{} recipient domains{}", f.recipient_domains, over(f)));
    }
    if bounce_rate > NORMAL_BOUNCE_RATE && f.bounced > 0 {
        out.push(format!("{} of its deliveries bounced", percent(bounce_rate)));
    }
    if defer_rate > NORMAL_DEFER_RATE && f.deferred > 0 {
        out.push(format!("{} of its deliveries were deferred", percent(defer_rate)));
    }
    out
}

/// "38%", or "<1%" for a rate that rounds to zero but is not zero.
fn percent(rate: f64) -> String {
    let p = (rate * 100.0).round();
    if p < 1.0 && rate > 0.0 { "<1%".to_string() } else { format!("{p}%") }
}

fn plural<'a>(n: u64, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// " in 4 h" for the time between first and last seen, when known.
fn over(f: &Figures) -> String {
    if f.first_seen_ms <= 0 || f.last_seen_ms < f.first_seen_ms {
        return String::new();
    }
    format!(" in {}", span(f.last_seen_ms - f.first_seen_ms))
}

/// A duration in the largest whole unit that keeps it readable.
pub fn span(ms: i64) -> String {
    let s = ms / 1000;
    match s {
        ..60 => format!("{} s", s.max(1)),
        60..3600 => format!("{} min", s / 60),
        3600..172_800 => format!("{} h", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}

#[cfg(test)]
mod tests;
