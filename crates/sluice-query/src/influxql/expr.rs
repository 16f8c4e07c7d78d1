//! WHERE conditions and projections: splitting out the time range, compiling the rest
//! against a table's columns, and evaluating them row by row as InfluxDB does.

use std::collections::HashMap;

use regex::{Regex, RegexBuilder};
use sluice_influxql::{BinaryOp, DataType, Expr, Literal};
use sluice_storage::{Comparison, FieldFilter, Number, TagMatch};

use super::math::MathFn;
use super::view::{BatchView, V};
use super::zone::TimeZone;
use crate::error::{Error, Result};

/// `[start, end)` in nanoseconds, with whether each side was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeRange {
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) has_start: bool,
    pub(crate) has_end: bool,
}

impl TimeRange {
    pub(crate) const ALL: TimeRange = TimeRange {
        start: i64::MIN,
        end: i64::MAX,
        has_start: false,
        has_end: false,
    };
}

/// Splits a condition into its time range (top-level `AND`ed comparisons of `time`) and
/// the rest (conjuncts in order).
///
/// # Errors
/// [`Error::Unsupported`] for `time` inside `OR` or compared with `!=`, or compared with
/// something that is not a time.
pub(crate) fn split_condition(
    condition: Option<&Expr>,
    now: i64,
) -> Result<(TimeRange, Vec<Expr>)> {
    split_condition_in(condition, now, None)
}

/// [`split_condition`] for a statement with `tz()`: a time string without an offset is
/// the zone's local time.
pub(crate) fn split_condition_in(
    condition: Option<&Expr>,
    now: i64,
    zone: Option<TimeZone>,
) -> Result<(TimeRange, Vec<Expr>)> {
    let mut range = TimeRange::ALL;
    let mut rest = Vec::new();
    let mut conjuncts = Vec::new();
    if let Some(c) = condition {
        flatten_and(c, &mut conjuncts);
    }
    for c in conjuncts {
        if let Expr::Binary { op, lhs, rhs } = c
            && op.is_comparison()
            && (lhs.is_time() || rhs.is_time())
        {
            let (op, other) = if lhs.is_time() {
                (*op, rhs.as_ref())
            } else {
                (flip(*op), lhs.as_ref())
            };
            let t = time_value(other, now, zone)?;
            let (s, e) = match op {
                BinaryOp::Gt => (t.saturating_add(1), i64::MAX),
                BinaryOp::GtEq => (t, i64::MAX),
                BinaryOp::Lt => (i64::MIN, t),
                BinaryOp::LtEq => (i64::MIN, t.saturating_add(1)),
                BinaryOp::Eq => (t, t.saturating_add(1)),
                _ => {
                    return Err(Error::Unsupported(format!(
                        "time compared with {}",
                        op.as_str()
                    )));
                }
            };
            if s != i64::MIN {
                range.start = range.start.max(s);
                range.has_start = true;
            }
            if e != i64::MAX {
                range.end = range.end.min(e);
                range.has_end = true;
            }
            continue;
        }
        let mut has_time = false;
        c.walk(&mut |e| has_time |= e.is_time());
        if has_time {
            return Err(Error::Unsupported(
                "time conditions inside OR or expressions".to_owned(),
            ));
        }
        rest.push(c.clone());
    }
    Ok((range, rest))
}

/// The terms of `e`'s top-level `AND`s, left to right.
pub(crate) fn flatten_and<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
    match e {
        Expr::Binary {
            op: BinaryOp::And,
            lhs,
            rhs,
        } => {
            flatten_and(lhs, out);
            flatten_and(rhs, out);
        }
        e => out.push(e),
    }
}

fn flip(op: BinaryOp) -> BinaryOp {
    match op {
        BinaryOp::Lt => BinaryOp::Gt,
        BinaryOp::LtEq => BinaryOp::GtEq,
        BinaryOp::Gt => BinaryOp::Lt,
        BinaryOp::GtEq => BinaryOp::LtEq,
        op => op,
    }
}

