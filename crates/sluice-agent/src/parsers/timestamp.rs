//! Timestamps as Telegraf's parsers read them (`json_time_format`): `unix`, `unix_ms`,
//! `unix_us`, `unix_ns` (numbers or numeric strings, fractions kept exactly), Go's
//! reference-time layouts (`"2006-01-02T15:04:05Z07:00"`) and their names (`RFC3339`,
//! `ANSIC`, ...), read in a time zone (`json_timezone`) when the text carries none.

use std::str::FromStr as _;

use chrono::{
    DateTime, Datelike as _, FixedOffset, Local, NaiveDate, NaiveDateTime, TimeZone, Utc,
};

/// The zone a layout without an offset is read in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Zone {
    /// UTC (the default).
    Utc,
    /// The machine's local zone (`"Local"`).
    Local,
    /// An IANA zone such as `"Europe/Berlin"`.
    Named(chrono_tz::Tz),
}

impl Zone {
    /// The zone named `name`: empty or `"UTC"` is UTC, `"Local"` the machine's zone, else
    /// an IANA name.
    ///
    /// # Errors
    /// An unknown zone name.
    pub fn parse(name: &str) -> Result<Zone, String> {
        match name {
            "" | "UTC" => Ok(Zone::Utc),
            "Local" => Ok(Zone::Local),
            other => chrono_tz::Tz::from_str(other)
                .map(Zone::Named)
                .map_err(|_| format!("unknown time zone {other:?}")),
        }
    }

    fn to_utc(self, local: &NaiveDateTime) -> Option<DateTime<Utc>> {
        match self {
            Zone::Utc => Some(local.and_utc()),
            Zone::Local => Local
                .from_local_datetime(local)
                .earliest()
                .map(|t| t.with_timezone(&Utc)),
            Zone::Named(tz) => tz
                .from_local_datetime(local)
                .earliest()
                .map(|t| t.with_timezone(&Utc)),
        }
    }
}

/// One element of a Go layout.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(String),
    Year4,
    Year2,
    MonthLong,
    MonthShort,
    Month2,
    Month,
    WeekdayLong,
    WeekdayShort,
    Day2,
    Day,
    DaySpace,
    YearDay3,
    YearDaySpace,
    Hour24,
    Hour12Zero,
    Hour12,
    Minute2,
    Minute,
    Second2,
    Second,
    /// `.000` (exactly `digits` digits) or `.999` (any number, optional).
    Fraction {
        digits: usize,
        exact: bool,
    },
    AmPm,
    /// `MST`: a zone abbreviation.
    ZoneName,
    /// `-07`, `-0700`, `-07:00`, `-070000`, `-07:00:00`, with `Z` also accepting `Z`.
    Offset {
        z: bool,
        colon: bool,
        minutes: bool,
        seconds: bool,
    },
}

/// Go's named layouts, as Telegraf accepts them (case-insensitive).
fn named_layout(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "ansic" => "Mon Jan _2 15:04:05 2006",
        "unixdate" => "Mon Jan _2 15:04:05 MST 2006",
        "rubydate" => "Mon Jan 02 15:04:05 -0700 2006",
        "rfc822" => "02 Jan 06 15:04 MST",
        "rfc822z" => "02 Jan 06 15:04 -0700",
        "rfc850" => "Monday, 02-Jan-06 15:04:05 MST",
        "rfc1123" => "Mon, 02 Jan 2006 15:04:05 MST",
        "rfc1123z" => "Mon, 02 Jan 2006 15:04:05 -0700",
        "rfc3339" => "2006-01-02T15:04:05Z07:00",
        "rfc3339nano" => "2006-01-02T15:04:05.999999999Z07:00",
        "stamp" => "Jan _2 15:04:05",
        "stampmilli" => "Jan _2 15:04:05.000",
        "stampmicro" => "Jan _2 15:04:05.000000",
        "stampnano" => "Jan _2 15:04:05.000000000",
        _ => return None,
    })
}

