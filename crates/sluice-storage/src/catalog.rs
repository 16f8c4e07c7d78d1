//! The catalog: databases, tables and typed columns, validated per line and saved atomically.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sluice_lp::{FieldType, Line};

use crate::batch::{BatchRef, ColumnType, TableBatch, Value, WriteBatch};
use crate::cache::{DistinctCacheDef, LastCacheDef};
use crate::config::CatalogLimits;
use crate::durable::write_atomic;
use crate::error::{Error, Result};
use crate::predicate::DeleteOp;
use crate::rejection::{MAX_TIME, MIN_TIME, Rejection};
use crate::types::{ColumnInfo, ColumnKind, DatabaseInfo, RejectedLine, TableInfo};

/// Nanoseconds in one UTC day, the width of a time partition.
pub(crate) const DAY_NS: i64 = 86_400_000_000_000;

/// The UTC day (days since the epoch) holding `time`.
pub(crate) fn day_of(time: i64) -> i64 {
    time.div_euclid(DAY_NS)
}

/// One table: its columns by name, and its caches.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct TableDef {
    pub(crate) columns: BTreeMap<String, ColumnType>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) last_caches: BTreeMap<String, LastCacheDef>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) distinct_caches: BTreeMap<String, DistinctCacheDef>,
}

impl TableDef {
    /// Column count including the implicit `time`.
    fn column_count(&self) -> usize {
        self.columns.len() + 1
    }

    /// Tag names in order.
    pub(crate) fn tags(&self) -> impl Iterator<Item = &str> {
        self.columns
            .iter()
            .filter(|(_, t)| **t == ColumnType::Tag)
            .map(|(n, _)| n.as_str())
    }

    /// Field names and types in name order.
    pub(crate) fn fields(&self) -> impl Iterator<Item = (&str, FieldType)> {
        self.columns.iter().filter_map(|(n, t)| match t {
            ColumnType::Field(f) => Some((n.as_str(), *f)),
            ColumnType::Tag => None,
        })
    }

    pub(crate) fn info(&self, name: &str) -> TableInfo {
        let mut columns: Vec<ColumnInfo> = self
            .tags()
            .map(|n| ColumnInfo {
                name: n.to_owned(),
                kind: ColumnKind::Tag,
            })
            .collect();
        columns.extend(self.fields().map(|(n, t)| ColumnInfo {
            name: n.to_owned(),
            kind: ColumnKind::Field(t),
        }));
        columns.push(ColumnInfo {
            name: "time".to_owned(),
            kind: ColumnKind::Time,
        });
        TableInfo {
            name: name.to_owned(),
            columns,
        }
    }
}

/// One storage database: a database users name, or the storage of one of its
/// retention policies (`D/r`, see [`crate::policy`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct DatabaseDef {
    /// Unique over the life of the data directory, so a dropped and re-created database
    /// never sees the old one's WAL records or files. Also the order policies were
    /// created in.
    pub(crate) id: u32,
    /// The retention policy's duration.
    pub(crate) retention_ns: Option<u64>,
    pub(crate) tables: BTreeMap<String, TableDef>,
    /// The retention policy whose data this storage database holds.
    #[serde(default)]
    pub(crate) policy: PolicyDef,
    /// For the storage of a retention policy (`D/r`): the database `D` it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) parent: Option<String>,
    /// For a database: its default retention policy when that is not `policy` (one
    /// stored in `D/r`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) default_policy: Option<String>,
}

/// A retention policy's settings besides its duration (`DatabaseDef::retention_ns`).
/// Catalogs saved before retention policies existed load as `autogen`, replication 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PolicyDef {
    pub(crate) name: String,
    /// `None`: computed from the duration (catalogs saved before it was stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) shard_group_duration_ns: Option<u64>,
    pub(crate) replication: u32,
}

/// The retention policy a database has when created without naming one.
pub(crate) const AUTOGEN: &str = "autogen";

impl Default for PolicyDef {
    fn default() -> Self {
        PolicyDef {
            name: AUTOGEN.to_owned(),
            shard_group_duration_ns: None,
            replication: 1,
        }
    }
}

impl DatabaseDef {
    pub(crate) fn retention(&self) -> Option<Duration> {
        self.retention_ns.map(Duration::from_nanos)
    }

    /// The database users name and the retention policy (when not the database's own)
    /// of the storage database `name`.
    fn user_names(&self, name: &str) -> (String, Option<String>) {
        match &self.parent {
            Some(parent) => (parent.clone(), Some(self.policy.name.clone())),
            None => (name.to_owned(), None),
        }
    }

