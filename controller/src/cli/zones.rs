//! `rblfleet zones`: the blocklist catalog with each zone's health and budget use.

use std::io::Write;

use rblfleet_proto::v1::ZoneHealth;
use serde_json::json;

use super::render::{self, rfc3339};
use super::{Connect, Format};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub connect: Connect,
    /// Include zones that are disabled (not queried).
    #[arg(long)]
    pub all: bool,
    /// Output format.
    #[arg(long, value_enum, env = "RBLFLEET_FORMAT", default_value_t = Format::Table)]
    pub format: Format,
}

pub async fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<()> {
    let response = args.connect.client().await?.list_zones().await?;
    let zones: Vec<_> = response.zones.iter().filter(|z| args.all || z.enabled).collect();
    if args.format == Format::Json {
        let rows: Vec<_> = zones
            .iter()
            .map(|z| {
                let delist = z.delist.clone().unwrap_or_default();
                json!({
                    "id": z.zone_id, "zone": z.zone, "name": z.name, "kind": kind(z), "enabled": z.enabled, "state": z.state,
                    "reason": render::non_empty(&z.reason), "since": rfc3339(z.since_ms), "retry_at": rfc3339(z.retry_at_ms),
                    "ipv4": z.ipv4, "ipv6": z.ipv6,
                    "budget": {"per_second": z.per_second, "per_day": (z.per_day > 0).then_some(z.per_day), "used_today": z.used_today},
                    "queries_total": z.queries_total, "errors_total": z.errors_total,
                    "last_error": render::non_empty(&z.last_error), "last_error_at": rfc3339(z.last_error_ms),
                    "not_covered_ips": z.not_covered,
                    "delist": {"kind": delist.kind, "url": render::non_empty(&delist.url), "expiry_secs": (delist.expiry_secs > 0).then_some(delist.expiry_secs)},
                })
            })
            .collect();
        serde_json::to_writer_pretty(
            &mut *out,
            &json!({"nameservers": response.nameservers, "warnings": response.warnings, "zones": rows}),
        )?;
        writeln!(out)?;
        return Ok(());
    }
    for warning in &response.warnings {
        writeln!(out, "warning: {warning}")?;
    }
    let mut table = render::table(&["ZONE", "KIND", "STATE", "BUDGET TODAY", "QUERIES", "ERRORS", "DETAIL"]);
    for z in &zones {
        let budget =
            if z.per_day > 0 { format!("{}/{}", z.used_today, z.per_day) } else { format!("{}", z.used_today) };
        let detail = if !z.reason.is_empty() { z.reason.clone() } else { z.last_error.clone() };
        table.add_row(vec![
            z.zone.clone(),
            kind(z).to_string(),
            z.state.clone(),
            budget,
            z.queries_total.to_string(),
            z.errors_total.to_string(),
            detail,
        ]);
    }
    writeln!(out, "{table}")?;
    let out_of_service = zones.iter().filter(|z| z.state == "out_of_service").count();
    writeln!(
        out,
        "\n{} zones, {} out of service; resolvers: {}",
        zones.len(),
        out_of_service,
        if response.nameservers.is_empty() { "system".to_string() } else { response.nameservers.join(", ") }
    )?;
    Ok(())
}

/// What the zone lists ("ip", "mixed", "allow", "domain"). A controller
/// from before the field existed sends none: there, the catalog refuses a
/// non-domain zone that covers neither address family and a domain zone
/// that covers one, so "no family" is exactly "domain".
fn kind(zone: &ZoneHealth) -> &str {
    if !zone.kind.is_empty() {
        zone.kind.as_str()
    } else if zone.ipv4 || zone.ipv6 {
        "ip"
    } else {
        "domain"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_zones_show_their_kind() {
        let zone = |ipv4, ipv6| ZoneHealth { ipv4, ipv6, ..ZoneHealth::default() };
        assert_eq!(
            [kind(&zone(false, false)), kind(&zone(true, false)), kind(&zone(false, true))],
            ["domain", "ip", "ip"]
        );
        let mixed = ZoneHealth { ipv4: true, kind: "mixed".into(), ..ZoneHealth::default() };
        assert_eq!(kind(&mixed), "mixed");
    }
}
