//! Evaluating the time side of a `time` comparison to nanoseconds since the epoch.

use crate::ast::{BinaryOp, Expr, Literal};
use crate::error::{Error, Result};
use crate::literal::parse_time;

impl Expr {
    /// Evaluates this expression as an instant, the way InfluxQL reads the other side of a
    /// comparison with `time`: nanoseconds since the Unix epoch, or `None` when it is not a
    /// constant time (it refers to a field or calls another function).
    ///
    /// - a string is a time string ([`parse_time`]): `'2016-01-01T00:00:00Z'`;
    /// - an integer or duration literal counts nanoseconds from the epoch: `1451606400000000000`,
    ///   or Grafana's `1451606400000ms`;
    /// - `now()` is `now_ns`;
    /// - `a + d` and `a - d` shift an instant by a duration or integer nanoseconds:
    ///   `now() - 1h`, `'2016-01-01T00:00:00Z' + 6m`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTime`] for a string that is no time, or arithmetic that leaves the
    /// `i64` range.
    pub fn eval_time(&self, now_ns: i64) -> Result<Option<i64>> {
        match self {
            Expr::Literal(Literal::String(text)) => parse_time(text).map(Some),
            Expr::Literal(Literal::Integer(n) | Literal::Duration(n)) => Ok(Some(*n)),
            _ if self.is_now() => Ok(Some(now_ns)),
            Expr::Binary {
                op: op @ (BinaryOp::Add | BinaryOp::Sub),
                lhs,
                rhs,
            } => {
                let Some(base) = lhs.eval_time(now_ns)? else {
                    return Ok(None);
                };
                let shift = match rhs.as_ref() {
                    Expr::Literal(Literal::Integer(n) | Literal::Duration(n)) => *n,
                    _ => return Ok(None),
                };
                let shifted = if *op == BinaryOp::Add {
                    base.checked_add(shift)
                } else {
                    base.checked_sub(shift)
                };
                shifted.map(Some).ok_or_else(|| Error::InvalidTime {
                    text: self.to_string(),
                    reason: "time out of range".to_owned(),
                })
            }
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::ast::{Expr, Statement};

    const T0: i64 = 1_451_606_400_000_000_000;
    const HOUR: i64 = 3_600_000_000_000;

    fn rhs_of(condition: &str) -> Expr {
        let Statement::Select(s) =
            crate::parse_statement(&format!("SELECT x FROM m WHERE time > {condition}")).unwrap()
        else {
            unreachable!()
        };
        match s.condition {
            Some(Expr::Binary { rhs, .. }) => *rhs,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn time_expressions_evaluate_to_epoch_nanoseconds() {
        let now = T0 + 10 * HOUR;
        let cases = [
            ("'2016-01-01T00:00:00Z'", Some(T0)),
            ("1451606400000000000", Some(T0)),
            ("1451606400000ms", Some(T0)),
            ("now()", Some(now)),
            ("now() - 1h", Some(now - HOUR)),
            ("now() - 1h - 1h", Some(now - 2 * HOUR)),
            ("'2016-01-01' + 1h", Some(T0 + HOUR)),
            ("0 + 5", Some(5)),
            ("usage", None),
            ("mean(x)", None),
            ("now() - usage", None),
            ("now() * 2", None),
        ];
        for (text, want) in cases {
            assert_eq!(rhs_of(text).eval_time(now), Ok(want), "{text}");
        }
    }

    #[test]
    fn bad_time_strings_and_overflow_are_errors() {
        assert_eq!(
            rhs_of("'yesterday'").eval_time(0).unwrap_err().to_string(),
            "invalid time \"yesterday\": expected a 4-digit year"
        );
        assert_eq!(
            rhs_of("now() + 1w")
                .eval_time(i64::MAX)
                .unwrap_err()
                .to_string(),
            "invalid time \"now() + 1w\": time out of range"
        );
    }
}
