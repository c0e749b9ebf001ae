//! What happens around a listing: cases opened, reopened and resolved as
//! episodes begin and end, and the evidence an agent report carries
//! (hourly roll-up, receiver-side listings) applied after it is stored,
//! and, at start-up, receiver-side listings re-read with the current bounce
//! classifier ([`heal_receiver_listings`]).
//!
//! The decisions are in pure modules (`cases`, `cases::receivers`, `store::rollup`); this
//! module only loads, applies and stores.

use std::collections::{HashMap, HashSet};

use rblfleet_bounce::{self as bounce, Family};
use rblfleet_proto::v1::{BlocklistEvidence, DelistRoute, HostReport, ListingEpisode, ReceiverState};
use sha2::{Digest, Sha256};

use crate::cases::receivers::{self, Change, ReceiverPolicy, Refusals};
use crate::cases::{self, NewListing};
use crate::catalog::{Catalog, Delist, ListKind};
use crate::store::{ReceiverStates, Store, StoreError, Task};

pub fn delist_route(delist: &Delist) -> DelistRoute {
    DelistRoute {
        kind: delist.kind.as_str().to_string(),
        url: delist.url.clone().unwrap_or_default(),
        expiry_secs: delist.expiry.map_or(0, |d| d.as_secs()),
        note: delist.note.clone(),
    }
}

/// The list an episode belongs to, as cases show it.
#[derive(Debug, Clone)]
pub struct ListInfo {
    pub id: String,
    pub name: String,
    pub kind: ListKind,
    pub delist: DelistRoute,
}

impl ListInfo {
    /// A catalog zone or receiver by id; unknown ids still get a case.
    pub fn of(catalog: &Catalog, id: &str) -> ListInfo {
        if let Some(zone) = catalog.zones().iter().find(|z| z.id == id) {
            return ListInfo {
                id: id.into(),
                name: zone.display_zone(),
                kind: ListKind::Dns,
                delist: delist_route(&zone.delist),
            };
        }
        if let Some(r) = catalog.receivers().iter().find(|r| r.id == id) {
            return ListInfo {
                id: id.into(),
                name: r.name.clone(),
                kind: ListKind::Receiver,
                delist: delist_route(&r.delist),
            };
        }
        ListInfo { id: id.into(), name: id.into(), kind: ListKind::Dns, delist: DelistRoute::default() }
    }
}

/// A listing episode began: open (or reopen) the case of (ip, list).
pub fn listing_opened(store: &Store, list: &ListInfo, ip: &str, since_ms: i64, now_ms: i64) -> Result<(), StoreError> {
    let existing = store.case_for(ip, &list.id)?;
    let id = match &existing {
        Some(c) => c.id,
        None => store.next_case_id()?,
    };
    let new = NewListing {
        id,
        ip: ip.to_string(),
        list_id: list.id.clone(),
        list: list.name.clone(),
        list_kind: list.kind.as_str().to_string(),
        listed_since_ms: since_ms,
        delist: list.delist.clone(),
    };
    let case = cases::on_listed(existing.as_ref(), new, now_ms, cases::RELIST_WINDOW_MS);
    if case.relisting && existing.as_ref().is_some_and(|e| !e.relisting || e.state != case.state) {
        tracing::warn!(ip, list = %list.name, case = case.id, "relisting within 30 days: case reopened");
    }
    store.put_case(&case)
}

/// A listing episode ended: resolve the case (the engine's own verdict).
pub fn listing_cleared(store: &Store, list_id: &str, ip: &str, why: &str, now_ms: i64) -> Result<(), StoreError> {
    if let Some(case) = store.case_for(ip, list_id)? {
        store.put_case(&cases::on_cleared(&case, why, now_ms))?;
    }
    Ok(())
}

/// The addresses a host sends mail from (NAT-published address when set).
pub fn sending_ips(report: &HostReport) -> Vec<String> {
    report
        .ips
        .iter()
        .filter(|ip| ip.sends_mail)
        .map(|ip| if ip.nat_public_address.is_empty() { ip.address.clone() } else { ip.nat_public_address.clone() })
        .collect()
}

/// The (IP, receiver) pairs whose states [`report_stored`] needs for
/// `report`: the ingest batch reads them with the report
/// (`Store::ingest_report`).
pub fn receiver_pairs(catalog: &Catalog, report: &HostReport) -> Vec<(String, String)> {
    let receivers: HashSet<&str> = catalog.receivers().iter().map(|r| r.id.as_str()).collect();
    Known::pairs(report, &receivers, &sending_ips(report))
}

