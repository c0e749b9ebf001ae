//! The controller host's own checks: the configuration, the data directory
//! and its free space against the reserve, who can reach the admin API and
//! the metrics, and whether the clock is plausible.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Check;
use crate::config::{Config, ConfigError};
use crate::daemon::build_catalog;

const MIB: u64 = 1024 * 1024;

/// Loads the configuration as `rblfleet serve` does; the row, and the
/// configuration when it can be used by the other checks.
pub fn config(path: &Path, insecure: bool) -> (Check, Option<Config>) {
    const NAME: &str = "config";
    match Config::load(path, insecure) {
        Ok(config) => {
            let zones = build_catalog(&config).map(|c| c.enabled().len()).unwrap_or(0);
            let dnsbl = if config.dnsbl.enabled {
                format!("{zones} zones enabled")
            } else {
                "blocklist checks off (dnsbl.enabled = false)".to_string()
            };
            (Check::ok(NAME, format!("{} loads; {dnsbl}", path.display())), Some(config))
        }
        Err(error) => {
            let fix = match &error {
                ConfigError::Read { .. } => {
                    "give the file `rblfleet serve` reads with --config (or RBLFLEET_CONFIG)".to_string()
                }
                ConfigError::Catalog { .. } => {
                    "correct [dnsbl.catalog]; `rblfleet zones` lists the zone ids".to_string()
                }
                _ => "correct the key named; deploy/controller.example.toml documents every key".to_string(),
            };
            let detail = format!("{error}; the other checks need a configuration that loads");
            (Check::failure(NAME, detail, fix), None)
        }
    }
}

/// The data directory: present, a directory, writable by this user, and
/// its free space against `store.min_free_mib` (below it the controller
/// refuses reports).
pub fn data_dir(config: &Config) -> Vec<Check> {
    let dir = &config.data_dir;
    let shown = dir.display();
    let presence = if dir.is_dir() {
        match probe_write(dir) {
            Ok(()) => Check::ok("data_dir", format!("{shown} exists and is writable by this user")),
            Err(e) => Check::failure(
                "data_dir",
                format!("{shown} is not writable by this user: {e}"),
                format!("chown the directory to the user `rblfleet serve` runs as (chown -R rblfleet: {shown})"),
            ),
        }
    } else if dir.exists() {
        Check::failure("data_dir", format!("{shown} is not a directory"), "point data_dir at a directory")
    } else {
        Check::warning(
            "data_dir",
            format!("{shown} does not exist yet"),
            format!("`rblfleet serve` creates it; or create it owned by its user (install -d -o rblfleet {shown})"),
        )
    };
    vec![presence, free_space(config)]
}

/// Writes and removes a probe file: the only reliable test of writability
/// (permission bits do not tell ACLs, read-only mounts or a full quota).
fn probe_write(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".rblfleet-doctor-{}", std::process::id()));
    std::fs::write(&probe, b"doctor")?;
    std::fs::remove_file(&probe)
}

fn free_space(config: &Config) -> Check {
    const NAME: &str = "free_space";
    if config.store.backend == crate::config::StoreBackend::Postgres {
        return Check::ok(
            NAME,
            "store.backend = \"postgres\": reports are stored in the database, whose server refuses writes itself when its disk fills (store.min_free_mib applies to sled only); watch that disk with the database's monitoring",
        );
    }
    let reserve = config.store.min_free_bytes();
    // The directory may not exist yet: measure the filesystem it will be on.
    let Some(existing) = config.data_dir.ancestors().find(|p| p.exists()) else {
        return Check::failure(NAME, "no part of data_dir exists", "set data_dir to an absolute path");
    };
    let free = match fs2::available_space(existing) {
        Ok(free) => free,
        Err(e) => {
            return Check::failure(
                NAME,
                format!("cannot read the free space of {}: {e}", existing.display()),
                "check the filesystem is mounted",
            );
        }
    };
    let detail = format!(
        "{} MiB free on {}; reserve (store.min_free_mib) {} MiB",
        free / MIB,
        existing.display(),
        reserve / MIB
    );
    if reserve == 0 {
        Check::warning(NAME, detail, "set store.min_free_mib: without a reserve a full disk can corrupt the store")
    } else if free < reserve {
        Check::failure(
            NAME,
            format!("{detail}: reports are refused until space returns"),
            "free space on that filesystem (old backups, logs) or grow it; agents keep their reports meanwhile",
        )
    } else if free < reserve.saturating_mul(2) {
        Check::warning(
            NAME,
            format!("{detail}: less than twice the reserve"),
            "free space on that filesystem before reports are refused",
        )
    } else {
        Check::ok(NAME, detail)
    }
}

