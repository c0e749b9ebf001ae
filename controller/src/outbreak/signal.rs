//! The outbreak signals: what each one measures, how strong it is, and the
//! sentence a night-shift engineer reads.
//!
//! Every signal compares the last 30 minutes with the subject's own
//! baseline. Signals come in two kinds:
//! - *volume* (volume, fan-out): the subject sends more, or to more domains.
//!   A newsletter, a password-reset storm or a holiday campaign does that too,
//!   so volume alone never warns, however large the multiple.
//! - *quality* (bounce ratio, deferral ratio, reputation deferrals, SASL
//!   logins from many client IPs, queue growth, blocklist refusals): the
//!   receivers, or the logins, say something is wrong. Spam sent to bought or
//!   harvested lists bounces and gets deferred; a legitimate burst does not.
//!
//! A subject warns when the strengths add up to [`WARN_SCORE`] and at least
//! one quality signal is among them (a ratio counting only at
//! [`MIN_MESSAGES`] or more); it clears after its score stayed under
//! [`CLEAR_SCORE`] for [`CALM_MS`].

use super::stat::Counts;

mod alarm;

pub use alarm::{Alarm, Transition};

/// Score at which a subject warns (with at least one quality signal).
pub const WARN_SCORE: f32 = 2.5;
/// Score under which a warned subject counts as calm.
pub const CLEAR_SCORE: f32 = 1.0;
/// How long a warned subject must stay calm before it clears: the length of
/// the window, so one quiet bucket in a running outbreak clears nothing.
pub const CALM_MS: i64 = 30 * 60_000;

/// One signal that fired, with the numbers its reason quotes.
#[derive(Clone, Debug, PartialEq)]
pub enum Signal {
    /// Messages in the window vs the usual hourly volume.
    Volume { now: u32, usual_per_hour: f32 },
    /// Recipient domains in one report vs the usual.
    FanOut { now: u32, usual: f32 },
    /// Distinct SASL client IPs in one report vs the usual.
    ClientIps { now: u32, usual: f32 },
    /// Bounce ratio in the window vs the usual.
    BounceRatio { now: f32, usual: f32, bounced: u32 },
    /// Deferral ratio in the window vs the usual.
    DeferralRatio { now: f32, usual: f32, deferred: u32 },
    /// Reputation deferrals (host-wide) in the window vs the usual per hour;
    /// `labels` names the providers and codes ("Yahoo TSS04, Gmail 4.7.28");
    /// `share` is the source's share of the host's refusals (1 for the host).
    Reputation { now: u32, usual_per_hour: f32, labels: String, share: f32 },
    /// The host's queue over the window.
    QueueGrowth { from: u32, to: u32 },
    /// Refusals because the IP is already listed somewhere.
    Blocklisted { now: u32 },
    /// One big receiver's deferral ratio of the host's mail vs its usual
    /// (host only; see [`super::receiver`]).
    Receiver { provider: String, now: f32, usual: f32, deferred: u32, attempts: u32 },
    /// One big receiver got several times its usual mail from the host for
    /// hours, deferring well above its usual ratio, with reputation
    /// deferrals (host only; see [`super::receiver::sustained`]).
    Sustained {
        provider: String,
        hours: f32,
        now: f32,
        per_hour: f32,
        reputation_per_half: f32,
        usual: f32,
        usual_per_hour: f32,
    },
    /// One big receiver got a surge that no source of the host carries and
    /// both deferred and bounced well above usual (host only; see
    /// [`super::receiver::refusal`]).
    Refused {
        provider: String,
        per_hour: f32,
        usual_per_hour: f32,
        deferral: f32,
        usual_deferral: f32,
        bounce: f32,
        usual_bounce: f32,
    },
}

impl Signal {
    /// True for the signals that say the mail is unwanted, not just plentiful.
    pub fn is_quality(&self) -> bool {
        !matches!(self, Signal::Volume { .. } | Signal::FanOut { .. })
    }

