//! Every way a request can fail, and the one place that turns a failure into an HTTP response.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The API family a request came through; it decides the shape of error bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// InfluxDB 1.x: `{"error":"…"}` plus an `X-Influxdb-Error` header.
    V1,
    /// InfluxDB 2.x: `{"code":"…","message":"…"}` plus an `X-Platform-Error-Code` header.
    V2,
    /// InfluxDB 3: `{"error":"…"}`, with a `data` array for rejected lines.
    V3,
}

/// One line the server did not write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedLine {
    /// 1-based line number in the (decompressed) request body.
    pub line_number: usize,
    /// 1-based byte column of a parse error; `None` for lines the catalog refused.
    pub column: Option<usize>,
    /// Why: a parse error (`missing fields`) or a catalog rejection (`field type
    /// conflict: …`); displays in lower case as the APIs answer it.
    pub reason: Reason,
    /// The line as it was sent (its first physical line when a string spans lines).
    pub text: String,
}

/// Why a line was not written: the parser's reason or the catalog's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    /// The line is not line protocol.
    #[error("{0}")]
    Parse(sluice_lp::ErrorKind),
    /// The line parsed but does not fit the database (types, limits, retention).
    #[error("{0}")]
    Catalog(sluice_storage::Rejection),
}

impl Reason {
    /// The rule broken, without the details: `missing fields`, `field type conflict`, …
    pub fn kind(&self) -> &'static str {
        match self {
            Reason::Parse(kind) => kind.name(),
            Reason::Catalog(rejection) => rejection.kind(),
        }
    }
}

impl RejectedLine {
    /// The InfluxDB 1.x/2.x style one-line description of the rejection.
    pub fn describe(&self) -> String {
        match self.column {
            Some(column) => format!(
                "unable to parse '{}': line {}, col {column}: {}",
                self.text, self.line_number, self.reason
            ),
            None => format!(
                "unable to write '{}': line {}: {}",
                self.text, self.line_number, self.reason
            ),
        }
    }

    fn error_message(&self) -> String {
        match self.column {
            Some(column) => format!("{} (column {column})", self.reason),
            None => self.reason.to_string(),
        }
    }
}

/// A write in which some lines were rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialWrite {
    /// Lines written.
    pub accepted: usize,
    /// Lines not written, by line number.
    pub rejected: Vec<RejectedLine>,
    /// True when the client asked for all-or-nothing (`accept_partial=false`), so that
    /// nothing at all was written.
    pub nothing_written: bool,
}

/// At most this many rejected lines are spelled out in a v1/v2 error message.
const MAX_DESCRIBED_LINES: usize = 100;