    /// The first day still kept at `now_ns`: days ending at or before `now - retention`
    /// are dropped.
    pub(crate) fn first_kept_day(&self, now_ns: i64) -> Option<i64> {
        let retention = i64::try_from(self.retention_ns?).unwrap_or(i64::MAX);
        let cutoff = now_ns.saturating_sub(retention);
        // Day d covers [d*DAY, (d+1)*DAY); it is expired when (d+1)*DAY <= cutoff.
        Some(cutoff.div_euclid(DAY_NS))
    }
}

/// The whole catalog as saved in `catalog.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Catalog {
    pub(crate) version: u32,
    pub(crate) next_database_id: u32,
    pub(crate) databases: BTreeMap<String, DatabaseDef>,
    /// On a node sharing a bucket with others: the column types claimed there so far
    /// (`engine/claims.rs`). A column the catalog lacks is added only once claimed, with
    /// the claimed type; `None` when columns need no claim.
    #[serde(skip)]
    pub(crate) claims: Option<Claims>,
    /// On an ingest node sharing a bucket: its databases as of its last reconciliation
    /// with the bucket's shared record (`engine/shared_catalog.rs`); `None` before the
    /// first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) shared: Option<crate::engine::Synced>,
}

/// Column types claimed in a shared bucket, by database, table and column name.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Claims {
    tables: HashMap<String, HashMap<String, HashMap<String, ColumnType>>>,
}

impl Claims {
    /// The claimed columns of a table, if any.
    fn table(&self, db: &str, table: &str) -> Option<&HashMap<String, ColumnType>> {
        self.tables.get(db)?.get(table)
    }

    /// Forgets the claims of `table` of `db`, or of all of `db`'s tables.
    pub(crate) fn forget(&mut self, db: &str, table: Option<&str>) {
        match table {
            Some(table) => {
                if let Some(tables) = self.tables.get_mut(db) {
                    tables.remove(table);
                }
            }
            None => {
                self.tables.remove(db);
            }
        }
    }

    /// Records `column` of `table` in `db` as claimed with type `kind`.
    pub(crate) fn insert(&mut self, db: &str, table: &str, column: &str, kind: ColumnType) {
        self.tables
            .entry(db.to_owned())
            .or_default()
            .entry(table.to_owned())
            .or_default()
            .insert(column.to_owned(), kind);
    }
}

/// A column a line would add that no claim covers yet: where [`Catalog::validate_chunk`]
/// stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewColumn {
    pub(crate) table: String,
    pub(crate) column: String,
    pub(crate) kind: ColumnType,
}

/// Where a chunk's validation stopped for claims: lines before `consumed` are done, the
/// rest wait until `columns` are claimed.
#[derive(Debug)]
pub(crate) struct Unclaimed {
    pub(crate) consumed: usize,
    pub(crate) columns: Vec<NewColumn>,
}

/// What one validation did to the catalog, so it can be undone.
#[derive(Debug, Default)]
pub(crate) struct CatalogChanges {
    created_database: Option<String>,
    created_tables: Vec<String>,
    added_columns: Vec<(String, String)>,
}

impl CatalogChanges {
    pub(crate) fn is_empty(&self) -> bool {
        self.created_database.is_none()
            && self.created_tables.is_empty()
            && self.added_columns.is_empty()
    }
}

/// The result of validating a write.
#[derive(Debug)]
pub(crate) struct Validated {
    pub(crate) batch: WriteBatch,
    pub(crate) rejected: Vec<RejectedLine>,
    pub(crate) changes: CatalogChanges,
    /// Estimated size of the accepted rows (sizes the WAL record's buffer).
    pub(crate) bytes: usize,
}

/// A duration in nanoseconds, saturating.
pub(crate) fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Checks a database name: 1 to 255 bytes, no control characters, no `/`, not `.`/`..`.
pub(crate) fn check_database_name(name: &str) -> Result<()> {
    let reason = if name.contains('/') {
        Some("contains '/'")
    } else {
        directory_name_problem(name)
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(Error::InvalidDatabaseName {
            name: name.to_owned(),
            reason,
        }),
    }
}

/// What keeps `name` from naming a directory of the data dir, whatever else the caller
/// forbids: it must be 1 to 255 bytes without control characters, and not `.` or `..`.
pub(crate) fn directory_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("must not be empty")
    } else if name.len() > 255 {
        Some("longer than 255 bytes")
    } else if name.chars().any(char::is_control) {
        Some("contains a control character")
    } else if name == "." || name == ".." {
        Some("is a path component")
    } else {
        None
    }
}

impl Catalog {
    pub(crate) fn new() -> Catalog {
        Catalog {
            claims: None,
            shared: None,
            version: 1,
            next_database_id: 1,
            databases: BTreeMap::new(),
        }
    }

