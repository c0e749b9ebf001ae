//! `[controller]`: where the agent reports, and how it proves who it is.
//!
//! One controller is `url`; several controllers sharing one store (issue 17)
//! are `urls`, tried in order with failover (see `client/failover.rs`). The
//! two keys exclude each other so that a file never says two things.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[controller]`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ControllerConfig {
    /// `https://host:port`; `http://` only with `--insecure` to a loopback host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Several controllers, tried in this order: the first that answers is
    /// used until it fails (instead of `url`, never with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    /// PEM file of the CA that signed the controllers' certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
    /// PEM file of this host's certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    /// PEM file of this host's private key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// TLS name to verify on every controller's certificate; default: each URL's host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// Deadline of one RPC (including connecting).
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

pub(super) fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

/// The parts of one controller URL the agent needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerUrl {
    /// The config key it came from: `controller.url` or `controller.urls[N]`.
    pub key: String,
    /// The URL as written, trimmed.
    pub url: String,
    /// True for `https://`.
    pub tls: bool,
    /// Host name or address, without IPv6 brackets.
    pub host: String,
}

impl ControllerUrl {
    /// Whether the host is `localhost` or a loopback address.
    pub fn is_loopback(&self) -> bool {
        self.host.eq_ignore_ascii_case("localhost") || self.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

impl ControllerConfig {
    /// A configuration for the single controller at `url`, other keys unset.
    pub fn for_url(url: impl Into<String>) -> Self {
        Self {
            url: Some(url.into()),
            urls: None,
            ca: None,
            cert: None,
            key: None,
            server_name: None,
            timeout: default_timeout(),
        }
    }

    /// Every controller in the order the agent tries them, checked; the
    /// error is `(key, reason)`, the key naming the entry at fault.
    pub fn controllers(&self) -> Result<Vec<ControllerUrl>, (String, String)> {
        let entries: Vec<(String, &str)> = match (&self.url, &self.urls) {
            (Some(_), Some(_)) => {
                return Err((
                    "controller.urls".into(),
                    "set either controller.url (one controller) or controller.urls (several), not both".into(),
                ));
            }
            (None, None) => {
                return Err((
                    "controller.url".into(),
                    "missing: set controller.url, or controller.urls for several controllers".into(),
                ));
            }
            (Some(url), None) => vec![("controller.url".into(), url.as_str())],
            (None, Some(urls)) if urls.is_empty() => {
                return Err(("controller.urls".into(), "empty: list at least one controller URL".into()));
            }
            (None, Some(urls)) => {
                urls.iter().enumerate().map(|(i, url)| (format!("controller.urls[{i}]"), url.as_str())).collect()
            }
        };
        let mut parsed: Vec<ControllerUrl> = Vec::with_capacity(entries.len());
        for (key, url) in entries {
            let one = parse_url(url, key.clone()).map_err(|reason| (key.clone(), reason))?;
            if let Some(first) = parsed.iter().find(|p| p.url.eq_ignore_ascii_case(&one.url)) {
                return Err((key, format!("{} is listed twice (also {})", one.url, first.key)));
            }
            parsed.push(one);
        }
        Ok(parsed)
    }

    /// The first controller's URL (the one tried first), for messages; empty
    /// when none is configured (a config that loaded always has one).
    pub fn first_url(&self) -> String {
        let first = match (&self.url, &self.urls) {
            (Some(url), _) => Some(url),
            (None, Some(urls)) => urls.first(),
            (None, None) => None,
        };
        first.map(|u| u.trim().to_string()).unwrap_or_default()
    }

    /// The TLS name checked on the certificate of the controller at `url`:
    /// `server_name` when set, else the URL's host.
    pub fn server_name_for(&self, url: &str) -> Result<String, String> {
        match &self.server_name {
            Some(name) => Ok(name.clone()),
            None => parse_url(url, String::new()).map(|u| u.host),
        }
    }

    /// The TLS name checked on the first controller's certificate.
    pub fn effective_server_name(&self) -> Result<String, String> {
        self.server_name_for(&self.first_url())
    }
}

/// Splits a controller URL into scheme and host; the error says what is wrong.
pub fn parse_url(url: &str, key: String) -> Result<ControllerUrl, String> {
    let url = url.trim();
    let (scheme, rest) =
        url.split_once("://").ok_or_else(|| format!("{url:?} has no scheme; write https://HOST:PORT"))?;
    let tls = match scheme.to_ascii_lowercase().as_str() {
        "https" => true,
        "http" => false,
        other => return Err(format!("scheme {other:?} is not https or http")),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("user information in the URL is not supported".into());
    }
    let host = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, tail) = bracketed.split_once(']').ok_or_else(|| format!("{url:?}: unclosed '[' in the host"))?;
        check_port(tail, url)?;
        host
    } else {
        let (host, tail) = match authority.split_once(':') {
            Some((host, port)) => (host, format!(":{port}")),
            None => (authority, String::new()),
        };
        check_port(&tail, url)?;
        host
    };
    if host.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    Ok(ControllerUrl { key, url: url.to_string(), tls, host: host.to_string() })
}

fn check_port(tail: &str, url: &str) -> Result<(), String> {
    match tail.strip_prefix(':') {
        None if tail.is_empty() => Ok(()),
        None => Err(format!("{url:?}: unexpected {tail:?} after the host")),
        Some(port) => port
            .parse::<u16>()
            .map(|_| ())
            .map_err(|_| format!("{url:?}: port {port:?} is not a number from 0 to 65535")),
    }
}
