#![allow(clippy::unwrap_used)]

use super::*;

#[tokio::test]
async fn a_reserve_above_free_space_refuses_with_the_numbers_and_zero_disables_it() {
    let tmp = tempfile::tempdir().unwrap();
    let store = crate::store::verify::tests::open(tmp.path());
    let free = store.space_status().unwrap().free_bytes;
    store.set_min_free(free + 1024 * MIB);
    let err = store.check_space().unwrap_err();
    let StoreError::DiskFull { path, free: seen, reserve } = &err else { panic!("{err:?}") };
    assert_eq!((path.as_path(), *reserve), (tmp.path(), free + 1024 * MIB));
    assert!(seen.abs_diff(free) < 512 * MIB, "free {seen} vs {free}");
    let text = err.to_string();
    assert!(text.contains("store.min_free_mib") && text.contains(&tmp.path().display().to_string()), "{text}");
    assert!(store.space_status().unwrap().refusing());
    store.set_min_free(0);
    store.check_space().unwrap();
}

#[test]
fn no_space_from_sled_is_a_full_disk_not_a_generic_io_error() {
    let enospc = sled::Error::Io(std::io::Error::from(ErrorKind::StorageFull));
    assert!(matches!(StoreError::from(enospc), StoreError::DiskFull { reserve: 0, .. }));
    let other = sled::Error::Io(std::io::Error::from(ErrorKind::PermissionDenied));
    assert!(matches!(StoreError::from(other), StoreError::Io(_)));
    let text = StoreError::DiskFull { path: PathBuf::new(), free: 0, reserve: 0 }.to_string();
    assert!(text.contains("no space left on device") && text.contains("restart the controller"), "{text}");
}
