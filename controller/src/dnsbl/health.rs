//! Whether a zone can be trusted right now.
//!
//! A zone proves itself with its test points (RFC 5782: 127.0.0.2 listed,
//! 127.0.0.1 not). A zone that lists everything, lists nothing, answers with
//! error codes or keeps timing out is taken out of service with backoff; its
//! IPs are then reported as not covered by it, never as clean.

use std::time::Duration;

use crate::clock::millis;

use super::lookup::{Outcome, Status};

/// When to probe and how to back off.
#[derive(Debug, Clone)]
pub struct HealthPolicy {
    /// Probe interval while the zone is healthy.
    pub probe_every: Duration,
    /// First retry after a failed probe; doubles up to `retry_max`.
    pub retry_min: Duration,
    pub retry_max: Duration,
    /// Consecutive lookup errors (on real IPs) that take a zone out of service
    /// before its next probe.
    pub max_consecutive_errors: u32,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        HealthPolicy {
            probe_every: Duration::from_secs(3600),
            retry_min: Duration::from_secs(300),
            retry_max: Duration::from_secs(6 * 3600),
            max_consecutive_errors: 5,
        }
    }
}

/// A zone's service state.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Not probed yet: checks wait for the first probe.
    Unchecked,
    InService {
        since_ms: i64,
    },
    OutOfService {
        since_ms: i64,
        reason: String,
        retry_at_ms: i64,
        failures: u32,
    },
}

#[derive(Debug, Clone)]
pub struct Health {
    pub state: State,
    pub next_probe_ms: i64,
    pub consecutive_errors: u32,
    pub last_error: Option<(i64, String)>,
}

impl Default for Health {
    fn default() -> Self {
        Health { state: State::Unchecked, next_probe_ms: 0, consecutive_errors: 0, last_error: None }
    }
}

/// Judges a probe: the listed test point must be listed, the other clean.
pub fn judge(listed: &Outcome, unlisted: &Outcome) -> Result<(), String> {
    match (listed.status, unlisted.status) {
        (Status::Listed, Status::Clean) => Ok(()),
        (_, Status::Listed) => Err(format!(
            "lists everything: the test point {} that must not be listed is listed ({})",
            unlisted.target,
            unlisted.codes.join(" ")
        )),
        (Status::Error, _) => {
            Err(format!("answers with errors: {}", listed.error.as_deref().unwrap_or("unknown error")))
        }
        (_, Status::Error) => {
            Err(format!("answers with errors: {}", unlisted.error.as_deref().unwrap_or("unknown error")))
        }
        (Status::Clean, _) => {
            Err(format!("lists nothing: the test point {} that must be listed is not", listed.target))
        }
        (Status::Skipped, _) | (_, Status::Skipped) => Err("cannot be probed (no usable query name)".into()),
    }
}

impl Health {
    pub fn in_service(&self) -> bool {
        matches!(self.state, State::InService { .. })
    }

    pub fn probe_due(&self, now_ms: i64) -> bool {
        now_ms >= self.next_probe_ms
    }

    /// Records a probe's verdict.
    pub fn probed(&mut self, verdict: Result<(), String>, now_ms: i64, policy: &HealthPolicy) {
        match verdict {
            Ok(()) => {
                if !self.in_service() {
                    self.state = State::InService { since_ms: now_ms };
                }
                self.consecutive_errors = 0;
                self.next_probe_ms = now_ms + millis(policy.probe_every);
            }
            Err(reason) => self.take_out(reason, now_ms, policy),
        }
    }

    /// Records the status of an ordinary lookup; too many errors in a row
    /// take the zone out of service until a probe passes.
    pub fn looked_up(&mut self, outcome: &Outcome, now_ms: i64, policy: &HealthPolicy) {
        if outcome.status == Status::Error {
            self.consecutive_errors += 1;
            self.last_error = Some((now_ms, outcome.error.clone().unwrap_or_default()));
            if self.consecutive_errors >= policy.max_consecutive_errors && self.in_service() {
                let reason = format!(
                    "{} lookups in a row failed, the last with: {}",
                    self.consecutive_errors,
                    outcome.error.as_deref().unwrap_or("unknown error")
                );
                self.take_out(reason, now_ms, policy);
            }
        } else if outcome.status != Status::Skipped {
            self.consecutive_errors = 0;
        }
    }

    fn take_out(&mut self, reason: String, now_ms: i64, policy: &HealthPolicy) {
        let (since_ms, failures) = match &self.state {
            State::OutOfService { since_ms, failures, .. } => (*since_ms, failures + 1),
            _ => (now_ms, 1),
        };
        let delay = policy.retry_min.saturating_mul(1 << (failures - 1).min(16)).min(policy.retry_max);
        let retry_at_ms = now_ms + millis(delay);
        self.last_error = Some((now_ms, reason.clone()));
        self.state = State::OutOfService { since_ms, reason, retry_at_ms, failures };
        self.next_probe_ms = retry_at_ms;
    }
}

#[cfg(test)]
mod tests;
