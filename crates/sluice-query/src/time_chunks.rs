//! Time ranges cut into chunks that a scan too large for the query's memory reads one
//! after another.

use sluice_storage::ScanExtent;

use crate::influxql::zone::Buckets;

/// The times between which chunks of a scan over `range` (`None`: all time) are cut:
/// the table's stored times `extent`; `None` when chunks would miss a row, one at the
/// last nanosecond, which chunks (their ends exclusive) leave out and only a scan
/// without a time range reads.
pub(crate) fn data_between(range: Option<(i64, i64)>, extent: &ScanExtent) -> Option<(i64, i64)> {
    (range.is_some() || extent.last < i64::MAX).then_some((extent.first, extent.last))
}

/// `[start, end)` cut into up to `parts` consecutive ranges, the cuts placed inside
/// `data` (the earliest and latest time rows may have, inclusive) and, with `buckets`
/// (`GROUP BY time`), at bucket starts. The first range keeps
/// `start` and the last keeps `end`, so together the ranges are exactly `[start, end)`
/// whatever rows `data` missed. One range when it cannot be cut.
pub(crate) fn cut(
    start: i64,
    end: i64,
    data: (i64, i64),
    parts: i64,
    buckets: Option<Buckets>,
) -> Vec<(i64, i64)> {
    let (from, to) = (start.max(data.0), end.min(data.1.saturating_add(1)));
    let mut cuts = vec![start];
    if from < to && parts > 1 {
        // In i128: a range of any two i64 times has a length.
        let (from, to, parts) = (i128::from(from), i128::from(to), i128::from(parts));
        let inner: Vec<i128> = match buckets {
            // Buckets of uneven length (a zone's): even cuts moved back to their
            // buckets' starts.
            Some(buckets) if !buckets.even() => {
                let step = (to - from) / parts;
                (1..parts)
                    .filter_map(|k| i64::try_from(from + k * step).ok())
                    .map(|c| i128::from(buckets.start(c)))
                    .collect()
            }
            Some(buckets) => {
                let (interval, offset) = (i128::from(buckets.interval), i128::from(buckets.offset));
                let window = |t: i128| t - (t - offset).rem_euclid(interval);
                let first = window(from);
                let buckets = (window(to - 1) - first) / interval + 1;
                let step = (buckets + parts - 1) / parts;
                (1..parts).map(|k| first + k * step * interval).collect()
            }
            None => {
                let step = (to - from) / parts;
                (1..parts).map(|k| from + k * step).collect()
            }
        };
        cuts.extend(
            inner
                .into_iter()
                .filter(|&c| c > from && c < to)
                .filter_map(|c| i64::try_from(c).ok())
                .filter(|&c| c > start && c < end),
        );
    }
    cuts.dedup();
    cuts.push(end);
    cuts.windows(2).map(|w| (w[0], w[1])).collect()
}

#[cfg(test)]
mod tests {
    use super::cut;
    use crate::influxql::zone::Buckets;

    /// Buckets of `interval` from `offset`, in UTC.
    fn even(interval: i64, offset: i64) -> Option<Buckets> {
        Some(Buckets {
            interval,
            offset,
            zone: None,
        })
    }

    /// The ranges follow one another from `start` to `end`.
    fn assert_covers(ranges: &[(i64, i64)], start: i64, end: i64) {
        assert_eq!(ranges.first().map(|r| r.0), Some(start));
        assert_eq!(ranges.last().map(|r| r.1), Some(end));
        for pair in ranges.windows(2) {
            assert_eq!(pair[0].1, pair[1].0, "{ranges:?}");
        }
        assert!(ranges.iter().all(|(s, e)| s < e), "{ranges:?}");
    }

    #[test]
    fn cuts_fall_inside_the_data_and_the_outer_ranges_keep_the_ends() {
        let ranges = cut(i64::MIN, i64::MAX, (1_000, 1_999), 4, None);
        assert_eq!(
            ranges,
            [
                (i64::MIN, 1_250),
                (1_250, 1_500),
                (1_500, 1_750),
                (1_750, i64::MAX)
            ]
        );
        assert_covers(&cut(0, 100, (-5_000, 5_000), 4, None), 0, 100);
        // Data spanning every time, in i128.
        assert_covers(
            &cut(i64::MIN, i64::MAX, (i64::MIN, i64::MAX), 4, None),
            i64::MIN,
            i64::MAX,
        );
    }

    #[test]
    fn bucketed_cuts_fall_on_bucket_starts() {
        // Buckets of 10 starting at 5: 5, 15, 25, …
        let ranges = cut(0, 200, (7, 96), 3, even(10, 5));
        assert_covers(&ranges, 0, 200);
        assert!(
            ranges[1..].iter().all(|(s, _)| (s - 5) % 10 == 0),
            "{ranges:?}"
        );
        assert_eq!(ranges.len(), 3);
    }

    #[test]
    fn in_a_zone_cuts_fall_at_the_starts_of_its_buckets() {
        use crate::influxql::TimeZone;
        const DAY: i64 = 86_400_000_000_000;
        let at = |t: &str| sluice_influxql::parse_time(t).unwrap();
        let berlin = Buckets {
            interval: DAY,
            offset: 0,
            zone: Some(TimeZone::named("Europe/Berlin").unwrap()),
        };
        let (start, end) = (at("2019-03-25T00:00:00Z"), at("2019-04-05T00:00:00Z"));
        let ranges = cut(start, end, (start, end - 1), 4, Some(berlin));
        assert_covers(&ranges, start, end);
        assert_eq!(ranges.len(), 4, "{ranges:?}");
        // Local midnights: 23:00 UTC before the change of 31 March, 22:00 after.
        for (s, _) in &ranges[1..] {
            assert_eq!(berlin.start(*s), *s, "{ranges:?}");
        }
    }

    #[test]
    fn a_range_that_cannot_be_cut_stays_whole() {
        assert_eq!(cut(0, 100, (200, 300), 4, None), [(0, 100)]);
        assert_eq!(cut(0, 100, (10, 10), 4, None), [(0, 100)]);
        assert_eq!(cut(0, 100, (0, 99), 1, None), [(0, 100)]);
        // One bucket holds all the data.
        assert_eq!(cut(0, 100, (21, 29), 4, even(10, 0)), [(0, 100)]);
    }
}
