//! The `[alerts]` section of the controller configuration.
//!
//! ```toml
//! [alerts]
//! poll_interval = "30s"    # how often state is compared with the previous sweep
//! window = "60s"           # events within one window go out as one message per route
//! queue_size = 64          # messages waiting per route; more are dropped and counted
//! [alerts.thresholds]
//! case_waiting = "7d"      # a case in delist_requested longer than this
//! queue_messages = 1000    # a host's mail queue above this
//! silent_intervals = 3     # an agent silent for this many of its report intervals
//! certificate_expiry = "30d" # an agent's, the controller's or the CA's certificate expires within this
//! [alerts.retry]
//! attempts = 5             # tries per message, then it is logged and counted as failed
//! initial = "2s"           # first backoff, doubled after each failure up to `max`
//! max = "60s"
//! [alerts.smtp]
//! host = "smtp.example.net"
//! port = 587
//! tls = "starttls"         # starttls | tls | none
//! username = "rblfleet"
//! password_file = "/etc/rblfleet/smtp.password"
//! [[alerts.route]]
//! name = "noc-slack"
//! kind = "slack"           # webhook | slack | teams | email
//! url = "https://hooks.slack.com/services/..."
//! min_severity = "warning" # info | warning | critical
//! lists = ["spamhaus-zen"] # zone or receiver ids; empty = all
//! hosts = ["web*.example.net"] # exact names or globs with *; empty = all
//! ```

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::event::Severity;

/// `[alerts]`: no routes means no alerts task at all.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Messages waiting per route before new ones are dropped (and counted).
    pub queue_size: usize,
    pub thresholds: Thresholds,
    pub retry: RetryConfig,
    pub smtp: Option<SmtpConfig>,
    pub route: Vec<RouteConfig>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            poll_interval: Duration::from_secs(30),
            window: Duration::from_secs(60),
            queue_size: 64,
            thresholds: Thresholds::default(),
            retry: RetryConfig::default(),
            smtp: None,
            route: Vec::new(),
        }
    }
}

/// `[alerts.thresholds]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// A case waiting on the list operator (delist_requested) longer than this.
    #[serde(with = "humantime_serde")]
    pub case_waiting: Duration,
    /// A host's queue above this many messages.
    pub queue_messages: u64,
    /// An agent silent for more than this many of its report intervals.
    pub silent_intervals: u32,
    /// The severity of an early warning (`outbreak` event): "warning" by
    /// default, so a route with `min_severity = "warning"` pages on it;
    /// "critical" for a NOC that wants to be woken before the listing.
    pub outbreak_severity: super::event::Severity,
    /// Warn when a certificate (an agent's, the controller's, the CA's)
    /// expires within this; reminders follow at 14, 7, 3 and 1 days left
    /// and at expiry (see `alerts::certs`).
    #[serde(with = "humantime_serde")]
    pub certificate_expiry: Duration,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            case_waiting: Duration::from_secs(7 * 86_400),
            queue_messages: 1000,
            silent_intervals: 3,
            outbreak_severity: super::event::Severity::Warning,
            certificate_expiry: Duration::from_secs(30 * 86_400),
        }
    }
}

/// `[alerts.retry]`: a failed delivery is retried with doubling backoff.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Tries per message in all (1 = no retry).
    pub attempts: u32,
    #[serde(with = "humantime_serde")]
    pub initial: Duration,
    #[serde(with = "humantime_serde")]
    pub max: Duration,
    /// Longest wait for one HTTP request or SMTP session.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            attempts: 5,
            initial: Duration::from_secs(2),
            max: Duration::from_secs(60),
            timeout: Duration::from_secs(15),
        }
    }
}

/// How the SMTP session is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required, not opportunistic).
    Starttls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
    /// No encryption: only for a relay on this machine or a trusted network.
    None,
}

/// `[alerts.smtp]`: the relay e-mail routes send through.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    #[serde(default = "default_smtp_tls")]
    pub tls: SmtpTls,
    #[serde(default)]
    pub username: Option<String>,
    /// A file holding the password (kept out of the config, which is often world-readable).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

fn default_smtp_port() -> u16 {
    587
}

fn default_smtp_tls() -> SmtpTls {
    SmtpTls::Starttls
}

impl std::fmt::Debug for SmtpConfig {
    /// Names the password file, never its content; the user name is not secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password_file", &self.password_file)
            .finish()
    }
}

/// What a route sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteKind {
    /// A generic JSON body (POST).
    Webhook,
    /// A Slack incoming-webhook body (`text` + blocks); Mattermost accepts it too.
    Slack,
    /// A Microsoft Teams incoming-webhook / Workflows body (Adaptive Card).
    Teams,
    /// A plain-text e-mail through `[alerts.smtp]`.
    Email,
}

impl RouteKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteKind::Webhook => "webhook",
            RouteKind::Slack => "slack",
            RouteKind::Teams => "teams",
            RouteKind::Email => "email",
        }
    }
}

