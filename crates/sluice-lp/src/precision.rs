//! Timestamp precision: how the integer written in a line maps to nanoseconds.

use std::fmt;
use std::str::FromStr;

/// The unit of the timestamps in a batch of line protocol.
///
/// Every spelling used by the InfluxDB v1, v2 and v3 write APIs parses: `n`, `ns`,
/// `nanosecond(s)`, `u`, `us`, `µs`, `microsecond(s)`, `ms`, `millisecond(s)`, `s`,
/// `second(s)`, `m`, `minute(s)`, `h`, `hour(s)` and `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Precision {
    #[default]
    Nanosecond,
    Microsecond,
    Millisecond,
    Second,
    Minute,
    Hour,
    /// Guess the unit of each timestamp from its magnitude, as InfluxDB 3 does: a value
    /// below 5e9 is read as seconds, below 5e12 as milliseconds, below 5e15 as
    /// microseconds, anything larger as nanoseconds (so `auto` is right for any time
    /// after 1970-02-27 in any of the four units).
    Auto,
}

impl Precision {
    /// How many nanoseconds one unit holds; `None` for [`Precision::Auto`].
    #[inline]
    pub fn nanos_per_unit(self) -> Option<i64> {
        Some(match self {
            Precision::Nanosecond => 1,
            Precision::Microsecond => 1_000,
            Precision::Millisecond => 1_000_000,
            Precision::Second => 1_000_000_000,
            Precision::Minute => 60_000_000_000,
            Precision::Hour => 3_600_000_000_000,
            Precision::Auto => return None,
        })
    }

    /// Converts a timestamp written in this precision to nanoseconds since the epoch.
    ///
    /// Returns `None` when the result does not fit an `i64` of nanoseconds.
    #[inline]
    pub fn to_nanos(self, timestamp: i64) -> Option<i64> {
        match self.nanos_per_unit() {
            Some(factor) => timestamp.checked_mul(factor),
            None => Self::guess(timestamp).to_nanos(timestamp),
        }
    }

    /// The precision [`Precision::Auto`] picks for `timestamp`.
    pub fn guess(timestamp: i64) -> Precision {
        let magnitude = timestamp.unsigned_abs();
        if magnitude < 5_000_000_000 {
            Precision::Second
        } else if magnitude < 5_000_000_000_000 {
            Precision::Millisecond
        } else if magnitude < 5_000_000_000_000_000 {
            Precision::Microsecond
        } else {
            Precision::Nanosecond
        }
    }

    /// The short name used in query strings (`ns`, `us`, `ms`, `s`, `m`, `h`, `auto`).
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Nanosecond => "ns",
            Precision::Microsecond => "us",
            Precision::Millisecond => "ms",
            Precision::Second => "s",
            Precision::Minute => "m",
            Precision::Hour => "h",
            Precision::Auto => "auto",
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a precision name that none of the write APIs accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid precision {0:?}: expected one of ns, us, ms, s, m, h, auto (or nanosecond, microsecond, millisecond, second, minute, hour)"
)]
pub struct InvalidPrecision(pub String);

impl FromStr for Precision {
    type Err = InvalidPrecision;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "n" | "ns" | "nanosecond" | "nanoseconds" => Precision::Nanosecond,
            "u" | "us" | "µs" | "µ" | "microsecond" | "microseconds" => Precision::Microsecond,
            "ms" | "millisecond" | "milliseconds" => Precision::Millisecond,
            "s" | "second" | "seconds" => Precision::Second,
            "m" | "minute" | "minutes" => Precision::Minute,
            "h" | "hour" | "hours" => Precision::Hour,
            "auto" => Precision::Auto,
            other => return Err(InvalidPrecision(other.to_owned())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_spelling_of_every_api() {
        let cases = [
            (
                ["n", "ns", "nanosecond", "nanoseconds"],
                Precision::Nanosecond,
            ),
            (["u", "us", "microsecond", "µs"], Precision::Microsecond),
            (
                ["ms", "millisecond", "milliseconds", "ms"],
                Precision::Millisecond,
            ),
            (["s", "second", "seconds", "s"], Precision::Second),
            (["m", "minute", "minutes", "m"], Precision::Minute),
            (["h", "hour", "hours", "h"], Precision::Hour),
        ];
        for (names, want) in cases {
            for name in names {
                assert_eq!(name.parse::<Precision>(), Ok(want), "{name}");
            }
        }
        assert_eq!("auto".parse(), Ok(Precision::Auto));
        assert!("nanos".parse::<Precision>().is_err());
        assert!("".parse::<Precision>().is_err());
    }

    #[test]
    fn scales_to_nanoseconds() {
        assert_eq!(Precision::Second.to_nanos(3), Some(3_000_000_000));
        assert_eq!(Precision::Hour.to_nanos(-1), Some(-3_600_000_000_000));
        assert_eq!(Precision::Minute.to_nanos(i64::MAX / 1000), None);
        assert_eq!(Precision::Nanosecond.to_nanos(i64::MIN), Some(i64::MIN));
    }

    #[test]
    fn auto_guesses_from_magnitude() {
        let now_s = 1_764_000_000_i64;
        assert_eq!(Precision::Auto.to_nanos(now_s), Some(now_s * 1_000_000_000));
        assert_eq!(
            Precision::Auto.to_nanos(now_s * 1_000),
            Some(now_s * 1_000_000_000)
        );
        assert_eq!(
            Precision::Auto.to_nanos(now_s * 1_000_000),
            Some(now_s * 1_000_000_000)
        );
        assert_eq!(
            Precision::Auto.to_nanos(now_s * 1_000_000_000),
            Some(now_s * 1_000_000_000)
        );
        assert_eq!(Precision::guess(-now_s), Precision::Second);
        assert_eq!(Precision::guess(0), Precision::Second);
    }
}
