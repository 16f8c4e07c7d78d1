//! The values of aggregate rows: field expressions over aggregate calls (arithmetic
//! and math on their outputs), a fast path for common aggregates over numeric columns,
//! and `fill()` of the buckets without input.

use arrow::array::{Array, PrimitiveArray};
use arrow::datatypes::{ArrowPrimitiveType, Float64Type, Int64Type};
use sluice_influxql::{BinaryOp, Expr, Fill};

use super::aggregate::{Func, Output};
use super::expr;
use super::math::MathFn;
use super::result::Value;
use super::view::{BatchView, V};
use crate::error::{Error, Result};

/// An aggregate field expression with its calls replaced by indices into `calls`.
#[derive(Debug, Clone)]
pub(crate) enum AggExpr {
    Call(usize),
    /// A field or tag beside a lone selector (`max(usage), host`): its value at the
    /// selected point, by index into the statement's such names.
    Aux(usize),
    Literal(Value),
    Binary(BinaryOp, Box<AggExpr>, Box<AggExpr>),
    Math(MathFn, Vec<AggExpr>),
}

/// Whether an expression calls an aggregate or selector (math functions alone do not
/// make a query an aggregate).
pub(crate) fn has_aggregate(e: &Expr) -> bool {
    let mut found = false;
    e.walk(&mut |x| {
        if let Expr::Call(c) = x {
            found |= MathFn::from_name(&c.name).is_none();
        }
    });
    found
}

pub(crate) fn to_agg_expr(
    e: &Expr,
    calls: &mut Vec<(Func, String)>,
    aux: &mut Vec<String>,
) -> Result<AggExpr> {
    Ok(match e {
        Expr::Call(c) if MathFn::from_name(&c.name).is_some() => {
            let f = MathFn::from_name(&c.name).expect("checked");
            AggExpr::Math(
                f,
                c.args
                    .iter()
                    .map(|a| to_agg_expr(a, calls, aux))
                    .collect::<Result<_>>()?,
            )
        }
        Expr::Call(c) => {
            let resolved = Func::from_call(c)?;
            let i = match calls.iter().position(|x| *x == resolved) {
                Some(i) => i,
                None => {
                    calls.push(resolved);
                    calls.len() - 1
                }
            };
            AggExpr::Call(i)
        }
        Expr::Literal(l) => AggExpr::Literal(match l {
            sluice_influxql::Literal::Integer(i) => Value::Integer(*i),
            sluice_influxql::Literal::Unsigned(u) => Value::Unsigned(*u),
            sluice_influxql::Literal::Float(x) => Value::Float(*x),
            sluice_influxql::Literal::String(s) => Value::String(s.clone()),
            sluice_influxql::Literal::Boolean(b) => Value::Boolean(*b),
            sluice_influxql::Literal::Duration(d) => Value::Integer(*d),
        }),
        Expr::Binary { op, lhs, rhs } => AggExpr::Binary(
            *op,
            Box::new(to_agg_expr(lhs, calls, aux)?),
            Box::new(to_agg_expr(rhs, calls, aux)?),
        ),
        // Whether a lone selector stands beside it is checked once every field is read.
        Expr::VarRef(v) if !e.is_time() => {
            let i = match aux.iter().position(|a| *a == v.name) {
                Some(i) => i,
                None => {
                    aux.push(v.name.clone());
                    aux.len() - 1
                }
            };
            AggExpr::Aux(i)
        }
        Expr::VarRef(_) | Expr::Wildcard(_) | Expr::Regex(_) => {
            return Err(Error::Invalid(
                "mixing aggregate and non-aggregate queries is not supported".to_owned(),
            ));
        }
    })
}

