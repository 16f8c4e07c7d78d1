//! `GET /metrics`: Prometheus text for the HTTP layer and the storage engine, and the
//! middleware that counts requests. Write counters are kept for the whole server and per
//! database (`sluice_database_*{db}`: a map from database to its atomics, looked up once
//! per write request; each token sees the databases it may read).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use axum::extract::{MatchedPath, RawQuery, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sluice_storage::{Histogram, StoreRequestMetrics};

use crate::auth::{Action, Principal};
use crate::error::Api;
use crate::params::Params;
use crate::state::AppState;

/// Counters of the HTTP layer.
#[derive(Debug, Default)]
pub(crate) struct HttpMetrics {
    /// `(route, status)` → requests.
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    /// Lines and bytes of every write request.
    writes: WriteCounters,
    /// Durations of write requests (all three write endpoints), for p50/p99.
    write_seconds: LatencyHistogram,
    /// Write counters by database (as users name it), created by the first write a
    /// token may make to it; looked up once per write request.
    databases: RwLock<HashMap<String, Arc<DatabaseWrites>>>,
}

/// Lines and bytes of write requests, kept for the whole server and for each database.
#[derive(Debug, Default)]
struct WriteCounters {
    lines_accepted: AtomicU64,
    lines_rejected: AtomicU64,
    bytes_received: AtomicU64,
}

/// The write counters of one database: a few atomic adds per write request.
#[derive(Debug, Default)]
pub(crate) struct DatabaseWrites {
    writes: WriteCounters,
    /// Write requests answered 503 (overload, buffer full, WAL failing).
    refused_unavailable: AtomicU64,
    /// Write requests answered 507 (the WAL's disk is full).
    refused_insufficient_storage: AtomicU64,
}

impl DatabaseWrites {
    /// Counts a write refused with `status` when it is 503 or 507 (other failures are
    /// the client's and are not refusals).
    pub(crate) fn count_refusal(&self, status: u16) {
        match status {
            503 => &self.refused_unavailable,
            507 => &self.refused_insufficient_storage,
            _ => return,
        }
        .fetch_add(1, Ordering::Relaxed);
    }
}

/// Upper bounds (seconds) of the write-latency buckets.
const WRITE_SECONDS_BOUNDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A fixed-bucket histogram of durations, updated with a few atomic adds.
#[derive(Debug, Default)]
struct LatencyHistogram {
    /// Observations per bucket (not cumulative); the last slot is above every bound.
    buckets: [AtomicU64; WRITE_SECONDS_BOUNDS.len() + 1],
    sum_micros: AtomicU64,
}

impl LatencyHistogram {
    fn observe(&self, took: std::time::Duration) {
        let seconds = took.as_secs_f64();
        let slot = WRITE_SECONDS_BOUNDS
            .iter()
            .position(|&b| seconds <= b)
            .unwrap_or(WRITE_SECONDS_BOUNDS.len());
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} histogram\n");
        let mut cumulative = 0;
        let buckets = WRITE_SECONDS_BOUNDS
            .iter()
            .zip(&self.buckets)
            .map(|(bound, bucket)| {
                cumulative += bucket.load(Ordering::Relaxed);
                (*bound, cumulative)
            })
            .collect();
        cumulative += self.buckets[WRITE_SECONDS_BOUNDS.len()].load(Ordering::Relaxed);
        let snapshot = Histogram {
            buckets,
            sum: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
            count: cumulative,
        };
        histogram(out, name, "", &snapshot);
    }
}

impl HttpMetrics {
    /// Counts a write request's body bytes on the wire for the server and for `database`.
    pub(crate) fn add_bytes_received(&self, database: &DatabaseWrites, bytes: usize) {
        for writes in [&self.writes, &database.writes] {
            writes
                .bytes_received
                .fetch_add(bytes as u64, Ordering::Relaxed);
        }
    }

    /// Counts a write request's accepted and rejected lines for the server and for
    /// `database`.
    pub(crate) fn add_lines(&self, database: &DatabaseWrites, accepted: usize, rejected: usize) {
        for writes in [&self.writes, &database.writes] {
            writes
                .lines_accepted
                .fetch_add(accepted as u64, Ordering::Relaxed);
            writes
                .lines_rejected
                .fetch_add(rejected as u64, Ordering::Relaxed);
        }
    }

