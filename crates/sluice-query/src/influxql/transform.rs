//! Transformations (`derivative`, `non_negative_derivative`, `difference`,
//! `non_negative_difference`, `moving_average`, `cumulative_sum`, `elapsed`) as InfluxDB
//! 1.x runs them: over the raw points of a field, or over the filled buckets of an
//! aggregate under `GROUP BY time`, one series at a time, in the statement's time order.
//!
//! The statement is answered in two steps. The statement without transformations (their
//! arguments as its fields, its time range widened by one bucket so the first bucket has
//! a predecessor, no limits) runs first; then each transformation walks its column of
//! each series, skipping nulls, and the fields' outputs are joined by time.

use std::collections::HashMap;

use sluice_influxql::{BinaryOp, Expr, Field, Fill, FunctionKind, Literal, SelectStatement};
use sluice_storage::Storage;

use super::expr;
use super::math::MathFn;
use super::result::{Series, Value};
use super::view::V;
use super::zone::{Buckets, TimeZone};
use crate::error::{Error, Result};
use crate::limits::Budget;

/// A transformation with its constant arguments resolved.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Transform {
    /// Change per `unit` nanoseconds between successive points.
    Derivative { unit: i64, non_negative: bool },
    /// Change between successive points.
    Difference { non_negative: bool },
    /// Mean of the last `n` points.
    MovingAverage(usize),
    /// Running sum.
    CumulativeSum,
    /// Time between successive points, in `unit`s (integer division).
    Elapsed(i64),
}

/// How an output field is computed from the columns of the statement run first.
#[derive(Debug, Clone)]
enum Node {
    /// An aggregate column as it is (`mean(x)` next to `derivative(mean(x))`).
    Column(usize),
    Transform(Transform, usize),
    Math(MathFn, Vec<Node>),
    Binary(BinaryOp, Box<Node>, Box<Node>),
    Literal(Value),
}

impl Node {
    /// Whether a transformation under this node reads the point before each of its
    /// own (all of them but `cumulative_sum`, which starts at the range).
    fn reads_a_previous_point(&self) -> bool {
        match self {
            Node::Transform(t, _) => *t != Transform::CumulativeSum,
            Node::Math(_, args) => args.iter().any(Node::reads_a_previous_point),
            Node::Binary(_, l, r) => l.reads_a_previous_point() || r.reads_a_previous_point(),
            Node::Column(_) | Node::Literal(_) => false,
        }
    }
}

/// A node's outcome: points in output order, or one constant for every time.
enum Points {
    Many(Vec<(i64, Value)>),
    Const(Value),
}

/// Whether a field of the statement calls a transformation.
pub(crate) fn has_transform(stmt: &SelectStatement) -> bool {
    let mut found = false;
    for f in &stmt.fields {
        f.expr.walk(&mut |e| {
            if let Expr::Call(c) = e {
                found |= is_transform(&c.name);
            }
        });
    }
    found
}

fn is_transform(name: &str) -> bool {
    sluice_influxql::function_kind(name) == Some(FunctionKind::Transformation)
}

/// Builds output fields into nodes, collecting the columns the first step computes.
struct Planner {
    interval: Option<i64>,
    inputs: Vec<Expr>,
}

impl Planner {
    fn input(&mut self, e: &Expr) -> usize {
        match self.inputs.iter().position(|x| x == e) {
            Some(i) => i,
            None => {
                self.inputs.push(e.clone());
                self.inputs.len() - 1
            }
        }
    }

