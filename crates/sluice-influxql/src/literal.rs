//! Literal helpers: durations, time strings, and quoting for canonical InfluxQL text.

use crate::error::{Error, Result};

const NANOS_PER_MICRO: i64 = 1_000;
const NANOS_PER_MILLI: i64 = 1_000_000;
const NANOS_PER_SECOND: i64 = 1_000_000_000;
const NANOS_PER_MINUTE: i64 = 60 * NANOS_PER_SECOND;
const NANOS_PER_HOUR: i64 = 60 * NANOS_PER_MINUTE;
const NANOS_PER_DAY: i64 = 24 * NANOS_PER_HOUR;
const NANOS_PER_WEEK: i64 = 7 * NANOS_PER_DAY;

/// Units from the largest down, as [`format_duration`] tries them.
const UNITS: [(&str, i64); 8] = [
    ("w", NANOS_PER_WEEK),
    ("d", NANOS_PER_DAY),
    ("h", NANOS_PER_HOUR),
    ("m", NANOS_PER_MINUTE),
    ("s", NANOS_PER_SECOND),
    ("ms", NANOS_PER_MILLI),
    ("u", NANOS_PER_MICRO),
    ("ns", 1),
];

/// Parses an InfluxQL duration such as `10s`, `1h30m` or `-5m` to nanoseconds.
///
/// Units: `ns`, `u` or `µ` (microseconds), `ms`, `s`, `m`, `h`, `d`, `w`. Segments may be
/// repeated (`1h30m`) and are summed; every segment needs a unit.
///
/// # Errors
///
/// [`Error::InvalidDuration`] when the text is empty, a segment lacks digits or a unit, or
/// the total does not fit an `i64` of nanoseconds.
pub fn parse_duration(text: &str) -> Result<i64> {
    let invalid = || Error::InvalidDuration {
        text: text.to_owned(),
    };
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    if body.is_empty() {
        return Err(invalid());
    }
    // i128 so that the magnitude of i64::MIN can be summed before the sign is applied.
    let mut total: i128 = 0;
    let mut rest = body;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid());
        }
        let value: i128 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let (unit, len) = duration_unit(rest).ok_or_else(invalid)?;
        rest = &rest[len..];
        let segment = value.checked_mul(i128::from(unit)).ok_or_else(invalid)?;
        total = total.checked_add(segment).ok_or_else(invalid)?;
    }
    i64::try_from(if negative { -total } else { total }).map_err(|_| invalid())
}

/// A duration as Go's `time.Duration` prints it, which is how InfluxDB shows durations:
/// `0s`, `250ms`, `1.5µs`, `3.5s`, `2m0s`, `168h0m0s`, `-1h0m0s`.
pub fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_owned();
    }
    let mut out = String::from(if nanos < 0 { "-" } else { "" });
    let n = nanos.unsigned_abs();
    let second = NANOS_PER_SECOND as u64;
    if n < second {
        let (unit, size) = match n {
            0..1_000 => ("ns", 1),
            1_000..1_000_000 => ("µs", 1_000),
            _ => ("ms", 1_000_000),
        };
        out.push_str(&format!("{}{}{unit}", n / size, fraction(n % size, size)));
        return out;
    }
    let secs = n / second;
    let (hours, minutes) = (secs / 3600, secs / 60 % 60);
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&format!("{}{}s", secs % 60, fraction(n % second, second)));
    out
}

/// `.digits` of `part / size` (`size` a power of ten) without trailing zeros; empty for 0.
fn fraction(part: u64, size: u64) -> String {
    if part == 0 {
        return String::new();
    }
    let width = size.ilog10() as usize;
    let digits = format!("{part:0width$}");
    format!(".{}", digits.trim_end_matches('0'))
}

/// The unit at the start of `rest`: its size in nanoseconds and its length in bytes.
fn duration_unit(rest: &str) -> Option<(i64, usize)> {
    if rest.starts_with("ns") {
        Some((1, 2))
    } else if rest.starts_with("ms") {
        Some((NANOS_PER_MILLI, 2))
    } else if rest.starts_with('µ') {
        Some((NANOS_PER_MICRO, 'µ'.len_utf8()))
    } else {
        let unit = match rest.as_bytes().first()? {
            b'u' => NANOS_PER_MICRO,
            b's' => NANOS_PER_SECOND,
            b'm' => NANOS_PER_MINUTE,
            b'h' => NANOS_PER_HOUR,
            b'd' => NANOS_PER_DAY,
            b'w' => NANOS_PER_WEEK,
            _ => return None,
        };
        Some((unit, 1))
    }
}

