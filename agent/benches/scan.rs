//! Log generator for the `scan` and follow benchmarks (not a test; prints
//! nothing but what it is asked for). See `agent/benches/scan.sh`.
//!
//! ```sh
//! cargo bench -p rblfleet-agent --bench scan -- generate OUT MB
//! cargo bench -p rblfleet-agent --bench scan -- generate-outbreak OUT MB
//! cargo bench -p rblfleet-agent --bench scan -- append OUT LINES_PER_SEC SECS
//! ```
//!
//! `generate` writes a realistic Plesk Postfix log of at least MB megabytes:
//! per minute, webmail and mail-client submissions (SASL), inbound mail to
//! local mailboxes, PHP `mail()` through pickup with Plesk's
//! `X-PHP-Originating-Script` warning, cron mail, the connect/TLS/disconnect
//! chatter, NOQUEUE rejects and SASL failures around them; 3 % of remote
//! deliveries deferred and retried, 1.5 % bounced; plus a hijacked mailbox
//! (blocklist refusals, many login IPs), a PHP form spammer (Yahoo TSS04
//! deferrals, bounces) and a clean newsletter, so the summary has suspects.
//! `generate-outbreak` writes the same host once it is compromised: its IPs
//! are listed, a third of all remote delivery attempts are refused, in the
//! documented wordings of every big receiver and of customer MXes' DNSBLs
//! (hundreds of distinct wordings, each with varying IPs, recipients and
//! tracking ids), with unknown users, full mailboxes, greylisting and
//! timeouts among them, and a hijacked mailbox runs a spam campaign.
//! `append` writes the same kind of lines to OUT at a steady rate, stamped
//! with the current time, as a busy MTA would. `stages` times parsing and
//! tracking separately, on one thread.

#[path = "scan/generator.rs"]
mod generator;
#[path = "scan/outbreak.rs"]
mod outbreak;

use std::io::{BufWriter, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use generator::Gen;

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_secs()).unwrap_or(0)).unwrap_or(0)
}

/// `generate OUT MB` and `generate-outbreak OUT MB`
fn generate(out: &str, mb: u64, outbreak: bool) -> std::io::Result<()> {
    let mut file = BufWriter::with_capacity(1 << 20, std::fs::File::create(out)?);
    let mut counter = CountingWriter { inner: &mut file, bytes: 0 };
    // Start a week ago so every year-less date is in the past.
    let start = unix_now() - 7 * 86_400;
    let mut g = if outbreak { Gen::outbreak(42, start) } else { Gen::new(42, start) };
    let mut minute = 0;
    while counter.bytes < mb * 1_000_000 {
        g.minute(&mut counter, minute)?;
        minute += 1;
        g.now += 30;
    }
    let bytes = counter.bytes;
    file.flush()?;
    println!("wrote {out}: {bytes} bytes, {minute} simulated minutes");
    let share = g.failed as f64 * 100.0 / g.attempts.max(1) as f64;
    print!("remote delivery attempts: {}, not accepted: {} ({share:.1} %)", g.attempts, g.failed);
    match &g.outbreak {
        Some(o) => println!("; {} refusals from the catalog in {} distinct wordings", o.refusals, o.wordings()),
        None => println!(),
    }
    Ok(())
}

