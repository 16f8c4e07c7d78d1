//! InfluxQL as every query path runs it (`/query`, `/api/v3/query_influxql`, Flight):
//! bound `params`, a permission check of each statement before any runs, the query
//! engine (whose `format::influxql_table` turns series into one table for the table
//! formats).
//!
//! Permissions, checked for the whole query up front (one forbidden statement fails the
//! request with 403, as InfluxDB 1.x does):
//!
//! | statement | needs |
//! | --- | --- |
//! | `SELECT`, `SHOW MEASUREMENTS/TAG KEYS/TAG VALUES/FIELD KEYS/SERIES/RETENTION POLICIES/… CARDINALITY` | read on each database it reads |
//! | `SHOW DATABASES` | nothing; lists only databases the token may read or write |
//! | `CREATE DATABASE` | write on that database (or admin) |
//! | `DELETE`, `DROP SERIES`, `DROP MEASUREMENT` | write on the database (and on each database their `FROM` names) |
//! | `SELECT … INTO` | also write on the target database |
//! | `SHOW CONTINUOUS QUERIES` | nothing; lists only databases the token may read |
//! | `DROP DATABASE`, retention policy statements, `CREATE`/`DROP CONTINUOUS QUERY` | admin |

use std::collections::HashMap;

use serde_json::Value as Json;
use sluice_influxql::{Delete, DropSeries, ParamValue, Query, SelectStatement, Source, Statement};
use sluice_query::{StatementResult, Value};

use crate::auth::{Action, Principal};
use crate::error::{Error, Result};
use crate::state::AppState;

/// Reads the v1 `params` parameter: a JSON object whose values are strings, numbers,
/// booleans, or one-key objects `{"identifier": "host"}`, `{"regex": "^a"}`,
/// `{"duration": "1h"}` (also `string`, `integer`, `number`, `boolean`). `null` is no
/// parameters: the Go 1.x client sends `params=null` for a `client.Query` without them.
///
/// # Errors
/// [`Error::InvalidParameter`] for text that is not such an object.
pub(crate) fn parse_params(text: &str) -> Result<HashMap<String, ParamValue>> {
    let json: Json = serde_json::from_str(text).map_err(|e| Error::InvalidParameter {
        name: "params",
        reason: format!("not a json object: {e}"),
    })?;
    match json {
        Json::Object(map) => params_from_json(&map),
        Json::Null => Ok(HashMap::new()),
        _ => Err(Error::InvalidParameter {
            name: "params",
            reason: "expected a json object".into(),
        }),
    }
}

/// Converts a JSON object of parameters (see [`parse_params`]) to bound values.
///
/// # Errors
/// [`Error::InvalidParameter`] for a value of another shape.
pub(crate) fn params_from_json(
    map: &serde_json::Map<String, Json>,
) -> Result<HashMap<String, ParamValue>> {
    map.iter()
        .map(|(name, value)| Ok((name.clone(), param_value(name, value)?)))
        .collect()
}

fn param_value(name: &str, value: &Json) -> Result<ParamValue> {
    let invalid = |reason: String| Error::InvalidParameter {
        name: "params",
        reason: format!("${name}: {reason}"),
    };
    Ok(match value {
        Json::String(s) => ParamValue::String(s.clone()),
        Json::Bool(b) => ParamValue::Boolean(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                ParamValue::Integer(i)
            } else if let Some(u) = n.as_u64() {
                ParamValue::Unsigned(u)
            } else {
                ParamValue::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Json::Object(typed) if typed.len() == 1 => {
            let (kind, inner) = typed.iter().next().expect("one entry");
            let text = || {
                inner
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| invalid(format!("{kind} must be a string")))
            };
            match kind.as_str() {
                "identifier" => ParamValue::Identifier(text()?),
                "regex" => ParamValue::Regex(text()?),
                "string" => ParamValue::String(text()?),
                "duration" => {
                    match inner {
                        Json::Number(n) => ParamValue::Duration(n.as_i64().ok_or_else(|| {
                            invalid("duration must be integer nanoseconds".into())
                        })?),
                        _ => ParamValue::Duration(
                            sluice_influxql::parse_duration(&text()?)
                                .map_err(|e| invalid(e.to_string()))?,
                        ),
                    }
                }
                "integer" | "number" | "boolean" => param_value(name, inner)?,
                other => return Err(invalid(format!("unknown parameter type {other:?}"))),
            }
        }
        Json::Null | Json::Array(_) | Json::Object(_) => {
            return Err(invalid(
                "expected a string, number, boolean or a typed object".into(),
            ));
        }
    })
}