/// Formats nanoseconds as an InfluxQL duration in the largest unit that divides it exactly
/// (`3600000000000` → `1h`, `90000000000` → `90s`, `0` → `0s`).
pub fn format_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_owned();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let magnitude = nanos.unsigned_abs();
    for (unit, size) in UNITS {
        let size = size.unsigned_abs();
        if magnitude.is_multiple_of(size) {
            return format!("{sign}{}{unit}", magnitude / size);
        }
    }
    unreachable!("the nanosecond unit divides every duration")
}

/// Parses a time string as InfluxQL compares `time` against, to nanoseconds since the Unix
/// epoch.
///
/// Accepted forms: RFC 3339 (`2016-01-01T00:00:00Z`, with 1 to 9 fractional digits and
/// `Z` or a `±HH:MM` offset), the same with a space instead of `T` and no zone
/// (`2016-01-01 00:00:00.5`, read as UTC), and a bare date (`2016-01-01`, midnight UTC).
///
/// # Errors
///
/// [`Error::InvalidTime`] when the text has another shape, a field is out of range, or the
/// instant lies outside what an `i64` of nanoseconds holds (about 1677 to 2262).
pub fn parse_time(text: &str) -> Result<i64> {
    parse_time_zoned(text).map(|(nanos, _)| nanos)
}

/// [`parse_time`], and whether the text names its zone (`Z` or an offset). A statement
/// with `tz()` reads a time without one as the zone's local time: the nanoseconds are
/// then those of the wall-clock time read as UTC.
///
/// # Errors
///
/// As [`parse_time`].
pub fn parse_time_zoned(text: &str) -> Result<(i64, bool)> {
    let fail = |reason: &str| Error::InvalidTime {
        text: text.to_owned(),
        reason: reason.to_owned(),
    };
    let mut cursor = Cursor {
        bytes: text.as_bytes(),
        pos: 0,
    };
    let year = cursor
        .digits(4)
        .ok_or_else(|| fail("expected a 4-digit year"))?;
    cursor
        .expect(b'-')
        .ok_or_else(|| fail("expected '-' after the year"))?;
    let month = cursor
        .digits(2)
        .ok_or_else(|| fail("expected a 2-digit month"))?;
    cursor
        .expect(b'-')
        .ok_or_else(|| fail("expected '-' after the month"))?;
    let day = cursor
        .digits(2)
        .ok_or_else(|| fail("expected a 2-digit day"))?;
    if !(1..=12).contains(&month) {
        return Err(fail("month out of range"));
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(fail("day out of range"));
    }
    let mut seconds_of_day = 0;
    let mut fraction_nanos = 0;
    let mut offset_seconds = 0;
    let mut zoned = false;
    if !cursor.at_end() {
        match cursor.next() {
            Some(b'T' | b't' | b' ') => {}
            _ => return Err(fail("expected 'T' or a space after the date")),
        }
        let hour = cursor
            .digits(2)
            .ok_or_else(|| fail("expected a 2-digit hour"))?;
        cursor
            .expect(b':')
            .ok_or_else(|| fail("expected ':' after the hour"))?;
        let minute = cursor
            .digits(2)
            .ok_or_else(|| fail("expected 2-digit minutes"))?;
        cursor
            .expect(b':')
            .ok_or_else(|| fail("expected ':' after the minutes"))?;
        let second = cursor
            .digits(2)
            .ok_or_else(|| fail("expected 2-digit seconds"))?;
        if hour > 23 || minute > 59 || second > 59 {
            return Err(fail("time of day out of range"));
        }
        seconds_of_day = hour * 3600 + minute * 60 + second;
        if cursor.peek() == Some(b'.') {
            cursor.pos += 1;
            let start = cursor.pos;
            while cursor.peek().is_some_and(|b| b.is_ascii_digit()) {
                cursor.pos += 1;
            }
            let count = cursor.pos - start;
            if count == 0 || count > 9 {
                return Err(fail("expected 1 to 9 fractional digits"));
            }
            let digits: i64 = text[start..cursor.pos]
                .parse()
                .map_err(|_| fail("bad fraction"))?;
            fraction_nanos = digits * 10_i64.pow(9 - count as u32);
        }
        match cursor.next() {
            None => {}
            Some(b'Z' | b'z') => zoned = true,
            Some(sign @ (b'+' | b'-')) => {
                zoned = true;
                let hours = cursor
                    .digits(2)
                    .ok_or_else(|| fail("expected offset hours"))?;
                cursor
                    .expect(b':')
                    .ok_or_else(|| fail("expected ':' in the offset"))?;
                let minutes = cursor
                    .digits(2)
                    .ok_or_else(|| fail("expected offset minutes"))?;
                if hours > 23 || minutes > 59 {
                    return Err(fail("offset out of range"));
                }
                offset_seconds = hours * 3600 + minutes * 60;
                if sign == b'-' {
                    offset_seconds = -offset_seconds;
                }
            }
            Some(_) => return Err(fail("expected 'Z' or an offset after the time")),
        }
    }
    if !cursor.at_end() {
        return Err(fail("unexpected text after the time"));
    }
    let days = sluice_lp::time::days_from_civil(year, month, day);
    let seconds = days * 86_400 + seconds_of_day - offset_seconds;
    // i128 because the earliest representable instants have a negative whole-second part
    // whose nanoseconds alone overflow i64 before the fraction is added back.
    let nanos = i128::from(seconds) * i128::from(NANOS_PER_SECOND) + i128::from(fraction_nanos);
    let nanos = i64::try_from(nanos).map_err(|_| fail("time out of range"))?;
    Ok((nanos, zoned))
}

