//! The whole path with real agents: each reads its domains (a vhosts
//! directory and a static list, as on a Plesk host) and a Postfix log, and
//! reports them; the controller checks the domains on a DBL-style zone.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use rblfleet_agent::parse::civil_from_days;
use rblfleet_agent::{Agent, Config as AgentConfig, RunOptions};
use rblfleet_tests::{agent_toml, dnsbl_controller};
use serde_json::Value;

const HOST: &str = "web30.example";

/// A Postfix log: `n` messages from `from` to `rcpt_domain`, each refused
/// with `reply` (or delivered when `reply` is None).
fn postfix_log(out: &mut String, first_qid: u64, n: u64, from: &str, reply: Option<&str>) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let (_, month, day) = civil_from_days(now.div_euclid(86_400));
    let secs = now.rem_euclid(86_400);
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let stamp =
        format!("{} {day:>2} {:02}:{:02}:{:02}", months[month as usize - 1], secs / 3600, secs / 60 % 60, secs % 60);
    for i in 0..n {
        let qid = format!("{:X}", first_qid + i);
        let mut line = |program: &str, text: String| {
            let _ = writeln!(out, "{stamp} web30 {program}[{}]: {text}", 1000 + i);
        };
        line("postfix/qmgr", format!("{qid}: from=<{from}>, size=2048, nrcpt=1 (queue active)"));
        match reply {
            Some(reply) => {
                line(
                    "postfix/smtp",
                    format!(
                        "{qid}: to=<user{i}@mail.example.net>, relay=mx.mail.example.net[198.51.100.40]:25, delay=1, delays=0.1/0/0.4/0.5, dsn=5.7.1, status=bounced (host mx.mail.example.net[198.51.100.40] said: {reply} (in reply to RCPT TO command))"
                    ),
                );
            }
            None => line(
                "postfix/smtp",
                format!(
                    "{qid}: to=<user{i}@mail.example.net>, relay=mx.mail.example.net[198.51.100.40]:25, delay=1, delays=0.1/0/0.4/0.5, dsn=2.0.0, status=sent (250 2.0.0 OK)"
                ),
            ),
        }
        line("postfix/qmgr", format!("{qid}: removed"));
    }
}

fn vhosts(dir: &Path, names: &[&str]) {
    for name in names {
        std::fs::create_dir_all(dir.join(name).join("httpdocs")).unwrap();
    }
}

#[tokio::test]
async fn agents_report_their_domains_and_a_listed_one_reaches_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let (pki, dns, controller) = dnsbl_controller(tmp.path(), &["dbl"], |config| {
        config.dnsbl.timeout = Duration::from_secs(2);
    })
    .await;
    dns.list_name("dbl.test", "shop.example", &[Ipv4Addr::new(127, 0, 1, 2)], Some("abused shop")).unwrap();

    let vhosts_dir = tmp.path().join("vhosts");
    vhosts(&vhosts_dir, &["shop.example", "quiet.example", "default", "system"]);
    let mut log = String::new();
    let dbl = "554 5.7.1 Service unavailable; Sender address [info@shop.example] blocked using dbl.spamhaus.org";
    postfix_log(&mut log, 0xA0000, 30, "info@shop.example", Some(dbl));
    postfix_log(&mut log, 0xB0000, 20, "news@quiet.example", None);
    let maillog = tmp.path().join("mail.log");
    std::fs::write(&maillog, log).unwrap();

    let missing = tmp.path().join("absent");
    let toml = format!(
        "{base}\n[logs]\npaths = [{maillog:?}]\njournald = \"never\"\nread_existing = true\n[queue]\nmta = \"none\"\n\
         [domains]\nsources = [\"postfix\", \"vhosts\", \"static\"]\nvhosts_dir = {vhosts:?}\n\
         postfix_map = {absent:?}\nstatic = [\"Bücher.example\"]\n",
        base = agent_toml(&pki, HOST, &controller.agent_url(), &tmp.path().join("outbox")),
        maillog = maillog.display().to_string(),
        vhosts = vhosts_dir.display().to_string(),
        absent = missing.display().to_string(),
    );
    let mut agent = Agent::open(AgentConfig::from_toml_str(&toml).unwrap(), RunOptions::default()).await.unwrap();
    agent.tick().unwrap();
    let outcome = agent.flush().await;
    assert_eq!((outcome.sent, agent.backlog()), (1, 0), "{outcome:?}");

    let mut listed = Value::Null;
    for _ in 0..40 {
        controller.engine().pass().await.unwrap();
        let report: Value =
            serde_json::from_str(&controller.cli(&["report", "--format", "json"]).await.unwrap()).unwrap();
        if let Some(row) = report["listings"].as_array().unwrap().iter().find(|r| r["domain"] == "shop.example") {
            listed = row.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(listed["hosts"], serde_json::json!([HOST]), "{listed}");
    assert!(listed["case"]["id"].as_u64().unwrap_or(0) > 0, "{listed}");

    let host: Value =
        serde_json::from_str(&controller.cli(&["host", HOST, "--format", "json"]).await.unwrap()).unwrap();
    // shop.example, quiet.example (vhosts; Plesk's own directories skipped) and the static IDN.
    assert_eq!(host["domains_served"], 3, "{host}");
    let refusals: Vec<&Value> =
        host["blocklist_24h"].as_array().unwrap().iter().filter(|e| e["family"] == "domain").collect();
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert_eq!(refusals[0]["count"], 30);

    let view: Value =
        serde_json::from_str(&controller.cli(&["domain", "shop.example", "--format", "json"]).await.unwrap()).unwrap();
    assert_eq!(view["senders"][0]["messages"], 30, "{view}");
    assert_eq!(view["refusals"][0]["count"], 30, "{view}");
    let idn: Value =
        serde_json::from_str(&controller.cli(&["domain", "bücher.example", "--format", "json"]).await.unwrap())
            .unwrap();
    assert_eq!(idn["hosts"][0]["unicode"], "bücher.example", "{idn}");
    // quiet.example sends, is checked, and is clean.
    let quiet: Value =
        serde_json::from_str(&controller.cli(&["domain", "quiet.example", "--format", "json"]).await.unwrap()).unwrap();
    assert_eq!(quiet["checks"][0]["status"], "clean", "{quiet}");
    controller.stop().await;
}
