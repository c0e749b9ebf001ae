//! The mail log through the whole agent: a real file appended to across
//! ticks, reports inspected in the outbox, an agent dropped mid-file and
//! reopened on the same directories.

use std::io::Write as _;
use std::path::Path;

use rblfleet_proto::v1::{DeliveryTotals, SourceKind};

use super::*;

const NO_CONTROLLER: &str = "127.0.0.1:1";

/// The lines of one message submitted by `user` from `ip`, delivered to
/// `to` (one attempt each), then removed.
pub(super) fn message(qid: &str, user: &str, ip: &str, to: &[(&str, &str)]) -> Vec<String> {
    let mut lines = vec![
        format!(
            "Jan  1 10:00:00 web postfix/submission/smtpd[1]: {qid}: client=c.example[{ip}], sasl_method=LOGIN, sasl_username={user}"
        ),
        format!(
            "Jan  1 10:00:00 web postfix/qmgr[2]: {qid}: from=<{user}>, size=900, nrcpt={} (queue active)",
            to.len()
        ),
    ];
    lines.extend(delivered(qid, to));
    lines.push(format!("Jan  1 10:00:02 web postfix/qmgr[2]: {qid}: removed"));
    lines
}

fn delivered(qid: &str, to: &[(&str, &str)]) -> Vec<String> {
    to.iter()
        .map(|(rcpt, outcome)| {
            let (dsn, status, reply) = match *outcome {
                "sent" => ("2.0.0", "sent", "250 2.0.0 OK".to_string()),
                "listed" => (
                    "5.7.1",
                    "bounced",
                    "host mx.b.example[198.51.100.9] said: 554 5.7.1 Service unavailable; Client host [203.0.113.5] \
                     blocked using zen.spamhaus.org (in reply to RCPT TO command)"
                        .to_string(),
                ),
                _ => ("4.4.1", "deferred", "connect to mx.b.example[198.51.100.9]:25: Connection timed out".to_string()),
            };
            let relay = if status == "deferred" { "none" } else { "mx.b.example[198.51.100.9]:25" };
            format!(
                "Jan  1 10:00:01 web postfix/smtp[3]: {qid}: to=<{rcpt}>, relay={relay}, delay=1, delays=0/0/0/1, dsn={dsn}, status={status} ({reply})"
            )
        })
        .collect()
}

pub(super) fn append(path: &Path, lines: &[String]) {
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    for line in lines {
        writeln!(file, "{line}").unwrap();
    }
}

/// Every report in the outbox, oldest first (acknowledging them locally).
pub(super) fn drain_outbox(agent: &mut Agent) -> Vec<HostReport> {
    let mut reports = Vec::new();
    while let Some(report) = agent.outbox.peek_oldest().unwrap() {
        agent.outbox.ack(report.seq).unwrap();
        reports.push(report);
    }
    reports
}

fn sum(reports: &[HostReport]) -> DeliveryTotals {
    let mut t = DeliveryTotals::default();
    for d in reports.iter().filter_map(|r| r.deliveries) {
        t.sent += d.sent;
        t.deferred += d.deferred;
        t.bounced += d.bounced;
        t.blocklisted += d.blocklisted;
    }
    t
}

