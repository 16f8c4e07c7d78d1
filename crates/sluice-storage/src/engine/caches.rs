//! The caches' side of the engine: creating and deleting last-value and distinct-value
//! caches (saved in the catalog), filling them from storage, and reading them for SQL's
//! table functions and for the InfluxQL statements they can answer.
//!
//! A cache is registered before it is filled, so every write applied meanwhile reaches
//! it as well as the rows the fill reads; rows are kept by time, so both orders end the
//! same. A delete empties the caches of the tables it touches when the WAL applies it
//! and refills them once the delete reached the Parquet files; a fill that read storage
//! before its cache was emptied is dropped (see `generation`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{Field, Schema};

use super::{Inner, Storage, now_ns};
use crate::batch::{ColumnType, Value};
use crate::cache::{
    self, ArrowRow, DistinctCache, DistinctCacheDef, Key, LastCache, LastCacheDef, Source,
    column_field, cutoff, time_array, time_field, to_array,
};
use crate::catalog::{Catalog, DAY_NS, DatabaseDef, TableDef};
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::types::{
    Created, DistinctCacheInfo, DistinctCacheSpec, LastCacheInfo, LastCacheSpec, ScanRequest,
    ScanResult,
};

/// A cache definition [`Storage::define_cache`] found or added.
struct Defined<D> {
    db_id: u32,
    name: String,
    def: D,
    /// Added now (not there already).
    new: bool,
}

/// Which of a table's caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Last,
    Distinct,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Last => "last",
            Kind::Distinct => "distinct",
        }
    }
}

impl Storage {
    /// Creates a last-value cache on a table of database `db` and fills it from the rows
    /// already stored (buffered and in Parquet files) before returning. Saved in the
    /// catalog: it survives restarts (and is filled again at start-up).
    ///
    /// # Errors
    /// [`Error::DatabaseNotFound`], [`Error::TableNotFound`], [`Error::InvalidCache`]
    /// (a column missing or of the wrong type, a setting out of range),
    /// [`Error::CacheExists`] (that name with other settings), [`Error::Io`] when the
    /// catalog cannot be saved, a scan's errors while filling.
    pub async fn create_last_cache(
        &self,
        db: &str,
        spec: &LastCacheSpec,
    ) -> Result<Created<LastCacheInfo>> {
        let defined = self.define_cache(
            db,
            &spec.table,
            Kind::Last,
            |table| cache::last_cache(&spec.table, table, spec),
            |table| &mut table.last_caches,
            |caches, name, def| {
                caches.last.insert(name, LastCache::new(def));
            },
        )?;
        let info = last_info(&spec.table, &defined.name, &defined.def);
        if !defined.new {
            return Ok(Created::Existing(info));
        }
        self.fill_last(db, defined.db_id, &spec.table, &defined.name)
            .await?;
        Ok(Created::New(info))
    }

    /// Creates a distinct-value cache on a table of database `db` and fills it from the
    /// rows stored within its max age before returning; saved in the catalog like
    /// [`Storage::create_last_cache`].
    ///
    /// # Errors
    /// As [`Storage::create_last_cache`].
    pub async fn create_distinct_cache(
        &self,
        db: &str,
        spec: &DistinctCacheSpec,
    ) -> Result<Created<DistinctCacheInfo>> {
        let defined = self.define_cache(
            db,
            &spec.table,
            Kind::Distinct,
            |table| cache::distinct_cache(&spec.table, table, spec),
            |table| &mut table.distinct_caches,
            |caches, name, def| {
                caches.distinct.insert(name, DistinctCache::new(def));
            },
        )?;
        let info = distinct_info(&spec.table, &defined.name, &defined.def);
        if !defined.new {
            return Ok(Created::Existing(info));
        }
        self.fill_distinct(db, defined.db_id, &spec.table, &defined.name)
            .await?;
        Ok(Created::New(info))
    }

