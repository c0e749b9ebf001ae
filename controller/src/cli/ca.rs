//! `rblfleet ca`: the fleet's certificate authority.
//!
//! Agents are issued in bulk from a host list (`--agents-from`); every agent
//! also gets a bundle directory holding exactly the three files its host
//! needs, under the names `deploy/agent.example.toml` expects, so copying a
//! host is one `tar` or one Ansible `copy` of one directory.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::ca::{self, Subject};
use crate::identity::check_host_id;

mod renew;

/// Per-host bundles inside a CA directory: `bundles/HOST/{ca.crt,agent.crt,agent.key}`.
pub const BUNDLES: &str = "bundles";

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a new CA (ca.crt, ca.key) in DIR. Refuses to overwrite one.
    Init {
        /// Directory for the CA files (created, files written 0600).
        #[arg(long, env = "RBLFLEET_CA_DIR", value_name = "DIR")]
        dir: PathBuf,
        /// Common name of the CA certificate.
        #[arg(long, default_value = "rblfleet fleet CA")]
        name: String,
        /// Validity in days.
        #[arg(long, default_value_t = 3650)]
        days: i64,
    },
    /// Issue a certificate signed by the CA in DIR: agents (--agent,
    /// --agents-from), or one --admin, or the --controller.
    ///
    /// Files: DIR/agents/HOST.{crt,key}, DIR/admins/NAME.{crt,key},
    /// DIR/controller.{crt,key} (DIR/controllers/ID.{crt,key} with
    /// --controller-id). Every agent also gets DIR/bundles/HOST/
    /// with ca.crt, agent.crt and agent.key: copy that directory to the
    /// host's /etc/rblfleet, e.g.
    ///   tar -C DIR/bundles/HOST -cf - . | ssh HOST tar -C /etc/rblfleet -xf -
    #[command(verbatim_doc_comment)]
    #[command(group = clap::ArgGroup::new("subject").required(true).multiple(true)
        .args(["agent", "agents_from", "admin", "controller"]))]
    Issue {
        /// Directory of the CA (from `rblfleet ca init`).
        #[arg(long, env = "RBLFLEET_CA_DIR", value_name = "DIR")]
        dir: PathBuf,
        /// Agent certificate(s): the identity is the host id the agent reports as.
        #[arg(long, value_name = "HOST", num_args = 1.., conflicts_with_all = ["admin", "controller"])]
        agent: Vec<String>,
        /// A file of host ids, one per line; `#` starts a comment, blank lines
        /// are ignored. Invalid and duplicate ids are reported with their line
        /// numbers and nothing is issued.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["admin", "controller"])]
        agents_from: Option<PathBuf>,
        /// Admin certificate for the CLI, named after a person or tool.
        #[arg(long, value_name = "NAME", conflicts_with = "controller")]
        admin: Option<String>,
        /// The controller's server certificate, for these DNS names and IPs
        /// (agents connect to one of them).
        #[arg(long, value_name = "NAME", num_args = 1.., value_delimiter = ',')]
        controller: Vec<String>,
        /// With several controllers, each with its own certificate: write
        /// it to DIR/controllers/ID.{crt,key} instead of DIR/controller.*,
        /// so the next one does not replace it and `ca renew --controller`
        /// renews them all.
        #[arg(long, value_name = "ID")]
        controller_id: Option<String>,
        /// Validity in days.
        #[arg(long, default_value_t = 825)]
        days: i64,
        /// Replace an existing certificate and key of the same name.
        #[arg(long)]
        force: bool,
        /// Keep agents that already have a certificate and key (re-run a grown
        /// host list without --force).
        #[arg(long, conflicts_with = "force")]
        skip_existing: bool,
    },
    /// Re-issue the certificates that expire within --within, with new keys.
    ///
    /// Same names, same files and bundles as `issue` makes them. Reads
    /// DIR/agents/*.crt (and DIR/controller.crt with --controller), so it
    /// works on an offline CA host. Then copy each DIR/bundles/HOST to its
    /// host's /etc/rblfleet (the Ansible role's certificates tasks do).
    #[command(verbatim_doc_comment)]
    Renew(renew::Args),
    /// Create the key that signs containment actions (DIR/actions.key) and
    /// print its public key. The controller reads the key ([actions] key);
    /// every agent allowed to act gets the public key ([actions]
    /// controller_key), so only this controller's actions run there.
    ActionKey {
        /// Directory of the CA (from `rblfleet ca init`).
        #[arg(long, env = "RBLFLEET_CA_DIR", value_name = "DIR")]
        dir: PathBuf,
    },
}

pub fn run(command: Command, out: &mut dyn Write) -> anyhow::Result<()> {
    match command {
        Command::Renew(args) => renew::run(args, out)?,
        Command::ActionKey { dir } => {
            let (path, public) = ca::action_key(&dir)?;
            let hex: String = public.iter().map(|b| format!("{b:02x}")).collect();
            writeln!(out, "created action key {} (keep it secret: it makes agents act)", path.display())?;
            writeln!(out, "controller.toml:  [actions] key = \"{}\"", path.display())?;
            writeln!(out, "agent.toml:       [actions] controller_key = \"{hex}\"")?;
        }
        Command::Init { dir, name, days } => {
            let issued = ca::init(&dir, &name, days)?;
            writeln!(out, "created CA {} and key {}", issued.cert.display(), issued.key.display())?;
            writeln!(out, "keep {} secret: it can issue certificates for any host", issued.key.display())?;
        }
        Command::Issue { dir, agent, agents_from, admin, controller, controller_id, days, force, skip_existing } => {
            if controller_id.is_some() && controller.is_empty() {
                anyhow::bail!("--controller-id names a controller's files: give its names with --controller");
            }
            let mut list = HostList::default();
            for id in &agent {
                list.add(id, "--agent".to_string());
            }
            if let Some(file) = &agents_from {
                let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
                list.add_file(file, &text);
            }
            let hosts = list.finish()?;
            if let Some(name) = admin {
                issue_one(&dir, &Subject::Admin { name }, days, force, out)?;
            }
            if !controller.is_empty() {
                let issued = ca::issue_controller(&dir, &controller, controller_id.as_deref(), days, force)?;
                writeln!(out, "issued {} and {}", issued.cert.display(), issued.key.display())?;
            }
            issue_agents(&dir, &hosts, days, force, skip_existing, out)?;
        }
    }
    Ok(())
}