    fn node(&mut self, e: &Expr) -> Result<Node> {
        Ok(match e {
            Expr::Call(c) if is_transform(&c.name) => {
                let name = c.name.as_str();
                let arg = c.args.first().ok_or_else(|| {
                    Error::Invalid(format!("invalid number of arguments for {name}"))
                })?;
                match (arg, self.interval) {
                    (Expr::Call(inner), Some(_))
                        if !is_transform(&inner.name)
                            && MathFn::from_name(&inner.name).is_none() => {}
                    (Expr::VarRef(_), None) => {}
                    (_, Some(_)) => {
                        return Err(Error::Invalid(format!(
                            "aggregate function required inside the call to {name}"
                        )));
                    }
                    (_, None) => {
                        return Err(Error::Invalid(format!(
                            "{name} aggregate requires a GROUP BY interval"
                        )));
                    }
                }
                let unit = |default: i64| match c.args.get(1) {
                    Some(Expr::Literal(Literal::Duration(d))) if *d > 0 => Ok(*d),
                    None => Ok(default),
                    Some(other) => Err(Error::Invalid(format!(
                        "second argument to {name} must be a duration, got {other}"
                    ))),
                };
                let t = match name {
                    "derivative" | "non_negative_derivative" => Transform::Derivative {
                        unit: unit(self.interval.unwrap_or(1_000_000_000))?,
                        non_negative: name == "non_negative_derivative",
                    },
                    "difference" | "non_negative_difference" => Transform::Difference {
                        non_negative: name == "non_negative_difference",
                    },
                    "moving_average" => match c.args.get(1) {
                        Some(Expr::Literal(Literal::Integer(n))) if *n > 1 => {
                            Transform::MovingAverage(*n as usize)
                        }
                        _ => {
                            return Err(Error::Invalid(format!(
                                "moving_average window must be greater than 1, got {}",
                                c.args.get(1).map(ToString::to_string).unwrap_or_default()
                            )));
                        }
                    },
                    "cumulative_sum" => Transform::CumulativeSum,
                    _ => Transform::Elapsed(unit(1)?),
                };
                Node::Transform(t, self.input(arg))
            }
            Expr::Call(c) if MathFn::from_name(&c.name).is_some() => Node::Math(
                MathFn::from_name(&c.name).expect("checked"),
                c.args.iter().map(|a| self.node(a)).collect::<Result<_>>()?,
            ),
            Expr::Call(_) if self.interval.is_some() => Node::Column(self.input(e)),
            Expr::Binary { op, lhs, rhs } => {
                Node::Binary(*op, Box::new(self.node(lhs)?), Box::new(self.node(rhs)?))
            }
            Expr::Literal(l) => Node::Literal(match l {
                Literal::Integer(i) => Value::Integer(*i),
                Literal::Unsigned(u) => Value::Unsigned(*u),
                Literal::Float(x) => Value::Float(*x),
                Literal::String(s) => Value::String(s.clone()),
                Literal::Boolean(b) => Value::Boolean(*b),
                Literal::Duration(d) => Value::Integer(*d),
            }),
            _ => {
                return Err(Error::Invalid(
                    "mixing aggregate and non-aggregate queries is not supported".to_owned(),
                ));
            }
        })
    }
}

