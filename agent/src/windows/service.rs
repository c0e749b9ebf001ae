//! What `rblfleet-agent service install|uninstall|start|stop` do.
//!
//! The decisions live here, the system calls behind [`ServiceControl`] (the
//! Service Control Manager and `icacls`; the real one is in
//! `windows/system.rs`), so that the rules are tested on any platform:
//!
//! - **install** creates `%ProgramData%\rblfleet` (with `outbox\` and
//!   `logs\`), copies the shipped example config there when none exists,
//!   registers the service — or, when it exists already (an upgrade),
//!   updates its settings, stopping and restarting it around the change —
//!   and sets the ACLs ([`acl_plan`]). The service starts automatically at
//!   boot, restarts 10 s after a crash (like `Restart=on-failure` with
//!   `RestartSec=10s` on Linux) and runs as its own virtual account
//!   `NT SERVICE\rblfleet-agent` unless told otherwise: it needs to read the
//!   MailEnable logs, queue folders and domain table (readable by local
//!   users in a default installation) and write its own data directory,
//!   nothing more. Containment actions that run Plesk's tools need
//!   `--account local-system`.
//!   Warnings and errors also go to the Application event log, under the
//!   event source install registers.
//! - **uninstall** stops the service (waiting for its clean stop: outbox
//!   flushed, checkpoints written) and removes it and its event source; the data directory stays
//!   (certificates, unsent reports).
//! - **start** / **stop** ask the SCM and wait until it is done.
//!
//! Accounts in ACLs are given by SID where Windows has a well-known one: the
//! names (`Administrators`, `SYSTEM`) are translated on non-English systems.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::layout::DataLayout;

/// The service's name (also its virtual account's).
pub const SERVICE_NAME: &str = "rblfleet-agent";
/// The name shown in services.msc.
pub const DISPLAY_NAME: &str = "rblfleet agent";
/// The description shown in services.msc.
pub const DESCRIPTION: &str = "Reports this Plesk host's IPs, mail queue and blocklist evidence \
                               (MailEnable logs) to the rblfleet controller.";
/// `NT AUTHORITY\SYSTEM`.
pub const SYSTEM_SID: &str = "*S-1-5-18";
/// `NT AUTHORITY\LocalService`.
pub const LOCAL_SERVICE_SID: &str = "*S-1-5-19";
/// `BUILTIN\Administrators`.
pub const ADMINISTRATORS_SID: &str = "*S-1-5-32-544";
/// Delay before the SCM restarts a crashed agent.
pub const RESTART_DELAY: Duration = Duration::from_secs(10);
/// How long a stop may take: the agent flushes the outbox (one RPC with its
/// deadline, `controller.timeout`, 10 s by default) and writes checkpoints.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// The account the service runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Account {
    /// `NT SERVICE\rblfleet-agent`: a per-service virtual account.
    #[default]
    Virtual,
    /// `NT AUTHORITY\LocalService`.
    LocalService,
    /// `LocalSystem` (needed only for containment actions).
    LocalSystem,
}

impl Account {
    /// The SCM's account name (`lpServiceStartName`).
    pub fn object_name(self) -> String {
        match self {
            Account::Virtual => format!(r"NT SERVICE\{SERVICE_NAME}"),
            Account::LocalService => r"NT AUTHORITY\LocalService".to_string(),
            Account::LocalSystem => "LocalSystem".to_string(),
        }
    }

    /// The account as `icacls` names it.
    pub fn acl_principal(self) -> String {
        match self {
            Account::Virtual => self.object_name(),
            Account::LocalService => LOCAL_SERVICE_SID.to_string(),
            Account::LocalSystem => SYSTEM_SID.to_string(),
        }
    }
}

/// The service as registered with the SCM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// [`SERVICE_NAME`].
    pub name: String,
    /// [`DISPLAY_NAME`].
    pub display_name: String,
    /// [`DESCRIPTION`].
    pub description: String,
    /// The program (the installed `rblfleet-agent.exe`).
    pub executable: PathBuf,
    /// Its arguments: `service run --config <agent.toml>`.
    pub arguments: Vec<OsString>,
    /// Who it runs as.
    pub account: Account,
    /// Delay of the restart after a crash.
    pub restart_delay: Duration,
}

impl ServiceSpec {
    /// The spec of the agent installed at `executable` with `layout`.
    pub fn new(executable: PathBuf, layout: &DataLayout, account: Account) -> ServiceSpec {
        ServiceSpec {
            name: SERVICE_NAME.to_string(),
            display_name: DISPLAY_NAME.to_string(),
            description: DESCRIPTION.to_string(),
            executable,
            arguments: vec!["service".into(), "run".into(), "--config".into(), layout.config().into_os_string()],
            account,
            restart_delay: RESTART_DELAY,
        }
    }
}

