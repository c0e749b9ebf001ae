//! The attribution scenario through the real `rblfleet-agent scan` binary:
//! a Plesk Postfix log with a hijacked mailbox, a PHP mailer and a big clean
//! newsletter. The first two must rank above the third, with reasons, and
//! the JSON must have the documented shape.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

const ZEN: &str = "554 5.7.1 Service unavailable; Client host [203.0.113.5] blocked using zen.spamhaus.org; \
                   https://www.spamhaus.org/query/ip/203.0.113.5";
const TSS04: &str = "421 4.7.0 [TSS04] Messages from 203.0.113.5 temporarily deferred due to unexpected volume or \
                     user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes";
const UNKNOWN: &str = "550 5.1.1 <x@example.org>: Recipient address rejected: User unknown in virtual mailbox table";

/// Writes Postfix lines with increasing timestamps and queue ids.
struct Log {
    text: String,
    second: u32,
    qid: u32,
}

impl Log {
    fn line(&mut self, program: &str, message: &str) {
        self.second += 1;
        let (h, m, s) = (self.second / 3600 % 24, self.second / 60 % 60, self.second % 60);
        writeln!(self.text, "Mar  3 {h:02}:{m:02}:{s:02} web07 {program}[4242]: {message}").unwrap();
    }

    fn qid(&mut self) -> String {
        self.qid += 1;
        format!("5A{:08X}", self.qid)
    }

    /// One attempt: `outcome` is sent, listed, unknown or tss04.
    fn attempt(&mut self, qid: &str, to: &str, outcome: &str) {
        let domain = to.rsplit('@').next().unwrap();
        let (dsn, status, reply) = match outcome {
            "sent" => ("2.0.0", "sent", "250 2.0.0 Ok: queued as 4XyZ".to_string()),
            "listed" => (
                "5.7.1",
                "bounced",
                format!("host mx.{domain}[198.51.100.25] said: {ZEN} (in reply to RCPT TO command)"),
            ),
            "unknown" => (
                "5.1.1",
                "bounced",
                format!("host mx.{domain}[198.51.100.26] said: {UNKNOWN} (in reply to RCPT TO command)"),
            ),
            _ => (
                "4.7.0",
                "deferred",
                format!("host mta7.am0.yahoodns.net[98.136.96.74] said: {TSS04} (in reply to MAIL FROM command)"),
            ),
        };
        self.line(
            "postfix/smtp",
            &format!("{qid}: to=<{to}>, relay=mx.{domain}[198.51.100.25]:25, delay=0.9, delays=0.1/0/0.4/0.4, dsn={dsn}, status={status} ({reply})"),
        );
    }

    fn submission(&mut self, user: &str, ip: &str, to: &str, outcome: &str) {
        let qid = self.qid();
        self.line("postfix/submission/smtpd", &format!("connect from unknown[{ip}]"));
        self.line(
            "postfix/submission/smtpd",
            &format!("{qid}: client=unknown[{ip}], sasl_method=LOGIN, sasl_username={user}"),
        );
        self.line("postfix/cleanup", &format!("{qid}: message-id=<{qid}@lawyer.example>"));
        self.line("postfix/qmgr", &format!("{qid}: from=<{user}>, size=4200, nrcpt=1 (queue active)"));
        self.line(
            "postfix/submission/smtpd",
            &format!("disconnect from unknown[{ip}] ehlo=2 starttls=1 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=8"),
        );
        self.attempt(&qid, to, outcome);
        self.line("postfix/qmgr", &format!("{qid}: removed"));
    }

    fn php(&mut self, to: &str, outcomes: &[&str]) {
        let qid = self.qid();
        self.line("postfix/pickup", &format!("{qid}: uid=10023 from=<shopuser>"));
        self.line(
            "postfix/cleanup",
            &format!("{qid}: warning: header X-PHP-Originating-Script: 10023:wp-content/uploads/sender.php from local; from=<shopuser@web07.example> to=<{to}>"),
        );
        self.line("postfix/qmgr", &format!("{qid}: from=<noreply@shop.example>, size=2100, nrcpt=1 (queue active)"));
        for outcome in outcomes {
            self.attempt(&qid, to, outcome);
        }
        self.line("postfix/qmgr", &format!("{qid}: removed"));
    }
}

/// The scenario's log; also returns the expected totals.
fn scenario() -> (String, [u64; 4]) {
    let mut log = Log { text: String::new(), second: 0, qid: 0 };
    let (mut sent, mut deferred, mut bounced, mut listed) = (0, 0, 0, 0);
    for i in 0..4_000u32 {
        // The newsletter: 4,000 subscribers, 0.5 % unknown, from the office IP.
        let to = format!("reader{i}@company{}.example", i % 900);
        let outcome = if i % 200 == 0 { "unknown" } else { "sent" };
        log.submission("news@club.example", "192.0.2.10", &to, outcome);
        if outcome == "sent" {
            sent += 1
        } else {
            bounced += 1
        }
        if i % 13 == 0 {
            // The hijacked mailbox: 300 messages to 250 domains from 40 IPs, 30 % refused by Spamhaus.
            let n = i / 13;
            let to = format!("victim{n}@target{}.example", n % 250);
            let ip = format!("198.51.100.{}", 100 + n % 40);
            let outcome = if n % 10 < 3 { "listed" } else { "sent" };
            log.submission("office@lawyer.example", &ip, &to, outcome);
            if outcome == "sent" {
                sent += 1
            } else {
                bounced += 1;
                listed += 1
            }
        }
        if i % 8 == 0 {
            // The PHP mailer: 500 messages; Yahoo defers a tenth (TSS04) before
            // accepting, a fifth bounce as unknown users.
            let n = i / 8;
            let (to, outcomes): (String, &[&str]) = match n % 10 {
                0 => (format!("buyer{n}@yahoo.com"), &["tss04", "sent"]),
                1 | 2 => (format!("buyer{n}@example.org"), &["unknown"]),
                _ => (format!("buyer{n}@gmail.com"), &["sent"]),
            };
            log.php(&to, outcomes);
            for o in outcomes {
                match *o {
                    "sent" => sent += 1,
                    "unknown" => bounced += 1,
                    _ => {
                        deferred += 1;
                        listed += 1;
                    }
                }
            }
        }
    }
    (log.text, [sent, deferred, bounced, listed])
}

