//! Subqueries (`SELECT max(m) FROM (SELECT mean(x) AS m FROM cpu GROUP BY time(1m),
//! host)`): the inner statement runs first, as InfluxDB 1.x runs it for an outer one,
//! and its series become tables the outer statement reads like stored ones: the inner
//! `GROUP BY` tags are the tags, the inner columns the fields.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, BooleanBuilder, DictionaryArray, Float64Builder, Int32Array,
    Int64Builder, RecordBatch, StringArray, StringBuilder, TimestampNanosecondArray, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, TimeUnit};
use sluice_influxql::{BinaryOp, Dimension, Expr, Fill, SelectStatement};
use sluice_storage::{ColumnInfo, ColumnKind, FieldType, ScanRequest, Storage, TableInfo};

use super::result::{Series, Value};
use crate::error::Result;
use crate::limits::Budget;

/// The rows of one measurement of a subquery's answer, as a table.
#[derive(Debug)]
pub(crate) struct Virtual {
    /// Tags (the inner `GROUP BY` tags) then fields (the inner columns), as storage
    /// describes a table.
    pub(crate) info: TableInfo,
    /// Every row, by time then by inner series.
    batch: RecordBatch,
}

impl Virtual {
    /// The rows a scan of a stored table with `request` would give: in its time range
    /// and with its tag values. Every column is returned (views pick theirs by name).
    pub(crate) fn scan(&self, request: &ScanRequest) -> Result<sluice_storage::ScanResult> {
        let batch = &self.batch;
        let time = batch
            .column_by_name("time")
            .and_then(|c| c.as_any().downcast_ref::<TimestampNanosecondArray>())
            .expect("built with a time column");
        let (start, end) = request.time_range.unwrap_or((i64::MIN, i64::MAX));
        let tags: Vec<(super::view::ColumnView<'_>, &sluice_storage::TagMatch)> = request
            .tag_matches
            .iter()
            .map(|m| {
                (
                    super::view::ColumnView::new(batch.column_by_name(m.key())),
                    m,
                )
            })
            .collect();
        let keep: BooleanArray = (0..batch.num_rows())
            .map(|i| {
                let t = time.value(i);
                Some(
                    t >= start
                        && t < end
                        && tags.iter().all(|(c, m)| match c.get(i) {
                            super::view::V::Str(s) => m.matches(Some(s)),
                            _ => false,
                        }),
                )
            })
            .collect();
        let batch = arrow::compute::filter_record_batch(batch, &keep)?;
        Ok(sluice_storage::ScanResult {
            schema: batch.schema(),
            batches: vec![batch],
        })
    }
}

/// Runs `inner`, a subquery of `outer`, and returns its answer as one table per
/// measurement. As in InfluxDB 1.x, the inner statement also groups by the outer
/// statement's `GROUP BY` tags, its time range is narrowed by the outer one, and an
/// aggregate inner statement's `fill(null)` becomes `fill(none)` (the outer statement
/// would skip those nulls anyway).
pub(crate) async fn run(
    storage: &Storage,
    default_db: Option<&str>,
    outer: &SelectStatement,
    inner: &SelectStatement,
    now: i64,
    budget: &Budget,
) -> Result<Vec<Virtual>> {
    let mut stmt = inner.clone();
    for d in &outer.group_by {
        if let Dimension::Tag(t) = d
            && !stmt.group_by.contains(d)
        {
            stmt.group_by.push(Dimension::Tag(t.clone()));
        }
    }
    let outer_times = time_conjuncts(outer.condition.as_ref());
    if !outer_times.is_empty() {
        let mut condition = stmt.condition.take();
        for c in outer_times {
            condition = Some(match condition {
                None => c,
                Some(e) => Expr::binary(e, BinaryOp::And, c),
            });
        }
        stmt.condition = condition;
    }
    let aggregate = stmt
        .fields
        .iter()
        .any(|f| super::row::has_aggregate(&f.expr));
    if aggregate && stmt.fill.unwrap_or(Fill::Null) == Fill::Null {
        stmt.fill = Some(Fill::None);
    }
    let series = super::select::select(storage, default_db, &stmt, now, budget).await?;
    let mut by_name: BTreeMap<String, Vec<Series>> = BTreeMap::new();
    for s in series {
        by_name.entry(s.name.clone()).or_default().push(s);
    }
    by_name
        .into_iter()
        .map(|(name, series)| to_virtual(name, series))
        .collect()
}

/// The top-level `AND`ed comparisons of `time` in a condition.
fn time_conjuncts(condition: Option<&Expr>) -> Vec<Expr> {
    let mut terms = Vec::new();
    if let Some(c) = condition {
        super::expr::flatten_and(c, &mut terms);
    }
    terms
        .into_iter()
        .filter(|e| {
            matches!(e, Expr::Binary { op, lhs, rhs }
                if op.is_comparison() && (lhs.is_time() || rhs.is_time()))
        })
        .cloned()
        .collect()
}

/// The storage type a result column holds: the type of its values, float when integers
/// and floats mix (a `fill(0)` in a float column).
fn column_type(series: &[Series], c: usize) -> FieldType {
    let mut kind: Option<FieldType> = None;
    for v in series
        .iter()
        .flat_map(|s| s.values.iter().map(move |r| &r[c]))
    {
        let k = match v {
            Value::Float(_) => FieldType::Float,
            Value::Integer(_) | Value::Time(_) => FieldType::Integer,
            Value::Unsigned(_) => FieldType::UInteger,
            Value::String(_) => FieldType::String,
            Value::Boolean(_) => FieldType::Boolean,
            Value::Null => continue,
        };
        kind = Some(match (kind, k) {
            (None, k) => k,
            (Some(FieldType::Integer), FieldType::Float) => FieldType::Float,
            (Some(a), _) => a,
        });
    }
    kind.unwrap_or(FieldType::Float)
}

fn to_virtual(name: String, series: Vec<Series>) -> Result<Virtual> {
    let mut tag_keys: Vec<String> = series
        .iter()
        .flat_map(|s| s.tags.iter().map(|t| t.0.clone()))
        .collect();
    tag_keys.sort();
    tag_keys.dedup();
    let columns: Vec<String> = series
        .first()
        .map(|s| s.columns.iter().skip(1).cloned().collect())
        .unwrap_or_default();
    let types: Vec<FieldType> = (1..=columns.len())
        .map(|c| column_type(&series, c))
        .collect();
    let mut info_columns: Vec<ColumnInfo> = tag_keys
        .iter()
        .map(|t| ColumnInfo {
            name: t.clone(),
            kind: ColumnKind::Tag,
        })
        .collect();
    // An alias given twice names two inner columns alike: the outer statement reads the
    // first, so that each column it reads has a name of its own.
    let read =
        |i: usize, c: &String| c != "time" && !tag_keys.contains(c) && !columns[..i].contains(c);
    for (i, (c, ft)) in columns.iter().zip(&types).enumerate() {
        if read(i, c) {
            info_columns.push(ColumnInfo {
                name: c.clone(),
                kind: ColumnKind::Field(*ft),
            });
        }
    }
    // Rows by time, then by series: the order in which InfluxDB hands a subquery's
    // points to the outer statement (it decides the order of float sums).
    let mut order: Vec<(i64, usize, usize)> = series
        .iter()
        .enumerate()
        .flat_map(|(k, s)| {
            s.values
                .iter()
                .enumerate()
                .map(move |(i, r)| match r.first() {
                    Some(Value::Time(t)) => (*t, k, i),
                    _ => (0, k, i),
                })
        })
        .collect();
    order.sort();
    let n = order.len();
    let mut fields: Vec<Field> = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for key in &tag_keys {
        // Dictionary value k is series k's value of this tag.
        let values: Vec<Option<&str>> = series
            .iter()
            .map(|s| s.tags.iter().find(|t| &t.0 == key).map(|t| t.1.as_str()))
            .collect();
        let keys: Int32Array = order
            .iter()
            .map(|&(_, k, _)| values[k].map(|_| k as i32))
            .collect();
        let dict_values = StringArray::from(
            values
                .iter()
                .map(|v| v.unwrap_or(""))
                .collect::<Vec<&str>>(),
        );
        let dict = DictionaryArray::<Int32Type>::try_new(keys, Arc::new(dict_values))?;
        fields.push(Field::new(key, dict.data_type().clone(), true));
        arrays.push(Arc::new(dict));
    }
    for (i, (c, ft)) in columns.iter().zip(&types).enumerate() {
        if !read(i, c) {
            continue;
        }
        let values = order.iter().map(|&(_, k, r)| &series[k].values[r][i + 1]);
        let array: ArrayRef = match ft {
            FieldType::Float => {
                let mut b = Float64Builder::with_capacity(n);
                values.for_each(|v| b.append_option(v.as_f64()));
                Arc::new(b.finish())
            }
            FieldType::Integer => {
                let mut b = Int64Builder::with_capacity(n);
                values.for_each(|v| {
                    b.append_option(match v {
                        Value::Integer(i) | Value::Time(i) => Some(*i),
                        _ => None,
                    })
                });
                Arc::new(b.finish())
            }
            FieldType::UInteger => {
                let mut b = UInt64Builder::with_capacity(n);
                values.for_each(|v| {
                    b.append_option(match v {
                        Value::Unsigned(u) => Some(*u),
                        _ => None,
                    })
                });
                Arc::new(b.finish())
            }
            FieldType::String => {
                let mut b = StringBuilder::new();
                values.for_each(|v| {
                    b.append_option(match v {
                        Value::String(s) => Some(s.as_str()),
                        _ => None,
                    })
                });
                Arc::new(b.finish())
            }
            FieldType::Boolean => {
                let mut b = BooleanBuilder::with_capacity(n);
                values.for_each(|v| {
                    b.append_option(match v {
                        Value::Boolean(x) => Some(*x),
                        _ => None,
                    })
                });
                Arc::new(b.finish())
            }
        };
        fields.push(Field::new(c, array.data_type().clone(), true));
        arrays.push(array);
    }
    let times: TimestampNanosecondArray = order.iter().map(|o| o.0).collect::<Vec<i64>>().into();
    fields.push(Field::new(
        "time",
        DataType::Timestamp(TimeUnit::Nanosecond, None),
        false,
    ));
    arrays.push(Arc::new(times));
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?;
    Ok(Virtual {
        info: TableInfo {
            name,
            columns: info_columns,
        },
        batch,
    })
}
