//! `[domains]`: where the agent looks for the domains this host serves
//! (`crate::collect::domains`), how often and how many it reports.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The most names a report may carry: 20,000 names with their Unicode form
/// and subscription are about 1 MB encoded, the controller's default report
/// limit (`limits.max_report_bytes`).
pub const MAX_DOMAINS: usize = 20_000;

/// One place the agent reads domains from, in the default order of
/// `domains.sources` (which is also the order of precedence for the owning
/// subscription).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DomainSource {
    /// Plesk's database (`plesk db`), else `plesk bin site/domain --list`.
    Plesk,
    /// Postfix's virtual mailbox domains in Plesk's layout.
    Postfix,
    /// qmail's `control/virtualdomains` and `control/rcpthosts`.
    Qmail,
    /// MailEnable's domain table (Plesk for Windows).
    Mailenable,
    /// The directories under `domains.vhosts_dir`.
    Vhosts,
    /// `domains.static`.
    Static,
}

impl DomainSource {
    /// Every source, in the default order.
    pub const ALL: [DomainSource; 6] = [
        DomainSource::Plesk,
        DomainSource::Postfix,
        DomainSource::Qmail,
        DomainSource::Mailenable,
        DomainSource::Vhosts,
        DomainSource::Static,
    ];

    /// The name in the config and in `HostDomains.sources`.
    pub fn as_str(self) -> &'static str {
        match self {
            DomainSource::Plesk => "plesk",
            DomainSource::Postfix => "postfix",
            DomainSource::Qmail => "qmail",
            DomainSource::Mailenable => "mailenable",
            DomainSource::Vhosts => "vhosts",
            DomainSource::Static => "static",
        }
    }
}

/// `[domains]`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DomainsConfig {
    /// Report the host's domains at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Sources tried, in this order; an absent source is skipped.
    #[serde(default = "all_sources")]
    pub sources: Vec<DomainSource>,
    /// Domains always reported (e.g. hosted elsewhere but sending from here).
    #[serde(default, rename = "static")]
    pub static_domains: Vec<String>,
    /// The `plesk` program; a bare name is looked for in PATH and the sbin directories.
    #[serde(default = "default_plesk")]
    pub plesk: PathBuf,
    /// A snapshot of Plesk's rows written by root
    /// (`rblfleet-agent domains --write-plesk-snapshot`, run by
    /// rblfleet-plesk-domains.timer): when set, the Plesk source reads it
    /// instead of running `plesk db`, which needs root. Absent or empty: run
    /// `plesk` as the agent's user.
    #[serde(default, deserialize_with = "empty_is_none", skip_serializing_if = "Option::is_none")]
    pub plesk_snapshot: Option<PathBuf>,
    /// A snapshot older than this is an error (the timer stopped): a list
    /// that old would hide new domains and keep deleted ones.
    #[serde(default = "default_plesk_snapshot_max_age", with = "humantime_serde")]
    pub plesk_snapshot_max_age: Duration,
    /// Plesk's Postfix map of virtual mailbox domains (`key value` lines).
    #[serde(default = "default_postfix_map")]
    pub postfix_map: PathBuf,
    /// qmail's `domain:prefix` file.
    #[serde(default = "default_qmail_virtualdomains")]
    pub qmail_virtualdomains: PathBuf,
    /// qmail's list of domains it accepts mail for.
    #[serde(default = "default_qmail_rcpthosts")]
    pub qmail_rcpthosts: PathBuf,
    /// MailEnable's domain table.
    #[serde(default = "default_mailenable_domains")]
    pub mailenable_domains: PathBuf,
    /// Plesk's virtual hosts directory (`HTTPD_VHOSTS_D`).
    #[serde(default = "default_vhosts_dir")]
    pub vhosts_dir: PathBuf,
    /// Time between two collections of the set.
    #[serde(default = "default_refresh", with = "humantime_serde")]
    pub refresh: Duration,
    /// Deadline of one Plesk command; a command still running is killed.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Names reported at most; beyond, the list is cut and marked truncated.
    #[serde(default = "default_max")]
    pub max: usize,
}

