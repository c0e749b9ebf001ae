#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::time::Duration;

use super::*;

const MINIMAL: &str = r#"
    [controller]
    url = "https://controller.example.net:7443"
    ca = "/etc/rblfleet/ca.crt"
    cert = "/etc/rblfleet/agent.crt"
    key = "/etc/rblfleet/agent.key"
"#;

fn err(text: &str) -> String {
    Config::from_toml_str(text).unwrap_err().to_string()
}

#[test]
fn minimal_config_gets_defaults() {
    let c = Config::from_toml_str(MINIMAL).unwrap();
    assert_eq!(c.host_id, None);
    assert_eq!(c.controller.timeout, Duration::from_secs(10));
    assert_eq!(c.report.interval, Duration::from_secs(60));
    assert_eq!(c.outbox.dir, PathBuf::from("/var/lib/rblfleet-agent"));
    assert_eq!(c.outbox.max_reports, 10_080);
    assert_eq!(c.retry.initial, Duration::from_secs(1));
    assert_eq!(c.retry.max, Duration::from_secs(300));
    assert_eq!(c.ips, IpsConfig::default());
    assert_eq!(c.controller.effective_server_name().unwrap(), "controller.example.net");
}

#[test]
fn example_file_parses_and_matches_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/agent.example.toml");
    let c = Config::load(&path).unwrap();
    let d = Config::from_toml_str(MINIMAL).unwrap();
    assert_eq!(c.report, d.report);
    assert_eq!(c.outbox, d.outbox);
    assert_eq!(c.retry, d.retry);
    assert_eq!(c.controller.timeout, d.controller.timeout);
    assert_eq!(c.logs, d.logs);
    assert_eq!(c.queue, d.queue);
    assert_eq!(c.sources, d.sources);
    assert_eq!(c.domains, d.domains);
}

/// Every key of the sections the agent reads is documented in the example,
/// commented out with its default: uncommenting any of them changes nothing.
#[test]
fn example_file_shows_every_key_with_its_default() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/agent.example.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let evidence = &text[text.find("\n[logs]").unwrap()..];
    let uncommented: String = evidence
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest)
                if rest
                    .split_once(" = ")
                    .is_some_and(|(k, _)| k.chars().all(|c| c.is_ascii_lowercase() || c == '_')) =>
            {
                rest
            }
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let c = Config::from_toml_str(&format!("{MINIMAL}{uncommented}")).unwrap();
    let d = Config::from_toml_str(MINIMAL).unwrap();
    assert_eq!((c.logs, c.queue, c.sources, c.domains), (d.logs, d.queue, d.sources, d.domains));
    for key in [
        "paths",
        "journald",
        "poll_interval",
        "max_lines_per_poll",
        "read_existing",
        "journalctl",
        "journal_matches",
        "mta",
        "postqueue",
        "qmail_qstat",
        "qmail_qread",
        "postfix_spool",
        "mailenable_root",
        "passwd",
        "top_sources",
        "max_tracked_messages",
        "enabled",
        "sources",
        "static",
        "plesk",
        "plesk_snapshot",
        "plesk_snapshot_max_age",
        "postfix_map",
        "qmail_virtualdomains",
        "qmail_rcpthosts",
        "mailenable_domains",
        "vhosts_dir",
        "refresh",
        "max",
    ] {
        assert!(text.contains(&format!("# {key} = ")), "{key} is not documented");
    }
}

#[test]
fn evidence_sections_are_checked() {
    let e = err(&format!("{MINIMAL}\n[sources]\ntop_sources = 5000\n"));
    assert!(e.contains("sources.top_sources") && e.contains("1000"), "{e}");
    let e = err(&format!("{MINIMAL}\n[sources]\nmax_tracked_messages = 10\n"));
    assert!(e.contains("sources.max_tracked_messages"), "{e}");
    let e = err(&format!("{MINIMAL}\n[logs]\nmax_lines_per_poll = 0\n"));
    assert!(e.contains("logs.max_lines_per_poll"), "{e}");
    let e = err(&format!("{MINIMAL}\n[queue]\nmta = \"exim\"\n"));
    assert!(e.contains("mta"), "{e}");
}

