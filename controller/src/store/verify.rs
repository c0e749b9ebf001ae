//! The store's own consistency check (`rblfleet verify`, and after a restore).
//!
//! It reads every record of every tree and checks what the writers promise:
//! every record decodes; keys parse and agree with the record they hold;
//! reports and roll-ups belong to a known host whose summary is ahead of
//! them; the latest report of each host is kept; cases and their (IP, list)
//! index point at each other; open listings have their episode; the schema
//! version is present. A problem names its tree, key and reason.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::Path;

use prost::Message;
use rblfleet_proto::v1::{Case, HostReport, HostSummary, HourRollup, ListingEpisode, ReceiverState, ZoneCheck};
use serde::Serialize;

use super::encoding::{decode, printable_key};
use super::{SCHEMA_KEY, SCHEMA_VERSION, Sled, StoreError};

/// Problems listed in full; past this only counted (a wrecked store would
/// otherwise print millions of lines).
const MAX_LISTED: usize = 1000;

/// Trees this version knows and checks, in the order they are checked.
const KNOWN: [&str; 15] = [
    "meta",
    "hosts",
    "reports",
    "rollups",
    "episodes",
    "checks",
    "zone_usage",
    "cases",
    "case_index",
    "receivers",
    "host_domains",
    "sending",
    "outbreak",
    "warnings",
    "actions",
];

/// sled's default tree; rblfleet does not use it.
const SLED_DEFAULT: &[u8] = b"__sled__default";

#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub trees: Vec<TreeSummary>,
    /// The first `MAX_LISTED` problems.
    pub problems: Vec<Problem>,
    pub problems_total: u64,
    /// What was not checked, and why.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TreeSummary {
    pub name: String,
    pub records: u64,
    pub problems: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub tree: String,
    pub key: String,
    pub reason: String,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.problems_total == 0
    }

    fn problem(&mut self, tree: &str, key: &[u8], reason: impl Into<String>) {
        self.problems_total += 1;
        if let Some(t) = self.trees.iter_mut().find(|t| t.name == tree) {
            t.problems += 1;
        }
        if self.problems.len() < MAX_LISTED {
            self.problems.push(Problem { tree: tree.into(), key: printable_key(key), reason: reason.into() });
        }
    }
}

impl Sled {
    /// Checks the whole store at one point in time (writers wait meanwhile).
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        let _turn = self.snapshot_turn();
        verify_db(&self.db)
    }
}

/// Checks the store in `dir` without `Store::open`, which would add a
/// missing schema version instead of reporting it. The controller must not
/// be running (sled's lock says so).
pub fn verify_dir(dir: &Path) -> Result<VerifyReport, StoreError> {
    let db = sled::Config::new()
        .path(dir)
        .cache_capacity(64 * 1024 * 1024)
        .open()
        .map_err(|cause| StoreError::Open { path: dir.into(), cause })?;
    verify_db(&db)
}

/// What one pass learned that later trees are checked against.
#[derive(Default)]
struct Seen {
    schema: bool,
    hosts: HashMap<String, HostSummary>,
    /// Per host: stored reports, and whether the latest is among them.
    reports: HashMap<String, (u64, bool)>,
    rollup_reports: HashMap<String, u64>,
    episodes: HashSet<Vec<u8>>,
    next_case_id: Option<u64>,
    /// Case id → (ip, list id).
    cases: HashMap<u64, (String, String)>,
    /// (ip, list id) → case id.
    index: HashMap<(String, String), u64>,
}

fn verify_db(db: &sled::Db) -> Result<VerifyReport, StoreError> {
    let mut report = VerifyReport::default();
    let present: Vec<Vec<u8>> = db.tree_names().into_iter().map(|n| n.to_vec()).collect();
    let mut seen = Seen::default();
    for name in KNOWN {
        if !present.iter().any(|p| p == name.as_bytes()) {
            if name == "meta" {
                report.trees.push(TreeSummary { name: name.into(), records: 0, problems: 0 });
                report.problem("meta", SCHEMA_KEY, "the meta tree is missing (is this an rblfleet data directory?)");
            } else {
                report.notes.push(format!("tree {name} does not exist yet (nothing was stored in it)"));
            }
            continue;
        }
        let tree = db.open_tree(name)?;
        report.trees.push(TreeSummary { name: name.into(), records: tree.len() as u64, problems: 0 });
        for entry in tree.iter() {
            let (key, value) = entry?;
            check_record(&mut report, &mut seen, name, &key, &value);
        }
        finish_tree(&mut report, &seen, name);
    }
    for name in present.iter().filter(|p| !KNOWN.iter().any(|k| k.as_bytes() == p.as_slice())) {
        let records = db.open_tree(name)?.len();
        if name.as_slice() == SLED_DEFAULT && records == 0 {
            continue;
        }
        report.notes.push(format!(
            "tree {} ({records} records) is not checked by this version of rblfleet",
            String::from_utf8_lossy(name)
        ));
    }
    Ok(report)
}

