#![allow(clippy::unwrap_used)]
#![cfg(unix)]

use std::path::Path;

use super::*;
use crate::command::fake_tool::script;

/// A journalctl that logs its arguments, prints five entries (all with
/// --no-tail, those after the cursor with --after-cursor, none with
/// --lines=0) and then waits, as --follow does.
fn fake_journalctl(dir: &Path) -> PathBuf {
    let args = dir.join("args");
    script(
        dir,
        "journalctl",
        &format!(
            r#"echo "$*" >> '{args}'
after=""; all=0
for a in "$@"; do
  case "$a" in --after-cursor=*) after="${{a#--after-cursor=}}";; --no-tail) all=1;; esac
done
printing=0
if [ -z "$after" ] && [ "$all" = 1 ]; then printing=1; fi
echo "-- Journal begins at Sat 2026-11-07 --"
for c in c1 c2 c3 c4 c5; do
  if [ "$printing" = 1 ]; then
    echo "{{\"__CURSOR\":\"s=ab;i=$c\",\"SYSLOG_FACILITY\":\"2\",\"SYSLOG_IDENTIFIER\":\"postfix/smtp\",\"MESSAGE\":\"msg $c\"}}"
  fi
  if [ "s=ab;i=$c" = "$after" ]; then printing=1; fi
done
exec sleep 30"#,
            args = args.display()
        ),
    )
}

fn settings(program: PathBuf, read_existing: bool) -> JournalSettings {
    JournalSettings { program, matches: vec!["SYSLOG_FACILITY=2".into()], read_existing }
}

/// Polls until `want` entries arrived (within 10 s); returns their MESSAGE.
fn take(j: &mut Journal, want: usize) -> Vec<String> {
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < want {
        assert!(Instant::now() < deadline, "only {got:?} arrived");
        j.poll(want - got.len(), &mut |l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            got.push(v["MESSAGE"].as_str().unwrap().to_string());
        })
        .unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    got
}

#[test]
fn the_committed_cursor_is_resumed_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let program = fake_journalctl(dir.path());
    let store = Checkpoints::open_dir(&dir.path().join("state")).unwrap();
    {
        let mut j = Journal::open(&settings(program.clone(), true), &store).unwrap();
        assert_eq!(take(&mut j, 3), ["msg c1", "msg c2", "msg c3"]);
        j.commit().unwrap();
        // Handed out, not committed: handed out again after the restart.
        assert_eq!(take(&mut j, 1), ["msg c4"]);
    }
    let mut j = Journal::open(&settings(program, true), &store).unwrap();
    assert_eq!(take(&mut j, 2), ["msg c4", "msg c5"]);
    std::thread::sleep(Duration::from_millis(50));
    let stats = j.poll(10, &mut |l| panic!("unexpected {l}")).unwrap();
    assert_eq!(stats.lines, 0);
    j.commit().unwrap();
    assert_eq!(store.load_cursor(CURSOR_KEY).unwrap().as_deref(), Some("s=ab;i=c5"));

    let args = std::fs::read_to_string(dir.path().join("args")).unwrap();
    let runs: Vec<&str> = args.lines().collect();
    assert_eq!(runs[0], "-o json --follow --no-pager --no-tail SYSLOG_FACILITY=2");
    assert_eq!(runs[1], "-o json --follow --no-pager --after-cursor=s=ab;i=c3 SYSLOG_FACILITY=2");
}

#[test]
fn a_first_start_begins_at_the_end_of_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let program = fake_journalctl(dir.path());
    let store = Checkpoints::open_dir(&dir.path().join("state")).unwrap();
    let mut j = Journal::open(&settings(program, false), &store).unwrap();
    j.poll(10, &mut |l| panic!("unexpected {l}")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dir.path().join("args").exists() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(j.poll(10, &mut |l| panic!("unexpected {l}")).unwrap().lines, 0);
    let args = std::fs::read_to_string(dir.path().join("args")).unwrap();
    assert!(args.contains("--lines=0"), "{args}");
}

#[test]
fn a_missing_journalctl_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Checkpoints::open_dir(&dir.path().join("state")).unwrap();
    let missing = dir.path().join("no-such-journalctl");
    let mut j = Journal::open(&settings(missing, false), &store).unwrap();
    let err = j.poll(10, &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("no-such-journalctl"), "{err}");
    // Not retried at once: the next poll is quiet until RESTART_DELAY.
    assert_eq!(j.poll(10, &mut |_| {}).unwrap().lines, 0);
}

#[test]
fn an_exiting_journalctl_is_reported_with_its_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let program =
        script(dir.path(), "journalctl", "echo 'Failed to get journal access: Permission denied' >&2\nexit 1");
    let store = Checkpoints::open_dir(&dir.path().join("state")).unwrap();
    let mut j = Journal::open(&settings(program, false), &store).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let err = loop {
        assert!(Instant::now() < deadline, "no error reported");
        match j.poll(10, &mut |_| {}) {
            Ok(_) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => break e.to_string(),
        }
    };
    assert!(err.contains("exit status: 1") && err.contains("Permission denied"), "{err}");
}

#[test]
fn cursors_are_read_from_entries() {
    assert_eq!(cursor_of(r#"{"__CURSOR":"s=1;i=2","MESSAGE":[1,2]}"#).as_deref(), Some("s=1;i=2"));
    assert_eq!(cursor_of(r#"{"MESSAGE":"x"}"#), None);
    assert_eq!(cursor_of("not json"), None);
}

#[test]
fn an_entry_longer_than_max_line_is_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let long = "x".repeat(MAX_LINE + 10);
    let program = script(
        dir.path(),
        "journalctl",
        &format!(
            "echo '{{\"__CURSOR\":\"s=ab;i=1\",\"MESSAGE\":\"{long}\"}}'\n\
             echo '{{\"__CURSOR\":\"s=ab;i=2\",\"MESSAGE\":\"short\"}}'\nexec sleep 30"
        ),
    );
    let store = Checkpoints::open_dir(&dir.path().join("state")).unwrap();
    let mut j = Journal::open(&settings(program, true), &store).unwrap();
    let (mut lines, mut truncated) = (Vec::new(), 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while lines.is_empty() || truncated == 0 {
        assert!(Instant::now() < deadline, "lines {lines:?}, truncated {truncated}");
        truncated += j.poll(10, &mut |l| lines.push(l.len())).unwrap().truncated;
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!((lines.len(), truncated), (1, 1));
}
