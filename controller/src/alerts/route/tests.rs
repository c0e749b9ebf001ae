use super::*;
use crate::alerts::config::RouteKind;
use crate::alerts::event::{EventKind, ListingInfo, Severity};

fn route(min: Severity, lists: &[&str], hosts: &[&str]) -> RouteConfig {
    RouteConfig {
        name: "r".into(),
        kind: RouteKind::Webhook,
        url: Some("http://127.0.0.1/".into()),
        to: vec![],
        from: None,
        min_severity: min,
        lists: lists.iter().map(|s| s.to_string()).collect(),
        hosts: hosts.iter().map(|s| s.to_string()).collect(),
    }
}

fn listed(severity: Severity, list: &str, hosts: &[&str]) -> Event {
    let listing = ListingInfo {
        ip: "203.0.113.7".into(),
        list_id: list.into(),
        hosts: hosts.iter().map(|s| s.to_string()).collect(),
        ..ListingInfo::default()
    };
    Event { severity, at_ms: 0, kind: EventKind::Listed { listing } }
}

#[test]
fn globs() {
    assert!(glob("web*.example.net", "web07.example.net"));
    assert!(glob("WEB*", "web07.example.net"));
    assert!(glob("*.example.net", "a.example.net"));
    assert!(glob("*", "anything"));
    assert!(glob("a*b*c", "aXXbYYc"));
    assert!(!glob("a*b*c", "aXXcYYb"));
    assert!(!glob("web*.example.net", "mail.example.net"));
    assert!(!glob("ab*ba", "aba"), "the prefix and suffix must not overlap");
    assert!(glob("mail.example.net", "MAIL.example.net"));
    assert!(!glob("mail.example.net", "mail.example.net.evil"));
}

#[test]
fn severity_list_and_host_filters() {
    let all = route(Severity::Info, &[], &[]);
    let critical = route(Severity::Critical, &[], &[]);
    let zen = route(Severity::Info, &["Spamhaus-ZEN"], &[]);
    let web = route(Severity::Info, &[], &["web*"]);
    let e = listed(Severity::Warning, "spamhaus-zen", &["web07", "mail1"]);
    assert!(accepts(&all, &e));
    assert!(!accepts(&critical, &e));
    assert!(accepts(&zen, &e));
    assert!(accepts(&web, &e), "one of the listing's hosts matches");
    let other = listed(Severity::Critical, "spamcop", &["mail1"]);
    assert!(accepts(&critical, &other));
    assert!(!accepts(&zen, &other));
    assert!(!accepts(&web, &other));
    let silent = Event {
        severity: Severity::Warning,
        at_ms: 0,
        kind: EventKind::AgentSilent { host: "web03".into(), last_report_ms: 0, silent_secs: 1, interval_secs: 1 },
    };
    assert!(accepts(&web, &silent));
    assert!(!accepts(&zen, &silent), "a list filter keeps only events about those lists");
}