/// Splits a Go layout into tokens, recognising the reference-time elements as Go does.
fn lex(layout: &str) -> Vec<Token> {
    let b = layout.as_bytes();
    let mut out = Vec::new();
    let mut literal = String::new();
    let mut i = 0;
    while i < b.len() {
        let rest = &layout[i..];
        let digit_at = |j: usize| j < b.len() && b[j].is_ascii_digit();
        let found: Option<(Token, usize)> = match b[i] {
            b'J' if rest.starts_with("January") => Some((Token::MonthLong, 7)),
            b'J' if rest.starts_with("Jan") => Some((Token::MonthShort, 3)),
            b'M' if rest.starts_with("Monday") => Some((Token::WeekdayLong, 6)),
            b'M' if rest.starts_with("Mon") => Some((Token::WeekdayShort, 3)),
            b'M' if rest.starts_with("MST") => Some((Token::ZoneName, 3)),
            b'0' if b.len() > i + 1 && (b'1'..=b'6').contains(&b[i + 1]) => Some((
                match b[i + 1] {
                    b'1' => Token::Month2,
                    b'2' => Token::Day2,
                    b'3' => Token::Hour12Zero,
                    b'4' => Token::Minute2,
                    b'5' => Token::Second2,
                    _ => Token::Year2,
                },
                2,
            )),
            b'0' if rest.starts_with("002") => Some((Token::YearDay3, 3)),
            b'1' if rest.starts_with("15") => Some((Token::Hour24, 2)),
            b'1' => Some((Token::Month, 1)),
            b'2' if rest.starts_with("2006") => Some((Token::Year4, 4)),
            b'2' => Some((Token::Day, 1)),
            // `_2006` is a literal `_` followed by the year.
            b'_' if rest.starts_with("_2006") => None,
            b'_' if rest.starts_with("_2") => Some((Token::DaySpace, 2)),
            b'_' if rest.starts_with("__2") => Some((Token::YearDaySpace, 3)),
            b'3' => Some((Token::Hour12, 1)),
            b'4' => Some((Token::Minute, 1)),
            b'5' => Some((Token::Second, 1)),
            b'P' if rest.starts_with("PM") => Some((Token::AmPm, 2)),
            b'p' if rest.starts_with("pm") => Some((Token::AmPm, 2)),
            b'-' | b'Z' => {
                let z = b[i] == b'Z';
                let body = &rest[1..];
                let offset = |colon, minutes, seconds| Token::Offset {
                    z,
                    colon,
                    minutes,
                    seconds,
                };
                if body.starts_with("070000") {
                    Some((offset(false, true, true), 7))
                } else if body.starts_with("07:00:00") {
                    Some((offset(true, true, true), 9))
                } else if body.starts_with("0700") {
                    Some((offset(false, true, false), 5))
                } else if body.starts_with("07:00") {
                    Some((offset(true, true, false), 6))
                } else if body.starts_with("07") {
                    Some((offset(false, false, false), 3))
                } else {
                    None
                }
            }
            b'.' | b',' if b.len() > i + 1 && (b[i + 1] == b'0' || b[i + 1] == b'9') => {
                let ch = b[i + 1];
                let mut j = i + 1;
                while j < b.len() && b[j] == ch {
                    j += 1;
                }
                (!digit_at(j)).then(|| {
                    (
                        Token::Fraction {
                            digits: j - i - 1,
                            exact: ch == b'0',
                        },
                        j - i,
                    )
                })
            }
            _ => None,
        };
        match found {
            Some((token, len)) => {
                if !literal.is_empty() {
                    out.push(Token::Literal(std::mem::take(&mut literal)));
                }
                out.push(token);
                i += len;
            }
            None => {
                let c = rest.chars().next().unwrap_or_default();
                literal.push(c);
                i += c.len_utf8();
            }
        }
    }
    if !literal.is_empty() {
        out.push(Token::Literal(literal));
    }
    out
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// How to read timestamps: a Unix scale or a Go layout, with the zone for layouts
/// without an offset.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeParser {
    kind: Kind,
    zone: Zone,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    /// Nanoseconds per unit.
    Unix(i64),
    Layout {
        layout: String,
        tokens: Vec<Token>,
    },
}

/// A timestamp value from a document: a number or a string.
#[derive(Debug, Clone, Copy)]
pub enum TimeValue<'a> {
    /// An integer.
    Integer(i64),
    /// A number with a fraction.
    Float(f64),
    /// Text.
    Text(&'a str),
}