/// The nanoseconds a time operand stands for: an RFC 3339 string, an integer (ns), a
/// duration literal (ns since the epoch), `now()`, or sums and differences of those.
fn time_value(e: &Expr, now: i64, zone: Option<TimeZone>) -> Result<i64> {
    match e {
        Expr::Call(_) if e.is_now() => Ok(now),
        Expr::Literal(Literal::String(s)) => match sluice_influxql::parse_time_zoned(s)? {
            (local, false) if let Some(zone) = zone => Ok(zone.instant_of_local(local)),
            (t, _) => Ok(t),
        },
        Expr::Literal(Literal::Integer(i)) => Ok(*i),
        Expr::Literal(Literal::Duration(d)) => Ok(*d),
        Expr::Literal(Literal::Float(x)) => Ok(*x as i64),
        Expr::Binary {
            op: BinaryOp::Add,
            lhs,
            rhs,
        } => Ok(time_value(lhs, now, zone)?.saturating_add(time_value(rhs, now, zone)?)),
        Expr::Binary {
            op: BinaryOp::Sub,
            lhs,
            rhs,
        } => Ok(time_value(lhs, now, zone)?.saturating_sub(time_value(rhs, now, zone)?)),
        other => Err(Error::Invalid(format!("invalid time value: {other}"))),
    }
}

/// The tag predicates among `conjuncts` that a scan applies by itself (`tag = 'v'`, or
/// an OR of such equalities on one tag, as `(host = 'a' OR host = 'b')` in TSBS's and
/// Grafana's queries) for a table whose tags are `is_tag`, and the conjuncts left once
/// those are taken out.
pub(crate) fn take_tag_matches(
    conjuncts: &[Expr],
    is_tag: impl Fn(&str) -> bool,
) -> (Vec<TagMatch>, Vec<Expr>) {
    let mut matches = Vec::new();
    let mut rest = Vec::new();
    for c in conjuncts {
        let mut key = None;
        let mut values = Vec::new();
        if tag_equalities(c, &is_tag, &mut key, &mut values)
            && let Some(key) = key
        {
            matches.push(TagMatch::one_of(key, values));
        } else {
            rest.push(c.clone());
        }
    }
    (matches, rest)
}

/// The comparisons of a field with a number among `conjuncts` (`usage_user > 90`, or
/// `90 < usage_user`), for a table whose tags are `is_tag`: a scan may leave out the rows
/// they rule out. The conjuncts still hold: they are checked on the rows scanned.
pub(crate) fn field_filters(conjuncts: &[Expr], is_tag: impl Fn(&str) -> bool) -> Vec<FieldFilter> {
    conjuncts
        .iter()
        .filter_map(|c| {
            let Expr::Binary { op, lhs, rhs } = c else {
                return None;
            };
            let (v, number, op) = match (lhs.as_ref(), rhs.as_ref()) {
                (Expr::VarRef(v), Expr::Literal(l)) => (v, l, *op),
                (Expr::Literal(l), Expr::VarRef(v)) => (v, l, flip(*op)),
                _ => return None,
            };
            let op = match op {
                BinaryOp::Lt => Comparison::Lt,
                BinaryOp::LtEq => Comparison::LtEq,
                BinaryOp::Gt => Comparison::Gt,
                BinaryOp::GtEq => Comparison::GtEq,
                BinaryOp::Eq => Comparison::Eq,
                _ => return None,
            };
            let value = match number {
                Literal::Float(x) => Number::Float(*x),
                Literal::Integer(i) => Number::Integer(*i),
                _ => return None,
            };
            let not_a_field = v.name.eq_ignore_ascii_case("time")
                || v.data_type == Some(DataType::Tag)
                || is_tag(&v.name);
            (!not_a_field).then(|| FieldFilter {
                field: v.name.clone(),
                op,
                value,
            })
        })
        .collect()
}

