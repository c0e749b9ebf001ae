//! The agent's TOML configuration.
//!
//! Everything has a default except the controller URL (or URLs) and, for an
//! `https://` controller, the three TLS files: those differ on every installation and a
//! guessed value would only fail later with a less clear message. Unknown keys
//! are refused so that a typo (`intervall = "30s"`) is an error instead of a
//! silently ignored setting. `deploy/agent.example.toml` documents every key.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod actions;
mod controller;
mod domains;
mod sections;

pub use crate::collect::queue::QueueConfig;
pub use crate::logs::LogsConfig;
pub use actions::ActionsConfig;
pub use controller::{ControllerConfig, ControllerUrl, parse_url};
pub use domains::{DomainSource, DomainsConfig, MAX_DOMAINS};
pub use sections::{IpsConfig, MAX_TOP_SOURCES, NatRule, OutboxConfig, ReportConfig, RetryConfig, SourcesConfig};

/// A configuration that could not be read, parsed or accepted.
///
/// Every variant names where the configuration came from (`origin`: the file
/// path, or `<string>`) and, for validation errors, the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {cause}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The TOML is malformed or a key is unknown or has the wrong type.
    #[error("{origin}: {message}")]
    Parse {
        /// The file path or `<string>`.
        origin: String,
        /// toml's message, which quotes the offending line and key.
        message: String,
    },
    /// A URL does not match `--insecure` (see [`Config::check_transport`]).
    #[error("{key}: {reason}")]
    Transport {
        /// `controller.url` or `controller.urls[N]`.
        key: String,
        /// What is wrong and what would be right.
        reason: String,
    },
    /// A key has a value the agent cannot use.
    #[error("{origin}: {key}: {reason}")]
    Invalid {
        /// The file path or `<string>`.
        origin: String,
        /// The dotted key, e.g. `controller.url` or `controller.urls[1]`.
        key: String,
        /// What is wrong and what would be right.
        reason: String,
    },
}

/// The whole agent configuration (the TOML file's top level).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// This host's identity. Default: the identity in the agent certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_id: Option<String>,
    /// Where and how to reach the controller.
    pub controller: ControllerConfig,
    /// Reporting schedule.
    #[serde(default)]
    pub report: ReportConfig,
    /// The local spool of unacknowledged reports.
    #[serde(default)]
    pub outbox: OutboxConfig,
    /// Backoff while the controller is unreachable.
    #[serde(default)]
    pub retry: RetryConfig,
    /// Which addresses are reported and how they are classified.
    #[serde(default)]
    pub ips: IpsConfig,
    /// The mail log: where it is and how it is followed.
    #[serde(default)]
    pub logs: LogsConfig,
    /// The outgoing queue's collector.
    #[serde(default)]
    pub queue: QueueConfig,
    /// Attribution of deliveries to sending sources.
    #[serde(default)]
    pub sources: SourcesConfig,
    /// The domains this host serves.
    #[serde(default)]
    pub domains: DomainsConfig,
    /// Containment actions (off by default).
    #[serde(default)]
    pub actions: ActionsConfig,
}