fn issue_one(dir: &Path, subject: &Subject, days: i64, force: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let issued = ca::issue(dir, subject, days, force)?;
    writeln!(out, "issued {} and {}", issued.cert.display(), issued.key.display())?;
    Ok(())
}

/// Issues every agent in `hosts` and writes its bundle. Without `--force`
/// an existing certificate stops the run before anything is issued (or is
/// kept, with `--skip-existing`), so a typo never half-issues a list.
fn issue_agents(
    dir: &Path,
    hosts: &[String],
    days: i64,
    force: bool,
    skip_existing: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    // Not Path::with_extension: host ids contain dots ("web01.example").
    let exists =
        |host: &str| ["crt", "key"].iter().any(|ext| dir.join("agents").join(format!("{host}.{ext}")).exists());
    let existing: Vec<&String> = hosts.iter().filter(|h| exists(h)).collect();
    if !force && !skip_existing && !existing.is_empty() {
        let names: Vec<&str> = existing.iter().take(10).map(|h| h.as_str()).collect();
        anyhow::bail!(
            "{} of {} agents already have a certificate in {} ({}{}); nothing issued. \
             Use --skip-existing to issue only the new ones, --force to replace them",
            existing.len(),
            hosts.len(),
            dir.join("agents").display(),
            names.join(", "),
            if existing.len() > names.len() { ", ..." } else { "" }
        );
    }
    let (mut issued, mut kept) = (0usize, 0usize);
    for host in hosts {
        if skip_existing && exists(host) {
            kept += 1;
        } else {
            let certs = ca::issue(dir, &Subject::Agent { host_id: host.clone() }, days, force)?;
            writeln!(out, "issued {} and {}", certs.cert.display(), certs.key.display())?;
            issued += 1;
        }
        write_bundle(dir, host)?;
    }
    if hosts.len() > 1 || kept > 0 {
        writeln!(out, "{issued} agents issued, {kept} kept; bundles in {}", dir.join(BUNDLES).display())?;
    }
    Ok(())
}

/// Copies ca.crt and the agent's pair into `DIR/bundles/HOST/` as
/// `ca.crt`, `agent.crt`, `agent.key` (0600, like their sources).
fn write_bundle(dir: &Path, host: &str) -> anyhow::Result<()> {
    let bundle = dir.join(BUNDLES).join(host);
    std::fs::create_dir_all(&bundle).with_context(|| format!("creating {}", bundle.display()))?;
    let agent = dir.join("agents");
    for (from, to) in [
        (dir.join(ca::CA_CERT), "ca.crt"),
        (agent.join(format!("{host}.crt")), "agent.crt"),
        (agent.join(format!("{host}.key")), "agent.key"),
    ] {
        let target = bundle.join(to);
        // Copy into a fresh file: a stale bundle file may have looser permissions.
        let _ = std::fs::remove_file(&target);
        std::fs::copy(&from, &target).with_context(|| format!("copying {} to {}", from.display(), target.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("making {} private", target.display()))?;
        }
    }
    Ok(())
}

/// Collects agent host ids from the command line and a host list, checking
/// them all before anything is issued, so one typo never half-issues a list.
#[derive(Debug, Default)]
pub struct HostList {
    hosts: Vec<String>,
    /// Where each id was first seen: "--agent" or "FILE:LINE".
    seen: HashMap<String, String>,
    problems: Vec<String>,
}

impl HostList {
    /// Adds `id`, found at `place` ("--agent", "hosts.txt:7").
    pub fn add(&mut self, id: &str, place: String) {
        if let Err(reason) = check_host_id(id) {
            self.problems.push(format!("{place}: invalid host id {id:?}: {reason}"));
        } else if let Some(first) = self.seen.get(id) {
            self.problems.push(format!("{place}: duplicate host id {id:?} (first at {first})"));
        } else {
            self.seen.insert(id.to_string(), place);
            self.hosts.push(id.to_string());
        }
    }

    /// Adds every line of a host list: one id per line, `#` starts a
    /// comment, blank lines are ignored.
    pub fn add_file(&mut self, file: &Path, text: &str) {
        let before = self.hosts.len() + self.problems.len();
        for (index, line) in text.lines().enumerate() {
            let id = line.split('#').next().unwrap_or("").trim();
            if !id.is_empty() {
                self.add(id, format!("{}:{}", file.display(), index + 1));
            }
        }
        if self.hosts.len() + self.problems.len() == before {
            self.problems.push(format!("{}: no host ids (only comments or blank lines)", file.display()));
        }
    }

    /// The ids in order of appearance, or every problem found.
    pub fn finish(self) -> anyhow::Result<Vec<String>> {
        match self.problems.len() {
            0 => Ok(self.hosts),
            1 => anyhow::bail!("{}; nothing issued", self.problems[0]),
            n => anyhow::bail!("{n} bad host ids, nothing issued:\n  {}", self.problems.join("\n  ")),
        }
    }
}

#[cfg(test)]
mod tests;
