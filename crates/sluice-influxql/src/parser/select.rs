//! `SELECT` statements and their clauses.

use super::Parser;
use crate::ast::{
    Dimension, Field, Fill, Literal, MeasurementName, MeasurementRef, SOURCE_MEASUREMENT,
    SelectStatement, SortOrder, Source,
};
use crate::error::{Error, Result};
use crate::token::Token;

impl Parser<'_> {
    /// `SELECT ...` through its last clause.
    pub(super) fn select(&mut self) -> Result<SelectStatement> {
        self.expect_keyword("SELECT")?;
        let mut fields = vec![self.field()?];
        while self.eat_symbol(",")? {
            fields.push(self.field()?);
        }
        let into = if self.eat_keyword("INTO")? {
            Some(self.target_clause()?)
        } else {
            None
        };
        self.expect_keyword("FROM")?;
        let mut from = vec![self.source()?];
        while self.eat_symbol(",")? {
            from.push(self.source()?);
        }
        let mut statement = SelectStatement::new(fields, from);
        statement.into = into;
        statement.condition = self.where_clause()?;
        if self.eat_keyword("GROUP")? {
            self.expect_keyword("BY")?;
            statement.group_by = self.dimensions()?;
        }
        if self.peek_word_call("fill")? {
            statement.fill = Some(self.fill()?);
        }
        if self.eat_keyword("ORDER")? {
            self.expect_keyword("BY")?;
            statement.order_by = Some(self.sort_order()?);
        }
        statement.limit = self.count_clause("LIMIT")?;
        statement.offset = self.count_clause("OFFSET")?;
        statement.slimit = self.count_clause("SLIMIT")?;
        statement.soffset = self.count_clause("SOFFSET")?;
        if self.peek_word_call("tz")? {
            self.bump()?;
            self.expect_symbol("(")?;
            let next = self.bump()?;
            let Token::String(zone) = next.token else {
                return Err(self.unexpected(&next, "string"));
            };
            self.expect_symbol(")")?;
            // Empty is UTC, as in InfluxDB.
            if !zone.is_empty() && zone.parse::<chrono_tz::Tz>().is_err() {
                return Err(Error::UnknownTimeZone { name: zone });
            }
            statement.timezone = Some(zone);
        }
        Ok(statement)
    }

    /// The target after `INTO`: `[db.[rp].]name`, where the name may also be
    /// `:MEASUREMENT` (the source measurement's own name).
    fn target_clause(&mut self) -> Result<MeasurementRef> {
        self.qualified_measurement(|p| {
            Ok(p.eat_source_measurement()?
                .then(|| MeasurementName::Name(SOURCE_MEASUREMENT.to_owned())))
        })
    }

    /// Consumes `:MEASUREMENT` (any case) at the next position, if it is there; the
    /// lexer has no token for `:`, so this reads the text itself.
    fn eat_source_measurement(&mut self) -> Result<bool> {
        let src = self.lexer.src();
        let rest = &src[self.pos..];
        let skipped = rest.len() - rest.trim_start().len();
        let at = self.pos + skipped;
        let word = SOURCE_MEASUREMENT.len();
        let matches = src
            .get(at..at + word)
            .is_some_and(|w| w.eq_ignore_ascii_case(SOURCE_MEASUREMENT))
            && !src[at + word..]
                .chars()
                .next()
                .is_some_and(|c| c.is_alphanumeric() || c == '_');
        if matches {
            self.pos = at + word;
            self.peeked = None;
        }
        Ok(matches)
    }

    /// `expr [AS alias]`.
    fn field(&mut self) -> Result<Field> {
        let expr = self.expr()?;
        let alias = if self.eat_keyword("AS")? {
            Some(self.ident()?)
        } else {
            None
        };
        Ok(Field { expr, alias })
    }

    /// A measurement or a parenthesised subquery.
    fn source(&mut self) -> Result<Source> {
        if self.eat_symbol("(")? {
            let inner = self.nest(Parser::select)?;
            self.expect_symbol(")")?;
            return Ok(Source::Subquery(Box::new(inner)));
        }
        Ok(Source::Measurement(self.measurement_ref()?))
    }

    /// `WHERE expr`, if present.
    pub(super) fn where_clause(&mut self) -> Result<Option<crate::ast::Expr>> {
        if self.eat_keyword("WHERE")? {
            Ok(Some(self.expr()?))
        } else {
            Ok(None)
        }
    }

    /// `KEYWORD n`, if present.
    pub(super) fn count_clause(&mut self, keyword: &str) -> Result<Option<u64>> {
        if self.eat_keyword(keyword)? {
            Ok(Some(self.unsigned()?))
        } else {
            Ok(None)
        }
    }

    /// The dimensions after `GROUP BY`.
    fn dimensions(&mut self) -> Result<Vec<Dimension>> {
        let mut dimensions = Vec::new();
        loop {
            let dimension = if let Some(re) = self.try_regex()? {
                Dimension::Regex(re)
            } else if self.eat_symbol("*")? {
                Dimension::Wildcard
            } else if self.peek_word_call("time")? {
                self.bump()?;
                self.expect_symbol("(")?;
                let interval = self.duration()?;
                let offset = if self.eat_symbol(",")? {
                    let negative = self.eat_symbol("-")?;
                    let offset = self.duration()?;
                    Some(if negative { -offset } else { offset })
                } else {
                    None
                };
                self.expect_symbol(")")?;
                Dimension::Time { interval, offset }
            } else {
                Dimension::Tag(self.ident()?)
            };
            dimensions.push(dimension);
            if !self.eat_symbol(",")? {
                return Ok(dimensions);
            }
        }
    }

    /// `fill(null|none|previous|linear|number)`.
    fn fill(&mut self) -> Result<Fill> {
        self.bump()?;
        self.expect_symbol("(")?;
        let negative = self.eat_symbol("-")?;
        let next = self.bump()?;
        let fill = match &next.token {
            Token::Ident(word) if !negative => match word.to_ascii_lowercase().as_str() {
                "null" => Fill::Null,
                "none" => Fill::None,
                "previous" => Fill::Previous,
                "linear" => Fill::Linear,
                _ => return Err(self.unexpected(&next, "null, none, previous, linear, number")),
            },
            Token::Integer(_) | Token::Float(_) => match self.number(&next, negative)? {
                Literal::Integer(n) => Fill::Integer(n),
                Literal::Float(x) => Fill::Float(x),
                _ => return Err(self.invalid(&next, "fill value out of range")),
            },
            _ => return Err(self.unexpected(&next, "null, none, previous, linear, number")),
        };
        self.expect_symbol(")")?;
        Ok(fill)
    }

    /// What follows `ORDER BY`: `time [ASC|DESC]` or just `ASC|DESC`.
    fn sort_order(&mut self) -> Result<SortOrder> {
        let next = self.peek()?;
        let named_time = matches!(&next.token, Token::Ident(w) if w.eq_ignore_ascii_case("time"));
        if named_time {
            self.bump()?;
        } else if !(next.token.is_keyword("ASC") || next.token.is_keyword("DESC")) {
            return Err(self.invalid(&next, "only ORDER BY time supported at this time"));
        }
        if self.eat_keyword("DESC")? {
            Ok(SortOrder::Descending)
        } else {
            self.eat_keyword("ASC")?;
            Ok(SortOrder::Ascending)
        }
    }
}
