//! `DROP MEASUREMENT`, `DELETE` and `DROP SERIES`: turning their `FROM` and `WHERE` into
//! storage deletes with InfluxDB 1.x's rules (tags and time only; no time for `DROP
//! SERIES`; a measurement left without series is dropped).

use std::collections::BTreeMap;

use sluice_influxql::{BinaryOp, Expr, Literal, MeasurementRef, Source};
use sluice_storage::{ColumnKind, DeleteRequest, Storage, TableInfo, TagPredicate};

use super::expr::{self, compile_regex};
use super::policy::{Policies, storage_databases};
use super::select::resolve_sources;
use crate::error::{Error, Result};

/// Which statement is being run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `DELETE [FROM ...] [WHERE ...]`: tags and time.
    Delete,
    /// `DROP SERIES [FROM ...] [WHERE ...]`: tags only.
    DropSeries,
}

fn database_not_found(db: &str) -> impl Fn(sluice_storage::Error) -> Error + '_ {
    move |e| match e {
        sluice_storage::Error::DatabaseNotFound { .. } => Error::DatabaseNotFound(db.to_owned()),
        e => e.into(),
    }
}

/// `DROP MEASUREMENT name`: drops the table from every retention policy of the
/// database; a measurement that does not exist is not an error (as in InfluxDB).
///
/// # Errors
/// [`Error::DatabaseRequired`], [`Error::DatabaseNotFound`], storage failures.
pub(crate) async fn drop_measurement(
    storage: &Storage,
    default_db: Option<&str>,
    name: &str,
) -> Result<()> {
    let db = default_db
        .filter(|d| !d.is_empty())
        .ok_or(Error::DatabaseRequired)?;
    for storage_db in storage_databases(storage, db, None, Policies::Every)? {
        match storage.drop_table(&storage_db, name).await {
            // A policy dropped meanwhile.
            Ok(_) | Err(sluice_storage::Error::DatabaseNotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// `DELETE` or `DROP SERIES` with `from` (every measurement of the default database when
/// empty) and `condition`, in every retention policy of the database (as InfluxDB 1.x
/// deletes from every shard).
///
/// # Errors
/// [`Error::Invalid`] for time in a `DROP SERIES` condition, fields or other expressions
/// than tag comparisons in the condition; [`Error::Unsupported`] for time inside `OR`;
/// [`Error::DatabaseRequired`], [`Error::DatabaseNotFound`], storage failures.
pub(crate) async fn delete(
    storage: &Storage,
    default_db: Option<&str>,
    kind: Kind,
    from: &[MeasurementRef],
    condition: Option<&Expr>,
    now: i64,
) -> Result<()> {
    if kind == Kind::DropSeries
        && let Some(c) = condition
    {
        let mut has_time = false;
        c.walk(&mut |e| has_time |= e.is_time());
        if has_time {
            return Err(Error::Invalid(
                "DROP SERIES doesn't support time in WHERE clause".to_owned(),
            ));
        }
    }
    // The tables each database is asked about: `None` for all of them.
    let mut targets: BTreeMap<String, Option<Vec<TableInfo>>> = BTreeMap::new();
    if from.is_empty() {
        let db = default_db
            .filter(|d| !d.is_empty())
            .ok_or(Error::DatabaseRequired)?;
        for storage_db in storage_databases(storage, db, None, Policies::Every)? {
            targets.insert(storage_db, None);
        }
    } else {
        let sources: Vec<Source> = from.iter().cloned().map(Source::Measurement).collect();
        for (db, table) in resolve_sources(storage, default_db, &sources, Policies::Every)? {
            if let Some(tables) = targets.entry(db).or_insert_with(|| Some(Vec::new()))
                && !tables.iter().any(|t| t.name == table.name)
            {
                tables.push(table);
            }
        }
    }

    for (db, tables) in &targets {
        let infos = match tables {
            Some(t) => t.clone(),
            None => storage.tables(db).map_err(database_not_found(db))?,
        };
        if let Some(c) = condition {
            check_no_fields(c, &infos)?;
        }
    }
    let (range, rest) = expr::split_condition(condition, now)?;
    let time_range = (range.has_start || range.has_end).then_some((range.start, range.end));
    let tag_predicate = rest.iter().map(to_predicate).reduce(|acc, p| {
        let (acc, p) = (acc?, p?);
        Ok(acc.and(p))
    });
    let tag_predicate = tag_predicate.transpose()?;

    for (db, tables) in targets {
        let Some(tables) = tables else {
            let request = DeleteRequest {
                table: None,
                time_range,
                tag_predicate: tag_predicate.clone(),
                drop_emptied_tables: true,
            };
            storage
                .delete(&db, &request)
                .await
                .map_err(database_not_found(&db))?;
            continue;
        };
        for table in tables {
            if time_range.is_none() && tag_predicate.is_none() {
                storage
                    .drop_table(&db, &table.name)
                    .await
                    .map_err(database_not_found(&db))?;
                continue;
            }
            let request = DeleteRequest {
                table: Some(table.name.clone()),
                time_range,
                tag_predicate: tag_predicate.clone(),
                drop_emptied_tables: true,
            };
            match storage.delete(&db, &request).await {
                // Dropped meanwhile: nothing left to delete.
                Ok(()) | Err(sluice_storage::Error::TableNotFound { .. }) => {}
                Err(e) => return Err(database_not_found(&db)(e)),
            }
        }
    }
    Ok(())
}

/// Fails when the condition names a field of one of `tables`.
pub(crate) fn check_no_fields(condition: &Expr, tables: &[TableInfo]) -> Result<()> {
    let mut field = false;
    condition.walk(&mut |e| {
        if let Expr::VarRef(v) = e {
            field |= tables.iter().any(|t| {
                t.columns
                    .iter()
                    .any(|c| c.name == v.name && matches!(c.kind, ColumnKind::Field(_)))
            });
        }
    });
    if field {
        return Err(Error::Invalid(
            "fields not supported in WHERE clause during deletion".to_owned(),
        ));
    }
    Ok(())
}

/// A tag condition (`tag = 'v'`, `!=`, `=~ /re/`, `!~`, joined by `AND`/`OR`) as a
/// storage predicate.
pub(crate) fn to_predicate(e: &Expr) -> Result<TagPredicate> {
    let invalid = || Error::Invalid(format!("invalid condition for a delete: {e}"));
    let Expr::Binary { op, lhs, rhs } = e else {
        return Err(invalid());
    };
    match op {
        BinaryOp::And => return Ok(to_predicate(lhs)?.and(to_predicate(rhs)?)),
        BinaryOp::Or => return Ok(to_predicate(lhs)?.or(to_predicate(rhs)?)),
        _ => {}
    }
    // The tag may be on either side of `=` and `!=`.
    let (key, other) = match (lhs.as_ref(), rhs.as_ref()) {
        (Expr::VarRef(v), other) => (v.name.as_str(), other),
        (other, Expr::VarRef(v)) if matches!(op, BinaryOp::Eq | BinaryOp::NotEq) => {
            (v.name.as_str(), other)
        }
        _ => return Err(invalid()),
    };
    let regex = |pattern: &str| {
        compile_regex(pattern)?;
        Ok::<_, Error>(pattern.to_owned())
    };
    Ok(match (op, other) {
        (BinaryOp::Eq, Expr::Literal(Literal::String(v))) => TagPredicate::eq(key, v.as_str()),
        (BinaryOp::NotEq, Expr::Literal(Literal::String(v))) => {
            TagPredicate::not_eq(key, v.as_str())
        }
        (BinaryOp::RegexMatch, Expr::Regex(r)) => {
            TagPredicate::regex(key, &regex(&r.0)?).map_err(|_| invalid())?
        }
        (BinaryOp::RegexNotMatch, Expr::Regex(r)) => {
            TagPredicate::not_regex(key, &regex(&r.0)?).map_err(|_| invalid())?
        }
        _ => return Err(invalid()),
    })
}
