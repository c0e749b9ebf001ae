#![allow(clippy::unwrap_used)]

use std::path::Path;

use super::*;

fn origin() -> LineOrigin<'static> {
    LineOrigin { file: Path::new("/var/log/maillog"), offset: Some(42) }
}
const EURO: &str = "Dec  4 10:00:00 srv01 postfix/cleanup[123]: 4AA091855DA0: warning: header Subject: \
                    Angebot 100 €€€ jetzt from local; from=<a@b.example> to=<c@d.example>";

#[test]
fn a_panic_is_caught_counted_per_program_and_the_next_line_runs() {
    let mut guard = LineGuard::new();
    assert_eq!(guard.run(EURO, origin(), || 7), Some(7));
    let failed: Option<()> = guard.run(EURO, origin(), || {
        let s = "€€€";
        // The kind of bug the issue found: a byte index inside a character.
        let at = s.len() - 1;
        panic!("byte index {at} is not a char boundary in {s}")
    });
    assert_eq!(failed, None);
    assert_eq!(guard.run("Dec  4 10:00:01 srv01 postfix/smtp[9]: x", origin(), || panic!("again")), None::<()>);
    assert_eq!(guard.run("\u{0}\u{0}garbage", origin(), || panic!("third")), None::<()>);
    let counts: Vec<(&str, u64)> = guard.failed().iter().map(|(k, &v)| (k.as_str(), v)).collect();
    assert_eq!(counts, [("postfix/cleanup", 1), ("postfix/smtp", 1), ("unrecognised", 1)]);
    assert_eq!(guard.run(EURO, origin(), || "still works"), Some("still works"));
    let (taken, truncated) = guard.take();
    assert_eq!(taken.values().sum::<u64>(), 3);
    assert_eq!(truncated, 0);
    assert!(guard.failed().is_empty());
}

#[test]
fn panics_outside_the_guard_still_reach_the_previous_hook() {
    let mut guard = LineGuard::new();
    assert_eq!(guard.run(EURO, origin(), || panic!("caught")), None::<()>);
    // The hook is installed now; an unguarded panic on another thread is
    // still a panic that `join` reports, not swallowed.
    let outside = std::thread::spawn(|| panic!("not guarded")).join();
    assert!(outside.is_err());
    assert!(!GUARDED.with(Cell::get), "the flag is reset after a caught panic");
}

#[test]
fn distinct_programs_are_bounded() {
    let mut guard = LineGuard::new();
    for i in 0..100 {
        let line = format!("Dec  4 10:00:00 srv01 prog{i}[1]: x");
        assert_eq!(guard.run(&line, origin(), || panic!("x")), None::<()>);
    }
    assert_eq!(guard.failed().len(), MAX_PROGRAMS + 1);
    assert_eq!(guard.failed().get(OTHER_PROGRAMS), Some(&36));
    assert_eq!(guard.failed().values().sum::<u64>(), 100);
}

#[test]
fn the_program_is_found_without_the_parsers() {
    assert_eq!(program_of(EURO), "postfix/cleanup");
    assert_eq!(program_of("2026-12-04T10:00:00.123+01:00 srv01 postfix/smtp[1]: 4AA: to=<a@b>"), "postfix/smtp");
    assert_eq!(program_of("Dec  4 10:00:00 srv01 qmail: 1700000000.1 new msg 1"), "qmail");
    assert_eq!(program_of(r#"{"__CURSOR":"s=1","SYSLOG_IDENTIFIER":"postfix/qmgr","MESSAGE":"x"}"#), "postfix/qmgr");
    for garbage in ["", "::::", "Dec  4 10:00:00", "\u{0}\u{0}\u{0}", "€€€: €€€", "{\"SYSLOG_IDENTIFIER\":\"\u{1}\"}"]
    {
        assert_eq!(program_of(garbage), UNRECOGNISED, "{garbage:?}");
    }
}

#[test]
fn the_preview_is_short_and_escaped() {
    assert_eq!(preview("a\u{0}b\tc\r"), "a\\u{0}b\\tc\\r");
    let long = "€".repeat(200);
    let shown = preview(&long);
    assert_eq!(shown.chars().count(), PREVIEW_CHARS + 1);
    assert!(shown.ends_with('…'));
}

#[test]
fn cut_keeps_at_most_max_line_bytes_at_a_char_boundary() {
    let short = "x".repeat(MAX_LINE);
    assert_eq!(cut(&short), (short.as_str(), false));
    let long = format!("x{}", "€".repeat(MAX_LINE));
    let (kept, truncated) = cut(&long);
    assert!(truncated);
    assert!(kept.len() <= MAX_LINE && kept.len() > MAX_LINE - 3);
    assert!(long.starts_with(kept));
}

#[test]
fn bound_cuts_event_texts() {
    let mut event = Event::Delivery {
        ts_ms: None,
        queue_id: "Q".repeat(10_000),
        to: format!("{}@b.example", "€".repeat(5000)),
        relay: "r".into(),
        dsn: Some("5.7.1".into()),
        status: crate::parse::DeliveryStatus::Bounced,
        reply: "550 ".to_string() + &"y".repeat(100_000),
    };
    bound(&mut event);
    let Event::Delivery { queue_id, to, relay, dsn, reply, .. } = event else { unreachable!() };
    assert_eq!(queue_id.len(), MAX_NAME);
    assert!(to.len() <= MAX_NAME && to.starts_with('€'));
    assert_eq!((relay.as_str(), dsn.as_deref()), ("r", Some("5.7.1")));
    assert_eq!(reply.len(), MAX_TEXT);
    assert!(reply.starts_with("550 "));
}