    /// The sentence for the NOC.
    pub fn reason(&self) -> String {
        match self {
            Signal::Volume { now, usual_per_hour } => format!(
                "sent {} messages in the last 30 min, {} its usual {}/h",
                thousands(*now),
                multiple(*now as f32 * 2.0, *usual_per_hour),
                thousands(usual_per_hour.round() as u32)
            ),
            Signal::FanOut { now, usual } => format!(
                "sent to {} recipient domains in one minute (usual {})",
                thousands(*now),
                thousands(usual.round() as u32)
            ),
            Signal::ClientIps { now, usual } => {
                format!(
                    "logged in from {} client IPs in one minute (usual {})",
                    thousands(*now),
                    thousands(usual.round() as u32)
                )
            }
            Signal::BounceRatio { now, usual, bounced } => format!(
                "bounce ratio {} ({} bounces in 30 min; usual {})",
                percent(*now),
                thousands(*bounced),
                percent(*usual)
            ),
            Signal::DeferralRatio { now, usual, deferred } => format!(
                "deferral ratio {} ({} deferred in 30 min; usual {})",
                percent(*now),
                thousands(*deferred),
                percent(*usual)
            ),
            Signal::Reputation { now, usual_per_hour, labels, share } => {
                let mut s = format!(
                    "{labels} reputation deferrals: {} in 30 min (usual {}/h)",
                    thousands(*now),
                    thousands(usual_per_hour.round() as u32)
                );
                if *share < 1.0 {
                    s.push_str(&format!("; this source holds {} of the host's deferrals", percent(*share)));
                }
                s
            }
            Signal::QueueGrowth { from, to } => {
                format!("queue grew from {} to {} in 30 min", thousands(*from), thousands(*to))
            }
            Signal::Blocklisted { now } => {
                format!("{} deliveries refused because the IP is listed, in 30 min", thousands(*now))
            }
            Signal::Receiver { provider, now, usual, deferred, attempts } => format!(
                "{} deferred {} of this host's mail to it in 30 min ({} of {}; usual {}) while getting more of it than usual",
                provider_name(provider),
                percent(*now),
                thousands(*deferred),
                thousands(*attempts),
                percent(*usual)
            ),
            Signal::Sustained { provider, hours, now, per_hour, reputation_per_half, usual, usual_per_hour } => {
                format!(
                    "{} deferring {} of {} mails/h for {} h with {} reputation deferrals per 30 min, usual {} at {}/h; from many senders, none standing out (a forward or relay of spam?)",
                    provider_name(provider),
                    percent(*now),
                    thousands(per_hour.round() as u32),
                    hours,
                    reputation_per_half.round() as u32,
                    percent(*usual),
                    thousands(usual_per_hour.round() as u32)
                )
            }
            Signal::Refused { provider, per_hour, usual_per_hour, deferral, usual_deferral, bounce, usual_bounce } => {
                format!(
                    "{} got {} mails/h from this host (usual {}/h) from many senders, none standing out, and refused them: deferred {} (usual {}), bounced {} (usual {}) (a forward or relay of spam?)",
                    provider_name(provider),
                    thousands(per_hour.round() as u32),
                    thousands(usual_per_hour.round() as u32),
                    percent(*deferral),
                    percent(*usual_deferral),
                    percent(*bounce),
                    percent(*usual_bounce)
                )
            }
        }
    }
}

/// A signal with its strength (1 when just over its threshold, more the
/// further beyond).
#[derive(Clone, Debug, PartialEq)]
pub struct Fired {
    pub signal: Signal,
    pub strength: f32,
}

/// Messages in the window below which ratio signals alone do not warn at
/// once.
///
/// A bounce or deferral ratio needs volume to matter: a mailbox that mails
/// 150 old contacts with 20% bounces cannot get an IP listed and is not worth
/// waking anyone for; 300 messages in 30 minutes is a rate no person types
/// (600/h). Below it a warning needs a signal that does not come from
/// volume (logins from many IPs, reputation deferrals, blocklist refusals,
/// the host's queue), or the anomaly must last [`SUSTAIN_MS`].
pub const MIN_MESSAGES: u32 = 300;

