//! DataFusion catalog, schema and table providers over one sluice database: each table
//! reads `Storage::scan` with time-range and tag-equality filters and projections pushed
//! down; the `system` schema lists the database's Parquet files and caches.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, CatalogProviderList, SchemaProvider, Session};
use datafusion::common::{Column, ScalarValue};
use datafusion::datasource::MemTable;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::memory_pool::MemoryLimit;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use futures::TryStreamExt;
use sluice_storage::{ColumnKind, ScanRequest, Storage, TableInfo, TagMatch, conform};

use crate::time_chunks;

/// The catalog name SQL sees (as in InfluxDB 3).
pub(crate) const CATALOG: &str = "public";
/// The schema holding a database's tables (as in InfluxDB 3).
pub(crate) const SCHEMA: &str = "iox";
/// The schema of tables about the database itself (as in InfluxDB 3).
pub(crate) const SYSTEM_SCHEMA: &str = "system";

/// The Arrow schema of a table: tags as `Dictionary(Int32, Utf8)`, fields by type, `time`.
pub(crate) fn table_schema(info: &TableInfo) -> SchemaRef {
    let fields: Vec<Field> = info
        .columns
        .iter()
        .map(|c| Field::new(&c.name, c.kind.data_type(), c.kind != ColumnKind::Time))
        .collect();
    Arc::new(Schema::new(fields))
}

/// A catalog list holding exactly one catalog, `public`, whose schema `iox` is one
/// database; built per query so concurrent queries on other databases never interfere.
#[derive(Debug)]
pub(crate) struct DatabaseCatalogList {
    catalog: Arc<DatabaseCatalog>,
}

impl DatabaseCatalogList {
    pub(crate) fn new(storage: Storage, db: &str) -> Self {
        DatabaseCatalogList {
            catalog: Arc::new(DatabaseCatalog {
                schema: Arc::new(DatabaseSchema {
                    storage: storage.clone(),
                    db: db.to_owned(),
                }),
                system: Arc::new(SystemSchema {
                    storage,
                    db: db.to_owned(),
                }),
            }),
        }
    }
}

impl CatalogProviderList for DatabaseCatalogList {
    fn register_catalog(
        &self,
        _name: String,
        _catalog: Arc<dyn CatalogProvider>,
    ) -> Option<Arc<dyn CatalogProvider>> {
        None
    }

    fn catalog_names(&self) -> Vec<String> {
        vec![CATALOG.to_owned()]
    }

    fn catalog(&self, name: &str) -> Option<Arc<dyn CatalogProvider>> {
        (name == CATALOG).then(|| self.catalog.clone() as Arc<dyn CatalogProvider>)
    }
}

#[derive(Debug)]
struct DatabaseCatalog {
    schema: Arc<DatabaseSchema>,
    system: Arc<SystemSchema>,
}

impl CatalogProvider for DatabaseCatalog {
    fn schema_names(&self) -> Vec<String> {
        vec![SCHEMA.to_owned(), SYSTEM_SCHEMA.to_owned()]
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        match name {
            SCHEMA => Some(self.schema.clone() as Arc<dyn SchemaProvider>),
            SYSTEM_SCHEMA => Some(self.system.clone() as Arc<dyn SchemaProvider>),
            _ => None,
        }
    }
}

/// `system`: tables about the database, built from the storage engine at each lookup.
/// `system.parquet_files` lists its live Parquet files (InfluxDB 3's columns:
/// `table_name`, `path`, `size_bytes`, `row_count`, `min_time`, `max_time`, the times in
/// ns since the epoch); `system.last_caches` and `system.distinct_caches` its caches
/// (see [`crate::caches`]); `system.nodes` this node and, on a query node, the others
/// whose files it reads (`node_id`, `mode`, `parquet_files`, `size_bytes`,
/// `last_refresh`: when their manifest was last read).
#[derive(Debug)]
struct SystemSchema {
    storage: Storage,
    db: String,
}

/// The tables of [`SystemSchema`].
const PARQUET_FILES: &str = "parquet_files";
const LAST_CACHES: &str = "last_caches";
const DISTINCT_CACHES: &str = "distinct_caches";
const NODES: &str = "nodes";
const SYSTEM_TABLES: [&str; 4] = [PARQUET_FILES, LAST_CACHES, DISTINCT_CACHES, NODES];

