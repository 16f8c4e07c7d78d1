//! Expressions: precedence climbing over binary operators, unary minus, and primaries.

use super::Parser;
use crate::ast::{BinaryOp, Call, DataType, Expr, Literal, VarRef};
use crate::error::Result;
use crate::literal::{is_keyword, parse_duration};
use crate::token::{Spanned, Token};

/// What a primary expression may start with, for error messages.
const PRIMARY: &str = "identifier, string, number, bool";

/// An expression with the depth of its tree (a leaf is 1).
type Deep = (Expr, usize);

impl Parser<'_> {
    /// A whole expression.
    pub(super) fn expr(&mut self) -> Result<Expr> {
        Ok(self.expr_sized()?.0)
    }

    /// A whole expression and its tree depth. Every way in (parentheses, call arguments,
    /// signs, subqueries) counts one level of nesting; see [`Parser::nest`].
    fn expr_sized(&mut self) -> Result<Deep> {
        self.nest(|p| p.binary(1))
    }

    /// Operands joined by operators that bind at least as tightly as `min_precedence`.
    ///
    /// A chain such as `a OR b OR c …` is built by the loop, not by recursion, but its
    /// tree is as deep as it is long; the depth is checked here so that every later walk
    /// of the tree (display, planning, evaluation, drop) stays within the limit too.
    fn binary(&mut self, min_precedence: u8) -> Result<Deep> {
        let (mut lhs, mut depth) = self.unary()?;
        loop {
            let Some(op) = self.peek_binary_op()? else {
                return Ok((lhs, depth));
            };
            if op.precedence() < min_precedence {
                return Ok((lhs, depth));
            }
            let at = self.bump()?;
            let (rhs, rhs_depth) = if matches!(op, BinaryOp::RegexMatch | BinaryOp::RegexNotMatch) {
                (Expr::Regex(self.regex()?), 1)
            } else {
                // Left-associative: the right side only takes tighter operators.
                self.binary(op.precedence() + 1)?
            };
            depth = depth.max(rhs_depth) + 1;
            self.check_depth(depth, &at)?;
            lhs = Expr::binary(lhs, op, rhs);
        }
    }

    fn peek_binary_op(&mut self) -> Result<Option<BinaryOp>> {
        let op = match self.peek()?.token {
            Token::Symbol(symbol) => match symbol {
                "+" => BinaryOp::Add,
                "-" => BinaryOp::Sub,
                "*" => BinaryOp::Mul,
                "/" => BinaryOp::Div,
                "%" => BinaryOp::Mod,
                "&" => BinaryOp::BitAnd,
                "|" => BinaryOp::BitOr,
                "^" => BinaryOp::BitXor,
                "=" => BinaryOp::Eq,
                "!=" | "<>" => BinaryOp::NotEq,
                "<" => BinaryOp::Lt,
                "<=" => BinaryOp::LtEq,
                ">" => BinaryOp::Gt,
                ">=" => BinaryOp::GtEq,
                "=~" => BinaryOp::RegexMatch,
                "!~" => BinaryOp::RegexNotMatch,
                _ => return Ok(None),
            },
            ref token if token.is_keyword("AND") => BinaryOp::And,
            ref token if token.is_keyword("OR") => BinaryOp::Or,
            _ => return Ok(None),
        };
        Ok(Some(op))
    }

    /// A primary with optional leading signs. `-` before a number makes a negative
    /// literal; before anything else it multiplies by `-1`.
    fn unary(&mut self) -> Result<Deep> {
        if self.eat_symbol("+")? {
            return self.nest(Parser::unary);
        }
        if !self.eat_symbol("-")? {
            return self.primary();
        }
        let next = self.peek()?;
        match &next.token {
            Token::Integer(_) | Token::Float(_) | Token::Duration(_) => {
                self.bump()?;
                Ok((Expr::Literal(self.number(&next, true)?), 1))
            }
            _ => {
                let (operand, depth) = self.nest(Parser::unary)?;
                self.check_depth(depth + 1, &next)?;
                Ok((
                    Expr::binary(Expr::Literal(Literal::Integer(-1)), BinaryOp::Mul, operand),
                    depth + 1,
                ))
            }
        }
    }

    /// The literal of a consumed number or duration token.
    pub(super) fn number(&self, spanned: &Spanned, negative: bool) -> Result<Literal> {
        let sign = if negative { "-" } else { "" };
        match &spanned.token {
            Token::Integer(digits) => {
                let text = format!("{sign}{digits}");
                if let Ok(n) = text.parse::<i64>() {
                    Ok(Literal::Integer(n))
                } else if let (false, Ok(n)) = (negative, digits.parse::<u64>()) {
                    Ok(Literal::Unsigned(n))
                } else {
                    Err(self.invalid(spanned, format!("integer out of range: {text}")))
                }
            }
            Token::Float(digits) => {
                let text = format!("{sign}{digits}");
                text.parse::<f64>()
                    .map(Literal::Float)
                    .map_err(|_| self.invalid(spanned, format!("invalid number: {text}")))
            }
            Token::Duration(text) => {
                let nanos =
                    parse_duration(text).map_err(|e| self.invalid(spanned, e.to_string()))?;
                Ok(Literal::Duration(if negative { -nanos } else { nanos }))
            }
            _ => Err(self.unexpected(spanned, "number")),
        }
    }

    fn primary(&mut self) -> Result<Deep> {
        let leaf = |e: Expr| -> Result<Deep> { Ok((e, 1)) };
        if let Some(re) = self.try_regex()? {
            return leaf(Expr::Regex(re));
        }
        let next = self.bump()?;
        match &next.token {
            Token::Symbol("*") => leaf(Expr::Wildcard(self.wildcard_cast()?)),
            Token::Symbol("(") => {
                let inner = self.expr_sized()?;
                self.expect_symbol(")")?;
                Ok(inner)
            }
            Token::Integer(_) | Token::Float(_) | Token::Duration(_) => {
                leaf(Expr::Literal(self.number(&next, false)?))
            }
            Token::String(s) => leaf(Expr::Literal(Literal::String(s.clone()))),
            Token::Param(name) => leaf(self.param(name, &next)?.to_expr()),
            Token::QuotedIdent(name) => leaf(self.var_ref(name.clone())?),
            Token::Ident(word) => {
                if word.eq_ignore_ascii_case("true") {
                    return leaf(Expr::Literal(Literal::Boolean(true)));
                }
                if word.eq_ignore_ascii_case("false") {
                    return leaf(Expr::Literal(Literal::Boolean(false)));
                }
                let is_distinct = word.eq_ignore_ascii_case("distinct");
                if (is_distinct || !is_keyword(word)) && self.eat_symbol("(")? {
                    return self.call_args(word.to_ascii_lowercase(), &next);
                }
                if is_distinct {
                    // `DISTINCT field` is the keyword form of `distinct(field)`.
                    let field = self.ident()?;
                    return Ok((
                        Expr::Call(Call {
                            name: "distinct".to_owned(),
                            args: vec![Expr::var(field)],
                        }),
                        2,
                    ));
                }
                if is_keyword(word) {
                    return Err(self.unexpected(&next, PRIMARY));
                }
                leaf(self.var_ref(word.clone())?)
            }
            _ => Err(self.unexpected(&next, PRIMARY)),
        }
    }

    /// The arguments of a call whose `(` has been consumed.
    fn call_args(&mut self, name: String, at: &Spanned) -> Result<Deep> {
        let mut args = Vec::new();
        let mut depth = 1;
        if !self.eat_symbol(")")? {
            loop {
                let (arg, arg_depth) = self.expr_sized()?;
                args.push(arg);
                depth = depth.max(arg_depth + 1);
                if !self.eat_symbol(",")? {
                    break;
                }
            }
            self.expect_symbol(")")?;
        }
        self.check_depth(depth, at)?;
        Ok((Expr::Call(Call { name, args }), depth))
    }

    /// A variable reference with its optional `::type`.
    fn var_ref(&mut self, name: String) -> Result<Expr> {
        let data_type = if self.eat_symbol("::")? {
            Some(self.data_type(false)?)
        } else {
            None
        };
        Ok(Expr::VarRef(VarRef { name, data_type }))
    }

    /// The optional `::field` or `::tag` after `*`.
    fn wildcard_cast(&mut self) -> Result<Option<DataType>> {
        if self.eat_symbol("::")? {
            Ok(Some(self.data_type(true)?))
        } else {
            Ok(None)
        }
    }

    /// The type name after `::`.
    fn data_type(&mut self, wildcard: bool) -> Result<DataType> {
        let next = self.peek()?;
        let expected = if wildcard {
            "field, tag"
        } else {
            "float, integer, unsigned, string, boolean, field, tag"
        };
        let found = match &next.token {
            Token::Ident(word) => DataType::from_name(word),
            _ => None,
        };
        match found {
            Some(t) if !wildcard || matches!(t, DataType::Field | DataType::Tag) => {
                self.bump()?;
                Ok(t)
            }
            _ => Err(self.unexpected(&next, expected)),
        }
    }
}
