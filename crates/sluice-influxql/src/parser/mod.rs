//! The recursive-descent parser: entry points, token helpers and statement dispatch.

mod expr;
mod select;
mod show;

use std::collections::HashMap;

use crate::ast::{MeasurementName, MeasurementRef, Query, Regex, Statement, UnsupportedStatement};
use crate::error::{Error, Result};
use crate::literal::parse_duration;
use crate::params::ParamValue;
use crate::token::{Lexer, Spanned, Token};

/// Parses a query of one or more statements separated by `;`.
///
/// ```
/// let query = sluice_influxql::parse("SELECT mean(usage) FROM cpu GROUP BY time(1m); SHOW DATABASES")?;
/// assert_eq!(query.statements.len(), 2);
/// # Ok::<(), sluice_influxql::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::Unexpected`] or [`Error::Invalid`] at the first token that does not fit, such as
/// `error parsing query: found EOF, expected FROM at line 1, char 9`. A `$name` parameter
/// is an error here (`missing parameter: name`); use [`parse_with_params`].
pub fn parse(query: &str) -> Result<Query> {
    Parser::new(query, None).query()
}

/// Parses a query, replacing each `$name` by `params["name"]`.
///
/// # Errors
///
/// As [`parse`], and `missing parameter: name` for a parameter not in `params`, or a
/// parameter whose value does not fit where it stands (such as a float after `LIMIT`).
pub fn parse_with_params(query: &str, params: &HashMap<String, ParamValue>) -> Result<Query> {
    Parser::new(query, Some(params)).query()
}

/// Parses exactly one statement (an optional trailing `;` allowed).
///
/// # Errors
///
/// As [`parse`]; also when the text holds no statement or more than one.
pub fn parse_statement(statement: &str) -> Result<Statement> {
    let mut parser = Parser::new(statement, None);
    let parsed = parser.statement()?;
    parser.eat_symbol(";")?;
    let next = parser.peek()?;
    if next.token != Token::Eof {
        return Err(parser.unexpected(&next, "EOF"));
    }
    Ok(parsed)
}

/// Parses exactly one expression, such as a `WHERE` condition without the `WHERE`
/// (the predicate of an InfluxDB 2 delete request is one).
///
/// ```
/// let expr = sluice_influxql::parse_expr(r#"host = "a" AND region = 'eu'"#)?;
/// assert_eq!(expr.to_string(), r#"host = a AND region = 'eu'"#);
/// # Ok::<(), sluice_influxql::Error>(())
/// ```
///
/// # Errors
///
/// As [`parse`]; also when text follows the expression.
pub fn parse_expr(text: &str) -> Result<crate::ast::Expr> {
    let mut parser = Parser::new(text, None);
    let parsed = parser.expr()?;
    let next = parser.peek()?;
    if next.token != Token::Eof {
        return Err(parser.unexpected(&next, "EOF"));
    }
    Ok(parsed)
}

/// What every statement may start with, for error messages.
const STATEMENT_STARTS: &str =
    "SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, REVOKE, ALTER, SET, KILL";

/// How deeply a query may nest: parentheses, signs, function calls and subqueries inside
/// each other, and the depth of an expression's tree (so `a OR b OR …` may have this
/// many terms). Deeper queries are refused with [`Error::TooDeep`] before anything else
/// walks them, which bounds the stack of every recursive walk of a parsed query
/// (display, planning, evaluation, drop) and of the parser itself. At the limit, parsing
/// takes about 5 MiB of stack in a debug build and a tenth of that in a release build:
/// more than an async worker thread has, so servers parse on a thread of their own
/// (sluice's query engine uses 16 MiB).
pub const MAX_NESTING_DEPTH: usize = 250;