#[test]
fn domains_section_defaults_and_checks() {
    let c = Config::from_toml_str(MINIMAL).unwrap();
    assert!(c.domains.enabled);
    assert_eq!(c.domains.sources, DomainSource::ALL);
    assert_eq!(c.domains.refresh, Duration::from_secs(600));
    assert_eq!(c.domains.max, 10_000);
    assert_eq!(c.domains.vhosts_dir, PathBuf::from("/var/www/vhosts"));
    let c = Config::from_toml_str(&format!(
        "{MINIMAL}\n[domains]\nsources = [\"static\", \"vhosts\"]\nstatic = [\"bücher.example\"]\nmax = 5\n"
    ))
    .unwrap();
    assert_eq!(c.domains.sources, [DomainSource::Static, DomainSource::Vhosts]);
    for (section, key) in [
        ("max = 0", "domains.max"),
        ("max = 20001", "domains.max"),
        ("refresh = \"0s\"", "domains.refresh"),
        ("timeout = \"0s\"", "domains.timeout"),
        ("plesk_snapshot_max_age = \"0s\"", "domains.plesk_snapshot_max_age"),
        ("sources = [\"plesk\", \"plesk\"]", "domains.sources"),
        ("static = [\"localhost\"]", "domains.static"),
    ] {
        let e = err(&format!("{MINIMAL}\n[domains]\n{section}\n"));
        assert!(e.starts_with("<string>: ") && e.contains(key), "{section}: {e}");
    }
    let e = err(&format!("{MINIMAL}\n[domains]\nsources = [\"cpanel\"]\n"));
    assert!(e.contains("domains.sources") && e.contains("cpanel"), "{e}");
    let e = err(&format!("{MINIMAL}\n[domains]\nstatic = [\"a b.example\"]\n"));
    assert!(e.contains("\"a b.example\" is not a domain name: it contains ' '"), "{e}");
}

#[test]
fn relative_log_and_passwd_paths_follow_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.toml");
    std::fs::write(
        &path,
        format!(
            "{MINIMAL}\n[logs]\npaths = [\"mail.log\"]\n[sources]\npasswd = \"passwd\"\n\
             [domains]\nvhosts_dir = \"vhosts\"\npostfix_map = \"/etc/map\"\n"
        ),
    )
    .unwrap();
    let c = Config::load(&path).unwrap();
    assert_eq!(c.logs.paths, [dir.path().join("mail.log")]);
    assert_eq!(c.sources.passwd, dir.path().join("passwd"));
    assert_eq!(c.domains.vhosts_dir, dir.path().join("vhosts"));
    assert_eq!(c.domains.postfix_map, PathBuf::from("/etc/map"));
}

#[test]
fn a_plesk_snapshot_is_off_when_absent_or_empty_and_follows_the_config_file() {
    let d = Config::from_toml_str(MINIMAL).unwrap();
    assert_eq!((d.domains.plesk_snapshot, d.domains.plesk_snapshot_max_age), (None, Duration::from_secs(3600)));
    let empty = Config::from_toml_str(&format!("{MINIMAL}\n[domains]\nplesk_snapshot = \"\"\n")).unwrap();
    assert_eq!(empty.domains.plesk_snapshot, None);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.toml");
    std::fs::write(
        &path,
        format!("{MINIMAL}\n[domains]\nplesk_snapshot = \"p.tsv\"\nplesk_snapshot_max_age = \"2h\"\n"),
    )
    .unwrap();
    let c = Config::load(&path).unwrap();
    assert_eq!(c.domains.plesk_snapshot, Some(dir.path().join("p.tsv")));
    assert_eq!(c.domains.plesk_snapshot_max_age, Duration::from_secs(7200));
}

#[test]
fn full_config_parses() {
    let c = Config::from_toml_str(&format!(
        "host_id = \"web07.example.net\"\n{MINIMAL}\nserver_name = \"ctl\"\n\
         timeout = \"3s\"\n[report]\ninterval = \"2m 30s\"\n[outbox]\ndir = \"/tmp/x\"\n\
         max_reports = 5\n[retry]\ninitial = \"250ms\"\nmax = \"1m\"\n[ips]\n\
         exclude = [\"docker0\", \"10.0.0.9\"]\nstatic = [\"203.0.113.9\"]\n\
         sending = [\"203.0.113.5\"]\n[[ips.nat]]\nprivate = \"10.0.0.5\"\n\
         public = \"203.0.113.5\"\n"
    ))
    .unwrap();
    assert_eq!(c.host_id.as_deref(), Some("web07.example.net"));
    assert_eq!(c.report.interval, Duration::from_secs(150));
    assert_eq!(c.retry.initial, Duration::from_millis(250));
    assert_eq!(c.ips.nat.len(), 1);
    assert_eq!(c.ips.static_addrs, vec!["203.0.113.9".parse::<IpAddr>().unwrap()]);
    assert_eq!(c.controller.effective_server_name().unwrap(), "ctl");
}

#[test]
fn unknown_key_is_named() {
    let e = err(&format!("{MINIMAL}\n[report]\nintervall = \"30s\"\n"));
    assert!(e.starts_with("<string>:"), "{e}");
    assert!(e.contains("intervall"), "{e}");
}

