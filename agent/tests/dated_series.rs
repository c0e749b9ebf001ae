//! Dated-series following through the agent's own commit path (issue 19):
//! MailEnable's `SMTP-Activity-YYMMDD.log` files, a new one at midnight, read
//! with `logs.paths = [".../SMTP-Activity-*.log"]` by `LogSources`, each
//! period's checkpoints stored in the same outbox transaction as its report
//! (as `run` does), with restarts — clean and crashed — across the switch
//! of day. Every line must be counted exactly once.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use rblfleet_agent::Config;
use rblfleet_agent::logs::{Checkpoints, LogSources, LogsConfig};
use rblfleet_agent::store::Outbox;
use rblfleet_proto::v1::HostReport;

/// One MailEnable activity row (tab-separated, KB ME020170), numbered.
fn row(date: &str, n: u32) -> String {
    format!(
        "{date} 23:59:{:02}\tSMTP-IN\tM{n:05}.MAI\t10\t192.0.2.50\tMAIL\tMAIL FROM:<shop@example.com>\t\
         250 Requested mail action okay, completed\t43\t36\tshop@example.com\r\n",
        n % 60
    )
}

fn append(path: &Path, text: &str) {
    let mut f = OpenOptions::new().create(true).append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// The agent's state directory and its log directory.
struct Host {
    _dir: tempfile::TempDir,
    outbox: PathBuf,
    smtp: PathBuf,
}

impl Host {
    fn new() -> Host {
        let dir = tempfile::tempdir().unwrap();
        let smtp = dir.path().join("Logging").join("SMTP");
        std::fs::create_dir_all(&smtp).unwrap();
        Host { outbox: dir.path().join("outbox"), smtp, _dir: dir }
    }

    fn day(&self, yymmdd: &str) -> PathBuf {
        self.smtp.join(format!("SMTP-Activity-{yymmdd}.log"))
    }

    fn config(&self) -> LogsConfig {
        LogsConfig { paths: vec![self.smtp.join("SMTP-Activity-*.log")], ..LogsConfig::default() }
    }
}

/// A running agent's log stage: the sources and the outbox they commit with.
struct Agent {
    outbox: Outbox,
    checkpoints: Checkpoints,
    logs: LogSources,
}

impl Agent {
    fn start(host: &Host) -> Agent {
        let outbox = Outbox::open(&host.outbox, 1000).unwrap();
        let checkpoints = Checkpoints::in_outbox(&outbox, &host.outbox).unwrap();
        let logs = LogSources::open(&host.config(), &checkpoints).unwrap();
        Agent { outbox, checkpoints, logs }
    }

    /// Reads what is there; the lines of this period go into `period`.
    fn poll(&mut self, period: &mut Vec<String>) {
        loop {
            let (stats, errors) = self.logs.poll(&mut |line| period.push(line.to_string()));
            assert!(errors.is_empty(), "{errors:?}");
            if !stats.more {
                return;
            }
        }
    }

    /// Stores a report of `period` with the checkpoints of its lines, in one
    /// transaction, and counts its lines as reported.
    fn report(&mut self, period: &mut Vec<String>, counted: &mut BTreeMap<String, u32>) {
        let writes = self.logs.pending_commit();
        let mut report = HostReport { host_id: "web07".into(), ..HostReport::default() };
        self.outbox.push_with_checkpoints(&mut report, Some((&self.checkpoints, &writes))).unwrap();
        self.logs.mark_committed();
        for line in period.drain(..) {
            *counted.entry(line).or_insert(0) += 1;
        }
    }
}

#[test]
fn midnight_switch_with_restarts_counts_every_line_once() {
    let host = Host::new();
    let (today, tomorrow) = (host.day("261203"), host.day("261204"));
    append(&today, "");
    let mut counted = BTreeMap::new();
    let mut period = Vec::new();
    let mut written = Vec::new();
    let mut write = |path: &Path, date: &str, range: std::ops::Range<u32>| {
        for n in range {
            let line = row(date, n);
            append(path, &line);
            written.push(line.trim_end().to_string());
        }
    };

    let mut agent = Agent::start(&host);
    write(&today, "12/03/26", 0..50);
    agent.poll(&mut period);
    agent.report(&mut period, &mut counted);
    write(&today, "12/03/26", 50..80);
    agent.poll(&mut period);
    // Crash: the lines 50..80 were read but their report never stored.
    drop(agent);
    period.clear();

    // Midnight while the agent is down: the rest of the day, then a new file.
    write(&today, "12/03/26", 80..100);
    write(&tomorrow, "12/04/26", 100..120);
    let mut agent = Agent::start(&host);
    agent.poll(&mut period);
    agent.report(&mut period, &mut counted);
    // Clean stop and start again: nothing new, nothing twice.
    drop(agent);
    let mut agent = Agent::start(&host);
    agent.poll(&mut period);
    assert!(period.is_empty(), "a restart read {} lines again", period.len());

    // While it runs: the old day gets its last line, the new day goes on.
    write(&tomorrow, "12/04/26", 120..130);
    agent.poll(&mut period);
    agent.report(&mut period, &mut counted);
    drop(agent);

    assert_eq!(counted.len(), written.len(), "lines counted: {} of {}", counted.len(), written.len());
    for line in &written {
        assert_eq!(counted.get(line), Some(&1), "{line}");
    }
}

#[test]
fn crash_between_the_days_reads_the_tail_then_the_new_day() {
    let host = Host::new();
    let (today, tomorrow) = (host.day("261203"), host.day("261204"));
    append(&today, &row("12/03/26", 0));
    let mut counted = BTreeMap::new();
    let mut period = Vec::new();
    let mut agent = Agent::start(&host);
    agent.poll(&mut period);
    assert!(period.is_empty(), "a first start begins at the end of the newest file");
    append(&today, &row("12/03/26", 1));
    append(&tomorrow, &row("12/04/26", 2));
    agent.poll(&mut period);
    assert_eq!(period.len(), 2);
    // Crash after switching to the new day, before the report was stored.
    drop(agent);
    period.clear();
    let mut agent = Agent::start(&host);
    agent.poll(&mut period);
    agent.report(&mut period, &mut counted);
    let mut got: Vec<_> = counted.keys().map(|l| l.split('\t').nth(2).unwrap_or_default().to_string()).collect();
    got.sort();
    assert_eq!(got, ["M00001.MAI", "M00002.MAI"]);
}

#[test]
fn config_accepts_a_series_and_refuses_a_directory_wildcard() {
    let toml = |path: &str| format!("[controller]\nurl = \"http://127.0.0.1:7443\"\n[logs]\npaths = [{path:?}]\n");
    // Matches nothing yet: accepted (the agent warns and waits for the file).
    let config = Config::from_toml_str(&toml("/nonexistent/Logging/SMTP/SMTP-Activity-*.log")).unwrap();
    let warnings = config.logs.check_paths().unwrap();
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].contains("matches no file yet"), "{warnings:?}");
    let err = Config::from_toml_str(&toml("/var/log/*/mail.log")).unwrap_err().to_string();
    assert!(err.contains("logs.paths") && err.contains("file name only"), "{err}");
}
