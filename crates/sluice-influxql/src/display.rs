//! Canonical InfluxQL text for the syntax tree: parsing what `Display` writes gives back an
//! equal tree.

use std::fmt::{self, Display, Formatter, Write as _};

use crate::ast::*;
use crate::literal::{format_duration, format_float, quote_ident, quote_regex, quote_string};

impl Display for Query {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (i, statement) in self.statements.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{statement}")?;
        }
        Ok(())
    }
}

impl Display for Statement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Statement::Select(s) => write!(f, "{s}"),
            Statement::ShowDatabases => f.write_str("SHOW DATABASES"),
            Statement::ShowMeasurements(s) => {
                f.write_str("SHOW MEASUREMENTS")?;
                write_on(f, &s.database)?;
                match &s.with_measurement {
                    Some(MeasurementName::Name(name)) => {
                        write!(f, " WITH MEASUREMENT = {}", quote_ident(name))?
                    }
                    Some(MeasurementName::Regex(re)) => {
                        write!(f, " WITH MEASUREMENT =~ {}", quote_regex(&re.0))?
                    }
                    None => {}
                }
                write_where(f, &s.condition)?;
                write_limits(f, s.limit, s.offset)
            }
            Statement::ShowTagKeys(s) => {
                f.write_str("SHOW TAG KEYS")?;
                write_on(f, &s.database)?;
                write_from(f, &s.from)?;
                write_where(f, &s.condition)?;
                write_limits(f, s.limit, s.offset)
            }
            Statement::ShowTagValues(s) => {
                f.write_str("SHOW TAG VALUES")?;
                write_on(f, &s.database)?;
                write_from(f, &s.from)?;
                write!(f, " WITH KEY {}", s.key)?;
                write_where(f, &s.condition)?;
                write_limits(f, s.limit, s.offset)
            }
            Statement::ShowFieldKeys(s) => {
                f.write_str("SHOW FIELD KEYS")?;
                write_on(f, &s.database)?;
                write_from(f, &s.from)?;
                write_limits(f, s.limit, s.offset)
            }
            Statement::ShowSeries(s) => {
                f.write_str("SHOW SERIES")?;
                write_on(f, &s.database)?;
                write_from(f, &s.from)?;
                write_where(f, &s.condition)?;
                write_limits(f, s.limit, s.offset)
            }
            Statement::ShowRetentionPolicies(s) => {
                f.write_str("SHOW RETENTION POLICIES")?;
                write_on(f, &s.database)
            }
            Statement::ShowCardinality(s) => {
                let kind = match &s.kind {
                    CardinalityKind::Series => "SERIES",
                    CardinalityKind::Measurement => "MEASUREMENT",
                    CardinalityKind::TagKey => "TAG KEY",
                    CardinalityKind::FieldKey => "FIELD KEY",
                    CardinalityKind::TagValues(_) => "TAG VALUES",
                };
                write!(f, "SHOW {kind}")?;
                if s.exact {
                    f.write_str(" EXACT")?;
                }
                f.write_str(" CARDINALITY")?;
                write_on(f, &s.database)?;
                write_from(f, &s.from)?;
                if let CardinalityKind::TagValues(key) = &s.kind {
                    write!(f, " WITH KEY {key}")?;
                }
                write_where(f, &s.condition)?;
                write_limits(f, s.limit, s.offset)
            }
            Statement::CreateDatabase(s) => {
                write!(f, "CREATE DATABASE {}", quote_ident(&s.name))?;
                if let Some(rp) = &s.retention {
                    f.write_str(" WITH")?;
                    if let Some(d) = rp.duration {
                        write!(f, " DURATION {}", RetentionDuration(d))?;
                    }
                    if let Some(n) = rp.replication {
                        write!(f, " REPLICATION {n}")?;
                    }
                    if let Some(d) = rp.shard_duration {
                        write!(f, " SHARD DURATION {}", format_duration(d))?;
                    }
                    if let Some(name) = &rp.name {
                        write!(f, " NAME {}", quote_ident(name))?;
                    }
                }
                Ok(())
            }
            Statement::DropDatabase(s) => write!(f, "DROP DATABASE {}", quote_ident(&s.name)),
            Statement::DropMeasurement(s) => {
                write!(f, "DROP MEASUREMENT {}", quote_ident(&s.name))
            }
            Statement::DropSeries(s) => {
                f.write_str("DROP SERIES")?;
                write_from(f, &s.from)?;
                write_where(f, &s.condition)
            }
            Statement::Delete(s) => {
                f.write_str("DELETE")?;
                write_from(f, &s.from)?;
                write_where(f, &s.condition)
            }
            Statement::CreateRetentionPolicy(s) => {
                write!(
                    f,
                    "CREATE RETENTION POLICY {} ON {} DURATION {} REPLICATION {}",
                    quote_ident(&s.name),
                    quote_ident(&s.database),
                    RetentionDuration(s.duration),
                    s.replication
                )?;
                if let Some(d) = s.shard_duration {
                    write!(f, " SHARD DURATION {}", format_duration(d))?;
                }
                if s.default {
                    f.write_str(" DEFAULT")?;
                }
                Ok(())
            }
            Statement::AlterRetentionPolicy(s) => {
                write!(
                    f,
                    "ALTER RETENTION POLICY {} ON {}",
                    quote_ident(&s.name),
                    quote_ident(&s.database)
                )?;
                if let Some(d) = s.duration {
                    write!(f, " DURATION {}", RetentionDuration(d))?;
                }
                if let Some(n) = s.replication {
                    write!(f, " REPLICATION {n}")?;
                }
                if let Some(d) = s.shard_duration {
                    write!(f, " SHARD DURATION {}", format_duration(d))?;
                }
                if s.default {
                    f.write_str(" DEFAULT")?;
                }
                Ok(())
            }
            Statement::DropRetentionPolicy(s) => write!(
                f,
                "DROP RETENTION POLICY {} ON {}",
                quote_ident(&s.name),
                quote_ident(&s.database)
            ),
            Statement::CreateContinuousQuery(s) => {
                write!(
                    f,
                    "CREATE CONTINUOUS QUERY {} ON {} ",
                    quote_ident(&s.name),
                    quote_ident(&s.database)
                )?;
                if s.resample_every.is_some() || s.resample_for.is_some() {
                    f.write_str("RESAMPLE ")?;
                    if let Some(every) = s.resample_every {
                        write!(f, "EVERY {} ", format_duration(every))?;
                    }
                    if let Some(window) = s.resample_for {
                        write!(f, "FOR {} ", format_duration(window))?;
                    }
                }
                write!(f, "BEGIN {} END", s.query)
            }
            Statement::ShowContinuousQueries => f.write_str("SHOW CONTINUOUS QUERIES"),
            Statement::DropContinuousQuery(s) => write!(
                f,
                "DROP CONTINUOUS QUERY {} ON {}",
                quote_ident(&s.name),
                quote_ident(&s.database)
            ),
            Statement::Unsupported(s) => f.write_str(&s.text),
        }
    }
}