/// Parses `q` with `params` bound, on the calling thread (tests only: the server parses
/// on the query engine's thread, see [`run`]).
///
/// # Errors
/// [`Error::QueryParse`] (`error parsing query: …`).
#[cfg(test)]
pub(crate) fn parse(
    q: &str,
    params: Option<&HashMap<String, ParamValue>>,
) -> Result<sluice_influxql::Query> {
    let parsed = match params {
        Some(params) => sluice_influxql::parse_with_params(q, params),
        None => sluice_influxql::parse(q),
    };
    parsed.map_err(|e| Error::QueryParse {
        reason: e.to_string(),
    })
}

/// Fails with 403 unless `principal` may run every statement (see the module docs).
///
/// # Errors
/// [`Error::Forbidden`].
pub(crate) fn authorize(
    principal: &Principal,
    statements: &[Statement],
    default_db: Option<&str>,
) -> Result<()> {
    if principal.is_admin() {
        return Ok(());
    }
    let db = |on: &Option<String>| on.as_deref().or(default_db).map(str::to_owned);
    for statement in statements {
        match statement {
            Statement::Select(select) => {
                let mut databases = Vec::new();
                select_databases(select, default_db, &mut databases);
                for database in databases {
                    principal.require(&database, Action::Read)?;
                }
                if let Some(into) = &select.into {
                    require(principal, db(&into.database), Action::Write)?;
                }
            }
            Statement::ShowDatabases
            | Statement::ShowContinuousQueries
            | Statement::Unsupported(_) => {}
            Statement::ShowMeasurements(s) => require(principal, db(&s.database), Action::Read)?,
            Statement::ShowTagKeys(s) => require(principal, db(&s.database), Action::Read)?,
            Statement::ShowTagValues(s) => require(principal, db(&s.database), Action::Read)?,
            Statement::ShowFieldKeys(s) => require(principal, db(&s.database), Action::Read)?,
            Statement::ShowSeries(s) => require(principal, db(&s.database), Action::Read)?,
            Statement::ShowRetentionPolicies(s) => {
                require(principal, db(&s.database), Action::Read)?;
            }
            Statement::ShowCardinality(s) => require(principal, db(&s.database), Action::Read)?,
            Statement::CreateDatabase(c) => principal.require(&c.name, Action::Write)?,
            Statement::DropMeasurement(_) => {
                require(principal, default_db.map(str::to_owned), Action::Write)?;
            }
            Statement::Delete(Delete { from, .. })
            | Statement::DropSeries(DropSeries { from, .. }) => {
                require(principal, default_db.map(str::to_owned), Action::Write)?;
                for m in from {
                    require(principal, db(&m.database), Action::Write)?;
                }
            }
            Statement::DropDatabase(_)
            | Statement::CreateContinuousQuery(_)
            | Statement::DropContinuousQuery(_)
            | Statement::CreateRetentionPolicy(_)
            | Statement::AlterRetentionPolicy(_)
            | Statement::DropRetentionPolicy(_) => principal.require_admin()?,
        }
    }
    Ok(())
}

/// A statement without a database fails in the engine ("database name required"), so
/// there is nothing to check for it here.
fn require(principal: &Principal, db: Option<String>, action: Action) -> Result<()> {
    match db {
        Some(db) => principal.require(&db, action),
        None => Ok(()),
    }
}

