//! The alarm of one subject (a source or a host): warned or not, with
//! hysteresis, and the wait of a small anomaly that must last.

use super::{CALM_MS, CLEAR_SCORE, SUSTAIN_MS, Verdict};

/// Warned or not, with hysteresis: a subject warns once, stays warned while
/// its score stays at [`CLEAR_SCORE`] or above, and clears after
/// [`CALM_MS`] below it. Only the two transitions reach the caller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Alarm {
    /// When the current warning began; 0 when not warned.
    pub warned_ms: i64,
    /// When the score last fell under [`CLEAR_SCORE`]; 0 when it is above.
    calm_ms: i64,
    /// Since when a small anomaly has lasted ([`Verdict::pending`]); 0: none.
    pending_ms: i64,
    /// The last evaluation that was pending: a gap shorter than
    /// [`CALM_MS`] does not restart [`SUSTAIN_MS`] (a slow anomaly flickers
    /// around its thresholds in a 30-minute window). Absent in states saved
    /// before it existed.
    #[serde(default)]
    pending_last_ms: i64,
}

/// What one evaluation changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    None,
    Warn,
    /// Cleared; carries when the warning began.
    Clear(i64),
}

impl Alarm {
    pub fn is_warned(&self) -> bool {
        self.warned_ms != 0
    }

    /// True at `at_ms` while an anomaly too small to warn yet is waiting
    /// for [`SUSTAIN_MS`]: it was pending within the last [`CALM_MS`] (a
    /// subject that fell silent is not evaluated, so the time decides).
    pub fn is_pending(&self, at_ms: i64) -> bool {
        self.pending_ms != 0 && at_ms - self.pending_last_ms < CALM_MS
    }

    /// Feeds one evaluation at `at_ms` (a time of 0 counts as 1 so that a
    /// report at the Unix epoch still sets the alarm).
    pub fn step(&mut self, at_ms: i64, v: Verdict) -> Transition {
        let at_ms = at_ms.max(1);
        if !self.is_warned() {
            if v.pending {
                if self.pending_ms == 0 {
                    self.pending_ms = at_ms;
                }
                self.pending_last_ms = at_ms;
            } else if at_ms - self.pending_last_ms >= CALM_MS {
                self.pending_ms = 0;
            }
            // A sustained anomaly warns while it is pending, not in a gap, so
            // the warning's reasons name it.
            if v.warns || (v.pending && at_ms - self.pending_ms >= SUSTAIN_MS) {
                *self = Alarm { warned_ms: at_ms, ..Alarm::default() };
                return Transition::Warn;
            }
            return Transition::None;
        }
        if v.score >= CLEAR_SCORE {
            self.calm_ms = 0;
            return Transition::None;
        }
        if self.calm_ms == 0 {
            self.calm_ms = at_ms;
        }
        if at_ms - self.calm_ms >= CALM_MS {
            let since = self.warned_ms;
            *self = Alarm::default();
            return Transition::Clear(since);
        }
        Transition::None
    }
}
