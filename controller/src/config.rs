//! The controller's configuration file (TOML).
//!
//! Every key has a default except the TLS files; `deploy/controller.example.toml`
//! documents each one. Unknown keys are errors: a typo must not silently fall
//! back to a default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::ingest::Limits;

mod check;
mod store;

pub use store::{Controllers, PASSWORD_ENV, StoreBackend};

use crate::text::file::{toml_error_text, utf8_text};

/// Why a configuration cannot be used. Every variant names the file; parse
/// and validation errors also name the key (and the line, for parse errors).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {cause}")]
    Read { path: PathBuf, cause: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    /// The `[dnsbl.catalog]` section does not apply to the catalog (unknown
    /// zone id, bad key, unreadable replacement file…).
    #[error("{path}: dnsbl.catalog: {cause}")]
    Catalog { path: PathBuf, cause: crate::catalog::CatalogError },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the store lives.
    pub data_dir: PathBuf,
    pub agent_api: AgentApi,
    pub admin_api: AdminApi,
    pub tls: Tls,
    pub limits: LimitsConfig,
    pub store: StoreConfig,
    pub dnsbl: DnsblConfig,
    pub receivers: ReceiversConfig,
    pub retention: RetentionConfig,
    pub metrics: crate::metrics::MetricsConfig,
    pub alerts: crate::alerts::AlertsConfig,
    /// Containment on approval (issue 16); off without a key.
    pub actions: crate::contain::ActionsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("/var/lib/rblfleet"),
            agent_api: AgentApi::default(),
            admin_api: AdminApi::default(),
            tls: Tls::default(),
            limits: LimitsConfig::default(),
            store: StoreConfig::default(),
            dnsbl: DnsblConfig::default(),
            receivers: ReceiversConfig::default(),
            retention: RetentionConfig::default(),
            metrics: crate::metrics::MetricsConfig::default(),
            alerts: crate::alerts::AlertsConfig::default(),
            actions: crate::contain::ActionsConfig::default(),
        }
    }
}

/// The listener agents report to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentApi {
    pub listen: SocketAddr,
}

impl Default for AgentApi {
    fn default() -> Self {
        AgentApi { listen: SocketAddr::from(([0, 0, 0, 0], 7443)) }
    }
}

/// The listener the CLI talks to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminApi {
    pub listen: SocketAddr,
    /// Serve the admin API over mTLS and require an admin certificate.
    /// Forced on for any address other than loopback.
    pub require_cert: bool,
}

impl Default for AdminApi {
    fn default() -> Self {
        AdminApi { listen: SocketAddr::from(([127, 0, 0, 1], 7444)), require_cert: false }
    }
}

/// The controller's certificate and the CA agents' certificates must chain to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// How often the three files are checked for a renewal (SIGHUP checks at
    /// once). A few stat calls: cheap, but no need to do it more than every
    /// few seconds.
    #[serde(with = "humantime_serde")]
    pub reload_interval: Duration,
}

impl Default for Tls {
    fn default() -> Self {
        Tls { ca: PathBuf::new(), cert: PathBuf::new(), key: PathBuf::new(), reload_interval: Duration::from_secs(5) }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest encoded report accepted, bytes.
    pub max_report_bytes: usize,
    #[serde(with = "humantime_serde")]
    pub max_clock_skew: Duration,
    #[serde(with = "humantime_serde")]
    pub max_report_age: Duration,
    /// The retry hint sent with a report refused because the controller is
    /// over capacity; agents add jitter.
    #[serde(with = "humantime_serde")]
    pub overload_retry_after: Duration,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let limits = Limits::default();
        LimitsConfig {
            max_report_bytes: 1024 * 1024,
            max_clock_skew: limits.max_clock_skew,
            max_report_age: limits.max_report_age,
            overload_retry_after: Duration::from_secs(2),
        }
    }
}

