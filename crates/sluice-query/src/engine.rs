//! The query engine: SQL through DataFusion over storage, and InfluxQL statements.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::context::SessionState;
use datafusion::execution::memory_pool::{
    GreedyMemoryPool, MemoryConsumer, MemoryPool, TrackConsumersPool,
};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::{SessionStateBuilder, TaskContext};
use datafusion::physical_plan::execute_stream;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::StreamExt as _;
use sluice_influxql::Query;
use sluice_storage::Storage;

use crate::caches::{CacheFunction, CacheKind};
use crate::error::{Error, Result};
use crate::function_memory::MAX_CONSTANT_BYTES;
use crate::influxql::{self, StatementResult};
use crate::limits::{Budget, QueryLimits};
use crate::provider::{CATALOG, DatabaseCatalogList, SCHEMA};

/// Stack of the threads that parse and run queries. The InfluxQL parser and the walks of
/// a parsed query recurse once per nesting level, up to
/// `sluice_influxql::MAX_NESTING_DEPTH`: a debug build needs about 20 KiB per level to
/// parse, far more than an async worker's 2 MiB allows at the limit (a release build
/// needs a tenth). DataFusion's SQL planner recurses once per operator, up to
/// [`MAX_SQL_OPERATORS`]: planning `SELECT 1 + 1 + …` at the limit needs 20 to 24 MiB in
/// a debug build (and overflowed the 16 MiB a release build is well within), so builds
/// with debug assertions get 64 MiB. Reserved address space, touched only as deep as a
/// query goes.
pub const QUERY_STACK_BYTES: usize = if cfg!(debug_assertions) {
    64 << 20
} else {
    16 << 20
};

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
///
/// Every query runs on a thread of its own while it runs (so a long InfluxQL loop never
/// holds up the server's async workers; the threads are reused) under the engine's
/// [`QueryLimits`]: it is stopped at the timeout, when it needs more memory than allowed,
/// past a `max-select-*` guard, or when the future waiting for it is dropped (its client
/// went away).
#[derive(Clone)]
pub struct QueryEngine {
    storage: Storage,
    base_state: Arc<SessionState>,
    limits: QueryLimits,
}

impl std::fmt::Debug for QueryEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryEngine").finish_non_exhaustive()
    }
}

impl QueryEngine {
    /// An engine over `storage` with the default [`QueryLimits`]. SQL sees each database
    /// as catalog `public`, schema `iox` (as InfluxDB 3 does), with `information_schema`
    /// enabled.
    pub fn new(storage: Storage) -> Self {
        Self::with_limits(storage, QueryLimits::default())
    }

    /// An engine over `storage` whose queries run under `limits`.
    pub fn with_limits(storage: Storage, limits: QueryLimits) -> Self {
        let config = SessionConfig::new()
            .with_default_catalog_and_schema(CATALOG, SCHEMA)
            .with_create_default_catalog_and_schema(false)
            .with_information_schema(true)
            .with_target_partitions(2);
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_default_features()
            .with_optimizer_rule(Arc::new(crate::group_keys::GroupKeysByValue))
            .with_physical_optimizer_rule(Arc::new(crate::yield_points::JoinsYield))
            .build();
        QueryEngine {
            storage,
            base_state: Arc::new(state),
            limits,
        }
    }

    /// The bounds queries run under.
    pub fn limits(&self) -> &QueryLimits {
        &self.limits
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
        check_sql_text(sql)?;
        let engine = self.clone();
        let (db, sql, params) = (db.to_owned(), sql.to_owned(), params.cloned());
        self.run_guarded(move |budget| async move {
            engine.sql_inner(&db, &sql, params.as_ref(), &budget).await
        })
        .await
    }

