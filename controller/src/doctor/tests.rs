//! `rblfleet doctor` against setups built here: a real CA on disk, a real
//! DNS zone server on 127.0.0.1, a configuration file as an operator
//! writes it. Each broken setup must come out as the right row with the
//! right status, and the run with the right exit code.

#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::{Check, Options, Report, Status, run, timed};
use crate::ca::{self, Subject};
use crate::dnsbl::zone_server::ZoneServer;

const V4: fn(u8, u8, u8, u8) -> Ipv4Addr = Ipv4Addr::new;

/// Three test zones: `good` answers its test points, `refusing` answers
/// everything with Spamhaus's "public resolver" code, `allow` is an
/// allowlist (no answer of its is a listing, so no test point proves it).
const CATALOG: &str = r#"
schema = 1
as_of = "2020-01"

[[zone]]
id = "good"
name = "Good test zone"
zone = "good.test"
kind = "ip"
ipv4 = true
enabled = true
budget = { per_second = 1000, per_day = 1000000 }
codes = [{ code = "127.0.0.2", meaning = "test listing" }]
[zone.delist]
kind = "auto_expire"
expiry = "24h"

[[zone]]
id = "refusing"
name = "Zone refusing public resolvers"
zone = "refusing.test"
kind = "ip"
ipv4 = true
enabled = true
blocks_public_resolvers = true
budget = { per_second = 1000, per_day = 1000000 }
codes = [{ code = "127.0.0.2", meaning = "test listing" }]
error_codes = [{ code = "127.255.255.254", meaning = "query came via a public/open resolver" }]
[zone.delist]
kind = "auto_expire"
expiry = "24h"

[[zone]]
id = "allow"
name = "Test allowlist"
zone = "allow.test"
kind = "allow"
ipv4 = true
enabled = true
budget = { per_second = 1000, per_day = 1000000 }
codes = [{ code = "127.0.0.2", meaning = "allowlisted" }]
[zone.delist]
kind = "contact"
"#;

struct Setup {
    dir: tempfile::TempDir,
    dns: ZoneServer,
}

impl Setup {
    async fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        ca::init(&dir.path().join("ca"), "doctor test CA", 365).unwrap();
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        ca::issue(&dir.path().join("ca"), &Subject::Controller { names }, 365, false).unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        std::fs::write(dir.path().join("zones.toml"), CATALOG).unwrap();
        let dns = ZoneServer::start(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        let test_point = |zone: &str, answer: Ipv4Addr| {
            dns.add_zone(zone).unwrap();
            dns.list(zone, IpAddr::V4(V4(127, 0, 0, 2)), &[answer], None).unwrap();
        };
        test_point("good.test", V4(127, 0, 0, 2));
        test_point("allow.test", V4(127, 0, 0, 2));
        test_point("refusing.test", V4(127, 255, 255, 254));
        dns.list("refusing.test", IpAddr::V4(V4(127, 0, 0, 1)), &[V4(127, 255, 255, 254)], None).unwrap();
        Setup { dir, dns }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes the configuration with `zones` enabled (the others off) and
    /// the TLS files from `tls` (a CA directory), and runs the doctor.
    async fn doctor(&self, zones: &[&str], tls: &Path) -> Report {
        self.doctor_via(zones, tls, self.dns.addr()).await
    }

    async fn doctor_via(&self, zones: &[&str], tls: &Path, dns: SocketAddr) -> Report {
        let mut text = format!(
            "data_dir = {data:?}\n\
             [agent_api]\nlisten = \"127.0.0.1:7443\"\n\
             [tls]\nca = {ca:?}\ncert = {cert:?}\nkey = {key:?}\n\
             [store]\nmin_free_mib = 1\n\
             [dnsbl]\nnameservers = [\"{dns}\"]\ntimeout = \"300ms\"\nretries = 0\n\
             [dnsbl.catalog]\nfile = {catalog:?}\n",
            data = self.path("data"),
            ca = self.path("ca").join("ca.crt"),
            cert = tls.join("controller.crt"),
            key = tls.join("controller.key"),
            catalog = self.path("zones.toml"),
        );
        for zone in ["good", "refusing", "allow"] {
            text.push_str(&format!("[dnsbl.catalog.zone.{zone}]\nenabled = {}\n", zones.contains(&zone)));
        }
        let config = self.path("controller.toml");
        std::fs::write(&config, text).unwrap();
        let options = Options { config, insecure: false, timeout: Duration::from_secs(5), agent_names: Vec::new() };
        run(&options).await
    }
}

fn row<'a>(report: &'a Report, name: &str) -> &'a Check {
    report.get(name).unwrap_or_else(|| panic!("no row {name:?} in {:#?}", report.checks))
}

