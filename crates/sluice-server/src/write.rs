//! The write endpoints: `POST /write` (v1), `POST /api/v2/write` (v2) and
//! `POST /api/v3/write_lp` (v3), all sharing one ingest path.
//!
//! ```text
//! body ─► limit + body budget ─► write slot ─► gunzip ─► sluice-lp parse
//!                                                            │ rejected
//!        storage.write (catalog, WAL, buffer) ─ rejected ─► 400 in the API's shape
//! ```

use std::time::Duration;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use sluice_lp::{Line, ParseOptions, Parser, Precision};
use sluice_storage::{Storage, WriteOptions, WriteOutcome};
use tokio::sync::OwnedSemaphorePermit;

use crate::auth::Action;
use crate::body::{discard, read_raw};
use crate::error::{Api, ApiError, Error, PartialWrite, Reason, RejectedLine, Result};
use crate::metrics::DatabaseWrites;
use crate::params::Params;
use crate::rejections::Client;
use crate::state::AppState;
use crate::time::now_nanos;

/// What one write request asks for, after its parameters were read.
#[derive(Debug, Clone)]
pub struct WriteRequest {
    /// The database as users name it (what permissions are checked on; created on first
    /// write when the server auto-creates).
    pub database: String,
    /// The retention policy; `None`: the database's default.
    pub rp: Option<String>,
    /// The unit of the lines' timestamps.
    pub precision: Precision,
    /// Write the good lines of a body that has bad ones (`false`: all or nothing).
    pub accept_partial: bool,
    /// Acknowledge before the WAL is synced.
    pub no_sync: bool,
}

/// What [`write_body`] did with a body's lines: every line of the body is counted once,
/// in `accepted`, in `rejected` or in `withheld`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BodyWritten {
    /// Lines written.
    pub accepted: usize,
    /// Lines refused, by the parser or by the catalog, sorted by line number.
    pub rejected: Vec<RejectedLine>,
    /// Good lines not written because an all-or-nothing write had a rejected line.
    pub withheld: usize,
}

/// `POST /write?db=&rp=&precision=&u=&p=`: InfluxDB 1.x writes, to retention policy `rp`
/// (the database's default when absent); `db=DB/RP` names the policy too, as the other
/// write APIs take it.
pub(crate) async fn v1(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    client: Client,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    handle(&state, Api::V1, query, &client, &headers, body, |params| {
        let mut request = WriteRequest::new(
            required(params, "db")?,
            precision(params, Precision::Nanosecond)?,
        );
        if let Some(rp) = params.non_empty("rp") {
            match &request.rp {
                Some(named) if named != rp => {
                    return Err(Error::InvalidParameter {
                        name: "rp",
                        reason: format!(
                            "{rp:?}, but db names retention policy {named:?} (db=DB/RP): name it once"
                        ),
                    });
                }
                _ => request.rp = Some(rp.to_owned()),
            }
        }
        Ok(request)
    })
    .await
}

/// `POST /api/v2/write?org=&bucket=&precision=`: InfluxDB 2.x writes (the org is accepted
/// and not checked: sluice has one organization). `bucket` is a name or, as in InfluxDB 2,
/// a bucket id (the official clients write to `bucket.id`); `db/rp` names retention
/// policy `rp` of database `db`, as InfluxDB 1.8's `/api/v2/write` does.
pub(crate) async fn v2(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    client: Client,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let lookup = state.clone();
    handle(
        &state,
        Api::V2,
        query,
        &client,
        &headers,
        body,
        move |params| {
            Ok(WriteRequest::new(
                crate::v2::bucket_name(&lookup, required(params, "bucket")?),
                precision(params, Precision::Nanosecond)?,
            ))
        },
    )
    .await
}

/// `POST /api/v3/write_lp?db=&precision=&accept_partial=&no_sync=`: InfluxDB 3 writes
/// (precision defaults to `auto`).
pub(crate) async fn v3(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    client: Client,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    handle(&state, Api::V3, query, &client, &headers, body, |params| {
        Ok(WriteRequest {
            accept_partial: params.flag("accept_partial", true)?,
            no_sync: params.flag("no_sync", false)?,
            ..WriteRequest::new(required(params, "db")?, precision(params, Precision::Auto)?)
        })
    })
    .await
}

impl WriteRequest {
    /// A write to `name`, accepted partially and synced; `name` is a database, or
    /// `db/rp` (an InfluxDB 2 bucket name) for retention policy `rp` of `db`.
    fn new(name: String, precision: Precision) -> WriteRequest {
        let (database, rp) = crate::v2::split_bucket(name);
        WriteRequest {
            database,
            rp,
            precision,
            accept_partial: true,
            no_sync: false,
        }
    }
}

