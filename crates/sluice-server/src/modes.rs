//! What a node's `--mode` lets it answer: a node without `ingest` refuses writes and
//! changes to databases and schemas, a node without `query` refuses queries, each with
//! 403 and a message naming the node's mode and where to send the request instead.
//!
//! | endpoint | needs |
//! | --- | --- |
//! | `POST /write`, `/api/v2/write`, `/api/v3/write_lp`, `/api/v2/delete` | ingest |
//! | `POST`/`DELETE /api/v2/buckets…`, `/api/v3/configure/database`, `…/last_cache`, `…/distinct_cache` | ingest |
//! | `/api/v3/query_sql`, `/api/v3/query_influxql`, Flight `DoGet` | query |
//! | `/query` and InfluxQL anywhere: `SELECT`, `SHOW MEASUREMENTS/TAG KEYS/TAG VALUES/FIELD KEYS/SERIES/… CARDINALITY` | query |
//! | InfluxQL `CREATE`/`DROP DATABASE`, `DELETE`, `DROP SERIES/MEASUREMENT`, `SELECT … INTO`, retention policy and continuous query statements | ingest |
//!
//! `SHOW DATABASES`, `SHOW RETENTION POLICIES` and `SHOW CONTINUOUS QUERIES` are
//! answered in every mode. The refusal comes before authentication: a node's mode is
//! no secret, and no token makes the request possible here.

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sluice_influxql::Statement;

use crate::error::{Api, Error, Result};
use crate::state::AppState;

/// What a request needs of the node's modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Needs {
    Ingest,
    Query,
}

/// Refuses, in the shape of the endpoint's API family, a request to an endpoint the
/// node's modes do not serve (see the module docs); passes every other on.
pub(crate) async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Some((api, needs)) = endpoint_needs(request.method(), request.uri().path())
        && let Err(e) = require(&state, needs)
    {
        // Read, so that the client's keep-alive connection stays usable.
        crate::body::discard(request.into_body()).await;
        return e.api(api).into_response();
    }
    next.run(request).await
}

/// The API family and mode an endpoint needs, for endpoints that need one.
fn endpoint_needs(method: &Method, path: &str) -> Option<(Api, Needs)> {
    let changes = *method == Method::POST || *method == Method::DELETE;
    match path {
        "/write" if *method == Method::POST => Some((Api::V1, Needs::Ingest)),
        "/api/v2/write" | "/api/v2/delete" if *method == Method::POST => {
            Some((Api::V2, Needs::Ingest))
        }
        "/api/v3/write_lp" if *method == Method::POST => Some((Api::V3, Needs::Ingest)),
        "/api/v2/buckets" if changes => Some((Api::V2, Needs::Ingest)),
        p if p.starts_with("/api/v2/buckets/") && changes => Some((Api::V2, Needs::Ingest)),
        "/api/v3/configure/database"
        | "/api/v3/configure/last_cache"
        | "/api/v3/configure/distinct_cache"
            if changes =>
        {
            Some((Api::V3, Needs::Ingest))
        }
        "/api/v3/query_sql" | "/api/v3/query_influxql" => Some((Api::V3, Needs::Query)),
        _ => None,
    }
}

/// Fails unless the node's modes include what `needs` names.
///
/// # Errors
/// [`Error::WrongMode`].
pub(crate) fn require(state: &AppState, needs: Needs) -> Result<()> {
    let storage = &state.inner.storage;
    let modes = storage.modes();
    let message = match needs {
        Needs::Ingest if !modes.ingest => {
            let peers: Vec<String> = storage
                .peer_nodes()
                .into_iter()
                .filter_map(|p| p.node_id)
                .collect();
            let known = if peers.is_empty() {
                String::new()
            } else {
                format!(" (the nodes in this bucket: {})", peers.join(", "))
            };
            format!(
                "cannot write to a read-only server: this node runs with --mode {modes}; send \
                 writes and changes to databases to a node whose --mode includes ingest{known}"
            )
        }
        Needs::Query if !modes.query => format!(
            "cannot query this node: it runs with --mode {modes}; send queries to a node whose \
             --mode includes query"
        ),
        _ => return Ok(()),
    };
    Err(Error::WrongMode { message })
}

