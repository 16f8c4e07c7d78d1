//! The storage engine's caches in SQL: the `last_cache('table'[, 'name'])` and
//! `distinct_cache('table'[, 'name'])` table functions, and the rows of
//! `system.last_caches` and `system.distinct_caches`.

use std::sync::Arc;

use arrow::array::{ArrayRef, ListBuilder, RecordBatch, StringArray, StringBuilder, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl};
use datafusion::datasource::{MemTable, TableProvider};
use datafusion::error::{DataFusionError, Result as DfResult};
use sluice_storage::Storage;

use crate::provider::string_value;

/// Which cache a table function reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CacheKind {
    Last,
    Distinct,
}

impl CacheKind {
    /// The SQL name of the table function.
    pub(crate) fn function_name(self) -> &'static str {
        match self {
            CacheKind::Last => "last_cache",
            CacheKind::Distinct => "distinct_cache",
        }
    }
}

/// `last_cache(...)` or `distinct_cache(...)` over one database.
#[derive(Debug)]
pub(crate) struct CacheFunction {
    pub(crate) storage: Storage,
    pub(crate) db: String,
    pub(crate) kind: CacheKind,
}

impl TableFunctionImpl for CacheFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> DfResult<Arc<dyn TableProvider>> {
        let function = self.kind.function_name();
        let exprs = args.exprs();
        let usage = || {
            DataFusionError::Plan(format!(
                "{function}() takes the table name and, optionally, the cache name, as \
                 string literals: {function}('table') or {function}('table', 'name')"
            ))
        };
        if exprs.is_empty() || exprs.len() > 2 {
            return Err(usage());
        }
        let table = string_value(&exprs[0]).ok_or_else(usage)?;
        let name = match exprs.get(1) {
            Some(e) => Some(string_value(e).ok_or_else(usage)?),
            None => None,
        };
        let batch = match self.kind {
            CacheKind::Last => self
                .storage
                .read_last_cache(&self.db, &table, name.as_deref()),
            CacheKind::Distinct => {
                self.storage
                    .read_distinct_cache(&self.db, &table, name.as_deref())
            }
        }
        .map_err(|e| DataFusionError::Plan(format!("{function}(): {e}")))?;
        Ok(Arc::new(MemTable::try_new(
            batch.schema(),
            vec![vec![batch]],
        )?))
    }
}

/// `system.last_caches`: `table`, `name`, `key_column_names`, `value_column_names`
/// (null: every column that is not a key), `count`, `ttl` (seconds).
pub(crate) fn last_caches(storage: &Storage, db: &str) -> sluice_storage::Result<RecordBatch> {
    let caches = storage.last_caches(db)?;
    let schema = Arc::new(Schema::new(vec![
        Field::new("table", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        list_field("key_column_names", false),
        list_field("value_column_names", true),
        Field::new("count", DataType::UInt64, false),
        Field::new("ttl", DataType::UInt64, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            caches.iter().map(|c| &c.table),
        )),
        Arc::new(StringArray::from_iter_values(
            caches.iter().map(|c| &c.name),
        )),
        names(caches.iter().map(|c| Some(&c.key_columns))),
        names(caches.iter().map(|c| c.value_columns.as_ref())),
        Arc::new(UInt64Array::from_iter_values(
            caches.iter().map(|c| c.count as u64),
        )),
        Arc::new(UInt64Array::from_iter_values(
            caches.iter().map(|c| c.ttl.as_secs()),
        )),
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// `system.distinct_caches`: `table`, `name`, `column_names`, `max_cardinality`,
/// `max_age_seconds`.
pub(crate) fn distinct_caches(storage: &Storage, db: &str) -> sluice_storage::Result<RecordBatch> {
    let caches = storage.distinct_caches(db)?;
    let schema = Arc::new(Schema::new(vec![
        Field::new("table", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        list_field("column_names", false),
        Field::new("max_cardinality", DataType::UInt64, false),
        Field::new("max_age_seconds", DataType::UInt64, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            caches.iter().map(|c| &c.table),
        )),
        Arc::new(StringArray::from_iter_values(
            caches.iter().map(|c| &c.name),
        )),
        names(caches.iter().map(|c| Some(&c.columns))),
        Arc::new(UInt64Array::from_iter_values(
            caches.iter().map(|c| c.max_cardinality as u64),
        )),
        Arc::new(UInt64Array::from_iter_values(
            caches.iter().map(|c| c.max_age.as_secs()),
        )),
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}

fn list_field(name: &str, nullable: bool) -> Field {
    Field::new(
        name,
        DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        nullable,
    )
}

/// A list column of column names (a null list for `None`).
fn names<'a>(lists: impl Iterator<Item = Option<&'a Vec<String>>>) -> ArrayRef {
    let mut builder = ListBuilder::new(StringBuilder::new());
    for list in lists {
        match list {
            Some(names) => {
                for n in names {
                    builder.values().append_value(n);
                }
                builder.append(true);
            }
            None => builder.append(false),
        }
    }
    Arc::new(builder.finish())
}