impl Config {
    /// Reads and validates a config file; errors name the file. Relative
    /// paths in it are taken relative to the file's directory.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_path_buf(), cause: source })?;
        let mut config = Self::parse(&text, &path.display().to_string())?;
        if let Some(base) = path.parent() {
            config.resolve_relative_paths(base);
        }
        // MailEnable's logs, queues and domain table where the config keeps the defaults.
        #[cfg(windows)]
        crate::windows::system::apply_discovered(&mut config);
        Ok(config)
    }

    /// Makes relative file paths relative to the config file's directory, not
    /// to wherever the agent happened to be started.
    fn resolve_relative_paths(&mut self, base: &Path) {
        let c = &mut self.controller;
        for path in [&mut c.ca, &mut c.cert, &mut c.key].into_iter().flatten() {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
        for path in std::iter::once(&mut self.outbox.dir)
            .chain(self.logs.paths.iter_mut())
            .chain(std::iter::once(&mut self.sources.passwd))
            .chain(self.domains.paths_mut())
        {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
    }

    /// Parses and validates a config given as a string (errors say `<string>`).
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        Self::parse(text, "<string>")
    }

    fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text)
            .map_err(|e| ConfigError::Parse { origin: origin.to_string(), message: describe_toml_error(text, &e) })?;
        config.validate(origin)?;
        Ok(config)
    }

    /// Checks the values serde cannot: URL shape, TLS files, non-zero durations.
    fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            origin: origin.to_string(),
            key: key.to_string(),
            reason,
        };
        // The controller's rule, checked here so a bad id stops start-up and
        // `check-config` instead of every report.
        if let Some(host_id) = &self.host_id
            && let Err(why) = rblfleet_proto::contract::valid_host_id(host_id)
        {
            return Err(invalid("host_id", format!("{host_id:?} is not a host id the controller accepts: it {why}")));
        }
        let controllers = self.controller.controllers().map_err(|(key, reason)| invalid(&key, reason))?;
        if controllers.iter().any(|c| c.tls) {
            for (key, value) in [
                ("controller.ca", &self.controller.ca),
                ("controller.cert", &self.controller.cert),
                ("controller.key", &self.controller.key),
            ] {
                if value.is_none() {
                    return Err(invalid(key, "required for an https:// controller URL".into()));
                }
            }
        }
        if self.controller.server_name.as_deref() == Some("") {
            return Err(invalid("controller.server_name", "empty; remove the key to use the URL's host".into()));
        }
        for (key, value) in [
            ("controller.timeout", self.controller.timeout),
            ("report.interval", self.report.interval),
            ("retry.initial", self.retry.initial),
            ("retry.max", self.retry.max),
            ("logs.poll_interval", self.logs.poll_interval),
            ("queue.timeout", self.queue.timeout),
        ] {
            if value.is_zero() {
                return Err(invalid(key, "must be greater than zero".into()));
            }
        }
        if self.retry.max < self.retry.initial {
            return Err(invalid(
                "retry.max",
                format!(
                    "{} is smaller than retry.initial ({})",
                    humantime::format_duration(self.retry.max),
                    humantime::format_duration(self.retry.initial)
                ),
            ));
        }
        if self.outbox.max_reports == 0 {
            return Err(invalid("outbox.max_reports", "must be at least 1".into()));
        }
        if self.logs.max_lines_per_poll == 0 {
            return Err(invalid("logs.max_lines_per_poll", "must be at least 1".into()));
        }
        // A pattern that matches nothing yet only warns (when the agent opens it).
        self.logs.check_paths().map_err(|e| invalid("logs.paths", e.to_string()))?;
        if !(1..=MAX_TOP_SOURCES).contains(&self.sources.top_sources) {
            return Err(invalid(
                "sources.top_sources",
                format!(
                    "{} is outside 1..={MAX_TOP_SOURCES} (the controller refuses longer lists)",
                    self.sources.top_sources
                ),
            ));
        }
        if self.sources.max_tracked_messages < 100 {
            return Err(invalid(
                "sources.max_tracked_messages",
                format!(
                    "{} is too small to join the lines of a busy minute; use at least 100",
                    self.sources.max_tracked_messages
                ),
            ));
        }
        self.domains.check().map_err(|(key, reason)| invalid(key, reason))?;
        self.actions.check().map_err(|(key, reason)| invalid(key, reason))?;
        for rule in &self.ips.nat {
            if rule.private.is_ipv4() != rule.public.is_ipv4() {
                return Err(invalid(
                    "ips.nat",
                    format!("{} and {} are not the same address family", rule.private, rule.public),
                ));
            }
        }
        Ok(())
    }

    /// Refuses a transport that does not match `--insecure`, for every
    /// controller URL (the error names the one at fault).
    ///
    /// Plaintext is only for development and tests: it needs both `--insecure`
    /// and an `http://` URL to a loopback host, so neither a stray flag nor a
    /// typo in the URL can send reports unencrypted over a network.
    pub fn check_transport(&self, insecure: bool) -> Result<(), ConfigError> {
        let controllers =
            self.controller.controllers().map_err(|(key, reason)| ConfigError::Transport { key, reason })?;
        for url in controllers {
            let invalid = |reason: String| ConfigError::Transport { key: url.key.clone(), reason };
            match (url.tls, insecure) {
                (true, false) => {}
                (true, true) => {
                    return Err(invalid(format!(
                        "--insecure is only for an http:// URL, but {} is https://; drop --insecure",
                        url.url
                    )));
                }
                (false, false) => {
                    return Err(invalid(format!(
                        "{} is plaintext http://; use https:// (or --insecure for a loopback test controller)",
                        url.url
                    )));
                }
                (false, true) if !url.is_loopback() => {
                    return Err(invalid(format!(
                        "--insecure only talks to a loopback host (localhost, 127.0.0.1, ::1), not {}",
                        url.host
                    )));
                }
                (false, true) => {}
            }
        }
        Ok(())
    }
}

/// One line: "line L, column C: table.key: message".
///
/// toml's own Display quotes the source line over several lines and names
/// only the bare key; the dotted key is what the example file documents.
fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim();
    let Some(span) = e.span() else {
        return message.to_string();
    };
    let before = text.get(..span.start).unwrap_or(text);
    let line_no = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.len() - line_start + 1;
    let line = text[line_start..].lines().next().unwrap_or_default().trim();
    let table = before
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    // A missing field is reported on its table (or the whole document).
    let key = if line.starts_with('[') || message.starts_with("missing field") {
        None
    } else {
        line.split_once('=').map(|(key, _)| key.trim().trim_matches('"').to_string()).filter(|key| !key.is_empty())
    };
    let dotted = match (table, key) {
        _ if line.starts_with('[') => format!("{line}: "),
        _ if message.starts_with("missing field") => String::new(),
        (Some(table), Some(key)) => format!("{table}.{key}: "),
        (None, Some(key)) => format!("{key}: "),
        (_, None) => String::new(),
    };
    format!("line {line_no}, column {column}: {dotted}{message}")
}

#[cfg(test)]
mod tests;
