//! The DNS path: each configured resolver, and every enabled zone's RFC 5782
//! test points (127.0.0.2 listed, 127.0.0.1 not, or the zone's own) asked
//! *through that resolver* — the resolver decides what a list answers: a
//! public one gets Spamhaus's 127.255.255.254 for every name, and every
//! check through it is an error.
//!
//! A zone row is judged by [`judge`], a pure function of the two answers,
//! with the same lookups the checker uses ([`Lookups::probe`]).
//!
//! A loopback resolver is not proof of a recursive one: systemd-resolved's
//! stub (127.0.0.53) and an unbound with a `forward-zone` for "." both pass
//! every query to another resolver, whose address the lists then see. The
//! resolver row says so when that can be told cheaply (the stub's address,
//! unbound's configuration files); the shipped `deploy/unbound/rblfleet.conf`
//! is the fix.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::{Check, Status};
use crate::catalog::{Zone, ZoneKind};
use crate::config::Config;
use crate::daemon::build_catalog;
use crate::dnsbl::lookup::{Lookups, Outcome, ResolverSettings, Status as Answer, public_resolver_warnings};

/// Zones probed at once through one resolver.
const CONCURRENCY: usize = 16;

/// The fix for a resolver a list refuses: the unbound configuration the
/// controller package ships (`deploy/unbound/rblfleet.conf`).
const LOCAL_RESOLVER: &str = "run a local recursive resolver: apt install unbound, then cp \
     /usr/share/doc/rblfleet-controller/examples/unbound/rblfleet.conf /etc/unbound/unbound.conf.d/ \
     (127.0.0.1 only, no forwarding; docs/operations.md, \"A local resolver\") and set \
     dnsbl.nameservers = [\"127.0.0.1\"]; or give the zone a DQS key";

/// Where unbound keeps its configuration on Debian and most distributions.
const UNBOUND_DIR: &str = "/etc/unbound";

/// One row per resolver, then one per (resolver, enabled zone).
pub async fn checks(config: &Config, timeout: Duration) -> Vec<Check> {
    let dnsbl = &config.dnsbl;
    if !dnsbl.enabled {
        return vec![Check::ok("dns", "blocklist checks are off (dnsbl.enabled = false): nothing to check")];
    }
    let catalog = match build_catalog(config) {
        Ok(catalog) => catalog,
        Err(e) => return vec![Check::failure("dns", format!("the catalog does not load: {e}"), "see the config row")],
    };
    let zones: Vec<Arc<Zone>> = catalog.enabled().into_iter().map(|z| Arc::new(z.clone())).collect();
    let configured = dnsbl.nameserver_addrs().unwrap_or_default();
    let resolvers = if configured.is_empty() {
        match Lookups::new(&ResolverSettings::default()) {
            Ok(system) => system.nameservers().to_vec(),
            Err(e) => {
                return vec![Check::failure(
                    "dns",
                    format!("no resolver: dnsbl.nameservers is empty and {e}"),
                    "set dnsbl.nameservers = [\"127.0.0.1\"] with a local recursive unbound",
                )];
            }
        }
    } else {
        configured
    };
    let mut rows = Vec::new();
    for resolver in resolvers {
        let settings = ResolverSettings { nameservers: vec![resolver], timeout: dnsbl.timeout, retries: dnsbl.retries };
        rows.extend(through(resolver, &settings, &zones, timeout).await);
    }
    rows
}

