#![allow(clippy::unwrap_used)]

use super::*;

fn sample() -> Checkpoint {
    Checkpoint {
        dev: 2049,
        ino: 1_234_567,
        offset: 98_765,
        fingerprint: b"Nov  7 10:00:01 web07 postfix/smtp[123]: ".to_vec(),
    }
}

#[test]
fn file_checkpoints_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let log = Path::new("/var/log/maillog");
    {
        let store = Checkpoints::open_dir(dir.path()).unwrap();
        assert_eq!(store.load_file(log).unwrap(), None);
        store.save_file(log, &sample()).unwrap();
        store.save_cursor("journal", "s=abc;i=12").unwrap();
    }
    let store = Checkpoints::open_dir(dir.path()).unwrap();
    assert_eq!(store.load_file(log).unwrap(), Some(sample()));
    assert_eq!(store.load_file(Path::new("/var/log/mail.log")).unwrap(), None);
    assert_eq!(store.load_cursor("journal").unwrap().as_deref(), Some("s=abc;i=12"));
    assert_eq!(store.load_cursor("other").unwrap(), None);
}

#[test]
fn shares_a_database_with_other_trees() {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new().path(dir.path()).open().unwrap();
    let other = db.open_tree("reports").unwrap();
    other.insert(b"k", b"v").unwrap();
    let store = Checkpoints::open(&db, dir.path()).unwrap();
    store.save_file(Path::new("/x"), &sample()).unwrap();
    assert_eq!(other.len(), 1);
    assert_eq!(store.load_file(Path::new("/x")).unwrap(), Some(sample()));
}

#[test]
fn corrupt_entries_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new().path(dir.path()).open().unwrap();
    let store = Checkpoints::open(&db, dir.path()).unwrap();
    let tree = db.open_tree(TREE).unwrap();
    tree.insert(b"file:/var/log/maillog", &[1u8, 0, 0][..]).unwrap();
    let err = store.load_file(Path::new("/var/log/maillog")).unwrap_err().to_string();
    assert!(err.contains("file:/var/log/maillog"), "{err}");
    assert!(err.contains("too short"), "{err}");
    tree.insert(b"journal:j", &[9u8, b'x'][..]).unwrap();
    let err = store.load_cursor("j").unwrap_err().to_string();
    assert!(err.contains("unknown entry version 9"), "{err}");
}

#[test]
fn long_fingerprints_are_cut() {
    let mut cp = sample();
    cp.fingerprint = vec![b'x'; 1000];
    let decoded = decode_file(&encode_file(&cp)).unwrap();
    assert_eq!(decoded.fingerprint.len(), MAX_FINGERPRINT);
}

#[test]
fn poison_marks_and_the_running_record_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let log = Path::new("/var/log/maillog");
    let mark = PoisonMark { dev: 2049, ino: 77, offset: 123_456, attempts: 2, single: true };
    {
        let store = Checkpoints::open_dir(dir.path()).unwrap();
        assert!(!store.mark_running().unwrap(), "a fresh store: the last agent stopped cleanly");
        store.save_poison(log, &mark).unwrap();
        store.save_file(log, &sample()).unwrap();
    }
    let store = Checkpoints::open_dir(dir.path()).unwrap();
    assert!(store.mark_running().unwrap(), "not stopped cleanly");
    assert_eq!(store.load_poison(log).unwrap(), Some(mark));
    store.clear_poison().unwrap();
    assert_eq!(store.load_poison(log).unwrap(), None);
    assert_eq!(store.load_file(log).unwrap(), Some(sample()), "checkpoints are not poison marks");
    store.mark_stopped().unwrap();
    assert!(!store.mark_running().unwrap());
}

#[test]
fn a_corrupt_poison_mark_names_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new().path(dir.path()).open().unwrap();
    let store = Checkpoints::open(&db, dir.path()).unwrap();
    db.open_tree(TREE).unwrap().insert(b"poison:/l", &[1u8, 0, 0][..]).unwrap();
    let err = store.load_poison(Path::new("/l")).unwrap_err().to_string();
    assert!(err.contains("poison:/l") && err.contains("not 30 bytes"), "{err}");
}
