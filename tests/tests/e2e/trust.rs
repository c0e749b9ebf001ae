//! Trust (issue 12): a listing only when a reply says the IP is listed. A
//! healthy host's ordinary bounces open nothing, a spamming host's real
//! refusals still open its listings, and a store holding a listing opened on
//! a misread bounce heals itself on restart.

mod logs;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rblfleet_agent::Agent;
use rblfleet_controller::cases::receivers::{self, Change, ReceiverPolicy, Refusals};
use rblfleet_controller::cases::work::{self, ListInfo};
use rblfleet_controller::daemon::{Daemon, build_catalog};
use rblfleet_controller::store::Store;
use rblfleet_proto::v1::{BlocklistEvidence, HostIp, ListingEpisode};
use rblfleet_tests::{Controller, Pki, controller_config, dnsbl_controller, test_catalog, valid_report};
use serde_json::Value;

const HEALTHY: &str = "web20.example";
const HEALTHY_IP: &str = "203.0.113.77";
const SPAMMER: &str = "web21.example";
const SPAMMER_IP: &str = "203.0.113.66";
/// Messages per bounce shape: hundreds of ordinary bounces on the healthy host.
const PER_SHAPE: usize = 40;

/// The test zones plus the built-in receivers (Microsoft, T-Online, ...), so
/// receiver-side listings can open beside the test zones' DNS listings.
fn catalog_with_receivers(dir: &Path) -> PathBuf {
    let zones = std::fs::read_to_string(test_catalog()).unwrap();
    let builtin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../controller/dnsbl/zones.toml");
    let builtin = std::fs::read_to_string(builtin).unwrap();
    let receivers = &builtin[builtin.find("\n[[receiver]]\n").unwrap()..];
    let path = dir.join("zones-and-receivers.toml");
    std::fs::write(&path, format!("{zones}\n{receivers}")).unwrap();
    path
}

async fn agent(pki: &Pki, host: &str, ip: &str, url: &str, dir: &Path, maillog: &Path) -> Agent {
    rblfleet_tests::log_agent(pki, host, ip, url, dir, maillog, "").await
}

async fn json(controller: &Controller, args: &[&str]) -> Value {
    serde_json::from_str(&controller.cli(args).await.unwrap()).unwrap()
}

fn sum(host: &Value, field: &str) -> u64 {
    host["trend_24h"].as_array().unwrap().iter().map(|h| h[field].as_u64().unwrap()).sum()
}

