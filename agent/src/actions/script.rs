//! Quarantining a PHP script: the checks around the `mv` of the table.
//!
//! The script must be the one the agent reported: its file name is the name
//! in `X-PHP-Originating-Script` (PHP writes `uid:basename`), its owner the
//! reported uid when known, and it lies below `<vhosts>/<subscription>/`
//! with no symlink on the way ([`validate::script_path`]). It goes to
//! `<quarantine_dir>/<action id without its p-/a- prefix>` (the same path in
//! the plan and its action): a name the customer does not choose, in a
//! directory the customer cannot reach. Owner, group and mode are recorded
//! and checked after each move, so undo restores exactly what was there.
//!
//! Residual risk, said out loud: the checks run as the agent, the move as
//! root, and a customer whose site is compromised controls the directories
//! on the way. Quarantine moves *into* a root-owned directory under a name
//! we chose, so a directory swapped for a symlink in between can only make
//! root move some other file into quarantine (visible in the audit and
//! caught by the owner/mode check after the move). Restore moves *into* the
//! customer's tree: a swap in the moment between the check and `mv` would
//! make root drop the script (its own owner and mode, its original name)
//! elsewhere; [`verify_in_place`] detects that afterwards and fails the
//! action with where the file went. Closing the window needs a root helper
//! that walks the path with `openat(O_NOFOLLOW)` and `renameat`; until then a
//! cautious host allows `quarantine_script` and restores by hand.

#[cfg(unix)]
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{ActionResult, Refusal, ReportedSource, UndoData, validate};
use crate::config::ActionsConfig;

/// Windows files have no uid, gid or mode bits: they read as 0 there, so a
/// reported uid never matches and a Windows host refuses to quarantine
/// (the agent builds for Windows; the action is meant for Linux hosts).
#[cfg(not(unix))]
trait MetadataExt {
    fn uid(&self) -> u32;
    fn gid(&self) -> u32;
    fn mode(&self) -> u32;
}

#[cfg(not(unix))]
impl MetadataExt for std::fs::Metadata {
    fn uid(&self) -> u32 {
        0
    }
    fn gid(&self) -> u32 {
        0
    }
    fn mode(&self) -> u32 {
        0
    }
}

/// The file name a reported script id names (`10001:mailer.php` → `mailer.php`).
fn reported_name(id: &str) -> &str {
    let after_uid = id.split_once(':').map_or(id, |(_, name)| name);
    after_uid.rsplit('/').next().unwrap_or(after_uid)
}

/// The file name a quarantine uses for action `id`: the part after the
/// controller's prefix (`p-3f…` and `a-3f…` → `3f…`), so the dry run of a
/// plan shows the path its action will move the script to.
fn quarantine_name(id: &str) -> &str {
    match id.split_once('-') {
        Some((prefix, rest)) if !prefix.is_empty() && !rest.is_empty() => rest,
        _ => id,
    }
}

/// Where the script goes, and the undo data, for a quarantine.
pub fn plan_quarantine(
    config: &ActionsConfig,
    id: &str,
    script: &str,
    subscription: &str,
    source: &ReportedSource,
) -> Result<(PathBuf, PathBuf, UndoData), Refusal> {
    validate::domain("subscription", subscription)?;
    if !source.subscription.is_empty() && source.subscription != subscription {
        return Err(Refusal::Invalid {
            field: "subscription",
            reason: format!("the script was reported for {}, not {subscription}", source.subscription),
        });
    }
    let from = validate::script_path(script, &config.vhosts, subscription)?;
    let name = from.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if name != reported_name(&source.id) {
        return Err(Refusal::Invalid {
            field: "script",
            reason: format!("{name} is not the reported script {}", validate::shown(&source.id)),
        });
    }
    let meta = std::fs::symlink_metadata(&from)
        .map_err(|e| Refusal::Invalid { field: "script", reason: format!("cannot be read: {e}") })?;
    if let Some(uid) = source.uid
        && meta.uid() != uid
    {
        return Err(Refusal::Invalid {
            field: "script",
            reason: format!("owned by uid {}, but the reported script ran as uid {uid}", meta.uid()),
        });
    }
    let to = config.quarantine_dir.join(quarantine_name(id));
    if to.symlink_metadata().is_ok() {
        return Err(Refusal::Invalid { field: "id", reason: format!("{} already exists", to.display()) });
    }
    let undo = UndoData::Script {
        original: from.clone(),
        quarantined: to.clone(),
        uid: meta.uid(),
        gid: meta.gid(),
        mode: meta.mode() & 0o7777,
    };
    Ok((from, to, undo))
}

