#![allow(clippy::unwrap_used)]

use rblfleet_proto::v1::SourceKind;

use super::*;
use crate::attribution::{Limits, RankedSource};
use crate::parse::Parser;

/// 2026-01-02T00:00:00Z: year-less syslog dates fall in 2026.
const REFERENCE_MS: i64 = 1_767_312_000_000;

const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
    shop:x:10023:1003::/var/www/vhosts/shop.example:/bin/false\n\
    qmaild:x:2021:2020::/var/qmail:/bin/false\n";

struct Run {
    tracker: Tracker,
    agg: Aggregator,
}

impl Run {
    fn new(max_messages: usize) -> Run {
        Run {
            tracker: Tracker::new(max_messages, UserMap::from_passwd(PASSWD)),
            agg: Aggregator::new(Limits::default()),
        }
    }

    fn feed(&mut self, lines: &[&str]) {
        let mut parser = Parser::new(REFERENCE_MS);
        let mut events = Vec::new();
        for line in lines {
            parser.parse_line(line, &mut events);
        }
        assert!(parser.unparsed().is_empty(), "{:?}", parser.unparsed());
        for event in events {
            self.tracker.event(&event, &mut self.agg);
        }
    }

    fn source(&self, kind: SourceKind, id: &str) -> RankedSource {
        self.agg
            .ranked(self.tracker.users(), usize::MAX)
            .into_iter()
            .find(|s| s.key.kind == kind && s.key.id == id)
            .unwrap_or_else(|| panic!("no {kind:?} {id}"))
    }
}

const ZEN: &str = "host mx.b.example[198.51.100.9] said: 554 5.7.1 Service unavailable; Client host [203.0.113.5] \
                   blocked using zen.spamhaus.org (in reply to RCPT TO command)";

#[test]
fn a_sasl_message_is_joined_and_counted_for_each_of_its_sources() {
    let mut run = Run::new(100);
    run.feed(&[
        "Jan  1 10:00:00 web postfix/submission/smtpd[1]: AAAA1: client=bot.example[192.0.2.7], sasl_method=LOGIN, sasl_username=info@shop.example",
        "Jan  1 10:00:00 web postfix/qmgr[2]: AAAA1: from=<info@shop.example>, size=900, nrcpt=3 (queue active)",
        "Jan  1 10:00:01 web postfix/smtp[3]: AAAA1: to=<a@a.example>, relay=mx.a.example[198.51.100.8]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 OK)",
        &format!("Jan  1 10:00:02 web postfix/smtp[3]: AAAA1: to=<b@b.example>, relay=mx.b.example[198.51.100.9]:25, delay=1, delays=0/0/0/1, dsn=5.7.1, status=bounced ({ZEN})"),
        "Jan  1 10:00:03 web postfix/smtp[3]: AAAA1: to=<c@B.example>, relay=none, delay=1, delays=0/0/1/0, dsn=4.4.1, status=deferred (connect to mx.b.example[198.51.100.9]:25: Connection timed out)",
        "Jan  1 10:30:03 web postfix/smtp[3]: AAAA1: to=<c@B.example>, relay=none, delay=1, delays=0/0/1/0, dsn=4.4.1, status=deferred (connect to mx.b.example[198.51.100.9]:25: Connection timed out)",
        "Jan  1 10:30:04 web postfix/qmgr[2]: AAAA1: removed",
    ]);
    let totals = run.agg.totals();
    assert_eq!((totals.sent, totals.deferred, totals.bounced, totals.blocklisted), (1, 2, 1, 1));
    for (kind, id) in [(SourceKind::SaslUser, "info@shop.example"), (SourceKind::Sender, "info@shop.example")] {
        let s = run.source(kind, id);
        let f = s.figures;
        assert_eq!((f.messages, f.recipients, f.recipient_domains), (1, 3, 2), "{kind:?}");
        assert_eq!((f.sent, f.deferred, f.bounced, f.blocklisted), (1, 2, 1, 1), "{kind:?}");
        assert_eq!(f.first_seen_ms, REFERENCE_MS - 14 * 3_600_000 + 1_000);
        assert_eq!(f.last_seen_ms - f.first_seen_ms, 30 * 60_000 + 2_000);
    }
    let sasl = run.source(SourceKind::SaslUser, "info@shop.example");
    assert_eq!(sasl.figures.client_ips, 1);
    assert_eq!(sasl.subscription.as_deref(), Some("shop.example"));
    assert_eq!(run.source(SourceKind::Sender, "info@shop.example").figures.client_ips, 0);
    assert_eq!(run.tracker.in_flight(), 0);
    let evidence = run.agg.evidence(10);
    assert_eq!(evidence.len(), 1);
    assert_eq!((evidence[0].zone.as_str(), evidence[0].ip.as_str()), ("zen.spamhaus.org", "203.0.113.5"));
}