impl PartialWrite {
    /// The v1/v2 message: `partial write: unable to parse '…': … dropped=N`, with the
    /// rejected lines separated by newlines, as InfluxDB 1.x does.
    pub fn message(&self) -> String {
        let mut reasons: Vec<String> = self
            .rejected
            .iter()
            .take(MAX_DESCRIBED_LINES)
            .map(RejectedLine::describe)
            .collect();
        if self.rejected.len() > MAX_DESCRIBED_LINES {
            reasons.push(format!(
                "and {} more rejected lines",
                self.rejected.len() - MAX_DESCRIBED_LINES
            ));
        }
        let dropped = if self.nothing_written {
            self.rejected.len() + self.accepted
        } else {
            self.rejected.len()
        };
        format!("partial write: {} dropped={dropped}", reasons.join("\n"))
    }
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A required query parameter is missing.
    #[error("missing required parameter {name:?}")]
    MissingParameter { name: &'static str },
    /// A query parameter has a value the endpoint does not accept.
    #[error("invalid parameter {name:?}: {reason}")]
    InvalidParameter { name: &'static str, reason: String },
    /// The request body could not be read or decoded (bad gzip, bad JSON).
    #[error("invalid request body: {reason}")]
    InvalidBody { reason: String },
    /// The body, on the wire or after decompression, is over the configured limit.
    #[error("request body too large: the limit is {limit} bytes")]
    BodyTooLarge { limit: usize },
    /// The client sent the request body too slowly (a stall or below the minimum rate).
    #[error("{reason}")]
    BodyTimeout { reason: String },
    /// A `Content-Encoding` other than identity and gzip.
    #[error("unsupported content encoding {encoding:?}: send identity or gzip")]
    UnsupportedEncoding { encoding: String },
    /// Some lines were rejected; the others were written unless `nothing_written`.
    #[error("{}", .0.message())]
    PartialWrite(Box<PartialWrite>),
    /// The database (v2: bucket) does not exist and is not created automatically.
    #[error("database not found: {name:?}")]
    DatabaseNotFound { name: String },
    /// A write names retention policy `rp` of database `database`, which does not exist
    /// (auto-creation makes a database with `autogen` only).
    #[error(
        "database not found: {database:?} (a write creates a database for its default retention policy \"autogen\" only, not for {rp:?})"
    )]
    NewDatabasePolicy { database: String, rp: String },
    /// Another named thing (a bucket id, a token id) does not exist.
    #[error("{what} not found")]
    NotFound { what: String },
    /// The thing to create exists already.
    #[error("{message}")]
    Conflict { message: String },
    /// The request carries no valid token.
    #[error("{reason}")]
    Unauthorized { reason: &'static str },
    /// The token is valid but lacks the permission.
    #[error("{reason}")]
    Forbidden { reason: String },
    /// The server is too busy right now; the client should retry after `retry_after`.
    #[error("{reason}")]
    Overloaded {
        reason: String,
        retry_after: Duration,
    },
    /// The storage engine failed; how depends on the variant.
    #[error(transparent)]
    Storage(#[from] sluice_storage::Error),
    /// An InfluxQL query that does not parse (`error parsing query: …`).
    #[error("{reason}")]
    QueryParse { reason: String },
    /// A statement of an InfluxQL query failed where the answer is a single table
    /// (`/api/v3/query_influxql`, Flight).
    #[error("{message}")]
    StatementFailed { message: String },
    /// The query engine failed: a bad query (400), an unknown database (404), or a
    /// failure of the server (500).
    #[error(transparent)]
    Query(#[from] sluice_query::Error),
    /// The node's `--mode` does not serve the request (a write to a node without
    /// `ingest`, a query to one without `query`); the message says where to send it.
    #[error("{message}")]
    WrongMode { message: String },
    /// Token management was asked for while auth is off.
    #[error("auth is disabled on this server (--without-auth): tokens are not used")]
    AuthDisabled,
    /// A bug or an environment failure; details go to the log only.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// Tags the error with the API family whose error shape the response must use.
    pub fn api(self, api: Api) -> ApiError {
        ApiError { api, error: self }
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An [`Error`] that knows which API family it answers, so it can be rendered.
#[derive(Debug)]
pub struct ApiError {
    /// The API family.
    pub api: Api,
    /// What went wrong.
    pub error: Error,
}

/// How an error shows on the wire, before the API family shapes the body.
struct Rendering {
    status: StatusCode,
    /// The v2 `code` field.
    code: &'static str,
    message: String,
    retry_after: Option<Duration>,
}

impl Error {
    fn render(&self, api: Api) -> Rendering {
        use sluice_storage::Error as S;
        let (status, code, retry_after) = match self {
            Error::MissingParameter { .. }
            | Error::InvalidParameter { .. }
            | Error::InvalidBody { .. }
            | Error::AuthDisabled
            | Error::PartialWrite(_)
            | Error::QueryParse { .. }
            | Error::StatementFailed { .. } => (StatusCode::BAD_REQUEST, "invalid", None),
            Error::Query(query) => match query {
                // Also a database dropped while the query read it (inside DataFusion's
                // error, as a scan passes it on).
                sluice_query::Error::DatabaseNotFound(_) => {
                    (StatusCode::NOT_FOUND, "not found", None)
                }
                q if matches!(
                    q.storage_cause(),
                    Some(S::DatabaseNotFound { .. } | S::RetentionPolicyNotFound { .. })
                ) =>
                {
                    (StatusCode::NOT_FOUND, "not found", None)
                }
                q if q.is_client_error() || is_execution_error(q) => {
                    (StatusCode::BAD_REQUEST, "invalid", None)
                }
                q if is_store_failure(q) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    Some(STORE_RETRY_AFTER),
                ),
                q if is_peers_ahead(q) || is_missing_file(q) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    Some(Duration::from_secs(1)),
                ),
                _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal error", None),
            },
            Error::BodyTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "request too large", None)
            }
            Error::BodyTimeout { .. } => (StatusCode::REQUEST_TIMEOUT, "request timeout", None),
            Error::UnsupportedEncoding { .. } => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported media type",
                None,
            ),
            Error::DatabaseNotFound { .. }
            | Error::NewDatabasePolicy { .. }
            | Error::NotFound { .. } => (StatusCode::NOT_FOUND, "not found", None),
            // InfluxDB 2 answers 422 for an existing bucket, InfluxDB 3 409.
            Error::Conflict { .. } if api == Api::V2 => {
                (StatusCode::UNPROCESSABLE_ENTITY, "conflict", None)
            }
            Error::Conflict { .. } => (StatusCode::CONFLICT, "conflict", None),
            Error::Unauthorized { .. } => (StatusCode::UNAUTHORIZED, "unauthorized", None),
            Error::Forbidden { .. } | Error::WrongMode { .. } => {
                (StatusCode::FORBIDDEN, "forbidden", None)
            }
            Error::Overloaded { retry_after, .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                Some(*retry_after),
            ),
            Error::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal error", None),
            Error::Storage(storage) => match storage {
                S::DatabaseNotFound { .. }
                | S::TableNotFound { .. }
                | S::CacheNotFound { .. }
                | S::RetentionPolicyNotFound { .. } => (StatusCode::NOT_FOUND, "not found", None),
                S::CacheExists { .. } => (StatusCode::CONFLICT, "conflict", None),
                S::InvalidDatabaseName { .. }
                | S::RetentionPolicyExists { .. }
                | S::RetentionPolicyConflict { .. }
                | S::RetentionPolicyDurationTooLow { .. }
                | S::IncompatibleDurations { .. }
                | S::InvalidRetentionPolicyName { .. }
                | S::DatabasePolicy { .. }
                | S::InvalidCache { .. } => (StatusCode::BAD_REQUEST, "invalid", None),
                // A query's scan told to stop, or over the memory it may take: the
                // query's limits, as for the query.
                S::Stopped | S::ScanTooLarge { .. } => (StatusCode::BAD_REQUEST, "invalid", None),
                S::Backpressure { retry_after } => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    Some(*retry_after),
                ),
                S::Closed | S::IngestPeersAhead { .. } => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    Some(Duration::from_secs(1)),
                ),
                // The engine logs the failure once; each refused request is not news.
                S::DiskFull { .. } => (StatusCode::INSUFFICIENT_STORAGE, "unavailable", None),
                S::WalUnavailable { retry_after, .. } | S::ClaimUnavailable { retry_after, .. } => {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "unavailable",
                        Some(*retry_after),
                    )
                }
                // For good: another process holds this node id now (the message says so).
                S::Fenced(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", None),
                // Only opening the storage says this; no request meets it.
                S::Io { .. }
                | S::InUse(_)
                | S::WalCorrupt { .. }
                | S::Catalog(_)
                | S::Parquet(_)
                | S::Arrow(_)
                | S::ObjectStore(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal error", None),
            },
        };
        let message = match self {
            // What the engine said is about the query, not the server's set-up.
            Error::Query(q @ sluice_query::Error::Panicked(_)) => {
                format!("internal error: {q} (a bug; the server goes on)")
            }
            _ if status == StatusCode::INTERNAL_SERVER_ERROR => {
                "internal error: see the server log".to_owned()
            }
            Error::DatabaseNotFound { name } | Error::Storage(S::DatabaseNotFound { name })
                if api == Api::V2 =>
            {
                format!("bucket {name:?} not found")
            }
            Error::Storage(S::Backpressure { .. }) => {
                "write buffer full: the server is persisting data, retry later".to_owned()
            }
            Error::Query(q) if is_peers_ahead(q) => q
                .storage_cause()
                .map(ToString::to_string)
                .unwrap_or_default(),
            Error::Query(q) if is_store_failure(q) => {
                "the object store is unavailable: the query needs a file it holds (see the \
                 server log); retry later"
                    .to_owned()
            }
            Error::Query(q) if is_missing_file(q) => {
                "a file a node's manifest names is no longer in the bucket (compacted away \
                 since the node published it); retry"
                    .to_owned()
            }
            other => other.to_string(),
        };
        Rendering {
            status,
            code,
            message,
            retry_after,
        }
    }
}

