//! InfluxDB 2's delete predicates (`POST /api/v2/delete`): `_measurement="cpu" AND
//! host="a"` turned into a storage delete of one table or all of them.
//!
//! The predicate is InfluxQL-like: comparisons of a tag with a value, joined by `AND`
//! (and, beyond InfluxDB 2, `OR`, `!=` and `=~ /regex/`), in parentheses if need be. A
//! value may be double-quoted (`host="a"`, as InfluxDB 2 writes it), single-quoted, a
//! bare word, a number or a boolean; each compares as the text of a tag value.
//! `_measurement = "m"` among the top-level `AND` terms picks the table.

use sluice_influxql::{BinaryOp, Expr, Literal};
use sluice_storage::{DeleteRequest, Storage, TableInfo};

use crate::error::{Error, Result};
use crate::influxql::delete::{check_no_fields, to_predicate};

/// The column that names the table in a predicate.
const MEASUREMENT: &str = "_measurement";

/// Columns InfluxDB 2 does not delete by: the time range is the request's `start` and
/// `stop`; fields and values are not part of a series.
const NOT_DELETABLE_BY: [&str; 4] = ["_time", "time", "_field", "_value"];

/// Builds the storage delete of the rows of storage database `db` in `[start, stop]`
/// (nanoseconds, both inclusive as in InfluxDB 2) that `predicate` selects (empty: every
/// row in the range). Parsing recurses once per nesting level: call it on a thread with
/// [`crate::QUERY_STACK_BYTES`] of stack.
///
/// # Errors
/// [`Error::InfluxQlParse`] for a predicate that does not parse; [`Error::Invalid`] for
/// one that compares something other than tags with values, names a field, `_time`,
/// `_field` or `_value`, puts `_measurement` anywhere but a top-level `AND` term or names
/// two; [`Error::Invalid`] when `start` is after `stop`; storage errors for an unknown
/// database.
pub(crate) fn delete_request(
    storage: &Storage,
    db: &str,
    start: i64,
    stop: i64,
    predicate: &str,
) -> Result<DeleteRequest> {
    if start > stop {
        return Err(Error::Invalid(format!(
            "the delete's start ({start}) is after its stop ({stop})"
        )));
    }
    let mut table = None;
    let mut rest = Vec::new();
    if !predicate.trim().is_empty() {
        let parsed = sluice_influxql::parse_expr(predicate)?;
        let mut terms = Vec::new();
        and_terms(parsed, &mut terms);
        for term in terms {
            match measurement_of(&term)? {
                Some(name) => match &table {
                    Some(first) if *first != name => {
                        return Err(Error::Invalid(format!(
                            "a delete predicate names one _measurement: found {first:?} and \
                             {name:?}"
                        )));
                    }
                    _ => table = Some(name),
                },
                None => rest.push(normalized(term)?),
            }
        }
    }
    let tables: Vec<TableInfo> = match &table {
        Some(name) => storage
            .tables(db)?
            .into_iter()
            .filter(|t| t.name == *name)
            .collect(),
        None => storage.tables(db)?,
    };
    let tag_predicate = rest
        .iter()
        .map(|term| {
            check_no_fields(term, &tables)?;
            to_predicate(term)
        })
        .reduce(|acc, p| Ok(acc?.and(p?)))
        .transpose()?;
    Ok(DeleteRequest {
        table,
        time_range: Some((start, stop.saturating_add(1))),
        tag_predicate,
        drop_emptied_tables: true,
    })
}

/// Splits `expr` at its top-level `AND`s.
fn and_terms(expr: Expr, out: &mut Vec<Expr>) {
    match expr {
        Expr::Binary {
            op: BinaryOp::And,
            lhs,
            rhs,
        } => {
            and_terms(*lhs, out);
            and_terms(*rhs, out);
        }
        other => out.push(other),
    }
}

/// The table a top-level term `_measurement = "m"` names; `None` for a term that does
/// not name `_measurement`.
///
/// # Errors
/// [`Error::Invalid`] for `_measurement` compared any other way.
fn measurement_of(term: &Expr) -> Result<Option<String>> {
    if let Expr::Binary {
        op: BinaryOp::Eq,
        lhs,
        rhs,
    } = term
        && let Expr::VarRef(v) = lhs.as_ref()
        && v.name == MEASUREMENT
        && let Some(name) = value_text(rhs)
    {
        return Ok(Some(name));
    }
    let mut named = false;
    term.walk(&mut |e| named |= matches!(e, Expr::VarRef(v) if v.name == MEASUREMENT));
    if named {
        return Err(Error::Invalid(format!(
            "_measurement can only be compared with = and joined with AND in a delete \
             predicate: {term}"
        )));
    }
    Ok(None)
}