fn check_record(report: &mut VerifyReport, seen: &mut Seen, tree: &str, key: &[u8], value: &[u8]) {
    let result = match tree {
        "meta" => check_meta(seen, key, value),
        "hosts" => check_host(seen, key, value),
        "reports" => check_report(seen, key, value),
        "rollups" => check_rollup(seen, key, value),
        "episodes" => check_episode(seen, key, value),
        "checks" => check_check(seen, key, value),
        "zone_usage" => split_key(key, 4).map(|_| ()).and_then(|()| fixed::<8>(value).map(|_| ())),
        "cases" => check_case(seen, key, value),
        "case_index" => check_index(seen, key, value),
        "receivers" => check_receiver(key, value),
        "host_domains" => check_host_domains(key, value),
        "sending" => check_sending(key, value),
        "warnings" => check_warning(key, value),
        "actions" => check_action(key, value),
        // Derived data: an unreadable state is replaced at the host's next report.
        "outbreak" => crate::outbreak::HostState::from_bytes(value).map(|_| ()).map_err(|e| e.to_string()),
        _ => Ok(()),
    };
    if let Err(reason) = result {
        report.problem(tree, key, reason);
    }
}

/// Cross-checks that need the whole tree.
fn finish_tree(report: &mut VerifyReport, seen: &Seen, tree: &str) {
    match tree {
        "meta" if !seen.schema => report.problem("meta", SCHEMA_KEY, "the schema version is missing"),
        "reports" => {
            for (host, summary) in &seen.hosts {
                let (stored, latest) = seen.reports.get(host).copied().unwrap_or((0, false));
                if summary.reports_stored > 0 && !latest {
                    report.problem(
                        "hosts",
                        host.as_bytes(),
                        format!(
                            "its latest report (epoch {}, seq {}) is not stored (retention always keeps it)",
                            summary.epoch, summary.last_seq
                        ),
                    );
                }
                if stored > summary.reports_stored {
                    report.problem(
                        "hosts",
                        host.as_bytes(),
                        format!(
                            "{stored} reports are stored but the summary counts only {} ever received",
                            summary.reports_stored
                        ),
                    );
                }
            }
        }
        "rollups" => {
            for (host, &counted) in &seen.rollup_reports {
                let received = seen.hosts.get(host).map_or(0, |s| s.reports_stored);
                if counted > received {
                    report.problem("hosts", host.as_bytes(), format!(
                        "hourly roll-ups count {counted} reports but the summary counts only {received} ever received"
                    ));
                }
            }
        }
        "cases" if !seen.cases.is_empty() && seen.next_case_id.is_none() => {
            report.problem("meta", b"next_case_id", "missing although cases exist");
        }
        "case_index" => {
            let mut unindexed: Vec<u64> =
                seen.cases.iter().filter(|(id, pair)| seen.index.get(*pair) != Some(id)).map(|(id, _)| *id).collect();
            unindexed.sort_unstable();
            for id in unindexed {
                report.problem(
                    "cases",
                    &id.to_be_bytes(),
                    format!("case {id} is not the one case_index names for its (IP, list)"),
                );
            }
        }
        _ => {}
    }
}

fn check_meta(seen: &mut Seen, key: &[u8], value: &[u8]) -> Result<(), String> {
    match key {
        k if k == SCHEMA_KEY => {
            let found = u32::from_be_bytes(fixed::<4>(value)?);
            seen.schema = true;
            if found != SCHEMA_VERSION {
                return Err(format!("schema version {found}; this rblfleet reads {SCHEMA_VERSION}"));
            }
        }
        b"next_case_id" => seen.next_case_id = Some(u64::from_be_bytes(fixed::<8>(value)?)),
        _ => {}
    }
    Ok(())
}

