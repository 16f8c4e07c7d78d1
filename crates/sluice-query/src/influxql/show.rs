//! `SHOW` statements and database statements, answered from the catalog (and from scans
//! of tag columns where values are needed).

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use sluice_influxql::{
    CreateDatabase, Expr, MeasurementName, MeasurementRef, Source, Statement, TagKeyFilter,
};
use sluice_lp::escape;
use sluice_storage::{ColumnKind, FieldType, ScanRequest, Storage, TableInfo};

use super::expr::{self, Compiled};
use super::result::{Series, Value};
use super::select::resolve_sources;
use super::view::BatchView;
use crate::error::{Error, Result};

fn database<'a>(on: Option<&'a str>, default_db: Option<&'a str>) -> Result<&'a str> {
    on.or(default_db)
        .filter(|d| !d.is_empty())
        .ok_or(Error::DatabaseRequired)
}

fn tables(storage: &Storage, db: &str) -> Result<Vec<TableInfo>> {
    storage.tables(db).map_err(|e| match e {
        sluice_storage::Error::DatabaseNotFound { .. } => Error::DatabaseNotFound(db.to_owned()),
        e => e.into(),
    })
}

/// The tables named by `from` (all of the database's when empty).
fn from_tables(storage: &Storage, db: &str, from: &[MeasurementRef]) -> Result<Vec<TableInfo>> {
    if from.is_empty() {
        return tables(storage, db);
    }
    let sources: Vec<Source> = from
        .iter()
        .map(|m| {
            Source::Measurement(MeasurementRef {
                database: Some(m.database.clone().unwrap_or_else(|| db.to_owned())),
                ..m.clone()
            })
        })
        .collect();
    Ok(resolve_sources(storage, Some(db), &sources)?
        .into_iter()
        .map(|(_, t)| t)
        .collect())
}

fn page<T>(items: Vec<T>, limit: Option<u64>, offset: Option<u64>) -> Vec<T> {
    items
        .into_iter()
        .skip(offset.unwrap_or(0) as usize)
        .take(limit.map_or(usize::MAX, |l| l as usize))
        .collect()
}

fn single(name: &str, columns: &[&str], values: Vec<Vec<Value>>) -> Vec<Series> {
    if values.is_empty() {
        return Vec::new();
    }
    vec![Series {
        name: name.to_owned(),
        tags: Vec::new(),
        columns: columns.iter().map(|c| (*c).to_owned()).collect(),
        values,
    }]
}

fn tag_names(t: &TableInfo) -> Vec<String> {
    t.columns
        .iter()
        .filter(|c| c.kind == ColumnKind::Tag)
        .map(|c| c.name.clone())
        .collect()
}

/// The distinct tag sets of a table's rows matching `condition` (tag predicates only),
/// each as values in `tags` order (`""` when absent).
async fn tag_sets(
    storage: &Storage,
    db: &str,
    table: &TableInfo,
    condition: Option<&Expr>,
) -> Result<BTreeSet<Vec<String>>> {
    let (range, conjuncts) = expr::split_condition(condition, now_ns())?;
    let tags = tag_names(table);
    let (tag_matches, residual) =
        expr::take_tag_matches(&conjuncts, |n| tags.iter().any(|t| t == n));
    let mut columns = tags.clone();
    let mut index: HashMap<String, usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.clone(), i))
        .collect();
    let compiled = residual
        .iter()
        .map(|c| expr::compile(c, &mut columns, &mut index))
        .collect::<Result<Vec<Compiled>>>()?;
    let mut projection = columns.clone();
    projection.push("time".to_owned());
    let scanned = storage
        .scan(
            db,
            &table.name,
            &ScanRequest {
                time_range: (range.has_start || range.has_end).then_some((range.start, range.end)),
                tag_matches,
                projection: Some(projection),
            },
        )
        .await?;
    let mut out = BTreeSet::new();
    for batch in &scanned.batches {
        let Some(view) = BatchView::new(batch, &columns) else {
            continue;
        };
        let mut prev: Option<Vec<i32>> = None;
        for i in 0..view.len {
            if !compiled.iter().all(|c| expr::matches(c, &view, i)) {
                continue;
            }
            let keys: Vec<i32> = (0..tags.len())
                .map(|k| view.columns[k].tag_key(i))
                .collect();
            if prev.as_ref() == Some(&keys) {
                continue;
            }
            out.insert(
                (0..tags.len())
                    .map(|k| view.columns[k].tag_str(i).to_owned())
                    .collect(),
            );
            prev = Some(keys);
        }
    }
    Ok(out)
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// InfluxDB's name for a field type.
pub(crate) fn field_type_name(t: FieldType) -> &'static str {
    match t {
        FieldType::Float => "float",
        FieldType::Integer => "integer",
        FieldType::UInteger => "unsigned",
        FieldType::String => "string",
        FieldType::Boolean => "boolean",
    }
}

