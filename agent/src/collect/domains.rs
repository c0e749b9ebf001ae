//! The `domains` collector: the domains this host serves, for the
//! controller's domain blocklist checks (DBL, SURBL, URIBL).
//!
//! Sources, tried in the order of `domains.sources` (each skipped when
//! absent, none fatal):
//!
//! - [`plesk`]: Plesk's database, one query for every domain with the
//!   owning subscription's **system user** and whether mail is on; else
//!   the names from `plesk bin site/domain --list`;
//! - [`postfix`], [`qmail`], [`mailenable`]: the domains the MTA receives
//!   mail for (mail on);
//! - [`vhosts`]: the directories under `/var/www/vhosts`, owner = the
//!   directory owner's user name (the subscription's system user);
//! - `static`: `domains.static` from the config.
//!
//! [`list`] merges them by ASCII name: mail is on when any source says so,
//! the subscription is the first source's that knows it (Plesk before the
//! vhosts directory), and at most `domains.max` names are kept (`truncated`
//! set when more were found). Names are normalised once, by
//! `rblfleet_proto::domain::normalize_domain`, so an IDN is reported in
//! punycode with its Unicode form; what is not a domain is counted per
//! source, each new one logged once, and never fails the collection.
//!
//! The set is read at start, then every `domains.refresh` on a thread of
//! its own (Plesk commands may take seconds; a report never waits for
//! them). A report carries the set when it differs from the last one
//! stored in the outbox (a digest compares them), in the first report
//! after start, and when the last one stored is older than
//! [`RESEND_AFTER`]; otherwise `domains` is absent and the controller keeps
//! what it has. Parsing is in the source files and takes text;
//! [`read`] does the reading.

pub mod list;
pub mod mailenable;
pub mod plesk;
pub mod postfix;
pub mod qmail;
pub mod read;
pub mod vhosts;

use std::collections::HashSet;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use rblfleet_proto::v1::HostReport;

use super::{CollectError, Collector};
use crate::config::Config;
pub use read::{Collected, Reader, SourceReport, SourceState};

/// The set is sent again after this long even when unchanged, so a
/// controller that lost it (a restore from backup) has it within a day.
pub const RESEND_AFTER: Duration = Duration::from_secs(24 * 3600);
/// Skipped names remembered as already logged.
const MAX_LOGGED: usize = 1000;
/// The collector name in `status.collectors`.
const NAME: &str = "domains";

/// See the module documentation.
#[derive(Debug)]
pub struct DomainsCollector {
    /// Present while no refresh runs.
    reader: Option<Reader>,
    /// A reader with no history, for when a refresh thread panicked.
    spare: Reader,
    refreshing: Option<JoinHandle<(Reader, Collected)>>,
    refresh: Duration,
    refreshed_at: Instant,
    current: Collected,
    /// Digest and time of the set last stored in the outbox.
    sent: Option<(u64, SystemTime)>,
    /// Digest of the set put in the report being built.
    attached: Option<u64>,
    logged: HashSet<String>,
}

impl DomainsCollector {
    /// Reads the set now (this blocks for as long as the sources take);
    /// `None` when `domains.enabled` is off.
    pub fn open(config: &Config) -> Option<DomainsCollector> {
        if !config.domains.enabled {
            return None;
        }
        let spare = Reader::new(config);
        let mut reader = spare.clone();
        let current = reader.collect();
        let mut collector = DomainsCollector {
            reader: Some(reader),
            spare,
            refreshing: None,
            refresh: config.domains.refresh,
            refreshed_at: Instant::now(),
            current,
            sent: None,
            attached: None,
            logged: HashSet::new(),
        };
        collector.log_new();
        Some(collector)
    }

    /// The latest set.
    pub fn current(&self) -> &Collected {
        &self.current
    }

    /// Reads the set again now, on this thread (waiting for a refresh
    /// already running instead).
    pub fn refresh_now(&mut self) {
        self.take_refresh(true);
        if let Some(reader) = self.reader.as_mut() {
            self.current = reader.collect();
            self.refreshed_at = Instant::now();
            self.log_new();
        }
    }

    /// The report built by the last [`Collector::collect`] is stored: its
    /// set counts as sent.
    pub fn committed(&mut self) {
        if let Some(digest) = self.attached.take() {
            self.sent = Some((digest, SystemTime::now()));
        }
    }

    /// Picks up a finished refresh (or waits for a running one with `wait`).
    fn take_refresh(&mut self, wait: bool) {
        let Some(handle) = self.refreshing.take_if(|h| wait || h.is_finished()) else { return };
        match handle.join() {
            Ok((reader, collected)) => {
                self.reader = Some(reader);
                self.current = collected;
                self.log_new();
            }
            // The reader is lost with the thread: go on with a fresh one.
            Err(_) => {
                tracing::error!("reading the host's domains panicked (a bug); keeping the last set");
                self.reader = Some(self.spare.clone());
            }
        }
    }

    /// Starts a refresh on its own thread when one is due.
    fn start_refresh(&mut self) {
        if self.refreshing.is_some() || self.refreshed_at.elapsed() < self.refresh {
            return;
        }
        let Some(mut reader) = self.reader.take() else { return };
        self.refreshed_at = Instant::now();
        let spawned = std::thread::Builder::new().name("domains".into()).spawn(move || {
            let collected = reader.collect();
            (reader, collected)
        });
        match spawned {
            Ok(handle) => self.refreshing = Some(handle),
            Err(e) => tracing::warn!(error = %e, "cannot start a thread to read the host's domains; retrying later"),
        }
    }

    /// Logs each skipped name once and each source error when it appears.
    fn log_new(&mut self) {
        for s in &self.current.sources {
            for skip in &s.samples {
                let key = format!("{}\t{}", s.source.as_str(), skip.text);
                if self.logged.len() < MAX_LOGGED && self.logged.insert(key) {
                    tracing::warn!(source = s.source.as_str(), name = %skip.text, why = %skip.why, "not a domain; skipped");
                }
            }
            if s.skipped > s.samples.len() as u64 {
                let key = format!("{}\tcount {}", s.source.as_str(), s.skipped);
                if self.logged.len() < MAX_LOGGED && self.logged.insert(key) {
                    tracing::warn!(source = s.source.as_str(), skipped = s.skipped, "names skipped in all");
                }
            }
        }
    }
}

/// Whether a report carries the set: never sent, changed since, or sent
/// longer than [`RESEND_AFTER`] ago.
pub fn needs_sending(sent: Option<(u64, SystemTime)>, digest: u64, now: SystemTime) -> bool {
    match sent {
        None => true,
        Some((last, at)) => last != digest || now.duration_since(at).unwrap_or_default() >= RESEND_AFTER,
    }
}

impl Collector for DomainsCollector {
    fn name(&self) -> &'static str {
        NAME
    }

    /// Picks up a finished refresh, starts one when due, and puts the set in
    /// the report when it needs sending. Fails (with the set attached all
    /// the same) when a source failed or is partial.
    fn collect(&mut self, report: &mut HostReport) -> Result<(), CollectError> {
        self.attached = None;
        self.take_refresh(false);
        self.start_refresh();
        let digest = self.current.digest();
        if needs_sending(self.sent, digest, SystemTime::now()) {
            report.domains = Some(self.current.to_proto());
            self.attached = Some(digest);
        }
        let errors = self.current.errors();
        if errors.is_empty() { Ok(()) } else { Err(CollectError::Other(errors.join("; "))) }
    }
}

// The tests run fake tools as shell scripts.
#[cfg(all(test, unix))]
mod tests;