/// Reads the parameters with `build`, then ingests; a request refused before its body
/// is read still has the body drained, so the connection stays usable.
async fn handle(
    state: &AppState,
    api: Api,
    query: Option<String>,
    client: &Client,
    headers: &HeaderMap,
    body: Body,
    build: impl FnOnce(&Params) -> Result<WriteRequest>,
) -> Result<StatusCode, ApiError> {
    let prepared = Params::parse(query.as_deref()).and_then(|params| {
        let request = build(&params)?;
        Ok((params, request))
    });
    let result = match prepared {
        Ok((params, request)) => {
            let result = ingest(state, &params, &request, headers, body).await;
            // Only a rejection costs anything here: the console's log of rejected lines.
            if let Err(Error::PartialWrite(partial)) = &result {
                (state.inner.rejections).record(&request.database, client, &partial.rejected);
            }
            result
        }
        Err(err) => {
            discard(body).await;
            Err(err)
        }
    };
    result.map_err(|e| e.api(api))
}

fn required(params: &Params, name: &'static str) -> Result<String> {
    params
        .non_empty(name)
        .map(str::to_owned)
        .ok_or(Error::MissingParameter { name })
}

fn precision(params: &Params, default: Precision) -> Result<Precision> {
    match params.non_empty("precision") {
        None => Ok(default),
        Some(value) => {
            value
                .parse()
                .map_err(|err: sluice_lp::InvalidPrecision| Error::InvalidParameter {
                    name: "precision",
                    reason: err.to_string(),
                })
        }
    }
}

/// Authorizes, reads, parses and stores one write; 204 when every line was written.
///
/// The body is read before a write slot is taken, so a client that sends slowly holds
/// only the bytes it sent (within the body budget), never a slot; the slot bounds the
/// requests decompressing, parsing and storing at once.
async fn ingest(
    state: &AppState,
    params: &Params,
    request: &WriteRequest,
    headers: &HeaderMap,
    body: Body,
) -> Result<StatusCode> {
    let storage_db = match admit(state, params, request, headers) {
        Ok(storage_db) => storage_db,
        Err(err) => {
            discard(body).await;
            return Err(err);
        }
    };
    // The database's counters: one lookup per request, then atomic adds.
    let counters = state.inner.metrics.database(&request.database);
    let stored = store(state, &storage_db, request, headers, body, &counters).await;
    if let Err(err) = &stored {
        counters.count_refusal(err.status().as_u16());
    }
    let written = stored?;
    if written.rejected.is_empty() {
        return Ok(StatusCode::NO_CONTENT);
    }
    Err(Error::PartialWrite(Box::new(PartialWrite {
        accepted: written.accepted,
        nothing_written: written.accepted == 0 && !request.accept_partial,
        rejected: written.rejected,
    })))
}

/// Reads, parses and stores an admitted write, counting its bytes and lines for the
/// server and for its database.
async fn store(
    state: &AppState,
    storage_db: &str,
    request: &WriteRequest,
    headers: &HeaderMap,
    body: Body,
    counters: &DatabaseWrites,
) -> Result<BodyWritten> {
    let limit = state.inner.config.max_request_bytes;
    let raw = read_raw(headers, body, limit, Some(&state.inner.write_body_bytes)).await?;
    state
        .inner
        .metrics
        .add_bytes_received(counters, raw.wire_bytes());
    let _slot = write_slot(state).await?;
    let body = raw.decode(limit)?;
    // Line protocol never starts with a control byte: these are gzip's first two bytes
    // (a client that compressed without saying so), not a body of rejected lines.
    if body.bytes.starts_with(&[0x1f, 0x8b]) {
        return Err(Error::InvalidBody {
            reason: "the body is gzip data (it starts with gzip's bytes 1f 8b), not line \
                protocol: compress it once and send the header Content-Encoding: gzip"
                .into(),
        });
    }
    let written = write_body(
        &state.inner.storage,
        storage_db,
        request,
        &body.bytes,
        now_nanos(),
    )
    .await?;
    let rejected = written.rejected.len() + written.withheld;
    state
        .inner
        .metrics
        .add_lines(counters, written.accepted, rejected);
    Ok(written)
}