/// A duration as Go prints it (`168h0m0s`, `0s`), as InfluxDB shows retention.
fn go_duration(d: Duration) -> String {
    sluice_influxql::go_duration(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Runs a statement other than `SELECT`.
pub(crate) async fn run(
    storage: &Storage,
    default_db: Option<&str>,
    statement: &Statement,
) -> Result<Vec<Series>> {
    match statement {
        Statement::ShowDatabases => Ok(single(
            "databases",
            &["name"],
            storage
                .databases()
                .into_iter()
                .map(|d| vec![Value::String(d.name)])
                .collect(),
        )),
        Statement::ShowMeasurements(s) => {
            let db = database(s.database.as_deref(), default_db)?;
            let re = match &s.with_measurement {
                Some(MeasurementName::Regex(r)) => Some(expr::compile_regex(&r.0)?),
                _ => None,
            };
            let mut names = Vec::new();
            for t in tables(storage, db)? {
                let keep = match &s.with_measurement {
                    Some(MeasurementName::Name(n)) => &t.name == n,
                    Some(MeasurementName::Regex(_)) => {
                        re.as_ref().is_some_and(|r| r.is_match(&t.name))
                    }
                    None => true,
                };
                if !keep {
                    continue;
                }
                if s.condition.is_some()
                    && tag_sets(storage, db, &t, s.condition.as_ref())
                        .await?
                        .is_empty()
                {
                    continue;
                }
                names.push(vec![Value::String(t.name)]);
            }
            Ok(single(
                "measurements",
                &["name"],
                page(names, s.limit, s.offset),
            ))
        }
        Statement::ShowTagKeys(s) => {
            let db = database(s.database.as_deref(), default_db)?;
            let mut out = Vec::new();
            for t in from_tables(storage, db, &s.from)? {
                // The keys of the series that exist (and match WHERE), as InfluxDB's
                // series index answers: a key only deleted series had is gone.
                let sets = tag_sets(storage, db, &t, s.condition.as_ref()).await?;
                let keys: Vec<Vec<Value>> = tag_names(&t)
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| sets.iter().any(|set| !set[*i].is_empty()))
                    .map(|(_, k)| vec![Value::String(k)])
                    .collect();
                out.extend(single(&t.name, &["tagKey"], page(keys, s.limit, s.offset)));
            }
            Ok(out)
        }
        Statement::ShowTagValues(s) => {
            let db = database(s.database.as_deref(), default_db)?;
            let mut out = Vec::new();
            for t in from_tables(storage, db, &s.from)? {
                let tags = tag_names(&t);
                let wanted: Vec<usize> = match &s.key {
                    TagKeyFilter::Eq(k) => tags.iter().position(|t| t == k).into_iter().collect(),
                    TagKeyFilter::NotEq(k) => (0..tags.len()).filter(|&i| &tags[i] != k).collect(),
                    TagKeyFilter::In(ks) => {
                        (0..tags.len()).filter(|&i| ks.contains(&tags[i])).collect()
                    }
                    TagKeyFilter::Regex(r) | TagKeyFilter::NotRegex(r) => {
                        let re = expr::compile_regex(&r.0)?;
                        let neg = matches!(s.key, TagKeyFilter::NotRegex(_));
                        (0..tags.len())
                            .filter(|&i| re.is_match(&tags[i]) != neg)
                            .collect()
                    }
                };
                if wanted.is_empty() {
                    continue;
                }
                let sets = tag_sets(storage, db, &t, s.condition.as_ref()).await?;
                let mut pairs = BTreeSet::new();
                for set in &sets {
                    for &k in &wanted {
                        if !set[k].is_empty() {
                            pairs.insert((tags[k].clone(), set[k].clone()));
                        }
                    }
                }
                let values = pairs
                    .into_iter()
                    .map(|(k, v)| vec![Value::String(k), Value::String(v)])
                    .collect();
                out.extend(single(
                    &t.name,
                    &["key", "value"],
                    page(values, s.limit, s.offset),
                ));
            }
            Ok(out)
        }
        Statement::ShowFieldKeys(s) => {
            let db = database(s.database.as_deref(), default_db)?;
            let mut out = Vec::new();
            for t in from_tables(storage, db, &s.from)? {
                let keys: Vec<Vec<Value>> = t
                    .columns
                    .iter()
                    .filter_map(|c| match c.kind {
                        ColumnKind::Field(ft) => Some(vec![
                            Value::String(c.name.clone()),
                            Value::String(field_type_name(ft).to_owned()),
                        ]),
                        _ => None,
                    })
                    .collect();
                out.extend(single(
                    &t.name,
                    &["fieldKey", "fieldType"],
                    page(keys, s.limit, s.offset),
                ));
            }
            Ok(out)
        }
        Statement::ShowSeries(s) => {
            let db = database(s.database.as_deref(), default_db)?;
            let mut keys = Vec::new();
            for t in from_tables(storage, db, &s.from)? {
                let tags = tag_names(&t);
                for set in tag_sets(storage, db, &t, s.condition.as_ref()).await? {
                    let mut key = String::new();
                    escape::measurement(&t.name, &mut key);
                    for (k, v) in tags.iter().zip(&set) {
                        if !v.is_empty() {
                            key.push(',');
                            escape::key(k, &mut key);
                            key.push('=');
                            escape::key(v, &mut key);
                        }
                    }
                    keys.push(key);
                }
            }
            keys.sort();
            let values = keys.into_iter().map(|k| vec![Value::String(k)]).collect();
            Ok(single("", &["key"], page(values, s.limit, s.offset)))
        }
        Statement::ShowRetentionPolicies(s) => {
            let db = database(s.database.as_deref(), default_db)?;
            let info = storage
                .databases()
                .into_iter()
                .find(|d| d.name == db)
                .ok_or_else(|| Error::DatabaseNotFound(db.to_owned()))?;
            let duration = info.retention.unwrap_or(Duration::ZERO);
            let shard = match info.retention {
                None => Duration::from_secs(7 * 86_400),
                Some(d) if d < Duration::from_secs(2 * 86_400) => Duration::from_secs(3600),
                Some(d) if d <= Duration::from_secs(180 * 86_400) => Duration::from_secs(86_400),
                Some(_) => Duration::from_secs(7 * 86_400),
            };
            Ok(single(
                "",
                &[
                    "name",
                    "duration",
                    "shardGroupDuration",
                    "replicaN",
                    "default",
                ],
                vec![vec![
                    Value::String("autogen".to_owned()),
                    Value::String(go_duration(duration)),
                    Value::String(go_duration(shard)),
                    Value::Integer(1),
                    Value::Boolean(true),
                ]],
            ))
        }
        Statement::CreateDatabase(CreateDatabase { name, retention }) => {
            let mut keep = None;
            if let Some(rp) = retention {
                if rp.shard_duration.is_some() {
                    return Err(Error::Unsupported("SHARD DURATION".to_owned()));
                }
                if rp.name.as_deref().is_some_and(|n| n != "autogen") {
                    return Err(Error::Unsupported(
                        "retention policies other than autogen".to_owned(),
                    ));
                }
                keep = rp
                    .duration
                    .filter(|d| *d > 0)
                    .map(|d| Duration::from_nanos(d as u64));
            }
            storage.create_database(name, keep)?;
            Ok(Vec::new())
        }
        Statement::DropDatabase(d) => {
            storage.drop_database(&d.name)?;
            Ok(Vec::new())
        }
        Statement::AlterRetentionPolicy(a) if a.name == "autogen" && a.shard_duration.is_none() => {
            if let Some(d) = a.duration {
                let keep = (d > 0).then(|| Duration::from_nanos(d as u64));
                storage
                    .set_retention(&a.database, keep)
                    .map_err(|e| match e {
                        sluice_storage::Error::DatabaseNotFound { .. } => {
                            Error::DatabaseNotFound(a.database.clone())
                        }
                        e => e.into(),
                    })?;
            }
            Ok(Vec::new())
        }
        Statement::ShowCardinality(_) => Err(Error::Unsupported("SHOW ... CARDINALITY".to_owned())),
        Statement::CreateRetentionPolicy(_)
        | Statement::AlterRetentionPolicy(_)
        | Statement::DropRetentionPolicy(_) => Err(Error::Unsupported(
            "retention policies other than altering autogen's duration".to_owned(),
        )),
        Statement::Unsupported(u) => Err(Error::Invalid(u.message())),
        // The server keeps and runs continuous queries; the engine alone has no place
        // to keep them.
        Statement::CreateContinuousQuery(_)
        | Statement::ShowContinuousQueries
        | Statement::DropContinuousQuery(_) => Err(Error::Unsupported(
            "continuous queries outside `sluice serve`".to_owned(),
        )),
        Statement::Select(_)
        | Statement::DropMeasurement(_)
        | Statement::Delete(_)
        | Statement::DropSeries(_) => Err(Error::Invalid(format!(
            "statement run as show: {statement}"
        ))),
    }
}
