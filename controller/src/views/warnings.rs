//! Early warnings as the views show them (issue 15): the report's "at risk"
//! section, a host's warnings and baselines, and the warning that came
//! before a case's listing, with its lead time.

use std::collections::BTreeSet;

use rblfleet_proto::v1::{BaselineRow, Case, OutbreakWarning, SourceKind, WarningLead};

use super::Context;
use crate::outbreak::HostState;
use crate::store::StoreError;

/// How long after a warning a listing still counts as its consequence.
pub const LEAD_WINDOW_MS: i64 = 7 * 86_400_000;
/// A host view shows the warnings of this long.
const HOST_WARNINGS_MS: i64 = 7 * 86_400_000;
/// Sources a host view compares with their baseline.
const BASELINE_SOURCES: usize = 10;

/// The listings (by case) that followed `w` on its IPs within the window.
fn leads(w: &OutbreakWarning, cases: &[Case]) -> Vec<WarningLead> {
    let mut out: Vec<WarningLead> = cases
        .iter()
        .filter(|c| w.ips.contains(&c.ip))
        .filter(|c| c.listed_since_ms >= w.first_seen_ms && c.listed_since_ms - w.first_seen_ms <= LEAD_WINDOW_MS)
        .map(|c| WarningLead {
            ip: c.ip.clone(),
            list_id: c.list_id.clone(),
            list: c.list.clone(),
            listed_ms: c.listed_since_ms,
            lead_ms: c.listed_since_ms - w.first_seen_ms,
        })
        .collect();
    out.sort_by_key(|l| l.listed_ms);
    out
}

/// Active warnings whose IPs are not all listed, highest score first, each
/// with any listings that already followed.
pub fn at_risk(ctx: &Context<'_>, listed: &BTreeSet<String>) -> Result<Vec<OutbreakWarning>, StoreError> {
    let cases = ctx.store.all_cases()?;
    let mut out: Vec<OutbreakWarning> = ctx
        .store
        .all_warnings()?
        .into_iter()
        .filter(|w| w.cleared_ms == 0)
        .filter(|w| w.ips.is_empty() || w.ips.iter().any(|ip| !listed.contains(ip)))
        .map(|mut w| {
            w.leads = leads(&w, &cases);
            w
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.first_seen_ms.cmp(&b.first_seen_ms)));
    Ok(out)
}

/// The host's warnings of the last 7 days (and any still active), active
/// first, then newest first.
pub fn host_warnings(ctx: &Context<'_>, host_id: &str) -> Result<Vec<OutbreakWarning>, StoreError> {
    let cases = ctx.store.all_cases()?;
    let mut out: Vec<OutbreakWarning> = ctx
        .store
        .warnings_of(host_id)?
        .into_iter()
        .filter(|w| w.cleared_ms == 0 || ctx.now_ms - w.last_seen_ms <= HOST_WARNINGS_MS)
        .map(|mut w| {
            w.leads = leads(&w, &cases);
            w
        })
        .collect();
    out.sort_by_key(|w| (w.cleared_ms != 0, std::cmp::Reverse(w.first_seen_ms)));
    Ok(out)
}

/// The warning that came before a listing of `ip` that began at
/// `listed_ms`: the latest one naming the IP raised at most
/// [`LEAD_WINDOW_MS`] before it.
pub fn warning_for<'a>(ip: &str, listed_ms: i64, warnings: &'a [OutbreakWarning]) -> Option<&'a OutbreakWarning> {
    warnings
        .iter()
        .filter(|w| w.ips.iter().any(|i| i == ip))
        .filter(|w| w.first_seen_ms <= listed_ms && listed_ms - w.first_seen_ms <= LEAD_WINDOW_MS)
        .max_by_key(|w| w.first_seen_ms)
}

/// [`warning_for`] `case`'s listing, with the lead time in its `leads`.
pub fn warning_before(case: &Case, warnings: &[OutbreakWarning]) -> Option<OutbreakWarning> {
    let mut w = warning_for(&case.ip, case.listed_since_ms, warnings)?.clone();
    w.leads = leads(&w, std::slice::from_ref(case));
    Some(w)
}

/// Fills each case's `warning` (see [`warning_before`]).
pub fn link_cases(ctx: &Context<'_>, cases: &mut [Case]) -> Result<(), StoreError> {
    let warnings = ctx.store.all_warnings()?;
    if warnings.is_empty() {
        return Ok(());
    }
    for case in cases {
        case.warning = warning_before(case, &warnings);
    }
    Ok(())
}

/// The detector's baselines next to the last 30 minutes: the host, then
/// its warned sources and its busiest ones. Empty for a host the detector
/// has not seen, or whose state does not read (said in the log).
pub fn baselines(ctx: &Context<'_>, host_id: &str) -> Result<Vec<BaselineRow>, StoreError> {
    let Some(raw) = ctx.store.outbreak_state(host_id)? else { return Ok(Vec::new()) };
    let state = match HostState::from_bytes(&raw) {
        Ok(state) => state,
        Err(error) => {
            tracing::warn!(host = host_id, %error, "outbreak detector state unreadable; no baselines shown");
            return Ok(Vec::new());
        }
    };
    let active: Vec<OutbreakWarning> =
        ctx.store.warnings_of(host_id)?.into_iter().filter(|w| w.cleared_ms == 0).collect();
    let reasons = |kind: i32, id: &str| {
        active
            .iter()
            .find(|w| w.source_kind == kind && w.source_id == id)
            .map(|w| w.reasons.clone())
            .unwrap_or_default()
    };
    // The window is 30 minutes: rates are doubled to read per hour.
    let recent = state.recent();
    let b = &state.baseline;
    let mut rows = vec![BaselineRow {
        source_kind: SourceKind::Unspecified as i32,
        source_id: String::new(),
        usual_messages: f64::from(b.messages.level),
        usual_bounce_ratio: f64::from(b.bounce.level),
        recent_messages: 2.0 * f64::from(recent.messages),
        recent_bounce_ratio: f64::from(recent.bounce_ratio()),
        signals: reasons(SourceKind::Unspecified as i32, ""),
        warned: state.is_warned(),
        ..BaselineRow::default()
    }];
    let mut sources: Vec<_> = state.sources().iter().collect();
    sources.sort_by_key(|s| (!s.is_warned(), std::cmp::Reverse(s.recent().messages), s.id.clone()));
    for s in sources.into_iter().take(BASELINE_SOURCES) {
        let (usual, now) = (&s.baseline, s.recent());
        rows.push(BaselineRow {
            source_kind: s.kind,
            source_id: s.id.clone(),
            usual_messages: f64::from(usual.messages.level),
            usual_recipient_domains: f64::from(usual.domains.level),
            usual_client_ips: f64::from(usual.client_ips.level),
            usual_bounce_ratio: f64::from(usual.bounce.level),
            recent_messages: 2.0 * f64::from(now.messages),
            recent_recipient_domains: f64::from(now.domains),
            recent_client_ips: f64::from(now.client_ips),
            recent_bounce_ratio: f64::from(now.bounce_ratio()),
            signals: reasons(s.kind, &s.id),
            warned: s.is_warned(),
        });
    }
    Ok(rows)
}