/// Runs a `SELECT` whose fields call transformations.
pub(crate) async fn select(
    storage: &Storage,
    default_db: Option<&str>,
    stmt: &SelectStatement,
    now: i64,
    budget: &Budget,
) -> Result<Vec<Series>> {
    let group_time = stmt.group_by_time();
    let mut planner = Planner {
        interval: group_time.map(|g| g.0),
        inputs: Vec::new(),
    };
    let nodes: Vec<Node> = stmt
        .fields
        .iter()
        .map(|f| planner.node(&f.expr))
        .collect::<Result<_>>()?;
    let mut first = stmt.clone();
    first.fields = planner
        .inputs
        .iter()
        .enumerate()
        .map(|(i, e)| Field {
            expr: e.clone(),
            alias: Some(format!("__input{i}")),
        })
        .collect();
    (first.limit, first.offset, first.slimit, first.soffset) = (None, None, None, None);
    // Over `GROUP BY time` buckets the input starts a bucket before the range, so that
    // the first bucket's derivative or difference has a point before it, as InfluxDB
    // 1.x reads it; a running sum alone reads only the range (its first bucket holds the
    // points from the range's start on).
    let shift = match group_time {
        Some((interval, _)) if nodes.iter().any(Node::reads_a_previous_point) => interval,
        _ => 0,
    };
    let inner = super::select::run(storage, default_db, &first, now, budget, shift).await?;

    // The buckets of the statement as written: a plain aggregate column keeps only those.
    let zone = TimeZone::of(stmt)?;
    let (range, _) = expr::split_condition_in(stmt.condition.as_ref(), now, zone)?;
    let buckets = Buckets::of(stmt, zone);
    let window = |t: i64| buckets.map_or(t, |b| b.start(t));
    let desc = stmt.is_descending();
    let kept = |t: i64| match (group_time, desc) {
        (None, _) => true,
        (Some(_), false) => !range.has_start || t >= window(range.start),
        (Some(_), true) => t <= window(if range.has_end { range.end - 1 } else { now }),
    };

    let mut columns = vec!["time".to_owned()];
    columns.extend(unique_names(&stmt.fields));
    let mut out = Vec::new();
    for s in inner {
        let mut ctx = SeriesColumns {
            rows: &s.values,
            non_null: HashMap::new(),
            desc,
        };
        let outputs: Vec<Points> = nodes
            .iter()
            .map(|n| ctx.eval(n, &kept))
            .collect::<Result<_>>()?;
        let mut rows = join_by_time(outputs, desc);
        // A field without a point at a row's time shows the fill number, as in InfluxDB.
        let fill_number = match stmt.fill {
            Some(Fill::Integer(n)) => Some(Value::Integer(n)),
            Some(Fill::Float(x)) => Some(Value::Float(x)),
            _ => None,
        };
        if let Some(n) = fill_number {
            for v in rows.iter_mut().flat_map(|r| r.iter_mut().skip(1)) {
                if v.is_null() {
                    *v = n.clone();
                }
            }
        }
        let rows: Vec<Vec<Value>> = rows
            .into_iter()
            .skip(stmt.offset.unwrap_or(0) as usize)
            .take(stmt.limit.map_or(usize::MAX, |l| l as usize))
            .collect();
        if rows.is_empty() {
            continue;
        }
        out.push(Series {
            name: s.name,
            tags: s.tags,
            columns: columns.clone(),
            values: rows,
        });
    }
    Ok(out
        .into_iter()
        .skip(stmt.soffset.unwrap_or(0) as usize)
        .take(stmt.slimit.map_or(usize::MAX, |l| l as usize))
        .collect())
}

/// Output column names, as InfluxDB names them (`derivative`, `derivative_1`; see
/// [`super::select::column_names`]).
fn unique_names(fields: &[Field]) -> Vec<String> {
    let names: Vec<String> = fields.iter().map(Field::column_name).collect();
    super::select::column_names(
        names
            .iter()
            .zip(fields)
            .map(|(name, f)| (name.as_str(), f.alias.is_some())),
    )
}

/// The columns of one series of the first step's answer.
struct SeriesColumns<'a> {
    /// Rows in output order: time, then one value per input.
    rows: &'a [Vec<Value>],
    /// Per input column, its non-null points, built on first use.
    non_null: HashMap<usize, Vec<(i64, Value)>>,
    desc: bool,
}

