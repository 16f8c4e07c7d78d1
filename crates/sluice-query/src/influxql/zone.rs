//! `tz('…')`: a statement's time zone, and the `GROUP BY time` buckets it shapes.
//!
//! As in InfluxDB 1.x, a zone moves bucket boundaries to local time (a `time(1d)`
//! bucket runs from local midnight to local midnight, 23 or 25 hours across a change of
//! the clocks), reads time strings written without an offset as local time, and writes
//! the times of the answer as RFC 3339 with the zone's offset.

use std::fmt::Write as _;

use chrono::{LocalResult, Offset, TimeZone as _};
use chrono_tz::Tz;
use sluice_influxql::ast::SelectStatement;

use crate::error::{Error, Result};

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// The time zone a statement names with `tz()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZone(Tz);

impl TimeZone {
    /// The zone named `name` (an IANA name such as `America/Chicago`; empty is UTC).
    pub fn named(name: &str) -> Result<TimeZone> {
        if name.is_empty() {
            return Ok(TimeZone(Tz::UTC));
        }
        name.parse::<Tz>()
            .map(TimeZone)
            .map_err(|_| Error::Invalid(format!("unable to find time zone {name}")))
    }

    /// The zone's IANA name (`UTC` for `tz('')`), as Arrow names a timestamp's zone.
    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// The zone of `stmt`'s `tz()`, if it has one.
    pub(crate) fn of(stmt: &SelectStatement) -> Result<Option<TimeZone>> {
        stmt.timezone.as_deref().map(TimeZone::named).transpose()
    }

    /// The zone's offset from UTC at instant `t` (ns since the epoch), in nanoseconds.
    pub(crate) fn offset_at(self, t: i64) -> i64 {
        let seconds = t.div_euclid(NANOS_PER_SECOND);
        let instant = chrono::DateTime::from_timestamp(seconds, 0)
            .unwrap_or_default()
            .naive_utc();
        let offset = self.0.offset_from_utc_datetime(&instant).fix();
        i64::from(offset.local_minus_utc()) * NANOS_PER_SECOND
    }

    /// The instant at which the zone's clocks show `local` (ns since the epoch read as
    /// a wall-clock time). A time the clocks skip is read with the offset before the
    /// change; a time they show twice is the earlier instant.
    pub(crate) fn instant_of_local(self, local: i64) -> i64 {
        let seconds = local.div_euclid(NANOS_PER_SECOND);
        let nanos = local.rem_euclid(NANOS_PER_SECOND);
        let Some(wall) = chrono::DateTime::from_timestamp(seconds, 0).map(|d| d.naive_utc()) else {
            return local;
        };
        let offset = match self.0.offset_from_local_datetime(&wall) {
            LocalResult::Single(o) | LocalResult::Ambiguous(o, _) => o.fix().local_minus_utc(),
            LocalResult::None => {
                let before = wall - chrono::Duration::days(1);
                self.0
                    .offset_from_utc_datetime(&before)
                    .fix()
                    .local_minus_utc()
            }
        };
        (seconds - i64::from(offset))
            .saturating_mul(NANOS_PER_SECOND)
            .saturating_add(nanos)
    }

    /// `t` as RFC 3339 in the zone: the local date and time, as many fractional digits
    /// as are not trailing zeros, and the offset (`Z` where it is UTC's, as InfluxDB
    /// writes it).
    pub fn format_rfc3339(self, t: i64) -> String {
        let mut out = String::new();
        self.push_rfc3339(&mut out, t);
        out
    }

    /// [`TimeZone::format_rfc3339`], appended to `out`.
    pub(crate) fn push_rfc3339(self, out: &mut String, t: i64) {
        let offset = self.offset_at(t);
        sluice_lp::time::push_rfc3339_nano(out, t.saturating_add(offset));
        if offset == 0 {
            return;
        }
        out.pop(); // the `Z` of UTC
        let minutes = offset.abs() / (60 * NANOS_PER_SECOND);
        let sign = if offset < 0 { '-' } else { '+' };
        let _ = write!(out, "{sign}{:02}:{:02}", minutes / 60, minutes % 60);
    }
}

impl std::fmt::Display for TimeZone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.name())
    }
}

