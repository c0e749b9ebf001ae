//! `rblfleet cases`: the delisting cases matching a filter.

use rblfleet_proto::v1::{Case, ListCasesRequest};

use super::{Context, Watched};
use crate::store::StoreError;

/// Cases in one of `states` (all when empty), of IPs `host` carries, on
/// `list` (catalog id or display name, any case), each filter optional.
pub fn list_cases(ctx: &Context<'_>, filter: &ListCasesRequest) -> Result<Vec<Case>, StoreError> {
    let host_ips: Option<Vec<String>> =
        if filter.host.is_empty() { None } else { Some(Watched::load(ctx)?.subjects_of(&filter.host)) };
    Ok(ctx
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
        .collect())
}
