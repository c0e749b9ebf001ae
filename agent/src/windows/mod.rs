//! Windows hosts: Plesk for Windows with MailEnable (issue 19).
//!
//! # Layout
//!
//! - [`discover`] — where MailEnable is (registry, then the usual
//!   directories), and [`apply_mailenable`], which fills the MailEnable
//!   settings a config left at their defaults.
//! - [`layout`] — the agent's own files under `%ProgramData%\rblfleet`.
//! - [`service`] — what `rblfleet-agent service install|uninstall|start|stop`
//!   do, as plain logic over a small [`service::ServiceControl`] interface
//!   (the Service Control Manager and `icacls`), tested on any platform.
//! - `system` (Windows only) — the real registry, the real SCM and the
//!   service's main function; nothing in it decides anything.

pub mod discover;
pub mod layout;
pub mod service;
#[cfg(windows)]
pub mod system;

use crate::Config;
use crate::collect::queue::QueueConfig;
use crate::config::DomainsConfig;
use discover::MailEnableDirs;

/// Points the settings that still hold their (Linux or guessed) defaults at
/// the MailEnable found: the activity logs as a dated series, the queue
/// folders' root and the domain table. Settings the config sets are left
/// alone. Returns what was changed, in words, for the log.
pub fn apply_mailenable(config: &mut Config, found: &MailEnableDirs) -> Vec<String> {
    let mut changed = Vec::new();
    if config.logs.paths.is_empty() && config.logs.journald != crate::logs::JournaldMode::Always {
        config.logs.paths = vec![found.activity_pattern()];
        changed.push(format!("logs.paths = [{}]", found.activity_pattern().display()));
    }
    if config.queue.mailenable_root == QueueConfig::default().mailenable_root
        && config.queue.mailenable_root != found.install
    {
        config.queue.mailenable_root = found.install.clone();
        changed.push(format!("queue.mailenable_root = {}", found.install.display()));
    }
    if config.domains.mailenable_domains == DomainsConfig::default().mailenable_domains
        && config.domains.mailenable_domains != found.domain_tab()
    {
        config.domains.mailenable_domains = found.domain_tab();
        changed.push(format!("domains.mailenable_domains = {}", found.domain_tab().display()));
    }
    changed
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::path::PathBuf;

    use super::discover::FoundBy;
    use super::*;

    #[test]
    fn discovered_paths_fill_only_the_defaults() {
        let found = MailEnableDirs {
            install: PathBuf::from("/me"),
            smtp_logs: PathBuf::from("/me/Logging/SMTP"),
            found_by: FoundBy::Fallback,
        };
        let mut config = Config::from_toml_str("[controller]\nurl = \"http://127.0.0.1:7443\"\n").unwrap();
        let changed = apply_mailenable(&mut config, &found);
        assert_eq!(changed.len(), 3, "{changed:?}");
        assert_eq!(config.logs.paths, [PathBuf::from("/me/Logging/SMTP/SMTP-Activity-*.log")]);
        assert_eq!(config.queue.mailenable_root, PathBuf::from("/me"));
        assert_eq!(config.domains.mailenable_domains, PathBuf::from("/me/Config/DOMAIN.TAB"));

        let mut set = Config::from_toml_str(
            "[controller]\nurl = \"http://127.0.0.1:7443\"\n[logs]\npaths = [\"/elsewhere/x-*.log\"]\n",
        )
        .unwrap();
        apply_mailenable(&mut set, &found);
        assert_eq!(set.logs.paths, [PathBuf::from("/elsewhere/x-*.log")], "a configured path is kept");
    }

    #[test]
    fn without_mailenable_the_usual_logs_are_waited_for_not_the_journal() {
        let mut config = Config::from_toml_str("[controller]\nurl = \"http://127.0.0.1:7443\"\n").unwrap();
        let usual =
            super::discover::usual(&[PathBuf::from("/pf86/Mail Enable"), PathBuf::from("/pf/Mail Enable")]).unwrap();
        apply_mailenable(&mut config, &usual);
        let pattern = PathBuf::from("/pf86/Mail Enable/Logging/SMTP/SMTP-Activity-*.log");
        assert_eq!(crate::logs::plan(&config.logs).unwrap(), crate::logs::SourcePlan::Files(vec![pattern]));
        assert!(super::discover::usual(&[]).is_none());
    }
}
