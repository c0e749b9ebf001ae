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
mod tests;
