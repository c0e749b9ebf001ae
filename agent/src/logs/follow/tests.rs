#![allow(clippy::unwrap_used)]
#![cfg(unix)]

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use super::*;

mod writing;

/// A data dir and a log path inside one temp dir.
struct Setup {
    _dir: tempfile::TempDir,
    log: PathBuf,
    state: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("maillog");
    let state = dir.path().join("state");
    Setup { log, state, _dir: dir }
}

fn store(s: &Setup) -> Checkpoints {
    Checkpoints::open_dir(&s.state).unwrap()
}

fn append(path: &Path, text: &str) {
    let mut f = OpenOptions::new().create(true).append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn numbered(range: std::ops::Range<u32>) -> String {
    range.map(|i| format!("line {i:06}\n")).collect()
}

fn expect(range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|i| format!("line {i:06}")).collect()
}

/// Polls until nothing more is available.
fn drain(f: &mut Follower, max: usize) -> Vec<String> {
    let mut got = Vec::new();
    loop {
        let stats = f.poll(max, &mut |l| got.push(l.to_string())).unwrap();
        if stats.lines == 0 && !stats.more {
            return got;
        }
    }
}

fn poll_once(f: &mut Follower, max: usize) -> Vec<String> {
    let mut got = Vec::new();
    f.poll(max, &mut |l| got.push(l.to_string())).unwrap();
    got
}

#[test]
fn first_start_begins_at_the_end_unless_told_otherwise() {
    let s = setup();
    append(&s.log, &numbered(0..5));
    append(&s.log, "partial");
    let mut f = Follower::open(&s.log, &store(&s)).unwrap();
    assert_eq!(drain(&mut f, 100), Vec::<String>::new());
    append(&s.log, " line\n");
    append(&s.log, &numbered(5..7));
    let mut want = vec!["partial line".to_string()];
    want.extend(expect(5..7));
    assert_eq!(drain(&mut f, 100), want);

    let s = setup();
    append(&s.log, &numbered(0..5));
    let options = FollowOptions { read_existing: true };
    let mut f = Follower::open_with(&s.log, &store(&s), options).unwrap();
    assert_eq!(drain(&mut f, 2), expect(0..5));
}

#[test]
fn partial_lines_wait_for_their_newline_and_crlf_is_cut() {
    let s = setup();
    append(&s.log, "");
    let mut f = Follower::open(&s.log, &store(&s)).unwrap();
    append(&s.log, "abc");
    assert_eq!(drain(&mut f, 10), Vec::<String>::new());
    append(&s.log, "def\r\nghi\n\u{ff}\n");
    assert_eq!(drain(&mut f, 10), ["abcdef", "ghi", "\u{ff}"]);
    // Invalid UTF-8 becomes a replacement character.
    std::fs::OpenOptions::new().append(true).open(&s.log).unwrap().write_all(b"x\xffy\n").unwrap();
    assert_eq!(drain(&mut f, 10), ["x\u{fffd}y"]);
}