impl SystemSchema {
    /// A table of the rows `rows` builds now.
    fn snapshot(
        &self,
        rows: fn(&Storage, &str) -> sluice_storage::Result<RecordBatch>,
    ) -> DfResult<Arc<dyn TableProvider>> {
        let batch =
            rows(&self.storage, &self.db).map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(Arc::new(MemTable::try_new(
            batch.schema(),
            vec![vec![batch]],
        )?))
    }

    fn parquet_files(&self) -> DfResult<Arc<dyn TableProvider>> {
        let files = self
            .storage
            .parquet_files(&self.db)
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let schema = Arc::new(Schema::new(vec![
            Field::new("table_name", DataType::Utf8, false),
            Field::new("path", DataType::Utf8, false),
            Field::new("size_bytes", DataType::Int64, false),
            Field::new("row_count", DataType::Int64, false),
            Field::new("min_time", DataType::Int64, false),
            Field::new("max_time", DataType::Int64, false),
        ]));
        let int = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                files.iter().map(|f| &f.table),
            )),
            Arc::new(StringArray::from_iter_values(files.iter().map(|f| &f.path))),
            Arc::new(Int64Array::from_iter_values(
                files.iter().map(|f| int(f.size_bytes)),
            )),
            Arc::new(Int64Array::from_iter_values(
                files.iter().map(|f| int(f.row_count)),
            )),
            Arc::new(Int64Array::from_iter_values(
                files.iter().map(|f| f.min_time),
            )),
            Arc::new(Int64Array::from_iter_values(
                files.iter().map(|f| f.max_time),
            )),
        ];
        let batch = RecordBatch::try_new(schema.clone(), columns)?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }

    fn nodes(&self) -> DfResult<Arc<dyn TableProvider>> {
        let nodes = self.storage.nodes();
        let schema = Arc::new(Schema::new(vec![
            Field::new("node_id", DataType::Utf8, true),
            Field::new("mode", DataType::Utf8, false),
            Field::new("parquet_files", DataType::Int64, false),
            Field::new("size_bytes", DataType::Int64, false),
            Field::new(
                "last_refresh",
                DataType::Timestamp(TimeUnit::Nanosecond, None),
                true,
            ),
            Field::new("advertise_url", DataType::Utf8, true),
        ]));
        let int = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let nanos = |t: std::time::SystemTime| {
            t.duration_since(std::time::UNIX_EPOCH)
                .ok()
                .and_then(|d| i64::try_from(d.as_nanos()).ok())
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter(
                nodes.iter().map(|n| n.node_id.as_deref()),
            )),
            Arc::new(StringArray::from_iter_values(nodes.iter().map(|n| &n.mode))),
            Arc::new(Int64Array::from_iter_values(
                nodes.iter().map(|n| int(n.parquet_files)),
            )),
            Arc::new(Int64Array::from_iter_values(
                nodes.iter().map(|n| int(n.size_bytes)),
            )),
            Arc::new(TimestampNanosecondArray::from_iter(
                nodes.iter().map(|n| n.manifest_read_at.and_then(nanos)),
            )),
            Arc::new(StringArray::from_iter(
                nodes.iter().map(|n| n.advertise_url.as_deref()),
            )),
        ];
        let batch = RecordBatch::try_new(schema.clone(), columns)?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}

#[async_trait]
impl SchemaProvider for SystemSchema {
    fn table_names(&self) -> Vec<String> {
        SYSTEM_TABLES.iter().map(|t| (*t).to_owned()).collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        match name {
            PARQUET_FILES => self.parquet_files().map(Some),
            LAST_CACHES => self.snapshot(crate::caches::last_caches).map(Some),
            DISTINCT_CACHES => self.snapshot(crate::caches::distinct_caches).map(Some),
            NODES => self.nodes().map(Some),
            _ => Ok(None),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        SYSTEM_TABLES.contains(&name)
    }
}

/// The tables of one database, read from the storage catalog on every lookup so new
/// tables and columns are visible at once.
#[derive(Debug)]
struct DatabaseSchema {
    storage: Storage,
    db: String,
}

#[async_trait]
impl SchemaProvider for DatabaseSchema {
    fn table_names(&self) -> Vec<String> {
        self.storage
            .tables(&self.db)
            .map(|ts| ts.into_iter().map(|t| t.name).collect())
            .unwrap_or_default()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let Ok(tables) = self.storage.tables(&self.db) else {
            return Ok(None);
        };
        Ok(tables.into_iter().find(|t| t.name == name).map(|info| {
            Arc::new(StorageTable::new(self.storage.clone(), &self.db, &info))
                as Arc<dyn TableProvider>
        }))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.storage
            .tables(&self.db)
            .is_ok_and(|ts| ts.iter().any(|t| t.name == name))
    }
}

/// One table of one database as DataFusion sees it.
#[derive(Debug)]
pub(crate) struct StorageTable {
    storage: Storage,
    db: String,
    table: String,
    schema: SchemaRef,
    tags: HashSet<String>,
}

impl StorageTable {
    /// At most how many series the table's largest source holds
    /// ([`Storage::most_series_in_a_source`]).
    pub(crate) fn most_series_in_a_source(&self) -> u64 {
        self.storage.most_series_in_a_source(&self.db, &self.table)
    }