/// A byte cursor for [`parse_time`].
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.pos += 1;
        Some(byte)
    }

    fn expect(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    /// Exactly `count` ASCII digits as a number.
    fn digits(&mut self, count: usize) -> Option<i64> {
        let slice = self.bytes.get(self.pos..self.pos + count)?;
        if !slice.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.pos += count;
        Some(
            slice
                .iter()
                .fold(0, |acc, b| acc * 10 + i64::from(b - b'0')),
        )
    }
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// InfluxQL's reserved words: an identifier spelled like one must be double-quoted.
const KEYWORDS: &[&str] = &[
    "ALL",
    "ALTER",
    "ANALYZE",
    "AND",
    "ANY",
    "AS",
    "ASC",
    "BEGIN",
    "BY",
    "CARDINALITY",
    "CONTINUOUS",
    "CREATE",
    "DATABASE",
    "DATABASES",
    "DEFAULT",
    "DELETE",
    "DESC",
    "DESTINATIONS",
    "DIAGNOSTICS",
    "DISTINCT",
    "DROP",
    "DURATION",
    "END",
    "EVERY",
    "EXACT",
    "EXPLAIN",
    "FALSE",
    "FIELD",
    "FOR",
    "FROM",
    "GRANT",
    "GRANTS",
    "GROUP",
    "GROUPS",
    "IN",
    "INF",
    "INSERT",
    "INTO",
    "KEY",
    "KEYS",
    "KILL",
    "LIMIT",
    "MEASUREMENT",
    "MEASUREMENTS",
    "NAME",
    "OFFSET",
    "ON",
    "OR",
    "ORDER",
    "PASSWORD",
    "POLICIES",
    "POLICY",
    "PRIVILEGES",
    "QUERIES",
    "QUERY",
    "READ",
    "REPLICATION",
    "RESAMPLE",
    "RETENTION",
    "REVOKE",
    "SELECT",
    "SERIES",
    "SET",
    "SHARD",
    "SHARDS",
    "SHOW",
    "SLIMIT",
    "SOFFSET",
    "STATS",
    "SUBSCRIPTION",
    "SUBSCRIPTIONS",
    "TAG",
    "TO",
    "TRUE",
    "USER",
    "USERS",
    "VALUES",
    "WHERE",
    "WITH",
    "WRITE",
];

/// Whether `word` is an InfluxQL keyword (case-insensitive).
pub fn is_keyword(word: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word))
}

/// Writes an identifier as InfluxQL text: bare when it is a plain word that is not a
/// keyword, otherwise double-quoted with `\`, `"` and newlines escaped.
pub fn quote_ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !is_keyword(name);
    if plain {
        name.to_owned()
    } else {
        quote_with(name, '"')
    }
}

/// Writes a string literal as InfluxQL text: single-quoted with `\`, `'` and newlines
/// escaped.
pub fn quote_string(value: &str) -> String {
    quote_with(value, '\'')
}

fn quote_with(value: &str, quote: char) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push(quote);
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Writes a regular expression literal as `/pattern/`, escaping each `/` as `\/`.
pub fn quote_regex(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 2);
    out.push('/');
    for c in pattern.chars() {
        if c == '/' {
            out.push_str("\\/");
        } else {
            out.push(c);
        }
    }
    out.push('/');
    out
}

