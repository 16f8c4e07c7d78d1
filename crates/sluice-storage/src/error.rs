//! The storage engine's error type.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong in the storage engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database does not exist (and auto-creation is off, or the call never creates).
    #[error("database not found: {name:?}")]
    DatabaseNotFound { name: String },
    /// The table does not exist in the database.
    #[error("table not found: {table:?} in database {database:?}")]
    TableNotFound { database: String, table: String },
    /// The write buffer is over `max_buffer_bytes`; nothing was written. Retry later.
    #[error("write buffer full: retry after {retry_after:?}")]
    Backpressure { retry_after: Duration },
    /// A database name that cannot be used.
    #[error("invalid database name {name:?}: {reason}")]
    InvalidDatabaseName { name: String, reason: &'static str },
    /// The engine was shut down (or failed fatally) and takes no more writes.
    #[error("storage engine is closed")]
    Closed,
    /// An I/O error, with what was being done.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A WAL file is damaged in the middle (not a torn tail).
    #[error("wal corrupt: {file}, offset {offset}: {reason}")]
    WalCorrupt {
        file: PathBuf,
        offset: u64,
        reason: String,
    },
    /// The catalog or manifest file could not be read or written.
    #[error("catalog: {0}")]
    Catalog(String),
    /// Writing or reading a Parquet file failed.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Building Arrow data failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// The object store failed.
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
