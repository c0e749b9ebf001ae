//! Time as the controller stores it: Unix milliseconds in an `i64`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now, in Unix ms (0 if the clock is before 1970).
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(millis).unwrap_or(0)
}

/// A duration in ms, saturating (a configured "forever" must not wrap).
pub fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// `ms` as RFC 3339 UTC to the second (`1970-01-01T00:00:00Z` for 0 and earlier).
pub fn rfc3339(ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(at).to_string()
}
