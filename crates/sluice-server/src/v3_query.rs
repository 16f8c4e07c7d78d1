//! `GET|POST /api/v3/query_sql` and `/api/v3/query_influxql`: the InfluxDB 3 query
//! endpoints, answering a table as JSON (an array of row objects), JSON lines, CSV,
//! Parquet or pretty text.

use std::collections::HashMap;
use std::str::FromStr as _;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value as Json;
use sluice_influxql::ParamValue;
use sluice_query::format::{self, Format};

use crate::auth::{Action, Principal};
use crate::body::{discard, read_body};
use crate::error::{Api, ApiError, Error, Result};
use crate::influxql;
use crate::params::Params;
use crate::state::AppState;

/// One query request, from the query string, a form body or a JSON body.
#[derive(Debug)]
struct QueryRequest {
    db: String,
    q: String,
    format: Format,
    params: Option<serde_json::Map<String, Json>>,
}

/// The JSON body InfluxDB 3 accepts: `{"db","q","format","params"}`.
#[derive(Debug, Default, Deserialize)]
struct JsonBody {
    db: Option<String>,
    q: Option<String>,
    format: Option<String>,
    params: Option<serde_json::Map<String, Json>>,
}

/// `GET|POST /api/v3/query_sql`: runs one SQL statement; needs read permission on `db`.
pub(crate) async fn sql(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    async {
        let (request, principal) = read_request(&state, query, &headers, body).await?;
        principal.require(&request.db, Action::Read)?;
        let output = state
            .inner
            .query
            .sql(&request.db, &request.q, request.params.as_ref())
            .await?;
        respond(&state, &output, request.format)
    }
    .await
    .map_err(|e: Error| e.api(Api::V3))
}

/// `GET|POST /api/v3/query_influxql`: runs InfluxQL with `db` as the default database and
/// answers its series as one table (see [`sluice_query::format::influxql_table`]). A failed statement fails
/// the request with 400.
pub(crate) async fn influxql(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    async {
        let (request, principal) = read_request(&state, query, &headers, body).await?;
        if !state
            .inner
            .storage
            .all_databases()
            .iter()
            .any(|d| d.name == request.db)
        {
            principal.require(&request.db, Action::Read)?;
            return Err(sluice_query::Error::DatabaseNotFound(request.db).into());
        }
        let bound: Option<HashMap<String, ParamValue>> = request
            .params
            .as_ref()
            .map(influxql::params_from_json)
            .transpose()?;
        let results = influxql::run(
            &state,
            &principal,
            Some(&request.db),
            None,
            &request.q,
            bound.as_ref(),
        )
        .await?;
        if let Some(message) = influxql::first_error(&results) {
            return Err(Error::StatementFailed {
                message: message.to_owned(),
            });
        }
        respond(
            &state,
            &sluice_query::format::influxql_table(&results)?,
            request.format,
        )
    }
    .await
    .map_err(|e: Error| e.api(Api::V3))
}

/// The encoded answer, counted against the query memory limit (`0`: none).
fn respond(
    state: &AppState,
    output: &sluice_query::QueryOutput,
    format: Format,
) -> Result<Response> {
    let limit = state.inner.config.query_memory_limit_bytes;
    let body = format::encode(output, format, (limit != 0).then_some(limit))?;
    Ok(([(header::CONTENT_TYPE, format.content_type())], body).into_response())
}

/// Reads `db`, `q`, `format` and `params` from a JSON body, a form body and the query
/// string (in that order of precedence), and authenticates the caller.
async fn read_request(
    state: &AppState,
    query: Option<String>,
    headers: &HeaderMap,
    body: Body,
) -> Result<(QueryRequest, Principal)> {
    let mut params = Params::parse(query.as_deref())?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut json = JsonBody::default();
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let body = read_body(headers, body, state.inner.config.max_request_bytes).await?;
        let mut form = Params::default();
        form.extend_from_form(&body.bytes)?;
        // The form wins over the query string: put its pairs first.
        form.extend(params);
        params = form;
    } else if content_type.is_empty() || content_type.contains("json") {
        let body = read_body(headers, body, state.inner.config.max_request_bytes).await?;
        if !body.bytes.iter().all(u8::is_ascii_whitespace) {
            json = serde_json::from_slice(&body.bytes).map_err(|e| Error::InvalidBody {
                reason: format!("expected a json object with db and q: {e}"),
            })?;
        }
    } else {
        discard(body).await;
    }
    let principal = state.inner.auth.authenticate(headers, &params)?;
    let db = json
        .db
        .filter(|d| !d.is_empty())
        .or_else(|| params.non_empty("db").map(str::to_owned))
        .ok_or(Error::MissingParameter { name: "db" })?;
    let q = json
        .q
        .filter(|q| !q.trim().is_empty())
        .or_else(|| params.non_empty("q").map(str::to_owned))
        .ok_or(Error::MissingParameter { name: "q" })?;
    let format = match json
        .format
        .as_deref()
        .or_else(|| params.non_empty("format"))
    {
        None => Format::Json,
        Some(text) => Format::from_str(text).map_err(|e| Error::InvalidParameter {
            name: "format",
            reason: e.to_string(),
        })?,
    };
    let params = match json.params {
        Some(p) => Some(p),
        None => match params.non_empty("params") {
            None => None,
            Some(text) => match serde_json::from_str::<Json>(text) {
                Ok(Json::Object(map)) => Some(map),
                // As on `/query`: clients that build their request from a struct with no
                // parameters send `params=null`.
                Ok(Json::Null) => None,
                _ => {
                    return Err(Error::InvalidParameter {
                        name: "params",
                        reason: "expected a json object".into(),
                    });
                }
            },
        },
    };
    Ok((
        QueryRequest {
            db,
            q,
            format,
            params,
        },
        principal,
    ))
}
