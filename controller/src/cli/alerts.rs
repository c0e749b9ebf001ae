//! `rblfleet alerts test`: one test alert through every configured route
//! (filters ignored), so an operator sees a new route work before the first
//! real listing. Works without a running controller: it reads the config.

use std::io::Write;
use std::path::PathBuf;

use crate::config::Config;
use crate::daemon::build_catalog;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Send a test alert through every `[[alerts.route]]` of the config, once each.
    ///
    /// Exit status: 0 every route accepted it, 1 some route failed.
    Test(TestArgs),
}

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Controller configuration (TOML) holding the `[alerts]` section.
    #[arg(long, short, env = "RBLFLEET_CONFIG", value_name = "FILE")]
    pub config: PathBuf,
    /// Only the route with this name.
    #[arg(long, value_name = "NAME")]
    pub route: Option<String>,
    /// Text added to the test alert (e.g. who is testing).
    #[arg(long, default_value = "If you can read this, the route works.")]
    pub note: String,
}

pub async fn run(command: Command, out: &mut dyn Write) -> anyhow::Result<()> {
    let Command::Test(args) = command;
    let mut config = Config::load(&args.config, false)?;
    if let Some(name) = &args.route {
        config.alerts.route.retain(|r| &r.name == name);
        anyhow::ensure!(
            !config.alerts.route.is_empty(),
            "{}: no [[alerts.route]] is named \"{name}\"",
            args.config.display()
        );
    }
    anyhow::ensure!(!config.alerts.route.is_empty(), "{}: no [[alerts.route]] is configured", args.config.display());
    let catalog = build_catalog(&config)?;
    let results = crate::alerts::send_test(&config.alerts, &catalog, &args.note).await?;
    let mut failed = 0;
    for ((name, result), route) in results.iter().zip(&config.alerts.route) {
        match result {
            Ok(()) => writeln!(out, "{name} ({}): delivered", route.kind.as_str())?,
            Err(error) => {
                failed += 1;
                writeln!(out, "{name} ({}): FAILED: {error}", route.kind.as_str())?;
            }
        }
    }
    anyhow::ensure!(failed == 0, "{failed} of {} routes failed", results.len());
    Ok(())
}
