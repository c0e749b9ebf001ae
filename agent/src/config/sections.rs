//! The configuration sections other than `[controller]`: their fields,
//! defaults and documentation (`deploy/agent.example.toml` shows every key).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[report]`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// Time between two reports.
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub interval: Duration,
}

/// `[outbox]`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxConfig {
    /// Directory of the sled spool; one agent per directory.
    #[serde(default = "default_outbox_dir")]
    pub dir: PathBuf,
    /// Reports kept while the controller is unreachable; the oldest are dropped beyond.
    #[serde(default = "default_max_reports")]
    pub max_reports: u64,
}

/// `[retry]`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// First backoff ceiling after a failed send.
    #[serde(default = "default_retry_initial", with = "humantime_serde")]
    pub initial: Duration,
    /// Largest backoff ceiling.
    #[serde(default = "default_retry_max", with = "humantime_serde")]
    pub max: Duration,
}

/// `[ips]`
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IpsConfig {
    /// Addresses or interface names never reported.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Extra addresses to report (e.g. Plesk IPs not configured on an interface).
    #[serde(default, rename = "static")]
    pub static_addrs: Vec<IpAddr>,
    /// Addresses that send mail; empty means every public or NAT-published address.
    #[serde(default)]
    pub sending: Vec<IpAddr>,
    /// Private interface addresses published as public ones.
    #[serde(default)]
    pub nat: Vec<NatRule>,
}

/// One `[[ips.nat]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NatRule {
    /// The address on the interface.
    pub private: IpAddr,
    /// The address receivers see.
    pub public: IpAddr,
}

fn default_interval() -> Duration {
    Duration::from_secs(60)
}
fn default_outbox_dir() -> PathBuf {
    PathBuf::from("/var/lib/rblfleet-agent")
}
fn default_max_reports() -> u64 {
    10_080
}
fn default_retry_initial() -> Duration {
    Duration::from_secs(1)
}
fn default_retry_max() -> Duration {
    Duration::from_secs(300)
}

impl Default for ReportConfig {
    fn default() -> Self {
        Self { interval: default_interval() }
    }
}
impl Default for OutboxConfig {
    fn default() -> Self {
        Self { dir: default_outbox_dir(), max_reports: default_max_reports() }
    }
}
impl Default for RetryConfig {
    fn default() -> Self {
        Self { initial: default_retry_initial(), max: default_retry_max() }
    }
}

/// `[sources]`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourcesConfig {
    /// The passwd file mapping uids to Plesk subscriptions (re-read when it changes).
    #[serde(default = "default_passwd")]
    pub passwd: PathBuf,
    /// Sources per report, most suspicious first (the controller accepts at most 1000).
    #[serde(default = "default_top_sources")]
    pub top_sources: usize,
    /// Messages in flight whose lines are joined at once; the oldest are
    /// forgotten beyond (about 400 bytes each).
    #[serde(default = "default_max_tracked_messages")]
    pub max_tracked_messages: usize,
}

fn default_passwd() -> PathBuf {
    PathBuf::from("/etc/passwd")
}
fn default_top_sources() -> usize {
    50
}
fn default_max_tracked_messages() -> usize {
    crate::attribution::DEFAULT_MAX_MESSAGES
}

impl Default for SourcesConfig {
    fn default() -> Self {
        Self {
            passwd: default_passwd(),
            top_sources: default_top_sources(),
            max_tracked_messages: default_max_tracked_messages(),
        }
    }
}

/// The most sources a report may carry (the controller's limit).
pub const MAX_TOP_SOURCES: usize = 1000;
