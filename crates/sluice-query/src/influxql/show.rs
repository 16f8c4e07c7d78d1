//! `SHOW` statements and database statements, answered from the catalog (and from scans
//! of tag columns where values are needed).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::ControlFlow;
use std::time::Duration;

use sluice_influxql::{
    BinaryOp, CardinalityKind, CreateDatabase, Expr, MeasurementName, MeasurementRef,
    ShowCardinality, ShowFieldKeys, ShowMeasurements, ShowTagKeys, ShowTagValues, Source,
    Statement, TagKeyFilter,
};
use sluice_lp::escape;
use sluice_storage::{
    ColumnKind, FieldType, RetentionPolicySpec, RetentionPolicyUpdate, ScanRequest, Storage,
    TableInfo,
};

use super::expr::{self, Compiled};
use super::policy::{Policies, storage_databases};
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

/// The tables named by `from` (all of the database's when empty) with the storage
/// database of the retention policy each is in: the policy each source names, else
/// `default_rp`, else the database's default, or every policy.
fn from_tables(
    storage: &Storage,
    db: &str,
    default_rp: Option<&str>,
    from: &[MeasurementRef],
    policies: Policies,
) -> Result<Vec<(String, TableInfo)>> {
    if from.is_empty() {
        let mut out = Vec::new();
        for storage_db in storage_databases(storage, db, default_rp, policies)? {
            out.extend(
                tables(storage, &storage_db)?
                    .into_iter()
                    .map(|t| (storage_db.clone(), t)),
            );
        }
        return Ok(out);
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
    resolve_sources(storage, Some(db), &sources, policies)
}

/// Tables grouped by measurement name, in name order (one measurement may be in
/// several retention policies).
fn by_measurement(tables: Vec<(String, TableInfo)>) -> BTreeMap<String, Vec<(String, TableInfo)>> {
    let mut out: BTreeMap<String, Vec<(String, TableInfo)>> = BTreeMap::new();
    for (storage_db, t) in tables {
        out.entry(t.name.clone()).or_default().push((storage_db, t));
    }
    out
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

/// Visits the rows of a table matching `condition` (tag predicates only), with their
/// tag columns first in [`tag_names`] order and the number of their batch (the scope of
/// its dictionaries' keys), until `visit` breaks.
async fn visit_matching_rows(
    storage: &Storage,
    db: &str,
    table: &TableInfo,
    condition: Option<&Expr>,
    mut visit: impl FnMut(usize, &BatchView<'_>, usize) -> ControlFlow<()>,
) -> Result<()> {
    check_tag_condition(condition)?;
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
                ..ScanRequest::default()
            },
        )
        .await?;
    for (b, batch) in scanned.batches.iter().enumerate() {
        let Some(view) = BatchView::new(batch, &columns) else {
            continue;
        };
        for i in 0..view.len {
            let matching = compiled.iter().all(|c| expr::matches(c, &view, i));
            if matching && visit(b, &view, i).is_break() {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Refuses what InfluxDB refuses in a `SHOW … WHERE`: an ordering comparison (`<`,
/// `<=`, `>`, `>=`) of anything but `time`. Tags compare by equality and patterns only.
fn check_tag_condition(condition: Option<&Expr>) -> Result<()> {
    let Some(Expr::Binary { op, lhs, rhs }) = condition else {
        return Ok(());
    };
    let is_time = |e: &Expr| matches!(e, Expr::VarRef(v) if v.name.eq_ignore_ascii_case("time"));
    match op {
        BinaryOp::And | BinaryOp::Or => {
            check_tag_condition(Some(lhs))?;
            check_tag_condition(Some(rhs))
        }
        BinaryOp::Lt | BinaryOp::LtEq | BinaryOp::Gt | BinaryOp::GtEq
            if !is_time(lhs) && !is_time(rhs) =>
        {
            Err(Error::Invalid("invalid tag comparison operator".to_owned()))
        }
        _ => Ok(()),
    }
}

/// Whether any row of a table matches `condition` (tag predicates only).
async fn any_matching_row(
    storage: &Storage,
    db: &str,
    table: &TableInfo,
    condition: Option<&Expr>,
) -> Result<bool> {
    let mut any = false;
    visit_matching_rows(storage, db, table, condition, |_, _, _| {
        any = true;
        ControlFlow::Break(())
    })
    .await?;
    Ok(any)
}

/// The distinct tag sets of a table's rows matching `condition` (tag predicates only),
/// each as values in `tags` order (`""` when absent).
async fn tag_sets(
    storage: &Storage,
    db: &str,
    table: &TableInfo,
    condition: Option<&Expr>,
) -> Result<BTreeSet<Vec<String>>> {
    let width = tag_names(table).len();
    let mut out = BTreeSet::new();
    // Rows of a series come together: a row with the dictionary keys of the one before
    // in the same batch is its series again.
    let mut prev: Vec<i32> = Vec::new();
    let mut keys: Vec<i32> = Vec::new();
    visit_matching_rows(storage, db, table, condition, |b, view, i| {
        keys.clear();
        keys.push(b as i32);
        keys.extend((0..width).map(|k| view.columns[k].tag_key(i)));
        if keys != prev {
            out.insert(
                (0..width)
                    .map(|k| view.columns[k].tag_str(i).to_owned())
                    .collect(),
            );
            std::mem::swap(&mut prev, &mut keys);
        }
        ControlFlow::Continue(())
    })
    .await?;
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

/// A duration in nanoseconds from a statement, `None` for zero (a retention policy's
/// `INF`: keep forever; a shard group duration to compute) or a negative value, which
/// the parser does not produce.
fn nanos(ns: i64) -> Option<Duration> {
    u64::try_from(ns)
        .ok()
        .filter(|n| *n > 0)
        .map(Duration::from_nanos)
}

/// Maps the storage's missing database to InfluxDB's message (no quotes).
fn database_not_found(db: &str) -> impl Fn(sluice_storage::Error) -> Error + '_ {
    move |e| match e {
        sluice_storage::Error::DatabaseNotFound { .. } => Error::DatabaseNotFound(db.to_owned()),
        e => e.into(),
    }
}

/// Runs a statement other than `SELECT`; `default_rp` is the request's retention
/// policy (the `/query` `rp` parameter), for statements without `FROM`.
pub(crate) async fn run(
    storage: &Storage,
    default_db: Option<&str>,
    default_rp: Option<&str>,
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
            let mut names = BTreeSet::new();
            for (storage_db, t) in from_tables(storage, db, None, &[], Policies::Every)? {
                let keep = match &s.with_measurement {
                    Some(MeasurementName::Name(n)) => &t.name == n,
                    Some(MeasurementName::Regex(_)) => {
                        re.as_ref().is_some_and(|r| r.is_match(&t.name))
                    }
                    None => true,
                };
                if !keep || names.contains(&t.name) {
                    continue;
                }
                if s.condition.is_some()
                    && !any_matching_row(storage, &storage_db, &t, s.condition.as_ref()).await?
                {
                    continue;
                }
                names.insert(t.name);
            }
            let names = names.into_iter().map(|n| vec![Value::String(n)]).collect();
            Ok(single(
                "measurements",
                &["name"],
                page(names, s.limit, s.offset),
            ))
        }
        Statement::ShowTagKeys(s) => {
            let db = database(s.database.as_deref(), default_db)?;
            let mut out = Vec::new();
            let found = from_tables(storage, db, default_rp, &s.from, Policies::Every)?;
            for (name, tables) in by_measurement(found) {
                // The keys of the series that exist (and match WHERE), as InfluxDB's
                // series index answers: a key only deleted series had is gone.
                let mut keys = BTreeSet::new();
                for (storage_db, t) in &tables {
                    let tags = tag_names(t);
                    let mut present = vec![false; tags.len()];
                    let mut missing = tags.len();
                    visit_matching_rows(
                        storage,
                        storage_db,
                        t,
                        s.condition.as_ref(),
                        |_, view, i| {
                            for (k, seen) in present.iter_mut().enumerate() {
                                if !*seen && !view.columns[k].tag_str(i).is_empty() {
                                    *seen = true;
                                    missing -= 1;
                                }
                            }
                            if missing == 0 {
                                ControlFlow::Break(())
                            } else {
                                ControlFlow::Continue(())
                            }
                        },
                    )
                    .await?;
                    let present = tags.into_iter().zip(present);
                    keys.extend(present.filter(|(_, seen)| *seen).map(|(k, _)| k));
                }
                let keys = keys.into_iter().map(|k| vec![Value::String(k)]).collect();
                out.extend(single(&name, &["tagKey"], page(keys, s.limit, s.offset)));
            }
            Ok(out)
        }
        Statement::ShowTagValues(s) => {
            let db = database(s.database.as_deref(), default_db)?;
            let mut out = Vec::new();
            let key_re = match &s.key {
                TagKeyFilter::Regex(r) | TagKeyFilter::NotRegex(r) => {
                    Some(expr::compile_regex(&r.0)?)
                }
                _ => None,
            };
            let found = from_tables(storage, db, default_rp, &s.from, Policies::Every)?;
            for (name, tables) in by_measurement(found) {
                let mut pairs = BTreeSet::new();
                for (storage_db, t) in &tables {
                    let tags = tag_names(t);
                    let wanted: Vec<usize> = match (&s.key, &key_re) {
                        (TagKeyFilter::Eq(k), _) => {
                            tags.iter().position(|t| t == k).into_iter().collect()
                        }
                        (TagKeyFilter::NotEq(k), _) => {
                            (0..tags.len()).filter(|&i| &tags[i] != k).collect()
                        }
                        (TagKeyFilter::In(ks), _) => {
                            (0..tags.len()).filter(|&i| ks.contains(&tags[i])).collect()
                        }
                        (_, Some(re)) => {
                            let neg = matches!(s.key, TagKeyFilter::NotRegex(_));
                            (0..tags.len())
                                .filter(|&i| re.is_match(&tags[i]) != neg)
                                .collect()
                        }
                        (_, None) => Vec::new(),
                    };
                    if wanted.is_empty() {
                        continue;
                    }
                    // Without conditions, complete distinct-value caches holding the
                    // keys answer without a scan.
                    let cached: Option<Vec<(usize, BTreeSet<String>)>> = match &s.condition {
                        None => wanted
                            .iter()
                            .map(|&k| {
                                storage
                                    .tag_values_from_cache(storage_db, &t.name, &tags[k])
                                    .map(|values| (k, values))
                            })
                            .collect(),
                        Some(_) => None,
                    };
                    if let Some(cached) = cached {
                        for (k, values) in cached {
                            pairs.extend(values.into_iter().map(|v| (tags[k].clone(), v)));
                        }
                        continue;
                    }
                    // Each wanted key's distinct values, a value copied once.
                    let mut values: Vec<BTreeSet<String>> = vec![BTreeSet::new(); wanted.len()];
                    visit_matching_rows(
                        storage,
                        storage_db,
                        t,
                        s.condition.as_ref(),
                        |_, view, i| {
                            for (&k, values) in wanted.iter().zip(&mut values) {
                                let v = view.columns[k].tag_str(i);
                                if !v.is_empty() && !values.contains(v) {
                                    values.insert(v.to_owned());
                                }
                            }
                            ControlFlow::Continue(())
                        },
                    )
                    .await?;
                    for (&k, values) in wanted.iter().zip(values) {
                        pairs.extend(values.into_iter().map(|v| (tags[k].clone(), v)));
                    }
                }
                let values = pairs
                    .into_iter()
                    .map(|(k, v)| vec![Value::String(k), Value::String(v)])
                    .collect();
                out.extend(single(
                    &name,
                    &["key", "value"],
                    page(values, s.limit, s.offset),
                ));
            }
            Ok(out)
        }
        Statement::ShowFieldKeys(s) => {
            let db = database(s.database.as_deref(), default_db)?;
            let mut out = Vec::new();
            for (_, t) in from_tables(storage, db, default_rp, &s.from, Policies::Named)? {
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
            for (storage_db, t) in from_tables(storage, db, default_rp, &s.from, Policies::Every)? {
                let tags = tag_names(&t);
                for set in tag_sets(storage, &storage_db, &t, s.condition.as_ref()).await? {
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
            keys.dedup();
            let values = keys.into_iter().map(|k| vec![Value::String(k)]).collect();
            Ok(single("", &["key"], page(values, s.limit, s.offset)))
        }
        Statement::ShowRetentionPolicies(s) => {
            let db = database(s.database.as_deref(), default_db)?;
            let policies = storage.retention_policies(db).map_err(|e| match e {
                sluice_storage::Error::DatabaseNotFound { .. } => {
                    Error::DatabaseNotFound(db.to_owned())
                }
                e => e.into(),
            })?;
            let rows = policies
                .into_iter()
                .map(|p| {
                    vec![
                        Value::String(p.name),
                        Value::String(go_duration(p.duration.unwrap_or(Duration::ZERO))),
                        Value::String(go_duration(p.shard_group_duration)),
                        Value::Integer(i64::from(p.replication)),
                        Value::Boolean(p.default),
                    ]
                })
                .collect();
            Ok(single(
                "",
                &[
                    "name",
                    "duration",
                    "shardGroupDuration",
                    "replicaN",
                    "default",
                ],
                rows,
            ))
        }
        Statement::CreateDatabase(CreateDatabase { name, retention }) => {
            match retention {
                None => storage.create_database(name, None)?,
                Some(rp) => {
                    let spec = RetentionPolicySpec {
                        duration: rp.duration.and_then(nanos),
                        shard_group_duration: rp.shard_duration.and_then(nanos),
                        replication: rp.replication.unwrap_or(1),
                    };
                    let policy = rp.name.as_deref().unwrap_or("autogen");
                    storage.create_database_with_policy(name, policy, &spec)?
                }
            };
            Ok(Vec::new())
        }
        Statement::DropDatabase(d) => {
            storage.drop_database(&d.name).await?;
            Ok(Vec::new())
        }
        Statement::CreateRetentionPolicy(c) => {
            let spec = RetentionPolicySpec {
                duration: nanos(c.duration),
                shard_group_duration: c.shard_duration.and_then(nanos),
                replication: c.replication,
            };
            storage
                .create_retention_policy(&c.database, &c.name, &spec, c.default)
                .map_err(database_not_found(&c.database))?;
            Ok(Vec::new())
        }
        Statement::AlterRetentionPolicy(a) => {
            let update = RetentionPolicyUpdate {
                duration: a.duration.map(nanos),
                shard_group_duration: a.shard_duration.and_then(nanos),
                replication: a.replication,
                make_default: a.default,
            };
            storage
                .alter_retention_policy(&a.database, &a.name, &update)
                .map_err(database_not_found(&a.database))?;
            Ok(Vec::new())
        }
        Statement::DropRetentionPolicy(d) => {
            match storage.drop_retention_policy(&d.database, &d.name) {
                // As InfluxDB 1.x: dropping what is not there is not an error, also
                // when the database is not there.
                Ok(_) | Err(sluice_storage::Error::DatabaseNotFound { .. }) => Ok(Vec::new()),
                Err(e) => Err(e.into()),
            }
        }
        Statement::ShowCardinality(s) => cardinality(storage, default_db, default_rp, s).await,
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

/// `SHOW … [EXACT] CARDINALITY`, as InfluxDB 1.x answers it: the series and measurements
/// of the database as one number (`cardinality estimation`, unless `EXACT`, `FROM` or
/// `WHERE` is given: then series are counted per measurement and measurements as one
/// `count`), tag keys, tag values and field keys as a `count` per measurement. Every
/// count is exact: they are the rows the matching `SHOW` statement lists.
async fn cardinality(
    storage: &Storage,
    default_db: Option<&str>,
    default_rp: Option<&str>,
    s: &ShowCardinality,
) -> Result<Vec<Series>> {
    let on = s.database.clone();
    let (from, condition) = (s.from.clone(), s.condition.clone());
    // Without `FROM` and `WHERE`, InfluxDB estimates from its sketches; with either it
    // counts, and says so.
    let estimate = !s.exact && s.from.is_empty() && s.condition.is_none();
    let one_number = |n: usize| {
        let column = if estimate {
            "cardinality estimation"
        } else {
            "count"
        };
        single("", &[column], vec![vec![Value::Integer(n as i64)]])
    };
    let listing = match &s.kind {
        CardinalityKind::TagKey => Statement::ShowTagKeys(ShowTagKeys {
            database: on,
            from,
            condition,
            ..ShowTagKeys::default()
        }),
        CardinalityKind::TagValues(key) => Statement::ShowTagValues(ShowTagValues {
            database: on,
            from,
            key: key.clone(),
            condition,
            limit: None,
            offset: None,
        }),
        CardinalityKind::FieldKey => Statement::ShowFieldKeys(ShowFieldKeys {
            database: on,
            from,
            limit: None,
            offset: None,
        }),
        CardinalityKind::Measurement => Statement::ShowMeasurements(ShowMeasurements {
            database: on,
            with_measurement: None,
            condition,
            limit: None,
            offset: None,
        }),
        CardinalityKind::Series => {
            let db = database(s.database.as_deref(), default_db)?;
            let found = from_tables(storage, db, default_rp, &s.from, Policies::Named)?;
            let mut counts = Vec::new();
            for (name, tables) in by_measurement(found) {
                let mut sets = BTreeSet::new();
                for (storage_db, t) in &tables {
                    sets.extend(tag_sets(storage, storage_db, t, s.condition.as_ref()).await?);
                }
                counts.push((name, sets.len()));
            }
            if estimate {
                return Ok(one_number(counts.iter().map(|(_, n)| n).sum()));
            }
            return Ok(per_measurement(counts, s.limit, s.offset));
        }
    };
    let listed = Box::pin(run(storage, default_db, default_rp, &listing)).await?;
    if let CardinalityKind::Measurement = s.kind {
        // `SHOW MEASUREMENTS` has no `FROM`: the names it lists, of those `FROM` names.
        let db = database(s.database.as_deref(), default_db)?;
        let named = if s.from.is_empty() {
            None
        } else {
            let tables = from_tables(storage, db, default_rp, &s.from, Policies::Every)?;
            Some(by_measurement(tables))
        };
        let names = listed.iter().flat_map(|series| &series.values);
        let names = names.filter(|row| match (row.first(), &named) {
            (Some(Value::String(name)), Some(named)) => named.contains_key(name),
            (Some(Value::String(_)), None) => true,
            _ => false,
        });
        return Ok(one_number(names.count()));
    }
    let counts = listed.into_iter().map(|l| (l.name, l.values.len()));
    Ok(per_measurement(counts.collect(), s.limit, s.offset))
}

/// A `count` series for each measurement counted (those counting none left out), paged.
fn per_measurement(
    counts: Vec<(String, usize)>,
    limit: Option<u64>,
    offset: Option<u64>,
) -> Vec<Series> {
    let counted = counts.into_iter().filter(|(_, n)| *n > 0).collect();
    page(counted, limit, offset)
        .into_iter()
        .flat_map(|(name, n)| single(&name, &["count"], vec![vec![Value::Integer(n as i64)]]))
        .collect()
}
