//! The field checks of catalog records: ids, zone names, URLs, delisting
//! routes and budgets. Each refusal names the origin and the record.

use super::spec::DelistSpec;
use super::{CatalogError, Delist, DelistKind};

/// The error for record `id`. Ids and reasons quote the file, which may hold
/// anything: control characters are blanked and the texts cut.
pub(super) fn invalid(origin: &str, id: &str, reason: impl Into<String>) -> CatalogError {
    let printable = crate::text::printable;
    CatalogError::Invalid {
        origin: origin.to_string(),
        zone_id: printable(id, 80),
        reason: printable(&reason.into(), 300),
    }
}

pub(crate) fn check_id(origin: &str, id: &str) -> Result<(), CatalogError> {
    let ok = !id.is_empty()
        && id.len() <= 63
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-');
    if ok { Ok(()) } else { Err(invalid(origin, id, "the id must be lowercase letters, digits and inner '-'")) }
}

/// Checks a zone name (lowercase DNS labels, `{key}` allowed as a whole label
/// when `key_allowed`) and returns it without the `{key}` label.
pub(crate) fn check_zone_name(origin: &str, id: &str, zone: &str, key_allowed: bool) -> Result<String, CatalogError> {
    let labels: Vec<&str> = zone.split('.').collect();
    // Quoted short: the name comes from the file and may be anything.
    let shown = crate::text::printable(zone, 80);
    let mut keys = 0;
    for label in &labels {
        if *label == "{key}" {
            keys += 1;
            continue;
        }
        let ok = !label.is_empty()
            && label.len() <= 63
            && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !ok {
            return Err(invalid(
                origin,
                id,
                format!(
                    "zone \"{shown}\" is not a lowercase DNS name without trailing dot (label \"{}\")",
                    crate::text::printable(label, 64)
                ),
            ));
        }
    }
    match (key_allowed, keys) {
        (true, 1) | (false, 0) => {}
        (true, _) => {
            return Err(invalid(
                origin,
                id,
                format!("zone \"{shown}\" needs a key: it must hold the label {{key}} exactly once"),
            ));
        }
        (false, _) => {
            return Err(invalid(origin, id, format!("zone \"{shown}\" has a {{key}} label but needs_key is false")));
        }
    }
    let bare: Vec<&str> = labels.into_iter().filter(|l| *l != "{key}").collect();
    if bare.len() < 2 {
        return Err(invalid(origin, id, format!("zone \"{shown}\" is too short to be a DNSBL zone")));
    }
    let bare = bare.join(".");
    if bare.len() > 120 {
        return Err(invalid(origin, id, format!("zone \"{shown}\" is too long for IPv6 query names")));
    }
    Ok(bare)
}

pub(super) fn check_url(origin: &str, id: &str, url: &str) -> Result<(), CatalogError> {
    let ok =
        ["https://", "http://", "mailto:"].iter().any(|p| url.starts_with(p)) && !url.contains(char::is_whitespace);
    if ok { Ok(()) } else { Err(invalid(origin, id, format!("\"{url}\" is not an http(s) or mailto URL"))) }
}

pub(crate) fn delist(origin: &str, id: &str, spec: &DelistSpec) -> Result<Delist, CatalogError> {
    let url = spec.url.as_deref().map(str::trim).filter(|u| !u.is_empty());
    if let Some(url) = url {
        check_url(origin, id, url)?;
    } else if spec.kind == DelistKind::Form {
        return Err(invalid(origin, id, "delist kind \"form\" needs the form's url"));
    }
    let expiry = match spec.expiry.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
        None => None,
        Some(text) => Some(
            humantime::parse_duration(text)
                .map_err(|e| invalid(origin, id, format!("delist expiry \"{text}\" is not a duration: {e}")))?,
        ),
    };
    Ok(Delist { kind: spec.kind, url: url.map(str::to_string), expiry, note: spec.note.trim().to_string() })
}

/// The budget bounds: slower than one query in 1000 s is no budget at all
/// (and its waits overflow a Duration); faster than a million per second is
/// more than any resolver sends.
const PER_SECOND: std::ops::RangeInclusive<f64> = 0.001..=1_000_000.0;

pub(crate) fn check_budget(origin: &str, id: &str, per_second: f64, per_day: Option<u64>) -> Result<(), CatalogError> {
    if !PER_SECOND.contains(&per_second) {
        return Err(invalid(
            origin,
            id,
            format!("budget per_second must be from {} to {}, not {per_second}", PER_SECOND.start(), PER_SECOND.end()),
        ));
    }
    if per_day == Some(0) {
        return Err(invalid(origin, id, "budget per_day must be positive"));
    }
    Ok(())
}
