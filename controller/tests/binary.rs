//! The `rblfleet` binary as an operator runs it: exit codes, stderr, files,
//! and the daemon answering its own CLI.

#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn rblfleet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rblfleet")).args(args).env_remove("RBLFLEET_CONTROLLER").output().unwrap()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn no_controller_is_a_one_line_error_naming_the_address() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let out = rblfleet(&["hosts", "--controller", &url]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.starts_with("error: cannot reach") && stderr.contains(&url), "{stderr}");
    assert!(stderr.contains("rblfleet serve --config"), "{stderr}");
}

#[test]
fn a_broken_config_names_the_file_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("controller.toml");
    std::fs::write(&path, "[agent_api]\nlisten = \"not an address\"\n").unwrap();
    let out = rblfleet(&["serve", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains(path.to_str().unwrap()) && stderr.contains("listen"), "{stderr}");
}

#[test]
fn serve_answers_the_cli_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca");
    let ca_str = ca.to_str().unwrap();
    assert!(rblfleet(&["ca", "init", "--dir", ca_str]).status.success());
    let out = rblfleet(&["ca", "issue", "--dir", ca_str, "--controller", "localhost,127.0.0.1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Issuing twice without --force is refused.
    let out = rblfleet(&["ca", "issue", "--dir", ca_str, "--controller", "localhost"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to overwrite"));

    let (agent_port, admin_port) = (free_port(), free_port());
    let config = dir.path().join("controller.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"data\"\n[agent_api]\nlisten = \"127.0.0.1:{agent_port}\"\n[admin_api]\nlisten = \"127.0.0.1:{admin_port}\"\n\
             [tls]\nca = \"ca/ca.crt\"\ncert = \"ca/controller.crt\"\nkey = \"ca/controller.key\"\n\
             [metrics]\nlisten = \"127.0.0.1:{}\"\n",
            free_port()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rblfleet"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{admin_port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let out = loop {
        let out = rblfleet(&["hosts", "--format", "json", "--controller", &url]);
        if out.status.success() || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(), serde_json::json!([]));

    terminate(child.id());
    let status = child.wait().unwrap();
    assert!(status.success(), "serve exited with {status}");
    assert!(Path::new(&dir.path().join("data")).is_dir());
}

fn terminate(pid: u32) {
    let status = Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(status.success());
}

/// The environment variables people script with reach the same settings as
/// the flags: RBLFLEET_CONFIG starts `serve`, RBLFLEET_CONTROLLER and
/// RBLFLEET_FORMAT steer a client command, RBLFLEET_CA_DIR the CA.
#[test]
fn environment_variables_stand_in_for_flags() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca");
    let with_ca_dir = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_rblfleet")).args(args).env("RBLFLEET_CA_DIR", &ca).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    with_ca_dir(&["ca", "init"]);
    with_ca_dir(&["ca", "issue", "--controller", "localhost"]);

    let admin_port = free_port();
    let config = dir.path().join("controller.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"data\"\n[agent_api]\nlisten = \"127.0.0.1:{}\"\n[admin_api]\nlisten = \"127.0.0.1:{admin_port}\"\n\
             [tls]\nca = \"ca/ca.crt\"\ncert = \"ca/controller.crt\"\nkey = \"ca/controller.key\"\n\
             [metrics]\nlisten = \"127.0.0.1:{}\"\n",
            free_port(),
            free_port()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rblfleet"))
        .arg("serve")
        .env("RBLFLEET_CONFIG", &config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let hosts = || {
        Command::new(env!("CARGO_BIN_EXE_rblfleet"))
            .arg("hosts")
            .env("RBLFLEET_CONTROLLER", format!("http://127.0.0.1:{admin_port}"))
            .env("RBLFLEET_FORMAT", "json")
            .output()
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let out = loop {
        let out = hosts();
        if out.status.success() || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    terminate(child.id());
    child.wait().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(), serde_json::json!([]));

    // A bad value names the variable's setting, like a bad flag would.
    let out = Command::new(env!("CARGO_BIN_EXE_rblfleet"))
        .args(["hosts", "--controller", "http://127.0.0.1:1"])
        .env("RBLFLEET_FORMAT", "yaml")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("'yaml'") && stderr.contains("--format"), "{stderr}");
}

#[test]
fn completions_and_man_pages_come_from_the_binary() {
    let out = rblfleet(&["completions", "bash"]);
    assert!(out.status.success());
    let bash = String::from_utf8(out.stdout).unwrap();
    assert!(bash.contains("complete -F _rblfleet") && bash.contains("report") && bash.contains("serve"));
    let out = rblfleet(&["man"]);
    assert!(out.status.success());
    let roff = String::from_utf8(out.stdout).unwrap();
    assert!(roff.contains(".TH rblfleet 1") && roff.contains("rblfleet\\-serve"), "{roff}");
    let out = rblfleet(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "an unknown shell is a usage error");
}

/// SIGHUP (`systemctl reload`, deploy/systemd) never stops `serve`: with TLS
/// it re-reads the certificate files, with `--insecure` it logs that there
/// is nothing to reload. Either way the daemon still answers afterwards and
/// stops cleanly on SIGTERM.
#[test]
fn sighup_reloads_or_is_ignored_and_never_stops_serve() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca");
    assert!(rblfleet(&["ca", "init", "--dir", ca.to_str().unwrap()]).status.success());
    assert!(rblfleet(&["ca", "issue", "--dir", ca.to_str().unwrap(), "--controller", "localhost"]).status.success());

    for (insecure, logged) in
        [(false, "SIGHUP: checking the TLS files"), (true, "SIGHUP ignored: no TLS files to reload")]
    {
        let admin_port = free_port();
        let config = dir.path().join("controller.toml");
        std::fs::write(
            &config,
            format!(
                "data_dir = \"data-{insecure}\"\n[agent_api]\nlisten = \"127.0.0.1:{}\"\n\
                 [admin_api]\nlisten = \"127.0.0.1:{admin_port}\"\n\
                 [tls]\nca = \"ca/ca.crt\"\ncert = \"ca/controller.crt\"\nkey = \"ca/controller.key\"\n\
                 [metrics]\nenabled = false\n[dnsbl]\nenabled = false\n",
                free_port()
            ),
        )
        .unwrap();
        let mut args = vec!["serve", "--config", config.to_str().unwrap()];
        if insecure {
            args.push("--insecure");
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_rblfleet"))
            .args(&args)
            .env("RBLFLEET_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Log lines as they come, so the test waits for the one it expects.
        let (lines, logged_lines) = std::sync::mpsc::channel();
        let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let reader = std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let url = format!("http://127.0.0.1:{admin_port}");
        let hosts = || rblfleet(&["hosts", "--format", "json", "--controller", &url]);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !hosts().status.success() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }

        let status = Command::new("kill").args(["-HUP", &child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let mut seen = Vec::new();
        let found = loop {
            match logged_lines.recv_timeout(Duration::from_secs(20)) {
                Ok(line) if line.contains(logged) => break true,
                Ok(line) => seen.push(line),
                Err(_) => break false,
            }
        };
        assert!(found, "insecure={insecure}: no {logged:?} in the log: {seen:#?}");
        let out = hosts();
        assert!(out.status.success(), "insecure={insecure}: {}", String::from_utf8_lossy(&out.stderr));

        terminate(child.id());
        let status = child.wait().unwrap();
        assert!(status.success(), "insecure={insecure}: serve exited with {status}");
        reader.join().unwrap();
    }
}