/// Applies a freshly stored report to receiver-side listings (its roll-up
/// was written with the report itself). `read` holds the states of
/// [`receiver_pairs`] when the caller has them already; without, they are
/// read here.
pub fn report_stored(
    store: &Store,
    catalog: &Catalog,
    report: &HostReport,
    now_ms: i64,
    policy: &ReceiverPolicy,
    read: Option<ReceiverStates>,
) -> Result<(), StoreError> {
    let receivers: HashSet<&str> = catalog.receivers().iter().map(|r| r.id.as_str()).collect();
    let sending = sending_ips(report);
    let mut known = match read {
        Some(states) => Known(states),
        None => Known(store.receiver_states(&Known::pairs(report, &receivers, &sending))?),
    };
    let mut seen: HashSet<(String, String)> = HashSet::new();
    for e in report.blocklist.iter().filter(|e| is_ip_listing(e) && receivers.contains(e.provider.as_str())) {
        let ips = if e.ip.is_empty() { sending.clone() } else { vec![e.ip.clone()] };
        for ip in ips {
            let state = known.get(&ip, &e.provider);
            let refusals = Refusals {
                count: e.count,
                first_ms: e.first_seen_ms,
                at_ms: e.last_seen_ms,
                code: &e.code,
                sample: &e.sample,
            };
            let (state, change) = receivers::refused(state, &ip, &e.provider, refusals, policy);
            known.apply(store, catalog, state, change, now_ms)?;
            seen.insert((ip, e.provider.clone()));
        }
    }
    for r in report.receivers.iter().filter(|r| receivers.contains(r.provider.as_str()) && r.sent > 0) {
        let ips = if r.ip.is_empty() { sending.clone() } else { vec![r.ip.clone()] };
        for ip in ips {
            if seen.contains(&(ip.clone(), r.provider.clone())) {
                continue;
            }
            if let Some(state) = known.get(&ip, &r.provider) {
                let (state, change) = receivers::accepted(state, r.sent, report.period_end_ms, policy);
                known.apply(store, catalog, state, change, now_ms)?;
            }
        }
    }
    // Agents without per-receiver counts: fall back to quiet time.
    if report.receivers.is_empty() {
        let sent = report.deliveries.as_ref().map_or(0, |d| d.sent);
        for ip in &sending {
            for provider in &receivers {
                if seen.contains(&(ip.clone(), provider.to_string())) {
                    continue;
                }
                if let Some(state) = known.get(ip, provider).filter(|s| s.listed_since_ms != 0) {
                    let (state, change) = receivers::quiet(state, sent, now_ms, policy);
                    known.apply(store, catalog, state, change, now_ms)?;
                }
            }
        }
    }
    Ok(())
}

/// The receiver states one report may touch, read with one store call and
/// kept current as the report changes them. Asking for each (IP, receiver)
/// pair on its own cost PostgreSQL ~4.5 round trips per report, most of
/// them for pairs that were never refused: more than the report's share of
/// its whole ingest batch.
struct Known(HashMap<(String, String), ReceiverState>);

impl Known {
    /// Every pair `report_stored` may look at: the refusals' and the
    /// receivers' IPs (or the host's sending IPs when they name none), and
    /// the sending IPs with every receiver for the quiet-time fallback.
    fn pairs(report: &HostReport, receivers: &HashSet<&str>, sending: &[String]) -> Vec<(String, String)> {
        let mut pairs: HashSet<(String, String)> = HashSet::new();
        let mut add = |ip: &str, provider: &str| {
            let ips = if ip.is_empty() { sending.to_vec() } else { vec![ip.to_string()] };
            pairs.extend(ips.into_iter().map(|ip| (ip, provider.to_string())));
        };
        for e in report.blocklist.iter().filter(|e| receivers.contains(e.provider.as_str())) {
            add(&e.ip, &e.provider);
        }
        for r in report.receivers.iter().filter(|r| receivers.contains(r.provider.as_str()) && r.sent > 0) {
            add(&r.ip, &r.provider);
        }
        if report.receivers.is_empty() {
            for provider in receivers {
                add("", provider);
            }
        }
        let mut pairs: Vec<(String, String)> = pairs.into_iter().collect();
        pairs.sort();
        pairs
    }

    fn get(&self, ip: &str, provider: &str) -> Option<ReceiverState> {
        self.0.get(&(ip.to_string(), provider.to_string())).cloned()
    }

    /// Stores `state` and what its change opens or closes.
    fn apply(
        &mut self,
        store: &Store,
        catalog: &Catalog,
        state: ReceiverState,
        change: Change,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let key = (state.ip.clone(), state.provider.clone());
        let old_since = self.0.get(&key).map_or(0, |old| old.listed_since_ms);
        apply_change(store, catalog, &state, change, old_since, now_ms)?;
        self.0.insert(key, state);
        Ok(())
    }
}

/// A refusal that says the IP is listed: family `ip` from the agent, and no
/// disagreement from the controller's own classifier on its sample. An
/// agent older than the controller may still send, as `ip`, replies the
/// current rules read otherwise; a listing opened on them would only be
/// withdrawn at the next start ([`heal_receiver_listings`] reads the same way).
fn is_ip_listing(e: &BlocklistEvidence) -> bool {
    e.family == "ip"
        && receivers::sample_family(&e.sample, |text| bounce::classify(text).family).is_none_or(|f| f == Family::Ip)
}