#[test]
fn bad_value_is_named() {
    let e = err(&format!("{MINIMAL}\n[report]\ninterval = \"soon\"\n"));
    assert!(e.contains("interval"), "{e}");
    let e = err(&format!("{MINIMAL}\n[ips]\nstatic = [\"not-an-ip\"]\n"));
    assert!(e.contains("static"), "{e}");
}

#[test]
fn missing_url_and_tls_files_are_named() {
    assert!(err("[controller]\nca = \"x\"\n").contains("url"));
    let e = err("[controller]\nurl = \"https://c:1\"\ncert = \"c\"\nkey = \"k\"\n");
    assert!(e.contains("controller.ca"), "{e}");
}

#[test]
fn validation_errors_name_the_key() {
    let e = err(&format!("{MINIMAL}\n[retry]\ninitial = \"1m\"\nmax = \"1s\"\n"));
    assert!(e.contains("retry.max"), "{e}");
    let e = err(&format!("{MINIMAL}\n[outbox]\nmax_reports = 0\n"));
    assert!(e.contains("outbox.max_reports"), "{e}");
    let e = err(&format!("{MINIMAL}\n[report]\ninterval = \"0s\"\n"));
    assert!(e.contains("report.interval"), "{e}");
    let e = err("[controller]\nurl = \"ftp://c\"\n");
    assert!(e.contains("controller.url"), "{e}");
}

#[test]
fn host_id_follows_the_controllers_rule() {
    for (id, why) in [
        ("", "must not be empty"),
        ("web 07", "contains ' '"),
        ("web07/mail", "contains '/'"),
        ("hôte.example", "contains 'ô'"),
        ("-web07", "must not start with '.' or '-'"),
    ] {
        let e = err(&format!("host_id = {id:?}\n{MINIMAL}"));
        assert!(e.contains("host_id") && e.contains("the controller accepts") && e.contains(why), "{id:?}: {e}");
    }
    let e = err(&format!("host_id = \"{}\"\n{MINIMAL}", "x".repeat(254)));
    assert!(e.contains("254 bytes long; the limit is 253"), "{e}");
    for id in ["web07", "WEB07.example.net", "mx_1-b"] {
        let c = Config::from_toml_str(&format!("host_id = {id:?}\n{MINIMAL}")).unwrap();
        assert_eq!(c.host_id.as_deref(), Some(id));
    }
}

#[test]
fn load_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, "[controller]\nurl = 7\n").unwrap();
    let e = Config::load(&path).unwrap_err().to_string();
    assert!(e.contains("agent.toml") && e.contains("url"), "{e}");
    let e = Config::load(dir.path().join("missing.toml")).unwrap_err();
    assert!(e.to_string().contains("missing.toml"));
}

#[test]
fn url_parsing() {
    let parse = |url: &str| parse_url(url, "controller.url".into());
    let u = parse("http://[::1]:7443/").unwrap();
    assert!(!u.tls && u.host == "::1" && u.is_loopback());
    assert!(parse("http://localhost:1").unwrap().is_loopback());
    assert!(parse("http://127.0.0.2").unwrap().is_loopback());
    assert!(!parse("https://10.0.0.1:1").unwrap().is_loopback());
    assert!(parse("https://:7443").is_err());
    assert!(parse("https://host:port").is_err());
    assert!(parse("host:7443").is_err());
}

#[test]
fn insecure_rules() {
    let with_url = |url: &str| Config::from_toml_str(&format!("[controller]\nurl = \"{url}\"\n")).unwrap();
    let local = with_url("http://127.0.0.1:7443");
    assert!(local.check_transport(true).is_ok());
    assert!(local.check_transport(false).is_err());
    let remote = with_url("http://controller.example.net:7443");
    let e = remote.check_transport(true).unwrap_err().to_string();
    assert!(e.contains("loopback"), "{e}");
    let tls = Config::from_toml_str(MINIMAL).unwrap();
    assert!(tls.check_transport(false).is_ok());
    assert!(tls.check_transport(true).is_err());
}

#[test]
fn load_resolves_relative_paths_against_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.toml");
    std::fs::write(
        &path,
        "[controller]\nurl = \"https://c:1\"\nca = \"ca.crt\"\ncert = \"/abs/agent.crt\"\n\
         key = \"keys/agent.key\"\n[outbox]\ndir = \"spool\"\n",
    )
    .unwrap();
    let c = Config::load(&path).unwrap();
    assert_eq!(c.controller.ca.unwrap(), dir.path().join("ca.crt"));
    assert_eq!(c.controller.cert.unwrap(), PathBuf::from("/abs/agent.crt"));
    assert_eq!(c.controller.key.unwrap(), dir.path().join("keys/agent.key"));
    assert_eq!(c.outbox.dir, dir.path().join("spool"));
}

mod urls;
