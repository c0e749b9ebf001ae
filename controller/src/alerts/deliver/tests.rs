use super::*;

#[test]
fn backoff_doubles_up_to_the_maximum() {
    let retry = RetryConfig {
        attempts: 10,
        initial: Duration::from_secs(2),
        max: Duration::from_secs(60),
        timeout: Duration::from_secs(1),
    };
    let waits: Vec<u64> = (1..=7).map(|a| backoff(&retry, a).as_secs()).collect();
    assert_eq!(waits, [2, 4, 8, 16, 32, 60, 60]);
    assert_eq!(backoff(&retry, 200).as_secs(), 60, "no overflow on long runs");
}
