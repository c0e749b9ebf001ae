//! One sending source on one host (a mailbox, a script, a system user, a
//! sender address): its baseline, its last half hour, its alarm.

use rblfleet_proto::v1::{SourceKind, SourceStats};
use serde::{Deserialize, Serialize};

use super::reputation::{CARRIER_SHARE, refused};
use super::signal::{self, Alarm, Fired, Signal};
use super::stat::{Counts, HOUR_MS, Stat, Window, clamp32};

/// The baseline of one source: five hourly values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Messages per hour.
    pub messages: Stat,
    /// Recipient domains in one report (the busiest report of the hour).
    pub domains: Stat,
    /// Distinct SASL client IPs in one report (the busiest of the hour).
    pub client_ips: Stat,
    /// Bounce ratio of the hour (hours with 5 attempts or more).
    pub bounce: Stat,
    /// Deferral ratio of the hour (hours with 5 attempts or more).
    pub deferral: Stat,
}

impl Baseline {
    /// What the fleet assumes of a source nobody has seen: a mailbox of a
    /// small business (10 messages an hour to a few domains, from one or two
    /// places, 3% bounces and deferrals).
    pub fn fleet_default() -> Self {
        Baseline {
            messages: Stat::prior(10.0, 10.0),
            domains: Stat::prior(3.0, 3.0),
            client_ips: Stat::prior(1.0, 1.0),
            bounce: Stat::prior(0.03, 0.03),
            deferral: Stat::prior(0.03, 0.03),
        }
    }

    /// This baseline as the starting point of a new source: its levels,
    /// no history, and a peak no higher than the level (a new source has
    /// done nothing legitimately yet).
    pub fn as_prior(&self) -> Self {
        let p = |s: Stat| Stat::prior(s.level, s.spread);
        Baseline {
            messages: p(self.messages),
            domains: p(self.domains),
            client_ips: p(self.client_ips),
            bounce: p(self.bounce),
            deferral: p(self.deferral),
        }
    }

    /// Learns one closed hour's levels; the peaks of the counts only decay
    /// here and rise through [`Baseline::confirm`]. See [`Stat::update`]
    /// for `clean` (the ratios).
    pub(crate) fn learn(&mut self, hour: &Counts, clean: bool) {
        self.messages.update_level(hour.messages as f32);
        self.domains.update_level(hour.domains as f32);
        self.client_ips.update_level(hour.client_ips as f32);
        if hour.attempts >= 5 {
            self.bounce.update_ratio(hour.bounce_ratio(), clean);
            self.deferral.update_ratio(hour.deferral_ratio(), clean);
        }
    }

    /// Raises the peaks to what `held` remembers (hours a later quiet hour
    /// has confirmed as legitimate).
    pub(crate) fn confirm(&mut self, held: &Held) {
        self.messages.peak = self.messages.peak.max(held.messages);
        self.domains.peak = self.domains.peak.max(held.domains);
        self.client_ips.peak = self.client_ips.peak.max(held.client_ips);
    }

    /// Learns `hours` silent hours.
    pub(crate) fn idle(&mut self, hours: u32) {
        self.messages.idle(hours);
        self.domains.idle(hours);
        self.client_ips.idle(hours);
    }
}

/// The busiest hour of a run of hours not yet confirmed as legitimate:
/// what [`Baseline::confirm`] raises the peaks to once a quiet hour follows.
///
/// Why the wait: the peak is what the source has done legitimately, and the
/// volume and client-IP signals compare against it. An outbreak's first
/// hour often fires nothing yet (it started at :55, or it is still ramping
/// up, or its volume is far above usual but nothing else is wrong yet); if
/// that hour taught the peak, the outbreak would raise its own bar: a hijack
/// seen from 5 client IPs in its first five minutes lifted the mailbox's
/// "most IPs seen" from 2 to 5, and its 250 messages an hour the volume
/// peak from 12 to 246, so neither signal ever fired (replay seed 16,
/// missed). A newsletter's or a campaign's hours are learned all the same,
/// one quiet hour after they end.
///
/// Stored as `[messages, domains, client_ips]`: 64 sources of a busy host
/// carry one each, and field names would add 2 KB to its state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "[f32; 3]", into = "[f32; 3]")]
pub struct Held {
    pub messages: f32,
    pub domains: f32,
    pub client_ips: f32,
}

