//! The query engine: SQL through DataFusion over storage, and InfluxQL statements.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::common::ScalarValue;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::SessionState;
use datafusion::prelude::{SessionConfig, SessionContext};
use sluice_storage::Storage;

use crate::error::{Error, Result};
use crate::influxql::{self, StatementResult};
use crate::provider::{CATALOG, DatabaseCatalogList, SCHEMA};

/// The result of a SQL query: an Arrow schema and the rows.
#[derive(Debug, Clone)]
pub struct QueryOutput {
    /// The columns, also when there are no rows.
    pub schema: SchemaRef,
    /// The rows, in as many batches as DataFusion produced.
    pub batches: Vec<RecordBatch>,
}

impl QueryOutput {
    /// Total rows over all batches.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }
}

/// Runs SQL and InfluxQL queries against a [`Storage`].
///
/// Cheap to clone; holds the storage handle and a prepared DataFusion session state that
/// each SQL query clones (so function registries and optimizer rules are built once).
/// Every query reads the storage catalog and data afresh: data acknowledged by a write is
/// visible to the next query.
#[derive(Clone)]
pub struct QueryEngine {
    storage: Storage,
    base_state: Arc<SessionState>,
}

impl std::fmt::Debug for QueryEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryEngine").finish_non_exhaustive()
    }
}

impl QueryEngine {
    /// An engine over `storage`. SQL sees each database as catalog `public`, schema `iox`
    /// (as InfluxDB 3 does), with `information_schema` enabled.
    pub fn new(storage: Storage) -> Self {
        let config = SessionConfig::new()
            .with_default_catalog_and_schema(CATALOG, SCHEMA)
            .with_create_default_catalog_and_schema(false)
            .with_information_schema(true)
            .with_target_partitions(2);
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_default_features()
            .build();
        QueryEngine {
            storage,
            base_state: Arc::new(state),
        }
    }

    /// The storage this engine reads.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// Runs one SQL statement on database `db`. `$name` placeholders are bound from
    /// `params` (JSON strings, numbers, booleans and null; each becomes the matching SQL
    /// literal type).
    ///
    /// # Errors
    /// [`Error::DatabaseNotFound`] for an unknown database; [`Error::DataFusion`] for a
    /// query that does not parse, plan or run (including a placeholder without a value);
    /// [`Error::InvalidParam`] for an array or object parameter.
    pub async fn sql(
        &self,
        db: &str,
        sql: &str,
        params: Option<&serde_json::Map<String, serde_json::Value>>,
    ) -> Result<QueryOutput> {
        self.check_database(db)?;
        let ctx = self.context(db);
        let mut frame = ctx.sql(sql).await?;
        if let Some(params) = params
            && !params.is_empty()
        {
            let mut values = HashMap::new();
            for (name, value) in params {
                values.insert(name.clone(), json_to_scalar(name, value)?);
            }
            frame = frame.with_param_values(values)?;
        }
        let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
        let batches = frame.collect().await?;
        Ok(QueryOutput { schema, batches })
    }

    /// Runs every statement of an InfluxQL query, returning one result per statement in
    /// order. `db` is the request's default database (the v1 `db` parameter); statements
    /// may name another (`FROM db..m`, `ON db`). `params` binds `$name` placeholders.
    ///
    /// A statement that fails yields a result with `error` set; the others still run (as
    /// InfluxDB does). A query that does not parse at all fails as a whole.
    ///
    /// # Errors
    /// [`Error::InfluxQlParse`] when the text does not parse.
    pub async fn influxql(
        &self,
        db: Option<&str>,
        query: &str,
        params: Option<&HashMap<String, sluice_influxql::ParamValue>>,
    ) -> Result<Vec<StatementResult>> {
        let parsed = match params {
            Some(p) => sluice_influxql::parse_with_params(query, p)?,
            None => sluice_influxql::parse(query)?,
        };
        let mut results = Vec::with_capacity(parsed.statements.len());
        for (id, statement) in parsed.statements.iter().enumerate() {
            let outcome = influxql::run_statement(&self.storage, db, statement).await;
            results.push(match outcome {
                Ok(series) => StatementResult {
                    statement_id: id,
                    series,
                    error: None,
                },
                Err(e) => StatementResult {
                    statement_id: id,
                    series: Vec::new(),
                    error: Some(e.to_string()),
                },
            });
        }
        Ok(results)
    }

    fn check_database(&self, db: &str) -> Result<()> {
        if self.storage.databases().iter().any(|d| d.name == db) {
            Ok(())
        } else {
            Err(Error::DatabaseNotFound(db.to_owned()))
        }
    }

    /// A session over `db` only: cloned from the prepared state with a catalog list of
    /// its own, so concurrent queries on other databases never see each other's tables.
    fn context(&self, db: &str) -> SessionContext {
        let state = SessionStateBuilder::new_from_existing((*self.base_state).clone())
            .with_catalog_list(Arc::new(DatabaseCatalogList::new(self.storage.clone(), db)))
            .build();
        SessionContext::new_with_state(state)
    }
}

fn json_to_scalar(name: &str, value: &serde_json::Value) -> Result<ScalarValue> {
    use serde_json::Value;
    Ok(match value {
        Value::Null => ScalarValue::Null,
        Value::Bool(b) => ScalarValue::Boolean(Some(*b)),
        Value::String(s) => ScalarValue::Utf8(Some(s.clone())),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                ScalarValue::Int64(Some(i))
            } else if let Some(u) = n.as_u64() {
                ScalarValue::UInt64(Some(u))
            } else {
                ScalarValue::Float64(n.as_f64())
            }
        }
        Value::Array(_) | Value::Object(_) => {
            return Err(Error::InvalidParam {
                name: name.to_owned(),
                reason: "expected a string, number, boolean or null".to_owned(),
            });
        }
    })
}
