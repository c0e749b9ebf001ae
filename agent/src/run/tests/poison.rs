//! One bad line never stops the agent: a parser panic is caught, counted and
//! skipped (a stand-in parse function panics on demand, since the real
//! parsers are fixed); an overlong line is cut and counted; and a line that
//! kills the process is skipped after a bounded number of restarts (real
//! sled in a temporary directory, a real log file, crashes simulated by
//! dropping everything without a clean stop).

use std::path::{Path, PathBuf};

use rblfleet_proto::v1::DeliveryTotals;

use super::logs::{append, drain_outbox, message};
use super::*;
use crate::collect::maillog::poison::{PoisonGuard, UNIT, Verdict};
use crate::logs::{FollowOptions, Follower, Line};
use crate::parse::{Event, Parser};
use crate::store::checkpoint::Checkpoints;

const NO_CONTROLLER: &str = "127.0.0.1:1";
const BUG: &str = "PARSER-BUG";

/// The real parser, except that it panics half-way through a line holding
/// [`BUG`] (after pushing an event, to prove partial events are dropped).
fn buggy_parse(parser: &mut Parser, line: &str, out: &mut Vec<Event>) {
    if line.contains(BUG) {
        out.push(Event::Removed { ts_ms: None, queue_id: "HALF".into() });
        let s = "€€€";
        let _ = &s[..1];
    }
    parser.parse_line(line, out);
}

fn status(report: &HostReport) -> &AgentStatus {
    report.status.as_ref().unwrap()
}

#[tokio::test]
async fn a_parser_panic_skips_and_counts_the_line_and_the_agent_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mail.log");
    let mut agent = Agent::open(config(NO_CONTROLLER.parse().unwrap(), dir.path()), INSECURE).await.unwrap();
    agent.maillog.set_parse(buggy_parse);
    let mut lines = message("AAAA1", "a@shop.example", "192.0.2.1", &[("x@b.example", "sent")]);
    lines.insert(1, format!("Dec  4 10:00:00 srv01 postfix/cleanup[123]: AAAA1: warning: header Subject: {BUG} €€€"));
    lines.push(format!("Dec  4 10:00:00 srv01 postfix/smtp[9]: BBBB2: {BUG}"));
    lines.extend(message("CCCC3", "c@shop.example", "192.0.2.3", &[("y@b.example", "listed")]));
    append(&log, &lines);
    agent.tick().unwrap();
    agent.tick().unwrap();
    let reports = drain_outbox(&mut agent);
    assert_eq!(
        reports[0].deliveries,
        Some(DeliveryTotals { sent: 1, deferred: 0, bounced: 1, blocklisted: 1 }),
        "the lines around the bad ones are all counted"
    );
    let failed: Vec<(&str, u64)> =
        status(&reports[0]).failed_lines.iter().map(|c| (c.name.as_str(), c.count)).collect();
    assert_eq!(failed, [("postfix/cleanup", 1), ("postfix/smtp", 1)]);
    assert!(status(&reports[1]).failed_lines.is_empty(), "counts are per report");
    assert!(status(&reports[0]).collectors.iter().any(|c| c.name == "logs" && c.ok));
}

#[tokio::test]
async fn an_overlong_line_is_cut_and_counted_and_the_next_line_is_whole() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mail.log");
    let mut agent = Agent::open(config(NO_CONTROLLER.parse().unwrap(), dir.path()), INSECURE).await.unwrap();
    let long = format!("Dec  4 10:00:00 srv01 postfix/smtp[9]: {}", "x".repeat(1 << 20));
    let mut lines = vec![long, "\u{0}\u{0}\u{0}".to_string()];
    lines.extend(message("AAAA1", "a@shop.example", "192.0.2.1", &[("x@b.example", "sent")]));
    append(&log, &lines);
    agent.tick().unwrap();
    let report = drain_outbox(&mut agent).remove(0);
    assert_eq!(status(&report).truncated_lines, 1);
    assert_eq!(report.deliveries.unwrap().sent, 1);
    let unparsed: u64 = status(&report).unparsed_lines.iter().map(|c| c.count).sum();
    assert_eq!(unparsed, 2, "the cut line and the NULs, each once: {:?}", status(&report).unparsed_lines);
}