    /// Adds the cache `make` defines on `table` to the table's definitions of its kind
    /// (`defs`), saves the catalog (taking the definition back if that fails) and
    /// registers the empty cache `install` makes, all under the catalog's lock, so that
    /// writes reach the cache before it is filled. The same definition again is no
    /// change; the same name with another is [`Error::CacheExists`].
    fn define_cache<D: Clone + PartialEq>(
        &self,
        db: &str,
        table: &str,
        kind: Kind,
        make: impl FnOnce(&TableDef) -> Result<(String, D)>,
        defs: impl Fn(&mut TableDef) -> &mut BTreeMap<String, D>,
        install: impl FnOnce(&mut cache::TableCaches, String, D),
    ) -> Result<Defined<D>> {
        let mut catalog = self.inner.catalog.lock();
        let (db_id, table_def) = table_mut(&mut catalog, db, table)?;
        let (name, def) = make(table_def)?;
        let new = match defs(table_def).get(&name) {
            Some(existing) if *existing == def => false,
            Some(_) => return Err(exists(kind, table, &name)),
            None => true,
        };
        if new {
            defs(table_def).insert(name.clone(), def.clone());
            if let Err(e) = self.inner.save_catalog(&catalog) {
                if let Ok((_, table_def)) = table_mut(&mut catalog, db, table) {
                    defs(table_def).remove(&name);
                }
                return Err(e);
            }
            install(
                self.inner.caches.lock().table_mut(db_id, table),
                name.clone(),
                def.clone(),
            );
        }
        Ok(Defined {
            db_id,
            name,
            def,
            new,
        })
    }

    /// Deletes last-value cache `name` of a table.
    ///
    /// # Errors
    /// [`Error::DatabaseNotFound`], [`Error::TableNotFound`], [`Error::CacheNotFound`],
    /// [`Error::Io`] when the catalog cannot be saved.
    pub fn delete_last_cache(&self, db: &str, table: &str, name: &str) -> Result<()> {
        self.delete_cache(db, table, name, Kind::Last)
    }

    /// Deletes distinct-value cache `name` of a table.
    ///
    /// # Errors
    /// As [`Storage::delete_last_cache`].
    pub fn delete_distinct_cache(&self, db: &str, table: &str, name: &str) -> Result<()> {
        self.delete_cache(db, table, name, Kind::Distinct)
    }

    fn delete_cache(&self, db: &str, table_name: &str, name: &str, kind: Kind) -> Result<()> {
        let mut catalog = self.inner.catalog.lock();
        let before = catalog.clone();
        let (db_id, table) = table_mut(&mut catalog, db, table_name)?;
        let removed = match kind {
            Kind::Last => table.last_caches.remove(name).is_some(),
            Kind::Distinct => table.distinct_caches.remove(name).is_some(),
        };
        if !removed {
            return Err(Error::CacheNotFound {
                kind: kind.as_str(),
                database: db.to_owned(),
                table: table_name.to_owned(),
                name: name.to_owned(),
            });
        }
        if let Err(e) = self.inner.save_catalog(&catalog) {
            *catalog = before;
            return Err(e);
        }
        let mut caches = self.inner.caches.lock();
        let table_caches = caches.table_mut(db_id, table_name);
        match kind {
            Kind::Last => {
                table_caches.last.remove(name);
            }
            Kind::Distinct => {
                table_caches.distinct.remove(name);
            }
        }
        caches.forget_if_empty(db_id, table_name);
        Ok(())
    }

    /// The last-value caches of database `db`, by table and name.
    ///
    /// # Errors
    /// [`Error::DatabaseNotFound`].
    pub fn last_caches(&self, db: &str) -> Result<Vec<LastCacheInfo>> {
        let catalog = self.inner.catalog.lock();
        let def = catalog.database(db)?;
        Ok(def
            .tables
            .iter()
            .flat_map(|(t, table)| {
                table
                    .last_caches
                    .iter()
                    .map(move |(name, c)| last_info(t, name, c))
            })
            .collect())
    }

    /// The distinct-value caches of database `db`, by table and name.
    ///
    /// # Errors
    /// [`Error::DatabaseNotFound`].
    pub fn distinct_caches(&self, db: &str) -> Result<Vec<DistinctCacheInfo>> {
        let catalog = self.inner.catalog.lock();
        let def = catalog.database(db)?;
        Ok(def
            .tables
            .iter()
            .flat_map(|(t, table)| {
                table
                    .distinct_caches
                    .iter()
                    .map(move |(name, c)| distinct_info(t, name, c))
            })
            .collect())
    }