/// A retention duration: `INF` for zero.
struct RetentionDuration(i64);

impl Display for RetentionDuration {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            f.write_str("INF")
        } else {
            f.write_str(&format_duration(self.0))
        }
    }
}

fn write_on(f: &mut Formatter<'_>, database: &Option<String>) -> fmt::Result {
    match database {
        Some(db) => write!(f, " ON {}", quote_ident(db)),
        None => Ok(()),
    }
}

fn write_from(f: &mut Formatter<'_>, from: &[MeasurementRef]) -> fmt::Result {
    if from.is_empty() {
        return Ok(());
    }
    f.write_str(" FROM ")?;
    write_list(f, from)
}

fn write_where(f: &mut Formatter<'_>, condition: &Option<Expr>) -> fmt::Result {
    match condition {
        Some(cond) => write!(f, " WHERE {cond}"),
        None => Ok(()),
    }
}

fn write_limits(f: &mut Formatter<'_>, limit: Option<u64>, offset: Option<u64>) -> fmt::Result {
    if let Some(n) = limit {
        write!(f, " LIMIT {n}")?;
    }
    if let Some(n) = offset {
        write!(f, " OFFSET {n}")?;
    }
    Ok(())
}

fn write_list<T: Display>(f: &mut Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

impl Display for SelectStatement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("SELECT ")?;
        write_list(f, &self.fields)?;
        if let Some(into) = &self.into {
            f.write_str(" INTO ")?;
            write_target(f, into)?;
        }
        f.write_str(" FROM ")?;
        write_list(f, &self.from)?;
        write_where(f, &self.condition)?;
        if !self.group_by.is_empty() {
            f.write_str(" GROUP BY ")?;
            write_list(f, &self.group_by)?;
        }
        if let Some(fill) = &self.fill {
            write!(f, " {fill}")?;
        }
        match self.order_by {
            Some(SortOrder::Ascending) => f.write_str(" ORDER BY time ASC")?,
            Some(SortOrder::Descending) => f.write_str(" ORDER BY time DESC")?,
            None => {}
        }
        write_limits(f, self.limit, self.offset)?;
        if let Some(n) = self.slimit {
            write!(f, " SLIMIT {n}")?;
        }
        if let Some(n) = self.soffset {
            write!(f, " SOFFSET {n}")?;
        }
        if let Some(tz) = &self.timezone {
            write!(f, " tz({})", quote_string(tz))?;
        }
        Ok(())
    }
}

impl Display for Field {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.expr)?;
        if let Some(alias) = &self.alias {
            write!(f, " AS {}", quote_ident(alias))?;
        }
        Ok(())
    }
}

impl Display for Source {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Source::Measurement(m) => write!(f, "{m}"),
            Source::Subquery(s) => write!(f, "({s})"),
        }
    }
}

