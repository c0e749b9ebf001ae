//! Replay benchmark of the outbreak detector (issue 15): a simulated fleet,
//! in compressed time, fed report by report to the detector; prints the lead
//! time of each outbreak kind over a simulated DNSBL, the outbreaks missed
//! and the false warnings on clean hosts (no timing assertions).
//!
//!   cargo bench -p rblfleet-controller --bench outbreak -- [--hosts N] [--days D] [--per-kind K] [--seed S] [-v]
//!       [--trace N [--trace-before H] [--trace-source ID]]
//!
//! N clean hosts (default 500) and K outbreak hosts per kind (default 40),
//! one report a minute each for D days (default 14) from a Monday. The
//! scenario is in `outbreak/scenario.rs` (hosts, bursts, outbreaks, DNSBL)
//! and `outbreak/tick.rs` (one minute of one host as its agent reports it).

#![allow(clippy::unwrap_used)]

#[path = "outbreak/lookalike.rs"]
mod lookalike;
#[path = "outbreak/rng.rs"]
mod rng;
#[path = "outbreak/scenario.rs"]
mod scenario;
#[path = "outbreak/tick.rs"]
mod tick;

use std::time::Instant;

use rblfleet_controller::outbreak::{Event, HostState, Subject};
use scenario::{DAY_MS, HOUR_MS, Host, Kind, MINUTE_MS, START_MS};

struct Args {
    hosts: usize,
    days: u32,
    per_kind: usize,
    seed: u64,
    verbose: bool,
    /// Add the look-alike legitimate traffic to the clean hosts (default;
    /// `--no-lookalikes` leaves it out, to compare with earlier runs).
    lookalikes: bool,
    /// Host number to trace (its window, baseline and signals every 10 min
    /// around its outbreak).
    trace: Option<usize>,
    /// Hours before the outbreak the trace starts (default 1).
    trace_before: i64,
    /// The traced source: the first whose id contains this (default: the
    /// busiest at each line).
    trace_source: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        hosts: 500,
        days: 14,
        per_kind: 40,
        seed: 15,
        verbose: false,
        lookalikes: true,
        trace: None,
        trace_before: 1,
        trace_source: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--trace-source" {
            a.trace_source = it.next();
            continue;
        }
        let mut value = || it.next().and_then(|v| v.parse::<u64>().ok());
        match flag.as_str() {
            "--hosts" => a.hosts = value().unwrap_or(500) as usize,
            "--days" => a.days = value().unwrap_or(14).max(2) as u32,
            "--per-kind" => a.per_kind = value().unwrap_or(40) as usize,
            "--seed" => a.seed = value().unwrap_or(15),
            "-v" | "--verbose" => a.verbose = true,
            "--no-lookalikes" => a.lookalikes = false,
            "--trace" => a.trace = value().map(|n| n as usize),
            "--trace-before" => a.trace_before = value().unwrap_or(1) as i64,
            _ => {} // cargo bench passes --bench
        }
    }
    a
}

/// What happened to one outbreak.
struct Fate {
    kind: Kind,
    start_ms: i64,
    listed_ms: Option<i64>,
    warned_ms: Option<i64>,
    /// The first warning's reasons.
    reasons: String,
    detail: String,
}

