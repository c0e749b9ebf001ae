use super::*;
use crate::alerts::config::RouteKind;
use crate::alerts::event::{EventKind, Severity};

fn silent(host: &str, severity: Severity) -> Event {
    Event {
        severity,
        at_ms: 1,
        kind: EventKind::AgentSilent { host: host.into(), last_report_ms: 0, silent_secs: 300, interval_secs: 60 },
    }
}

#[test]
fn one_window_collects_every_event_until_it_closes() {
    let start = Instant::now();
    let mut b = Batcher::new(Duration::from_secs(60));
    b.push(vec![], start);
    assert_eq!(b.closes_at(), None, "no event, no window");
    b.push(vec![silent("a", Severity::Warning)], start);
    b.push(vec![silent("b", Severity::Warning), silent("c", Severity::Info)], start + Duration::from_secs(59));
    assert_eq!(b.closes_at(), Some(start + Duration::from_secs(60)), "later events do not extend the window");
    assert!(b.take_due(start + Duration::from_secs(59)).is_none());
    let due = b.take_due(start + Duration::from_secs(60)).unwrap_or_default();
    assert_eq!(due.len(), 3);
    assert!(b.take_due(start + Duration::from_secs(200)).is_none(), "sent once");
    b.push(vec![silent("d", Severity::Warning)], start + Duration::from_secs(300));
    assert_eq!(b.closes_at(), Some(start + Duration::from_secs(360)), "the next event opens a new window");
}

#[test]
fn a_zero_window_sends_at_the_next_check() {
    let now = Instant::now();
    let mut b = Batcher::new(Duration::ZERO);
    b.push(vec![silent("a", Severity::Warning)], now);
    assert_eq!(b.take_due(now).map(|e| e.len()), Some(1));
}

#[test]
fn each_route_gets_its_own_events_and_quiet_routes_get_nothing() {
    let route = |name: &str, min| RouteConfig {
        name: name.into(),
        kind: RouteKind::Slack,
        url: Some("http://127.0.0.1/".into()),
        to: vec![],
        from: None,
        min_severity: min,
        lists: vec![],
        hosts: vec![],
    };
    let routes =
        [route("all", Severity::Info), route("critical", Severity::Critical), route("warn", Severity::Warning)];
    let events = [silent("a", Severity::Warning), silent("b", Severity::Info)];
    let split = per_route(&routes, &events);
    assert_eq!(split.iter().map(|(i, e)| (*i, e.len())).collect::<Vec<_>>(), [(0, 2), (2, 1)]);
}