impl Display for MeasurementRef {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_qualifiers(f, self)?;
        write!(f, "{}", self.name)
    }
}

/// An `INTO` target: as any measurement, except that [`crate::ast::SOURCE_MEASUREMENT`]
/// is the `:MEASUREMENT` back-reference there, written unquoted (anywhere else it is a
/// measurement of that name and is quoted).
fn write_target(f: &mut Formatter<'_>, target: &MeasurementRef) -> fmt::Result {
    match &target.name {
        MeasurementName::Name(name) if name == crate::ast::SOURCE_MEASUREMENT => {
            write_qualifiers(f, target)?;
            f.write_str(name)
        }
        _ => write!(f, "{target}"),
    }
}

fn write_qualifiers(f: &mut Formatter<'_>, m: &MeasurementRef) -> fmt::Result {
    match (&m.database, &m.retention_policy) {
        (Some(db), Some(rp)) => write!(f, "{}.{}.", quote_ident(db), quote_ident(rp)),
        (Some(db), None) => write!(f, "{}..", quote_ident(db)),
        (None, Some(rp)) => write!(f, "{}.", quote_ident(rp)),
        (None, None) => Ok(()),
    }
}

impl Display for MeasurementName {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            MeasurementName::Name(name) => f.write_str(&quote_ident(name)),
            MeasurementName::Regex(re) => write!(f, "{re}"),
        }
    }
}

impl Display for Regex {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(&quote_regex(&self.0))
    }
}

impl Display for Dimension {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Dimension::Time { interval, offset } => {
                write!(f, "time({}", format_duration(*interval))?;
                if let Some(offset) = offset {
                    write!(f, ", {}", format_duration(*offset))?;
                }
                f.write_char(')')
            }
            Dimension::Tag(tag) => f.write_str(&quote_ident(tag)),
            Dimension::Wildcard => f.write_char('*'),
            Dimension::Regex(re) => write!(f, "{re}"),
        }
    }
}

impl Display for Fill {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Fill::Null => f.write_str("fill(null)"),
            Fill::None => f.write_str("fill(none)"),
            Fill::Previous => f.write_str("fill(previous)"),
            Fill::Linear => f.write_str("fill(linear)"),
            Fill::Integer(n) => write!(f, "fill({n})"),
            Fill::Float(x) => write!(f, "fill({})", format_float(*x)),
        }
    }
}

impl Display for TagKeyFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            TagKeyFilter::Eq(key) => write!(f, "= {}", quote_ident(key)),
            TagKeyFilter::NotEq(key) => write!(f, "!= {}", quote_ident(key)),
            TagKeyFilter::Regex(re) => write!(f, "=~ {re}"),
            TagKeyFilter::NotRegex(re) => write!(f, "!~ {re}"),
            TagKeyFilter::In(keys) => {
                f.write_str("IN (")?;
                for (i, key) in keys.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(&quote_ident(key))?;
                }
                f.write_char(')')
            }
        }
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::VarRef(var) => write!(f, "{var}"),
            Expr::Wildcard(data_type) => {
                f.write_char('*')?;
                if let Some(t) = data_type {
                    write!(f, "::{}", t.as_str())?;
                }
                Ok(())
            }
            Expr::Regex(re) => write!(f, "{re}"),
            Expr::Call(call) => write!(f, "{call}"),
            Expr::Literal(lit) => write!(f, "{lit}"),
            Expr::Binary { op, lhs, rhs } => {
                let precedence = op.precedence();
                // Operators are left-associative: the left operand needs parentheses only
                // when it binds more loosely, the right one also when it binds equally.
                write_operand(f, lhs, |p| p < precedence)?;
                write!(f, " {} ", op.as_str())?;
                write_operand(f, rhs, |p| p <= precedence)
            }
        }
    }
}

fn write_operand(
    f: &mut Formatter<'_>,
    operand: &Expr,
    needs_parens: impl Fn(u8) -> bool,
) -> fmt::Result {
    match operand {
        Expr::Binary { op, .. } if needs_parens(op.precedence()) => write!(f, "({operand})"),
        _ => write!(f, "{operand}"),
    }
}

impl Display for VarRef {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(&quote_ident(&self.name))?;
        if let Some(t) = self.data_type {
            write!(f, "::{}", t.as_str())?;
        }
        Ok(())
    }
}

impl Display for Call {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.name)?;
        write_list(f, &self.args)?;
        f.write_char(')')
    }
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Integer(n) => write!(f, "{n}"),
            Literal::Unsigned(n) => write!(f, "{n}"),
            Literal::Float(x) => f.write_str(&format_float(*x)),
            Literal::String(s) => f.write_str(&quote_string(s)),
            Literal::Boolean(b) => write!(f, "{b}"),
            Literal::Duration(d) => f.write_str(&format_duration(*d)),
        }
    }
}