fn check_host(seen: &mut Seen, key: &[u8], value: &[u8]) -> Result<(), String> {
    let host = text(key, "host id")?;
    crate::identity::check_host_id(&host).map_err(|e| format!("host id {e}"))?;
    let summary: HostSummary = record(key, value)?;
    if summary.host_id != host {
        return Err(format!("the summary is of host {:?}", summary.host_id));
    }
    if summary.reports_stored == 0 {
        return Err("a summary with no report received".into());
    }
    seen.hosts.insert(host, summary);
    Ok(())
}

fn check_report(seen: &mut Seen, key: &[u8], value: &[u8]) -> Result<(), String> {
    let (host, rest) = split_key(key, 16)?;
    let epoch = u64::from_be_bytes(rest[..8].try_into().map_err(|_| "short key")?);
    let seq = u64::from_be_bytes(rest[8..].try_into().map_err(|_| "short key")?);
    let r: HostReport = record(key, value)?;
    if (r.host_id.as_str(), r.epoch, r.seq) != (host.as_str(), epoch, seq) {
        return Err(format!(
            "the key says ({host}, {epoch}, {seq}), the report is ({}, {}, {})",
            r.host_id, r.epoch, r.seq
        ));
    }
    let summary = seen.hosts.get(&host).ok_or_else(|| format!("host {host:?} has no summary in hosts"))?;
    if epoch > summary.epoch || (epoch == summary.epoch && seq > summary.last_seq) {
        return Err(format!(
            "stored report ({epoch}, {seq}) is newer than the host's last accepted ({}, {})",
            summary.epoch, summary.last_seq
        ));
    }
    let latest = epoch == summary.epoch && seq == summary.last_seq;
    let entry = seen.reports.entry(host).or_default();
    entry.0 += 1;
    entry.1 |= latest;
    Ok(())
}

fn check_rollup(seen: &mut Seen, key: &[u8], value: &[u8]) -> Result<(), String> {
    let (host, rest) = split_key(key, 8)?;
    let hour = i64::from_be_bytes(rest.try_into().map_err(|_| "short key")?);
    let r: HourRollup = record(key, value)?;
    if (r.host_id.as_str(), r.hour_ms) != (host.as_str(), hour) {
        return Err(format!("the key says ({host}, {hour}), the roll-up is ({}, {})", r.host_id, r.hour_ms));
    }
    if hour != crate::store::rollup::hour_of(hour) {
        return Err(format!("hour {hour} is not the start of an hour"));
    }
    if !seen.hosts.contains_key(&host) {
        return Err(format!("host {host:?} has no summary in hosts"));
    }
    *seen.rollup_reports.entry(host).or_default() += r.reports;
    Ok(())
}

fn check_episode(seen: &mut Seen, key: &[u8], value: &[u8]) -> Result<(), String> {
    let e: ListingEpisode = record(key, value)?;
    let mut expected = pair_key(&e.ip, &e.zone_id);
    expected.push(0);
    expected.extend_from_slice(&e.first_seen_ms.to_be_bytes());
    if key != expected.as_slice() {
        return Err(format!("the key does not match the episode ({}, {}, {})", e.ip, e.zone_id, e.first_seen_ms));
    }
    seen.episodes.insert(key.to_vec());
    Ok(())
}

fn check_host_domains(key: &[u8], value: &[u8]) -> Result<(), String> {
    let list: rblfleet_proto::v1::HostDomains = record(key, value)?;
    for d in &list.domains {
        rblfleet_proto::domain::valid_domain(&d.name).map_err(|e| format!("domain {:?} {e}", d.name))?;
    }
    Ok(())
}

fn check_sending(key: &[u8], value: &[u8]) -> Result<(), String> {
    let row: rblfleet_proto::v1::SendingDomain = record(key, value)?;
    let mut expected = row.domain.as_bytes().to_vec();
    expected.push(0);
    expected.extend_from_slice(row.host_id.as_bytes());
    if key != expected.as_slice() {
        return Err(format!("the key does not match the row ({}, {})", row.domain, row.host_id));
    }
    Ok(())
}

fn check_warning(key: &[u8], value: &[u8]) -> Result<(), String> {
    let w: rblfleet_proto::v1::OutbreakWarning = record(key, value)?;
    if key != super::outbreak::warning_key(&w).as_slice() {
        return Err(format!("the key does not match the warning ({}, {})", w.host_id, w.source_id));
    }
    Ok(())
}

