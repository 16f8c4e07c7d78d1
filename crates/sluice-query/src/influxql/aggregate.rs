//! Aggregates and selectors over the points of one bucket of one series, with InfluxDB
//! 1.x's result types and selector timestamps.

use std::cmp::Ordering;

use sluice_influxql::{Call, Expr, Literal};

use super::result::Value;
use super::view::V;
use crate::error::{Error, Result};

/// A function sluice runs, with its constant arguments resolved.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Func {
    Count,
    CountDistinct,
    Sum,
    Mean,
    Median,
    Mode,
    Spread,
    Stddev,
    Min,
    Max,
    First,
    Last,
    Percentile(f64),
    Distinct,
    /// `top(field, [tags...,] n)`: the tag keys and n.
    Top(Vec<String>, usize),
    /// `bottom(field, [tags...,] n)`.
    Bottom(Vec<String>, usize),
    /// `sample(field, n)`: n points picked at random, each as likely as any other.
    Sample(usize),
    /// `integral(field[, unit])`: the area under the points, in value × unit (ns).
    Integral(i64),
}

impl Func {
    /// Resolves a call, returning the function and the field it reads.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for transformations (`derivative`, ...) and unknown
    /// functions; [`Error::Invalid`] for a non-field argument.
    pub(crate) fn from_call(call: &Call) -> Result<(Func, String)> {
        let field = |e: &Expr| match e {
            // The values are read cast, as InfluxDB 1.x reads `mean(usage::integer)`.
            Expr::VarRef(v) => Ok(super::expr::cast_column(&v.name, v.data_type)),
            other => Err(Error::Invalid(format!(
                "expected field argument in {}(), got {other}",
                call.name
            ))),
        };
        let first = call
            .args
            .first()
            .ok_or_else(|| Error::Invalid(format!("{}() needs an argument", call.name)))?;
        let func = match call.name.as_str() {
            "count" => {
                if let Expr::Call(inner) = first {
                    if inner.name != "distinct" {
                        return Err(Error::Unsupported(format!(
                            "count({}()) (only count(distinct()) nests)",
                            inner.name
                        )));
                    }
                    let f = field(inner.args.first().ok_or_else(|| {
                        Error::Invalid("distinct() needs an argument".to_owned())
                    })?)?;
                    return Ok((Func::CountDistinct, f));
                }
                Func::Count
            }
            "sum" => Func::Sum,
            "mean" => Func::Mean,
            "median" => Func::Median,
            "mode" => Func::Mode,
            "spread" => Func::Spread,
            "stddev" => Func::Stddev,
            "min" => Func::Min,
            "max" => Func::Max,
            "first" => Func::First,
            "last" => Func::Last,
            "distinct" => Func::Distinct,
            "integral" => match call.args.get(1) {
                None => Func::Integral(1_000_000_000),
                Some(Expr::Literal(Literal::Duration(d))) if *d > 0 => Func::Integral(*d),
                Some(other) => {
                    return Err(Error::Invalid(format!(
                        "second argument must be a duration, got {other}"
                    )));
                }
            },
            "percentile" => {
                let p = match call.args.get(1) {
                    Some(Expr::Literal(Literal::Integer(n))) => *n as f64,
                    Some(Expr::Literal(Literal::Float(x))) => *x,
                    _ => {
                        return Err(Error::Invalid("percentile() needs a number".to_owned()));
                    }
                };
                Func::Percentile(p)
            }
            "sample" => match call.args.get(1) {
                Some(Expr::Literal(Literal::Integer(n))) if *n > 0 => Func::Sample(*n as usize),
                _ => {
                    return Err(Error::Invalid(
                        "sample() needs a positive count as its second argument".to_owned(),
                    ));
                }
            },
            "top" | "bottom" => {
                let n = match call.args.last() {
                    Some(Expr::Literal(Literal::Integer(n))) if *n > 0 && call.args.len() >= 2 => {
                        *n as usize
                    }
                    _ => {
                        return Err(Error::Invalid(format!(
                            "{}() needs a positive count as its last argument",
                            call.name
                        )));
                    }
                };
                let tags = call.args[1..call.args.len() - 1]
                    .iter()
                    .map(field)
                    .collect::<Result<Vec<_>>>()?;
                if call.name == "top" {
                    Func::Top(tags, n)
                } else {
                    Func::Bottom(tags, n)
                }
            }
            other => {
                return Err(Error::Unsupported(format!("function {other}()")));
            }
        };
        Ok((func, field(first)?))
    }

