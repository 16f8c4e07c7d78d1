//! The functions sluice runs, and checks of their arguments.
//!
//! The parser accepts any `name(args)`; this module says which names are known, so that an
//! unknown one is reported as `unsupported function "x"` instead of a syntax error.

use crate::ast::{Expr, Literal, SelectStatement, Source};
use crate::error::{Error, Result};

/// How a function combines points, which decides how the planner builds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionKind {
    /// Computes one value per group from all its points (`mean`, `count`, ...).
    Aggregate,
    /// Picks points from a group, keeping their timestamps (`max`, `first`, `top`, ...).
    Selector,
    /// Computes one value per point or per window from a series (`derivative`, ...).
    Transformation,
    /// Computes one value from the values of one row (`abs`, `round`, `pow`, ...).
    Math,
}

/// The kind of a supported function, or `None` for a name sluice does not run.
///
/// Aggregates: `count`, `sum`, `mean`, `median`, `mode`, `spread`, `stddev`, `distinct`,
/// `integral`.
/// Selectors: `min`, `max`, `first`, `last`, `percentile`, `top`, `bottom`, `sample`.
/// Transformations: `derivative`, `non_negative_derivative`, `difference`,
/// `non_negative_difference`, `moving_average`, `cumulative_sum`, `elapsed`.
/// Math: `abs`, `ceil`, `floor`, `round`, `sqrt`, `pow`, `exp`, `ln`, `log`, `log2`,
/// `log10`, `sin`, `cos`, `tan`, `asin`, `acos`, `atan`, `atan2`.
pub fn function_kind(name: &str) -> Option<FunctionKind> {
    Some(match name {
        "count" | "sum" | "mean" | "median" | "mode" | "spread" | "stddev" | "distinct"
        | "integral" => FunctionKind::Aggregate,
        "min" | "max" | "first" | "last" | "percentile" | "top" | "bottom" | "sample" => {
            FunctionKind::Selector
        }
        "derivative"
        | "non_negative_derivative"
        | "difference"
        | "non_negative_difference"
        | "moving_average"
        | "cumulative_sum"
        | "elapsed" => FunctionKind::Transformation,
        "abs" | "ceil" | "floor" | "round" | "sqrt" | "exp" | "ln" | "log2" | "log10" | "sin"
        | "cos" | "tan" | "asin" | "acos" | "atan" | "pow" | "log" | "atan2" => FunctionKind::Math,
        _ => return None,
    })
}

/// Functions of InfluxQL 1.x that sluice does not run.
const NOT_RUN: &[&str] = &["holt_winters", "holt_winters_with_fit"];

/// Checks every function call in a `SELECT` (fields, condition and subqueries): the name
/// must be supported and the arguments must have the right count and shape. In a
/// condition only `now()` is allowed.
///
/// # Errors
///
/// [`Error::UndefinedFunction`] for a name InfluxQL does not know;
/// [`Error::UnsupportedFunction`] for one sluice does not run (or a call other than
/// `now()` in a condition); [`Error::FunctionArguments`] for wrong arguments, such as
/// `percentile(x)` or `top(x, 0)`.
pub fn validate_select(statement: &SelectStatement) -> Result<()> {
    let mut outcome = Ok(());
    for field in &statement.fields {
        field.expr.walk(&mut |expr| {
            if outcome.is_ok()
                && let Expr::Call(call) = expr
            {
                outcome = check_call(&call.name, &call.args);
            }
        });
    }
    if let Some(condition) = &statement.condition {
        condition.walk(&mut |expr| {
            if outcome.is_ok()
                && let Expr::Call(call) = expr
                && !expr.is_now()
            {
                outcome = Err(Error::UnsupportedFunction {
                    name: call.name.clone(),
                });
            }
        });
    }
    outcome?;
    for source in &statement.from {
        if let Source::Subquery(inner) = source {
            validate_select(inner)?;
        }
    }
    Ok(())
}

