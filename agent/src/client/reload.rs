//! Which version of the TLS files the channel was built from.
//!
//! A renewed agent certificate is written over the old files (`rblfleet ca
//! renew` bundles, the Ansible role); the agent notices before its next send
//! and builds a new channel, so a renewal never needs a restart — and a fleet
//! whose agents were never restarted does not go quiet the day the old
//! certificates expire. A few `stat` calls per send: nothing next to a TLS
//! round trip.

use rblfleet_shell::file_stamp::{FileStamp, file_stamp};

use crate::config::ControllerConfig;

/// Modification time, size and (on Unix) inode of `controller.ca`, `.cert`
/// and `.key`: a rename over a file is seen even within one timestamp tick.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Stamps([Option<FileStamp>; 3]);

impl Stamps {
    /// The files as they are now (a missing file is `None`, itself a change).
    pub(super) fn of(config: &ControllerConfig) -> Stamps {
        Stamps(
            [config.ca.as_deref(), config.cert.as_deref(), config.key.as_deref()].map(|path| path.and_then(file_stamp)),
        )
    }
}
