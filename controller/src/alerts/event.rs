//! What an alert says: one event per change the detector saw.
//!
//! Events serialize as the generic webhook body's `events` items, so field
//! names here are a stable wire format.

use serde::{Deserialize, Serialize};

/// How urgent an event is; routes keep events at or above their `min_severity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// A listing's severity from the report's (1 policy only, 2 some
    /// receivers, 3 the big ones); a relisting is at least a warning.
    pub fn of_listing(report_severity: u32, relisting: bool) -> Severity {
        match report_severity {
            3.. => Severity::Critical,
            2 => Severity::Warning,
            _ if relisting => Severity::Warning,
            _ => Severity::Info,
        }
    }
}

/// How to get off the list (the catalog's delisting route).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Delist {
    /// "form", "auto_expire", "contact" or "paid".
    pub kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub url: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub expiry_secs: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The source most likely behind a listing (from `correlate`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TopSuspect {
    pub host_id: String,
    /// "sasl_user", "system_user", "script", "sender"...
    pub kind: String,
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subscription: String,
    pub reasons: Vec<String>,
    /// The ready `rblfleet contain plan …` command (see [`plan_command`]).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub plan: String,
}

/// The `rblfleet contain plan` command for a suspect source, ready to paste:
/// its host, `KIND:ID` and a default action per kind (mailbox and sender:
/// hold their queued mail, reversible with undo; a local user: pause its
/// subscription when known, else hold; a script: quarantine it). Empty for
/// a host-wide suspect, which names no source. The suspects come from the
/// agents' own reports, so the agent accepts the source; only a plan (a dry
/// run) is proposed, never an apply.
pub fn plan_command(host: &str, kind: &str, id: &str, subscription: &str) -> String {
    let (prefix, action) = match kind {
        "mailbox" => ("mailbox", "hold_queue"),
        "sender" => ("sender", "hold_queue"),
        "local_user" if !subscription.is_empty() => ("user", "pause_subscription"),
        "local_user" => ("user", "hold_queue"),
        "script" => ("script", "quarantine_script"),
        _ => return String::new(),
    };
    if host.is_empty() || id.is_empty() {
        return String::new();
    }
    format!("rblfleet contain plan {} {} {action}", shell_word(host), shell_word(&format!("{prefix}:{id}")))
}

/// `text` as one shell word: as is when it holds only safe characters,
/// else in single quotes (a quote inside written as '\''), so a hostile
/// source id pasted from an alert stays one argument.
fn shell_word(text: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "@._:+/=,-".contains(c);
    if !text.is_empty() && text.chars().all(safe) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// A listing as an alert shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ListingInfo {
    /// The listed IP, or the listed domain when `kind` is "domain".
    pub ip: String,
    /// "ip" or "domain".
    pub kind: String,
    /// Zone or receiver id.
    pub list_id: String,
    /// For display; a keyed zone shows `<key>` in place of its key.
    pub list: String,
    pub hosts: Vec<String>,
    pub since_ms: i64,
    pub meanings: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub txt: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub case_id: u64,
    pub delist: Delist,
    /// Filled in after detection (it reads evidence); absent when no agent
    /// evidence points anywhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_suspect: Option<TopSuspect>,
    /// The early warning that came before this listing (issue 15), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warned: Option<Warned>,
}

/// An early warning that preceded a listing, and by how long.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Warned {
    pub host: String,
    /// "mailbox info@shop.example", or "the host".
    pub subject: String,
    pub warned_ms: i64,
    pub lead_secs: u64,
}

/// An early warning as an alert shows it (issue 15).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OutbreakInfo {
    pub host: String,
    /// The host's sending IPs: not listed yet, about to be.
    pub ips: Vec<String>,
    /// "mailbox", "script", "local_user", "sender", or "host" when no single
    /// source explains it.
    pub source_kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subscription: String,
    pub score: f64,
    pub reasons: Vec<String>,
    /// What to do first to contain it.
    pub first_step: String,
    /// The ready `rblfleet contain plan …` command (see [`plan_command`]).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub plan: String,
    pub since_ms: i64,
}

