//! `rblfleet report`: every current listing in the fleet, worst first.

use std::io::Write;

use rblfleet_proto::v1::{ListingRow, ReportRequest};
use serde_json::{Value, json};

use super::Connect;
use super::render::{self, case_state, delist_route, rfc3339, short_time, suspect_short};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
    Csv,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub connect: Connect,
    /// Only these lists (catalog id, zone or receiver name; comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub list: Vec<String>,
    /// Only listings of IPs these hosts carry (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "HOST")]
    pub host: Vec<String>,
    /// Only listings whose case is in these states: open, investigating,
    /// remediated, delist_requested, resolved, ignored.
    #[arg(long, value_delimiter = ',', value_name = "STATE", value_parser = super::parse_state)]
    pub state: Vec<i32>,
    /// Agents silent longer than this are named in the summary.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub silent_after: std::time::Duration,
    #[arg(long, value_enum, env = "RBLFLEET_FORMAT", default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

pub async fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<()> {
    let request = ReportRequest {
        lists: args.list,
        hosts: args.host,
        states: args.state,
        silent_after_secs: args.silent_after.as_secs(),
    };
    let report = args.connect.client().await?.report(request).await?;
    let summary = report.summary.unwrap_or_default();
    match args.format {
        ReportFormat::Json => {
            let value = json!({
                "summary": {
                    "hosts": summary.hosts, "ips_watched": summary.ips_watched, "ips_listed": summary.ips_listed,
                    "domains_watched": summary.domains_watched, "domains_listed": summary.domains_listed,
                    "lists_involved": summary.lists_involved, "relistings": summary.relistings,
                    "cases_waiting_delisting": summary.cases_waiting_delisting,
                    "zones_not_covering": summary.zones_not_covering.iter().map(|g| json!({"zone": g.zone, "reason": g.reason})).collect::<Vec<_>>(),
                    "silent_agents": summary.silent_agents,
                    "warnings_active": summary.warnings_active, "ips_at_risk": summary.ips_at_risk,
                },
                "listings": report.rows.iter().map(row_json).collect::<Vec<_>>(),
                "at_risk": report.at_risk.iter().map(super::warnings::warning_json).collect::<Vec<_>>(),
            });
            serde_json::to_writer_pretty(&mut *out, &value)?;
            writeln!(out)?;
        }
        ReportFormat::Csv => {
            writeln!(
                out,
                "ip,hosts,list_id,list,kind,since,meaning,case_id,case_state,relisting,top_suspect,delist,target_kind,subscriptions"
            )?;
            for r in &report.rows {
                let fields = [
                    r.ip.clone(),
                    r.hosts.join(" "),
                    r.list_id.clone(),
                    r.list.clone(),
                    r.list_kind.clone(),
                    rfc3339(r.since_ms).unwrap_or_default(),
                    r.meanings.join("; "),
                    r.case_id.to_string(),
                    case_state(r.case_state).into(),
                    r.relisting.to_string(),
                    r.top_suspect.as_ref().map(suspect_short).unwrap_or_default(),
                    delist_route(r.delist.as_ref()),
                    target_kind(r).into(),
                    r.subscriptions.join(" "),
                ];
                writeln!(out, "{}", fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","))?;
            }
        }
        ReportFormat::Table => {
            writeln!(
                out,
                "{} of {} IPs listed on {} lists; {} relistings; {} cases waiting on delisting; {} of {} agents silent",
                summary.ips_listed,
                summary.ips_watched,
                summary.lists_involved,
                summary.relistings,
                summary.cases_waiting_delisting,
                summary.silent_agents.len(),
                summary.hosts
            )?;
            if summary.domains_watched > 0 {
                writeln!(out, "{} of {} domains listed", summary.domains_listed, summary.domains_watched)?;
            }
            for gap in &summary.zones_not_covering {
                writeln!(out, "not covering: {} ({})", gap.zone, gap.reason)?;
            }
            if !summary.silent_agents.is_empty() {
                writeln!(out, "silent agents: {}", summary.silent_agents.join(", "))?;
            }
            // Early warnings first: the IPs that can still be saved.
            if !report.at_risk.is_empty() {
                writeln!(
                    out,
                    "\nAT RISK - not listed yet ({} IPs, {} warnings):",
                    summary.ips_at_risk,
                    report.at_risk.len()
                )?;
                for w in &report.at_risk {
                    super::warnings::write_warning(out, w, true)?;
                }
            }
            if report.rows.is_empty() {
                writeln!(out, "\nNo listings.")?;
                return Ok(());
            }
            // Delisting URLs go below the table as numbered notes: a URL
            // wrapped over four lines of a narrow column cannot be clicked.
            let mut notes: Vec<String> = Vec::new();
            let mut table = render::table(&[
                "IP / DOMAIN",
                "HOSTS",
                "LIST",
                "SINCE",
                "MEANING",
                "CASE",
                "TOP SUSPECT",
                "DELISTING",
            ]);
            for r in &report.rows {
                let case = if r.case_id == 0 {
                    "-".to_string()
                } else {
                    format!("#{} {}{}", r.case_id, case_state(r.case_state), if r.relisting { " RELISTED" } else { "" })
                };
                let suspect = r.top_suspect.as_ref().map_or("-".into(), |s| {
                    if r.hosts.len() == 1 {
                        format!("{} {}", render::source_kind(s.kind), s.id)
                    } else {
                        suspect_short(s)
                    }
                });
                let meaning = if r.list_kind == "receiver" {
                    format!("refuses mail{}", r.codes.first().map(|c| format!(" ({c})")).unwrap_or_default())
                } else {
                    r.meanings.join("; ")
                };
                let hosts = if r.subscriptions.is_empty() {
                    r.hosts.join(" ")
                } else {
                    format!("{} (subscription {})", r.hosts.join(" "), r.subscriptions.join(" "))
                };
                table.add_row(vec![
                    r.ip.clone(),
                    hosts,
                    r.list.clone(),
                    short_time(r.since_ms),
                    meaning,
                    case,
                    suspect,
                    delist_cell(r.delist.as_ref(), r.expected_drop_ms, &mut notes),
                ]);
            }
            render::keep_width(&mut table, &[0, 1, 3, 5, 7]);
            writeln!(out, "\n{table}")?;
            for (i, url) in notes.iter().enumerate() {
                writeln!(out, "[{}] {url}", i + 1)?;
            }
        }
    }
    Ok(())
}