    /// The write counters of database `name`, created when new. Call once per request,
    /// after the token was found to be allowed to write it, so that only databases a
    /// client may write get counters.
    pub(crate) fn database(&self, name: &str) -> Arc<DatabaseWrites> {
        if let Some(found) = self
            .databases
            .read()
            .expect("metrics lock poisoned")
            .get(name)
        {
            return found.clone();
        }
        let mut databases = self.databases.write().expect("metrics lock poisoned");
        databases.entry(name.to_owned()).or_default().clone()
    }

    fn count_request(&self, route: &str, status: u16) {
        let mut requests = self.requests.lock().expect("metrics lock poisoned");
        *requests.entry((route.to_owned(), status)).or_default() += 1;
    }
}

/// Middleware: counts every request by matched route (or `other`) and response status.
pub(crate) async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "other".to_owned(), |p| p.as_str().to_owned());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let metrics = &state.inner.metrics;
    if matches!(
        route.as_str(),
        "/write" | "/api/v2/write" | "/api/v3/write_lp"
    ) {
        metrics.write_seconds.observe(started.elapsed());
    }
    metrics.count_request(&route, response.status().as_u16());
    response
}

/// `GET /metrics`: needs a valid token unless opened with `--disable-authz metrics`.
pub(crate) async fn handle(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let params = Params::parse(query.as_deref()).unwrap_or_default();
    // An open endpoint shows every database's series, as it shows everything else.
    let principal = if state.inner.config.open_endpoints.metrics {
        Principal::Anyone
    } else {
        match state.inner.auth.authenticate(&headers, &params) {
            Ok(principal) => principal,
            Err(err) => return err.api(Api::V1).into_response(),
        }
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&state, |db| principal.can(db, Action::Read)),
    )
        .into_response()
}

/// A Prometheus label value, escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The per-database write counters of the databases `visible` lets through, sorted by
/// name, as `sluice_database_*` families with a `db` label.
fn render_databases(out: &mut String, http: &HttpMetrics, visible: impl Fn(&str) -> bool) {
    let databases: BTreeMap<String, Arc<DatabaseWrites>> = http
        .databases
        .read()
        .expect("metrics lock poisoned")
        .iter()
        .filter(|(name, _)| visible(name))
        .map(|(name, w)| (label(name), w.clone()))
        .collect();
    /// A family's name, help text and counter.
    type Family = (
        &'static str,
        &'static str,
        fn(&DatabaseWrites) -> &AtomicU64,
    );
    let families: [Family; 3] = [
        (
            "sluice_database_lines_accepted_total",
            "Lines written through the HTTP write endpoints, by database.",
            |w| &w.writes.lines_accepted,
        ),
        (
            "sluice_database_lines_rejected_total",
            "Lines rejected by the parser or the catalog, by database.",
            |w| &w.writes.lines_rejected,
        ),
        (
            "sluice_database_write_bytes_received_total",
            "Write request body bytes received on the wire (before gunzip), by database.",
            |w| &w.writes.bytes_received,
        ),
    ];
    for (name, help, value) in families {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} counter\n");
        for (db, w) in &databases {
            let v = value(w).load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}{{db=\"{db}\"}} {v}");
        }
    }
    let name = "sluice_database_write_refused_total";
    let _ = write!(
        out,
        "# HELP {name} Write requests refused with 503 (overload, buffer full, WAL failing) or 507 (disk full), by database.\n# TYPE {name} counter\n"
    );
    for (db, w) in &databases {
        for (status, value) in [
            (503, &w.refused_unavailable),
            (507, &w.refused_insufficient_storage),
        ] {
            let v = value.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}{{db=\"{db}\",status=\"{status}\"}} {v}");
        }
    }
}

