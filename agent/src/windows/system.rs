//! The Windows system behind the rules of [`super::discover`] and
//! [`super::service`]: the registry, the Service Control Manager, `icacls`,
//! and the service's own main function. Nothing here decides anything.
//!
//! The crate forbids `unsafe`: the service entry point is a plain
//! `extern "system"` function that ignores the SCM's start arguments (the
//! config path is in the service's command line, set at install), so
//! `windows_service::define_windows_service!`, whose expansion holds an
//! `unsafe` block, is not needed.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use windows_service::service::{
    ServiceAccess, ServiceAction, ServiceActionType, ServiceControl as Control, ServiceControlAccept,
    ServiceErrorControl, ServiceExitCode, ServiceFailureActions, ServiceFailureResetPeriod, ServiceInfo,
    ServiceStartType, ServiceState as WinState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult, ServiceStatusHandle};
use windows_service::service_dispatcher;
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};

use super::discover::Registry;
use super::layout::DataLayout;
use super::service::{AclRule, SERVICE_NAME, STOP_TIMEOUT, ServiceControl, ServiceError, ServiceSpec, ServiceState};

/// `ERROR_SERVICE_DOES_NOT_EXIST`.
const NOT_INSTALLED: i32 = 1060;
/// `ERROR_SERVICE_NOT_ACTIVE`.
const NOT_ACTIVE: i32 = 1062;

/// `HKEY_LOCAL_MACHINE`.
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalMachine;

impl Registry for LocalMachine {
    fn string(&self, key: &str, name: &str) -> Option<String> {
        windows_registry::LOCAL_MACHINE.open(key).ok()?.get_string(name).ok()
    }
}

/// Fills the MailEnable settings `config` leaves at their defaults from
/// what [`super::discover::discover`] finds on this host (logged).
pub fn apply_discovered(config: &mut crate::Config) {
    let env = |name: &str| std::env::var(name).ok();
    let fallbacks = super::discover::fallback_dirs(env);
    if let Some(found) = super::discover::discover(&LocalMachine, &fallbacks) {
        for change in super::apply_mailenable(config, &found) {
            tracing::info!(install = %found.install.display(), "MailEnable found: {change}");
        }
    } else if let Some(usual) = super::discover::usual(&fallbacks) {
        for change in super::apply_mailenable(config, &usual) {
            tracing::warn!(
                "MailEnable not found (registry, usual directories): {change}, waited for; \
                 set it in the config if MailEnable is elsewhere"
            );
        }
    }
}

/// The local SCM, and `icacls` for ACLs.
pub struct Scm {
    manager: ServiceManager,
}

impl std::fmt::Debug for Scm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scm(local computer)")
    }
}

impl Scm {
    /// Connects to the local SCM with the rights to create services
    /// (administrators only: the error says so).
    pub fn connect() -> Result<Scm, ServiceError> {
        let access = ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE;
        let manager = ServiceManager::local_computer(None::<&str>, access).map_err(|e| ServiceError::Scm {
            op: "connecting to",
            name: "the local computer".into(),
            reason: format!("{e} (run this from an elevated prompt: Administrator)"),
        })?;
        Ok(Scm { manager })
    }

    fn open(
        &self,
        name: &str,
        access: ServiceAccess,
    ) -> Result<Option<windows_service::service::Service>, ServiceError> {
        match self.manager.open_service(name, access) {
            Ok(service) => Ok(Some(service)),
            Err(windows_service::Error::Winapi(e)) if e.raw_os_error() == Some(NOT_INSTALLED) => Ok(None),
            Err(e) => Err(scm_error("opening", name, e)),
        }
    }

    fn opened(&self, name: &str, access: ServiceAccess) -> Result<windows_service::service::Service, ServiceError> {
        self.open(name, access)?.ok_or_else(|| ServiceError::NotInstalled(name.to_string()))
    }
}

fn scm_error(op: &'static str, name: &str, e: windows_service::Error) -> ServiceError {
    let reason = match &e {
        windows_service::Error::Winapi(io) => io.to_string(),
        other => other.to_string(),
    };
    ServiceError::Scm { op, name: name.to_string(), reason }
}

fn info(spec: &ServiceSpec) -> ServiceInfo {
    ServiceInfo {
        name: OsString::from(&spec.name),
        display_name: OsString::from(&spec.display_name),
        service_type: ServiceType::OWN_PROCESS,
        start_type: ServiceStartType::AutoStart,
        error_control: ServiceErrorControl::Normal,
        executable_path: spec.executable.clone(),
        launch_arguments: spec.arguments.clone(),
        dependencies: Vec::new(),
        account_name: Some(OsString::from(spec.account.object_name())),
        account_password: None,
    }
}