    /// Whether the function picks points (so a lone one reports the point's time).
    pub(crate) fn is_selector(&self) -> bool {
        matches!(
            self,
            Func::Min
                | Func::Max
                | Func::First
                | Func::Last
                | Func::Percentile(_)
                | Func::Top(..)
                | Func::Bottom(..)
                | Func::Sample(_)
        )
    }

    /// Whether the function yields several rows per bucket.
    pub(crate) fn is_multi_row(&self) -> bool {
        matches!(
            self,
            Func::Distinct | Func::Top(..) | Func::Bottom(..) | Func::Sample(_)
        )
    }

    /// The value for a bucket without points under `fill(null)`: 0 for counts, else null.
    pub(crate) fn empty_value(&self) -> Value {
        match self {
            Func::Count | Func::CountDistinct => Value::Integer(0),
            _ => Value::Null,
        }
    }
}

/// One input point: its time, its value (never null) and, for `top`/`bottom` with tag
/// keys, those tags' values.
#[derive(Debug, Clone)]
pub(crate) struct Point<'a> {
    pub(crate) time: i64,
    pub(crate) value: V<'a>,
    pub(crate) tags: Vec<&'a str>,
}

/// A function's output for one bucket.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Output {
    /// One value, with the selected point's time for selectors.
    One(Value, Option<i64>),
    /// Several rows (`distinct`, `top`, `bottom`, `sample`): time, value, and tag values.
    Many(Vec<(i64, Value, Vec<Value>)>),
}

fn numeric_error(func: &Func, v: V<'_>) -> Error {
    let kind = match v {
        V::Str(_) => "string",
        V::Bool(_) => "boolean",
        _ => "this",
    };
    Error::Invalid(format!(
        "unsupported {} iterator type: {kind}",
        format!("{func:?}").to_lowercase()
    ))
}

fn cmp_v(a: V<'_>, b: V<'_>) -> Ordering {
    match (a, b) {
        (V::Integer(x), V::Integer(y)) => x.cmp(&y),
        (V::Unsigned(x), V::Unsigned(y)) => x.cmp(&y),
        (V::Str(x), V::Str(y)) => x.cmp(y),
        (V::Bool(x), V::Bool(y)) => x.cmp(&y),
        (x, y) => x
            .as_f64()
            .unwrap_or(f64::NAN)
            .partial_cmp(&y.as_f64().unwrap_or(f64::NAN))
            .unwrap_or(Ordering::Equal),
    }
}

/// Applies `func` to `points` (non-empty).
///
/// # Errors
/// [`Error::Invalid`] when the function does not take the field's type.
/// The position, among `n` points in order, of the one `percentile(_, pct)` selects:
/// none for a percentile that rounds below the first or past the last (InfluxDB answers
/// nothing then, as for no points: `percentile(x, 0)`, or `101` of fewer than 50 points).
pub(crate) fn percentile_index(n: usize, pct: f64) -> Option<usize> {
    let i = ((n as f64) * pct / 100.0 + 0.5).floor() - 1.0;
    (i >= 0.0 && i < n as f64).then_some(i as usize)
}

/// Whether `func` over `n` points (at least one) has an answer: all do but a percentile
/// that selects no point ([`percentile_index`]).
pub(crate) fn answers(func: &Func, n: usize) -> bool {
    match func {
        Func::Percentile(pct) => percentile_index(n, *pct).is_some(),
        _ => true,
    }
}