fn render(state: &AppState, visible: impl Fn(&str) -> bool) -> String {
    let mut out = String::new();
    let http = &state.inner.metrics;
    out.push_str("# HELP sluice_http_requests_total HTTP requests by route and status.\n");
    out.push_str("# TYPE sluice_http_requests_total counter\n");
    for ((route, status), count) in http.requests.lock().expect("metrics lock poisoned").iter() {
        let _ = writeln!(
            out,
            "sluice_http_requests_total{{endpoint=\"{}\",status=\"{status}\"}} {count}",
            label(route)
        );
    }
    let counter = |out: &mut String, name: &str, help: &str, value: u64| {
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
        );
    };
    let gauge = |out: &mut String, name: &str, help: &str, value: u64| {
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
        );
    };
    counter(
        &mut out,
        "sluice_lines_accepted_total",
        "Lines written through the HTTP write endpoints.",
        http.writes.lines_accepted.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "sluice_lines_rejected_total",
        "Lines rejected by the parser or the catalog.",
        http.writes.lines_rejected.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "sluice_http_write_bytes_received_total",
        "Write request body bytes received on the wire (before gunzip).",
        http.writes.bytes_received.load(Ordering::Relaxed),
    );
    let connections = &state.inner.connections;
    let load = |value: &std::sync::atomic::AtomicU64| value.load(Ordering::Relaxed);
    gauge(
        &mut out,
        "sluice_http_connections_open",
        "Open client connections (at most --max-connections).",
        load(&connections.open),
    );
    counter(
        &mut out,
        "sluice_http_connections_accepted_total",
        "Client connections accepted, including refused ones.",
        load(&connections.accepted),
    );
    counter(
        &mut out,
        "sluice_http_connections_refused_total",
        "Connections refused because --max-connections were open.",
        load(&connections.refused),
    );
    counter(
        &mut out,
        "sluice_http_header_timeouts_total",
        "Connections closed because a request head did not arrive within --http-header-read-timeout.",
        load(&connections.header_timeouts),
    );
    counter(
        &mut out,
        "sluice_http_idle_closed_total",
        "Connections closed after --http-idle-timeout without a request.",
        load(&connections.idle_closed),
    );
    counter(
        &mut out,
        "sluice_http_body_timeouts_total",
        "Request bodies cut for stalling or arriving below --http-body-min-rate.",
        load(&connections.body_timeouts),
    );
    counter(
        &mut out,
        "sluice_tls_handshake_failures_total",
        "TLS handshakes that failed or did not finish within --http-header-read-timeout.",
        load(&connections.tls_handshake_failures),
    );
    render_databases(&mut out, http, visible);
    http.write_seconds.render(
        &mut out,
        "sluice_http_write_duration_seconds",
        "Time from a write request's arrival to its answer (all write endpoints).",
    );
    let storage = state.inner.storage.metrics();
    gauge(
        &mut out,
        "sluice_buffer_bytes",
        "Heap bytes held by the write buffer's rows, including rows being persisted.",
        storage.buffer_bytes,
    );
    gauge(
        &mut out,
        "sluice_buffer_limit_bytes",
        "The write buffer's ceiling (--max-buffer-bytes): above it writes get 503.",
        state.inner.storage.max_buffer_bytes() as u64,
    );
    counter(
        &mut out,
        "sluice_storage_lines_written_total",
        "Lines the storage engine accepted.",
        storage.lines_written,
    );
    counter(
        &mut out,
        "sluice_storage_lines_rejected_total",
        "Lines the storage engine's catalog rejected.",
        storage.lines_rejected,
    );
    counter(
        &mut out,
        "sluice_storage_last_cache_answers_total",
        "InfluxQL last() scans a last-value cache answered instead of storage.",
        storage.last_cache_answers,
    );
    counter(
        &mut out,
        "sluice_storage_distinct_cache_answers_total",
        "SHOW TAG VALUES lists a distinct-value cache answered instead of a scan.",
        storage.distinct_cache_answers,
    );
    counter(
        &mut out,
        "sluice_storage_parquet_footers_read_total",
        "Parquet file footers queries read because they were not cached (the footer cache's misses).",
        storage.footers_read,
    );
    counter(
        &mut out,
        "sluice_storage_parquet_footers_warmed_total",
        "Parquet file footers read into the cache after the start, newest files first, before queries ask.",
        storage.footers_warmed,
    );
    counter(
        &mut out,
        "sluice_storage_newest_rows_read_total",
        "Parquet files whose newest rows per series queries read because they were not cached (the newest-rows cache's misses).",
        storage.newest_rows_read,
    );
    counter(
        &mut out,
        "sluice_storage_newest_rows_warmed_total",
        "Parquet files whose newest row of every series was read into the cache after the start, before queries ask.",
        storage.newest_rows_warmed,
    );
    counter(
        &mut out,
        "sluice_ingest_peer_failures_total",
        "Requests of a query node to its ingest peers that gave no buffered rows (answered from their persisted rows).",
        storage.ingest_peer_failures,
    );
    counter(
        &mut out,
        "sluice_wal_syncs_total",
        "WAL fdatasync calls.",
        storage.wal_syncs,
    );
    out.push_str("# HELP sluice_wal_sync_seconds Duration of WAL fdatasync calls.\n");
    out.push_str("# TYPE sluice_wal_sync_seconds histogram\n");
    histogram(
        &mut out,
        "sluice_wal_sync_seconds",
        "",
        &storage.wal_sync_seconds,
    );
    out.push_str(
        "# HELP sluice_wal_put_seconds Duration of the PUTs of WAL objects \
         (--wal-object-store), retries included; one per group of writes.\n",
    );
    out.push_str("# TYPE sluice_wal_put_seconds histogram\n");
    histogram(
        &mut out,
        "sluice_wal_put_seconds",
        "",
        &storage.wal_put_seconds,
    );
    counter(
        &mut out,
        "sluice_wal_put_bytes_total",
        "Bytes of the WAL objects put (--wal-object-store).",
        storage.wal_put_bytes,
    );
    render_object_store(&mut out, &storage.object_store_requests);
    counter(
        &mut out,
        "sluice_persisted_files_total",
        "Parquet files written (persistence and compaction).",
        storage.persisted_files,
    );
    counter(
        &mut out,
        "sluice_persisted_bytes_total",
        "Bytes of Parquet files written.",
        storage.persisted_bytes,
    );
    gauge(
        &mut out,
        "sluice_parquet_files",
        "Parquet files currently live.",
        storage.parquet_files,
    );
    if let Some(publisher) = storage.publisher {
        counter(
            &mut out,
            "sluice_iceberg_commits_total",
            "Tables published to the Iceberg catalog (each a new snapshot).",
            publisher.published,
        );
        counter(
            &mut out,
            "sluice_iceberg_failures_total",
            "Failed publications to the Iceberg catalog (each is retried).",
            publisher.failed,
        );
    }
    counter(
        &mut out,
        "sluice_wal_write_errors_total",
        "Failed WAL writes, fdatasyncs and segment starts (each refuses its writes).",
        storage.wal_write_errors,
    );
    gauge(
        &mut out,
        "sluice_wal_failing",
        "1 while the WAL refuses writes (disk full or failing), else 0.",
        u64::from(storage.wal_failing),
    );
    counter(
        &mut out,
        "sluice_backpressure_events_total",
        "Writes refused because the write buffer was full.",
        storage.backpressure_events,
    );
    if let Some(store) = state.inner.auth.store() {
        let (missing, invalid, expired) = store.failures().snapshot();
        out.push_str(
            "# HELP sluice_auth_failures_total Requests refused for their credentials, by reason.\n",
        );
        out.push_str("# TYPE sluice_auth_failures_total counter\n");
        for (reason, count) in [
            ("missing", missing),
            ("invalid", invalid),
            ("expired", expired),
        ] {
            let _ = writeln!(
                out,
                "sluice_auth_failures_total{{reason=\"{reason}\"}} {count}"
            );
        }
    }
    out
}