#[test]
fn a_php_mail_counts_for_the_user_the_script_and_the_sender() {
    let mut run = Run::new(100);
    run.feed(&[
        "Jan  1 11:00:00 web postfix/pickup[1]: BBBB2: uid=10023 from=<shop>",
        "Jan  1 11:00:00 web postfix/cleanup[2]: BBBB2: warning: header X-PHP-Originating-Script: 10023:contact.php from local; from=<shop@web.example> to=<x@y.example>",
        "Jan  1 11:00:00 web postfix/qmgr[3]: BBBB2: from=<shop@web.example>, size=900, nrcpt=1 (queue active)",
        "Jan  1 11:00:01 web postfix/smtp[4]: BBBB2: to=<x@y.example>, relay=mx.y.example[198.51.100.10]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 OK)",
        "Jan  1 11:00:01 web postfix/qmgr[3]: BBBB2: removed",
    ]);
    let user = run.source(SourceKind::LocalUser, "10023");
    assert_eq!((user.key.uid, user.subscription.as_deref()), (Some(10023), Some("shop.example")));
    assert_eq!(user.scripts, ["contact.php"]);
    assert_eq!(user.figures.sent, 1);
    let script = run.source(SourceKind::Script, "contact.php");
    assert_eq!((script.key.uid, script.subscription.as_deref()), (Some(10023), Some("shop.example")));
    assert!(script.scripts.is_empty());
    assert_eq!(run.source(SourceKind::Sender, "shop@web.example").figures.messages, 1);
}

#[test]
fn local_deliveries_and_inbound_mail_are_not_counted() {
    let mut run = Run::new(100);
    run.feed(&[
        "Jan  1 12:00:00 web postfix/smtpd[1]: CCCC3: client=mx.other.example[198.51.100.20]",
        "Jan  1 12:00:00 web postfix/qmgr[2]: CCCC3: from=<news@other.example>, size=900, nrcpt=4 (queue active)",
        "Jan  1 12:00:01 web postfix/lmtp[3]: CCCC3: to=<a@shop.example>, relay=web.example[private/dovecot-lmtp], delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Saved)",
        "Jan  1 12:00:01 web postfix/local[3]: CCCC3: to=<root@web.example>, relay=local, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (delivered to mailbox)",
        "Jan  1 12:00:01 web postfix/smtp[3]: CCCC3: to=<b@shop.example>, relay=127.0.0.1[127.0.0.1]:10024, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok, queued as DDDD4)",
        "Jan  1 12:00:01 web postfix/virtual[3]: CCCC3: to=<c@shop.example>, relay=virtual, delay=1, delays=0/0/0/1, dsn=5.1.1, status=bounced (unknown user)",
        "Jan  1 12:00:02 web postfix/qmgr[2]: CCCC3: removed",
    ]);
    assert_eq!(run.agg.totals(), Default::default());
    assert_eq!(run.agg.source_count(), 0, "an inbound message is nobody's outgoing mail");
    assert_eq!(run.tracker.stats().local_deliveries, 4);
}

