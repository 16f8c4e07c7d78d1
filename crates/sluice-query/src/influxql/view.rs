//! Typed, borrow-only views of scanned Arrow columns, and the borrowed values that
//! conditions and projections are evaluated over.

use arrow::array::{
    Array, ArrayRef, BooleanArray, DictionaryArray, Float64Array, Int64Array, RecordBatch,
    StringArray, TimestampNanosecondArray, UInt64Array,
};
use arrow::datatypes::Int32Type;

use super::result::Value;

/// A value borrowed from a column or a literal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum V<'a> {
    Null,
    Float(f64),
    Integer(i64),
    Unsigned(u64),
    Str(&'a str),
    Bool(bool),
}

impl<'a> V<'a> {
    pub(crate) fn to_value(self) -> Value {
        match self {
            V::Null => Value::Null,
            V::Float(x) => Value::Float(x),
            V::Integer(i) => Value::Integer(i),
            V::Unsigned(u) => Value::Unsigned(u),
            V::Str(s) => Value::String(s.to_owned()),
            V::Bool(b) => Value::Boolean(b),
        }
    }

    pub(crate) fn from_value(v: &'a Value) -> V<'a> {
        match v {
            Value::Null => V::Null,
            Value::Float(x) => V::Float(*x),
            Value::Integer(i) | Value::Time(i) => V::Integer(*i),
            Value::Unsigned(u) => V::Unsigned(*u),
            Value::String(s) => V::Str(s),
            Value::Boolean(b) => V::Bool(*b),
        }
    }

    pub(crate) fn as_f64(self) -> Option<f64> {
        match self {
            V::Float(x) => Some(x),
            V::Integer(i) => Some(i as f64),
            V::Unsigned(u) => Some(u as f64),
            _ => None,
        }
    }

    pub(crate) fn is_null(self) -> bool {
        matches!(self, V::Null)
    }
}

/// One scanned column.
#[derive(Debug)]
pub(crate) enum ColumnView<'a> {
    Tag {
        keys: &'a arrow::array::Int32Array,
        values: Vec<&'a str>,
    },
    Float(&'a Float64Array),
    Integer(&'a Int64Array),
    Unsigned(&'a UInt64Array),
    Str(&'a StringArray),
    Bool(&'a BooleanArray),
    /// A column the batch does not have: always null.
    Missing,
}

impl<'a> ColumnView<'a> {
    /// The float array, when this is a float column.
    pub(crate) fn floats(&self) -> Option<&'a Float64Array> {
        match self {
            ColumnView::Float(a) => Some(a),
            _ => None,
        }
    }

    /// The integer array, when this is an integer column.
    pub(crate) fn integers(&self) -> Option<&'a Int64Array> {
        match self {
            ColumnView::Integer(a) => Some(a),
            _ => None,
        }
    }

    pub(crate) fn new(array: Option<&'a ArrayRef>) -> ColumnView<'a> {
        let Some(array) = array else {
            return ColumnView::Missing;
        };
        let any = array.as_any();
        if let Some(d) = any.downcast_ref::<DictionaryArray<Int32Type>>() {
            let values = d
                .values()
                .as_any()
                .downcast_ref::<StringArray>()
                .map(|s| (0..s.len()).map(|i| s.value(i)).collect())
                .unwrap_or_default();
            return ColumnView::Tag {
                keys: d.keys(),
                values,
            };
        }
        if let Some(a) = any.downcast_ref::<Float64Array>() {
            return ColumnView::Float(a);
        }
        if let Some(a) = any.downcast_ref::<Int64Array>() {
            return ColumnView::Integer(a);
        }
        if let Some(a) = any.downcast_ref::<UInt64Array>() {
            return ColumnView::Unsigned(a);
        }
        if let Some(a) = any.downcast_ref::<StringArray>() {
            return ColumnView::Str(a);
        }
        if let Some(a) = any.downcast_ref::<BooleanArray>() {
            return ColumnView::Bool(a);
        }
        ColumnView::Missing
    }

    #[inline]
    pub(crate) fn get(&self, i: usize) -> V<'a> {
        match self {
            ColumnView::Tag { keys, values } => {
                if keys.is_null(i) {
                    V::Null
                } else {
                    V::Str(values[keys.value(i) as usize])
                }
            }
            ColumnView::Float(a) => {
                if a.is_null(i) {
                    V::Null
                } else {
                    V::Float(a.value(i))
                }
            }
            ColumnView::Integer(a) => {
                if a.is_null(i) {
                    V::Null
                } else {
                    V::Integer(a.value(i))
                }
            }
            ColumnView::Unsigned(a) => {
                if a.is_null(i) {
                    V::Null
                } else {
                    V::Unsigned(a.value(i))
                }
            }
            ColumnView::Str(a) => {
                if a.is_null(i) {
                    V::Null
                } else {
                    V::Str(a.value(i))
                }
            }
            ColumnView::Bool(a) => {
                if a.is_null(i) {
                    V::Null
                } else {
                    V::Bool(a.value(i))
                }
            }
            ColumnView::Missing => V::Null,
        }
    }

    /// The dictionary key of a tag at row `i` (`-1` for no value), for cheap grouping.
    #[inline]
    pub(crate) fn tag_key(&self, i: usize) -> i32 {
        match self {
            ColumnView::Tag { keys, .. } if !keys.is_null(i) => keys.value(i),
            _ => -1,
        }
    }

    /// The tag value at row `i`, empty when absent (InfluxDB's view of a missing tag).
    pub(crate) fn tag_str(&self, i: usize) -> &'a str {
        match self.get(i) {
            V::Str(s) => s,
            _ => "",
        }
    }
}

/// The columns of one batch, in the order of the names they were built from, plus time.
#[derive(Debug)]
pub(crate) struct BatchView<'a> {
    pub(crate) columns: Vec<ColumnView<'a>>,
    pub(crate) time: &'a TimestampNanosecondArray,
    pub(crate) len: usize,
}

impl<'a> BatchView<'a> {
    pub(crate) fn new(batch: &'a RecordBatch, names: &[String]) -> Option<BatchView<'a>> {
        let time = batch
            .column_by_name("time")?
            .as_any()
            .downcast_ref::<TimestampNanosecondArray>()?;
        Some(BatchView {
            columns: names
                .iter()
                .map(|n| ColumnView::new(batch.column_by_name(n)))
                .collect(),
            time,
            len: batch.num_rows(),
        })
    }

    #[inline]
    pub(crate) fn time(&self, i: usize) -> i64 {
        self.time.value(i)
    }
}

/// `batch` with a column per cast a function reads (`mean(usage::integer)`): each
/// `(name, field, type)` of `casts` adds column `name`, the values of `field` cast to
/// `type` as [`super::expr::cast`] casts them (a value the type does not take is null).
pub(crate) fn with_casts(
    batch: &RecordBatch,
    casts: &[(String, String, sluice_influxql::DataType)],
) -> Result<RecordBatch, arrow::error::ArrowError> {
    use arrow::array::{
        BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, UInt64Builder,
    };
    use arrow::datatypes::{Field, Schema};
    use sluice_influxql::DataType;
    use std::sync::Arc;

    let rows = batch.num_rows();
    let mut fields: Vec<Arc<Field>> = batch.schema().fields().iter().cloned().collect();
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    for (name, field, t) in casts {
        let source = ColumnView::new(batch.column_by_name(field));
        let values = (0..rows).map(|i| super::expr::cast(*t, source.get(i)));
        let array: ArrayRef = match t {
            DataType::Float => {
                let mut b = Float64Builder::with_capacity(rows);
                values.for_each(|v| b.append_option(v.as_f64()));
                Arc::new(b.finish())
            }
            DataType::Integer => {
                let mut b = Int64Builder::with_capacity(rows);
                values.for_each(|v| match v {
                    V::Integer(n) => b.append_value(n),
                    _ => b.append_null(),
                });
                Arc::new(b.finish())
            }
            DataType::Unsigned => {
                let mut b = UInt64Builder::with_capacity(rows);
                values.for_each(|v| match v {
                    V::Unsigned(u) => b.append_value(u),
                    _ => b.append_null(),
                });
                Arc::new(b.finish())
            }
            DataType::String => {
                let mut b = StringBuilder::new();
                values.for_each(|v| match v {
                    V::Str(s) => b.append_value(s),
                    _ => b.append_null(),
                });
                Arc::new(b.finish())
            }
            DataType::Boolean => {
                let mut b = BooleanBuilder::with_capacity(rows);
                values.for_each(|v| match v {
                    V::Bool(x) => b.append_value(x),
                    _ => b.append_null(),
                });
                Arc::new(b.finish())
            }
            // A function reads no points of a tag, nor of `::field` (not a cast).
            DataType::Tag | DataType::Field => {
                let mut b = Float64Builder::with_capacity(rows);
                b.append_nulls(rows);
                Arc::new(b.finish())
            }
        };
        fields.push(Arc::new(Field::new(name, array.data_type().clone(), true)));
        columns.push(array);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}