/// Who can use the admin API: loopback plaintext is any local user; any
/// other address must require an admin certificate.
pub fn admin_api(config: &Config, insecure: bool) -> Check {
    const NAME: &str = "admin_api";
    let api = &config.admin_api;
    let listen = api.listen;
    let cert = api.require_cert && !insecure;
    if !listen.ip().is_loopback() && !cert {
        return Check::failure(
            NAME,
            format!(
                "{listen} is reachable beyond this host without a client certificate: anyone there can close cases"
            ),
            "set admin_api.require_cert = true, or admin_api.listen = \"127.0.0.1:7444\"",
        );
    }
    match (listen.ip().is_loopback(), cert) {
        (true, false) => Check::ok(NAME, format!("{listen}: loopback only, plaintext (any local user can use it)")),
        (true, true) => Check::ok(NAME, format!("{listen}: loopback only, admin certificate required")),
        (false, _) if listen.ip().is_unspecified() => Check::ok(
            NAME,
            format!(
                "{listen}: every interface, admin certificate required (issue them with `rblfleet ca issue --admin`)"
            ),
        ),
        (false, _) => Check::ok(NAME, format!("{listen}: admin certificate required")),
    }
}

/// `/metrics` is plain HTTP without authentication: fine on loopback or a
/// management address, worth a word on every interface.
pub fn metrics(config: &Config) -> Check {
    const NAME: &str = "metrics";
    let m = &config.metrics;
    if !m.enabled {
        return Check::ok(NAME, "off (metrics.enabled = false)");
    }
    let listen: SocketAddr = m.listen;
    if listen.ip().is_unspecified() {
        Check::warning(
            NAME,
            format!("{listen}: plain HTTP on every interface; it names hosts, IPs and listings"),
            "bind metrics.listen to loopback or the management network's address, or firewall the port",
        )
    } else {
        Check::ok(NAME, format!("{listen}: plain HTTP"))
    }
}

/// The clock cannot be compared with NTP offline, but it can be caught
/// being impossible: before the catalog's research date, or before the
/// certificates started (TLS then fails for everyone).
pub fn clock(config: &Config) -> Check {
    const NAME: &str = "clock";
    let now = SystemTime::now();
    let mut floor: Vec<(String, SystemTime)> = Vec::new();
    if let Ok(catalog) = build_catalog(config)
        && let Some(at) = month_start(catalog.as_of())
    {
        floor.push((format!("the blocklist catalog's date ({})", catalog.as_of()), at));
    }
    for (what, path) in [("the CA certificate", &config.tls.ca), ("the controller certificate", &config.tls.cert)] {
        if let Ok(cert) = super::pki::read_cert(path) {
            floor.push((format!("{what}'s start"), cert.not_before));
        }
    }
    let shown = humantime::format_rfc3339_seconds(now);
    match floor.iter().filter(|(_, at)| now < *at).max_by_key(|(_, at)| *at) {
        Some((what, at)) => Check::failure(
            NAME,
            format!("the system clock says {shown}, before {what}, {}", humantime::format_rfc3339_seconds(*at)),
            "set the clock and keep it synchronised (timedatectl set-ntp true, or chrony)",
        ),
        None => Check::ok(NAME, format!("{shown}; after the catalog date and the certificates' start")),
    }
}

/// "2026-11" or "2026-11-05" as that day (the month's first) at 00:00 UTC.
pub(super) fn month_start(text: &str) -> Option<SystemTime> {
    let mut parts = text.split('-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: i64 = parts.next()?.parse().ok()?;
    let day: i64 = parts.next().map_or(Some(1), |d| d.get(..2).unwrap_or(d).parse().ok())?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days.checked_mul(86_400)?).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}