    pub(crate) fn new(storage: Storage, db: &str, info: &TableInfo) -> Self {
        StorageTable {
            storage,
            db: db.to_owned(),
            table: info.name.clone(),
            schema: table_schema(info),
            tags: info
                .columns
                .iter()
                .filter(|c| c.kind == ColumnKind::Tag)
                .map(|c| c.name.clone())
                .collect(),
        }
    }
}

#[async_trait]
impl TableProvider for StorageTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                let mut request = ScanRequest::default();
                if self.push_filter(f, &mut request) {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let mut request = ScanRequest::default();
        for f in filters {
            self.push_filter(f, &mut request);
        }
        let projected = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => self.schema.clone(),
        };
        // No columns at all (`count(*)`, or a join side only counted): storage is asked
        // for `time`, which every row has, so the batches keep their row counts.
        let mut columns: Vec<String> = projected
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        if columns.is_empty() {
            columns.push("time".to_owned());
        }
        request.projection = Some(columns);
        // A time range that is empty after intersecting bounds matches nothing.
        let empty = request.time_range.is_some_and(|(s, e)| s >= e);
        // The rows are read outside the query's memory pool: a scan stops once they
        // would not fit in what the pool has left, and rows that will not fit at once
        // are read in time chunks as the plan runs, one chunk held at a time.
        let pool = &state.runtime_env().memory_pool;
        if let MemoryLimit::Finite(limit) = pool.memory_limit() {
            let left = limit.saturating_sub(pool.reserved());
            request.max_bytes = Some(left);
            if !empty && let Some(scan) = self.chunked(&request, left, &projected)? {
                let no_order: Vec<datafusion::physical_expr::LexOrdering> = Vec::new();
                return Ok(Arc::new(StreamingTableExec::try_new(
                    projected,
                    vec![Arc::new(scan)],
                    None,
                    no_order,
                    false,
                    None,
                )?));
            }
        }
        let batches = if empty {
            Vec::new()
        } else {
            let result = self
                .storage
                .scan(&self.db, &self.table, &request)
                .await
                .map_err(scan_error)?;
            result
                .batches
                .iter()
                .map(|b| conform(b, &projected))
                .collect::<Result<Vec<_>, _>>()?
        };
        Ok(MemorySourceConfig::try_new_exec(
            &[batches],
            projected,
            None,
        )?)
    }
}

/// A storage error as DataFusion reports it: a scan over its `max_bytes` as the pool's own
/// refusals are (the query's memory limit).
fn scan_error(e: sluice_storage::Error) -> DataFusionError {
    match e {
        sluice_storage::Error::ScanTooLarge { .. } => {
            DataFusionError::ResourcesExhausted(e.to_string())
        }
        e => DataFusionError::External(Box::new(e)),
    }
}

/// A scan read as its plan runs, one time chunk after another (each merged on its own:
/// chunks hold disjoint times, so together they are the whole scan's rows), a chunk cut
/// in four again (inside `data`, the table's earliest and latest times) when its rows do
/// not fit after all.
#[derive(Debug)]
struct ChunkedScan {
    storage: Storage,
    db: String,
    table: String,
    request: ScanRequest,
    chunks: Vec<(i64, i64)>,
    data: (i64, i64),
    schema: SchemaRef,
}

