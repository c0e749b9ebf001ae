#![allow(clippy::unwrap_used)]

use std::path::Path;

use rblfleet_proto::v1::NamedCount;

use super::*;

/// `postqueue -j` lines in showq_json.c's key order (the first built from the
/// reference's mailq sample); addresses replaced by documentation ones.
const SHOWQ: &str = r#"{"queue_name": "deferred", "queue_id": "4D8C21560C0", "arrival_time": 1222779312, "message_size": 5955, "force_expired": false, "sender": "", "recipients": [{"address": "netbanker@bank.example", "delay_reason": "connect to bank.example[192.0.2.15]:25: No route to host"}]}
{"queue_name": "deferred", "queue_id": "488681560C5", "arrival_time": 1222694356, "message_size": 4566, "sender": "", "recipients": [{"address": "coach@volley.example", "delay_reason": "host mx.volley.example[198.51.100.75] refused to talk to me: 554 Service unavailable; Client host [203.0.113.24] blocked using Barracuda Reputation"}]}
{"queue_name": "active", "queue_id": "AD00A13E5C22", "arrival_time": 1737707628, "message_size": 8564, "sender": "contact@shop.example", "recipients": [{"address": "yamada@gmail.com"}]}
{"queue_name":"hold","queue_id":"3Xy7Kq1mZ4zB9","arrival_time":1737707000,"message_size":100,"force_expired":true,"sender":"contact@shop.example","recipients":[{"address":"b@example.org","delay_reason":" connect  to bank.example[192.0.2.15]:25:\tNo route to host"},{"address":"c@example.org"}]}
"#;

const NOW: u64 = 1_737_710_000;

fn counts(stats: &QueueStats) -> Vec<(&str, u64)> {
    stats.counts.iter().map(|c| (c.queue.as_str(), c.messages)).collect()
}

fn named(list: &[NamedCount]) -> Vec<(&str, u64)> {
    list.iter().map(|n| (n.name.as_str(), n.count)).collect()
}

