//! Every way the agent can fail.

/// The agent's error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid; `location` is `file:line` (or a path).
    #[error("{location}: {message}")]
    Config { location: String, message: String },
    /// An input could not gather.
    #[error("input {plugin}: {message}")]
    Gather { plugin: String, message: String },
    /// An output could not write.
    #[error("output {plugin}: {message}")]
    Write { plugin: String, message: String },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl Error {
    /// An I/O error about `path`.
    pub fn io(path: impl std::fmt::Display, source: std::io::Error) -> Error {
        Error::Io {
            path: path.to_string(),
            source,
        }
    }
}

/// The agent's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
