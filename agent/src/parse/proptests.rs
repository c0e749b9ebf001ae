//! Arbitrary input never panics the parser: mail logs contain whatever
//! programs and attackers put in them (header values, SMTP arguments).

use proptest::prelude::*;

use super::{Event, Parser};

/// Real line starts, so random tails reach deep into each parser.
const PREFIXES: &[&str] = &[
    "Jun  3 10:40:57 mail postfix/smtp[1]: 4AA091855DA0: to=<",
    "Jun  3 10:40:57 mail postfix/smtpd[1]: 4AA091855DA0: client=",
    "Jun  3 10:40:57 mail postfix/cleanup[1]: 4AA091855DA0: warning: header X-PHP-Originating-Script: ",
    "Jun  3 10:40:57 mail postfix/cleanup[1]: 4AA091855DA0: milter-reject: END-OF-MESSAGE from ",
    "Jun  3 10:40:57 mail postfix/cleanup[1]: 4AA091855DA0: reject: header ",
    "Jun  3 10:40:57 mail postfix/qmgr[1]: 4AA091855DA0: from=<",
    "Jun  3 10:40:57 mail postfix/smtpd[1]: NOQUEUE: reject: RCPT from ",
    "Jun  3 10:40:57 mail postfix/smtpd[1]: warning: unknown[",
    "2022-01-08T19:42:13.128602+00:00 mail postfix/pickup[1]: 4AA091855DA0: uid=",
    "Mar 21 10:29:11 vps /usr/lib/plesk-9.0/psa-pc-remote[1]: ",
    "Jun 10 20:42:51 h qmail: 1591785771.138809 delivery ",
    "Jun 10 20:42:51 h qmail: 1591785771.138809 info msg ",
    "Jun 10 20:42:51 h qmail: 1591785771.138809 starting delivery ",
    "Jun 10 20:42:51 h smtp_auth: SMTP user ",
    "1054189746.123136 delivery 1: failure: ",
    "@40000000419f13a508f3214c ",
    "01/02/26 09:00:11\tSMTP-IN\t",
    "01/02/26 09:00:11\tSMTP-OU\tA.MAI\t1\t203.0.113.1\tRCPT\t",
    "#Fields: ",
    "2026-01-01 00:00:07 ",
    "{\"MESSAGE\":",
    "<13>",
];

/// Whole real lines, into which multi-byte characters are inserted.
const LINES: &[&str] = &[
    "Dec  4 10:00:00 srv01 postfix/cleanup[123]: 4AA091855DA0: warning: header Subject: Angebot jetzt from local; from=<a@b.example> to=<c@d.example>",
    "Jun  3 10:40:57 mail postfix/cleanup[1]: 4AA091855DA0: warning: header X-PHP-Originating-Script: 10001:mailer.php from local; from=<w@s.example> to=<x@example.org>",
    "Jun  3 10:40:57 mail postfix/submission/smtpd[1]: 4AA091855DA0: client=some.example[192.0.2.4], sasl_method=PLAIN, sasl_username=user@sender.example",
    "Jun  3 10:40:58 mail postfix/smtp[1]: 4AA091855DA0: to=<a@example.org>, relay=mx.example.org[198.51.100.20]:25, delay=1, delays=0/0/1/0, dsn=5.7.1, status=bounced (host mx.example.org[198.51.100.20] said: 554 5.7.1 blocked using zen.spamhaus.org (in reply to RCPT TO command))",
    "Jun  3 10:40:57 mail postfix/qmgr[1]: 4AA091855DA0: from=<user@sender.example>, size=5360, nrcpt=2 (queue active)",
    "Jun  3 10:40:57 mail postfix/pickup[1]: 4AA091855DA0: uid=10001 from=<sys10001>",
    "Jun  3 10:40:57 mail postfix/cleanup[1]: AE16288F80: milter-reject: END-OF-MESSAGE from localhost[::1]: 5.7.0 limit on the number of allowed outgoing messages was exceeded; from=<u@t.example> to=<x@y.example> proto=ESMTP helo=<w>",
    "Jun  3 10:40:59 mail postfix/smtpd[1]: NOQUEUE: reject: RCPT from unknown[192.0.2.66]: 554 5.7.1 <x@s.example>: Relay access denied; from=<s@b.example> to=<x@s.example> proto=ESMTP helo=<bad>",
    "Jun  3 10:40:59 mail postfix/smtpd[1]: warning: unknown[192.0.2.66]: SASL LOGIN authentication failed: UGFzc3dvcmQ6",
    "<22>2023-09-08T17:20:30.655028+02:00 mail postfix/qmgr[1]: [ID 197553 mail.info] 4AA091855DA0: removed",
    "Mar 21 10:29:11 vps /usr/lib64/plesk-9.0/psa-pc-remote[1104]: REJECT during call 'limit-out' handler",
    "Mar 21 10:29:11 vps plesk_saslauthd[1105]: failed mail authentication attempt for user 'info@shop.example' (password len=10)",
    "Jun 10 20:43:36 h qmail: 1591785816.273300 delivery 295: failure: 198.51.100.30_does_not_like_recipient./Remote_host_said:_554_5.7.1_blocked/Giving_up_on_198.51.100.30./",
    "Jun 10 20:42:51 h qmail: 1591785771.138100 info msg 76424444: bytes 2345 from <web@shop.example> qp 3880 uid 10001",
    "Aug  4 01:13:44 anchor smtp_auth: SMTP user test@example.com : logged in from server1.example [192.0.2.130]",
    "@40000000419f13a508f3214c starting delivery 5: msg 161214 to remote x@example.org",
    "01/02/26 09:00:12\tSMTP-OU\tAAAA1111.MAI\t11\t203.0.113.40\tRCPT\tRCPT TO:<b@example.org>\t550 5.7.1 blocked\t30\t10\t",
    "{\"SYSLOG_IDENTIFIER\":\"postfix/qmgr\",\"__REALTIME_TIMESTAMP\":\"1748947257123456\",\"MESSAGE\":\"4AA091855DA0: removed\"}",
];

