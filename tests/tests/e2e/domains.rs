//! Hosted domains on domain blocklists, end to end: agents report the
//! domains they serve and send with, the controller checks them on DBL- and
//! URIBL-style zones served on 127.0.0.1, and the report, host and domain
//! views, the budgets and the bounce-forced checks follow.

mod agents;

use std::net::Ipv4Addr;

use rblfleet_controller::dnsbl::engine::PassStats;
use rblfleet_proto::v1::{BlocklistEvidence, HostDomain, HostDomains, HostReport, NamedCount, SourceKind, SourceStats};
use rblfleet_tests::{Controller, Pki, dnsbl_controller, raw_agent_client, valid_report};
use serde_json::{Value, json};

fn hosted(name: &str, unicode: &str, subscription: &str) -> HostDomain {
    HostDomain { name: name.into(), unicode: unicode.into(), subscription: subscription.into(), mail: true }
}

fn source(kind: SourceKind, id: &str, subscription: &str, messages: u64) -> SourceStats {
    SourceStats {
        kind: kind as i32,
        id: id.into(),
        subscription: subscription.into(),
        messages,
        recipients: messages,
        recipient_domains: messages / 2,
        sent: messages,
        suspicion: 4.0,
        reasons: vec!["sent to many domains".into()],
        ..SourceStats::default()
    }
}

fn sending(name: &str, count: u64) -> NamedCount {
    NamedCount { name: name.into(), count }
}

fn report(host: &str, seq: u64, domains: Option<Vec<HostDomain>>, senders: Vec<NamedCount>) -> HostReport {
    let mut report = valid_report(host, 1, seq);
    report.domains = domains.map(|domains| HostDomains { domains, sources: vec!["plesk".into()], truncated: false });
    report.sender_domains = senders;
    report
}

async fn send(pki: &Pki, controller: &Controller, report: HostReport) {
    let (cert, key) = pki.agent(&report.host_id);
    let mut client = raw_agent_client(&controller.agent_url(), &pki.ca_cert(), Some((&cert, &key))).await.unwrap();
    client.report(report).await.unwrap();
}

async fn pass(controller: &Controller) -> PassStats {
    controller.engine().pass().await.unwrap()
}

async fn json_of(controller: &Controller, args: &[&str]) -> Value {
    serde_json::from_str(&controller.cli(args).await.unwrap()).unwrap()
}

fn check_of<'a>(view: &'a Value, zone_id: &str) -> &'a Value {
    view["checks"].as_array().unwrap().iter().find(|c| c["zone_id"] == zone_id).unwrap()
}