/// `term` with each compared value as a string literal (`host = "a"` reads `"a"` as an
/// identifier in InfluxQL; InfluxDB 2 means the value `a`), refusing columns no delete
/// can name.
fn normalized(term: Expr) -> Result<Expr> {
    match term {
        Expr::Binary { op, lhs, rhs } => match op {
            BinaryOp::And | BinaryOp::Or => {
                Ok(Expr::binary(normalized(*lhs)?, op, normalized(*rhs)?))
            }
            BinaryOp::Eq | BinaryOp::NotEq => {
                let Expr::VarRef(key) = *lhs else {
                    return Err(not_a_comparison(&Expr::Binary { op, lhs, rhs }));
                };
                refuse_column(&key.name)?;
                let Some(value) = value_text(&rhs) else {
                    return Err(not_a_comparison(&Expr::binary(Expr::VarRef(key), op, *rhs)));
                };
                Ok(Expr::binary(
                    Expr::VarRef(key),
                    op,
                    Expr::Literal(Literal::String(value)),
                ))
            }
            BinaryOp::RegexMatch | BinaryOp::RegexNotMatch => {
                if let Expr::VarRef(key) = lhs.as_ref() {
                    refuse_column(&key.name)?;
                }
                Ok(Expr::Binary { op, lhs, rhs })
            }
            _ => Err(not_a_comparison(&Expr::Binary { op, lhs, rhs })),
        },
        other => Err(not_a_comparison(&other)),
    }
}

fn refuse_column(name: &str) -> Result<()> {
    if NOT_DELETABLE_BY.contains(&name) {
        return Err(Error::Invalid(format!(
            "a delete predicate cannot name {name}: delete by time with start and stop, and \
             by tags (and _measurement) in the predicate"
        )));
    }
    Ok(())
}

fn not_a_comparison(term: &Expr) -> Error {
    Error::Invalid(format!(
        "invalid delete predicate {term}: compare a tag with a value (tag=\"value\"), joined \
         by AND; quote values that hold other characters than letters, digits and _"
    ))
}

/// The text a value stands for: an identifier (`"a"`, `a`), a string, a number or a
/// boolean.
fn value_text(value: &Expr) -> Option<String> {
    match value {
        Expr::VarRef(v) if v.data_type.is_none() => Some(v.name.clone()),
        Expr::Literal(literal) => match literal {
            Literal::String(s) => Some(s.clone()),
            Literal::Integer(i) => Some(i.to_string()),
            Literal::Unsigned(u) => Some(u.to_string()),
            Literal::Float(f) => Some(f.to_string()),
            Literal::Boolean(b) => Some(b.to_string()),
            Literal::Duration(_) => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use sluice_lp::{ParseOptions, Parser};
    use sluice_storage::{ObjectStoreConfig, StorageConfig, TagPredicate, WriteOptions};

    use super::*;

    async fn storage(dir: &std::path::Path) -> Storage {
        let storage = Storage::open(StorageConfig {
            data_dir: dir.to_owned(),
            object_store: ObjectStoreConfig::Memory,
            ..StorageConfig::default()
        })
        .await
        .unwrap();
        let text = "cpu,host=a,region=eu usage=1 1\nmem,host=a free=2i 1\n";
        let lines: Vec<_> = Parser::new(text.as_bytes(), ParseOptions::default())
            .map(|l| l.unwrap())
            .collect();
        let options = WriteOptions::default();
        storage.write("d", &lines, options).await.unwrap();
        storage
    }

    #[tokio::test]
    async fn a_measurement_and_tags_become_a_table_and_a_tag_predicate() {
        let dir = tempfile::tempdir().unwrap();
        let storage = storage(dir.path()).await;
        let request = delete_request(
            &storage,
            "d",
            10,
            20,
            r#"_measurement="cpu" AND (host="a" OR region='eu') AND "region"!=1"#,
        )
        .unwrap();
        assert_eq!(request.table.as_deref(), Some("cpu"));
        assert_eq!(request.time_range, Some((10, 21)));
        let expected = TagPredicate::eq("host", "a")
            .or(TagPredicate::eq("region", "eu"))
            .and(TagPredicate::not_eq("region", "1"));
        assert_eq!(request.tag_predicate, Some(expected));

        let all = delete_request(&storage, "d", 0, i64::MAX, "").unwrap();
        assert_eq!((all.table, all.tag_predicate), (None, None));
        assert_eq!(all.time_range, Some((0, i64::MAX)));
    }

    #[tokio::test]
    async fn predicates_a_delete_cannot_run_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let storage = storage(dir.path()).await;
        let refused = |predicate: &str| {
            delete_request(&storage, "d", 0, 1, predicate)
                .unwrap_err()
                .to_string()
        };
        assert!(
            refused("host=").contains("found EOF"),
            "{}",
            refused("host=")
        );
        assert!(refused(r#"_measurement="a" AND _measurement="b""#).contains("one _measurement"));
        assert!(refused(r#"_measurement="a" OR host="b""#).contains("joined with AND"));
        assert!(refused(r#"_field="usage""#).contains("cannot name _field"));
        assert!(refused("host > 'a'").contains("compare a tag with a value"));
        assert!(refused("usage = 1").contains("fields not supported"));
        let backwards = delete_request(&storage, "d", 2, 1, "").unwrap_err();
        assert!(
            backwards.to_string().contains("after its stop"),
            "{backwards}"
        );
        assert!(matches!(
            delete_request(&storage, "nope", 0, 1, ""),
            Err(Error::Storage(
                sluice_storage::Error::DatabaseNotFound { .. }
            ))
        ));
    }
}
