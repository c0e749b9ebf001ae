//! Reading the current Outgoing Mail Control limit from `plesk bin … --info`
//! output, so a pause can record what undo puts back.
//!
//! Plesk does not document the `--info` layout (the table marks the row
//! unverified), so this is deliberately strict: the value is taken only from
//! a `Label: value` line whose label names an outgoing-message limit, and only
//! if it is a number, `unlimited` or `default`; anything else is "unknown",
//! and the plan says so before anyone approves it.

/// The limit value in `info` output, normalised (`42`, `unlimited`, `default`).
pub fn current_limit(info: &str) -> Option<String> {
    info.lines().find_map(|line| {
        let (label, value) = line.split_once(':')?;
        let label = label.to_ascii_lowercase();
        if !(label.contains("outgoing") && (label.contains("limit") || label.contains("messages"))) {
            return None;
        }
        normalise(value.trim())
    })
}

fn normalise(value: &str) -> Option<String> {
    let lower = value.to_ascii_lowercase();
    let value = lower.trim_end_matches(|c: char| c == '.' || c.is_whitespace());
    let first = value.split_whitespace().next()?;
    match first {
        "unlimited" | "-1" => Some("unlimited".into()),
        "default" => Some("default".into()),
        n if (1..=9).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit()) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::current_limit;

    #[test]
    fn limit_lines() {
        assert_eq!(current_limit("Mailbox: yes\nOutgoing messages limit:   250\n").as_deref(), Some("250"));
        assert_eq!(current_limit("Limit on outgoing messages: Unlimited").as_deref(), Some("unlimited"));
        assert_eq!(current_limit("Outgoing messages limit: default (100)").as_deref(), Some("default"));
        assert_eq!(current_limit("Outgoing messages limit: lots").as_deref(), None);
        assert_eq!(current_limit("Mailbox quota: 100").as_deref(), None);
        assert_eq!(current_limit("").as_deref(), None);
    }
}