/// Fails unless the node's modes allow every InfluxQL statement (see the module docs).
///
/// # Errors
/// [`Error::WrongMode`] naming the first statement refused.
pub(crate) fn require_for_statements(state: &AppState, statements: &[Statement]) -> Result<()> {
    for statement in statements {
        if let Some(needs) = statement_needs(statement) {
            require(state, needs)?;
        }
    }
    Ok(())
}

fn statement_needs(statement: &Statement) -> Option<Needs> {
    match statement {
        Statement::Select(select) if select.into.is_some() => Some(Needs::Ingest),
        Statement::Select(_)
        | Statement::ShowMeasurements(_)
        | Statement::ShowTagKeys(_)
        | Statement::ShowTagValues(_)
        | Statement::ShowFieldKeys(_)
        | Statement::ShowSeries(_)
        | Statement::ShowCardinality(_) => Some(Needs::Query),
        Statement::CreateDatabase(_)
        | Statement::DropDatabase(_)
        | Statement::DropMeasurement(_)
        | Statement::Delete(_)
        | Statement::DropSeries(_)
        | Statement::CreateRetentionPolicy(_)
        | Statement::AlterRetentionPolicy(_)
        | Statement::DropRetentionPolicy(_)
        | Statement::CreateContinuousQuery(_)
        | Statement::DropContinuousQuery(_) => Some(Needs::Ingest),
        Statement::ShowDatabases
        | Statement::ShowRetentionPolicies(_)
        | Statement::ShowContinuousQueries
        | Statement::Unsupported(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_need_the_mode_that_serves_them() {
        for (method, path, needs) in [
            (Method::POST, "/write", Some((Api::V1, Needs::Ingest))),
            (
                Method::POST,
                "/api/v2/write",
                Some((Api::V2, Needs::Ingest)),
            ),
            (
                Method::POST,
                "/api/v3/write_lp",
                Some((Api::V3, Needs::Ingest)),
            ),
            (
                Method::POST,
                "/api/v2/buckets",
                Some((Api::V2, Needs::Ingest)),
            ),
            (Method::GET, "/api/v2/buckets", None),
            (
                Method::DELETE,
                "/api/v2/buckets/abc",
                Some((Api::V2, Needs::Ingest)),
            ),
            (
                Method::DELETE,
                "/api/v3/configure/database",
                Some((Api::V3, Needs::Ingest)),
            ),
            (Method::GET, "/api/v3/configure/database", None),
            (
                Method::GET,
                "/api/v3/query_sql",
                Some((Api::V3, Needs::Query)),
            ),
            (
                Method::POST,
                "/api/v3/query_influxql",
                Some((Api::V3, Needs::Query)),
            ),
            (Method::GET, "/query", None),
            (Method::GET, "/health", None),
        ] {
            assert_eq!(endpoint_needs(&method, path), needs, "{method} {path}");
        }
    }

    #[test]
    fn statements_that_change_data_need_ingest_and_reads_need_query() {
        let needs = |q: &str| {
            sluice_influxql::parse(q)
                .unwrap()
                .statements
                .iter()
                .map(statement_needs)
                .collect::<Vec<_>>()
        };
        assert_eq!(needs("SELECT v FROM cpu"), [Some(Needs::Query)]);
        assert_eq!(needs("SELECT v INTO x FROM cpu"), [Some(Needs::Ingest)]);
        assert_eq!(needs("CREATE DATABASE d"), [Some(Needs::Ingest)]);
        assert_eq!(needs("DELETE FROM cpu"), [Some(Needs::Ingest)]);
        assert_eq!(needs("SHOW TAG KEYS FROM cpu"), [Some(Needs::Query)]);
        assert_eq!(
            needs("SHOW DATABASES; SHOW RETENTION POLICIES ON d"),
            [None, None]
        );
    }
}
