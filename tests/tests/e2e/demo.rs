//! `rblfleet demo` runs the whole pipeline offline and tells the right story.

use serde_json::Value;

#[tokio::test]
async fn the_demo_names_the_listed_hosts_and_their_culprits() {
    let mut out = Vec::new();
    rblfleet_controller::cli::run_args(["rblfleet", "demo", "--format", "json"], &mut out).await.unwrap();
    let report: Value = serde_json::from_slice(&out).unwrap();
    let rows = report["listings"].as_array().unwrap();
    let find = |ip: &str, list: &str| {
        rows.iter()
            .find(|r| r["ip"] == ip && r["list"] == list)
            .unwrap_or_else(|| panic!("no {ip} on {list}: {report}"))
    };

    // web01: a hijacked mailbox, listed on Spamhaus (DNS) and refused by Microsoft (receiver-side).
    let zen = find("203.0.113.11", "zen.spamhaus.org");
    assert_eq!(zen["hosts"], serde_json::json!(["demo-web01.example"]));
    assert_eq!(zen["top_suspect"]["kind"], "mailbox");
    assert_eq!(zen["top_suspect"]["id"], "info@shop.example");
    assert_eq!(zen["case"]["state"], "open");
    assert!(rows.iter().any(|r| r["ip"] == "203.0.113.11" && r["kind"] == "receiver" && r["list_id"] == "microsoft"));

    // web02: the PHP mailer's host, listed on Barracuda; its suspect is on web02.
    let brbl = find("203.0.113.12", "b.barracudacentral.org");
    assert_eq!(brbl["top_suspect"]["host"], "demo-web02.example");

    // web02's club.example, whose PHP mailer spams, is on the DBL; its
    // suspect sends as the domain.
    let dbl =
        rows.iter().find(|r| r["domain"] == "club.example").unwrap_or_else(|| panic!("no club.example: {report}"));
    assert_eq!(
        (dbl["list"].as_str(), dbl["hosts"].clone()),
        (Some("dbl.spamhaus.org"), serde_json::json!(["demo-web02.example"]))
    );
    assert!(dbl["top_suspect"]["id"].as_str().unwrap().ends_with("@club.example"), "{dbl}");
    assert_eq!(report["summary"]["domains_listed"], 1);

    // web03 is healthy: none of its addresses or domains is listed.
    assert!(rows.iter().all(|r| r["hosts"] != serde_json::json!(["demo-web03.example"])), "{report}");
    assert_eq!(report["summary"]["hosts"], 3);
}