/// One simulated agent life on `log`: lines through the poison guard until
/// processing one for which `kills` says so "kills" the process (everything
/// is dropped without a clean stop), or to the end of the file (a clean
/// stop). Returns the offsets skipped and whether it crashed.
fn life(store_dir: &Path, log: &Path, kills: &dyn Fn(&Line<'_>) -> bool, processed: &mut Vec<u64>) -> (Vec<u64>, bool) {
    let store = Checkpoints::open_dir(store_dir).unwrap();
    let mut guard = PoisonGuard::open(store.clone());
    let mut follower = Follower::open_with(log, &store, FollowOptions { read_existing: true }).unwrap();
    let (mut skipped, mut dead) = (Vec::new(), false);
    follower
        .poll_lines(usize::MAX, &mut |line: &Line<'_>| {
            if dead {
                return;
            }
            let offset = line.at.unwrap().offset;
            match guard.before(line) {
                Verdict::Skip => skipped.push(offset),
                Verdict::Process if kills(line) => dead = true,
                Verdict::Process => processed.push(offset),
            }
        })
        .unwrap();
    if !dead {
        follower.commit().unwrap();
        guard.committed();
        guard.stopped();
    }
    (skipped, dead)
}

fn log_with_killer(dir: &Path, lines: usize, killer_at: usize) -> (PathBuf, Vec<u64>) {
    let log = dir.join("mail.log");
    let mut text = String::new();
    let mut offsets = Vec::new();
    for i in 0..lines {
        offsets.push(text.len() as u64);
        let tag = if i == killer_at { "KILLER" } else { "fine" };
        text.push_str(&format!("Dec  4 10:00:00 srv01 postfix/smtp[9]: Q{i}: {tag}\n"));
    }
    std::fs::write(&log, text).unwrap();
    (log, offsets)
}

#[test]
fn a_line_that_kills_the_agent_is_skipped_after_four_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let killer_at = UNIT * 2 + 17;
    let (log, offsets) = log_with_killer(dir.path(), UNIT * 3, killer_at);
    let store_dir = dir.path().join("store");
    let mut lives = Vec::new();
    let mut processed = Vec::new();
    for _ in 0..10 {
        processed.clear();
        let (skipped, crashed) = life(&store_dir, &log, &|l| l.text.contains("KILLER"), &mut processed);
        lives.push((skipped, crashed));
        if !crashed {
            break;
        }
    }
    // Unarmed crash, armed crash in the unit, crash line by line, the same
    // line alone once more, then the skip.
    let crashes: Vec<bool> = lives.iter().map(|l| l.1).collect();
    assert_eq!(crashes, [true, true, true, true, false]);
    assert_eq!(lives[4].0, [offsets[killer_at]]);
    assert_eq!(processed.len(), UNIT * 3 - 1, "every other line processed in the last life");

    // Clean stop: the next start is unarmed and finds no marks.
    let store = Checkpoints::open_dir(&store_dir).unwrap();
    assert_eq!(store.load_poison(&log).unwrap(), None);
    let guard = PoisonGuard::open(store.clone());
    assert!(!guard.armed());
}

#[test]
fn an_unclean_stop_without_a_bad_line_costs_no_line() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = log_with_killer(dir.path(), UNIT * 2, usize::MAX);
    let store_dir = dir.path().join("store");
    // A power loss: the running record stays, no mark was written (unarmed).
    drop(PoisonGuard::open(Checkpoints::open_dir(&store_dir).unwrap()));
    let mut processed = Vec::new();
    let (skipped, crashed) = life(&store_dir, &log, &|_| false, &mut processed);
    assert!(!crashed && skipped.is_empty());
    assert_eq!(processed.len(), UNIT * 2);
}

#[test]
fn kills_that_land_on_the_same_line_three_times_cost_no_line() {
    let dir = tempfile::tempdir().unwrap();
    let (log, offsets) = log_with_killer(dir.path(), UNIT * 2, usize::MAX);
    let store_dir = dir.path().join("store");
    // kill -9 (or an OOM kill caused elsewhere) at the same line in three
    // lives in a row, once batched, once alone: not the line's fault.
    let victim = offsets[UNIT + 3];
    let mut processed = Vec::new();
    for _ in 0..3 {
        let (skipped, crashed) = life(&store_dir, &log, &|l| l.at.unwrap().offset == victim, &mut processed);
        assert!(crashed && skipped.is_empty());
    }
    processed.clear();
    let (skipped, crashed) = life(&store_dir, &log, &|_| false, &mut processed);
    assert!(!crashed && skipped.is_empty(), "tried once more alone, and it passed");
    assert_eq!(processed.len(), UNIT * 2);
}

#[test]
fn the_normal_path_writes_no_mark() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = log_with_killer(dir.path(), 10, usize::MAX);
    let store = Checkpoints::open_dir(&dir.path().join("store")).unwrap();
    let mut guard = PoisonGuard::open(store.clone());
    assert!(!guard.armed());
    let mut follower = Follower::open_with(&log, &store, FollowOptions { read_existing: true }).unwrap();
    follower.poll_lines(usize::MAX, &mut |line: &Line<'_>| assert_eq!(guard.before(line), Verdict::Process)).unwrap();
    assert_eq!(store.load_poison(&log).unwrap(), None);
}
