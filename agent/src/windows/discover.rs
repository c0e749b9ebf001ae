//! Where MailEnable is: its installation, SMTP logs, queues and domain table.
//!
//! Plesk for Windows installs MailEnable and records it in the registry under
//! `HKLM\SOFTWARE\WOW6432Node\Mail Enable\Mail Enable` (a 32-bit program on
//! 64-bit Windows; `SOFTWARE\Mail Enable\Mail Enable` otherwise). Its value
//! `Mail Root` is the post offices' directory inside the installation
//! (`…\Mail Enable\Postoffices`), so its parent is the installation; the SMTP
//! connector's key (`…\Connectors\SMTP`) may name another activity-log
//! directory (`Activity Log Directory`). Without the key, the usual
//! installation directories are tried: `%ProgramFiles(x86)%\Mail Enable`,
//! `%ProgramFiles%\Mail Enable` and Plesk's own
//! `…\Parallels\Plesk\Mail Servers\Mail Enable`.
//!
//! The registry is read through [`Registry`], so that the rules are tested
//! on any platform with a fake one and a temporary directory layout; the
//! real one lives in `windows/system.rs`. A directory is taken only when it
//! exists: a stale registry value (MailEnable moved) falls through to the
//! next candidate rather than to a path that will never have logs.

use std::path::{Path, PathBuf};

/// The MailEnable keys under `HKEY_LOCAL_MACHINE`, 64-bit Windows first.
pub const MAILENABLE_KEYS: [&str; 2] =
    [r"SOFTWARE\WOW6432Node\Mail Enable\Mail Enable", r"SOFTWARE\Mail Enable\Mail Enable"];
/// The SMTP connector's subkey of a [`MAILENABLE_KEYS`] entry.
pub const SMTP_CONNECTOR: &str = r"Connectors\SMTP";
/// The post offices' directory (inside the installation).
pub const MAIL_ROOT: &str = "Mail Root";
/// The SMTP activity log's directory, when not the default one.
pub const ACTIVITY_LOG_DIRECTORY: &str = "Activity Log Directory";
/// MailEnable's daily SMTP activity logs, as a `logs.paths` pattern.
pub const ACTIVITY_PATTERN: &str = "SMTP-Activity-*.log";

/// String values under `HKEY_LOCAL_MACHINE`.
pub trait Registry {
    /// The `REG_SZ`/`REG_EXPAND_SZ` value `name` of `key` (expanded), or
    /// `None` when the key or the value does not exist or is not a string.
    fn string(&self, key: &str, name: &str) -> Option<String>;
}

/// How the installation was found (shown by the service install and in logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FoundBy {
    /// The registry's `Mail Root`, under this key.
    Registry(String),
    /// A usual installation directory.
    Fallback,
}

/// MailEnable's directories on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailEnableDirs {
    /// The installation (holding `Queues`, `Config`, `Logging`).
    pub install: PathBuf,
    /// The SMTP logs (`SMTP-Activity-YYMMDD.log`).
    pub smtp_logs: PathBuf,
    /// How `install` was found.
    pub found_by: FoundBy,
}

impl MailEnableDirs {
    /// The `logs.paths` entry following the daily activity logs.
    pub fn activity_pattern(&self) -> PathBuf {
        self.smtp_logs.join(ACTIVITY_PATTERN)
    }

    /// MailEnable's domain table (`Config\DOMAIN.TAB`).
    pub fn domain_tab(&self) -> PathBuf {
        self.install.join("Config").join("DOMAIN.TAB")
    }
}

/// The usual installation directories, from the environment's program
/// directories (`ProgramFiles(x86)`, then `ProgramFiles`), most likely first.
pub fn fallback_dirs(env: impl Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for var in ["ProgramFiles(x86)", "ProgramFiles"] {
        if let Some(base) = env(var).filter(|v| !v.is_empty()) {
            let base = PathBuf::from(base);
            dirs.push(base.join("Mail Enable"));
            dirs.push(base.join("Parallels").join("Plesk").join("Mail Servers").join("Mail Enable"));
        }
    }
    if dirs.is_empty() {
        dirs.push(PathBuf::from(r"C:\Program Files (x86)\Mail Enable"));
    }
    dirs
}

/// Finds MailEnable per the module's rules; `None` when it is not installed.
pub fn discover(registry: &dyn Registry, fallbacks: &[PathBuf]) -> Option<MailEnableDirs> {
    for key in MAILENABLE_KEYS {
        let Some(root) = registry.string(key, MAIL_ROOT) else { continue };
        let Some(install) = Path::new(root.trim()).parent().filter(|p| p.is_dir()) else {
            tracing::debug!(key, root, "MailEnable's Mail Root has no existing parent; trying the next candidate");
            continue;
        };
        let logs = registry
            .string(&format!(r"{key}\{SMTP_CONNECTOR}"), ACTIVITY_LOG_DIRECTORY)
            .map(|dir| PathBuf::from(dir.trim()))
            .filter(|dir| dir.is_dir());
        return Some(dirs(install.to_path_buf(), logs, FoundBy::Registry(key.to_string())));
    }
    fallbacks
        .iter()
        .find(|dir| dir.join("Queues").is_dir() || dir.join("Logging").is_dir())
        .map(|install| dirs(install.clone(), None, FoundBy::Fallback))
}

/// Where MailEnable would be when [`discover`] finds nothing: the first of
/// `fallbacks` (`%ProgramFiles(x86)%\Mail Enable`). The agent follows its
/// activity logs, waiting for them, rather than the Linux defaults' journal,
/// which Windows lacks (`journalctl` would fail at every poll); MailEnable
/// installed later is then read without a change to the config.
pub fn usual(fallbacks: &[PathBuf]) -> Option<MailEnableDirs> {
    fallbacks.first().map(|install| dirs(install.clone(), None, FoundBy::Fallback))
}

fn dirs(install: PathBuf, smtp_logs: Option<PathBuf>, found_by: FoundBy) -> MailEnableDirs {
    let smtp_logs = smtp_logs.unwrap_or_else(|| install.join("Logging").join("SMTP"));
    MailEnableDirs { install, smtp_logs, found_by }
}

#[cfg(test)]
mod tests;