pub(crate) fn apply(func: &Func, points: &[Point<'_>]) -> Result<Output> {
    let numeric = || -> Result<()> {
        match points.iter().find(|p| p.value.as_f64().is_none()) {
            Some(p) => Err(numeric_error(func, p.value)),
            None => Ok(()),
        }
    };
    let one = |v: Value| Ok(Output::One(v, None));
    match func {
        Func::Count => one(Value::Integer(points.len() as i64)),
        Func::CountDistinct => {
            let mut vals: Vec<V<'_>> = points.iter().map(|p| p.value).collect();
            vals.sort_by(|a, b| cmp_v(*a, *b));
            vals.dedup_by(|a, b| cmp_v(*a, *b) == Ordering::Equal);
            one(Value::Integer(vals.len() as i64))
        }
        Func::Sum => {
            numeric()?;
            match points[0].value {
                V::Integer(_) => one(Value::Integer(points.iter().fold(0i64, |acc, p| {
                    acc.wrapping_add(if let V::Integer(i) = p.value { i } else { 0 })
                }))),
                V::Unsigned(_) => one(Value::Unsigned(points.iter().fold(0u64, |acc, p| {
                    acc.wrapping_add(if let V::Unsigned(u) = p.value { u } else { 0 })
                }))),
                _ => one(Value::Float(
                    points.iter().filter_map(|p| p.value.as_f64()).sum(),
                )),
            }
        }
        Func::Mean => {
            numeric()?;
            let sum: f64 = points.iter().filter_map(|p| p.value.as_f64()).sum();
            one(Value::Float(sum / points.len() as f64))
        }
        Func::Median => {
            numeric()?;
            let mut xs: Vec<f64> = points.iter().filter_map(|p| p.value.as_f64()).collect();
            xs.sort_by(|a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal));
            let n = xs.len();
            let m = if n % 2 == 1 {
                xs[n / 2]
            } else {
                xs[n / 2 - 1] + (xs[n / 2] - xs[n / 2 - 1]) / 2.0
            };
            one(Value::Float(m))
        }
        Func::Mode => {
            // The most frequent value; among equally frequent ones, the one seen first
            // in time, as InfluxDB picks it.
            let mut vals: Vec<(V<'_>, i64)> = points.iter().map(|p| (p.value, p.time)).collect();
            vals.sort_by(|a, b| cmp_v(a.0, b.0).then(a.1.cmp(&b.1)));
            let mut best = (vals[0].0, 0usize, i64::MAX);
            let mut i = 0;
            while i < vals.len() {
                let mut j = i;
                while j < vals.len() && cmp_v(vals[j].0, vals[i].0) == Ordering::Equal {
                    j += 1;
                }
                let (count, first) = (j - i, vals[i].1);
                if count > best.1 || (count == best.1 && first < best.2) {
                    best = (vals[i].0, count, first);
                }
                i = j;
            }
            one(best.0.to_value())
        }
        Func::Spread => {
            numeric()?;
            let min = points.iter().map(|p| p.value).min_by(|a, b| cmp_v(*a, *b));
            let max = points.iter().map(|p| p.value).max_by(|a, b| cmp_v(*a, *b));
            one(match (min, max) {
                (Some(V::Integer(a)), Some(V::Integer(b))) => Value::Integer(b.wrapping_sub(a)),
                (Some(V::Unsigned(a)), Some(V::Unsigned(b))) => Value::Unsigned(b - a),
                (Some(a), Some(b)) => {
                    Value::Float(b.as_f64().unwrap_or(0.0) - a.as_f64().unwrap_or(0.0))
                }
                _ => Value::Null,
            })
        }
        Func::Stddev => {
            numeric()?;
            let n = points.len();
            if n < 2 {
                return one(Value::Null);
            }
            let xs = points.iter().filter_map(|p| p.value.as_f64());
            let mean = xs.clone().sum::<f64>() / n as f64;
            let var = xs.map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64;
            one(Value::Float(var.sqrt()))
        }
        Func::Min | Func::Max => {
            numeric()?;
            let want = if *func == Func::Max {
                Ordering::Greater
            } else {
                Ordering::Less
            };
            let mut best = &points[0];
            for p in &points[1..] {
                let c = cmp_v(p.value, best.value);
                if c == want || (c == Ordering::Equal && p.time < best.time) {
                    best = p;
                }
            }
            Ok(Output::One(best.value.to_value(), Some(best.time)))
        }
        Func::First | Func::Last => {
            let mut best = &points[0];
            for p in &points[1..] {
                // Ties on time go to the larger value, as InfluxDB does.
                let tie = p.time == best.time && cmp_v(p.value, best.value) == Ordering::Greater;
                let better = tie
                    || if *func == Func::First {
                        p.time < best.time
                    } else {
                        p.time > best.time
                    };
                if better {
                    best = p;
                }
            }
            Ok(Output::One(best.value.to_value(), Some(best.time)))
        }
        Func::Percentile(pct) => {
            numeric()?;
            let mut sorted: Vec<&Point<'_>> = points.iter().collect();
            sorted.sort_by(|a, b| cmp_v(a.value, b.value).then(a.time.cmp(&b.time)));
            let Some(i) = percentile_index(sorted.len(), *pct) else {
                return Ok(Output::One(Value::Null, None));
            };
            let p = sorted[i];
            Ok(Output::One(p.value.to_value(), Some(p.time)))
        }
        Func::Integral(unit) => {
            numeric()?;
            let mut sorted: Vec<(i64, f64)> = points
                .iter()
                .filter_map(|p| p.value.as_f64().map(|x| (p.time, x)))
                .collect();
            sorted.sort_by_key(|p| p.0);
            let sum = integral(&sorted, *unit, None).first().map_or(0.0, |p| p.1);
            // InfluxDB 1.6 dates the area of float points at the epoch (its window start
            // without `GROUP BY time`), and that of integers at the range start.
            let floats = points.iter().all(|p| matches!(p.value, V::Float(_)));
            Ok(Output::One(Value::Float(sum), floats.then_some(0)))
        }
        Func::Distinct => {
            let mut vals: Vec<V<'_>> = points.iter().map(|p| p.value).collect();
            vals.sort_by(|a, b| cmp_v(*a, *b));
            vals.dedup_by(|a, b| cmp_v(*a, *b) == Ordering::Equal);
            Ok(Output::Many(
                vals.into_iter()
                    .map(|v| (0, v.to_value(), Vec::new()))
                    .collect(),
            ))
        }
        Func::Sample(n) => {
            // The first n places of a random permutation of the points (Fisher-Yates,
            // stopped after n steps), answered in time order; points of one time keep the
            // order they came in (their series' order), whichever were picked.
            let mut picked: Vec<usize> = (0..points.len()).collect();
            let n = (*n).min(picked.len());
            for i in 0..n {
                picked.swap(i, fastrand::usize(i..points.len()));
            }
            picked.truncate(n);
            picked.sort_unstable_by_key(|&i| (points[i].time, i));
            Ok(Output::Many(
                picked
                    .into_iter()
                    .map(|i| (points[i].time, points[i].value.to_value(), Vec::new()))
                    .collect(),
            ))
        }
        Func::Top(tags, n) | Func::Bottom(tags, n) => {
            numeric()?;
            let top = matches!(func, Func::Top(..));
            // Best first: by value (descending for top), then earlier time.
            let order = |a: &&Point<'_>, b: &&Point<'_>| {
                let c = cmp_v(a.value, b.value);
                let c = if top { c.reverse() } else { c };
                c.then(a.time.cmp(&b.time))
            };
            let mut sorted: Vec<&Point<'_>> = points.iter().collect();
            sorted.sort_by(order);
            let mut picked: Vec<&Point<'_>> = Vec::new();
            if tags.is_empty() {
                picked.extend(sorted.into_iter().take(*n));
            } else {
                // The best point of each distinct tag combination, then the best n of those.
                let mut seen = std::collections::HashSet::new();
                for p in sorted {
                    if seen.insert(p.tags.clone()) {
                        picked.push(p);
                        if picked.len() == *n {
                            break;
                        }
                    }
                }
            }
            picked.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| order(a, b)));
            Ok(Output::Many(
                picked
                    .into_iter()
                    .map(|p| {
                        (
                            p.time,
                            p.value.to_value(),
                            p.tags
                                .iter()
                                .map(|t| Value::String((*t).to_owned()))
                                .collect(),
                        )
                    })
                    .collect(),
            ))
        }
    }
}