#[test]
fn the_tracker_is_bounded_and_counts_what_it_forgets() {
    let mut run = Run::new(2);
    run.feed(&[
        "Jan  1 13:00:00 web postfix/qmgr[1]: EEEE1: from=<a@x.example>, size=1, nrcpt=1 (queue active)",
        "Jan  1 13:00:00 web postfix/qmgr[1]: EEEE2: from=<b@x.example>, size=1, nrcpt=1 (queue active)",
        "Jan  1 13:00:00 web postfix/qmgr[1]: EEEE3: from=<c@x.example>, size=1, nrcpt=1 (queue active)",
        "Jan  1 13:00:01 web postfix/smtp[2]: EEEE1: to=<z@z.example>, relay=mx.z.example[198.51.100.30]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 OK)",
        "Jan  1 13:00:01 web postfix/smtp[2]: EEEE3: to=<z@z.example>, relay=mx.z.example[198.51.100.30]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 OK)",
    ]);
    let stats = run.tracker.stats();
    assert_eq!((stats.messages, stats.evicted, stats.unattributed), (3, 1, 1));
    assert_eq!(run.agg.totals().sent, 2, "an unattributed delivery still counts");
    assert_eq!(run.source(SourceKind::Sender, "c@x.example").figures.sent, 1);
    assert!(run.agg.ranked(run.tracker.users(), 10).iter().all(|s| s.key.id != "a@x.example"));
}

#[test]
fn plesk_outgoing_limit_refusals_are_charged_to_the_sender() {
    let mut run = Run::new(10);
    run.feed(&[
        "Jan  1 14:00:00 web postfix/smtpd[1]: FFFF1: client=localhost[::1], sasl_method=PLAIN, sasl_username=user@test.example",
        "Jan  1 14:00:00 web postfix/cleanup[2]: FFFF1: milter-reject: END-OF-MESSAGE from localhost[::1]: 5.7.0 Your message could not be sent. The limit on the number of allowed outgoing messages was exceeded. Try again later.; from=<user@test.example> to=<x@y.example> proto=ESMTP helo=<webmail.test.example>",
    ]);
    assert_eq!(run.source(SourceKind::SaslUser, "user@test.example").figures.limit_hits, 1);
    assert_eq!(run.source(SourceKind::Sender, "user@test.example").figures.limit_hits, 1);
    assert_eq!(run.tracker.in_flight(), 0, "a refused message is done");
}

#[test]
fn qmail_messages_are_joined_through_their_delivery_numbers() {
    let mut run = Run::new(10);
    run.feed(&[
        "Jan  1 15:00:00 web qmail: 1767279600.100000 new msg 161214",
        "Jan  1 15:00:00 web qmail: 1767279600.100001 info msg 161214: bytes 830 from <shop@shop.example> qp 6190 uid 10023",
        "Jan  1 15:00:00 web qmail: 1767279600.100002 starting delivery 119: msg 161214 to remote x@y.example",
        "Jan  1 15:00:00 web qmail: 1767279600.100003 starting delivery 120: msg 161214 to local shop@shop.example",
        "Jan  1 15:00:01 web qmail: 1767279601.000000 delivery 119: failure: 198.51.100.9_does_not_like_recipient./Remote_host_said:_554_5.7.1_Service_unavailable;_Client_host_[203.0.113.5]_blocked_using_zen.spamhaus.org/Giving_up_on_198.51.100.9./",
        "Jan  1 15:00:01 web qmail: 1767279601.000001 delivery 120: success: did_0+0+1/",
        "Jan  1 15:00:01 web qmail: 1767279601.000002 end msg 161214",
        "Jan  1 15:00:02 web qmail: 1767279602.000000 info msg 161215: bytes 830 from <spam@forged.example> qp 6191 uid 2021",
        "Jan  1 15:00:02 web qmail: 1767279602.000001 starting delivery 121: msg 161215 to remote x@y.example",
        "Jan  1 15:00:03 web qmail: 1767279603.000000 delivery 121: success: 198.51.100.9_accepted_message./Remote_host_said:_250_OK/",
    ]);
    let totals = run.agg.totals();
    assert_eq!((totals.sent, totals.bounced, totals.blocklisted), (1, 1, 1));
    let user = run.source(SourceKind::LocalUser, "10023");
    assert_eq!((user.figures.bounced, user.figures.blocklisted, user.figures.recipients), (1, 1, 1));
    assert_eq!(user.subscription.as_deref(), Some("shop.example"));
    assert_eq!(run.source(SourceKind::Sender, "spam@forged.example").figures.sent, 1);
    assert!(
        run.agg.ranked(run.tracker.users(), 10).iter().all(|s| s.key.id != "2021"),
        "qmail-smtpd's own uid is not a local sender"
    );
    assert_eq!(run.tracker.stats().local_deliveries, 1);
}