/// Writes a float so that it reads back as a float: always with a `.` (`90` → `90.0`).
pub(crate) fn format_float(value: f64) -> String {
    let mut text = format!("{value}");
    if value.is_finite() && !text.contains('.') {
        text.push_str(".0");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_go_prints_them() {
        let cases = [
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5µs"),
            (250_000_000, "250ms"),
            (3_500_000_000, "3.5s"),
            (120 * NANOS_PER_SECOND, "2m0s"),
            (3_723_500_000_000, "1h2m3.5s"),
            (168 * NANOS_PER_HOUR, "168h0m0s"),
            (-NANOS_PER_HOUR, "-1h0m0s"),
        ];
        for (nanos, text) in cases {
            assert_eq!(go_duration(nanos), text, "{nanos}");
        }
    }

    #[test]
    fn durations_parse_to_nanoseconds_in_every_unit() {
        let cases = [
            ("1ns", 1),
            ("1u", 1_000),
            ("1µ", 1_000),
            ("1ms", 1_000_000),
            ("1s", NANOS_PER_SECOND),
            ("1m", NANOS_PER_MINUTE),
            ("1h", NANOS_PER_HOUR),
            ("1d", NANOS_PER_DAY),
            ("1w", NANOS_PER_WEEK),
            ("1h30m", NANOS_PER_HOUR + 30 * NANOS_PER_MINUTE),
            ("-5m", -5 * NANOS_PER_MINUTE),
            ("0s", 0),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn durations_without_a_unit_or_digits_or_in_range_are_rejected() {
        for text in [
            "",
            "10",
            "s",
            "1x",
            "1h30",
            "-",
            "99999999999999999w",
            "1 s",
        ] {
            assert_eq!(
                parse_duration(text),
                Err(Error::InvalidDuration {
                    text: text.to_owned()
                }),
                "{text}"
            );
        }
    }

    #[test]
    fn durations_format_in_the_largest_exact_unit() {
        let cases = [
            (0, "0s"),
            (NANOS_PER_HOUR, "1h"),
            (90 * NANOS_PER_SECOND, "90s"),
            (2 * NANOS_PER_WEEK, "2w"),
            (1_500, "1500ns"),
            (-NANOS_PER_MINUTE, "-1m"),
            (i64::MIN, "-9223372036854775808ns"),
        ];
        for (nanos, want) in cases {
            assert_eq!(format_duration(nanos), want);
            assert_eq!(parse_duration(want), Ok(nanos));
        }
    }

    #[test]
    fn time_strings_parse_to_epoch_nanoseconds() {
        let cases = [
            ("1970-01-01T00:00:00Z", 0),
            ("2016-01-01T00:00:00Z", 1_451_606_400 * NANOS_PER_SECOND),
            ("2016-01-01", 1_451_606_400 * NANOS_PER_SECOND),
            ("2016-01-01 00:00:00", 1_451_606_400 * NANOS_PER_SECOND),
            (
                "2016-01-01T00:00:00.5Z",
                1_451_606_400 * NANOS_PER_SECOND + 500_000_000,
            ),
            (
                "2016-01-01T00:00:00.000000001Z",
                1_451_606_400 * NANOS_PER_SECOND + 1,
            ),
            (
                "2016-01-01T01:00:00+01:00",
                1_451_606_400 * NANOS_PER_SECOND,
            ),
            (
                "2015-12-31T23:30:00-00:30",
                1_451_606_400 * NANOS_PER_SECOND,
            ),
            ("2000-02-29T12:00:00Z", 951_825_600 * NANOS_PER_SECOND),
            ("1969-12-31T23:59:59Z", -NANOS_PER_SECOND),
            ("2262-04-11T23:47:16.854775807Z", i64::MAX),
            ("1677-09-21T00:12:43.145224192Z", i64::MIN),
        ];
        for (text, want) in cases {
            assert_eq!(parse_time(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn malformed_or_out_of_range_times_are_rejected() {
        for text in [
            "",
            "2016",
            "2016-13-01",
            "2016-02-30",
            "2015-02-29",
            "2016-01-01T24:00:00Z",
            "2016-01-01T00:00:60Z",
            "2016-01-01T00:00:00.Z",
            "2016-01-01T00:00:00.1234567890Z",
            "2016-01-01T00:00:00+0100",
            "2016-01-01T00:00:00Zjunk",
            "2016-01-01T00:00",
            "2262-04-11T23:47:16.854775808Z",
            "1600-01-01T00:00:00Z",
        ] {
            assert!(
                matches!(parse_time(text), Err(Error::InvalidTime { .. })),
                "{text}"
            );
        }
    }

    #[test]
    fn identifiers_are_quoted_only_when_needed() {
        assert_eq!(quote_ident("cpu"), "cpu");
        assert_eq!(quote_ident("_x1"), "_x1");
        assert_eq!(quote_ident("from"), "\"from\"");
        assert_eq!(quote_ident("1x"), "\"1x\"");
        assert_eq!(quote_ident("a-b"), "\"a-b\"");
        assert_eq!(quote_ident("a\"b\\"), "\"a\\\"b\\\\\"");
        assert_eq!(quote_ident(""), "\"\"");
    }

    #[test]
    fn strings_and_regexes_are_escaped() {
        assert_eq!(quote_string("it's"), "'it\\'s'");
        assert_eq!(quote_string("a\nb"), "'a\\nb'");
        assert_eq!(quote_regex("a/b"), "/a\\/b/");
        assert_eq!(format_float(90.0), "90.0");
        assert_eq!(format_float(0.25), "0.25");
    }
}