    /// What `last_cache('table'[, 'name'])` shows: the rows of the table's last-value
    /// cache `name` (or its only one), by key, newest first: key columns, value columns
    /// and `time`. Rows the database's retention has dropped are left out.
    ///
    /// # Errors
    /// [`Error::DatabaseNotFound`], [`Error::TableNotFound`], [`Error::CacheNotFound`];
    /// [`Error::InvalidCache`] when no name is given and the table has no last cache or
    /// several; [`Error::Arrow`].
    pub fn read_last_cache(
        &self,
        db: &str,
        table: &str,
        name: Option<&str>,
    ) -> Result<RecordBatch> {
        let (db_id, name, min_time, columns) = {
            let catalog = self.inner.catalog.lock();
            let (def, t) = table_of(&catalog, db, table)?;
            let name = pick(db, table, name, &t.last_caches, Kind::Last)?;
            (def.id, name, kept_since(def), t.columns.clone())
        };
        let caches = self.inner.caches.lock();
        let cache = caches
            .table(db_id, table)
            .and_then(|t| t.last.get(&name))
            .ok_or_else(|| not_found(Kind::Last, db, table, &name))?;
        Ok(cache.to_batch(&|c| columns.get(c).copied(), min_time)?)
    }

    /// What `distinct_cache('table'[, 'name'])` shows: the distinct combinations of the
    /// cache's columns, sorted, one `Utf8` column each.
    ///
    /// # Errors
    /// As [`Storage::read_last_cache`].
    pub fn read_distinct_cache(
        &self,
        db: &str,
        table: &str,
        name: Option<&str>,
    ) -> Result<RecordBatch> {
        let (db_id, name, min_time) = {
            let catalog = self.inner.catalog.lock();
            let (def, t) = table_of(&catalog, db, table)?;
            let name = pick(db, table, name, &t.distinct_caches, Kind::Distinct)?;
            (def.id, name, kept_since(def))
        };
        let caches = self.inner.caches.lock();
        let cache = caches
            .table(db_id, table)
            .and_then(|t| t.distinct.get(&name))
            .ok_or_else(|| not_found(Kind::Distinct, db, table, &name))?;
        Ok(cache.to_batch(min_time)?)
    }

    /// What a scan of `request` would give `last()` of each of `fields` per series, from
    /// a last-value cache: for every series the request's tag matches select, the rows
    /// holding the newest value of each field within the time range (instead of all
    /// rows). `None` when no cache can say for sure; the caller then scans.
    ///
    /// A cache answers when its key columns are exactly the table's tags (so a key is a
    /// series), its value columns hold every field and projected column, it was filled
    /// and nothing was evicted since, and for each series it holds the field's newest
    /// value (not only rows without it) before the range's end.
    pub fn scan_last_values(
        &self,
        db: &str,
        table: &str,
        request: &ScanRequest,
        fields: &[String],
    ) -> Option<ScanResult> {
        let (db_id, name, key_columns, min_time, columns) = {
            let catalog = self.inner.catalog.lock();
            let (def, t) = table_of(&catalog, db, table).ok()?;
            let is_field = |c: &String| matches!(t.columns.get(c), Some(ColumnType::Field(_)));
            if !fields.iter().all(is_field) {
                return None;
            }
            let tags: BTreeSet<&str> = t.tags().collect();
            let (name, cache) = t.last_caches.iter().find(|(_, c)| {
                c.key_columns.len() == tags.len()
                    && c.key_columns.iter().all(|k| tags.contains(k.as_str()))
                    && c.value_columns
                        .as_ref()
                        .is_none_or(|v| fields.iter().all(|f| v.contains(f)))
            })?;
            let start = request.time_range.map_or(i64::MIN, |r| r.0);
            (
                def.id,
                name.clone(),
                cache.key_columns.clone(),
                kept_since(def).max(start),
                t.columns.clone(),
            )
        };
        let end = request.time_range.map(|r| r.1);
        let caches = self.inner.caches.lock();
        let cache = caches.table(db_id, table)?.last.get(&name)?;
        let slots: Vec<usize> = fields
            .iter()
            .map(|f| cache.slot(f))
            .collect::<Option<_>>()?;
        let key_index = |tag: &str| key_columns.iter().position(|k| k == tag);
        let keep = |key: &Key| {
            request.tag_matches.iter().all(|m| {
                let value = key_index(m.key())
                    .and_then(|i| key[i].as_ref())
                    .and_then(cache::KeyValue::as_str);
                m.matches(value)
            })
        };
        let rows = cache.newest_values(&slots, min_time, end, &keep)?;
        let names: Vec<String> = match &request.projection {
            Some(names) => names.clone(),
            None => columns.keys().cloned().chain(["time".to_owned()]).collect(),
        };
        let mut fields_out: Vec<Field> = Vec::new();
        let mut arrays: Vec<ArrayRef> = Vec::new();
        for name in &names {
            if name == "time" {
                fields_out.push(time_field());
                arrays.push(time_array(rows.iter().map(|(_, r)| r.time).collect()));
                continue;
            }
            let Some(kind) = columns.get(name).copied() else {
                // As a scan does: unknown names are skipped.
                continue;
            };
            let values: Vec<Option<Value>> = match kind {
                ColumnType::Tag => {
                    let i = key_index(name)?;
                    rows.iter()
                        .map(|(k, _)| k[i].as_ref().map(cache::KeyValue::to_value))
                        .collect()
                }
                ColumnType::Field(_) => {
                    let slot = cache.slot(name)?;
                    rows.iter().map(|(_, r)| r.value(slot).cloned()).collect()
                }
            };
            let field = column_field(name, Some(kind), false);
            arrays.push(to_array(&field, &values));
            fields_out.push(field);
        }
        let schema = Arc::new(Schema::new(fields_out));
        let batch = RecordBatch::try_new(schema.clone(), arrays).ok()?;
        Metrics::add(&self.inner.metrics.last_cache_answers, 1);
        Some(ScanResult {
            schema,
            batches: if batch.num_rows() == 0 {
                Vec::new()
            } else {
                vec![batch]
            },
        })
    }