#[test]
fn overlong_lines_are_cut_counted_and_their_rest_skipped() {
    let s = setup();
    append(&s.log, "");
    let mut f = Follower::open(&s.log, &store(&s)).unwrap();
    // One line longer than the read buffer, one that ends within MAX_LINE + a
    // buffer (it went through `pending`), one of exactly MAX_LINE bytes.
    let long = "x".repeat(MAX_LINE * 2 + 10);
    let medium = format!("{}€", "y".repeat(MAX_LINE - 1));
    let exact = "z".repeat(MAX_LINE);
    append(&s.log, &format!("{long}\nshort\n{medium}\n{exact}\nend\n"));
    let mut got = Vec::new();
    let stats =
        f.poll_lines(100, &mut |line: &crate::logs::Line<'_>| got.push((line.text.len(), line.truncated))).unwrap();
    // The cut in the middle of the euro sign drops what is left of it.
    assert_eq!(got, [(MAX_LINE, true), (5, false), (MAX_LINE - 1, true), (MAX_LINE, false), (3, false)]);
    assert_eq!(stats.truncated, 2);
    assert_eq!(stats.bytes, std::fs::metadata(&s.log).unwrap().len());
    f.commit().unwrap();
    drop(f);
    // Resumed after the cut lines, not inside them.
    let mut again = Follower::open(&s.log, &store(&s)).unwrap();
    append(&s.log, "after\n");
    assert_eq!(drain(&mut again, 10), ["after"]);
}

#[test]
fn a_missing_file_is_waited_for_and_read_from_its_start() {
    let s = setup();
    let mut f = Follower::open(&s.log, &store(&s)).unwrap();
    assert_eq!(f.reading(), None);
    assert_eq!(drain(&mut f, 10), Vec::<String>::new());
    append(&s.log, &numbered(0..3));
    assert_eq!(drain(&mut f, 10), expect(0..3));
}

#[test]
fn restart_in_the_middle_of_a_file_continues_at_the_commit() {
    let s = setup();
    append(&s.log, &numbered(0..100));
    let options = FollowOptions { read_existing: true };
    {
        let mut f = Follower::open_with(&s.log, &store(&s), options).unwrap();
        let got = poll_once(&mut f, 40);
        assert_eq!(got, expect(0..40));
        f.commit().unwrap();
        assert_eq!(f.checkpoint().offset, 40 * 12);
        // Handed out but not committed: read again after the restart.
        assert_eq!(poll_once(&mut f, 20), expect(40..60));
    }
    append(&s.log, &numbered(100..120));
    let mut f = Follower::open_with(&s.log, &store(&s), options).unwrap();
    assert_eq!(drain(&mut f, 7), expect(40..120));
    f.commit().unwrap();
    drop(f);
    let mut f = Follower::open(&s.log, &store(&s)).unwrap();
    assert_eq!(drain(&mut f, 7), Vec::<String>::new());
}

#[test]
fn restart_after_a_rename_rotation_reads_the_rotated_tail_first() {
    let s = setup();
    append(&s.log, &numbered(0..100));
    {
        let options = FollowOptions { read_existing: true };
        let mut f = Follower::open_with(&s.log, &store(&s), options).unwrap();
        assert_eq!(poll_once(&mut f, 50), expect(0..50));
        f.commit().unwrap();
    }
    // While the agent is stopped: more lines, a rotation (dateext), new lines.
    append(&s.log, &numbered(100..110));
    let rotated = s.log.with_file_name("maillog-20261107");
    std::fs::rename(&s.log, &rotated).unwrap();
    append(&s.log, &numbered(110..130));
    let mut f = Follower::open(&s.log, &store(&s)).unwrap();
    assert_eq!(f.reading(), Some(rotated.as_path()));
    let got = drain(&mut f, 1000);
    let mut want = expect(50..100);
    want.extend(expect(100..130));
    assert_eq!(got, want);
    assert_eq!(f.reading(), Some(s.log.as_path()));
}

#[test]
fn restart_after_a_copytruncate_reads_the_copy_tail_first() {
    let s = setup();
    append(&s.log, &numbered(0..30));
    {
        let options = FollowOptions { read_existing: true };
        let mut f = Follower::open_with(&s.log, &store(&s), options).unwrap();
        assert_eq!(poll_once(&mut f, 10), expect(0..10));
        f.commit().unwrap();
    }
    std::fs::copy(&s.log, s.log.with_file_name("maillog.1")).unwrap();
    OpenOptions::new().write(true).open(&s.log).unwrap().set_len(0).unwrap();
    append(&s.log, &numbered(30..35));
    let mut f = Follower::open(&s.log, &store(&s)).unwrap();
    assert_eq!(drain(&mut f, 1000), expect(10..35));
}

#[test]
fn a_checkpointed_file_that_is_gone_restarts_at_the_new_files_start() {
    let s = setup();
    append(&s.log, &numbered(0..10));
    {
        let mut f = Follower::open_with(&s.log, &store(&s), FollowOptions { read_existing: true }).unwrap();
        drain(&mut f, 100);
        f.commit().unwrap();
    }
    std::fs::remove_file(&s.log).unwrap();
    append(&s.log, &numbered(10..12));
    let mut f = Follower::open(&s.log, &store(&s)).unwrap();
    assert_eq!(drain(&mut f, 100), expect(10..12));
}

#[test]
fn rename_rotation_reads_the_old_file_to_its_end_first() {
    let s = setup();
    append(&s.log, "");
    let mut f = Follower::open(&s.log, &store(&s)).unwrap();
    append(&s.log, &numbered(0..5));
    assert_eq!(drain(&mut f, 100), expect(0..5));
    // The syslog daemon keeps writing to the renamed file until it reopens.
    let mut old = OpenOptions::new().append(true).open(&s.log).unwrap();
    std::fs::rename(&s.log, s.log.with_file_name("maillog.1")).unwrap();
    append(&s.log, ""); // logrotate's `create`
    old.write_all(numbered(5..8).as_bytes()).unwrap();
    assert_eq!(drain(&mut f, 100), expect(5..8));
    old.write_all(b"unterminated").unwrap();
    drop(old);
    append(&s.log, &numbered(8..10));
    let mut got = Vec::new();
    let stats = f.poll(100, &mut |l| got.push(l.to_string())).unwrap();
    let mut want = vec!["unterminated".to_string()];
    want.extend(expect(8..10));
    assert_eq!(got, want);
    assert_eq!(stats.rotations, 1);
}

#[test]
fn copytruncate_is_detected_by_size_and_by_fingerprint() {
    let s = setup();
    append(&s.log, "");
    let mut f = Follower::open(&s.log, &store(&s)).unwrap();
    append(&s.log, &numbered(0..10));
    assert_eq!(drain(&mut f, 100), expect(0..10));
    // Truncated without a copy, then shorter content: size < offset.
    OpenOptions::new().write(true).open(&s.log).unwrap().set_len(0).unwrap();
    append(&s.log, &numbered(10..12));
    let mut got = Vec::new();
    let stats = f.poll(100, &mut |l| got.push(l.to_string())).unwrap();
    assert_eq!((got, stats.truncations), (expect(10..12), 1));
    // Truncated and grown past the old offset before the next poll.
    OpenOptions::new().write(true).open(&s.log).unwrap().set_len(0).unwrap();
    append(&s.log, &numbered(20..40));
    assert_eq!(drain(&mut f, 100), expect(20..40));
}