#[test]
fn showq_lines_parse_with_optional_keys() {
    let first = parse_showq_line(SHOWQ.lines().next().unwrap()).unwrap();
    assert_eq!(first.queue_name, "deferred");
    assert_eq!(first.queue_id, "4D8C21560C0");
    assert_eq!((first.arrival_time, first.message_size), (1_222_779_312, 5955));
    assert_eq!(first.sender, "");
    assert_eq!(first.recipients[0].address, "netbanker@bank.example");
    let active = parse_showq_line(SHOWQ.lines().nth(2).unwrap()).unwrap();
    assert_eq!(active.recipients[0].delay_reason, None);
    assert!(parse_showq_line("Mail queue is empty").is_err());
    assert!(parse_showq_line(r#"{"queue_name": "active"}"#).is_err());
}

#[test]
fn messages_are_aggregated() {
    let mut tally = PostfixTally::default();
    for line in SHOWQ.lines() {
        tally.add(&parse_showq_line(line).unwrap());
    }
    let odd = r#"{"queue_name":"corrupt","queue_id":"1","arrival_time":1737709000,"message_size":1,"sender":"x@example.com","recipients":[]}"#;
    tally.add(&parse_showq_line(odd).unwrap());
    let stats = tally.finish(NOW);
    assert_eq!(
        counts(&stats),
        [("active", 1), ("deferred", 2), ("hold", 1), ("incoming", 0), ("maildrop", 0), ("corrupt", 1)]
    );
    assert_eq!(stats.total, 5);
    assert_eq!(stats.oldest_age_secs, NOW - 1_222_694_356);
    assert_eq!(named(&stats.top_senders), [("<>", 2), ("contact@shop.example", 2), ("x@example.com", 1)]);
    assert_eq!(
        named(&stats.top_deferral_reasons),
        [
            ("connect to bank.example[192.0.2.15]:25: No route to host", 2),
            (
                "host mx.volley.example[198.51.100.75] refused to talk to me: 554 Service unavailable; \
                 Client host [203.0.113.24] blocked using Barracuda Reputation",
                1
            ),
        ]
    );
}

#[test]
fn top_lists_are_capped() {
    let mut tally = PostfixTally::default();
    for i in 0..25 {
        for _ in 0..=i {
            let line = format!(
                r#"{{"queue_name":"deferred","queue_id":"Q{i}","arrival_time":1,"message_size":1,"sender":"s{i:02}@example.com","recipients":[{{"address":"r@example.net","delay_reason":"reason {i}"}}]}}"#
            );
            tally.add(&parse_showq_line(&line).unwrap());
        }
    }
    let stats = tally.finish(NOW);
    assert_eq!(stats.top_senders.len(), TOP_N);
    assert_eq!(stats.top_senders[0].name, "s24@example.com");
    assert_eq!(stats.top_deferral_reasons.len(), TOP_N);
    assert_eq!(stats.top_deferral_reasons[9].name, "reason 15");
}

#[test]
fn long_reasons_are_cut_on_a_character_boundary() {
    let reason = "é".repeat(300);
    let cut = normalize_reason(&reason);
    assert!(cut.len() <= 200 && cut.chars().all(|c| c == 'é'), "{}", cut.len());
}

fn spool(dir: &Path) -> PathBuf {
    let root = dir.join("spool");
    for (sub, n) in [("active", 2), ("deferred/A", 3), ("deferred/B/C", 1), ("hold", 1), ("maildrop", 0)] {
        let d = root.join(sub);
        std::fs::create_dir_all(&d).unwrap();
        for i in 0..n {
            std::fs::write(d.join(format!("F{i}")), "x").unwrap();
        }
    }
    root
}

#[test]
fn the_spool_is_counted_recursively() {
    let dir = tempfile::tempdir().unwrap();
    let stats = count_spool(&spool(dir.path())).unwrap();
    assert_eq!(counts(&stats), [("active", 2), ("deferred", 4), ("hold", 1), ("incoming", 0), ("maildrop", 0)]);
    assert_eq!((stats.total, stats.oldest_age_secs), (7, 0));
    let err = count_spool(&dir.path().join("nope")).unwrap_err();
    assert!(err.contains("no Postfix queue directory at"), "{err}");
}

#[cfg(unix)]
mod with_tools {
    use std::time::{Duration, Instant};

    use rblfleet_proto::v1::HostReport;

    use super::*;
    use crate::collect::collect_all;
    use crate::command::fake_tool::script;

    fn collector(postqueue: PathBuf, spool: PathBuf) -> PostfixCollector {
        PostfixCollector::new(postqueue, spool, Duration::from_millis(500))
    }

    #[test]
    fn postqueue_output_fills_the_report() {
        let dir = tempfile::tempdir().unwrap();
        let fixture = dir.path().join("showq.json");
        std::fs::write(&fixture, SHOWQ).unwrap();
        let tool = script(dir.path(), "postqueue", &format!("[ \"$1\" = -j ] || exit 64\ncat '{}'", fixture.display()));
        let mut report = HostReport::default();
        collector(tool, dir.path().join("none")).collect(&mut report).unwrap();
        let stats = report.queue.unwrap();
        assert_eq!(stats.total, 4);
        assert_eq!(counts(&stats)[..3], [("active", 1), ("deferred", 2), ("hold", 1)]);
        assert_eq!(stats.top_senders.len(), 2);
    }

    #[test]
    fn a_failing_postqueue_falls_back_to_the_spool() {
        let dir = tempfile::tempdir().unwrap();
        let tool = script(
            dir.path(),
            "postqueue",
            "echo 'postqueue: fatal: Queue report unavailable - mail system is down' >&2; exit 69",
        );
        let mut report = HostReport::default();
        let err = collector(tool, spool(dir.path())).collect(&mut report).unwrap_err().to_string();
        assert!(err.contains("mail system is down") && err.contains("counted the files under"), "{err}");
        assert_eq!(report.queue.unwrap().total, 7);
    }

    #[test]
    fn a_hanging_postqueue_times_out_and_falls_back() {
        let dir = tempfile::tempdir().unwrap();
        let tool = script(dir.path(), "postqueue", "exec sleep 30");
        let started = Instant::now();
        let mut report = HostReport::default();
        let err = collector(tool, spool(dir.path())).collect(&mut report).unwrap_err().to_string();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(err.contains("did not finish within 500ms"), "{err}");
        assert_eq!(report.queue.unwrap().total, 7);
    }

    #[test]
    fn no_postqueue_and_no_spool_is_a_status_error_not_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let mut collectors: Vec<Box<dyn Collector>> =
            vec![Box::new(collector(dir.path().join("postqueue"), dir.path().join("spool")))];
        let mut report = HostReport::default();
        collect_all(&mut collectors, &mut report);
        assert_eq!(report.queue, None);
        let status = &report.status.unwrap().collectors[0];
        assert_eq!((status.name.as_str(), status.ok), ("queue", false));
        assert!(status.error.contains("postqueue -j: not found"), "{}", status.error);
        assert!(status.error.contains("no Postfix queue directory"), "{}", status.error);
    }
}