    async fn sql_inner(
        &self,
        db: &str,
        sql: &str,
        params: Option<&serde_json::Map<String, serde_json::Value>>,
        budget: &Budget,
    ) -> Result<QueryOutput> {
        let limit = self.limits.memory_limit_bytes;
        let ctx = self.context(db)?;
        let run = async {
            let mut frame = ctx.sql_with_options(sql, read_only()).await?;
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
            let task: Arc<TaskContext> = Arc::new(frame.task_ctx());
            let plan = frame.create_physical_plan().await?;
            // The result counts against the query's memory pool too: a cross join's
            // output is what grows without bound.
            let reservation = MemoryConsumer::new("query result").register(task.memory_pool());
            let mut stream = execute_stream(plan, task)?;
            let mut batches = Vec::new();
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                reservation.try_grow(batch.get_array_memory_size())?;
                budget.check()?;
                batches.push(batch);
            }
            Ok::<_, Error>(QueryOutput { schema, batches })
        };
        run.await.map_err(|e| match e {
            Error::DataFusion(df) if is_resources_exhausted(&df) => {
                tracing_detail(&df);
                Error::MemoryLimit { limit }
            }
            other => budget.explain(other),
        })
    }

    /// Parses InfluxQL text (binding `params`). The parser recurses once per nesting
    /// level, up to [`sluice_influxql::MAX_NESTING_DEPTH`], which a debug build could not
    /// fit in an async worker's 2 MiB: long text (a debug build: past 48 bytes; a release
    /// build: 512) is parsed on a query thread, shorter text where the caller is.
    ///
    /// # Errors
    /// [`Error::InfluxQlParse`] when the text does not parse.
    pub async fn parse_influxql(
        &self,
        query: &str,
        params: Option<&HashMap<String, sluice_influxql::ParamValue>>,
    ) -> Result<Query> {
        if query.len() <= INLINE_PARSE_BYTES {
            return Ok(parse_influxql_text(query, params)?);
        }
        let (query, params) = (query.to_owned(), params.cloned());
        on_query_stack(move || Ok(parse_influxql_text(&query, params.as_ref())?)).await
    }

    /// Deletes the rows of storage database `db` with times in `[start, stop]`
    /// (nanoseconds, both inclusive) that the InfluxDB 2 delete predicate `predicate`
    /// selects (`_measurement="cpu" AND host="a"`; empty: every row in the range), as
    /// `POST /api/v2/delete` does. Durable when it returns (see
    /// [`sluice_storage::Storage::delete`]).
    ///
    /// # Errors
    /// [`Error::InfluxQlParse`] or [`Error::Invalid`] for a predicate that does not
    /// parse or cannot select series (see the module `delete_predicate`);
    /// [`Error::Invalid`] when `start` is after `stop`; storage errors.
    pub async fn delete_where(
        &self,
        db: &str,
        start: i64,
        stop: i64,
        predicate: &str,
    ) -> Result<()> {
        let (storage, db_name, predicate) =
            (self.storage.clone(), db.to_owned(), predicate.to_owned());
        let request = on_query_stack(move || {
            crate::delete_predicate::delete_request(&storage, &db_name, start, stop, &predicate)
        })
        .await?;
        match self.storage.delete(db, &request).await {
            // Dropped meanwhile: nothing left to delete.
            Ok(()) | Err(sluice_storage::Error::TableNotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
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
        let parsed = self.parse_influxql(query, params).await?;
        self.influxql_parsed(db, parsed).await
    }

    /// Runs the statements of a query parsed by [`QueryEngine::parse_influxql`], as
    /// [`QueryEngine::influxql`] does.
    ///
    /// # Errors
    /// [`Error::QueryTimeout`] only if the query thread could not report in time; a
    /// statement's own failure (including a timeout) is in its result.
    pub async fn influxql_parsed(
        &self,
        db: Option<&str>,
        parsed: Query,
    ) -> Result<Vec<StatementResult>> {
        self.influxql_parsed_with_rp(db, None, parsed).await
    }

    /// Runs the statements of a parsed query as [`QueryEngine::influxql_parsed`] does,
    /// with `rp` as the retention policy of every measurement that names none (the v1
    /// `rp` parameter; `None`: each database's default policy).
    ///
    /// # Errors
    /// As [`QueryEngine::influxql_parsed`].
    pub async fn influxql_parsed_with_rp(
        &self,
        db: Option<&str>,
        rp: Option<&str>,
        mut parsed: Query,
    ) -> Result<Vec<StatementResult>> {
        parsed
            .statements
            .iter_mut()
            .for_each(influxql::without_zero_limits);
        let storage = self.storage.clone();
        let db = db.map(str::to_owned);
        let rp = rp.filter(|rp| !rp.is_empty()).map(str::to_owned);
        let n_statements = parsed.statements.len();
        // Filled as statements finish, so a timeout still answers the finished ones.
        let done: Arc<Mutex<Vec<StatementResult>>> = Arc::default();
        let shared = done.clone();
        let outcome = self
            .run_guarded(move |budget| async move {
                for (id, statement) in parsed.statements.iter().enumerate() {
                    let outcome = influxql::run_statement(
                        &storage,
                        db.as_deref(),
                        rp.as_deref(),
                        statement,
                        &budget,
                    )
                    .await
                    .map_err(|e| budget.explain(e));
                    let stop =
                        matches!(outcome, Err(Error::QueryTimeout { .. } | Error::Cancelled));
                    let result = match outcome {
                        Ok(series) => StatementResult {
                            statement_id: id,
                            series,
                            error: None,
                            time_zone: influxql::time_zone_of(statement),
                        },
                        Err(e) => StatementResult {
                            statement_id: id,
                            series: Vec::new(),
                            error: Some(e.to_string()),
                            time_zone: None,
                        },
                    };
                    shared.lock().expect("not poisoned").push(result);
                    if stop {
                        // Out of time or the client left: later statements would fail
                        // the same way.
                        break;
                    }
                }
                Ok(())
            })
            .await;
        let mut results = std::mem::take(&mut *done.lock().expect("not poisoned"));
        match outcome {
            Ok(()) => {}
            // Stopped between checks: the statement that was running fails with the
            // reason, as InfluxDB 1.x reports `query-timeout limit exceeded`.
            Err(e @ (Error::QueryTimeout { .. } | Error::Cancelled)) => {
                if results.len() < n_statements && results.last().is_none_or(|r| r.error.is_none())
                {
                    results.push(StatementResult {
                        statement_id: results.len(),
                        series: Vec::new(),
                        error: Some(e.to_string()),
                        time_zone: None,
                    });
                }
            }
            Err(e) => return Err(e),
        }
        Ok(results)
    }

    /// Runs `work` on a query thread (see [`query_threads`]) with a fresh [`Budget`], and
    /// waits for it. The work is stopped (its future dropped, its budget checks failing)
    /// at the timeout or when the returned future is dropped.
    ///
    /// # Errors
    /// [`Error::QueryTimeout`], or whatever `work` fails with.
    ///
    /// # Panics
    /// Outside a tokio runtime (a panic of `work` is [`Error::Panicked`]).
    async fn run_guarded<T, F, Fut>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Budget) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T>>,
    {
        let cancelled = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(tokio::sync::Notify::new());
        let budget = Budget::new(self.limits, cancelled.clone());
        let timeout = self.limits.timeout;
        let runtime = tokio::runtime::Handle::current();
        let stopped = stop.clone();
        let stop_signal = budget.stop_signal();
        let _guard = StopOnDrop { cancelled, stop };
        on_query_stack(move || {
            // This thread only waits for the query: storage may read files on it.
            sluice_storage::with_inline_reads(stop_signal, || {
                runtime.block_on(async move {
                    let work = work(budget);
                    let deadline = async {
                        if timeout.is_zero() {
                            std::future::pending::<()>().await;
                        }
                        tokio::time::sleep(timeout).await;
                    };
                    tokio::select! {
                        result = work => result,
                        () = deadline => Err(Error::QueryTimeout { limit: timeout }),
                        () = stopped.notified() => Err(Error::Cancelled),
                    }
                })
            })
        })
        .await
    }

    fn check_database(&self, db: &str) -> Result<()> {
        if self.storage.all_databases().iter().any(|d| d.name == db) {
            Ok(())
        } else {
            Err(Error::DatabaseNotFound(db.to_owned()))
        }
    }

    /// A session over `db` only: cloned from the prepared state with a catalog list of
    /// its own, so concurrent queries on other databases never see each other's tables.
    ///
    /// Each query has a memory pool of its own of `--query-memory-limit` bytes: a greedy
    /// pool, which fails the allocation that would go over (DataFusion then fails the
    /// query with "resources exhausted") rather than letting the process grow.
    fn context(&self, db: &str) -> Result<SessionContext> {
        let mut runtime = RuntimeEnvBuilder::new();
        let pool = (self.limits.memory_limit_bytes != 0).then(|| {
            let pool: Arc<dyn MemoryPool> = Arc::new(TrackConsumersPool::new(
                GreedyMemoryPool::new(self.limits.memory_limit_bytes),
                NonZeroUsize::new(3).expect("3 is not zero"),
            ));
            pool
        });
        if let Some(pool) = &pool {
            runtime = runtime.with_memory_pool(pool.clone());
        }
        let builder = SessionStateBuilder::new_from_existing((*self.base_state).clone());
        let state = crate::function_memory::bound(builder, &self.base_state, pool)
            .with_runtime_env(runtime.build_arc()?)
            .with_catalog_list(Arc::new(DatabaseCatalogList::new(self.storage.clone(), db)))
            .build();
        let ctx = SessionContext::new_with_state(state);
        for kind in [CacheKind::Last, CacheKind::Distinct] {
            let function = CacheFunction {
                storage: self.storage.clone(),
                db: db.to_owned(),
                kind,
            };
            ctx.register_udtf(kind.function_name(), Arc::new(function));
        }
        Ok(ctx)
    }
}

