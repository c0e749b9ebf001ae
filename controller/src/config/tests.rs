#![allow(clippy::unwrap_used)]

use super::*;

const EXAMPLE: &str = include_str!("../../../deploy/controller.example.toml");

/// The documented example must parse, and must document the real defaults.
#[test]
fn example_file_documents_the_defaults() {
    let example = Config::from_toml_str(EXAMPLE).unwrap();
    let default = Config::default();
    assert_eq!(format!("{:?}", example.agent_api), format!("{:?}", default.agent_api));
    assert_eq!(format!("{:?}", example.admin_api), format!("{:?}", default.admin_api));
    assert_eq!(format!("{:?}", example.limits), format!("{:?}", default.limits));
    assert_eq!(format!("{:?}", example.store), format!("{:?}", default.store));
    assert_eq!(example.data_dir, default.data_dir);
    assert_eq!(format!("{:?}", example.dnsbl), format!("{:?}", default.dnsbl));
    assert_eq!(format!("{:?}", example.receivers), format!("{:?}", default.receivers));
    assert_eq!(format!("{:?}", example.retention), format!("{:?}", default.retention));
    assert_eq!(format!("{:?}", example.metrics), format!("{:?}", default.metrics));
    example.check(false).unwrap();
}

#[test]
fn typos_and_exposed_admin_api_are_refused() {
    let err = Config::from_toml_str("[agent_api]\nlisten_addr = \"0.0.0.0:1\"").unwrap_err();
    assert!(err.contains("listen_addr"), "{err}");
    let mut config = Config::from_toml_str("[admin_api]\nlisten = \"0.0.0.0:7444\"").unwrap();
    config.tls = Tls { ca: "a".into(), cert: "b".into(), key: "c".into(), ..Tls::default() };
    assert!(config.check(false).unwrap_err().contains("require_cert"));
    assert!(config.check(true).unwrap_err().contains("--insecure only listens on loopback"));
    config.admin_api.require_cert = true;
    config.check(false).unwrap();
}

#[test]
fn load_names_the_file_and_resolves_relative_paths() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "data_dir = \"data\"\n[tls]\nca = \"ca.crt\"\ncert = \"c.crt\"\nkey = \"c.key\"\n").unwrap();
    let config = Config::load(&path, false).unwrap();
    assert_eq!(config.data_dir, dir.path().join("data"));
    std::fs::write(&path, "data_dir = 5").unwrap();
    let err = Config::load(&path, false).unwrap_err().to_string();
    assert!(err.starts_with(&path.display().to_string()) && err.contains("data_dir"), "{err}");
}

/// A config that passes `check(false)` once prefixed to `extra`.
fn with(extra: &str) -> String {
    format!("[tls]\nca = \"a\"\ncert = \"b\"\nkey = \"c\"\n{extra}")
}

/// Loads `text` from a file; the error text, which must name the file.
fn load_error(dir: &Path, text: &[u8]) -> String {
    let path = dir.join("controller.toml");
    std::fs::write(&path, text).unwrap();
    let err = Config::load(&path, false).map(|_| ()).unwrap_err().to_string();
    assert!(err.starts_with(&path.display().to_string()), "{err}");
    err
}

#[test]
fn parse_errors_give_line_column_and_key_but_not_the_line() {
    let err = Config::from_toml_str("[dnsbl]\nretries = 1\ntimeout = 5\n").unwrap_err();
    assert!(err.starts_with("line 3, column 11 (dnsbl.timeout): invalid type"), "{err}");
    let err = Config::from_toml_str("[dnsbl.catalog.zone.spamhaus-zen-dqs]\nkey = \"s3cret\" trailing\n").unwrap_err();
    assert!(err.starts_with("line 2, column 16 (dnsbl.catalog.zone.spamhaus-zen-dqs.key): "), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
    let err = Config::from_toml_str("[[dnsbl.catalog.extra]]\nid = 1\n").unwrap_err();
    assert!(err.contains("(dnsbl.catalog.extra.id)"), "{err}");
}

#[test]
fn a_file_that_is_not_utf8_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_error(dir.path(), b"data_dir = \"/srv\"\n[tls]\nca = \"caf\xe9.crt\"\n");
    assert!(err.ends_with("line 3, column 10: not UTF-8 text (save the file as UTF-8)"), "{err}");
}