#[tokio::test]
async fn a_healthy_setup_is_all_ok() {
    let setup = Setup::new().await;
    let report = setup.doctor(&["good"], &setup.path("ca")).await;
    assert_eq!(report.worst(), Status::Ok, "{:#?}", report.checks);
    assert_eq!(report.worst().exit_code(), 0);
    for name in ["config", "data_dir", "free_space", "ca_cert", "controller_cert", "controller_key", "cert_names"] {
        assert_eq!(row(&report, name).status, Status::Ok, "{name}");
    }
    let resolver = format!("resolver {}", setup.dns.addr());
    assert!(row(&report, &resolver).detail.contains("1 of 1 zones"), "{:?}", row(&report, &resolver));
    let zone = row(&report, &format!("zone good via {}", setup.dns.addr()));
    assert!(zone.detail.contains("127.0.0.2 listed") && zone.detail.contains("127.0.0.1 not listed"), "{zone:?}");
}

#[tokio::test]
async fn a_resolver_answering_127_255_255_254_is_named_a_refused_public_resolver() {
    let setup = Setup::new().await;
    let report = setup.doctor(&["good", "refusing"], &setup.path("ca")).await;
    let zone = row(&report, &format!("zone refusing via {}", setup.dns.addr()));
    assert_eq!(zone.status, Status::Failure);
    assert!(zone.detail.contains("public resolver refused"), "{zone:?}");
    assert!(zone.detail.contains("127.255.255.254"), "{zone:?}");
    assert!(zone.fix.contains("local recursive resolver") && zone.fix.contains("unbound"), "{zone:?}");
    // The other zone through the same resolver is still judged on its own.
    assert_eq!(row(&report, &format!("zone good via {}", setup.dns.addr())).status, Status::Ok);
    assert_eq!(report.worst().exit_code(), 2);
}

#[tokio::test]
async fn a_zone_without_a_test_point_it_lists_cannot_be_verified() {
    let setup = Setup::new().await;
    let report = setup.doctor(&["good", "allow"], &setup.path("ca")).await;
    let zone = row(&report, &format!("zone allow via {}", setup.dns.addr()));
    assert_eq!(zone.status, Status::Warning, "{zone:?}");
    assert!(zone.detail.contains("cannot be verified"), "{zone:?}");
    assert!(zone.fix.contains("[dnsbl.catalog.zone.allow] enabled = false"), "{zone:?}");
    assert_eq!(report.worst(), Status::Warning, "{:#?}", report.checks);
    assert_eq!(report.worst().exit_code(), 1);
}

#[tokio::test]
async fn a_silent_resolver_is_unreachable() {
    let setup = Setup::new().await;
    // A UDP port with nobody answering behind it.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let report = setup.doctor_via(&["good"], &setup.path("ca"), addr).await;
    let resolver = row(&report, &format!("resolver {addr}"));
    assert_eq!(resolver.status, Status::Failure, "{resolver:?}");
    assert!(resolver.detail.contains("no answer"), "{resolver:?}");
    // One row for the resolver, not one more per zone.
    assert!(report.get(&format!("zone good via {addr}")).is_none(), "{:#?}", report.checks);
}

