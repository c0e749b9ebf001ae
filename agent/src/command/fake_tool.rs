//! Test support: fake MTA tools as shell scripts (real processes, fixed output).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

/// Writes an executable `/bin/sh` script `name` with `body` into `dir`.
/// (A concurrent test's fork can briefly hold the file open for writing;
/// [`super::spawn`] retries on the resulting ETXTBSY.)
pub(crate) fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}
