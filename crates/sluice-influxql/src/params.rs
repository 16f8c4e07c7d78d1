//! Bound parameter values: what `$name` in a query stands for.

use crate::ast::{Expr, Literal, Regex, VarRef};

/// The value of a bound parameter, as the v1 `/query` endpoint's `params` JSON gives it.
///
/// In an expression a parameter becomes the matching literal; `Identifier` becomes a
/// field or tag reference and `Regex` a regex. Where the grammar wants a name (a
/// measurement, a tag key, a database), `String` and `Identifier` are both accepted; where it
/// wants a duration, `Duration` and a `String` such as `"1h"` are; where it wants a count
/// (`LIMIT`), a non-negative `Integer` is.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// A JSON string.
    String(String),
    /// A JSON integer that fits `i64`.
    Integer(i64),
    /// A JSON integer above `i64::MAX`.
    Unsigned(u64),
    /// A JSON number with a fraction or exponent.
    Float(f64),
    /// A JSON boolean.
    Boolean(bool),
    /// A duration in nanoseconds (`{"duration": "1h"}` style).
    Duration(i64),
    /// A regex pattern (`{"regex": "^cpu"}` style).
    Regex(String),
    /// A name to use as an identifier (`{"identifier": "host"}` style).
    Identifier(String),
}

impl ParamValue {
    /// The expression this value stands for.
    pub(crate) fn to_expr(&self) -> Expr {
        match self {
            ParamValue::String(s) => Expr::Literal(Literal::String(s.clone())),
            ParamValue::Integer(n) => Expr::Literal(Literal::Integer(*n)),
            ParamValue::Unsigned(n) => Expr::Literal(Literal::Unsigned(*n)),
            ParamValue::Float(x) => Expr::Literal(Literal::Float(*x)),
            ParamValue::Boolean(b) => Expr::Literal(Literal::Boolean(*b)),
            ParamValue::Duration(d) => Expr::Literal(Literal::Duration(*d)),
            ParamValue::Regex(re) => Expr::Regex(Regex(re.clone())),
            ParamValue::Identifier(name) => Expr::VarRef(VarRef {
                name: name.clone(),
                data_type: None,
            }),
        }
    }

    /// The name this value stands for where the grammar wants an identifier.
    pub(crate) fn as_name(&self) -> Option<&str> {
        match self {
            ParamValue::String(s) | ParamValue::Identifier(s) => Some(s),
            _ => None,
        }
    }
}
