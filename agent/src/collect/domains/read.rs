//! One collection of the host's domain set: every configured source read in
//! order, merged, and what each gave kept for the status and the
//! `rblfleet-agent domains` command.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use prost::Message;
use rblfleet_proto::v1::{HostDomain, HostDomains};

use super::list::{DomainList, Parsed, Skip};
use super::{mailenable, plesk, postfix, qmail, vhosts};
use crate::config::{Config, DomainSource, DomainsConfig};

/// Largest file read: a line per domain, far beyond any host.
const MAX_FILE_BYTES: u64 = 64 << 20;

/// How one source fared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceState {
    /// Not on this host (no Plesk, no such file): skipped.
    Absent,
    /// Read.
    Read,
    /// Could not be read now; its last good names are used when it had any.
    Failed {
        /// Why.
        error: String,
        /// Names from an earlier collection stand in.
        stale: bool,
    },
}

/// One source's share of a collection.
#[derive(Debug, Clone)]
pub struct SourceReport {
    /// Which source.
    pub source: DomainSource,
    /// Read, absent or failed.
    pub state: SourceState,
    /// Names it gave (after deduplication within it).
    pub found: usize,
    /// Names or lines skipped, with samples.
    pub skipped: u64,
    /// The first skipped ones.
    pub samples: Vec<Skip>,
    /// It gave more names than the limit.
    pub truncated: bool,
    /// Why its list may be partial though it was read.
    pub warnings: Vec<String>,
}

/// The merged set and how every source fared.
#[derive(Debug, Clone)]
pub struct Collected {
    /// The host's domains.
    pub list: DomainList,
    /// Every configured source, in order.
    pub sources: Vec<SourceReport>,
}

impl Collected {
    /// The set on the wire: sorted by name, `unicode` only for an IDN, the
    /// sources that contributed (read, or standing in from before).
    pub fn to_proto(&self) -> HostDomains {
        let mut domains: Vec<HostDomain> = self
            .list
            .domains()
            .iter()
            .map(|d| HostDomain {
                unicode: if d.name.unicode == d.name.ascii { String::new() } else { d.name.unicode.clone() },
                name: d.name.ascii.clone(),
                subscription: d.subscription.clone(),
                mail: d.mail,
            })
            .collect();
        domains.sort_by(|a, b| a.name.cmp(&b.name));
        let sources = self
            .sources
            .iter()
            .filter(|s| matches!(s.state, SourceState::Read | SourceState::Failed { stale: true, .. }))
            .map(|s| s.source.as_str().to_string())
            .collect();
        HostDomains { domains, truncated: self.list.truncated, sources }
    }

    /// A digest of [`Collected::to_proto`], to tell whether the set changed.
    pub fn digest(&self) -> u64 {
        let mut hasher = std::hash::DefaultHasher::new();
        self.to_proto().encode_to_vec().hash(&mut hasher);
        hasher.finish()
    }

    /// What went wrong, one line per source, for the collector's status.
    pub fn errors(&self) -> Vec<String> {
        let mut errors = Vec::new();
        for s in &self.sources {
            if let SourceState::Failed { error, stale } = &s.state {
                let tail = if *stale { " (its last names are used)" } else { "" };
                errors.push(format!("{}: {error}{tail}", s.source.as_str()));
            }
            errors.extend(s.warnings.iter().map(|w| format!("{}: {w}", s.source.as_str())));
        }
        errors
    }
}

/// Reads the sources; keeps each source's last good names, so that a
/// source failing once (a Plesk command timing out) does not make the set
/// shrink and grow back, sending it twice.
#[derive(Debug, Clone)]
pub struct Reader {
    config: DomainsConfig,
    passwd: PathBuf,
    last_good: HashMap<DomainSource, Parsed>,
}

impl Reader {
    /// A reader of `config.domains` (vhost owners looked up in `sources.passwd`).
    pub fn new(config: &Config) -> Reader {
        Reader { config: config.domains.clone(), passwd: config.sources.passwd.clone(), last_good: HashMap::new() }
    }

    /// Reads every configured source in order and merges them.
    pub fn collect(&mut self) -> Collected {
        let max = self.config.max;
        let mut list = DomainList::new(max);
        let mut sources = Vec::new();
        for &source in &self.config.sources {
            let (state, parsed) = match read_source(source, &self.config, &self.passwd, max) {
                Ok(None) => {
                    self.last_good.remove(&source);
                    (SourceState::Absent, None)
                }
                Ok(Some(parsed)) => {
                    self.last_good.insert(source, parsed.clone());
                    (SourceState::Read, Some(parsed))
                }
                Err(error) => {
                    let last = self.last_good.get(&source).cloned();
                    (SourceState::Failed { error, stale: last.is_some() }, last)
                }
            };
            let mut report = SourceReport {
                source,
                state,
                found: 0,
                skipped: 0,
                samples: Vec::new(),
                truncated: false,
                warnings: Vec::new(),
            };
            if let Some(parsed) = parsed {
                list.merge(&parsed.list);
                report.found = parsed.list.len();
                report.truncated = parsed.list.truncated;
                report.skipped = parsed.skipped;
                report.samples = parsed.samples;
                report.warnings = parsed.warnings;
            }
            sources.push(report);
        }
        Collected { list, sources }
    }
}

fn read_source(
    source: DomainSource,
    config: &DomainsConfig,
    passwd: &Path,
    limit: usize,
) -> Result<Option<Parsed>, String> {
    match source {
        DomainSource::Plesk => plesk::read(config, limit),
        DomainSource::Postfix => postfix::read(config, limit),
        DomainSource::Qmail => qmail::read(config, limit),
        DomainSource::Mailenable => mailenable::read(config, limit),
        DomainSource::Vhosts => vhosts::read(config, passwd, limit),
        DomainSource::Static if config.static_domains.is_empty() => Ok(None),
        DomainSource::Static => {
            let mut parsed = Parsed::new(DomainSource::Static, limit);
            for name in &config.static_domains {
                parsed.add(name, "", false);
            }
            Ok(Some(parsed))
        }
    }
}

/// The file's text (lossy UTF-8), `None` when it does not exist; a file
/// larger than [`MAX_FILE_BYTES`] is an error rather than a memory spike.
pub fn read_file(path: &Path) -> Result<Option<String>, String> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!("{}: {} bytes, more than the {MAX_FILE_BYTES} read", path.display(), meta.len()));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}