/// "form [1]", "expires ~24h (by 11-28 14:00)", "contact [2]": the URL goes to `notes`.
fn delist_cell(
    route: Option<&rblfleet_proto::v1::DelistRoute>,
    expected_drop_ms: i64,
    notes: &mut Vec<String>,
) -> String {
    let Some(r) = route else { return "-".into() };
    let mut cell = match r.kind.as_str() {
        "auto_expire" if expected_drop_ms > 0 => format!("expires by {}", short_time(expected_drop_ms)),
        "auto_expire" => "expires by itself".into(),
        "" => "-".into(),
        kind => kind.replace('_', " "),
    };
    if !r.url.is_empty() && r.kind != "auto_expire" {
        let n = match notes.iter().position(|u| *u == r.url) {
            Some(i) => i + 1,
            None => {
                notes.push(r.url.clone());
                notes.len()
            }
        };
        cell.push_str(&format!(" [{n}]"));
    }
    cell
}

/// "ip" or "domain": what the row's first column names (rows from an older
/// controller carry no kind and are IP rows).
pub(super) fn target_kind(r: &ListingRow) -> &'static str {
    if r.kind == "domain" { "domain" } else { "ip" }
}

fn row_json(r: &ListingRow) -> Value {
    let mut value = row_fields(r);
    if let Value::Object(map) = &mut value {
        map.insert(target_kind(r).into(), json!(r.ip));
        if r.kind == "domain" {
            map.insert("subscriptions".into(), json!(r.subscriptions));
        }
    }
    value
}

fn row_fields(r: &ListingRow) -> Value {
    json!({
        "hosts": r.hosts, "list_id": r.list_id, "list": r.list, "kind": r.list_kind,
        "since": rfc3339(r.since_ms), "codes": r.codes, "meanings": r.meanings, "txt": render::non_empty(&r.txt),
        "severity": r.severity,
        "case": (r.case_id != 0).then(|| json!({"id": r.case_id, "state": case_state(r.case_state), "relisting": r.relisting})),
        "top_suspect": r.top_suspect.as_ref().map(render::suspect_json),
        "delist": r.delist.as_ref().map(|d| json!({"kind": d.kind, "url": render::non_empty(&d.url), "expiry_secs": (d.expiry_secs > 0).then_some(d.expiry_secs), "note": render::non_empty(&d.note)})),
        "expected_drop": rfc3339(r.expected_drop_ms),
    })
}

/// RFC 4180: quote fields with commas, quotes or line breaks.
fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}
