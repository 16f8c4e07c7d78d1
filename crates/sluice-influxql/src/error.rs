//! Why a query or a literal was rejected, and where.

/// Everything this crate can reject; messages are lower-case and name the token.
///
/// Parse errors display in InfluxDB 1.x's style:
/// `error parsing query: found FROM, expected identifier at line 1, char 8`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A token that the grammar does not allow at this place.
    #[error(
        "error parsing query: found {found}, expected {expected} at line {line}, char {column}"
    )]
    Unexpected {
        /// The token found, as written (keywords upper-case, `EOF` at the end).
        found: String,
        /// What the grammar allows here, such as `identifier` or `FROM, WHERE`.
        expected: String,
        /// 1-based line of the token.
        line: usize,
        /// 1-based character (not byte) within the line.
        column: usize,
    },
    /// A token that has the right kind but a bad value (such as an out-of-range integer).
    #[error("error parsing query: {message} at line {line}, char {column}")]
    Invalid {
        /// What is wrong, such as `invalid duration "1x"`.
        message: String,
        /// 1-based line of the token.
        line: usize,
        /// 1-based character (not byte) within the line.
        column: usize,
    },
    /// A query nested deeper than [`crate::MAX_NESTING_DEPTH`] levels (parentheses,
    /// signs, calls, subqueries, or operators chained into one expression).
    #[error(
        "error parsing query: query nested deeper than the limit of {limit} levels (parentheses, calls, subqueries or chained operators) at line {line}, char {column}"
    )]
    TooDeep {
        /// The limit, [`crate::MAX_NESTING_DEPTH`].
        limit: usize,
        /// 1-based line of the token where the limit was passed.
        line: usize,
        /// 1-based character (not byte) within the line.
        column: usize,
    },
    /// `tz('…')` naming a zone the IANA database does not have, in InfluxDB 1.x's words.
    #[error("error parsing query: unable to find time zone {name}")]
    UnknownTimeZone {
        /// The name as written.
        name: String,
    },
    /// A function InfluxDB 1.x has that sluice does not run, such as `holt_winters` (see
    /// [`crate::validate_select`]).
    #[error("unsupported function \"{name}\"")]
    UnsupportedFunction {
        /// The function's lower-case name.
        name: String,
    },
    /// A function call whose name InfluxQL does not know, in InfluxDB 1.x's words.
    #[error("undefined function {name}()")]
    UndefinedFunction {
        /// The function's lower-case name.
        name: String,
    },
    /// A supported function called with the wrong arguments.
    #[error("invalid arguments for {name}(): {reason}")]
    FunctionArguments {
        /// The function's lower-case name.
        name: String,
        /// Such as `expected 2 arguments, got 1`.
        reason: String,
    },
    /// A duration that [`crate::parse_duration`] could not read.
    #[error("invalid duration \"{text}\"")]
    InvalidDuration {
        /// The text as given.
        text: String,
    },
    /// A time string that [`crate::parse_time`] could not read.
    #[error("invalid time \"{text}\": {reason}")]
    InvalidTime {
        /// The text as given.
        text: String,
        /// Such as `month out of range`.
        reason: String,
    },
}

/// This crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