    /// Loads `dir/catalog.json`, or an empty catalog when it does not exist.
    pub(crate) fn load(dir: &Path) -> Result<Catalog> {
        let path = dir.join("catalog.json");
        match fs::read(&path) {
            Ok(bytes) => Catalog::from_json(&bytes, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Catalog::new()),
            Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
        }
    }

    /// A catalog from the bytes of a `catalog.json` (found at `origin`, which errors
    /// name).
    pub(crate) fn from_json(bytes: &[u8], origin: &str) -> Result<Catalog> {
        serde_json::from_slice(bytes).map_err(|e| Error::Catalog(format!("{origin}: {e}")))
    }

    /// Saves to `dir/catalog.json` atomically (temp file, fsync, rename, fsync dir).
    pub(crate) fn save(&self, dir: &Path) -> Result<()> {
        write_atomic(dir, "catalog.json", &self.to_json()?)
    }

    /// The catalog as `catalog.json` holds it.
    pub(crate) fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec_pretty(self).map_err(|e| Error::Catalog(e.to_string()))
    }

    pub(crate) fn database(&self, name: &str) -> Result<&DatabaseDef> {
        self.databases
            .get(name)
            .ok_or_else(|| Error::DatabaseNotFound {
                name: name.to_owned(),
            })
    }

    /// Creates a database whose retention policy is `autogen` with `retention`; false
    /// when it exists (its retention is left alone).
    pub(crate) fn create_database(&mut self, name: &str, retention: Option<Duration>) -> bool {
        self.create_storage(name, retention, PolicyDef::default(), None)
    }

    /// Creates a storage database; false when it exists (and is left alone).
    pub(crate) fn create_storage(
        &mut self,
        name: &str,
        retention: Option<Duration>,
        policy: PolicyDef,
        parent: Option<String>,
    ) -> bool {
        if self.databases.contains_key(name) {
            return false;
        }
        let id = self.next_database_id;
        self.next_database_id += 1;
        self.databases.insert(
            name.to_owned(),
            DatabaseDef {
                id,
                retention_ns: retention.map(duration_ns),
                tables: BTreeMap::new(),
                policy,
                parent,
                default_policy: None,
            },
        );
        true
    }

    /// The databases users name (not the storage of their other retention policies),
    /// or with `all` every storage database.
    pub(crate) fn databases(&self, all: bool) -> Vec<DatabaseInfo> {
        self.databases
            .iter()
            .filter(|(_, d)| all || d.parent.is_none())
            .map(|(name, d)| DatabaseInfo {
                name: name.clone(),
                retention: d.retention(),
            })
            .collect()
    }

    /// Undoes what a validation added.
    pub(crate) fn rollback(&mut self, db: &str, changes: CatalogChanges) {
        if changes.created_database.is_some() {
            self.databases.remove(db);
            return;
        }
        if let Some(d) = self.databases.get_mut(db) {
            for (table, column) in changes.added_columns {
                if let Some(t) = d.tables.get_mut(&table) {
                    t.columns.remove(&column);
                }
            }
            for table in changes.created_tables {
                d.tables.remove(&table);
            }
        }
    }

    /// Adds what a replayed WAL record needs (normally already there, since the catalog is
    /// saved before the record is logged). Columns whose type clashes are left alone.
    pub(crate) fn absorb(&mut self, batch: &BatchRef<'_>) -> bool {
        let Some(db) = self.databases.values_mut().find(|d| d.id == batch.db_id) else {
            return false;
        };
        let mut changed = false;
        for table in &batch.tables {
            let def = db.tables.entry(table.name.to_owned()).or_default();
            for (name, kind) in &table.columns {
                if !def.columns.contains_key(*name) {
                    def.columns.insert((*name).to_owned(), *kind);
                    changed = true;
                }
            }
        }
        changed
    }

    /// Applies a replayed delete: a table drop removes the table (normally already gone,
    /// unless the process died between logging the drop and saving the catalog).
    pub(crate) fn absorb_delete(&mut self, op: &DeleteOp) -> bool {
        let (true, Some(table)) = (op.drop_table, &op.request.table) else {
            return false;
        };
        self.databases
            .values_mut()
            .find(|d| d.id == op.db_id)
            .is_some_and(|d| d.tables.remove(table).is_some())
    }

    /// Validates `lines` for database `db`, adding new tables and columns to the catalog
    /// as lines need them, and builds the batch of accepted lines.
    ///
    /// `now_ns` stamps lines without a timestamp and anchors retention.
    #[cfg(test)]
    pub(crate) fn validate(
        &mut self,
        db: &str,
        lines: &[Line<'_>],
        now_ns: i64,
        limits: &CatalogLimits,
        auto_create: bool,
    ) -> Result<Validated> {
        let mut validation = Validation::new(now_ns);
        let stopped = self.validate_chunk(&mut validation, db, lines, limits, auto_create)?;
        assert!(stopped.is_none(), "a catalog without claims never stops");
        Ok(validation.finish())
    }

    /// Validates one more chunk of a batch's lines into `v` (see [`Catalog::validate`]);
    /// a batch may be validated chunk by chunk so that its parsed lines need not all be
    /// held at once. New tables and columns are added to the catalog and recorded in
    /// `v.changes`.
    ///
    /// With [`Catalog::claims`], a column the catalog lacks takes its claimed type (a
    /// line of another type is rejected as if the catalog had it), and the first line
    /// that would add a column no claim covers stops the chunk: the columns to claim
    /// are returned with how many lines were done, and the caller validates the rest
    /// once it claimed them, so the lines keep their order.
    ///
    /// # Errors
    /// [`Error::DatabaseNotFound`] when `db` is missing (and `auto_create` is off) or was
    /// dropped and created again since an earlier chunk; [`Error::InvalidDatabaseName`].
    pub(crate) fn validate_chunk(
        &mut self,
        v: &mut Validation,
        db: &str,
        lines: &[Line<'_>],
        limits: &CatalogLimits,
        auto_create: bool,
    ) -> Result<Option<Unclaimed>> {
        let now_ns = v.now_ns;
        if !self.databases.contains_key(db) {
            if !auto_create || v.db_id.is_some() {
                return Err(Error::DatabaseNotFound {
                    name: db.to_owned(),
                });
            }
            check_database_name(db)?;
            self.create_database(db, None);
            v.changes.created_database = Some(db.to_owned());
        }
        let def = self.databases.get_mut(db).expect("database exists");
        if *v.db_id.get_or_insert(def.id) != def.id {
            return Err(Error::DatabaseNotFound {
                name: db.to_owned(),
            });
        }
        let first_kept_day = def.first_kept_day(now_ns);
        let Validation {
            tables,
            table_index,
            rejected,
            changes,
            bytes,
            ..
        } = v;

        let claims = self.claims.as_ref();
        for (index, line) in lines.iter().enumerate() {
            let time = line.timestamp.unwrap_or(now_ns);
            if !(MIN_TIME..=MAX_TIME).contains(&time) {
                rejected.push(RejectedLine {
                    line_number: line.line_number,
                    reason: Rejection::TimeOutOfRange { time },
                });
                continue;
            }
            if let Some(first) = first_kept_day
                && day_of(time) < first
            {
                let (database, policy) = def.user_names(db);
                rejected.push(RejectedLine {
                    line_number: line.line_number,
                    reason: Rejection::OutsideRetention {
                        database,
                        policy,
                        time,
                    },
                });
                continue;
            }
            let table_name = line.measurement.as_ref();
            // Fast path: a line with the same keys (and field types) as the table's last
            // accepted line in this batch is valid as far as the catalog goes, since the
            // catalog only grows while the batch is validated.
            let same_shape = table_index
                .get(table_name)
                .is_some_and(|st| st.same_shape(line));
            if same_shape {
                {
                    if let Some((k, v)) = line
                        .tags
                        .iter()
                        .find(|(_, v)| v.len() > limits.max_tag_value_bytes)
                    {
                        rejected.push(RejectedLine {
                            line_number: line.line_number,
                            reason: tag_too_long(k, table_name, v.len(), limits),
                        });
                        continue;
                    }
                }
            } else {
                {
                    let claimed = claims.and_then(|c| c.table(db, table_name));
                    let new_columns = match check_line(def, line, limits, db, claimed) {
                        Ok(n) => n,
                        Err(reason) => {
                            rejected.push(RejectedLine {
                                line_number: line.line_number,
                                reason,
                            });
                            continue;
                        }
                    };
                    if claims.is_some() && new_columns > 0 {
                        let columns = unclaimed_columns(def, line, claimed);
                        if !columns.is_empty() {
                            return Ok(Some(Unclaimed {
                                consumed: index,
                                columns,
                            }));
                        }
                    }
                    // The line is valid: record new tables and columns.
                    if !def.tables.contains_key(table_name) {
                        def.tables
                            .insert(table_name.to_owned(), TableDef::default());
                        changes.created_tables.push(table_name.to_owned());
                    }
                    let tdef = def.tables.get_mut(table_name).expect("table exists");
                    for (k, _) in &line.tags {
                        if !tdef.columns.contains_key(k.as_ref()) {
                            tdef.columns.insert(k.to_string(), ColumnType::Tag);
                            changes
                                .added_columns
                                .push((table_name.to_owned(), k.to_string()));
                        }
                    }
                    for (k, v) in &line.fields {
                        if !tdef.columns.contains_key(k.as_ref()) {
                            tdef.columns
                                .insert(k.to_string(), ColumnType::Field(v.field_type()));
                            changes
                                .added_columns
                                .push((table_name.to_owned(), k.to_string()));
                        }
                    }
                    if !table_index.contains_key(table_name) {
                        tables.push(TableBatch::new(table_name.to_owned(), Vec::new()));
                    }
                    let st = table_index
                        .entry_ref(table_name)
                        .or_insert_with(|| TableState {
                            index: tables.len() - 1,
                            columns: hashbrown::HashMap::new(),
                            last_keys: Vec::new(),
                            last_shape: Vec::new(),
                            series: hashbrown::HashTable::new(),
                            hasher: hashbrown::DefaultHashBuilder::default(),
                        });
                    let table = &mut tables[st.index];
                    let mut col = |name: &str, kind: ColumnType| -> u32 {
                        if let Some(i) = st.columns.get(name) {
                            return *i;
                        }
                        table.columns.push((name.to_owned(), kind));
                        let i = (table.columns.len() - 1) as u32;
                        st.columns.insert(name.to_owned(), i);
                        i
                    };
                    let mut shape = Vec::with_capacity(line.tags.len() + line.fields.len());
                    let mut keys = Vec::with_capacity(shape.capacity());
                    for (k, _) in &line.tags {
                        shape.push(col(k, ColumnType::Tag));
                        keys.push((k.to_string(), None));
                    }
                    for (k, v) in &line.fields {
                        shape.push(col(k, ColumnType::Field(v.field_type())));
                        keys.push((k.to_string(), Some(v.field_type())));
                    }
                    st.last_keys = keys;
                    st.last_shape = shape;
                }
            }
            // Build the row from the shape's column indices; its tag set is stored once
            // per batch (looked up by the line's borrowed values, owned only when new).
            let st = table_index.get_mut(table_name).expect("table state exists");
            let table = &mut tables[st.index];
            let n_tags = line.tags.len();
            let shape = &st.last_shape;
            let tag_columns = &shape[..n_tags];
            let mut row_bytes = 48;
            for (_, v) in &line.tags {
                row_bytes += 8 + v.len();
            }
            let hash = tags_hash(
                &st.hasher,
                tag_columns
                    .iter()
                    .zip(&line.tags)
                    .map(|(c, (_, v))| (*c, v.as_ref())),
            );
            let found = st.series.find(hash, |&(h, s)| {
                h == hash && {
                    let stored = table.series_tags(s);
                    stored.len() == n_tags
                        && stored
                            .zip(tag_columns.iter().zip(&line.tags))
                            .all(|((sc, sv), (c, (_, v)))| sc == *c && sv == v)
                }
            });
            let series = match found {
                Some(&(_, s)) => s,
                None => {
                    let s = table.push_series(
                        tag_columns
                            .iter()
                            .zip(&line.tags)
                            .map(|(c, (_, v))| (*c, v.as_ref())),
                    );
                    st.series.insert_unique(hash, (hash, s), |&(h, _)| h);
                    s
                }
            };
            let start = table.values.len();
            for ((_, v), c) in line.fields.iter().zip(&shape[n_tags..]) {
                let value = Value::from_lp(v);
                row_bytes += value.buffer_bytes();
                table.values.push((*c, value));
            }
            *bytes += row_bytes;
            table.push_row(time, series, start);
        }
        Ok(None)
    }
}

/// A batch part way through validation: what [`Catalog::validate_chunk`] carries from
/// one chunk of lines to the next.
pub(crate) struct Validation {
    now_ns: i64,
    /// The database's id, once a chunk found (or created) it.
    db_id: Option<u32>,
    tables: Vec<TableBatch>,
    /// Per-table state by table name; `tables[state.index]` is the table's batch.
    table_index: hashbrown::HashMap<String, TableState>,
    pub(crate) rejected: Vec<RejectedLine>,
    /// Catalog changes made since the caller last took them.
    pub(crate) changes: CatalogChanges,
    bytes: usize,
}

impl Validation {
    /// An empty batch whose lines without a timestamp get `now_ns`.
    pub(crate) fn new(now_ns: i64) -> Validation {
        Validation {
            now_ns,
            db_id: None,
            tables: Vec::new(),
            table_index: hashbrown::HashMap::new(),
            rejected: Vec::new(),
            changes: CatalogChanges::default(),
            bytes: 0,
        }
    }

    /// The batch of accepted lines and the rejected ones.
    pub(crate) fn finish(self) -> Validated {
        Validated {
            batch: WriteBatch {
                db_id: self.db_id.unwrap_or_default(),
                tables: self.tables,
            },
            rejected: self.rejected,
            changes: self.changes,
            bytes: self.bytes,
        }
    }
}

/// Per-table state while one batch is validated.
struct TableState {
    /// Index of the table in the batch.
    index: usize,
    /// Column name to index in the batch's table.
    columns: hashbrown::HashMap<String, u32>,
    /// Keys (and field types; `None` for tags) of the last accepted line, tags first.
    last_keys: Vec<(String, Option<FieldType>)>,
    /// Column indices of those keys.
    last_shape: Vec<u32>,
    /// Indices into the batch table's `series` with the hash of their tags
    /// ([`tags_hash`]), kept so that growing the table hashes no tag set again.
    series: hashbrown::HashTable<(u64, u32)>,
    hasher: hashbrown::DefaultHashBuilder,
}

/// The hash of a tag set given as (column index, value) pairs.
fn tags_hash<'a>(
    hasher: &hashbrown::DefaultHashBuilder,
    tags: impl Iterator<Item = (u32, &'a str)>,
) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = hasher.build_hasher();
    for (c, v) in tags {
        h.write_u32(c);
        h.write(v.as_bytes());
        h.write_u8(0xff);
    }
    h.finish()
}