impl SeriesColumns<'_> {
    fn time(row: &[Value]) -> i64 {
        match row.first() {
            Some(Value::Time(t)) => *t,
            _ => 0,
        }
    }

    fn eval(&mut self, node: &Node, kept: &dyn Fn(i64) -> bool) -> Result<Points> {
        Ok(match node {
            Node::Column(c) => Points::Many(
                self.rows
                    .iter()
                    .filter(|r| kept(Self::time(r)))
                    .map(|r| (Self::time(r), r[c + 1].clone()))
                    .collect(),
            ),
            Node::Transform(t, c) => {
                let rows = self.rows;
                let points = self.non_null.entry(*c).or_insert_with(|| {
                    rows.iter()
                        .filter(|r| !r[c + 1].is_null())
                        .map(|r| (Self::time(r), r[c + 1].clone()))
                        .collect()
                });
                // A running sum starts at the range: the bucket before it is there for
                // the transformations that need a previous point, not to be summed.
                if *t == Transform::CumulativeSum {
                    let in_range: Vec<(i64, Value)> =
                        points.iter().filter(|(t, _)| kept(*t)).cloned().collect();
                    Points::Many(apply(*t, &in_range, self.desc)?)
                } else {
                    Points::Many(apply(*t, points, self.desc)?)
                }
            }
            Node::Literal(v) => Points::Const(v.clone()),
            Node::Math(f, args) => {
                let args: Vec<Points> = args
                    .iter()
                    .map(|a| self.eval(a, kept))
                    .collect::<Result<_>>()?;
                combine(args, self.desc, |vs| {
                    let vs: Vec<V<'_>> = vs.iter().map(V::from_value).collect();
                    f.apply(&vs).to_value()
                })
            }
            Node::Binary(op, l, r) => {
                let args = vec![self.eval(l, kept)?, self.eval(r, kept)?];
                combine(args, self.desc, |vs| {
                    expr::binary(*op, V::from_value(&vs[0]), V::from_value(&vs[1])).to_value()
                })
            }
        })
    }
}

/// Joins the outputs of several nodes by time and applies `f` to each set of values
/// (null where an output has no point at that time).
fn combine(args: Vec<Points>, desc: bool, f: impl Fn(&[Value]) -> Value) -> Points {
    if args.iter().all(|a| matches!(a, Points::Const(_))) {
        let values: Vec<Value> = args
            .into_iter()
            .map(|a| match a {
                Points::Const(v) => v,
                Points::Many(_) => Value::Null,
            })
            .collect();
        return Points::Const(f(&values));
    }
    let consts: Vec<Option<Value>> = args
        .iter()
        .map(|a| match a {
            Points::Const(v) => Some(v.clone()),
            Points::Many(_) => None,
        })
        .collect();
    let many: Vec<Points> = args
        .into_iter()
        .map(|a| match a {
            Points::Const(_) => Points::Many(Vec::new()),
            many => many,
        })
        .collect();
    let rows = join_by_time(many, desc);
    Points::Many(
        rows.into_iter()
            .map(|row| {
                let t = match row[0] {
                    Value::Time(t) => t,
                    _ => 0,
                };
                let values: Vec<Value> = row[1..]
                    .iter()
                    .zip(&consts)
                    .map(|(v, c)| c.clone().unwrap_or_else(|| v.clone()))
                    .collect();
                (t, f(&values))
            })
            .collect(),
    )
}

/// Zips point lists (each in output order) into rows as InfluxDB's emitter does: each
/// row takes the next time of any list and, from every list whose next point has that
/// time, that point; lists without one give null. Constants fill every row.
fn join_by_time(outputs: Vec<Points>, desc: bool) -> Vec<Vec<Value>> {
    let lists: Vec<Vec<(i64, Value)>> = outputs
        .iter()
        .map(|o| match o {
            Points::Many(p) => p.clone(),
            Points::Const(_) => Vec::new(),
        })
        .collect();
    let mut pos = vec![0usize; lists.len()];
    let mut rows = Vec::new();
    loop {
        let next = lists
            .iter()
            .zip(&pos)
            .filter_map(|(l, &p)| l.get(p).map(|x| x.0));
        let t = if desc { next.max() } else { next.min() };
        let Some(t) = t else { break };
        let mut row = Vec::with_capacity(lists.len() + 1);
        row.push(Value::Time(t));
        for (k, l) in lists.iter().enumerate() {
            match (&outputs[k], l.get(pos[k])) {
                (Points::Const(v), _) => row.push(v.clone()),
                (_, Some((pt, v))) if *pt == t => {
                    row.push(v.clone());
                    pos[k] += 1;
                }
                _ => row.push(Value::Null),
            }
        }
        rows.push(row);
    }
    rows
}