/// Whether `c` is `tag = 'v'` or an OR of those all on one tag; collects the tag in
/// `key` and the values in `values`.
fn tag_equalities<'a>(
    c: &'a Expr,
    is_tag: &impl Fn(&str) -> bool,
    key: &mut Option<&'a str>,
    values: &mut Vec<String>,
) -> bool {
    let Expr::Binary { op, lhs, rhs } = c else {
        return false;
    };
    match op {
        BinaryOp::Or => {
            tag_equalities(lhs, is_tag, key, values) && tag_equalities(rhs, is_tag, key, values)
        }
        BinaryOp::Eq => {
            let (v, s) = match (lhs.as_ref(), rhs.as_ref()) {
                (Expr::VarRef(v), Expr::Literal(Literal::String(s)))
                | (Expr::Literal(Literal::String(s)), Expr::VarRef(v)) => (v, s),
                _ => return false,
            };
            if v.data_type.is_some_and(|t| t != DataType::Tag)
                || !is_tag(&v.name)
                || key.is_some_and(|k| k != v.name)
            {
                return false;
            }
            *key = Some(&v.name);
            values.push(s.clone());
            true
        }
        _ => false,
    }
}

/// An expression resolved against a table's scanned columns.
#[derive(Debug, Clone)]
pub(crate) enum Compiled {
    Column(usize),
    Time,
    Literal(LiteralValue),
    Regex(Regex),
    Binary(BinaryOp, Box<Compiled>, Box<Compiled>),
    Math(MathFn, Vec<Compiled>),
    /// `x::float`, `x::integer`, ...: the value in that type, or null (see [`cast`]).
    Cast(DataType, Box<Compiled>),
}

/// An owned literal.
#[derive(Debug, Clone)]
pub(crate) enum LiteralValue {
    Float(f64),
    Integer(i64),
    Unsigned(u64),
    Str(String),
    Bool(bool),
}

impl LiteralValue {
    fn as_v(&self) -> V<'_> {
        match self {
            LiteralValue::Float(x) => V::Float(*x),
            LiteralValue::Integer(i) => V::Integer(*i),
            LiteralValue::Unsigned(u) => V::Unsigned(*u),
            LiteralValue::Str(s) => V::Str(s),
            LiteralValue::Bool(b) => V::Bool(*b),
        }
    }
}

/// Most memory a compiled query regex may take; a pattern such as `(a{1000}){1000}`
/// that would need more is refused instead of built.
pub(crate) const REGEX_SIZE_LIMIT_BYTES: usize = 1 << 20;
/// The cache of the lazy DFA that runs each query regex; past it the regex is slower,
/// never bigger.
pub(crate) const REGEX_DFA_SIZE_LIMIT_BYTES: usize = 1 << 20;

/// Compiles a regex as InfluxDB does (unanchored), within [`REGEX_SIZE_LIMIT_BYTES`].
///
/// # Errors
/// [`Error::Regex`] for a pattern that does not compile or would be too big.
pub(crate) fn compile_regex(pattern: &str) -> Result<Regex> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT_BYTES)
        .dfa_size_limit(REGEX_DFA_SIZE_LIMIT_BYTES)
        .build()
        .map_err(|e| Error::Regex {
            pattern: pattern.to_owned(),
            reason: match e {
                regex::Error::CompiledTooBig(limit) => {
                    format!("the compiled regex would exceed the limit of {limit} bytes")
                }
                other => other.to_string(),
            },
        })
}

