//! Plesk's own list: every domain (subscriptions, additional domains,
//! subdomains) with the system user of the subscription it belongs to and
//! whether its mail service is on.
//!
//! One `plesk db -N -B -e QUERY` gives all three for the whole host in one
//! run, where `plesk bin subscription --info` / `domain --info` would take
//! one PHP start per domain (thousands on a big host). The query joins the
//! `psa` tables as public Plesk scripts do: `domains` (the subscription of a
//! domain is `webspace_id`, 0 for a subscription itself), `hosting.dom_id`
//! → `hosting.sys_user_id` → `sys_users.login`, and `DomainServices` rows of
//! `type = 'mail'` whose `status` is 0 (on). When the query fails (a schema
//! change, the database down) the names still come from
//! `plesk bin site --list` and `plesk bin domain --list`, without owner or
//! mail, and the source says it is partial.
//!
//! `plesk db` needs root and the packaged agent runs as `rblfleet-agent`.
//! So root writes the query's raw rows to a snapshot
//! ([`write_snapshot`], `rblfleet-agent domains --write-plesk-snapshot`,
//! run by rblfleet-plesk-domains.timer) and, with `domains.plesk_snapshot`
//! set, the agent parses that file with the same row parser instead of
//! running `plesk`: the query stays here, in one place. A missing,
//! unreadable or stale snapshot is the source's error (no fallback: the
//! list commands need root too).

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::list::Parsed;
use crate::collect::queue::find_program;
use crate::command::run_lines;
use crate::config::{DomainSource, DomainsConfig};

/// Name, owning system user (empty when the domain has no hosting), mail on
/// (1) or off (0); tab-separated by `-B`, no header with `-N`.
const QUERY: &str = "SELECT d.name, COALESCE(s.login, ''), \
     IF(EXISTS(SELECT 1 FROM DomainServices m WHERE m.dom_id = d.id AND m.type = 'mail' AND m.status = 0), 1, 0) \
     FROM domains d \
     LEFT JOIN hosting h ON h.dom_id = IF(d.webspace_id > 0, d.webspace_id, d.id) \
     LEFT JOIN sys_users s ON s.id = h.sys_user_id \
     ORDER BY d.id";

/// The query, bounded to one row more than is kept (so a cut is seen).
pub fn query(limit: usize) -> String {
    format!("{QUERY} LIMIT {}", limit.saturating_add(1))
}

/// One row of the query's output: `name<TAB>login<TAB>0|1`.
pub fn parse_db_row(line: &str, parsed: &mut Parsed) {
    let line = line.trim_end_matches('\r');
    if line.trim().is_empty() {
        return;
    }
    let fields: Vec<&str> = line.split('\t').collect();
    match fields.as_slice() {
        [name, login, mail @ ("0" | "1")] => parsed.add(name, login, *mail == "1"),
        _ => parsed.skip(line, "is not a row of name, system user and mail (0 or 1)"),
    }
}

/// One line of `plesk bin site --list` or `plesk bin domain --list`: a name.
pub fn parse_list_line(line: &str, parsed: &mut Parsed) {
    let name = line.trim();
    if !name.is_empty() {
        parsed.add(name, "", false);
    }
}

/// A snapshot's text: `#` lines are comments (the first says who wrote it
/// and when; no domain name starts with `#`), every other line a row.
pub fn parse_snapshot(text: &str, parsed: &mut Parsed) {
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        parse_db_row(line, parsed);
    }
}

/// Largest snapshot read: 20,000 rows are about 2 MB.
const MAX_SNAPSHOT_BYTES: u64 = 64 << 20;

/// How to run `systemctl` so that the snapshot is written, for errors.
const ENABLE_TIMER: &str = "enable rblfleet-plesk-domains.timer (systemctl enable --now rblfleet-plesk-domains.timer)";

/// A snapshot's text and age (from its modification time, which the
/// rename keeps; a time in the future counts as new).
pub fn read_snapshot_file(path: &Path, now: SystemTime) -> Result<(String, Duration), String> {
    let fail = |what: String| format!("Plesk snapshot {}: {what}; {ENABLE_TIMER}", path.display());
    let file = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => fail("missing".into()),
        _ => fail(e.to_string()),
    })?;
    let meta = file.metadata().map_err(|e| fail(e.to_string()))?;
    let modified = meta.modified().map_err(|e| fail(e.to_string()))?;
    let age = now.duration_since(modified).unwrap_or_default();
    let mut bytes = Vec::new();
    file.take(MAX_SNAPSHOT_BYTES + 1).read_to_end(&mut bytes).map_err(|e| fail(e.to_string()))?;
    if bytes.len() as u64 > MAX_SNAPSHOT_BYTES {
        return Err(fail(format!("more than {MAX_SNAPSHOT_BYTES} bytes")));
    }
    Ok((String::from_utf8_lossy(&bytes).into_owned(), age))
}

