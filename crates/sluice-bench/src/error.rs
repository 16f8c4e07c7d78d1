//! The error type of the benchmark harness.

/// What can go wrong while generating data or driving a server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag combination that cannot work, such as zero hosts.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A time that is not RFC 3339 UTC.
    #[error("invalid time {0:?}: expected RFC 3339 UTC such as 2016-01-01T00:00:00Z")]
    InvalidTime(String),
    /// A duration that is not a positive number with a unit.
    #[error("invalid duration {0:?}: expected a number with a unit such as 10s, 500ms or 1h")]
    InvalidDuration(String),
    /// A URL the driver cannot use.
    #[error("invalid url {0:?}: expected http://host:port[/base]")]
    InvalidUrl(String),
    /// The input file holds a line that is not valid line protocol.
    #[error("input line {line} is not valid line protocol: {reason}")]
    InvalidInput {
        /// 1-based line number in the input.
        line: usize,
        /// What the parser said.
        reason: String,
    },
    /// The server sent something that is not an HTTP/1.1 response.
    #[error("malformed http response: {0}")]
    MalformedResponse(String),
    /// Reading, writing or connecting failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// The harness's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
