#![allow(clippy::unwrap_used)]

use std::io::Write as _;

use super::read::{self, BLOCK};
use super::*;
use crate::logs::guard::MAX_LINE;

const LINES: &str = "\
Jan  1 10:00:00 web postfix/pickup[1]: AAAA1: uid=0 from=<root>\r
Jan  1 10:00:00 web postfix/qmgr[2]: AAAA1: from=<root@web.example>, size=900, nrcpt=1 (queue active)\r
Jan  1 10:00:01 web postfix/smtp[3]: AAAA1: to=<a@a.example>, relay=mx.a.example[198.51.100.8]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 OK)\r
something nobody logs
Jan  1 10:00:02 web postfix/qmgr[2]: AAAA1: removed";

fn options() -> ScanOptions {
    ScanOptions { reference_ms: 1_767_312_000_000, ..ScanOptions::default() }
}

#[test]
fn reads_crlf_lines_and_an_unterminated_last_line() {
    let mut scanner = Scanner::new(options());
    scanner.read(LINES.as_bytes()).unwrap();
    let summary = scanner.finish(10);
    assert_eq!(summary.stats.lines, 5);
    assert_eq!(summary.stats.bytes, LINES.len() as u64);
    assert_eq!(summary.stats.unparsed_lines, 1);
    assert_eq!(summary.totals.sent, 1);
    assert_eq!(summary.stats.messages, 1);
    let kinds: Vec<&str> = summary.sources.iter().map(|s| crate::attribution::kind_name(s.key.kind)).collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert!(kinds.contains(&"local_user") && kinds.contains(&"sender"));
}

#[test]
fn overlong_lines_are_cut_counted_and_the_rest_still_read() {
    // Longer than a block (cut, rest skipped across reads) and longer than
    // MAX_LINE within a block (cut in place).
    let mut text = "x".repeat(BLOCK * 2 + 10);
    text.push('\n');
    text.push_str(&"y".repeat(MAX_LINE + 1));
    text.push('\n');
    text.push_str(LINES);
    let mut scanner = Scanner::new(options());
    scanner.read(text.as_bytes()).unwrap();
    let summary = scanner.finish(10);
    assert_eq!(summary.totals.sent, 1);
    assert_eq!(summary.stats.lines, 7);
    assert_eq!(summary.stats.truncated_lines, 2);
    assert_eq!(summary.stats.failed_lines, 0);
}

#[test]
fn hostile_lines_are_read_without_harm() {
    let mut text = String::from(
        "Dec  4 10:00:00 srv01 postfix/cleanup[123]: 4AA091855DA0: warning: header Subject: Angebot 100 €€€ \
         jetzt from local; from=<a@b.example> to=<c@d.example>\n\u{0}\u{0}\u{0}\n\r\n",
    );
    text.push_str(LINES);
    text.push('\n');
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(b"Dec  4 10:00:00 srv01 postfix/smtp[1]: \xff\xfe\xc3(\n");
    let mut scanner = Scanner::new(options());
    scanner.read(bytes.as_slice()).unwrap();
    let summary = scanner.finish(10);
    assert_eq!(summary.totals.sent, 1);
    assert_eq!(summary.stats.lines, 9);
    assert!(summary.failed_lines.is_empty(), "{:?}", summary.failed_lines);
}

#[test]
fn files_are_read_in_order_and_a_missing_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("maillog.1"), dir.path().join("maillog"));
    let (head, tail) = LINES.split_at(LINES.find("Jan  1 10:00:01").unwrap());
    std::fs::File::create(&first).unwrap().write_all(head.as_bytes()).unwrap();
    std::fs::File::create(&second).unwrap().write_all(tail.as_bytes()).unwrap();
    let summary = scan_files(&[first, second.clone()], options(), 10).unwrap();
    assert_eq!(summary.stats.files, 2);
    assert_eq!(summary.stats.unattributed_deliveries, 0, "the message spans both files");
    let missing = dir.path().join("nope");
    let e = scan_files(&[second, missing.clone()], options(), 10).unwrap_err();
    assert_eq!(e.path, missing);
    assert!(e.to_string().starts_with(&missing.display().to_string()), "{e}");
}