/// One `icacls <path> <args…>` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclRule {
    /// The file or directory.
    pub path: PathBuf,
    /// The arguments after the path.
    pub args: Vec<String>,
}

/// The ACLs install sets: the data directory is SYSTEM's and the
/// Administrators' (inheritance from `C:\ProgramData`, which lets every user
/// read, is cut), the service may read it and write `outbox\` and `logs\`;
/// the private key, when present, is readable by the service and nobody
/// else but SYSTEM and the Administrators.
pub fn acl_plan(layout: &DataLayout, account: Account) -> Vec<AclRule> {
    let who = account.acl_principal();
    let owners = |inherit: &str| vec![format!("{SYSTEM_SID}:{inherit}F"), format!("{ADMINISTRATORS_SID}:{inherit}F")];
    let mut root = vec!["/inheritance:r".to_string(), "/grant:r".to_string()];
    root.extend(owners("(OI)(CI)"));
    let mut plan = Vec::new();
    if account == Account::LocalSystem {
        plan.push(AclRule { path: layout.root().to_path_buf(), args: root });
    } else {
        root.push(format!("{who}:(OI)(CI)RX"));
        plan.push(AclRule { path: layout.root().to_path_buf(), args: root });
        for dir in [layout.outbox(), layout.logs()] {
            plan.push(AclRule { path: dir, args: vec!["/grant:r".into(), format!("{who}:(OI)(CI)M")] });
        }
    }
    if layout.key().is_file() {
        let mut key = vec!["/inheritance:r".to_string(), "/grant:r".to_string()];
        key.extend(owners(""));
        if account != Account::LocalSystem {
            key.push(format!("{who}:R"));
        }
        plan.push(AclRule { path: layout.key(), args: key });
    }
    plan
}

/// A service's state as the SCM reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceState {
    /// Stopped.
    Stopped,
    /// Starting.
    StartPending,
    /// Stopping.
    StopPending,
    /// Running.
    Running,
    /// Paused or pausing (the agent does not accept pause; another tool may report it).
    Other,
}

/// Why a service operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The SCM refused or failed an operation.
    #[error("service control manager: {op} {name}: {reason}")]
    Scm {
        /// What was asked, e.g. "creating".
        op: &'static str,
        /// The service.
        name: String,
        /// The system's message.
        reason: String,
    },
    /// `icacls` failed.
    #[error("setting the ACL of {path}: {reason}")]
    Acl {
        /// The file or directory.
        path: PathBuf,
        /// icacls' message or exit status.
        reason: String,
    },
    /// A file operation failed.
    #[error("{path}: {op}: {cause}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The service is not installed.
    #[error("the service {0} is not installed: run `rblfleet-agent service install` first")]
    NotInstalled(String),
    /// The service stopped again while starting.
    #[error("the service {name} stopped while starting; its log says why: {log}")]
    StartFailed {
        /// The service.
        name: String,
        /// Where its log is.
        log: String,
    },
    /// The service did not reach the state in time.
    #[error("the service {name} is still {state:?} after {waited:?}; see {log}")]
    Timeout {
        /// The service.
        name: String,
        /// Its state when we gave up.
        state: ServiceState,
        /// How long we waited.
        waited: Duration,
        /// Where its log is.
        log: String,
    },
}

/// The system calls the service commands need.
pub trait ServiceControl {
    /// The service's state; `None` when it is not installed.
    fn state(&self, name: &str) -> Result<Option<ServiceState>, ServiceError>;
    /// Registers a new service.
    fn create(&mut self, spec: &ServiceSpec) -> Result<(), ServiceError>;
    /// Changes an existing service's settings to `spec`.
    fn update(&mut self, spec: &ServiceSpec) -> Result<(), ServiceError>;
    /// Marks the service for deletion (it goes once stopped).
    fn delete(&mut self, name: &str) -> Result<(), ServiceError>;
    /// Asks the SCM to start the service.
    fn start(&mut self, name: &str) -> Result<(), ServiceError>;
    /// Sends the stop control.
    fn stop(&mut self, name: &str) -> Result<(), ServiceError>;
    /// Runs `icacls` with `rule`.
    fn set_acl(&mut self, rule: &AclRule) -> Result<(), ServiceError>;
    /// Registers `name` as an Application event source (so the Event Viewer
    /// shows the service's messages as written).
    fn register_event_source(&mut self, name: &str) -> Result<(), ServiceError>;
    /// Removes the event source `name`; nothing when absent.
    fn remove_event_source(&mut self, name: &str) -> Result<(), ServiceError>;
}

/// What install did, for its report to the administrator.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InstallReport {
    /// The service existed: its settings were updated.
    pub upgraded: bool,
    /// The example config was copied into place (it needs editing).
    pub config_written: bool,
    /// The service was running before and was started again.
    pub restarted: bool,
    /// The ACL calls made.
    pub acls: usize,
}

