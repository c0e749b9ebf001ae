//! Batching: events detected within one window go out together, one message
//! per route, so a burst (a list listing twenty IPs at once) is one chat
//! message instead of twenty. The window opens at the first event and
//! closes `window` later; an empty window sends nothing.

use std::time::{Duration, Instant};

use super::config::RouteConfig;
use super::event::Event;
use super::route;

/// Pending events and when their window closes. Time comes in as arguments.
#[derive(Debug)]
pub struct Batcher {
    window: Duration,
    pending: Vec<Event>,
    closes_at: Option<Instant>,
}

impl Batcher {
    pub fn new(window: Duration) -> Batcher {
        Batcher { window, pending: Vec::new(), closes_at: None }
    }

    /// Adds events seen at `now`; the first one opens the window.
    pub fn push(&mut self, events: Vec<Event>, now: Instant) {
        if events.is_empty() {
            return;
        }
        if self.closes_at.is_none() {
            self.closes_at = Some(now + self.window);
        }
        self.pending.extend(events);
    }

    /// When the open window closes (None: nothing pending).
    pub fn closes_at(&self) -> Option<Instant> {
        self.closes_at
    }

    /// The window's events once it has closed at `now`.
    pub fn take_due(&mut self, now: Instant) -> Option<Vec<Event>> {
        match self.closes_at {
            Some(at) if now >= at => {
                self.closes_at = None;
                Some(std::mem::take(&mut self.pending))
            }
            _ => None,
        }
    }
}

/// The events each route receives from one window: (route index, events),
/// only routes with at least one event.
pub fn per_route(routes: &[RouteConfig], events: &[Event]) -> Vec<(usize, Vec<Event>)> {
    routes
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let mine: Vec<Event> = events.iter().filter(|e| route::accepts(r, e)).cloned().collect();
            (!mine.is_empty()).then_some((i, mine))
        })
        .collect()
}

#[cfg(test)]
mod tests {
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
}
