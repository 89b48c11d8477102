//! Instants as the stores and the wire write them: counts since the Unix epoch, and RFC 3339
//! in whole seconds. The one place a `SystemTime` is converted.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Microseconds since the epoch, as the Redis registry keeps times (0 before it).
pub fn unix_micros(at: SystemTime) -> u64 {
    since_epoch(at).as_micros().try_into().unwrap_or(u64::MAX)
}

pub fn from_unix_micros(micros: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(micros)
}

/// Milliseconds since the epoch, as the SQL tables keep times (0 before it).
pub fn unix_millis(at: SystemTime) -> i64 {
    since_epoch(at).as_millis().try_into().unwrap_or(i64::MAX)
}

/// A time the SQL tables kept; a negative count (which they never write) is the epoch.
pub fn from_unix_millis(millis: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(millis.try_into().unwrap_or(0))
}

/// Seconds since the epoch, as a JWT's `exp` counts them.
pub fn unix_seconds(at: SystemTime) -> u64 {
    since_epoch(at).as_secs()
}

/// The start of the `every`-long interval (counted from the epoch) that `at` falls in.
pub fn start_of_interval(at: SystemTime, every: Duration) -> SystemTime {
    let every_ms = every.as_millis().max(1);
    let ms = since_epoch(at).as_millis();
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms - ms % every_ms).unwrap_or(u64::MAX))
}

/// RFC 3339 in whole seconds, UTC (`2026-11-21T10:00:00Z`): how the wire writes times.
pub fn rfc3339_seconds(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

fn since_epoch(at: SystemTime) -> Duration {
    at.duration_since(UNIX_EPOCH).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_trip_and_clamp_before_the_epoch() {
        let at = UNIX_EPOCH + Duration::from_micros(1_795_255_200_123_456);
        assert_eq!(from_unix_micros(unix_micros(at)), at);
        assert_eq!(unix_millis(at), 1_795_255_200_123);
        assert_eq!(from_unix_millis(unix_millis(at)), UNIX_EPOCH + Duration::from_millis(1_795_255_200_123));
        assert_eq!(unix_seconds(at), 1_795_255_200);
        let before = UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!((unix_micros(before), unix_millis(before)), (0, 0));
        assert_eq!(from_unix_millis(-5), UNIX_EPOCH);
        assert_eq!(rfc3339_seconds(at), "2026-11-21T10:00:00Z");
    }

    #[test]
    fn intervals_start_at_a_multiple_of_their_length() {
        let at = |ms| UNIX_EPOCH + Duration::from_millis(ms);
        let minute = Duration::from_secs(60);
        assert_eq!(start_of_interval(at(120_000), minute), at(120_000));
        assert_eq!(start_of_interval(at(179_999), minute), at(120_000));
        assert_eq!(start_of_interval(at(180_001), minute), at(180_000));
        assert_eq!(start_of_interval(at(5), Duration::ZERO), at(5));
    }
}