/// The buckets of `GROUP BY time(interval, offset)`, in UTC or in a statement's zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Buckets {
    pub(crate) interval: i64,
    pub(crate) offset: i64,
    pub(crate) zone: Option<TimeZone>,
}

impl Buckets {
    /// The buckets of `stmt`, if it groups by time.
    pub(crate) fn of(stmt: &SelectStatement, zone: Option<TimeZone>) -> Option<Buckets> {
        let (interval, offset) = stmt.group_by_time()?;
        Some(Buckets {
            interval,
            offset,
            zone,
        })
    }

    /// Whether every bucket is `interval` long (no zone, or one whose offset never
    /// changes, as UTC's).
    pub(crate) fn even(&self) -> bool {
        self.zone.is_none_or(|z| z.0 == Tz::UTC)
    }

    /// The start of the bucket holding `t`. In a zone, buckets are cut where the local
    /// clock is a multiple of the interval (plus the offset) since the epoch; where the
    /// clocks change inside a bucket, its start moves by the change when that is shorter
    /// than the interval (InfluxDB's rule, so that hourly buckets stay an hour long).
    pub(crate) fn start(&self, t: i64) -> i64 {
        let (shifted, zone, into) = self.place(t);
        let mut start = shifted.saturating_sub(into);
        if let Some(z) = self.zone {
            let moved = zone - z.offset_at(start);
            if moved != 0 && moved.abs() < self.interval {
                start = start.saturating_add(moved);
            }
        }
        start.saturating_add(self.offset)
    }

    /// Where the bucket holding `t` ends (the next one's start).
    pub(crate) fn end(&self, t: i64) -> i64 {
        let (shifted, zone, into) = self.place(t);
        let mut end = shifted.saturating_add(self.interval - into);
        if let Some(z) = self.zone {
            let at_end = z.offset_at(end);
            let moved = zone - at_end;
            // Clocks set back: the repeated time belongs to this bucket. Set forward:
            // the bucket ends early only if the change happened inside it.
            if moved != 0
                && moved.abs() < self.interval
                && (moved > 0 || z.offset_at(end.saturating_add(moved)) == at_end)
            {
                end = end.saturating_add(moved);
            }
        }
        end.saturating_add(self.offset)
    }

    /// The starts of the buckets from the one holding `first` to the one holding
    /// `last`, in order.
    pub(crate) fn starts(&self, first: i64, last: i64) -> impl Iterator<Item = i64> + '_ {
        let last = self.start(last);
        let mut next = Some(self.start(first));
        std::iter::from_fn(move || {
            let start = next.filter(|s| *s <= last)?;
            let end = self.end(start);
            next = (end > start && end != i64::MAX).then_some(end);
            Some(start)
        })
    }

    /// Where `t` falls: `t` less the `GROUP BY` offset, the zone's offset there, and how
    /// far into its bucket the local clock is.
    fn place(&self, t: i64) -> (i64, i64, i64) {
        let shifted = t.saturating_sub(self.offset);
        let zone = self.zone.map_or(0, |z| z.offset_at(shifted));
        let into = shifted.saturating_add(zone).rem_euclid(self.interval);
        (shifted, zone, into)
    }
}

#[cfg(test)]
mod tests {
    use super::{Buckets, TimeZone};

    const HOUR: i64 = 3_600_000_000_000;
    const DAY: i64 = 24 * HOUR;

    fn at(text: &str) -> i64 {
        sluice_influxql::parse_time(text).unwrap()
    }

    /// The starts of `b`'s buckets from the one holding `first` to the one holding `last`.
    fn starts(b: &Buckets, first: &str, last: &str) -> Vec<i64> {
        b.starts(at(first), at(last)).collect()
    }

    fn buckets(interval: i64, zone: &str) -> Buckets {
        Buckets {
            interval,
            offset: 0,
            zone: Some(TimeZone::named(zone).unwrap()),
        }
    }

