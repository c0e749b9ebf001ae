//! Collectors: each one fills its part of a [`HostReport`].
//!
//! Modelled on node_exporter's collectors: one small trait, one file per
//! collector, and a runner that records every collector's health in
//! `report.status.collectors`. A failing collector never fails the report:
//! the IPs are still worth sending when, say, the queue cannot be read.
//!
//! - [`ips`]: the host's addresses;
//! - [`queue`]: the outgoing queue, one collector per MTA;
//! - [`domains`]: the domains the host serves (Plesk, the MTA's maps, the
//!   vhosts directory, a static list), sent when the set changed;
//! - `maillog`: the mail log followed between reports, parsed, joined per
//!   message and attributed to senders (totals, blocklist groups, top
//!   sources). It also runs between reports, so the agent holds it by type.

pub mod domains;
pub mod ips;
pub(crate) mod maillog;
pub mod queue;

use rblfleet_proto::v1::{AgentStatus, CollectorStatus, HostReport};

/// Why a collector could not fill its part of the report.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// Reading a system source failed.
    #[error("{what}: {cause}")]
    Io {
        /// What was being read, e.g. "listing interface addresses".
        what: String,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// Anything else, already phrased for the operator.
    #[error("{0}")]
    Other(String),
}

/// One source of report data.
pub trait Collector: Send + std::fmt::Debug {
    /// Short stable name, shown in `CollectorStatus.name` ("ips", "queue").
    fn name(&self) -> &'static str;

    /// Fills this collector's fields of `report`. On error the collector
    /// should leave its fields as they were.
    fn collect(&mut self, report: &mut HostReport) -> Result<(), CollectError>;
}

/// Runs every collector in order and records each one's health.
pub fn collect_all(collectors: &mut [Box<dyn Collector>], report: &mut HostReport) {
    for collector in collectors.iter_mut() {
        collect_one(collector.as_mut(), report);
    }
}

/// Runs one collector and records its health.
pub fn collect_one(collector: &mut dyn Collector, report: &mut HostReport) {
    let name = collector.name();
    let result = collector.collect(report);
    let status = report.status.get_or_insert_with(AgentStatus::default);
    match result {
        Ok(()) => status.collectors.push(CollectorStatus { name: name.to_string(), ok: true, error: String::new() }),
        Err(e) => {
            tracing::warn!(collector = name, error = %e, "collector failed; report sent without its data");
            status.collectors.push(CollectorStatus { name: name.to_string(), ok: false, error: e.to_string() });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Fails;
    impl Collector for Fails {
        fn name(&self) -> &'static str {
            "fails"
        }
        fn collect(&mut self, _: &mut HostReport) -> Result<(), CollectError> {
            Err(CollectError::Other("no queue".into()))
        }
    }

    #[derive(Debug)]
    struct Works;
    impl Collector for Works {
        fn name(&self) -> &'static str {
            "works"
        }
        fn collect(&mut self, report: &mut HostReport) -> Result<(), CollectError> {
            report.host_id = "filled".into();
            Ok(())
        }
    }

    #[test]
    fn a_failing_collector_is_recorded_and_not_fatal() {
        let mut collectors: Vec<Box<dyn Collector>> = vec![Box::new(Fails), Box::new(Works)];
        let mut report = HostReport::default();
        collect_all(&mut collectors, &mut report);
        assert_eq!(report.host_id, "filled");
        let status = report.status.expect("status is filled");
        assert_eq!(status.collectors.len(), 2);
        assert_eq!(status.collectors[0].name, "fails");
        assert!(!status.collectors[0].ok);
        assert_eq!(status.collectors[0].error, "no queue");
        assert!(status.collectors[1].ok);
    }
}
