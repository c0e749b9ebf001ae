//! `rblfleet-agent check-config`: parse the config, load the TLS files and
//! print the host id and the effective settings, sending nothing.

use std::io::Write;

use super::ConfigArgs;
use crate::client::ControllerClient;
use crate::identity;

pub async fn run(args: &ConfigArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let config = super::load(&args.config)?;
    config.check_transport(args.insecure)?;
    let host_id = identity::resolve_host_id(&config, args.insecure)?;
    let source = if config.host_id.is_some() {
        "from host_id".to_string()
    } else {
        match &config.controller.cert {
            Some(cert) => format!("from certificate {}", cert.display()),
            None => "from config".to_string(),
        }
    };
    ControllerClient::connect(&config.controller, args.insecure)?;
    let server_name = config.controller.effective_server_name().map_err(anyhow::Error::msg)?;
    writeln!(out, "config:      {} (ok)", args.config.display())?;
    writeln!(out, "host id:     {host_id} ({source})")?;
    if args.insecure {
        writeln!(out, "controller:  {} (PLAINTEXT, --insecure)", config.controller.url)?;
    } else {
        writeln!(out, "controller:  {} (mutual TLS, verifying name {server_name:?})", config.controller.url)?;
    }
    writeln!(out, "\n# effective settings\n{}", toml::to_string_pretty(&config)?)?;
    Ok(())
}
