//! `rblfleet ca`: the fleet's certificate authority.

use std::io::Write;
use std::path::PathBuf;

use crate::ca::{self, Subject};

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
    /// Issue a certificate signed by the CA in DIR: exactly one of
    /// --agent, --admin, --controller.
    ///
    /// Files: DIR/agents/HOST.{crt,key}, DIR/admins/NAME.{crt,key},
    /// DIR/controller.{crt,key}. Copy an agent's pair and ca.crt to its host.
    #[command(group = clap::ArgGroup::new("subject").required(true).args(["agent", "admin", "controller"]))]
    Issue {
        /// Directory of the CA (from `rblfleet ca init`).
        #[arg(long, env = "RBLFLEET_CA_DIR", value_name = "DIR")]
        dir: PathBuf,
        /// Agent certificate(s): the identity is the host id the agent reports as.
        #[arg(long, value_name = "HOST", num_args = 1..)]
        agent: Vec<String>,
        /// Admin certificate for the CLI, named after a person or tool.
        #[arg(long, value_name = "NAME")]
        admin: Option<String>,
        /// The controller's server certificate, for these DNS names and IPs
        /// (agents connect to one of them).
        #[arg(long, value_name = "NAME", num_args = 1.., value_delimiter = ',')]
        controller: Vec<String>,
        /// Validity in days.
        #[arg(long, default_value_t = 825)]
        days: i64,
        /// Replace an existing certificate and key of the same name.
        #[arg(long)]
        force: bool,
    },
}

pub fn run(command: Command, out: &mut dyn Write) -> anyhow::Result<()> {
    match command {
        Command::Init { dir, name, days } => {
            let issued = ca::init(&dir, &name, days)?;
            writeln!(out, "created CA {} and key {}", issued.cert.display(), issued.key.display())?;
            writeln!(out, "keep {} secret: it can issue certificates for any host", issued.key.display())?;
        }
        Command::Issue { dir, agent, admin, controller, days, force } => {
            let mut subjects: Vec<Subject> = agent.into_iter().map(|host_id| Subject::Agent { host_id }).collect();
            subjects.extend(admin.map(|name| Subject::Admin { name }));
            if !controller.is_empty() {
                subjects.push(Subject::Controller { names: controller });
            }
            for subject in &subjects {
                let issued = ca::issue(&dir, subject, days, force)?;
                writeln!(out, "issued {} and {}", issued.cert.display(), issued.key.display())?;
            }
        }
    }
    Ok(())
}