    /// The distinct values of tag `tag` over a table's rows, from a complete distinct
    /// cache holding the tag (what `SHOW TAG VALUES ... WITH KEY = tag` without
    /// conditions reads); `None` when no cache can say for sure.
    pub fn tag_values_from_cache(
        &self,
        db: &str,
        table: &str,
        tag: &str,
    ) -> Option<BTreeSet<String>> {
        let (db_id, names, min_time) = {
            let catalog = self.inner.catalog.lock();
            let (def, t) = table_of(&catalog, db, table).ok()?;
            if t.columns.get(tag) != Some(&ColumnType::Tag) {
                return None;
            }
            let names: Vec<String> = t
                .distinct_caches
                .iter()
                .filter(|(_, c)| c.columns.iter().any(|c| c == tag))
                .map(|(n, _)| n.clone())
                .collect();
            (def.id, names, kept_since(def))
        };
        let caches = self.inner.caches.lock();
        let table_caches = caches.table(db_id, table)?;
        let values = names
            .iter()
            .filter_map(|n| table_caches.distinct.get(n))
            .find_map(|c| c.values_of(tag, min_time))?;
        Metrics::add(&self.inner.metrics.distinct_cache_answers, 1);
        Some(values)
    }

    /// Registers every cache the catalog defines and fills it (at start-up). A cache
    /// that cannot be filled is logged and stays incomplete (never used for InfluxQL).
    pub(super) async fn load_caches(&self) {
        let defs: Vec<(String, u32, String, Kind, String)> = {
            let catalog = self.inner.catalog.lock();
            let mut caches = self.inner.caches.lock();
            let mut out = Vec::new();
            for (db, def) in &catalog.databases {
                for (t, table) in &def.tables {
                    for (name, c) in &table.last_caches {
                        let entry = caches.table_mut(def.id, t);
                        entry.last.insert(name.clone(), LastCache::new(c.clone()));
                        out.push((db.clone(), def.id, t.clone(), Kind::Last, name.clone()));
                    }
                    for (name, c) in &table.distinct_caches {
                        let entry = caches.table_mut(def.id, t);
                        entry
                            .distinct
                            .insert(name.clone(), DistinctCache::new(c.clone()));
                        out.push((db.clone(), def.id, t.clone(), Kind::Distinct, name.clone()));
                    }
                }
            }
            out
        };
        for (db, db_id, table, kind, name) in defs {
            let filled = match kind {
                Kind::Last => self.fill_last(&db, db_id, &table, &name).await,
                Kind::Distinct => self.fill_distinct(&db, db_id, &table, &name).await,
            };
            if let Err(e) = filled {
                tracing::error!(
                    db,
                    table,
                    name,
                    "filling a {} cache failed: {e}",
                    kind.as_str()
                );
            }
        }
    }