/// One `[[alerts.route]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    pub name: String,
    pub kind: RouteKind,
    /// Webhook URL (webhook, slack, teams).
    #[serde(default)]
    pub url: Option<String>,
    /// Recipients (email).
    #[serde(default)]
    pub to: Vec<String>,
    /// Sender (email).
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub min_severity: Severity,
    /// Zone or receiver ids (as `rblfleet zones` shows them); empty = every list.
    #[serde(default)]
    pub lists: Vec<String>,
    /// Host ids, exact or with `*` wildcards; empty = every host.
    #[serde(default)]
    pub hosts: Vec<String>,
}

impl AlertsConfig {
    /// Checks what serde cannot; each error names the key.
    pub fn check(&self) -> Result<(), String> {
        if self.poll_interval.is_zero() {
            return Err("alerts.poll_interval must be more than 0".into());
        }
        if self.queue_size == 0 {
            return Err("alerts.queue_size must be at least 1".into());
        }
        if self.retry.attempts == 0 {
            return Err("alerts.retry.attempts must be at least 1 (1 = no retry)".into());
        }
        if self.retry.timeout.is_zero() {
            return Err("alerts.retry.timeout must be more than 0".into());
        }
        if self.thresholds.silent_intervals == 0 {
            return Err("alerts.thresholds.silent_intervals must be at least 1".into());
        }
        if self.thresholds.certificate_expiry.is_zero() {
            return Err("alerts.thresholds.certificate_expiry must be more than 0 (\"30d\" warns a month ahead)".into());
        }
        if let Some(smtp) = &self.smtp {
            smtp.check()?;
        }
        let mut names = std::collections::HashSet::new();
        for (i, route) in self.route.iter().enumerate() {
            let at = format!("alerts.route[{i}]");
            if route.name.trim().is_empty() {
                return Err(format!("{at}.name is empty"));
            }
            if !names.insert(route.name.as_str()) {
                return Err(format!("{at}.name = \"{}\" is used by another route", route.name));
            }
            route.check(&at, self.smtp.is_some())?;
        }
        Ok(())
    }
}

impl SmtpConfig {
    fn check(&self) -> Result<(), String> {
        if self.host.trim().is_empty() {
            return Err("alerts.smtp.host is empty".into());
        }
        if self.port == 0 {
            return Err("alerts.smtp.port must not be 0".into());
        }
        match (&self.username, &self.password_file) {
            (Some(_), None) => return Err("alerts.smtp.username is set but alerts.smtp.password_file is not".into()),
            (None, Some(_)) => return Err("alerts.smtp.password_file is set but alerts.smtp.username is not".into()),
            _ => {}
        }
        if self.username.is_some() && self.tls == SmtpTls::None && !is_local(&self.host) {
            return Err(format!(
                "alerts.smtp.tls = \"none\" with a username would send the password in clear to {}; use \"starttls\" or \"tls\"",
                self.host
            ));
        }
        Ok(())
    }

    /// The password, read from `password_file` (trailing newline removed).
    pub fn password(&self) -> Result<Option<String>, String> {
        let Some(path) = &self.password_file else { return Ok(None) };
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("alerts.smtp.password_file {}: {e}", path.display()))?;
        let password = text.trim_end_matches(['\r', '\n']).to_string();
        if password.is_empty() {
            return Err(format!("alerts.smtp.password_file {} is empty", path.display()));
        }
        Ok(Some(password))
    }
}

/// A relay on this machine, where a clear-text session never leaves the host.
fn is_local(host: &str) -> bool {
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl RouteConfig {
    fn check(&self, at: &str, has_smtp: bool) -> Result<(), String> {
        match self.kind {
            RouteKind::Email => {
                if !has_smtp {
                    return Err(format!("{at} (\"{}\") is an email route but [alerts.smtp] is not set", self.name));
                }
                if self.to.is_empty() {
                    return Err(format!("{at}.to is empty: an email route needs at least one recipient"));
                }
                let from = self.from.as_deref().ok_or_else(|| format!("{at}.from is not set"))?;
                for (key, address) in std::iter::once(("from", from)).chain(self.to.iter().map(|t| ("to", t.as_str())))
                {
                    address
                        .parse::<lettre::message::Mailbox>()
                        .map_err(|e| format!("{at}.{key} = \"{address}\" is not an e-mail address: {e}"))?;
                }
                if self.url.is_some() {
                    return Err(format!("{at}.url is for webhook routes; an email route uses to/from"));
                }
            }
            _ => {
                let url = self.url.as_deref().ok_or_else(|| format!("{at}.url is not set"))?;
                let uri: hyper::Uri =
                    url.parse().map_err(|e| format!("{at}.url is not a URL: {e} (the value is not shown)"))?;
                if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
                    return Err(format!("{at}.url must be an http:// or https:// URL with a host"));
                }
                if !self.to.is_empty() || self.from.is_some() {
                    return Err(format!("{at}.to/from are for email routes; a {} route uses url", self.kind.as_str()));
                }
            }
        }
        for (i, pattern) in self.hosts.iter().enumerate() {
            if pattern.trim().is_empty() {
                return Err(format!("{at}.hosts[{i}] is empty"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
