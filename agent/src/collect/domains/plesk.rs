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

use std::path::Path;
use std::time::Duration;

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

/// Runs the query (or the fallback); `None` when Plesk is not installed.
pub fn read(config: &DomainsConfig, limit: usize) -> Result<Option<Parsed>, String> {
    let Some(plesk) = find_program(&config.plesk) else {
        return Ok(None);
    };
    let mut parsed = Parsed::new(DomainSource::Plesk, limit);
    let sql = query(limit);
    let db = run_lines(&plesk, &["db", "-N", "-B", "-e", &sql], config.timeout, &mut |line| {
        parse_db_row(line, &mut parsed);
    });
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

fn list(plesk: &Path, what: &str, timeout: Duration, parsed: &mut Parsed) -> Result<(), crate::command::CommandError> {
    run_lines(plesk, &["bin", what, "--list"], timeout, &mut |line| parse_list_line(line, parsed))
}