#[test]
fn mailenable_rows_are_joined_by_message_file() {
    let mut run = Run::new(10);
    run.feed(&[
        "01/02/26 09:00:11\tSMTP-IN\tAAAA1111.MAI\t10\t192.0.2.50\tMAIL\tMAIL FROM:<shop@example.com> SIZE=1000\t250 Requested mail action okay, completed\t43\t36\tshop@example.com",
        "01/02/26 09:05:00\tSMTP-OU\tAAAA1111.MAI\t11\t203.0.113.40\tRCPT\tRCPT TO:<buyer@example.org>\t550 5.7.1 Service unavailable; Client host [198.51.100.7] blocked using zen.spamhaus.org\t30\t10\t",
        "01/02/26 09:05:02\tSMTP-OU\tAAAA1111.MAI\t11\t203.0.113.40\tDATA\t.\t250 2.0.0 OK queued\t1000\t10\t",
    ]);
    let sasl = run.source(SourceKind::SaslUser, "shop@example.com");
    let f = sasl.figures;
    assert_eq!((f.messages, f.sent, f.bounced, f.blocklisted, f.client_ips), (1, 1, 1, 1, 1));
}

#[test]
fn qmail_smtp_logins_count_client_ips_without_messages() {
    let mut run = Run::new(10);
    run.feed(&[
        "Aug  4 01:13:44 web smtp_auth: SMTP user test@example.com : logged in from a.example [192.0.2.130]",
        "Aug  4 01:14:44 web smtp_auth: SMTP user test@example.com : logged in from b.example [192.0.2.131]",
        "Aug  4 01:15:44 web smtp_auth: SMTP user test@example.com : logged in from a.example [192.0.2.130]",
    ]);
    let f = run.source(SourceKind::SaslUser, "test@example.com").figures;
    assert_eq!((f.client_ips, f.messages), (2, 0));
}

#[test]
fn outbound_relays() {
    for relay in ["none", "mx.example[198.51.100.1]:25", "[2001:db8::1]:25", "203.0.113.40", ""] {
        assert!(is_outbound(relay), "{relay}");
    }
    for relay in ["local", "virtual", "dovecot", "h[private/dovecot-lmtp]", "127.0.0.1[127.0.0.1]:10024", "[::1]:25"] {
        assert!(!is_outbound(relay), "{relay}");
    }
}

/// A message whose lines name thousands of sources keeps the first few:
/// memory and the time per line stay bounded.
#[test]
fn a_message_keeps_a_bounded_number_of_sources() {
    let mut run = Run::new(100);
    let lines: Vec<String> = (0..5_000)
        .map(|i| {
            format!(
                "Jan  1 10:00:00 web postfix/cleanup[2]: AAAA9: warning: header X-PHP-Originating-Script: 10023:s{i}.php from local; from=<a@shop.example> to=<x@y.example>"
            )
        })
        .collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    run.feed(&lines);
    let msg = run.tracker.messages.get_mut("AAAA9").unwrap();
    assert_eq!(msg.origin.keys.len(), MAX_SOURCES);
    assert_eq!(msg.origin.keys[0].id, "s0.php");
}
