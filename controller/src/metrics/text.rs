//! The Prometheus text exposition format, version 0.0.4.
//!
//! Hand-written rather than `prometheus-client`: the controller's numbers
//! already live in its own structures (atomics in `IngestStats`, counters in
//! the engine, records in the store), so a registry would only be a second
//! copy to keep in sync, and the format needs a page of code. The encoder
//! makes the rules hard to break: one `# HELP`/`# TYPE` pair per family, its
//! samples right after, escaped label values and help text, and histograms
//! with cumulative `_bucket` lines ending in `+Inf`, then `_sum` and `_count`.

use std::fmt::Write;

/// The `Content-Type` of this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// Builds one exposition.
#[derive(Debug, Default)]
pub struct Encoder {
    out: String,
}

/// A family being written: samples go under its `# TYPE` line.
#[derive(Debug)]
pub struct Family<'a> {
    out: &'a mut String,
    name: &'static str,
}

impl Encoder {
    pub fn new() -> Encoder {
        Encoder::default()
    }

    /// Starts a counter or gauge family. `name` and label names are code
    /// constants; they are checked in debug builds and by the tests.
    pub fn family(&mut self, name: &'static str, kind: Kind, help: &str) -> Family<'_> {
        debug_assert!(valid_name(name), "metric name {name:?}");
        debug_assert!(kind != Kind::Histogram, "histograms are written with Encoder::histogram");
        debug_assert!(kind != Kind::Counter || name.ends_with("_total"), "counter {name} must end in _total");
        self.header(name, kind, help);
        Family { out: &mut self.out, name }
    }

    /// Writes a whole histogram family with one series. `cumulative[i]` is
    /// the count of observations `<= bounds[i]`; its extra last element is
    /// the total (+Inf). Mismatched lengths write no samples (the family
    /// header stays, so the gap is visible) rather than a wrong histogram.
    pub fn histogram(
        &mut self,
        name: &'static str,
        help: &str,
        labels: &[(&'static str, &str)],
        bounds: &[f64],
        cumulative: &[u64],
        sum: f64,
    ) {
        debug_assert!(valid_name(name), "metric name {name:?}");
        self.header(name, Kind::Histogram, help);
        if cumulative.len() != bounds.len() + 1 {
            debug_assert!(false, "histogram {name}: {} buckets for {} bounds", cumulative.len(), bounds.len());
            return;
        }
        let les = bounds.iter().map(|b| format_value(*b)).chain(std::iter::once("+Inf".to_string()));
        for (le, count) in les.zip(cumulative) {
            let mut with_le: Vec<(&'static str, &str)> = labels.to_vec();
            with_le.push(("le", &le));
            write_sample(&mut self.out, name, "_bucket", &with_le, *count as f64);
        }
        write_sample(&mut self.out, name, "_sum", labels, sum);
        let count = cumulative.last().copied().unwrap_or(0);
        write_sample(&mut self.out, name, "_count", labels, count as f64);
    }

    pub fn finish(self) -> String {
        self.out
    }

    /// Bytes written so far: a mark to [`Encoder::truncate`] back to.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// Drops everything written after `mark` (a failed collector's families).
    pub fn truncate(&mut self, mark: usize) {
        self.out.truncate(mark);
    }

    fn header(&mut self, name: &str, kind: Kind, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
    }
}

impl Family<'_> {
    pub fn sample(&mut self, labels: &[(&'static str, &str)], value: f64) -> &mut Self {
        write_sample(self.out, self.name, "", labels, value);
        self
    }
}

fn write_sample(out: &mut String, name: &str, suffix: &str, labels: &[(&'static str, &str)], value: f64) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() {
        out.push('{');
        for (i, (label, value)) in labels.iter().enumerate() {
            debug_assert!(valid_name(label) && !label.starts_with("__"), "label name {label:?}");
            if i > 0 {
                out.push(',');
            }
            out.push_str(label);
            out.push_str("=\"");
            escape_label_value(out, value);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(&format_value(value));
    out.push('\n');
}

/// Label values escape backslash, double quote and line feed.
fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Help text escapes backslash and line feed (quotes stay).
fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Go-style float text: integers without a fraction, `+Inf`, `-Inf`, `NaN`.
pub fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        // Rust's shortest round-trip form ("0.001", "12", "1e21") parses in Prometheus.
        format!("{value}")
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*` (label names additionally never contain ':').
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_have_help_type_and_escaped_labels() {
        let mut e = Encoder::new();
        e.family("rblfleet_listings", Kind::Gauge, "Open listings.\nPer list \\ kind.")
            .sample(&[("list", "spamhaus-zen"), ("kind", "dns")], 3.0)
            .sample(&[("list", "we\"ird\\na\nme")], 0.5);
        e.family("rblfleet_ingest_reports_stored_total", Kind::Counter, "Stored.").sample(&[], 7.0);
        let text = e.finish();
        assert_eq!(
            text,
            "# HELP rblfleet_listings Open listings.\\nPer list \\\\ kind.\n\
             # TYPE rblfleet_listings gauge\n\
             rblfleet_listings{list=\"spamhaus-zen\",kind=\"dns\"} 3\n\
             rblfleet_listings{list=\"we\\\"ird\\\\na\\nme\"} 0.5\n\
             # HELP rblfleet_ingest_reports_stored_total Stored.\n\
             # TYPE rblfleet_ingest_reports_stored_total counter\n\
             rblfleet_ingest_reports_stored_total 7\n"
        );
    }

    #[test]
    fn histograms_are_cumulative_with_inf_sum_and_count() {
        let mut e = Encoder::new();
        e.histogram("rblfleet_x_seconds", "Latency.", &[("api", "agent")], &[0.001, 0.5], &[1, 3, 4], 2.25);
        assert_eq!(
            e.finish(),
            "# HELP rblfleet_x_seconds Latency.\n\
             # TYPE rblfleet_x_seconds histogram\n\
             rblfleet_x_seconds_bucket{api=\"agent\",le=\"0.001\"} 1\n\
             rblfleet_x_seconds_bucket{api=\"agent\",le=\"0.5\"} 3\n\
             rblfleet_x_seconds_bucket{api=\"agent\",le=\"+Inf\"} 4\n\
             rblfleet_x_seconds_sum{api=\"agent\"} 2.25\n\
             rblfleet_x_seconds_count{api=\"agent\"} 4\n"
        );
    }

    #[test]
    fn values_use_prometheus_spellings() {
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(1_700_000_000.5), "1700000000.5");
        assert_eq!(format_value(0.0), "0");
        assert_eq!(format_value(18_446_744_073_709_551_615u64 as f64).parse::<f64>().ok(), Some(u64::MAX as f64));
    }

    #[test]
    fn names_are_checked() {
        assert!(valid_name("rblfleet_zone_up") && valid_name("_x") && valid_name("a:b"));
        assert!(!valid_name("") && !valid_name("1abc") && !valid_name("a-b") && !valid_name("a b"));
    }
}