/// One transformation over a column's non-null points, in output order (newest first
/// for `ORDER BY time DESC`, where elapsed times count backwards as in InfluxDB).
fn apply(t: Transform, points: &[(i64, Value)], desc: bool) -> Result<Vec<(i64, Value)>> {
    // `elapsed` reads only the times, so it takes points of any type, as in InfluxDB.
    let numeric = |v: &Value| matches!(v, Value::Float(_) | Value::Integer(_) | Value::Unsigned(_));
    if !matches!(t, Transform::Elapsed(_))
        && let Some((_, v)) = points.iter().find(|(_, v)| !numeric(v))
    {
        let kind = match v {
            Value::String(_) => "string",
            Value::Boolean(_) => "boolean",
            _ => "this",
        };
        return Err(Error::Invalid(format!(
            "unsupported {} iterator type: {kind}",
            name_of(t)
        )));
    }
    let mut out = Vec::with_capacity(points.len());
    match t {
        Transform::Derivative { .. } | Transform::Difference { .. } => {
            // A point at the time of the one before it is skipped: the first one counts.
            let mut prev: Option<&(i64, Value)> = None;
            for p in points {
                if prev.is_some_and(|q| q.0 == p.0) {
                    continue;
                }
                let Some(q) = prev.replace(p) else { continue };
                let diff = difference(&q.1, &p.1);
                let negative = diff.as_f64().is_some_and(|d| d < 0.0);
                match t {
                    Transform::Derivative { unit, non_negative } => {
                        if non_negative && negative {
                            continue;
                        }
                        let mut elapsed = p.0 - q.0;
                        if desc {
                            elapsed = -elapsed;
                        }
                        let d = diff.as_f64().unwrap_or(0.0);
                        out.push((p.0, Value::Float(d / (elapsed as f64 / unit as f64))));
                    }
                    Transform::Difference { non_negative } => {
                        if non_negative && negative {
                            continue;
                        }
                        out.push((p.0, diff));
                    }
                    _ => unreachable!("matched above"),
                }
            }
        }
        Transform::MovingAverage(n) => {
            // A running sum (minus the value leaving the window), as InfluxDB keeps it,
            // so that results agree to the last bit.
            let integers = points.iter().all(|p| matches!(p.1, Value::Integer(_)));
            // (The window never holds more than the points: `n` may be huge.)
            let mut window: Vec<(f64, i64)> = Vec::with_capacity(n.min(points.len()));
            let (mut fsum, mut isum, mut pos) = (0.0f64, 0i64, 0usize);
            for (time, v) in points {
                let x = v.as_f64().unwrap_or(0.0);
                let i = match v {
                    Value::Integer(i) => *i,
                    _ => 0,
                };
                if window.len() < n {
                    window.push((x, i));
                } else {
                    fsum -= window[pos].0;
                    isum = isum.wrapping_sub(window[pos].1);
                    window[pos] = (x, i);
                }
                fsum += x;
                isum = isum.wrapping_add(i);
                pos = (pos + 1) % n;
                if window.len() == n {
                    let mean = if integers {
                        isum as f64 / n as f64
                    } else {
                        fsum / n as f64
                    };
                    out.push((*time, Value::Float(mean)));
                }
            }
        }
        Transform::CumulativeSum => {
            let mut sum: Option<Value> = None;
            for (time, v) in points {
                let next = match (&sum, v) {
                    (None, v) => v.clone(),
                    (Some(Value::Integer(a)), Value::Integer(b)) => {
                        Value::Integer(a.wrapping_add(*b))
                    }
                    (Some(Value::Unsigned(a)), Value::Unsigned(b)) => {
                        Value::Unsigned(a.wrapping_add(*b))
                    }
                    (Some(a), b) => {
                        Value::Float(a.as_f64().unwrap_or(0.0) + b.as_f64().unwrap_or(0.0))
                    }
                };
                out.push((*time, next.clone()));
                sum = Some(next);
            }
        }
        Transform::Elapsed(unit) => {
            for w in points.windows(2) {
                out.push((w[1].0, Value::Integer((w[1].0 - w[0].0) / unit)));
            }
        }
    }
    Ok(out)
}