#[tokio::test]
async fn deliveries_are_counted_exactly_once_across_ticks_and_a_restart_mid_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mail.log");
    std::fs::write(dir.path().join("passwd"), "root:x:0:0:root:/root:/bin/bash\n").unwrap();
    let config = config(NO_CONTROLLER.parse().unwrap(), dir.path());

    let mut reports = Vec::new();
    let mut agent = Agent::open(config.clone(), INSECURE).await.unwrap();
    append(
        &log,
        &message("AAAA1", "a@shop.example", "192.0.2.1", &[("x@b.example", "sent"), ("y@b.example", "listed")]),
    );
    agent.tick().unwrap();
    // A message whose first lines land in one period and its deliveries in the next.
    let split = message("BBBB2", "b@shop.example", "192.0.2.2", &[("z@c.example", "sent")]);
    append(&log, &split[..2]);
    agent.tick().unwrap();
    append(&log, &split[2..]);
    agent.tick().unwrap();
    reports.extend(drain_outbox(&mut agent));
    assert_eq!(reports.len(), 3);
    assert_eq!(reports[0].deliveries, Some(DeliveryTotals { sent: 1, deferred: 0, bounced: 1, blocklisted: 1 }));
    assert_eq!(reports[0].blocklist.len(), 1);
    assert_eq!(reports[0].blocklist[0].ip, "203.0.113.5");
    let b = reports[2].sources.iter().find(|s| s.id == "b@shop.example" && s.kind == SourceKind::SaslUser as i32);
    assert_eq!(b.map(|s| (s.messages, s.sent)), Some((1, 1)), "joined across periods: {:?}", reports[2].sources);

    // Lines read but not yet reported when the agent stops (a crash after a
    // poll, before the next tick), then more lines while it is down.
    append(&log, &message("CCCC3", "c@shop.example", "192.0.2.3", &[("v@d.example", "deferred")]));
    let mid = message("DDDD4", "d@shop.example", "192.0.2.4", &[("w@d.example", "sent"), ("u@d.example", "listed")]);
    append(&log, &mid[..3]);
    agent.maillog.poll();
    drop(agent);
    append(&log, &mid[3..]);

    let mut agent = Agent::open(config, INSECURE).await.unwrap();
    agent.tick().unwrap();
    let after = drain_outbox(&mut agent);
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].deliveries, Some(DeliveryTotals { sent: 1, deferred: 1, bounced: 1, blocklisted: 1 }));
    let d = after[0].sources.iter().find(|s| s.id == "d@shop.example" && s.kind == SourceKind::SaslUser as i32);
    assert_eq!(d.map(|s| (s.sent, s.bounced)), Some((1, 1)), "re-read from the stored position, joined again");
    reports.extend(after);

    // Whole file: 3 sent, 1 deferred, 2 bounced (both blocklisted), each once.
    assert_eq!(sum(&reports), DeliveryTotals { sent: 3, deferred: 1, bounced: 2, blocklisted: 2 });
    let last = reports.last().unwrap();
    assert!(last.status.as_ref().unwrap().collectors.iter().any(|c| c.name == "logs" && c.ok));

    // Nothing new: an empty period.
    agent.tick().unwrap();
    let idle = drain_outbox(&mut agent);
    assert_eq!(idle[0].deliveries, Some(DeliveryTotals::default()));
    assert!(idle[0].sources.is_empty());
}

#[tokio::test]
async fn unknown_lines_are_counted_per_program_and_reset_per_report() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mail.log");
    append(&log, &["Jan  1 10:00:00 web weird-daemon[1]: hello".to_string(), "no timestamp at all".to_string()]);
    let mut agent = Agent::open(config(NO_CONTROLLER.parse().unwrap(), dir.path()), INSECURE).await.unwrap();
    agent.tick().unwrap();
    agent.tick().unwrap();
    let reports = drain_outbox(&mut agent);
    let unparsed = &reports[0].status.as_ref().unwrap().unparsed_lines;
    let names: Vec<(&str, u64)> = unparsed.iter().map(|c| (c.name.as_str(), c.count)).collect();
    assert_eq!(names, [("unrecognised", 1), ("weird-daemon", 1)]);
    assert!(reports[1].status.as_ref().unwrap().unparsed_lines.is_empty());
}

#[tokio::test]
async fn a_missing_log_source_is_reported_not_fatal() {
    if crate::logs::DEFAULT_PATHS.iter().any(|p| Path::new(p).exists()) {
        return; // this machine has a mail log where the agent looks by default
    }
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(NO_CONTROLLER.parse().unwrap(), dir.path());
    config.logs.paths.clear();
    config.logs.journald = crate::logs::JournaldMode::Never;
    let mut agent = Agent::open(config, INSECURE).await.unwrap();
    agent.tick().unwrap();
    let report = drain_outbox(&mut agent).remove(0);
    let logs = report.status.unwrap().collectors.into_iter().find(|c| c.name == "logs").unwrap();
    assert!(!logs.ok);
    assert!(logs.error.contains("no mail log found"), "{}", logs.error);
}