impl LimitsConfig {
    pub fn ingest(&self) -> Limits {
        Limits { max_clock_skew: self.max_clock_skew, max_report_age: self.max_report_age }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sled` (embedded, in `data_dir`) or `postgres` (see `config::store`).
    pub backend: StoreBackend,
    /// PostgreSQL connection string, without the password.
    pub url: Option<String>,
    /// `single` (default): this controller is the only one on its
    /// database. `several` (PostgreSQL only): controllers share it, each
    /// serves agents and the CLI, and the database elects one per piece of
    /// singleton work (see `config::store::Controllers`).
    pub controllers: Controllers,
    /// PostgreSQL connections kept open.
    pub pool_size: usize,
    /// File holding the PostgreSQL password (else `RBLFLEET_PG_PASSWORD`).
    pub password_file: Option<PathBuf>,
    /// sled page cache, MiB.
    pub cache_mib: u64,
    /// Free space kept on the data directory's filesystem, MiB: below it
    /// reports are refused (RESOURCE_EXHAUSTED) until space returns. 0: off.
    pub min_free_mib: u64,
    /// Reports that may wait for the store's writer. Past this the agent API
    /// answers RESOURCE_EXHAUSTED with a retry hint, and agents back off.
    pub max_pending_reports: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            backend: StoreBackend::Sled,
            url: None,
            controllers: Controllers::Single,
            pool_size: 8,
            password_file: None,
            cache_mib: 64,
            min_free_mib: crate::store::DEFAULT_MIN_FREE_BYTES >> 20,
            max_pending_reports: 512,
        }
    }
}

impl StoreConfig {
    pub fn options(&self) -> crate::store::StoreOptions {
        crate::store::StoreOptions {
            cache_bytes: self.cache_mib.saturating_mul(1024 * 1024),
            max_pending_reports: self.max_pending_reports,
            min_free_bytes: self.min_free_bytes(),
        }
    }
}

impl StoreConfig {
    /// The free-space reserve in bytes (`StoreOptions::min_free_bytes`).
    pub fn min_free_bytes(&self) -> u64 {
        self.min_free_mib.saturating_mul(1024 * 1024)
    }
}

/// Receiver-side listings inferred from bounces (`[receivers]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReceiversConfig {
    /// Refusals within `window` that open a listing.
    pub open_after: u64,
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Accepted deliveries over at least `clear_after` that close it.
    pub clear_after_accepted: u64,
    #[serde(with = "humantime_serde")]
    pub clear_after: Duration,
    /// For agents without per-receiver counts: quiet time that closes it.
    #[serde(with = "humantime_serde")]
    pub fallback_clear_after: Duration,
}

impl Default for ReceiversConfig {
    fn default() -> Self {
        let p = crate::cases::receivers::ReceiverPolicy::default();
        ReceiversConfig {
            open_after: p.open_after,
            window: p.window,
            clear_after_accepted: p.clear_after_accepted,
            clear_after: p.clear_after,
            fallback_clear_after: p.fallback_clear_after,
        }
    }
}

impl ReceiversConfig {
    pub fn policy(&self) -> crate::cases::receivers::ReceiverPolicy {
        crate::cases::receivers::ReceiverPolicy {
            open_after: self.open_after.max(1),
            window: self.window,
            clear_after_accepted: self.clear_after_accepted,
            clear_after: self.clear_after,
            fallback_clear_after: self.fallback_clear_after,
        }
    }
}

/// How long evidence is kept (`[retention]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Raw reports (full resolution).
    #[serde(with = "humantime_serde")]
    pub raw: Duration,
    /// Hourly roll-ups.
    #[serde(with = "humantime_serde")]
    pub rollups: Duration,
    /// How often old evidence is deleted.
    #[serde(with = "humantime_serde")]
    pub prune_every: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            raw: Duration::from_secs(48 * 3600),
            rollups: Duration::from_secs(90 * 86_400),
            prune_every: Duration::from_secs(3600),
        }
    }
}