impl Error {
    /// The HTTP status this error is answered with.
    pub(crate) fn status(&self) -> StatusCode {
        self.render(Api::V3).status
    }

    /// The HTTP status and the client-facing message of this error (as the v3 API shows
    /// it), for protocols that map them on (Flight's gRPC status).
    pub(crate) fn status_and_message(&self) -> (StatusCode, String) {
        let rendering = self.render(Api::V3);
        if rendering.status.is_server_error()
            && rendering.retry_after.is_none()
            && !is_storage_fault(self)
        {
            tracing::error!(error = %self, "request failed");
        }
        (rendering.status, rendering.message)
    }
}

/// A full disk or a failing WAL: the storage engine logs it when it starts and ends, and
/// the client is told what is wrong, so a refused request is logged at debug level only.
fn is_storage_fault(error: &Error) -> bool {
    matches!(
        error,
        Error::Storage(
            sluice_storage::Error::DiskFull { .. }
                | sluice_storage::Error::WalUnavailable { .. }
                | sluice_storage::Error::ClaimUnavailable { .. }
        )
    )
}

/// How long a client is asked to wait when the object store fails a query.
const STORE_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Whether a query failed because the object store failed a request (it is down,
/// unreachable, or erring after its retries), wherever in the chain of causes the
/// storage engine's error sits. A file missing from the store is not such a failure.
fn is_store_failure(error: &sluice_query::Error) -> bool {
    error
        .storage_cause()
        .is_some_and(sluice_storage::Error::is_store_failure)
}

/// Whether a query failed because the ingest peers of a query node persisted faster
/// than it could read their manifests ([`sluice_storage::Error::IngestPeersAhead`]).
fn is_peers_ahead(error: &sluice_query::Error) -> bool {
    error
        .storage_cause()
        .is_some_and(|e| matches!(e, sluice_storage::Error::IngestPeersAhead { .. }))
}

/// Whether a query failed because a file its manifests named was gone from the bucket
/// after the scan read the manifests again and retried: a node's manifest naming a file
/// it has since compacted away, until that node publishes again (seconds), so the client
/// is asked to retry rather than told the server failed.
fn is_missing_file(error: &sluice_query::Error) -> bool {
    error
        .storage_cause()
        .is_some_and(sluice_storage::Error::is_missing_object)
}

/// DataFusion's execution errors (a placeholder without a value, a failed cast of a
/// literal) come from the query text, so they are the client's mistake too.
fn is_execution_error(error: &sluice_query::Error) -> bool {
    matches!(
        error,
        sluice_query::Error::DataFusion(e)
            if matches!(e.find_root(), datafusion::error::DataFusionError::Execution(_))
    )
}

/// Whole seconds for a `Retry-After` header: rounded up, at least 1.
pub(crate) fn retry_after_seconds(retry_after: Duration) -> u64 {
    let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    seconds.max(1)
}

/// A header value from arbitrary text: control characters become spaces, and the text is
/// cut at 4 KiB so that a body full of rejected lines cannot make a huge header.
fn header_text(text: &str) -> HeaderValue {
    let mut cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if cleaned.len() > 4096 {
        let mut end = 4096;
        while !cleaned.is_char_boundary(end) {
            end -= 1;
        }
        cleaned.truncate(end);
    }
    HeaderValue::from_bytes(cleaned.as_bytes())
        .unwrap_or_else(|_| HeaderValue::from_static("invalid error text"))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let Rendering {
            status,
            code,
            message,
            retry_after,
        } = self.error.render(self.api);
        if status.is_server_error() && retry_after.is_none() && !is_storage_fault(&self.error) {
            tracing::error!(error = %self.error, "request failed");
        } else {
            tracing::debug!(status = status.as_u16(), error = %message, "request rejected");
        }
        let body: Value = match (self.api, &self.error) {
            (Api::V3, Error::PartialWrite(partial)) => {
                let data: Vec<Value> = partial
                    .rejected
                    .iter()
                    .map(|line| {
                        json!({
                            "original_line": line.text,
                            "line_number": line.line_number,
                            "error_message": line.error_message(),
                        })
                    })
                    .collect();
                let error = if partial.nothing_written {
                    "parsing failed for write_lp endpoint: nothing was written (accept_partial=false)"
                } else {
                    "partial write of line protocol occurred"
                };
                json!({ "error": error, "data": data })
            }
            (Api::V1 | Api::V3, _) => json!({ "error": message }),
            (Api::V2, _) => json!({ "code": code, "message": message }),
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        match self.api {
            Api::V1 => {
                headers.insert("x-influxdb-error", header_text(&message));
            }
            Api::V2 => {
                headers.insert("x-platform-error-code", HeaderValue::from_static(code));
            }
            Api::V3 => {}
        }
        if let Some(retry_after) = retry_after {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_seconds(retry_after)),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partial() -> PartialWrite {
        PartialWrite {
            accepted: 2,
            rejected: vec![
                RejectedLine {
                    line_number: 2,
                    column: Some(4),
                    reason: Reason::Parse(sluice_lp::ErrorKind::MissingFields),
                    text: "cpu".into(),
                },
                RejectedLine {
                    line_number: 5,
                    column: None,
                    reason: Reason::Catalog(sluice_storage::Rejection::FieldTypeConflict {
                        table: "t".into(),
                        field: "f".into(),
                        existing: sluice_storage::FieldType::Float,
                        attempted: sluice_storage::FieldType::Integer,
                    }),
                    text: "t f=1i".into(),
                },
            ],
            nothing_written: false,
        }
    }

    #[test]
    fn v1_partial_write_message_lists_every_line_and_the_drop_count() {
        let message = partial().message();
        assert!(
            message.starts_with(
                "partial write: unable to parse 'cpu': line 2, col 4: missing fields\n"
            )
        );
        assert!(message.contains("unable to write 't f=1i': line 5: field type conflict"));
        assert!(message.ends_with(" dropped=2"));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_seconds(Duration::from_secs(3)), 3);
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
    }

    #[test]
    fn header_text_replaces_newlines_and_is_bounded() {
        let value = header_text(&format!("a\nb{}", "x".repeat(10_000)));
        assert!(value.as_bytes().starts_with(b"a b"));
        assert_eq!(value.len(), 4096);
    }

    #[test]
    fn backpressure_is_503_with_whole_seconds_retry_after() {
        let error = Error::Storage(sluice_storage::Error::Backpressure {
            retry_after: Duration::from_millis(1500),
        });
        let response = error.api(Api::V2).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        assert_eq!(response.headers()["x-platform-error-code"], "unavailable");
    }

    #[test]
    fn ingest_peers_ahead_of_a_query_is_503_with_retry_after_and_says_why() {
        let ahead = sluice_storage::Error::IngestPeersAhead {
            database: "db".into(),
            table: "cpu".into(),
        };
        // As the query engine passes it on (inside DataFusion's error).
        let wrapped = datafusion::error::DataFusionError::External(Box::new(ahead));
        let error = Error::Query(sluice_query::Error::DataFusion(wrapped));
        let (status, message) = error.status_and_message();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(message.contains("persisted db.cpu faster"), "{message}");
        let response = error.api(Api::V3).into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn client_mistakes_are_never_500() {
        let cases = [
            Error::MissingParameter { name: "db" },
            Error::BodyTooLarge { limit: 1 },
            Error::UnsupportedEncoding {
                encoding: "br".into(),
            },
            Error::Storage(sluice_storage::Error::InvalidDatabaseName {
                name: "/".into(),
                reason: "bad",
            }),
            Error::Storage(sluice_storage::Error::DatabaseNotFound { name: "x".into() }),
            Error::Query(sluice_query::Error::DatabaseNotFound("x".into())),
            // Dropped while a query's scan read it.
            Error::Query(sluice_query::Error::DataFusion(
                datafusion::error::DataFusionError::External(Box::new(
                    sluice_storage::Error::DatabaseNotFound { name: "db".into() },
                )),
            )),
            Error::Query(sluice_query::Error::DataFusion(
                datafusion::error::DataFusionError::External(Box::new(
                    sluice_storage::Error::TableNotFound {
                        database: "db".into(),
                        table: "cpu".into(),
                    },
                )),
            )),
            Error::Query(sluice_query::Error::UnknownFormat("xml".into())),
            Error::QueryParse {
                reason: "error parsing query: found EOF".into(),
            },
            // `SELECT 1/0`, `SELECT CAST('abc' AS INT)`, as DataFusion passes them on.
            Error::Query(sluice_query::Error::DataFusion(
                datafusion::error::DataFusionError::ArrowError(
                    Box::new(arrow::error::ArrowError::DivideByZero),
                    None,
                ),
            )),
            Error::Query(sluice_query::Error::DataFusion(
                datafusion::error::DataFusionError::ArrowError(
                    Box::new(arrow::error::ArrowError::CastError(
                        "Cannot cast string 'abc' to value of Int32 type".into(),
                    )),
                    None,
                ),
            )),
        ];
        for error in cases {
            let status = error.render(Api::V1).status;
            assert!(status.is_client_error(), "{error}: {status}");
        }
    }

    #[test]
    fn a_panic_of_the_query_engine_is_500_saying_what_it_said() {
        let error = Error::Query(sluice_query::Error::Panicked("offset overflow".into()));
        let (status, message) = error.status_and_message();
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            message,
            "internal error: the query engine failed on this query: offset overflow (a bug; \
             the server goes on)"
        );
    }

    #[test]
    fn a_file_still_missing_after_the_scan_retried_is_503_with_retry_after() {
        let missing = sluice_storage::Error::ObjectStore(object_store::Error::NotFound {
            path: "n1/dbs/1/0/0000000000000061.parquet".into(),
            source: "404".into(),
        });
        let wrapped = datafusion::error::DataFusionError::External(Box::new(missing));
        let error = Error::Query(sluice_query::Error::DataFusion(wrapped));
        let rendering = error.render(Api::V3);
        assert_eq!(rendering.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(rendering.retry_after, Some(Duration::from_secs(1)));
        assert!(
            rendering.message.contains("no longer in the bucket"),
            "{}",
            rendering.message
        );
    }

    #[test]
    fn a_database_dropped_while_a_query_read_it_is_404() {
        let dropped = datafusion::error::DataFusionError::External(Box::new(
            sluice_storage::Error::DatabaseNotFound { name: "db".into() },
        ));
        let error = Error::Query(sluice_query::Error::DataFusion(dropped));
        let (status, message) = error.status_and_message();
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(message.contains("database not found"), "{message}");
    }

    fn body_of(response: Response) -> Value {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let bytes = runtime
            .block_on(axum::body::to_bytes(response.into_body(), 1 << 20))
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn a_full_wal_disk_is_507_and_a_failing_wal_503_with_retry_after_in_every_shape() {
        let full = || {
            Error::Storage(sluice_storage::Error::DiskFull {
                what: "write-ahead log",
                path: "/secret/data/wal/0000000000000003.wal".into(),
                source: std::io::Error::from(std::io::ErrorKind::StorageFull),
            })
        };
        let failing = || {
            Error::Storage(sluice_storage::Error::WalUnavailable {
                path: "/secret/data/wal/0000000000000003.wal".into(),
                source: std::io::Error::other("input/output error"),
                retry_after: Duration::from_secs(5),
            })
        };
        for api in [Api::V1, Api::V2, Api::V3] {
            let response = full().api(api).into_response();
            assert_eq!(
                response.status(),
                StatusCode::INSUFFICIENT_STORAGE,
                "{api:?}"
            );
            assert!(response.headers().get(header::RETRY_AFTER).is_none());
            let body = body_of(response);
            let message = match api {
                Api::V2 => {
                    assert_eq!(body["code"], "unavailable");
                    body["message"].as_str().unwrap().to_owned()
                }
                Api::V1 | Api::V3 => body["error"].as_str().unwrap().to_owned(),
            };
            assert!(
                message.starts_with("insufficient storage: the write-ahead log's disk is full ("),
                "{api:?}: {message}"
            );
            assert!(
                !message.contains("secret"),
                "no paths for clients: {message}"
            );

            let response = failing().api(api).into_response();
            assert_eq!(
                response.status(),
                StatusCode::SERVICE_UNAVAILABLE,
                "{api:?}"
            );
            assert_eq!(response.headers()[header::RETRY_AFTER], "5");
            let body = body_of(response).to_string();
            assert!(
                body.contains("the write-ahead log cannot be written (input/output error)"),
                "{api:?}: {body}"
            );
            assert!(!body.contains("secret"), "no paths for clients: {body}");
        }
        let response = full().api(Api::V1).into_response();
        assert!(
            response.headers()["x-influxdb-error"]
                .to_str()
                .unwrap()
                .starts_with("insufficient storage")
        );
    }

    #[test]
    fn internal_errors_hide_details() {
        let rendering = Error::Internal("secret path /x".into()).render(Api::V1);
        assert_eq!(rendering.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!rendering.message.contains("secret"));
    }

    #[test]
    fn unknown_bucket_reads_as_a_bucket_on_v2() {
        let error = Error::DatabaseNotFound { name: "x".into() };
        assert_eq!(error.render(Api::V2).message, "bucket \"x\" not found");
        assert_eq!(error.render(Api::V1).message, "database not found: \"x\"");
    }
}