impl From<[f32; 3]> for Held {
    fn from([messages, domains, client_ips]: [f32; 3]) -> Self {
        Held { messages, domains, client_ips }
    }
}

impl From<Held> for [f32; 3] {
    fn from(h: Held) -> Self {
        [h.messages, h.domains, h.client_ips]
    }
}

impl Held {
    fn add(&mut self, hour: &Counts) {
        self.messages = self.messages.max(hour.messages as f32);
        self.domains = self.domains.max(hour.domains as f32);
        self.client_ips = self.client_ips.max(hour.client_ips as f32);
    }
}

/// A source's counts in one report.
pub(crate) fn counts(s: &SourceStats) -> Counts {
    Counts {
        reports: 1,
        messages: clamp32(s.messages),
        attempts: clamp32(s.sent.saturating_add(s.deferred).saturating_add(s.bounced)),
        bounced: clamp32(s.bounced),
        deferred: clamp32(s.deferred),
        blocklisted: clamp32(s.blocklisted),
        domains: clamp32(s.recipient_domains),
        client_ips: clamp32(s.client_ips),
        ..Counts::default()
    }
}

/// One source's state. Fixed size apart from its names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceState {
    /// [`SourceKind`] as its protobuf number.
    pub kind: i32,
    pub id: String,
    /// The Plesk subscription, when the agent knows it.
    pub subscription: String,
    pub last_seen_ms: i64,
    pub baseline: Baseline,
    window: Window,
    hour: Counts,
    hour_ms: i64,
    /// The current hour had a warning or an anomaly: it is not learned.
    /// Stored only when true (like `hour_signal`), to keep the state small.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) hour_warned: bool,
    /// Some signal fired in the current hour (volume alone will do): the
    /// hour does not confirm the held peaks. Absent in older states.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) hour_signal: bool,
    /// Peaks waiting for a quiet hour; absent in older states.
    #[serde(default)]
    held: Held,
    pub(crate) alarm: Alarm,
}

impl SourceState {
    pub(crate) fn new(s: &SourceStats, prior: Baseline) -> Self {
        SourceState {
            kind: s.kind,
            id: s.id.clone(),
            subscription: s.subscription.clone(),
            last_seen_ms: 0,
            baseline: prior,
            window: Window::default(),
            hour: Counts::default(),
            hour_ms: 0,
            hour_warned: false,
            hour_signal: false,
            held: Held::default(),
            alarm: Alarm::default(),
        }
    }

    /// The source kind, decoded.
    pub fn source_kind(&self) -> SourceKind {
        SourceKind::try_from(self.kind).unwrap_or(SourceKind::Unspecified)
    }

    /// The last 30 minutes, for display next to the baseline.
    pub fn recent(&self) -> Counts {
        self.window.total()
    }

    /// The last 30 minutes as of `at_ms` (the window moved on to it, buckets
    /// without a report empty).
    pub fn recent_at(&self, at_ms: i64) -> Counts {
        let mut window = self.window.clone();
        window.advance(at_ms);
        window.total()
    }

    /// A SASL user: a person's mailbox, not an application.
    pub fn is_mailbox(&self) -> bool {
        self.kind == SourceKind::SaslUser as i32
    }

    /// The volume at which a ratio signal of this source warns at once:
    /// [`signal::MIN_MESSAGES_MAILBOX`] for a mailbox, else
    /// [`signal::MIN_MESSAGES`].
    pub(crate) fn min_messages(&self) -> u32 {
        if self.is_mailbox() { signal::MIN_MESSAGES_MAILBOX } else { signal::MIN_MESSAGES }
    }

    /// True at `at_ms` while an anomaly of this source waits to last long
    /// enough.
    pub fn is_pending(&self, at_ms: i64) -> bool {
        self.alarm.is_pending(at_ms)
    }

    /// True while the source is warned.
    pub fn is_warned(&self) -> bool {
        self.alarm.is_warned()
    }

    /// Adds one report's counts at `at_ms`. Closing an hour teaches the
    /// source's baseline and `host_prior` (the host's average source).
    pub(crate) fn observe(&mut self, s: &SourceStats, at_ms: i64, host_prior: &mut Baseline) {
        self.roll(at_ms, host_prior);
        if self.subscription.is_empty() {
            self.subscription.clone_from(&s.subscription);
        }
        let c = counts(s);
        if self.window.add(at_ms, &c) {
            self.hour.add(&c);
        }
        self.last_seen_ms = self.last_seen_ms.max(at_ms);
    }