/// The source from the snapshot: an error when missing, unreadable or
/// older than `max_age`.
pub fn read_snapshot(path: &Path, max_age: Duration, limit: usize, now: SystemTime) -> Result<Parsed, String> {
    let (text, age) = read_snapshot_file(path, now)?;
    if age > max_age {
        return Err(format!(
            "Plesk snapshot {} was written {} ago, more than domains.plesk_snapshot_max_age = {}; \
             check rblfleet-plesk-domains.service, or {ENABLE_TIMER}",
            path.display(),
            humantime::format_duration(Duration::from_secs(age.as_secs())),
            humantime::format_duration(max_age)
        ));
    }
    let mut parsed = Parsed::new(DomainSource::Plesk, limit);
    parse_snapshot(&text, &mut parsed);
    Ok(parsed)
}

/// Runs the query as the collector does (same bound, same deadline) and
/// writes its raw rows to `path`: `path.new` (mode 0640), then renamed, so
/// a reader never sees half a list and a failure replaces nothing. Returns
/// the number of rows. `path.new` is created afresh (`create_new`), never
/// followed through a link left there.
pub fn write_snapshot(config: &DomainsConfig, path: &Path, now: SystemTime) -> Result<usize, String> {
    let plesk = find_program(&config.plesk)
        .ok_or_else(|| format!("{}: not found; is Plesk installed?", config.plesk.display()))?;
    let mut rows = Vec::new();
    run_query(&plesk, config, config.max, &mut |line| rows.push(line.to_string()))
        .map_err(|e| format!("{e}; {} left as it was", path.display()))?;
    let written = humantime::format_rfc3339_seconds(now);
    let mut text = format!(
        "# Plesk domains (name, system user, mail) written {written} by rblfleet-agent {}\n",
        env!("CARGO_PKG_VERSION")
    );
    for row in &rows {
        text.push_str(row);
        text.push('\n');
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".new");
    let tmp = std::path::PathBuf::from(tmp);
    let fail = |what: &str, e: std::io::Error| format!("{what} {}: {e}", tmp.display());
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(fail("removing", e)),
        _ => {}
    }
    let mut file = std::fs::File::options().write(true).create_new(true).open(&tmp).map_err(|e| fail("creating", e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o640)).map_err(|e| fail("chmod", e))?;
    }
    file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(|e| fail("writing", e))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|e| format!("renaming {} to {}: {e}", tmp.display(), path.display()))?;
    Ok(rows.len())
}

/// Reads the snapshot when `domains.plesk_snapshot` is set, else runs the
/// query (or the fallback); `None` when Plesk is not installed.
pub fn read(config: &DomainsConfig, limit: usize) -> Result<Option<Parsed>, String> {
    if let Some(path) = &config.plesk_snapshot {
        return read_snapshot(path, config.plesk_snapshot_max_age, limit, SystemTime::now()).map(Some);
    }
    let Some(plesk) = find_program(&config.plesk) else {
        return Ok(None);
    };
    let mut parsed = Parsed::new(DomainSource::Plesk, limit);
    let db = run_query(&plesk, config, limit, &mut |line| parse_db_row(line, &mut parsed));
    let Err(db_error) = db else {
        return Ok(Some(parsed));
    };
    // Rows read before the failure would mix with the fallback's: start again.
    let mut parsed = Parsed::new(DomainSource::Plesk, limit);
    let mut errors = Vec::new();
    for what in ["site", "domain"] {
        if let Err(e) = list(&plesk, what, config.timeout, &mut parsed) {
            errors.push(e.to_string());
        }
    }
    if errors.len() == 2 {
        return Err(format!("{db_error}; {}", errors.join("; ")));
    }
    parsed.warnings.push(format!("{db_error}; names from `plesk bin site/domain --list`, without owner or mail"));
    parsed.warnings.extend(errors);
    Ok(Some(parsed))
}

/// `plesk db` with the query bounded by `limit`, within `domains.timeout`:
/// the one way both the collector and the snapshot writer run it.
fn run_query(
    plesk: &Path,
    config: &DomainsConfig,
    limit: usize,
    on_row: &mut dyn FnMut(&str),
) -> Result<(), crate::command::CommandError> {
    run_lines(plesk, &["db", "-N", "-B", "-e", &query(limit)], config.timeout, on_row)
}

fn list(plesk: &Path, what: &str, timeout: Duration, parsed: &mut Parsed) -> Result<(), crate::command::CommandError> {
    run_lines(plesk, &["bin", what, "--list"], timeout, &mut |line| parse_list_line(line, parsed))
}
