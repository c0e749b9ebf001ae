//! The demo's parts: blocklists, certificates, configurations, logs.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::ca::{self, Subject};
use crate::catalog::{Catalog, ZoneOverride};
use crate::config::Config;
use crate::dnsbl::zone_server::ZoneServer;

/// The domains each demo host serves, as its agent reports them (from a
/// static list: a static list names no owning subscription).
pub const DOMAINS: [(&str, &[&str]); 3] = [
    ("demo-web01.example", &["shop.example", "bakery.example", "hotel.example"]),
    ("demo-web02.example", &["club.example", "lawyer.example"]),
    ("demo-web03.example", &["agency.example"]),
];

/// The demo lists, with the listings the bundled logs complain about: two
/// IP lists, and the Spamhaus DBL listing the site whose PHP mailer spams.
pub async fn blocklists() -> anyhow::Result<ZoneServer> {
    let dns = ZoneServer::start(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    dns.add_zone("zen.spamhaus.org")?;
    dns.add_zone("b.barracudacentral.org")?;
    dns.add_zone("dbl.spamhaus.org")?;
    dns.set_wildcard("dbl.spamhaus.org", true)?;
    // The DBL's documented test name, for its health probe.
    dns.list_name("dbl.spamhaus.org", "dbltest.com", &[Ipv4Addr::new(127, 0, 1, 2)], None)?;
    dns.list_name(
        "dbl.spamhaus.org",
        "club.example",
        &[Ipv4Addr::new(127, 0, 1, 102)],
        Some("https://check.spamhaus.org/results/?query=club.example"),
    )?;
    let ip = |s: &str| s.parse::<IpAddr>();
    dns.list(
        "zen.spamhaus.org",
        ip("203.0.113.11")?,
        &[Ipv4Addr::new(127, 0, 0, 3)],
        Some("Listed by CSS, see https://check.spamhaus.org/query/ip/203.0.113.11"),
    )?;
    dns.list(
        "b.barracudacentral.org",
        ip("203.0.113.12")?,
        &[Ipv4Addr::new(127, 0, 0, 2)],
        Some("http://www.barracudanetworks.com/reputation/?pr=1&ip=203.0.113.12"),
    )?;
    Ok(dns)
}

/// A controller on loopback ports with mutual TLS, checking only the demo's
/// two lists through the in-process DNS server.
pub fn controller_config<'a>(
    dir: &Path,
    dns: &ZoneServer,
    hosts: impl Iterator<Item = &'a str>,
) -> anyhow::Result<Config> {
    let ca_dir = dir.join("ca");
    ca::init(&ca_dir, "rblfleet demo CA", 1)?;
    ca::issue(&ca_dir, &Subject::Controller { names: vec!["localhost".into(), "127.0.0.1".into()] }, 1, false)?;
    for host_id in hosts {
        ca::issue(&ca_dir, &Subject::Agent { host_id: host_id.into() }, 1, false)?;
    }
    let mut config = Config { data_dir: dir.join("data"), ..Config::default() };
    config.agent_api.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.admin_api.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.metrics.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.tls.ca = ca_dir.join(ca::CA_CERT);
    config.tls.cert = ca_dir.join("controller.crt");
    config.tls.key = ca_dir.join("controller.key");
    config.dnsbl.nameservers = vec![dns.addr().to_string()];
    config.dnsbl.timeout = Duration::from_secs(1);
    for zone in Catalog::embedded()?.zones() {
        let enabled = matches!(zone.id.as_str(), "spamhaus-zen" | "barracuda-brbl" | "spamhaus-dbl");
        config
            .dnsbl
            .catalog
            .zone
            .insert(zone.id.clone(), ZoneOverride { enabled: Some(enabled), ..Default::default() });
    }
    config.check(false).map_err(anyhow::Error::msg)?;
    Ok(config)
}

/// An agent following `log` from its start, reporting `ip` as its sending
/// address and its `DOMAINS` from a static list (never this machine's own
/// Plesk or vhosts).
pub fn agent_toml(dir: &Path, host_id: &str, ip: &str, log: &Path, controller: SocketAddr) -> String {
    let domains = DOMAINS.iter().find(|(h, _)| *h == host_id).map_or(&[][..], |(_, d)| *d);
    let names: Vec<String> = domains.iter().map(|name| format!("{name:?}")).collect();
    let ca_dir = dir.join("ca");
    // TOML basic strings: escape backslashes so Windows paths survive.
    let path = |p: &Path| p.display().to_string().replace('\\', "\\\\");
    format!(
        r#"
host_id = "{host_id}"
[controller]
url = "https://{controller}"
ca = "{ca}"
cert = "{cert}"
key = "{key}"
[outbox]
dir = "{outbox}"
[ips]
static = ["{ip}"]
sending = ["{ip}"]
[logs]
paths = ["{log}"]
read_existing = true
journald = "never"
[queue]
mta = "none"
[domains]
sources = ["static"]
static = [{names}]
"#,
        names = names.join(", "),
        ca = path(&ca_dir.join(ca::CA_CERT)),
        cert = path(&ca_dir.join(format!("agents/{host_id}.crt"))),
        key = path(&ca_dir.join(format!("agents/{host_id}.key"))),
        outbox = path(&dir.join(format!("outbox-{host_id}"))),
        log = path(log),
    )
}

/// The bundled logs start at 2026-01-01T00:00:00Z and span about two hours:
/// move them so they end now.
pub fn shift_timestamps(log: &str) -> String {
    const BASE_DAY: &str = "2026-01-01T";
    let span = log.lines().filter_map(offset_secs).fold(0.0_f64, f64::max);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    let start = now - span - 60.0;
    let mut out = String::with_capacity(log.len());
    for line in log.lines() {
        match (offset_secs(line), line.find(' ')) {
            (Some(offset), Some(space)) if line.starts_with(BASE_DAY) => {
                let at = UNIX_EPOCH + Duration::from_secs_f64(start + offset);
                out.push_str(&humantime::format_rfc3339_millis(at).to_string());
                out.push_str(&line[space..]);
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Seconds since 2026-01-01T00:00:00 of a line's "2026-01-01THH:MM:SS.mmm" stamp.
fn offset_secs(line: &str) -> Option<f64> {
    let time = line.strip_prefix("2026-01-01T")?.get(..12)?;
    let (h, rest) = time.split_once(':')?;
    let (m, s) = rest.split_once(':')?;
    Some(h.parse::<f64>().ok()? * 3600.0 + m.parse::<f64>().ok()? * 60.0 + s.parse::<f64>().ok()?)
}