/// The `[start, end)` of the `GROUP BY time` window holding a time.
pub(crate) type WindowOf<'a> = &'a dyn Fn(i64) -> (i64, i64);

/// InfluxDB 1.x's `integral` over one series' points (ascending by time): the trapezium
/// rule in `unit`s, a point at the same time as the previous one replacing it. With
/// `window`, the area is cut at window ends (the value there linearly interpolated) and
/// one `(window start, area)` is given per window that a later point leaves, plus the
/// last window unless its only point sits at its start; without, one `(0, area)`.
pub(crate) fn integral(
    points: &[(i64, f64)],
    unit: i64,
    window: Option<WindowOf<'_>>,
) -> Vec<(i64, f64)> {
    let unit = unit as f64;
    let mut out = Vec::new();
    let mut prev: Option<(i64, f64)> = None;
    let mut win = (0i64, 0i64);
    let mut sum = 0.0;
    for &(t, v) in points {
        let Some((mut pt, mut pv)) = prev else {
            prev = Some((t, v));
            if let Some(w) = window {
                win = w(t);
            }
            continue;
        };
        if pt == t {
            prev = Some((t, v));
            continue;
        }
        if let Some(w) = window
            && t >= win.1
        {
            if pt != win.1 {
                let slope = (v - pv) / (t - pt) as f64;
                let value = slope * (win.1 - pt) as f64 + pv;
                sum += 0.5 * (value + pv) * ((win.1 - pt) as f64 / unit);
                (pt, pv) = (win.1, value);
            }
            out.push((win.0, sum));
            win = w(t);
            sum = 0.0;
        }
        sum += 0.5 * (v + pv) * ((t - pt) as f64 / unit);
        prev = Some((t, v));
    }
    if let Some((pt, _)) = prev
        && pt != win.0
    {
        out.push((win.0, sum));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(vals: &[(i64, f64)]) -> Vec<Point<'static>> {
        vals.iter()
            .map(|(t, v)| Point {
                time: *t,
                value: V::Float(*v),
                tags: Vec::new(),
            })
            .collect()
    }

    #[test]
    fn integral_cuts_the_area_at_window_ends_as_influxdb_streams_it() {
        let points = [(0, 1.0), (0, 2.0), (10, 4.0), (12, 4.0)];
        // Without windows: the repeated time replaces the point, then trapezia.
        assert_eq!(integral(&points, 1, None), vec![(0, 38.0)]);
        // Windows of 5: the area up to 5 (value 3 there) closes window 0, the rest of the
        // way to 10 counts for window 10, whose last point is not at its start.
        let of = |t: i64| (t - t % 5, t - t % 5 + 5);
        assert_eq!(integral(&points, 1, Some(&of)), vec![(0, 12.5), (10, 25.5)]);
        // A last window whose only point is at its start reports nothing.
        assert_eq!(
            integral(&[(0, 1.0), (10, 3.0)], 1, Some(&of)),
            vec![(0, 7.5)]
        );
    }

    #[test]
    fn aggregates_compute_influxdb_values() {
        let p = pts(&[(1, 2.0), (2, 4.0), (3, 4.0), (4, 5.0)]);
        let cases = [
            (Func::Count, Value::Integer(4)),
            (Func::Sum, Value::Float(15.0)),
            (Func::Mean, Value::Float(3.75)),
            (Func::Median, Value::Float(4.0)),
            (Func::Mode, Value::Float(4.0)),
            (Func::Spread, Value::Float(3.0)),
            (Func::CountDistinct, Value::Integer(3)),
        ];
        for (f, v) in cases {
            assert_eq!(apply(&f, &p).unwrap(), Output::One(v, None), "{f:?}");
        }
        let Output::One(Value::Float(sd), None) = apply(&Func::Stddev, &p).unwrap() else {
            panic!()
        };
        assert!((sd - 1.258_305_739).abs() < 1e-6);
    }

    #[test]
    fn mode_breaks_a_tie_by_the_value_seen_first() {
        // 5 and 3 twice each: 5 came first.
        let p = pts(&[(1, 5.0), (2, 3.0), (3, 3.0), (4, 5.0), (5, 1.0)]);
        assert_eq!(
            apply(&Func::Mode, &p).unwrap(),
            Output::One(Value::Float(5.0), None)
        );
        let p = pts(&[(1, 1.0), (2, 3.0), (3, 3.0), (4, 5.0), (5, 5.0)]);
        assert_eq!(
            apply(&Func::Mode, &p).unwrap(),
            Output::One(Value::Float(3.0), None)
        );
    }

    #[test]
    fn selectors_report_the_time_of_their_point() {
        let p = pts(&[(10, 2.0), (20, 9.0), (30, 9.0), (40, 1.0)]);
        assert_eq!(
            apply(&Func::Max, &p).unwrap(),
            Output::One(Value::Float(9.0), Some(20))
        );
        assert_eq!(
            apply(&Func::Min, &p).unwrap(),
            Output::One(Value::Float(1.0), Some(40))
        );
        assert_eq!(
            apply(&Func::First, &p).unwrap(),
            Output::One(Value::Float(2.0), Some(10))
        );
        assert_eq!(
            apply(&Func::Last, &p).unwrap(),
            Output::One(Value::Float(1.0), Some(40))
        );
        assert_eq!(
            apply(&Func::Percentile(50.0), &p).unwrap(),
            Output::One(Value::Float(2.0), Some(10))
        );
        assert_eq!(
            apply(&Func::Top(vec![], 2), &p).unwrap(),
            Output::Many(vec![
                (20, Value::Float(9.0), vec![]),
                (30, Value::Float(9.0), vec![])
            ])
        );
        assert_eq!(
            apply(&Func::Bottom(vec![], 1), &p).unwrap(),
            Output::Many(vec![(40, Value::Float(1.0), vec![])])
        );
    }

    #[test]
    fn sample_picks_distinct_points_in_time_order_and_any_point_may_be_picked() {
        let p = pts(&(0..100).map(|t| (t, t as f64 * 2.0)).collect::<Vec<_>>());
        let mut picked_ever = [false; 100];
        for _ in 0..1000 {
            let Output::Many(rows) = apply(&Func::Sample(10), &p).unwrap() else {
                panic!("sample answers rows");
            };
            assert_eq!(rows.len(), 10);
            // Strictly ascending times: distinct points, in time order, each with its value.
            assert!(rows.windows(2).all(|w| w[0].0 < w[1].0), "{rows:?}");
            for (t, v, tags) in &rows {
                assert_eq!(v, &Value::Float(*t as f64 * 2.0));
                assert!(tags.is_empty());
                picked_ever[*t as usize] = true;
            }
        }
        // Each point is picked with probability 1/10 per run: missing one in 1,000 runs
        // happens about once in 10^44.
        assert!(picked_ever.iter().all(|&p| p));
        // Points of one time keep their order, whichever are picked.
        let tied = pts(&[(7, 1.0), (7, 2.0), (7, 3.0), (9, 4.0)]);
        for _ in 0..100 {
            let Output::Many(rows) = apply(&Func::Sample(4), &tied).unwrap() else {
                panic!("sample answers rows");
            };
            let values: Vec<&Value> = rows.iter().map(|r| &r.1).collect();
            let want = [1.0, 2.0, 3.0, 4.0].map(Value::Float);
            assert_eq!(values, want.iter().collect::<Vec<_>>());
        }
        // Fewer points than asked for: all of them; strings too.
        let s = [Point {
            time: 5,
            value: V::Str("x"),
            tags: vec![],
        }];
        assert_eq!(
            apply(&Func::Sample(3), &s).unwrap(),
            Output::Many(vec![(5, Value::String("x".into()), vec![])])
        );
    }

    #[test]
    fn integer_sums_stay_integers_and_strings_are_refused() {
        let p = vec![
            Point {
                time: 1,
                value: V::Integer(2),
                tags: vec![],
            },
            Point {
                time: 2,
                value: V::Integer(3),
                tags: vec![],
            },
        ];
        assert_eq!(
            apply(&Func::Sum, &p).unwrap(),
            Output::One(Value::Integer(5), None)
        );
        let s = vec![Point {
            time: 1,
            value: V::Str("x"),
            tags: vec![],
        }];
        assert!(apply(&Func::Mean, &s).is_err());
        assert_eq!(
            apply(&Func::Count, &s).unwrap(),
            Output::One(Value::Integer(1), None)
        );
    }
}
