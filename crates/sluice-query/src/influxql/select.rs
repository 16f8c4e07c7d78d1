//! `SELECT`: sources resolved against the catalog, a storage scan per measurement with
//! time range and tag equalities pushed down, rows grouped into series by `GROUP BY`
//! tags and into buckets by `GROUP BY time`, then raw projections or aggregates, fill,
//! ordering and limits, as InfluxDB 1.x answers.

use std::cmp::Ordering;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use arrow::array::RecordBatch;
use sluice_influxql::{DataType, Dimension, Expr, Fill, MeasurementName, SelectStatement, Source};
use sluice_storage::{ColumnKind, FieldType, ScanRequest, ScanResult, Storage, TableInfo};

use super::aggregate::{self, Func, Output, Point};
use super::expr::{self, Compiled, TimeRange};
use super::policy::{Policies, storage_databases};
use super::result::{Series, Value};
use super::row::{AggExpr, apply_fill, eval_agg, has_aggregate, numeric_aggregate, to_agg_expr};
use super::subquery::{self, Virtual};
use super::type_check;
use super::view::{BatchView, V};
use super::zone::{Buckets, TimeZone};
use crate::error::{Error, Result};
use crate::limits::Budget;
use crate::time_chunks;

/// Memory one output row holds besides its values (the row's `Vec`), for the budget.
const ROW_OVERHEAD_BYTES: usize = std::mem::size_of::<Vec<Value>>();

/// A projected column after wildcard expansion.
#[derive(Debug, Clone)]
struct OutField {
    name: String,
    /// Whether `name` is the statement's alias (`AS name`), kept even when another column
    /// has it too; generated names give way (see [`column_names`]).
    aliased: bool,
    expr: Expr,
}

/// What one `FROM` entry reads: a stored measurement, or the rows of a subquery.
enum Input {
    Stored(String, TableInfo),
    Virtual(Virtual),
}

impl Input {
    fn info(&self) -> &TableInfo {
        match self {
            Input::Stored(_, t) => t,
            Input::Virtual(v) => &v.info,
        }
    }
}