/// The series of one histogram, labelled with `labels` (`key="v",` pairs with a trailing
/// comma, or empty).
fn histogram(out: &mut String, name: &str, labels: &str, histogram: &Histogram) {
    for (bound, count) in &histogram.buckets {
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{bound}\"}} {count}");
    }
    let count = histogram.count;
    let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {count}");
    let labels = labels.trim_end_matches(',');
    let (open, close) = if labels.is_empty() {
        ("", "")
    } else {
        ("{", "}")
    };
    let _ = writeln!(out, "{name}_sum{open}{labels}{close} {}", histogram.sum);
    let _ = writeln!(out, "{name}_count{open}{labels}{close} {count}");
}

/// Requests to the object store: counts by operation and outcome, and their durations.
fn render_object_store(out: &mut String, requests: &[StoreRequestMetrics]) {
    out.push_str(
        "# HELP sluice_object_store_requests_total Requests to the object store (after its \
         own retries), by operation and outcome.\n",
    );
    out.push_str("# TYPE sluice_object_store_requests_total counter\n");
    for r in requests {
        let operation = r.operation;
        let ok = r.seconds.count - r.errors;
        let _ = writeln!(
            out,
            "sluice_object_store_requests_total{{operation=\"{operation}\",outcome=\"ok\"}} {ok}"
        );
        let _ = writeln!(
            out,
            "sluice_object_store_requests_total{{operation=\"{operation}\",outcome=\"error\"}} {}",
            r.errors
        );
    }
    out.push_str(
        "# HELP sluice_object_store_request_duration_seconds Duration of requests to the \
         object store, retries included, by operation.\n",
    );
    out.push_str("# TYPE sluice_object_store_request_duration_seconds histogram\n");
    for r in requests {
        histogram(
            out,
            "sluice_object_store_request_duration_seconds",
            &format!("operation=\"{}\",", r.operation),
            &r.seconds,
        );
    }
}
