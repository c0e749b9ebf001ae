//! The agent's files on Windows, under `%ProgramData%\rblfleet`:
//!
//! ```text
//! %ProgramData%\rblfleet\
//!   agent.toml          the config (relative paths in it are relative to here)
//!   ca.crt agent.crt    the certificate bundle, named as in /etc/rblfleet on Linux
//!   agent.key           the private key: SYSTEM, Administrators and the service only
//!   outbox\             the sled spool and the log checkpoints
//!   logs\agent.log      the service's log (agent.log.1 is the previous one)
//! ```
//!
//! `%ProgramData%` rather than the installation directory: it survives an
//! upgrade that replaces the program's folder, and it is where Windows
//! services keep state.

use std::path::{Path, PathBuf};

/// The directory under `%ProgramData%`.
pub const DIR_NAME: &str = "rblfleet";

/// Paths of the agent's files under one data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataLayout {
    root: PathBuf,
}

impl DataLayout {
    /// The layout under `root` (normally [`DataLayout::from_env`]).
    pub fn new(root: impl Into<PathBuf>) -> DataLayout {
        DataLayout { root: root.into() }
    }

    /// `%ProgramData%\rblfleet`, or `C:\ProgramData\rblfleet` when the
    /// variable is unset (a service's environment always has it).
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> DataLayout {
        let base = env("ProgramData").filter(|v| !v.is_empty()).unwrap_or_else(|| r"C:\ProgramData".to_string());
        DataLayout::new(PathBuf::from(base).join(DIR_NAME))
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `agent.toml`.
    pub fn config(&self) -> PathBuf {
        self.root.join("agent.toml")
    }

    /// The CA certificate.
    pub fn ca(&self) -> PathBuf {
        self.root.join("ca.crt")
    }

    /// The agent's certificate.
    pub fn cert(&self) -> PathBuf {
        self.root.join("agent.crt")
    }

    /// The agent's private key.
    pub fn key(&self) -> PathBuf {
        self.root.join("agent.key")
    }

    /// The outbox (and checkpoints).
    pub fn outbox(&self) -> PathBuf {
        self.root.join("outbox")
    }

    /// The service's log directory.
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// The service's log file.
    pub fn log_file(&self) -> PathBuf {
        self.logs().join("agent.log")
    }
}

/// Above this size the log file is renamed to `agent.log.1` at start.
pub const LOG_ROTATE_BYTES: u64 = 16 * 1024 * 1024;

/// Opens the service's log file for appending, after moving it to
/// `agent.log.1` when it grew past [`LOG_ROTATE_BYTES`] (one previous file is
/// kept: the service restarts rarely, and the Event Log keeps the rest).
pub fn open_log(layout: &DataLayout) -> std::io::Result<std::fs::File> {
    std::fs::create_dir_all(layout.logs())?;
    let file = layout.log_file();
    if std::fs::metadata(&file).is_ok_and(|m| m.len() > LOG_ROTATE_BYTES) {
        std::fs::rename(&file, layout.logs().join("agent.log.1"))?;
    }
    std::fs::OpenOptions::new().create(true).append(true).open(file)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::Write;

    use super::*;

    #[test]
    fn under_program_data() {
        let layout = DataLayout::from_env(|v| (v == "ProgramData").then(|| "/pd".to_string()));
        assert_eq!(layout.root(), Path::new("/pd/rblfleet"));
        assert_eq!(layout.config(), Path::new("/pd/rblfleet/agent.toml"));
        assert_eq!(layout.key(), Path::new("/pd/rblfleet/agent.key"));
        assert_eq!(DataLayout::from_env(|_| None).root(), Path::new(r"C:\ProgramData").join("rblfleet"));
    }

    #[test]
    fn the_log_keeps_one_previous_file() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = DataLayout::new(tmp.path());
        open_log(&layout).unwrap().write_all(b"first\n").unwrap();
        open_log(&layout).unwrap().write_all(b"second\n").unwrap();
        assert_eq!(std::fs::read_to_string(layout.log_file()).unwrap(), "first\nsecond\n");
        let big = vec![b'x'; usize::try_from(LOG_ROTATE_BYTES).unwrap() + 1];
        std::fs::write(layout.log_file(), &big).unwrap();
        open_log(&layout).unwrap().write_all(b"after\n").unwrap();
        assert_eq!(std::fs::read_to_string(layout.log_file()).unwrap(), "after\n");
        assert_eq!(std::fs::metadata(layout.logs().join("agent.log.1")).unwrap().len(), big.len() as u64);
    }
}
