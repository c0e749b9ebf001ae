//! Message bodies: generic JSON, Slack, Microsoft Teams and e-mail text,
//! from one window's events. Every rendered text passes through the
//! [`Redactor`] last, so no blocklist key reaches a message even if some
//! field upstream carried one.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Value, json};

use super::config::RouteKind;
use super::event::{Event, Severity};
use crate::catalog::{Catalog, Zone};

/// At most this many events are spelled out in a chat message (Slack
/// refuses more than 50 blocks); the rest are counted.
const CHAT_EVENTS: usize = 40;
/// Slack's limit for one section's text is 3000 characters.
const SLACK_SECTION_CHARS: usize = 2900;

/// Replaces every configured blocklist key in a text by `<key>`.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    keyed: Vec<Zone>,
}

impl Redactor {
    pub fn new(catalog: &Catalog) -> Redactor {
        Redactor { keyed: catalog.zones().iter().filter(|z| z.has_key()).cloned().collect() }
    }

    pub fn apply(&self, text: &str) -> String {
        self.keyed.iter().fold(text.to_string(), |text, zone| zone.redact(&text))
    }
}

/// A message ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The e-mail subject (also the chat fallback text's first line).
    pub subject: String,
    pub body: String,
    pub content_type: &'static str,
}

/// Renders `events` for a route of `kind`, sent at `sent_at_ms`.
pub fn render(kind: RouteKind, events: &[Event], sent_at_ms: i64, redactor: &Redactor) -> Rendered {
    let subject = subject(events);
    let (body, content_type) = match kind {
        RouteKind::Webhook => (generic(events, sent_at_ms, &subject).to_string(), "application/json"),
        RouteKind::Slack => (slack(events, &subject).to_string(), "application/json"),
        RouteKind::Teams => (teams(events, &subject).to_string(), "application/json"),
        RouteKind::Email => (email_text(events, sent_at_ms), "text/plain; charset=utf-8"),
    };
    Rendered { subject: redactor.apply(&subject), body: redactor.apply(&body), content_type }
}

/// UTC time to the second.
pub fn rfc3339(ms: i64) -> String {
    let ms = u64::try_from(ms).unwrap_or(0);
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

fn count(events: &[Event], severity: Severity) -> usize {
    events.iter().filter(|e| e.severity == severity).count()
}

/// "rblfleet: 2 critical, 1 info: 203.0.113.7 listed on zen (+2 more)".
pub fn subject(events: &[Event]) -> String {
    let counts: Vec<String> = [Severity::Critical, Severity::Warning, Severity::Info]
        .into_iter()
        .map(|s| (s, count(events, s)))
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| format!("{n} {}", s.as_str()))
        .collect();
    let worst = events.iter().max_by_key(|e| e.severity);
    let headline = worst.map(Event::title).unwrap_or_default();
    let more = if events.len() > 1 { format!(" (+{} more)", events.len() - 1) } else { String::new() };
    format!("rblfleet: {}: {headline}{more}", counts.join(", "))
}

/// The generic webhook body: every event with all its fields.
fn generic(events: &[Event], sent_at_ms: i64, summary: &str) -> Value {
    let items: Vec<Value> = events
        .iter()
        .map(|e| {
            let mut v = serde_json::to_value(e).unwrap_or(Value::Null);
            if let Value::Object(map) = &mut v {
                map.insert("title".into(), e.title().into());
                map.insert("at".into(), rfc3339(e.at_ms).into());
            }
            v
        })
        .collect();
    json!({
        "source": "rblfleet",
        "sent_at": rfc3339(sent_at_ms),
        "summary": summary,
        "counts": {
            "critical": count(events, Severity::Critical),
            "warning": count(events, Severity::Warning),
            "info": count(events, Severity::Info),
        },
        "events": items,
    })
}

fn icon(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => ":red_circle:",
        Severity::Warning => ":large_orange_circle:",
        Severity::Info => ":large_blue_circle:",
    }
}

/// Slack's mrkdwn treats these three as control characters.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn truncate(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// A Slack incoming-webhook body: `text` for notifications, blocks for the channel.
fn slack(events: &[Event], summary: &str) -> Value {
    let mut blocks = vec![json!({
        "type": "header",
        "text": { "type": "plain_text", "text": truncate(summary.to_string(), 150) },
    })];
    for e in events.iter().take(CHAT_EVENTS) {
        let mut text = format!("{} *{}*", icon(e.severity), slack_escape(&e.title()));
        for line in e.details() {
            text.push('\n');
            text.push_str(&slack_escape(&line));
        }
        blocks.push(
            json!({ "type": "section", "text": { "type": "mrkdwn", "text": truncate(text, SLACK_SECTION_CHARS) } }),
        );
    }
    if events.len() > CHAT_EVENTS {
        let more = format!("and {} more events (see `rblfleet report`)", events.len() - CHAT_EVENTS);
        blocks.push(json!({ "type": "context", "elements": [{ "type": "mrkdwn", "text": more }] }));
    }
    json!({ "text": summary, "blocks": blocks })
}

/// A Teams body (Workflows and incoming webhooks both accept an Adaptive
/// Card attachment; the retired MessageCard is not used).
fn teams(events: &[Event], summary: &str) -> Value {
    let mut body =
        vec![json!({ "type": "TextBlock", "size": "Large", "weight": "Bolder", "text": summary, "wrap": true })];
    for e in events.iter().take(CHAT_EVENTS) {
        let color = match e.severity {
            Severity::Critical => "Attention",
            Severity::Warning => "Warning",
            Severity::Info => "Default",
        };
        body.push(json!({
            "type": "TextBlock", "weight": "Bolder", "color": color, "wrap": true, "separator": true,
            "text": format!("[{}] {}", e.severity.as_str().to_uppercase(), e.title()),
        }));
        let details = e.details();
        if !details.is_empty() {
            // Adaptive Card TextBlocks break lines only on blank lines.
            body.push(json!({ "type": "TextBlock", "wrap": true, "spacing": "None", "text": details.join("\n\n") }));
        }
    }
    if events.len() > CHAT_EVENTS {
        let more = format!("and {} more events (see rblfleet report)", events.len() - CHAT_EVENTS);
        body.push(json!({ "type": "TextBlock", "wrap": true, "isSubtle": true, "text": more }));
    }
    json!({
        "type": "message",
        "summary": summary,
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "msteams": { "width": "Full" },
                "body": body,
            },
        }],
    })
}

/// The plain-text e-mail: every event in full, worst first.
fn email_text(events: &[Event], sent_at_ms: i64) -> String {
    let mut sorted: Vec<&Event> = events.iter().collect();
    sorted.sort_by_key(|e| std::cmp::Reverse(e.severity));
    let mut text = format!("rblfleet alerts, {} ({} events)\n", rfc3339(sent_at_ms), events.len());
    for e in sorted {
        text.push_str(&format!("\n[{}] {}\n", e.severity.as_str().to_uppercase(), e.title()));
        for line in e.details() {
            text.push_str(&format!("    {line}\n"));
        }
    }
    text.push_str("\n-- \nSent by the rblfleet controller. `rblfleet report` shows every current listing.\n");
    text
}

#[cfg(test)]
mod tests;
