//! Table schemas as Arrow schemas, and the sort-and-deduplicate merge of row sources
//! (last write wins per series, time and field).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, UInt32Array, new_null_array};
use arrow::compute::{concat_batches, take};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::row::{RowConverter, SortField};
use sluice_lp::FieldType;

use crate::catalog::TableDef;
use crate::error::Result;

/// The Arrow type of a field of `kind`.
pub(crate) fn field_data_type(kind: FieldType) -> DataType {
    match kind {
        FieldType::Float => DataType::Float64,
        FieldType::Integer => DataType::Int64,
        FieldType::UInteger => DataType::UInt64,
        FieldType::String => DataType::Utf8,
        FieldType::Boolean => DataType::Boolean,
    }
}

/// The Arrow type of tag columns.
pub(crate) fn tag_data_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// The Arrow type of the `time` column.
pub(crate) fn time_data_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, None)
}

/// The columns of a table in scan order: tags (sorted), fields (sorted), `time`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct TableSchema {
    pub(crate) tags: Vec<String>,
    pub(crate) fields: Vec<(String, FieldType)>,
}

impl TableSchema {
    pub(crate) fn from_def(def: &TableDef) -> TableSchema {
        TableSchema {
            tags: def.tags().map(str::to_owned).collect(),
            fields: def.fields().map(|(n, t)| (n.to_owned(), t)).collect(),
        }
    }

    pub(crate) fn width(&self) -> usize {
        self.tags.len() + self.fields.len() + 1
    }

    pub(crate) fn arrow_schema(&self) -> SchemaRef {
        let mut fields: Vec<Field> = self
            .tags
            .iter()
            .map(|t| Field::new(t, tag_data_type(), true))
            .collect();
        fields.extend(
            self.fields
                .iter()
                .map(|(n, t)| Field::new(n, field_data_type(*t), true)),
        );
        fields.push(Field::new("time", time_data_type(), false));
        Arc::new(Schema::new(fields))
    }
}

/// Brings `batch` (any subset of the table's columns) to `schema`, filling missing columns
/// with nulls. Columns of another type than the schema's are replaced by nulls too.
pub(crate) fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(c) if c.data_type() == f.data_type() => c.clone(),
            _ => new_null_array(f.data_type(), batch.num_rows()),
        })
        .collect();
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// Merges `sources` (each in `schema`, ordered oldest to newest) into one batch sorted by
/// tags then time, with one row per (tags, time): each field takes its value from the
/// newest source row that has it.
pub(crate) fn merge(schema: &TableSchema, sources: Vec<RecordBatch>) -> Result<RecordBatch> {
    let arrow_schema = schema.arrow_schema();
    let ranks: Vec<u32> = sources
        .iter()
        .enumerate()
        .flat_map(|(i, b)| std::iter::repeat_n(i as u32, b.num_rows()))
        .collect();
    let all = concat_batches(&arrow_schema, &sources)?;
    drop(sources);
    let n = all.num_rows();
    if n == 0 {
        return Ok(all);
    }
    let n_tags = schema.tags.len();
    let time_idx = schema.width() - 1;
    let key_columns: Vec<ArrayRef> = (0..n_tags)
        .chain([time_idx])
        .map(|i| all.column(i).clone())
        .collect();
    let converter = RowConverter::new(
        key_columns
            .iter()
            .map(|c| SortField::new(c.data_type().clone()))
            .collect(),
    )?;
    let rows = converter.convert_columns(&key_columns)?;
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_unstable_by(|&a, &b| {
        rows.row(a as usize)
            .cmp(&rows.row(b as usize))
            .then(ranks[a as usize].cmp(&ranks[b as usize]))
            .then(a.cmp(&b))
    });
    // Groups of equal keys in sorted order: [start, end) into `order`.
    let mut groups: Vec<(usize, usize)> = Vec::with_capacity(n);
    let mut start = 0;
    for i in 1..=n {
        if i == n || rows.row(order[i] as usize) != rows.row(order[start] as usize) {
            groups.push((start, i));
            start = i;
        }
    }
    let first: UInt32Array = groups.iter().map(|(s, _)| order[*s]).collect();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(all.num_columns());
    for i in 0..all.num_columns() {
        let col = all.column(i);
        let is_field = i >= n_tags && i < time_idx;
        if !is_field || groups.len() == n {
            // Keys are equal within a group; without duplicates fields need no merging.
            columns.push(take(col.as_ref(), &first, None)?);
            continue;
        }
        let winners: UInt32Array = groups
            .iter()
            .map(|&(s, e)| {
                order[s..e]
                    .iter()
                    .rev()
                    .find(|&&r| col.is_valid(r as usize))
                    .copied()
            })
            .collect();
        columns.push(take(col.as_ref(), &winners, None)?);
    }
    Ok(RecordBatch::try_new(arrow_schema, columns)?)
}

/// Keeps the named columns in the given order (unknown names skipped).
pub(crate) fn project(batch: &RecordBatch, names: &[String]) -> Result<RecordBatch> {
    let schema = batch.schema();
    let indices: Vec<usize> = names
        .iter()
        .filter_map(|n| schema.index_of(n).ok())
        .collect();
    Ok(batch.project(&indices)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{DictionaryArray, Float64Array, Int64Array, TimestampNanosecondArray};
    use arrow::datatypes::Int32Type;

    fn schema() -> TableSchema {
        TableSchema {
            tags: vec!["host".into()],
            fields: vec![
                ("a".into(), FieldType::Float),
                ("b".into(), FieldType::Integer),
            ],
        }
    }

    fn source(rows: &[(&str, i64, Option<f64>, Option<i64>)]) -> RecordBatch {
        let host: DictionaryArray<Int32Type> = rows.iter().map(|r| Some(r.0)).collect();
        let a: Float64Array = rows.iter().map(|r| r.2).collect();
        let b: Int64Array = rows.iter().map(|r| r.3).collect();
        let t = TimestampNanosecondArray::from_iter_values(rows.iter().map(|r| r.1));
        RecordBatch::try_new(
            schema().arrow_schema(),
            vec![Arc::new(host), Arc::new(a), Arc::new(b), Arc::new(t)],
        )
        .unwrap()
    }

    #[test]
    fn newer_sources_win_field_by_field_and_output_is_sorted() {
        let old = source(&[("b", 1, Some(1.0), Some(1)), ("a", 2, Some(5.0), None)]);
        let new = source(&[("b", 1, Some(2.0), None), ("a", 1, None, Some(7))]);
        let out = merge(&schema(), vec![old, new]).unwrap();
        assert_eq!(out.num_rows(), 3);
        let a = out
            .column(1)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        let b = out.column(2).as_any().downcast_ref::<Int64Array>().unwrap();
        let t = out
            .column(3)
            .as_any()
            .downcast_ref::<TimestampNanosecondArray>()
            .unwrap();
        // Sorted: (a,1) (a,2) (b,1).
        assert_eq!(t.values().to_vec(), vec![1, 2, 1]);
        assert!(a.is_null(0));
        assert_eq!(b.value(0), 7);
        assert_eq!(a.value(1), 5.0);
        assert_eq!(a.value(2), 2.0, "newer value wins");
        assert_eq!(
            b.value(2),
            1,
            "older value kept where the newer row has none"
        );
    }

    #[test]
    fn projection_keeps_requested_order_and_skips_unknown_names() {
        let out = merge(&schema(), vec![source(&[("a", 1, Some(1.0), Some(2))])]).unwrap();
        let p = project(&out, &["time".into(), "nope".into(), "a".into()]).unwrap();
        let names: Vec<_> = p
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, vec!["time", "a"]);
    }
}