/// Resolves the measurements a statement reads: `(storage database, table)` pairs,
/// sorted and unique. The storage database is the retention policy's (see
/// [`super::policy`]).
pub(crate) fn resolve_sources(
    storage: &Storage,
    default_db: Option<&str>,
    sources: &[Source],
    policies: Policies,
) -> Result<Vec<(String, TableInfo)>> {
    let mut out: Vec<(String, TableInfo)> = Vec::new();
    for source in sources {
        let Source::Measurement(m) = source else {
            // Subqueries are run by `select` itself.
            continue;
        };
        let db = m
            .database
            .as_deref()
            .or(default_db)
            .filter(|d| !d.is_empty())
            .ok_or(Error::DatabaseRequired)?;
        let re = match &m.name {
            MeasurementName::Regex(re) => Some(expr::compile_regex(&re.0)?),
            MeasurementName::Name(_) => None,
        };
        let rp = m.retention_policy.as_deref();
        for storage_db in storage_databases(storage, db, rp, policies)? {
            let tables = match storage.tables(&storage_db) {
                Ok(t) => t,
                // Dropped meanwhile.
                Err(sluice_storage::Error::DatabaseNotFound { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            out.extend(
                tables
                    .into_iter()
                    .filter(|t| match (&m.name, &re) {
                        (MeasurementName::Name(n), _) => &t.name == n,
                        (_, Some(re)) => re.is_match(&t.name),
                        (_, None) => false,
                    })
                    .map(|t| (storage_db.clone(), t)),
            );
        }
    }
    out.sort_by(|a, b| (&a.0, &a.1.name).cmp(&(&b.0, &b.1.name)));
    out.dedup_by(|a, b| a.0 == b.0 && a.1.name == b.1.name);
    Ok(out)
}

fn tags_of(t: &TableInfo) -> impl Iterator<Item = &str> {
    t.columns
        .iter()
        .filter(|c| c.kind == ColumnKind::Tag)
        .map(|c| c.name.as_str())
}

fn fields_of(t: &TableInfo) -> impl Iterator<Item = (&str, FieldType)> {
    t.columns.iter().filter_map(|c| match c.kind {
        ColumnKind::Field(ft) => Some((c.name.as_str(), ft)),
        _ => None,
    })
}

/// Runs a `SELECT`: transformations (`derivative`, ...) over what the statement without
/// them answers, subqueries first, then the statement over stored and subquery rows.
pub(crate) async fn select(
    storage: &Storage,
    default_db: Option<&str>,
    stmt: &SelectStatement,
    now: i64,
    budget: &Budget,
) -> Result<Vec<Series>> {
    let (stmt, time_name) = without_time_fields(stmt)?;
    let mut series = select_fields(storage, default_db, &stmt, now, budget).await?;
    if let Some(name) = time_name {
        for s in &mut series {
            if let Some(first) = s.columns.first_mut() {
                *first = name.clone();
            }
        }
    }
    Ok(series)
}

/// `stmt` without the `time` fields of its field list, which InfluxDB 1.x leaves out (an
/// answer's first column is always the time), and the name `time AS name` gives that
/// column. A statement of `time` alone is refused in InfluxDB's words.
fn without_time_fields(
    stmt: &SelectStatement,
) -> Result<(std::borrow::Cow<'_, SelectStatement>, Option<String>)> {
    if !stmt.fields.iter().any(|f| f.expr.is_time()) {
        return Ok((std::borrow::Cow::Borrowed(stmt), None));
    }
    let name = stmt
        .fields
        .iter()
        .filter(|f| f.expr.is_time())
        .find_map(|f| f.alias.clone());
    let mut stripped = stmt.clone();
    stripped.fields.retain(|f| !f.expr.is_time());
    if stripped.fields.is_empty() {
        return Err(Error::Invalid(
            "at least 1 non-time field must be queried".to_owned(),
        ));
    }
    Ok((std::borrow::Cow::Owned(stripped), name))
}

/// [`select`] of a statement whose field list has no `time`.
async fn select_fields(
    storage: &Storage,
    default_db: Option<&str>,
    stmt: &SelectStatement,
    now: i64,
    budget: &Budget,
) -> Result<Vec<Series>> {
    if stmt.into.is_some() {
        return Box::pin(super::into::select_into(
            storage, default_db, stmt, now, budget,
        ))
        .await;
    }
    let time_dimensions = stmt
        .group_by
        .iter()
        .filter(|d| matches!(d, Dimension::Time { .. }))
        .count();
    if time_dimensions > 1 {
        // In InfluxDB's words.
        return Err(Error::Invalid(
            "multiple time dimensions not allowed".to_owned(),
        ));
    }
    sluice_influxql::validate_select(stmt)?;
    if super::transform::has_transform(stmt) {
        return Box::pin(super::transform::select(
            storage, default_db, stmt, now, budget,
        ))
        .await;
    }
    run(storage, default_db, stmt, now, budget, 0).await
}

/// Runs a `SELECT` without transformations. `shift` widens the time range by that many
/// nanoseconds at its start (at its end for `ORDER BY time DESC`), as InfluxDB 1.x
/// widens the input of a transformation over `GROUP BY time` buckets.
pub(crate) async fn run(
    storage: &Storage,
    default_db: Option<&str>,
    stmt: &SelectStatement,
    now: i64,
    budget: &Budget,
    shift: i64,
) -> Result<Vec<Series>> {
    let mut inputs: Vec<Input> = resolve_sources(storage, default_db, &stmt.from, Policies::Named)?
        .into_iter()
        .map(|(db, t)| Input::Stored(db, t))
        .collect();
    for source in &stmt.from {
        if let Source::Subquery(inner) = source {
            let rows =
                Box::pin(subquery::run(storage, default_db, stmt, inner, now, budget)).await?;
            inputs.extend(rows.into_iter().map(Input::Virtual));
        }
    }
    inputs.sort_by(|a, b| a.info().name.cmp(&b.info().name));
    let zone = TimeZone::of(stmt)?;
    let buckets = Buckets::of(stmt, zone);
    let (mut range, conjuncts) = expr::split_condition_in(stmt.condition.as_ref(), now, zone)?;
    if shift > 0 && stmt.group_by_time().is_some() {
        if stmt.is_descending() {
            let end = if range.has_end { range.end } else { now };
            range.end = end.saturating_add(shift);
            range.has_end = true;
        } else if range.has_start {
            range.start = range.start.saturating_sub(shift);
        }
    }
    let group_time = stmt.group_by_time();
    if let Some((interval, _)) = group_time
        && interval <= 0
    {
        return Err(Error::Invalid(
            "GROUP BY time interval must be positive".into(),
        ));
    }

    let infos: Vec<&TableInfo> = inputs.iter().map(Input::info).collect();
    let fields = expand_fields(stmt, &infos)?;
    let aggregate = fields.iter().any(|f| has_aggregate(&f.expr));
    if !aggregate && group_time.is_some() {
        return Err(Error::Invalid(
            "GROUP BY requires at least one aggregate function".to_owned(),
        ));
    }
    let mut calls: Vec<(Func, String)> = Vec::new();
    let mut agg_exprs = Vec::new();
    // Fields and tags beside a lone selector: read at the point it selects.
    let mut aux: Vec<String> = Vec::new();
    if aggregate {
        for f in &fields {
            agg_exprs.push(to_agg_expr(&f.expr, &mut calls, &mut aux)?);
        }
        // In InfluxDB's words: `distinct()` stands alone; `top()` and `bottom()` may
        // have fields and tags beside them, but no other function. `sample()` may have
        // fields and tags beside it; InfluxDB also merges it with other functions by
        // time, which sluice does not.
        if let Some((f, _)) = calls.iter().find(|(f, _)| f.is_multi_row()) {
            if *f == Func::Distinct && fields.len() > 1 {
                return Err(Error::Invalid(
                    "aggregate function distinct() cannot be combined with other functions or fields"
                        .to_owned(),
                ));
            }
            if calls.len() > 1 && matches!(f, Func::Sample(_)) {
                return Err(Error::Unsupported(
                    "sample() beside other functions (it may stand with fields and tags)"
                        .to_owned(),
                ));
            }
            if calls.len() > 1 {
                let name = if matches!(f, Func::Bottom(..)) {
                    "bottom"
                } else {
                    "top"
                };
                return Err(Error::Invalid(format!(
                    "selector function {name}() cannot be combined with other functions"
                )));
            }
        }
        let beside_a_selector = matches!(calls.as_slice(), [(f, _)] if f.is_selector())
            && agg_exprs
                .iter()
                .all(|e| matches!(e, AggExpr::Call(0) | AggExpr::Aux(_)));
        if !aux.is_empty() && !beside_a_selector {
            return Err(Error::Invalid(
                "mixing aggregate and non-aggregate queries is not supported".to_owned(),
            ));
        }
    }
    if range.start >= range.end {
        return Ok(Vec::new());
    }

    // Only `last()` calls, one row per series: a last-value cache may hold every row
    // they need (storage says whether it does).
    let last_fields: Option<Vec<String>> = (aggregate
        && aux.is_empty()
        && group_time.is_none()
        && !calls.is_empty()
        && calls
            .iter()
            .all(|(f, column)| *f == Func::Last && expr::cast_of(column).is_none()))
    .then(|| calls.iter().map(|(_, field)| field.clone()).collect());
    let mut all_series = Vec::new();
    // Memory held by the rows of `all_series`, given back to the budget at the end.
    let mut held = Held(budget, 0);
    for input in &inputs {
        let table = input.info();
        let group_tags = group_tags(&stmt.group_by, table)?;
        let is_tag = |n: &str| tags_of(table).any(|t| t == n);
        let (tag_matches, residual) = expr::take_tag_matches(&conjuncts, is_tag);
        // A count of a field the measurement does not have is null in every bucket, not
        // the 0 of a bucket without points, as InfluxDB answers it (a line Grafana does
        // not draw, not one at zero): it is computed as a sum, which sees no points
        // either and whose empty value is null.
        let calls: Vec<(Func, String)> = calls
            .iter()
            .map(|(func, column)| {
                let field = expr::cast_of(column).map_or(column.as_str(), |(f, _)| f);
                let absent = !is_tag(field) && !fields_of(table).any(|(name, _)| name == field);
                match func {
                    Func::Count | Func::CountDistinct if absent => (Func::Sum, column.clone()),
                    _ => (func.clone(), column.clone()),
                }
            })
            .collect();

        // Columns read: group tags first, then whatever fields and conditions name.
        let mut columns: Vec<String> = group_tags.clone();
        let mut index: HashMap<String, usize> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i))
            .collect();
        let condition = residual
            .iter()
            .map(|c| expr::compile(&strip_casts(c), &mut columns, &mut index))
            .collect::<Result<Vec<Compiled>>>()?;
        let raw_fields = if aggregate {
            Vec::new()
        } else {
            let typed: Vec<Expr> = fields
                .iter()
                .map(|f| typed_refs(&f.expr, &is_tag))
                .collect();
            // Tags alone are no answer: InfluxDB needs a field selected to return rows.
            let is_field = |n: &str| fields_of(table).any(|(f, _)| f == n);
            if !typed.iter().any(|e| refers_to_a_field(e, &is_field)) {
                continue;
            }
            // A selected field keeps its cast (`usage::integer`); conditions compare
            // values as they are.
            typed
                .iter()
                .map(|e| expr::compile(e, &mut columns, &mut index))
                .collect::<Result<Vec<_>>>()?
        };
        // Fields a function reads cast (`mean(usage::integer)`): (column, field, type),
        // each added to the scanned batches.
        let mut casts: Vec<(String, String, DataType)> = Vec::new();
        let call_columns: Vec<usize> = calls
            .iter()
            .map(|(_, column)| {
                let (field, cast) = match expr::cast_of(column) {
                    Some((field, t)) => (field, Some(t)),
                    None => (column.as_str(), None),
                };
                // Functions read fields only: on a tag they see no points, as in InfluxDB.
                let name = if is_tag(field) {
                    "\0tag"
                } else if let Some(t) = cast {
                    column_index(field, &mut columns, &mut index);
                    if !casts.iter().any(|c| c.0 == *column) {
                        casts.push((column.clone(), field.to_owned(), t));
                    }
                    column.as_str()
                } else {
                    field
                };
                column_index(name, &mut columns, &mut index)
            })
            .collect();
        let aux_columns: Vec<usize> = aux
            .iter()
            .map(|name| column_index(name, &mut columns, &mut index))
            .collect();
        let top_tag_columns: Vec<Vec<usize>> = calls
            .iter()
            .map(|(f, _)| match f {
                Func::Top(tags, _) | Func::Bottom(tags, _) => tags
                    .iter()
                    .map(|t| column_index(t, &mut columns, &mut index))
                    .collect(),
                _ => Vec::new(),
            })
            .collect();

        let mut projection = columns.clone();
        projection.push("time".to_owned());
        let request = ScanRequest {
            time_range: (range.has_start || range.has_end).then_some((range.start, range.end)),
            tag_matches,
            projection: Some(projection),
            // The scan stops as soon as its rows would not fit in what the query may
            // still take, instead of reading them all before the budget is asked.
            max_bytes: budget.memory_left(),
            field_filters: expr::field_filters(&residual, is_tag),
            // Rows are grouped by their tags here, and each group's put in time order.
            any_order: true,
        };
        // `ORDER BY time DESC LIMIT n` over raw points without conditions needs only the
        // newest n (+ offset) points of each series: ask storage for just those. If a
        // point had to be skipped (all its selected values null), older points may be
        // needed after all, and the table is read in full.
        let newest = match (aggregate, stmt.is_descending(), stmt.limit, input) {
            (false, true, Some(l), Input::Stored(..)) if condition.is_empty() => {
                Some((l as usize).saturating_add(stmt.offset.unwrap_or(0) as usize))
            }
            _ => None,
        };
        let mut per_series = newest;
        // With one group, `GROUP BY time` and a limit, only the buckets the limit keeps
        // need rows; if they have none, the full range is read after all (it decides
        // whether the series exists).
        let mut narrowed = if group_tags.is_empty() && aggregate {
            limited_bucket_range(stmt, range, now, &calls)
        } else {
            None
        };
        // The series of one scan's rows over `range`: grouped, then aggregated or
        // projected; and whether no raw point was skipped for having only nulls.
        // `counted`: the series counted toward `--max-select-series` already, and which
        // groups are among them (a series an earlier chunk found).
        let build =
            |scanned: &ScanResult, range: TimeRange, counted: Counted<'_>, set: &CallSet<'_>| {
                let cast_batches: Vec<RecordBatch>;
                let batches = if casts.is_empty() {
                    &scanned.batches
                } else {
                    cast_batches = scanned
                        .batches
                        .iter()
                        .map(|b| super::view::with_casts(b, &casts))
                        .collect::<std::result::Result<_, _>>()
                        .map_err(|e| Error::Invalid(format!("casting a field: {e}")))?;
                    &cast_batches
                };
                let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
                let bytes: usize = batches.iter().map(RecordBatch::get_array_memory_size).sum();
                // The scan and the (batch, row) index of every row, held while this table's
                // series are built.
                let scan_bytes = bytes + rows * std::mem::size_of::<(u32, u32)>() * 2;
                budget.grow(scan_bytes)?;
                let _scan = Held(budget, scan_bytes);
                // After the memory: rows read again in smaller chunks count once.
                budget.add_points(rows as u64)?;
                let views: Vec<BatchView<'_>> = batches
                    .iter()
                    .filter_map(|b: &RecordBatch| BatchView::new(b, &columns))
                    .collect();
                let ctx = SeriesContext {
                    stmt,
                    buckets,
                    range,
                    now,
                    views: &views,
                    calls: set.calls,
                    call_columns: set.columns,
                    top_tag_columns: set.top_tags,
                    aux_columns: &aux_columns,
                    budget,
                };
                let groups = group_rows(&views, &condition, group_tags.len(), counted, budget)?;
                ctx.groups_values(groups, aggregate, set.exprs, &raw_fields)
            };
        let chunking = Chunking::of(stmt, buckets, &calls, &agg_exprs, range, aggregate);
        let statement_calls = CallSet {
            calls: &calls,
            columns: &call_columns,
            top_tags: &top_tag_columns,
            exprs: &agg_exprs,
        };
        // What each chunk computes: a combined aggregate's `mean()` as a sum and a count.
        let combine = chunking.as_ref().and_then(|c| c.combine.as_ref());
        let chunk_reads = combine.map(|c| c.chunk_reads(&call_columns, &top_tag_columns));
        let chunk_set = match (combine, &chunk_reads) {
            (Some(c), Some((columns, top_tags, exprs))) => CallSet {
                calls: &c.calls,
                columns,
                top_tags,
                exprs,
            },
            _ => statement_calls,
        };
        // The answer over `request`'s range read in time chunks (see `Chunking`) cut
        // inside `data` (the table's earliest and latest times), each cut again while it
        // does not fit.
        // `why` says what showed the rows would not fit, for the log.
        let by_chunks = async |(db, chunking, data): (&str, &Chunking, (i64, i64)),
                               parts: i64,
                               series_before: usize,
                               why: &str| {
            let mut merged: BTreeMap<Vec<String>, Vec<Vec<Value>>> = BTreeMap::new();
            // The rows kept so far, counted until they are handed over.
            let mut kept = Held(budget, 0);
            let mut pending: std::collections::VecDeque<(i64, i64)> =
                chunking.split(data, chunking.lo, chunking.hi, parts).into();
            let (planned, mut read) = (pending.len(), 0);
            while let Some((start, end)) = pending.pop_front() {
                budget.check()?;
                let chunk = ScanRequest {
                    time_range: Some((start, end)),
                    max_bytes: budget.memory_left(),
                    ..request.clone()
                };
                let range = TimeRange {
                    start,
                    end,
                    has_start: true,
                    has_end: true,
                };
                let built = match storage.scan(db, &table.name, &chunk).await {
                    Ok(scanned) => {
                        let counted = Counted {
                            before: series_before + merged.len(),
                            known: &|key| merged.contains_key(key),
                        };
                        build(&scanned, range, counted, &chunk_set)
                    }
                    Err(e) => Err(budget.scan_failed(e)),
                };
                let out = match built {
                    Ok((out, _)) => out,
                    Err(e @ Error::MemoryLimit { .. }) => {
                        // One bucket (or nanosecond) that does not fit fails the query.
                        let parts = chunking.split(data, start, end, Chunking::PARTS);
                        if parts.len() < 2 {
                            return Err(e);
                        }
                        for part in parts.into_iter().rev() {
                            pending.push_front(part);
                        }
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                read += 1;
                for (key, values) in out {
                    // An aggregate without `GROUP BY time`: one row per series and chunk,
                    // folded into the series' row.
                    if let (Some(combine), Some(row)) = (
                        &chunking.combine,
                        merged.get_mut(&key).and_then(|rows| rows.first_mut()),
                    ) {
                        for next in values {
                            combine.fold(row, next);
                        }
                        continue;
                    }
                    let width = values.first().map_or(0, Vec::len);
                    let bytes =
                        values.len() * (ROW_OVERHEAD_BYTES + width * std::mem::size_of::<Value>());
                    budget.grow(bytes)?;
                    kept.1 += bytes;
                    merged.entry(key).or_default().extend(values);
                }
            }
            tracing::debug!(
                table = %table.name,
                planned,
                read,
                why,
                "influxql select read in time chunks"
            );
            Ok::<_, Error>(chunking.fill_gaps(merged, &agg_exprs, &calls))
        };
        let table_groups = loop {
            let mut request = request.clone();
            if let Some(r) = narrowed {
                request.time_range = Some(r);
            }
            budget.check()?;
            let cached = match (input, per_series, narrowed, &last_fields) {
                (Input::Stored(db, _), None, None, Some(fields)) if condition.is_empty() => {
                    storage.scan_last_values(db, &table.name, &request, fields)
                }
                _ => None,
            };
            // A whole scan of a stored table that does not fit in the query's memory is
            // read in time chunks instead, where that gives the same answer.
            let chunked = match (input, &chunking, cached.is_none() && per_series.is_none()) {
                (Input::Stored(db, _), Some(chunking), true) if narrowed.is_none() => storage
                    .scan_extent(db, &table.name, &request)?
                    .and_then(|extent| {
                        let data = time_chunks::data_between(request.time_range, &extent)?;
                        Some(((db.as_str(), chunking, data), extent.bytes))
                    }),
                _ => None,
            };
            // Rows the estimate says cannot fit are read in chunks at once, without a
            // first try at the whole range.
            if let Some((chunked, bytes)) = chunked {
                let parts = chunked.1.parts_for(bytes, budget.memory_left());
                if parts > 1 {
                    break by_chunks(chunked, parts, all_series.len(), "estimate").await?;
                }
            }
            let chunked = chunked.map(|(chunked, _)| chunked);
            let scanned = match (cached, input, per_series) {
                (Some(rows), _, _) => rows,
                (None, Input::Stored(db, _), Some(k)) => storage
                    .scan_last(db, &table.name, &request, k)
                    .await
                    .map_err(|e| budget.scan_failed(e))?,
                (None, Input::Stored(db, _), None) => {
                    match (storage.scan(db, &table.name, &request).await, chunked) {
                        (Ok(scanned), _) => scanned,
                        (Err(sluice_storage::Error::ScanTooLarge { .. }), Some(chunked)) => {
                            let why = "scan over the limit";
                            break by_chunks(chunked, Chunking::PARTS, all_series.len(), why)
                                .await?;
                        }
                        (Err(e), _) => return Err(budget.scan_failed(e)),
                    }
                }
                (None, Input::Virtual(v), _) => v.scan(&request)?,
            };
            let counted = Counted {
                before: all_series.len(),
                known: &|_| false,
            };
            let built = build(&scanned, range, counted, &statement_calls);
            let (out, complete) = match (built, chunked) {
                (Err(Error::MemoryLimit { .. }), Some(chunked)) => {
                    drop(scanned);
                    let why = "series over the limit";
                    break by_chunks(chunked, Chunking::PARTS, all_series.len(), why).await?;
                }
                (built, _) => built?,
            };
            if narrowed.is_some() {
                if !out.is_empty() {
                    break out;
                }
                narrowed = None;
                continue;
            }
            if complete || per_series.is_none() {
                break out;
            }
            per_series = None;
        };
        // Every series of the table has the same columns.
        let columns_out: Vec<String> = std::iter::once("time".to_owned())
            .chain(output_names(&fields, &calls))
            .collect();
        for (key, mut values) in table_groups {
            if stmt.is_descending() {
                values.reverse();
            }
            let offset = stmt.offset.unwrap_or(0) as usize;
            let values: Vec<Vec<Value>> = values
                .into_iter()
                .skip(offset)
                .take(stmt.limit.map_or(usize::MAX, |l| l as usize))
                .collect();
            if values.is_empty() {
                continue;
            }
            let width = values.first().map_or(0, Vec::len);
            let bytes = values.len() * (ROW_OVERHEAD_BYTES + width * std::mem::size_of::<Value>());
            budget.grow(bytes)?;
            held.1 += bytes;
            all_series.push(Series {
                name: table.name.clone(),
                tags: group_tags.iter().cloned().zip(key).collect(),
                columns: columns_out.clone(),
                values,
            });
        }
    }
    // `GROUP BY *` over several measurements groups by every tag key of all of them, as
    // InfluxDB 1.x does: a series shows an empty value for a key its measurement lacks.
    if inputs.len() > 1
        && stmt
            .group_by
            .iter()
            .any(|d| matches!(d, Dimension::Wildcard))
    {
        let every_key: BTreeSet<&str> = inputs.iter().flat_map(|i| tags_of(i.info())).collect();
        for series in &mut all_series {
            for key in &every_key {
                if let Err(at) = series.tags.binary_search_by(|(k, _)| k.as_str().cmp(key)) {
                    series.tags.insert(at, ((*key).to_owned(), String::new()));
                }
            }
        }
    }
    // The rows now belong to the caller: `held` gives them back to the budget.
    all_series.sort_by(|a, b| (&a.name, &a.tags).cmp(&(&b.name, &b.tags)));
    if stmt.is_descending() {
        // InfluxDB 1.x walks series backwards too under `ORDER BY time DESC`.
        all_series.reverse();
    }
    let soffset = stmt.soffset.unwrap_or(0) as usize;
    let slimit = stmt.slimit.map_or(usize::MAX, |l| l as usize);
    Ok(all_series.into_iter().skip(soffset).take(slimit).collect())
}

/// How a `SELECT` whose rows do not fit in its memory at once is answered in time
/// chunks, one scan each, when the answer is the same: raw points (each series' rows
/// come out in time order, chunk after chunk), aggregates over `GROUP BY time`
/// buckets cut at bucket boundaries, filled with nulls, a number or not at all (each
/// bucket is computed from one chunk's rows; `fill(previous)`, `fill(linear)` and
/// `integral()` look across buckets), or aggregates without `GROUP BY time` that
/// combine across chunks (see [`Combine`]). Filled buckets need the range's start and
/// end; raw points, `fill(none)` buckets and combined aggregates are read over the
/// table's times where the range has no start or end.
struct Chunking {
    /// The range read, `[lo, hi)`: the query's, open sides at the ends of time.
    lo: i64,
    hi: i64,
    /// `GROUP BY time` buckets: chunks start at bucket starts.
    buckets: Option<Buckets>,
    fill: Fill,
    /// How the chunks' rows of a series combine, for an aggregate without `GROUP BY
    /// time`.
    combine: Option<Combine>,
}

impl Chunking {
    /// Parts a range is split into when it does not fit.
    const PARTS: i64 = 4;

    /// `buckets`: the statement's `GROUP BY time` buckets.
    fn of(
        stmt: &SelectStatement,
        buckets: Option<Buckets>,
        calls: &[(Func, String)],
        exprs: &[AggExpr],
        range: TimeRange,
        aggregate: bool,
    ) -> Option<Chunking> {
        if range.end <= range.start {
            return None;
        }
        let fill = stmt.fill.unwrap_or(Fill::Null);
        let buckets = if aggregate {
            let Some(buckets) = buckets else {
                return Some(Chunking {
                    lo: range.start,
                    hi: range.end,
                    buckets: None,
                    fill,
                    combine: Some(Combine::of(stmt, calls, exprs, range)?),
                });
            };
            let multi = calls.iter().any(|(f, _)| f.is_multi_row());
            let fills = match fill {
                Fill::None => true,
                Fill::Null | Fill::Integer(_) | Fill::Float(_) => !multi,
                Fill::Previous | Fill::Linear => false,
            };
            if !fills || calls.iter().any(|(f, _)| matches!(f, Func::Integral(_))) {
                return None;
            }
            // Filled buckets start at the earliest row the condition keeps without a
            // start, and stop at now's bucket without an end.
            if fill != Fill::None && !(range.has_start && range.has_end) {
                return None;
            }
            Some(buckets)
        } else {
            None
        };
        Some(Chunking {
            lo: range.start,
            hi: range.end,
            buckets,
            fill,
            combine: None,
        })
    }

    /// How many parts to read a scan of about `bytes` (storage's estimate) in, so that
    /// each takes about half of `memory_left` (the series built from it need the rest);
    /// 1 when it fits.
    fn parts_for(&self, bytes: u64, memory_left: Option<usize>) -> i64 {
        let Some(left) = memory_left else { return 1 };
        ((bytes as f64 / (left.max(1) as f64 / 2.0)).ceil() as i64).max(1)
    }

    /// `[start, end)` cut into up to `parts` consecutive parts, at bucket starts
    /// inside `data` (see [`time_chunks::cut`]).
    fn split(&self, data: (i64, i64), start: i64, end: i64, parts: i64) -> Vec<(i64, i64)> {
        time_chunks::cut(start, end, data, parts, self.buckets)
    }

    /// The series the chunks built, each filled over the whole range: a series a chunk
    /// had no rows of gets that chunk's buckets as `fill` makes empty ones.
    fn fill_gaps(
        &self,
        merged: BTreeMap<Vec<String>, Vec<Vec<Value>>>,
        exprs: &[AggExpr],
        calls: &[(Func, String)],
    ) -> Vec<(Vec<String>, Vec<Vec<Value>>)> {
        if let Some(combine) = &self.combine {
            return merged
                .into_iter()
                .map(|(key, mut rows)| {
                    rows.iter_mut().for_each(|row| combine.finish(row));
                    (key, rows)
                })
                .collect();
        }
        let Some(buckets) = self.buckets.filter(|_| self.fill != Fill::None) else {
            return merged.into_iter().collect();
        };
        merged
            .into_iter()
            .map(|(key, rows)| {
                let mut filled = Vec::new();
                let mut rows = rows.into_iter().peekable();
                for start in buckets.starts(self.lo, self.hi - 1) {
                    match rows.next_if(|r| matches!(r.first(), Some(Value::Time(t)) if *t == start))
                    {
                        Some(row) => filled.push(row),
                        None => filled.extend(apply_fill(
                            vec![(start, vec![None; exprs.len()])],
                            self.fill,
                            exprs,
                            calls,
                            false,
                        )),
                    }
                }
                (key, filled)
            })
            .collect()
    }
}

/// The series a statement counted toward `--max-select-series` before a scan's rows are
/// grouped: how many, and which group keys are among them (a statement read in time
/// chunks meets a series again in each chunk, and counts it once).
#[derive(Clone, Copy)]
struct Counted<'a> {
    before: usize,
    known: &'a dyn Fn(&[String]) -> bool,
}

/// The calls a series build computes, the columns they read (and `top()`'s tags), and
/// the expressions over their results: the statement's, or what each chunk of a
/// combined aggregate computes (see [`Combine`]).
#[derive(Clone, Copy)]
struct CallSet<'a> {
    calls: &'a [(Func, String)],
    columns: &'a [usize],
    top_tags: &'a [Vec<usize>],
    exprs: &'a [AggExpr],
}

/// An aggregate without `GROUP BY time` answered in time chunks: each chunk gives a
/// series at most one row, `[time, call results...]`, and the rows of a series fold
/// into one, column by column. Counts and sums add; a mean is computed as a sum and a
/// count, divided at the end; minimums and maximums keep the extreme value, the earlier
/// chunk's on a tie, as a single pass keeps the earliest point; a spread is computed as
/// a minimum and a maximum, subtracted at the end; a standard deviation is computed
/// with its field's mean and count, and two chunks' are pooled (the sums of squared
/// deviations add, plus what the means' distance adds). A lone `first()` keeps
/// the earliest chunk's row and a lone `last()` the latest's, their times being the
/// points'.
///
/// Only statements whose every field is a plain call of those qualify (no arithmetic
/// over calls, no `LIMIT`, `OFFSET`, `SLIMIT` or `SOFFSET`, which act on each chunk's
/// rows), with `first()` and `last()` only alone (beside other calls a row's time is
/// the range's start, and which chunk's point is first or last is lost).
struct Combine {
    /// What each chunk computes, in order: the statement's calls with every `mean()` a
    /// `sum()` and every `spread()` a `min()`, then the hidden calls (see `hidden`).
    calls: Vec<(Func, String)>,
    /// The statement's call whose field each hidden call reads, in order: a `count()`
    /// for each `mean()`, a `max()` for each `spread()`, a `mean()` and a `count()` for
    /// each `stddev()`.
    hidden: Vec<usize>,
    /// Per `mean()`: its column among the calls, and the column of its count.
    means: Vec<(usize, usize)>,
    /// Per `spread()`: its column (a `min()` in each chunk), and the column of its
    /// `max()`.
    spreads: Vec<(usize, usize)>,
    /// Per `stddev()`: its column, and the columns of its field's mean and count.
    stddevs: Vec<(usize, usize, usize)>,
    /// The time of the combined row: the range's start (0 without one), or `None` for a
    /// lone selector, whose row has its point's time.
    time: Option<i64>,
}

impl Combine {
    fn of(
        stmt: &SelectStatement,
        calls: &[(Func, String)],
        exprs: &[AggExpr],
        range: TimeRange,
    ) -> Option<Combine> {
        let plain = exprs.len() == calls.len()
            && exprs
                .iter()
                .enumerate()
                .all(|(k, e)| matches!(e, AggExpr::Call(i) if *i == k));
        let unlimited = stmt.limit.is_none()
            && stmt.offset.is_none()
            && stmt.slimit.is_none()
            && stmt.soffset.is_none();
        let lone = matches!(
            calls,
            [(Func::Min | Func::Max | Func::First | Func::Last, _)]
        );
        let foldable = calls.iter().all(|(f, _)| {
            matches!(
                f,
                Func::Count
                    | Func::Sum
                    | Func::Mean
                    | Func::Min
                    | Func::Max
                    | Func::Spread
                    | Func::Stddev
            )
        });
        if !plain || !unlimited || calls.is_empty() || !(lone || foldable) {
            return None;
        }
        let mut combine = Combine {
            calls: calls.to_vec(),
            hidden: Vec::new(),
            means: Vec::new(),
            spreads: Vec::new(),
            stddevs: Vec::new(),
            time: (!lone).then_some(if range.has_start { range.start } else { 0 }),
        };
        for (k, (func, _)) in calls.iter().enumerate() {
            match func {
                Func::Mean => {
                    combine.calls[k].0 = Func::Sum;
                    let count = combine.hide(k, Func::Count);
                    combine.means.push((k, count));
                }
                Func::Spread => {
                    combine.calls[k].0 = Func::Min;
                    let max = combine.hide(k, Func::Max);
                    combine.spreads.push((k, max));
                }
                Func::Stddev => {
                    let mean = combine.hide(k, Func::Mean);
                    let count = combine.hide(k, Func::Count);
                    combine.stddevs.push((k, mean, count));
                }
                _ => {}
            }
        }
        Some(combine)
    }

    /// Adds a hidden call of `func` over the field of the statement's call `of`;
    /// returns its column.
    fn hide(&mut self, of: usize, func: Func) -> usize {
        self.hidden.push(of);
        let field = self.calls[of].1.clone();
        self.calls.push((func, field));
        self.calls.len() - 1
    }

    /// What the chunks' calls (see `calls`) read, from the statement's `columns` and
    /// `top_tags`: those, then each mean's column again for its count (no tags); and the
    /// expressions giving each call as it is.
    fn chunk_reads(
        &self,
        columns: &[usize],
        top_tags: &[Vec<usize>],
    ) -> (Vec<usize>, Vec<Vec<usize>>, Vec<AggExpr>) {
        let mut columns = columns.to_vec();
        let mut top_tags = top_tags.to_vec();
        for &of in &self.hidden {
            columns.push(columns[of]);
            top_tags.push(Vec::new());
        }
        let exprs = (0..self.calls.len()).map(AggExpr::Call).collect();
        (columns, top_tags, exprs)
    }

    /// Folds `next`, a later chunk's row of the series, into `row`.
    fn fold(&self, row: &mut [Value], next: Vec<Value>) {
        if self.time.is_none() {
            // A lone selector: the row is its point.
            let better = match (&self.calls[0].0, row.get(1), next.get(1)) {
                (_, _, None | Some(Value::Null)) => false,
                (_, None | Some(Value::Null), _) => true,
                (Func::First, _, _) => false,
                (Func::Last, _, _) => true,
                (Func::Max, Some(a), Some(b)) => compare(b, a) == Some(Ordering::Greater),
                (_, Some(a), Some(b)) => compare(b, a) == Some(Ordering::Less),
            };
            if better {
                row.clone_from_slice(&next);
            }
            return;
        }
        // A standard deviation's three columns fold together, with the counts before
        // they add.
        let mut pooled = vec![false; self.calls.len()];
        for &(sd, mean, count) in &self.stddevs {
            let at = |k: usize| 1 + k;
            let (a, b) = (
                Deviation::of(&row[at(sd)], &row[at(mean)], &row[at(count)]),
                Deviation::of(&next[at(sd)], &next[at(mean)], &next[at(count)]),
            );
            if let Some(pooled) = Deviation::pool(a, b) {
                row[at(sd)] = pooled.stddev();
                row[at(mean)] = Value::Float(pooled.mean);
                row[at(count)] = Value::Integer(pooled.n as i64);
            }
            for k in [sd, mean, count] {
                pooled[k] = true;
            }
        }
        let funcs = self.calls.iter().map(|(f, _)| f);
        let columns = funcs.zip(&mut row[1..]).zip(&next[1..]).zip(pooled);
        for (((func, into), value), pooled) in columns {
            if value.is_null() || pooled {
                continue;
            }
            let take = match func {
                _ if into.is_null() => true,
                Func::Count | Func::Sum => {
                    *into = add(into, value);
                    false
                }
                Func::Max => compare(value, into) == Some(Ordering::Greater),
                _ => compare(value, into) == Some(Ordering::Less),
            };
            if take {
                *into = value.clone();
            }
        }
    }

    /// The combined row as the statement gives it: its time, each mean its sum over its
    /// count, the counts dropped.
    fn finish(&self, row: &mut Vec<Value>) {
        if let (Some(time), Some(first)) = (self.time, row.first_mut()) {
            *first = Value::Time(time);
        }
        for &(mean, count) in &self.means {
            let (sum, n) = (&row[1 + mean], &row[1 + count]);
            row[1 + mean] = match (sum.as_f64(), n.as_f64()) {
                (Some(sum), Some(n)) if n > 0.0 => Value::Float(sum / n),
                _ => Value::Null,
            };
        }
        for &(min, max) in &self.spreads {
            row[1 + min] = match (&row[1 + min], &row[1 + max]) {
                (Value::Integer(a), Value::Integer(b)) => Value::Integer(b.wrapping_sub(*a)),
                (Value::Unsigned(a), Value::Unsigned(b)) => Value::Unsigned(b.wrapping_sub(*a)),
                (a, b) => match (a.as_f64(), b.as_f64()) {
                    (Some(a), Some(b)) => Value::Float(b - a),
                    _ => Value::Null,
                },
            };
        }
        // The statement's calls: the hidden ones came after them.
        row.truncate(1 + self.calls.len() - self.hidden.len());
    }
}

/// What a standard deviation over some points pools from: their count, mean, and sum
/// of squared deviations from the mean.
#[derive(Debug, Clone, Copy)]
struct Deviation {
    n: f64,
    mean: f64,
    squares: f64,
}

impl Deviation {
    /// From a chunk's `stddev()`, `mean()` and `count()` of a field (a lone point's
    /// standard deviation is null); `None` without points.
    fn of(stddev: &Value, mean: &Value, count: &Value) -> Option<Deviation> {
        let n = count.as_f64().filter(|n| *n > 0.0)?;
        let sd = stddev.as_f64().unwrap_or(0.0);
        Some(Deviation {
            n,
            mean: mean.as_f64()?,
            squares: if n > 1.0 { sd * sd * (n - 1.0) } else { 0.0 },
        })
    }

    /// The points of both (Chan, Golub and LeVeque's pairwise update); `None` when
    /// neither has any.
    fn pool(a: Option<Deviation>, b: Option<Deviation>) -> Option<Deviation> {
        let (a, b) = match (a, b) {
            (Some(a), Some(b)) => (a, b),
            (one, other) => return one.or(other),
        };
        let n = a.n + b.n;
        let delta = b.mean - a.mean;
        Some(Deviation {
            n,
            mean: a.mean + delta * b.n / n,
            squares: a.squares + b.squares + delta * delta * a.n * b.n / n,
        })
    }

    /// The sample standard deviation, as `stddev()` gives it: null for one point.
    fn stddev(&self) -> Value {
        if self.n < 2.0 {
            Value::Null
        } else {
            Value::Float((self.squares / (self.n - 1.0)).sqrt())
        }
    }
}

/// `a + b` for counts and sums, in their type (integers wrap, as InfluxDB's do).
fn add(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Integer(x), Value::Integer(y)) => Value::Integer(x.wrapping_add(*y)),
        (Value::Unsigned(x), Value::Unsigned(y)) => Value::Unsigned(x.wrapping_add(*y)),
        _ => Value::Float(a.as_f64().unwrap_or(0.0) + b.as_f64().unwrap_or(0.0)),
    }
}

