//! [`FieldFilter`]s over Arrow batches: which filters a read schema lets a scan apply,
//! and the rows of a batch that match them.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Datum, Float64Array, Int64Array, RecordBatch, Scalar};
use arrow::compute::cast;
use arrow::compute::kernels::{boolean, cmp};
use arrow::datatypes::{DataType, Schema};
use arrow::error::ArrowError;

use crate::types::{Comparison, FieldFilter, Number};

/// The filters of `filters` a scan reading `schema` can apply: those on a float or
/// integer field. The others (a tag, a string, boolean or unsigned field, a name the
/// table lacks) are left to the caller.
pub(crate) fn applicable(filters: &[FieldFilter], schema: &Schema) -> Vec<FieldFilter> {
    filters
        .iter()
        .filter(|f| {
            schema
                .field_with_name(&f.field)
                .is_ok_and(|field| operand(field.data_type(), f).is_some())
        })
        .cloned()
        .collect()
}

/// Which rows of `batch` match every one of `filters` (from [`applicable`]); a row
/// without a value for a filter's field matches none, and so does every row of a batch
/// without the field.
pub(crate) fn mask(
    batch: &RecordBatch,
    filters: &[FieldFilter],
) -> Result<BooleanArray, ArrowError> {
    let mut keep: Option<BooleanArray> = None;
    for f in filters {
        let matched = match batch.column_by_name(&f.field) {
            Some(column) => match operand(column.data_type(), f) {
                Some(value) if value.data_type() == column.data_type() => {
                    compare(column, &value, f.op)?
                }
                // An integer field and a float: compared as floats, as InfluxQL does.
                Some(value) => compare(&cast(column, value.data_type())?, &value, f.op)?,
                // Not a type the filter compares: nothing is left out for it.
                None => continue,
            },
            None => BooleanArray::from(vec![false; batch.num_rows()]),
        };
        keep = Some(match keep {
            Some(k) => boolean::and(&k, &matched)?,
            None => matched,
        });
    }
    Ok(keep.unwrap_or_else(|| BooleanArray::from(vec![true; batch.num_rows()])))
}

/// `batch`'s rows that match every one of `filters`.
pub(crate) fn apply(
    batch: &RecordBatch,
    filters: &[FieldFilter],
) -> Result<RecordBatch, ArrowError> {
    if filters.is_empty() {
        return Ok(batch.clone());
    }
    arrow::compute::filter_record_batch(batch, &mask(batch, filters)?)
}

/// The number a column of `data_type` is compared with for `filter`, or `None` when
/// the filter does not apply to it.
///
/// Arrow orders floats totally (`-0.0 < 0.0`, NaN above all) where InfluxQL compares
/// them as IEEE 754 does (`-0.0 == 0.0`, NaN matching nothing): a comparison with zero
/// uses the zero that keeps both (a NaN kept by `>` is dropped by the caller), and an
/// equality with zero is not filtered.
fn operand(data_type: &DataType, filter: &FieldFilter) -> Option<Operand> {
    let float = |x: f64| {
        let x = match (x == 0.0, filter.op) {
            (false, _) => x,
            (true, Comparison::GtEq) => -0.0,
            (true, Comparison::LtEq) => 0.0,
            (true, Comparison::Eq) => return None,
            (true, Comparison::Gt | Comparison::Lt) => x,
        };
        Some(Operand::new(Arc::new(Float64Array::from(vec![x]))))
    };
    match (data_type, filter.value) {
        // As InfluxQL compares a float with an integer: both as floats.
        (DataType::Float64 | DataType::Int64, Number::Float(x)) => float(x),
        (DataType::Float64, Number::Integer(i)) => float(i as f64),
        (DataType::Int64, Number::Integer(i)) => {
            Some(Operand::new(Arc::new(Int64Array::from(vec![i]))))
        }
        _ => None,
    }
}

/// The number a column is compared with, as a one-value array of its type.
struct Operand(Scalar<ArrayRef>);

impl Operand {
    fn new(value: ArrayRef) -> Operand {
        Operand(Scalar::new(value))
    }

