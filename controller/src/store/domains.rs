//! The fleet's domains: what each host serves (its agent's last list) and
//! the envelope sender domains its log showed.
//!
//! Trees:
//! - `host_domains`: host id → [`encoding`](super::encoding) of the
//!   `HostDomains` the agent sent last. A report without the list leaves it
//!   as it is (agents send it only when it changed).
//! - `sending`: domain (wire form), 0x00, host id → `SendingDomain`: messages
//!   since first seen, first and last seen. Bounded per host by what the
//!   agent sends (its top sender domains per report).
//!
//! Both are written in the report's own transaction (see `reports`), so a
//! report's domains are stored exactly when the report is.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use rblfleet_proto::v1::{DomainHost, HostDomains, HostReport, SendingDomain};
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::encoding::{decode, encode, report_prefix};
use super::{Sled, StoreError};

/// The registrable domains to watch, each with who serves and who sends it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WatchedDomain {
    /// Hosts serving the domain or a name under it.
    pub hosts: Vec<DomainHost>,
    /// Messages sent with it as envelope sender domain, all hosts.
    pub messages: u64,
    /// Hosts whose log showed it as sender domain.
    pub sending_hosts: Vec<String>,
}

impl WatchedDomain {
    /// The domain sends mail: checked before the domains that only exist.
    pub fn sends(&self) -> bool {
        self.messages > 0
    }

    /// The owning subscriptions, deduplicated, in host order.
    pub fn subscriptions(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for h in &self.hosts {
            if !h.subscription.is_empty() && !out.contains(&h.subscription) {
                out.push(h.subscription.clone());
            }
        }
        out
    }

    /// Every host involved, once each (a host serving the domain and a
    /// name under it is listed twice in `hosts`): serving, then sending.
    pub fn all_hosts(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for h in self.hosts.iter().map(|h| &h.host_id).chain(&self.sending_hosts) {
            if !out.contains(h) {
                out.push(h.clone());
            }
        }
        out
    }
}

/// Stores the domain parts of one report inside its transaction. Returns
/// whether the set of watched domains may have changed.
pub(super) fn apply_report(
    host_domains: &TransactionalTree,
    sending: &TransactionalTree,
    report: &HostReport,
    now_ms: i64,
) -> Result<bool, ConflictableTransactionError<StoreError>> {
    let mut changed = false;
    if let Some(domains) = &report.domains {
        host_domains.insert(report.host_id.as_bytes(), encode(domains))?;
        changed = true;
    }
    for named in &report.sender_domains {
        let key = sending_key(&named.name, &report.host_id);
        let mut row = match sending.get(&key)? {
            Some(raw) => decode::<SendingDomain>(&key, &raw).map_err(ConflictableTransactionError::Abort)?,
            None => {
                changed = true;
                SendingDomain {
                    domain: named.name.clone(),
                    host_id: report.host_id.clone(),
                    first_seen_ms: now_ms,
                    ..SendingDomain::default()
                }
            }
        };
        row.messages = row.messages.saturating_add(named.count);
        row.last_seen_ms = now_ms;
        sending.insert(key, encode(&row))?;
    }
    Ok(changed)
}

fn sending_key(domain: &str, host_id: &str) -> Vec<u8> {
    let mut key = report_prefix(domain);
    key.extend_from_slice(host_id.as_bytes());
    key
}

impl Sled {
    /// Bumped whenever a host's domain list or a new sender domain is
    /// stored: the blocklist engine rebuilds its domain index only then.
    pub fn domains_generation(&self) -> u64 {
        self.domains_generation.load(Ordering::Acquire)
    }

    pub(super) fn domains_changed(&self) {
        self.domains_generation.fetch_add(1, Ordering::AcqRel);
    }

    /// One host's last domain list, if its agent ever sent one.
    pub fn host_domains(&self, host_id: &str) -> Result<Option<HostDomains>, StoreError> {
        match self.host_domains.get(host_id.as_bytes())? {
            Some(raw) => Ok(Some(decode(host_id.as_bytes(), &raw)?)),
            None => Ok(None),
        }
    }

    /// Hosts that sent with `domain` (wire form), by host id.
    pub fn sending_of(&self, domain: &str) -> Result<Vec<SendingDomain>, StoreError> {
        self.sending
            .scan_prefix(report_prefix(domain))
            .map(|entry| {
                let (key, raw) = entry?;
                decode(&key, &raw)
            })
            .collect()
    }

    /// Every registrable domain the fleet serves or sends with. `registrable`
    /// maps a reported name to the name the lists are asked about.
    pub fn watched_domains(
        &self,
        registrable: impl Fn(&str) -> String,
    ) -> Result<BTreeMap<String, WatchedDomain>, StoreError> {
        let mut out: BTreeMap<String, WatchedDomain> = BTreeMap::new();
        for entry in self.host_domains.iter() {
            let (key, raw) = entry?;
            let host_id = String::from_utf8_lossy(&key).into_owned();
            let list: HostDomains = decode(&key, &raw)?;
            for d in list.domains {
                let watched = out.entry(registrable(&d.name)).or_default();
                watched.hosts.push(DomainHost {
                    host_id: host_id.clone(),
                    name: d.name,
                    unicode: d.unicode,
                    subscription: d.subscription,
                    mail: d.mail,
                });
            }
        }
        for entry in self.sending.iter() {
            let (key, raw) = entry?;
            let row: SendingDomain = decode(&key, &raw)?;
            let watched = out.entry(registrable(&row.domain)).or_default();
            watched.messages = watched.messages.saturating_add(row.messages);
            if !watched.sending_hosts.contains(&row.host_id) {
                watched.sending_hosts.push(row.host_id);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
