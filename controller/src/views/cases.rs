//! `rblfleet cases`: the delisting cases matching a filter.

use rblfleet_proto::v1::{Case, ListCasesRequest};

use super::{Context, Watched};
use crate::store::StoreError;

/// Cases in one of `states` (all when empty), of IPs `host` carries, on
/// `list` (catalog id or display name, any case), each filter optional.
/// Each case carries the early warning that came before its listing, if
/// one did.
pub fn list_cases(ctx: &Context<'_>, filter: &ListCasesRequest) -> Result<Vec<Case>, StoreError> {
    let host_ips: Option<Vec<String>> =
        if filter.host.is_empty() { None } else { Some(Watched::load(ctx)?.subjects_of(&filter.host)) };
    let mut cases: Vec<Case> = ctx
        .store
        .all_cases()?
        .into_iter()
        .filter(|c| filter.states.is_empty() || filter.states.contains(&c.state))
        .filter(|c| {
            filter.list.is_empty()
                || c.list_id.eq_ignore_ascii_case(&filter.list)
                || c.list.eq_ignore_ascii_case(&filter.list)
        })
        .filter(|c| host_ips.as_ref().is_none_or(|ips| ips.contains(&c.ip)))
        .collect();
    super::link_cases(ctx, &mut cases)?;
    Ok(cases)
}

/// One case, with the early warning that came before its listing.
pub fn case_view(ctx: &Context<'_>, id: u64) -> Result<Option<Case>, StoreError> {
    let Some(mut case) = ctx.store.case(id)? else { return Ok(None) };
    super::link_cases(ctx, std::slice::from_mut(&mut case))?;
    Ok(Some(case))
}