/// Most operators (`AND`, `OR`, comparisons, arithmetic, signs) one SQL query may hold.
/// DataFusion's parser refuses nesting past 50 levels, but builds `a OR b OR …` in a
/// loop into a tree as deep as the chain is long, which its optimizer then walks
/// recursively: a chain of tens of thousands of terms would overflow any stack.
pub const MAX_SQL_OPERATORS: usize = 1_000;

/// The check [`QueryEngine::sql`] runs on the text before DataFusion parses it: refuses
/// SQL with more than [`MAX_SQL_OPERATORS`] operators, counted on the tokens (no tree is
/// built, so any text is checked in time and stack linear in its length), and string
/// literals longer than [`MAX_CONSTANT_BYTES`] (a projection repeats a literal on every
/// row of a batch: 300 KB over 8,192 rows overflowed a string column). Text that does
/// not tokenize is left to DataFusion to report.
///
/// # Errors
/// [`Error::Invalid`] naming the count or the length and the limit.
pub fn check_sql_text(sql: &str) -> Result<()> {
    use datafusion::sql::sqlparser::ast::DollarQuotedString;
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::keywords::Keyword;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize() else {
        return Ok(());
    };
    let operators = tokens
        .iter()
        .filter(|t| match t {
            Token::Word(w) => matches!(w.keyword, Keyword::AND | Keyword::OR | Keyword::NOT),
            Token::Plus
            | Token::Minus
            | Token::Mul
            | Token::Div
            | Token::Mod
            | Token::Eq
            | Token::DoubleEq
            | Token::Neq
            | Token::Lt
            | Token::Gt
            | Token::LtEq
            | Token::GtEq
            | Token::StringConcat => true,
            _ => false,
        })
        .count();
    if let Some(bytes) = tokens
        .iter()
        .filter_map(|t| match t {
            Token::SingleQuotedString(s)
            | Token::DoubleQuotedString(s)
            | Token::EscapedStringLiteral(s)
            | Token::NationalStringLiteral(s)
            | Token::DollarQuotedString(DollarQuotedString { value: s, .. })
            | Token::HexStringLiteral(s) => Some(s.len()),
            _ => None,
        })
        .find(|&n| n > MAX_CONSTANT_BYTES)
    {
        return Err(too_long_literal(bytes));
    }
    if operators > MAX_SQL_OPERATORS {
        return Err(Error::Invalid(format!(
            "the query has {operators} operators (AND, OR, NOT, comparisons, arithmetic), more than the limit of {MAX_SQL_OPERATORS}: use IN (…) instead of long OR chains"
        )));
    }
    Ok(())
}

