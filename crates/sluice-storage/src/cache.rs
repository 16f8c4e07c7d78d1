//! The last-value and distinct-value caches: their definitions as the catalog saves them,
//! and their contents in memory, fed by every write the WAL applies and filled from
//! storage when a cache is created, at start-up and after a delete.
//!
//! ```text
//!  WAL apply thread ── WriteBatch ──> Caches::apply ──> LastCache / DistinctCache
//!  Storage::scan(_last) ── rows ──> Caches::fill (after create, open, delete)
//!  last_cache() / distinct_cache() / InfluxQL <── reads
//! ```
//!
//! A cache's rows are kept by their timestamps, never by arrival order, so the rows a
//! write brings and the rows a fill reads from storage can arrive in any order and still
//! leave the cache holding the newest rows: which is what lets a fill run while writes
//! go on, and makes the cache after a restart the one before it.

mod define;
mod distinct;
mod last;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    StringDictionaryBuilder, TimestampNanosecondArray, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Float64Type, Int32Type, Int64Type, UInt64Type};
use serde::{Deserialize, Serialize};
use sluice_lp::FieldType;

use crate::batch::{ColumnType, TableBatch, Value, WriteBatch};
use crate::merge::{field_data_type, tag_data_type, time_data_type};
use crate::predicate::DeleteOp;

pub(crate) use define::{distinct_cache, last_cache};
pub(crate) use distinct::DistinctCache;
pub(crate) use last::{Key, LastCache};

/// Most rows per key a last cache keeps (InfluxDB 3's limit).
pub(crate) const MAX_LAST_COUNT: usize = 10;

/// A last-value cache as the catalog saves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LastCacheDef {
    pub(crate) key_columns: Vec<String>,
    /// `None`: every column that is not a key, new ones included as they appear.
    pub(crate) value_columns: Option<Vec<String>>,
    /// Rows kept per key combination, 1 to [`MAX_LAST_COUNT`].
    pub(crate) count: usize,
    /// Rows whose time is older than this (before now) are evicted.
    pub(crate) ttl_secs: u64,
}

/// A distinct-value cache as the catalog saves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DistinctCacheDef {
    pub(crate) columns: Vec<String>,
    /// Most value combinations held; beyond it the least recently seen are evicted.
    pub(crate) max_cardinality: usize,
    /// Combinations last seen longer ago than this (by row time, before now) are evicted.
    pub(crate) max_age_secs: u64,
}

/// A value of a key column: what compares exactly (tags, strings, integers, booleans).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum KeyValue {
    Str(String),
    Int(i64),
    UInt(u64),
    Bool(bool),
}

impl KeyValue {
    /// The key value of a field or tag value; `None` for a float.
    fn of(value: Value) -> Option<KeyValue> {
        match value {
            Value::String(s) => Some(KeyValue::Str(s)),
            Value::Integer(i) => Some(KeyValue::Int(i)),
            Value::UInteger(u) => Some(KeyValue::UInt(u)),
            Value::Boolean(b) => Some(KeyValue::Bool(b)),
            Value::Float(_) => None,
        }
    }

