//! Harness for rblfleet's end-to-end tests: a real CA on disk, a real
//! controller (gRPC over mTLS on a loopback port, sled in a temporary
//! directory) and real agents, all in the test process.

#![allow(clippy::unwrap_used)]

pub mod generate;
pub mod hostile_dns;
pub mod http_sink;
pub mod procs;
pub mod raw_grpc;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use rblfleet_controller::ca::{self, Subject};
use rblfleet_controller::config::Config;
use rblfleet_controller::daemon::{build_catalog, build_engine};
use rblfleet_controller::dnsbl::engine::Engine;
use rblfleet_controller::dnsbl::zone_server::ZoneServer;
use rblfleet_controller::server::{self, Running};
use rblfleet_controller::store::Store;
use rblfleet_proto::v1::agent_service_client::AgentServiceClient;
use rblfleet_proto::v1::{AgentInfo, HostIp, HostReport, MtaKind};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// A CA directory with a controller certificate for `localhost`/127.0.0.1.
#[derive(Debug)]
pub struct Pki {
    pub dir: PathBuf,
}

impl Pki {
    pub fn new(dir: &Path) -> Pki {
        ca::init(dir, "test CA", 30).unwrap();
        ca::issue(dir, &Subject::Controller { names: vec!["localhost".into(), "127.0.0.1".into()] }, 30, false)
            .unwrap();
        Pki { dir: dir.to_path_buf() }
    }

    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// Issues (once) and returns the agent certificate and key of `host`.
    pub fn agent(&self, host: &str) -> (PathBuf, PathBuf) {
        self.leaf(Subject::Agent { host_id: host.into() }, &format!("agents/{host}"))
    }

    pub fn admin(&self, name: &str) -> (PathBuf, PathBuf) {
        self.leaf(Subject::Admin { name: name.into() }, &format!("admins/{name}"))
    }

    fn leaf(&self, subject: Subject, stem: &str) -> (PathBuf, PathBuf) {
        let cert = self.dir.join(format!("{stem}.crt"));
        if !cert.exists() {
            ca::issue(&self.dir, &subject, 30, false).unwrap();
        }
        (cert, self.dir.join(format!("{stem}.key")))
    }
}

/// A controller serving on loopback. Its blocklist engine (when enabled)
/// does not run on its own: tests call `engine.pass()` to control timing.
#[derive(Debug)]
pub struct Controller {
    pub config: Config,
    pub running: Running,
    pub engine: Option<Engine>,
    /// The store the servers use (for tasks a test starts beside them, such as alerts).
    pub store: Store,
}

impl Controller {
    /// Starts on 127.0.0.1 (port 0 picks a free port) with the store in `data_dir`.
    pub async fn start(pki: &Pki, data_dir: &Path, agent_port: u16, require_admin_cert: bool) -> Controller {
        Controller::start_with(controller_config(pki, data_dir, agent_port, require_admin_cert)).await
    }

    pub async fn start_with(config: Config) -> Controller {
        let store = Store::open(&config.data_dir, &config.store.options()).unwrap();
        let catalog = build_catalog(&config).unwrap();
        let engine = config.dnsbl.enabled.then(|| build_engine(&config, store.clone(), catalog.clone()).unwrap());
        let running = server::start(&config, store.clone(), engine.clone(), catalog, false).await.unwrap();
        Controller { config, running, engine, store }
    }

    /// The blocklist engine (the config must enable it).
    pub fn engine(&self) -> &Engine {
        self.engine.as_ref().expect("dnsbl is enabled in this test's config")
    }

    /// Stops the servers and releases the store (its directory can be reopened).
    pub async fn stop(self) {
        self.running.shutdown().await.unwrap();
    }

    pub fn agent_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.running.agent_addr.port())
    }

    pub fn admin_url(&self) -> String {
        let scheme = if self.config.admin_api.require_cert { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.running.admin_addr.port())
    }

    /// Runs an `rblfleet` client command against this controller and returns stdout.
    pub async fn cli(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut argv = vec!["rblfleet".to_string()];
        argv.extend(args.iter().map(|a| a.to_string()));
        argv.extend(["--controller".to_string(), self.admin_url()]);
        let mut out = Vec::new();
        rblfleet_controller::cli::run_args(argv, &mut out).await?;
        Ok(String::from_utf8(out)?)
    }
}

/// A controller configuration on loopback ports with blocklist checks off.
pub fn controller_config(pki: &Pki, data_dir: &Path, agent_port: u16, require_admin_cert: bool) -> Config {
    let mut config = Config { data_dir: data_dir.to_path_buf(), ..Config::default() };
    config.agent_api.listen = SocketAddr::from(([127, 0, 0, 1], agent_port));
    config.admin_api.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.admin_api.require_cert = require_admin_cert;
    config.tls.ca = pki.ca_cert();
    config.tls.cert = pki.dir.join("controller.crt");
    config.tls.key = pki.dir.join("controller.key");
    config.dnsbl.enabled = false;
    config.check(false).unwrap();
    config
}