/// Longest InfluxQL text [`QueryEngine::parse_influxql`] parses on the calling thread (an
/// async worker, 2 MiB of stack) instead of sending it to a query thread, a round trip
/// that cost a small query about a tenth of its time. Each level of nesting takes at
/// least a byte of text (`((1))` and `- - 1` take two; `--` starts a comment), and the
/// parser needs about 20 KiB of stack per level in a debug build and a tenth of that in
/// a release build: this many levels fit in a quarter of a worker's stack (in a release
/// build, the parser's whole depth limit does). Most dashboard and TSBS queries are
/// shorter.
const INLINE_PARSE_BYTES: usize = if cfg!(debug_assertions) { 48 } else { 512 };

fn parse_influxql_text(
    text: &str,
    params: Option<&HashMap<String, sluice_influxql::ParamValue>>,
) -> std::result::Result<Query, sluice_influxql::Error> {
    match params {
        Some(p) => sluice_influxql::parse_with_params(text, p),
        None => sluice_influxql::parse(text),
    }
}

/// What SQL queries may do: read. DataFusion would otherwise run `COPY … TO '<path>'` and
/// `INSERT INTO` (writing files on the server's host with its rights) and
/// `CREATE EXTERNAL TABLE` (reading them) for anyone allowed to query; InfluxDB 3 refuses
/// such statements in queries too.
fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
}