fn yes() -> bool {
    true
}
fn all_sources() -> Vec<DomainSource> {
    DomainSource::ALL.to_vec()
}
fn default_plesk() -> PathBuf {
    PathBuf::from("plesk")
}
/// `plesk_snapshot = ""` means no snapshot, as the example file shows it.
fn empty_is_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    let path = Option::<PathBuf>::deserialize(d)?;
    Ok(path.filter(|p| !p.as_os_str().is_empty()))
}
fn default_plesk_snapshot_max_age() -> Duration {
    Duration::from_secs(3600)
}
fn default_postfix_map() -> PathBuf {
    PathBuf::from("/var/spool/postfix/plesk/virtual_domains")
}
fn default_qmail_virtualdomains() -> PathBuf {
    PathBuf::from("/var/qmail/control/virtualdomains")
}
fn default_qmail_rcpthosts() -> PathBuf {
    PathBuf::from("/var/qmail/control/rcpthosts")
}
fn default_mailenable_domains() -> PathBuf {
    PathBuf::from(r"C:\Program Files (x86)\Mail Enable\Config\DOMAIN.TAB")
}
fn default_vhosts_dir() -> PathBuf {
    PathBuf::from("/var/www/vhosts")
}
fn default_refresh() -> Duration {
    Duration::from_secs(600)
}
fn default_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_max() -> usize {
    10_000
}

impl Default for DomainsConfig {
    fn default() -> Self {
        Self {
            enabled: yes(),
            sources: all_sources(),
            static_domains: Vec::new(),
            plesk: default_plesk(),
            plesk_snapshot: None,
            plesk_snapshot_max_age: default_plesk_snapshot_max_age(),
            postfix_map: default_postfix_map(),
            qmail_virtualdomains: default_qmail_virtualdomains(),
            qmail_rcpthosts: default_qmail_rcpthosts(),
            mailenable_domains: default_mailenable_domains(),
            vhosts_dir: default_vhosts_dir(),
            refresh: default_refresh(),
            timeout: default_timeout(),
            max: default_max(),
        }
    }
}

impl DomainsConfig {
    /// Checks what serde cannot; the error is (key, reason).
    pub(super) fn check(&self) -> Result<(), (&'static str, String)> {
        if self.refresh.is_zero() {
            return Err(("domains.refresh", "must be greater than zero".into()));
        }
        if self.timeout.is_zero() {
            return Err(("domains.timeout", "must be greater than zero".into()));
        }
        if self.plesk_snapshot_max_age.is_zero() {
            return Err(("domains.plesk_snapshot_max_age", "must be greater than zero".into()));
        }
        if !(1..=MAX_DOMAINS).contains(&self.max) {
            return Err((
                "domains.max",
                format!("{} is outside 1..={MAX_DOMAINS} (a longer list outgrows a report)", self.max),
            ));
        }
        for (i, source) in self.sources.iter().enumerate() {
            if self.sources[..i].contains(source) {
                return Err(("domains.sources", format!("{:?} is listed twice", source.as_str())));
            }
        }
        for name in &self.static_domains {
            if let Err(why) = rblfleet_proto::domain::normalize_domain(name) {
                return Err(("domains.static", format!("{name:?} is not a domain name: it {why}")));
            }
        }
        Ok(())
    }

    /// The Linux file and directory paths, for making them relative to the
    /// config file (not the MailEnable one: a Windows path such as
    /// `C:\...` is relative on Linux, where the tests run).
    pub(super) fn paths_mut(&mut self) -> impl Iterator<Item = &mut PathBuf> {
        [&mut self.postfix_map, &mut self.qmail_virtualdomains, &mut self.qmail_rcpthosts, &mut self.vhosts_dir]
            .into_iter()
            .chain(self.plesk_snapshot.as_mut())
    }
}
