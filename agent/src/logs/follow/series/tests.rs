#![allow(clippy::unwrap_used)]

use std::fs::OpenOptions;
use std::io::Write;

use super::*;

struct Setup {
    dir: tempfile::TempDir,
    state: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir(dir.path().join("SMTP")).unwrap();
        Setup { dir, state }
    }
    fn pattern(&self) -> PathBuf {
        self.dir.path().join("SMTP").join("SMTP-Activity-*.log")
    }
    fn day(&self, date: &str) -> PathBuf {
        self.dir.path().join("SMTP").join(format!("SMTP-Activity-{date}.log"))
    }
    fn store(&self) -> Checkpoints {
        Checkpoints::open_dir(&self.state).unwrap()
    }
    fn open(&self, read_existing: bool) -> Series {
        Series::open_with(&self.pattern(), &self.store(), FollowOptions { read_existing }).unwrap()
    }
}

fn append(path: &Path, text: &str) {
    let mut f = OpenOptions::new().create(true).append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn drain(s: &mut Series, max: usize) -> Vec<String> {
    let mut got = Vec::new();
    loop {
        let stats = s.poll_lines(max, &mut |l| got.push(l.text.to_string())).unwrap();
        if stats.lines == 0 && !stats.more {
            return got;
        }
    }
}

#[test]
fn first_start_follows_the_newest_file_from_its_end() {
    let s = Setup::new();
    append(&s.day("261202"), "old 1\n");
    append(&s.day("261203"), "history\n");
    let mut series = s.open(false);
    assert_eq!(series.reading(), Some(s.day("261203").as_path()));
    assert!(drain(&mut series, 100).is_empty());
    append(&s.day("261203"), "new\n");
    assert_eq!(drain(&mut series, 100), ["new"]);
}

#[test]
fn finishes_the_previous_day_before_the_next() {
    let s = Setup::new();
    append(&s.day("261203"), "a1\n");
    let mut series = s.open(true);
    assert_eq!(drain(&mut series, 100), ["a1"]);
    // The writer's last lines of the day, the last one unterminated.
    append(&s.day("261203"), "a2\na3");
    // An empty new file: the old one may still be written to.
    append(&s.day("261204"), "");
    assert_eq!(drain(&mut series, 100), ["a2"]);
    append(&s.day("261204"), "b1\n");
    let mut got = Vec::new();
    let stats = series.poll_lines(100, &mut |l| got.push((l.text.to_string(), l.source.to_path_buf()))).unwrap();
    assert_eq!(
        got,
        [("a3".to_string(), s.day("261203")), ("b1".to_string(), s.day("261204"))],
        "the unterminated last line of a finished day is handed out, then the new day"
    );
    assert_eq!(stats.rotations, 1);
    assert_eq!(series.reading(), Some(s.day("261204").as_path()));
}

#[test]
fn never_reads_a_finished_or_older_file_again() {
    let s = Setup::new();
    append(&s.day("261203"), "a1\n");
    append(&s.day("261204"), "b1\n");
    let mut series = s.open(true);
    // First start: only the newest file.
    assert_eq!(drain(&mut series, 100), ["b1"]);
    series.commit().unwrap();
    // A restored old log and more lines in the day already done.
    append(&s.day("261201"), "restored\n");
    append(&s.day("261203"), "late\n");
    assert!(drain(&mut series, 100).is_empty());
    drop(series);
    let mut series = s.open(true);
    assert!(drain(&mut series, 100).is_empty(), "a restart does not read them either");
}

#[test]
fn restarts_resume_per_file_and_count_every_line_once() {
    let s = Setup::new();
    let mut series = s.open(true);
    // Matches nothing yet: the first file is read from its start.
    append(&s.day("261203"), "a1\na2\n");
    assert_eq!(drain(&mut series, 100), ["a1", "a2"]);
    series.commit().unwrap();
    append(&s.day("261203"), "a3\n");
    append(&s.day("261204"), "b1\n");
    append(&s.day("261205"), "c1\n");
    // The budget stops the poll inside the second day; a crash loses the
    // uncommitted part, which is read again.
    let mut got = Vec::new();
    series.poll_lines(2, &mut |l| got.push(l.text.to_string())).unwrap();
    assert_eq!(got, ["a3", "b1"]);
    drop(series);
    let mut series = s.open(true);
    assert_eq!(drain(&mut series, 2), ["a3", "b1", "c1"]);
    // Both finished days and the current one are written at the commit.
    let writes = series.pending_commit();
    assert_eq!(writes.len(), 3, "{writes:?}");
    series.commit().unwrap();
    assert!(series.pending_commit().is_empty());
    drop(series);
    assert_eq!(s.store().load_file(&s.day("261204")).unwrap().unwrap().offset, 3);
    append(&s.day("261205"), "c2\n");
    let mut series = s.open(true);
    assert_eq!(drain(&mut series, 100), ["c2"]);
}

#[test]
fn a_replaced_checkpointed_file_is_read_from_its_start() {
    let s = Setup::new();
    append(&s.day("261203"), "a1\na2\n");
    let mut series = s.open(true);
    assert_eq!(drain(&mut series, 100), ["a1", "a2"]);
    series.commit().unwrap();
    drop(series);
    std::fs::remove_file(s.day("261203")).unwrap();
    append(&s.day("261203"), "other 1\nother 2\n");
    let mut series = s.open(true);
    assert_eq!(drain(&mut series, 100), ["other 1", "other 2"]);
}
