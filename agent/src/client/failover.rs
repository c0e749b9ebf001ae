//! Several controllers (`controller.urls`): which one is in use, and when a
//! failed send moves on to the next.
//!
//! The agent sends to one controller at a time and stays with it while it
//! answers: no flapping back to the first URL once it recovers, so a fleet
//! does not move as one every time a controller restarts. A send that fails
//! for a reason the next controller may not share ([`fails_over`]) is tried
//! on the next URL at once, round robin; when every URL failed once, the
//! round ends where it began and the agent's backoff decides when the next
//! round starts. The report stays in the outbox throughout: a resend after
//! an outcome the agent could not see (a timeout, a connection lost after
//! the request left) reaches the next controller too, and the controllers'
//! (host, epoch, seq) deduplication makes it harmless on a shared store.

use tonic::Code;

/// Whether a failed send is a reason to try the next controller.
///
/// Yes when the controller did not answer: a transport error (refused,
/// reset, DNS, TLS handshake, connection lost; the status then carries the
/// transport error as its source, which a controller's own answer never
/// does), `UNAVAILABLE` (down, shutting down, its store unreachable) and
/// `DEADLINE_EXCEEDED` (hung or too slow). No when it answered: an
/// application refusal (`INVALID_ARGUMENT`, `PERMISSION_DENIED`,
/// `UNAUTHENTICATED`, `FAILED_PRECONDITION`, ...) is what every controller
/// of the fleet would say, and `RESOURCE_EXHAUSTED` is a request to slow
/// down that moving the load to a sibling would defeat.
pub fn fails_over(status: &tonic::Status) -> bool {
    std::error::Error::source(status).is_some() || matches!(status.code(), Code::Unavailable | Code::DeadlineExceeded)
}

/// A change of the controller in use, to log once and show in `doctor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switch {
    /// The controller now in use.
    pub to: usize,
    /// The one used before; `None` for the first acknowledgement.
    pub from: Option<usize>,
    /// Why `from` was left: its last failure.
    pub reason: Option<String>,
}

/// The rotation over `len` controllers; indexes into `controller.urls`.
#[derive(Debug, Clone)]
pub struct Rotation {
    len: usize,
    current: usize,
    /// Where the current round began: the last controller that answered.
    round_start: usize,
    /// Failures in the current round.
    tried: usize,
    /// The last controller that acknowledged a report.
    last_ok: Option<usize>,
    /// The last failure of each controller since it last answered.
    failures: Vec<Option<String>>,
}

impl Rotation {
    /// Starts with the first URL (at least one: the config checks it).
    pub fn new(len: usize) -> Self {
        let len = len.max(1);
        Self { len, current: 0, round_start: 0, tried: 0, last_ok: None, failures: vec![None; len] }
    }

    /// The controller to send to.
    pub fn current(&self) -> usize {
        self.current
    }

    /// The last controller that acknowledged a report.
    pub fn last_ok(&self) -> Option<usize> {
        self.last_ok
    }

    /// The current controller failed with `why`, a failover reason. Returns
    /// the next controller to try now, or `None` when every one failed in
    /// this round: the round is over, the next one starts where it began
    /// (after the caller's backoff).
    pub fn failed(&mut self, why: String) -> Option<usize> {
        if let Some(slot) = self.failures.get_mut(self.current) {
            *slot = Some(why);
        }
        self.tried += 1;
        if self.tried >= self.len {
            self.tried = 0;
            self.current = self.round_start;
            return None;
        }
        self.current = (self.current + 1) % self.len;
        Some(self.current)
    }

    /// The current controller acknowledged a report. Returns the switch when
    /// it is not the one that acknowledged the previous report.
    pub fn succeeded(&mut self) -> Option<Switch> {
        self.tried = 0;
        self.round_start = self.current;
        let from = self.last_ok;
        self.last_ok = Some(self.current);
        let reason = from.and_then(|from| self.failures.get_mut(from).and_then(Option::take));
        if let Some(slot) = self.failures.get_mut(self.current) {
            *slot = None;
        }
        (from != Some(self.current)).then_some(Switch { to: self.current, from, reason })
    }