fn select_databases(select: &SelectStatement, default_db: Option<&str>, out: &mut Vec<String>) {
    for source in &select.from {
        match source {
            Source::Measurement(m) => {
                if let Some(db) = m.database.as_deref().or(default_db) {
                    out.push(db.to_owned());
                }
            }
            Source::Subquery(inner) => select_databases(inner, default_db, out),
        }
    }
}

/// Parses, authorizes and runs `q` for `principal` with default database `db`; the
/// results of `SHOW DATABASES` list only databases the principal may read or write.
///
/// # Errors
/// [`Error::QueryParse`], [`Error::Forbidden`]; statement failures are in the results.
pub(crate) async fn run(
    state: &AppState,
    principal: &Principal,
    db: Option<&str>,
    rp: Option<&str>,
    q: &str,
    params: Option<&HashMap<String, ParamValue>>,
) -> Result<Vec<StatementResult>> {
    // `D/r`, the InfluxDB 2 bucket name under which the v2 and v3 APIs list retention
    // policy `r` of `D`, is that database and policy.
    let (db, rp) = match (db, rp) {
        (Some(bucket), None) => match bucket.split_once('/') {
            Some((db, rp)) => (Some(db), Some(rp)),
            None => (Some(bucket), None),
        },
        other => other,
    };
    // Parsed on the query engine's thread: nesting up to the parser's limit needs more
    // stack than an async worker has.
    let parsed = state
        .inner
        .query
        .parse_influxql(q, params)
        .await
        .map_err(|e| match e {
            sluice_query::Error::InfluxQlParse(e) => Error::QueryParse {
                reason: e.to_string(),
            },
            other => Error::Query(other),
        })?;
    authorize(principal, &parsed.statements, db)?;
    crate::modes::require_for_statements(state, &parsed.statements)?;
    let show_databases: Vec<bool> = parsed
        .statements
        .iter()
        .map(|s| matches!(s, Statement::ShowDatabases))
        .collect();
    let mut results = run_statements(state, principal, db, rp, parsed).await?;
    for (&is_show_databases, result) in show_databases.iter().zip(&mut results) {
        if is_show_databases {
            for series in &mut result.series {
                series.values.retain(|row| match row.first() {
                    Some(Value::String(name)) => {
                        principal.can(name, Action::Read) || principal.can(name, Action::Write)
                    }
                    _ => false,
                });
            }
            result.series.retain(|s| !s.values.is_empty());
        }
    }
    Ok(results)
}

/// Runs the statements in order: continuous query statements here, runs of the others
/// in the query engine.
async fn run_statements(
    state: &AppState,
    principal: &Principal,
    db: Option<&str>,
    rp: Option<&str>,
    parsed: Query,
) -> Result<Vec<StatementResult>> {
    // A dropped database takes its continuous queries with it, as in InfluxDB 1.x.
    let dropped: Vec<String> = parsed
        .statements
        .iter()
        .filter_map(|s| match s {
            Statement::DropDatabase(d) => Some(d.name.clone()),
            _ => None,
        })
        .collect();
    let results = run_in_order(state, principal, db, rp, parsed).await;
    if let Some(queries) = state.inner.continuous.get() {
        for name in &dropped {
            if !state
                .inner
                .storage
                .databases()
                .iter()
                .any(|d| &d.name == name)
                && let Err(e) = queries.drop_database(name)
            {
                tracing::error!(database = %name, error = %e, "cannot drop the continuous queries of a dropped database");
            }
        }
    }
    results
}