/// How two results of `min()` or `max()` compare; integers exactly.
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Integer(x), Value::Integer(y)) => Some(x.cmp(y)),
        (Value::Unsigned(x), Value::Unsigned(y)) => Some(x.cmp(y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// The part of the time range that holds the buckets `LIMIT`/`OFFSET` keep, for an
/// aggregate `GROUP BY time` query whose bucket list is fixed by the range alone: a
/// given start, `fill(null)` or a number, and one row per bucket. `None` when the
/// whole range is needed.
fn limited_bucket_range(
    stmt: &SelectStatement,
    range: TimeRange,
    now: i64,
    calls: &[(Func, String)],
) -> Option<(i64, i64)> {
    let (interval, offset) = stmt.group_by_time()?;
    // Buckets of a zone are not all `interval` long: the whole range is read.
    if stmt.timezone.is_some() {
        return None;
    }
    let limit = stmt.limit?;
    let fill = stmt.fill.unwrap_or(Fill::Null);
    if !range.has_start
        || !matches!(fill, Fill::Null | Fill::Integer(_) | Fill::Float(_))
        || calls.iter().any(|(f, _)| f.is_multi_row())
    {
        return None;
    }
    let kept = i64::try_from(limit.saturating_add(stmt.offset.unwrap_or(0))).ok()?;
    let window = |t: i64| t - (t - offset).rem_euclid(interval);
    let lo = range.start;
    let hi = if range.has_end {
        range.end
    } else {
        now.max(lo.saturating_add(1))
    };
    let first = window(lo);
    let last = window(hi - 1);
    let span = kept.checked_mul(interval)?;
    if stmt.is_descending() {
        let from = last.checked_sub(span - interval)?;
        (from > first).then_some((from, range.end))
    } else {
        let to = first.checked_add(span)?;
        (to <= last).then_some((range.start, to))
    }
}

fn column_index(
    name: &str,
    columns: &mut Vec<String>,
    index: &mut HashMap<String, usize>,
) -> usize {
    *index.entry(name.to_owned()).or_insert_with(|| {
        columns.push(name.to_owned());
        columns.len() - 1
    })
}

/// `e` with every reference whose `::type` the name does not have made a reference to
/// no column: `host::field` is a field named `host` (null where `host` is a tag), and
/// `usage::tag` a tag, as InfluxDB 1.x reads them.
fn typed_refs(e: &Expr, is_tag: &dyn Fn(&str) -> bool) -> Expr {
    match e {
        Expr::VarRef(v) => {
            let mismatched = match v.data_type {
                None => false,
                Some(DataType::Tag) => !is_tag(&v.name),
                Some(_) => is_tag(&v.name),
            };
            if mismatched {
                Expr::var("\0none")
            } else {
                e.clone()
            }
        }
        Expr::Binary { op, lhs, rhs } => {
            Expr::binary(typed_refs(lhs, is_tag), *op, typed_refs(rhs, is_tag))
        }
        Expr::Call(c) => Expr::Call(sluice_influxql::Call {
            name: c.name.clone(),
            args: c.args.iter().map(|a| typed_refs(a, is_tag)).collect(),
        }),
        other => other.clone(),
    }
}

/// Whether `e` reads a field (a name `is_field` holds, not typed `::tag`).
fn refers_to_a_field(e: &Expr, is_field: &dyn Fn(&str) -> bool) -> bool {
    let mut found = false;
    e.walk(&mut |e| {
        if let Expr::VarRef(v) = e {
            found |= v.data_type != Some(DataType::Tag) && is_field(&v.name);
        }
    });
    found
}

/// Drops `::type` casts from a condition, which compares the values as stored.
fn strip_casts(e: &Expr) -> Expr {
    match e {
        Expr::VarRef(v) => Expr::var(v.name.clone()),
        Expr::Binary { op, lhs, rhs } => Expr::binary(strip_casts(lhs), *op, strip_casts(rhs)),
        other => other.clone(),
    }
}

/// The names of the output columns after `time`, as InfluxDB names them (`max`, `max_1`;
/// see [`column_names`]), with the tag columns of `top`/`bottom` after their column.
fn output_names(fields: &[OutField], calls: &[(Func, String)]) -> Vec<String> {
    // The tags `top(usage, host, 2)` answers with come right after its column (none
    // where it is inside an expression, as in InfluxDB).
    let tags: &[String] = match calls {
        [(Func::Top(tags, _) | Func::Bottom(tags, _), _)] => tags,
        _ => &[],
    };
    column_names(fields.iter().flat_map(|f| {
        let beside = if is_top_or_bottom(&f.expr) { tags } else { &[] };
        std::iter::once((f.name.as_str(), f.aliased))
            .chain(beside.iter().map(|t| (t.as_str(), false)))
    }))
}

/// The names of a statement's columns from what each is called and whether that is its
/// alias, as InfluxDB 1.x names them: an alias is kept as written, even when another
/// column has it too; a generated name that is taken (by an alias, or by an earlier
/// column) becomes `name_1`, `name_2`, … (the first of those not taken).
pub(super) fn column_names<'a>(
    columns: impl Iterator<Item = (&'a str, bool)> + Clone,
) -> Vec<String> {
    // How many columns took each name so far: the next suffix a generated name tries.
    let mut taken: HashMap<String, usize> = columns
        .clone()
        .filter(|&(_, aliased)| aliased)
        .map(|(name, _)| (name.to_owned(), 1))
        .collect();
    columns
        .map(|(name, aliased)| {
            if aliased {
                return name.to_owned();
            }
            let resolved = match taken.get(name) {
                None => name.to_owned(),
                Some(&count) => {
                    let n = (count..)
                        .find(|n| !taken.contains_key(&format!("{name}_{n}")))
                        .expect("some suffix is free");
                    taken.insert(name.to_owned(), n + 1);
                    format!("{name}_{n}")
                }
            };
            *taken.entry(resolved.clone()).or_insert(0) += 1;
            resolved
        })
        .collect()
}

/// Whether `e` is a call of `top()` or `bottom()` itself.
fn is_top_or_bottom(e: &Expr) -> bool {
    matches!(e, Expr::Call(c) if c.name == "top" || c.name == "bottom")
}

/// The `GROUP BY` tag keys for `table`, sorted (InfluxDB orders series tags by key).
fn group_tags(dims: &[Dimension], table: &TableInfo) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for d in dims {
        match d {
            Dimension::Time { .. } => {}
            Dimension::Tag(t) => out.push(t.clone()),
            Dimension::Wildcard => out.extend(tags_of(table).map(str::to_owned)),
            Dimension::Regex(re) => {
                let re = expr::compile_regex(&re.0)?;
                out.extend(tags_of(table).filter(|t| re.is_match(t)).map(str::to_owned));
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Expands wildcards and regexes in the projection over the union of the sources'
/// columns, naming each field as InfluxDB does.
fn expand_fields(stmt: &SelectStatement, tables: &[&TableInfo]) -> Result<Vec<OutField>> {
    let mut all_fields: BTreeMap<String, FieldType> = BTreeMap::new();
    let mut all_tags: BTreeMap<String, ()> = BTreeMap::new();
    for t in tables {
        for (n, ft) in fields_of(t) {
            all_fields.entry(n.to_owned()).or_insert(ft);
        }
        for n in tags_of(t) {
            all_tags.insert(n.to_owned(), ());
        }
    }
    let grouped: Vec<&str> = stmt
        .group_by
        .iter()
        .filter_map(|d| match d {
            Dimension::Tag(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    let group_all = stmt
        .group_by
        .iter()
        .any(|d| matches!(d, Dimension::Wildcard));
    let mut out = Vec::new();
    for f in &stmt.fields {
        match &f.expr {
            Expr::Wildcard(kind) => {
                let mut names: Vec<String> = Vec::new();
                if *kind != Some(DataType::Tag) {
                    names.extend(all_fields.keys().cloned());
                }
                if *kind != Some(DataType::Field) && !group_all {
                    names.extend(
                        all_tags
                            .keys()
                            .filter(|t| !grouped.contains(&t.as_str()))
                            .cloned(),
                    );
                }
                names.sort();
                names.dedup();
                out.extend(names.into_iter().map(|n| OutField {
                    expr: Expr::var(n.clone()),
                    name: n,
                    aliased: false,
                }));
            }
            Expr::Regex(re) => {
                let re = expr::compile_regex(&re.0)?;
                out.extend(
                    all_fields
                        .keys()
                        .filter(|n| re.is_match(n))
                        .map(|n| OutField {
                            expr: Expr::var(n.clone()),
                            name: n.clone(),
                            aliased: false,
                        }),
                );
            }
            Expr::Call(call)
                if matches!(call.args.first(), Some(Expr::Wildcard(_) | Expr::Regex(_))) =>
            {
                let numeric_only = matches!(
                    call.name.as_str(),
                    "mean"
                        | "sum"
                        | "median"
                        | "spread"
                        | "stddev"
                        | "min"
                        | "max"
                        | "percentile"
                        | "top"
                        | "bottom"
                );
                let re = match &call.args[0] {
                    Expr::Regex(r) => Some(expr::compile_regex(&r.0)?),
                    _ => None,
                };
                for (name, ft) in &all_fields {
                    if re.as_ref().is_some_and(|re| !re.is_match(name)) {
                        continue;
                    }
                    if numeric_only
                        && !matches!(
                            ft,
                            FieldType::Float | FieldType::Integer | FieldType::UInteger
                        )
                    {
                        continue;
                    }
                    let mut c = call.clone();
                    c.args[0] = Expr::var(name.clone());
                    out.push(OutField {
                        name: format!("{}_{name}", call.name),
                        aliased: false,
                        expr: Expr::Call(c),
                    });
                }
            }
            _ => out.push(OutField {
                name: f.column_name(),
                aliased: f.alias.is_some(),
                expr: f.expr.clone(),
            }),
        }
    }
    let names = type_check::Names {
        fields: &all_fields,
        tags: &all_tags,
    };
    for f in &out {
        type_check::check(&f.expr, &names)?;
    }
    Ok(out)
}

/// Rows as (batch, row) per series key (the group tags' values).
type SeriesRows = BTreeMap<Vec<String>, Vec<(u32, u32)>>;

/// Rows (batch, row) per series key (the group tags' values, `""` when absent), in scan
/// order, keeping only rows that satisfy every residual condition. The statement has
/// `counted` series already: past `max-select-series` with the groups found so far that
/// are not among them, grouping stops (a million series are refused when the limit's
/// worth is found, not after every one of them is keyed).
fn group_rows(
    views: &[BatchView<'_>],
    condition: &[Compiled],
    n_group: usize,
    counted: Counted<'_>,
    budget: &Budget,
) -> Result<SeriesRows> {
    let mut new_series = 0;
    let mut ids: HashMap<Vec<String>, usize> = HashMap::new();
    let mut rows: Vec<Vec<(u32, u32)>> = Vec::new();
    let mut ticks = 0;
    for (b, view) in views.iter().enumerate() {
        let mut prev_keys: Vec<i32> = Vec::new();
        let mut prev_id = usize::MAX;
        let mut keys: Vec<i32> = vec![0; n_group];
        for i in 0..view.len {
            budget.tick(&mut ticks)?;
            if !condition.iter().all(|c| expr::matches(c, view, i)) {
                continue;
            }
            for (k, slot) in keys.iter_mut().enumerate() {
                *slot = view.columns[k].tag_key(i);
            }
            // Element by element: a slice comparison calls memcmp for a few i32s.
            if prev_id == usize::MAX || keys.iter().zip(&prev_keys).any(|(a, b)| a != b) {
                let key: Vec<String> = (0..n_group)
                    .map(|k| view.columns[k].tag_str(i).to_owned())
                    .collect();
                prev_id = match ids.entry(key) {
                    Entry::Occupied(id) => *id.get(),
                    Entry::Vacant(slot) => {
                        if !(counted.known)(slot.key()) {
                            new_series += 1;
                            budget.check_series((counted.before + new_series) as u64)?;
                        }
                        rows.push(Vec::new());
                        *slot.insert(rows.len() - 1)
                    }
                };
                prev_keys.clone_from(&keys);
            }
            rows[prev_id].push((b as u32, i as u32));
        }
    }
    // Sorted first, then built in one go: inserting a million keys one by one in no
    // order compared texts down the tree at every insert, a cache miss each.
    let mut out: Vec<_> = ids
        .into_iter()
        .map(|(key, id)| (key, std::mem::take(&mut rows[id])))
        .collect();
    out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(out.into_iter().collect())
}

/// Memory counted against a [`Budget`], given back when dropped.
struct Held<'b>(&'b Budget, usize);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.shrink(self.1);
    }
}

struct SeriesContext<'s, 'v> {
    stmt: &'s SelectStatement,
    /// The statement's `GROUP BY time` buckets.
    buckets: Option<Buckets>,
    range: TimeRange,
    now: i64,
    views: &'v [BatchView<'v>],
    calls: &'s [(Func, String)],
    call_columns: &'s [usize],
    top_tag_columns: &'s [Vec<usize>],
    /// The columns of the fields and tags beside a lone selector ([`AggExpr::Aux`]).
    aux_columns: &'s [usize],
    budget: &'s Budget,
}

impl SeriesContext<'_, '_> {
    /// The values of each group (oldest first), and whether no raw point was skipped for
    /// having only null selected values.
    #[expect(
        clippy::type_complexity,
        reason = "one use: per group, its rows' values and whether any row was skipped"
    )]
    fn groups_values(
        &self,
        groups: BTreeMap<Vec<String>, Vec<(u32, u32)>>,
        aggregate: bool,
        agg_exprs: &[AggExpr],
        raw_fields: &[Compiled],
    ) -> Result<(Vec<(Vec<String>, Vec<Vec<Value>>)>, bool)> {
        let views = self.views;
        let global_min = groups
            .values()
            .flat_map(|rows| {
                rows.iter()
                    .map(|&(b, r)| views[b as usize].time(r as usize))
            })
            .min();
        let mut complete = true;
        let mut out = Vec::with_capacity(groups.len());
        // Rows built so far, counted against the memory budget as they are made and
        // given back at the end (the caller counts what it keeps).
        let mut built = Held(self.budget, 0);
        for (key, rows) in groups {
            self.budget.check()?;
            let values = if aggregate {
                self.aggregate_rows(&rows, agg_exprs, global_min)?
            } else {
                let (values, skipped) = self.raw_rows(rows, raw_fields)?;
                complete &= !skipped;
                values
            };
            let width = values.first().map_or(0, Vec::len);
            let bytes = values.len() * (ROW_OVERHEAD_BYTES + width * std::mem::size_of::<Value>());
            self.budget.grow(bytes)?;
            built.1 += bytes;
            if !values.is_empty() {
                out.push((key, values));
            }
        }
        Ok((out, complete))
    }

    /// Raw points of one series, oldest first; rows whose selected values are all null
    /// are left out, as InfluxDB does (the flag says whether any was).
    fn raw_rows(
        &self,
        mut rows: Vec<(u32, u32)>,
        fields: &[Compiled],
    ) -> Result<(Vec<Vec<Value>>, bool)> {
        let views = self.views;
        let time = |&(b, r): &(u32, u32)| views[b as usize].time(r as usize);
        rows.sort_by_key(time);
        // Apply order and limits before building values: only the rows kept are built.
        let desc = self.stmt.is_descending();
        let want = self
            .stmt
            .limit
            .map(|l| l as usize + self.stmt.offset.unwrap_or(0) as usize);
        let build = |row: &(u32, u32)| -> Option<Vec<Value>> {
            let view = &views[row.0 as usize];
            let i = row.1 as usize;
            let values: Vec<V<'_>> = fields.iter().map(|f| expr::eval(f, view, i)).collect();
            if values.iter().all(|v| v.is_null()) {
                return None;
            }
            let mut r = Vec::with_capacity(values.len() + 1);
            r.push(Value::Time(view.time(i)));
            r.extend(values.into_iter().map(V::to_value));
            Some(r)
        };
        let mut out = Vec::new();
        let ordered: Box<dyn Iterator<Item = &(u32, u32)>> = if desc {
            Box::new(rows.iter().rev())
        } else {
            Box::new(rows.iter())
        };
        let mut skipped = false;
        let mut ticks = 0;
        // Counted as built: the caller counts the series as a whole afterwards.
        let row_bytes = ROW_OVERHEAD_BYTES + (fields.len() + 1) * std::mem::size_of::<Value>();
        let mut building = Held(self.budget, 0);
        for row in ordered {
            self.budget.tick(&mut ticks)?;
            if ticks == 0 {
                let bytes = row_bytes * crate::limits::CHECK_EVERY as usize;
                self.budget.grow(bytes)?;
                building.1 += bytes;
            }
            match build(row) {
                Some(r) => out.push(r),
                None => skipped = true,
            }
            if want.is_some_and(|w| out.len() >= w) {
                break;
            }
        }
        if desc {
            // Callers reverse for DESC; hand rows back oldest first.
            out.reverse();
        }
        Ok((out, skipped))
    }

    /// Aggregate rows of one series: one per bucket (or one in all without `GROUP BY
    /// time`), filled as `fill()` asks; several per bucket for multi-row functions.
    fn aggregate_rows(
        &self,
        rows: &[(u32, u32)],
        exprs: &[AggExpr],
        global_min: Option<i64>,
    ) -> Result<Vec<Vec<Value>>> {
        let views = self.views;
        let group_time = self.buckets;
        // Rows by bucket start (a stable sort, so each bucket keeps the rows' order),
        // then the [start, end) run of each bucket.
        let window = |t: i64| group_time.map_or(i64::MIN, |b| b.start(t));
        // The bucket of the row before, reused while rows stay in it (a series' rows
        // ascend in time): one division per bucket rather than per row.
        let mut last: Option<(i64, i64)> = None;
        let mut bucket_of = |t: i64| match (last, group_time) {
            (Some((start, end)), _) if start <= t && t < end => start,
            (_, Some(buckets)) => {
                let start = buckets.start(t);
                last = Some((start, buckets.end(t)));
                start
            }
            (_, None) => i64::MIN,
        };
        let mut keyed: Vec<(i64, (u32, u32))> = rows
            .iter()
            .map(|&(b, r)| (bucket_of(views[b as usize].time(r as usize)), (b, r)))
            .collect();
        if !keyed.is_sorted_by_key(|k| k.0) {
            keyed.sort_by_key(|k| k.0);
        }
        let sorted_rows: Vec<(u32, u32)> = keyed.iter().map(|k| k.1).collect();
        let mut runs: Vec<(i64, usize, usize)> = Vec::new();
        for (i, (start, _)) in keyed.iter().enumerate() {
            match runs.last_mut() {
                Some(run) if run.0 == *start => run.2 = i + 1,
                _ => runs.push((*start, i, i + 1)),
            }
        }
        let mut fill = self.stmt.fill.unwrap_or(Fill::Null);
        // `integral` reports only the buckets its stream emitted: nothing is filled.
        let only_integrals = self
            .calls
            .iter()
            .all(|(f, _)| matches!(f, Func::Integral(_)));
        if group_time.is_some() && only_integrals {
            fill = Fill::None;
        }
        // The buckets to report.
        let mut capped_with_rows = false;
        let starts: Vec<i64> = match group_time {
            None => vec![i64::MIN],
            Some(_) if fill == Fill::None => runs.iter().map(|r| r.0).collect(),
            Some(buckets) => {
                let interval = buckets.interval;
                // Without a start, each series' buckets start at its first point's, as
                // InfluxDB 1.x fills them.
                let lo = if self.range.has_start {
                    self.range.start
                } else {
                    runs.first()
                        .map_or(global_min.unwrap_or(self.now), |run| run.0)
                };
                let hi = if self.range.has_end {
                    self.range.end
                } else {
                    self.now.max(lo.saturating_add(1))
                };
                let mut first = window(lo);
                let last = window(hi - 1);
                // In a zone, a day or two may be shorter than the interval.
                let mut n = (last - first) / interval + if buckets.even() { 1 } else { 2 };
                // Only the buckets `LIMIT` keeps (the first, or the last under `DESC`)
                // are made where the others would be dropped unseen: filled with nulls
                // or a number. `GROUP BY time(1m) LIMIT 10` without a start then reads
                // ten buckets, not every minute since the earliest point.
                let kept = self
                    .stmt
                    .limit
                    .filter(|_| {
                        buckets.even()
                            && matches!(fill, Fill::Null | Fill::Integer(_) | Fill::Float(_))
                    })
                    .filter(|_| !self.calls.iter().any(|(f, _)| f.is_multi_row()))
                    .and_then(|l| {
                        i64::try_from(l.saturating_add(self.stmt.offset.unwrap_or(0))).ok()
                    })
                    .filter(|&k| k < n);
                if let Some(k) = kept {
                    if self.stmt.is_descending() {
                        first += (n - k) * interval;
                    }
                    n = k;
                    // The series has rows in the range: it answers, in buckets left out too.
                    capped_with_rows = !runs.is_empty();
                }
                // Counted over all series before anything is allocated: `GROUP BY
                // time(1ns)` over a day stops here.
                self.budget.add_buckets(n as u64)?;
                let bytes = usize::try_from(n)
                    .unwrap_or(usize::MAX)
                    .saturating_mul(std::mem::size_of::<(i64, Vec<Option<Value>>)>() + 8);
                self.budget.grow(bytes)?;
                self.budget.shrink(bytes);
                if buckets.even() {
                    (0..n).map(|k| first + k * interval).collect()
                } else {
                    buckets.starts(lo, hi - 1).collect()
                }
            }
        };
        let lone_selector = self.calls.len() == 1
            && (self.calls[0].0.is_selector() || only_integrals)
            && (matches!(exprs, [AggExpr::Call(0)]) || !self.aux_columns.is_empty());
        let default_time = if self.range.has_start {
            self.range.start
        } else {
            0
        };
        let multi = self.calls.iter().any(|(f, _)| f.is_multi_row());

        // `integral` over `GROUP BY time` streams over the whole series (the area between
        // two buckets' points is cut at the bucket end), so it is computed up front.
        let integrals: Vec<Option<HashMap<i64, f64>>> = self
            .calls
            .iter()
            .enumerate()
            .map(|(k, (f, _))| match (f, group_time) {
                (Func::Integral(unit), Some(buckets)) => {
                    let col = self.call_columns[k];
                    let mut points: Vec<(i64, f64)> = sorted_rows
                        .iter()
                        .filter_map(|&(b, r)| {
                            let view = &views[b as usize];
                            let x = view.columns[col].get(r as usize).as_f64()?;
                            Some((view.time(r as usize), x))
                        })
                        .collect();
                    points.sort_by_key(|p| p.0);
                    let of = |t: i64| (buckets.start(t), buckets.end(t));
                    Some(
                        aggregate::integral(&points, *unit, Some(&of))
                            .into_iter()
                            .collect(),
                    )
                }
                _ => None,
            })
            .collect();
        // Per output column: the value per bucket, or None where the bucket had no input.
        let mut out_rows: Vec<(i64, Vec<Option<Value>>)> = Vec::with_capacity(starts.len());
        let mut next_run = 0;
        let mut points: Vec<Point<'_>> = Vec::new();
        // Where each of `points` is: (view, row).
        let mut point_rows: Vec<(u32, u32)> = Vec::new();
        let mut ticks = 0;
        // Whether any call answered in any bucket: a group none answers (a percentile
        // that selects no point in any bucket) has no rows, not a row of nulls per bucket.
        let mut answered = false;
        for &start in &starts {
            self.budget.tick(&mut ticks)?;
            // Both lists ascend: advance to this bucket's run, if it has one.
            while next_run < runs.len() && runs[next_run].0 < start {
                next_run += 1;
            }
            let bucket_rows = match runs.get(next_run) {
                Some(&(s, from, to)) if s == start => &sorted_rows[from..to],
                _ => &[][..],
            };
            let bucket_time = if group_time.is_some() {
                start
            } else {
                default_time
            };
            let mut outputs: Vec<Option<Output>> = Vec::with_capacity(self.calls.len());
            for (k, (func, _)) in self.calls.iter().enumerate() {
                let col = self.call_columns[k];
                let tag_cols = &self.top_tag_columns[k];
                if let Some(areas) = &integrals[k] {
                    let area = areas.get(&start);
                    outputs.push(area.map(|x| Output::One(Value::Float(*x), None)));
                    continue;
                }
                if tag_cols.is_empty()
                    && self.aux_columns.is_empty()
                    && let Some(out) = numeric_aggregate(func, col, bucket_rows, views)
                {
                    outputs.push(out);
                    continue;
                }
                points.clear();
                point_rows.clear();
                points.extend(bucket_rows.iter().filter_map(|&(b, r)| {
                    let view = &views[b as usize];
                    let i = r as usize;
                    let v = view.columns[col].get(i);
                    (!v.is_null()).then(|| {
                        point_rows.push((b, r));
                        Point {
                            time: view.time(i),
                            value: v,
                            tags: tag_cols
                                .iter()
                                .map(|&c| view.columns[c].tag_str(i))
                                .collect(),
                        }
                    })
                }));
                outputs.push(
                    if points.is_empty() || !aggregate::answers(func, points.len()) {
                        None
                    } else {
                        Some(aggregate::apply(func, &points)?)
                    },
                );
            }
            answered |= outputs.iter().any(Option::is_some);
            // The values beside a lone selector: those of the row it selected (the
            // first point with its time and value), after the calls' outputs.
            if !self.aux_columns.is_empty() {
                let selected = match outputs.first() {
                    Some(Some(Output::One(v, Some(t)))) => {
                        let v = V::from_value(v);
                        points
                            .iter()
                            .position(|p| p.time == *t && p.value == v)
                            .map(|j| point_rows[j])
                    }
                    _ => None,
                };
                for &c in self.aux_columns {
                    outputs.push(selected.map(|(b, r)| {
                        let value = views[b as usize].columns[c].get(r as usize).to_value();
                        Output::One(value, None)
                    }));
                }
            }
            if multi {
                if let Some(Some(Output::Many(rows))) = outputs.first() {
                    let func = &self.calls[0].0;
                    // Each selected point's row, for the values beside `top()` and
                    // `bottom()`; a point is taken once (two may share time and value).
                    let mut taken = if self.aux_columns.is_empty() {
                        Vec::new()
                    } else {
                        vec![false; points.len()]
                    };
                    for (t, v, tags) in rows {
                        let time = if matches!(func, Func::Distinct) {
                            bucket_time
                        } else {
                            *t
                        };
                        // The row's outputs: the call's value alone, then the values
                        // beside it at its point.
                        let mut one: Vec<Option<Output>> =
                            vec![Some(Output::One(v.clone(), Some(*t)))];
                        if !self.aux_columns.is_empty() {
                            let value = V::from_value(v);
                            let at = (0..points.len()).find(|&j| {
                                !taken[j] && points[j].time == *t && points[j].value == value
                            });
                            if let Some(j) = at {
                                taken[j] = true;
                            }
                            for &c in self.aux_columns {
                                one.push(at.map(|j| {
                                    let (b, r) = point_rows[j];
                                    let value = views[b as usize].columns[c].get(r as usize);
                                    Output::One(value.to_value(), None)
                                }));
                            }
                        }
                        let mut row: Vec<Option<Value>> = Vec::with_capacity(exprs.len() + 1);
                        for e in exprs {
                            row.push(eval_agg(e, &one, self.calls));
                            if matches!(e, AggExpr::Call(0)) {
                                row.extend(tags.iter().cloned().map(Some));
                            }
                        }
                        out_rows.push((time, row));
                    }
                } else if group_time.is_some()
                    && fill != Fill::None
                    && !(self.calls[0].0.is_selector() && self.calls[0].0.is_multi_row())
                {
                    // A function that picks several points (`top()`, `bottom()`,
                    // `sample()`) answers nothing for a bucket without points, whatever
                    // `fill()` says, as in InfluxDB.
                    out_rows.push((bucket_time, vec![None; exprs.len()]));
                }
                continue;
            }
            let mut time = bucket_time;
            if lone_selector
                && group_time.is_none()
                && let Some(Some(Output::One(_, Some(t)))) = outputs.first()
            {
                time = *t;
            }
            let row: Vec<Option<Value>> = exprs
                .iter()
                .map(|e| eval_agg(e, &outputs, self.calls))
                .collect();
            if group_time.is_none() && row.iter().all(Option::is_none) {
                continue;
            }
            out_rows.push((time, row));
        }
        if !answered && !capped_with_rows {
            out_rows.clear();
        }
        Ok(apply_fill(
            out_rows,
            fill,
            exprs,
            self.calls,
            self.stmt.is_descending(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_kept_and_generated_names_take_the_first_free_suffix() {
        let names = |cols: &[(&'static str, bool)]| column_names(cols.iter().copied());
        assert_eq!(names(&[("a", true), ("a", true)]), ["a", "a"]);
        assert_eq!(
            names(&[("mean", false), ("mean", false), ("mean_1", true)]),
            ["mean", "mean_2", "mean_1"]
        );
        assert_eq!(
            names(&[("mean", false), ("mean", true)]),
            ["mean_1", "mean"]
        );
        assert_eq!(
            names(&[("x", false), ("x", false), ("x", false), ("x_1", false)]),
            ["x", "x_1", "x_2", "x_1_1"]
        );
    }

    /// The `Combine` of `q` (fields and clauses after `SELECT`) over all time.
    fn combine(q: &str) -> Option<Combine> {
        let stmt = match sluice_influxql::parse_statement(&format!("SELECT {q}")).unwrap() {
            sluice_influxql::Statement::Select(s) => s,
            _ => unreachable!(),
        };
        let mut calls = Vec::new();
        let exprs: Vec<AggExpr> = stmt
            .fields
            .iter()
            .map(|f| to_agg_expr(&f.expr, &mut calls, &mut Vec::new()).unwrap())
            .collect();
        Combine::of(&stmt, &calls, &exprs, TimeRange::ALL)
    }

    /// Folds the chunks' rows `[time, values...]` in order and finishes the row.
    fn folded(c: &Combine, rows: Vec<Vec<Value>>) -> Vec<Value> {
        let mut rows = rows.into_iter();
        let mut row = rows.next().unwrap();
        for next in rows {
            c.fold(&mut row, next);
        }
        c.finish(&mut row);
        row
    }

    #[test]
    fn chunk_rows_combine_as_one_pass_over_all_points_would() {
        use Value::{Float, Integer, Null, Time};
        let c = combine("count(a), sum(a), min(b), max(b), mean(b) FROM m").unwrap();
        // Each chunk: count, sum, min, max, then the mean's sum and hidden count.
        let row = folded(
            &c,
            vec![
                vec![
                    Time(5),
                    Integer(2),
                    Integer(7),
                    Float(1.0),
                    Float(4.0),
                    Float(5.0),
                    Integer(2),
                ],
                vec![Time(9), Null, Null, Null, Null, Null, Null],
                vec![
                    Time(13),
                    Integer(3),
                    Integer(-1),
                    Float(0.5),
                    Float(4.0),
                    Float(7.0),
                    Integer(3),
                ],
            ],
        );
        assert_eq!(
            row,
            vec![
                Time(0),
                Integer(5),
                Integer(6),
                Float(0.5),
                Float(4.0),
                Float(12.0 / 5.0)
            ]
        );
        // Integers wrap as InfluxDB's do.
        let c = combine("sum(a) FROM m").unwrap();
        let row = folded(
            &c,
            vec![vec![Time(1), Integer(i64::MAX)], vec![Time(2), Integer(1)]],
        );
        assert_eq!(row, vec![Time(0), Integer(i64::MIN)]);
    }

    #[test]
    fn spreads_and_standard_deviations_combine_as_one_pass_would() {
        use Value::{Float, Integer, Null, Time};
        // Points by chunk: [1, 2, 4], none, [7], [10, 20]; integers.
        let chunks: [&[i64]; 4] = [&[1, 2, 4], &[], &[7], &[10, 20]];
        let all: Vec<f64> = chunks
            .iter()
            .flat_map(|c| c.iter().map(|&x| x as f64))
            .collect();
        let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
        let stddev = |xs: &[f64]| {
            let m = mean(xs);
            (xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (xs.len() - 1) as f64).sqrt()
        };
        let c = combine("spread(v), stddev(v), count(v) FROM m").unwrap();
        // Each chunk: min (the spread's), stddev, count, then the hidden max, mean and
        // count.
        let rows = chunks
            .iter()
            .enumerate()
            .map(|(k, points)| {
                let xs: Vec<f64> = points.iter().map(|&x| x as f64).collect();
                let (n, int) = (points.len() as i64, |x: Option<&i64>| {
                    x.map_or(Null, |x| Integer(*x))
                });
                let sd = if xs.len() > 1 {
                    Float(stddev(&xs))
                } else {
                    Null
                };
                let m = if xs.is_empty() {
                    Null
                } else {
                    Float(mean(&xs))
                };
                let count = if xs.is_empty() { Null } else { Integer(n) };
                vec![
                    Time(k as i64),
                    int(points.iter().min()),
                    sd,
                    count.clone(),
                    int(points.iter().max()),
                    m,
                    count,
                ]
            })
            .collect();
        let row = folded(&c, rows);
        assert_eq!(row.len(), 4, "{row:?}");
        assert_eq!(&row[..2], &[Time(0), Integer(19)]);
        let Float(sd) = row[2] else { panic!("{row:?}") };
        assert!(
            (sd - stddev(&all)).abs() < 1e-12,
            "{sd} against {}",
            stddev(&all)
        );
        assert_eq!(row[3], Integer(all.len() as i64));

        // One point in all: no standard deviation, a spread of zero.
        let c = combine("stddev(v), spread(v) FROM m").unwrap();
        let row = folded(
            &c,
            vec![
                // stddev, min, then the hidden mean, count and max.
                vec![Time(0), Null, Null, Null, Null, Null],
                vec![
                    Time(1),
                    Null,
                    Float(2.5),
                    Float(2.5),
                    Integer(1),
                    Float(2.5),
                ],
            ],
        );
        assert_eq!(row, vec![Time(0), Null, Float(0.0)]);
    }

    #[test]
    fn a_lone_selector_keeps_its_point_and_the_earlier_on_a_tie() {
        use Value::{Float, Time};
        let chunks = || {
            vec![
                vec![Time(10), Float(3.0)],
                vec![Time(20), Float(5.0)],
                vec![Time(30), Float(5.0)],
                vec![Time(40), Float(1.0)],
            ]
        };
        let cases = [
            ("max", vec![Time(20), Float(5.0)]),
            ("min", vec![Time(40), Float(1.0)]),
            ("first", vec![Time(10), Float(3.0)]),
            ("last", vec![Time(40), Float(1.0)]),
        ];
        for (func, want) in cases {
            let c = combine(&format!("{func}(x) FROM m")).unwrap();
            assert_eq!(folded(&c, chunks()), want, "{func}");
        }
    }

    #[test]
    fn only_calls_that_combine_exactly_are_read_in_chunks() {
        for q in [
            "count(x), sum(y), mean(z), min(x), max(y) FROM m",
            "spread(x), stddev(y), mean(y) FROM m GROUP BY host",
            "first(x) FROM m",
            "last(x) FROM m GROUP BY host",
        ] {
            assert!(combine(q).is_some(), "{q}");
        }
        for q in [
            "median(x) FROM m",
            "count(x) * 2 FROM m",
            "first(x), count(x) FROM m",
            "count(x) FROM m LIMIT 1",
            "count(x) FROM m GROUP BY host SLIMIT 2",
            "count(x) FROM m OFFSET 1",
            "count(distinct(x)) FROM m",
        ] {
            assert!(combine(q).is_none(), "{q}");
        }
    }
}
