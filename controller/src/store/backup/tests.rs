#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{BackupError, read_backup};
use crate::store::restore;
use crate::store::verify::tests::{open, populate};

type Trees = BTreeMap<Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>>;

/// Every tree of the closed store in `dir`, byte for byte.
fn contents(dir: &Path) -> Trees {
    let db = sled::Config::new().path(dir).open().unwrap();
    let mut trees = Trees::new();
    for name in db.tree_names() {
        let tree = db.open_tree(&name).unwrap();
        let records = tree.iter().map(|e| e.unwrap()).map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
        trees.insert(name.to_vec(), records);
    }
    trees
}

/// A populated store in `tmp/data` and its backup in `tmp/store.bak`.
async fn backed_up(tmp: &Path) -> (PathBuf, PathBuf) {
    let data = tmp.join("data");
    let file = tmp.join("store.bak");
    let store = open(&data);
    populate(&store).await;
    let mut out = std::fs::File::create(&file).unwrap();
    let (info, _) = store.export_backup(&mut out).unwrap();
    assert_eq!(info.records, info.trees.iter().map(|t| t.records).sum::<u64>());
    assert!(info.trees.iter().any(|t| t.name == "reports" && t.records == 15), "{info:?}");
    assert_eq!(info.bytes, std::fs::metadata(&file).unwrap().len());
    (data, file)
}

#[tokio::test]
async fn a_restored_backup_equals_the_store_and_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, file) = backed_up(tmp.path()).await;
    let restored_dir = tmp.path().join("restored");
    let restored = restore(&file, &restored_dir, false).unwrap();
    assert!(restored.verify.is_clean(), "{:?}", restored.verify.problems);
    assert_eq!(restored.replaced, None);
    assert!(!tmp.path().join("restored.restoring").exists());
    assert_eq!(contents(&restored_dir), contents(&data));
    // The restored directory is a working store.
    let store = open(&restored_dir);
    assert_eq!(store.host_reports("web10").unwrap().len(), 5);
}

#[tokio::test]
async fn a_damaged_backup_is_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, file) = backed_up(tmp.path()).await;
    let good = std::fs::read(&file).unwrap();
    let target = tmp.path().join("target");
    let damaged = tmp.path().join("damaged.bak");

    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x40;
    std::fs::write(&damaged, &flipped).unwrap();
    let err = restore(&damaged, &target, false).unwrap_err();
    assert!(
        matches!(err, BackupError::Checksum { .. } | BackupError::Corrupt { .. } | BackupError::Truncated { .. }),
        "{err}"
    );
    assert!(!target.exists() && !tmp.path().join("target.restoring").exists(), "something was written");

    std::fs::write(&damaged, &good[..good.len() - 40]).unwrap();
    let err = restore(&damaged, &target, false).unwrap_err();
    assert!(matches!(err, BackupError::Truncated { .. }), "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");

    std::fs::write(&damaged, b"PK\x03\x04 a zip file").unwrap();
    assert!(matches!(restore(&damaged, &target, false).unwrap_err(), BackupError::NotABackup));

    let mut other_schema = good.clone();
    other_schema[12..16].copy_from_slice(&99u32.to_be_bytes());
    std::fs::write(&damaged, &other_schema).unwrap();
    let err = restore(&damaged, &target, false).unwrap_err();
    assert!(matches!(err, BackupError::Schema { found: 99 }), "{err}");

    let mut extra = good.clone();
    extra.push(0);
    std::fs::write(&damaged, &extra).unwrap();
    let err = restore(&damaged, &target, false).unwrap_err();
    assert!(err.to_string().contains("data after the trailer"), "{err}");
    assert!(!target.exists());
}

/// Every single flipped byte is caught (by the checksum or the structure).
#[tokio::test]
async fn any_flipped_byte_is_detected() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, file) = backed_up(tmp.path()).await;
    let good = std::fs::read(&file).unwrap();
    read_backup(&good[..], |_| Ok(())).unwrap();
    let step = (good.len() / 200).max(1);
    for at in (0..good.len()).step_by(step) {
        let mut bad = good.clone();
        bad[at] ^= 0x01;
        assert!(read_backup(&bad[..], |_| Ok(())).is_err(), "flipping byte {at} went unnoticed");
    }
}

#[tokio::test]
async fn restore_refuses_a_non_empty_or_live_directory_and_force_moves_the_old_one_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, file) = backed_up(tmp.path()).await;
    let target = tmp.path().join("target");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("precious.txt"), "keep me").unwrap();

    let err = restore(&file, &target, false).unwrap_err().to_string();
    assert!(err.contains("is not empty") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(target.join("precious.txt")).unwrap(), "keep me");

    let restored = restore(&file, &target, true).unwrap();
    let aside = restored.replaced.unwrap();
    assert_eq!(std::fs::read_to_string(aside.join("precious.txt")).unwrap(), "keep me");
    assert!(target.join("db").exists());

    // A controller holds the store: never replaced, even with --force.
    let live = open(&target);
    let err = restore(&file, &target, true).unwrap_err().to_string();
    assert!(err.contains("in use by a running controller"), "{err}");
    drop(live);

    // An empty directory (e.g. a fresh mount point) is fine without --force.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    restore(&file, &empty, false).unwrap();
}
