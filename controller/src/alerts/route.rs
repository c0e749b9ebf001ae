//! Route filters: which events a route receives.
//!
//! An event passes when its severity reaches `min_severity` and, when the
//! route names lists or hosts, the event is about one of them. A list filter
//! means "only these lists": events about no list (a silent agent) do not
//! pass it; likewise a host filter drops events about no host (a zone out of
//! service).

use super::config::RouteConfig;
use super::event::Event;

/// True when `route` wants `event`.
pub fn accepts(route: &RouteConfig, event: &Event) -> bool {
    if event.severity < route.min_severity {
        return false;
    }
    if !route.lists.is_empty() {
        let Some(list) = event.list_id() else { return false };
        if !route.lists.iter().any(|l| l.eq_ignore_ascii_case(list)) {
            return false;
        }
    }
    if !route.hosts.is_empty() {
        let hosts = event.hosts();
        if !hosts.iter().any(|h| route.hosts.iter().any(|p| glob(p, h))) {
            return false;
        }
    }
    true
}

/// Case-insensitive match of `text` against `pattern`, where `*` stands for
/// any run of characters (host names are ASCII; no other metacharacters).
pub fn glob(pattern: &str, text: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    let text = text.to_ascii_lowercase();
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests;