    fn data_type(&self) -> &DataType {
        self.0.get().0.data_type()
    }
}

fn compare(column: &ArrayRef, value: &Operand, op: Comparison) -> Result<BooleanArray, ArrowError> {
    let value: &dyn Datum = &value.0;
    match op {
        Comparison::Lt => cmp::lt(column, value),
        Comparison::LtEq => cmp::lt_eq(column, value),
        Comparison::Gt => cmp::gt(column, value),
        Comparison::GtEq => cmp::gt_eq(column, value),
        Comparison::Eq => cmp::eq(column, value),
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, StringArray};
    use arrow::datatypes::Field;

    use super::*;

    fn batch() -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("f", DataType::Float64, true),
            Field::new("i", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
        ]);
        let f = Float64Array::from(vec![
            Some(-0.0),
            Some(0.0),
            Some(90.0),
            Some(95.5),
            None,
            Some(f64::NAN),
        ]);
        let i = Int64Array::from(vec![Some(-1), Some(0), Some(90), Some(95), Some(7), None]);
        let s = StringArray::from(vec!["a"; 6]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![Arc::new(f), Arc::new(i), Arc::new(s)],
        )
        .unwrap()
    }

    fn filter(field: &str, op: Comparison, value: Number) -> FieldFilter {
        FieldFilter {
            field: field.to_owned(),
            op,
            value,
        }
    }

    /// The rows kept, as indexes.
    fn kept(filters: &[FieldFilter]) -> Vec<usize> {
        let b = batch();
        let applicable = applicable(filters, &b.schema());
        let m = mask(&b, &applicable).unwrap();
        (0..m.len())
            .filter(|&i| m.is_valid(i) && m.value(i))
            .collect()
    }

    #[test]
    fn a_float_field_keeps_every_row_influxql_keeps_and_no_null() {
        use Comparison::*;
        // -0.0 equals 0.0 in InfluxQL: both kept by >= 0 and <= 0 (Arrow orders them).
        assert_eq!(
            kept(&[filter("f", GtEq, Number::Integer(0))]),
            [0, 1, 2, 3, 5]
        );
        assert_eq!(kept(&[filter("f", LtEq, Number::Float(-0.0))]), [0, 1]);
        assert_eq!(
            kept(&[filter("f", Gt, Number::Float(90.0))]),
            [3, 5],
            "NaN is left to the caller"
        );
        assert_eq!(kept(&[filter("f", Lt, Number::Float(90.0))]), [0, 1]);
        assert_eq!(kept(&[filter("f", Eq, Number::Integer(90))]), [2]);
        // An equality with zero is not filtered.
        assert_eq!(
            kept(&[filter("f", Eq, Number::Float(0.0))]),
            [0, 1, 2, 3, 4, 5]
        );
    }

    #[test]
    fn an_integer_field_is_compared_with_an_integer_exactly_and_with_a_float_as_a_float() {
        use Comparison::*;
        assert_eq!(kept(&[filter("i", Gt, Number::Integer(7))]), [2, 3]);
        // An integer field and a float: compared as floats.
        assert_eq!(kept(&[filter("i", Gt, Number::Float(7.5))]), [2, 3]);
        assert_eq!(kept(&[filter("i", LtEq, Number::Float(-0.0))]), [0, 1]);
        assert_eq!(
            kept(&[
                filter("i", GtEq, Number::Integer(0)),
                filter("f", Lt, Number::Integer(1))
            ]),
            [1]
        );
    }

    #[test]
    fn other_fields_are_not_filtered_and_a_missing_field_matches_nothing() {
        let b = batch();
        let strings = [filter("s", Comparison::Eq, Number::Integer(1))];
        assert!(applicable(&strings, &b.schema()).is_empty());
        assert_eq!(kept(&strings), [0, 1, 2, 3, 4, 5]);
        let gone = [filter("g", Comparison::Gt, Number::Integer(1))];
        assert_eq!(mask(&b, &gone).unwrap().true_count(), 0);
        assert_eq!(apply(&b, &[]).unwrap(), b);
    }
}
