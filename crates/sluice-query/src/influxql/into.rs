//! `SELECT ... INTO`: the statement's rows written back through the storage write path,
//! answered as InfluxDB 1.x answers it (one `result` series: `time` 0 and `written`).
//!
//! Each result series becomes points of the target measurement (`:MEASUREMENT`: the
//! series' own measurement), its `GROUP BY` tags become tags, and its other columns
//! become fields; null values are left out, and a row with no value is not written.
//! Tags not grouped by come out of a raw `SELECT *` as columns, so they are written as
//! fields, as InfluxDB 1.x does unless the query has `GROUP BY *`.

use std::borrow::Cow;

use sluice_influxql::{MeasurementName, MeasurementRef, SOURCE_MEASUREMENT, SelectStatement};
use sluice_lp::{FieldValue, Line};
use sluice_storage::{Storage, WriteOptions};

use super::policy::policy_database;
use super::result::{Series, Value};
use crate::error::{Error, Result};
use crate::limits::Budget;

/// Points written to storage per call, to keep one call's memory bounded.
const BATCH_POINTS: usize = 10_000;

/// Runs `stmt` without its `INTO`, writes the rows to the target, and returns the
/// `result` series with the number of points written.
pub(crate) async fn select_into(
    storage: &Storage,
    default_db: Option<&str>,
    stmt: &SelectStatement,
    now: i64,
    budget: &Budget,
) -> Result<Vec<Series>> {
    let target = stmt.into.as_ref().expect("called for SELECT INTO");
    let (db, measurement) = resolve_target(storage, default_db, target)?;
    let mut query = stmt.clone();
    query.into = None;
    let series = super::select::select(storage, default_db, &query, now, budget).await?;
    let points = to_points(&series, measurement.as_deref());
    let mut written = 0;
    for batch in points.chunks(BATCH_POINTS) {
        budget.check()?;
        let outcome = storage
            .write(
                &db,
                batch,
                WriteOptions {
                    no_sync: false,
                    accept_partial: true,
                },
            )
            .await?;
        written += outcome.accepted;
        if let Some(first) = outcome.rejected.first() {
            return Err(Error::Invalid(format!(
                "partial write: {} dropped={}",
                first.reason,
                outcome.rejected.len()
            )));
        }
    }
    Ok(vec![Series {
        name: "result".to_owned(),
        tags: Vec::new(),
        columns: vec!["time".to_owned(), "written".to_owned()],
        values: vec![vec![Value::Time(0), Value::Integer(written as i64)]],
    }])
}

/// The target's storage database (its retention policy's, the default when it names
/// none) and measurement (`None`: each source measurement's own name).
///
/// # Errors
/// [`Error::DatabaseRequired`], [`Error::DatabaseNotFound`], and InfluxDB's
/// `retention policy not found: rp`.
fn resolve_target(
    storage: &Storage,
    default_db: Option<&str>,
    target: &MeasurementRef,
) -> Result<(String, Option<String>)> {
    let db = target
        .database
        .as_deref()
        .or(default_db)
        .filter(|d| !d.is_empty())
        .ok_or(Error::DatabaseRequired)?;
    let storage_db = policy_database(storage, db, target.retention_policy.as_deref())?;
    let measurement = match &target.name {
        MeasurementName::Name(name) if name == SOURCE_MEASUREMENT => None,
        MeasurementName::Name(name) => Some(name.clone()),
        MeasurementName::Regex(re) => {
            return Err(Error::Invalid(format!("invalid INTO target: {re}")));
        }
    };
    Ok((storage_db, measurement))
}

/// The rows of `series` as points of `measurement` (or of each series' own name).
fn to_points<'a>(series: &'a [Series], measurement: Option<&'a str>) -> Vec<Line<'a>> {
    let mut points = Vec::new();
    for s in series {
        let name = measurement.unwrap_or(&s.name);
        let tags: Vec<(Cow<'a, str>, Cow<'a, str>)> = s
            .tags
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (Cow::Borrowed(k.as_str()), Cow::Borrowed(v.as_str())))
            .collect();
        let time_at = s.columns.iter().position(|c| c == "time");
        for row in &s.values {
            let timestamp = match time_at.map(|at| &row[at]) {
                Some(Value::Time(t)) => *t,
                _ => continue,
            };
            let fields: Vec<(Cow<'a, str>, FieldValue<'a>)> = s
                .columns
                .iter()
                .zip(row)
                .enumerate()
                .filter(|(at, _)| Some(*at) != time_at)
                .filter_map(|(_, (column, value))| {
                    Some((Cow::Borrowed(column.as_str()), field_value(value)?))
                })
                .collect();
            if fields.is_empty() {
                continue;
            }
            points.push(Line {
                line_number: points.len() + 1,
                measurement: Cow::Borrowed(name),
                tags: tags.clone(),
                fields,
                timestamp: Some(timestamp),
            });
        }
    }
    points
}

fn field_value(value: &Value) -> Option<FieldValue<'_>> {
    Some(match value {
        Value::Null => return None,
        Value::Float(x) => FieldValue::Float(*x),
        Value::Integer(i) => FieldValue::Integer(*i),
        Value::Unsigned(u) => FieldValue::UInteger(*u),
        Value::String(s) => FieldValue::String(Cow::Borrowed(s)),
        Value::Boolean(b) => FieldValue::Boolean(*b),
        Value::Time(t) => FieldValue::Integer(*t),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(
        name: &str,
        tags: &[(&str, &str)],
        columns: &[&str],
        rows: Vec<Vec<Value>>,
    ) -> Series {
        Series {
            name: name.to_owned(),
            tags: tags
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            values: rows,
        }
    }

    #[test]
    fn rows_become_points_with_grouped_tags_and_non_null_fields() {
        let input = vec![
            series(
                "cpu",
                &[("host", "a")],
                &["time", "mean", "max"],
                vec![
                    vec![Value::Time(10), Value::Float(1.5), Value::Integer(3)],
                    vec![Value::Time(20), Value::Null, Value::Integer(4)],
                    vec![Value::Time(30), Value::Null, Value::Null],
                ],
            ),
            series(
                "mem",
                &[],
                &["time", "free"],
                vec![vec![Value::Time(10), Value::Unsigned(7)]],
            ),
        ];
        let points = to_points(&input, None);
        let keys: Vec<String> = points.iter().map(Line::series_key).collect();
        assert_eq!(keys, ["cpu,host=a", "cpu,host=a", "mem"]);
        assert_eq!(points[0].fields.len(), 2);
        assert_eq!(
            points[1].fields,
            vec![(Cow::Borrowed("max"), FieldValue::Integer(4))]
        );
        assert_eq!(points[1].timestamp, Some(20));
        let named = to_points(&input, Some("down"));
        assert!(named.iter().all(|p| p.measurement == "down"));
    }
}
