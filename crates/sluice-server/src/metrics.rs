//! `GET /metrics`: Prometheus text for the HTTP layer and the storage engine, and the
//! middleware that counts requests.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// Counters of the HTTP layer.
#[derive(Debug, Default)]
pub(crate) struct HttpMetrics {
    /// `(route, status)` → requests.
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    lines_accepted: AtomicU64,
    lines_rejected: AtomicU64,
    bytes_received: AtomicU64,
}

impl HttpMetrics {
    pub(crate) fn add_bytes_received(&self, bytes: usize) {
        self.bytes_received
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn add_lines(&self, accepted: usize, rejected: usize) {
        self.lines_accepted
            .fetch_add(accepted as u64, Ordering::Relaxed);
        self.lines_rejected
            .fetch_add(rejected as u64, Ordering::Relaxed);
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
    let response = next.run(request).await;
    state
        .inner
        .metrics
        .count_request(&route, response.status().as_u16());
    response
}

/// `GET /metrics`.
pub(crate) async fn handle(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&state),
    )
        .into_response()
}

fn render(state: &AppState) -> String {
    let mut out = String::new();
    let http = &state.inner.metrics;
    out.push_str("# HELP sluice_http_requests_total HTTP requests by route and status.\n");
    out.push_str("# TYPE sluice_http_requests_total counter\n");
    for ((route, status), count) in http.requests.lock().expect("metrics lock poisoned").iter() {
        let _ = writeln!(
            out,
            "sluice_http_requests_total{{endpoint=\"{}\",status=\"{status}\"}} {count}",
            route.replace('\\', "\\\\").replace('"', "\\\"")
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
        http.lines_accepted.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "sluice_lines_rejected_total",
        "Lines rejected by the parser or the catalog.",
        http.lines_rejected.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "sluice_http_write_bytes_received_total",
        "Write request body bytes received on the wire (before gunzip).",
        http.bytes_received.load(Ordering::Relaxed),
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
    let storage = state.inner.storage.metrics();
    gauge(
        &mut out,
        "sluice_buffer_bytes",
        "Heap bytes held by the write buffer's rows, including rows being persisted.",
        storage.buffer_bytes,
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
        "sluice_wal_syncs_total",
        "WAL fdatasync calls.",
        storage.wal_syncs,
    );
    out.push_str("# HELP sluice_wal_sync_seconds Duration of WAL fdatasync calls.\n");
    out.push_str("# TYPE sluice_wal_sync_seconds histogram\n");
    let histogram = &storage.wal_sync_seconds;
    for (bound, count) in &histogram.buckets {
        let _ = writeln!(
            out,
            "sluice_wal_sync_seconds_bucket{{le=\"{bound}\"}} {count}"
        );
    }
    let _ = writeln!(
        out,
        "sluice_wal_sync_seconds_bucket{{le=\"+Inf\"}} {}",
        histogram.count
    );
    let _ = writeln!(out, "sluice_wal_sync_seconds_sum {}", histogram.sum);
    let _ = writeln!(out, "sluice_wal_sync_seconds_count {}", histogram.count);
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
    counter(
        &mut out,
        "sluice_backpressure_events_total",
        "Writes refused because the write buffer was full.",
        storage.backpressure_events,
    );
    out
}
