//! A zone server that answers malformed packets: every check of its zones
//! says error (naming what was wrong), never clean or listed; the engine keeps
//! running, keeps checking the good zone, and takes the bad ones out of service.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use rblfleet_controller::cli::run_args;
use rblfleet_proto::v1::HostIp;
use rblfleet_tests::hostile_dns::{GOOD_LISTED, GOOD_ZONE, HOSTILE_ZONES, HostileDns};
use rblfleet_tests::{Controller, Pki, check_json, controller_config, raw_agent_client, valid_report};
use serde_json::Value;

/// What the error of each hostile zone must say (lowercase substrings; any one).
fn expected(zone: &str) -> &'static [&'static str] {
    match zone {
        // The resolver drops replies that do not match the query (a spoofing
        // defence), and undecodable ones over TCP: what remains is a timeout.
        "garbage" | "wrong-id" | "tc-garbage" | "silent" => &["timed out"],
        "garbage-id" | "truncated" | "bogus-counts" | "bad-rdlen" | "ptr-loop" => &["not a valid dns message"],
        "other-name" => &["another name"],
        "other-type" => &["no a record", "txt"],
        "many-a" => &["300 a records"],
        "public-a" => &["127.0.0.0/8"],
        "servfail" => &["servfail"],
        "refused" => &["refused"],
        _ => &[],
    }
}

fn write_catalog(dir: &Path) -> PathBuf {
    let path = dir.join("hostile-zones.toml");
    std::fs::write(&path, HostileDns::catalog_toml()).unwrap();
    path
}

/// Runs `rblfleet check` in-process; returns the JSON rows and the exit status.
async fn check(dns: SocketAddr, catalog: &Path, args: &[&str]) -> (Vec<Value>, u8) {
    check_json(dns, catalog, args).await
}

#[tokio::test]
async fn check_says_error_for_every_malformed_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let catalog = write_catalog(tmp.path());
    let dns = HostileDns::start().await;

    let (rows, code) = check(dns.addr(), &catalog, &["192.0.2.1", &format!("{GOOD_LISTED}")]).await;
    let row = |zone: &str, ip: &str| {
        rows.iter().find(|r| r["zone_id"] == zone && r["ip"] == ip).unwrap_or_else(|| panic!("no row {zone} {ip}"))
    };
    let mut wrong = Vec::new();
    for (zone, what) in HOSTILE_ZONES {
        for ip in ["192.0.2.1".to_string(), GOOD_LISTED.to_string()] {
            let r = row(zone, &ip);
            let error = r["error"].as_str().unwrap_or("").to_lowercase();
            let ok = match *zone {
                // An oversized explanation does not undo a listing: listed, the TXT cut.
                "big-txt" if ip == "192.0.2.1" => r["status"] == "clean",
                "big-txt" => r["status"] == "listed" && r["txt"].as_str().is_some_and(|t| t.len() <= 1024),
                _ => r["status"] == "error" && expected(zone).iter().any(|e| error.contains(e)),
            };
            if !ok {
                wrong.push(format!("{zone} ({what}): {r}"));
            }
        }
    }
    assert!(wrong.is_empty(), "wrong outcomes:\n{}", wrong.join("\n"));
    // The good zone is still answered correctly in the same run.
    assert_eq!(row(GOOD_ZONE, "192.0.2.1")["status"], "clean");
    assert_eq!(row(GOOD_ZONE, &GOOD_LISTED.to_string())["status"], "listed");
    assert_eq!(row(GOOD_ZONE, &GOOD_LISTED.to_string())["txt"], "listed for test");
    assert_eq!(code, 2, "something is listed");
}

/// A controller checking the hostile zones and the good one through `dns`.
async fn controller(dir: &Path, dns: &HostileDns) -> (Pki, Controller) {
    let pki = Pki::new(&dir.join("ca"));
    let mut config = controller_config(&pki, &dir.join("data"), 0, false);
    config.dnsbl.enabled = true;
    config.dnsbl.nameservers = vec![dns.addr().to_string()];
    config.dnsbl.timeout = std::time::Duration::from_millis(300);
    config.dnsbl.retries = 0;
    config.dnsbl.catalog.file = Some(write_catalog(dir));
    let controller = Controller::start_with(config).await;
    (pki, controller)
}

