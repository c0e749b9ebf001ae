//! `rblfleet-agent check-config`: parse the config, load the TLS files and
//! print the host id and the effective settings, sending nothing.
//!
//! Log paths that name nothing yet are warnings, not errors: MailEnable
//! creates the day's `SMTP-Activity-YYMMDD.log` at its first line and a
//! fresh host may have no mail log yet; the agent waits for them. Saying so
//! here catches the typo in a path that would otherwise wait forever.

use std::io::Write;

use super::ConfigArgs;
use crate::client::ControllerClient;
use crate::identity;
use crate::logs::{LogsConfig, is_pattern};

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
    writeln!(out, "config:      {} (ok)", args.config.display())?;
    writeln!(out, "host id:     {host_id} ({source})")?;
    let controllers = config.controller.controllers().map_err(|(key, reason)| anyhow::anyhow!("{key}: {reason}"))?;
    let several = controllers.len() > 1;
    for (i, c) in controllers.iter().enumerate() {
        // With several, the order is the failover order.
        let order = if several { format!(" [{}]", i + 1) } else { String::new() };
        if args.insecure {
            writeln!(out, "controller:  {}{order} (PLAINTEXT, --insecure)", c.url)?;
        } else {
            let server_name = config.controller.server_name_for(&c.url).map_err(anyhow::Error::msg)?;
            writeln!(out, "controller:  {}{order} (mutual TLS, verifying name {server_name:?})", c.url)?;
        }
    }
    for warning in log_path_warnings(&config.logs)? {
        writeln!(out, "warning:     {warning}")?;
    }
    writeln!(out, "\n# effective settings\n{}", toml::to_string_pretty(&config)?)?;
    Ok(())
}

/// What `logs.paths` names that is not there yet: a pattern that matches no
/// file, a file that does not exist. Runs on the loaded config, whose
/// relative paths are resolved and, on Windows, whose MailEnable paths were
/// discovered.
fn log_path_warnings(logs: &LogsConfig) -> anyhow::Result<Vec<String>> {
    let mut warnings = logs.check_paths()?;
    let missing = logs.paths.iter().filter(|p| !is_pattern(p) && !p.exists());
    warnings
        .extend(missing.map(|p| format!("logs.paths: {} does not exist yet (the agent waits for it)", p.display())));
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::path::{Path, PathBuf};

    use super::*;

    /// A plaintext loopback config (no TLS files needed) following `paths`.
    /// Paths are TOML literal strings: a Windows temporary directory in a
    /// basic string would read as escapes.
    fn config(dir: &Path, paths: &[PathBuf]) -> PathBuf {
        let list: Vec<String> = paths.iter().map(|p| format!("'{}'", p.display())).collect();
        let text = format!(
            "host_id = \"web01.example.net\"\n[controller]\nurl = \"http://127.0.0.1:7443\"\n\
             [outbox]\ndir = '{}'\n[logs]\npaths = [{}]\n",
            dir.join("outbox").display(),
            list.join(", ")
        );
        let path = dir.join("agent.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    async fn check(config: PathBuf) -> String {
        let mut out = Vec::new();
        run(&ConfigArgs { config, insecure: true }, &mut out).await.unwrap();
        String::from_utf8(out).unwrap()
    }

    #[tokio::test]
    async fn log_paths_that_name_nothing_yet_are_warnings() {
        let dir = tempfile::tempdir().unwrap();
        let smtp = dir.path().join("SMTP");
        let pattern = smtp.join("SMTP-Activity-*.log");
        let plain = dir.path().join("mail.log");
        let path = config(dir.path(), &[pattern.clone(), plain.clone()]);

        let text = check(path.clone()).await;
        let warnings: Vec<&str> = text.lines().filter(|l| l.starts_with("warning:")).collect();
        assert_eq!(warnings.len(), 2, "{text}");
        assert!(warnings[0].contains(&pattern.display().to_string()) && warnings[0].contains("matches no file yet"));
        assert!(warnings[1].contains(&plain.display().to_string()) && warnings[1].contains("does not exist yet"));

        // The day's first line creates the file: nothing to say any more.
        std::fs::create_dir_all(&smtp).unwrap();
        std::fs::write(smtp.join("SMTP-Activity-261203.log"), "").unwrap();
        std::fs::write(&plain, "").unwrap();
        let text = check(path).await;
        assert!(!text.contains("warning:"), "{text}");
        assert!(text.contains("host id:     web01.example.net"), "{text}");
    }

    #[tokio::test]
    async fn a_wildcard_directory_is_still_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = config(dir.path(), &[dir.path().join("*").join("mail.log")]);
        let mut out = Vec::new();
        let err = run(&ConfigArgs { config: path, insecure: true }, &mut out).await.unwrap_err();
        assert!(format!("{err:#}").contains("file name only"), "{err:#}");
    }

    #[tokio::test]
    async fn several_controllers_are_listed_in_failover_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = config(dir.path(), &[]);
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("url = \"http://127.0.0.1:7443\"", "urls = [\"http://127.0.0.1:7443\", \"http://[::1]:7443\"]");
        std::fs::write(&path, text).unwrap();
        let out = check(path).await;
        let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("controller:")).collect();
        assert_eq!(
            lines,
            [
                "controller:  http://127.0.0.1:7443 [1] (PLAINTEXT, --insecure)",
                "controller:  http://[::1]:7443 [2] (PLAINTEXT, --insecure)"
            ],
            "{out}"
        );
    }
}
