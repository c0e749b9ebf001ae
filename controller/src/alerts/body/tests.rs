#![allow(clippy::unwrap_used)]

use serde_json::Value;

use super::*;
use crate::alerts::event::{Delist, EventKind, ListingInfo, TopSuspect};
use crate::catalog::{CatalogConfig, ZoneOverride};

const KEY: &str = "abcdefghijklmnopqrstuvwxyz";

fn listing_event() -> Event {
    let listing = ListingInfo {
        ip: "203.0.113.7".into(),
        kind: "ip".into(),
        list_id: "spamhaus-zen-dqs".into(),
        list: "<key>.zen.dq.spamhaus.net".into(),
        hosts: vec!["web07.example".into()],
        since_ms: 1_700_000_000_000,
        meanings: vec!["SBL: spam source".into()],
        // A field that (wrongly) carries the key: the redactor must catch it.
        txt: format!("see https://check.spamhaus.org/query/{KEY}.zen.dq.spamhaus.net"),
        case_id: 12,
        delist: Delist { kind: "form".into(), url: "https://check.spamhaus.org/".into(), ..Delist::default() },
        top_suspect: Some(TopSuspect {
            host_id: "web07.example".into(),
            kind: "mailbox".into(),
            id: "info@shop.example".into(),
            subscription: "shop.example".into(),
            reasons: vec!["300 messages to 250 domains in an hour".into()],
            plan: crate::alerts::event::plan_command("web07.example", "mailbox", "info@shop.example", "shop.example"),
        }),
        warned: None,
    };
    Event { severity: Severity::Critical, at_ms: 1_700_000_060_000, kind: EventKind::Listed { listing } }
}

fn silent_event() -> Event {
    Event {
        severity: Severity::Warning,
        at_ms: 1_700_000_060_000,
        kind: EventKind::AgentSilent {
            host: "web09 <&>".into(),
            last_report_ms: 0,
            silent_secs: 400,
            interval_secs: 60,
        },
    }
}

/// The embedded catalog with the Spamhaus DQS key set.
fn redactor() -> Redactor {
    let mut catalog = Catalog::embedded().unwrap();
    let mut config = CatalogConfig::default();
    config.zone.insert("spamhaus-zen-dqs".into(), ZoneOverride { key: Some(KEY.into()), ..Default::default() });
    catalog.apply(&config).unwrap();
    Redactor::new(&catalog)
}

fn render_all() -> Vec<Rendered> {
    let events = [listing_event(), silent_event()];
    [RouteKind::Webhook, RouteKind::Slack, RouteKind::Teams, RouteKind::Email]
        .map(|k| render(k, &events, 1_700_000_120_000, &redactor()))
        .into()
}

#[test]
fn no_body_carries_a_key() {
    for r in render_all() {
        assert!(!r.body.to_ascii_lowercase().contains(KEY), "{}", r.body);
        assert!(r.body.contains("zen.dq.spamhaus.net"), "{}", r.body);
    }
}

#[test]
fn generic_json_has_every_field() {
    let body: Value = serde_json::from_str(&render_all()[0].body).unwrap();
    assert_eq!(body["source"], "rblfleet");
    assert_eq!(body["counts"], serde_json::json!({ "critical": 1, "warning": 1, "info": 0 }));
    let e = &body["events"][0];
    assert_eq!((e["kind"].as_str(), e["severity"].as_str()), (Some("listed"), Some("critical")));
    assert_eq!(e["listing"]["ip"], "203.0.113.7");
    assert_eq!(e["listing"]["delist"]["url"], "https://check.spamhaus.org/");
    assert_eq!(e["listing"]["top_suspect"]["id"], "info@shop.example");
    assert_eq!(e["title"], "203.0.113.7 listed on <key>.zen.dq.spamhaus.net");
    assert_eq!(e["at"], "2023-11-14T22:14:20Z");
    assert_eq!(body["events"][1]["kind"], "agent_silent");
    assert!(body["summary"].as_str().unwrap().starts_with("rblfleet: 1 critical, 1 warning: 203.0.113.7 listed"));
}

#[test]
fn slack_has_text_and_escaped_blocks() {
    let body: Value = serde_json::from_str(&render_all()[1].body).unwrap();
    assert!(body["text"].as_str().unwrap().contains("1 critical"));
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    let first = blocks[1]["text"]["text"].as_str().unwrap();
    assert!(first.starts_with(":red_circle: *203.0.113.7 listed on &lt;key&gt;.zen.dq.spamhaus.net*"), "{first}");
    assert!(first.contains("top suspect: mailbox info@shop.example on web07.example"), "{first}");
    assert!(first.contains("delisting: self-service removal form: https://check.spamhaus.org/"), "{first}");
    assert!(blocks[2]["text"]["text"].as_str().unwrap().contains("web09 &lt;&amp;&gt;"));
}