/// Description and restart-on-failure, set after create and update alike.
/// A restart policy the system refuses (Wine implements none) is a warning:
/// the service works without it.
fn finish(service: &windows_service::service::Service, spec: &ServiceSpec) -> Result<(), ServiceError> {
    service.set_description(&spec.description).map_err(|e| scm_error("describing", &spec.name, e))?;
    let restart = ServiceAction { action_type: ServiceActionType::Restart, delay: spec.restart_delay };
    let actions = ServiceFailureActions {
        reset_period: ServiceFailureResetPeriod::After(Duration::from_secs(24 * 3600)),
        reboot_msg: None,
        command: None,
        actions: Some(vec![restart.clone(), restart.clone(), restart]),
    };
    // An exit with an error code (a bad config) counts as a failure too.
    let policy =
        service.update_failure_actions(actions).and_then(|()| service.set_failure_actions_on_non_crash_failures(true));
    if let Err(e) = policy {
        tracing::warn!(
            error = %scm_error("setting the restart policy of", &spec.name, e),
            "the service will not be restarted after a failure; set it in services.msc (Recovery)"
        );
    }
    Ok(())
}

impl ServiceControl for Scm {
    fn state(&self, name: &str) -> Result<Option<ServiceState>, ServiceError> {
        let Some(service) = self.open(name, ServiceAccess::QUERY_STATUS)? else { return Ok(None) };
        let status = service.query_status().map_err(|e| scm_error("querying", name, e))?;
        Ok(Some(match status.current_state {
            WinState::Stopped => ServiceState::Stopped,
            WinState::StartPending => ServiceState::StartPending,
            WinState::StopPending => ServiceState::StopPending,
            WinState::Running => ServiceState::Running,
            _ => ServiceState::Other,
        }))
    }

    fn create(&mut self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        let access = ServiceAccess::CHANGE_CONFIG | ServiceAccess::START | ServiceAccess::QUERY_STATUS;
        let service =
            self.manager.create_service(&info(spec), access).map_err(|e| scm_error("creating", &spec.name, e))?;
        finish(&service, spec)
    }

    fn update(&mut self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        let service = self.opened(&spec.name, ServiceAccess::CHANGE_CONFIG | ServiceAccess::QUERY_CONFIG)?;
        service.change_config(&info(spec)).map_err(|e| scm_error("updating", &spec.name, e))?;
        finish(&service, spec)
    }

    fn delete(&mut self, name: &str) -> Result<(), ServiceError> {
        self.opened(name, ServiceAccess::DELETE)?.delete().map_err(|e| scm_error("deleting", name, e))
    }

    fn start(&mut self, name: &str) -> Result<(), ServiceError> {
        self.opened(name, ServiceAccess::START)?.start::<&OsStr>(&[]).map_err(|e| scm_error("starting", name, e))
    }

    fn stop(&mut self, name: &str) -> Result<(), ServiceError> {
        match self.opened(name, ServiceAccess::STOP)?.stop() {
            Ok(_) => Ok(()),
            Err(windows_service::Error::Winapi(e)) if e.raw_os_error() == Some(NOT_ACTIVE) => Ok(()),
            Err(e) => Err(scm_error("stopping", name, e)),
        }
    }

    fn set_acl(&mut self, rule: &AclRule) -> Result<(), ServiceError> {
        let output = std::process::Command::new("icacls")
            .arg(&rule.path)
            .args(&rule.args)
            .output()
            .map_err(|cause| ServiceError::Io { path: PathBuf::from("icacls"), op: "running", cause })?;
        if output.status.success() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
        Err(ServiceError::Acl { path: rule.path.clone(), reason: format!("{} ({})", text, output.status) })
    }

    fn register_event_source(&mut self, name: &str) -> Result<(), ServiceError> {
        let key = windows_registry::LOCAL_MACHINE.create(event_source_key(name)).map_err(|e| ServiceError::Scm {
            op: "registering the event source",
            name: name.into(),
            reason: e.to_string(),
        })?;
        // EventCreate.exe's message table prints its one argument as is (ids 1-1000).
        key.set_expand_string("EventMessageFile", r"%SystemRoot%\System32\EventCreate.exe")
            .and_then(|()| key.set_u32("TypesSupported", 7))
            .map_err(|e| ServiceError::Scm {
                op: "registering the event source",
                name: name.into(),
                reason: e.to_string(),
            })
    }

