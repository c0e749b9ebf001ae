//! The current listings of the fleet, DNS and receiver-side side by side.

use rblfleet_proto::v1::{CaseState, CheckStatus, ListingRow};

use super::{Context, Watched};
use crate::cases;
use crate::cases::work::ListInfo;
use crate::catalog::target_from_key;
use crate::store::StoreError;

/// Lists whose listing blocks most of a host's mail: the big mailbox
/// providers and the DNSBLs most receivers consult.
const HIGH: &[&str] = &[
    "spamhaus-zen",
    "spamhaus-zen-dqs",
    "spamhaus-sbl",
    "spamhaus-xbl",
    "spamhaus-dbl",
    "spamhaus-dbl-dqs",
    "barracuda-brbl",
    "spamcop",
    "microsoft",
    "google",
    "yahoo",
    "apple",
    "proofpoint",
    "cloudmark",
    "mimecast",
    "gmx",
    "t-online",
    "comcast",
    "att",
    "cox",
];

/// 3 = blocks mail at the big receivers, 2 = a list some receivers use,
/// 1 = policy only (PBL: an end-user range, not a spam verdict).
pub fn severity(list_id: &str, meanings: &[String]) -> u32 {
    if !meanings.is_empty() && meanings.iter().all(|m| m.starts_with("PBL")) {
        return 1;
    }
    if HIGH.contains(&list_id) { 3 } else { 2 }
}

/// Every open listing as a report row (no suspect yet), sorted by severity
/// then age.
pub fn current_listings(ctx: &Context<'_>, watched: &Watched) -> Result<Vec<ListingRow>, StoreError> {
    // Each row with the last sign of the cause (0: unknown), for the
    // expected drop of lists that expire on their own.
    let mut rows: Vec<(ListingRow, i64)> = Vec::new();
    let hosts_of = |subject: &str| watched.hosts_of(subject);
    for check in ctx.store.all_checks()? {
        if check.status != CheckStatus::Listed as i32 || check.listed_since_ms == 0 {
            continue;
        }
        let list = ListInfo::of(ctx.catalog, &check.zone_id);
        let target = target_from_key(&check.ip);
        let domain = if target.is_domain() { watched.domains.get(&check.ip) } else { None };
        rows.push((
            ListingRow {
                kind: target.kind().into(),
                subscriptions: domain.map(|d| d.subscriptions()).unwrap_or_default(),
                hosts: hosts_of(&check.ip),
                list: if check.zone.is_empty() { list.name } else { check.zone.clone() },
                list_id: check.zone_id.clone(),
                list_kind: list.kind.as_str().into(),
                since_ms: check.listed_since_ms,
                severity: severity(&check.zone_id, &check.meanings),
                codes: check.codes.clone(),
                meanings: check.meanings.clone(),
                txt: check.txt.clone(),
                delist: Some(list.delist),
                ip: check.ip,
                ..ListingRow::default()
            },
            0,
        ));
    }
    for state in ctx.store.all_receiver_states()? {
        if state.listed_since_ms == 0 {
            continue;
        }
        let list = ListInfo::of(ctx.catalog, &state.provider);
        let last_refusal = state.last_refusal_ms;
        rows.push((
            ListingRow {
                hosts: hosts_of(&state.ip),
                meanings: vec![format!("{} refuses mail from this IP", list.name)],
                list: list.name,
                list_kind: list.kind.as_str().into(),
                since_ms: state.listed_since_ms,
                severity: severity(&state.provider, &[]),
                codes: if state.code.is_empty() { vec![] } else { vec![state.code.clone()] },
                txt: state.sample.clone(),
                delist: Some(list.delist),
                list_id: state.provider,
                kind: "ip".into(),
                ip: state.ip,
                ..ListingRow::default()
            },
            last_refusal,
        ));
    }
    // All the rows' cases at once: one round trip on PostgreSQL, not one
    // per listing.
    let pairs: Vec<(String, String)> = rows.iter().map(|(row, _)| (row.ip.clone(), row.list_id.clone())).collect();
    let cases_of = ctx.store.cases_for(&pairs)?;
    let mut rows: Vec<ListingRow> = rows
        .into_iter()
        .map(|(mut row, last_cause_ms)| {
            if let Some(case) = cases_of.get(&(row.ip.clone(), row.list_id.clone())) {
                row.case_id = case.id;
                row.case_state = case.state;
                row.relisting = case.relisting;
                row.expected_drop_ms = cases::expected_drop_ms(case, last_cause_ms);
            } else {
                row.case_state = CaseState::Unspecified as i32;
            }
            row
        })
        .collect();
    rows.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.since_ms.cmp(&b.since_ms)).then(a.ip.cmp(&b.ip)));
    Ok(rows)
}
