//! The plain columns behind the NOC's SQL views (schema version 2,
//! `migrations/0002_views.sql`): what a report's protobuf record holds and
//! a dashboard needs, written next to the record by ingest and by
//! `migrate`, so SQL never has to decode a record.

use rblfleet_proto::v1::{HostSummary, HourRollup};

/// The IPs a host's latest report says it sends from, as the blocklist
/// engine checks them (`fleet::watched_ips`: public addresses, or the
/// NAT-published address of a private one), in the checks' text form.
pub(super) fn watched_ips(summary: &HostSummary) -> Vec<String> {
    crate::fleet::watched_ips(std::slice::from_ref(summary)).into_keys().map(|ip| ip.to_string()).collect()
}

/// `(host ids, ips)` of every host in `summaries`, as two columns.
pub(super) fn host_ip_columns<'a>(summaries: impl IntoIterator<Item = &'a HostSummary>) -> (Vec<String>, Vec<String>) {
    let (mut hosts, mut ips) = (Vec::new(), Vec::new());
    for summary in summaries {
        for ip in watched_ips(summary) {
            hosts.push(summary.host_id.clone());
            ips.push(ip);
        }
    }
    (hosts, ips)
}

/// An hour's figures in `rollups` column order: sent, deferred, bounced,
/// blocklisted, queue_max, queue_last.
pub(super) fn rollup_figures(r: &HourRollup) -> [i64; 6] {
    let [sent, deferred, bounced, blocklisted] =
        r.deliveries.as_ref().map_or([0; 4], |d| [d.sent, d.deferred, d.bounced, d.blocklisted]);
    [sent, deferred, bounced, blocklisted, r.queue_max, r.queue_last].map(super::to_i64)
}

/// Replaces the IPs of the hosts in `ids` with `(hosts, ips)`, in one
/// statement: rows that stay are not rewritten.
pub(super) const REPLACE_HOST_IPS: &str =
    "WITH new AS (SELECT * FROM unnest($2::text[], $3::text[]) AS n(host_id, ip)),
     gone AS (DELETE FROM host_ips h WHERE h.host_id = ANY($1)
                AND NOT EXISTS (SELECT 1 FROM new WHERE new.host_id = h.host_id AND new.ip = h.ip))
INSERT INTO host_ips (host_id, ip) SELECT host_id, ip FROM new ON CONFLICT DO NOTHING";

#[cfg(test)]
mod tests;
