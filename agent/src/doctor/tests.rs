//! The agent doctor's rows against files and tools built here; the rows
//! that need a real controller are in `tests/tests/e2e/doctor.rs`.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, SanType};

use super::{Status, cert, controller, local, logs};
use crate::Config;
use crate::collect::queue::{MtaSetting, QueueConfig};
use crate::config::OutboxConfig;

const POSTFIX: &str = "Jun  3 10:40:59 mail postfix/smtp[9890]: 776E41855DB2: to=<invalid.email@example.com>, \
    relay=mx.example.com[11.22.33.44]:25, delay=1.9, delays=0/0/1.5/0.37, dsn=5.1.1, status=bounced \
    (host mx.example.com[11.22.33.44] said: 550 5.1.1 <invalid.email@example.com> User unknown (in reply to RCPT TO command))";

fn lines(line: &str, n: usize) -> Vec<String> {
    vec![line.to_string(); n]
}

#[test]
fn a_postfix_log_is_recognised() {
    let row = logs::judge("log mail.log", &lines(POSTFIX, 50));
    assert_eq!(row.status, Status::Ok, "{row:?}");
    assert!(row.detail.contains("100% of the last 50 lines"), "{row:?}");
    assert!(row.detail.contains("format: Postfix (syslog)"), "{row:?}");
}

#[test]
fn a_log_in_an_unknown_format_is_a_failure() {
    let nginx = "203.0.113.9 - - [03/Jun/2026:10:40:59 +0000] \"GET / HTTP/1.1\" 200 612 \"-\" \"curl/8.0\"";
    let row = logs::judge("log access.log", &lines(nginx, 40));
    assert_eq!(row.status, Status::Failure, "{row:?}");
    assert!(row.detail.contains("0% of the last 40 lines") && row.detail.contains("format: unknown"), "{row:?}");
    assert!(row.fix.contains("rblfleet-agent scan"), "{row:?}");
}

#[test]
fn a_log_the_parsers_half_understand_is_a_warning() {
    let mut mixed = lines(POSTFIX, 8);
    mixed.extend(lines("Jun  3 10:41:00 mail mystery-daemon[1]: something else", 2));
    let row = logs::judge("log mail.log", &mixed);
    assert_eq!(row.status, Status::Warning, "{row:?}");
    assert!(row.fix.contains("mystery-daemon (2 lines)"), "{row:?}");
}

#[test]
fn an_empty_log_is_a_warning_and_a_missing_one_a_failure() {
    assert_eq!(logs::judge("log x", &[]).status, Status::Warning);
    let dir = tempfile::tempdir().unwrap();
    let config = crate::logs::LogsConfig {
        paths: vec![dir.path().join("absent.log")],
        journald: crate::logs::JournaldMode::Never,
        ..Default::default()
    };
    let rows = logs::checks(&config, 100);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, Status::Failure, "{rows:?}");
    assert!(rows[0].detail.contains("cannot read it"), "{rows:?}");
}

#[test]
fn only_the_last_lines_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mail.log");
    // Old lines in an unknown format, then a recognised tail.
    let mut text = "garbage line of another program\n".repeat(500);
    text.push_str(&format!("{POSTFIX}\n").repeat(100));
    std::fs::write(&path, text).unwrap();
    let config = crate::logs::LogsConfig { paths: vec![path], ..Default::default() };
    let rows = logs::checks(&config, 100);
    assert_eq!(rows[0].status, Status::Ok, "{rows:?}");
    assert!(rows[0].detail.contains("of the last 100 lines"), "{rows:?}");
}

#[test]
fn a_missing_queue_tool_is_a_failure() {
    let config = QueueConfig {
        mta: MtaSetting::Postfix,
        postqueue: "/nonexistent/sbin/postqueue".into(),
        postfix_spool: "/nonexistent/spool/postfix".into(),
        ..QueueConfig::default()
    };
    let row = local::queue(&config);
    assert_eq!(row.status, Status::Failure, "{row:?}");
    assert!(row.detail.contains("/nonexistent/sbin/postqueue"), "{row:?}");
    assert!(row.fix.contains("queue.postqueue"), "{row:?}");
}