/// `append OUT RATE SECS`: about RATE lines per second for SECS seconds.
fn append(out: &str, rate: u64, secs: u64) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(out)?;
    let mut g = Gen::new(7, unix_now());
    let start = Instant::now();
    let (mut lines, mut minute) = (0u64, 0u64);
    let mut buf = Vec::with_capacity(1 << 16);
    while start.elapsed() < Duration::from_secs(secs) {
        g.now = unix_now();
        g.minute(&mut buf, minute)?;
        minute += 1;
        lines += buf.iter().filter(|&&b| b == b'\n').count() as u64;
        file.write_all(&buf)?;
        buf.clear();
        // Hold the rate: sleep until the lines written so far are due.
        let due = Duration::from_secs_f64(lines as f64 / rate.max(1) as f64);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    println!("appended {lines} lines to {out} in {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

struct CountingWriter<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// `stages FILE`: the cost of each scan stage on one thread — parsing alone,
/// then tracking and aggregating the parsed events — to see where time goes;
/// then, on a fresh thread (a cold verdict cache), classifying the replies of
/// the failed deliveries alone, which tracking includes. Last, it checks that
/// every cached verdict is the uncached one, and says so.
fn stages(path: &str) -> std::io::Result<()> {
    use rblfleet_agent::attribution::{Aggregator, Limits, Tracker, UserMap};
    use rblfleet_agent::bounce::{self, BUILTIN_SIGNATURES, Table};
    use rblfleet_agent::parse::{DeliveryStatus, Event, Parser};
    let text = std::fs::read_to_string(path)?;
    let mut parser = Parser::new(unix_now() * 1000);
    let mut events = Vec::new();
    let start = Instant::now();
    for line in text.lines() {
        parser.parse_line(line, &mut events);
    }
    let parse = start.elapsed();
    let count = events.len();
    let start = Instant::now();
    let mut tracker = Tracker::new(200_000, UserMap::default());
    let mut agg = Aggregator::new(Limits { max_sources: 200_000, ..Limits::default() });
    for event in &events {
        tracker.event(event, &mut agg);
    }
    let track = start.elapsed();
    let replies: Vec<String> = events
        .into_iter()
        .filter_map(|e| match e {
            Event::Delivery { status, reply, .. } if status != DeliveryStatus::Sent => Some(reply),
            _ => None,
        })
        .collect();
    let (classify, hits, misses) = std::thread::scope(|s| {
        s.spawn(|| {
            let start = Instant::now();
            for reply in &replies {
                std::hint::black_box(rblfleet_agent::bounce::classify(reply));
            }
            let (hits, misses) = rblfleet_agent::bounce::cache_stats();
            (start.elapsed(), hits, misses)
        })
        .join()
        .unwrap_or_default()
    });
    let mb = text.len() as f64 / 1e6;
    println!(
        "parse {:.3} s ({:.0} MB/s, {count} events); track+aggregate {:.3} s; sources {}",
        parse.as_secs_f64(),
        mb / parse.as_secs_f64(),
        track.as_secs_f64(),
        agg.source_count()
    );
    println!(
        "of which classify {:.3} s: {} failed deliveries, {:.2} µs each; verdict cache {hits} hits, {misses} misses",
        classify.as_secs_f64(),
        replies.len(),
        classify.as_secs_f64() * 1e6 / replies.len().max(1) as f64
    );
    let table = Table::from_toml(BUILTIN_SIGNATURES).map_err(std::io::Error::other)?;
    let differ: Vec<&String> = replies.iter().filter(|r| bounce::classify(r) != table.classify(r)).collect();
    println!(
        "cached and uncached verdicts differ on {} of {} replies{}",
        differ.len(),
        replies.len(),
        differ.first().map(|r| format!(", e.g. {r}")).unwrap_or_default()
    );
    Ok(())
}

/// `stage FILE parse|track [RUNS]`: one stage alone, RUNS times over (9),
/// for a profiler (`perf record`, `valgrind --tool=callgrind`) to see
/// nothing else; prints the fastest run.
fn stage(path: &str, which: &str, runs: u32) -> std::io::Result<()> {
    use rblfleet_agent::attribution::{Aggregator, Limits, Tracker, UserMap};
    use rblfleet_agent::parse::Parser;
    let text = std::fs::read_to_string(path)?;
    let mut events = Vec::new();
    let mut parser = Parser::new(unix_now() * 1000);
    text.lines().for_each(|line| parser.parse_line(line, &mut events));
    let mut best = f64::MAX;
    for _ in 0..runs {
        let start = Instant::now();
        match which {
            "parse" => {
                let mut parser = Parser::new(unix_now() * 1000);
                let mut out = Vec::new();
                for line in text.lines() {
                    parser.parse_line(line, &mut out);
                    if out.len() >= 4096 {
                        out.clear();
                    }
                }
            }
            // On a new thread each time: a cold verdict cache, as in a scan.
            _ => std::thread::scope(|s| {
                s.spawn(|| {
                    let mut tracker = Tracker::new(200_000, UserMap::default());
                    let mut agg = Aggregator::new(Limits { max_sources: 200_000, ..Limits::default() });
                    for event in &events {
                        tracker.event(event, &mut agg);
                    }
                });
            }),
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    println!("{which}: {best:.3} s at best of {runs} runs");
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [mode @ ("generate" | "generate-outbreak"), out, mb] => mb
            .parse()
            .map_err(|e| format!("MB: {e}"))
            .and_then(|mb| generate(out, mb, *mode == "generate-outbreak").map_err(|e| format!("{out}: {e}"))),
        ["append", out, rate, secs] => match (rate.parse(), secs.parse()) {
            (Ok(rate), Ok(secs)) => append(out, rate, secs).map_err(|e| format!("{out}: {e}")),
            _ => Err("RATE and SECS are numbers".to_string()),
        },
        ["stages", path] => stages(path).map_err(|e| format!("{path}: {e}")),
        ["stage", path, which] => stage(path, which, 9).map_err(|e| format!("{path}: {e}")),
        ["stage", path, which, runs] => match runs.parse() {
            Ok(runs) => stage(path, which, runs).map_err(|e| format!("{path}: {e}")),
            Err(e) => Err(format!("RUNS: {e}")),
        },
        // `cargo bench` without arguments runs every bench: nothing to do here.
        [] => Ok(()),
        _ => Err("usage: scan generate OUT MB | scan generate-outbreak OUT MB | scan append OUT LINES_PER_SEC SECS | \
                  scan stages FILE | scan stage FILE parse|track [RUNS]"
            .to_string()),
    };
    if let Err(e) = result {
        eprintln!("scan bench: {e}");
        std::process::exit(2);
    }
}