/// The test blocklist catalog (zones bl.test, v4only.test, servfail.test,
/// silent.test, everything.test, budget.test; dead zone dead.test).
/// Runs `rblfleet check --format=json --timeout=300ms --retries=0` in-process
/// against the zone server at `dns` with `catalog`; returns the JSON rows and
/// the exit status (0, or the `Exit` code: 2 listed, 3 unsure).
pub async fn check_json(dns: SocketAddr, catalog: &Path, args: &[&str]) -> (Vec<serde_json::Value>, u8) {
    use rblfleet_controller::cli::{Exit, run_args};
    let mut argv: Vec<String> = ["rblfleet", "check", "--format=json", "--timeout=300ms", "--retries=0"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    argv.push(format!("--nameserver={dns}"));
    argv.push(format!("--catalog={}", catalog.display()));
    argv.extend(args.iter().map(|a| a.to_string()));
    let mut out = Vec::new();
    let code = match run_args(argv, &mut out).await {
        Ok(()) => 0,
        Err(e) => e.downcast_ref::<Exit>().map(|e| e.0).unwrap_or_else(|| panic!("check failed: {e:#}")),
    };
    (serde_json::from_slice(&out).unwrap_or_else(|e| panic!("check printed no JSON rows: {e}")), code)
}

pub fn test_catalog() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/test-zones.toml")
}

/// A zone server on 127.0.0.1 serving every zone of the test catalog, with
/// the behaviours their names promise.
pub async fn test_zone_server() -> ZoneServer {
    use rblfleet_controller::dnsbl::zone_server::Behaviour;
    let server = ZoneServer::start(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    for zone in ["bl.test", "v4only.test", "servfail.test", "silent.test", "everything.test", "budget.test"] {
        server.add_zone(zone).unwrap();
    }
    // Domain lists answer their RFC 5782 probe names; dbl.test is
    // wildcarded like Spamhaus DBL (a listed domain's host names are listed).
    let test_code = [std::net::Ipv4Addr::new(127, 0, 1, 2)];
    for zone in ["dbl.test", "uribl.test", "dombudget.test"] {
        server.add_zone(zone).unwrap();
        let code = if zone == "uribl.test" { [std::net::Ipv4Addr::new(127, 0, 0, 2)] } else { test_code };
        server.list_name(zone, "test", &code, None).unwrap();
    }
    server.set_wildcard("dbl.test", true).unwrap();
    server.set_behaviour("servfail.test", Behaviour::ServFail).unwrap();
    server.set_behaviour("silent.test", Behaviour::Silent).unwrap();
    server.set_behaviour("everything.test", Behaviour::ListsEverything(std::net::Ipv4Addr::new(127, 0, 0, 2))).unwrap();
    server
}

/// Turns blocklist checks on, against `dns` with the test catalog.
pub fn enable_dnsbl(config: &mut Config, dns: &ZoneServer) {
    config.dnsbl.enabled = true;
    config.dnsbl.nameservers = vec![dns.addr().to_string()];
    config.dnsbl.timeout = std::time::Duration::from_millis(300);
    config.dnsbl.retries = 0;
    config.dnsbl.catalog.file = Some(test_catalog());
}

/// A PKI, a test zone server and a controller checking only the test zones
/// `keep` through it; `tweak` adjusts the config before the start.
pub async fn dnsbl_controller(
    dir: &Path,
    keep: &[&str],
    tweak: impl FnOnce(&mut Config),
) -> (Pki, ZoneServer, Controller) {
    let pki = Pki::new(&dir.join("ca"));
    let dns = test_zone_server().await;
    let mut config = controller_config(&pki, &dir.join("data"), 0, false);
    enable_dnsbl(&mut config, &dns);
    only_zones(&mut config, keep);
    tweak(&mut config);
    let controller = Controller::start_with(config).await;
    (pki, dns, controller)
}

/// Disables every zone of the test catalog except `keep` (by id).
pub fn only_zones(config: &mut Config, keep: &[&str]) {
    use rblfleet_controller::catalog::ZoneOverride;
    for zone in ["bl", "v4only", "servfail", "silent", "everything", "budget", "dbl", "uribl", "dombudget"] {
        let enabled = keep.contains(&zone);
        config.dnsbl.catalog.zone.insert(zone.into(), ZoneOverride { enabled: Some(enabled), ..Default::default() });
    }
}

/// An agent configuration (TOML) for `host` reporting to `url`.
pub fn agent_toml(pki: &Pki, host: &str, url: &str, outbox: &Path) -> String {
    let (cert, key) = pki.agent(host);
    format!(
        r#"
host_id = "{host}"
[controller]
url = "{url}"
ca = "{ca}"
cert = "{cert}"
key = "{key}"
timeout = "5s"
[report]
interval = "1s"
[outbox]
dir = "{outbox}"
max_reports = 1000
[retry]
initial = "50ms"
max = "200ms"
[ips]
static = ["203.0.113.10", "2001:db8::10"]
"#,
        ca = pki.ca_cert().display(),
        cert = cert.display(),
        key = key.display(),
        outbox = outbox.display(),
    )
}

/// A raw gRPC client for the agent API with an arbitrary (or no) certificate.
pub async fn raw_agent_client(
    url: &str,
    ca: &Path,
    identity: Option<(&Path, &Path)>,
) -> Result<AgentServiceClient<Channel>, tonic::transport::Error> {
    Ok(AgentServiceClient::new(agent_channel(url, ca, identity).await?))
}

/// A TLS channel to the agent API with an arbitrary (or no) certificate.
pub async fn agent_channel(
    url: &str,
    ca: &Path,
    identity: Option<(&Path, &Path)>,
) -> Result<Channel, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(std::fs::read(ca).unwrap()))
        .domain_name("localhost");
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(std::fs::read(cert).unwrap(), std::fs::read(key).unwrap()));
    }
    Endpoint::from_shared(url.to_string())?.tls_config(tls)?.connect().await
}