/// Every listing of `ip` in the fleet report: (list id, kind, case state).
fn listings_of(report: &Value, ip: &str) -> Vec<(String, String, String)> {
    let mut rows: Vec<_> = report["listings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["ip"] == ip)
        .map(|r| {
            let s = |v: &Value| v.as_str().unwrap_or("-").to_string();
            (s(&r["list_id"]), s(&r["kind"]), s(&r["case"]["state"]))
        })
        .collect();
    rows.sort();
    rows
}

#[tokio::test]
async fn a_healthy_host_gets_no_listing_and_a_spamming_host_keeps_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let catalog = catalog_with_receivers(tmp.path());
    let (pki, dns, controller) = dnsbl_controller(tmp.path(), &["bl"], |config| {
        config.dnsbl.catalog.file = Some(catalog);
        config.dnsbl.listed_interval = Duration::from_millis(1);
        config.dnsbl.clean_interval = Duration::from_millis(1);
        config.dnsbl.timeout = Duration::from_secs(2);
    })
    .await;
    // The spammer's IP is on the test DNS zone too.
    dns.list("bl.test", SPAMMER_IP.parse().unwrap(), &[Ipv4Addr::new(127, 0, 0, 2)], Some("spam trap hits")).unwrap();

    let (healthy_log, spam_log) = (tmp.path().join("healthy.log"), tmp.path().join("spam.log"));
    logs::write(&healthy_log, HEALTHY, logs::HEALTHY, PER_SHAPE, 300).unwrap();
    let spam_shapes: Vec<logs::Shape> = logs::SPAM.iter().chain(&logs::HEALTHY[..1]).copied().collect();
    logs::write(&spam_log, SPAMMER, &spam_shapes, PER_SHAPE / 2, 100).unwrap();
    for (host, ip, log) in [(HEALTHY, HEALTHY_IP, &healthy_log), (SPAMMER, SPAMMER_IP, &spam_log)] {
        let mut agent = agent(&pki, host, ip, &controller.agent_url(), tmp.path(), log).await;
        agent.tick().unwrap();
        let outcome = agent.flush().await;
        assert_eq!((outcome.sent, agent.backlog()), (1, 0), "{host}: {outcome:?}");
    }
    // DNS checks until the spammer's listing is seen (a lookup that timed
    // out on a busy machine is an error and is simply checked again).
    for _ in 0..40 {
        controller.engine().pass().await.unwrap();
        let report = json(&controller, &["report", "--format", "json"]).await;
        if listings_of(&report, SPAMMER_IP).iter().any(|(list, _, _)| list == "bl") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let healthy = json(&controller, &["host", HEALTHY, "--format", "json"]).await;
    let spammer = json(&controller, &["host", SPAMMER, "--format", "json"]).await;
    let report = json(&controller, &["report", "--format", "json"]).await;
    let cases = json(&controller, &["cases", "--all", "--format", "json"]).await;
    // The logs were read in full: every ordinary bounce and deferral arrived.
    let bounced = logs::HEALTHY.iter().filter(|s| s.status() == "bounced").count() * PER_SHAPE;
    let deferred = logs::HEALTHY.len() * PER_SHAPE - bounced;
    assert_eq!((sum(&healthy, "bounced"), sum(&healthy, "deferred")), (bounced as u64, deferred as u64), "{healthy}");

    // Every expectation is checked, and all that fail are reported together.
    let mut failed: Vec<String> = Vec::new();
    let mut expect = |ok: bool, what: String| {
        if !ok {
            failed.push(what);
        }
    };
    let ip_evidence: Vec<&Value> =
        healthy["blocklist_24h"].as_array().unwrap().iter().filter(|e| e["family"] == "ip").collect();
    expect(ip_evidence.is_empty(), format!("healthy host: no IP-listing evidence, got {ip_evidence:?}"));
    expect(
        sum(&healthy, "blocklisted") == 0,
        format!("healthy host: blocklisted 0, got {}", sum(&healthy, "blocklisted")),
    );
    expect(healthy["refused_24h"]["blocklisted"] == 0, format!("healthy host: refused_24h {}", healthy["refused_24h"]));
    expect(
        healthy["listings"] == Value::Array(vec![]),
        format!("healthy host: no listing, got {}", healthy["listings"]),
    );
    expect(
        healthy["open_cases"] == Value::Array(vec![]),
        format!("healthy host: no open case, got {}", healthy["open_cases"]),
    );
    let healthy_cases: Vec<&Value> = cases.as_array().unwrap().iter().filter(|c| c["ip"] == HEALTHY_IP).collect();
    expect(healthy_cases.is_empty(), format!("healthy host: no case ever, got {healthy_cases:?}"));
    let healthy_rows = listings_of(&report, HEALTHY_IP);
    expect(healthy_rows.is_empty(), format!("healthy host: not in the report, got {healthy_rows:?}"));

    // The spammer: its DNS listing and the receivers whose refusals say its IP is listed.
    let open = |list: &str, kind: &str| (list.to_string(), kind.to_string(), "open".to_string());
    let want =
        vec![open("bl", "dns"), open("microsoft", "receiver"), open("t-online", "receiver"), open("yahoo", "receiver")];
    let got = listings_of(&report, SPAMMER_IP);
    expect(got == want, format!("spamming host: listings {want:?}, got {got:?}"));
    let refused = (logs::SPAM.len() * PER_SHAPE / 2) as u64;
    expect(
        sum(&spammer, "blocklisted") == refused && spammer["refused_24h"]["domain"] == 0,
        format!("spamming host: {refused} refused by blocklists, 0 for a domain; got {}", spammer["refused_24h"]),
    );
    assert!(failed.is_empty(), "{} expectation(s) failed:\n{}", failed.len(), failed.join("\n"));
    controller.stop().await;
}

#[tokio::test]
async fn a_listing_opened_on_a_misread_bounce_is_withdrawn_on_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let mut config = controller_config(&pki, &tmp.path().join("data"), 0, false);
    config.metrics.enabled = false;
    let ip = "192.0.2.5";
    let misread = "550 5.1.1 <x@t-online.de>: Recipient address rejected: User unknown";
    let listing = "550 5.7.1 Unfortunately, messages from [192.0.2.5] weren't sent. Please contact your Internet \
                   service provider since part of their network is on our block list (S3150).";

    // An older agent calls both refusals `ip`. Today's controller opens only
    // the true listing; an older one opened both: plant that one through
    // the store API, as its casework did.
    {
        let store = Store::open(&config.data_dir, &config.store.options()).unwrap();
        let catalog = build_catalog(&config).unwrap();
        let mut report = valid_report("web22.example", 1, 1);
        report.ips = vec![HostIp { address: ip.into(), public: true, sends_mail: true, ..HostIp::default() }];
        let (first, last) = (report.period_start_ms, report.period_end_ms);
        let refusal = |provider: &str, sample: &str| BlocklistEvidence {
            provider: provider.into(),
            ip: ip.into(),
            family: "ip".into(),
            count: 10,
            first_seen_ms: first,
            last_seen_ms: last,
            sample: sample.into(),
            ..BlocklistEvidence::default()
        };
        report.blocklist = vec![refusal("t-online", misread), refusal("microsoft", listing)];
        let policy = ReceiverPolicy::default();
        work::report_stored(&store, &catalog, &report, last, &policy, None).unwrap();
        assert_ne!(store.receiver_state(ip, "microsoft").unwrap().unwrap().listed_since_ms, 0);
        assert!(store.receiver_state(ip, "t-online").unwrap().is_none(), "the controller's classifier disagrees");

        let refusals = Refusals { count: 10, first_ms: first, at_ms: last, code: "", sample: misread };
        let (state, change) = receivers::refused(None, ip, "t-online", refusals, &policy);
        assert_eq!(change, Change::Opened);
        let list = ListInfo::of(&catalog, "t-online");
        store.put_receiver_state(&state).unwrap();
        store
            .put_episode(&ListingEpisode {
                ip: ip.into(),
                zone_id: list.id.clone(),
                zone: list.name.clone(),
                first_seen_ms: state.listed_since_ms,
                last_seen_ms: last,
                meanings: vec![format!("{} refuses mail from this IP", list.name)],
                txt: misread.into(),
                ..ListingEpisode::default()
            })
            .unwrap();
        work::listing_opened(&store, &list, ip, state.listed_since_ms, last).unwrap();
        store.flush().await.unwrap();
    }

    let case_of = |cases: &Value, list: &str| -> Value {
        cases.as_array().unwrap().iter().find(|c| c["list_id"] == list).cloned().unwrap_or(Value::Null)
    };
    let mut history_len = 0;
    for start in 1..=2 {
        let daemon = Daemon::start_with(&config, false, false).await.unwrap();
        let url = format!("http://127.0.0.1:{}", daemon.servers.admin_addr.port());
        let cli = |args: &[&str]| {
            let mut argv: Vec<String> = ["rblfleet"].iter().chain(args).map(|s| s.to_string()).collect();
            argv.extend(["--controller".to_string(), url.clone(), "--format".into(), "json".into()]);
            async move {
                let mut out = Vec::new();
                rblfleet_controller::cli::run_args(argv, &mut out).await.unwrap();
                serde_json::from_slice::<Value>(&out).unwrap()
            }
        };
        let cases = cli(&["cases", "--all"]).await;
        let t_online = case_of(&cases, "t-online");
        assert_eq!(t_online["state"], "resolved", "start {start}: {t_online}");
        let withdrawn: Vec<&Value> =
            t_online["history"].as_array().unwrap().iter().filter(|e| e["action"] == "withdrawn").collect();
        assert_eq!(withdrawn.len(), 1, "start {start}: one withdrawal, {t_online}");
        let note = withdrawn[0]["note"].as_str().unwrap();
        assert!(
            note.starts_with(&format!("re-classified: the sample reply `{misread}` is a recipient refusal")),
            "{note}"
        );
        assert!(note.contains("closed by classifier rblfleet ") && note.contains("sha256:"), "{note}");
        let n = t_online["history"].as_array().unwrap().len();
        if start == 2 {
            assert_eq!(n, history_len, "a second start changes nothing: {t_online}");
        }
        history_len = n;

        // The true listing stays, with its case; the misread one is gone from the report.
        let microsoft = case_of(&cases, "microsoft");
        assert_eq!(microsoft["state"], "open", "{microsoft}");
        let report = cli(&["report"]).await;
        assert_eq!(listings_of(&report, ip), [("microsoft".into(), "receiver".into(), "open".into())]);
        let episodes = cli(&["ip", ip]).await["receiver_episodes"].clone();
        let cleared: Vec<bool> = episodes.as_array().unwrap().iter().map(|e| e["cleared_at"].is_string()).collect();
        assert_eq!(cleared.iter().filter(|c| **c).count(), 1, "the misread episode is closed: {episodes}");
        daemon.shutdown().await.unwrap();
    }
}
