//! `rblfleet cases`: delisting cases, filtered.

use std::io::Write;

use rblfleet_proto::v1::ListCasesRequest;

use super::render::{self, case_state, delist_route, short_time};
use super::{Connect, Format};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub connect: Connect,
    /// Only cases in these states (comma-separated): open, investigating,
    /// remediated, delist_requested, resolved, ignored. Default: all but
    /// resolved and ignored.
    #[arg(long, value_delimiter = ',', value_name = "STATE", value_parser = super::parse_state)]
    pub state: Vec<i32>,
    /// Every case, including resolved and ignored ones.
    #[arg(long, conflicts_with = "state")]
    pub all: bool,
    /// Only cases of IPs this host carries.
    #[arg(long)]
    pub host: Option<String>,
    /// Only cases of this list (catalog id, zone or receiver name).
    #[arg(long)]
    pub list: Option<String>,
    #[arg(long, value_enum, env = "RBLFLEET_FORMAT", default_value_t = Format::Table)]
    pub format: Format,
}

pub async fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<()> {
    let states = if args.all || !args.state.is_empty() {
        args.state
    } else {
        ["open", "investigating", "remediated", "delist_requested"]
            .iter()
            .filter_map(|s| super::parse_state(s).ok())
            .collect()
    };
    let request = ListCasesRequest { states, host: args.host.unwrap_or_default(), list: args.list.unwrap_or_default() };
    let cases = args.connect.client().await?.list_cases(request).await?;
    if args.format == Format::Json {
        let rows: Vec<_> = cases.iter().map(super::case::case_json).collect();
        serde_json::to_writer_pretty(&mut *out, &rows)?;
        writeln!(out)?;
        return Ok(());
    }
    if cases.is_empty() {
        writeln!(out, "No cases match.")?;
        return Ok(());
    }
    let mut table = render::table(&["CASE", "IP", "LIST", "STATE", "LISTED SINCE", "UPDATED", "REF", "DELISTING"]);
    for c in &cases {
        let state = format!("{}{}", case_state(c.state), if c.relisting { " (relisting)" } else { "" });
        table.add_row(vec![
            format!("#{}", c.id),
            c.ip.clone(),
            c.list.clone(),
            state,
            short_time(c.listed_since_ms),
            short_time(c.updated_ms),
            if c.r#ref.is_empty() { "-".into() } else { c.r#ref.clone() },
            delist_route(c.delist.as_ref()),
        ]);
    }
    writeln!(out, "{table}")?;
    Ok(())
}
