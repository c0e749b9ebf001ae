//! `rblfleet check IP|DOMAIN...`: ad-hoc blocklist check, no controller needed.
//!
//! An IP is asked of the IP zones, a domain of the domain zones (DBL,
//! SURBL, URIBL) as its registrable domain: `www.shop.example.co.uk` is
//! checked as `example.co.uk`, the name those lists publish.
//!
//! Exit status: 0 when nothing is listed and every lookup answered, 2 when
//! something is listed, 3 when nothing is listed but some lookups failed (so
//! "clean" could not be confirmed), 1 on usage or setup errors.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};

use super::{Exit, Format, render};
use crate::catalog::{Catalog, CatalogConfig, Target, Zone, ZoneKind, ZoneOverride};
use crate::dnsbl::lookup::{
    Lookups, MAX_TIMEOUT, Outcome, ResolverSettings, Status, parse_nameserver, public_resolver_warnings,
};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// IPv4 or IPv6 addresses, or domain names (IDN in either form), to check.
    #[arg(required = true, value_name = "IP|DOMAIN", value_parser = parse_target)]
    pub ips: Vec<Target>,
    /// Zones to ask, by catalog id or zone name (comma-separated).
    /// Default: every zone the catalog enables.
    #[arg(long, value_delimiter = ',', value_name = "ZONES")]
    pub zones: Vec<String>,
    /// DNS server to ask instead of the system's resolver (repeatable, or
    /// comma-separated). Use a local recursive resolver: public ones are
    /// refused by several lists.
    #[arg(long = "nameserver", value_name = "HOST:PORT", env = "RBLFLEET_NAMESERVERS", value_delimiter = ',')]
    #[arg(value_parser = parse_nameserver)]
    pub nameservers: Vec<SocketAddr>,
    /// Key for a zone that needs one, as ID=KEY (e.g. spamhaus-zen-dqs=abc123).
    /// Keys are never printed.
    #[arg(long = "key", value_name = "ID=KEY", env = "RBLFLEET_ZONE_KEYS", value_delimiter = ' ')]
    pub keys: Vec<String>,
    /// A catalog file replacing the built-in one (same format as controller/dnsbl/zones.toml).
    #[arg(long, value_name = "FILE")]
    pub catalog: Option<PathBuf>,
    /// Time to wait for each DNS answer (at most 5m).
    #[arg(long, default_value = "3s", value_parser = parse_timeout)]
    pub timeout: Duration,
    /// Retries after a timeout (at most 10).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=10))]
    pub retries: u8,
    /// Lookups in flight at once (1 to 10000).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=10_000))]
    pub concurrency: u16,
    /// Output format.
    #[arg(long, value_enum, env = "RBLFLEET_FORMAT", default_value_t = Format::Table)]
    pub format: Format,
}

pub async fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut config = CatalogConfig { file: args.catalog.clone(), ..CatalogConfig::default() };
    for pair in &args.keys {
        let Some((id, key)) = pair.split_once('=') else {
            bail!("--key expects ID=KEY, got {:?}", pair.split('=').next().unwrap_or(""));
        };
        config.zone.insert(
            id.to_string(),
            ZoneOverride { key: Some(key.to_string()), enabled: Some(true), ..ZoneOverride::default() },
        );
    }
    let mut catalog = Catalog::embedded()?;
    catalog.apply(&config)?;
    let zones: Vec<_> = if args.zones.is_empty() {
        catalog.enabled()
    } else {
        args.zones.iter().map(|z| catalog.resolve(z)).collect::<Result<_, _>>()?
    };
    if zones.is_empty() {
        bail!("no zone to check: the catalog enables none and --zones named none");
    }

    let settings = ResolverSettings {
        nameservers: args.nameservers.clone(),
        timeout: args.timeout,
        retries: usize::from(args.retries),
    };
    let lookups = Lookups::new(&settings).context("cannot set up DNS lookups")?;
    for warning in public_resolver_warnings(lookups.nameservers(), &zones) {
        eprintln!("warning: {warning}");
    }
    let shared: Vec<Arc<_>> = zones.iter().map(|z| Arc::new((*z).clone())).collect();
    let explicit = !args.zones.is_empty();
    let pairs = args
        .ips
        .iter()
        .flat_map(|t| {
            // Zones named with --zones are all asked (a mismatch shows as
            // skipped, with why); by default an IP goes to the IP zones
            // and a domain to the domain zones.
            let kind_matches = |z: &&Arc<Zone>| explicit || (z.kind == ZoneKind::Domain) == t.is_domain();
            shared.iter().filter(kind_matches).map(move |z| (z.clone(), t.clone()))
        })
        .collect();
    let outcomes = lookups.check_all(pairs, usize::from(args.concurrency)).await;

    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &outcomes)?;
            writeln!(out)?;
        }
        Format::Table => write_table(&outcomes, out)?,
    }
    let any = |status| outcomes.iter().any(|o| o.status == status);
    if any(Status::Listed) {
        return Err(Exit(2).into());
    }
    if any(Status::Error) {
        return Err(Exit(3).into());
    }
    Ok(())
}

fn parse_target(text: &str) -> Result<Target, String> {
    Target::parse(text).map_err(|e| e.to_string())
}

/// A duration from more than 0 to [`MAX_TIMEOUT`].
fn parse_timeout(text: &str) -> Result<Duration, String> {
    let timeout = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if timeout.is_zero() || timeout > MAX_TIMEOUT {
        return Err(format!("must be more than 0 and at most {}", humantime::format_duration(MAX_TIMEOUT)));
    }
    Ok(timeout)
}

fn write_table(outcomes: &[Outcome], out: &mut dyn Write) -> anyhow::Result<()> {
    let mut table = render::table(&["IP / DOMAIN", "ZONE", "STATUS", "CODES", "MEANING / DETAIL"]);
    for o in outcomes {
        let detail = match o.status {
            Status::Listed => {
                let mut d = o.meanings.join("; ");
                if let Some(txt) = &o.txt {
                    d.push_str(&format!(" — {txt}"));
                }
                d
            }
            Status::Error => o.error.clone().unwrap_or_default(),
            Status::Skipped => o.reason.clone().unwrap_or_default(),
            Status::Clean => o.meanings.join("; "),
        };
        let status = if o.status == Status::Listed { "LISTED" } else { o.status.as_str() };
        table.add_row(vec![o.target.to_string(), o.zone.clone(), status.to_string(), o.codes.join(" "), detail]);
    }
    writeln!(out, "{table}")?;
    let count = |s| outcomes.iter().filter(|o| o.status == s).count();
    writeln!(
        out,
        "\n{} listed, {} clean, {} errors (not confirmed clean), {} skipped",
        count(Status::Listed),
        count(Status::Clean),
        count(Status::Error),
        count(Status::Skipped)
    )?;
    Ok(())
}