/// [`MIN_MESSAGES`] for a mailbox (a SASL user: a person) whose logins look
/// as usual.
///
/// A person does mail a whole address book now and then: a few hundred
/// messages in a quarter of an hour, and an old list bounces 10-20%
/// (addresses decay by about a fifth a year). That is a one-off, over within
/// the hour, and from the window it looks like a hijack sending 600-800 an
/// hour from one VPS. What separates them is size and persistence: above
/// 600 messages in 30 min it is more than one person's contacts, and below
/// it the anomaly must last [`SUSTAIN_MS`] (a hijack goes on for hours). A
/// hijack seen from many client IPs does not wait for either: the logins are
/// the evidence ([`Signal::ClientIps`] is a quality signal of its own).
pub const MIN_MESSAGES_MAILBOX: u32 = 600;

/// A bounce ratio at which a third of [`MIN_MESSAGES`] (or of
/// [`MIN_MESSAGES_MAILBOX`]) is enough to warn at once.
///
/// Three addresses in ten that do not exist is no mailing list anyone keeps,
/// not even an old one (they lose about a fifth a year, and the replay's old
/// contact lists bounce at most 20%): it is backscatter to forged senders
/// or a harvested list, and it hits spam traps at every hundred messages. A
/// PHP mailer at 530/h with 38% bounces and a backscatter at 400/h with 42%
/// got their IPs listed before their 30-minute window held 300 messages
/// (replay seeds 20 and 25, held out: listed 87 and 90 minutes after the
/// start, warned 2 and 5 minutes later by the refusals).
pub const SEVERE_BOUNCE: f32 = 0.30;

/// How long a small anomaly (see [`MIN_MESSAGES`]) must last to warn: a
/// one-off mailing is over within the hour (plus the 30 minutes the window
/// remembers it), a slow backscatter or a trickling hijack goes on for
/// hours and is listed in the end.
pub const SUSTAIN_MS: i64 = 2 * 60 * 60_000;

/// The verdict on one evaluation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Verdict {
    /// The sum of the strengths.
    pub score: f32,
    /// Warn now.
    pub warns: bool,
    /// Would warn if it were bigger: warns once it has lasted [`SUSTAIN_MS`].
    pub pending: bool,
}

/// The verdict on a set of signals; `messages` is the subject's volume in
/// the window, `min_messages` the volume at which a ratio warns at once
/// ([`MIN_MESSAGES`], [`MIN_MESSAGES_MAILBOX`]).
///
/// A receiver deferring far more of the host's mail than usual
/// ([`Signal::Receiver`]) is pending on its own, whatever the score: it is
/// what a slow forward of spam to Gmail looks like for hours (15% of 200
/// messages an hour deferred, nothing else) before a list acts on it, and a
/// legitimate burst that a receiver defers that much for two hours is worth
/// a look too.
pub fn score(fired: &[Fired], messages: u32, min_messages: u32) -> Verdict {
    let score: f32 = fired.iter().map(|f| f.strength).sum();
    let scaled = fired.iter().any(|f| match f.signal {
        Signal::BounceRatio { now, .. } => {
            messages >= min_messages || (now >= SEVERE_BOUNCE && messages >= min_messages / 3)
        }
        Signal::DeferralRatio { .. } => messages >= min_messages,
        // Never at once: a newsletter's 8% deferrals at one receiver reach
        // 10% by chance in one window (the replay: 6 false warnings per
        // 1,000 host-days when it could); an outbreak keeps it up.
        Signal::Receiver { .. } => false,
        _ => f.signal.is_quality(),
    });
    let quality = fired.iter().any(|f| f.signal.is_quality());
    let receiver = fired.iter().any(|f| matches!(f.signal, Signal::Receiver { .. }));
    Verdict { score, warns: scaled && score >= WARN_SCORE, pending: receiver || (quality && score >= WARN_SCORE) }
}

/// 1 at `ratio == at`, +1 per `per` factor beyond, within [1, max].
pub(crate) fn grade(ratio: f32, at: f32, per: f32, max: f32) -> f32 {
    (1.0 + (ratio / at).ln() / per.ln()).clamp(1.0, max)
}

/// Volume: at least `min` messages in 30 min, 10x the usual hourly rate and
/// twice the busiest clean hour remembered. Strength 1 at 10x, 2 at 100x.
pub(crate) fn volume(w: &Counts, level: f32, peak: f32, min: u32, floor: f32) -> Option<Fired> {
    let usual = level.max(floor);
    let rate = w.messages as f32 * 2.0;
    let ratio = rate / usual;
    (w.messages >= min && ratio >= 10.0 && rate >= 2.0 * peak).then(|| Fired {
        signal: Signal::Volume { now: w.messages, usual_per_hour: level },
        strength: grade(ratio, 10.0, 10.0, 2.0),
    })
}

