//! `rblfleet ca renew`: re-issue the certificates that expire within a
//! window, with new keys, and rewrite their bundles as `ca issue` does.
//!
//! It reads what to renew from the CA directory (`DIR/agents/*.crt`,
//! `DIR/controller.crt`, `DIR/controllers/*.crt`), not from the controller: it runs on an offline CA
//! host, and an agent whose certificate already expired cannot connect, so
//! the controller would not list the host that needs renewing most (see
//! `crate::ca::renew`). Every certificate is read before anything is
//! renewed, so an unreadable one stops the run with nothing half-done.
//!
//! The CA itself is shown, never renewed: a new CA needs every agent to
//! trust it before it signs anything (docs/operations.md, "Certificate
//! renewal").

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};

use super::{BUNDLES, write_bundle};
use crate::ca::expiry::{CertKind, days_left, read_pem_file};
use crate::ca::renew::{self, Found};
use crate::cli::Format;
use crate::cli::render;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory of the CA (from `rblfleet ca init`).
    #[arg(long, env = "RBLFLEET_CA_DIR", value_name = "DIR")]
    pub dir: PathBuf,
    /// Renew certificates that expire within this long from now ("30d", "6w").
    #[arg(long, default_value = "30d", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub within: Duration,
    /// Only these agents (host ids; each must have a certificate in DIR/agents).
    #[arg(long, value_name = "HOST", num_args = 1..)]
    pub host: Vec<String>,
    /// The controllers' certificates (DIR/controller.crt and every
    /// DIR/controllers/ID.crt) too, when due, each with its own DNS names
    /// and IPs, over its own files.
    #[arg(long)]
    pub controller: bool,
    /// Validity of the new certificates, in days.
    #[arg(long, default_value_t = 825)]
    pub days: i64,
    /// Show what would be renewed; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// What happened to one certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Renewed,
    WouldRenew,
    NotDue,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Renewed => "renewed",
            Action::WouldRenew => "would renew",
            Action::NotDue => "not due",
        }
    }
}

struct Row {
    found: Found,
    action: Action,
    new_not_after_ms: Option<i64>,
    bundle: Option<PathBuf>,
}

pub fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<()> {
    let dir = &args.dir;
    let ca_file = dir.join(crate::ca::CA_CERT);
    if !ca_file.exists() || !dir.join(crate::ca::CA_KEY).exists() {
        return Err(crate::ca::CaError::NoCa { dir: dir.clone() }.into());
    }
    let now = crate::clock::now_ms();
    let window_ms = i64::try_from(args.within.as_millis()).unwrap_or(i64::MAX);
    let targets = targets(&args)?;

    let mut rows = Vec::with_capacity(targets.len());
    for found in targets {
        let due = found.not_after_ms.saturating_sub(now) <= window_ms;
        let mut row = Row { found, action: Action::NotDue, new_not_after_ms: None, bundle: None };
        if due && args.dry_run {
            row.action = Action::WouldRenew;
        } else if due {
            let issued = renew::renew(dir, &row.found, args.days)?;
            row.new_not_after_ms = read_pem_file(&issued.cert)?.first().map(|c| c.not_after_ms);
            if row.found.kind == CertKind::Agent {
                write_bundle(dir, &row.found.name)?;
                row.bundle = Some(dir.join(BUNDLES).join(&row.found.name));
            }
            row.action = Action::Renewed;
        }
        rows.push(row);
    }
    // The CA bounds every certificate it signs: say so when it is the limit.
    let ca = read_pem_file(&ca_file)?.into_iter().next().context("the CA file holds no certificate")?;
    let new_until = now.saturating_add(args.days.saturating_mul(86_400_000));
    let ca_note = (ca.not_after_ms < new_until).then(|| {
        format!(
            "the CA expires {} ({} days), before the {} days asked for: certificates it signs stop working with it; \
             roll a new CA (docs/operations.md, \"Certificate renewal\")",
            render::rfc3339(ca.not_after_ms).unwrap_or_default(),
            days_left(ca.not_after_ms, now),
            args.days
        )
    });
    match args.format {
        Format::Json => json_out(&args, &rows, &ca, ca_note.as_deref(), now, out),
        Format::Table => table_out(&args, &rows, ca_note.as_deref(), now, out),
    }
}

