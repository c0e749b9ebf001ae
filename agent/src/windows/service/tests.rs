#![allow(clippy::unwrap_used)]

use std::path::Path;

use super::*;

/// An SCM in memory: one service, whose pending states settle on the next query.
#[derive(Debug, Default)]
struct FakeScm {
    spec: Option<ServiceSpec>,
    state: Option<ServiceState>,
    deleted: bool,
    /// A start falls back to Stopped (the agent failed to start).
    start_fails: bool,
    calls: Vec<String>,
    acls: Vec<AclRule>,
    event_source: Option<String>,
}

impl ServiceControl for FakeScm {
    fn state(&self, _name: &str) -> Result<Option<ServiceState>, ServiceError> {
        Ok(self.state)
    }
    fn create(&mut self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        self.calls.push("create".into());
        self.spec = Some(spec.clone());
        self.state = Some(ServiceState::Stopped);
        Ok(())
    }
    fn update(&mut self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        assert_eq!(self.state, Some(ServiceState::Stopped), "settings change only while stopped");
        self.calls.push("update".into());
        self.spec = Some(spec.clone());
        Ok(())
    }
    fn delete(&mut self, _name: &str) -> Result<(), ServiceError> {
        assert_eq!(self.state, Some(ServiceState::Stopped), "deleted only once stopped");
        self.calls.push("delete".into());
        self.deleted = true;
        self.state = None;
        Ok(())
    }
    fn start(&mut self, _name: &str) -> Result<(), ServiceError> {
        self.calls.push("start".into());
        self.state = Some(if self.start_fails { ServiceState::Stopped } else { ServiceState::Running });
        Ok(())
    }
    fn stop(&mut self, _name: &str) -> Result<(), ServiceError> {
        self.calls.push("stop".into());
        self.state = Some(ServiceState::Stopped);
        Ok(())
    }
    fn set_acl(&mut self, rule: &AclRule) -> Result<(), ServiceError> {
        self.acls.push(rule.clone());
        Ok(())
    }
    fn register_event_source(&mut self, name: &str) -> Result<(), ServiceError> {
        self.event_source = Some(name.to_string());
        Ok(())
    }
    fn remove_event_source(&mut self, name: &str) -> Result<(), ServiceError> {
        assert!(self.state.is_none(), "the source goes after the service");
        assert_eq!(self.event_source.take().as_deref(), Some(name));
        Ok(())
    }
}

fn options(root: &Path, example: Option<PathBuf>) -> InstallOptions {
    InstallOptions {
        layout: DataLayout::new(root.join("rblfleet")),
        executable: PathBuf::from(r"C:\Program Files\rblfleet\rblfleet-agent.exe"),
        account: Account::Virtual,
        example_config: example,
        wait: Duration::from_secs(1),
    }
}

#[test]
fn install_registers_the_service_with_its_config_and_account() {
    let tmp = tempfile::tempdir().unwrap();
    let example = tmp.path().join("agent.example.toml");
    std::fs::write(&example, "[controller]\nurl = \"https://controller.example.net:7443\"\n").unwrap();
    let opts = options(tmp.path(), Some(example.clone()));
    let mut scm = FakeScm::default();
    let report = install(&opts, &mut scm).unwrap();
    assert_eq!(report, InstallReport { upgraded: false, config_written: true, restarted: false, acls: 3 });
    let spec = scm.spec.as_ref().unwrap();
    assert_eq!(spec.name, "rblfleet-agent");
    assert_eq!(spec.account.object_name(), r"NT SERVICE\rblfleet-agent");
    let config = opts.layout.config();
    assert_eq!(spec.arguments, [OsString::from("service"), "run".into(), "--config".into(), config.clone().into()]);
    assert_eq!(spec.restart_delay, Duration::from_secs(10));
    // The data directory exists, with the example config in place.
    assert!(opts.layout.outbox().is_dir() && opts.layout.logs().is_dir());
    assert_eq!(std::fs::read(&config).unwrap(), std::fs::read(&example).unwrap());
    assert_eq!(scm.calls, ["create"], "installed, not started: the config needs editing first");
    assert_eq!(scm.event_source.as_deref(), Some("rblfleet-agent"));

    // A second install keeps an edited config.
    std::fs::write(&config, "edited").unwrap();
    let again = install(&opts, &mut scm).unwrap();
    assert!(again.upgraded && !again.config_written && !again.restarted);
    assert_eq!(std::fs::read_to_string(&config).unwrap(), "edited");
}