/// What changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// An IP is on a list it was not on at the previous sweep.
    Listed { listing: ListingInfo },
    /// Listed again on a list whose case was resolved within 30 days.
    Relisted { listing: ListingInfo },
    /// The listing ended (consecutive clean checks, or the receiver accepts mail again).
    Cleared { listing: ListingInfo, listed_for_secs: u64 },
    /// A removal was requested and the list operator has not acted for longer than the threshold.
    CaseWaiting { case_id: u64, ip: String, list_id: String, list: String, waiting_secs: u64, delist: Delist },
    /// A source (or a host) started to look like an outbreak while its IPs are still clean.
    Outbreak { warning: OutbreakInfo },
    /// A host's mail queue went above the threshold.
    QueueHigh { host: String, messages: u64, threshold: u64 },
    /// An agent stopped reporting for longer than N of its intervals.
    AgentSilent { host: String, last_report_ms: i64, silent_secs: u64, interval_secs: u64 },
    /// A blocklist zone was taken out of service (its test points failed): the fleet is not covered.
    ZoneOutOfService { zone_id: String, zone: String, reason: String },
    /// A certificate expires within `alerts.thresholds.certificate_expiry`
    /// (again at 14, 7, 3 and 1 days left, and once expired).
    CertificateExpiring {
        /// "agent", "controller" or "ca".
        certificate: String,
        /// The host id of an agent, else the certificate's subject CN.
        name: String,
        not_after_ms: i64,
        /// Days left, rounded up; 0 or less once expired.
        days_left: i64,
    },
    /// Sent by `rblfleet alerts test` to check a route end to end.
    Test { note: String },
}

