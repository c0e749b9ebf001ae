//! Issue 11: no log line can panic the agent. Whole real log lines (every
//! fixture of the repository, the labelled bounce corpora, the benchmark's
//! simulated host; see `fuzz/seeds.rs`) are mutated the ways logs and
//! senders break them (`fuzz/mutate.rs`) and fed through the agent's log
//! stage: lossy UTF-8, the parser, the attribution tracker with its
//! aggregator, and the bounce classifier (`fuzz/harness.rs`).
//!
//! CI runs a short deterministic run; the long run is by hand:
//! `RBLFLEET_FUZZ_LINES=10000000 cargo test --release -p rblfleet-agent --test fuzz -- --nocapture`
//! (`RBLFLEET_FUZZ_SEED` picks another sequence). Every panic found is a
//! line of `tests/corpus/fuzz-regressions.txt`, replayed here forever.

#![allow(clippy::unwrap_used)]

// The benchmark's simulated host, of which the seeds use a few minutes.
#[allow(dead_code)]
#[path = "../benches/scan/generator.rs"]
mod generator;
#[path = "fuzz/harness.rs"]
mod harness;
#[path = "fuzz/mutate.rs"]
mod mutate;
#[allow(dead_code)]
#[path = "../benches/scan/outbreak.rs"]
mod outbreak;
#[path = "fuzz/seeds.rs"]
mod seeds;

use std::time::{Duration, Instant};

use harness::{Harness, catching, escape, status_kib, unescape};
use mutate::Mutator;
use rblfleet_agent::parse::{Event, Parser};
use seeds::Seeds;

/// Mutants of the CI run: a few seconds in a debug build.
const DEFAULT_LINES: u64 = 20_000;

/// The tracker's bound in these runs: small, so that millions of mutants
/// fill it many times over and the bound itself is what is tested.
const MAX_MESSAGES: usize = 200;

/// One mutant in this many (the first at half of it) is stretched to
/// [`LONG_LINE`] bytes.
const LONG_EVERY: u64 = 20_000;
const LONG_LINE: usize = 1 << 20;

/// Panics remembered with their line (the count goes on).
const PANICS_SHOWN: usize = 20;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.trim().replace('_', "").parse().ok()).unwrap_or(default)
}

/// The regression fixtures: (line number in the file, bytes).
fn regressions() -> Vec<(usize, Vec<u8>)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/fuzz-regressions.txt");
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .map(|(i, l)| (i + 1, unescape(l).unwrap_or_else(|e| panic!("{path}:{}: {e}", i + 1))))
        .collect()
}

/// Panics seen in a run: how many, and the first ones with their lines.
#[derive(Debug, Default)]
struct Panics {
    count: u64,
    shown: Vec<(String, String)>,
    /// Panics per source place (`panicked at file:line:col:`).
    places: std::collections::BTreeMap<String, u64>,
}

impl Panics {
    fn record(&mut self, message: String, line: &[u8]) {
        self.count += 1;
        let place = message.lines().next().unwrap_or("").to_string();
        *self.places.entry(place.clone()).or_default() += 1;
        if self.shown.len() < PANICS_SHOWN && !self.shown.iter().any(|(m, _)| m.lines().next() == Some(&place)) {
            self.shown.push((message, escape(line)));
        }
    }

    fn assert_none(&self, what: &str) {
        if self.count == 0 {
            return;
        }
        let mut text = format!("{what}: {} lines panicked; add each line below to fuzz-regressions.txt:\n", self.count);
        for (message, line) in &self.shown {
            text.push_str(&format!("\n{message}\n{line}\n"));
        }
        panic!("{text}");
    }
}