/// Characters of 2, 3 and 4 bytes (and a zero-width joiner) next to the
/// ASCII separators the parsers look for.
const MULTIBYTE: &str = "[€äß𝄞\u{200d}\u{fffd}中:;<>=,\\[\\]() a-z0-9]";
/// Up to 60 of [`MULTIBYTE`].
const MULTIBYTE_TAIL: &str = "[€äß𝄞\u{200d}\u{fffd}中:;<>=,\\[\\]() a-z0-9]{0,60}";

/// `line` with `chars` inserted at char boundaries chosen by `at` (each a
/// fraction of the length), then cut at the char boundary nearest `cut`.
fn insert_chars(line: &str, chars: &[(String, f64)], cut: f64) -> String {
    let mut s = line.to_string();
    for (c, at) in chars {
        let mut i = ((s.len() as f64) * at) as usize;
        while !s.is_char_boundary(i) {
            i -= 1;
        }
        s.insert_str(i, c);
    }
    let mut end = ((s.len() as f64) * cut) as usize;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s
}

fn run(lines: &[String]) {
    let mut parser = Parser::new(1_749_513_600_000);
    let mut out: Vec<Event> = Vec::new();
    for line in lines {
        parser.parse_line(line, &mut out);
    }
    let stats = parser.stats();
    assert_eq!(stats.lines, stats.parsed + stats.ignored + stats.unknown);
}

proptest! {
    #[test]
    fn arbitrary_strings_never_panic(lines in prop::collection::vec(".{0,300}", 1..8)) {
        run(&lines);
    }

    #[test]
    fn arbitrary_bytes_never_panic(lines in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..8)) {
        let lines: Vec<String> = lines.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect();
        run(&lines);
    }

    #[test]
    fn real_prefixes_with_arbitrary_tails_never_panic(
        prefix in prop::sample::select(PREFIXES),
        tail in ".{0,200}",
        header in prop::sample::select(&["", "#Fields: date time c-ip cs-username agent cs-method cs-uristem cs-uriquery"][..]),
    ) {
        run(&[header.to_string(), format!("{prefix}{tail}")]);
    }

    /// Issue 11: a multi-byte character anywhere in a real line, the line
    /// cut anywhere after it (the old tests only appended to ASCII prefixes).
    #[test]
    fn real_lines_with_multibyte_characters_never_panic(
        line in prop::sample::select(LINES),
        chars in prop::collection::vec((MULTIBYTE, 0.0..1.0f64), 1..6),
        cut in prop_oneof![Just(1.0f64), 0.0..1.0f64],
    ) {
        run(&[insert_chars(line, &chars, cut)]);
    }

    /// Real line starts cut at any char boundary, then text dense in
    /// multi-byte characters and separators.
    #[test]
    fn cut_real_lines_with_multibyte_tails_never_panic(
        line in prop::sample::select(LINES),
        cut in 0.0..1.0f64,
        tail in MULTIBYTE_TAIL,
    ) {
        run(&[format!("{}{tail}", insert_chars(line, &[], cut))]);
    }

    /// Bytes that are not UTF-8 in a real line, decoded as the log reader does.
    #[test]
    fn real_lines_with_invalid_utf8_never_panic(
        line in prop::sample::select(LINES),
        bad in prop::collection::vec((prop::sample::select(&[0x80u8, 0xc3, 0xe2, 0xf0, 0xff, 0x00][..]), 0.0..1.0f64), 1..4),
    ) {
        let mut bytes = line.as_bytes().to_vec();
        for (b, at) in bad {
            let i = ((bytes.len() as f64) * at) as usize;
            bytes.insert(i, b);
        }
        run(&[String::from_utf8_lossy(&bytes).into_owned()]);
    }
}