fn check_action(key: &[u8], value: &[u8]) -> Result<(), String> {
    let r: rblfleet_proto::v1::ActionRecord = record(key, value)?;
    let id = r.action.as_ref().map(|a| a.id.as_str()).unwrap_or_default();
    if key != id.as_bytes() {
        return Err(format!("the key does not match the action ({id})"));
    }
    Ok(())
}

fn check_check(seen: &mut Seen, key: &[u8], value: &[u8]) -> Result<(), String> {
    let c: ZoneCheck = record(key, value)?;
    if key != pair_key(&c.ip, &c.zone_id).as_slice() {
        return Err(format!("the key does not match the check ({}, {})", c.ip, c.zone_id));
    }
    if c.ip.parse::<IpAddr>().is_err() && rblfleet_proto::domain::valid_domain(&c.ip).is_err() {
        return Err(format!("{:?} is neither an IP address nor a domain", c.ip));
    }
    if c.listed_since_ms != 0 {
        let mut episode = pair_key(&c.ip, &c.zone_id);
        episode.push(0);
        episode.extend_from_slice(&c.listed_since_ms.to_be_bytes());
        if !seen.episodes.contains(&episode) {
            return Err(format!("listed since {} but that episode is not stored", c.listed_since_ms));
        }
    }
    Ok(())
}

fn check_case(seen: &mut Seen, key: &[u8], value: &[u8]) -> Result<(), String> {
    let id = u64::from_be_bytes(fixed::<8>(key)?);
    let c: Case = record(key, value)?;
    if c.id != id {
        return Err(format!("the key says case {id}, the record is case {}", c.id));
    }
    if let Some(next) = seen.next_case_id
        && id > next
    {
        return Err(format!("case id {id} is beyond meta/next_case_id {next}: a new case would reuse it"));
    }
    seen.cases.insert(id, (c.ip, c.list_id));
    Ok(())
}

fn check_index(seen: &mut Seen, key: &[u8], value: &[u8]) -> Result<(), String> {
    let (ip, list) = split_pair(key)?;
    let id = u64::from_be_bytes(fixed::<8>(value)?);
    match seen.cases.get(&id) {
        None => return Err(format!("points at case {id}, which is not stored")),
        Some((case_ip, case_list)) if (case_ip, case_list) != (&ip, &list) => {
            return Err(format!("points at case {id}, which is of ({case_ip}, {case_list})"));
        }
        Some(_) => {}
    }
    seen.index.insert((ip, list), id);
    Ok(())
}

fn check_receiver(key: &[u8], value: &[u8]) -> Result<(), String> {
    let r: ReceiverState = record(key, value)?;
    if key != pair_key(&r.ip, &r.provider).as_slice() {
        return Err(format!("the key does not match the state ({}, {})", r.ip, r.provider));
    }
    Ok(())
}

fn record<M: Message + Default>(key: &[u8], value: &[u8]) -> Result<M, String> {
    decode(key, value).map_err(|e| match e {
        StoreError::Corrupt { reason, .. } => format!("does not decode: {reason}"),
        other => other.to_string(),
    })
}

fn fixed<const N: usize>(raw: &[u8]) -> Result<[u8; N], String> {
    <[u8; N]>::try_from(raw).map_err(|_| format!("{} bytes, expected {N}", raw.len()))
}

fn text(raw: &[u8], what: &str) -> Result<String, String> {
    String::from_utf8(raw.to_vec()).map_err(|_| format!("the {what} is not UTF-8"))
}

/// `host, 0x00, N bytes` → (host, the N bytes).
fn split_key(key: &[u8], tail: usize) -> Result<(String, &[u8]), String> {
    let bad = || format!("the key is not `name, 0x00, {tail} bytes`");
    let sep = key.iter().position(|&b| b == 0).ok_or_else(bad)?;
    let rest = &key[sep + 1..];
    if rest.len() != tail || sep == 0 {
        return Err(bad());
    }
    Ok((text(&key[..sep], "name in the key")?, rest))
}

/// `a, 0x00, b` → (a, b).
fn split_pair(key: &[u8]) -> Result<(String, String), String> {
    let sep = key.iter().position(|&b| b == 0).ok_or("the key is not `ip, 0x00, list`")?;
    Ok((text(&key[..sep], "IP in the key")?, text(&key[sep + 1..], "list in the key")?))
}

fn pair_key(a: &str, b: &str) -> Vec<u8> {
    let mut key = a.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(b.as_bytes());
    key
}

#[cfg(test)]
pub(crate) mod tests;