/// A well-formed report for `host`, as an agent would send it.
pub fn valid_report(host: &str, epoch: u64, seq: u64) -> HostReport {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    HostReport {
        host_id: host.into(),
        epoch,
        seq,
        period_start_ms: now - 60_000,
        period_end_ms: now,
        agent: Some(AgentInfo {
            version: "0.1.0".into(),
            os: "linux".into(),
            mta: MtaKind::Postfix as i32,
            plesk_version: "18.0.61".into(),
            hostname: host.into(),
        }),
        ips: vec![HostIp {
            address: "203.0.113.20".into(),
            interface: "eth0".into(),
            public: true,
            sends_mail: true,
            nat_public_address: String::new(),
        }],
        ..HostReport::default()
    }
}

/// The source a hijacked mailbox shows between `start_ms` and `end_ms`: 300
/// messages to 250 domains from 40 client IPs, most refused, many by
/// blocklists. Correlation names it as the suspect.
pub fn hijacked_mailbox(start_ms: i64, end_ms: i64) -> rblfleet_proto::v1::SourceStats {
    use rblfleet_proto::v1::{SourceKind, SourceStats};
    SourceStats {
        kind: SourceKind::SaslUser as i32,
        id: "info@shop.example".into(),
        subscription: "shop.example".into(),
        messages: 300,
        recipients: 300,
        recipient_domains: 250,
        sent: 40,
        bounced: 60,
        blocklisted: 55,
        client_ips: 40,
        first_seen_ms: start_ms,
        last_seen_ms: end_ms,
        ..SourceStats::default()
    }
}

/// A real agent (in process) reading `maillog` from its first line and
/// sending from `ip` only (the machine's own addresses are reported but
/// send nothing), reporting every second to `url`; `extra` is appended to
/// its configuration (more sections).
pub async fn log_agent(
    pki: &Pki,
    host: &str,
    ip: &str,
    url: &str,
    dir: &Path,
    maillog: &Path,
    extra: &str,
) -> rblfleet_agent::Agent {
    let (cert, key) = pki.agent(host);
    let toml = format!(
        "host_id = {host:?}\n\
         [controller]\nurl = {url:?}\nca = {ca:?}\ncert = {cert:?}\nkey = {key:?}\ntimeout = \"5s\"\n\
         [report]\ninterval = \"1s\"\n\
         [outbox]\ndir = {outbox:?}\n\
         [retry]\ninitial = \"50ms\"\nmax = \"200ms\"\n\
         [ips]\nstatic = [{ip:?}]\nsending = [{ip:?}]\n\
         [logs]\npaths = [{maillog:?}]\njournald = \"never\"\nread_existing = true\n\
         [queue]\nmta = \"none\"\n{extra}",
        ca = pki.ca_cert().display().to_string(),
        cert = cert.display().to_string(),
        key = key.display().to_string(),
        outbox = dir.join(host).display().to_string(),
        maillog = maillog.display().to_string(),
    );
    let config = rblfleet_agent::Config::from_toml_str(&toml).unwrap();
    rblfleet_agent::Agent::open(config, rblfleet_agent::RunOptions::default()).await.unwrap()
}

/// The configuration of an agent process given several controller URLs
/// (failover): it reads `DIR/mail.log` from its first line, sends from `ip`,
/// keeps its outbox in `DIR/outbox` and reports every 300 ms.
pub fn failover_agent_toml(pki: &Pki, host: &str, ip: &str, urls: &[String], dir: &Path) -> String {
    let (cert, key) = pki.agent(host);
    format!(
        "host_id = {host:?}\n\
         [controller]\nurls = {urls:?}\nca = {ca:?}\ncert = {cert:?}\nkey = {key:?}\ntimeout = \"5s\"\n\
         [report]\ninterval = \"300ms\"\n\
         [outbox]\ndir = {outbox:?}\n\
         [retry]\ninitial = \"50ms\"\nmax = \"200ms\"\n\
         [ips]\nstatic = [{ip:?}]\nsending = [{ip:?}]\n\
         [logs]\npaths = [{log:?}]\njournald = \"never\"\nread_existing = true\n\
         [queue]\nmta = \"none\"\n",
        ca = pki.ca_cert().display().to_string(),
        cert = cert.display().to_string(),
        key = key.display().to_string(),
        outbox = dir.join("outbox").display().to_string(),
        log = dir.join("mail.log").display().to_string(),
    )
}
