use super::*;

#[test]
fn per_second_and_per_day_limits_hold() {
    let t0 = Instant::now();
    let mut b = Bucket::new(2.0, Some(5), t0, 10, 1);
    assert!(b.take(t0, 10).is_ok());
    assert!(b.take(t0, 10).is_ok());
    assert!(matches!(b.take(t0, 10), Err(Refusal::Later(_))));
    let t1 = t0 + Duration::from_secs(1);
    assert!(b.take(t1, 10).is_ok());
    assert!(b.take(t1, 10).is_ok());
    assert_eq!(b.take(t1 + Duration::from_secs(5), 10), Err(Refusal::DayExhausted { used: 5, limit: 5 }));
    // A new day resets the daily count.
    assert!(b.take(t1 + Duration::from_secs(5), 11).is_ok());
}