impl TimeParser {
    /// A parser for `format` (`unix`, `unix_ms`, `unix_us`, `unix_ns`, a Go layout or a
    /// layout name such as `RFC3339`) reading zone-less times in `zone`.
    ///
    /// # Errors
    /// An empty format.
    pub fn new(format: &str, zone: Zone) -> Result<TimeParser, String> {
        let kind = match format {
            "" => return Err("the time format is empty".to_owned()),
            "unix" => Kind::Unix(1_000_000_000),
            "unix_ms" => Kind::Unix(1_000_000),
            "unix_us" => Kind::Unix(1_000),
            "unix_ns" => Kind::Unix(1),
            other => {
                let layout = named_layout(other).unwrap_or(other).to_owned();
                Kind::Layout {
                    tokens: lex(&layout),
                    layout,
                }
            }
        };
        Ok(TimeParser { kind, zone })
    }

    /// Nanoseconds since the epoch of `value`; `now` (ns) supplies the year when the
    /// layout has none.
    ///
    /// # Errors
    /// A value that does not match the format, naming what was expected.
    pub fn parse(&self, value: TimeValue<'_>, now: i64) -> Result<i64, String> {
        match (&self.kind, value) {
            (Kind::Unix(scale), TimeValue::Integer(n)) => n
                .checked_mul(*scale)
                .ok_or_else(|| format!("{n} is out of range")),
            (Kind::Unix(scale), TimeValue::Float(f)) => {
                if !f.is_finite() {
                    return Err(format!("{f} is not a time"));
                }
                // The shortest decimal form of the number, read exactly.
                parse_decimal(&f.to_string(), *scale)
            }
            (Kind::Unix(scale), TimeValue::Text(text)) => {
                // Spaces are dropped and the first `.` or `,` is the decimal point (as
                // Telegraf does); a second separator makes it not a number.
                let mut cleaned = String::with_capacity(text.len());
                let mut seen_point = false;
                for c in text.trim().chars() {
                    match c {
                        ' ' => {}
                        '.' | ',' if !seen_point => {
                            seen_point = true;
                            cleaned.push('.');
                        }
                        c => cleaned.push(c),
                    }
                }
                parse_decimal(&cleaned, *scale).map_err(|_| format!("{text:?} is not a number"))
            }
            (Kind::Layout { .. }, TimeValue::Integer(_) | TimeValue::Float(_)) => {
                Err("a number cannot be read with a layout: use a unix format".to_owned())
            }
            (Kind::Layout { layout, tokens }, TimeValue::Text(text)) => {
                parse_layout(tokens, text, self.zone, now)
                    .map_err(|why| format!("{text:?} does not match layout {layout:?}: {why}"))
            }
        }
    }
}

/// `text` (an optionally signed decimal) times `scale`, truncated to whole nanoseconds.
fn parse_decimal(text: &str, scale: i64) -> Result<i64, String> {
    let bad = || format!("{text:?} is not a number");
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let whole: i128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let mut value = whole * i128::from(scale);
    // Fraction digits beyond what `scale` resolves are truncated.
    let mut unit = i128::from(scale);
    for d in fraction.bytes() {
        unit /= 10;
        if unit == 0 {
            break;
        }
        value += i128::from(d - b'0') * unit;
    }
    let value = if negative { -value } else { value };
    i64::try_from(value).map_err(|_| format!("{text:?} is out of range"))
}

/// Reads a run of digits: exactly two when `fixed`, else one or two.
fn number(value: &mut &str, fixed: bool) -> Result<u32, String> {
    let b = value.as_bytes();
    if b.is_empty() || !b[0].is_ascii_digit() {
        return Err("expected a number".to_owned());
    }
    let two = b.len() > 1 && b[1].is_ascii_digit();
    if fixed && !two {
        return Err("expected two digits".to_owned());
    }
    let len = if two { 2 } else { 1 };
    let n = value[..len]
        .parse()
        .map_err(|_| "expected a number".to_owned())?;
    *value = &value[len..];
    Ok(n)
}

fn name_in(value: &mut &str, names: &[&str], short: bool) -> Result<usize, String> {
    for (i, name) in names.iter().enumerate() {
        let name = if short { &name[..3] } else { name };
        if value.len() >= name.len() && value[..name.len()].eq_ignore_ascii_case(name) {
            *value = &value[name.len()..];
            return Ok(i);
        }
    }
    Err("expected a month or weekday name".to_owned())
}