/// How install runs.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// The data directory.
    pub layout: DataLayout,
    /// The program to register.
    pub executable: PathBuf,
    /// Who the service runs as.
    pub account: Account,
    /// The example config shipped next to the program, copied into place
    /// when there is no config yet.
    pub example_config: Option<PathBuf>,
    /// Longest wait for a stop or start.
    pub wait: Duration,
}

/// Installs or upgrades the service; see the module documentation.
pub fn install(options: &InstallOptions, scm: &mut dyn ServiceControl) -> Result<InstallReport, ServiceError> {
    let layout = &options.layout;
    for dir in [layout.root().to_path_buf(), layout.outbox(), layout.logs()] {
        std::fs::create_dir_all(&dir).map_err(|cause| ServiceError::Io { path: dir.clone(), op: "creating", cause })?;
    }
    let mut report = InstallReport::default();
    if !layout.config().exists()
        && let Some(example) = options.example_config.as_ref().filter(|p| p.is_file())
    {
        std::fs::copy(example, layout.config()).map_err(|cause| ServiceError::Io {
            path: layout.config(),
            op: "writing",
            cause,
        })?;
        report.config_written = true;
    }
    let spec = ServiceSpec::new(options.executable.clone(), layout, options.account);
    match scm.state(SERVICE_NAME)? {
        None => scm.create(&spec)?,
        Some(state) => {
            report.upgraded = true;
            if state != ServiceState::Stopped {
                stop_and_wait(scm, options.wait, layout)?;
                report.restarted = true;
            }
            scm.update(&spec)?;
        }
    }
    for rule in acl_plan(layout, options.account) {
        scm.set_acl(&rule)?;
        report.acls += 1;
    }
    scm.register_event_source(SERVICE_NAME)?;
    if report.restarted {
        start_and_wait(scm, options.wait, layout)?;
    }
    Ok(report)
}

/// Stops (waiting for the clean stop) and removes the service; the data
/// directory is kept. Returns false when it was not installed.
pub fn uninstall(scm: &mut dyn ServiceControl, wait: Duration, layout: &DataLayout) -> Result<bool, ServiceError> {
    match scm.state(SERVICE_NAME)? {
        None => Ok(false),
        Some(state) => {
            if state != ServiceState::Stopped {
                stop_and_wait(scm, wait, layout)?;
            }
            scm.delete(SERVICE_NAME)?;
            scm.remove_event_source(SERVICE_NAME)?;
            Ok(true)
        }
    }
}

/// Starts the service and waits until it runs.
pub fn start_and_wait(scm: &mut dyn ServiceControl, wait: Duration, layout: &DataLayout) -> Result<(), ServiceError> {
    match scm.state(SERVICE_NAME)? {
        None => return Err(ServiceError::NotInstalled(SERVICE_NAME.to_string())),
        Some(ServiceState::Running) => return Ok(()),
        Some(ServiceState::StartPending) => {}
        Some(_) => scm.start(SERVICE_NAME)?,
    }
    wait_for(scm, ServiceState::Running, wait, layout)
}

/// Stops the service and waits until it stopped.
pub fn stop_and_wait(scm: &mut dyn ServiceControl, wait: Duration, layout: &DataLayout) -> Result<(), ServiceError> {
    match scm.state(SERVICE_NAME)? {
        None => return Err(ServiceError::NotInstalled(SERVICE_NAME.to_string())),
        Some(ServiceState::Stopped) => return Ok(()),
        Some(ServiceState::StopPending) => {}
        Some(_) => scm.stop(SERVICE_NAME)?,
    }
    wait_for(scm, ServiceState::Stopped, wait, layout)
}

fn wait_for(
    scm: &mut dyn ServiceControl,
    want: ServiceState,
    wait: Duration,
    layout: &DataLayout,
) -> Result<(), ServiceError> {
    let started = Instant::now();
    loop {
        let state = scm.state(SERVICE_NAME)?.ok_or_else(|| ServiceError::NotInstalled(SERVICE_NAME.to_string()))?;
        if state == want {
            return Ok(());
        }
        // A start that fell back to stopped failed: its log says why.
        if want == ServiceState::Running && state == ServiceState::Stopped {
            return Err(ServiceError::StartFailed {
                name: SERVICE_NAME.to_string(),
                log: layout.log_file().display().to_string(),
            });
        }
        if started.elapsed() >= wait {
            return Err(ServiceError::Timeout {
                name: SERVICE_NAME.to_string(),
                state,
                waited: started.elapsed(),
                log: layout.log_file().display().to_string(),
            });
        }
        std::thread::sleep(Duration::from_millis(100).min(wait));
    }
}

#[cfg(test)]
mod tests;