impl PartitionStream for ChunkedScan {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let (storage, db, table) = (self.storage.clone(), self.db.clone(), self.table.clone());
        let (request, schema, data) = (self.request.clone(), self.schema.clone(), self.data);
        let pending: VecDeque<(i64, i64)> = self.chunks.iter().copied().collect();
        let chunks = futures::stream::try_unfold(pending, move |mut pending| {
            let (storage, db, table, request, schema) = (
                storage.clone(),
                db.clone(),
                table.clone(),
                request.clone(),
                schema.clone(),
            );
            async move {
                while let Some((start, end)) = pending.pop_front() {
                    let chunk = ScanRequest {
                        time_range: Some((start, end)),
                        ..request.clone()
                    };
                    match storage.scan(&db, &table, &chunk).await {
                        Ok(result) => {
                            let batches = result
                                .batches
                                .iter()
                                .map(|b| conform(b, &schema))
                                .collect::<Result<Vec<_>, _>>()?;
                            return Ok(Some((batches, pending)));
                        }
                        Err(e @ sluice_storage::Error::ScanTooLarge { .. }) => {
                            let parts = time_chunks::cut(start, end, data, 4, None);
                            if parts.len() < 2 {
                                return Err(scan_error(e));
                            }
                            for part in parts.into_iter().rev() {
                                pending.push_front(part);
                            }
                        }
                        Err(e) => return Err(scan_error(e)),
                    }
                }
                Ok(None)
            }
        });
        let batches = chunks
            .map_ok(|batches| futures::stream::iter(batches.into_iter().map(Ok)))
            .try_flatten();
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), batches))
    }
}

impl StorageTable {
    /// `request` read in time chunks when its rows, by storage's estimate, would take
    /// more than a quarter of `memory_left` (the query's operators need the rest); `None`
    /// when they fit.
    fn chunked(
        &self,
        request: &ScanRequest,
        memory_left: usize,
        schema: &SchemaRef,
    ) -> DfResult<Option<ChunkedScan>> {
        let external = |e: sluice_storage::Error| DataFusionError::External(Box::new(e));
        let Some(extent) = self
            .storage
            .scan_extent(&self.db, &self.table, request)
            .map_err(external)?
        else {
            return Ok(None);
        };
        let bytes = extent.bytes;
        let parts = (bytes as f64 / (memory_left.max(1) as f64 / 4.0)).ceil() as i64;
        let data = time_chunks::data_between(request.time_range, &extent);
        let Some(data) = data.filter(|_| parts > 1) else {
            return Ok(None);
        };
        let (start, end) = request.time_range.unwrap_or((i64::MIN, i64::MAX));
        let chunks = time_chunks::cut(start, end, data, parts, None);
        if chunks.len() > 1 {
            tracing::debug!(
                table = %self.table,
                bytes,
                chunks = chunks.len(),
                "sql scan reads in time chunks"
            );
        }
        Ok((chunks.len() > 1).then(|| ChunkedScan {
            storage: self.storage.clone(),
            db: self.db.clone(),
            table: self.table.clone(),
            request: request.clone(),
            chunks,
            data,
            schema: schema.clone(),
        }))
    }