impl TableState {
    fn same_shape(&self, line: &Line<'_>) -> bool {
        self.last_keys.len() == line.tags.len() + line.fields.len()
            && line
                .tags
                .iter()
                .zip(&self.last_keys)
                .all(|((k, _), (lk, lt))| lt.is_none() && k == lk)
            && line
                .fields
                .iter()
                .zip(&self.last_keys[line.tags.len()..])
                .all(|((k, v), (lk, lt))| *lt == Some(v.field_type()) && k == lk)
    }
}

fn tag_too_long(key: &str, table: &str, len: usize, limits: &CatalogLimits) -> Rejection {
    Rejection::TagValueTooLong {
        table: table.to_owned(),
        key: key.to_owned(),
        bytes: len,
        max: limits.max_tag_value_bytes,
    }
}

/// The columns `line` would add to the catalog that `claimed` (the claims of its table)
/// does not cover, with the line's types.
fn unclaimed_columns(
    def: &DatabaseDef,
    line: &Line<'_>,
    claimed: Option<&HashMap<String, ColumnType>>,
) -> Vec<NewColumn> {
    let table = line.measurement.as_ref();
    let known = |k: &str| {
        def.tables
            .get(table)
            .is_some_and(|t| t.columns.contains_key(k))
            || claimed.is_some_and(|c| c.contains_key(k))
    };
    let tags = line.tags.iter().map(|(k, _)| (k, ColumnType::Tag));
    let fields = line
        .fields
        .iter()
        .map(|(k, v)| (k, ColumnType::Field(v.field_type())));
    tags.chain(fields)
        .filter(|(k, _)| !known(k))
        .map(|(k, kind)| NewColumn {
            table: table.to_owned(),
            column: k.to_string(),
            kind,
        })
        .collect()
}