/// The rows of one resolver: its own, then its zones'.
async fn through(
    resolver: SocketAddr,
    settings: &ResolverSettings,
    zones: &[Arc<Zone>],
    timeout: Duration,
) -> Vec<Check> {
    let name = format!("resolver {resolver}");
    let lookups = match Lookups::new(settings) {
        Ok(lookups) => lookups,
        Err(e) => return vec![Check::failure(name, e.to_string(), "correct dnsbl.nameservers")],
    };
    let limit = Arc::new(Semaphore::new(CONCURRENCY));
    let mut tasks = JoinSet::new();
    for (index, zone) in zones.iter().enumerate() {
        let (lookups, zone, limit) = (lookups.clone(), zone.clone(), limit.clone());
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let (listed, unlisted) = zone.test_points();
            let both = async { tokio::join!(lookups.probe(&zone, &listed), lookups.probe(&zone, &unlisted)) };
            (index, tokio::time::timeout(timeout, both).await.ok())
        });
    }
    let mut answers: Vec<Option<(Outcome, Outcome)>> = vec![None; zones.len()];
    while let Some(Ok((index, pair))) = tasks.join_next().await {
        if let Some(slot) = answers.get_mut(index) {
            *slot = pair;
        }
    }
    let mut zone_rows = Vec::with_capacity(zones.len());
    let (mut answered, mut nothing) = (0, 0);
    for (zone, pair) in zones.iter().zip(&answers) {
        let row = format!("zone {} via {resolver}", zone.id);
        let Some((listed, unlisted)) = pair else {
            zone_rows.push(Check::failure(
                row,
                format!("{}: no result within {}", zone.display_zone(), humantime::format_duration(timeout)),
                format!("check the resolver reaches the zone's servers: dig @{} {}", resolver.ip(), probe_name(zone)),
            ));
            continue;
        };
        answered += usize::from(!silent(listed) || !silent(unlisted));
        nothing +=
            usize::from(listed.status == Answer::Clean && listed.codes.is_empty() && zone.kind != ZoneKind::Allow);
        let (status, detail, fix) = judge(zone, listed, unlisted, resolver);
        zone_rows.push(Check { check: row, status, detail, fix });
    }
    let zone_refs: Vec<&Zone> = zones.iter().map(|z| z.as_ref()).collect();
    let public = public_resolver_warnings(&[resolver], &zone_refs);
    // A resolver that fails every zone the same way is one row, not one per zone.
    if !zones.is_empty() && answered == 0 {
        return vec![Check::failure(
            name,
            format!("no answer from {resolver} for any of {} zones: none can be checked through it", zones.len()),
            "start the resolver (a local recursive unbound) or correct dnsbl.nameservers",
        )];
    }
    if zones.len() > 1 && nothing == zones.len() {
        return vec![Check::failure(
            name,
            format!(
                "answers, but none of {} zones lists its test point through it: it does not reach the lists \
                 (no recursion, a filtering resolver, or NXDOMAIN for everything)",
                zones.len()
            ),
            LOCAL_RESOLVER,
        )];
    }
    let own = if zones.is_empty() {
        Check::warning(name, "no enabled zone to ask through it", "enable zones in [dnsbl.catalog]")
    } else if let Some(warning) = public.first() {
        Check::warning(name, warning.clone(), LOCAL_RESOLVER)
    } else if let Some(forwarder) = forwarding(resolver, Path::new(UNBOUND_DIR)) {
        Check::warning(name, forwarder, LOCAL_RESOLVER)
    } else {
        Check::ok(name, format!("answers ({answered} of {} zones answered through it)", zones.len()))
    };
    std::iter::once(own).chain(zone_rows).collect()
}

/// Why a loopback `resolver` is really a forwarder, when that can be told
/// without asking it anything: systemd-resolved's stub addresses, or an
/// unbound (configuration under `unbound_dir`) with a `forward-zone` for ".".
/// Only port 53: a resolver elsewhere is not the system's unbound.
pub fn forwarding(resolver: SocketAddr, unbound_dir: &Path) -> Option<String> {
    if !resolver.ip().is_loopback() || resolver.port() != 53 {
        return None;
    }
    let resolver = resolver.ip();
    if [Ipv4Addr::new(127, 0, 0, 53), Ipv4Addr::new(127, 0, 0, 54)].map(IpAddr::V4).contains(&resolver) {
        return Some(format!(
            "{resolver} is systemd-resolved's stub: it forwards every query to the network's upstream resolvers, \
             so the lists see their address, not this host's"
        ));
    }
    let mut files = vec![unbound_dir.join("unbound.conf")];
    if let Ok(entries) = std::fs::read_dir(unbound_dir.join("unbound.conf.d")) {
        let mut more: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "conf"))
            .collect();
        more.sort();
        files.extend(more);
    }
    files.iter().find_map(|file| {
        let text = std::fs::read_to_string(file).ok()?;
        let to = root_forwarders(&text);
        (!to.is_empty()).then(|| {
            format!(
                "{resolver} looks like a local unbound that forwards \".\" to {} ({}): the lists see the \
                 forwarder's address, and Spamhaus refuses public resolvers",
                to.join(", "),
                file.display()
            )
        })
    })
}

