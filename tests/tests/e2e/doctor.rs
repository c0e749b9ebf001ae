//! `doctor` on both sides against healthy and broken setups built here: a
//! real controller on loopback, a real DNS zone server, certificates from
//! the real CA code. Each broken part is reported as the right check with
//! the right status, and the run exits with the right code.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rblfleet_agent::doctor::{self as agent_doctor, Report, Status};
use rblfleet_controller::ca::{self, Subject};
use rblfleet_controller::cli::{Exit, run_args};
use rblfleet_controller::dnsbl::zone_server::ZoneServer;
use rblfleet_tests::{Controller, Pki, controller_config};

const POSTFIX: &str = "Jun  3 10:40:59 mail postfix/smtp[9890]: 776E41855DB2: to=<a@example.com>, \
    relay=mx.example.com[192.0.2.4]:25, delay=1.9, delays=0/0/1.5/0.37, dsn=5.1.1, status=bounced \
    (host mx.example.com[192.0.2.4] said: 550 5.1.1 <a@example.com> User unknown (in reply to RCPT TO command))";

/// A CA and a controller certificate valid for a year (the harness's 30
/// days would be a warning of their own).
fn pki(dir: &Path) -> Pki {
    ca::init(dir, "doctor e2e CA", 365).unwrap();
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    ca::issue(dir, &Subject::Controller { names }, 365, false).unwrap();
    Pki { dir: dir.to_path_buf() }
}

/// Runs `rblfleet doctor` in-process; returns the JSON and the exit status.
async fn controller_doctor(config: &Path) -> (serde_json::Value, u8) {
    let argv = ["rblfleet", "doctor", "--format", "json", "--timeout", "5s", "--config"].map(String::from);
    let mut out = Vec::new();
    let args = argv.into_iter().chain([config.display().to_string()]);
    let code = match run_args(args, &mut out).await {
        Ok(()) => 0,
        Err(e) => e.downcast_ref::<Exit>().map(|e| e.0).unwrap_or_else(|| panic!("doctor failed: {e:#}")),
    };
    (serde_json::from_slice(&out).unwrap(), code)
}

fn json_row<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    let rows = report["checks"].as_array().unwrap();
    rows.iter().find(|r| r["check"] == name).unwrap_or_else(|| panic!("no row {name:?} in {report:#}"))
}

/// The controller's configuration file: one zone `bl.test` through `dns`,
/// answering its test points with `answer`.
async fn zone_with_test_point(answer: Ipv4Addr) -> ZoneServer {
    let dns = ZoneServer::start(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    dns.add_zone("bl.test").unwrap();
    dns.list("bl.test", IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), &[answer], None).unwrap();
    if answer.octets()[..3] == [127, 255, 255] {
        // A refusing resolver answers every name alike.
        dns.list("bl.test", IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), &[answer], None).unwrap();
    }
    dns
}