/// One alert event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub severity: Severity,
    /// When the detector saw the change, Unix ms.
    pub at_ms: i64,
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    /// The list id the event is about, for route filters (None: not about a list).
    pub fn list_id(&self) -> Option<&str> {
        match &self.kind {
            EventKind::Listed { listing } | EventKind::Relisted { listing } | EventKind::Cleared { listing, .. } => {
                Some(&listing.list_id)
            }
            EventKind::CaseWaiting { list_id, .. } | EventKind::ZoneOutOfService { zone_id: list_id, .. } => {
                Some(list_id)
            }
            EventKind::QueueHigh { .. }
            | EventKind::AgentSilent { .. }
            | EventKind::Outbreak { .. }
            | EventKind::CertificateExpiring { .. }
            | EventKind::Test { .. } => None,
        }
    }

    /// The hosts the event is about, for route filters (empty: not about a host).
    pub fn hosts(&self) -> Vec<&str> {
        match &self.kind {
            EventKind::Listed { listing } | EventKind::Relisted { listing } | EventKind::Cleared { listing, .. } => {
                listing.hosts.iter().map(String::as_str).collect()
            }
            EventKind::QueueHigh { host, .. } | EventKind::AgentSilent { host, .. } => vec![host.as_str()],
            EventKind::Outbreak { warning } => vec![warning.host.as_str()],
            EventKind::CertificateExpiring { certificate, name, .. } if certificate == "agent" => vec![name.as_str()],
            EventKind::CertificateExpiring { .. } => Vec::new(),
            EventKind::CaseWaiting { .. } | EventKind::ZoneOutOfService { .. } | EventKind::Test { .. } => Vec::new(),
        }
    }

    /// The listing the event carries, if any (for suspect enrichment).
    pub fn listing_mut(&mut self) -> Option<&mut ListingInfo> {
        match &mut self.kind {
            EventKind::Listed { listing } | EventKind::Relisted { listing } | EventKind::Cleared { listing, .. } => {
                Some(listing)
            }
            _ => None,
        }
    }

    /// A one-line summary for chat titles and e-mail.
    pub fn title(&self) -> String {
        match &self.kind {
            EventKind::Listed { listing } => format!("{} listed on {}", listing.ip, listing.list),
            EventKind::Relisted { listing } => {
                format!("{} listed again on {} (relisting within 30 days)", listing.ip, listing.list)
            }
            EventKind::Cleared { listing, .. } => format!("{} no longer listed on {}", listing.ip, listing.list),
            EventKind::CaseWaiting { case_id, ip, list, waiting_secs, .. } => {
                format!("case {case_id} ({ip} on {list}) waiting on delisting for {}", span(*waiting_secs))
            }
            EventKind::QueueHigh { host, messages, threshold } => {
                format!("{host}: mail queue at {messages} messages (threshold {threshold})")
            }
            EventKind::Outbreak { warning: w } => {
                let who = if w.source.is_empty() {
                    "the host".to_string()
                } else {
                    format!("{} {}", w.source_kind, w.source)
                };
                format!("{}: possible outbreak from {who}, before any listing", w.host)
            }
            EventKind::AgentSilent { host, silent_secs, .. } => {
                format!("{host}: agent silent for {}", span(*silent_secs))
            }
            EventKind::ZoneOutOfService { zone, .. } => format!("blocklist zone {zone} out of service"),
            EventKind::CertificateExpiring { certificate, name, days_left, .. } => {
                let which = match certificate.as_str() {
                    "agent" => format!("{name}: agent certificate"),
                    "controller" => format!("controller certificate ({name})"),
                    _ => format!("CA certificate \"{name}\""),
                };
                match days_left {
                    ..=0 => format!("{which} has expired"),
                    1 => format!("{which} expires within a day"),
                    n => format!("{which} expires in {n} days"),
                }
            }
            EventKind::Test { .. } => "test alert from rblfleet".to_string(),
        }
    }

    /// Detail lines under the title (plain text; bodies format them).
    pub fn details(&self) -> Vec<String> {
        let mut lines = Vec::new();
        match &self.kind {
            EventKind::Listed { listing } | EventKind::Relisted { listing } | EventKind::Cleared { listing, .. } => {
                if let EventKind::Cleared { listed_for_secs, .. } = &self.kind {
                    lines.push(format!("was listed for {}", span(*listed_for_secs)));
                }
                if !listing.hosts.is_empty() {
                    lines.push(format!("hosts: {}", listing.hosts.join(", ")));
                }
                if !listing.meanings.is_empty() {
                    lines.push(format!("meaning: {}", listing.meanings.join("; ")));
                }
                if !listing.txt.is_empty() {
                    lines.push(format!("list says: {}", listing.txt));
                }
                if !matches!(self.kind, EventKind::Cleared { .. }) {
                    if let Some(s) = &listing.top_suspect {
                        let sub =
                            if s.subscription.is_empty() { String::new() } else { format!(", {}", s.subscription) };
                        lines.push(format!("top suspect: {} {} on {}{sub}", s.kind, s.id, s.host_id));
                        lines.extend(s.reasons.iter().take(3).map(|r| format!("  - {r}")));
                        if !s.plan.is_empty() {
                            lines.push(format!("contain: {}", s.plan));
                        }
                    }
                    if let Some(w) = &listing.warned {
                        lines.push(format!(
                            "early warning: {} on {}, {} before this listing",
                            w.subject,
                            w.host,
                            span(w.lead_secs)
                        ));
                    }
                    lines.push(format!("delisting: {}", delist_text(&listing.delist)));
                }
                if listing.case_id != 0 {
                    lines.push(format!("case: {} (rblfleet case {})", listing.case_id, listing.case_id));
                }
            }
            EventKind::CaseWaiting { delist, .. } => lines.push(format!("delisting: {}", delist_text(delist))),
            EventKind::QueueHigh { .. } => {}
            EventKind::Outbreak { warning: w } => {
                if !w.ips.is_empty() {
                    lines.push(format!("IPs at risk (not listed yet): {}", w.ips.join(", ")));
                }
                if !w.subscription.is_empty() {
                    lines.push(format!("subscription: {}", w.subscription));
                }
                lines.extend(w.reasons.iter().map(|r| format!("  - {r}")));
                lines.push(format!("first step: {}", w.first_step));
                if !w.plan.is_empty() {
                    lines.push(format!("contain: {}", w.plan));
                }
            }
            EventKind::Test { note } => lines.push(note.clone()),
            EventKind::AgentSilent { interval_secs, .. } => {
                lines.push(format!("reports every {}; nothing since then", span(*interval_secs)));
            }
            EventKind::CertificateExpiring { certificate, name, not_after_ms, .. } => {
                lines.push(format!("not valid after {}", super::body::rfc3339(*not_after_ms)));
                lines.push(match certificate.as_str() {
                    "agent" => format!(
                        "renew on the CA host: rblfleet ca renew --within 30d --host {name}, then copy bundles/{name} to the host"
                    ),
                    "controller" => "renew on the CA host: rblfleet ca renew --within 30d --controller, then install \
                                     controller.crt and controller.key where tls.cert and tls.key point"
                        .to_string(),
                    _ => "roll a new CA with an overlap period: docs/operations.md, \"Certificate renewal\"".to_string(),
                });
            }
            EventKind::ZoneOutOfService { reason, .. } => {
                lines.push(format!("reason: {reason}"));
                lines.push("IPs are not checked on this zone until it passes its test points again".into());
            }
        }
        lines
    }
}

/// The delisting route in words.
pub fn delist_text(d: &Delist) -> String {
    let mut text = match d.kind.as_str() {
        "form" => "self-service removal form".to_string(),
        "auto_expire" if d.expiry_secs > 0 => format!("expires by itself after about {}", span(d.expiry_secs)),
        "auto_expire" => "expires by itself".to_string(),
        "contact" => "contact the list operator".to_string(),
        "paid" => "paid removal".to_string(),
        "" => "unknown (not in the catalog)".to_string(),
        other => other.to_string(),
    };
    if !d.url.is_empty() {
        text.push_str(&format!(": {}", d.url));
    }
    if !d.note.is_empty() {
        text.push_str(&format!(" ({})", d.note));
    }
    text
}

/// A duration in the largest sensible unit ("45 s", "12 min", "5 h", "3 days").
pub fn span(secs: u64) -> String {
    match secs {
        0..120 => format!("{secs} s"),
        120..7_200 => format!("{} min", secs / 60),
        7_200..172_800 => format!("{} h", secs / 3600),
        _ => format!("{} days", secs / 86_400),
    }
}