fn scan(args: &[&str], dir: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_rblfleet-agent"))
        .arg("scan")
        .args(args)
        .arg("--passwd")
        .arg(dir.join("passwd"))
        .arg(dir.join("maillog"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

#[test]
fn the_hijacked_mailbox_and_the_php_mailer_rank_above_the_clean_newsletter() {
    let dir = tempfile::tempdir().unwrap();
    let (text, [sent, deferred, bounced, listed]) = scenario();
    std::fs::write(dir.path().join("maillog"), text).unwrap();
    std::fs::write(
        dir.path().join("passwd"),
        "root:x:0:0:root:/root:/bin/bash\nshopuser:x:10023:1003::/var/www/vhosts/shop.example:/bin/false\n",
    )
    .unwrap();

    let doc: Value = serde_json::from_str(&scan(&["--format", "json"], dir.path())).unwrap();
    assert_eq!(keys(&doc), BTreeSet::from(["totals", "blocklist", "sources", "stats"]));
    assert_eq!(
        doc["totals"],
        serde_json::json!({"sent": sent, "deferred": deferred, "bounced": bounced, "blocklisted": listed})
    );

    let blocklist = doc["blocklist"].as_array().unwrap();
    let evidence_keys = BTreeSet::from([
        "provider",
        "zone",
        "code",
        "ip",
        "family",
        "temporary",
        "count",
        "first_seen",
        "last_seen",
        "sample",
    ]);
    for e in blocklist {
        assert_eq!(keys(e), evidence_keys);
    }
    let zen = blocklist.iter().find(|e| e["provider"] == "spamhaus").unwrap();
    assert_eq!(
        (zen["zone"].as_str(), zen["code"].as_str(), zen["ip"].as_str()),
        (Some("zen.spamhaus.org"), None, Some("203.0.113.5"))
    );
    assert_eq!(zen["count"], 93, "308 messages, 3 in 10 refused");
    let yahoo = blocklist.iter().find(|e| e["provider"] == "yahoo").unwrap();
    assert_eq!((yahoo["code"].as_str(), yahoo["temporary"].as_bool()), (Some("TSS04"), Some(true)));

    let sources = doc["sources"].as_array().unwrap();
    let scores: Vec<f64> = sources.iter().map(|s| s["suspicion"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "most suspicious first: {scores:?}");
    for s in sources {
        let k = keys(s);
        for key in [
            "kind",
            "id",
            "messages",
            "recipients",
            "recipient_domains",
            "sent",
            "deferred",
            "bounced",
            "blocklisted",
            "first_seen",
            "last_seen",
            "suspicion",
            "reasons",
        ] {
            assert!(k.contains(key), "{key} missing in {s}");
        }
        assert!(["sasl_user", "local_user", "script", "sender"].contains(&s["kind"].as_str().unwrap()));
        assert_eq!(k.contains("uid"), matches!(s["kind"].as_str(), Some("local_user" | "script")), "{s}");
    }
    let rank = |kind: &str, id: &str| {
        sources.iter().position(|s| s["kind"] == kind && s["id"] == id).unwrap_or_else(|| panic!("{kind} {id} missing"))
    };
    let newsletter = rank("sasl_user", "news@club.example").min(rank("sender", "news@club.example"));
    let hijacked = rank("sasl_user", "office@lawyer.example");
    let script = rank("script", "wp-content/uploads/sender.php");
    let user = rank("local_user", "10023");
    assert!(hijacked < newsletter && script < newsletter && user < newsletter, "{sources:#?}");

    let h = &sources[hijacked];
    assert_eq!(
        (h["messages"].as_u64(), h["recipient_domains"].as_u64(), h["client_ips"].as_u64()),
        (Some(308), Some(250), Some(40))
    );
    let reasons: Vec<&str> = h["reasons"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert!(reasons.contains(&"30% of its deliveries were refused by blocklists"), "{reasons:?}");
    assert!(reasons.contains(&"logged in from 40 IPs"), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.starts_with("250 recipient domains in ")), "{reasons:?}");

    let s = &sources[script];
    assert_eq!((s["uid"].as_u64(), s["subscription"].as_str()), (Some(10023), Some("shop.example")));
    let reasons: Vec<&str> = s["reasons"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert!(reasons.iter().any(|r| r.ends_with("of its deliveries bounced")), "{reasons:?}");
    assert!(
        reasons.iter().any(|r| r.ends_with("refused by blocklists")),
        "TSS04 is an IP reputation refusal: {reasons:?}"
    );
    assert_eq!(sources[user]["scripts"], serde_json::json!(["wp-content/uploads/sender.php"]));
    assert!(sources[newsletter]["reasons"].as_array().unwrap().is_empty(), "{}", sources[newsletter]);

    let table = scan(&[], dir.path());
    let suspects = &table[table.find("Top suspects").unwrap()..];
    let first = suspects.lines().nth(2).unwrap();
    assert!(first.contains("office@lawyer.example") && first.contains("logged in from 40 IPs"), "{table}");
    assert!(table.contains("zen.spamhaus.org") && table.contains("TSS04"), "{table}");
}