/// `func` over a float or integer column without building points, for the functions
/// where that is simple; `None` when it does not apply (another function, or a batch
/// whose column is of another type), else the output as [`super::aggregate::apply`]
/// gives it (`None` inside when the bucket has no value).
pub(crate) fn numeric_aggregate(
    func: &Func,
    col: usize,
    rows: &[(u32, u32)],
    views: &[BatchView<'_>],
) -> Option<Option<Output>> {
    if !matches!(
        func,
        Func::Count | Func::Sum | Func::Mean | Func::Min | Func::Max | Func::First | Func::Last
    ) {
        return None;
    }
    // The column's array in each batch: every batch `rows` names has floats, or each
    // has integers.
    let column = |b: usize| &views[b].columns[col];
    let floats = |b: usize| column(b).floats();
    if in_every_batch(rows, floats) {
        return Some(typed_aggregate(func, rows, floats, views));
    }
    let integers = |b: usize| column(b).integers();
    if in_every_batch(rows, integers) {
        return Some(typed_aggregate(func, rows, integers, views));
    }
    None
}

/// Whether `array` (of a batch) is there for each batch `rows` names.
fn in_every_batch<A>(rows: &[(u32, u32)], array: impl Fn(usize) -> Option<A>) -> bool {
    consecutive_runs(rows).all(|(b, _)| array(b).is_some())
}

/// A column type [`numeric_aggregate`] reads, with the semantics of
/// [`super::aggregate::apply`] for it.
trait Numeric: ArrowPrimitiveType<Native: PartialOrd> {
    fn value(x: Self::Native) -> Value;
    fn as_f64(x: Self::Native) -> f64;
    /// `sum()`: wrapping for integers, sequential for floats.
    fn sum(xs: impl Iterator<Item = Self::Native>) -> Value;
}

impl Numeric for Float64Type {
    fn value(x: f64) -> Value {
        Value::Float(x)
    }
    fn as_f64(x: f64) -> f64 {
        x
    }
    fn sum(xs: impl Iterator<Item = f64>) -> Value {
        Value::Float(xs.sum())
    }
}

impl Numeric for Int64Type {
    fn value(x: i64) -> Value {
        Value::Integer(x)
    }
    fn as_f64(x: i64) -> f64 {
        x as f64
    }
    fn sum(xs: impl Iterator<Item = i64>) -> Value {
        Value::Integer(xs.fold(0i64, i64::wrapping_add))
    }
}

/// [`numeric_aggregate`] over `array`, each batch's column (`Some` for every batch
/// `rows` names).
fn typed_aggregate<'a, T: Numeric>(
    func: &Func,
    rows: &[(u32, u32)],
    array: impl Fn(usize) -> Option<&'a PrimitiveArray<T>>,
    views: &[BatchView<'_>],
) -> Option<Output> {
    // The rows as runs of consecutive rows of one batch (a series' rows are consecutive
    // in a scan's batches), each read as a slice of its array.
    let runs = || {
        consecutive_runs(rows).map(|(b, range)| {
            let a = array(b).expect("every batch of the rows has the column");
            (b, range.start, &a.values()[range], a.nulls())
        })
    };
    // Every (batch, row, value) with a value, in the order of `rows`.
    let values = || {
        runs().flat_map(|(b, first, values, nulls)| {
            values
                .iter()
                .enumerate()
                .map(move |(k, &x)| (b, first + k, x))
                .filter(move |&(_, i, _)| nulls.is_none_or(|n| n.is_valid(i)))
        })
    };
    let time = |b: usize, i: usize| views[b].time(i);
    let one = |v: Value| Some(Output::One(v, None));
    match func {
        Func::Count => {
            let n = values().count();
            (n > 0).then_some(Output::One(Value::Integer(n as i64), None))
        }
        Func::Sum => values()
            .next()
            .is_some()
            .then(|| Output::One(T::sum(values().map(|v| v.2)), None)),
        Func::Mean => {
            let mut n = 0usize;
            // The same sequential sum as `aggregate::apply`, so results are identical.
            let sum: f64 = values()
                .map(|(_, _, x)| T::as_f64(x))
                .inspect(|_| n += 1)
                .sum();
            if n == 0 {
                None
            } else {
                one(Value::Float(sum / n as f64))
            }
        }
        Func::Max | Func::Min => {
            // `aggregate::apply`'s tie rule: the earlier point on equal values (times are
            // looked up only then).
            let max = matches!(func, Func::Max);
            let mut best: Option<(usize, usize, T::Native)> = None;
            for (b, i, x) in values() {
                let Some((bb, bi, bx)) = best else {
                    best = Some((b, i, x));
                    continue;
                };
                let better = if max { x > bx } else { x < bx };
                if better || (x == bx && time(b, i) < time(bb, bi)) {
                    best = Some((b, i, x));
                }
            }
            best.map(|(b, i, x)| Output::One(T::value(x), Some(time(b, i))))
        }
        _ => {
            // first/last take the larger value on equal times, as `aggregate::apply` does.
            let first = matches!(func, Func::First);
            let mut best: Option<(i64, T::Native)> = None;
            for (b, i, x) in values() {
                let t = time(b, i);
                let Some((bt, bx)) = best else {
                    best = Some((t, x));
                    continue;
                };
                let later = if first { t < bt } else { t > bt };
                if later || (t == bt && x > bx) {
                    best = Some((t, x));
                }
            }
            best.map(|(t, x)| Output::One(T::value(x), Some(t)))
        }
    }
}

/// `rows` (batch, row) as runs of consecutive rows of one batch, in order.
fn consecutive_runs(
    rows: &[(u32, u32)],
) -> impl Iterator<Item = (usize, std::ops::Range<usize>)> + '_ {
    let mut next = 0;
    std::iter::from_fn(move || {
        let &(b, first) = rows.get(next)?;
        let mut end = first as usize + 1;
        next += 1;
        while rows.get(next) == Some(&(b, end as u32)) {
            end += 1;
            next += 1;
        }
        Some((b as usize, first as usize..end))
    })
}

