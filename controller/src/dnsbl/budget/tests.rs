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

#[test]
fn another_controllers_queries_count_against_the_day() {
    let t0 = Instant::now();
    let mut b = Bucket::new(100.0, Some(10), t0, 10, 2);
    assert!(b.take(t0, 10).is_ok());
    // The store says 9 were sent today across the fleet: one is left.
    b.catch_up(10, 9);
    assert!(b.take(t0, 10).is_ok());
    assert_eq!(b.take(t0, 10), Err(Refusal::DayExhausted { used: 10, limit: 10 }));
    // A lower figure (this bucket's own queries not yet stored) changes nothing.
    b.catch_up(10, 4);
    assert_eq!(b.used_today(), 10);
    // The next day starts from the store's count.
    b.catch_up(11, 3);
    assert_eq!(b.used_today(), 3);
}

/// A probe sends two queries: the day must have room for both, and a new
/// day starts empty even before the bucket has seen it.
#[test]
fn room_counts_queries_and_a_new_day_starts_empty() {
    let now = Instant::now();
    let b = Bucket::new(10.0, Some(6), now, 7, 5);
    assert!(b.has_room(7, 1));
    assert!(!b.has_room(7, 2));
    assert!(b.has_room(8, 2));
    assert!(Bucket::new(10.0, None, now, 7, 1_000_000).has_room(7, 2));
}