fn write_controller_config(dir: &Path, pki: &Pki, dns: SocketAddr) -> PathBuf {
    let mut text = format!(
        "data_dir = {data:?}\n[agent_api]\nlisten = \"127.0.0.1:7443\"\n\
         [tls]\nca = {ca:?}\ncert = {cert:?}\nkey = {key:?}\n[store]\nmin_free_mib = 1\n\
         [dnsbl]\nnameservers = [\"{dns}\"]\ntimeout = \"300ms\"\nretries = 0\n[dnsbl.catalog]\nfile = {catalog:?}\n",
        data = dir.join("data"),
        ca = pki.ca_cert(),
        cert = pki.dir.join("controller.crt"),
        key = pki.dir.join("controller.key"),
        catalog = rblfleet_tests::test_catalog(),
    );
    for zone in ["v4only", "servfail", "silent", "everything", "budget", "dbl", "uribl", "dombudget"] {
        text.push_str(&format!("[dnsbl.catalog.zone.{zone}]\nenabled = false\n"));
    }
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let path = dir.join("controller.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn controller_doctor_exits_0_when_healthy_and_2_behind_a_refused_resolver() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = pki(&tmp.path().join("ca"));
    let good = zone_with_test_point(Ipv4Addr::new(127, 0, 0, 2)).await;
    let config = write_controller_config(tmp.path(), &pki, good.addr());
    let (report, code) = controller_doctor(&config).await;
    assert_eq!((code, report["status"].as_str()), (0, Some("ok")), "{report:#}");

    let refused = zone_with_test_point(Ipv4Addr::new(127, 255, 255, 254)).await;
    let config = write_controller_config(tmp.path(), &pki, refused.addr());
    let (report, code) = controller_doctor(&config).await;
    assert_eq!(code, 2, "{report:#}");
    let zone = json_row(&report, &format!("zone bl via {}", refused.addr()));
    assert_eq!(zone["status"], "failure");
    let detail = zone["detail"].as_str().unwrap();
    assert!(detail.contains("public resolver refused") && detail.contains("127.255.255.254"), "{zone}");
    assert!(zone["fix"].as_str().unwrap().contains("unbound"), "{zone}");
}

/// A controller on loopback and what an agent host needs: its certificate
/// (issued by `issuer`, valid `days`), a mail log, a passwd file.
struct AgentHost {
    tmp: tempfile::TempDir,
    pki: Pki,
    controller: Controller,
}

impl AgentHost {
    async fn start() -> AgentHost {
        let tmp = tempfile::tempdir().unwrap();
        let pki = pki(&tmp.path().join("ca"));
        let controller = Controller::start_with(controller_config(&pki, &tmp.path().join("data"), 0, false)).await;
        std::fs::write(tmp.path().join("maillog"), format!("{POSTFIX}\n").repeat(200)).unwrap();
        std::fs::write(tmp.path().join("passwd"), "shop:x:10023:1::/var/www/vhosts/shop.example:/bin/false\n").unwrap();
        AgentHost { tmp, pki, controller }
    }

    /// Issues the agent certificate of `host` from the CA in `ca_dir`.
    fn issue(&self, ca_dir: &Path, host: &str, days: i64) -> (PathBuf, PathBuf) {
        ca::issue(ca_dir, &Subject::Agent { host_id: host.into() }, days, true).unwrap();
        (ca_dir.join(format!("agents/{host}.crt")), ca_dir.join(format!("agents/{host}.key")))
    }

    /// Writes the agent config (`extra` appended) and runs the agent doctor.
    async fn doctor(&self, cert: &(PathBuf, PathBuf), extra: &str) -> Report {
        let dir = self.tmp.path();
        let text = format!(
            "[controller]\nurl = {url:?}\nca = {ca:?}\ncert = {cert:?}\nkey = {key:?}\ntimeout = \"3s\"\n\
             [outbox]\ndir = {outbox:?}\n[sources]\npasswd = {passwd:?}\n{extra}",
            url = self.controller.agent_url(),
            ca = self.pki.ca_cert(),
            cert = cert.0,
            key = cert.1,
            outbox = dir.join("outbox"),
            passwd = dir.join("passwd"),
        );
        let config = dir.join("agent.toml");
        std::fs::write(&config, text).unwrap();
        let options = agent_doctor::Options { config, insecure: false, timeout: Duration::from_secs(10), lines: 2000 };
        agent_doctor::run(&options).await
    }

    fn logs(&self, file: &str) -> String {
        let path = self.tmp.path().join(file);
        format!("[logs]\npaths = [{path:?}]\njournald = \"never\"\n")
    }
}

fn row<'a>(report: &'a Report, name: &str) -> &'a agent_doctor::Check {
    report.get(name).unwrap_or_else(|| panic!("no row {name:?} in {:#?}", report.checks))
}

#[tokio::test]
async fn agent_doctor_exits_0_on_a_healthy_host() {
    let host = AgentHost::start().await;
    let cert = host.issue(&host.pki.dir, "web01.example", 365);
    let report = host.doctor(&cert, &format!("{}[queue]\nmta = \"none\"\n", host.logs("maillog"))).await;
    assert_eq!(report.worst(), Status::Ok, "{:#?}", report.checks);
    assert_eq!(report.worst().exit_code(), 0);
    let controller = row(&report, "controller");
    assert!(controller.detail.contains("accepted as host web01.example"), "{controller:?}");
    assert_eq!(row(&report, "clock_skew").status, Status::Ok);
    let log = row(&report, &format!("log {}", host.tmp.path().join("maillog").display()));
    assert!(log.detail.contains("100% of the last 200 lines") && log.detail.contains("Postfix"), "{log:?}");
    host.controller.stop().await;
}

