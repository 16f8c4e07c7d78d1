//! `/api/v3/configure/last_cache` and `/api/v3/configure/distinct_cache`: create and
//! delete a table's last-value and distinct-value caches the InfluxDB 3 way.
//!
//! Creating answers 201 with the cache's settings, or 204 when a cache of that name
//! exists with the same settings; one with other settings is a 409. Deleting names the
//! cache by `db`, `table` and `name`, in the query string or a JSON body, and answers
//! 200, or 404 when there is no such cache. Both need the admin token.

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use sluice_storage::{
    Created, DistinctCacheInfo, DistinctCacheSpec, LastCacheInfo, LastCacheSpec, Storage,
};

use crate::body::read_body;
use crate::error::Error;
use crate::extract::{AdminJson, Caller, JsonBody, Reply, V3};
use crate::params::Params;
use crate::state::AppState;

/// The body of `POST /api/v3/configure/last_cache`.
#[derive(Debug, Deserialize)]
pub(crate) struct CreateLastCache {
    db: String,
    table: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    key_columns: Option<Vec<String>>,
    #[serde(default)]
    value_columns: Option<Vec<String>>,
    #[serde(default)]
    count: Option<usize>,
    /// Seconds.
    #[serde(default)]
    ttl: Option<u64>,
}

impl JsonBody for CreateLastCache {
    const WHAT: &'static str = "last cache";
}

/// `POST /api/v3/configure/last_cache`: creates the cache and fills it from the rows
/// already stored; 201 with `{"table","name","key_columns","value_columns","count",
/// "ttl"}`, or 204 when it exists with the same settings.
pub(crate) async fn create_last_cache(
    State(state): State<AppState>,
    AdminJson { body, .. }: AdminJson<V3, CreateLastCache>,
) -> Reply<V3> {
    let spec = LastCacheSpec {
        table: body.table,
        name: body.name,
        key_columns: body.key_columns,
        value_columns: body.value_columns,
        count: body.count,
        ttl: body.ttl.map(Duration::from_secs),
    };
    let created = state
        .inner
        .storage
        .create_last_cache(&body.db, &spec)
        .await?;
    Ok(created_response(created, |c: LastCacheInfo| {
        json!({
            "table": c.table,
            "name": c.name,
            "key_columns": c.key_columns,
            "value_columns": c.value_columns,
            "count": c.count,
            "ttl": c.ttl.as_secs(),
        })
    }))
}

/// The body of `POST /api/v3/configure/distinct_cache`.
#[derive(Debug, Deserialize)]
pub(crate) struct CreateDistinctCache {
    db: String,
    table: String,
    #[serde(default)]
    name: Option<String>,
    columns: Vec<String>,
    #[serde(default)]
    max_cardinality: Option<usize>,
    /// Seconds.
    #[serde(default)]
    max_age: Option<u64>,
}

impl JsonBody for CreateDistinctCache {
    const WHAT: &'static str = "distinct cache";
}

/// `POST /api/v3/configure/distinct_cache`: creates the cache and fills it from the rows
/// stored within its max age; 201 with `{"table","name","columns","max_cardinality",
/// "max_age"}`, or 204 when it exists with the same settings.
pub(crate) async fn create_distinct_cache(
    State(state): State<AppState>,
    AdminJson { body, .. }: AdminJson<V3, CreateDistinctCache>,
) -> Reply<V3> {
    let spec = DistinctCacheSpec {
        table: body.table,
        name: body.name,
        columns: body.columns,
        max_cardinality: body.max_cardinality,
        max_age: body.max_age.map(Duration::from_secs),
    };
    let created = state
        .inner
        .storage
        .create_distinct_cache(&body.db, &spec)
        .await?;
    Ok(created_response(created, |c: DistinctCacheInfo| {
        json!({
            "table": c.table,
            "name": c.name,
            "columns": c.columns,
            "max_cardinality": c.max_cardinality,
            "max_age": c.max_age.as_secs(),
        })
    }))
}

fn created_response<T>(created: Created<T>, describe: impl Fn(T) -> serde_json::Value) -> Response {
    match created {
        Created::New(info) => (StatusCode::CREATED, Json(describe(info))).into_response(),
        Created::Existing(_) => StatusCode::NO_CONTENT.into_response(),
    }
}

/// `DELETE /api/v3/configure/last_cache`: 200, or 404 for an unknown cache.
pub(crate) async fn delete_last_cache(
    State(state): State<AppState>,
    caller: Caller<V3>,
    headers: HeaderMap,
    body: Body,
) -> Reply<V3, StatusCode> {
    delete_cache(state, caller, headers, body, Storage::delete_last_cache).await
}

/// `DELETE /api/v3/configure/distinct_cache`: 200, or 404 for an unknown cache.
pub(crate) async fn delete_distinct_cache(
    State(state): State<AppState>,
    caller: Caller<V3>,
    headers: HeaderMap,
    body: Body,
) -> Reply<V3, StatusCode> {
    delete_cache(state, caller, headers, body, Storage::delete_distinct_cache).await
}

/// Deletes the cache the request names with `delete` (one kind's), for the admin only.
async fn delete_cache(
    state: AppState,
    caller: Caller<V3>,
    headers: HeaderMap,
    body: Body,
    delete: fn(&Storage, &str, &str, &str) -> sluice_storage::Result<()>,
) -> Reply<V3, StatusCode> {
    caller.admin()?;
    let target = CacheTarget::read(&caller.params, &headers, body, &state).await?;
    delete(
        &state.inner.storage,
        &target.db,
        &target.table,
        &target.name,
    )?;
    Ok(StatusCode::OK)
}

/// The cache a delete names.
#[derive(Debug, Deserialize)]
struct CacheTarget {
    db: String,
    table: String,
    name: String,
}

impl CacheTarget {
    /// From the query string when it names any of `db`, `table`, `name`; else from the
    /// JSON body.
    async fn read(
        params: &Params,
        headers: &HeaderMap,
        body: Body,
        state: &AppState,
    ) -> Result<CacheTarget, Error> {
        let from_query = ["db", "table", "name"]
            .iter()
            .any(|k| params.get(k).is_some());
        if from_query {
            let get = |name: &'static str| {
                params
                    .non_empty(name)
                    .map(str::to_owned)
                    .ok_or(Error::MissingParameter { name })
            };
            return Ok(CacheTarget {
                db: get("db")?,
                table: get("table")?,
                name: get("name")?,
            });
        }
        let bytes = read_body(headers, body, state.inner.config.max_request_bytes)
            .await?
            .bytes;
        if bytes.is_empty() {
            return Err(Error::MissingParameter { name: "db" });
        }
        serde_json::from_slice(&bytes).map_err(|err| Error::InvalidBody {
            reason: format!("invalid cache json: {err}"),
        })
    }
}