#[test]
fn teams_is_an_adaptive_card() {
    let body: Value = serde_json::from_str(&render_all()[2].body).unwrap();
    assert_eq!(body["type"], "message");
    let card = &body["attachments"][0];
    assert_eq!(card["contentType"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(card["content"]["type"], "AdaptiveCard");
    let texts: Vec<&str> =
        card["content"]["body"].as_array().unwrap().iter().filter_map(|b| b["text"].as_str()).collect();
    assert!(texts.iter().any(|t| t.starts_with("[CRITICAL] 203.0.113.7 listed on")), "{texts:?}");
    assert!(texts.iter().any(|t| t.contains("top suspect: mailbox info@shop.example")), "{texts:?}");
}

#[test]
fn email_subject_and_text() {
    let mail = &render_all()[3];
    assert_eq!(
        mail.subject,
        "rblfleet: 1 critical, 1 warning: 203.0.113.7 listed on <key>.zen.dq.spamhaus.net (+1 more)"
    );
    assert!(mail.content_type.starts_with("text/plain"));
    assert!(mail.body.contains("[CRITICAL] 203.0.113.7 listed on <key>.zen.dq.spamhaus.net\n"), "{}", mail.body);
    assert!(mail.body.contains("    delisting: self-service removal form"), "{}", mail.body);
    assert!(mail.body.contains("[WARNING] web09 <&>: agent silent for 6 min"), "{}", mail.body);
}

#[test]
fn long_batches_are_cut_for_chat() {
    let events: Vec<Event> = (0..100).map(|_| silent_event()).collect();
    let body: Value = serde_json::from_str(&render(RouteKind::Slack, &events, 0, &Redactor::default()).body).unwrap();
    let blocks = body["blocks"].as_array().unwrap();
    assert!(blocks.len() <= 50, "Slack takes at most 50 blocks");
    assert!(blocks.last().unwrap().to_string().contains("and 60 more events"));
}

#[test]
fn a_listing_that_was_warned_of_says_how_long_before() {
    let mut event = listing_event();
    if let Some(listing) = event.listing_mut() {
        listing.warned = Some(crate::alerts::event::Warned {
            host: "web07.example".into(),
            subject: "mailbox info@shop.example".into(),
            warned_ms: 1_699_999_000_000,
            lead_secs: 2_820,
        });
    }
    let details = event.details();
    assert!(
        details
            .iter()
            .any(|d| d == "early warning: mailbox info@shop.example on web07.example, 47 min before this listing"),
        "{details:?}"
    );
    let body = serde_json::to_value(&event).unwrap();
    assert_eq!(body["listing"]["warned"]["lead_secs"], 2_820);
}

#[test]
fn listing_and_outbreak_alerts_carry_the_plan_command_for_the_top_suspect() {
    use crate::alerts::event::{OutbreakInfo, plan_command};
    let plan = "rblfleet contain plan web07.example mailbox:info@shop.example hold_queue";
    let outbreak = Event {
        severity: Severity::Warning,
        at_ms: 1_700_000_060_000,
        kind: EventKind::Outbreak {
            warning: OutbreakInfo {
                host: "web08.example".into(),
                source_kind: "script".into(),
                source: "10001:mailer.php".into(),
                plan: plan_command("web08.example", "script", "10001:mailer.php", "shop.example"),
                ..OutbreakInfo::default()
            },
        },
    };
    let events = [listing_event(), outbreak];
    let text = render(RouteKind::Email, &events, 1_700_000_120_000, &Redactor::default()).body;
    assert!(text.contains(&format!("contain: {plan}")), "{text}");
    assert!(text.contains("contain: rblfleet contain plan web08.example script:10001:mailer.php quarantine_script"));
    let json: Value =
        serde_json::from_str(&render(RouteKind::Webhook, &events, 1_700_000_120_000, &Redactor::default()).body)
            .unwrap();
    assert_eq!(json["events"][0]["listing"]["top_suspect"]["plan"], plan, "{json}");
    assert_eq!(
        json["events"][1]["warning"]["plan"],
        "rblfleet contain plan web08.example script:10001:mailer.php quarantine_script"
    );

    // A default action per kind; no source, no command; a hostile id stays one word.
    assert_eq!(
        plan_command("web07", "local_user", "10001", "shop.example"),
        "rblfleet contain plan web07 user:10001 pause_subscription"
    );
    assert_eq!(plan_command("web07", "local_user", "10001", ""), "rblfleet contain plan web07 user:10001 hold_queue");
    assert_eq!(
        plan_command("web07", "sender", "a@b.example", ""),
        "rblfleet contain plan web07 sender:a@b.example hold_queue"
    );
    assert_eq!(plan_command("web07", "host", "", ""), "");
    assert_eq!(
        plan_command("web07", "sender", "x'$(reboot)@b.example", ""),
        "rblfleet contain plan web07 'sender:x'\\''$(reboot)@b.example' hold_queue"
    );
}