/// The line and its neighbours: a multi-byte character where the
/// Postfix parser compares the header name.
#[test]
fn a_multibyte_header_value_is_parsed_not_panicked_on() {
    let mut parser = Parser::new(1_749_513_600_000);
    let mut events: Vec<Event> = Vec::new();
    for line in [
        "Dec  4 10:00:00 srv01 postfix/cleanup[123]: 4AA091855DA0: warning: header Subject: Angebot 100 €€€ jetzt from local; from=<a@b.example> to=<c@d.example>",
        "Dec  4 10:00:00 srv01 postfix/cleanup[123]: 4AA091855DA0: warning: header X-PHP-Originating-Scrip€: 1:x.php from local; from=<a@b.example> to=<c@d.example>",
        "Dec  4 10:00:00 srv01 postfix/cleanup[123]: 4AA091855DA0: warning: header Sübject: x",
    ] {
        parser.parse_line(line, &mut events);
    }
    assert_eq!((parser.stats().ignored, events.len()), (3, 0));
    parser.parse_line(
        "Dec  4 10:00:00 srv01 postfix/cleanup[123]: 4AA091855DA0: warning: header x-php-originating-script: 10002:übersicht€.php from local; from=<web@bäckerei.example> to=<x@example.org>",
        &mut events,
    );
    assert_eq!(
        events,
        vec![Event::PhpScript {
            ts_ms: Some(1_733_306_400_000),
            queue_id: "4AA091855DA0".to_string(),
            script: "übersicht€.php".to_string(),
            uid: Some(10002),
        }]
    );
}

/// Every line that ever panicked goes through the whole stage again.
#[test]
fn every_regression_fixture_replays_without_a_panic() {
    let fixtures = regressions();
    assert!(!fixtures.is_empty());
    let mut stage = Harness::new(MAX_MESSAGES);
    let mut panics = Panics::default();
    for (number, line) in &fixtures {
        if let Err(message) = catching(|| stage.feed(line)) {
            panics.record(format!("fuzz-regressions.txt:{number}: {message}"), line);
            stage = Harness::new(MAX_MESSAGES);
        }
    }
    panics.assert_none("regression fixtures");
    let stats = stage.parser.stats();
    assert_eq!(stats.lines, fixtures.len() as u64);
    assert_eq!(stats.lines, stats.parsed + stats.ignored + stats.unknown);
}

/// The escaping of the regression file keeps every byte.
#[test]
fn escaped_lines_round_trip() {
    let line = b"#a\\b\t\r\n\0\x01\x7f \xe2\x82\xac \xe2\x82 \xff \xf0\x9d\x84\x9e \xe2\x80\x8d end";
    assert_eq!(unescape(&escape(line)).unwrap(), line);
    assert_eq!(escape("€ä\u{200d}".as_bytes()), "€ä\\u{200d}");
}

/// Every seed cut at every byte: the systematic half of the truncations.
/// CI cuts the seed files' lines (one of every shape); a long run (with
/// `RBLFLEET_FUZZ_LINES` set) cuts every seed.
#[test]
fn every_seed_cut_at_every_byte_never_panics() {
    let seeds = Seeds::load();
    let all = std::env::var_os("RBLFLEET_FUZZ_LINES").is_some();
    let mut stage = Harness::new(MAX_MESSAGES);
    let mut panics = Panics::default();
    let mut fed = 0u64;
    for (group, lines) in &seeds.groups {
        let take = match *group {
            "logs" => lines.len(),
            // The generated log repeats a few shapes: its first lines suffice.
            "generated" if all => 300,
            _ if all => lines.len(),
            _ => 0,
        };
        for line in lines.iter().take(take) {
            for cut in 0..=line.len() {
                let mutant = &line[..cut];
                if let Err(message) = catching(|| stage.feed(mutant)) {
                    panics.record(message, mutant);
                    stage = Harness::new(MAX_MESSAGES);
                }
                fed += 1;
            }
        }
    }
    println!("fuzz: {fed} truncations, {} panics by place: {:?}", panics.count, panics.places);
    panics.assert_none("truncated seeds");
    assert!(fed > 10_000, "only {fed} truncations: the seed files did not load");
}