fn check_call(name: &str, args: &[Expr]) -> Result<()> {
    let bad = |reason: String| {
        Err(Error::FunctionArguments {
            name: name.to_owned(),
            reason,
        })
    };
    let arity = |min: usize, max: usize| {
        if args.len() < min || args.len() > max {
            let want = if min == max {
                format!("{min}")
            } else {
                format!("{min} to {max}")
            };
            return bad(format!("expected {want} arguments, got {}", args.len()));
        }
        Ok(())
    };
    if function_kind(name).is_none() {
        return Err(if NOT_RUN.contains(&name) {
            Error::UnsupportedFunction {
                name: name.to_owned(),
            }
        } else {
            Error::UndefinedFunction {
                name: name.to_owned(),
            }
        });
    }
    match name {
        "percentile" => {
            arity(2, 2)?;
            match &args[1] {
                // Any number: one that selects no point answers nothing, as in InfluxDB.
                Expr::Literal(Literal::Integer(_) | Literal::Float(_)) => Ok(()),
                other => bad(format!("percentile must be a number, got {other}")),
            }
        }
        "top" | "bottom" => {
            arity(2, usize::MAX)?;
            let (last, middle) = args[1..].split_last().unwrap_or((&args[1], &[]));
            if let Some(tag) = middle.iter().find(|a| !matches!(a, Expr::VarRef(_))) {
                return bad(format!(
                    "expected tag keys between field and count, got {tag}"
                ));
            }
            match last {
                Expr::Literal(Literal::Integer(n)) if *n > 0 => Ok(()),
                other => bad(format!("count must be a positive integer, got {other}")),
            }
        }
        "sample" => {
            arity(2, 2)?;
            match &args[1] {
                Expr::Literal(Literal::Integer(n)) if *n > 0 => Ok(()),
                other => bad(format!("count must be a positive integer, got {other}")),
            }
        }
        "derivative" | "non_negative_derivative" | "elapsed" | "integral" => {
            arity(1, 2)?;
            match args.get(1) {
                None | Some(Expr::Literal(Literal::Duration(_))) => Ok(()),
                Some(other) => bad(format!("unit must be a duration, got {other}")),
            }
        }
        "moving_average" => {
            arity(2, 2)?;
            match &args[1] {
                Expr::Literal(Literal::Integer(n)) if *n > 1 => Ok(()),
                other => bad(format!("window must be an integer above 1, got {other}")),
            }
        }
        "pow" | "log" | "atan2" => arity(2, 2),
        _ => arity(1, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::Statement;

    fn validate(query: &str) -> Result<()> {
        match crate::parse_statement(query).unwrap() {
            Statement::Select(s) => validate_select(&s),
            other => panic!("not a select: {other:?}"),
        }
    }

    #[test]
    fn supported_functions_with_good_arguments_validate() {
        for query in [
            "SELECT count(x), sum(x), mean(x), median(x), mode(x), spread(x), stddev(x) FROM m",
            "SELECT min(x), max(x), first(x), last(*), percentile(x, 95), percentile(x, 99.9) FROM m",
            "SELECT top(x, 3), top(x, host, 3), bottom(x, host, region, 2) FROM m",
            "SELECT count(distinct(x)), distinct(x) FROM m",
            "SELECT derivative(mean(x), 1s), non_negative_derivative(x), difference(x) FROM m",
            "SELECT moving_average(x, 3), cumulative_sum(x), elapsed(x, 1ms) FROM m",
            "SELECT integral(x), integral(x, 1m), abs(x), pow(x, 2), round(mean(x)) FROM m",
            "SELECT x FROM m WHERE time > now() - 1h",
            "SELECT mean(x) FROM (SELECT max(x) AS x FROM m GROUP BY time(1m))",
        ] {
            assert_eq!(validate(query), Ok(()), "{query}");
        }
    }

    #[test]
    fn unknown_functions_are_reported_as_influxdb_does() {
        let cases = [
            (
                "SELECT holt_winters(x, 1, 2) FROM m",
                "unsupported function \"holt_winters\"",
            ),
            ("SELECT count(foo(x)) FROM m", "undefined function foo()"),
            (
                "SELECT x FROM m WHERE mean(x) > 1",
                "unsupported function \"mean\"",
            ),
            (
                "SELECT x FROM (SELECT bar(x) FROM m)",
                "undefined function bar()",
            ),
        ];
        for (query, message) in cases {
            assert_eq!(validate(query).unwrap_err().to_string(), message, "{query}");
        }
    }

    #[test]
    fn wrong_arguments_are_reported_with_the_function_name() {
        let cases = [
            (
                "SELECT mean() FROM m",
                "invalid arguments for mean(): expected 1 arguments, got 0",
            ),
            (
                "SELECT percentile(x) FROM m",
                "invalid arguments for percentile(): expected 2 arguments, got 1",
            ),
            (
                "SELECT percentile(x, 'p') FROM m",
                "invalid arguments for percentile(): percentile must be a number, got 'p'",
            ),
            (
                "SELECT top(x, 0) FROM m",
                "invalid arguments for top(): count must be a positive integer, got 0",
            ),
            (
                "SELECT top(x, 1.5 + 1, 2) FROM m",
                "invalid arguments for top(): expected tag keys between field and count, got 1.5 + 1",
            ),
            (
                "SELECT derivative(x, 5) FROM m",
                "invalid arguments for derivative(): unit must be a duration, got 5",
            ),
            (
                "SELECT moving_average(x, 1) FROM m",
                "invalid arguments for moving_average(): window must be an integer above 1, got 1",
            ),
        ];
        for (query, message) in cases {
            assert_eq!(validate(query).unwrap_err().to_string(), message, "{query}");
        }
    }
}