/// The targets of unbound `forward-zone:` clauses for the root (`name: "."`):
/// `forward-addr` (without `@port` and `#tls-name`) and `forward-host`.
pub fn root_forwarders(config: &str) -> Vec<String> {
    let (mut found, mut clause) = (Vec::new(), (false, false, Vec::new()));
    let mut finish = |(forward, root, targets): (bool, bool, Vec<String>)| {
        if forward && root {
            found.extend(targets);
        }
    };
    for line in config.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        let Some((key, value)) = line.split_once(':') else { continue };
        let (key, value) = (key.trim(), value.trim().trim_matches('"'));
        if value.is_empty() {
            // A clause header (`server:`, `forward-zone:`, ...) ends the previous clause.
            finish(std::mem::replace(&mut clause, (key == "forward-zone", false, Vec::new())));
            continue;
        }
        match key {
            "name" if clause.0 => clause.1 = value == ".",
            "forward-addr" | "forward-host" if clause.0 => {
                clause.2.push(value.split('@').next().unwrap_or(value).to_string());
            }
            _ => {}
        }
    }
    finish(clause);
    found
}

/// A lookup that got no DNS answer at all (as opposed to an answer that is an error).
fn silent(outcome: &Outcome) -> bool {
    outcome.status == Answer::Error
        && outcome.error.as_deref().is_some_and(|e| e.starts_with("timed out") || e.starts_with("cannot reach"))
}

fn probe_name(zone: &Zone) -> String {
    zone.query_name(&zone.test_points().0).map(|n| zone.redact(&n)).unwrap_or_else(|| zone.display_zone())
}

/// The meaning of Spamhaus's error range, 127.255.255.0/24, in the words
/// operators search for.
fn refusal(code: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, d] = code.octets();
    if (a, b, c) != (127, 255, 255) {
        return None;
    }
    Some(match d {
        254 => "public resolver refused",
        255 => "query over limit (or resolver not registered)",
        252 => "typing error in the zone name",
        250 | 251 => "key refused",
        _ => "error code",
    })
}

/// The verdict of one zone from its two test-point answers.
pub fn judge(zone: &Zone, listed: &Outcome, unlisted: &Outcome, resolver: SocketAddr) -> (Status, String, String) {
    let dig = format!("dig @{} {}", resolver.ip(), probe_name(zone));
    let shown = zone.display_zone();
    let disable = format!("disable it ([dnsbl.catalog.zone.{}] enabled = false) until it works", zone.id);
    let codes = listed.codes.iter().chain(&unlisted.codes).filter_map(|c| c.parse::<Ipv4Addr>().ok());
    if let Some((code, what)) = codes.filter_map(|c| refusal(c).map(|w| (c, w))).next() {
        let fix = if matches!(code.octets()[3], 254 | 255) {
            LOCAL_RESOLVER.to_string()
        } else {
            format!("check the zone's key (dnsbl.catalog.zone.{}.key) and name", zone.id)
        };
        let meaning = listed.error.as_deref().or(unlisted.error.as_deref()).unwrap_or("documented error code");
        return (
            Status::Failure,
            format!("{shown}: {what}: answered {code} ({meaning}); every check through this resolver is an error"),
            fix,
        );
    }
    let (lp, up) = (&listed.target, &unlisted.target);
    match (listed.status, unlisted.status) {
        (Answer::Listed, Answer::Clean) => {
            (Status::Ok, format!("{shown}: {lp} listed ({}), {up} not listed", listed.codes.join(" ")), String::new())
        }
        (_, Answer::Listed) => (
            Status::Failure,
            format!("{shown}: lists everything: {up}, which must not be listed, answers {}", unlisted.codes.join(" ")),
            format!("{disable}; a dead or hijacked zone would list every IP"),
        ),
        (Answer::Error, _) | (_, Answer::Error) => {
            let error = listed.error.as_deref().or(unlisted.error.as_deref()).unwrap_or("unknown error");
            (Status::Failure, format!("{shown}: {error}"), format!("check the resolver reaches the zone: {dig}"))
        }
        (Answer::Skipped, _) | (_, Answer::Skipped) => (
            Status::Warning,
            format!(
                "{shown}: cannot be verified: its test points cannot be asked ({})",
                listed.reason.as_deref().unwrap_or("no query name")
            ),
            disable,
        ),
        (Answer::Clean, _) if !listed.codes.is_empty() || zone.kind == ZoneKind::Allow => (
            Status::Warning,
            format!(
                "{shown}: cannot be verified: it has no test point it lists ({lp} answers {}, not a listing in a {} zone)",
                if listed.codes.is_empty() { "nothing".to_string() } else { listed.codes.join(" ") },
                zone.kind
            ),
            format!("{disable}: the checker takes a zone it cannot verify out of service"),
        ),
        (Answer::Clean, _) => (
            Status::Failure,
            format!("{shown}: lists nothing: its test point {lp} is not listed"),
            format!("{disable}; the zone is dead, or the resolver rewrites NXDOMAIN ({dig})"),
        ),
    }
}

#[cfg(test)]
mod tests;