/// Values that parse but would make the daemon spin, overflow or allocate
/// without bound are refused, each naming its key.
#[test]
fn hostile_values_are_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let max = "9223372036854775807";
    let zone = "z".repeat(300);
    let cases: Vec<(String, &str)> = vec![
        ("[dnsbl]\ntimeout = \"-5s\"".into(), "dnsbl.timeout"),
        ("[dnsbl]\ntimeout = \"0s\"".into(), "dnsbl.timeout"),
        ("[dnsbl]\ntimeout = \"100years\"".into(), "dnsbl.timeout"),
        ("[dnsbl]\ntimeout = \"99999999999999999999years\"".into(), "dnsbl.timeout"),
        ("[dnsbl]\ntimeout = \"\"".into(), "dnsbl.timeout"),
        ("[dnsbl]\ntimeout = \"1s\"\ntimeout = \"2s\"".into(), "timeout"),
        ("[dnsbl]\nconcurrency = 18446744073709551616".into(), "dnsbl.concurrency"),
        (format!("[dnsbl]\nconcurrency = {max}"), "dnsbl.concurrency"),
        ("[dnsbl]\nconcurrency = -1".into(), "dnsbl.concurrency"),
        ("[dnsbl]\nconcurrency = 0".into(), "dnsbl.concurrency"),
        ("[dnsbl]\nretries = 1000000".into(), "dnsbl.retries"),
        ("[dnsbl]\nclean_interval = \"0s\"".into(), "dnsbl.clean_interval"),
        ("[dnsbl]\nprobe_interval = \"1000years\"".into(), "dnsbl.probe_interval"),
        ("[dnsbl]\nerror_retry_min = \"3h\"".into(), "dnsbl.error_retry_max"),
        ("[dnsbl]\nclear_after = 0".into(), "dnsbl.clear_after"),
        ("[dnsbl]\nnameservers = [\"\"]".into(), "dnsbl.nameservers"),
        ("[dnsbl]\nnameservers = [\"256.1.1.1\"]".into(), "dnsbl.nameservers"),
        ("[dnsbl]\nnameservers = \"127.0.0.1\"".into(), "dnsbl.nameservers"),
        (format!("[store]\ncache_mib = {max}"), "store.cache_mib"),
        (format!("[store]\nmax_pending_reports = {max}"), "store.max_pending_reports"),
        (format!("[store]\nmin_free_mib = {max}"), "store.min_free_mib"),
        (format!("[limits]\nmax_report_bytes = {max}"), "limits.max_report_bytes"),
        ("[limits]\nmax_report_age = \"1000000years\"".into(), "limits.max_report_age"),
        ("[retention]\nprune_every = \"0s\"".into(), "retention.prune_every"),
        (format!("[alerts]\nqueue_size = {max}"), "alerts.queue_size"),
        ("[alerts]\npoll_interval = \"0s\"".into(), "alerts.poll_interval"),
        ("data_dir = \"\"".into(), "data_dir"),
        ("[agent_api]\nlisten = \"127.0.0.1:99999\"".into(), "agent_api.listen"),
        ("[dnsbl.catalog.zone.spamhaus-zen-dqs]\nkey = \"\"".into(), "spamhaus-zen-dqs"),
        ("[dnsbl.catalog.zone.spamhaus-zen]\nper_second = 1e-300".into(), "per_second"),
        ("[dnsbl.catalog.zone.spamhaus-zen]\nper_second = inf".into(), "per_second"),
        ("[dnsbl.catalog.zone.spamhaus-zen]\nper_second = nan".into(), "per_second"),
        ("[dnsbl.catalog.zone.spamhaus-zen]\nper_day = -1".into(), "per_day"),
        (format!("[dnsbl.catalog.zone.{zone}]\nenabled = true"), "no zone has the id"),
        ("[dnsbl.catalog]\nfile = \"missing.toml\"".into(), "missing.toml"),
        ("[dnsbl.catalog.zone.\"\"]\nenabled = true".into(), "no zone has the id"),
    ];
    for (extra, key) in cases {
        let err = load_error(dir.path(), with(&extra).as_bytes());
        assert!(err.contains(key), "{extra:?} → {err}");
    }
}

/// Every prefix of the documented example: a config (the defaults fill the
/// rest) or an error with its line; never a panic.
#[test]
fn every_truncation_of_the_example_is_a_config_or_a_located_error() {
    let bytes = EXAMPLE.as_bytes();
    let mut errors = 0;
    for end in 0..=bytes.len() {
        let result = utf8_text(&bytes[..end]).and_then(Config::from_toml_str);
        match result {
            Ok(config) => {
                let _ = config.check(false);
                let _ = config.store.options();
            }
            Err(message) => {
                errors += 1;
                assert!(message.starts_with("line "), "at {end}: {message}");
            }
        }
    }
    assert!(errors > 100, "only {errors} truncations failed to parse");
}

/// Random byte-level damage to the example: never a panic; every error
/// names a line or a key.
#[test]
fn mutated_examples_never_panic() {
    let mut seed = 11_u64;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let inserts: [&[u8]; 8] = [b"\xff", "€".as_bytes(), b"\0", b"\r", b"=", b"[", b"\"", b"99999999999999999999"];
    for _ in 0..3000 {
        let mut b = EXAMPLE.as_bytes().to_vec();
        for _ in 0..1 + next(3) {
            let at = next(b.len().max(1)).min(b.len());
            match next(3) {
                0 if at < b.len() => b[at] = next(256) as u8,
                1 => b.truncate(at),
                _ => b.splice(at..at, inserts[next(inserts.len())].iter().copied()).for_each(drop),
            }
        }
        match utf8_text(&b).and_then(Config::from_toml_str) {
            Ok(config) => {
                if let Err(message) = config.check(false) {
                    assert!(message.contains('.') || message.contains('_'), "{message}");
                }
            }
            Err(message) => assert!(message.starts_with("line "), "{message}"),
        }
    }
}
