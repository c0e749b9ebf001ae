//! `rblfleet contain`: stop a spam source from the NOC, on approval (issue 16).

use std::io::Write;
use std::time::{Duration, Instant};

use rblfleet_proto::v1::{ActionRecord, ContainRequest, SourceKind};
use serde_json::{Value, json};

use super::render::{self, rfc3339};
use super::{Connect, Format};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Ask the host's agent what ACTION on SOURCE would run (a dry run: the
    /// queue ids matched now, the command lines, what undo would do). The
    /// agent answers with its next report; this waits for it (--wait).
    Plan(PlanArgs),
    /// Approve a plan: the action goes to the host with its next report's
    /// answer, runs there, and its result comes back into the case.
    Apply(ApplyArgs),
    /// Send the reverse of a done action (release held mail, restore the
    /// mailbox's limit, put the script back).
    Undo(UndoArgs),
    /// Containment actions, newest first.
    List(ListArgs),
    /// One action or plan, with its result and audit.
    Show(ShowArgs),
}

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The host, as in `rblfleet hosts`.
    pub host: String,
    /// The source as the agent reported it: mailbox:ADDRESS, sender:ADDRESS,
    /// user:NAME (a system user) or script:PATH.
    #[arg(value_parser = parse_source)]
    pub source: (i32, String),
    /// hold_queue, release_queue, delete_queue, pause_mailbox,
    /// restore_mailbox, pause_subscription, restore_subscription,
    /// quarantine_script, restore_script.
    pub action: String,
    /// The subscription (pause_subscription, quarantine_script; default:
    /// the source's own).
    #[arg(long)]
    pub subscription: Option<String>,
    /// The full path of the script to quarantine (quarantine_script): PHP
    /// names only the file, so the path must end in the reported file name;
    /// the agent moves it only from below the subscription's tree.
    #[arg(long, value_name = "PATH")]
    pub script: Option<String>,
    #[command(flatten)]
    pub common: Waiting,
}

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// The plan's id (p-…), once its dry run has answered.
    pub plan: String,
    /// Why (recorded on the action and the host's case).
    #[arg(long)]
    pub reason: String,
    #[command(flatten)]
    pub common: Waiting,
}

#[derive(Debug, clap::Args)]
pub struct UndoArgs {
    /// The done action's id (a-…).
    pub id: String,
    #[arg(long)]
    pub reason: Option<String>,
    #[command(flatten)]
    pub common: Waiting,
}

/// What plan, apply and undo share: how long to wait for the agent's
/// answer, where the controller is, the output format.
#[derive(Debug, clap::Args)]
pub struct Waiting {
    /// How long to wait for the agent's answer (its next report; 0: do not wait).
    #[arg(long, default_value = "3m", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub wait: Duration,
    #[command(flatten)]
    pub connect: Connect,
    #[arg(long, value_enum, env = "RBLFLEET_FORMAT", default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only this host's.
    #[arg(long)]
    pub host: Option<String>,
    #[command(flatten)]
    pub connect: Connect,
    #[arg(long, value_enum, env = "RBLFLEET_FORMAT", default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    pub id: String,
    #[command(flatten)]
    pub connect: Connect,
    #[arg(long, value_enum, env = "RBLFLEET_FORMAT", default_value_t = Format::Table)]
    pub format: Format,
}

fn parse_source(text: &str) -> Result<(i32, String), String> {
    let (kind, id) = text.split_once(':').ok_or("expected KIND:ID, e.g. mailbox:info@shop.example")?;
    let kind = match kind {
        "mailbox" | "sasl" => SourceKind::SaslUser,
        "sender" => SourceKind::Sender,
        "user" => SourceKind::LocalUser,
        "script" => SourceKind::Script,
        other => return Err(format!("unknown source kind {other:?}: mailbox, sender, user or script")),
    };
    if id.is_empty() {
        return Err("the source's id is empty".into());
    }
    Ok((kind as i32, id.to_string()))
}

pub async fn run(command: Command, out: &mut dyn Write) -> anyhow::Result<()> {
    match command {
        Command::Plan(a) => {
            let request = ContainRequest {
                op: "plan".into(),
                host_id: a.host,
                source_kind: a.source.0,
                source_id: a.source.1,
                kind: a.action,
                subscription: a.subscription.unwrap_or_default(),
                script: a.script.unwrap_or_default(),
                ..Default::default()
            };
            step(&a.common, request, out).await
        }
        Command::Apply(a) => {
            let request = ContainRequest { op: "apply".into(), id: a.plan, reason: a.reason, ..Default::default() };
            step(&a.common, request, out).await
        }
        Command::Undo(a) => {
            let request = ContainRequest {
                op: "undo".into(),
                id: a.id,
                reason: a.reason.unwrap_or_default(),
                ..Default::default()
            };
            step(&a.common, request, out).await
        }
        Command::List(a) => {
            let records = a.connect.client().await?.list_actions(a.host.as_deref().unwrap_or("")).await?;
            if a.format == Format::Json {
                serde_json::to_writer_pretty(&mut *out, &records.iter().map(record_json).collect::<Vec<_>>())?;
                writeln!(out)?;
                return Ok(());
            }
            if records.is_empty() {
                writeln!(out, "No containment actions.")?;
                return Ok(());
            }
            let mut table = render::table(&["ID", "HOST", "ACTION", "SOURCE", "STATE", "BY", "WHEN"]);
            for r in &records {
                let a = r.action.clone().unwrap_or_default();
                let kind = if a.dry_run { format!("{} (plan)", a.kind) } else { a.kind.clone() };
                table.add_row(vec![
                    a.id,
                    a.host_id,
                    kind,
                    format!("{} {}", render::source_kind(a.source_kind), a.source_id),
                    r.state.clone(),
                    r.requested_by.clone(),
                    render::short_time(r.updated_ms),
                ]);
            }
            render::keep_width(&mut table, &[0, 1, 4]);
            writeln!(out, "{table}")?;
            Ok(())
        }
        Command::Show(a) => {
            let record = a.connect.client().await?.get_action(&a.id).await?;
            print(&record, a.format, out)
        }
    }
}

