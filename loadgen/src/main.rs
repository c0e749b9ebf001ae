//! `rblfleet-loadgen`: see loadgen/README.md.

use std::io::Write;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Parser;
use rblfleet_controller::config::PASSWORD_ENV;
use rblfleet_controller::store::{PgOptions, PgPassword, Store, StoreOptions};
use rblfleet_loadgen::args::{Args, Format};
use rblfleet_loadgen::render::{self, Setup};
use rblfleet_loadgen::sample::DataSize;
use rblfleet_loadgen::spawn::{self, SpawnOptions};
use rblfleet_loadgen::{LoadConfig, fdlimit, pki, run};
use rblfleet_tests::generate::Fleet;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let load = args.load().map_err(anyhow::Error::msg)?;
    let fd = fdlimit::ensure(args.agents)?;
    let fleet = Arc::new(Fleet::new(args.seed, args.agents));

    let pki_dir = args.pki_dir();
    pki::ensure_ca(&pki_dir, args.spawn_controller)?;
    eprintln!("certificates for {} agents in {} ...", args.agents, pki_dir.display());
    let hosts: Vec<&str> = (0..fleet.len()).map(|i| fleet.host_id(i)).collect();
    let issued = tokio::task::block_in_place(|| pki::ensure_agents(&pki_dir, &hosts))?;
    eprintln!("  {} issued in {:.1} s, {} reused", issued.issued, issued.elapsed.as_secs_f64(), issued.reused);

    let spawned = if args.spawn_controller {
        let options = SpawnOptions {
            binary: args.rblfleet_bin.clone().unwrap_or_else(spawn::default_binary),
            pki: pki_dir.clone(),
            work_dir: args.work_dir.clone(),
            dnsbl_nameserver: args.dnsbl_nameserver.clone(),
            retention_raw: args.retention_raw,
            retention_rollups: args.retention_rollups,
            prune_every: args.prune_every,
            cache_mib: args.cache_mib,
            max_pending: args.max_pending,
            store_url: args.store_url.clone(),
            pool_size: args.pool_size,
        };
        let spawned = spawn::start(&options).context("cannot start the controller")?;
        eprintln!("controller pid {} on {} (log {})", spawned.pid, spawned.agent_url(), spawned.log.display());
        Some(spawned)
    } else {
        None
    };
    let url = match (&spawned, &args.controller) {
        (Some(s), _) => s.agent_url(),
        (None, Some(url)) => url.clone(),
        (None, None) => anyhow::bail!("--controller URL or --spawn-controller is needed"),
    };
    // The database's size is asked of the database itself, through the
    // controller's store (opened after the controller migrated it).
    let data = match &args.store_url {
        Some(url) => {
            let options = PgOptions {
                url: url.clone(),
                pool_size: 1,
                password: std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty()).map(PgPassword),
            };
            let store = tokio::task::block_in_place(|| Store::open_postgres(&options, &StoreOptions::default()))
                .with_context(|| format!("--store-url {url}"))?;
            Some(DataSize::Database(store))
        }
        None => args.data_dir.clone().or(spawned.as_ref().map(|s| s.data_dir.clone())).map(DataSize::Dir),
    };
    let shown = match (&args.store_url, &data) {
        (Some(url), _) => Some(format!("PostgreSQL {url} (pg_database_size)")),
        (None, Some(DataSize::Dir(dir))) => Some(dir.display().to_string()),
        (None, _) => None,
    };
    let epoch = args.epoch.unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| d.as_secs()));
    let config = LoadConfig {
        url: url.clone(),
        tls_name: args.tls_name.clone(),
        pki: pki_dir,
        load,
        duration: args.duration,
        drain: args.drain,
        seed: args.seed,
        epoch,
        connect_concurrency: args.connect_concurrency,
        rpc_timeout: args.rpc_timeout,
        backoff_initial: args.retry_initial,
        backoff_max: args.retry_max,
        sample_every: args.sample_every,
        controller_pid: args.controller_pid.or(spawned.as_ref().map(|s| s.pid)),
        data,
        progress: true,
    };
    eprintln!("connecting {} agents to {url} ...", args.agents);
    let summary = run(&config, fleet).await?;
    let setup = Setup {
        controller: url,
        controller_pid: config.controller_pid,
        data_dir: shown,
        certs_issued: issued.issued,
        certs_reused: issued.reused,
        certs_s: issued.elapsed.as_secs_f64(),
        fd_soft_limit: fd.soft,
    };
    if let Some(spawned) = spawned {
        spawned.stop().context("stopping the controller")?;
    }
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Table => render::table(&mut out, &setup, &summary)?,
        Format::Json => render::json(&mut out, &setup, &summary)?,
    }
    out.flush()?;
    if let Some(path) = &args.timeline {
        let mut file = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        render::timeline_csv(&mut file, &summary.timeline).with_context(|| format!("writing {}", path.display()))?;
    }
    if !summary.lossless() {
        std::process::exit(1);
    }
    Ok(())
}
