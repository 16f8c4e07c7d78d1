//! The type check InfluxDB makes of a `SELECT`'s fields: arithmetic only over numbers,
//! bitwise operators only over integers or booleans. `SELECT s + 'x'` of a string field
//! is an error there (`type error: s::string + 'x': incompatible types: string and
//! string`), not a column of nulls.

use std::collections::BTreeMap;

use sluice_influxql::{BinaryOp, DataType, Expr, Literal};
use sluice_storage::FieldType;

use crate::error::{Error, Result};

/// The types of the measurements' fields and their tags, what names in fields resolve to.
pub(super) struct Names<'a> {
    pub(super) fields: &'a BTreeMap<String, FieldType>,
    pub(super) tags: &'a BTreeMap<String, ()>,
}

impl Names<'_> {
    /// The type `name` has in these measurements: a field's, `tag`, or none if unknown.
    fn of(&self, name: &str) -> Option<DataType> {
        match self.fields.get(name) {
            Some(FieldType::Float) => Some(DataType::Float),
            Some(FieldType::Integer) => Some(DataType::Integer),
            Some(FieldType::UInteger) => Some(DataType::Unsigned),
            Some(FieldType::String) => Some(DataType::String),
            Some(FieldType::Boolean) => Some(DataType::Boolean),
            None => self.tags.contains_key(name).then_some(DataType::Tag),
        }
    }
}

/// Checks a `SELECT` field: `Err` with InfluxDB's message for an operator over types it
/// does not take.
pub(super) fn check(e: &Expr, names: &Names<'_>) -> Result<()> {
    type_of(e, names).map(|_| ())
}

fn numeric(t: DataType) -> bool {
    matches!(t, DataType::Float | DataType::Integer | DataType::Unsigned)
}

/// The type of `e`, none where the check cannot tell (an unknown name, a function whose
/// result type it does not follow): such an operand is not checked.
fn type_of(e: &Expr, names: &Names<'_>) -> Result<Option<DataType>> {
    Ok(match e {
        Expr::VarRef(_) if e.is_time() => None,
        Expr::VarRef(v) => match v.data_type {
            Some(DataType::Field | DataType::Tag) | None => names.of(&v.name),
            cast => cast,
        },
        Expr::Literal(Literal::Integer(_)) => Some(DataType::Integer),
        Expr::Literal(Literal::Unsigned(_)) => Some(DataType::Unsigned),
        Expr::Literal(Literal::Float(_)) => Some(DataType::Float),
        Expr::Literal(Literal::String(_)) => Some(DataType::String),
        Expr::Literal(Literal::Boolean(_)) => Some(DataType::Boolean),
        Expr::Call(call) => {
            let arg = match call.args.first() {
                Some(a) => type_of(a, names)?,
                None => None,
            };
            match call.name.to_ascii_lowercase().as_str() {
                "count" => Some(DataType::Integer),
                "mean"
                | "median"
                | "stddev"
                | "integral"
                | "derivative"
                | "non_negative_derivative"
                | "moving_average" => Some(DataType::Float),
                "max"
                | "min"
                | "first"
                | "last"
                | "sum"
                | "spread"
                | "mode"
                | "percentile"
                | "sample"
                | "difference"
                | "non_negative_difference"
                | "cumulative_sum" => arg,
                _ => None,
            }
        }
        Expr::Binary { op, lhs, rhs } => {
            let (l, r) = (type_of(lhs, names)?, type_of(rhs, names)?);
            let (Some(l), Some(r)) = (l, r) else {
                return Ok(None);
            };
            let result = match op {
                BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod
                    if numeric(l) && numeric(r) =>
                {
                    if l == DataType::Float || r == DataType::Float {
                        DataType::Float
                    } else if l == r {
                        l
                    } else {
                        DataType::Integer
                    }
                }
                BinaryOp::BitAnd | BinaryOp::BitOr | BinaryOp::BitXor
                    if l == r
                        && matches!(
                            l,
                            DataType::Integer | DataType::Unsigned | DataType::Boolean
                        ) =>
                {
                    l
                }
                BinaryOp::Add
                | BinaryOp::Sub
                | BinaryOp::Mul
                | BinaryOp::Div
                | BinaryOp::Mod
                | BinaryOp::BitAnd
                | BinaryOp::BitOr
                | BinaryOp::BitXor => {
                    return Err(Error::Invalid(format!(
                        "type error: {}: incompatible types: {} and {}",
                        annotated(e, names),
                        l.as_str(),
                        r.as_str()
                    )));
                }
                _ => return Ok(None),
            };
            Some(result)
        }
        _ => None,
    })
}

/// `e` with each name's type written after it (`s::string`), as InfluxDB's messages show
/// it.
fn annotated(e: &Expr, names: &Names<'_>) -> Expr {
    match e {
        Expr::VarRef(v) if !e.is_time() && v.data_type.is_none() => {
            let mut v = v.clone();
            v.data_type = names.of(&v.name);
            Expr::VarRef(v)
        }
        Expr::Call(call) => {
            let mut call = call.clone();
            for a in &mut call.args {
                *a = annotated(a, names);
            }
            Expr::Call(call)
        }
        Expr::Binary { op, lhs, rhs } => {
            Expr::binary(annotated(lhs, names), *op, annotated(rhs, names))
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(field: &str) -> Result<()> {
        let fields: BTreeMap<String, FieldType> = [
            ("x", FieldType::Float),
            ("i", FieldType::Integer),
            ("s", FieldType::String),
            ("b", FieldType::Boolean),
        ]
        .into_iter()
        .map(|(n, t)| (n.to_owned(), t))
        .collect();
        let tags = [("h".to_owned(), ())].into_iter().collect();
        let stmt =
            match sluice_influxql::parse_statement(&format!("SELECT {field} FROM m")).unwrap() {
                sluice_influxql::Statement::Select(s) => s,
                _ => unreachable!(),
            };
        check(
            &stmt.fields[0].expr,
            &Names {
                fields: &fields,
                tags: &tags,
            },
        )
    }

    #[test]
    fn operators_take_the_types_influxdb_takes_and_name_them_when_not() {
        for ok in [
            "x + 1",
            "i * 2 - x",
            "i & 1",
            "b & true",
            "max(x) + count(s)",
            "nope + 'x'",
            "s::float + 1",
            "s",
        ] {
            assert!(checked(ok).is_ok(), "{ok}");
        }
        for (bad, message) in [
            (
                "s + 'x'",
                "type error: s::string + 'x': incompatible types: string and string",
            ),
            (
                "h + 'x'",
                "type error: h::tag + 'x': incompatible types: tag and string",
            ),
            (
                "b + 1",
                "type error: b::boolean + 1: incompatible types: boolean and integer",
            ),
            (
                "x & 1",
                "type error: x::float & 1: incompatible types: float and integer",
            ),
            (
                "max(x) + 'q'",
                "type error: max(x::float) + 'q': incompatible types: float and string",
            ),
            (
                "x + 1 + s",
                "type error: x::float + 1 + s::string: incompatible types: float and string",
            ),
        ] {
            assert_eq!(checked(bad).unwrap_err().to_string(), message, "{bad}");
        }
    }
}