/// Sends one step, then waits (up to `wait`) for the agent's answer.
async fn step(common: &Waiting, request: ContainRequest, out: &mut dyn Write) -> anyhow::Result<()> {
    let (connect, wait, format) = (&common.connect, common.wait, common.format);
    let mut client = connect.client().await?;
    let mut record = client.contain(request).await?;
    let id = record.action.as_ref().map(|a| a.id.clone()).unwrap_or_default();
    let started = Instant::now();
    while matches!(record.state.as_str(), "planned" | "approved") && started.elapsed() < wait {
        tokio::time::sleep(Duration::from_millis(500)).await;
        record = client.get_action(&id).await?;
    }
    print(&record, format, out)
}

fn record_json(r: &ActionRecord) -> Value {
    let a = r.action.clone().unwrap_or_default();
    let result = r.result.clone().unwrap_or_default();
    json!({
        "id": a.id, "host": a.host_id, "kind": a.kind, "dry_run": a.dry_run,
        "source_kind": render::source_kind(a.source_kind), "source": a.source_id,
        "subscription": render::non_empty(&a.subscription), "script": render::non_empty(&a.script),
        "state": r.state, "plan_id": render::non_empty(&r.plan_id), "undo_of": render::non_empty(&a.undo_of),
        "requested_by": r.requested_by, "approved_by": a.approved_by, "reason": a.reason,
        "created": rfc3339(r.created_ms), "updated": rfc3339(r.updated_ms), "expires": rfc3339(a.expires_ms),
        "case_id": (r.case_id > 0).then_some(r.case_id),
        "result": r.result.as_ref().map(|_| json!({
            "status": result.status, "exit_code": result.exit_code, "commands": result.commands,
            "output": render::non_empty(&result.output), "reason": render::non_empty(&result.reason),
            "undo": render::non_empty(&result.undo),
        })),
        "audit": r.audit,
    })
}

fn print(r: &ActionRecord, format: Format, out: &mut dyn Write) -> anyhow::Result<()> {
    if format == Format::Json {
        serde_json::to_writer_pretty(&mut *out, &record_json(r))?;
        writeln!(out)?;
        return Ok(());
    }
    let a = r.action.clone().unwrap_or_default();
    let what = if a.dry_run { "plan" } else { "action" };
    writeln!(out, "{what} {}  {} on {}  {}", a.id, a.kind, a.host_id, r.state)?;
    writeln!(out, "source       {} {}", render::source_kind(a.source_kind), a.source_id)?;
    if !a.subscription.is_empty() {
        writeln!(out, "subscription {}", a.subscription)?;
    }
    if !a.script.is_empty() {
        writeln!(out, "script       {}", a.script)?;
    }
    if let Some(result) = &r.result {
        let verb = if a.dry_run { "would run" } else { "ran" };
        for command in &result.commands {
            writeln!(out, "{verb:<12} {command}")?;
        }
        if !result.output.is_empty() {
            writeln!(out, "output       {}", result.output.replace('\n', "\n             "))?;
        }
        if !result.reason.is_empty() {
            writeln!(out, "reason       {}", result.reason)?;
        }
        if !result.undo.is_empty() {
            writeln!(out, "undo data    {}", result.undo)?;
        }
    }
    match r.state.as_str() {
        "planned" | "approved" => writeln!(
            out,
            "\nwaiting for {}'s next report; `rblfleet contain show {}` shows the answer",
            a.host_id, a.id
        )?,
        "plan_ready" => writeln!(out, "\napprove with: rblfleet contain apply {} --reason '…'", a.id)?,
        "done" if !a.dry_run && crate::contain::kind(&a.kind).is_some_and(|k| k.undo.is_some()) => {
            writeln!(out, "\nundo with: rblfleet contain undo {}", a.id)?
        }
        _ => {}
    }
    if r.case_id > 0 {
        writeln!(out, "case         #{}", r.case_id)?;
    }
    writeln!(out, "\naudit:")?;
    for line in &r.audit {
        writeln!(out, "  {line}")?;
    }
    Ok(())
}
