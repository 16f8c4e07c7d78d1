//! Parsing and formatting of the times and durations the command line takes (RFC 3339 in
//! UTC, and durations such as `10s` or `1h30m`).

use crate::{Error, Result};

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Parses an RFC 3339 UTC time such as `2016-01-01T00:00:00Z` (fractional seconds allowed)
/// into nanoseconds since the Unix epoch.
///
/// # Errors
///
/// [`Error::InvalidTime`] when the text is not `YYYY-MM-DDTHH:MM:SS[.fff]Z`.
pub fn parse_rfc3339(text: &str) -> Result<i64> {
    let bad = || Error::InvalidTime(text.to_owned());
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return Err(bad());
    }
    if b[13] != b':' || b[16] != b':' || !matches!(b[b.len() - 1], b'Z' | b'z') {
        return Err(bad());
    }
    let num = |range: std::ops::Range<usize>| -> Result<i64> {
        let s = text.get(range).ok_or_else(bad)?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse::<i64>().map_err(|_| bad())
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return Err(bad());
    }
    if second > 60 {
        return Err(bad());
    }
    let mut nanos = 0i64;
    let rest = &text[19..text.len() - 1];
    if !rest.is_empty() {
        let frac = rest.strip_prefix('.').ok_or_else(bad)?;
        if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        nanos = frac.parse::<i64>().map_err(|_| bad())? * 10i64.pow(9 - frac.len() as u32);
    }
    let days = sluice_lp::time::days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    Ok(secs * NANOS_PER_SEC + nanos)
}

/// Formats nanoseconds since the Unix epoch as RFC 3339 UTC (`2016-01-01T00:00:00Z`, with
/// a fraction only when the time has one).
pub use sluice_lp::time::format_rfc3339_nano as format_rfc3339;

/// Parses a duration such as `10s`, `500ms`, `1h30m` or `2d` into nanoseconds; units are
/// `ns`, `us`, `ms`, `s`, `m`, `h`, `d`, `w`.
///
/// # Errors
///
/// [`Error::InvalidDuration`] on an empty text, a number without a unit, an unknown unit or
/// a total that is not positive.
pub fn parse_duration(text: &str) -> Result<i64> {
    let bad = || Error::InvalidDuration(text.to_owned());
    let mut total: i64 = 0;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let value: i64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => NANOS_PER_SEC,
            "m" => 60 * NANOS_PER_SEC,
            "h" => 3600 * NANOS_PER_SEC,
            "d" => 86_400 * NANOS_PER_SEC,
            "w" => 7 * 86_400 * NANOS_PER_SEC,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total = value
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    if total <= 0 {
        return Err(bad());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_tsbs_default_start() {
        assert_eq!(
            parse_rfc3339("2016-01-01T00:00:00Z").unwrap(),
            1_451_606_400_000_000_000
        );
        assert_eq!(
            parse_rfc3339("2016-01-01T00:00:00.5Z").unwrap(),
            1_451_606_400_500_000_000
        );
    }

    #[test]
    fn formats_and_parses_round_trip() {
        for nanos in [
            0,
            1_451_606_400_000_000_000,
            1_700_000_000_123_000_000,
            951_782_400 * 1_000_000_000,
        ] {
            assert_eq!(parse_rfc3339(&format_rfc3339(nanos)).unwrap(), nanos);
        }
        assert_eq!(
            format_rfc3339(1_451_606_400_000_000_000),
            "2016-01-01T00:00:00Z"
        );
    }

    #[test]
    fn rejects_malformed_times() {
        for text in [
            "2016-01-01",
            "2016-13-01T00:00:00Z",
            "2016-01-01T00:00:00",
            "x016-01-01T00:00:00Z",
            "2016-01-01T00:00:00.Z",
        ] {
            assert!(parse_rfc3339(text).is_err(), "{text}");
        }
    }

    #[test]
    fn parses_durations_with_units() {
        let s = 1_000_000_000;
        assert_eq!(parse_duration("10s").unwrap(), 10 * s);
        assert_eq!(parse_duration("1h30m").unwrap(), 5400 * s);
        assert_eq!(parse_duration("250ms").unwrap(), 250_000_000);
        for text in ["", "10", "s", "10x", "0s"] {
            assert!(parse_duration(text).is_err(), "{text}");
        }
    }
}