/// Compiles `e`, adding each referenced column name to `columns` (index = position).
///
/// # Errors
/// [`Error::Unsupported`] for a function call (aggregates are not allowed in WHERE) or a
/// wildcard; [`Error::Regex`] for a bad regex.
pub(crate) fn compile(
    e: &Expr,
    columns: &mut Vec<String>,
    index: &mut HashMap<String, usize>,
) -> Result<Compiled> {
    Ok(match e {
        Expr::VarRef(v) if e.is_time() => {
            let _ = v;
            Compiled::Time
        }
        Expr::VarRef(v) => {
            let i = *index.entry(v.name.clone()).or_insert_with(|| {
                columns.push(v.name.clone());
                columns.len() - 1
            });
            match v.data_type {
                Some(
                    t @ (DataType::Float
                    | DataType::Integer
                    | DataType::Unsigned
                    | DataType::String
                    | DataType::Boolean),
                ) => Compiled::Cast(t, Box::new(Compiled::Column(i))),
                _ => Compiled::Column(i),
            }
        }
        Expr::Literal(l) => Compiled::Literal(match l {
            Literal::Integer(i) => LiteralValue::Integer(*i),
            Literal::Unsigned(u) => LiteralValue::Unsigned(*u),
            Literal::Float(x) => LiteralValue::Float(*x),
            Literal::String(s) => LiteralValue::Str(s.clone()),
            Literal::Boolean(b) => LiteralValue::Bool(*b),
            Literal::Duration(d) => LiteralValue::Integer(*d),
        }),
        Expr::Regex(r) => Compiled::Regex(compile_regex(&r.0)?),
        Expr::Binary { op, lhs, rhs } => Compiled::Binary(
            *op,
            Box::new(compile(lhs, columns, index)?),
            Box::new(compile(rhs, columns, index)?),
        ),
        Expr::Call(c) => match MathFn::from_name(&c.name) {
            Some(f) if c.args.len() == f.arity() => Compiled::Math(
                f,
                c.args
                    .iter()
                    .map(|a| compile(a, columns, index))
                    .collect::<Result<_>>()?,
            ),
            Some(f) => {
                return Err(Error::Invalid(format!(
                    "invalid number of arguments for {}, expected {}, got {}",
                    c.name,
                    f.arity(),
                    c.args.len()
                )));
            }
            None => {
                return Err(Error::Unsupported(format!(
                    "function {}() in this position",
                    c.name
                )));
            }
        },
        Expr::Wildcard(_) => return Err(Error::Unsupported("wildcard in an expression".into())),
    })
}

/// Whether a compiled condition holds for row `i`.
pub(crate) fn matches(c: &Compiled, view: &BatchView<'_>, i: usize) -> bool {
    matches!(eval(c, view, i), V::Bool(true))
}

/// Evaluates a compiled expression for row `i`, InfluxDB style: arithmetic on numbers
/// (integer when both sides are integers, except `/`), comparisons false when a side is
/// null, a missing tag compared with a string behaving as the empty string.
pub(crate) fn eval<'a>(c: &'a Compiled, view: &BatchView<'a>, i: usize) -> V<'a> {
    match c {
        Compiled::Column(k) => view.columns[*k].get(i),
        Compiled::Time => V::Integer(view.time(i)),
        Compiled::Literal(l) => l.as_v(),
        Compiled::Regex(_) => V::Null,
        Compiled::Cast(t, c) => cast(*t, eval(c, view, i)),
        Compiled::Math(f, args) => {
            let values: Vec<V<'a>> = args.iter().map(|a| eval(a, view, i)).collect();
            f.apply(&values)
        }
        Compiled::Binary(op, l, r) => match op {
            BinaryOp::And => V::Bool(matches(l, view, i) && matches(r, view, i)),
            BinaryOp::Or => V::Bool(matches(l, view, i) || matches(r, view, i)),
            BinaryOp::RegexMatch | BinaryOp::RegexNotMatch => {
                let Compiled::Regex(re) = r.as_ref() else {
                    return V::Null;
                };
                let s = match eval(l, view, i) {
                    V::Str(s) => s,
                    V::Null => "",
                    _ => return V::Bool(false),
                };
                V::Bool(re.is_match(s) == (*op == BinaryOp::RegexMatch))
            }
            op => binary(*op, eval(l, view, i), eval(r, view, i)),
        },
    }
}

/// The column a function reads for a field written with a cast (`mean(usage::integer)`):
/// the field's name when there is none (or `::field`), else the name and the type apart
/// (a name no stored column has; [`cast_of`] reads it back, and the scan's batches get
/// the column, see [`super::view::with_casts`]).
pub(crate) fn cast_column(field: &str, t: Option<DataType>) -> String {
    let kind = match t {
        None | Some(DataType::Field) => return field.to_owned(),
        Some(DataType::Float) => "float",
        Some(DataType::Integer) => "integer",
        Some(DataType::Unsigned) => "unsigned",
        Some(DataType::String) => "string",
        Some(DataType::Boolean) => "boolean",
        Some(DataType::Tag) => "tag",
    };
    format!("{field}\0{kind}")
}

