//! A slow forward of spam to one receiver: moderate signals that last.
//!
//! A forward of spam to a Gmail address at 200-240 messages an hour, five
//! or six times the host's usual Gmail mail, deferred 6-12% (usual 2%) with
//! a few 4.7.28 "unsolicited mail" deferrals every half hour, stays under
//! every threshold of [`super::deferrals`] for eight hours and then gets
//! the IP listed (replay seed 28). No single half hour of it is alarming;
//! that it goes on, every half hour, is. So each receiver judges each
//! closed half hour on weaker conditions, all at once — much more mail than
//! usual, a deferral ratio well above its usual, and reputation deferrals
//! for a share of it — and warns when [`NEEDED`] of the last [`HALVES`]
//! half hours (the latest among them) were like that.
//!
//! Legitimate mail does each of these on its own: a campaign to a
//! Gmail-heavy list is rate-limited with 4.7.28 for hours, a forwarded
//! mailbox's busy day draws more deferrals. The host's check that no single
//! source carries the surge (see `HostState::evaluate`) leaves campaigns
//! and storms to their sources' own signals (`reputation::sustained`).

use serde::{Deserialize, Serialize};

use super::super::stat::Stat;

/// One half hour.
pub const HALF_MS: i64 = 30 * 60_000;
/// Half hours remembered: the last three hours.
pub const HALVES: usize = 6;
/// Flagged half hours among the last [`HALVES`] that warn (one may miss: a
/// slow run flickers around the thresholds).
pub const NEEDED: usize = 5;
/// Mail to the receiver, in times its usual hourly rate (at least 5/h).
pub const SURGE: f32 = 4.0;
/// Deferral ratio, in times its usual...
pub const TIMES: f32 = 3.0;
/// ...and in points above it.
pub const POINTS: f32 = 0.03;
/// Reputation deferrals from this receiver in the half hour...
pub const MIN_REPUTATION: u32 = 3;
/// ...and as a share of the attempts to it.
pub const REPUTATION_SHARE: f32 = 0.025;

/// One half hour's mail to one receiver.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Half {
    pub attempts: u32,
    pub deferred: u32,
    /// Reputation deferrals it named (4.7.28, TSS04...).
    pub reputation: u32,
    /// Judged like a slow forward of spam when it closed.
    pub flagged: bool,
    /// The most messages a single source of the host sent in 30 minutes,
    /// sampled at each report of the half hour: whether one source carried
    /// it (see `reputation::sustained`). Absent in states saved before.
    #[serde(default)]
    pub top: u32,
}

impl Half {
    /// The half hour against the receiver's usual volume and deferral ratio.
    pub fn judge(&self, messages: &Stat, deferral: &Stat) -> bool {
        let rate = self.attempts as f32 * 2.0;
        let now = if self.attempts == 0 { 0.0 } else { self.deferred as f32 / self.attempts as f32 };
        let usual = deferral.level;
        rate >= SURGE * messages.level.max(5.0)
            && now >= TIMES * usual
            && now >= usual + POINTS
            && self.reputation >= MIN_REPUTATION
            && self.reputation as f32 >= REPUTATION_SHARE * self.attempts as f32
    }
}

/// The flagged half hours of a streak, summed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Streak {
    /// Flagged half hours among the last [`HALVES`].
    pub halves: u32,
    pub attempts: u32,
    pub deferred: u32,
    pub reputation: u32,
    /// The largest [`Half::top`] among them.
    pub top: u32,
}

/// The receiver's last [`HALVES`] closed half hours and the current one.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Halves {
    /// Number of the current half hour (ms / [`HALF_MS`]); 0 before any.
    current_n: i64,
    current: Half,
    /// Closed half hours, the latest first.
    closed: [Half; HALVES],
}

impl Halves {
    /// Closes the half hours before the one of `at_ms` (a report ending at
    /// :30 belongs to the half hour before), judging each with `judge`.
    pub fn roll(&mut self, at_ms: i64, judge: impl Fn(&Half) -> bool) {
        let n = (at_ms - 1).div_euclid(HALF_MS);
        if self.current_n == 0 {
            self.current_n = n;
            return;
        }
        let mut k = 0;
        while self.current_n < n && k < HALVES {
            let mut done = std::mem::take(&mut self.current);
            done.flagged = judge(&done);
            self.closed.rotate_right(1);
            self.closed[0] = done;
            self.current_n += 1;
            k += 1;
        }
        self.current_n = self.current_n.max(n);
    }

    /// Adds a report's counts to the current half hour (after [`Halves::roll`]).
    pub fn add(&mut self, attempts: u32, deferred: u32, reputation: u32) {
        let c = &mut self.current;
        c.attempts = c.attempts.saturating_add(attempts);
        c.deferred = c.deferred.saturating_add(deferred);
        c.reputation = c.reputation.saturating_add(reputation);
    }

    /// Notes the busiest single source's last 30 minutes (see [`Half::top`]).
    pub fn note_top(&mut self, messages: u32) {
        self.current.top = self.current.top.max(messages);
    }

    /// The latest closed half hour was flagged: an anomaly not to learn.
    pub fn latest_flagged(&self) -> bool {
        self.closed[0].flagged
    }

    /// The streak when the latest closed half hour and [`NEEDED`] of the
    /// last [`HALVES`] were flagged.
    pub fn streak(&self) -> Option<Streak> {
        let flagged = self.closed.iter().filter(|h| h.flagged);
        let halves = flagged.clone().count();
        (self.latest_flagged() && halves >= NEEDED).then(|| {
            let mut s = Streak { halves: halves as u32, attempts: 0, deferred: 0, reputation: 0, top: 0 };
            for h in flagged {
                s.attempts = s.attempts.saturating_add(h.attempts);
                s.deferred = s.deferred.saturating_add(h.deferred);
                s.reputation = s.reputation.saturating_add(h.reputation);
                s.top = s.top.max(h.top);
            }
            s
        })
    }
}
