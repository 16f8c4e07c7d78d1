//! `/api/v3/configure/database`: list, create and delete databases the InfluxDB 3 way.

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::auth::Action;
use crate::body::read_admin_json;
use crate::error::{Api, ApiError, Error, Result};
use crate::params::Params;
use crate::state::AppState;
use crate::time::parse_duration;

/// `GET /api/v3/configure/database`: `[{"iox::database":"name"}]`, as InfluxDB 3 answers
/// `?format=json`.
pub(crate) async fn list_databases(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let run = || {
        let params = Params::parse(query.as_deref())?;
        let principal = state.inner.auth.authenticate(&headers, &params)?;
        let names: Vec<_> = state
            .inner
            .storage
            .databases()
            .into_iter()
            .filter(|d| {
                principal.can(&d.name, Action::Read) || principal.can(&d.name, Action::Write)
            })
            .map(|d| json!({ "iox::database": d.name }))
            .collect();
        Ok(Json(names).into_response())
    };
    run().map_err(|e: Error| e.api(Api::V3))
}

#[derive(Debug, Deserialize)]
struct CreateDatabase {
    db: String,
    /// InfluxQL-style duration such as `30d`; absent keeps data forever.
    #[serde(default)]
    retention_period: Option<String>,
}

/// `POST /api/v3/configure/database` with `{"db":"name","retention_period":"30d"}`:
/// 200, or 409 when it exists. Needs the admin token.
pub(crate) async fn create_database(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let run = async {
        let params = Params::parse(query.as_deref())?;
        let request: CreateDatabase =
            read_admin_json(&state, &headers, &params, body, "database").await?;
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
            return Err(Error::Conflict {
                message: format!("database {:?} already exists", request.db),
            });
        }
        Ok(StatusCode::OK)
    };
    run.await.map_err(|e: Error| e.api(Api::V3))
}

/// `DELETE /api/v3/configure/database?db=name`: 200, or 404 for an unknown database.
/// Needs the admin token.
pub(crate) async fn delete_database(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let run = || {
        let params = Params::parse(query.as_deref())?;
        state
            .inner
            .auth
            .authenticate(&headers, &params)?
            .require_admin()?;
        let name = params
            .non_empty("db")
            .ok_or(Error::MissingParameter { name: "db" })?;
        if !state.inner.storage.drop_database(name)? {
            return Err(Error::DatabaseNotFound { name: name.into() });
        }
        Ok(StatusCode::OK)
    };
    run().map_err(|e: Error| e.api(Api::V3))
}