/// `bounce_notice` as it was: cut at the first `" notification: "`.
fn bounce_notice_plain(qid: &str, rest: &str, ts_ms: Option<i64>) -> Option<Event> {
    use super::NoticeKind;
    if !rest.starts_with("sender ") && !rest.starts_with("postmaster ") {
        return None;
    }
    let (what, bounce_qid) = rest.split_once(" notification: ")?;
    let kind = match what {
        "sender non-delivery" | "postmaster non-delivery" => NoticeKind::NonDelivery,
        "sender delay" | "postmaster delay" => NoticeKind::Delay,
        "sender delivery status" => NoticeKind::Success,
        _ => return None,
    };
    Some(Event::BounceNotice { ts_ms, queue_id: qid.to_string(), bounce_queue_id: bounce_qid.trim().to_string(), kind })
}

/// `parse_pc_remote` as it was: cut at the first `" during "`.
fn pc_remote_plain(line: &super::LogLine, out: &mut Vec<Event>) -> super::Outcome {
    use super::{Outcome, Verdict};
    let msg = line.message;
    let Some((word, rest)) = msg.split_once(" during ") else {
        return if msg.starts_with("handlers_stderr: ") || msg.starts_with("_mh_fork()") {
            Outcome::Ignored
        } else {
            Outcome::Unknown
        };
    };
    let verdict = match word {
        "PASS" => Verdict::Pass,
        "SKIP" => Verdict::Skip,
        "REJECT" => Verdict::Reject,
        "DEFER" => Verdict::Defer,
        "STOP" => Verdict::Stop,
        "Error" | "ERROR" => Verdict::Error,
        _ => return Outcome::Unknown,
    };
    let rest = rest.strip_prefix("call ").unwrap_or(rest);
    let Some(handler) = rest.strip_prefix('\'').and_then(|r| r.split_once('\'')).map(|(h, _)| h) else {
        return Outcome::Unknown;
    };
    out.push(Event::HandlerVerdict { ts_ms: line.ts_ms, pid: line.pid, handler: handler.to_string(), verdict });
    Outcome::Parsed
}

/// Notice and verdict words, their neighbours and near misses, in any order.
const WORDY: &str = "(sender |postmaster |non-delivery|delay|delivery status| notification: | during |PASS|SKIP|REJECT|DEFER|STOP|Error|ERROR|call |'spf'|handlers_stderr: |_mh_fork\\(\\)|4AB12|é| |x){0,8}";

proptest! {
    #[test]
    fn bounce_notices_are_what_cutting_at_the_first_notification_gave(rest in WORDY) {
        prop_assert_eq!(super::postfix::bounce_notice("4AA09", &rest, Some(1)), bounce_notice_plain("4AA09", &rest, Some(1)));
    }

    #[test]
    fn pc_remote_verdicts_are_what_cutting_at_the_first_during_gave(message in WORDY) {
        let line = super::LogLine { ts_ms: Some(1), host: "h", program: "psa-pc-remote", pid: Some(7), message: &message };
        let (mut fast, mut plain) = (Vec::new(), Vec::new());
        prop_assert_eq!(super::plesk::parse_pc_remote(&line, &mut fast), pc_remote_plain(&line, &mut plain));
        prop_assert_eq!(fast, plain);
    }
}

#[test]
fn notices_and_verdicts_of_real_lines_are_read_as_before() {
    for rest in [
        "sender non-delivery notification: 4BC12DE",
        "postmaster delay notification: 4BC12DE ",
        "sender delivery status notification: X",
        "sender delay notification:",
        "sender notification: 4BC",
    ] {
        assert_eq!(super::postfix::bounce_notice("4AA09", rest, None), bounce_notice_plain("4AA09", rest, None));
    }
    for message in ["PASS during call 'spf' handler", "Error during 'grey' handler", "handlers_stderr: x during y"] {
        let line = super::LogLine { ts_ms: None, host: "h", program: "p", pid: None, message };
        let (mut fast, mut plain) = (Vec::new(), Vec::new());
        assert_eq!(super::plesk::parse_pc_remote(&line, &mut fast), pc_remote_plain(&line, &mut plain));
        assert_eq!(fast, plain);
    }
}
