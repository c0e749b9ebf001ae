#![allow(clippy::unwrap_used)]

use super::*;

#[test]
fn config_defaults_and_unknown_keys() {
    let config: LogsConfig = toml::from_str("").unwrap();
    assert_eq!(config, LogsConfig::default());
    assert_eq!(config.poll_interval, Duration::from_secs(1));
    assert_eq!(config.journal_matches, ["SYSLOG_FACILITY=2"]);
    let config: LogsConfig =
        toml::from_str("paths = [\"/var/log/maillog\"]\njournald = \"never\"\npoll_interval = \"250ms\"").unwrap();
    assert_eq!(config.journald, JournaldMode::Never);
    assert_eq!(config.poll_interval, Duration::from_millis(250));
    let err = toml::from_str::<LogsConfig>("path = \"/x\"").unwrap_err().to_string();
    assert!(err.contains("unknown field `path`"), "{err}");
    let err = toml::from_str::<LogsConfig>("journald = \"sometimes\"").unwrap_err().to_string();
    assert!(err.contains("sometimes"), "{err}");
}

#[test]
fn the_plan_prefers_configured_then_existing_files_then_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let maillog = dir.path().join("maillog");
    let mail_log = dir.path().join("mail.log");
    let defaults = [maillog.clone(), mail_log.clone()];
    let mut config = LogsConfig::default();

    assert_eq!(plan_with_defaults(&config, &defaults).unwrap(), SourcePlan::Journal);
    config.journald = JournaldMode::Never;
    let err = plan_with_defaults(&config, &defaults).unwrap_err().to_string();
    assert!(err.contains("maillog") && err.contains("mail.log"), "{err}");

    std::fs::write(&mail_log, "").unwrap();
    assert_eq!(plan_with_defaults(&config, &defaults).unwrap(), SourcePlan::Files(vec![mail_log.clone()]));
    std::fs::write(&maillog, "").unwrap();
    assert_eq!(plan_with_defaults(&config, &defaults).unwrap(), SourcePlan::Files(vec![maillog.clone()]));

    config.paths = vec![dir.path().join("custom.log")];
    assert_eq!(plan_with_defaults(&config, &defaults).unwrap(), SourcePlan::Files(config.paths.clone()));
    config.journald = JournaldMode::Always;
    assert_eq!(plan_with_defaults(&config, &defaults).unwrap(), SourcePlan::Journal);
}

#[test]
fn sources_poll_and_commit_together() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.log");
    let b = dir.path().join("b.log");
    std::fs::write(&a, "a1\na2\n").unwrap();
    std::fs::write(&b, "b1\n").unwrap();
    let store = Checkpoints::open_dir(&dir.path().join("state")).unwrap();
    let config = LogsConfig { paths: vec![a.clone(), b], read_existing: true, ..LogsConfig::default() };
    let mut sources = LogSources::open(&config, &store).unwrap();
    assert_eq!(sources.sources().len(), 2);
    let mut got = Vec::new();
    let (stats, errors) = sources.poll(&mut |l| got.push(l.to_string()));
    assert!(errors.is_empty());
    assert_eq!((got, stats.lines, stats.bytes), (vec!["a1".to_string(), "a2".into(), "b1".into()], 3, 9));
    sources.commit().unwrap();
    assert_eq!(store.load_file(&a).unwrap().unwrap().offset, 6);
}