#[tokio::test]
async fn agent_doctor_names_a_certificate_from_another_ca_and_an_expired_one() {
    let host = AgentHost::start().await;
    let other = host.tmp.path().join("other-ca");
    ca::init(&other, "someone else's CA", 365).unwrap();
    let foreign = host.issue(&other, "web01.example", 365);
    let report = host.doctor(&foreign, &format!("{}[queue]\nmta = \"none\"\n", host.logs("maillog"))).await;
    assert_eq!(report.worst().exit_code(), 2);
    let cert = row(&report, "agent_cert");
    assert_eq!(cert.status, Status::Failure, "{cert:?}");
    assert!(cert.detail.contains("issued by another CA"), "{cert:?}");
    let controller = row(&report, "controller");
    assert_eq!(controller.status, Status::Failure, "{controller:?}");
    assert!(controller.detail.contains("refuses this host's certificate"), "{controller:?}");

    // Valid from an hour ago until now: expired by the time it is checked.
    let expired = host.issue(&host.pki.dir, "web02.example", 0);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let report = host.doctor(&expired, &format!("{}[queue]\nmta = \"none\"\n", host.logs("maillog"))).await;
    assert_eq!(report.worst().exit_code(), 2);
    let cert = row(&report, "agent_cert");
    assert_eq!(cert.status, Status::Failure, "{cert:?}");
    assert!(cert.detail.contains("expired on"), "{cert:?}");
    assert_eq!(row(&report, "controller").status, Status::Failure);
    host.controller.stop().await;
}

#[tokio::test]
async fn agent_doctor_names_a_log_in_an_unknown_format_and_a_missing_queue_tool() {
    let host = AgentHost::start().await;
    let cert = host.issue(&host.pki.dir, "web01.example", 365);
    let access = "203.0.113.9 - - [03/Jun/2026:10:40:59 +0000] \"GET / HTTP/1.1\" 200 612 \"-\" \"curl/8.0\"\n";
    std::fs::write(host.tmp.path().join("access.log"), access.repeat(100)).unwrap();
    let queue =
        "[queue]\nmta = \"postfix\"\npostqueue = \"/nonexistent/postqueue\"\npostfix_spool = \"/nonexistent/spool\"\n";
    let report = host.doctor(&cert, &format!("{}{queue}", host.logs("access.log"))).await;
    assert_eq!(report.worst().exit_code(), 2);
    let log = row(&report, &format!("log {}", host.tmp.path().join("access.log").display()));
    assert_eq!(log.status, Status::Failure, "{log:?}");
    assert!(log.detail.contains("a format the parsers do not know"), "{log:?}");
    let queue = row(&report, "queue");
    assert_eq!(queue.status, Status::Failure, "{queue:?}");
    assert!(queue.detail.contains("/nonexistent/postqueue"), "{queue:?}");
    // The rest of the host is fine: one broken part is its own row only.
    assert_eq!(row(&report, "controller").status, Status::Ok);
    assert_eq!(row(&report, "agent_cert").status, Status::Ok);
    host.controller.stop().await;
}

#[tokio::test]
async fn hello_names_the_certificates_host_and_stores_nothing() {
    use rblfleet_proto::v1::HelloRequest;
    let tmp = tempfile::tempdir().unwrap();
    let pki = pki(&tmp.path().join("ca"));
    let controller = Controller::start_with(controller_config(&pki, &tmp.path().join("data"), 0, false)).await;
    ca::issue(&pki.dir, &Subject::Agent { host_id: "web01.example".into() }, 365, false).unwrap();
    let (cert, key) = pki.agent("web01.example");
    let mut client =
        rblfleet_tests::raw_agent_client(&controller.agent_url(), &pki.ca_cert(), Some((&cert, &key))).await.unwrap();

    let before = rblfleet_controller::clock::now_ms();
    let hello = client.hello(HelloRequest { host_id: "web01.example".into() }).await.unwrap().into_inner();
    assert_eq!(hello.host_id, "web01.example");
    assert!(hello.now_ms >= before && hello.now_ms - before < 5_000, "{hello:?}");
    assert_eq!(hello.max_clock_skew_ms, 300_000);
    // An empty host id is not compared; another one is refused like a report for it.
    assert_eq!(client.hello(HelloRequest::default()).await.unwrap().into_inner().host_id, "web01.example");
    let refused = client.hello(HelloRequest { host_id: "web02.example".into() }).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    assert!(refused.message().contains("\"web02.example\""), "{}", refused.message());
    // An admin certificate is not an agent's.
    let (admin_cert, admin_key) = pki.admin("alice");
    let mut admin =
        rblfleet_tests::raw_agent_client(&controller.agent_url(), &pki.ca_cert(), Some((&admin_cert, &admin_key)))
            .await
            .unwrap();
    assert_eq!(admin.hello(HelloRequest::default()).await.unwrap_err().code(), tonic::Code::PermissionDenied);

    let hosts = controller.cli(&["hosts", "--format", "json"]).await.unwrap();
    assert!(!hosts.contains("web01.example"), "Hello stored a host: {hosts}");
    controller.stop().await;
}