#[tokio::test]
async fn a_resolver_through_which_no_list_lists_its_test_point_is_one_row() {
    let setup = Setup::new().await;
    // Answers NXDOMAIN for every name, like a resolver that cannot reach the lists.
    let empty = ZoneServer::start(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    for zone in ["good.test", "refusing.test"] {
        empty.add_zone(zone).unwrap();
        empty.unlist(zone, IpAddr::V4(V4(127, 0, 0, 2))).unwrap();
    }
    let report = setup.doctor_via(&["good", "refusing"], &setup.path("ca"), empty.addr()).await;
    let resolver = row(&report, &format!("resolver {}", empty.addr()));
    assert_eq!(resolver.status, Status::Failure, "{:#?}", report.checks);
    assert!(resolver.detail.contains("none of 2 zones lists its test point"), "{resolver:?}");
    assert!(report.get(&format!("zone good via {}", empty.addr())).is_none(), "{:#?}", report.checks);
}

#[tokio::test]
async fn an_expired_controller_certificate_is_a_failure() {
    let setup = Setup::new().await;
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    // Valid from an hour ago until now: expired by the time it is checked.
    ca::issue(&setup.path("ca"), &Subject::Controller { names }, 0, true).unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let report = setup.doctor(&["good"], &setup.path("ca")).await;
    let cert = row(&report, "controller_cert");
    assert_eq!(cert.status, Status::Failure, "{cert:?}");
    assert!(cert.detail.contains("expired on"), "{cert:?}");
    assert!(
        cert.fix.contains("rblfleet ca issue") && cert.fix.contains("--controller localhost,127.0.0.1 "),
        "{cert:?}"
    );
    assert_eq!(report.worst().exit_code(), 2);
}

#[tokio::test]
async fn a_controller_certificate_from_another_ca_is_a_failure() {
    let setup = Setup::new().await;
    // Another CA of the same name: only the signature tells them apart.
    let other = setup.path("other");
    ca::init(&other, "doctor test CA", 365).unwrap();
    ca::issue(&other, &Subject::Controller { names: vec!["localhost".into()] }, 365, false).unwrap();
    let report = setup.doctor(&["good"], &other).await;
    let cert = row(&report, "controller_cert");
    assert_eq!(cert.status, Status::Failure, "{cert:?}");
    assert!(cert.detail.contains("not signed by the CA in tls.ca"), "{cert:?}");
    // Its name list lacks the agent listener's address too.
    let names = row(&report, "cert_names");
    assert_eq!(names.status, Status::Failure, "{names:?}");
    assert!(names.detail.contains("127.0.0.1"), "{names:?}");
    assert!(names.fix.contains("--controller localhost,127.0.0.1 --force"), "{names:?}");
    assert_eq!(report.worst().exit_code(), 2);
}

#[tokio::test]
async fn a_key_of_another_certificate_is_a_failure() {
    let setup = Setup::new().await;
    ca::issue(&setup.path("ca"), &Subject::Agent { host_id: "web01".into() }, 30, false).unwrap();
    let ca_dir = setup.path("ca");
    std::fs::copy(ca_dir.join("agents/web01.key"), ca_dir.join("controller.key")).unwrap();
    let report = setup.doctor(&["good"], &ca_dir).await;
    assert_eq!(row(&report, "controller_key").status, Status::Failure);
}

#[tokio::test]
async fn a_config_that_does_not_load_is_the_only_row() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("controller.toml");
    std::fs::write(&config, "data_dir = 3\n").unwrap();
    let report = run(&Options { config, insecure: false, timeout: Duration::from_secs(1), agent_names: vec![] }).await;
    assert_eq!(report.checks.len(), 1);
    assert_eq!(row(&report, "config").status, Status::Failure);
    assert!(row(&report, "config").detail.contains("data_dir"), "{:?}", report.checks);
}

#[tokio::test]
async fn a_hung_or_panicking_check_is_one_failed_row() {
    let hung = timed("slow", Duration::from_millis(50), async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Vec::new()
    })
    .await;
    assert_eq!(hung.len(), 1);
    assert_eq!((hung[0].check.as_str(), hung[0].status), ("slow", Status::Failure));
    assert!(hung[0].detail.contains("no result within 50ms"), "{hung:?}");
    let panicked = timed("broken", Duration::from_secs(5), async { panic!("a bug") }).await;
    assert_eq!(panicked[0].status, Status::Failure);
    assert!(panicked[0].detail.contains("panicked"), "{panicked:?}");
}

#[test]
fn expiry_warns_30_days_ahead() {
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);
    let cert = |before: SystemTime, after: SystemTime| super::pki::CertInfo {
        der: Vec::new(),
        not_before: before,
        not_after: after,
        is_ca: false,
        names: Vec::new(),
    };
    let status = |c: &super::pki::CertInfo| super::pki::expiry("c", "it", c, now, "renew").status;
    assert_eq!(status(&cert(now - day, now + 100 * day)), Status::Ok);
    assert_eq!(status(&cert(now - day, now + 29 * day)), Status::Warning);
    assert_eq!(status(&cert(now - day, now - day)), Status::Failure);
    assert_eq!(status(&cert(now + day, now + 100 * day)), Status::Failure);
}

#[test]
fn catalog_dates_read_as_the_first_day() {
    let at = super::host::month_start("2026-11").unwrap();
    assert_eq!(humantime::format_rfc3339_seconds(at).to_string(), "2026-11-01T00:00:00Z");
    let at = super::host::month_start("2024-02-29").unwrap();
    assert_eq!(humantime::format_rfc3339_seconds(at).to_string(), "2024-02-29T00:00:00Z");
    assert_eq!(super::host::month_start("test"), None);
}

#[test]
fn the_table_shows_each_fix_under_its_row() {
    let report =
        Report { checks: vec![Check::ok("config", "loads"), Check::failure("clock", "behind", "set the clock")] };
    let mut out = Vec::new();
    report.write_table(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("ok       config"), "{text}");
    assert!(lines[1].starts_with("FAILURE  clock "), "{text}");
    assert!(lines[2].trim_start().starts_with("fix: set the clock"), "{text}");
    assert_eq!(report.to_json()["status"], "failure");
}