/// Where the time of one line goes: the parser alone, the classifier
/// alone, and the start of the line.
fn time_parts(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let began = Instant::now();
    Parser::new(0).parse_line(&text, &mut Vec::new());
    let parse = began.elapsed();
    let began = Instant::now();
    let verdict = catching(|| {
        std::hint::black_box(rblfleet_agent::bounce::classify(&text));
    });
    let classify = began.elapsed();
    let head: Vec<u8> = line.iter().copied().take(300).collect();
    format!(
        "parse {:.1} ms, classify {:.1} ms{}; {} bytes: {}",
        parse.as_secs_f64() * 1e3,
        classify.as_secs_f64() * 1e3,
        if verdict.is_err() { " (panicked)" } else { "" },
        line.len(),
        escape(&head)
    )
}

/// The fuzzer: `RBLFLEET_FUZZ_LINES` mutants (default [`DEFAULT_LINES`]) of
/// random seeds, from `RBLFLEET_FUZZ_SEED` (default 11). Prints the rate,
/// the panics (none expected), the tracker's size and the peak RSS.
#[test]
fn mutated_real_lines_never_panic() {
    let total = env_u64("RBLFLEET_FUZZ_LINES", DEFAULT_LINES);
    let seed = env_u64("RBLFLEET_FUZZ_SEED", 11);
    let seeds = Seeds::load();
    let mut mutator = Mutator::new(seed);
    let mut stage = Harness::new(MAX_MESSAGES);
    let mut panics = Panics::default();
    let mut mutant = Vec::new();
    let (mut bytes, mut max_in_flight, mut slowest) = (0u64, 0usize, (Duration::ZERO, Vec::new()));
    let (mut joined, mut evicted) = (0u64, 0u64);
    let mut rss_kib = Vec::new();
    let start = Instant::now();
    for i in 1..=total {
        if mutator.rng().u8(0..200) == 0 {
            mutator.separators_only(&mut mutant);
        } else {
            let (line, other) = (seeds.pick(mutator.rng()), seeds.pick(mutator.rng()));
            mutator.mutate(line, other, &mut mutant);
            if i % LONG_EVERY == LONG_EVERY / 2 {
                mutator.lengthen(&mut mutant, LONG_LINE);
            }
        }
        let began = Instant::now();
        if let Err(message) = catching(|| stage.feed(&mutant)) {
            panics.record(message, &mutant);
            // The stage may be half-updated: a new one, keeping the counts.
            let old = std::mem::replace(&mut stage, Harness::new(MAX_MESSAGES)).tracker.stats();
            (joined, evicted) = (joined + old.messages, evicted + old.evicted);
        }
        let took = began.elapsed();
        if took > slowest.0 {
            slowest = (took, mutant.clone());
        }
        bytes += mutant.len() as u64;
        max_in_flight = max_in_flight.max(stage.tracker.in_flight());
        if i % (total / 10).max(1) == 0 {
            rss_kib.push(status_kib("VmRSS:").unwrap_or(0));
        }
    }
    let secs = start.elapsed().as_secs_f64();
    stage.report();
    let tracker = stage.tracker.stats();
    println!(
        "fuzz: {total} mutants of {} seed lines (seed {seed}), {:.1} MB in {secs:.1} s: {:.0} lines/s; \
         {} panics; slowest line {:.1} ms ({} bytes)",
        seeds.len(),
        bytes as f64 / 1e6,
        total as f64 / secs,
        panics.count,
        slowest.0.as_secs_f64() * 1e3,
        slowest.1.len()
    );
    println!(
        "fuzz: tracker {} messages joined, {} evicted, {} in flight at most (bound {MAX_MESSAGES} per MTA family); \
         last report {} sources, {} evidence groups",
        joined + tracker.messages,
        evicted + tracker.evicted,
        max_in_flight,
        stage.last_report.0,
        stage.last_report.1
    );
    println!("fuzz: RSS at each tenth (KiB): {rss_kib:?}; peak RSS (VmHWM) {} KiB", status_kib("VmHWM:").unwrap_or(0));
    println!("fuzz: slowest line again: {}", time_parts(&slowest.1));
    println!("fuzz: panics by place: {:?}", panics.places);
    panics.assert_none("mutated lines");
    assert!(max_in_flight <= 2 * MAX_MESSAGES, "tracker held {max_in_flight} messages");
}
