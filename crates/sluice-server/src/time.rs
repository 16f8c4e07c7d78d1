//! Wall-clock helpers for JSON bodies: RFC 3339 timestamps, Go-style durations and
//! InfluxQL duration literals, over the shared rules in `sluice_lp::time` and
//! `sluice_influxql`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch, now (0 if the clock is before 1970).
pub(crate) fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// The current time as RFC 3339 UTC with seconds, e.g. `2024-01-02T03:04:05Z`.
pub(crate) fn rfc3339_now() -> String {
    rfc3339(SystemTime::now())
}

/// `time` as RFC 3339 UTC with seconds.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    sluice_lp::time::format_rfc3339_nano(
        i64::try_from(secs).unwrap_or(i64::MAX / 1_000_000_000) * 1_000_000_000,
    )
}

/// A duration as Go prints it (`1h2m3.5s`, `250ms`), as InfluxDB 2 shows uptime.
pub(crate) fn go_duration(duration: Duration) -> String {
    sluice_influxql::go_duration(i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX))
}

/// An InfluxQL duration literal (`30d`, `1h30m`; a bare `0` is zero) as a non-negative
/// duration; `None` when it is not one.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let nanos = u64::try_from(sluice_influxql::parse_duration(text).ok()?).ok()?;
    Some(Duration::from_nanos(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339_across_leap_years() {
        let at = |secs| rfc3339(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn formats_go_durations() {
        assert_eq!(go_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(go_duration(Duration::from_millis(3_723_500)), "1h2m3.5s");
    }

    #[test]
    fn parses_duration_literals() {
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2w"), Some(Duration::from_secs(1_209_600)));
        assert_eq!(parse_duration("15ms"), Some(Duration::from_millis(15)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("h"), None);
        assert_eq!(parse_duration("5y"), None);
    }
}
