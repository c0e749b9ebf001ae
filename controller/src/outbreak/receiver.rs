//! The big receivers (Gmail, Microsoft, Yahoo...) as one host's agent
//! reports them ([`ReceiverStats`]): per provider, the host's usual volume
//! to it and the share of that mail it defers.
//!
//! Why per receiver: a forward of spam to a Gmail address, or backscatter to
//! forged senders, has no sending source to blame (hundreds of forged
//! envelope senders, two messages each) and is often too small to move the
//! host's totals — at 200 messages an hour it is a tenth of a busy host's
//! mail. The receiver it goes to sees all of it and says so: its deferrals
//! of this host's mail rise from the usual 2% to 15% or more, together with
//! the volume it gets. The host's own deferral ratio dilutes that in its
//! other mail; the receiver's does not.

use rblfleet_proto::v1::ReceiverStats;
use serde::{Deserialize, Serialize};

use super::signal::{Fired, Signal, grade};
use super::stat::{Counts, Stat, Window, clamp32};

pub mod refusal;
pub mod sustained;

use sustained::Halves;

/// Receivers kept per host: the agent names nine providers; the least
/// recently seen makes room for a new one.
pub const MAX_RECEIVERS: usize = 10;

/// How many times its usual rate a receiver must get for a smaller rise
/// in its deferrals to count (see [`deferrals`]).
pub const SURGE: f32 = 5.0;

/// One receiver's counts in one report.
fn counts(r: &ReceiverStats) -> Counts {
    let attempts = clamp32(r.sent.saturating_add(r.deferred).saturating_add(r.bounced));
    Counts {
        reports: 1,
        messages: attempts,
        attempts,
        bounced: clamp32(r.bounced),
        deferred: clamp32(r.deferred),
        blocklisted: clamp32(r.blocklisted),
        ..Counts::default()
    }
}

/// One big receiver of one host. Fixed size apart from its name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReceiverState {
    /// Provider id from the bounce taxonomy ("google", "microsoft"...).
    pub provider: String,
    pub last_seen_ms: i64,
    /// Delivery attempts to it per hour.
    pub messages: Stat,
    /// Its deferral ratio of the hour (hours with 5 attempts or more).
    pub deferral: Stat,
    pub(crate) window: Window,
    pub(crate) hour: Counts,
    /// The last three hours by half hour, for [`sustained`] (absent in
    /// states saved before it).
    #[serde(default)]
    pub(crate) halves: Halves,
}

impl ReceiverState {
    /// A receiver not seen before on this host: its deferral ratio starts
    /// from the host's, its volume from nothing (so the first hours to a
    /// new receiver count as "more than usual", and a new receiver that
    /// also defers a lot is exactly the forward to a new Gmail address).
    pub(crate) fn new(provider: &str, host_deferral: Stat) -> Self {
        ReceiverState {
            provider: provider.to_owned(),
            last_seen_ms: 0,
            messages: Stat::prior(0.0, 1.0),
            deferral: Stat::prior(host_deferral.level, host_deferral.spread),
            window: Window::default(),
            hour: Counts::default(),
            halves: Halves::default(),
        }
    }

    pub(crate) fn observe(&mut self, r: &ReceiverStats, at_ms: i64) {
        let c = counts(r);
        self.advance(at_ms);
        if self.window.add(at_ms, &c) {
            self.hour.add(&c);
            self.halves.add(c.attempts, c.deferred, 0);
        }
        self.last_seen_ms = self.last_seen_ms.max(at_ms);
    }

    /// Counts `n` reputation deferrals this receiver named (a blocklist
    /// evidence of the host's IP, temporary).
    pub(crate) fn note_reputation(&mut self, n: u32, at_ms: i64) {
        self.advance(at_ms);
        self.halves.add(0, 0, n);
    }

    /// Moves the window and the half hours to `at_ms`.
    pub(crate) fn advance(&mut self, at_ms: i64) {
        self.window.advance(at_ms);
        let (messages, deferral) = (&self.messages, &self.deferral);
        self.halves.roll(at_ms, |h| h.judge(messages, deferral));
    }

    /// Closes an hour (the host's hours: every receiver closes with its
    /// host), learning it unless the host had an anomaly in it; then
    /// `idle` silent hours.
    pub(crate) fn close_hour(&mut self, learn: bool, idle: u32) {
        if learn {
            self.messages.update(self.hour.attempts as f32, true);
            if self.hour.attempts >= 5 {
                self.deferral.update_ratio(self.hour.deferral_ratio(), true);
            }
        }
        self.messages.idle(idle);
        self.hour = Counts::default();
    }

    /// The last 30 minutes.
    pub fn recent(&self) -> Counts {
        self.window.total()
    }
}

/// A receiver defers this host's mail: at least 10 deferrals in 30 min,
/// 12% of the attempts to it or more, 10 points and 5x above its usual
/// ratio (a newsletter's 8% reaches 10% at one receiver by chance) — while the host sends it at least twice its usual rate.
/// At [`SURGE`] times its usual rate, 8 points and 3.5x are enough: a slow
/// forward of spam to Gmail on a host whose Gmail mail is usually deferred
/// 3% hovers at 11–16% for hours (replay seed 24) and never reached 5x.
///
/// The volume condition keeps the receiver's own bad day (Gmail deferring
/// everyone's normal mail) out: an outbreak adds mail to the receiver, a
/// receiver's trouble does not. Strength 1 at 5x the usual ratio, 2 at 20x.
/// A ratio signal: with fewer than [`super::signal::MIN_MESSAGES`] it warns
/// only once it has lasted [`super::signal::SUSTAIN_MS`] (a slow forward to
/// Gmail goes on for hours before Spamhaus has its trap hits).
pub(crate) fn deferrals(provider: &str, w: &Counts, messages: &Stat, deferral: &Stat) -> Option<Fired> {
    let now = w.deferral_ratio();
    let usual = deferral.level;
    let rate = w.attempts as f32 * 2.0;
    let busier = rate >= 2.0 * messages.level.max(5.0);
    // Five times the usual mail: the receiver's own bad day cannot explain
    // the volume, so less of a rise in its deferrals says enough.
    let (points, times) = if rate >= SURGE * messages.level.max(5.0) { (0.08, 3.5) } else { (0.10, 5.0) };
    (busier && w.deferred >= 10 && now >= 0.12 && now >= usual + points && now >= times * usual).then(|| Fired {
        signal: Signal::Receiver {
            provider: provider.to_owned(),
            now,
            usual,
            deferred: w.deferred,
            attempts: w.attempts,
        },
        strength: grade(now / usual.max(0.01), 5.0, 4.0, 2.0),
    })
}

/// A receiver whose moderate signals lasted (see [`sustained`]): strength
/// [`super::signal::WARN_SCORE`], it warns on its own.
pub(crate) fn sustained(r: &ReceiverState) -> Option<Fired> {
    let s = r.halves.streak()?;
    let hours = s.halves as f32 / 2.0;
    Some(Fired {
        signal: Signal::Sustained {
            provider: r.provider.clone(),
            hours,
            now: if s.attempts == 0 { 0.0 } else { s.deferred as f32 / s.attempts as f32 },
            per_hour: s.attempts as f32 / hours,
            reputation_per_half: s.reputation as f32 / s.halves as f32,
            usual: r.deferral.level,
            usual_per_hour: r.messages.level,
        },
        strength: super::signal::WARN_SCORE,
    })
}
