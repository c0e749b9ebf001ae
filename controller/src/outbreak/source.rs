//! One sending source on one host (a mailbox, a script, a system user, a
//! sender address): its baseline, its last half hour, its alarm.

use rblfleet_proto::v1::{SourceKind, SourceStats};
use serde::{Deserialize, Serialize};

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

    /// Learns one closed hour; see [`Stat::update`] for `clean`.
    pub(crate) fn learn(&mut self, hour: &Counts, clean: bool) {
        self.messages.update(hour.messages as f32, clean);
        self.domains.update(hour.domains as f32, clean);
        self.client_ips.update(hour.client_ips as f32, clean);
        if hour.attempts >= 5 {
            self.bounce.update_ratio(hour.bounce_ratio(), clean);
            self.deferral.update_ratio(hour.deferral_ratio(), clean);
        }
    }

    /// Learns `hours` silent hours.
    pub(crate) fn idle(&mut self, hours: u32) {
        self.messages.idle(hours);
        self.domains.idle(hours);
        self.client_ips.idle(hours);
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
    pub(crate) hour_warned: bool,
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
            if !self.hour_warned {
                let clean = self.hour.bounce_ratio() < 0.10;
                self.baseline.learn(&self.hour, clean);
                host_prior.learn(&self.hour, false);
            }
            let idle = (hour - self.hour_ms) / HOUR_MS - 1;
            self.baseline.idle(u32::try_from(idle).unwrap_or(u32::MAX));
        }
        self.hour = Counts::default();
        self.hour_ms = hour;
        self.hour_warned = self.alarm.is_warned();
    }

    /// The signals of the last 30 minutes at `at_ms`. `host_reputation` is
    /// the host's reputation signal when it fired, with the host's window
    /// (the source gets it when it holds 40% or more of the host's refusals).
    pub(crate) fn evaluate(&mut self, at_ms: i64, host_reputation: Option<(&Fired, &Counts)>) -> (Vec<Fired>, Counts) {
        self.window.advance(at_ms);
        let w = self.window.total();
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
            let refused = |c: &Counts| c.deferred.saturating_add(c.bounced).saturating_add(c.blocklisted);
            let share = refused(&w) as f32 / refused(host).max(1) as f32;
            if share >= 0.4 {
                let signal = Signal::Reputation {
                    now: *now,
                    usual_per_hour: *usual_per_hour,
                    labels: labels.clone(),
                    share: share.min(0.99),
                };
                fired.push(Fired { signal, strength: rep.strength });
            }
        }
        (fired, w)
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