#[cfg(unix)]
#[test]
fn a_working_queue_tool_is_ok() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let tool = dir.path().join("postqueue");
    let entry = r#"{"queue_name":"deferred","queue_id":"4F9D","arrival_time":1700000000,"message_size":1000,"sender":"a@b.example","recipients":[{"address":"c@d.example","delay_reason":"timeout"}]}"#;
    std::fs::write(&tool, format!("#!/bin/sh\necho '{entry}'\n")).unwrap();
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = QueueConfig { mta: MtaSetting::Postfix, postqueue: tool, ..QueueConfig::default() };
    let row = local::queue(&config);
    assert_eq!(row.status, Status::Ok, "{row:?}");
    assert!(row.detail.contains("1 messages queued"), "{row:?}");
    let none = local::queue(&QueueConfig { mta: MtaSetting::None, ..QueueConfig::default() });
    assert_eq!(none.status, Status::Ok);
}

#[test]
fn passwd_users_map_to_subscriptions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("passwd");
    std::fs::write(&path, "root:x:0:0:root:/root:/bin/bash\nshop:x:10023:1::/var/www/vhosts/shop.example:/bin/false\n")
        .unwrap();
    let row = local::passwd(&path);
    assert_eq!(row.status, Status::Ok, "{row:?}");
    assert!(row.detail.contains("2 users, 1 with a Plesk subscription home"), "{row:?}");
    assert_eq!(local::passwd(&dir.path().join("absent")).status, Status::Warning);
}

#[test]
fn the_outbox_says_how_many_reports_wait_and_since_when() {
    let dir = tempfile::tempdir().unwrap();
    let config = OutboxConfig { dir: dir.path().join("outbox"), max_reports: 100 };
    let none = local::outbox(&config);
    assert_eq!(none.status, Status::Ok);
    assert!(none.detail.contains("none yet"), "{none:?}");
    {
        let mut outbox = crate::store::outbox::Outbox::open(&config.dir, 100).unwrap();
        let two_hours_ago = crate::store::outbox::unix_ms() as i64 - 2 * 3_600_000;
        let mut report = rblfleet_proto::v1::HostReport { period_end_ms: two_hours_ago, ..Default::default() };
        outbox.push(&mut report).unwrap();
    }
    let stale = local::outbox(&config);
    assert_eq!(stale.status, Status::Warning, "{stale:?}");
    assert!(stale.detail.contains("1 reports waiting") && stale.detail.contains("oldest from 2h"), "{stale:?}");
    // The running agent holds the lock: said, not failed.
    let _held = crate::store::outbox::Outbox::open(&config.dir, 100).unwrap();
    let held = local::outbox(&config);
    assert_eq!(held.status, Status::Ok, "{held:?}");
    assert!(held.detail.contains("in use by the running agent"), "{held:?}");
}

#[test]
fn clock_skew_against_the_controllers_limit() {
    assert_eq!(controller::skew(1_000, 300_000).status, Status::Ok);
    assert_eq!(controller::skew(-200_000, 300_000).status, Status::Warning);
    let far = controller::skew(400_000, 300_000);
    assert_eq!(far.status, Status::Failure);
    assert!(far.detail.contains("400.0 s behind") && far.detail.contains("refused"), "{far:?}");
}

#[test]
fn transport_errors_are_named_for_what_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = ca("fleet CA");
    let mut config = config_with(dir.path(), &fleet.pem(), &agent_cert(&fleet, "web07", 400), None);
    config.controller.url = Some("https://ctl.example:7443".into());
    let server_name = config.controller.effective_server_name().unwrap();
    let name = |text: &str| controller::transport_failure("u", text, &server_name, &config.controller).detail;
    assert!(name("invalid peer certificate: UnknownIssuer").contains("not from controller.ca"));
    assert!(name("invalid peer certificate: NotValidForName").contains("does not name \"ctl.example\""));
    assert!(name("received fatal alert: UnknownCA").contains("refuses this host's certificate"));
    assert!(name("received fatal alert: CertificateExpired").contains("expired"));
    assert!(name("tcp connect error: Connection refused (os error 111)").contains("nothing listens"));
    let closed = name("transport error: connection error: stream closed because of a broken pipe");
    assert!(closed.contains("refuses this host's certificate"), "{closed}");
    assert!(name("received corrupt message of type InvalidContentType").contains("does not speak TLS"));
}