    /// Refills the caches of `table` (every table of the database when `None`) after a
    /// delete reached the files.
    pub(super) async fn refill_caches(&self, db: &str, table: Option<&str>) -> Result<()> {
        let targets: Vec<(u32, String, Kind, String)> = {
            let Ok(db_id) = self.inner.catalog.lock().database(db).map(|d| d.id) else {
                return Ok(());
            };
            let caches = self.inner.caches.lock();
            caches
                .tables
                .iter()
                .filter(|((id, t), _)| *id == db_id && table.is_none_or(|n| n == t))
                .flat_map(|((id, t), c)| {
                    let last = c
                        .last
                        .keys()
                        .map(|n| (*id, t.clone(), Kind::Last, n.clone()));
                    let distinct = c
                        .distinct
                        .keys()
                        .map(|n| (*id, t.clone(), Kind::Distinct, n.clone()));
                    last.chain(distinct).collect::<Vec<_>>()
                })
                .collect()
        };
        for (db_id, t, kind, name) in targets {
            match kind {
                Kind::Last => self.fill_last(db, db_id, &t, &name).await?,
                Kind::Distinct => self.fill_distinct(db, db_id, &t, &name).await?,
            }
        }
        Ok(())
    }

    /// Empties last cache `name` and fills it from storage: the newest `count` rows of
    /// every series when its keys are tags (then it is complete), else the rows within
    /// its ttl.
    async fn fill_last(&self, db: &str, db_id: u32, table: &str, name: &str) -> Result<()> {
        let Some((generation, def)) = self.begin_fill(db_id, table, |c| {
            let cache = c.last.get_mut(name)?;
            cache.clear();
            Some((cache.generation, cache.def.clone()))
        }) else {
            return Ok(());
        };
        let keys_are_tags = self.keys_are_tags(db, table, &def);
        let now = now_ns();
        let scanned = if keys_are_tags {
            self.scan_last(db, table, &ScanRequest::default(), def.count)
                .await
        } else {
            let request = ScanRequest {
                time_range: Some((cutoff(now, def.ttl_secs), i64::MAX)),
                ..ScanRequest::default()
            };
            self.scan(db, table, &request).await
        };
        let scanned = match scanned {
            Err(Error::TableNotFound { .. } | Error::DatabaseNotFound { .. }) => return Ok(()),
            other => other?,
        };
        let mut caches = self.inner.caches.lock();
        let Some(cache) = caches
            .tables
            .get_mut(&(db_id, table.to_owned()))
            .and_then(|c| c.last.get_mut(name))
            .filter(|c| c.generation == generation)
        else {
            return Ok(());
        };
        for batch in &scanned.batches {
            for_each_row(batch, |row| cache.offer(row, Source::Fill));
        }
        cache.fill_done(keys_are_tags, now);
        Ok(())
    }

    /// Empties distinct cache `name` and fills it from the rows stored within its max
    /// age; it is complete when the table holds no older rows.
    async fn fill_distinct(&self, db: &str, db_id: u32, table: &str, name: &str) -> Result<()> {
        let Some((generation, def)) = self.begin_fill(db_id, table, |c| {
            let cache = c.distinct.get_mut(name)?;
            cache.clear();
            Some((cache.generation, cache.def.clone()))
        }) else {
            return Ok(());
        };
        let now = now_ns();
        let oldest = cutoff(now, def.max_age_secs);
        let complete = self
            .inner
            .table_min_time(db_id, table)
            .is_none_or(|t| t >= oldest);
        let mut projection = def.columns.clone();
        projection.push("time".to_owned());
        let request = ScanRequest {
            time_range: Some((oldest, i64::MAX)),
            tag_matches: Vec::new(),
            projection: Some(projection),
            ..ScanRequest::default()
        };
        let scanned = match self.scan(db, table, &request).await {
            Err(Error::TableNotFound { .. } | Error::DatabaseNotFound { .. }) => return Ok(()),
            other => other?,
        };
        let mut caches = self.inner.caches.lock();
        let Some(cache) = caches
            .tables
            .get_mut(&(db_id, table.to_owned()))
            .and_then(|c| c.distinct.get_mut(name))
            .filter(|c| c.generation == generation)
        else {
            return Ok(());
        };
        for batch in &scanned.batches {
            for_each_row(batch, |row| cache.offer(row));
        }
        cache.fill_done(complete, now);
        Ok(())
    }

    /// Runs `start` on the caches of a table under the lock: what a fill begins with.
    fn begin_fill<T>(
        &self,
        db_id: u32,
        table: &str,
        start: impl FnOnce(&mut cache::TableCaches) -> Option<T>,
    ) -> Option<T> {
        let mut caches = self.inner.caches.lock();
        caches
            .tables
            .get_mut(&(db_id, table.to_owned()))
            .and_then(start)
    }