/// The certificates the command looks at: every agent (or the `--host`
/// ones), and the controller too with `--controller`.
fn targets(args: &Args) -> anyhow::Result<Vec<Found>> {
    let agents = renew::agents(&args.dir)?;
    let mut targets = Vec::new();
    if args.host.is_empty() {
        targets = agents;
    } else {
        for host in &args.host {
            let found = agents.iter().find(|f| &f.name == host).with_context(|| {
                format!(
                    "no certificate for {host:?} in {}: issue one with `rblfleet ca issue --agent {host}`",
                    args.dir.join("agents").display()
                )
            })?;
            targets.push(found.clone());
        }
    }
    if args.controller {
        let found = renew::controllers(&args.dir)?;
        if found.is_empty() {
            anyhow::bail!(
                "no controller certificate in {}: issue one with `rblfleet ca issue --controller NAME`",
                args.dir.display()
            );
        }
        targets.extend(found);
    }
    Ok(targets)
}

fn table_out(args: &Args, rows: &[Row], ca_note: Option<&str>, now: i64, out: &mut dyn Write) -> anyhow::Result<()> {
    if rows.is_empty() {
        writeln!(out, "No issued certificate in {} (see `rblfleet ca issue`).", args.dir.display())?;
        return Ok(());
    }
    let mut table = render::table(&["KIND", "NAME", "EXPIRES", "DAYS LEFT", "ACTION", "NEW EXPIRY"]);
    for r in rows {
        table.add_row(vec![
            r.found.kind.as_str().to_string(),
            r.found.name.clone(),
            render::short_time(r.found.not_after_ms),
            days_left(r.found.not_after_ms, now).to_string(),
            r.action.as_str().to_string(),
            r.new_not_after_ms.map_or_else(|| "-".into(), render::short_time),
        ]);
    }
    writeln!(out, "{table}")?;
    let count = |a: Action| rows.iter().filter(|r| r.action == a).count();
    let window = match args.within.as_secs() {
        s if s % 86_400 == 0 => format!("{} days", s / 86_400),
        _ => humantime::format_duration(args.within).to_string(),
    };
    let due = count(Action::Renewed) + count(Action::WouldRenew);
    if args.dry_run {
        writeln!(
            out,
            "\n{due} would be renewed, {} not due (window {window}); nothing written",
            count(Action::NotDue)
        )?;
    } else {
        writeln!(out, "\n{due} renewed, {} not due (window {window})", count(Action::NotDue))?;
    }
    if rows.iter().any(|r| r.bundle.is_some()) {
        writeln!(
            out,
            "new bundles in {}: copy each to its host's /etc/rblfleet (the Ansible role does); \
             the agent picks up the new files",
            args.dir.join(BUNDLES).display()
        )?;
    }
    if rows.iter().any(|r| r.found.kind == CertKind::Controller && r.action == Action::Renewed) {
        writeln!(
            out,
            "install each new controller .crt and .key where that controller's tls.cert and tls.key point \
             (controller.crt: every controller that shares it; controllers/ID.crt: controller ID)"
        )?;
    }
    if let Some(note) = ca_note {
        writeln!(out, "warning: {note}")?;
    }
    Ok(())
}

fn json_out(
    args: &Args,
    rows: &[Row],
    ca: &crate::ca::expiry::PemCert,
    ca_note: Option<&str>,
    now: i64,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let path = |p: &Path| p.display().to_string();
    let certificates: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "kind": r.found.kind.as_str(),
                "name": r.found.name,
                "cert": path(&r.found.cert),
                "not_after": render::rfc3339(r.found.not_after_ms),
                "days_left": days_left(r.found.not_after_ms, now),
                "action": r.action.as_str().replace(' ', "_"),
                "new_not_after": r.new_not_after_ms.and_then(render::rfc3339),
                "bundle": r.bundle.as_deref().map(path),
            })
        })
        .collect();
    let value = json!({
        "dir": path(&args.dir),
        "within_secs": args.within.as_secs(),
        "dry_run": args.dry_run,
        "certificates": certificates,
        "ca": {
            "name": ca.subject,
            "not_after": render::rfc3339(ca.not_after_ms),
            "days_left": days_left(ca.not_after_ms, now),
            "warning": ca_note,
        },
    });
    serde_json::to_writer_pretty(&mut *out, &value)?;
    writeln!(out)?;
    Ok(())
}

#[cfg(test)]
mod tests;