/// Parses `body` (decompressed) as line protocol and stores its points in `storage_db`
/// (the storage database of `request`'s database and retention policy, as
/// [`Storage::policy_database`](sluice_storage::Storage::policy_database) names it) as
/// the write endpoints do: lines without a timestamp get `now_ns`; with
/// `accept_partial` the good lines are written whatever the bad ones, otherwise a body
/// with a rejected line writes nothing. A body without points touches no storage (no
/// database is created for it).
///
/// # Errors
/// What [`Storage::write`](sluice_storage::Storage::write) refuses a whole write with:
/// an unknown database (without auto-creation), an invalid database name, backpressure,
/// an I/O error. Rejected lines are not errors: they are in [`BodyWritten::rejected`].
pub async fn write_body(
    storage: &Storage,
    storage_db: &str,
    request: &WriteRequest,
    body: &[u8],
    now_ns: i64,
) -> Result<BodyWritten> {
    let options = ParseOptions {
        precision: request.precision,
        default_time: Some(now_ns),
        ..ParseOptions::default()
    };
    let mut parser = Parser::new(body, options);
    let mut rejected = Vec::new();
    let mut withheld = 0;
    let outcome = if request.accept_partial {
        // Parsed chunk by chunk into reused lines: the request never holds all its
        // parsed lines, and parsing allocates nothing once the chunk is warm.
        let mut write = None;
        let mut chunk: Vec<Line<'_>> = Vec::with_capacity(PARSE_CHUNK_LINES);
        loop {
            let filled = fill_chunk(&mut parser, &mut chunk, &mut rejected);
            if filled > 0 {
                let begun = match &mut write {
                    Some(begun) => begun,
                    None => write.insert(storage.begin_write(storage_db, request.no_sync).await?),
                };
                begun.add(&chunk[..filled]).await?;
            }
            if filled < PARSE_CHUNK_LINES {
                break;
            }
        }
        match write {
            Some(write) => write.commit().await?,
            None => WriteOutcome::default(),
        }
    } else {
        let mut lines = Vec::new();
        for result in parser {
            match result {
                Ok(line) => lines.push(line),
                Err(err) => rejected.push(rejected_line(err)),
            }
        }
        if !rejected.is_empty() {
            // Nothing is written; the lines that parsed are still checked against the
            // catalog, so that the answer lists every line that would fail.
            let failing = if lines.is_empty() {
                Vec::new()
            } else {
                storage.check(storage_db, &lines)?
            };
            let withheld = lines.len() - failing.len();
            add_catalog_rejections(&mut rejected, body, failing);
            return Ok(BodyWritten {
                accepted: 0,
                rejected,
                withheld,
            });
        }
        let options = WriteOptions {
            no_sync: request.no_sync,
            accept_partial: false,
        };
        if lines.is_empty() {
            WriteOutcome::default()
        } else {
            let outcome = storage.write(storage_db, &lines, options).await?;
            if !outcome.rejected.is_empty() {
                withheld = lines.len() - outcome.rejected.len();
            }
            outcome
        }
    };
    add_catalog_rejections(&mut rejected, body, outcome.rejected);
    Ok(BodyWritten {
        accepted: outcome.accepted,
        rejected,
        withheld,
    })
}

/// Adds the lines of `body` the catalog refused to `rejected` (the parser's), in line
/// order.
fn add_catalog_rejections(
    rejected: &mut Vec<RejectedLine>,
    body: &[u8],
    refused: Vec<sluice_storage::RejectedLine>,
) {
    if refused.is_empty() {
        return;
    }
    let texts = physical_lines(body, refused.iter().map(|r| r.line_number).collect());
    rejected.extend(
        refused
            .into_iter()
            .zip(texts)
            .map(|(r, text)| RejectedLine {
                line_number: r.line_number,
                column: None,
                reason: Reason::Catalog(r.reason),
                text,
            }),
    );
    rejected.sort_by_key(|r| r.line_number);
}

/// Lines parsed per chunk of a partially accepted write: big enough that the catalog lock
/// is taken rarely, small enough that the reused lines stay in cache.
const PARSE_CHUNK_LINES: usize = 1024;

/// Parses up to [`PARSE_CHUNK_LINES`] points into `chunk` (reusing the lines already
/// there), recording parse errors in `rejected`; returns how many were parsed, fewer
/// only at the end of the input.
fn fill_chunk<'a>(
    parser: &mut Parser<'a>,
    chunk: &mut Vec<Line<'a>>,
    rejected: &mut Vec<RejectedLine>,
) -> usize {
    let mut filled = 0;
    while filled < PARSE_CHUNK_LINES {
        if filled == chunk.len() {
            chunk.push(Line {
                line_number: 0,
                measurement: "".into(),
                tags: Vec::new(),
                fields: Vec::new(),
                timestamp: None,
            });
        }
        match parser.next_into(&mut chunk[filled]) {
            None => break,
            Some(Ok(())) => filled += 1,
            Some(Err(err)) => rejected.push(rejected_line(err)),
        }
    }
    filled
}