    /// Closes the hour if `at_ms` is in a later one.
    pub(crate) fn roll(&mut self, at_ms: i64, host_prior: &mut Baseline) {
        let hour = at_ms.div_euclid(HOUR_MS) * HOUR_MS;
        if hour <= self.hour_ms {
            return;
        }
        if self.hour_ms != 0 {
            if self.hour_warned {
                // An anomaly: neither this hour nor the ones before it that
                // were waiting (its start) are what the source does.
                self.held = Held::default();
            } else {
                // Levels learn every hour (clipped); peaks only through
                // `held`, one quiet hour later.
                let normal = self.hour.bounce_ratio() < 0.10;
                self.baseline.learn(&self.hour, normal);
                host_prior.learn(&self.hour, false);
                if normal && !self.hour_signal {
                    self.baseline.confirm(&self.held);
                    self.held = Held::default();
                }
                if normal {
                    self.held.add(&self.hour);
                }
            }
            let idle = (hour - self.hour_ms) / HOUR_MS - 1;
            self.baseline.idle(u32::try_from(idle).unwrap_or(u32::MAX));
        }
        self.hour = Counts::default();
        self.hour_ms = hour;
        self.hour_warned = self.alarm.is_warned();
        self.hour_signal = false;
    }

    /// The signals of the last 30 minutes at `at_ms`. `host_reputation` is
    /// the host's reputation signal when it fired, with the host's window
    /// (the source gets it when it holds 40% or more of the host's refusals).
    pub(crate) fn evaluate(&mut self, at_ms: i64, host_reputation: Option<(&Fired, &Counts)>) -> (Vec<Fired>, Counts) {
        self.window.advance(at_ms);
        let w = self.window.total();
        (self.fired(&w, host_reputation), w)
    }

    /// The source's own signals over its last 30 minutes at `at_ms`
    /// (without the host's reputation deferrals), for display and for
    /// tracing the replay benchmark.
    pub fn signals(&self, at_ms: i64) -> Vec<Fired> {
        self.fired(&self.recent_at(at_ms), None)
    }

    fn fired(&self, w: &Counts, host_reputation: Option<(&Fired, &Counts)>) -> Vec<Fired> {
        let w = *w;
        let b = &self.baseline;
        let mut fired = Vec::new();
        fired.extend(signal::volume(&w, b.messages.level, b.messages.peak, 50, 2.0));
        fired.extend(signal::fan_out(&w, b.domains.level, b.domains.peak));
        if self.kind == SourceKind::SaslUser as i32 {
            fired.extend(signal::client_ips(&w, b.client_ips.peak));
        }
        fired.extend(signal::bounce_ratio(&w, b.bounce.level, 10));
        fired.extend(signal::deferral_ratio(&w, b.deferral.level, 20));
        fired.extend(signal::blocklisted(&w));
        if let Some((rep, host)) = host_reputation
            && let Signal::Reputation { now, usual_per_hour, labels, .. } = &rep.signal
        {
            let share = refused(&w) as f32 / refused(host).max(1) as f32;
            if share >= CARRIER_SHARE {
                let signal = Signal::Reputation {
                    now: *now,
                    usual_per_hour: *usual_per_hour,
                    labels: labels.clone(),
                    share: share.min(0.99),
                };
                fired.push(Fired { signal, strength: rep.strength });
            }
        }
        fired
    }

    /// The containment step for this source.
    pub fn first_step(&self) -> String {
        let sub =
            if self.subscription.is_empty() { String::new() } else { format!(" (subscription {})", self.subscription) };
        let id = &self.id;
        match self.source_kind() {
            SourceKind::SaslUser => format!(
                "suspend mailbox {id}{sub}: change its password in Plesk so the intruder's logins fail, then hold its queued mail"
            ),
            SourceKind::Script => {
                format!("disable script {id}{sub} (rename it or chmod 000) and hold the mail it queued")
            }
            SourceKind::LocalUser => format!(
                "stop outgoing mail of system user {id}{sub} (Plesk: suspend the subscription's mail) and look for the script sending"
            ),
            SourceKind::Sender | SourceKind::Unspecified => {
                format!("hold queued mail from {id}{sub} and find who sends as it (forwarding rule, script or mailbox)")
            }
        }
    }
}