    /// The round ended without an answer (a failure that is no failover
    /// reason, or an abandoned send): the next send starts it again.
    pub fn reset_round(&mut self) {
        self.tried = 0;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn first_working_url_is_used_and_kept() {
        let mut r = Rotation::new(3);
        assert_eq!(r.current(), 0);
        assert_eq!(r.failed("A refused".into()), Some(1));
        assert_eq!(r.succeeded(), Some(Switch { to: 1, from: None, reason: None }));
        // Stays on B for every later report: no flapping back to A.
        for _ in 0..5 {
            assert_eq!(r.current(), 1);
            assert_eq!(r.succeeded(), None);
        }
    }

    #[test]
    fn a_failure_moves_round_robin_and_the_switch_names_why() {
        let mut r = Rotation::new(3);
        assert_eq!(r.succeeded(), Some(Switch { to: 0, from: None, reason: None }));
        assert_eq!(r.failed("UNAVAILABLE: A down".into()), Some(1));
        assert_eq!(r.failed("B refused".into()), Some(2));
        let switch = r.succeeded().unwrap();
        assert_eq!(switch, Switch { to: 2, from: Some(0), reason: Some("UNAVAILABLE: A down".into()) });
        // From C, the next failure wraps around to A.
        assert_eq!(r.failed("C down".into()), Some(0));
        assert_eq!(r.succeeded().unwrap().reason.as_deref(), Some("C down"));
    }

    #[test]
    fn a_full_round_of_failures_ends_where_it_began() {
        let mut r = Rotation::new(2);
        assert_eq!(r.failed("x".into()), Some(1));
        assert_eq!(r.succeeded().unwrap().to, 1);
        assert_eq!(r.failed("B down".into()), Some(0));
        assert_eq!(r.failed("A down".into()), None, "every controller failed: back off");
        assert_eq!(r.current(), 1, "the next round starts at the last one that worked");
        assert_eq!(r.failed("B down".into()), Some(0));
        assert_eq!(r.failed("A down".into()), None);
        // B comes back: no switch, it never stopped being the one in use.
        assert_eq!(r.current(), 1);
        assert_eq!(r.succeeded(), None);
    }

    #[test]
    fn one_url_never_rotates() {
        let mut r = Rotation::new(1);
        assert_eq!(r.failed("down".into()), None);
        assert_eq!(r.current(), 0);
        assert_eq!(r.succeeded().unwrap().from, None);
        assert_eq!(r.failed("down".into()), None);
        assert_eq!(r.succeeded(), None);
    }

    #[test]
    fn an_abandoned_round_starts_afresh() {
        let mut r = Rotation::new(3);
        assert_eq!(r.failed("A".into()), Some(1));
        r.reset_round();
        // Three more failures are a full round from B.
        assert_eq!(r.failed("B".into()), Some(2));
        assert_eq!(r.failed("C".into()), Some(0));
        assert_eq!(r.failed("A".into()), None);
    }

    #[test]
    fn which_statuses_fail_over() {
        for status in [tonic::Status::unavailable("down"), tonic::Status::deadline_exceeded("slow")] {
            assert!(fails_over(&status), "{status:?}");
        }
        for status in [
            tonic::Status::invalid_argument("bad report"),
            tonic::Status::permission_denied("not this host"),
            tonic::Status::unauthenticated("no certificate"),
            tonic::Status::failed_precondition("clock"),
            tonic::Status::resource_exhausted("busy"),
            tonic::Status::internal("bug"),
        ] {
            assert!(!fails_over(&status), "{status:?}");
        }
        // A transport error carries its cause, whatever the code says.
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let mut status = tonic::Status::unknown("transport error");
        status.set_source(std::sync::Arc::new(io));
        assert!(fails_over(&status));
    }
}