    /// Narrows `request` by `filter` if it is a time bound, a tag equality, a tag `IN`
    /// list or an OR of equalities on one tag, or an AND of those; returns whether it could. Rows outside the request are dropped by storage,
    /// and DataFusion re-applies the filter (Inexact), so a partial push is still correct.
    fn push_filter(&self, filter: &Expr, request: &mut ScanRequest) -> bool {
        match filter {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                if *op == Operator::And {
                    let l = self.push_filter(left, request);
                    let r = self.push_filter(right, request);
                    return l || r;
                }
                if *op == Operator::Or {
                    // `host = 'a' OR host = 'b'` (DataFusion also writes short `IN`
                    // lists this way).
                    let mut key = None;
                    let mut values = Vec::new();
                    if !self.tag_equalities(filter, &mut key, &mut values) {
                        return false;
                    }
                    let Some(key) = key else { return false };
                    request.tag_matches.push(TagMatch::one_of(key, values));
                    return true;
                }
                let (col, op, value) = match (column_of(left), column_of(right)) {
                    (Some(c), None) => (c, *op, right.as_ref()),
                    (None, Some(c)) => match op.swap() {
                        Some(op) => (c, op, left.as_ref()),
                        None => return false,
                    },
                    _ => return false,
                };
                if col.name == "time" {
                    let Some(t) = timestamp_ns(value) else {
                        return false;
                    };
                    let (start, end) = match op {
                        Operator::Gt => (t.saturating_add(1), i64::MAX),
                        Operator::GtEq => (t, i64::MAX),
                        Operator::Lt => (i64::MIN, t),
                        Operator::LtEq => (i64::MIN, t.saturating_add(1)),
                        Operator::Eq => (t, t.saturating_add(1)),
                        _ => return false,
                    };
                    intersect(request, start, end);
                    true
                } else if op == Operator::Eq && self.tags.contains(&col.name) {
                    let Some(v) = string_value(value) else {
                        return false;
                    };
                    request
                        .tag_matches
                        .push(TagMatch::equals(col.name.clone(), v));
                    true
                } else {
                    false
                }
            }
            Expr::InList(list) if !list.negated => {
                let Some(col) = column_of(&list.expr) else {
                    return false;
                };
                if !self.tags.contains(&col.name) {
                    return false;
                }
                let Some(values) = list
                    .list
                    .iter()
                    .map(string_value)
                    .collect::<Option<Vec<_>>>()
                else {
                    return false;
                };
                request
                    .tag_matches
                    .push(TagMatch::one_of(col.name.clone(), values));
                true
            }
            Expr::Between(b) if !b.negated => {
                let Some(col) = column_of(&b.expr) else {
                    return false;
                };
                if col.name != "time" {
                    return false;
                }
                match (timestamp_ns(&b.low), timestamp_ns(&b.high)) {
                    (Some(lo), Some(hi)) => {
                        intersect(request, lo, hi.saturating_add(1));
                        true
                    }
                    _ => false,
                }
            }
            _ => false,
        }
    }
}

impl StorageTable {
    /// Whether `expr` is `tag = 'v'` or an OR of those all on one tag; collects the tag
    /// in `key` and the values in `values`.
    fn tag_equalities(
        &self,
        expr: &Expr,
        key: &mut Option<String>,
        values: &mut Vec<String>,
    ) -> bool {
        let Expr::BinaryExpr(BinaryExpr { left, op, right }) = expr else {
            return false;
        };
        match op {
            Operator::Or => {
                self.tag_equalities(left, key, values) && self.tag_equalities(right, key, values)
            }
            Operator::Eq => {
                let (col, value) = match (column_of(left), column_of(right)) {
                    (Some(c), None) => (c, right.as_ref()),
                    (None, Some(c)) => (c, left.as_ref()),
                    _ => return false,
                };
                if !self.tags.contains(&col.name) || key.as_ref().is_some_and(|k| *k != col.name) {
                    return false;
                }
                let Some(v) = string_value(value) else {
                    return false;
                };
                *key = Some(col.name.clone());
                values.push(v);
                true
            }
            _ => false,
        }
    }
}

fn intersect(request: &mut ScanRequest, start: i64, end: i64) {
    request.time_range = Some(match request.time_range {
        Some((s, e)) => (s.max(start), e.min(end)),
        None => (start, end),
    });
}

fn column_of(expr: &Expr) -> Option<&Column> {
    match expr {
        Expr::Column(c) => Some(c),
        Expr::Cast(c) => column_of(&c.expr),
        Expr::TryCast(c) => column_of(&c.expr),
        _ => None,
    }
}

fn scalar_of(expr: &Expr) -> Option<&ScalarValue> {
    match expr {
        Expr::Literal(v, _) => Some(v),
        _ => None,
    }
}

fn timestamp_ns(expr: &Expr) -> Option<i64> {
    let v = scalar_of(expr)?;
    let v = match v {
        ScalarValue::Dictionary(_, inner) => inner.as_ref(),
        v => v,
    };
    match v {
        ScalarValue::TimestampNanosecond(Some(t), _) => Some(*t),
        ScalarValue::TimestampMicrosecond(Some(t), _) => t.checked_mul(1_000),
        ScalarValue::TimestampMillisecond(Some(t), _) => t.checked_mul(1_000_000),
        ScalarValue::TimestampSecond(Some(t), _) => t.checked_mul(1_000_000_000),
        _ => None,
    }
}

/// The text of a string literal.
pub(crate) fn string_value(expr: &Expr) -> Option<String> {
    let v = scalar_of(expr)?;
    let v = match v {
        ScalarValue::Dictionary(_, inner) => inner.as_ref(),
        v => v,
    };
    match v {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Some(s.clone()),
        _ => None,
    }
}
