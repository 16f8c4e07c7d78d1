//! Why a line was rejected, and where.

use std::fmt;

/// A rejected line: where it is, why, and what it said.
///
/// Displays as `line 3, col 17: duplicate tag key "host"`; the line text is kept apart so
/// callers decide how to show it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, col {column}: {kind}")]
pub struct ParseError {
    /// 1-based physical line number, counting blank and comment lines; a point continued
    /// by a newline inside a quoted string keeps the number of its first line.
    pub line: usize,
    /// 1-based byte column of the problem, counted from the start of the point.
    pub column: usize,
    /// The reason.
    pub kind: ErrorKind,
    /// The rejected point's text, without its line ending (invalid UTF-8 replaced).
    pub text: String,
}

/// The reasons a line can be rejected; every message is lower-case and names the token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The line has a measurement (and maybe tags) but no field set.
    MissingFields,
    /// The line starts with `,` or a space-separated field set without a measurement.
    MissingMeasurement,
    /// A character that the grammar does not allow at this place.
    UnexpectedCharacter { found: u8, context: &'static str },
    /// `,=v` or `,,`
    EmptyTagKey,
    /// `host=` with nothing after it.
    EmptyTagValue { key: String },
    /// A tag key without `=value`.
    MissingTagValue { key: String },
    /// The same tag key twice in one line.
    DuplicateTagKey { key: String },
    /// `=1` or `,,` in the field set.
    EmptyFieldKey,
    /// A field key without `=value`.
    MissingFieldValue { key: String },
    /// A field value that is no number, string or boolean.
    InvalidFieldValue { key: String, value: String },
    /// A value that looks like a number but breaks the number grammar.
    InvalidNumber { key: String, value: String },
    /// `NaN`, `Inf` and their spellings: InfluxDB stores neither.
    NonFiniteFloat { key: String },
    /// An `i` or `u` value outside its 64-bit range, or a float beyond `f64`.
    NumberOutOfRange { key: String, value: String },
    /// A quoted string with no closing quote before the end of the input; `lines` is how
    /// many physical lines after its first the string took with it (a newline inside a
    /// string is part of it, so none of them was read as a point of its own).
    UnterminatedString { key: String, lines: usize },
    /// A backslash as the last character of a line.
    BadEscape,
    /// The timestamp is not an optional `-` followed by digits.
    InvalidTimestamp { value: String },
    /// The timestamp does not fit an `i64` of nanoseconds after precision scaling.
    TimestampOutOfRange { value: String },
    /// Text after the timestamp.
    TrailingText,
    /// Bytes that are not UTF-8.
    InvalidUtf8,
    /// A line longer than the configured limit.
    LineTooLong { limit: usize },
    /// A measurement, tag key, tag value or field key longer than the configured limit.
    NameTooLong { limit: usize },
}

impl ErrorKind {
    /// The rule broken, without the details (the token, the value): what rejections are
    /// counted and filtered by, e.g. `invalid number` or `duplicate tag key`.
    pub fn name(&self) -> &'static str {
        use ErrorKind::*;
        match self {
            MissingFields => "missing fields",
            MissingMeasurement => "missing measurement",
            UnexpectedCharacter { .. } => "invalid character",
            EmptyTagKey => "empty tag key",
            EmptyTagValue { .. } => "empty tag value",
            MissingTagValue { .. } => "missing tag value",
            DuplicateTagKey { .. } => "duplicate tag key",
            EmptyFieldKey => "empty field key",
            MissingFieldValue { .. } => "missing field value",
            InvalidFieldValue { .. } => "invalid field value",
            InvalidNumber { .. } => "invalid number",
            NonFiniteFloat { .. } => "NaN and Inf are not supported",
            NumberOutOfRange { .. } => "value out of range",
            UnterminatedString { .. } => "unterminated string",
            BadEscape => "bad escape at end of line",
            InvalidTimestamp { .. } => "invalid timestamp",
            TimestampOutOfRange { .. } => "timestamp out of range",
            TrailingText => "unexpected text after timestamp",
            InvalidUtf8 => "invalid utf-8",
            LineTooLong { .. } => "line too long",
            NameTooLong { .. } => "name too long",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ErrorKind::*;
        match self {
            MissingFields => write!(f, "missing fields"),
            MissingMeasurement => write!(f, "missing measurement"),
            UnexpectedCharacter { found, context } => {
                write!(f, "invalid character {:?} {context}", char::from(*found))
            }
            EmptyTagKey => write!(f, "empty tag key"),
            EmptyTagValue { key } => write!(f, "empty tag value for tag key {key:?}"),
            MissingTagValue { key } => write!(f, "missing tag value for tag key {key:?}"),
            DuplicateTagKey { key } => write!(f, "duplicate tag key {key:?}"),
            EmptyFieldKey => write!(f, "empty field key"),
            MissingFieldValue { key } => write!(f, "missing value for field {key:?}"),
            InvalidFieldValue { key, value } => {
                write!(f, "invalid value {value:?} for field {key:?}")
            }
            InvalidNumber { key, value } => write!(f, "invalid number {value:?} for field {key:?}"),
            NonFiniteFloat { key } => {
                write!(f, "NaN and Inf are not supported (field {key:?})")
            }
            NumberOutOfRange { key, value } => {
                write!(f, "value {value:?} out of range for field {key:?}")
            }
            UnterminatedString { key, lines: 0 } => {
                write!(f, "unterminated string for field {key:?}")
            }
            UnterminatedString { key, lines } => write!(
                f,
                "unterminated string for field {key:?}: it runs to the end of the body, taking the {lines} line{} after it",
                if *lines == 1 { "" } else { "s" }
            ),
            BadEscape => write!(f, "bad escape at end of line"),
            InvalidTimestamp { value } => write!(f, "invalid timestamp {value:?}"),
            TimestampOutOfRange { value } => write!(
                f,
                "timestamp {value:?} out of range: it does not fit int64 nanoseconds after precision scaling"
            ),
            TrailingText => write!(f, "unexpected text after timestamp"),
            InvalidUtf8 => write!(f, "invalid utf-8"),
            LineTooLong { limit } => write!(f, "line longer than {limit} bytes"),
            NameTooLong { limit } => write!(f, "name longer than {limit} bytes"),
        }
    }
}