/// `b - a`, integer for integers (wrapping, as Go's arithmetic), else float.
fn difference(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Integer(x), Value::Integer(y)) => Value::Integer(y.wrapping_sub(*x)),
        (Value::Unsigned(x), Value::Unsigned(y)) => Value::Unsigned(y.wrapping_sub(*x)),
        _ => Value::Float(b.as_f64().unwrap_or(0.0) - a.as_f64().unwrap_or(0.0)),
    }
}

fn name_of(t: Transform) -> &'static str {
    match t {
        Transform::Derivative {
            non_negative: false,
            ..
        } => "derivative",
        Transform::Derivative { .. } => "non_negative_derivative",
        Transform::Difference {
            non_negative: false,
        } => "difference",
        Transform::Difference { .. } => "non_negative_difference",
        Transform::MovingAverage(_) => "moving_average",
        Transform::CumulativeSum => "cumulative_sum",
        Transform::Elapsed(_) => "elapsed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(points: &[(i64, f64)]) -> Vec<(i64, Value)> {
        points.iter().map(|&(t, x)| (t, Value::Float(x))).collect()
    }

    #[test]
    fn derivative_skips_repeated_times_and_scales_by_unit() {
        let p = floats(&[(0, 1.0), (0, 10.0), (60, 3.0), (180, 20.0)]);
        let d = apply(
            Transform::Derivative {
                unit: 60,
                non_negative: false,
            },
            &p,
            false,
        )
        .unwrap();
        assert_eq!(d, floats(&[(60, 2.0), (180, 8.5)]));
    }

    #[test]
    fn non_negative_transformations_drop_decreases() {
        let p = vec![
            (1, Value::Integer(10)),
            (2, Value::Integer(5)),
            (3, Value::Integer(8)),
        ];
        let d = apply(Transform::Difference { non_negative: true }, &p, false).unwrap();
        assert_eq!(d, vec![(3, Value::Integer(3))]);
    }

    #[test]
    fn moving_average_and_cumulative_sum_follow_the_window() {
        let p = floats(&[(1, 1.0), (2, 2.0), (3, 6.0)]);
        assert_eq!(
            apply(Transform::MovingAverage(2), &p, false).unwrap(),
            floats(&[(2, 1.5), (3, 4.0)])
        );
        assert_eq!(
            apply(Transform::CumulativeSum, &p, false).unwrap(),
            floats(&[(1, 1.0), (2, 3.0), (3, 9.0)])
        );
    }

    #[test]
    fn elapsed_counts_backwards_in_descending_order() {
        let p = floats(&[(300, 1.0), (120, 1.0), (0, 1.0)]);
        assert_eq!(
            apply(Transform::Elapsed(60), &p, true).unwrap(),
            vec![(120, Value::Integer(-3)), (0, Value::Integer(-2))]
        );
    }

    #[test]
    fn elapsed_takes_points_of_any_type_and_the_others_only_numbers() {
        let p = vec![
            (0, Value::String("ok".into())),
            (60, Value::Boolean(true)),
            (180, Value::String("warn".into())),
        ];
        assert_eq!(
            apply(Transform::Elapsed(60), &p, false).unwrap(),
            vec![(60, Value::Integer(1)), (180, Value::Integer(2))]
        );
        let err = apply(
            Transform::Difference {
                non_negative: false,
            },
            &p,
            false,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("unsupported difference iterator type: string")
        );
    }

    #[test]
    fn outputs_join_by_time_with_nulls_where_one_has_no_point() {
        let a = Points::Many(floats(&[(1, 1.0), (2, 2.0)]));
        let b = Points::Many(floats(&[(2, 5.0)]));
        let rows = join_by_time(vec![a, b], false);
        assert_eq!(
            rows,
            vec![
                vec![Value::Time(1), Value::Float(1.0), Value::Null],
                vec![Value::Time(2), Value::Float(2.0), Value::Float(5.0)],
            ]
        );
    }
}