/// The field and the type of a [`cast_column`] name with a cast.
pub(crate) fn cast_of(column: &str) -> Option<(&str, DataType)> {
    let (field, kind) = column.rsplit_once('\0')?;
    let t = match kind {
        "float" => DataType::Float,
        "integer" => DataType::Integer,
        "unsigned" => DataType::Unsigned,
        "string" => DataType::String,
        "boolean" => DataType::Boolean,
        "tag" => DataType::Tag,
        _ => return None,
    };
    (!field.is_empty()).then_some((field, t))
}

/// `v` as type `t`, as InfluxDB 1.x casts a field: numbers convert among themselves (a
/// float to an integer drops its fraction), a string or boolean stays only as itself,
/// anything else is null.
pub(crate) fn cast(t: DataType, v: V<'_>) -> V<'_> {
    match (t, v) {
        (DataType::Float, V::Float(_)) => v,
        (DataType::Float, V::Integer(n)) => V::Float(n as f64),
        (DataType::Float, V::Unsigned(n)) => V::Float(n as f64),
        (DataType::Integer, V::Integer(_)) => v,
        (DataType::Integer, V::Float(x)) => V::Integer(x as i64),
        (DataType::Integer, V::Unsigned(n)) => V::Integer(n as i64),
        (DataType::Unsigned, V::Unsigned(_)) => v,
        (DataType::Unsigned, V::Float(x)) => V::Unsigned(x as u64),
        (DataType::Unsigned, V::Integer(n)) => V::Unsigned(n as u64),
        (DataType::String, V::Str(_)) | (DataType::Boolean, V::Bool(_)) => v,
        _ => V::Null,
    }
}

/// Applies a non-logical binary operator to two values.
pub(crate) fn binary<'a>(op: BinaryOp, l: V<'a>, r: V<'a>) -> V<'a> {
    if op.is_comparison() {
        let ord = match (l, r) {
            (V::Str(a), V::Str(b)) => Some(a.cmp(b)),
            (V::Null, V::Str(b)) => Some("".cmp(b)),
            (V::Str(a), V::Null) => Some(a.cmp("")),
            (V::Bool(a), V::Bool(b)) => Some(a.cmp(&b)),
            (V::Integer(a), V::Integer(b)) => Some(a.cmp(&b)),
            (V::Unsigned(a), V::Unsigned(b)) => Some(a.cmp(&b)),
            (a, b) => match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) => x.partial_cmp(&y),
                _ => None,
            },
        };
        let Some(ord) = ord else {
            return V::Bool(false);
        };
        use std::cmp::Ordering::*;
        return V::Bool(match op {
            BinaryOp::Eq => ord == Equal,
            BinaryOp::NotEq => ord != Equal,
            BinaryOp::Lt => ord == Less,
            BinaryOp::LtEq => ord != Greater,
            BinaryOp::Gt => ord == Greater,
            BinaryOp::GtEq => ord != Less,
            _ => false,
        });
    }
    match (l, r) {
        (V::Integer(a), V::Integer(b)) => match op {
            BinaryOp::Add => V::Integer(a.wrapping_add(b)),
            BinaryOp::Sub => V::Integer(a.wrapping_sub(b)),
            BinaryOp::Mul => V::Integer(a.wrapping_mul(b)),
            BinaryOp::Div => {
                if b == 0 {
                    V::Float(0.0)
                } else {
                    V::Float(a as f64 / b as f64)
                }
            }
            BinaryOp::Mod => {
                if b == 0 {
                    V::Null
                } else {
                    V::Integer(a.wrapping_rem(b))
                }
            }
            BinaryOp::BitAnd => V::Integer(a & b),
            BinaryOp::BitOr => V::Integer(a | b),
            BinaryOp::BitXor => V::Integer(a ^ b),
            _ => V::Null,
        },
        (V::Bool(a), V::Bool(b)) => match op {
            BinaryOp::BitAnd => V::Bool(a & b),
            BinaryOp::BitOr => V::Bool(a | b),
            BinaryOp::BitXor => V::Bool(a ^ b),
            _ => V::Null,
        },
        (a, b) => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => match op {
                BinaryOp::Add => V::Float(x + y),
                BinaryOp::Sub => V::Float(x - y),
                BinaryOp::Mul => V::Float(x * y),
                // InfluxDB answers 0 for a division by zero.
                BinaryOp::Div => V::Float(if y == 0.0 { 0.0 } else { x / y }),
                BinaryOp::Mod => V::Float(x % y),
                _ => V::Null,
            },
            _ => V::Null,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(text: &str) -> Expr {
        let q = format!("SELECT x FROM m WHERE {text}");
        match sluice_influxql::parse_statement(&q).unwrap() {
            sluice_influxql::Statement::Select(s) => s.condition.unwrap(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn time_bounds_are_split_from_other_conditions() {
        let now = 10_000_000_000_000;
        let (r, rest) = split_condition(
            Some(&cond(
                "time >= '1970-01-01T00:00:01Z' AND host = 'a' AND time < now() - 1s",
            )),
            now,
        )
        .unwrap();
        assert_eq!((r.start, r.end), (1_000_000_000, now - 1_000_000_000));
        assert!(r.has_start && r.has_end);
        assert_eq!(rest.len(), 1);
        let (r, _) = split_condition(Some(&cond("time > 5 AND time <= 10")), now).unwrap();
        assert_eq!((r.start, r.end), (6, 11));
    }

    #[test]
    fn regexes_are_compiled_within_a_size_limit() {
        assert!(compile_regex("^(a|b|c)$").is_ok());
        let e = compile_regex("(((a{100}){100}){100})").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "invalid regex /(((a{{100}}){{100}}){{100}})/: the compiled regex would exceed the limit of {REGEX_SIZE_LIMIT_BYTES} bytes"
            )
        );
    }

    #[test]
    fn time_inside_or_is_refused() {
        let err = split_condition(Some(&cond("time > 5 OR host = 'a'")), 0).unwrap_err();
        assert!(
            err.to_string().contains("time conditions inside OR"),
            "{err}"
        );
    }

    #[test]
    fn comparisons_of_fields_with_numbers_become_field_filters() {
        let (_, rest) = split_condition(
            Some(&cond(
                "usage > 90.5 AND 7 >= n AND host > 1 AND x = 'a' AND (y < 1 OR y > 2) AND z != 3 AND w::field <= -2",
            )),
            0,
        )
        .unwrap();
        let filters = field_filters(&rest, |n| n == "host");
        let filter = |field: &str, op, value| FieldFilter {
            field: field.to_owned(),
            op,
            value,
        };
        assert_eq!(
            filters,
            [
                filter("usage", Comparison::Gt, Number::Float(90.5)),
                filter("n", Comparison::LtEq, Number::Integer(7)),
                filter("w", Comparison::LtEq, Number::Integer(-2)),
            ]
        );
    }

    #[test]
    fn tag_equalities_are_taken_out_only_for_tags() {
        let (_, rest) =
            split_condition(Some(&cond("host = 'a' AND usage = 'b' AND x > 1")), 0).unwrap();
        let (eq, rest) = take_tag_matches(&rest, |n| n == "host");
        assert_eq!(eq, vec![TagMatch::equals("host", "a")]);
        assert_eq!(rest.len(), 2);
    }

    #[test]
    fn an_or_of_equalities_on_one_tag_becomes_one_match() {
        let is_tag = |n: &str| n == "host" || n == "dc";
        let (_, conjuncts) = split_condition(
            Some(&cond(
                "(host = 'a' OR host = 'b' OR 'c' = host) AND time > 5 AND (host = 'a' OR dc = 'x') AND (host = 'a' OR usage = 'b')",
            )),
            0,
        )
        .unwrap();
        let (matches, rest) = take_tag_matches(&conjuncts, is_tag);
        assert_eq!(
            matches,
            vec![TagMatch::one_of(
                "host",
                ["c".to_owned(), "b".to_owned(), "a".to_owned()]
            )]
        );
        // Two tags under one OR, and a field under OR, stay conditions.
        assert_eq!(rest.len(), 2, "{rest:?}");
    }
}
