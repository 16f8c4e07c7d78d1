//! `GET|POST /query`: the InfluxDB 1.x query endpoint, running the database statements
//! of [`crate::influxql`] (a later release adds real queries).

use axum::Json;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::auth::{Action, Principal};
use crate::body::{discard, read_body};
use crate::error::{Api, ApiError, Error, Result};
use crate::influxql::{self, Statement};
use crate::params::Params;
use crate::state::AppState;

/// `GET|POST /query?q=…`: `q` in the query string or an urlencoded form body.
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

async fn run(
    state: &AppState,
    query: Option<String>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response> {
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
    let principal = state.inner.auth.authenticate(headers, &params)?;
    let q = params
        .non_empty("q")
        .ok_or(Error::MissingParameter { name: "q" })?;
    let statements = influxql::parse(q).map_err(|reason| Error::InvalidParameter {
        name: "q",
        reason: format!("error parsing query: {reason}"),
    })?;
    let mut results = Vec::with_capacity(statements.len());
    for (id, statement) in statements.into_iter().enumerate() {
        let result = execute(state, &principal, statement)?;
        // InfluxDB puts statement_id first; serde_json's preserve_order keeps it there.
        let mut ordered = serde_json::Map::new();
        ordered.insert("statement_id".into(), json!(id));
        ordered.extend(result);
        results.push(Value::Object(ordered));
    }
    let body = json!({ "results": results });
    if params.flag("pretty", false).unwrap_or(false) {
        let text = serde_json::to_string_pretty(&body).unwrap_or_default();
        return Ok(([(header::CONTENT_TYPE, "application/json")], text).into_response());
    }
    Ok(Json(body).into_response())
}

/// Runs one statement; statement-level failures go into the result (HTTP 200), as in
/// InfluxDB 1.x.
fn execute(
    state: &AppState,
    principal: &Principal,
    statement: Statement,
) -> Result<serde_json::Map<String, Value>> {
    let mut result = serde_json::Map::new();
    match statement {
        Statement::CreateDatabase { name, retention } => {
            principal.require_admin()?;
            let outcome = state
                .inner
                .storage
                .create_database(&name, retention.flatten())
                .and_then(|created| match retention {
                    Some(retention) if !created => {
                        state.inner.storage.set_retention(&name, retention)
                    }
                    _ => Ok(()),
                });
            if let Err(err) = outcome {
                result.insert("error".into(), json!(statement_error(err)?));
            }
        }
        Statement::DropDatabase { name } => {
            principal.require_admin()?;
            if let Err(err) = state.inner.storage.drop_database(&name) {
                result.insert("error".into(), json!(statement_error(err)?));
            }
        }
        Statement::ShowDatabases => {
            let values: Vec<Value> = state
                .inner
                .storage
                .databases()
                .into_iter()
                .filter(|d| {
                    principal.can(&d.name, Action::Read) || principal.can(&d.name, Action::Write)
                })
                .map(|d| json!([d.name]))
                .collect();
            let mut series = json!({ "name": "databases", "columns": ["name"] });
            if !values.is_empty() {
                series["values"] = Value::Array(values);
            }
            result.insert("series".into(), json!([series]));
        }
        Statement::Unsupported { keywords } => {
            result.insert(
                "error".into(),
                json!(format!(
                    "statement not supported yet: {keywords} (this version runs CREATE DATABASE, DROP DATABASE and SHOW DATABASES)"
                )),
            );
        }
    }
    Ok(result)
}

/// A storage error that belongs in the statement's result (a client mistake); anything
/// else fails the request.
fn statement_error(err: sluice_storage::Error) -> Result<String> {
    use sluice_storage::Error as S;
    match err {
        S::DatabaseNotFound { .. } | S::InvalidDatabaseName { .. } => Ok(err.to_string()),
        other => Err(Error::Storage(other)),
    }
}