// Certificates ------------------------------------------------------------

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// An agent certificate for `host`, valid for `days` from yesterday (may be
/// negative: expired).
fn agent_cert(issuer: &CertifiedIssuer<'static, KeyPair>, host: &str, days: i64) -> (String, String) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, host);
    params.subject_alt_names.push(SanType::URI(format!("urn:rblfleet:agent:{host}").try_into().unwrap()));
    let now = std::time::SystemTime::now();
    let day = std::time::Duration::from_secs(86_400);
    params.not_before = (now - 2 * day).into();
    let shift = day * u32::try_from(days.unsigned_abs()).unwrap();
    params.not_after = if days < 0 { now - shift } else { now + shift }.into();
    let key = KeyPair::generate().unwrap();
    (params.signed_by(&key, issuer).unwrap().pem(), key.serialize_pem())
}

fn config_with(dir: &Path, ca_pem: &str, cert: &(String, String), host_id: Option<&str>) -> Config {
    std::fs::write(dir.join("ca.crt"), ca_pem).unwrap();
    std::fs::write(dir.join("agent.crt"), &cert.0).unwrap();
    std::fs::write(dir.join("agent.key"), &cert.1).unwrap();
    let host = host_id.map(|h| format!("host_id = {h:?}\n")).unwrap_or_default();
    Config::from_toml_str(&format!(
        "{host}[controller]\nurl = \"https://127.0.0.1:7443\"\nca = \"{d}/ca.crt\"\ncert = \"{d}/agent.crt\"\nkey = \"{d}/agent.key\"\n",
        d = dir.display()
    ))
    .unwrap()
}

#[test]
fn a_valid_certificate_names_its_host() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = ca("fleet CA");
    let rows = cert::checks(&config_with(dir.path(), &fleet.pem(), &agent_cert(&fleet, "web07", 400), None), false);
    assert_eq!(rows[0].check, "agent_cert");
    assert_eq!(rows[0].status, Status::Ok, "{rows:?}");
    assert!(rows[0].detail.contains("web07's certificate valid until"), "{rows:?}");
}

#[test]
fn an_expired_certificate_is_a_failure_and_one_near_expiry_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = ca("fleet CA");
    let expired = cert::checks(&config_with(dir.path(), &fleet.pem(), &agent_cert(&fleet, "web07", -1), None), false);
    assert_eq!(expired[0].status, Status::Failure, "{expired:?}");
    assert!(expired[0].detail.contains("expired on"), "{expired:?}");
    assert!(expired[0].fix.contains("rblfleet ca issue --agent"), "{expired:?}");
    let soon = cert::checks(&config_with(dir.path(), &fleet.pem(), &agent_cert(&fleet, "web07", 10), None), false);
    assert_eq!(soon[0].status, Status::Warning, "{soon:?}");
}

#[test]
fn a_certificate_from_another_ca_is_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let (fleet, other) = (ca("fleet CA"), ca("someone else's CA"));
    let rows = cert::checks(&config_with(dir.path(), &fleet.pem(), &agent_cert(&other, "web07", 400), None), false);
    assert_eq!(rows[0].status, Status::Failure, "{rows:?}");
    assert!(rows[0].detail.contains("issued by another CA"), "{rows:?}");
}

#[test]
fn a_host_id_other_than_the_certificates_is_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = ca("fleet CA");
    let config = config_with(dir.path(), &fleet.pem(), &agent_cert(&fleet, "web07", 400), Some("web08"));
    let rows = cert::checks(&config, false);
    assert_eq!(rows[0].status, Status::Failure, "{rows:?}");
    assert!(rows[0].detail.contains("\"web08\"") && rows[0].detail.contains("\"web07\""), "{rows:?}");
}
