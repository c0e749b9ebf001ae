//! `[actions]`: containment actions (issue 16). Off unless the host's admin
//! turns them on and names the kinds allowed, so a compromised controller can
//! do on this host only what its admin agreed to beforehand.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::actions::ActionKind;

/// `[actions]`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ActionsConfig {
    /// Master switch; false refuses every action, whatever `allow` says.
    #[serde(default)]
    pub enabled: bool,
    /// The controller's action public key (Ed25519, 64 hex digits): an
    /// action runs only if its signature verifies with it. Required when
    /// `enabled`; a controller TLS identity alone cannot make this host act.
    #[serde(default)]
    pub controller_key: String,
    /// The action kinds this host runs (e.g. `["hold_queue", "release_queue"]`).
    #[serde(default)]
    pub allow: Vec<ActionKind>,
    /// Run the privileged commands (`postsuper`, `plesk`, `mv`) as
    /// `sudo -n COMMAND…`; needs `deploy/sudoers/rblfleet-agent-actions`.
    #[serde(default)]
    pub sudo: bool,
    /// The sudo binary.
    #[serde(default = "default_sudo_path")]
    pub sudo_path: PathBuf,
    /// Postfix's `postsuper` (hold, release, delete).
    #[serde(default = "default_postsuper")]
    pub postsuper: PathBuf,
    /// Postfix's `postqueue` (the read-only `-j` listing; never run with sudo).
    #[serde(default = "default_postqueue")]
    pub postqueue: PathBuf,
    /// Plesk's `plesk` front end (`plesk bin mail`, `plesk bin subscription_settings`).
    #[serde(default = "default_plesk")]
    pub plesk: PathBuf,
    /// `mv` (GNU coreutils: `-n -T`), for quarantining a script.
    #[serde(default = "default_mv")]
    pub mv: PathBuf,
    /// Where the subscriptions' trees are; a script is quarantined only from
    /// below `<vhosts>/<subscription>/`.
    #[serde(default = "default_vhosts")]
    pub vhosts: PathBuf,
    /// Where quarantined scripts go (root:rblfleet-agent 0710, on the same
    /// file system as `vhosts` so the move is a rename that keeps everything).
    #[serde(default = "default_quarantine_dir")]
    pub quarantine_dir: PathBuf,
    /// Deadline of one command.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Most queue ids one action touches; a source holding more is refused
    /// (the NOC should look before deleting a whole queue).
    #[serde(default = "default_max_queue_ids")]
    pub max_queue_ids: usize,
}

fn default_sudo_path() -> PathBuf {
    PathBuf::from("/usr/bin/sudo")
}
fn default_postsuper() -> PathBuf {
    PathBuf::from("/usr/sbin/postsuper")
}
fn default_postqueue() -> PathBuf {
    PathBuf::from("/usr/sbin/postqueue")
}
fn default_plesk() -> PathBuf {
    PathBuf::from("/usr/sbin/plesk")
}
fn default_mv() -> PathBuf {
    PathBuf::from("/bin/mv")
}
fn default_vhosts() -> PathBuf {
    PathBuf::from("/var/www/vhosts")
}
fn default_quarantine_dir() -> PathBuf {
    PathBuf::from("/var/lib/rblfleet-agent-quarantine")
}
fn default_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_max_queue_ids() -> usize {
    10_000
}

impl Default for ActionsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            controller_key: String::new(),
            allow: Vec::new(),
            sudo: false,
            sudo_path: default_sudo_path(),
            postsuper: default_postsuper(),
            postqueue: default_postqueue(),
            plesk: default_plesk(),
            mv: default_mv(),
            vhosts: default_vhosts(),
            quarantine_dir: default_quarantine_dir(),
            timeout: default_timeout(),
            max_queue_ids: default_max_queue_ids(),
        }
    }
}

impl ActionsConfig {
    /// The controller's action public key, when one is set and well formed.
    pub fn controller_key_bytes(&self) -> Option<[u8; 32]> {
        let hex = self.controller_key.trim().as_bytes();
        if hex.len() != 64 {
            return None;
        }
        let mut key = [0u8; 32];
        for (byte, pair) in key.iter_mut().zip(hex.chunks(2)) {
            let text = std::str::from_utf8(pair).ok()?;
            *byte = u8::from_str_radix(text, 16).ok()?;
        }
        Some(key)
    }

    /// The values serde cannot check: `(dotted key, reason)`.
    pub(crate) fn check(&self) -> Result<(), (&'static str, String)> {
        if !self.controller_key.is_empty() && self.controller_key_bytes().is_none() {
            return Err(("actions.controller_key", "is not an Ed25519 public key in 64 hex digits".into()));
        }
        if self.enabled && self.controller_key.is_empty() {
            return Err((
                "actions.controller_key",
                "required when actions are enabled (the controller's action public key, 64 hex digits)".into(),
            ));
        }
        if self.timeout.is_zero() {
            return Err(("actions.timeout", "must be greater than zero".into()));
        }
        if self.max_queue_ids == 0 {
            return Err(("actions.max_queue_ids", "must be at least 1".into()));
        }
        for (key, path) in [
            ("actions.sudo_path", &self.sudo_path),
            ("actions.postsuper", &self.postsuper),
            ("actions.postqueue", &self.postqueue),
            ("actions.plesk", &self.plesk),
            ("actions.mv", &self.mv),
            ("actions.vhosts", &self.vhosts),
            ("actions.quarantine_dir", &self.quarantine_dir),
        ] {
            // has_root, not is_absolute: the same on Unix, and on Windows
            // (where these defaults are never used) "/usr/bin/sudo" has no
            // drive letter, which would refuse every config there.
            if !path.has_root() {
                return Err((
                    key,
                    format!("{} is not an absolute path (the sudoers rules name absolute paths)", path.display()),
                ));
            }
        }
        if self.quarantine_dir.starts_with(&self.vhosts) {
            return Err(("actions.quarantine_dir", "must not be inside actions.vhosts (the customers' trees)".into()));
        }
        Ok(())
    }
}
