//! The tables a migration fills and the SQL that fills each (see
//! `pg::import`).

/// The tables a migration fills, in copy order, each with the sled tree
/// its rows come from (`case_history` is read out of the cases, `host_ips`
/// out of the host summaries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    Hosts,
    HostIps,
    Reports,
    Rollups,
    Checks,
    Episodes,
    ZoneUsage,
    Cases,
    CaseHistory,
    CaseIndex,
    Receivers,
    HostDomains,
    Sending,
    Outbreak,
    Warnings,
    Actions,
}

/// A column's SQL array type; `Day` is a day number stored as a `date`.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    Text,
    Int8,
    Int4,
    Bytea,
    Day,
}

use Kind::{Bytea, Day, Int4, Int8, Text};

impl Table {
    pub(crate) const ALL: [Table; 16] = [
        Table::Hosts,
        Table::HostIps,
        Table::Reports,
        Table::Rollups,
        Table::Checks,
        Table::Episodes,
        Table::ZoneUsage,
        Table::Cases,
        Table::CaseHistory,
        Table::CaseIndex,
        Table::Receivers,
        Table::HostDomains,
        Table::Sending,
        Table::Outbreak,
        Table::Warnings,
        Table::Actions,
    ];

    /// The PostgreSQL table.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Table::Hosts => "hosts",
            Table::HostIps => "host_ips",
            Table::Reports => "reports",
            Table::Rollups => "rollups",
            Table::Checks => "checks",
            Table::Episodes => "episodes",
            Table::ZoneUsage => "zone_usage",
            Table::Cases => "cases",
            Table::CaseHistory => "case_history",
            Table::CaseIndex => "case_index",
            Table::Receivers => "receivers",
            Table::HostDomains => "host_domains",
            Table::Sending => "sending",
            Table::Outbreak => "outbreak",
            Table::Warnings => "warnings",
            Table::Actions => "actions",
        }
    }

    /// The sled tree the rows come from.
    pub(crate) fn tree(self) -> &'static str {
        match self {
            Table::CaseHistory => "cases",
            Table::HostIps => "hosts",
            other => other.name(),
        }
    }

    pub(super) fn columns(self) -> &'static [(&'static str, Kind)] {
        match self {
            Table::Hosts => &[
                ("host_id", Text),
                ("epoch", Int8),
                ("last_seq", Int8),
                ("reports_stored", Int8),
                ("seq_gaps", Int8),
                ("first_seen_ms", Int8),
                ("last_report_ms", Int8),
                ("record", Bytea),
            ],
            Table::Reports => &[
                ("host_id", Text),
                ("epoch", Int8),
                ("seq", Int8),
                ("day", Day),
                ("period_end_ms", Int8),
                ("received_ms", Int8),
                ("record", Bytea),
            ],
            Table::Rollups => &[
                ("host_id", Text),
                ("hour_ms", Int8),
                ("reports", Int8),
                ("record", Bytea),
                ("sent", Int8),
                ("deferred", Int8),
                ("bounced", Int8),
                ("blocklisted", Int8),
                ("queue_max", Int8),
                ("queue_last", Int8),
            ],
            Table::HostIps => &[("host_id", Text), ("ip", Text)],
            Table::Checks => {
                &[("ip", Text), ("zone_id", Text), ("status", Text), ("checked_ms", Int8), ("record", Bytea)]
            }
            Table::Episodes => &[
                ("ip", Text),
                ("zone_id", Text),
                ("first_seen_ms", Int8),
                ("last_seen_ms", Int8),
                ("cleared_ms", Int8),
                ("record", Bytea),
            ],
            Table::ZoneUsage => &[("zone_id", Text), ("day", Int4), ("queries", Int8)],
            Table::Cases => &[
                ("id", Int8),
                ("ip", Text),
                ("list_id", Text),
                ("state", Text),
                ("updated_ms", Int8),
                ("record", Bytea),
            ],
            Table::CaseHistory => &[
                ("case_id", Int8),
                ("n", Int4),
                ("at_ms", Int8),
                ("who", Text),
                ("action", Text),
                ("from_state", Text),
                ("to_state", Text),
                ("note", Text),
                ("ref", Text),
                ("reason", Text),
            ],
            Table::CaseIndex => &[("ip", Text), ("list_id", Text), ("case_id", Int8)],
            Table::Receivers => &[("ip", Text), ("provider", Text), ("record", Bytea)],
            Table::HostDomains => &[("host_id", Text), ("record", Bytea)],
            Table::Sending => &[
                ("domain", Text),
                ("host_id", Text),
                ("messages", Int8),
                ("first_seen_ms", Int8),
                ("last_seen_ms", Int8),
            ],
            Table::Outbreak => &[("host_id", Text), ("state", Bytea)],
            Table::Warnings => &[
                ("host_id", Text),
                ("source_kind", Int4),
                ("source_id", Text),
                ("first_seen_ms", Int8),
                ("cleared_ms", Int8),
                ("record", Bytea),
            ],
            Table::Actions => &[("id", Text), ("host_id", Text), ("created_ms", Int8), ("record", Bytea)],
        }
    }

    /// `INSERT INTO t (…) SELECT … FROM unnest($1::text[], …) AS r(…)`.
    pub(super) fn insert_sql(self) -> String {
        let columns = self.columns();
        let names: Vec<String> = columns.iter().map(|(n, _)| format!("\"{n}\"")).collect();
        let select: Vec<String> = columns
            .iter()
            .map(|(n, k)| match k {
                Day => format!("DATE '1970-01-01' + r.\"{n}\""),
                _ => format!("r.\"{n}\""),
            })
            .collect();
        let arrays: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, (_, k))| {
                let ty = match k {
                    Text => "text",
                    Int8 => "int8",
                    Int4 | Day => "int4",
                    Bytea => "bytea",
                };
                format!("${}::{ty}[]", i + 1)
            })
            .collect();
        format!(
            "INSERT INTO {} ({}) SELECT {} FROM unnest({}) AS r({})",
            self.name(),
            names.join(", "),
            select.join(", "),
            arrays.join(", "),
            names.join(", ")
        )
    }
}
