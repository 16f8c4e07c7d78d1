//! `GET|POST /query`: the InfluxDB 1.x query endpoint. Runs InfluxQL through the query
//! engine and answers `{"results":[{"statement_id":0,"series":[…]}]}` (or chunked JSON,
//! or CSV for `Accept: application/csv`).

use std::str::FromStr as _;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use sluice_query::format::{self, Epoch};

use crate::body::{discard, read_body};
use crate::error::{Api, ApiError, Error, Result};
use crate::influxql;
use crate::params::Params;
use crate::state::AppState;

/// `GET|POST /query?q=…`: parameters in the query string or an urlencoded form body.
pub(crate) async fn handle(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    run(&state, query, &headers, body)
        .await
        .map_err(|e| e.api(Api::V1))
}

/// Reads the query string and, for a form body, the form's parameters after it.
pub(crate) async fn read_params(
    state: &AppState,
    query: Option<String>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Params> {
    let mut params = Params::parse(query.as_deref())?;
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        let body = read_body(headers, body, state.inner.config.max_request_bytes).await?;
        params.extend_from_form(&body.bytes)?;
    } else {
        // Not a form: nothing in it is used, but reading it keeps the connection usable.
        discard(body).await;
    }
    Ok(params)
}

async fn run(
    state: &AppState,
    query: Option<String>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response> {
    let params = read_params(state, query, headers, body).await?;
    let principal = state.inner.auth.authenticate(headers, &params)?;
    let q = params
        .non_empty("q")
        .ok_or(Error::MissingParameter { name: "q" })?;
    let db = params.non_empty("db");
    let epoch = match params.non_empty("epoch") {
        None => Epoch::Rfc3339,
        Some(text) => Epoch::from_str(text).map_err(|e| Error::InvalidParameter {
            name: "epoch",
            reason: e.to_string(),
        })?,
    };
    let bound = params
        .non_empty("params")
        .map(influxql::parse_params)
        .transpose()?;
    let chunked = params.flag("chunked", false)?;
    let chunk_size = match params.non_empty("chunk_size") {
        None => 0,
        Some(text) => text.parse::<usize>().map_err(|_| Error::InvalidParameter {
            name: "chunk_size",
            reason: format!("expected a non-negative integer, got {text:?}"),
        })?,
    };
    let pretty = params.flag("pretty", false)?;
    let rp = params.non_empty("rp");
    let results = influxql::run(state, &principal, db, rp, q, bound.as_ref()).await?;

    if wants_csv(headers) {
        let body = format::v1_csv(&results, epoch);
        return Ok(([(header::CONTENT_TYPE, "application/csv")], body).into_response());
    }
    let body = if chunked {
        let mut body = String::new();
        for chunk in format::v1_json_chunks(&results, epoch, chunk_size) {
            body.push_str(&chunk);
            body.push('\n');
        }
        body
    } else if pretty {
        let json = format::v1_json(&results, epoch);
        serde_json::from_str::<serde_json::Value>(&json)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or(json)
    } else {
        format::v1_json(&results, epoch)
    };
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// `Accept: application/csv` (or `text/csv`) asks for CSV, as in InfluxDB 1.x.
fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| {
            let media = v.split(';').next().unwrap_or("").trim();
            media.eq_ignore_ascii_case("application/csv") || media.eq_ignore_ascii_case("text/csv")
        })
}