/// The value of an aggregate expression, or None when none of its calls had input.
pub(crate) fn eval_agg(
    e: &AggExpr,
    outputs: &[Option<Output>],
    calls: &[(Func, String)],
) -> Option<Value> {
    match e {
        AggExpr::Call(i) => match &outputs[*i] {
            Some(Output::One(v, _)) => Some(v.clone()),
            Some(Output::Many(_)) => None,
            None => None,
        },
        // Values beside a selector follow the calls' outputs.
        AggExpr::Aux(k) => match outputs.get(calls.len() + k) {
            Some(Some(Output::One(v, _))) => Some(v.clone()),
            _ => None,
        },
        AggExpr::Literal(v) => Some(v.clone()),
        AggExpr::Math(f, args) => {
            let values: Vec<Option<Value>> =
                args.iter().map(|a| eval_agg(a, outputs, calls)).collect();
            if values.iter().all(Option::is_none) {
                return None;
            }
            let values: Vec<Value> = values
                .into_iter()
                .zip(args)
                .map(|(v, a)| v.unwrap_or_else(|| empty_of(a, calls)))
                .collect();
            let vs: Vec<V<'_>> = values.iter().map(V::from_value).collect();
            Some(f.apply(&vs).to_value())
        }
        AggExpr::Binary(op, l, r) => {
            let lv = eval_agg(l, outputs, calls);
            let rv = eval_agg(r, outputs, calls);
            if lv.is_none() && rv.is_none() {
                return None;
            }
            // A call without input counts as its empty value (0 for count) in arithmetic.
            let lv = lv.unwrap_or_else(|| empty_of(l, calls));
            let rv = rv.unwrap_or_else(|| empty_of(r, calls));
            Some(expr::binary(*op, V::from_value(&lv), V::from_value(&rv)).to_value())
        }
    }
}

pub(crate) fn empty_of(e: &AggExpr, calls: &[(Func, String)]) -> Value {
    match e {
        AggExpr::Call(i) => calls[*i].0.empty_value(),
        _ => Value::Null,
    }
}

