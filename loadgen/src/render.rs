//! The results: a table for people, JSON for scripts, CSV for the timeline.

use std::io::{self, Write};

use serde::Serialize;

use crate::run::Summary;
use crate::sample::Sample;

/// How the run was set up, printed with the figures so a number is never
/// separated from what produced it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Setup {
    pub controller: String,
    pub controller_pid: Option<u32>,
    pub data_dir: Option<String>,
    pub certs_issued: usize,
    pub certs_reused: usize,
    pub certs_s: f64,
    pub fd_soft_limit: Option<u64>,
}

#[derive(Serialize)]
struct Json<'a> {
    setup: &'a Setup,
    #[serde(flatten)]
    summary: &'a Summary,
    lossless: bool,
}

pub fn json(out: &mut dyn Write, setup: &Setup, summary: &Summary) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &Json { setup, summary, lossless: summary.lossless() })?;
    writeln!(out)
}

pub fn table(out: &mut dyn Write, setup: &Setup, s: &Summary) -> io::Result<()> {
    writeln!(
        out,
        "rblfleet-loadgen: {} agents, {} for {} s (offered {:.1} reports/s) against {}",
        s.agents, s.load, s.duration_s, s.offered_per_s, setup.controller
    )?;
    writeln!(
        out,
        "setup        certificates {} issued in {:.1} s, {} reused; {} TLS connections in {:.1} s",
        setup.certs_issued, setup.certs_s, setup.certs_reused, s.agents, s.connect_s
    )?;
    writeln!(
        out,
        "reports      generated {}, acked {} (duplicates {}), rejected {}, unacked {}, retries {}",
        s.generated, s.acked, s.duplicates, s.rejected, s.unacked, s.retries
    )?;
    writeln!(out, "throughput   {:.1} acks/s during the run ({} acks)", s.acks_per_s, s.acked_in_window)?;
    let p = |p: &crate::stats::Percentiles| {
        format!("p50 {:.1} ms  p90 {:.1} ms  p99 {:.1} ms  max {:.1} ms", p.p50, p.p90, p.p99, p.max)
    };
    writeln!(out, "latency      {}  (due -> ack, queueing and retries included)", p(&s.latency_ms))?;
    writeln!(out, "rpc          {}  (one successful send)", p(&s.rpc_latency_ms))?;
    let errors = if s.errors.is_empty() {
        "none".to_string()
    } else {
        s.errors.iter().map(|(code, n)| format!("{code} {n}")).collect::<Vec<_>>().join(", ")
    };
    writeln!(out, "errors       {errors}")?;
    if let Some(line) = controller_line(&s.timeline) {
        writeln!(out, "controller   {line}")?;
    }
    for warning in &s.warnings {
        writeln!(out, "warning      {warning}")?;
    }
    if s.lossless() {
        writeln!(out, "verdict      nothing lost: every generated report was acknowledged")?;
    } else {
        writeln!(
            out,
            "verdict      NOT ALL ACKNOWLEDGED: {} of {} reports (rejected {}, still unacked {} after the drain)",
            s.acked, s.generated, s.rejected, s.unacked
        )?;
    }
    writeln!(
        out,
        "\n{:>8} {:>10} {:>9} {:>8} {:>8} {:>7} {:>9} {:>10}",
        "t (s)", "acked", "acks/s", "backlog", "retries", "errors", "RSS MiB", "data MiB"
    )?;
    for t in &s.timeline {
        writeln!(
            out,
            "{:>8.1} {:>10} {:>9.1} {:>8} {:>8} {:>7} {:>9} {:>10}",
            t.t_s,
            t.acked,
            t.acks_per_s,
            t.backlog,
            t.retries,
            t.errors,
            opt_mib(t.rss_kib.map(|k| k * 1024)),
            opt_mib(t.data_bytes)
        )?;
    }
    Ok(())
}

/// "RSS 40.1 → 82.3 MiB (max 85.0), data 0.1 → 120.4 MiB", when sampled.
fn controller_line(timeline: &[Sample]) -> Option<String> {
    let mut parts = Vec::new();
    let rss: Vec<u64> = timeline.iter().filter_map(|t| t.rss_kib).collect();
    if let (Some(first), Some(last), Some(max)) = (rss.first(), rss.last(), rss.iter().max()) {
        let mib = |k: u64| k as f64 / 1024.0;
        parts.push(format!("RSS {:.1} -> {:.1} MiB (max {:.1})", mib(*first), mib(*last), mib(*max)));
    }
    let data: Vec<u64> = timeline.iter().filter_map(|t| t.data_bytes).collect();
    if let (Some(first), Some(last)) = (data.first(), data.last()) {
        parts.push(format!("data {} -> {} MiB", opt_mib(Some(*first)), opt_mib(Some(*last))));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

fn opt_mib(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "-".into(), |b| format!("{:.1}", b as f64 / (1024.0 * 1024.0)))
}

/// The timeline as CSV, one row per sample; empty cells where not sampled.
pub fn timeline_csv(out: &mut dyn Write, timeline: &[Sample]) -> io::Result<()> {
    writeln!(out, "t_s,generated,acked,acks_per_s,backlog,retries,errors,rss_kib,data_bytes")?;
    let opt = |v: Option<u64>| v.map_or_else(String::new, |v| v.to_string());
    for t in timeline {
        writeln!(
            out,
            "{:.3},{},{},{:.1},{},{},{},{},{}",
            t.t_s,
            t.generated,
            t.acked,
            t.acks_per_s,
            t.backlog,
            t.retries,
            t.errors,
            opt(t.rss_kib),
            opt(t.data_bytes)
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::stats::Percentiles;

    fn summary() -> Summary {
        Summary {
            agents: 2,
            load: "rate 10/s".into(),
            offered_per_s: 10.0,
            duration_s: 2.0,
            connect_s: 0.1,
            generated: 20,
            acked: 19,
            acked_in_window: 19,
            acks_per_s: 9.5,
            duplicates: 0,
            rejected: 0,
            unacked: 1,
            retries: 3,
            errors: [("RESOURCE_EXHAUSTED".to_string(), 3)].into(),
            latency_ms: Percentiles { count: 19, p50: 1.5, p90: 2.0, p99: 7.25, max: 9.0, mean: 1.7 },
            rpc_latency_ms: Percentiles::default(),
            timeline: vec![
                Sample { t_s: 0.0, rss_kib: Some(10_240), data_bytes: Some(1 << 20), ..Sample::default() },
                Sample { t_s: 2.0, acked: 19, rss_kib: Some(20_480), data_bytes: None, ..Sample::default() },
            ],
            warnings: vec![],
        }
    }

    #[test]
    fn table_shows_figures_errors_and_the_loss() {
        let mut out = Vec::new();
        table(&mut out, &Setup::default(), &summary()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("p99 7.2 ms") || text.contains("p99 7.3 ms"), "{text}");
        assert!(text.contains("RESOURCE_EXHAUSTED 3"), "{text}");
        assert!(text.contains("RSS 10.0 -> 20.0 MiB (max 20.0)"), "{text}");
        assert!(text.contains("NOT ALL ACKNOWLEDGED: 19 of 20"), "{text}");
    }

    #[test]
    fn json_and_csv_carry_every_sample() {
        let mut out = Vec::new();
        json(&mut out, &Setup::default(), &summary()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["latency_ms"]["p99"], 7.25);
        assert_eq!(v["lossless"], false);
        assert_eq!(v["timeline"].as_array().unwrap().len(), 2);
        let mut out = Vec::new();
        timeline_csv(&mut out, &summary().timeline).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2], "2.000,0,19,0.0,0,0,0,20480,");
    }
}