fn rejected_line(err: sluice_lp::ParseError) -> RejectedLine {
    RejectedLine {
        line_number: err.line,
        column: Some(err.column),
        reason: Reason::Parse(err.kind),
        text: err.text,
    }
}

/// The checks made before the body is read: the token and the existence of the
/// database and retention policy. Returns the storage database to write (see
/// [`sluice_storage::Storage::policy_database`]).
fn admit(
    state: &AppState,
    params: &Params,
    request: &WriteRequest,
    headers: &HeaderMap,
) -> Result<String> {
    let principal = state.inner.auth.authenticate(headers, params)?;
    principal.require(&request.database, Action::Write)?;
    let rp = request.rp.as_deref();
    match state.inner.storage.policy_database(&request.database, rp) {
        Ok(storage_db) => Ok(storage_db),
        // A new database, created by the write (with `autogen`, the only policy a new
        // database has).
        Err(sluice_storage::Error::DatabaseNotFound { .. })
            if state.inner.config.auto_create_databases && rp.is_none_or(|rp| rp == "autogen") =>
        {
            Ok(request.database.clone())
        }
        // A new database has only `autogen`: the policy named cannot be there yet.
        Err(sluice_storage::Error::DatabaseNotFound { .. })
            if state.inner.config.auto_create_databases =>
        {
            Err(Error::NewDatabasePolicy {
                database: request.database.clone(),
                rp: rp.unwrap_or_default().to_owned(),
            })
        }
        Err(sluice_storage::Error::DatabaseNotFound { .. }) => Err(Error::DatabaseNotFound {
            name: request.database.clone(),
        }),
        Err(e) => Err(e.into()),
    }
}

/// How long a write whose body has arrived waits for a write slot before it gets 503.
const WRITE_SLOT_WAIT: Duration = Duration::from_secs(5);

/// A write slot, to hold while the request is decompressed, parsed and stored; bounded
/// concurrency keeps the memory of parsing bounded.
async fn write_slot(state: &AppState) -> Result<OwnedSemaphorePermit> {
    let slots = state.inner.write_slots.clone();
    match tokio::time::timeout(WRITE_SLOT_WAIT, slots.acquire_owned()).await {
        Ok(Ok(slot)) => Ok(slot),
        _ => Err(Error::Overloaded {
            reason: "too many concurrent write requests, retry later".into(),
            retry_after: Duration::from_secs(1),
        }),
    }
}

/// The text of the physical lines `numbers` (1-based) of `body`, in the order asked,
/// without line endings.
fn physical_lines(body: &[u8], numbers: Vec<usize>) -> Vec<String> {
    let mut wanted: Vec<(usize, usize)> = numbers.iter().copied().zip(0..).collect();
    wanted.sort_unstable();
    let mut texts = vec![String::new(); numbers.len()];
    let mut next = wanted.iter().peekable();
    for (index, line) in body.split(|&b| b == b'\n').enumerate() {
        let number = index + 1;
        while let Some(&&(wanted_number, slot)) = next.peek() {
            if wanted_number > number {
                break;
            }
            if wanted_number == number {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                texts[slot] = String::from_utf8_lossy(line).into_owned();
            }
            next.next();
        }
        if next.peek().is_none() {
            break;
        }
    }
    texts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn physical_lines_are_found_by_number_in_any_order() {
        let body = b"a 1\r\n\n# c\nb 2\nc 3";
        assert_eq!(
            physical_lines(body, vec![5, 1, 4, 9]),
            vec!["c 3", "a 1", "b 2", ""]
        );
    }

    #[test]
    fn every_precision_spelling_is_accepted() {
        for spelling in [
            "n", "ns", "u", "us", "µs", "ms", "s", "m", "h", "auto", "second",
        ] {
            let params = Params::parse(Some(&format!("precision={spelling}"))).unwrap();
            assert!(
                precision(&params, Precision::Nanosecond).is_ok(),
                "{spelling}"
            );
        }
        let params = Params::parse(Some("precision=fortnight")).unwrap();
        assert!(matches!(
            precision(&params, Precision::Nanosecond),
            Err(Error::InvalidParameter { .. })
        ));
    }
}