#[test]
fn json_has_the_documented_shape() {
    let mut scanner = Scanner::new(options());
    scanner.read(LINES.as_bytes()).unwrap();
    let mut out = Vec::new();
    render::json(&scanner.finish(10), &mut out).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["totals"], serde_json::json!({"sent": 1, "deferred": 0, "bounced": 0, "blocklisted": 0}));
    let user = v["sources"].as_array().unwrap().iter().find(|s| s["kind"] == "local_user").unwrap();
    assert_eq!(user["id"], "0");
    assert_eq!(user["uid"], 0);
    assert_eq!(user["first_seen"], "2026-01-01T10:00:01Z");
    let sender = v["sources"].as_array().unwrap().iter().find(|s| s["kind"] == "sender").unwrap();
    assert!(sender.get("uid").is_none(), "uid only where known");
}

/// A MailEnable W3C log whose second half has another column order, over
/// many chunks: every chunk handed to the tracking thread must be parsed
/// with the layout in effect, and both ways of scanning must agree.
#[test]
fn the_two_thread_scan_agrees_with_one_thread_and_keeps_w3c_layouts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w3c.log");
    let mut text =
        String::from("#Fields: date time c-ip agent cs-method cs-uristem cs-uriquery x-message-id cs-username\n");
    let reject = "550+5.7.1+Service+unavailable;+Client+host+[198.51.100.7]+blocked+using+zen.spamhaus.org";
    for i in 0..6_000 {
        text.push_str(&format!(
            "2026-01-01 00:00:07 192.0.2.{} SMTP-IN MAIL MAIL+FROM:<u{i}@example.com> 250+OK A{i}.MAI u{}@example.com\n",
            i % 200,
            i % 50
        ));
        text.push_str(&format!(
            "2026-01-01 00:00:09 203.0.113.9 SMTP-OU RCPT RCPT+TO:<r{i}@example.org> {reject} A{i}.MAI -\n"
        ));
    }
    text.push_str("#Fields: date time x-message-id agent c-ip cs-method cs-uriquery cs-uristem cs-username\n");
    for i in 0..6_000 {
        text.push_str(&format!(
            "2026-01-02 00:00:07 B{i}.MAI SMTP-IN 192.0.2.9 MAIL 250+OK MAIL+FROM:<v{i}@example.net> v{}@example.net\n",
            i % 50
        ));
        text.push_str(&format!(
            "2026-01-02 00:00:09 B{i}.MAI SMTP-OU 203.0.113.9 RCPT {reject} RCPT+TO:<s{i}@example.org> -\n"
        ));
    }
    assert!(text.len() > 2 * read::BLOCK, "{}", text.len());
    std::fs::write(&path, &text).unwrap();

    let mut one = Scanner::new(options());
    one.read_file(&path).unwrap();
    let one = one.finish(usize::MAX);
    let two = scan_files_with(std::slice::from_ref(&path), options(), usize::MAX, true).unwrap();
    assert_eq!(two.totals.bounced, 12_000);
    assert_eq!(two.totals.blocklisted, 12_000, "rows under both layouts are understood");
    assert_eq!(two.stats.unattributed_deliveries, 0);
    assert_eq!(one.totals, two.totals);
    assert_eq!(one.stats, two.stats);
    assert_eq!(one.blocklist, two.blocklist);
    assert_eq!(one.sources, two.sources);
    let logins = |domain: &str| {
        two.sources
            .iter()
            .filter(|s| s.key.kind == rblfleet_proto::v1::SourceKind::SaslUser && s.key.id.ends_with(domain))
            .count()
    };
    assert_eq!((logins("@example.com"), logins("@example.net")), (50, 50));
}