/// Parser state: the lexer, the byte offset of the next token, the parameters, and how
/// deeply the current position nests.
pub(crate) struct Parser<'a> {
    lexer: Lexer<'a>,
    pos: usize,
    params: Option<&'a HashMap<String, ParamValue>>,
    peeked: Option<Spanned>,
    nesting: usize,
    /// Whether the token consumed last was a bare word, after which InfluxDB places the
    /// end of the input one character further (see [`Parser::unexpected`]).
    after_word: bool,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str, params: Option<&'a HashMap<String, ParamValue>>) -> Self {
        Parser {
            lexer: Lexer::new(src),
            pos: 0,
            params,
            peeked: None,
            nesting: 0,
            after_word: false,
        }
    }

    /// Runs `inner` one nesting level deeper, refusing to go past [`MAX_NESTING_DEPTH`]:
    /// the parser recurses once per level, so this bounds its own stack as well.
    fn nest<T>(&mut self, inner: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        if self.nesting >= MAX_NESTING_DEPTH {
            let next = self.peek()?;
            return Err(self.too_deep(&next));
        }
        self.nesting += 1;
        let result = inner(self);
        self.nesting -= 1;
        result
    }

    /// Refuses an expression tree deeper than [`MAX_NESTING_DEPTH`] (counting the levels
    /// it is nested in), naming the token where it got too deep.
    fn check_depth(&self, depth: usize, at: &Spanned) -> Result<()> {
        if depth + self.nesting > MAX_NESTING_DEPTH {
            return Err(self.too_deep(at));
        }
        Ok(())
    }

    fn too_deep(&self, at: &Spanned) -> Error {
        let (line, column) = self.lexer.position(at.start);
        Error::TooDeep {
            limit: MAX_NESTING_DEPTH,
            line,
            column,
        }
    }

    fn query(&mut self) -> Result<Query> {
        let mut statements = Vec::new();
        loop {
            while self.eat_symbol(";")? {}
            if self.peek()?.token == Token::Eof {
                return Ok(Query { statements });
            }
            statements.push(self.statement()?);
            let next = self.peek()?;
            match next.token {
                Token::Eof => return Ok(Query { statements }),
                Token::Symbol(";") => {}
                _ => return Err(self.unexpected(&next, ";")),
            }
        }
    }

    fn statement(&mut self) -> Result<Statement> {
        let first = self.peek()?;
        let Token::Ident(word) = &first.token else {
            return Err(self.unexpected(&first, STATEMENT_STARTS));
        };
        match word.to_ascii_uppercase().as_str() {
            "SELECT" => Ok(Statement::Select(Box::new(self.select()?))),
            "SHOW" => self.show(),
            "CREATE" => self.create(),
            "DROP" => self.drop_statement(),
            "DELETE" => self.delete(),
            "ALTER" => self.alter(),
            "EXPLAIN" => {
                self.bump()?;
                let feature = if self.eat_keyword("ANALYZE")? {
                    "EXPLAIN ANALYZE"
                } else {
                    "EXPLAIN"
                };
                self.unsupported(first.start, feature.to_owned())
            }
            "GRANT" | "REVOKE" | "KILL" | "SET" => {
                self.bump()?;
                let mut feature = word.to_ascii_uppercase();
                if matches!(feature.as_str(), "KILL" | "SET") {
                    let second = self.peek()?;
                    if let Token::Ident(w) = &second.token {
                        feature = format!("{feature} {}", w.to_ascii_uppercase());
                    }
                }
                self.unsupported(first.start, feature)
            }
            _ => Err(self.unexpected(&first, STATEMENT_STARTS)),
        }
    }

    /// Skips the rest of a statement sluice does not run and records it.
    fn unsupported(&mut self, start: usize, feature: String) -> Result<Statement> {
        let mut end = self.pos;
        loop {
            let next = self.peek()?;
            match next.token {
                Token::Eof | Token::Symbol(";") => break,
                _ => {
                    end = next.end;
                    self.bump()?;
                }
            }
        }
        let text = self.lexer.src()[start..end].trim().to_owned();
        Ok(Statement::Unsupported(UnsupportedStatement {
            feature,
            text,
        }))
    }

    // ----- token helpers -----

    /// The next token, without consuming it.
    fn peek(&mut self) -> Result<Spanned> {
        if let Some(spanned) = &self.peeked {
            return Ok(spanned.clone());
        }
        let spanned = self.lexer.scan(self.pos)?;
        self.peeked = Some(spanned.clone());
        Ok(spanned)
    }

    /// The token after the next one, without consuming either.
    fn peek_second(&mut self) -> Result<Spanned> {
        let first = self.peek()?;
        self.lexer.scan(first.end)
    }

    /// Consumes and returns the next token.
    fn bump(&mut self) -> Result<Spanned> {
        let spanned = self.peek()?;
        // The end of the input moves nothing: an error at it is placed after the last
        // token.
        if spanned.token != Token::Eof {
            self.pos = spanned.end;
            self.after_word = matches!(spanned.token, Token::Ident(_));
        }
        self.peeked = None;
        Ok(spanned)
    }

    fn unexpected(&self, spanned: &Spanned, expected: &str) -> Error {
        // The end of the input is where InfluxDB 1.x's scanner stood after the last
        // token, whitespace after it not counted: one character past a bare word (its
        // scan reads the end and keeps it), at a number or symbol's end otherwise.
        let (line, column) = if spanned.token == Token::Eof {
            let (line, column) = self.lexer.position(self.pos);
            (line, column + usize::from(self.after_word))
        } else {
            self.lexer.position(spanned.start)
        };
        Error::Unexpected {
            found: spanned.token.describe(),
            expected: expected.to_owned(),
            line,
            column,
        }
    }

    fn invalid(&self, spanned: &Spanned, message: impl Into<String>) -> Error {
        self.lexer.invalid(spanned.start, message)
    }

    fn peek_keyword(&mut self, keyword: &str) -> Result<bool> {
        Ok(self.peek()?.token.is_keyword(keyword))
    }

    fn eat_keyword(&mut self, keyword: &str) -> Result<bool> {
        if self.peek_keyword(keyword)? {
            self.bump()?;
            return Ok(true);
        }
        Ok(false)
    }

    fn expect_keyword(&mut self, keyword: &str) -> Result<()> {
        let next = self.peek()?;
        if next.token.is_keyword(keyword) {
            self.bump()?;
            Ok(())
        } else {
            Err(self.unexpected(&next, keyword))
        }
    }

    fn eat_symbol(&mut self, symbol: &str) -> Result<bool> {
        if matches!(self.peek()?.token, Token::Symbol(s) if s == symbol) {
            self.bump()?;
            return Ok(true);
        }
        Ok(false)
    }

    fn expect_symbol(&mut self, symbol: &str) -> Result<()> {
        let next = self.peek()?;
        if matches!(next.token, Token::Symbol(s) if s == symbol) {
            self.bump()?;
            Ok(())
        } else {
            Err(self.unexpected(&next, symbol))
        }
    }

    /// Whether the next token is the bare word `word` and the one after it is `(`, as in
    /// `time(`, `fill(` and `tz(`, which are not keywords.
    fn peek_word_call(&mut self, word: &str) -> Result<bool> {
        let next = self.peek()?;
        if !matches!(&next.token, Token::Ident(w) if w.eq_ignore_ascii_case(word)) {
            return Ok(false);
        }
        Ok(self.peek_second()?.token == Token::Symbol("("))
    }

    /// The value of parameter `$name` at `spanned`.
    fn param(&self, name: &str, spanned: &Spanned) -> Result<&'a ParamValue> {
        self.params
            .and_then(|params| params.get(name))
            .ok_or_else(|| self.invalid(spanned, format!("missing parameter: {name}")))
    }

    /// An identifier: a bare word that is not a keyword, a quoted identifier, or a
    /// parameter holding a string or identifier.
    fn ident(&mut self) -> Result<String> {
        let next = self.peek()?;
        let name = match &next.token {
            Token::Ident(word) if !crate::literal::is_keyword(word) => word.clone(),
            Token::QuotedIdent(name) => name.clone(),
            Token::Param(name) => match self.param(name, &next)?.as_name() {
                Some(value) => value.to_owned(),
                None => return Err(self.invalid(&next, format!("parameter ${name} is not a name"))),
            },
            _ => return Err(self.unexpected(&next, "identifier")),
        };
        self.bump()?;
        Ok(name)
    }

    /// Identifiers separated by commas.
    fn ident_list(&mut self) -> Result<Vec<String>> {
        let mut names = vec![self.ident()?];
        while self.eat_symbol(",")? {
            names.push(self.ident()?);
        }
        Ok(names)
    }

    /// A non-negative integer (or an integer parameter).
    fn unsigned(&mut self) -> Result<u64> {
        let next = self.peek()?;
        let value = match &next.token {
            Token::Integer(text) => text
                .parse::<u64>()
                .map_err(|_| self.invalid(&next, format!("integer out of range: {text}")))?,
            Token::Param(name) => match self.param(name, &next)? {
                ParamValue::Integer(n) if *n >= 0 => n.unsigned_abs(),
                ParamValue::Unsigned(n) => *n,
                _ => {
                    return Err(self.invalid(
                        &next,
                        format!("parameter ${name} is not a non-negative integer"),
                    ));
                }
            },
            _ => return Err(self.unexpected(&next, "integer")),
        };
        self.bump()?;
        Ok(value)
    }

    /// A duration literal (or a duration parameter, or a string parameter such as `"1h"`).
    fn duration(&mut self) -> Result<i64> {
        let next = self.peek()?;
        let value = match &next.token {
            Token::Duration(text) => {
                parse_duration(text).map_err(|e| self.invalid(&next, e.to_string()))?
            }
            Token::Param(name) => match self.param(name, &next)? {
                ParamValue::Duration(d) => *d,
                ParamValue::String(text) => {
                    parse_duration(text).map_err(|e| self.invalid(&next, e.to_string()))?
                }
                _ => {
                    return Err(self.invalid(&next, format!("parameter ${name} is not a duration")));
                }
            },
            _ => return Err(self.unexpected(&next, "duration")),
        };
        self.bump()?;
        Ok(value)
    }

    /// A regex literal at the next position (or a regex parameter), if there is one.
    fn try_regex(&mut self) -> Result<Option<Regex>> {
        if let Some((pattern, spanned)) = self.lexer.scan_regex(self.pos)? {
            self.pos = spanned.end;
            self.peeked = None;
            return Ok(Some(Regex(pattern)));
        }
        let next = self.peek()?;
        if let Token::Param(name) = &next.token
            && let ParamValue::Regex(pattern) = self.param(name, &next)?
        {
            self.bump()?;
            return Ok(Some(Regex(pattern.clone())));
        }
        Ok(None)
    }

    /// A regex literal, required.
    fn regex(&mut self) -> Result<Regex> {
        match self.try_regex()? {
            Some(re) => Ok(re),
            None => {
                let next = self.peek()?;
                Err(self.unexpected(&next, "regex"))
            }
        }
    }

    /// `[db.[rp].]name` or `[db.[rp].]/regex/`.
    fn measurement_ref(&mut self) -> Result<MeasurementRef> {
        self.qualified_measurement(|p| Ok(p.try_regex()?.map(MeasurementName::Regex)))
    }

    /// `[db.[rp].]name`, where `special` may read the last part in a form of its own (a
    /// regex, `:MEASUREMENT`) before an identifier is tried.
    pub(super) fn qualified_measurement(
        &mut self,
        special: impl Fn(&mut Self) -> Result<Option<MeasurementName>>,
    ) -> Result<MeasurementRef> {
        let mut qualifiers: Vec<Option<String>> = Vec::new();
        let name = loop {
            if let Some(name) = special(self)? {
                break name;
            }
            let part = self.ident()?;
            if qualifiers.len() == 2 || !self.eat_symbol(".")? {
                break MeasurementName::Name(part);
            }
            qualifiers.push(Some(part));
            if qualifiers.len() == 1 && self.eat_symbol(".")? {
                qualifiers.push(None);
            }
        };
        let (database, retention_policy) = match qualifiers.len() {
            0 => (None, None),
            1 => (None, qualifiers.pop().flatten()),
            _ => {
                let rp = qualifiers.pop().flatten();
                (qualifiers.pop().flatten(), rp)
            }
        };
        Ok(MeasurementRef {
            database,
            retention_policy,
            name,
        })
    }

    /// Measurement references separated by commas.
    fn measurement_list(&mut self) -> Result<Vec<MeasurementRef>> {
        let mut list = vec![self.measurement_ref()?];
        while self.eat_symbol(",")? {
            list.push(self.measurement_ref()?);
        }
        Ok(list)
    }
}