/// Checks one line against the database's catalog (which already holds the columns of
/// the batch's earlier accepted lines) and, for columns it lacks, the types `claimed`
/// for the line's table in a shared bucket; the error is why the line is rejected, the
/// count how many columns the line adds to the catalog (claimed ones included).
fn check_line(
    def: &DatabaseDef,
    line: &Line<'_>,
    limits: &CatalogLimits,
    db: &str,
    claimed: Option<&HashMap<String, ColumnType>>,
) -> Result<usize, Rejection> {
    let t = line.measurement.as_ref();
    let table_name = || t.to_owned();
    let table = def.tables.get(t);
    if table.is_none() && def.tables.len() >= limits.max_tables_per_database {
        return Err(Rejection::TableLimit {
            database: db.to_owned(),
            max: limits.max_tables_per_database,
        });
    }
    let mut new_columns = 0usize;
    // A key's type: the catalog's, else its claim's; a key the catalog lacks is new.
    let mut column = |k: &str| match table.and_then(|t| t.columns.get(k)) {
        Some(kind) => Some(kind),
        None => {
            new_columns += 1;
            claimed.and_then(|c| c.get(k))
        }
    };
    for (k, v) in &line.tags {
        if k == "time" {
            return Err(Rejection::ReservedKey {
                table: table_name(),
                is_tag: true,
            });
        }
        if v.len() > limits.max_tag_value_bytes {
            return Err(tag_too_long(k, t, v.len(), limits));
        }
        match column(k.as_ref()) {
            Some(ColumnType::Tag) | None => {}
            Some(ColumnType::Field(ft)) => {
                return Err(Rejection::TagIsField {
                    table: table_name(),
                    key: k.to_string(),
                    field_type: *ft,
                });
            }
        }
    }
    for (k, v) in &line.fields {
        if k == "time" {
            return Err(Rejection::ReservedKey {
                table: table_name(),
                is_tag: false,
            });
        }
        let got = v.field_type();
        match column(k.as_ref()) {
            Some(ColumnType::Field(ft)) if *ft == got => {}
            Some(ColumnType::Field(ft)) => {
                return Err(Rejection::FieldTypeConflict {
                    table: table_name(),
                    field: k.to_string(),
                    existing: *ft,
                    attempted: got,
                });
            }
            Some(ColumnType::Tag) => {
                return Err(Rejection::FieldIsTag {
                    table: table_name(),
                    key: k.to_string(),
                });
            }
            None => {
                // A line cannot name one key as both tag and field.
                if line.tag(k).is_some() {
                    return Err(Rejection::TagAndField {
                        table: table_name(),
                        key: k.to_string(),
                    });
                }
            }
        }
    }
    let existing = table.map_or(1, TableDef::column_count);
    if new_columns > 0 && existing + new_columns > limits.max_columns_per_table {
        return Err(Rejection::ColumnLimit {
            table: table_name(),
            columns: existing + new_columns,
            max: limits.max_columns_per_table,
        });
    }
    Ok(new_columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_lp::parse_lines;

    fn lines(text: &str) -> Vec<Line<'_>> {
        parse_lines(text.as_bytes())
            .map(|r| r.expect("valid line protocol"))
            .collect()
    }

    fn validate(cat: &mut Catalog, text: &str) -> Validated {
        cat.validate("db", &lines(text), 0, &CatalogLimits::default(), true)
            .unwrap()
    }

    #[test]
    fn field_type_conflict_with_the_catalog_rejects_only_that_line() {
        let mut cat = Catalog::new();
        validate(&mut cat, "t f=1.0 1\n");
        let v = validate(&mut cat, "t f=1i 2\nt f=2.0 3\n");
        assert_eq!(v.rejected.len(), 1);
        assert_eq!(v.rejected[0].line_number, 1);
        assert_eq!(v.rejected[0].reason, float_got_integer());
        assert_eq!(
            v.rejected[0].reason.to_string(),
            r#"field type conflict: field "f" on table "t" is float, got integer"#
        );
        assert_eq!(v.batch.rows(), 1);
    }

    #[test]
    fn times_at_the_ends_of_the_64_bit_range_are_rejected_as_influxdb_rejects_them() {
        let mut cat = Catalog::new();
        let v = validate(
            &mut cat,
            "t f=1 9223372036854775807\nt f=2 9223372036854775806\n\
             t f=3 -9223372036854775808\nt f=4 -9223372036854775807\n\
             t f=5 -9223372036854775806\n",
        );
        assert_eq!(v.batch.rows(), 2);
        let rejected: Vec<(usize, &Rejection)> = v
            .rejected
            .iter()
            .map(|r| (r.line_number, &r.reason))
            .collect();
        assert_eq!(
            rejected,
            [
                (1, &Rejection::TimeOutOfRange { time: i64::MAX }),
                (3, &Rejection::TimeOutOfRange { time: i64::MIN }),
                (4, &Rejection::TimeOutOfRange { time: i64::MIN + 1 }),
            ]
        );
        assert_eq!(
            rejected[0].1.to_string(),
            "timestamp out of range: time 9223372036854775807 is outside \
             -9223372036854775806..=9223372036854775806, the nanoseconds a point may have"
        );
        assert_eq!(rejected[0].1.kind(), "timestamp out of range");
    }

    #[test]
    fn field_type_conflict_within_one_batch_rejects_the_later_line() {
        let mut cat = Catalog::new();
        let v = validate(&mut cat, "t f=1.0 1\nt f=1i 2\n");
        assert_eq!(v.batch.rows(), 1);
        assert_eq!(v.rejected.len(), 1);
        assert_eq!(v.rejected[0].line_number, 2);
        assert_eq!(v.rejected[0].reason, float_got_integer());
    }

    fn float_got_integer() -> Rejection {
        Rejection::FieldTypeConflict {
            table: "t".into(),
            field: "f".into(),
            existing: FieldType::Float,
            attempted: FieldType::Integer,
        }
    }

    #[test]
    fn tag_that_is_a_field_and_field_that_is_a_tag_are_conflicts() {
        let mut cat = Catalog::new();
        validate(&mut cat, "t,k=a f=1 1\n");
        let v = validate(&mut cat, "t,f=x g=1 1\nt k=1 2\nt,z=1 z=1 3\n");
        assert_eq!(v.rejected.len(), 3, "{:?}", v.rejected);
        let reasons: Vec<_> = v.rejected.iter().map(|r| &r.reason).collect();
        assert!(
            matches!(reasons[0], Rejection::TagIsField { key, field_type: FieldType::Float, .. } if key == "f"),
            "{reasons:?}"
        );
        assert!(
            matches!(reasons[1], Rejection::FieldIsTag { key, .. } if key == "k"),
            "{reasons:?}"
        );
        assert!(
            matches!(reasons[2], Rejection::TagAndField { key, .. } if key == "z"),
            "{reasons:?}"
        );
        assert!(reasons.iter().all(|r| r.kind() == "tag/field conflict"));
    }

    #[test]
    fn limits_reject_lines_with_clear_reasons() {
        let mut cat = Catalog::new();
        let limits = CatalogLimits {
            max_tables_per_database: 1,
            max_columns_per_table: 3,
            max_tag_value_bytes: 3,
        };
        let v = cat
            .validate(
                "db",
                &lines("a,k=v f=1 1\nb f=1 1\na,k=long f=1 1\na g=1,h=2 1\n"),
                0,
                &limits,
                true,
            )
            .unwrap();
        let reasons: Vec<_> = v.rejected.iter().map(|r| &r.reason).collect();
        assert_eq!(v.batch.rows(), 1);
        assert_eq!(
            reasons,
            [
                &Rejection::TableLimit {
                    database: "db".into(),
                    max: 1
                },
                &Rejection::TagValueTooLong {
                    table: "a".into(),
                    key: "k".into(),
                    bytes: 4,
                    max: 3
                },
                &Rejection::ColumnLimit {
                    table: "a".into(),
                    columns: 5,
                    max: 3
                },
            ]
        );
        assert!(
            reasons[2]
                .to_string()
                .starts_with("column limit reached: table \"a\" would have 5 columns"),
            "{reasons:?}"
        );
    }

    #[test]
    fn missing_database_is_an_error_when_auto_create_is_off() {
        let mut cat = Catalog::new();
        let err = cat
            .validate(
                "nope",
                &lines("t f=1 1\n"),
                0,
                &CatalogLimits::default(),
                false,
            )
            .unwrap_err();
        assert_eq!(err.to_string(), r#"database not found: "nope""#);
    }

    #[test]
    fn rollback_removes_what_validation_added() {
        let mut cat = Catalog::new();
        validate(&mut cat, "t f=1 1\n");
        let before = cat.clone();
        let v = validate(&mut cat, "t,h=a g=1i 1\nu x=1 1\n");
        assert_ne!(cat, before);
        cat.rollback("db", v.changes);
        assert_eq!(cat, before);
    }

    #[test]
    fn catalog_survives_save_and_load() {
        let dir = tempfile::tempdir().unwrap();
        let mut cat = Catalog::new();
        validate(&mut cat, "t,h=a f=1,i=2i,u=3u,s=\"x\",b=true 1\n");
        cat.create_database("other", Some(Duration::from_secs(3600)));
        cat.save(dir.path()).unwrap();
        assert_eq!(Catalog::load(dir.path()).unwrap(), cat);
    }

    #[test]
    fn a_catalog_saved_before_retention_policies_loads_as_autogen() {
        let dir = tempfile::tempdir().unwrap();
        let old = r#"{"version":1,"next_database_id":2,"databases":{"db":{"id":1,"retention_ns":null,"tables":{}}}}"#;
        std::fs::write(dir.path().join("catalog.json"), old).unwrap();
        let cat = Catalog::load(dir.path()).unwrap();
        let def = cat.database("db").unwrap();
        assert_eq!(def.policy, PolicyDef::default());
        assert_eq!(def.parent, None);
        assert_eq!(cat.policy_database("db", None).unwrap(), "db");
    }

    #[test]
    fn lines_beyond_retention_are_rejected() {
        let mut cat = Catalog::new();
        cat.create_database("db", Some(Duration::from_secs(86_400)));
        let now = 10 * DAY_NS + 5;
        let text = format!("t f=1 {}\nt f=1 {}\n", 8 * DAY_NS, 9 * DAY_NS + 1);
        let v = cat
            .validate("db", &lines(&text), now, &CatalogLimits::default(), true)
            .unwrap();
        assert_eq!(v.batch.rows(), 1);
        assert_eq!(v.rejected[0].line_number, 1);
    }
}
