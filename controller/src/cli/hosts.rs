//! `rblfleet hosts`: every host that has reported.

use std::io::Write;
use std::time::{Duration, SystemTime};

use super::render::{self, short_age};
use super::{Connect, Format};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub connect: Connect,
    /// Output format.
    #[arg(long, value_enum, env = "RBLFLEET_FORMAT", default_value_t = Format::Table)]
    pub format: Format,
    /// Mark a host silent when its last report is older than this.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub silent_after: Duration,
}

pub async fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<()> {
    let hosts = args.connect.client().await?.list_hosts().await?;
    let now = SystemTime::now();
    match args.format {
        Format::Json => {
            let rows: Vec<_> = hosts.iter().map(|h| render::host_json(h, now, args.silent_after)).collect();
            serde_json::to_writer_pretty(&mut *out, &rows)?;
            writeln!(out)?;
        }
        Format::Table => {
            if hosts.is_empty() {
                writeln!(out, "No host has reported yet. Start an agent with `rblfleet-agent run --config FILE`.")?;
                return Ok(());
            }
            let mut table = render::table(&["HOST", "LAST REPORT", "AGENT", "MTA", "IPS"]);
            let mut silent = 0;
            for host in &hosts {
                let age = render::age_secs(host.last_report_ms, now);
                let last = match age {
                    Some(a) if a > args.silent_after.as_secs() => {
                        silent += 1;
                        format!("{} ago SILENT", short_age(a))
                    }
                    Some(a) => format!("{} ago", short_age(a)),
                    None => "never".into(),
                };
                table.add_row(vec![
                    host.host_id.clone(),
                    last,
                    host.agent_version.clone(),
                    render::mta_name(host.mta).to_string(),
                    render::ip_list(&host.ips),
                ]);
            }
            writeln!(out, "{table}")?;
            writeln!(
                out,
                "\n{} host{}, {} silent (no report for {})",
                hosts.len(),
                if hosts.len() == 1 { "" } else { "s" },
                silent,
                humantime::format_duration(args.silent_after)
            )?;
        }
    }
    Ok(())
}
