//! InfluxQL's math functions (`abs`, `round`, `pow`, `atan2`, ...), over raw values and
//! over aggregates, with InfluxDB 1.x's result types: `abs`, `ceil`, `floor` and `round`
//! keep integers integers; every other function answers a float; a null or a
//! non-numeric argument answers null.

use super::view::V;

/// A math function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MathFn {
    Abs,
    Ceil,
    Floor,
    Round,
    Sqrt,
    Pow,
    Exp,
    Ln,
    Log,
    Log2,
    Log10,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Atan2,
}

impl MathFn {
    /// The function called `name`, if it is a math function.
    pub(crate) fn from_name(name: &str) -> Option<MathFn> {
        Some(match name {
            "abs" => MathFn::Abs,
            "ceil" => MathFn::Ceil,
            "floor" => MathFn::Floor,
            "round" => MathFn::Round,
            "sqrt" => MathFn::Sqrt,
            "pow" => MathFn::Pow,
            "exp" => MathFn::Exp,
            "ln" => MathFn::Ln,
            "log" => MathFn::Log,
            "log2" => MathFn::Log2,
            "log10" => MathFn::Log10,
            "sin" => MathFn::Sin,
            "cos" => MathFn::Cos,
            "tan" => MathFn::Tan,
            "asin" => MathFn::Asin,
            "acos" => MathFn::Acos,
            "atan" => MathFn::Atan,
            "atan2" => MathFn::Atan2,
            _ => return None,
        })
    }

    /// How many arguments the function takes.
    pub(crate) fn arity(self) -> usize {
        match self {
            MathFn::Pow | MathFn::Log | MathFn::Atan2 => 2,
            _ => 1,
        }
    }

    /// Applies the function; `args` has [`MathFn::arity`] values.
    pub(crate) fn apply<'a>(self, args: &[V<'a>]) -> V<'a> {
        let Some(&first) = args.first() else {
            return V::Null;
        };
        match self {
            MathFn::Abs => match first {
                V::Integer(i) => V::Integer(i.wrapping_abs()),
                V::Unsigned(u) => V::Unsigned(u),
                V::Float(x) => V::Float(x.abs()),
                _ => V::Null,
            },
            MathFn::Ceil | MathFn::Floor | MathFn::Round => match first {
                V::Integer(_) | V::Unsigned(_) => first,
                V::Float(x) => V::Float(match self {
                    MathFn::Ceil => x.ceil(),
                    MathFn::Floor => x.floor(),
                    // Half away from zero, as Go's math.Round.
                    _ => x.round(),
                }),
                _ => V::Null,
            },
            MathFn::Pow | MathFn::Log | MathFn::Atan2 => {
                let (Some(x), Some(y)) = (first.as_f64(), args.get(1).and_then(|v| v.as_f64()))
                else {
                    return V::Null;
                };
                V::Float(match self {
                    MathFn::Pow => x.powf(y),
                    MathFn::Log => x.ln() / y.ln(),
                    _ => x.atan2(y),
                })
            }
            _ => {
                let Some(x) = first.as_f64() else {
                    return V::Null;
                };
                V::Float(match self {
                    MathFn::Sqrt => x.sqrt(),
                    MathFn::Exp => x.exp(),
                    MathFn::Ln => x.ln(),
                    MathFn::Log2 => x.log2(),
                    MathFn::Log10 => x.log10(),
                    MathFn::Sin => x.sin(),
                    MathFn::Cos => x.cos(),
                    MathFn::Tan => x.tan(),
                    MathFn::Asin => x.asin(),
                    MathFn::Acos => x.acos(),
                    _ => x.atan(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_stay_integers_only_where_influxdb_keeps_them() {
        let cases = [
            (MathFn::Abs, vec![V::Integer(-3)], V::Integer(3)),
            (MathFn::Round, vec![V::Integer(7)], V::Integer(7)),
            (MathFn::Round, vec![V::Float(-2.5)], V::Float(-3.0)),
            (MathFn::Ceil, vec![V::Float(1.2)], V::Float(2.0)),
            (MathFn::Floor, vec![V::Float(-1.2)], V::Float(-2.0)),
            (MathFn::Sqrt, vec![V::Integer(4)], V::Float(2.0)),
            (
                MathFn::Pow,
                vec![V::Integer(2), V::Integer(10)],
                V::Float(1024.0),
            ),
            (
                MathFn::Log,
                vec![V::Integer(8), V::Integer(2)],
                V::Float(3.0),
            ),
            (MathFn::Ln, vec![V::Str("x")], V::Null),
            (MathFn::Abs, vec![V::Null], V::Null),
        ];
        for (f, args, want) in cases {
            assert_eq!(f.apply(&args), want, "{f:?}({args:?})");
        }
    }

    #[test]
    fn names_resolve_with_their_arity() {
        assert_eq!(MathFn::from_name("atan2").map(MathFn::arity), Some(2));
        assert_eq!(MathFn::from_name("log10").map(MathFn::arity), Some(1));
        assert_eq!(MathFn::from_name("mean"), None);
    }
}
