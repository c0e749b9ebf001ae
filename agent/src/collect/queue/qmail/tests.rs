#![allow(clippy::unwrap_used)]

use super::*;

const QSTAT: &str = "messages in queue: 27645\nmessages in queue but not yet preprocessed: 82\n";

/// qmail-qread output per qmail-qread.c (the first line from Plesk KB 766,
/// the rest built from the same format; addresses are documentation ones).
const QREAD: &str = "18 Jul 2005 15:03:07 GMT  #2996948  9073  <>  bouncing
  done\tremote\tuser1@example.com
\tremote\tuser2@example.com
7 Nov 2026 09:00:00 GMT  #3001  812  <web1@host.example> 
\tlocal\tpostmaster@host.example
\tremote\tvictim@example.net
7 Nov 2026 09:30:00 GMT  #3002  700  <web1@host.example> 
  done\tremote\tvictim2@example.net
\tremote\tvictim3@example.net
warning: trouble with #3003: file does not exist
7 Nov 2026 10:00:00 GMT  #3004  500  <info@shop.example> 
  done\tlocal\tinfo@host.example
";

fn qread_tally() -> QreadTally {
    let mut tally = QreadTally::default();
    QREAD.lines().for_each(|l| tally.add_line(l));
    tally
}

fn counts(stats: &QueueStats) -> Vec<(&str, u64)> {
    stats.counts.iter().map(|c| (c.queue.as_str(), c.messages)).collect()
}

#[test]
fn qstat_counts() {
    let mut qstat = Qstat::default();
    QSTAT.lines().for_each(|l| qstat.add_line(l));
    assert_eq!(qstat, Qstat { in_queue: Some(27_645), todo: Some(82) });
}

#[test]
fn qread_dates_are_utc() {
    assert_eq!(parse_date("18 Jul 2005 15:03:07"), Some(1_121_698_987));
    assert_eq!(parse_date("1 Jan 1970 00:00:00"), Some(0));
    assert_eq!(parse_date("29 Feb 2024 23:59:59"), Some(1_709_251_199));
    assert_eq!(parse_date("18 Foo 2005 15:03:07"), None);
}

#[test]
fn qread_messages_are_counted_per_channel() {
    let tally = qread_tally();
    assert_eq!(tally.messages(), 4);
    let now = 1_800_000_000;
    let stats = queue_stats(None, Some(tally), now);
    // #2996948 and #3001 and #3002 wait for a remote delivery; #3001 also local.
    assert_eq!(counts(&stats), [("local", 1), ("remote", 3)]);
    assert_eq!(stats.total, 4);
    assert_eq!(stats.oldest_age_secs, now - 1_121_698_987);
    let senders: Vec<(&str, u64)> = stats.top_senders.iter().map(|n| (n.name.as_str(), n.count)).collect();
    assert_eq!(senders, [("web1@host.example", 2), ("<>", 1), ("info@shop.example", 1)]);
}

#[test]
fn both_tools_together() {
    let mut qstat = Qstat::default();
    QSTAT.lines().for_each(|l| qstat.add_line(l));
    let stats = queue_stats(Some(qstat), Some(qread_tally()), 1_800_000_000);
    assert_eq!(counts(&stats), [("local", 1), ("remote", 3), ("todo", 82)]);
    assert_eq!(stats.total, 27_645);
}

#[cfg(unix)]
mod with_tools {
    use std::path::Path;

    use rblfleet_proto::v1::HostReport;

    use super::*;
    use crate::command::fake_tool::script;

    fn printing(dir: &Path, name: &str, text: &str) -> PathBuf {
        let fixture = dir.join(format!("{name}.out"));
        std::fs::write(&fixture, text).unwrap();
        script(dir, name, &format!("cat '{}'", fixture.display()))
    }

    fn collect(qstat: PathBuf, qread: PathBuf) -> (Option<QueueStats>, Result<(), CollectError>) {
        let mut report = HostReport::default();
        let result = QmailCollector::new(qstat, qread, Duration::from_secs(5)).collect(&mut report);
        (report.queue, result)
    }

    #[test]
    fn both_tools_fill_the_report() {
        let dir = tempfile::tempdir().unwrap();
        let (queue, result) =
            collect(printing(dir.path(), "qmail-qstat", QSTAT), printing(dir.path(), "qmail-qread", QREAD));
        result.unwrap();
        let queue = queue.unwrap();
        assert_eq!(queue.total, 27_645);
        assert_eq!(counts(&queue), [("local", 1), ("remote", 3), ("todo", 82)]);
    }

    #[test]
    fn one_missing_tool_gives_partial_figures_and_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("qmail-qread");
        let (queue, result) = collect(printing(dir.path(), "qmail-qstat", QSTAT), missing);
        let err = result.unwrap_err().to_string();
        assert!(err.contains("qmail-qread: not found") && err.contains("totals from qmail-qstat only"), "{err}");
        let queue = queue.unwrap();
        assert_eq!((queue.total, counts(&queue)), (27_645, vec![("todo", 82)]));

        let garbled = printing(dir.path(), "qmail-qstat", "find: 'mess': Permission denied\n");
        let (queue, result) = collect(garbled, printing(dir.path(), "qmail-qread", QREAD));
        let err = result.unwrap_err().to_string();
        assert!(err.contains("no \"messages in queue\" line") && err.contains("qmail-qread only"), "{err}");
        assert_eq!(queue.unwrap().total, 4);
    }

    #[test]
    fn no_tools_is_an_error_and_no_queue() {
        let dir = tempfile::tempdir().unwrap();
        let failing = script(dir.path(), "qmail-qstat", "echo 'cannot chdir to /var/qmail/queue' >&2; exit 1");
        let (queue, result) = collect(failing, dir.path().join("qmail-qread"));
        let err = result.unwrap_err().to_string();
        assert!(err.contains("cannot chdir") && err.contains("qmail-qread: not found"), "{err}");
        assert_eq!(queue, None);
    }
}