    pub(crate) fn to_value(&self) -> Value {
        match self {
            KeyValue::Str(s) => Value::String(s.clone()),
            KeyValue::Int(i) => Value::Integer(*i),
            KeyValue::UInt(u) => Value::UInteger(*u),
            KeyValue::Bool(b) => Value::Boolean(*b),
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            KeyValue::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Whether a row comes from a write (its values are the newest for its time) or from a
/// fill reading storage (whose values may predate a write the cache already holds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Write,
    Fill,
}

/// One row offered to a cache, whatever it was read from.
pub(crate) trait RowSource {
    fn time(&self) -> i64;
    /// The row's value of `column` (tags as strings); `None` when it has none.
    fn get(&self, column: &str) -> Option<Value>;
    /// Every column the row has a value for and `wanted` accepts.
    fn each(&self, wanted: &dyn Fn(&str) -> bool, f: &mut dyn FnMut(&str, Value));
}

/// The caches of one table.
#[derive(Debug, Default)]
pub(crate) struct TableCaches {
    pub(crate) last: BTreeMap<String, LastCache>,
    pub(crate) distinct: BTreeMap<String, DistinctCache>,
}

impl TableCaches {
    fn is_empty(&self) -> bool {
        self.last.is_empty() && self.distinct.is_empty()
    }
}

/// Every cache of the engine, by (database id, table).
#[derive(Debug, Default)]
pub(crate) struct Caches {
    pub(crate) tables: HashMap<(u32, String), TableCaches>,
}

impl Caches {
    pub(crate) fn table(&self, db_id: u32, table: &str) -> Option<&TableCaches> {
        self.tables.get(&(db_id, table.to_owned()))
    }

    pub(crate) fn table_mut(&mut self, db_id: u32, table: &str) -> &mut TableCaches {
        self.tables.entry((db_id, table.to_owned())).or_default()
    }

    /// Drops the entry of a table without caches left.
    pub(crate) fn forget_if_empty(&mut self, db_id: u32, table: &str) {
        let key = (db_id, table.to_owned());
        if self.tables.get(&key).is_some_and(TableCaches::is_empty) {
            self.tables.remove(&key);
        }
    }

    /// Offers every row of a logged write to the caches of its tables.
    pub(crate) fn apply(&mut self, batch: &WriteBatch) {
        if self.tables.is_empty() {
            return;
        }
        for table in &batch.tables {
            let Some(caches) = self.tables.get_mut(&(batch.db_id, table.name.clone())) else {
                continue;
            };
            let rows = || {
                table.rows.iter().map(|row| BatchRow {
                    table,
                    time: row.time,
                    tags: table.series_tags(row.series),
                    fields: table.fields(row),
                })
            };
            for cache in caches.last.values_mut() {
                if !cache.offer_batch(table) {
                    rows().for_each(|row| cache.offer(&row, Source::Write));
                }
            }
            for cache in caches.distinct.values_mut() {
                if !cache.offer_batch(table) {
                    rows().for_each(|row| cache.offer(&row));
                }
            }
        }
    }

    /// A logged delete: a dropped table's caches go with it; the caches of the tables a
    /// delete touches are emptied (and refilled from storage once the delete reached
    /// the files), so they never hold a deleted row.
    pub(crate) fn delete(&mut self, op: &DeleteOp) {
        if op.drop_table {
            self.tables
                .retain(|(db, t), _| !(*db == op.db_id && op.covers_table(t)));
            return;
        }
        for ((db, t), caches) in &mut self.tables {
            if *db == op.db_id && op.covers_table(t) {
                caches.last.values_mut().for_each(LastCache::clear);
                caches.distinct.values_mut().for_each(DistinctCache::clear);
            }
        }
    }

    pub(crate) fn drop_database(&mut self, db_id: u32) {
        self.tables.retain(|(db, _), _| *db != db_id);
    }

    /// Evicts, in every cache, what its ttl or max age says is too old at `now_ns`.
    pub(crate) fn evict(&mut self, now_ns: i64) {
        for caches in self.tables.values_mut() {
            for cache in caches.last.values_mut() {
                cache.evict(now_ns);
            }
            for cache in caches.distinct.values_mut() {
                cache.evict(now_ns);
            }
        }
    }
}

/// A number no cache state had before: what a fill compares to tell whether the cache
/// it read storage for was emptied (or replaced) meanwhile.
pub(crate) fn next_generation() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The time before which a window of `secs` seconds ending at `now_ns` starts.
pub(crate) fn cutoff(now_ns: i64, secs: u64) -> i64 {
    let window = i64::try_from(u128::from(secs) * 1_000_000_000).unwrap_or(i64::MAX);
    now_ns.saturating_sub(window)
}

/// A row of a logged write.
struct BatchRow<'a, T> {
    table: &'a TableBatch,
    time: i64,
    /// (column index, value), as [`TableBatch::series_tags`] gives them.
    tags: T,
    fields: &'a [(u32, Value)],
}

impl<T> BatchRow<'_, T> {
    fn name(&self, column: u32) -> &str {
        &self.table.columns[column as usize].0
    }
}

impl<'a, T: Iterator<Item = (u32, &'a str)> + Clone> RowSource for BatchRow<'a, T> {
    fn time(&self) -> i64 {
        self.time
    }

    fn get(&self, column: &str) -> Option<Value> {
        if let Some((_, v)) = self.tags.clone().find(|(c, _)| self.name(*c) == column) {
            return Some(Value::String(v.to_owned()));
        }
        self.fields
            .iter()
            .find(|(c, _)| self.name(*c) == column)
            .map(|(_, v)| v.clone())
    }

    fn each(&self, wanted: &dyn Fn(&str) -> bool, f: &mut dyn FnMut(&str, Value)) {
        for (c, v) in self.tags.clone() {
            let name = self.name(c);
            if wanted(name) {
                f(name, Value::String(v.to_owned()));
            }
        }
        for (c, v) in self.fields {
            let name = self.name(*c);
            if wanted(name) {
                f(name, v.clone());
            }
        }
    }
}

/// A row of a scan's Arrow batch (tags `Dictionary(Int32, Utf8)`, fields by type).
pub(crate) struct ArrowRow<'a> {
    pub(crate) batch: &'a RecordBatch,
    pub(crate) time: &'a TimestampNanosecondArray,
    pub(crate) row: usize,
}

