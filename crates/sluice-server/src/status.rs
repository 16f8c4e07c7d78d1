//! Liveness endpoints: `/ping` (v1), `/health` and `/ready` (v2).

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::Api;
use crate::params::Params;
use crate::state::AppState;
use crate::time::{go_duration, rfc3339};

/// The version sluice reports in `X-Influxdb-Version` and status bodies.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The build name sluice reports in `X-Influxdb-Build`.
pub const BUILD: &str = "sluice";

/// Adds `X-Influxdb-Version` and `X-Influxdb-Build` to a response, as InfluxDB 1.x puts
/// them on every answer (clients such as Grafana and the 1.x Go client read them).
pub(crate) fn stamp_version<B>(mut response: axum::http::Response<B>) -> axum::http::Response<B> {
    let headers = response.headers_mut();
    for (name, value) in version_headers() {
        headers.entry(name).or_insert(value);
    }
    response
}

/// [`stamp_version`] as a router layer.
pub(crate) async fn with_version(response: Response) -> Response {
    stamp_version(response)
}

fn version_headers() -> [(HeaderName, HeaderValue); 2] {
    [
        (
            HeaderName::from_static("x-influxdb-version"),
            HeaderValue::from_static(VERSION),
        ),
        (
            HeaderName::from_static("x-influxdb-build"),
            HeaderValue::from_static(BUILD),
        ),
    ]
}

/// Answers the error when `open` is false and the request has no valid token.
fn refuse_unless(
    state: &AppState,
    open: bool,
    headers: &HeaderMap,
    query: Option<&str>,
    api: Api,
) -> Option<Response> {
    let params = Params::parse(query).unwrap_or_default();
    let checked = state.inner.auth.check_open(open, headers, &params);
    checked.err().map(|err| err.api(api).into_response())
}

/// `GET|HEAD /ping`: 204 with version headers; `?verbose=true` gives 200 and a JSON body.
pub(crate) async fn ping(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let open = state.inner.config.open_endpoints.ping;
    if let Some(refused) = refuse_unless(&state, open, &headers, query.as_deref(), Api::V1) {
        return refused;
    }
    let verbose = Params::parse(query.as_deref())
        .ok()
        .and_then(|p| p.flag("verbose", false).ok())
        .unwrap_or(false);
    if verbose {
        (
            StatusCode::OK,
            version_headers(),
            Json(json!({ "version": VERSION, "build": BUILD })),
        )
            .into_response()
    } else {
        (StatusCode::NO_CONTENT, version_headers()).into_response()
    }
}

/// `GET /health`: 200 and `"status":"pass"` while storage takes writes; 503 and
/// `"status":"fail"` while it cannot (the WAL's disk is full or failing, or buffered data
/// cannot be persisted), with one check per failing part saying what is wrong. While the
/// object store fails but the buffer still has room, writes are taken: 200, `"pass"`, a
/// message starting `degraded:` and the store's check `"warn"`.
pub(crate) async fn health(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let open = state.inner.config.open_endpoints.health;
    if let Some(refused) = refuse_unless(&state, open, &headers, query.as_deref(), Api::V2) {
        return refused;
    }
    let faults = state.storage().faults();
    let checks: Vec<_> = faults
        .iter()
        .map(|f| {
            json!({
                "name": format!("storage.{}", f.component),
                "status": if f.degraded { "warn" } else { "fail" },
                "message": f.message,
            })
        })
        .collect();
    let failing = faults.iter().find(|f| !f.degraded);
    let (status, word, message) = match (failing, faults.first()) {
        (Some(first), _) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "fail",
            format!("storage is failing: {}", first.message),
        ),
        (None, Some(first)) => (
            StatusCode::OK,
            "pass",
            format!("degraded: {}", first.message),
        ),
        (None, None) => {
            let modes = state.storage().modes();
            let ready = match (modes.ingest, modes.query) {
                (true, true) => "ready for queries and writes".to_owned(),
                (true, false) => format!("ready for writes (--mode {modes})"),
                (false, true) => format!("ready for queries (--mode {modes})"),
                (false, false) => format!("ready (--mode {modes}: neither writes nor queries)"),
            };
            (StatusCode::OK, "pass", ready)
        }
    };
    (
        status,
        version_headers(),
        Json(json!({
            "name": "sluice",
            "message": message,
            "status": word,
            "checks": checks,
            "version": VERSION,
            "commit": BUILD,
        })),
    )
        .into_response()
}

/// `GET /ready`: 200 with the start time and uptime.
pub(crate) async fn ready(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let open = state.inner.config.open_endpoints.ready;
    if let Some(refused) = refuse_unless(&state, open, &headers, query.as_deref(), Api::V2) {
        return refused;
    }
    (
        version_headers(),
        Json(json!({
            "status": "ready",
            "started": rfc3339(state.inner.started),
            "up": go_duration(state.inner.started_at.elapsed()),
        })),
    )
        .into_response()
}