/// The threads queries are parsed and run on: [`QUERY_STACK_BYTES`] of stack each, kept
/// for a minute after their last query so a busy server reuses them. Creating a thread
/// per query (and its stack's first page faults) was about a tenth of a small query's
/// CPU. The runtime only lends its blocking pool: nothing is ever driven on it, and the
/// work it runs enters the server's runtime (`Handle::block_on`, `Handle::enter`), so
/// tasks a query spawns run there.
fn query_threads() -> &'static tokio::runtime::Runtime {
    static THREADS: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    THREADS.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .thread_name("sluice-query")
            .thread_stack_size(QUERY_STACK_BYTES)
            .thread_keep_alive(std::time::Duration::from_secs(60))
            .build()
            .expect("a runtime without I/O or timers needs no system resources to build")
    })
}

/// Runs `f` on a query thread (see [`query_threads`]) and waits for it. A panic of `f`
/// (or of a task the query spawned, which DataFusion passes on) is logged and returned
/// as [`Error::Panicked`]: the query fails, the server goes on.
///
/// # Panics
/// Outside a tokio runtime.
async fn on_query_stack<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let runtime = tokio::runtime::Handle::current();
    query_threads().spawn_blocking(move || {
        let _entered = runtime.enter();
        let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    });
    match rx.await {
        Ok(Ok(result)) => result,
        Ok(Err(panic)) => {
            let message = panic_message(panic.as_ref());
            tracing::error!(%message, "the query engine panicked on a query");
            Err(Error::Panicked(message))
        }
        Err(_) => Err(Error::Cancelled),
    }
}

/// The text a panic was raised with (`panic!`'s message), or a word saying it had none.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

/// Sets the cancel flag and wakes the query thread's `select!` when the waiting future is
/// dropped.
struct StopOnDrop {
    cancelled: Arc<AtomicBool>,
    stop: Arc<tokio::sync::Notify>,
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.cancelled
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.stop.notify_one();
    }
}

fn is_resources_exhausted(e: &DataFusionError) -> bool {
    matches!(e.find_root(), DataFusionError::ResourcesExhausted(_))
}