#[tokio::test]
async fn a_listed_domain_is_reported_with_its_host_subscription_and_case_and_an_error_is_never_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let (pki, dns, controller) = dnsbl_controller(tmp.path(), &["bl", "dbl", "uribl"], |_| {}).await;
    let spam = [Ipv4Addr::new(127, 0, 1, 2)];
    dns.list_name("dbl.test", "shop.example", &spam, Some("https://dbl.test/lookup?name=shop.example")).unwrap();
    dns.list_name("dbl.test", "bücher.example", &spam, None).unwrap();
    // URIBL's 127.0.0.1: the query was refused. An error, never a listing, never clean.
    dns.list_name("uribl.test", "refused.example", &[Ipv4Addr::new(127, 0, 0, 1)], None).unwrap();

    let domains = vec![
        hosted("shop.example", "", "shopsub"),
        hosted("www.shop.example", "", "shopsub"),
        hosted("xn--bcher-kva.example", "bücher.example", "books"),
        hosted("refused.example", "", "other"),
        hosted("clean.example", "", "other"),
    ];
    let mut first = report("web01.example", 1, Some(domains), vec![sending("shop.example", 25)]);
    // The mailbox that sends as shop.example, a script of the subscription
    // whose main domain is shop.example, and a busier unrelated mailbox.
    first.sources = vec![
        source(SourceKind::SaslUser, "info@shop.example", "shop.example", 400),
        source(SourceKind::Script, "/var/www/vhosts/shop.example/httpdocs/mailer.php", "shop.example", 300),
        source(SourceKind::SaslUser, "bob@clean.example", "clean.example", 900),
    ];
    send(&pki, &controller, first).await;
    let stats = pass(&controller).await;
    // Four registrable domains (www.shop.example is shop.example) on two lists.
    assert_eq!(stats.watched_domains, 4, "{stats:?}");
    // 4 domains on 2 domain lists, plus the report's one IP on bl.
    assert_eq!(stats.checks, 9, "{stats:?}");
    // shop.example sends: it goes with the IP, before the other domains.
    assert_eq!(stats.by_class, [0, 3, 6], "{stats:?}");
    assert_eq!(stats.listed, 2, "{stats:?}");
    // The customer's host name was never sent to a list.
    assert_eq!(dns.unmatched_queries(), 0);

    let report = json_of(&controller, &["report", "--format", "json"]).await;
    assert_eq!(report["summary"]["domains_watched"], 4);
    assert_eq!(report["summary"]["domains_listed"], 2);
    let rows = report["listings"].as_array().unwrap();
    let shop = rows.iter().find(|r| r["domain"] == "shop.example").unwrap();
    assert_eq!(shop["hosts"], json!(["web01.example"]));
    assert_eq!(shop["subscriptions"], json!(["shopsub"]));
    assert_eq!(shop["list_id"], "dbl");
    assert_eq!(shop["meanings"], json!(["spam domain"]));
    assert!(shop["case"]["id"].as_u64().unwrap() > 0, "{shop}");
    assert!(shop.get("ip").is_none(), "a domain row is not an IP row: {shop}");
    // Its top suspect sends with the domain; the busier unrelated mailbox is not one.
    assert_eq!(shop["top_suspect"]["id"], "info@shop.example", "{shop}");
    assert!(rows.iter().any(|r| r["domain"] == "xn--bcher-kva.example"), "{rows:?}");
    assert!(!rows.iter().any(|r| r["domain"] == "refused.example"), "an error answer became a listing: {rows:?}");

    let table = controller.cli(&["report"]).await.unwrap();
    assert!(table.contains("2 of 4 domains listed"), "{table}");
    assert!(table.contains("subscription shopsub"), "{table}");

    // The drill-down takes any form of the name: a host name under it.
    let view = json_of(&controller, &["domain", "www.shop.example", "--format", "json"]).await;
    assert_eq!(view["domain"], "shop.example");
    let names: Vec<&str> = view["hosts"].as_array().unwrap().iter().map(|h| h["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["shop.example", "www.shop.example"]);
    assert_eq!(view["senders"][0]["messages"], 25);
    let dbl = check_of(&view, "dbl");
    assert_eq!(
        (dbl["status"].as_str(), dbl["txt"].as_str()),
        (Some("listed"), Some("https://dbl.test/lookup?name=shop.example"))
    );
    assert_eq!(check_of(&view, "uribl")["status"], "clean");
    assert_eq!(view["cases"].as_array().unwrap().len(), 1);
    let suspects: Vec<&str> = view["suspects"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert!(
        suspects.contains(&"info@shop.example") && suspects.iter().any(|s| s.ends_with("mailer.php")),
        "{suspects:?}"
    );
    assert!(!suspects.contains(&"bob@clean.example"), "{suspects:?}");
    let table = controller.cli(&["domain", "shop.example"]).await.unwrap();
    assert!(table.contains("domain  shop.example") && table.contains("LISTED"), "{table}");
    assert!(table.contains("subscription shopsub") && table.contains("cases:"), "{table}");
    // The Unicode form of an IDN reaches the same domain.
    let idn = json_of(&controller, &["domain", "Bücher.example", "--format", "json"]).await;
    assert_eq!(
        (idn["domain"].as_str(), idn["unicode"].as_str()),
        (Some("xn--bcher-kva.example"), Some("bücher.example"))
    );

    let refused = json_of(&controller, &["domain", "refused.example", "--format", "json"]).await;
    let uribl = check_of(&refused, "uribl");
    assert_eq!(uribl["status"], "error", "{uribl}");
    assert!(uribl["error"].as_str().unwrap().contains("refused"), "{uribl}");

    let host = json_of(&controller, &["host", "web01.example", "--format", "json"]).await;
    assert_eq!(host["domains_served"], 5);
    let listed: Vec<&str> = host["listings"].as_array().unwrap().iter().filter_map(|l| l["domain"].as_str()).collect();
    assert_eq!(listed.len(), 2, "{host}");
    controller.stop().await;
}

#[tokio::test]
async fn sending_domains_are_checked_first_under_a_tight_budget() {
    let tmp = tempfile::tempdir().unwrap();
    let (pki, dns, controller) = dnsbl_controller(tmp.path(), &["dombudget"], |_| {}).await;
    // Ten domains that only exist (alphabetically first), three that send.
    let mut domains: Vec<HostDomain> = (0..10).map(|i| hosted(&format!("a-quiet{i}.example"), "", "q")).collect();
    domains.extend((0..3).map(|i| hosted(&format!("z-sends{i}.example"), "", "s")));
    let senders = (0..3).map(|i| sending(&format!("z-sends{i}.example"), 10 + i)).collect();
    send(&pki, &controller, report("web02.example", 1, Some(domains), senders)).await;

    // dombudget.test allows 6 queries a day: the probe's two, then 4 checks
    // (the daily budget counts queries sent, as the stored usage does).
    let stats = pass(&controller).await;
    assert_eq!(stats.checks, 4, "{stats:?}");
    assert_eq!(stats.by_class, [0, 3, 1], "every sending domain before the others: {stats:?}");
    assert_eq!(stats.deferred, 9, "{stats:?}");
    for i in 0..3 {
        let view = json_of(&controller, &["domain", &format!("z-sends{i}.example"), "--format", "json"]).await;
        assert_eq!(view["checks"].as_array().unwrap().len(), 1, "{view}");
    }
    assert!(dns.queries("dombudget.test") <= 2 + 4);
    controller.stop().await;
}

#[tokio::test]
async fn a_domain_bounce_forces_the_check_of_the_domain_it_names() {
    let tmp = tempfile::tempdir().unwrap();
    let (pki, dns, controller) = dnsbl_controller(tmp.path(), &["dbl"], |_| {}).await;
    let domains = vec![hosted("news.example", "", "news"), hosted("other.example", "", "news")];
    send(&pki, &controller, report("web03.example", 1, Some(domains), vec![sending("news.example", 3)])).await;
    assert_eq!(pass(&controller).await.checks, 2);

    // news.example gets listed; its next scheduled check is hours away.
    dns.list_name("dbl.test", "news.example", &[Ipv4Addr::new(127, 0, 1, 2)], None).unwrap();
    assert_eq!(pass(&controller).await.checks, 0);

    // The agent reports refusals of family "domain" for mail sent as news.example.
    let mut next = report("web03.example", 2, None, vec![sending("news.example", 40)]);
    next.blocklist.push(BlocklistEvidence {
        provider: "spamhaus".into(),
        zone: "dbl.spamhaus.org".into(),
        family: "domain".into(),
        domain: "news.example".into(),
        count: 40,
        first_seen_ms: next.period_start_ms,
        last_seen_ms: next.period_end_ms,
        sample: "554 5.7.1 Service unavailable; Sender address [info@news.example] blocked using dbl.spamhaus.org"
            .into(),
        ..BlocklistEvidence::default()
    });
    send(&pki, &controller, next).await;
    let stats = pass(&controller).await;
    assert_eq!((stats.checks, stats.listed, stats.by_class[0]), (1, 1, 1), "{stats:?}");

    // The domain view shows the refusals that name it.
    let view = json_of(&controller, &["domain", "news.example", "--format", "json"]).await;
    assert_eq!(view["refusals"][0]["count"], 40, "{view}");
    assert_eq!(view["episodes"].as_array().unwrap().len(), 1);
    controller.stop().await;
}

#[tokio::test]
async fn check_takes_domains_and_keeps_its_exit_codes() {
    let dns = rblfleet_tests::test_zone_server().await;
    dns.list_name("dbl.test", "shop.example", &[Ipv4Addr::new(127, 0, 1, 2)], Some("spam domain")).unwrap();
    dns.list_name("dbl.test", "broken.example", &[Ipv4Addr::new(127, 0, 1, 255)], None).unwrap();
    let catalog = rblfleet_tests::test_catalog();
    let check = |args: &'static [&'static str]| rblfleet_tests::check_json(dns.addr(), &catalog, args);

    // A host name is checked as its registrable domain, on the domain lists only.
    let (rows, code) = check(&["www.shop.example", "--zones=dbl,uribl"]).await;
    assert_eq!(code, 2);
    assert_eq!(rows[0]["domain"], "shop.example");
    assert_eq!((rows[0]["zone"].as_str(), rows[0]["status"].as_str()), (Some("dbl.test"), Some("listed")));
    assert_eq!(rows[1]["status"], "clean");
    // A documented error code: exit 3, never clean.
    let (rows, code) = check(&["broken.example", "--zones=dbl"]).await;
    assert_eq!((code, rows[0]["status"].as_str()), (3, Some("error")));
    // An IP named against a domain list is skipped with the reason.
    let (rows, code) = check(&["192.0.2.1", "--zones=dbl"]).await;
    assert_eq!((code, rows[0]["status"].as_str()), (0, Some("skipped")));
    assert!(rows[0]["reason"].as_str().unwrap().contains("lists domains"), "{}", rows[0]);
    // Without --zones an IP and a domain each go to their own kind of zone.
    let (rows, _) = check(&["192.0.2.1", "shop.example"]).await;
    assert!(rows.iter().filter(|r| r.get("ip").is_some()).all(|r| r["zone"] != "dbl.test"));
    assert!(
        rows.iter()
            .filter(|r| r.get("domain").is_some())
            .all(|r| r["zone"] == "dbl.test" || r["zone"] == "uribl.test" || r["zone"] == "dombudget.test")
    );
}
