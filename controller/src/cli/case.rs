//! `rblfleet case ID [ACTION]`: show a case, or move it.

use std::io::Write;

use rblfleet_proto::v1::{Case, UpdateCaseRequest};
use serde_json::{Value, json};

use super::render::{self, case_state, delist_route, rfc3339, short_time};
use super::{Connect, Format};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CaseAction {
    /// Someone is looking at it.
    Investigate,
    /// The source was found and stopped (password reset, script removed...).
    Remediated,
    /// Delisting was requested from the list (give --ref with the request id).
    Requested,
    /// Stop tracking it (needs --reason).
    Ignore,
    /// Add a note (needs --note).
    Note,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The case number (as in `rblfleet cases`).
    pub id: u64,
    /// What to do; without it the case is shown.
    #[arg(value_enum)]
    pub action: Option<CaseAction>,
    /// A note recorded with the change.
    #[arg(long)]
    pub note: Option<String>,
    /// A ticket or removal-request reference.
    #[arg(long = "ref", value_name = "REF")]
    pub reference: Option<String>,
    /// Why the case is ignored.
    #[arg(long)]
    pub reason: Option<String>,
    #[command(flatten)]
    pub connect: Connect,
    #[arg(long, value_enum, env = "RBLFLEET_FORMAT", default_value_t = Format::Table)]
    pub format: Format,
}

pub async fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut client = args.connect.client().await?;
    let case = match args.action {
        None => client.get_case(args.id).await?,
        Some(action) => {
            let action = match action {
                CaseAction::Investigate => "investigate",
                CaseAction::Remediated => "remediated",
                CaseAction::Requested => "requested",
                CaseAction::Ignore => "ignore",
                CaseAction::Note => "note",
            };
            let request = UpdateCaseRequest {
                id: args.id,
                action: action.into(),
                note: args.note.unwrap_or_default(),
                r#ref: args.reference.unwrap_or_default(),
                reason: args.reason.unwrap_or_default(),
            };
            client.update_case(request).await?
        }
    };
    if args.format == Format::Json {
        serde_json::to_writer_pretty(&mut *out, &case_json(&case))?;
        writeln!(out)?;
        return Ok(());
    }
    let relisting = if case.relisting { format!(" — RELISTING ({} so far)", case.relistings) } else { String::new() };
    writeln!(out, "case #{}  {} on {}  {}{relisting}", case.id, case.ip, case.list, case_state(case.state))?;
    writeln!(out, "listed since  {}", short_time(case.listed_since_ms))?;
    writeln!(out, "delisting     {}", delist_route(case.delist.as_ref()))?;
    if case.expected_drop_ms > 0 {
        writeln!(out, "should drop   {}", short_time(case.expected_drop_ms))?;
    }
    if !case.r#ref.is_empty() {
        writeln!(out, "reference     {}", case.r#ref)?;
    }
    if let Some(w) = &case.warning {
        let lead = case.listed_since_ms - w.first_seen_ms;
        writeln!(
            out,
            "warned        {} on {}, {} before the listing",
            short_time(w.first_seen_ms),
            w.host_id,
            super::warnings::lead(lead)
        )?;
        super::warnings::write_warning(out, w, true)?;
    }
    writeln!(out, "\nhistory:")?;
    for e in &case.history {
        let mut line = format!("  {}  {:<12} {}", short_time(e.at_ms), e.action, e.who);
        for (label, value) in [("note", &e.note), ("ref", &e.r#ref), ("reason", &e.reason)] {
            if !value.is_empty() {
                line.push_str(&format!("  {label}: {value}"));
            }
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

pub fn case_json(c: &Case) -> Value {
    json!({
        "id": c.id, "ip": c.ip, "list_id": c.list_id, "list": c.list, "kind": c.list_kind,
        "state": case_state(c.state), "relisting": c.relisting, "relistings": c.relistings,
        "opened": rfc3339(c.opened_ms), "updated": rfc3339(c.updated_ms), "resolved": rfc3339(c.resolved_ms),
        "listed_since": rfc3339(c.listed_since_ms), "expected_drop": rfc3339(c.expected_drop_ms),
        "ref": render::non_empty(&c.r#ref),
        "warning": c.warning.as_ref().map(super::warnings::warning_json),
        "lead_secs": c.warning.as_ref().map(|w| (c.listed_since_ms - w.first_seen_ms) / 1000),
        "delist": c.delist.as_ref().map(|d| json!({"kind": d.kind, "url": render::non_empty(&d.url), "expiry_secs": (d.expiry_secs > 0).then_some(d.expiry_secs)})),
        "history": c.history.iter().map(|e| json!({
            "at": rfc3339(e.at_ms), "who": e.who, "action": e.action,
            "from": case_state(e.from), "to": case_state(e.to),
            "note": render::non_empty(&e.note), "ref": render::non_empty(&e.r#ref), "reason": render::non_empty(&e.reason),
        })).collect::<Vec<_>>(),
    })
}
