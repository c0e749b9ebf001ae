//! The case side of `rblfleet ip IP`.

use rblfleet_proto::v1::Case;

use super::Context;
use crate::store::StoreError;

/// Every case of `ip`, newest first.
pub fn ip_cases(ctx: &Context<'_>, ip: &str) -> Result<Vec<Case>, StoreError> {
    let mut cases: Vec<Case> = ctx.store.all_cases()?.into_iter().filter(|c| c.ip == ip).collect();
    cases.sort_by_key(|c| std::cmp::Reverse(c.opened_ms));
    Ok(cases)
}