/// Runs the statements in order (see [`run_statements`]).
async fn run_in_order(
    state: &AppState,
    principal: &Principal,
    db: Option<&str>,
    rp: Option<&str>,
    parsed: Query,
) -> Result<Vec<StatementResult>> {
    let engine = &state.inner.query;
    if !parsed.statements.iter().any(is_continuous) {
        return Ok(engine.influxql_parsed_with_rp(db, rp, parsed).await?);
    }
    let mut results: Vec<StatementResult> = Vec::new();
    let mut pending: Vec<Statement> = Vec::new();
    for statement in parsed.statements {
        if !is_continuous(&statement) {
            pending.push(statement);
            continue;
        }
        run_in_engine(state, db, rp, &mut pending, &mut results).await?;
        let (series, error) = match continuous(state, principal, &statement) {
            Ok(series) => (series, None),
            Err(error) => (Vec::new(), Some(error)),
        };
        results.push(StatementResult {
            statement_id: results.len(),
            series,
            error,
            time_zone: None,
        });
    }
    run_in_engine(state, db, rp, &mut pending, &mut results).await?;
    Ok(results)
}

/// Runs (and empties) `pending` in the query engine, numbering its results after
/// `results`.
async fn run_in_engine(
    state: &AppState,
    db: Option<&str>,
    rp: Option<&str>,
    pending: &mut Vec<Statement>,
    results: &mut Vec<StatementResult>,
) -> Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let first_id = results.len();
    let query = Query {
        statements: std::mem::take(pending),
    };
    let engine = &state.inner.query;
    for mut result in engine.influxql_parsed_with_rp(db, rp, query).await? {
        result.statement_id += first_id;
        results.push(result);
    }
    Ok(())
}

fn is_continuous(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::CreateContinuousQuery(_)
            | Statement::ShowContinuousQueries
            | Statement::DropContinuousQuery(_)
    )
}

/// Runs a continuous query statement; the error is the statement's message.
fn continuous(
    state: &AppState,
    principal: &Principal,
    statement: &Statement,
) -> std::result::Result<Vec<sluice_query::Series>, String> {
    let Some(queries) = state.inner.continuous.get() else {
        return Err("not supported: continuous queries need `sluice serve`".to_owned());
    };
    let exists = |db: &str| state.inner.storage.policy_database(db, None).is_ok();
    match statement {
        Statement::CreateContinuousQuery(create) => {
            if !exists(&create.database) {
                return Err(format!("database not found: {}", create.database));
            }
            // As InfluxDB checks the retention policy its `INTO` names.
            if let Some(into) = &create.query.into
                && let Some(rp) = into.retention_policy.as_deref()
            {
                let db = into.database.as_deref().unwrap_or(&create.database);
                if let Err(e) = state.inner.storage.policy_database(db, Some(rp)) {
                    return Err(match e {
                        sluice_storage::Error::DatabaseNotFound { .. } => {
                            format!("database not found: {db}")
                        }
                        e => e.to_string(),
                    });
                }
            }
            queries.create(create, crate::time::now_nanos())?;
            tracing::info!(database = %create.database, name = %create.name, "continuous query created");
            Ok(Vec::new())
        }
        Statement::DropContinuousQuery(drop) => {
            queries.drop_query(&drop.database, &drop.name)?;
            tracing::info!(database = %drop.database, name = %drop.name, "continuous query dropped");
            Ok(Vec::new())
        }
        _ => {
            let mut databases: Vec<String> = state
                .inner
                .storage
                .databases()
                .into_iter()
                .map(|d| d.name)
                .filter(|name| principal.can(name, Action::Read))
                .collect();
            databases.sort();
            Ok(queries.show(&databases))
        }
    }
}