fn main() {
    let a = args();
    let mut rng = rng::Rng::new(a.seed);
    let kinds = [Kind::Hijack, Kind::PhpMailer, Kind::Forwarding];
    let mut hosts: Vec<Host> = (0..a.hosts).map(|n| Host::new(n, &mut rng, a.days, None)).collect();
    for (k, kind) in kinds.iter().enumerate() {
        for i in 0..a.per_kind {
            let n = a.hosts + k * a.per_kind + i;
            hosts.push(Host::new(n, &mut rng, a.days, Some(*kind)));
        }
    }
    if a.lookalikes {
        let mut stream = lookalike::stream(a.seed);
        for (n, host) in hosts.iter_mut().enumerate().take(a.hosts) {
            (host.lrng, host.lookalikes) = lookalike::draw_for(&mut stream, n, a.days);
        }
    }
    let steps = i64::from(a.days) * DAY_MS / MINUTE_MS;
    let started = Instant::now();
    let mut reports = 0u64;
    let mut false_warnings = Vec::new();
    let mut pre_outbreak_false = 0;
    let mut pre_outbreak_days = 0.0;
    let mut fates = Vec::new();
    let mut state_bytes = 0usize;
    for (n, host) in hosts.iter_mut().enumerate() {
        let mut state = HostState::new(&host.id);
        let traced = a.trace == Some(n);
        if a.trace.is_some() && !traced {
            continue;
        }
        let mut warned_ms = None;
        let mut reasons = String::new();
        let start_ms = host.outbreak.as_ref().map(|o| o.start_ms);
        for t in 1..=steps {
            let at = START_MS + t * MINUTE_MS;
            let report = host.report(at);
            reports += 1;
            let events = state.observe(&report);
            if traced
                && at % (10 * MINUTE_MS) == 0
                && start_ms.is_none_or(|s| at >= s - a.trace_before * HOUR_MS && at <= s + 16 * HOUR_MS)
            {
                let listed = host.outbreak.as_ref().and_then(|o| o.listed_ms);
                trace(&state, at, start_ms.unwrap_or(START_MS), listed, a.trace_source.as_deref());
            }
            for event in events {
                let Event::Warning(w) = event else { continue };
                match start_ms {
                    Some(s) if w.at_ms >= s => {
                        if warned_ms.is_none() {
                            warned_ms = Some(w.at_ms);
                            reasons = w.reasons.join("; ");
                        }
                    }
                    Some(_) => {
                        pre_outbreak_false += 1;
                        false_warnings.push((w, unusual(host, a.days)));
                    }
                    None => false_warnings.push((w, unusual(host, a.days))),
                }
            }
        }
        state_bytes = state_bytes.max(state.to_bytes().len());
        if let Some(o) = &host.outbreak {
            pre_outbreak_days += (o.start_ms - START_MS) as f64 / DAY_MS as f64;
            fates.push(Fate {
                kind: o.kind,
                start_ms: o.start_ms,
                listed_ms: o.listed_ms,
                warned_ms,
                reasons,
                detail: o.describe(),
            });
        }
    }
    let elapsed = started.elapsed();

    println!(
        "outbreak replay: {} clean hosts + {} per outbreak kind, {} days, seed {}",
        a.hosts, a.per_kind, a.days, a.seed
    );
    println!(
        "  {} reports in {:.1} s ({:.0} reports/s, {:.1} µs each); largest host state {} bytes",
        reports,
        elapsed.as_secs_f64(),
        reports as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / reports as f64,
        state_bytes
    );
    println!();
    println!(
        "  {:<24} {:>5} {:>7} {:>7} {:>6} {:>12} {:>12} {:>14} {:>14}",
        "kind", "runs", "listed", "warned", "missed", "median lead", "worst lead", "median detect", "median listing"
    );
    let mut all_leads = Vec::new();
    let mut missed_total = 0;
    for kind in kinds {
        let of_kind: Vec<&Fate> = fates.iter().filter(|f| f.kind == kind).collect();
        let listed: Vec<&&Fate> = of_kind.iter().filter(|f| f.listed_ms.is_some()).collect();
        let leads: Vec<f64> = listed
            .iter()
            .filter_map(|f| {
                f.warned_ms.filter(|w| Some(*w) < f.listed_ms).map(|w| minutes_between(w, f.listed_ms.unwrap_or(w)))
            })
            .collect();
        let missed = listed.len() - leads.len();
        missed_total += missed;
        all_leads.extend(&leads);
        let detect: Vec<f64> =
            of_kind.iter().filter_map(|f| f.warned_ms.map(|w| minutes_between(f.start_ms, w))).collect();
        let listing: Vec<f64> =
            listed.iter().filter_map(|f| f.listed_ms.map(|l| minutes_between(f.start_ms, l))).collect();
        println!(
            "  {:<24} {:>5} {:>7} {:>7} {:>6} {:>12} {:>12} {:>14} {:>14}",
            kind.name(),
            of_kind.len(),
            listed.len(),
            of_kind.iter().filter(|f| f.warned_ms.is_some()).count(),
            missed,
            minutes(median(&leads)),
            minutes(leads.iter().copied().reduce(f64::min)),
            minutes(median(&detect)),
            minutes(median(&listing)),
        );
        if a.verbose {
            for f in &of_kind {
                println!(
                    "    start +{:.2} d, warned {}, listed {}: {}\n      {}",
                    (f.start_ms - START_MS) as f64 / DAY_MS as f64,
                    minutes(f.warned_ms.map(|w| minutes_between(f.start_ms, w))),
                    minutes(f.listed_ms.map(|l| minutes_between(f.start_ms, l))),
                    f.detail,
                    f.reasons
                );
            }
        }
    }
    println!(
        "  {:<24} {:>5} {:>7} {:>7} {:>6} {:>12} {:>12}",
        "all",
        fates.len(),
        "",
        "",
        missed_total,
        minutes(median(&all_leads)),
        minutes(all_leads.iter().copied().reduce(f64::min))
    );
    let clean_days = a.hosts as f64 * f64::from(a.days);
    let clean_false = false_warnings.len() - pre_outbreak_false;
    println!();
    println!(
        "  false warnings: {} on {} clean host-days = {:.2} per 1,000 host-days; {} on {:.0} outbreak-host days before their outbreak",
        clean_false,
        clean_days,
        clean_false as f64 * 1000.0 / clean_days.max(1.0),
        pre_outbreak_false,
        pre_outbreak_days
    );
    let mut kinds: Vec<&str> = hosts.iter().flat_map(|h| h.lookalikes.iter().map(|l| l.what)).collect();
    kinds.sort_unstable();
    kinds.dedup();
    for what in kinds {
        let with = hosts.iter().filter(|h| h.lookalikes.iter().any(|l| l.what == what)).count();
        let warned = false_warnings.iter().filter(|(w, u)| during(w.at_ms, u).contains(&what)).count();
        println!("  look-alike \"{what}\": on {with} clean hosts, {warned} false warnings during it");
    }
    for (w, episodes) in false_warnings.iter().take(if a.verbose { 50 } else { 10 }) {
        let during = during(w.at_ms, episodes);
        let subject = match &w.subject {
            Subject::Host => "host".to_owned(),
            Subject::Source { id, .. } => id.clone(),
        };
        println!(
            "    {} +{:.2} d {} (during: {}): {}",
            w.host_id,
            (w.at_ms - START_MS) as f64 / DAY_MS as f64,
            subject,
            if during.is_empty() { "nothing special".to_owned() } else { during.join(", ") },
            w.reasons.join("; ")
        );
    }
}

