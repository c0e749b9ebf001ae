#![allow(clippy::unwrap_used)]

use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use super::*;

/// The context of these tests: whether the "flaky" collector fails.
type Broken = AtomicBool;

fn corrupt() -> CollectError {
    StoreError::Corrupt { key: "hosts/web01".into(), reason: "truncated".into() }.into()
}

fn collectors() -> Vec<Collector<Broken>> {
    vec![
        Collector::new("first", |_: &Broken, e: &mut Encoder| {
            e.family("first_family", Kind::Gauge, "Written.").sample(&[], 1.0);
            Ok(())
        }),
        // Writes half of its families, then fails: none of them may remain.
        Collector::new("flaky", |broken: &Broken, e: &mut Encoder| {
            e.family("flaky_family", Kind::Gauge, "Written before the failure.").sample(&[], 2.0);
            if broken.load(Ordering::Relaxed) { Err(corrupt()) } else { Ok(()) }
        }),
        Collector::new("panics", |_: &Broken, e: &mut Encoder| {
            e.family("panics_family", Kind::Gauge, "Written before the panic.").sample(&[], 3.0);
            panic!("a bug in a collector");
        }),
        Collector::new("last", |_: &Broken, e: &mut Encoder| {
            e.family("last_family", Kind::Gauge, "Written.").sample(&[("x", "y")], 4.0);
            Ok(())
        }),
    ]
}

fn scrape(collectors: &[Collector<Broken>], broken: bool) -> String {
    let mut e = Encoder::new();
    collect_all(collectors, &AtomicBool::new(broken), &mut e);
    e.finish()
}

#[test]
fn a_failing_or_panicking_collector_drops_only_its_own_families() {
    let collectors = collectors();
    let text = scrape(&collectors, true);
    assert!(text.contains("\nfirst_family 1\n") && text.contains("\nlast_family{x=\"y\"} 4\n"), "{text}");
    assert!(!text.contains("flaky_family") && !text.contains("panics_family"), "{text}");
    for (name, ok) in [("first", 1), ("flaky", 0), ("panics", 0), ("last", 1)] {
        assert!(
            text.contains(&format!("\nrblfleet_scrape_collector_success{{collector=\"{name}\"}} {ok}\n")),
            "{text}"
        );
        let duration = format!("\nrblfleet_scrape_collector_duration_seconds{{collector=\"{name}\"}} ");
        let value = text.split(&duration).nth(1).and_then(|rest| rest.lines().next()).unwrap();
        assert!(value.parse::<f64>().unwrap() >= 0.0, "{name}: {value}");
    }
    assert_eq!(text.matches("# TYPE rblfleet_scrape_collector_success gauge\n").count(), 1);

    // Repaired: its families come back on the next scrape.
    let text = scrape(&collectors, false);
    assert!(text.contains("\nflaky_family 2\n"), "{text}");
    assert!(text.contains("\nrblfleet_scrape_collector_success{collector=\"flaky\"} 1\n"), "{text}");
}

/// A `MakeWriter` into a shared buffer, to read what was logged.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[test]
fn a_failure_streak_is_logged_once_with_its_cause_and_the_recovery_once() {
    let collectors: Vec<Collector<Broken>> = collectors().into_iter().filter(|c| c.name() != "panics").collect();
    let log = Captured::default();
    let subscriber = tracing_subscriber::fmt().with_writer(log.clone()).with_ansi(false).finish();
    tracing::subscriber::with_default(subscriber, || {
        for broken in [true, true, true, false, false, true] {
            scrape(&collectors, broken);
        }
    });
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let failed: Vec<&str> = text.lines().filter(|l| l.contains("metrics collector failed")).collect();
    assert_eq!(failed.len(), 2, "two streaks: {text}");
    assert!(failed.iter().all(|l| l.contains("collector=\"flaky\"") || l.contains("collector=flaky")), "{text}");
    assert!(failed[0].contains("stored record hosts/web01 is corrupt: truncated"), "{text}");
    assert_eq!(text.matches("metrics collector works again").count(), 1, "{text}");
}