/// The first failed statement's message, if any.
pub(crate) fn first_error(results: &[StatementResult]) -> Option<&str> {
    results.iter().find_map(|r| r.error.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_params_become_typed_values() {
        let params = parse_params(
            r#"{"h":"a","n":3,"x":1.5,"b":true,"tag":{"identifier":"host"},"re":{"regex":"^c"},"d":{"duration":"1h"}}"#,
        )
        .unwrap();
        assert_eq!(params["h"], ParamValue::String("a".into()));
        assert_eq!(params["n"], ParamValue::Integer(3));
        assert_eq!(params["x"], ParamValue::Float(1.5));
        assert_eq!(params["b"], ParamValue::Boolean(true));
        assert_eq!(params["tag"], ParamValue::Identifier("host".into()));
        assert_eq!(params["re"], ParamValue::Regex("^c".into()));
        assert_eq!(params["d"], ParamValue::Duration(3_600_000_000_000));
        assert!(parse_params("[1]").is_err());
        assert!(parse_params(r#"{"a":[1]}"#).is_err());
        assert!(parse_params(r#"{"a":{"color":"red"}}"#).is_err());
    }

    #[test]
    fn v1_params_null_and_empty_mean_none() {
        assert!(parse_params("null").unwrap().is_empty());
        assert!(parse_params("{}").unwrap().is_empty());
        assert!(parse_params("1").is_err());
    }

    fn scoped(database: &str, actions: Vec<Action>) -> Principal {
        Principal::Token(crate::auth::TokenInfo {
            id: "1".into(),
            name: "t".into(),
            admin: false,
            permissions: vec![crate::auth::Permission {
                database: database.into(),
                actions,
            }],
            created_at: String::new(),
            expires_at: None,
        })
    }

    #[test]
    fn statements_need_read_write_or_admin_as_influxdb_does() {
        let reader = scoped("db", vec![Action::Read]);
        let writer = scoped("db", vec![Action::Write]);
        let check = |p: &Principal, q: &str| {
            authorize(p, &parse(q, None).unwrap().statements, Some("db")).is_ok()
        };
        assert!(check(&reader, "SELECT * FROM cpu"));
        assert!(!check(&writer, "SELECT * FROM cpu"));
        assert!(!check(&reader, "SELECT * FROM other..cpu"));
        assert!(!check(&reader, "SELECT * FROM (SELECT * FROM other..cpu)"));
        assert!(check(&reader, "SHOW MEASUREMENTS; SHOW TAG KEYS FROM cpu"));
        assert!(!check(&reader, "SHOW MEASUREMENTS ON other"));
        assert!(check(&writer, "SHOW DATABASES"));
        assert!(check(&writer, "CREATE DATABASE db"));
        assert!(!check(&reader, "CREATE DATABASE db"));
        assert!(!check(&writer, "CREATE DATABASE other"));
        assert!(!check(&writer, "DROP DATABASE db"));
        assert!(check(&writer, "DELETE FROM cpu"));
        assert!(check(
            &writer,
            "DROP SERIES FROM cpu WHERE host = 'a'; DROP MEASUREMENT cpu"
        ));
        assert!(!check(&reader, "DELETE FROM cpu WHERE time < now()"));
        assert!(!check(&reader, "DROP SERIES FROM cpu"));
        assert!(!check(&reader, "DROP MEASUREMENT cpu"));
        assert!(!check(&writer, "DELETE FROM other..cpu"));
        assert!(!check(&writer, "DROP SERIES FROM cpu, other..cpu"));
        assert!(check(&Principal::Anyone, "DROP DATABASE db"));
        let both = scoped_both("db");
        assert!(!check(&reader, "SELECT * INTO copy FROM cpu"));
        assert!(check(&both, "SELECT * INTO copy FROM cpu"));
        assert!(!check(&both, "SELECT * INTO other..copy FROM cpu"));
        assert!(check(&reader, "SHOW CONTINUOUS QUERIES"));
        let cq = "CREATE CONTINUOUS QUERY c ON db BEGIN SELECT mean(v) INTO m FROM cpu GROUP BY time(1m) END";
        assert!(!check(&both, cq));
        assert!(!check(&both, "DROP CONTINUOUS QUERY c ON db"));
        assert!(check(&Principal::Anyone, cq));
    }

    fn scoped_both(database: &str) -> Principal {
        scoped(database, vec![Action::Read, Action::Write])
    }
}