/// DataFusion's account of who held the memory, for the operator's log.
fn tracing_detail(e: &DataFusionError) {
    tracing::info!(error = %e, "query stopped at --query-memory-limit");
}

/// A string literal or parameter too long to be repeated on every row.
fn too_long_literal(bytes: usize) -> Error {
    Error::Invalid(format!(
        "a string literal of {bytes} bytes: a literal or parameter may hold at most {MAX_CONSTANT_BYTES} bytes"
    ))
}

fn json_to_scalar(name: &str, value: &serde_json::Value) -> Result<ScalarValue> {
    use serde_json::Value;
    Ok(match value {
        Value::Null => ScalarValue::Null,
        Value::Bool(b) => ScalarValue::Boolean(Some(*b)),
        Value::String(s) if s.len() > MAX_CONSTANT_BYTES => {
            return Err(Error::InvalidParam {
                name: name.to_owned(),
                reason: too_long_literal(s.len()).to_string(),
            });
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_on_a_query_thread_is_an_error_of_the_query() {
        let panicked = on_query_stack::<()>(|| panic!("offset overflow")).await;
        assert!(
            matches!(&panicked, Err(Error::Panicked(m)) if m == "offset overflow"),
            "{panicked:?}"
        );
        let formatted = on_query_stack::<()>(|| panic!("{} rows", 3)).await;
        assert!(
            matches!(&formatted, Err(Error::Panicked(m)) if m == "3 rows"),
            "{formatted:?}"
        );
        // The thread pool goes on.
        assert_eq!(on_query_stack(|| Ok(7)).await.unwrap(), 7);
    }

    fn or_chain(n: usize) -> String {
        let terms: Vec<String> = (0..n).map(|i| format!("v = {i}")).collect();
        format!("SELECT * FROM m WHERE {}", terms.join(" OR "))
    }

    /// The deepest text [`INLINE_PARSE_BYTES`] long parses within a quarter of a worker's
    /// stack: nested signs, parentheses and calls.
    #[test]
    fn text_parsed_on_the_callers_thread_fits_in_a_quarter_of_a_workers_stack() {
        let n = INLINE_PARSE_BYTES;
        let fill = |head: &str, tail: &str, unit_len: usize| {
            let prefix = "SELECT ";
            let suffix = " FROM m";
            let units = (n - prefix.len() - suffix.len() - 1) / unit_len;
            let text = format!(
                "{prefix}{}1{}{suffix}",
                head.repeat(units),
                tail.repeat(units)
            );
            assert!(text.len() <= n, "{}", text.len());
            text
        };
        // `--` starts a comment: signs nest one level per two bytes at most.
        let texts = [
            fill("- ", "", 2),
            fill("-(", ")", 3),
            fill("(", ")", 2),
            fill("abs(", ")", 5),
        ];
        for text in texts {
            let parsed = std::thread::Builder::new()
                .stack_size(512 << 10)
                .spawn(move || parse_influxql_text(&text, None).map(|q| q.to_string()))
                .unwrap()
                .join()
                .expect("the parse fits in the stack");
            // In a release build 512 bytes of `(` pass the depth limit: refused, not
            // overflowing the stack.
            if let Err(e) = parsed {
                assert!(e.to_string().contains("nested deeper"), "{e}");
            }
        }
    }

    #[test]
    fn long_operator_chains_are_refused_before_datafusion_sees_them() {
        assert!(check_sql_text(&or_chain(200)).is_ok());
        let e = check_sql_text(&or_chain(30_000)).unwrap_err();
        let message = e.to_string();
        assert!(
            message.starts_with("the query has ")
                && message.contains(" operators (AND, OR, NOT, comparisons, arithmetic), more than the limit of 1000"),
            "{message}"
        );
        // Operators inside strings and comments do not count.
        let quoted = format!(
            "SELECT '{}' AS s -- {}",
            "+".repeat(5_000),
            "=".repeat(5_000)
        );
        assert!(check_sql_text(&quoted).is_ok());
    }
}
