//! `rblfleet domain NAME`: one registrable domain across the hosts that
//! serve or send it, the domain lists, episodes, cases and suspects.
//!
//! A domain listing's suspects are not a host's whole sender ranking: they
//! are the sources that send with the domain — its mailboxes (SASL users and
//! envelope senders `…@domain`) and the local users and scripts of the
//! subscriptions that own it — on the hosts that serve or send it.

use rblfleet_proto::v1::{BlocklistEvidence, GetDomainResponse, NamedReason, Suspect};

use super::{Context, Watched, suspects};
use crate::catalog::Target;
use crate::store::{StoreError, WatchedDomain, rollup};

const DAY_MS: i64 = 86_400_000;

/// The view of `domain` (a [`Target::Domain`], registrable already).
pub fn domain_view(ctx: &Context<'_>, domain: &str) -> Result<GetDomainResponse, StoreError> {
    let watched = Watched::load(ctx)?;
    let entry = watched.domains.get(domain);
    let checks = ctx.store.ip_checks(domain)?;
    let mut episodes = ctx.store.ip_episodes(domain)?;
    episodes.sort_by_key(|e| std::cmp::Reverse(e.first_seen_ms));
    let cases = super::ip::ip_cases(ctx, domain)?;
    let suspects = domain_suspects(ctx, domain, entry, ctx.now_ms)?;
    let refusals = domain_refusals(ctx, domain, entry)?;
    let not_covered = match ctx.engine {
        Some(engine) => engine
            .not_covered_target(&Target::Domain(domain.to_string()))
            .into_iter()
            .map(|(name, reason)| NamedReason { name, reason })
            .collect(),
        None => vec![NamedReason {
            name: "all DNS zones".into(),
            reason: "blocklist checks are disabled on this controller (dnsbl.enabled = false)".into(),
        }],
    };
    let unicode = rblfleet_proto::domain::normalize_domain(domain)
        .ok()
        .map(|d| d.unicode)
        .filter(|u| u != domain)
        .unwrap_or_default();
    Ok(GetDomainResponse {
        domain: domain.to_string(),
        unicode,
        hosts: entry.map(|e| e.hosts.clone()).unwrap_or_default(),
        senders: ctx.store.sending_of(domain)?,
        checks,
        episodes,
        cases,
        suspects,
        refusals,
        not_covered,
    })
}

/// Sources that send with `domain` on the hosts serving or sending it, most
/// suspicious first, for a listing first seen at `since_ms`.
pub fn domain_suspects(
    ctx: &Context<'_>,
    domain: &str,
    entry: Option<&WatchedDomain>,
    since_ms: i64,
) -> Result<Vec<Suspect>, StoreError> {
    let Some(entry) = entry else { return Ok(Vec::new()) };
    // The names this domain is sent as: itself and the host names under it.
    let mut names: Vec<String> = vec![domain.to_string()];
    names.extend(entry.hosts.iter().map(|h| h.name.clone()));
    // Agents name a source's subscription by its main domain, and a
    // domain's owner by the subscription's system user: every name the
    // owning users serve on those hosts stands for "its subscription".
    let owners = entry.subscriptions();
    let mut owned: Vec<String> = Vec::new();
    for host in entry.hosts.iter().map(|h| h.host_id.as_str()) {
        if let Some(list) = ctx.store.host_domains(host)? {
            owned.extend(list.domains.into_iter().filter(|d| owners.contains(&d.subscription)).map(|d| d.name));
        }
    }
    let sends_with = |s: &Suspect| {
        let id = s.id.to_ascii_lowercase();
        let address_domain = id.rsplit_once('@').map(|(_, d)| d.to_string());
        address_domain.is_some_and(|d| names.iter().any(|n| d == *n || d.ends_with(&format!(".{n}"))))
            || (!s.subscription.is_empty()
                && (names.contains(&s.subscription)
                    || owned.contains(&s.subscription)
                    || owners.contains(&s.subscription)))
    };
    Ok(suspects(ctx, &entry.all_hosts(), since_ms)?.into_iter().filter(sends_with).collect())
}

/// Refusals of family "domain" over the last 24 hours that name `domain`
/// (or a name under it), on the hosts involved.
fn domain_refusals(
    ctx: &Context<'_>,
    domain: &str,
    entry: Option<&WatchedDomain>,
) -> Result<Vec<BlocklistEvidence>, StoreError> {
    let Some(entry) = entry else { return Ok(Vec::new()) };
    let rollups = ctx.store.hosts_rollups(&entry.all_hosts(), ctx.now_ms - DAY_MS, ctx.now_ms + 3_600_000)?;
    let mut out: Vec<BlocklistEvidence> = rollup::sum(&rollups)
        .blocklist
        .into_iter()
        .filter(|e| e.family == "domain" && crate::catalog::registrable(&e.domain) == domain)
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.provider.cmp(&b.provider)));
    Ok(out)
}
