//! The fallback on a Plesk host whose database cannot be asked: the virtual
//! hosts directory. Plesk makes `/var/www/vhosts/<subscription>` owned by
//! the subscription's system user, and `/var/www/vhosts/system/<domain>`
//! (owned by root) for every domain with hosting, additional domains and
//! subdomains included. Its own directories (`default`, `system`, `chroot`,
//! `fs`, `fs-passwd`, `.skel` and other dot directories) are not domains and
//! are passed over without being counted as skipped.

use std::path::Path;

use super::list::Parsed;
use crate::attribution::UserMap;
use crate::config::{DomainSource, DomainsConfig};

/// Plesk's directories under the vhosts directory (Plesk's "Virtual Host
/// Structure (Linux)"; the same list attribution keeps in `passwd.rs`).
pub const PLESK_DIRS: &[&str] = &["default", "system", "chroot", "fs", "fs-passwd", ".skel"];

/// One directory found: its name and its owner's user name when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VhostDir {
    /// The directory name.
    pub name: String,
    /// The owner's login (the subscription's system user), if known.
    pub owner: Option<String>,
}

/// The domains among directory names: Plesk's own and hidden directories
/// left out, the rest normalised (and counted when not a domain).
pub fn parse_dirs(dirs: &[VhostDir], parsed: &mut Parsed) {
    for dir in dirs {
        if dir.name.starts_with('.') || PLESK_DIRS.contains(&dir.name.as_str()) {
            continue;
        }
        parsed.add(&dir.name, dir.owner.as_deref().unwrap_or_default(), false);
    }
}

/// Lists `domains.vhosts_dir` (owners looked up in `passwd`) and its
/// `system` directory; `None` when the vhosts directory does not exist.
pub fn read(config: &DomainsConfig, passwd: &Path, limit: usize) -> Result<Option<Parsed>, String> {
    let root = &config.vhosts_dir;
    let Some(top) = list_dirs(root, limit)? else { return Ok(None) };
    let users = std::fs::read_to_string(passwd).map(|text| UserMap::from_passwd(&text)).unwrap_or_default();
    let top: Vec<VhostDir> = top
        .into_iter()
        // A subscription's user is never root; a root-owned directory is
        // one made by hand, its owner no subscription.
        .map(|(name, uid)| VhostDir {
            name,
            owner: uid.filter(|&uid| uid != 0).and_then(|uid| users.get(uid)).map(|u| u.name.clone()),
        })
        .collect();
    let mut parsed = Parsed::new(DomainSource::Vhosts, limit);
    parse_dirs(&top, &mut parsed);
    // Owned by root: no owner to report.
    if let Some(system) = list_dirs(&root.join("system"), limit)? {
        let system: Vec<VhostDir> = system.into_iter().map(|(name, _)| VhostDir { name, owner: None }).collect();
        parse_dirs(&system, &mut parsed);
    }
    Ok(Some(parsed))
}

/// Directory names with their owner's uid.
type Listing = Vec<(String, Option<u32>)>;

/// The subdirectories of `dir` with their owner's uid, sorted by name
/// (read_dir's order is the file system's, and a cut list must not change
/// between two runs). At most
/// `2 * limit + PLESK_DIRS.len()` entries are looked at.
fn list_dirs(dir: &Path, limit: usize) -> Result<Option<Listing>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    let mut dirs = Vec::new();
    for entry in entries.take(limit.saturating_mul(2).saturating_add(PLESK_DIRS.len())) {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        // Follows symlinks: a domain's directory may be one.
        let Ok(meta) = std::fs::metadata(entry.path()) else { continue };
        if !meta.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        dirs.push((name, owner_uid(&meta)));
    }
    dirs.sort();
    Ok(Some(dirs))
}

#[cfg(unix)]
fn owner_uid(meta: &std::fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    Some(meta.uid())
}

#[cfg(not(unix))]
fn owner_uid(_: &std::fs::Metadata) -> Option<u32> {
    None
}