/// The fraction after `.`/`,` in `value` (which starts at the separator), as nanoseconds;
/// `len` counts the separator.
fn fraction(value: &mut &str, len: usize) -> Result<u32, String> {
    let digits = &value[1..len];
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected fractional seconds".to_owned());
    }
    let mut nanos = 0u32;
    for (i, d) in digits.bytes().take(9).enumerate() {
        nanos += u32::from(d - b'0') * 10u32.pow(8 - i as u32);
    }
    *value = &value[len..];
    Ok(nanos)
}

fn parse_layout(tokens: &[Token], text: &str, zone: Zone, now: i64) -> Result<i64, String> {
    let mut value = text;
    let mut year: Option<i32> = None;
    let (mut month, mut day, mut yday) = (1u32, 1u32, None::<u32>);
    let (mut hour, mut minute, mut second, mut nanos) = (0u32, 0u32, 0u32, 0u32);
    let mut pm: Option<bool> = None;
    let mut offset: Option<i32> = None;
    let mut named_zone: Option<chrono_tz::Tz> = None;
    for (index, token) in tokens.iter().enumerate() {
        match token {
            Token::Literal(lit) => {
                value = value
                    .strip_prefix(lit.as_str())
                    .ok_or_else(|| format!("expected {lit:?}"))?;
            }
            Token::Year4 => {
                if value.len() < 4 || !value.as_bytes()[..4].iter().all(u8::is_ascii_digit) {
                    return Err("expected a four-digit year".to_owned());
                }
                year = Some(value[..4].parse().map_err(|_| "bad year")?);
                value = &value[4..];
            }
            Token::Year2 => {
                let y = number(&mut value, true)? as i32;
                year = Some(if y >= 69 { 1900 + y } else { 2000 + y });
            }
            Token::MonthLong => month = name_in(&mut value, &MONTHS, false)? as u32 + 1,
            Token::MonthShort => month = name_in(&mut value, &MONTHS, true)? as u32 + 1,
            Token::Month2 | Token::Month => {
                month = number(&mut value, *token == Token::Month2)?;
                if !(1..=12).contains(&month) {
                    return Err("month out of range".to_owned());
                }
            }
            Token::WeekdayLong => {
                name_in(&mut value, &WEEKDAYS, false)?;
            }
            Token::WeekdayShort => {
                name_in(&mut value, &WEEKDAYS, true)?;
            }
            Token::Day2 | Token::Day | Token::DaySpace => {
                if *token == Token::DaySpace {
                    value = value.strip_prefix(' ').unwrap_or(value);
                }
                day = number(&mut value, *token == Token::Day2)?;
            }
            Token::YearDay3 | Token::YearDaySpace => {
                if *token == Token::YearDaySpace {
                    value = value.trim_start_matches(' ');
                }
                let len = value.bytes().take(3).take_while(u8::is_ascii_digit).count();
                if len == 0 || (*token == Token::YearDay3 && len < 3) {
                    return Err("expected a day of the year".to_owned());
                }
                yday = Some(value[..len].parse().map_err(|_| "bad day of year")?);
                value = &value[len..];
            }
            Token::Hour24 => {
                hour = number(&mut value, false)?;
                if hour > 23 {
                    return Err("hour out of range".to_owned());
                }
            }
            Token::Hour12Zero | Token::Hour12 => {
                hour = number(&mut value, *token == Token::Hour12Zero)?;
                if hour > 12 {
                    return Err("hour out of range".to_owned());
                }
            }
            Token::Minute2 | Token::Minute => {
                minute = number(&mut value, *token == Token::Minute2)?;
                if minute > 59 {
                    return Err("minute out of range".to_owned());
                }
            }
            Token::Second2 | Token::Second => {
                second = number(&mut value, *token == Token::Second2)?;
                if second > 59 {
                    return Err("second out of range".to_owned());
                }
                // A fraction in the text that the layout does not name is read anyway.
                let b = value.as_bytes();
                let layout_has_fraction =
                    matches!(tokens.get(index + 1), Some(Token::Fraction { .. }));
                if !layout_has_fraction
                    && b.len() >= 2
                    && (b[0] == b'.' || b[0] == b',')
                    && b[1].is_ascii_digit()
                {
                    let len = 1 + b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                    nanos = fraction(&mut value, len)?;
                }
            }
            Token::Fraction { digits, exact } => {
                let b = value.as_bytes();
                if *exact {
                    if b.len() < digits + 1 || !(b[0] == b'.' || b[0] == b',') {
                        return Err(format!("expected {digits} fractional digits"));
                    }
                    nanos = fraction(&mut value, digits + 1)?;
                } else if b.len() >= 2 && (b[0] == b'.' || b[0] == b',') && b[1].is_ascii_digit() {
                    let len = 1 + b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                    nanos = fraction(&mut value, len)?;
                }
            }
            Token::AmPm => {
                let head = value.get(..2).unwrap_or("");
                pm = Some(match head.to_ascii_uppercase().as_str() {
                    "AM" => false,
                    "PM" => true,
                    _ => return Err("expected AM or PM".to_owned()),
                });
                value = &value[2..];
            }
            Token::Offset {
                z,
                colon,
                minutes,
                seconds,
            } => {
                if *z && value.starts_with('Z') {
                    value = &value[1..];
                    offset = Some(0);
                    continue;
                }
                let sign = match value.as_bytes().first() {
                    Some(b'+') => 1,
                    Some(b'-') => -1,
                    _ => return Err("expected a zone offset".to_owned()),
                };
                value = &value[1..];
                let mut secs = number(&mut value, true)? as i32 * 3600;
                if *minutes {
                    if *colon {
                        value = value
                            .strip_prefix(':')
                            .ok_or("expected ':' in the offset")?;
                    }
                    secs += number(&mut value, true)? as i32 * 60;
                }
                if *seconds {
                    if *colon {
                        value = value
                            .strip_prefix(':')
                            .ok_or("expected ':' in the offset")?;
                    }
                    secs += number(&mut value, true)? as i32;
                }
                offset = Some(sign * secs);
            }
            Token::ZoneName => {
                let len = value.bytes().take_while(|b| b.is_ascii_uppercase()).count();
                if len < 3 {
                    return Err("expected a time zone abbreviation".to_owned());
                }
                let name = &value[..len];
                value = &value[len..];
                if name == "UTC" || name == "GMT" {
                    offset = Some(0);
                } else {
                    named_zone =
                        Some(chrono_tz::Tz::from_str(name).map_err(|_| {
                            format!("cannot resolve time zone abbreviation {name:?}")
                        })?);
                }
            }
        }
    }
    if !value.is_empty() {
        return Err(format!("extra text {value:?}"));
    }
    if let Some(pm) = pm {
        if pm && hour < 12 {
            hour += 12;
        } else if !pm && hour == 12 {
            hour = 0;
        }
    }
    let year = match year {
        Some(y) => y,
        None => DateTime::from_timestamp_nanos(now).year(),
    };
    let date = match yday {
        Some(yday) => NaiveDate::from_yo_opt(year, yday),
        None => NaiveDate::from_ymd_opt(year, month, day),
    }
    .ok_or("day out of range")?;
    let local = date
        .and_hms_nano_opt(hour, minute, second, nanos)
        .ok_or("time out of range")?;
    let utc = if let Some(offset) = offset {
        FixedOffset::east_opt(offset)
            .ok_or("zone offset out of range")?
            .from_local_datetime(&local)
            .single()
            .map(|t| t.with_timezone(&Utc))
    } else if let Some(tz) = named_zone {
        Zone::Named(tz).to_utc(&local)
    } else {
        zone.to_utc(&local)
    }
    .ok_or("the time does not exist in the zone")?;
    utc.timestamp_nanos_opt()
        .ok_or_else(|| "the time is out of range".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(format: &str, zone: &str, text: &str) -> Result<i64, String> {
        TimeParser::new(format, Zone::parse(zone).unwrap())
            .unwrap()
            .parse(TimeValue::Text(text), 1_700_000_000_000_000_000)
    }

    #[test]
    fn unix_formats_read_numbers_and_strings_exactly() {
        let unix = TimeParser::new("unix", Zone::Utc).unwrap();
        assert_eq!(
            unix.parse(TimeValue::Integer(1_700_000_000), 0),
            Ok(1_700_000_000_000_000_000)
        );
        assert_eq!(
            unix.parse(TimeValue::Float(1_700_000_000.123), 0),
            Ok(1_700_000_000_123_000_000)
        );
        assert_eq!(
            unix.parse(TimeValue::Text("1700000000.123456789"), 0),
            Ok(1_700_000_000_123_456_789)
        );
        assert_eq!(
            parse("unix_ms", "", "1700000000123"),
            Ok(1_700_000_000_123_000_000)
        );
        assert_eq!(
            parse("unix", "", "1700000000,5"),
            Ok(1_700_000_000_500_000_000)
        );
        assert!(parse("unix_ms", "", "1,700,000,000,123").is_err());
        assert_eq!(
            parse("unix_us", "", "1700000000123456"),
            Ok(1_700_000_000_123_456_000)
        );
        assert_eq!(parse("unix_ns", "", "-5"), Ok(-5));
        assert!(parse("unix", "", "soon").is_err());
    }

    #[test]
    fn go_layouts_and_names_read_as_go_does() {
        let cases = [
            (
                "2006-01-02T15:04:05Z07:00",
                "",
                "2023-11-14T22:13:20Z",
                1_700_000_000_000_000_000,
            ),
            (
                "RFC3339",
                "",
                "2023-11-14T23:13:20+01:00",
                1_700_000_000_000_000_000,
            ),
            (
                "rfc3339nano",
                "",
                "2023-11-14T22:13:20.5Z",
                1_700_000_000_500_000_000,
            ),
            (
                "2006-01-02 15:04:05",
                "",
                "2023-11-14 22:13:20",
                1_700_000_000_000_000_000,
            ),
            (
                "2006-01-02 15:04:05",
                "",
                "2023-11-14 22:13:20.25",
                1_700_000_000_250_000_000,
            ),
            (
                "2006-01-02 15:04:05.000",
                "",
                "2023-11-14 22:13:20.007",
                1_700_000_000_007_000_000,
            ),
            (
                "02/01/2006 03:04:05 PM",
                "",
                "14/11/2023 10:13:20 PM",
                1_700_000_000_000_000_000,
            ),
            (
                "Mon Jan _2 15:04:05 2006",
                "",
                "Tue Nov 14 22:13:20 2023",
                1_700_000_000_000_000_000,
            ),
            (
                "Jan 2 15:04:05 -0700 2006",
                "",
                "Nov 14 17:13:20 -0500 2023",
                1_700_000_000_000_000_000,
            ),
            (
                "2006-01-02 15:04:05",
                "Europe/Berlin",
                "2023-11-14 23:13:20",
                1_700_000_000_000_000_000,
            ),
            (
                "2006-01-02 15:04:05 MST",
                "",
                "2023-11-14 17:13:20 EST",
                1_700_000_000_000_000_000,
            ),
            (
                "2006-002 15:04:05",
                "",
                "2023-318 22:13:20",
                1_700_000_000_000_000_000,
            ),
            (
                "January 2, 06 15:04",
                "",
                "november 14, 23 22:13",
                1_699_999_980_000_000_000,
            ),
        ];
        for (layout, zone, text, want) in cases {
            assert_eq!(parse(layout, zone, text), Ok(want), "{layout} {text}");
        }
        // A layout without a year takes the year of `now`.
        assert_eq!(
            parse("Stamp", "", "Nov 14 22:13:20"),
            Ok(1_700_000_000_000_000_000)
        );
    }

    #[test]
    fn mismatches_name_the_layout_and_the_problem() {
        let err = parse("2006-01-02", "", "2023/11/14").unwrap_err();
        assert!(
            err.contains("2006-01-02") && err.contains("expected \"-\""),
            "{err}"
        );
        assert!(parse("2006-01-02", "", "2023-02-30").is_err());
        assert!(parse("2006-01-02", "", "2023-01-02 extra").is_err());
        assert!(parse("15:04 MST", "", "10:00 XYZ").is_err());
        assert!(Zone::parse("Mars/Olympus").is_err());
        let unix = TimeParser::new("2006", Zone::Utc).unwrap();
        assert!(unix.parse(TimeValue::Integer(5), 0).is_err());
    }
}