/// The paths of a restore, checked against the recorded undo data.
pub fn plan_restore(config: &ActionsConfig, undo: &UndoData) -> Result<(PathBuf, PathBuf), Refusal> {
    let UndoData::Script { original, quarantined, .. } = undo else {
        return Err(Refusal::Invalid { field: "undo", reason: "not the undo data of a quarantine".into() });
    };
    let name = quarantined.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    validate::action_id(name).map_err(|_| Refusal::Invalid { field: "undo", reason: "bad quarantine name".into() })?;
    if quarantined.parent() != Some(config.quarantine_dir.as_path()) {
        return Err(Refusal::Invalid {
            field: "undo",
            reason: format!("{} is not in {}", quarantined.display(), config.quarantine_dir.display()),
        });
    }
    check_file("undo", quarantined, undo)?;
    // The original path obeys the same rules as at quarantine time; the file
    // is not there, so its parent directory is what is resolved.
    let original_text = original.to_str().unwrap_or_default();
    let (parent, file) = original_text
        .rsplit_once('/')
        .ok_or_else(|| Refusal::Invalid { field: "undo", reason: "original path has no directory".into() })?;
    let subscription = original
        .strip_prefix(&config.vhosts)
        .ok()
        .and_then(|rest| rest.components().next())
        .and_then(|c| c.as_os_str().to_str())
        .ok_or_else(|| Refusal::Invalid {
            field: "undo",
            reason: "original path is not below [actions] vhosts".into(),
        })?;
    validate::domain("undo", subscription)?;
    let root = config.vhosts.join(subscription);
    if Path::new(parent) != root {
        directory_below(parent, &root)?;
    }
    if file.is_empty() || original.symlink_metadata().is_ok() {
        return Err(Refusal::Invalid {
            field: "script",
            reason: format!("{} exists again; move it away or restore by hand", original.display()),
        });
    }
    Ok((quarantined.clone(), original.clone()))
}

/// `parent` is a real directory below `root`, reached without symlinks.
fn directory_below(parent: &str, root: &Path) -> Result<(), Refusal> {
    let lexical = Path::new(parent);
    let canonical = std::fs::canonicalize(lexical)
        .map_err(|e| Refusal::Invalid { field: "script", reason: format!("{parent} cannot be resolved: {e}") })?;
    let canonical_root = std::fs::canonicalize(root).map_err(|e| Refusal::Invalid {
        field: "script",
        reason: format!("{} cannot be resolved: {e}", root.display()),
    })?;
    if canonical.strip_prefix(&canonical_root).ok() != lexical.strip_prefix(root).ok() {
        return Err(Refusal::Invalid { field: "script", reason: format!("{parent} goes through a symlink") });
    }
    Ok(())
}

/// The file at `path` is a regular file with the recorded owner and mode.
fn check_file(field: &'static str, path: &Path, undo: &UndoData) -> Result<(), Refusal> {
    let UndoData::Script { uid, gid, mode, .. } = undo else {
        return Ok(());
    };
    let meta = std::fs::symlink_metadata(path)
        .map_err(|e| Refusal::Invalid { field, reason: format!("{}: {e}", path.display()) })?;
    if !meta.file_type().is_file() || meta.uid() != *uid || meta.gid() != *gid || meta.mode() & 0o7777 != *mode {
        return Err(Refusal::Invalid {
            field,
            reason: format!(
                "{} is not the file recorded (owner {}:{} mode {:o}, recorded {uid}:{gid} {mode:o})",
                path.display(),
                meta.uid(),
                meta.gid(),
                meta.mode() & 0o7777
            ),
        });
    }
    Ok(())
}

/// After a move: the file is at `to` with the recorded owner and mode, and
/// nothing is left at `from`. A failure becomes the result's reason.
pub fn verify_move(from: &Path, to: &Path, undo: &UndoData, result: &mut ActionResult) {
    if let Err(e) = check_file("script", to, undo) {
        result.reason = format!("after the move: {e}");
    } else if from.symlink_metadata().is_ok() {
        result.reason = format!("after the move {} still exists", from.display());
    } else {
        return;
    }
    result.status = super::Status::Failed;
}

/// After a restore: the file is where it was recorded, reached without a
/// symlink. A directory swapped for a symlink during the move would have
/// put it elsewhere; that is reported (with where it went) for a person to
/// inspect, since the move ran as root.
pub fn verify_in_place(original: &Path, result: &mut ActionResult) {
    match std::fs::canonicalize(original) {
        Ok(canonical) if canonical == original => {}
        Ok(canonical) => {
            result.status = super::Status::Failed;
            result.reason = format!(
                "the restored file resolves to {}, not {}: a directory changed during the move; inspect the host",
                canonical.display(),
                original.display()
            );
        }
        Err(e) => {
            result.status = super::Status::Failed;
            result.reason = format!("the restored file {} cannot be resolved: {e}", original.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::quarantine_name;

    #[test]
    fn a_plan_and_its_action_quarantine_to_the_same_name() {
        assert_eq!(quarantine_name("p-00ff12ab34cd56ef"), quarantine_name("a-00ff12ab34cd56ef"));
        assert_eq!(quarantine_name("a-00ff12ab34cd56ef"), "00ff12ab34cd56ef");
        assert_eq!(quarantine_name("q1"), "q1");
        assert_eq!(quarantine_name("-x"), "-x");
        assert_eq!(quarantine_name("x-"), "x-");
    }
}
