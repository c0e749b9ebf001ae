use super::*;

#[test]
fn latency_lands_in_cumulative_buckets() {
    let stats = IngestStats::default();
    stats.stored(Duration::from_micros(500));
    stats.stored(Duration::from_millis(30));
    stats.duplicate(Duration::from_secs(10));
    stats.refused(Refusal::Overloaded);
    let snap = stats.snapshot();
    assert_eq!((snap.stored, snap.duplicates), (2, 1));
    assert_eq!(snap.latency_cumulative[0], 1, "0.5 ms is under 1 ms");
    assert_eq!(snap.latency_cumulative[5], 2, "30 ms is under 50 ms");
    assert_eq!(*snap.latency_cumulative.last().unwrap_or(&0), 3, "+Inf holds everything");
    assert_eq!(snap.refused[3], (Refusal::Overloaded, 1));
    let guard = stats.enter();
    assert_eq!(stats.in_flight(), 1);
    drop(guard);
    assert_eq!(stats.in_flight(), 0);
}