/// Blocklist checks (`[dnsbl]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsblConfig {
    /// Run blocklist checks at all.
    pub enabled: bool,
    /// Resolvers to ask ("IP" or "IP:PORT"); empty = the system's.
    pub nameservers: Vec<String>,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    pub retries: usize,
    /// Lookups in flight at once.
    pub concurrency: usize,
    #[serde(with = "humantime_serde")]
    pub clean_interval: Duration,
    #[serde(with = "humantime_serde")]
    pub listed_interval: Duration,
    #[serde(with = "humantime_serde")]
    pub error_retry_min: Duration,
    #[serde(with = "humantime_serde")]
    pub error_retry_max: Duration,
    /// Consecutive clean answers that close a listing.
    pub clear_after: u32,
    #[serde(with = "humantime_serde")]
    pub probe_interval: Duration,
    /// Ignore every zone's query budget. For benchmarks against local
    /// servers only: public lists block resolvers that exceed their limits.
    pub lift_budgets: bool,
    /// Catalog overrides: `[dnsbl.catalog.zone.<id>]` and `[[dnsbl.catalog.extra]]`.
    pub catalog: crate::catalog::CatalogConfig,
}

impl Default for DnsblConfig {
    fn default() -> Self {
        let cadence = crate::dnsbl::state::Cadence::default();
        let health = crate::dnsbl::health::HealthPolicy::default();
        let resolver = crate::dnsbl::lookup::ResolverSettings::default();
        DnsblConfig {
            enabled: true,
            nameservers: Vec::new(),
            timeout: resolver.timeout,
            retries: resolver.retries,
            concurrency: 64,
            clean_interval: cadence.clean,
            listed_interval: cadence.listed,
            error_retry_min: cadence.error_min,
            error_retry_max: cadence.error_max,
            clear_after: cadence.clear_after,
            probe_interval: health.probe_every,
            lift_budgets: false,
            catalog: Default::default(),
        }
    }
}

impl DnsblConfig {
    /// The nameservers as socket addresses (port 53 when none is given).
    pub fn nameserver_addrs(&self) -> Result<Vec<SocketAddr>, String> {
        self.nameservers
            .iter()
            .map(|text| crate::dnsbl::lookup::parse_nameserver(text).map_err(|e| format!("dnsbl.nameservers: {e}")))
            .collect()
    }
}

impl Config {
    /// Reads and checks a configuration file; `insecure` is the development
    /// mode. The `[dnsbl.catalog]` section is applied to the catalog here, so
    /// an unknown zone id fails now and names this file.
    pub fn load(path: &Path, insecure: bool) -> Result<Config, ConfigError> {
        let bytes = std::fs::read(path).map_err(|cause| ConfigError::Read { path: path.into(), cause })?;
        let text = utf8_text(&bytes).map_err(|message| ConfigError::Parse { path: path.into(), message })?;
        let mut config =
            Config::from_toml_str(text).map_err(|message| ConfigError::Parse { path: path.into(), message })?;
        config.resolve_relative_paths(path.parent().unwrap_or(Path::new(".")));
        config.check(insecure).map_err(|message| ConfigError::Invalid { path: path.into(), message })?;
        crate::catalog::Catalog::embedded()
            .and_then(|mut catalog| catalog.apply(&config.dnsbl.catalog))
            .map_err(|cause| ConfigError::Catalog { path: path.into(), cause })?;
        Ok(config)
    }

    /// Parses TOML text; the error gives the line, column and key, never the
    /// line's text (it may hold a zone key).
    pub fn from_toml_str(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| toml_error_text(text, &e))
    }

    /// Relative paths in the file are relative to the file's directory.
    fn resolve_relative_paths(&mut self, base: &Path) {
        let catalog = self.dnsbl.catalog.file.iter_mut();
        for path in
            [&mut self.data_dir, &mut self.tls.ca, &mut self.tls.cert, &mut self.tls.key].into_iter().chain(catalog)
        {
            if !path.as_os_str().is_empty() && path.is_relative() {
                *path = base.join(&*path);
            }
        }
    }
}

#[cfg(test)]
mod tests;