    #[test]
    fn days_run_from_local_midnight_and_last_23_or_25_hours_when_the_clocks_change() {
        let berlin = buckets(DAY, "Europe/Berlin");
        // 2019-03-31: clocks go forward at 01:00 UTC.
        let spring = berlin.start(at("2019-03-31T00:00:00Z"));
        assert_eq!(spring, at("2019-03-30T23:00:00Z"));
        assert_eq!(berlin.end(spring), at("2019-03-31T22:00:00Z"));
        // 2019-10-27: clocks go back at 01:00 UTC.
        let autumn = berlin.start(at("2019-10-27T12:00:00Z"));
        assert_eq!(autumn, at("2019-10-26T22:00:00Z"));
        assert_eq!(berlin.end(autumn), at("2019-10-27T23:00:00Z"));
        assert_eq!(
            starts(&berlin, "2019-03-30T00:00:00Z", "2019-04-01T21:59:59Z"),
            [
                "2019-03-29T23:00:00Z",
                "2019-03-30T23:00:00Z",
                "2019-03-31T22:00:00Z"
            ]
            .map(at)
        );
    }

    #[test]
    fn hours_stay_an_hour_long_and_a_two_hour_bucket_takes_the_repeated_hour() {
        let berlin = buckets(HOUR, "Europe/Berlin");
        let (first, last) = ("2019-10-26T23:00:00Z", "2019-10-27T03:59:59Z");
        let hourly: Vec<i64> = (0..5).map(|h| at(first) + h * HOUR).collect();
        assert_eq!(starts(&berlin, first, last), hourly);
        let two = buckets(2 * HOUR, "Europe/Berlin");
        assert_eq!(
            starts(&two, first, last),
            [
                "2019-10-26T22:00:00Z",
                "2019-10-27T00:00:00Z",
                "2019-10-27T03:00:00Z"
            ]
            .map(at)
        );
    }

    #[test]
    fn without_a_zone_buckets_are_the_interval_long_from_the_offset() {
        let utc = Buckets {
            interval: DAY,
            offset: 6 * HOUR,
            zone: None,
        };
        assert_eq!(
            utc.start(at("2019-03-31T05:00:00Z")),
            at("2019-03-30T06:00:00Z")
        );
        assert_eq!(
            utc.end(at("2019-03-31T05:00:00Z")),
            at("2019-03-31T06:00:00Z")
        );
        let kolkata = Buckets {
            zone: Some(TimeZone::named("Asia/Kolkata").unwrap()),
            ..utc
        };
        // 06:00 local is 00:30 UTC.
        assert_eq!(
            kolkata.start(at("2019-03-31T05:00:00Z")),
            at("2019-03-31T00:30:00Z")
        );
    }

    #[test]
    fn buckets_at_the_ends_of_time_do_not_overflow() {
        let berlin = buckets(HOUR, "Europe/Berlin");
        for t in [i64::MIN, i64::MIN + 1, i64::MAX - 1, i64::MAX] {
            let start = berlin.start(t);
            assert!(start <= t && berlin.end(t) >= start, "{t}");
        }
        assert!(berlin.starts(i64::MAX - HOUR, i64::MAX).count() <= 2);
    }

    #[test]
    fn times_are_written_with_the_offset_in_force() {
        let berlin = TimeZone::named("Europe/Berlin").unwrap();
        assert_eq!(
            berlin.format_rfc3339(at("2019-03-31T03:00:00.5Z")),
            "2019-03-31T05:00:00.5+02:00"
        );
        let chicago = TimeZone::named("America/Chicago").unwrap();
        assert_eq!(
            chicago.format_rfc3339(at("2019-03-21T05:00:00Z")),
            "2019-03-21T00:00:00-05:00"
        );
        assert_eq!(
            TimeZone::named("UTC").unwrap().format_rfc3339(0),
            "1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn local_times_are_read_in_the_zone() {
        let berlin = TimeZone::named("Europe/Berlin").unwrap();
        assert_eq!(
            berlin.instant_of_local(at("2019-03-31T00:30:00Z")),
            at("2019-03-30T23:30:00Z")
        );
        // 02:30 does not exist that day: read with the winter offset.
        assert_eq!(
            berlin.instant_of_local(at("2019-03-31T02:30:00Z")),
            at("2019-03-31T01:30:00Z")
        );
        assert!(TimeZone::named("Foo/Bar").is_err());
    }
}
