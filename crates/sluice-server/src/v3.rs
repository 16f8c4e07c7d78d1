//! `/api/v3/configure/database`: list, create and delete databases the InfluxDB 3 way.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use crate::auth::Action;
use crate::error::Error;
use crate::extract::{AdminJson, Caller, JsonBody, Reply, V3};
use crate::state::AppState;
use crate::time::parse_duration;

/// `GET /api/v3/configure/database`: `[{"iox::database":"name"}]`, as InfluxDB 3 answers
/// `?format=json`. With `db=name`, that one database (the token needs `read` on it) with
/// its retention and what each of its tables holds (see [`database_usage`]).
pub(crate) async fn list_databases(
    State(state): State<AppState>,
    Caller {
        params, principal, ..
    }: Caller<V3>,
) -> Reply<V3> {
    if let Some(name) = params.non_empty("db") {
        principal.require(name, Action::Read)?;
        return Ok(Json([database_usage(&state, name)?]).into_response());
    }
    let names: Vec<_> = state
        .inner
        .storage
        .all_databases()
        .into_iter()
        .filter(|d| principal.can(&d.name, Action::Read) || principal.can(&d.name, Action::Write))
        .map(|d| json!({ "iox::database": d.name }))
        .collect();
    Ok(Json(names).into_response())
}

/// `{"iox::database","retention_seconds","tables":[{"name","parquet_files","parquet_bytes",
/// "parquet_rows","buffer_bytes","buffer_rows"}]}` for storage database `name`: the live
/// Parquet files of each table as the manifest records them and its rows in the write
/// buffer. The write-ahead log is shared by all databases and counted in none.
fn database_usage(state: &AppState, name: &str) -> Result<serde_json::Value, Error> {
    let storage = &state.inner.storage;
    let tables: Vec<_> = storage
        .table_usage(name)?
        .into_iter()
        .map(|t| {
            json!({
                "name": t.name,
                "parquet_files": t.parquet_files,
                "parquet_bytes": t.parquet_bytes,
                "parquet_rows": t.parquet_rows,
                "buffer_bytes": t.buffer_bytes,
                "buffer_rows": t.buffer_rows,
            })
        })
        .collect();
    let retention = storage
        .all_databases()
        .into_iter()
        .find(|d| d.name == name)
        .and_then(|d| d.retention)
        .map(|r| r.as_secs());
    Ok(json!({
        "iox::database": name,
        "retention_seconds": retention,
        "tables": tables,
    }))
}

#[derive(Debug, Deserialize)]
pub(crate) struct CreateDatabase {
    db: String,
    /// InfluxQL-style duration such as `30d`; absent keeps data forever.
    #[serde(default)]
    retention_period: Option<String>,
}

/// `POST /api/v3/configure/database` with `{"db":"name","retention_period":"30d"}`:
/// 200, or 409 when it exists. Needs the admin token.
pub(crate) async fn create_database(
    State(state): State<AppState>,
    AdminJson { body: request, .. }: AdminJson<V3, CreateDatabase>,
) -> Reply<V3, StatusCode> {
    let retention = match request.retention_period.as_deref() {
        None | Some("") => None,
        Some(text) => Some(parse_duration(text).ok_or_else(|| Error::InvalidBody {
            reason: format!("invalid retention_period {text:?}: use a duration such as 30d"),
        })?),
    }
    .filter(|d: &Duration| !d.is_zero());
    if !state
        .inner
        .storage
        .create_database(&request.db, retention)?
    {
        let message = format!("database {:?} already exists", request.db);
        return Err(Error::Conflict { message }.into());
    }
    Ok(StatusCode::OK)
}

impl JsonBody for CreateDatabase {
    const WHAT: &'static str = "database";
}

/// `DELETE /api/v3/configure/database?db=name`: 200, or 404 for an unknown database.
/// Needs the admin token.
pub(crate) async fn delete_database(
    State(state): State<AppState>,
    Caller {
        params, principal, ..
    }: Caller<V3>,
) -> Reply<V3, StatusCode> {
    principal.require_admin()?;
    let name = params
        .non_empty("db")
        .ok_or(Error::MissingParameter { name: "db" })?;
    if !state.inner.storage.drop_database(name).await? {
        return Err(Error::DatabaseNotFound { name: name.into() }.into());
    }
    Ok(StatusCode::OK)
}