/// Fan-out: at least 20 recipient domains in one report, 5x the usual and
/// twice the most seen. Strength 1 at 5x, 2 at 50x.
pub(crate) fn fan_out(w: &Counts, level: f32, peak: f32) -> Option<Fired> {
    let ratio = w.domains as f32 / level.max(2.0);
    (w.domains >= 20 && ratio >= 5.0 && w.domains as f32 >= 2.0 * peak).then(|| Fired {
        signal: Signal::FanOut { now: w.domains, usual: level },
        strength: grade(ratio, 5.0, 10.0, 2.0),
    })
}

/// SASL logins from many client IPs: at least 5 in one report and 3x the
/// most seen. Strength 1 at 3x, +0.5 per doubling, up to 3 (about 50 IPs
/// for a mailbox used from 2 warns alone).
pub(crate) fn client_ips(w: &Counts, peak: f32) -> Option<Fired> {
    let ratio = w.client_ips as f32 / peak.max(1.0);
    (w.client_ips >= 5 && ratio >= 3.0).then(|| Fired {
        signal: Signal::ClientIps { now: w.client_ips, usual: peak },
        strength: grade(ratio, 3.0, 4.0, 3.0),
    })
}

/// Bounce ratio: at least `min_bounced` bounces, a ratio of 10% or more,
/// 8 points and 3x above the usual. Strength 1 at 10%, 2 at 30%, 2.5 (enough
/// alone) from 40%: when four addresses in ten do not exist, the list is
/// harvested or the mail is backscatter to forged senders.
pub(crate) fn bounce_ratio(w: &Counts, usual: f32, min_bounced: u32) -> Option<Fired> {
    let now = w.bounce_ratio();
    (w.bounced >= min_bounced && now >= 0.10 && now >= usual + 0.08 && now >= 3.0 * usual).then(|| Fired {
        signal: Signal::BounceRatio { now, usual, bounced: w.bounced },
        strength: (1.0 + (now - 0.10) * 5.0).clamp(1.0, 2.5),
    })
}

/// Deferral ratio: at least `min_deferred` deferrals, 20% or more and 15
/// points above the usual. A weak signal (0.75): greylisting and a busy
/// receiver defer legitimate mail too.
pub(crate) fn deferral_ratio(w: &Counts, usual: f32, min_deferred: u32) -> Option<Fired> {
    let now = w.deferral_ratio();
    (w.deferred >= min_deferred && now >= 0.20 && now >= usual + 0.15)
        .then_some(Fired { signal: Signal::DeferralRatio { now, usual, deferred: w.deferred }, strength: 0.75 })
}

/// Blocklist refusals: 3 or more in the window. The IP is listed somewhere
/// already (often a receiver's own list, which precedes the DNSBLs).
pub(crate) fn blocklisted(w: &Counts) -> Option<Fired> {
    (w.blocklisted >= 3).then_some(Fired { signal: Signal::Blocklisted { now: w.blocklisted }, strength: 1.5 })
}

/// "Gmail", "Microsoft": the receiver as the NOC calls it.
pub fn provider_name(provider: &str) -> &str {
    match provider {
        "google" => "Gmail",
        "yahoo" => "Yahoo",
        "microsoft" => "Microsoft",
        "apple" => "Apple",
        "gmx" => "GMX",
        "t-online" => "T-Online",
        "comcast" => "Comcast",
        "att" => "AT&T",
        "cox" => "Cox",
        "" => "receiver",
        other => other,
    }
}

/// "2,140"
pub fn thousands(n: u32) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// "38%", "0.5%"
pub fn percent(r: f32) -> String {
    let p = r * 100.0;
    if p > 0.0 && p < 1.0 { format!("{p:.1}%") } else { format!("{}%", p.round() as u32) }
}

/// "40x"; "far above" when the usual is under one an hour.
fn multiple(now_per_hour: f32, usual: f32) -> String {
    if usual < 0.5 { "far above".into() } else { format!("{}x", thousands((now_per_hour / usual).round() as u32)) }
}
