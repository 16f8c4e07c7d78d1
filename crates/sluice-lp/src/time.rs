//! Calendar arithmetic for nanosecond timestamps: the proleptic Gregorian calendar in
//! UTC, and RFC 3339 text as Go's `time.RFC3339Nano` writes it (which InfluxDB answers
//! with). Every sluice crate that turns timestamps into dates uses these.

/// Days from 1970-01-01 to a proleptic Gregorian date (`month` 1–12, `day` 1–31).
///
/// Counts in 400-year cycles whose years start on 1 March, so that the leap day is the
/// last day of its counting year (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let shifted_year = if month <= 2 { year - 1 } else { year };
    let cycle = shifted_year.div_euclid(400);
    let year_of_cycle = shifted_year.rem_euclid(400);
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_cycle = year_of_cycle * 365 + year_of_cycle / 4 - year_of_cycle / 100 + day_of_year;
    // 719_468 days lie between 0000-03-01 and 1970-01-01.
    cycle * 146_097 + day_of_cycle - 719_468
}

/// The (year, month, day) of a count of days since 1970-01-01; the inverse of
/// [`days_from_civil`].
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let cycle = z.div_euclid(146_097);
    let day_of_cycle = z.rem_euclid(146_097);
    let year_of_cycle =
        (day_of_cycle - day_of_cycle / 1460 + day_of_cycle / 36_524 - day_of_cycle / 146_096) / 365;
    let day_of_year =
        day_of_cycle - (365 * year_of_cycle + year_of_cycle / 4 - year_of_cycle / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_cycle + cycle * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Nanoseconds since the Unix epoch as Go's `RFC3339Nano` in UTC: the fraction loses its
/// trailing zeros and is left out when zero (`2016-01-01T00:00:00Z`,
/// `2016-01-01T00:00:00.5Z`).
pub fn format_rfc3339_nano(nanos: i64) -> String {
    let mut out = String::with_capacity(30);
    push_rfc3339_nano(&mut out, nanos);
    out
}

/// Appends [`format_rfc3339_nano`]'s text to `out`, without allocating on its own: what
/// a result writer uses for every row's time.
pub fn push_rfc3339_nano(out: &mut String, nanos: i64) {
    let secs = nanos.div_euclid(1_000_000_000);
    let frac = nanos.rem_euclid(1_000_000_000) as u32;
    let (days, second_of_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400) as u32);
    let (y, m, d) = civil_from_days(days);
    match u32::try_from(y) {
        Ok(year) if year <= 9999 => push_digits(out, year, 4),
        // Years before 0 or past 9999 (Go writes these differently; they are rare).
        _ => {
            use std::fmt::Write;
            let _ = write!(out, "{y:04}");
        }
    }
    out.push('-');
    push_digits(out, m, 2);
    out.push('-');
    push_digits(out, d, 2);
    out.push('T');
    push_digits(out, second_of_day / 3600, 2);
    out.push(':');
    push_digits(out, second_of_day / 60 % 60, 2);
    out.push(':');
    push_digits(out, second_of_day % 60, 2);
    if frac != 0 {
        out.push('.');
        let (mut digits, mut value) = (9, frac);
        while value % 10 == 0 {
            value /= 10;
            digits -= 1;
        }
        push_digits(out, value, digits);
    }
    out.push('Z');
}

/// Appends the last `width` decimal digits of `value`, zero-padded.
fn push_digits(out: &mut String, mut value: u32, width: usize) {
    let mut digits = [b'0'; 10];
    for slot in digits[..width].iter_mut().rev() {
        *slot += (value % 10) as u8;
        value /= 10;
    }
    out.extend(digits[..width].iter().map(|&b| char::from(b)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip_across_leap_years_and_eras() {
        for days in (-800_000..800_000).step_by(97) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, i64::from(m), i64::from(d)), days);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 2, 29), 11_016);
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn formats_as_go_rfc3339_nano() {
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
        let mut out = "[".to_owned();
        push_rfc3339_nano(&mut out, 1_451_606_400_120_000_000);
        assert_eq!(out, "[2016-01-01T00:00:00.12Z");
    }
}
