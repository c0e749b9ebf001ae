//! Fixtures for the mail-log parsers: real line formats (see
//! ../shared/reference/maillog-examples.txt) with documentation addresses.
//! Every fixture asserts the exact events. The per-MTA fixtures are modules in
//! tests/corpus/fixtures/, multi-line log samples in tests/corpus/*.log.
#![allow(clippy::unwrap_used)]

#[path = "corpus/fixtures/postfix.rs"]
mod postfix;
#[path = "corpus/fixtures/qmail_mailenable.rs"]
mod qmail_mailenable;

use rblfleet_agent::parse::{Event, Parser, parse_journald_json, parse_syslog};

/// 2025-06-10T00:00:00Z: the "now" year-less syslog dates are read against.
const REF: i64 = 1_749_513_600_000;
/// Jun  3 10:40:57 (2025, UTC).
const JUN3: Option<i64> = Some(1_748_947_257_000);

fn s(v: &str) -> String {
    v.to_string()
}

fn ip(v: &str) -> Option<std::net::IpAddr> {
    Some(v.parse().unwrap())
}

fn parse_all(lines: &[&str]) -> (Vec<Event>, Parser) {
    let mut parser = Parser::new(REF);
    let mut out = Vec::new();
    for line in lines {
        parser.parse_line(line, &mut out);
    }
    (out, parser)
}

fn one(line: &str) -> Vec<Event> {
    let (events, parser) = parse_all(&[line]);
    assert!(parser.unparsed().is_empty(), "{line}: counted as unparsed {:?}", parser.unparsed());
    events
}

#[test]
fn timestamp_forms() {
    let at = |line: &str| parse_syslog(line, REF).unwrap().ts_ms;
    assert_eq!(at("Jun  3 10:40:57 mail postfix/smtpd[9708]: x"), JUN3);
    assert_eq!(at("Jun 03 10:40:57 mail postfix/smtpd[9708]: x"), JUN3);
    // More than a few days ahead of the reference: last year's November.
    assert_eq!(at("Nov 07 10:00:01 mail postfix/smtp[1]: x"), Some(1_730_973_601_000));
    assert_eq!(at("2022-01-08T19:42:13.128602+00:00 mail postfix/submission/smtpd[19191]: x"), Some(1_641_670_933_128));
    assert_eq!(at("2015-06-23T15:51:56.521383-04:00 h postfix/pickup[26770]: x"), Some(1_435_089_116_521));
    assert_eq!(at("2023-09-08T17:20:30+0200 h postfix/qmgr[2]: x"), Some(1_694_186_430_000));
    // December line read on January 2nd: the previous year.
    let jan2 = 1_767_355_200_000;
    assert_eq!(parse_syslog("Dec 31 23:59:59 h postfix/qmgr[2]: x", jan2).unwrap().ts_ms, Some(1_767_225_599_000));
    // Zone-less local time with the host's offset (+01:00).
    let mut parser = Parser::new(REF).with_utc_offset(3600);
    let mut out = Vec::new();
    parser.parse_line("Jun  3 10:40:57 mail postfix/qmgr[1]: 4AA091855DA0: removed", &mut out);
    assert_eq!(out, vec![Event::Removed { ts_ms: Some(1_748_943_657_000), queue_id: s("4AA091855DA0") }]);
}

#[test]
fn syslog_tags() {
    let l =
        parse_syslog("Jun  3 10:40:57 mail postfix/submission/smtpd[9708]: connect from x[192.0.2.1]", REF).unwrap();
    assert_eq!(
        (l.host, l.program, l.pid, l.message),
        ("mail", "postfix/submission/smtpd", Some(9708), "connect from x[192.0.2.1]")
    );
    let l = parse_syslog(
        "Mar 21 10:29:11 vps /usr/lib/plesk-9.0/psa-pc-remote[13591]: PASS during call 'spf' handler",
        REF,
    )
    .unwrap();
    assert_eq!((l.program, l.pid), ("/usr/lib/plesk-9.0/psa-pc-remote", Some(13591)));
    let l = parse_syslog("Jun 10 20:42:51 zulu282 qmail: 1591785771.138809 end msg 1", REF).unwrap();
    assert_eq!((l.program, l.pid, l.message), ("qmail", None, "1591785771.138809 end msg 1"));
    assert!(parse_syslog("not a log line", REF).is_none());
}

#[test]
fn journald_json() {
    let line = r#"{"__REALTIME_TIMESTAMP":"1748947257123456","_HOSTNAME":"web07","SYSLOG_IDENTIFIER":"postfix/qmgr","_PID":"812","SYSLOG_FACILITY":"2","MESSAGE":"4AA091855DA0: from=<user@example.com>, size=5360, nrcpt=1 (queue active)"}"#;
    let owned = parse_journald_json(line).unwrap();
    assert_eq!((owned.host.as_str(), owned.program.as_str(), owned.pid), ("web07", "postfix/qmgr", Some(812)));
    assert_eq!(
        one(line),
        vec![Event::Queued {
            ts_ms: Some(1_748_947_257_123),
            queue_id: s("4AA091855DA0"),
            from: s("user@example.com"),
            size: Some(5360),
            nrcpt: Some(1),
        }]
    );
    // MESSAGE as a byte array (journald's encoding of non-UTF-8 text).
    let bytes =
        r#"{"SYSLOG_IDENTIFIER":"postfix/qmgr","MESSAGE":[65,66,67,68,69,49,58,32,114,101,109,111,118,101,100]}"#;
    assert_eq!(one(bytes), vec![Event::Removed { ts_ms: None, queue_id: s("ABCDE1") }]);
}

#[test]
fn unknown_lines_are_counted_per_program() {
    let (events, parser) = parse_all(&[
        "Jun  3 10:40:57 mail postfix/smtp[1]: 4AA091855DA0: something new in postfix 9",
        "Jun  3 10:40:57 mail postfix/smtp[1]: 4AA091855DA0: something new in postfix 9",
        "Jun  3 10:40:57 mail sshd[77]: Accepted publickey for root",
        "Jun  3 10:40:57 mail dovecot: imap-login: Login: user=<u@example.com>",
        "Jun  3 10:40:57 mail /usr/lib64/plesk-9.0/psa-pc-remote[5977]: something odd",
        "complete garbage",
        "",
    ]);
    assert!(events.is_empty());
    let counts: Vec<(&str, u64)> = parser.unparsed().iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(
        counts,
        vec![("/usr/lib64/plesk-9.0/psa-pc-remote", 1), ("postfix/smtp", 2), ("sshd", 1), ("unrecognised", 1)]
    );
    let stats = parser.stats();
    assert_eq!((stats.lines, stats.parsed, stats.ignored, stats.unknown), (7, 0, 2, 5));
}