/// The host's legitimate bursts and look-alikes: what, from, to.
fn unusual(host: &Host, days: u32) -> Vec<(&'static str, i64, i64)> {
    let bursts = host.episodes.iter().map(|e| (e.what, e.start, e.end));
    bursts
        .chain(host.lookalikes.iter().map(|l| {
            let (from, to) = l.span(days);
            (l.what, from, to)
        }))
        .collect()
}

/// Two lines of `--trace`: one source's window, baseline and own signals;
/// the host's window and baseline, its signals, its receivers and its
/// busiest sources' windows.
fn trace(state: &HostState, at: i64, start_ms: i64, listed_ms: Option<i64>, want: Option<&str>) {
    let w = state.recent();
    let b = &state.baseline;
    let fired: Vec<String> =
        state.signals(at).iter().map(|f| format!("{:.2} {}", f.strength, f.signal.reason())).collect();
    let mut sources: Vec<_> = state.sources().iter().map(|s| (s.recent(), s)).collect();
    sources.sort_by_key(|(c, _)| std::cmp::Reverse(c.messages));
    let top: Vec<String> = sources
        .iter()
        .take(3)
        .filter(|(c, _)| c.messages > 0)
        .map(|(c, s)| {
            format!("{}:{}m/{}b/{}d{}", s.id, c.messages, c.bounced, c.deferred, if s.is_warned() { "!" } else { "" })
        })
        .collect();
    let receivers: Vec<String> = state
        .receivers()
        .iter()
        .filter(|r| r.recent().attempts > 0)
        .map(|r| {
            let c = r.recent();
            format!(
                "{}:{}a/{}d/{}b ({:.0}/h {:.1}%)",
                r.provider,
                c.attempts,
                c.deferred,
                c.bounced,
                r.messages.level,
                r.deferral.level * 100.0
            )
        })
        .collect();
    // One source's window, baseline and own signals: `want`, or the busiest.
    let shown = sources.iter().find(|(c, s)| want.map_or(c.messages > 0, |w| s.id.contains(w)));
    if let Some((c, s)) = shown {
        let b = &s.baseline;
        let fired: Vec<String> =
            s.signals(at).iter().map(|f| format!("{:.2} {}", f.strength, f.signal.reason())).collect();
        println!(
            "           {} {}m {}b {}d {}dom {}ips | usual {:.1}/h pk{:.0} b{:.1}% d{:.1}% dom{:.1} ips pk{:.1} | {}",
            s.id,
            c.messages,
            c.bounced,
            c.deferred,
            c.domains,
            c.client_ips,
            b.messages.level,
            b.messages.peak,
            b.bounce.level * 100.0,
            b.deferral.level * 100.0,
            b.domains.level,
            b.client_ips.peak,
            fired.join("; ")
        );
    }
    println!(
        "  {:+7.0} min{} host {}m {}b {}d {}rep q{}..{} | usual {:.0}/h b{:.1}% d{:.1}% rep{:.1}/h q{:.0} | {} | {} | {}",
        minutes_between(start_ms, at),
        if listed_ms.is_some_and(|l| l <= at) { " LISTED" } else { "" },
        w.messages,
        w.bounced,
        w.deferred,
        w.reputation,
        w.queue_first,
        w.queue_last,
        b.messages.level,
        b.bounce.level * 100.0,
        b.deferral.level * 100.0,
        b.reputation.level,
        b.queue.peak,
        fired.join("; "),
        receivers.join(" "),
        top.join(" ")
    );
}

/// What was going on at `at_ms` (or had ended within the hour).
fn during(at_ms: i64, unusual: &[(&'static str, i64, i64)]) -> Vec<&'static str> {
    unusual.iter().filter(|(_, s, e)| *s <= at_ms && at_ms <= e + HOUR_MS).map(|(what, _, _)| *what).collect()
}

fn minutes_between(from: i64, to: i64) -> f64 {
    (to - from) as f64 / MINUTE_MS as f64
}

fn median(xs: &[f64]) -> Option<f64> {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

fn minutes(m: Option<f64>) -> String {
    match m {
        None => "-".into(),
        Some(m) if m.abs() >= 120.0 => format!("{:.1} h", m / 60.0),
        Some(m) => format!("{m:.0} min"),
    }
}