/// Fills the columns of buckets that had no input: `null` (0 for a bare count), `none`
/// (row dropped when every column is empty), `previous`, `linear`, or a number.
pub(crate) fn apply_fill(
    rows: Vec<(i64, Vec<Option<Value>>)>,
    fill: Fill,
    exprs: &[AggExpr],
    calls: &[(Func, String)],
    descending: bool,
) -> Vec<Vec<Value>> {
    let width = rows.first().map_or(0, |r| r.1.len());
    let mut cols: Vec<Vec<Option<Value>>> = vec![Vec::with_capacity(rows.len()); width];
    let mut times = Vec::with_capacity(rows.len());
    for (t, row) in rows {
        times.push(t);
        for (c, v) in row.into_iter().enumerate() {
            cols[c].push(v);
        }
    }
    let present: Vec<bool> = (0..times.len())
        .map(|i| cols.iter().any(|c| c[i].is_some()))
        .collect();
    for (c, col) in cols.iter_mut().enumerate() {
        match fill {
            Fill::Null | Fill::None => {
                let empty = exprs.get(c).map_or(Value::Null, |e| empty_of(e, calls));
                for v in col.iter_mut().filter(|v| v.is_none()) {
                    *v = Some(empty.clone());
                }
            }
            Fill::Integer(n) => {
                for v in col.iter_mut().filter(|v| v.is_none()) {
                    *v = Some(Value::Integer(n));
                }
            }
            Fill::Float(x) => {
                for v in col.iter_mut().filter(|v| v.is_none()) {
                    *v = Some(Value::Float(x));
                }
            }
            Fill::Previous => {
                // The value of the row answered before, as InfluxDB fills: under `ORDER
                // BY time DESC` that is the later bucket's.
                let mut last: Option<Value> = None;
                let fill_one = |v: &mut Option<Value>, last: &mut Option<Value>| match v {
                    Some(x) if !x.is_null() => *last = Some(x.clone()),
                    _ => *v = Some(last.clone().unwrap_or(Value::Null)),
                };
                if descending {
                    col.iter_mut().rev().for_each(|v| fill_one(v, &mut last));
                } else {
                    col.iter_mut().for_each(|v| fill_one(v, &mut last));
                }
            }
            Fill::Linear => {
                let known: Vec<(usize, f64, bool)> = col
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| match v {
                        Some(Value::Integer(n)) => Some((i, *n as f64, true)),
                        Some(x) => x.as_f64().map(|f| (i, f, false)),
                        None => None,
                    })
                    .collect();
                for w in known.windows(2) {
                    let (i0, y0, int) = w[0];
                    let (i1, y1, _) = w[1];
                    for (i, slot) in col.iter_mut().enumerate().take(i1).skip(i0 + 1) {
                        let (t0, t1, t) = (times[i0] as f64, times[i1] as f64, times[i] as f64);
                        let y = y0 + (y1 - y0) * (t - t0) / (t1 - t0);
                        *slot = Some(if int {
                            Value::Integer(y as i64)
                        } else {
                            Value::Float(y)
                        });
                    }
                }
                for v in col.iter_mut().filter(|v| v.is_none()) {
                    *v = Some(Value::Null);
                }
            }
        }
    }
    (0..times.len())
        .filter(|&i| fill != Fill::None || present[i])
        .map(|i| {
            let mut row = Vec::with_capacity(width + 1);
            row.push(Value::Time(times[i]));
            row.extend(cols.iter().map(|c| c[i].clone().unwrap_or(Value::Null)));
            row
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, TimestampNanosecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    use super::*;
    use crate::influxql::aggregate::{self, Point};

    /// A batch of `v` and `time`; `v` is an integer column (the value times ten) when
    /// `integer`.
    fn batch(rows: &[(i64, Option<f64>)], integer: bool) -> RecordBatch {
        let v: ArrayRef = if integer {
            Arc::new(
                rows.iter()
                    .map(|r| r.1.map(|x| (x * 10.0) as i64))
                    .collect::<Int64Array>(),
            )
        } else {
            Arc::new(rows.iter().map(|r| r.1).collect::<Float64Array>())
        };
        let schema = Schema::new(vec![
            Field::new("v", v.data_type().clone(), true),
            Field::new(
                "time",
                DataType::Timestamp(TimeUnit::Nanosecond, None),
                false,
            ),
        ]);
        let t = TimestampNanosecondArray::from_iter_values(rows.iter().map(|r| r.0));
        RecordBatch::try_new(Arc::new(schema), vec![v, Arc::new(t)]).unwrap()
    }

    #[test]
    fn numeric_aggregates_equal_the_general_functions_including_ties() {
        for integer in [false, true] {
            numeric_aggregates_equal_the_general_functions(integer);
        }
    }

    fn numeric_aggregates_equal_the_general_functions(integer: bool) {
        // Two batches (as from two series) with equal values, equal times and nulls.
        let a = batch(
            &[
                (30, Some(2.5)),
                (10, Some(-1.0)),
                (20, None),
                (40, Some(7.0)),
            ],
            integer,
        );
        let b = batch(
            &[
                (10, Some(7.0)),
                (30, Some(-1.0)),
                (40, Some(0.1)),
                (5, Some(0.2)),
            ],
            integer,
        );
        let names = vec!["v".to_owned()];
        let views = vec![
            BatchView::new(&a, &names).unwrap(),
            BatchView::new(&b, &names).unwrap(),
        ];
        let all: Vec<(u32, u32)> = (0..4)
            .map(|r| (0, r))
            .chain((0..4).map(|r| (1, r)))
            .collect();
        let subsets: Vec<Vec<(u32, u32)>> = vec![
            all.clone(),
            all.iter().rev().copied().collect(),
            vec![(0, 2)],
            vec![],
            vec![(1, 1), (0, 1), (1, 0), (0, 3)],
            // Runs of consecutive rows, one with a null.
            vec![(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (1, 0)],
        ];
        let funcs = [
            Func::Count,
            Func::Sum,
            Func::Mean,
            Func::Min,
            Func::Max,
            Func::First,
            Func::Last,
        ];
        for rows in &subsets {
            let points: Vec<Point<'_>> = rows
                .iter()
                .filter_map(|&(b, r)| {
                    let view = &views[b as usize];
                    let v = view.columns[0].get(r as usize);
                    (!v.is_null()).then(|| Point {
                        time: view.time(r as usize),
                        value: v,
                        tags: Vec::new(),
                    })
                })
                .collect();
            for func in &funcs {
                let expected = if points.is_empty() {
                    None
                } else {
                    Some(aggregate::apply(func, &points).unwrap())
                };
                assert_eq!(
                    numeric_aggregate(func, 0, rows, &views),
                    Some(expected),
                    "{func:?} over {rows:?}"
                );
            }
        }
        assert_eq!(numeric_aggregate(&Func::Median, 0, &all, &views), None);
    }
}
