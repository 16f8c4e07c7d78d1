//! Expressions: precedence climbing over binary operators, unary minus, and primaries.

use super::Parser;
use crate::ast::{BinaryOp, Call, DataType, Expr, Literal, VarRef};
use crate::error::Result;
use crate::literal::{is_keyword, parse_duration};
use crate::token::{Spanned, Token};

/// What a primary expression may start with, for error messages.
const PRIMARY: &str = "identifier, string, number, bool";

impl Parser<'_> {
    /// A whole expression.
    pub(super) fn expr(&mut self) -> Result<Expr> {
        self.binary(1)
    }

    /// Operands joined by operators that bind at least as tightly as `min_precedence`.
    fn binary(&mut self, min_precedence: u8) -> Result<Expr> {
        let mut lhs = self.unary()?;
        loop {
            let Some(op) = self.peek_binary_op()? else {
                return Ok(lhs);
            };
            if op.precedence() < min_precedence {
                return Ok(lhs);
            }
            self.bump()?;
            let rhs = if matches!(op, BinaryOp::RegexMatch | BinaryOp::RegexNotMatch) {
                Expr::Regex(self.regex()?)
            } else {
                // Left-associative: the right side only takes tighter operators.
                self.binary(op.precedence() + 1)?
            };
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
    fn unary(&mut self) -> Result<Expr> {
        if self.eat_symbol("+")? {
            return self.unary();
        }
        if !self.eat_symbol("-")? {
            return self.primary();
        }
        let next = self.peek()?;
        match &next.token {
            Token::Integer(_) | Token::Float(_) | Token::Duration(_) => {
                self.bump()?;
                Ok(Expr::Literal(self.number(&next, true)?))
            }
            _ => {
                let operand = self.unary()?;
                Ok(Expr::binary(
                    Expr::Literal(Literal::Integer(-1)),
                    BinaryOp::Mul,
                    operand,
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

    fn primary(&mut self) -> Result<Expr> {
        if let Some(re) = self.try_regex()? {
            return Ok(Expr::Regex(re));
        }
        let next = self.bump()?;
        match &next.token {
            Token::Symbol("*") => Ok(Expr::Wildcard(self.wildcard_cast()?)),
            Token::Symbol("(") => {
                let inner = self.expr()?;
                self.expect_symbol(")")?;
                Ok(inner)
            }
            Token::Integer(_) | Token::Float(_) | Token::Duration(_) => {
                Ok(Expr::Literal(self.number(&next, false)?))
            }
            Token::String(s) => Ok(Expr::Literal(Literal::String(s.clone()))),
            Token::Param(name) => Ok(self.param(name, &next)?.to_expr()),
            Token::QuotedIdent(name) => self.var_ref(name.clone()),
            Token::Ident(word) => {
                if word.eq_ignore_ascii_case("true") {
                    return Ok(Expr::Literal(Literal::Boolean(true)));
                }
                if word.eq_ignore_ascii_case("false") {
                    return Ok(Expr::Literal(Literal::Boolean(false)));
                }
                let is_distinct = word.eq_ignore_ascii_case("distinct");
                if (is_distinct || !is_keyword(word)) && self.eat_symbol("(")? {
                    return self.call_args(word.to_ascii_lowercase());
                }
                if is_distinct {
                    // `DISTINCT field` is the keyword form of `distinct(field)`.
                    let field = self.ident()?;
                    return Ok(Expr::Call(Call {
                        name: "distinct".to_owned(),
                        args: vec![Expr::var(field)],
                    }));
                }
                if is_keyword(word) {
                    return Err(self.unexpected(&next, PRIMARY));
                }
                self.var_ref(word.clone())
            }
            _ => Err(self.unexpected(&next, PRIMARY)),
        }
    }

    /// The arguments of a call whose `(` has been consumed.
    fn call_args(&mut self, name: String) -> Result<Expr> {
        let mut args = Vec::new();
        if !self.eat_symbol(")")? {
            loop {
                args.push(self.expr()?);
                if !self.eat_symbol(",")? {
                    break;
                }
            }
            self.expect_symbol(")")?;
        }
        Ok(Expr::Call(Call { name, args }))
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