#[tokio::test]
async fn the_engine_keeps_checking_and_takes_bad_zones_out_of_service() {
    let tmp = tempfile::tempdir().unwrap();
    let dns = HostileDns::start().await;
    let (pki, controller) = controller(tmp.path(), &dns).await;
    let host = "web11.example";
    let (cert, key) = pki.agent(host);
    let mut client = raw_agent_client(&controller.agent_url(), &pki.ca_cert(), Some((&cert, &key))).await.unwrap();
    let mut report = valid_report(host, 1, 1);
    report.ips = [GOOD_LISTED.to_string(), "203.0.113.67".into()]
        .into_iter()
        .map(|address| HostIp {
            address,
            interface: "eth0".into(),
            public: true,
            sends_mail: true,
            ..HostIp::default()
        })
        .collect();
    client.report(report).await.unwrap();

    // Every zone is probed; good and big-txt pass, and check both IPs.
    let stats = controller.engine().pass().await.unwrap();
    assert_eq!(stats.probes, HOSTILE_ZONES.len() + 1, "{stats:?}");
    assert_eq!((stats.checks, stats.listed, stats.errors), (4, 2, 0), "good and big-txt: {stats:?}");
    // A second pass runs as well (nothing is due; the bad zones wait for their retry).
    let again = controller.engine().pass().await.unwrap();
    assert_eq!((again.probes, again.checks), (0, 0), "{again:?}");

    let zones: Value =
        serde_json::from_str(&controller.cli(&["zones", "--all", "--format", "json"]).await.unwrap()).unwrap();
    let zones = zones["zones"].as_array().unwrap();
    let zone = |id: &str| zones.iter().find(|z| z["id"] == id).unwrap_or_else(|| panic!("no zone {id}"));
    assert_eq!(zone(GOOD_ZONE)["state"], "in_service");
    let mut wrong = Vec::new();
    for (id, what) in HOSTILE_ZONES {
        let z = zone(id);
        let reason = z["reason"].as_str().unwrap_or("").to_lowercase();
        // big-txt answers its probes correctly; only its TXT is oversized.
        let ok = if *id == "big-txt" {
            z["state"] == "in_service"
        } else {
            z["state"] == "out_of_service" && expected(id).iter().any(|e| reason.contains(e))
        };
        if !ok {
            wrong.push(format!("{id} ({what}): {z}"));
        }
    }
    assert!(wrong.is_empty(), "wrong zone states:\n{}", wrong.join("\n"));

    // The listing from the good zone is stored; no bad zone claims the IP clean.
    let view: Value =
        serde_json::from_str(&controller.cli(&["ip", &GOOD_LISTED.to_string(), "--format", "json"]).await.unwrap())
            .unwrap();
    let checks = view["checks"].as_array().unwrap();
    let good = checks.iter().find(|c| c["zone_id"] == GOOD_ZONE).unwrap();
    assert_eq!(good["status"], "listed");
    let big = checks.iter().find(|c| c["zone_id"] == "big-txt").unwrap();
    assert!(big["status"] == "listed" && big["txt"].as_str().unwrap().len() <= 1024, "{big}");
    assert!(checks.iter().all(|c| c["zone_id"] == GOOD_ZONE || c["zone_id"] == "big-txt"), "{checks:?}");
    let gaps = view["not_covered"].as_array().unwrap();
    assert_eq!(gaps.len(), HOSTILE_ZONES.len() - 1, "every hostile zone but big-txt: {gaps:?}");
    controller.stop().await;
}

/// Settings that would overflow the resolver's clock or never end are
/// refused by name before any query.
#[tokio::test]
async fn check_refuses_absurd_timeouts_and_retries() {
    for (arg, name) in [
        ("--timeout=1000years", "--timeout"),
        ("--timeout=0s", "--timeout"),
        ("--retries=1000", "--retries"),
        ("--concurrency=0", "--concurrency"),
        ("--concurrency=18446744073709551615", "--concurrency"),
    ] {
        let argv = ["rblfleet", "check", "192.0.2.1", "--nameserver=127.0.0.1:9", arg];
        let err = run_args(argv, &mut Vec::new()).await.unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains(name), "{arg}: {text}");
    }
}
