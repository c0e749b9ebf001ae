//! `[alerts]` parsing and validation: errors name the key.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use super::{AlertsConfig, RouteKind, SmtpTls};
use crate::alerts::event::Severity;

fn parse(text: &str) -> Result<AlertsConfig, String> {
    toml::from_str::<AlertsConfig>(text).map_err(|e| e.to_string())
}

fn check(text: &str) -> String {
    parse(text).unwrap().check().unwrap_err()
}

#[test]
fn a_full_section_parses() {
    let config = parse(
        r#"
poll_interval = "10s"
window = "2m"
[thresholds]
case_waiting = "3d"
queue_messages = 2000
silent_intervals = 5
[retry]
attempts = 3
initial = "1s"
max = "30s"
[smtp]
host = "smtp.example.net"
port = 465
tls = "tls"
username = "rblfleet"
password_file = "/etc/rblfleet/smtp.password"
[[route]]
name = "chat"
kind = "slack"
url = "https://hooks.example.net/services/T/B/X"
min_severity = "warning"
lists = ["spamhaus-zen"]
hosts = ["web*.example.net"]
[[route]]
name = "noc-mail"
kind = "email"
from = "rblfleet <rblfleet@example.net>"
to = ["noc@example.net"]
"#,
    )
    .unwrap();
    config.check().unwrap();
    assert_eq!((config.poll_interval, config.window), (Duration::from_secs(10), Duration::from_secs(120)));
    assert_eq!(config.thresholds.case_waiting, Duration::from_secs(3 * 86_400));
    assert_eq!(config.smtp.as_ref().unwrap().tls, SmtpTls::Tls);
    assert_eq!((config.route[0].kind, config.route[0].min_severity), (RouteKind::Slack, Severity::Warning));
    assert_eq!(config.route[1].min_severity, Severity::Info, "default: everything");
    assert!(!format!("{:?}", config.smtp).contains("secret"));
}

#[test]
fn the_default_is_valid_and_has_no_routes() {
    let config = AlertsConfig::default();
    config.check().unwrap();
    assert!(config.route.is_empty());
}

#[test]
fn mistakes_are_named() {
    assert!(parse("[[route]]\nname = \"a\"\nkind = \"pager\"\nurl = \"http://x/\"").unwrap_err().contains("pager"));
    assert!(parse("windw = \"1s\"").unwrap_err().contains("windw"));
    assert!(parse("[[route]]\nname = \"a\"\nkind = \"slack\"\nurl = \"http://x/\"\nmin_severity = \"high\"").is_err());
    let hook = |extra: &str| format!("[[route]]\nname = \"a\"\nkind = \"webhook\"\n{extra}");
    assert_eq!(check(&hook("")), "alerts.route[0].url is not set");
    assert!(check(&hook("url = \"ftp://x/\"")).starts_with("alerts.route[0].url must be an http"));
    let secret_url = check(&hook("url = \"not a url with token S3CR3T\""));
    assert!(secret_url.starts_with("alerts.route[0].url") && !secret_url.contains("S3CR3T"), "{secret_url}");
    let twice = format!("{}\n{}", hook("url = \"http://x/\""), hook("url = \"http://y/\""));
    assert!(check(&twice).contains("alerts.route[1].name = \"a\" is used by another route"));
    let mail = "[[route]]\nname = \"m\"\nkind = \"email\"\nfrom = \"a@example.net\"\nto = [\"b@example.net\"]";
    assert!(check(mail).contains("[alerts.smtp] is not set"));
    let smtp = "[smtp]\nhost = \"relay.example.net\"\n";
    assert!(
        check(&format!("{smtp}{}", mail.replace("b@example.net", "not an address"))).contains("alerts.route[0].to")
    );
    assert!(check(&format!("{smtp}username = \"u\"\n{mail}")).contains("alerts.smtp.password_file"));
    let clear = format!("{smtp}tls = \"none\"\nusername = \"u\"\npassword_file = \"/p\"\n");
    assert!(check(&clear).contains("alerts.smtp.tls = \"none\""));
    let local = "[smtp]\nhost = \"127.0.0.1\"\ntls = \"none\"\nusername = \"u\"\npassword_file = \"/p\"\n";
    parse(local).unwrap().check().unwrap();
    assert!(check("retry = { attempts = 0 }").contains("alerts.retry.attempts"));
    assert!(check("poll_interval = \"0s\"").contains("alerts.poll_interval"));
}

#[test]
fn the_password_file_is_read_and_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("smtp.password");
    std::fs::write(&path, "hunter2\n").unwrap();
    let text = format!("[smtp]\nhost = \"relay\"\nusername = \"u\"\npassword_file = \"{}\"\n", path.display());
    let config = parse(&text).unwrap();
    let smtp = config.smtp.as_ref().unwrap();
    assert_eq!(smtp.password().unwrap().as_deref(), Some("hunter2"));
    assert!(!format!("{config:?}").contains("hunter2"));
    std::fs::write(&path, "\n").unwrap();
    assert!(smtp.password().unwrap_err().contains("is empty"));
    let missing = parse("[smtp]\nhost = \"relay\"\nusername = \"u\"\npassword_file = \"/nonexistent/p\"\n").unwrap();
    assert!(missing.smtp.unwrap().password().unwrap_err().starts_with("alerts.smtp.password_file /nonexistent/p"));
}

#[test]
fn the_example_config_documents_the_defaults() {
    let example =
        crate::config::Config::from_toml_str(include_str!("../../../../deploy/controller.example.toml")).unwrap();
    assert_eq!(format!("{:?}", example.alerts), format!("{:?}", AlertsConfig::default()));
    let text = include_str!("../../../../deploy/controller.example.toml");
    let start = text.find("[alerts]").unwrap();
    // The commented routes are valid once uncommented (with an SMTP relay).
    let uncommented: String = text[start..]
        .lines()
        .map(|l| l.strip_prefix("# ").filter(|l| l.starts_with('[') || is_setting(l)).unwrap_or(l))
        .map(|l| l.split("   #").next().unwrap_or(l).trim_end())
        .collect::<Vec<_>>()
        .join("\n");
    let wrapped =
        format!("{uncommented}\n").replace("[alerts.", "[").replace("[[alerts.", "[[").replace("[alerts]\n", "");
    let config = parse(&wrapped).unwrap();
    assert_eq!(config.route.len(), 4);
    config.check().unwrap();
}

/// "key = value" with a lowercase key (not a sentence that happens to hold " = ").
fn is_setting(line: &str) -> bool {
    line.split_once(" = ")
        .is_some_and(|(key, _)| !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
}
