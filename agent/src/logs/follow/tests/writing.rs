//! Rotations while a writer thread appends numbered lines: every line must
//! be handed out exactly once, in order.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;

const N: u32 = 30_000;

fn number(line: &str) -> u32 {
    line.strip_prefix("line ").and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("bad line {line:?}"))
}

/// Polls until all `N` lines arrived; `rotate` runs between polls and sees
/// the stats so far.
fn follow_all(f: &mut Follower, mut rotate: impl FnMut(&Follower, u32, &PollStats)) -> (Vec<u32>, PollStats) {
    let mut got = Vec::with_capacity(N as usize);
    let mut total = PollStats::default();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut polls = 0;
    while got.len() < N as usize {
        assert!(Instant::now() < deadline, "stuck after {} lines", got.len());
        let stats = f.poll(300, &mut |l| got.push(number(l))).unwrap();
        total.add(stats);
        polls += 1;
        rotate(f, polls, &total);
        if stats.lines == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    (got, total)
}

#[test]
fn rotation_by_rename_during_writing() {
    let s = setup();
    append(&s.log, "");
    let mut f = Follower::open(&s.log, &store(&s)).unwrap();
    // Like a syslog daemon: one open file, reopened when told (SIGHUP).
    let reopen = Arc::new(AtomicBool::new(false));
    // The writer waits at each checkpoint for one more rotation, so three
    // happen during writing however far a loaded box lets the follower lag.
    let rotated = Arc::new(AtomicU32::new(0));
    let writer = {
        let (log, reopen, rotated) = (s.log.clone(), Arc::clone(&reopen), Arc::clone(&rotated));
        std::thread::spawn(move || {
            let open = || OpenOptions::new().create(true).append(true).open(&log).unwrap();
            let mut file = open();
            for i in 0..N {
                let checkpoint = i / (N / 4);
                loop {
                    if reopen.load(SeqCst) {
                        file = open();
                        reopen.store(false, SeqCst);
                    }
                    if i % (N / 4) != 0 || rotated.load(SeqCst) >= checkpoint {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                file.write_all(format!("line {i:06}\n").as_bytes()).unwrap();
                if i % 100 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        })
    };
    let mut rotations: u32 = 0;
    let (got, seen) = follow_all(&mut f, |_, polls, so_far| {
        // Rotate once the follower finished the previous rotation: two
        // renames before it reads the first file's tail would rename the
        // middle file away unread (logrotate runs daily; this is the test's
        // pace, not a real one).
        let caught_up = so_far.rotations >= rotations;
        if polls % 5 == 0 && rotations < 8 && caught_up && !reopen.load(SeqCst) && !writer.is_finished() {
            std::fs::rename(&s.log, s.log.with_file_name("maillog.1")).unwrap();
            if rotations.is_multiple_of(2) {
                append(&s.log, ""); // logrotate's `create`; else the writer creates it
            }
            // The writer goes on writing to the renamed file for a while.
            std::thread::sleep(Duration::from_micros(300));
            reopen.store(true, SeqCst);
            rotations += 1;
            rotated.store(rotations, SeqCst);
        }
    });
    writer.join().unwrap();
    assert!(rotations >= 3, "only {rotations} rotations happened during writing");
    assert!(seen.rotations >= 3, "{seen:?}");
    assert_eq!(got, (0..N).collect::<Vec<_>>());
    assert_eq!(drain(&mut f, 100), Vec::<String>::new());
}

/// copytruncate loses the lines written between its copy and its truncate
/// (they are in neither file); that window is closed here by pausing the
/// writer, so every line must arrive.
#[test]
fn copytruncate_during_writing() {
    let s = setup();
    append(&s.log, "");
    let mut f = Follower::open(&s.log, &store(&s)).unwrap();
    let gate = Arc::new(Mutex::new(()));
    // As in the rename test: checkpoints keep three rotations in the writing.
    let (rotated, written) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let writer = {
        let (log, gate, rotated, written) =
            (s.log.clone(), Arc::clone(&gate), Arc::clone(&rotated), Arc::clone(&written));
        std::thread::spawn(move || {
            let mut file = OpenOptions::new().append(true).open(&log).unwrap();
            for i in 0..N {
                while i % (N / 4) == 0 && rotated.load(SeqCst) < i / (N / 4) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                {
                    let _writing = gate.lock().unwrap();
                    file.write_all(format!("line {i:06}\n").as_bytes()).unwrap();
                    written.store(i + 1, SeqCst);
                }
                if i % 100 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        })
    };
    let (mut rotations, mut written_at_rotation): (u32, u32) = (0, 0);
    let (got, seen) = follow_all(&mut f, |f, polls, so_far| {
        if polls % 5 != 0 || rotations >= 8 || writer.is_finished() {
            return;
        }
        let _paused = gate.lock().unwrap();
        // Rotate only when the follower has read every line written, some
        // of them since the last rotation, on the live file: logrotate runs
        // daily, and a truncation of a file it has not read from (or of an
        // empty one) cannot be told from no truncation at all.
        let written = written.load(SeqCst);
        let caught_up = so_far.lines == written as usize && written > written_at_rotation;
        if caught_up && f.reading() == Some(s.log.as_path()) {
            let first = s.log.with_file_name("maillog.1");
            if first.exists() {
                std::fs::rename(&first, s.log.with_file_name("maillog.2")).unwrap();
            }
            std::fs::copy(&s.log, &first).unwrap();
            OpenOptions::new().write(true).open(&s.log).unwrap().set_len(0).unwrap();
            rotations += 1;
            written_at_rotation = written;
            rotated.store(rotations, SeqCst);
        }
    });
    writer.join().unwrap();
    assert!(rotations >= 3, "only {rotations} rotations happened during writing");
    assert_eq!(seen.truncations, rotations, "{seen:?}");
    assert_eq!(got, (0..N).collect::<Vec<_>>());
}
