//! Early warning of an outbreak: a source or host that is about to get its
//! IP listed, flagged while the IP is still clean (issue 15).
//!
//! Pure: fed a host's reports in time order, it keeps per-host and
//! per-source baselines and returns [`Event`]s: a [`Warning`] when a subject
//! starts to look like an outbreak, [`Cleared`] when it has calmed down. No
//! I/O: the caller stores each [`HostState`] ([`HostState::to_bytes`]) and
//! raises the alerts.
//!
//! # What is measured
//!
//! Per source (mailbox, script, system user, sender) and per host, a
//! baseline of hourly values ([`stat::Stat`]: an EWMA clipped against its
//! own spread, with a decaying peak of clean hours; a source's peaks rise
//! only once a quiet hour confirms them, [`source::Held`]) and the last 30 minutes
//! in five-minute buckets ([`stat::Window`]). A new source starts from its
//! host's average source, a new host from the fleet's defaults.
//!
//! # When it warns
//!
//! See [`signal`]: volume and fan-out never warn alone; a warning needs a
//! quality signal (bounces, deferrals, reputation deferrals, logins from many
//! IPs, queue growth, blocklist refusals) and a score of
//! [`signal::WARN_SCORE`]. The host warns for itself only when none of its
//! sources is warned.
//!
//! # Layout
//!
//! - [`stat`]: the baseline of one value and the 30-minute window.
//! - [`signal`]: the signals, their strengths and reasons; `signal::alarm` the
//!   alarm's hysteresis.
//! - [`receiver`]: the big receivers' view of the host (deferrals per provider).
//! - [`reputation`]: the host's reputation deferrals, and a throttled
//!   legitimate bulk sender told from spam.
//! - [`source`]: one source's state.
//! - [`host`]: one host's state and the report → events step.

pub mod host;
pub mod receiver;
pub mod reputation;
pub mod signal;
pub mod source;
pub mod stat;

use std::collections::BTreeMap;

use rblfleet_proto::v1::{HostReport, SourceKind};

pub use host::HostState;

/// Version byte in front of [`HostState::to_bytes`]; bump on any change of
/// the state's fields.
pub const STATE_VERSION: u8 = 1;

/// Why stored detector state could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("outbreak state is empty")]
    Empty,
    #[error(
        "outbreak state has version {0}, this controller reads version {STATE_VERSION}: it starts again from the priors"
    )]
    Version(u8),
    #[error("outbreak state does not decode: {0}")]
    Decode(#[from] serde_json::Error),
}

impl HostState {
    /// The state as bytes: [`STATE_VERSION`] then JSON.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![STATE_VERSION];
        // Serialising plain structs of numbers and strings cannot fail.
        if serde_json::to_writer(&mut out, self).is_err() {
            out.truncate(1);
        }
        out
    }

    /// Reads what [`HostState::to_bytes`] wrote.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StateError> {
        match bytes.split_first() {
            None => Err(StateError::Empty),
            Some((&STATE_VERSION, rest)) => Ok(serde_json::from_slice(rest)?),
            Some((&v, _)) => Err(StateError::Version(v)),
        }
    }
}

/// What a warning is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// The host as a whole (no single source explains it).
    Host,
    /// One sending source.
    Source { kind: SourceKind, id: String, subscription: String },
}

/// A subject started to look like an outbreak.
#[derive(Clone, Debug, PartialEq)]
pub struct Warning {
    pub host_id: String,
    /// The host's sending IPs: the ones about to be listed.
    pub ips: Vec<String>,
    pub subject: Subject,
    /// The sum of the signals' strengths (≥ [`signal::WARN_SCORE`]).
    pub score: f32,
    /// One plain sentence per signal.
    pub reasons: Vec<String>,
    /// The containment step to take first.
    pub first_step: String,
    /// The end of the report's period that raised it.
    pub at_ms: i64,
}

/// A warned subject calmed down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cleared {
    pub host_id: String,
    pub subject: Subject,
    pub at_ms: i64,
    /// When its warning began.
    pub warned_at_ms: i64,
}

/// A change the caller acts on; nothing is repeated while it lasts.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Warning(Warning),
    Cleared(Cleared),
}

/// Every host's state, for callers that keep them in memory (the benchmark,
/// tests); the controller keeps [`HostState`]s in its store instead.
#[derive(Clone, Debug, Default)]
pub struct Detector {
    hosts: BTreeMap<String, HostState>,
}

impl Detector {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one report; a new host starts from the fleet's priors.
    pub fn observe(&mut self, report: &HostReport) -> Vec<Event> {
        self.hosts.entry(report.host_id.clone()).or_insert_with(|| HostState::new(&report.host_id)).observe(report)
    }

    /// One host's state.
    pub fn host(&self, host_id: &str) -> Option<&HostState> {
        self.hosts.get(host_id)
    }
}

#[cfg(test)]
mod tests;
