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
}