fn apply_change(
    store: &Store,
    catalog: &Catalog,
    state: &ReceiverState,
    change: Change,
    old_since: i64,
    now_ms: i64,
) -> Result<(), StoreError> {
    let list = ListInfo::of(catalog, &state.provider);
    let episode_since = match change {
        Change::Opened => state.listed_since_ms,
        _ => old_since,
    };
    store.put_receiver_state(state)?;
    let mut episode = ListingEpisode {
        ip: state.ip.clone(),
        zone_id: state.provider.clone(),
        zone: list.name.clone(),
        first_seen_ms: episode_since,
        last_seen_ms: state.last_refusal_ms,
        codes: if state.code.is_empty() { vec![] } else { vec![state.code.clone()] },
        meanings: vec![format!("{} refuses mail from this IP", list.name)],
        txt: state.sample.clone(),
        cleared_ms: 0,
    };
    match change {
        Change::Opened => {
            tracing::warn!(ip = %state.ip, receiver = %list.name, "receiver-side listing opened from bounces");
            store.put_episode(&episode)?;
            listing_opened(store, &list, &state.ip, state.listed_since_ms, now_ms)
        }
        Change::Closed => {
            episode.cleared_ms = now_ms;
            if episode.first_seen_ms != 0 {
                store.put_episode(&episode)?;
            }
            listing_cleared(store, &state.provider, &state.ip, "the receiver accepts mail from this IP again", now_ms)
        }
        Change::None => {
            // Keep an open episode's last-seen and sample current.
            if state.listed_since_ms != 0 {
                episode.first_seen_ms = state.listed_since_ms;
                store.put_episode(&episode)?;
            }
            Ok(())
        }
    }
}

/// What [`heal_receiver_listings`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Healed {
    /// Open receiver-side listings re-read.
    pub checked: u64,
    /// Of those, withdrawn: their sample reply is not an IP listing.
    pub withdrawn: u64,
}

/// The bounce classifier this controller carries: the agent crate's version
/// and a hash of its signature table, so a case note says which rules
/// withdrew a listing.
pub fn classifier_id() -> String {
    let digest = Sha256::digest(bounce::BUILTIN_SIGNATURES.as_bytes());
    let short: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("rblfleet {} (bounce signatures sha256:{short})", env!("CARGO_PKG_VERSION"))
}

/// Re-reads the sample reply of every open receiver-side listing with the
/// current classifier and withdraws those that are not IP listings (opened
/// by an older classifier that misread, e.g., a user-unknown reply from
/// T-Online's MX): the listing and its episode close and the case is
/// resolved with a note saying why. Run at start-up, after an upgrade; a
/// second run finds nothing to do. Nothing else is touched.
///
/// Several controllers on one database each run it as they start, one at
/// a time (`Store::take_turn`): the one that waits reads what the first
/// wrote, so a listing is withdrawn and its case noted once.
pub fn heal_receiver_listings(store: &Store, catalog: &Catalog, now_ms: i64) -> Result<Healed, StoreError> {
    let _turn = store.take_turn(Task::HealReceiverListings)?;
    let classifier = classifier_id();
    let mut healed = Healed::default();
    for state in store.all_receiver_states()?.into_iter().filter(|s| s.listed_since_ms != 0) {
        healed.checked += 1;
        let Some(family) = receivers::misread(&state, |text| bounce::classify(text).family) else {
            continue;
        };
        let list = ListInfo::of(catalog, &state.provider);
        // The open state last: it is what finds the listing again if a
        // crash interrupts these writes (withdrawing a case twice is a no-op).
        let why = withdrawal_note(&state.sample, family, &classifier);
        if let Some(case) = store.case_for(&state.ip, &state.provider)? {
            store.put_case(&cases::on_withdrawn(&case, &why, now_ms))?;
        }
        if let Some(mut episode) = store.episode(&state.ip, &state.provider, state.listed_since_ms)? {
            episode.cleared_ms = now_ms;
            store.put_episode(&episode)?;
        }
        let closed = receivers::withdraw(state);
        store.put_receiver_state(&closed)?;
        tracing::warn!(
            ip = %closed.ip,
            receiver = %list.name,
            family = family.name(),
            sample = %closed.sample,
            "receiver-side listing withdrawn: its sample reply is not an IP listing"
        );
        healed.withdrawn += 1;
    }
    Ok(healed)
}

/// The case note of a withdrawn listing.
fn withdrawal_note(sample: &str, family: Family, classifier: &str) -> String {
    format!(
        "re-classified: the sample reply `{sample}` is {}; closed by classifier {classifier}",
        receivers::what_it_is(family)
    )
}

#[cfg(test)]
mod tests;