    fn remove_event_source(&mut self, name: &str) -> Result<(), ServiceError> {
        match windows_registry::LOCAL_MACHINE.remove_tree(event_source_key(name)) {
            Ok(()) => Ok(()),
            // ERROR_FILE_NOT_FOUND: never registered.
            Err(e) if e.code() == windows_result::HRESULT::from_win32(2) => Ok(()),
            Err(e) => {
                Err(ServiceError::Scm { op: "removing the event source", name: name.into(), reason: e.to_string() })
            }
        }
    }
}

fn event_source_key(name: &str) -> String {
    format!(r"SYSTEM\CurrentControlSet\Services\EventLog\Application\{name}")
}

/// Runs the agent under the SCM: called by `rblfleet-agent service run`,
/// which the SCM starts. Returns when the service stopped; an error means
/// the process was not started by the SCM (run from a console).
pub fn run_service(config: PathBuf, layout: DataLayout) -> Result<(), windows_service::Error> {
    // The dispatcher calls `ffi_service_main` on its own thread; it takes
    // what it needs from here.
    if let Ok(mut slot) = START.lock() {
        *slot = Some((config, layout));
    }
    service_dispatcher::start(SERVICE_NAME, ffi_service_main)
}

static START: Mutex<Option<(PathBuf, DataLayout)>> = Mutex::new(None);

extern "system" fn ffi_service_main(_argc: u32, _argv: *mut *mut u16) {
    let Some((config, layout)) = START.lock().ok().and_then(|mut slot| slot.take()) else { return };
    service_main(config, layout);
}

fn service_main(config: PathBuf, layout: DataLayout) {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let handler = move |control| match control {
        Control::Stop | Control::Shutdown | Control::Preshutdown => {
            let _ = stop_tx.send(true);
            ServiceControlHandlerResult::NoError
        }
        Control::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    };
    let Ok(status) = service_control_handler::register(SERVICE_NAME, handler) else { return };
    set(&status, WinState::StartPending, ServiceControlAccept::empty(), 0, Duration::from_secs(10));
    let log = file_logging(&layout);
    let runtime = {
        let log = log.clone();
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .on_thread_start(move || {
                if let Some(log) = &log {
                    // Lives as long as the thread: every task logs to the file.
                    std::mem::forget(tracing::dispatcher::set_default(log));
                }
            })
            .build()
    };
    let _main = log.as_ref().map(tracing::dispatcher::set_default);
    let result = match runtime {
        Ok(runtime) => runtime.block_on(crate::cli::service::body(
            &config,
            stop_rx,
            || {
                set(
                    &status,
                    WinState::Running,
                    ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN,
                    0,
                    Duration::ZERO,
                )
            },
            || set(&status, WinState::StopPending, ServiceControlAccept::empty(), 0, STOP_TIMEOUT),
        )),
        Err(e) => Err(anyhow::anyhow!("cannot start the async runtime: {e}")),
    };
    let code = match result {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "the service stopped on an error");
            1
        }
    };
    set(&status, WinState::Stopped, ServiceControlAccept::empty(), code, Duration::ZERO);
}

/// The service's log: `%ProgramData%\\rblfleet\\logs\\agent.log`, filtered by
/// RBLFLEET_LOG (default "info"), and warnings and errors also in the
/// Application event log (source `rblfleet-agent`, registered at install).
/// A service has no console: what `main` set up on stderr goes nowhere.
/// `None` when neither can be opened (then only the SCM's status tells).
fn file_logging(layout: &DataLayout) -> Option<tracing::Dispatch> {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;

    let file = super::layout::open_log(layout).ok();
    let events = tracing_layer_win_eventlog::EventLogLayer::new_with_default_id(SERVICE_NAME, Some(1)).ok();
    if file.is_none() && events.is_none() {
        return None;
    }
    let filter = rblfleet_shell::term::env_filter(&["RBLFLEET_LOG", "RUST_LOG"], "info");
    let to_file = file.map(|file| {
        tracing_subscriber::fmt::layer().with_ansi(false).with_writer(Mutex::new(file)).with_filter(filter)
    });
    let to_events = events.map(|layer| layer.with_filter(tracing_subscriber::filter::LevelFilter::WARN));
    Some(tracing::Dispatch::new(tracing_subscriber::registry().with(to_file).with(to_events)))
}

fn set(handle: &ServiceStatusHandle, state: WinState, accept: ServiceControlAccept, code: u32, wait: Duration) {
    let status = ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state: state,
        controls_accepted: accept,
        exit_code: ServiceExitCode::ServiceSpecific(code),
        checkpoint: 0,
        wait_hint: wait,
        process_id: None,
    };
    if let Err(e) = handle.set_service_status(status) {
        tracing::warn!(error = %e, "cannot report the service status to the SCM");
    }
}
