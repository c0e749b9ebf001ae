//! Logs people and machines can read: the real `rblfleet serve` and
//! `rblfleet-agent run`, stderr to a pipe (as under systemd), write no
//! escape sequence; `--log-format json` (or RBLFLEET_LOG_FORMAT=json) writes
//! one JSON object per line.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rblfleet_tests::procs::{binary, free_port};
use rblfleet_tests::{Pki, agent_toml};
use serde_json::Value;

const ESC: u8 = 0x1b;

/// Runs `bin args` with stderr (and stdout) to pipes, NO_COLOR unset, until
/// a stderr line contains every one of `until` or `limit` passes; kills it
/// and returns what it wrote to stderr.
fn stderr_of(bin: &Path, args: &[&str], env: &[(&str, &str)], until: &[&str], limit: Duration) -> Vec<u8> {
    let mut command = Command::new(bin);
    command.args(args).env_remove("NO_COLOR").env_remove("RBLFLEET_LOG_FORMAT").env("RBLFLEET_LOG", "info");
    command.envs(env.iter().copied()).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut lines = BufReader::new(stderr);
        loop {
            let mut line = Vec::new();
            match lines.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let start = Instant::now();
    let mut out = Vec::new();
    let mut seen = vec![false; until.len()];
    while start.elapsed() < limit && !seen.iter().all(|s| *s) {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            let text = String::from_utf8_lossy(&line).to_string();
            for (i, needle) in until.iter().enumerate() {
                seen[i] |= text.contains(needle);
            }
            out.extend(line);
        }
    }
    // Ours, by its handle: the child started above.
    let _ = child.kill();
    let _ = child.wait();
    reader.join().unwrap();
    out.extend(rx.try_iter().flatten());
    assert!(seen.iter().all(|s| *s), "{} never logged {until:?} within {limit:?}:\n{}", bin.display(), show(&out));
    out
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_plain(what: &str, bytes: &[u8]) {
    assert!(!bytes.is_empty(), "{what} wrote nothing to stderr");
    assert!(!bytes.contains(&ESC), "{what} wrote an escape sequence to a pipe:\n{}", show(bytes).escape_debug());
}

/// Every line is a JSON object with a level and a message.
fn assert_json_lines(what: &str, bytes: &[u8]) -> Vec<Value> {
    assert_plain(what, bytes);
    let text = show(bytes);
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let value: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{what}: not a JSON line ({e}): {line}"));
            assert!(value["level"].is_string(), "{what}: no level in {line}");
            assert!(value["message"].is_string(), "{what}: no message in {line}");
            value
        })
        .collect()
}

/// A controller config on two free loopback ports; returns it and the agent API address.
fn controller_config(pki: &Pki, dir: &Path) -> (PathBuf, SocketAddr) {
    let agent_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let admin_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let config = dir.join("controller.toml");
    let toml = format!(
        "data_dir = {data:?}\n[agent_api]\nlisten = \"{agent_addr}\"\n[admin_api]\nlisten = \"{admin_addr}\"\n\
         [tls]\nca = {ca:?}\ncert = {cert:?}\nkey = {key:?}\n[store]\ncache_mib = 16\n\
         [dnsbl]\nenabled = false\n[metrics]\nenabled = false\n",
        data = dir.join("data").display().to_string(),
        ca = pki.ca_cert().display().to_string(),
        cert = pki.dir.join("controller.crt").display().to_string(),
        key = pki.dir.join("controller.key").display().to_string(),
    );
    std::fs::write(&config, toml).unwrap();
    (config, agent_addr)
}

#[test]
fn controller_logs_to_a_pipe_without_escape_codes_and_as_json_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let bin = binary("rblfleet", "RBLFLEET_BIN").unwrap();
    let (config, _) = controller_config(&pki, tmp.path());
    let config = config.to_str().unwrap();
    let limit = Duration::from_secs(30);

    let text = stderr_of(&bin, &["serve", "--config", config], &[], &["controller started"], limit);
    assert_plain("rblfleet serve", &text);
    assert!(show(&text).contains(" INFO "), "text lines name their level:\n{}", show(&text));

    let args = ["--log-format", "json", "serve", "--config", config];
    let json = stderr_of(&bin, &args, &[], &["controller started"], limit);
    let lines = assert_json_lines("rblfleet --log-format json serve", &json);
    let started = lines.iter().find(|l| l["message"] == "controller started").unwrap();
    assert_eq!(started["level"], "INFO");
    assert!(started["data_dir"].as_str().unwrap().ends_with("data"), "fields sit at the top level: {started}");
    assert!(started["timestamp"].is_string(), "{started}");
}

#[test]
fn agent_logs_to_a_pipe_without_escape_codes_and_as_json_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let bin = binary("rblfleet-agent", "RBLFLEET_AGENT_BIN").unwrap();
    // No controller listens: the agent logs that it is ready and that the
    // controller is unreachable, warnings included.
    let url = format!("https://127.0.0.1:{}", free_port());
    let config = tmp.path().join("agent.toml");
    std::fs::write(&config, agent_toml(&pki, "web07.example", &url, &tmp.path().join("outbox"))).unwrap();
    let config = config.to_str().unwrap();
    let limit = Duration::from_secs(30);
    let until = ["agent ready", "controller unreachable"];

    let text = stderr_of(&bin, &["run", "--config", config], &[], &until, limit);
    assert_plain("rblfleet-agent run", &text);
    assert!(show(&text).contains(" WARN "), "{}", show(&text));
    assert!(show(&text).contains("connection refused"), "the failure is named: {}", show(&text));

    // The variable, as a systemd unit's Environment= would set it.
    let json = stderr_of(&bin, &["run", "--config", config], &[("RBLFLEET_LOG_FORMAT", "json")], &until, limit);
    let lines = assert_json_lines("RBLFLEET_LOG_FORMAT=json rblfleet-agent run", &json);
    let ready = lines.iter().find(|l| l["message"] == "agent ready").unwrap();
    assert_eq!(ready["host_id"], "web07.example", "{ready}");
    assert!(lines.iter().any(|l| l["level"] == "WARN" && l["error"].is_string()), "{}", show(&json));
}
