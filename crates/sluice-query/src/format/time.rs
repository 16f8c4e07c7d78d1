//! RFC 3339 timestamps with nanoseconds, written as Go's `time.RFC3339Nano` does.

/// Formats nanoseconds since the epoch as Go's `RFC3339Nano` in UTC: the fraction has its
/// trailing zeros removed and is left out when zero (`2016-01-01T00:00:00Z`,
/// `2016-01-01T00:00:00.5Z`).
pub fn format_rfc3339_nano(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let frac = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut out = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    );
    if frac != 0 {
        let digits = format!("{frac:09}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Converts days since 1970-01-01 to a proleptic Gregorian (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_format_like_go_rfc3339_nano() {
        let cases = [
            (0, "1970-01-01T00:00:00Z"),
            (1_451_606_400_000_000_000, "2016-01-01T00:00:00Z"),
            (1_451_606_400_500_000_000, "2016-01-01T00:00:00.5Z"),
            (1_451_606_400_000_000_001, "2016-01-01T00:00:00.000000001Z"),
            (951_782_400_000_000_000, "2000-02-29T00:00:00Z"),
            (-1, "1969-12-31T23:59:59.999999999Z"),
        ];
        for (ns, text) in cases {
            assert_eq!(format_rfc3339_nano(ns), text, "{ns}");
        }
    }
}