#[test]
fn upgrading_a_running_service_stops_updates_and_restarts_it() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(tmp.path(), None);
    let mut scm = FakeScm::default();
    install(&opts, &mut scm).unwrap();
    start_and_wait(&mut scm, opts.wait, &opts.layout).unwrap();
    scm.calls.clear();
    let report = install(&InstallOptions { account: Account::LocalSystem, ..opts.clone() }, &mut scm).unwrap();
    assert!(report.upgraded && report.restarted && !report.config_written);
    assert_eq!(scm.calls, ["stop", "update", "start"]);
    assert_eq!(scm.spec.as_ref().unwrap().account, Account::LocalSystem);
    assert_eq!(scm.state, Some(ServiceState::Running));
}

#[test]
fn uninstall_stops_cleanly_first_and_keeps_the_data() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(tmp.path(), None);
    let mut scm = FakeScm::default();
    assert!(!uninstall(&mut scm, opts.wait, &opts.layout).unwrap(), "nothing to remove");
    install(&opts, &mut scm).unwrap();
    start_and_wait(&mut scm, opts.wait, &opts.layout).unwrap();
    assert!(uninstall(&mut scm, opts.wait, &opts.layout).unwrap());
    assert_eq!(scm.calls, ["create", "start", "stop", "delete"]);
    assert!(scm.deleted && opts.layout.outbox().is_dir());
    assert_eq!(scm.event_source, None, "the event source is removed with the service");
    let err = stop_and_wait(&mut scm, opts.wait, &opts.layout).unwrap_err();
    assert!(err.to_string().contains("service install"), "{err}");
}

#[test]
fn a_start_that_falls_back_to_stopped_points_at_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(tmp.path(), None);
    let mut scm = FakeScm { start_fails: true, ..FakeScm::default() };
    install(&opts, &mut scm).unwrap();
    let err = start_and_wait(&mut scm, opts.wait, &opts.layout).unwrap_err().to_string();
    assert!(err.contains("agent.log"), "{err}");
}

#[test]
fn acls_keep_the_key_to_the_service_and_the_administrators() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = DataLayout::new(tmp.path());
    // Without a key yet: the directory rules only.
    let plan = acl_plan(&layout, Account::Virtual);
    assert_eq!(plan.len(), 3);
    assert_eq!(
        plan[0].args,
        [
            "/inheritance:r",
            "/grant:r",
            "*S-1-5-18:(OI)(CI)F",
            "*S-1-5-32-544:(OI)(CI)F",
            r"NT SERVICE\rblfleet-agent:(OI)(CI)RX"
        ]
    );
    assert_eq!(
        plan[1],
        AclRule { path: layout.outbox(), args: vec!["/grant:r".into(), r"NT SERVICE\rblfleet-agent:(OI)(CI)M".into()] }
    );
    std::fs::write(layout.key(), "key").unwrap();
    let plan = acl_plan(&layout, Account::Virtual);
    assert_eq!(
        plan.last().unwrap(),
        &AclRule {
            path: layout.key(),
            args: ["/inheritance:r", "/grant:r", "*S-1-5-18:F", "*S-1-5-32-544:F", r"NT SERVICE\rblfleet-agent:R"]
                .map(String::from)
                .to_vec()
        }
    );
    // LocalSystem is SYSTEM: no separate grant.
    let system = acl_plan(&layout, Account::LocalSystem);
    assert_eq!(system.len(), 2);
    assert!(system.iter().all(|r| !r.args.iter().any(|a| a.contains("NT SERVICE"))));
    assert_eq!(acl_plan(&layout, Account::LocalService)[1].args[1], "*S-1-5-19:(OI)(CI)M");
}