    fn keys_are_tags(&self, db: &str, table: &str, def: &LastCacheDef) -> bool {
        let catalog = self.inner.catalog.lock();
        table_of(&catalog, db, table).is_ok_and(|(_, t)| {
            def.key_columns
                .iter()
                .all(|k| t.columns.get(k) == Some(&ColumnType::Tag))
        })
    }
}

impl Inner {
    /// The oldest row time of a table, buffered or in files; `None` when it has no rows.
    fn table_min_time(&self, db_id: u32, table: &str) -> Option<i64> {
        let state = self.state.read();
        let files = state
            .manifest
            .table_files(db_id, table)
            .into_iter()
            .map(|f| f.min_time);
        let buffered = state.partitions(db_id, table).map(|(_, p)| p.min_time);
        files.chain(buffered).min()
    }
}

/// Calls `f` with each row of a scan's batch.
fn for_each_row(batch: &RecordBatch, mut f: impl FnMut(&ArrowRow<'_>)) {
    let Some(time) = ArrowRow::times(batch) else {
        return;
    };
    for row in 0..batch.num_rows() {
        f(&ArrowRow { batch, time, row });
    }
}

/// The earliest row time the database's retention keeps now.
fn kept_since(def: &DatabaseDef) -> i64 {
    def.first_kept_day(now_ns())
        .map_or(i64::MIN, |d| d.saturating_mul(DAY_NS))
}

fn table_of<'c>(
    catalog: &'c Catalog,
    db: &str,
    table: &str,
) -> Result<(&'c DatabaseDef, &'c TableDef)> {
    let def = catalog.database(db)?;
    let t = def.tables.get(table).ok_or_else(|| Error::TableNotFound {
        database: db.to_owned(),
        table: table.to_owned(),
    })?;
    Ok((def, t))
}

fn table_mut<'c>(
    catalog: &'c mut Catalog,
    db: &str,
    table: &str,
) -> Result<(u32, &'c mut TableDef)> {
    let def = catalog
        .databases
        .get_mut(db)
        .ok_or_else(|| Error::DatabaseNotFound {
            name: db.to_owned(),
        })?;
    let id = def.id;
    let t = def
        .tables
        .get_mut(table)
        .ok_or_else(|| Error::TableNotFound {
            database: db.to_owned(),
            table: table.to_owned(),
        })?;
    Ok((id, t))
}

/// The cache a table function reads: the one named, or the table's only one.
fn pick<T>(
    db: &str,
    table: &str,
    name: Option<&str>,
    defs: &BTreeMap<String, T>,
    kind: Kind,
) -> Result<String> {
    if let Some(name) = name {
        return if defs.contains_key(name) {
            Ok(name.to_owned())
        } else {
            Err(not_found(kind, db, table, name))
        };
    }
    let mut names = defs.keys();
    match (names.next(), defs.len()) {
        (Some(only), 1) => Ok(only.clone()),
        (None, _) => Err(Error::InvalidCache {
            kind: kind.as_str(),
            table: table.to_owned(),
            reason: format!("the table has no {} cache", kind.as_str()),
        }),
        _ => Err(Error::InvalidCache {
            kind: kind.as_str(),
            table: table.to_owned(),
            reason: format!(
                "the table has {} {} caches ({}): name one",
                defs.len(),
                kind.as_str(),
                defs.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        }),
    }
}

fn not_found(kind: Kind, db: &str, table: &str, name: &str) -> Error {
    Error::CacheNotFound {
        kind: kind.as_str(),
        database: db.to_owned(),
        table: table.to_owned(),
        name: name.to_owned(),
    }
}

fn exists(kind: Kind, table: &str, name: &str) -> Error {
    Error::CacheExists {
        kind: kind.as_str(),
        table: table.to_owned(),
        name: name.to_owned(),
    }
}

fn last_info(table: &str, name: &str, def: &LastCacheDef) -> LastCacheInfo {
    LastCacheInfo {
        table: table.to_owned(),
        name: name.to_owned(),
        key_columns: def.key_columns.clone(),
        value_columns: def.value_columns.clone(),
        count: def.count,
        ttl: std::time::Duration::from_secs(def.ttl_secs),
    }
}

fn distinct_info(table: &str, name: &str, def: &DistinctCacheDef) -> DistinctCacheInfo {
    DistinctCacheInfo {
        table: table.to_owned(),
        name: name.to_owned(),
        columns: def.columns.clone(),
        max_cardinality: def.max_cardinality,
        max_age: std::time::Duration::from_secs(def.max_age_secs),
    }
}
