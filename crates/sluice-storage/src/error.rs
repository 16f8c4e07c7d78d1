//! The storage engine's error type.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong in the storage engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database does not exist (and auto-creation is off, or the call never creates).
    #[error("database not found: {name:?}")]
    DatabaseNotFound { name: String },
    /// The retention policy does not exist in the database.
    #[error("retention policy not found: {name}")]
    RetentionPolicyNotFound { name: String },
    /// A retention policy of that name exists with other settings.
    #[error("retention policy already exists")]
    RetentionPolicyExists { name: String },
    /// A retention policy of that name exists with the same settings but is not the
    /// default, and the request asked for it to be the default.
    #[error("retention policy conflicts with an existing policy")]
    RetentionPolicyConflict { name: String },
    /// A retention policy duration below the one-hour minimum (zero, keep forever, is
    /// allowed).
    #[error("retention policy duration must be at least 1h0m0s")]
    RetentionPolicyDurationTooLow { duration: Duration },
    /// A retention policy whose duration is shorter than its shard group duration.
    #[error("retention policy duration must be greater than the shard duration")]
    IncompatibleDurations {
        duration: Duration,
        shard_group_duration: Duration,
    },
    /// A retention policy name that cannot be used.
    #[error("invalid retention policy name {name:?}: {reason}")]
    InvalidRetentionPolicyName { name: String, reason: &'static str },
    /// The retention policy a database was created with holds the database's own
    /// storage, so it goes only with the database.
    #[error(
        "cannot drop retention policy {name} of database {database}: it is the policy the \
         database was created with (drop the database instead)"
    )]
    DatabasePolicy { database: String, name: String },
    /// The table does not exist in the database.
    #[error("table not found: {table:?} in database {database:?}")]
    TableNotFound { database: String, table: String },
    /// A cache definition that cannot be used (a missing column, a column of the wrong
    /// type, a count out of range, ...).
    #[error("invalid {kind} cache on table {table:?}: {reason}")]
    InvalidCache {
        kind: &'static str,
        table: String,
        reason: String,
    },
    /// A cache of that name exists on the table with other settings.
    #[error("a {kind} cache named {name:?} already exists on table {table:?} with other settings")]
    CacheExists {
        kind: &'static str,
        table: String,
        name: String,
    },
    /// No cache of that name on the table.
    #[error("{kind} cache {name:?} not found on table {table:?} in database {database:?}")]
    CacheNotFound {
        kind: &'static str,
        database: String,
        table: String,
        name: String,
    },
    /// The write buffer is over `max_buffer_bytes`; nothing was written. Retry later.
    #[error("write buffer full: retry after {retry_after:?}")]
    Backpressure { retry_after: Duration },
    /// A database name that cannot be used.
    #[error("invalid database name {name:?}: {reason}")]
    InvalidDatabaseName { name: String, reason: &'static str },
    /// The data directory (or, for a cloud node, its node id) belongs to another
    /// running process.
    #[error("{0}")]
    InUse(String),
    /// Another process took over this cloud node's id (its lease in the bucket): this
    /// one persists nothing more and takes no writes. The message says who and what to do.
    #[error("{0}")]
    Fenced(String),
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
    /// The disk holding `what` (the write-ahead log, the catalog) is full or over quota
    /// (ENOSPC, EDQUOT), so the request was not acknowledged. Writes resume by themselves
    /// once space is freed; `path` is for the log, not for clients.
    #[error(
        "insufficient storage: the {what}'s disk is full ({source}); the request was not \
         acknowledged: free space on the server, then retry"
    )]
    DiskFull {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Writing or syncing the write-ahead log failed with an I/O error other than a full
    /// disk, so the request was not acknowledged. The WAL re-opens on a fresh segment by
    /// itself once it can be written again; retry after `retry_after`.
    #[error(
        "the write-ahead log cannot be written ({source}); the request was not acknowledged: \
         retry later"
    )]
    WalUnavailable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
        retry_after: Duration,
    },
    /// A write would add columns whose types the nodes of the bucket agree on through it
    /// (`engine/claims.rs`), and the bucket could not be asked: nothing was acknowledged.
    #[error(
        "new column {table}.{column} cannot be claimed in the bucket ({source}); the \
         request was not acknowledged: retry later (writes of columns already known are \
         taken meanwhile)"
    )]
    ClaimUnavailable {
        table: String,
        column: String,
        #[source]
        source: Box<object_store::Error>,
        retry_after: Duration,
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
    /// A query node's ingest peers kept publishing manifests newer than the copies it
    /// read while it scanned `table` (they persist faster than it reads the bucket), so
    /// it could not answer with every row once. Retry.
    #[error(
        "the ingest nodes persisted {database}.{table} faster than this query node could \
         read their manifests; retry"
    )]
    IngestPeersAhead { database: String, table: String },
    /// A scan done on its query's own thread was told to stop (see
    /// [`crate::with_inline_reads`]): the query timed out or its client left.
    #[error("read stopped: its query timed out or was cancelled")]
    Stopped,
    /// A scan would hold more than its [`crate::ScanRequest::max_bytes`] of rows.
    #[error("the scan needs more than {limit} bytes of memory for its rows")]
    ScanTooLarge { limit: usize },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Whether an I/O error means the disk is full or over quota.
pub(crate) fn is_disk_full(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

impl Error {
    /// Whether the object store failed a request (it is down, unreachable, or answered
    /// errors after its retries); a missing object is not such a failure.
    pub fn is_store_failure(&self) -> bool {
        matches!(self, Error::ObjectStore(e) if !matches!(e, object_store::Error::NotFound { .. }))
    }

    /// Whether the object store answered that an object does not exist.
    pub fn is_missing_object(&self) -> bool {
        matches!(
            self,
            Error::ObjectStore(object_store::Error::NotFound { .. })
        )
    }

    /// Whether the error is the caller's mistake (a name that does not exist or is not
    /// valid, a policy that cannot be, a query's scan over its limits) rather than a failure
    /// of the storage engine. A database or table dropped while a query read it is such a
    /// mistake too: the query named what is no longer there.
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            Error::DatabaseNotFound { .. }
                | Error::TableNotFound { .. }
                | Error::InvalidDatabaseName { .. }
                | Error::RetentionPolicyNotFound { .. }
                | Error::RetentionPolicyExists { .. }
                | Error::RetentionPolicyConflict { .. }
                | Error::RetentionPolicyDurationTooLow { .. }
                | Error::IncompatibleDurations { .. }
                | Error::InvalidRetentionPolicyName { .. }
                | Error::DatabasePolicy { .. }
                | Error::InvalidCache { .. }
                | Error::CacheExists { .. }
                | Error::CacheNotFound { .. }
                | Error::Stopped
                | Error::ScanTooLarge { .. }
        )
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
