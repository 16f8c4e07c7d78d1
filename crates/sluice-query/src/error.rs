//! The query engine's error type.

/// Everything that can go wrong while planning, running or formatting a query.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The storage engine failed (database or table missing, unreadable file, ...).
    #[error(transparent)]
    Storage(#[from] sluice_storage::Error),
    /// DataFusion failed to plan or run a SQL query.
    #[error("{0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// Building or converting Arrow data failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// Writing Parquet output failed.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// InfluxQL text did not parse.
    #[error("{0}")]
    InfluxQlParse(#[from] sluice_influxql::Error),
    /// A query needs a database and none was given.
    #[error("database name required")]
    DatabaseRequired,
    /// The database does not exist.
    #[error("database not found: {0}")]
    DatabaseNotFound(String),
    /// A SQL parameter has a JSON value that cannot be bound (an array or object).
    #[error("invalid value for parameter ${name}: {reason}")]
    InvalidParam { name: String, reason: String },
    /// A query uses something valid in InfluxQL that sluice does not run.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// A query is well formed but cannot be answered as written (InfluxDB's wording where
    /// it has one).
    #[error("{0}")]
    Invalid(String),
    /// A regular expression in a query did not compile.
    #[error("invalid regex /{pattern}/: {reason}")]
    Regex { pattern: String, reason: String },
    /// An output format name that is not known.
    #[error("unknown format {0:?}: expected json, jsonl, csv, parquet or pretty")]
    UnknownFormat(String),
    /// The query ran longer than `--query-timeout` (InfluxDB 1.x's wording first).
    #[error(
        "query-timeout limit exceeded: the query ran longer than {}s (--query-timeout)",
        limit.as_secs_f64()
    )]
    QueryTimeout { limit: std::time::Duration },
    /// The query needed more memory than `--query-memory-limit`.
    #[error(
        "query-memory-limit exceeded: the query needs more than {limit} bytes of memory (--query-memory-limit); narrow the time range, add conditions, or aggregate (in InfluxQL, over GROUP BY time() buckets)"
    )]
    MemoryLimit { limit: usize },
    /// One of InfluxDB 1.x's `max-select-*` guards, in its wording:
    /// `max-select-point limit exceeded: (11/10)`.
    #[error("{name} limit exceeded: ({value}/{limit})")]
    LimitExceeded {
        name: &'static str,
        value: u64,
        limit: u64,
    },
    /// The query was stopped because its client went away.
    #[error("query cancelled")]
    Cancelled,
    /// The query engine panicked running the query (a bug: it should have returned an
    /// error); the message is the panic's. The server goes on.
    #[error("the query engine failed on this query: {0}")]
    Panicked(String),
    /// Writing output failed.
    #[error("writing output: {0}")]
    Io(#[from] std::io::Error),
}

/// Whether Arrow failed computing what the query asked for (`1/0`, `CAST('abc' AS INT)`,
/// an overflow, a value out of a function's range): the query's values, not the server.
fn is_computing_error(error: &arrow::error::ArrowError) -> bool {
    use arrow::error::ArrowError as A;
    matches!(
        error,
        A::NotYetImplemented(_)
            | A::CastError(_)
            | A::ParseError(_)
            | A::SchemaError(_)
            | A::ComputeError(_)
            | A::DivideByZero
            | A::ArithmeticOverflow(_)
            | A::InvalidArgumentError(_)
            | A::DictionaryKeyOverflowError
            | A::RunEndIndexOverflowError
            | A::OffsetOverflowError(_)
    )
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether the error is the client's mistake (bad query, unknown database, unsupported
    /// feature, a query over one of the limits) rather than a failure of the server; the
    /// HTTP layer maps it to 400/404 vs 500.
    pub fn is_client_error(&self) -> bool {
        match self {
            Error::Storage(e) => e.is_client_error(),
            Error::DataFusion(e) => {
                use datafusion::error::DataFusionError as D;
                match e.find_root() {
                    D::Plan(_)
                    | D::SQL(..)
                    | D::SchemaError(..)
                    | D::NotImplemented(_)
                    | D::ResourcesExhausted(_) => true,
                    D::ArrowError(arrow, _) => is_computing_error(arrow),
                    // A pattern of the query that does not compile (`k ~ '('`), as
                    // DataFusion's simplifier passes it on.
                    D::External(e) if e.is::<regex_syntax::Error>() => true,
                    _ => self
                        .storage_cause()
                        .is_some_and(sluice_storage::Error::is_client_error),
                }
            }
            Error::Arrow(_) | Error::Parquet(_) | Error::Io(_) | Error::Panicked(_) => false,
            _ => true,
        }
    }

    /// The storage engine's error wherever it sits in the chain of causes: this error
    /// itself, or one a scan raised inside DataFusion (a database dropped while the query
    /// read it, a file compacted away).
    pub fn storage_cause(&self) -> Option<&sluice_storage::Error> {
        if let Error::Storage(storage) = self {
            // Transparent: its `source` is the storage error's source, not the error.
            return Some(storage);
        }
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(e) = cause {
            if let Some(storage) = e.downcast_ref::<sluice_storage::Error>() {
                return Some(storage);
            }
            cause = e.source();
        }
        None
    }
}
