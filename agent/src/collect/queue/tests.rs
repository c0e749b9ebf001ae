#![allow(clippy::unwrap_used)]

use super::*;

#[test]
fn config_defaults_and_unknown_keys() {
    let config: QueueConfig = toml::from_str("").unwrap();
    assert_eq!(config, QueueConfig::default());
    assert_eq!(config.timeout, Duration::from_secs(10));
    let config: QueueConfig = toml::from_str("mta = \"qmail\"\ntimeout = \"3s\"").unwrap();
    assert_eq!((config.mta, config.timeout), (MtaSetting::Qmail, Duration::from_secs(3)));
    let err = toml::from_str::<QueueConfig>("mta = \"exim\"").unwrap_err().to_string();
    assert!(err.contains("exim"), "{err}");
    let err = toml::from_str::<QueueConfig>("postqeue = \"/x\"").unwrap_err().to_string();
    assert!(err.contains("unknown field `postqeue`"), "{err}");
}

#[test]
fn detection() {
    let dir = tempfile::tempdir().unwrap();
    let present = dir.path().join("present");
    std::fs::write(&present, "").unwrap();
    let absent = dir.path().join("absent");
    let config = |mta, postqueue: &Path, qstat: &Path| QueueConfig {
        mta,
        postqueue: postqueue.to_path_buf(),
        qmail_qstat: qstat.to_path_buf(),
        mailenable_root: absent.clone(),
        ..QueueConfig::default()
    };
    let kind = |c: &QueueConfig| {
        let (kind, collector) = detect(c);
        (kind, collector.map(|c| c.name()))
    };
    assert_eq!(kind(&config(MtaSetting::Auto, &present, &present)), (MtaKind::Postfix, Some("queue")));
    assert_eq!(kind(&config(MtaSetting::Auto, &absent, &present)), (MtaKind::Qmail, Some("queue")));
    assert_eq!(kind(&config(MtaSetting::Auto, &absent, &absent)), (MtaKind::None, None));
    // A configured MTA gets its collector even without its tools.
    assert_eq!(kind(&config(MtaSetting::Postfix, &absent, &absent)), (MtaKind::Postfix, Some("queue")));
    assert_eq!(kind(&config(MtaSetting::Mailenable, &absent, &absent)), (MtaKind::Mailenable, Some("queue")));
    assert_eq!(kind(&config(MtaSetting::None, &present, &present)), (MtaKind::None, None));
}

#[test]
fn programs_are_found_by_path_or_name() {
    let dir = tempfile::tempdir().unwrap();
    let tool = dir.path().join("tool");
    std::fs::write(&tool, "").unwrap();
    assert_eq!(find_program(&tool), Some(tool.clone()));
    assert_eq!(find_program(&dir.path().join("nope")), None);
    assert!(find_program(Path::new("sh")).is_some());
    assert_eq!(find_program(Path::new("rblfleet-no-such-tool")), None);
}

#[test]
fn the_top_counter_keeps_heavy_hitters_in_bounded_memory() {
    let mut top = TopCounter::default();
    for _ in 0..50 {
        top.add("heavy@example.com");
    }
    for i in 0..(TopCounter::MAX_DISTINCT * 3) {
        top.add(&format!("once{i}@example.com"));
        if i % 1000 == 0 {
            top.add("second@example.com");
        }
    }
    assert!(top.counts.len() <= TopCounter::MAX_DISTINCT);
    let best = top.top(2);
    assert_eq!((best[0].name.as_str(), best[0].count), ("heavy@example.com", 50));
    assert_eq!(best[1].name, "second@example.com");
}