impl<'a> ArrowRow<'a> {
    /// The `time` column of a scan's batch.
    pub(crate) fn times(batch: &'a RecordBatch) -> Option<&'a TimestampNanosecondArray> {
        batch
            .column_by_name("time")?
            .as_any()
            .downcast_ref::<TimestampNanosecondArray>()
    }
}

impl RowSource for ArrowRow<'_> {
    fn time(&self) -> i64 {
        self.time.value(self.row)
    }

    fn get(&self, column: &str) -> Option<Value> {
        if column == "time" {
            return None;
        }
        array_value(self.batch.column_by_name(column)?, self.row)
    }

    fn each(&self, wanted: &dyn Fn(&str) -> bool, f: &mut dyn FnMut(&str, Value)) {
        let schema = self.batch.schema();
        for (field, array) in schema.fields().iter().zip(self.batch.columns()) {
            if field.name() == "time" || !wanted(field.name()) {
                continue;
            }
            if let Some(v) = array_value(array, self.row) {
                f(field.name(), v);
            }
        }
    }
}

/// The value at row `i` of a scan's column; `None` when null or of a type scans do not
/// produce.
fn array_value(array: &ArrayRef, i: usize) -> Option<Value> {
    if array.is_null(i) {
        return None;
    }
    Some(match array.data_type() {
        DataType::Dictionary(_, _) => {
            let dict = array.as_dictionary::<Int32Type>();
            let values = dict.values().as_string::<i32>();
            let key = usize::try_from(dict.keys().value(i)).ok()?;
            Value::String(values.value(key).to_owned())
        }
        DataType::Float64 => Value::Float(array.as_primitive::<Float64Type>().value(i)),
        DataType::Int64 => Value::Integer(array.as_primitive::<Int64Type>().value(i)),
        DataType::UInt64 => Value::UInteger(array.as_primitive::<UInt64Type>().value(i)),
        DataType::Utf8 => Value::String(array.as_string::<i32>().value(i).to_owned()),
        DataType::Boolean => Value::Boolean(array.as_boolean().value(i)),
        _ => return None,
    })
}

/// How a cache's output column is typed: as the table's column is in scans (`tag` for a
/// `Dictionary(Int32, Utf8)` tag), or plain `Utf8` where `tags_as_strings`.
pub(crate) fn column_field(name: &str, kind: Option<ColumnType>, tags_as_strings: bool) -> Field {
    let data_type = match kind {
        Some(ColumnType::Tag) if tags_as_strings => DataType::Utf8,
        Some(ColumnType::Tag) => tag_data_type(),
        Some(ColumnType::Field(t)) => field_data_type(t),
        None => DataType::Utf8,
    };
    Field::new(name, data_type, true)
}

/// The `time` column's field in cache output.
pub(crate) fn time_field() -> Field {
    Field::new("time", time_data_type(), false)
}

/// An Arrow column of `field`'s type from values (a value of another type reads as null).
pub(crate) fn to_array(field: &Field, values: &[Option<Value>]) -> ArrayRef {
    let string = |v: &Option<Value>| match v {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    match field.data_type() {
        DataType::Dictionary(_, _) => {
            let mut builder = StringDictionaryBuilder::<Int32Type>::new();
            for v in values {
                builder.append_option(string(v));
            }
            Arc::new(builder.finish())
        }
        DataType::Float64 => Arc::new(Float64Array::from_iter(values.iter().map(|v| match v {
            Some(Value::Float(x)) => Some(*x),
            _ => None,
        }))),
        DataType::Int64 => Arc::new(Int64Array::from_iter(values.iter().map(|v| match v {
            Some(Value::Integer(x)) => Some(*x),
            _ => None,
        }))),
        DataType::UInt64 => Arc::new(UInt64Array::from_iter(values.iter().map(|v| match v {
            Some(Value::UInteger(x)) => Some(*x),
            _ => None,
        }))),
        DataType::Boolean => Arc::new(BooleanArray::from_iter(values.iter().map(|v| match v {
            Some(Value::Boolean(x)) => Some(*x),
            _ => None,
        }))),
        _ => Arc::new(StringArray::from_iter(values.iter().map(string))),
    }
}

/// The `time` column of cache output.
pub(crate) fn time_array(times: Vec<i64>) -> ArrayRef {
    Arc::new(TimestampNanosecondArray::from(times))
}

/// Whether a column of this type may be a last cache's key.
pub(crate) fn is_key_type(kind: ColumnType) -> bool {
    !matches!(kind, ColumnType::Field(FieldType::Float))
}

/// Whether a column of this type may be a distinct cache's column.
pub(crate) fn is_distinct_type(kind: ColumnType) -> bool {
    matches!(kind, ColumnType::Tag | ColumnType::Field(FieldType::String))
}
