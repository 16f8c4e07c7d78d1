//! The InfluxDB-compatible API of sluice: writes, queries, database management, auth,
//! limits, status and metrics, on axum (HTTP/1.1 and h2c) with Arrow Flight (gRPC) on
//! the same port, in clear text or over TLS.
//!
//! ```text
//!   clients (Telegraf, influx CLIs, client libraries, curl, influxdb3 clients)
//!        │ HTTP: /write /api/v2/write /api/v3/write_lp  /query /api/v3/query_sql …
//!        │ gRPC (content-type: application/grpc): Flight DoGet
//!        ▼
//!   sluice-server ── auth (tokens.json) ── limits (body size, gzip, concurrency)
//!        │ writes: parse with sluice-lp      queries: sluice-query (SQL, InfluxQL)
//!        │ every error mapped to an HTTP status once (error.rs)
//!        ▼
//!   sluice-storage (catalog → WAL → buffer → Parquet)
//! ```
//!
//! [`app`] builds the router, so handlers can be exercised without a socket; [`serve`]
//! runs it on a listener until a shutdown signal, then lets in-flight requests finish.

mod auth;
mod body;
mod cardinality;
mod console;
mod continuous;
mod error;
mod extract;
mod flight;
mod influxql;
mod listener;
mod metrics;
mod modes;
mod params;
mod peer_rows;
mod query;
mod rejections;
mod state;
mod state_file;
mod status;
mod time;
mod tls;
mod tokens;
mod v2;
mod v2_delete;
mod v3;
mod v3_caches;
mod v3_query;
mod write;

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};

pub use auth::{
    Action, Auth, AuthFailures, NewToken, OpenEndpoints, Permission, Principal, TokenInfo,
    TokenStore,
};
pub use body::gunzip;
pub use continuous::scheduler::ContinuousQueryScheduler;
pub use continuous::{CONTINUOUS_QUERY_FILE, ContinuousQueries, MAX_CATCH_UP_RUNS};
pub use error::{Api, ApiError, Error, PartialWrite, Reason, RejectedLine, Result};
pub use listener::ListenerConfig;
pub use params::Params;
pub use peer_rows::{FlightIngestPeers, PEER_TIMEOUT};
pub use state::{AppState, ServerConfig};
pub use status::{BUILD, VERSION};
pub use tls::{Tls, TlsConfig, TlsError, TlsMinimumVersion};
pub use v2::{ORG_ID, ORG_NAME, bucket_id};
pub use write::{BodyWritten, WriteRequest, write_body};

/// The name of the token file inside the data directory.
pub const TOKEN_FILE: &str = "tokens.json";

/// The router with every endpoint, sharing `state`; requests with `content-type:
/// application/grpc` go to the Arrow Flight service instead.
pub fn app(state: AppState) -> Router {
    let grpc = flight::service(state.clone());
    Router::new()
        .route("/write", post(write::v1))
        .route("/api/v2/write", post(write::v2))
        .route("/api/v3/write_lp", post(write::v3))
        .route("/query", get(query::handle).post(query::handle))
        .route("/api/v3/query_sql", get(v3_query::sql).post(v3_query::sql))
        .route(
            "/api/v3/query_influxql",
            get(v3_query::influxql).post(v3_query::influxql),
        )
        .route("/ping", get(status::ping).head(status::ping))
        .route("/health", get(status::health))
        .route("/ready", get(status::ready))
        .route("/metrics", get(metrics::handle))
        .route("/", get(console::index))
        .route("/assets/{file}", get(console::asset))
        .route("/api/v3/console/whoami", get(console::whoami))
        .route("/api/v3/rejections", get(rejections::list))
        .route("/api/v3/cardinality", get(cardinality::handle))
        .route("/api/v2/query", post(flux_query))
        .route("/api/v2/delete", post(v2_delete::delete))
        .route("/api/v2/orgs", get(v2::list_orgs))
        .route(
            "/api/v2/buckets",
            get(v2::list_buckets).post(v2::create_bucket),
        )
        .route(
            "/api/v2/buckets/{id}",
            get(v2::get_bucket).delete(v2::delete_bucket),
        )
        .route(
            "/api/v3/configure/database",
            get(v3::list_databases)
                .post(v3::create_database)
                .delete(v3::delete_database),
        )
        .route(
            "/api/v3/configure/last_cache",
            post(v3_caches::create_last_cache).delete(v3_caches::delete_last_cache),
        )
        .route(
            "/api/v3/configure/distinct_cache",
            post(v3_caches::create_distinct_cache).delete(v3_caches::delete_distinct_cache),
        )
        .route(
            "/api/v3/configure/token",
            get(tokens::list)
                .post(tokens::create)
                .delete(tokens::delete),
        )
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            modes::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(axum::middleware::from_fn_with_state(grpc, flight::dispatch))
        .layer(axum::middleware::map_response(status::with_version))
        .with_state(state)
}

/// `POST /api/v2/query`: InfluxDB 2's Flux endpoint. There is no Flux here: a 404, as
/// for any path sluice does not serve (not a 5xx: nothing failed), saying what to use
/// instead (the official v2 clients' `query_api` lands here).
async fn flux_query() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        [("X-Platform-Error-Code", "not found")],
        axum::Json(serde_json::json!({
            "code": "not found",
            "message": "Flux queries are not supported: query with InfluxQL \
                (GET or POST /query?db=DB&q=…, or /api/v3/query_influxql) or SQL \
                (/api/v3/query_sql, or Arrow Flight)",
        })),
    )
}

async fn not_found() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({ "error": "no such endpoint" })),
    )
}

/// Serves [`app`] on `listener` with the default [`ListenerConfig`] until `shutdown`
/// completes; then stops accepting connections and waits up to `grace` for in-flight
/// requests to finish.
///
/// The caller shuts the storage engine down afterwards, so that the WAL is synced only
/// once no write is in flight.
///
/// # Errors
/// I/O errors of the listener.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let config = ListenerConfig {
        shutdown_grace: grace,
        ..ListenerConfig::default()
    };
    serve_with(listener, state, config, shutdown).await
}

/// Serves [`app`] on `listener` with the connection limits of `config` (time limits,
/// connection count, header sizes, HTTP/2 streams) until `shutdown` completes; then
/// stops accepting and waits up to `config.shutdown_grace` for in-flight requests.
///
/// # Errors
/// I/O errors of the listener.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    state: AppState,
    config: ListenerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let metrics = state.inner.connections.clone();
    listener::serve(listener, app(state), metrics, config, shutdown).await
}
