//! `Storage`: the engine's public handle tying catalog, WAL, buffer and persistence together.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arrow::array::RecordBatch;
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::ObjectStoreExt;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::buffer::{Buffer, PartitionBuffer};
use crate::catalog::{Catalog, check_database_name};
use crate::config::{ObjectStoreConfig, StorageConfig, WalSync};
use crate::encoding::WriteBatch;
use crate::error::{Error, Result};
use crate::manifest::{Manifest, ParquetFile};
use crate::merge::{SortedBatches, TableSchema, merge, merge_keep_last, project};
use crate::metrics::Metrics;
use crate::persist;
use crate::predicate::DeleteOp;
use crate::types::{
    DatabaseInfo, ScanRequest, ScanResult, StorageFault, StorageMetrics, TableInfo, WriteOptions,
    WriteOutcome,
};
use crate::wal::{self, Applier, Record, Wal, WalOptions};

mod compact;
mod delete;
mod files;

use compact::compact;
use files::{MERGE_BATCH_ROWS, NewFiles, Staging};

/// How long a client is told to wait after [`Error::Backpressure`].
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The storage engine. Cheap to clone (an `Arc` inside); every clone is the same engine.
#[derive(Debug, Clone)]
pub struct Storage {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: StorageConfig,
    catalog_dir: PathBuf,
    catalog: Mutex<Catalog>,
    state: Arc<RwLock<State>>,
    wal: Wal,
    store: Arc<dyn ObjectStore>,
    /// Root directory of a local object store, whose new files are fsynced (the object
    /// store's put renames a temporary file into place but does not fsync).
    local_root: Option<PathBuf>,
    metrics: Arc<Metrics>,
    /// Serializes persistence and compaction (the writers of new Parquet files).
    persist_lock: tokio::sync::Mutex<()>,
    wakeup: Arc<Notify>,
    closed: AtomicBool,
    background: Mutex<Option<JoinHandle<()>>>,
    /// Objects no longer in the manifest, deleted by the background task.
    pending_deletes: Mutex<Vec<String>>,
    /// Held shared by writes from validation until their record is queued in the WAL, and
    /// exclusively by a table drop from logging its record until the catalog without the
    /// table is saved, so no write validated against the old table is logged after the
    /// drop and no catalog without the table is saved before the drop is durable.
    ddl: tokio::sync::RwLock<()>,
    /// Why the last persistence failed; cleared when one succeeds.
    persist_fault: Mutex<Option<String>>,
    /// Logged deletes (with their sequence numbers) not yet applied to Parquet files;
    /// applied before the next persistence, which fails while they cannot be.
    unapplied_deletes: Mutex<Vec<(u64, DeleteOp)>>,
    /// Parsed footers and page indexes of Parquet files by object path (files never
    /// change once written).
    file_metadata: Mutex<HashMap<String, persist::FileMeta>>,
    /// The newest rows per series of single Parquet files, as `scan_last` read them.
    last_rows: Mutex<HashMap<LastRowsKey, Vec<RecordBatch>>>,
}

/// Most entries of [`Inner::file_metadata`] before it is emptied.
const MAX_CACHED_METADATA: usize = 4096;
/// Most entries of [`Inner::last_rows`] before it is emptied.
const MAX_CACHED_LAST_ROWS: usize = 256;

/// What one file's newest rows were read for: the file, the table it belongs to, how
/// many rows per series, the fields read and the predicates.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct LastRowsKey {
    db_id: u32,
    table: String,
    path: String,
    per_series: usize,
    fields: Vec<String>,
    time_range: Option<(i64, i64)>,
    tag_equals: Vec<(String, String)>,
}

/// What scans see: the buffer being written, buffers being persisted, and live files.
#[derive(Debug)]
struct State {
    active: Buffer,
    /// When the oldest write still only in `active` arrived.
    active_since: Option<Instant>,
    frozen: Vec<Arc<Frozen>>,
    manifest: Arc<Manifest>,
}

/// A buffer snapshot taken at a WAL rotation, being persisted.
#[derive(Debug, Clone)]
struct Frozen {
    last_seq: u64,
    buffer: Buffer,
}

impl State {
    fn buffer_bytes(&self) -> usize {
        self.active.bytes + self.frozen.iter().map(|f| f.buffer.bytes).sum::<usize>()
    }
}

struct BufferApplier {
    state: Arc<RwLock<State>>,
    metrics: Arc<Metrics>,
}

impl Applier for BufferApplier {
    fn apply(&mut self, _seq: u64, batch: WriteBatch) {
        let mut state = self.state.write();
        state.active.apply(batch);
        state.active_since.get_or_insert_with(Instant::now);
        self.metrics
            .buffer_bytes
            .store(state.buffer_bytes() as u64, Ordering::Relaxed);
    }

    fn delete(&mut self, _seq: u64, op: &DeleteOp) {
        let mut state = self.state.write();
        state.active.delete(op);
        // Deletes run under the persist lock, so no persistence holds these buffers and
        // `make_mut` does not copy.
        for frozen in &mut state.frozen {
            Arc::make_mut(frozen).buffer.delete(op);
        }
        self.metrics
            .buffer_bytes
            .store(state.buffer_bytes() as u64, Ordering::Relaxed);
    }

    fn snapshot(&mut self, last_seq: u64) {
        let mut state = self.state.write();
        if state.active.is_empty() {
            return;
        }
        let buffer = std::mem::take(&mut state.active);
        state.active_since = None;
        state.frozen.push(Arc::new(Frozen { last_seq, buffer }));
    }
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

fn create_dir(path: &std::path::Path) -> Result<()> {
    fs::create_dir_all(path).map_err(|e| Error::io(format!("creating {}", path.display()), e))
}

impl Storage {
    /// Opens (creating if needed) the data directory, loads the catalog and manifest,
    /// replays the WAL and starts the WAL writer and the background task (persistence,
    /// retention, compaction). Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// [`Error::WalCorrupt`] naming the file and offset when a WAL file is damaged in the
    /// middle (unless `skip_corrupt_wal_records`), [`Error::Io`] / [`Error::Catalog`] when
    /// files cannot be read or written, [`Error::ObjectStore`] when the store fails.
    pub async fn open(config: StorageConfig) -> Result<Storage> {
        let wal_dir = config.data_dir.join("wal");
        let catalog_dir = config.data_dir.join("catalog");
        create_dir(&wal_dir)?;
        create_dir(&catalog_dir)?;
        let mut catalog = Catalog::load(&catalog_dir)?;
        let manifest = Manifest::load(&catalog_dir)?;
        let local_root = match &config.object_store {
            ObjectStoreConfig::Memory => None,
            ObjectStoreConfig::Local => Some(config.data_dir.join("objects")),
            ObjectStoreConfig::LocalPath(p) => Some(p.clone()),
        };
        let store: Arc<dyn ObjectStore> = match &local_root {
            None => Arc::new(InMemory::new()),
            Some(root) => local_store(root.clone())?,
        };
        delete_orphans(store.as_ref(), &manifest).await?;
        if let Some(root) = &local_root {
            remove_staged_uploads(&root.join("dbs"))?;
        }

        let metrics = Arc::new(Metrics::default());
        let live_ids: HashSet<u32> = catalog.databases.values().map(|d| d.id).collect();
        let mut buffer = Buffer::default();
        let mut catalog_changed = false;
        let mut replayed = 0u64;
        let mut file_deletes = Vec::new();
        let mut replay =
            wal::replay(
                &wal_dir,
                config.skip_corrupt_wal_records,
                |seq, record| match record {
                    Record::Write(batch) => {
                        if seq <= manifest.persisted_seq || !live_ids.contains(&batch.db_id) {
                            return;
                        }
                        catalog_changed |= catalog.absorb(&batch);
                        replayed += batch.rows() as u64;
                        buffer.apply(batch);
                    }
                    Record::Delete(op) => {
                        if seq <= manifest.persisted_seq || !live_ids.contains(&op.db_id) {
                            return;
                        }
                        buffer.delete(&op);
                        catalog_changed |= catalog.absorb_delete(&op);
                        if seq > manifest.deletes_applied_seq {
                            file_deletes.push((seq, op));
                        }
                    }
                },
            )?;
        // With every segment persisted and deleted, the manifest alone remembers how far
        // sequence numbers went; new records must sort after it or replay would skip them.
        replay.last_seq = replay.last_seq.max(manifest.persisted_seq);
        if catalog_changed {
            catalog.save(&catalog_dir)?;
        }
        if replayed > 0 {
            tracing::info!(rows = replayed, "replayed the wal");
        }
        metrics
            .buffer_bytes
            .store(buffer.bytes as u64, Ordering::Relaxed);
        metrics
            .parquet_files
            .store(manifest.files.len() as u64, Ordering::Relaxed);
        let state = Arc::new(RwLock::new(State {
            active_since: (!buffer.is_empty()).then(Instant::now),
            active: buffer,
            frozen: Vec::new(),
            manifest: Arc::new(manifest),
        }));
        let wal = Wal::start(
            WalOptions {
                dir: wal_dir,
                background_sync_interval: config.wal_background_sync_interval,
                segment_bytes: config.wal_segment_bytes,
                segment_age: config.wal_segment_age,
            },
            replay,
            BufferApplier {
                state: state.clone(),
                metrics: metrics.clone(),
            },
            metrics.clone(),
        )?;
        let inner = Arc::new(Inner {
            config,
            catalog_dir,
            catalog: Mutex::new(catalog),
            state,
            wal,
            store,
            local_root,
            metrics,
            persist_lock: tokio::sync::Mutex::new(()),
            wakeup: Arc::new(Notify::new()),
            closed: AtomicBool::new(false),
            background: Mutex::new(None),
            pending_deletes: Mutex::new(Vec::new()),
            ddl: tokio::sync::RwLock::new(()),
            persist_fault: Mutex::new(None),
            unapplied_deletes: Mutex::new(file_deletes),
            file_metadata: Mutex::new(HashMap::new()),
            last_rows: Mutex::new(HashMap::new()),
        });
        delete::recover(&inner).await?;
        let task = tokio::spawn(background(Arc::downgrade(&inner), inner.wakeup.clone()));
        *inner.background.lock() = Some(task);
        Ok(Storage { inner })
    }

    /// Validates `lines` against the catalog (types, limits, retention), appends the
    /// accepted ones to the WAL and returns once they are durable (fdatasync'ed, group
    /// committed), or once handed to the OS when `options.no_sync` or [`WalSync::None`].
    /// Accepted data is visible to scans on return.
    ///
    /// Lines that fail catalog checks are listed in `rejected` and the rest are written,
    /// unless `!options.accept_partial`, in which case nothing is written when any line
    /// fails. Lines without a timestamp get the server's current time.
    ///
    /// # Errors
    /// [`Error::DatabaseNotFound`] (auto-create off and no such database),
    /// [`Error::Backpressure`] (buffer over `max_buffer_bytes`; nothing written),
    /// [`Error::InvalidDatabaseName`], [`Error::Io`], [`Error::Closed`].
    pub async fn write(
        &self,
        db: &str,
        lines: &[sluice_lp::Line<'_>],
        options: WriteOptions,
    ) -> Result<WriteOutcome> {
        let inner = &self.inner;
        let gate = self.admit_write(db).await?;
        let validated = {
            let mut catalog = inner.catalog.lock();
            let mut v = catalog.validate(
                db,
                lines,
                now_ns(),
                &inner.config.limits,
                inner.config.auto_create_databases,
            )?;
            if !options.accept_partial && !v.rejected.is_empty() {
                catalog.rollback(db, std::mem::take(&mut v.changes));
                Metrics::add(&inner.metrics.lines_rejected, lines.len() as u64);
                return Ok(WriteOutcome {
                    accepted: 0,
                    rejected: v.rejected,
                });
            }
            if !v.changes.is_empty()
                && let Err(e) = catalog.save(&inner.catalog_dir)
            {
                catalog.rollback(db, std::mem::take(&mut v.changes));
                return Err(e);
            }
            v
        };
        self.log_write(validated, gate, options.no_sync).await
    }

    /// Starts a write whose lines are given chunk by chunk ([`ChunkedWrite::add`]), so a
    /// caller parsing a large request can reuse one chunk of parsed lines instead of
    /// holding them all; [`ChunkedWrite::commit`] logs it. Always accepts partially: a
    /// rejected line does not stop the others, and the tables and columns a chunk adds
    /// stay in the catalog.
    ///
    /// Durability and visibility are those of [`Storage::write`]: nothing is logged
    /// before `commit`, and when `commit` returns the accepted lines are durable (unless
    /// `no_sync`) and visible to scans. Table drops wait while the write is open.
    ///
    /// # Errors
    /// As [`Storage::write`] before any line is read: [`Error::Closed`],
    /// [`Error::InvalidDatabaseName`], [`Error::Backpressure`].
    pub async fn begin_write(&self, db: &str, no_sync: bool) -> Result<ChunkedWrite<'_>> {
        let gate = self.admit_write(db).await?;
        Ok(ChunkedWrite {
            storage: self,
            gate,
            db: db.to_owned(),
            no_sync,
            validation: crate::catalog::Validation::new(now_ns()),
        })
    }

    /// The checks every write passes before its lines are validated; returns the gate
    /// to hold until the write is queued (see `Inner::ddl`).
    async fn admit_write(&self, db: &str) -> Result<tokio::sync::RwLockReadGuard<'_, ()>> {
        let inner = &self.inner;
        if inner.closed.load(Ordering::Relaxed) {
            return Err(Error::Closed);
        }
        check_database_name(db)?;
        if inner.metrics.buffer_bytes.load(Ordering::Relaxed) as usize
            > inner.config.max_buffer_bytes
        {
            Metrics::add(&inner.metrics.backpressure_events, 1);
            inner.wakeup.notify_one();
            return Err(Error::Backpressure {
                retry_after: RETRY_AFTER,
            });
        }
        Ok(inner.ddl.read().await)
    }

    /// Logs a validated batch: queues it to the WAL, releases `gate`, and waits until it
    /// is durable (or written, with `no_sync`) and applied to the buffer.
    async fn log_write(
        &self,
        validated: crate::catalog::Validated,
        gate: tokio::sync::RwLockReadGuard<'_, ()>,
        no_sync: bool,
    ) -> Result<WriteOutcome> {
        let inner = &self.inner;
        let accepted = validated.batch.rows();
        Metrics::add(
            &inner.metrics.lines_rejected,
            validated.rejected.len() as u64,
        );
        if accepted > 0 {
            let sync = inner.config.wal_sync == WalSync::Fsync && !no_sync;
            let ticket = inner.wal.submit(validated.batch, validated.bytes, sync)?;
            drop(gate);
            ticket.wait().await?;
            Metrics::add(&inner.metrics.lines_written, accepted as u64);
            if inner.metrics.buffer_bytes.load(Ordering::Relaxed) as usize
                >= inner.config.persist_buffer_bytes
            {
                inner.wakeup.notify_one();
            }
        }
        Ok(WriteOutcome {
            accepted,
            rejected: validated.rejected,
        })
    }

    /// Creates a database with a retention period (`None`: keep forever); true if
    /// created, false if it existed (its retention is left alone).
    ///
    /// # Errors
    /// [`Error::InvalidDatabaseName`], [`Error::Io`] when the catalog cannot be saved.
    pub fn create_database(&self, name: &str, retention: Option<Duration>) -> Result<bool> {
        check_database_name(name)?;
        let mut catalog = self.inner.catalog.lock();
        if !catalog.create_database(name, retention) {
            return Ok(false);
        }
        if let Err(e) = catalog.save(&self.inner.catalog_dir) {
            catalog.databases.remove(name);
            return Err(e);
        }
        Ok(true)
    }

    /// Drops a database and all its data (buffered data at once, Parquet files in the
    /// background); true if it existed.
    ///
    /// # Errors
    /// [`Error::Io`] when the catalog or manifest cannot be saved.
    pub fn drop_database(&self, name: &str) -> Result<bool> {
        let inner = &self.inner;
        let mut catalog = inner.catalog.lock();
        let Some(def) = catalog.databases.remove(name) else {
            return Ok(false);
        };
        if let Err(e) = catalog.save(&inner.catalog_dir) {
            catalog.databases.insert(name.to_owned(), def);
            return Err(e);
        }
        let mut state = inner.state.write();
        state.active.drop_database(def.id);
        self.edit_manifest(&mut state, |f| f.db_id != def.id)?;
        inner
            .metrics
            .buffer_bytes
            .store(state.buffer_bytes() as u64, Ordering::Relaxed);
        inner.wakeup.notify_one();
        Ok(true)
    }

    /// Keeps only files for which `keep` is true, saving the manifest and queueing the
    /// others for deletion.
    fn edit_manifest(&self, state: &mut State, keep: impl Fn(&ParquetFile) -> bool) -> Result<()> {
        let (kept, dropped): (Vec<_>, Vec<_>) =
            state.manifest.files.iter().cloned().partition(|f| keep(f));
        if dropped.is_empty() {
            return Ok(());
        }
        let mut manifest = (*state.manifest).clone();
        manifest.files = kept;
        manifest.save(&self.inner.catalog_dir)?;
        self.inner
            .metrics
            .parquet_files
            .store(manifest.files.len() as u64, Ordering::Relaxed);
        state.manifest = Arc::new(manifest);
        self.inner
            .pending_deletes
            .lock()
            .extend(dropped.into_iter().map(|f| f.path));
        Ok(())
    }

    /// Sets a database's retention (`None`: keep forever). Enforced by the background
    /// task within `background_interval`.
    ///
    /// # Errors
    /// [`Error::DatabaseNotFound`], [`Error::Io`] when the catalog cannot be saved.
    pub fn set_retention(&self, name: &str, retention: Option<Duration>) -> Result<()> {
        let mut catalog = self.inner.catalog.lock();
        let def = catalog
            .databases
            .get_mut(name)
            .ok_or_else(|| Error::DatabaseNotFound {
                name: name.to_owned(),
            })?;
        let old = def.retention_ns;
        def.retention_ns = retention.map(|r| u64::try_from(r.as_nanos()).unwrap_or(u64::MAX));
        if let Err(e) = catalog.save(&self.inner.catalog_dir) {
            if let Some(def) = catalog.databases.get_mut(name) {
                def.retention_ns = old;
            }
            return Err(e);
        }
        self.inner.wakeup.notify_one();
        Ok(())
    }

    /// The databases, sorted by name.
    pub fn databases(&self) -> Vec<DatabaseInfo> {
        self.inner.catalog.lock().databases()
    }

    /// The tables of a database, sorted by name, each with its columns in scan order.
    ///
    /// # Errors
    /// [`Error::DatabaseNotFound`].
    pub fn tables(&self, db: &str) -> Result<Vec<TableInfo>> {
        let catalog = self.inner.catalog.lock();
        Ok(catalog
            .database(db)?
            .tables
            .iter()
            .map(|(name, t)| t.info(name))
            .collect())
    }

    /// Reads a table: buffered and persisted rows matching the request, merged so there
    /// is one row per (series, time) with the newest value of each field, sorted by tags
    /// then time. Parquet files are pruned by day, time statistics and tag statistics.
    ///
    /// # Errors
    /// [`Error::DatabaseNotFound`], [`Error::TableNotFound`], [`Error::ObjectStore`] /
    /// [`Error::Parquet`] when a file cannot be read.
    pub async fn scan(&self, db: &str, table: &str, request: &ScanRequest) -> Result<ScanResult> {
        self.scan_with(db, table, request, None).await
    }

    /// [`Storage::scan`] keeping only the newest `per_series` rows of each series (after
    /// the time range and tag predicates): what `ORDER BY time DESC LIMIT n` needs.
    ///
    /// # Errors
    /// As [`Storage::scan`].
    pub async fn scan_last(
        &self,
        db: &str,
        table: &str,
        request: &ScanRequest,
        per_series: usize,
    ) -> Result<ScanResult> {
        self.scan_with(db, table, request, Some(per_series)).await
    }

    async fn scan_with(
        &self,
        db: &str,
        table: &str,
        request: &ScanRequest,
        keep_last: Option<usize>,
    ) -> Result<ScanResult> {
        let mut attempt = 0;
        loop {
            match self.scan_once(db, table, request, keep_last).await {
                // A file compacted or expired away between listing and reading: list again.
                Err(Error::ObjectStore(object_store::Error::NotFound { .. })) if attempt < 3 => {
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn scan_once(
        &self,
        db: &str,
        table: &str,
        request: &ScanRequest,
        keep_last: Option<usize>,
    ) -> Result<ScanResult> {
        let inner = &self.inner;
        let (db_id, first_kept_day, mut schema) = {
            let catalog = inner.catalog.lock();
            let def = catalog.database(db)?;
            let t = def.tables.get(table).ok_or_else(|| Error::TableNotFound {
                database: db.to_owned(),
                table: table.to_owned(),
            })?;
            (
                def.id,
                def.first_kept_day(now_ns()).unwrap_or(i64::MIN),
                TableSchema::from_def(t),
            )
        };
        // Only projected fields are read and merged; every tag is kept, since together
        // they name the series that rows merge by. (A row exists when any field of the
        // table has a value, so merging a subset of fields yields the same rows.)
        if let Some(names) = &request.projection {
            schema.fields.retain(|(n, _)| names.contains(n));
        }
        let range = request.time_range;
        // Copying buffered rows out is CPU work under the state lock: keep it off the
        // async workers.
        let snapshot = {
            let state = inner.state.clone();
            let schema = schema.clone();
            let table = table.to_owned();
            let tag_equals = request.tag_equals.clone();
            let projection = request.projection.clone();
            move || -> Result<(Vec<ParquetFile>, Vec<RecordBatch>, TableSchema)> {
                let wanted = |day: i64, min: i64, max: i64| {
                    day >= first_kept_day && range.is_none_or(|(s, e)| max >= s && min < e)
                };
                let state = state.read();
                let files: Vec<ParquetFile> = state
                    .manifest
                    .table_files(db_id, &table)
                    .into_iter()
                    .filter(|f| wanted(f.day, f.min_time, f.max_time))
                    .cloned()
                    .collect();
                let parts: Vec<&PartitionBuffer> = state
                    .frozen
                    .iter()
                    .map(|f| &f.buffer)
                    .chain([&state.active])
                    .filter_map(|b| b.table(db_id, &table))
                    .flat_map(|tb| tb.partitions.iter())
                    .filter(|(day, p)| wanted(**day, p.min_time, p.max_time))
                    .map(|(_, p)| p)
                    .collect();
                let mut schema = schema;
                // A file's newest rows per series are found by a merge, which needs
                // every tag.
                let file_merge = keep_last.is_some() && !files.is_empty();
                if files.len() + parts.len() == 1
                    && !file_merge
                    && let Some(names) = &projection
                {
                    // One source needs no merge, so the tags that name series for the
                    // merge are not needed: only projected and predicate tags are read.
                    schema
                        .tags
                        .retain(|t| names.contains(t) || tag_equals.iter().any(|(k, _)| k == t));
                }
                let mut buffered = Vec::new();
                for part in parts {
                    if let Some(b) = part.to_batch_last(&schema, range, &tag_equals, keep_last)? {
                        buffered.push(b);
                    }
                }
                Ok((files, buffered, schema))
            }
        };
        let (files, buffered, schema) = tokio::task::spawn_blocking(snapshot)
            .await
            .map_err(|e| Error::Catalog(format!("scan task failed: {e}")))??;
        let arrow_schema = schema.arrow_schema();
        let mut sources = Vec::new();
        // Files and buffered partitions with rows (each sorted and unique by itself).
        let mut units = 0usize;
        for file in &files {
            let last_key = keep_last.map(|k| LastRowsKey {
                db_id,
                table: table.to_owned(),
                path: file.path.clone(),
                per_series: k,
                fields: schema.fields.iter().map(|(n, _)| n.clone()).collect(),
                time_range: range,
                tag_equals: request.tag_equals.clone(),
            });
            if let Some(key) = &last_key
                && let Some(batches) = inner.last_rows.lock().get(key)
            {
                units += usize::from(!batches.is_empty());
                sources.extend(batches.iter().cloned());
                continue;
            }
            let data = self.open_file(&file.path).await?;
            let cached = inner.file_metadata.lock().get(&file.path).cloned();
            let s = arrow_schema.clone();
            let table_schema = schema.clone();
            let tags = request.tag_equals.clone();
            let (metadata, batches) = tokio::task::spawn_blocking(move || {
                let metadata = match cached {
                    Some(m) => m,
                    None => persist::load_metadata(&data)?,
                };
                let mut batches =
                    persist::read(data, metadata.clone(), &s, range, &tags, keep_last)?;
                if let Some(k) = keep_last {
                    // The file's own newest rows: all the merge below can keep of it.
                    let last = merge_keep_last(&table_schema, batches, Some(k))?;
                    batches = if last.num_rows() == 0 {
                        Vec::new()
                    } else {
                        vec![last]
                    };
                }
                Ok::<_, Error>((metadata, batches))
            })
            .await
            .map_err(|e| Error::Catalog(format!("scan task failed: {e}")))??;
            {
                let mut cache = inner.file_metadata.lock();
                if cache.len() >= MAX_CACHED_METADATA {
                    cache.clear();
                }
                cache.insert(file.path.clone(), metadata);
            }
            if let Some(key) = last_key {
                let mut cache = inner.last_rows.lock();
                if cache.len() >= MAX_CACHED_LAST_ROWS {
                    cache.clear();
                }
                cache.insert(key, batches.clone());
            }
            units += usize::from(!batches.is_empty());
            sources.extend(batches);
        }
        units += buffered.len();
        sources.extend(buffered);
        if units == 1 {
            // One file or one buffered partition: already sorted, one row per series and
            // time, and cut to the newest rows; nothing to merge.
            let batches = sources
                .iter()
                .filter(|b| b.num_rows() > 0)
                .map(|b| match &request.projection {
                    Some(names) => project(b, names),
                    None => Ok(b.clone()),
                })
                .collect::<Result<Vec<_>>>()?;
            let schema = match (&request.projection, batches.first()) {
                (_, Some(b)) => b.schema(),
                (Some(names), None) => {
                    project(&RecordBatch::new_empty(arrow_schema), names)?.schema()
                }
                (None, None) => arrow_schema,
            };
            return Ok(ScanResult { schema, batches });
        }
        let merged = if sources.is_empty() {
            RecordBatch::new_empty(arrow_schema.clone())
        } else {
            let s = schema.clone();
            tokio::task::spawn_blocking(move || merge_keep_last(&s, sources, keep_last))
                .await
                .map_err(|e| Error::Catalog(format!("scan task failed: {e}")))??
        };
        let out = match &request.projection {
            Some(names) => project(&merged, names)?,
            None => merged,
        };
        Ok(ScanResult {
            schema: out.schema(),
            batches: if out.num_rows() == 0 {
                Vec::new()
            } else {
                vec![out]
            },
        })
    }

    /// Forgets what is cached about a table's Parquet files beyond their footers (the
    /// newest rows per series that `scan_last` keeps per file). The cache is keyed by
    /// file, and files never change (deletes and compaction write new files under new
    /// names), so the engine itself never needs this; it bounds memory after a table's
    /// hot queries are done.
    pub fn invalidate_table(&self, db: &str, table: &str) {
        let Ok(db_id) = self.inner.catalog.lock().database(db).map(|d| d.id) else {
            return;
        };
        self.inner
            .last_rows
            .lock()
            .retain(|k, _| !(k.db_id == db_id && k.table == table));
    }

    /// A Parquet file to read: opened in place from a local store (so only the pages
    /// needed are read), fetched whole from any other.
    async fn open_file(&self, path: &str) -> Result<persist::FileData> {
        match &self.inner.local_root {
            Some(root) => match fs::File::open(root.join(path)) {
                Ok(f) => Ok(persist::FileData::File(f)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    Err(Error::ObjectStore(object_store::Error::NotFound {
                        path: path.to_owned(),
                        source: Box::new(e),
                    }))
                }
                Err(e) => Err(Error::io(format!("opening {path}"), e)),
            },
            None => Ok(persist::FileData::Bytes(self.get_object(path).await?)),
        }
    }

    async fn get_object(&self, path: &str) -> Result<Bytes> {
        let path = ObjectPath::from(path);
        Ok(self.inner.store.get(&path).await?.bytes().await?)
    }

    /// A snapshot of the engine's counters.
    pub fn metrics(&self) -> StorageMetrics {
        let mut metrics = self.inner.metrics.snapshot();
        metrics.wal_failing = self.inner.wal.fault().is_some();
        metrics
    }

    /// What is failing right now; empty while storage is healthy. The WAL fails while
    /// its disk is full or it cannot be written (writes are refused with
    /// [`Error::DiskFull`] / [`Error::WalUnavailable`] and it recovers by itself);
    /// persistence fails while buffered data cannot be written to Parquet (it is kept
    /// and retried every `background_interval`).
    pub fn faults(&self) -> Vec<StorageFault> {
        let mut out = Vec::new();
        if let Some(fault) = self.inner.wal.fault() {
            out.push(StorageFault {
                component: "wal",
                message: fault.to_error().to_string(),
            });
        }
        if let Some(message) = self.inner.persist_fault.lock().clone() {
            out.push(StorageFault {
                component: "persistence",
                message,
            });
        }
        out
    }

    /// The write buffer's ceiling (`StorageConfig::max_buffer_bytes`): above it writes
    /// are refused with [`Error::Backpressure`].
    pub fn max_buffer_bytes(&self) -> usize {
        self.inner.config.max_buffer_bytes
    }

    /// Stops the background task, syncs the WAL and stops its writer; later writes fail
    /// with [`Error::Closed`]. Buffered data is not persisted to Parquet (the WAL holds
    /// it and is replayed on the next open).
    ///
    /// # Errors
    /// [`Error::Io`] when the final WAL sync fails.
    pub async fn shutdown(&self) -> Result<()> {
        self.inner.closed.store(true, Ordering::Relaxed);
        let task = self.inner.background.lock().take();
        if let Some(task) = task {
            // Every persistence step is atomic on disk, so stopping mid-way is safe.
            task.abort();
            let _ = task.await;
        }
        self.inner.wal.shutdown().await
    }

    /// Persists all buffered data to Parquet now (what the size and age triggers do),
    /// then deletes the WAL segments it covered. For tests and operators.
    ///
    /// # Errors
    /// [`Error::ObjectStore`], [`Error::Parquet`], [`Error::Io`].
    pub async fn persist_now(&self) -> Result<()> {
        persist_buffer(&self.inner).await
    }

    /// Compacts every partition with more than `compact_max_files` files now (what the
    /// background task does).
    ///
    /// # Errors
    /// [`Error::ObjectStore`], [`Error::Parquet`], [`Error::Io`].
    pub async fn compact_now(&self) -> Result<()> {
        compact(&self.inner).await
    }

    /// Applies retention now (what the background task does).
    ///
    /// # Errors
    /// [`Error::Io`] when the manifest cannot be saved.
    pub fn enforce_retention_now(&self) -> Result<()> {
        enforce_retention(&self.inner)
    }
}

fn local_store(dir: PathBuf) -> Result<Arc<dyn ObjectStore>> {
    create_dir(&dir)?;
    Ok(Arc::new(
        object_store::local::LocalFileSystem::new_with_prefix(&dir)?,
    ))
}

/// The file itself and its parent directories up to the object store root (day,
/// database, `dbs`, root), any of which may have just been created.
fn root_dirs(file: &std::path::Path) -> Vec<PathBuf> {
    let mut out = vec![file.to_owned()];
    let mut p = file.parent();
    for _ in 0..4 {
        let Some(dir) = p else { break };
        out.push(dir.to_owned());
        p = dir.parent();
    }
    out
}

/// fsyncs each path (a file or a directory).
fn sync_path(paths: &[PathBuf]) -> Result<()> {
    for p in paths {
        fs::File::open(p)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io(format!("syncing {}", p.display()), e))?;
    }
    Ok(())
}

/// Removes the temporary files (`name#N`) a local object store put leaves behind when the
/// process dies before its rename; the store's listing does not show them.
fn remove_staged_uploads(dir: &std::path::Path) -> Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(format!("listing {}", dir.display()), e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
        let path = entry.path();
        if path.is_dir() {
            remove_staged_uploads(&path)?;
        } else if let Some(name) = path.file_name().and_then(|n| n.to_str())
            && let Some((_, suffix)) = name.rsplit_once('#')
            && !suffix.is_empty()
            && suffix.bytes().all(|b| b.is_ascii_digit())
        {
            tracing::warn!(path = %path.display(), "removing an interrupted parquet upload");
            fs::remove_file(&path)
                .map_err(|e| Error::io(format!("removing {}", path.display()), e))?;
        }
    }
    Ok(())
}

/// Deletes objects under `dbs/` that the manifest does not name (a crash between writing
/// a file and saving the manifest leaves them).
async fn delete_orphans(store: &dyn ObjectStore, manifest: &Manifest) -> Result<()> {
    let live: HashSet<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    let prefix = ObjectPath::from("dbs");
    let objects: Vec<_> = store.list(Some(&prefix)).try_collect().await?;
    for meta in objects {
        if !live.contains(meta.location.as_ref()) {
            tracing::warn!(path = %meta.location, "deleting parquet file not in the manifest");
            store.delete(&meta.location).await?;
        }
    }
    Ok(())
}

/// The background task: persistence triggers, retention, compaction, deferred deletes.
async fn background(inner: std::sync::Weak<Inner>, wakeup: Arc<Notify>) {
    loop {
        let Some(me) = inner.upgrade() else { return };
        if me.closed.load(Ordering::Relaxed) {
            return;
        }
        let interval = me.config.background_interval;
        let should_persist = {
            let state = me.state.read();
            !state.frozen.is_empty()
                || state.active.bytes >= me.config.persist_buffer_bytes
                || state.buffer_bytes() > me.config.max_buffer_bytes
                || state
                    .active_since
                    .is_some_and(|t| t.elapsed() >= me.config.persist_interval)
        };
        if should_persist {
            // A failure keeps the frozen buffers (and the WAL covering them), so the
            // next round retries.
            let result = persist_buffer(&me).await;
            if let Err(e) = &result {
                tracing::error!("persisting the write buffer failed: {e}");
            }
            *me.persist_fault.lock() = result.err().map(|e| persist_fault_message(&e));
        }
        if let Err(e) = enforce_retention(&me) {
            tracing::error!("enforcing retention failed: {e}");
        }
        if let Err(e) = compact(&me).await {
            tracing::error!("compaction failed: {e}");
        }
        let deletes = std::mem::take(&mut *me.pending_deletes.lock());
        for path in deletes {
            me.file_metadata.lock().remove(&path);
            me.last_rows.lock().retain(|k, _| k.path != path);
            match me.store.delete(&ObjectPath::from(path.as_str())).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => {
                    tracing::error!(path, "deleting a parquet file failed: {e}");
                    me.pending_deletes.lock().push(path);
                }
            }
        }
        drop(me);
        let _ = tokio::time::timeout(interval, wakeup.notified()).await;
    }
}

/// What `/health` says about a failed persistence: the error itself when it is a full
/// disk (it names no path), a summary otherwise (details are in the log).
fn persist_fault_message(error: &Error) -> String {
    match error {
        Error::DiskFull { .. } | Error::WalUnavailable { .. } => {
            format!("persisting buffered data failed: {error}")
        }
        Error::Io { source, .. } if crate::error::is_disk_full(source) => format!(
            "persisting buffered data failed: insufficient storage ({source}); \
             the data stays buffered and persistence is retried"
        ),
        Error::ObjectStore(e) if is_disk_full_object_error(e) => {
            "persisting buffered data failed: insufficient storage (the object store's \
             disk is full); the data stays buffered and persistence is retried"
                .to_owned()
        }
        _ => "persisting buffered data failed (see the server log); the data stays \
              buffered and persistence is retried"
            .to_owned(),
    }
}

/// Whether an object store error comes from a full disk (its I/O error is a source).
fn is_disk_full_object_error(error: &object_store::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && crate::error::is_disk_full(io)
        {
            return true;
        }
        source = e.source();
    }
    false
}

/// Key of one persisted unit: database id, table, UTC day.
type PartitionKey = (u32, String, i64);

/// Snapshots the active buffer at a WAL rotation and writes every frozen buffer to
/// Parquet, one file per table and day (cut at `compaction_max_output_bytes`), then
/// commits the manifest and deletes the WAL segments covered.
///
/// A partition one frozen buffer holds is written a slice at a time in order; one that
/// several hold is merged by a streaming k-way merge of their slices. Either way
/// persistence holds a few slices of decoded rows and one row group beyond the buffer
/// itself, and the file goes to disk as it is written.
async fn persist_buffer(inner: &Arc<Inner>) -> Result<()> {
    let _guard = inner.persist_lock.lock().await;
    // New files hold rows written after these deletes, so the deletes must reach the
    // older files first (and the WAL holding them must not be deleted before).
    delete::apply_unapplied(inner).await?;
    inner.wal.rotate().await?;
    let (frozen, persisted) = {
        let state = inner.state.read();
        (state.frozen.clone(), state.manifest.persisted_seq)
    };
    if frozen.is_empty() {
        // Nothing new, but segments replayed at start-up may be fully persisted already.
        inner.wal.delete_persisted(persisted)?;
        return Ok(());
    }
    if !inner.config.persist_delay.is_zero() {
        tokio::time::sleep(inner.config.persist_delay).await;
    }
    let now = now_ns();
    let live: HashMap<u32, i64> = inner
        .catalog
        .lock()
        .databases
        .values()
        .map(|d| (d.id, d.first_kept_day(now).unwrap_or(i64::MIN)))
        .collect();
    // The (database, table, day) units of all frozen buffers.
    let mut units: BTreeSet<PartitionKey> = BTreeSet::new();
    for f in &frozen {
        for (db_id, tables) in &f.buffer.dbs {
            let Some(first_kept) = live.get(db_id) else {
                continue;
            };
            for (table, tb) in tables {
                for day in tb.partitions.range(*first_kept..).map(|(d, _)| *d) {
                    units.insert((*db_id, table.clone(), day));
                }
            }
        }
    }
    let mut next_id = inner.state.read().manifest.next_file_id;
    let mut new_files = Vec::new();
    for (db_id, table, day) in units {
        let frozen = frozen.clone();
        let staging = Staging::of(inner);
        let max_bytes = inner.config.compaction_max_output_bytes;
        let key = (db_id, table.clone(), day);
        let first_id = next_id;
        let (staged, after, peak, writer_peak) = tokio::task::spawn_blocking(move || {
            // The unit's partition in every frozen buffer, oldest buffer first.
            let holders: Vec<Arc<Frozen>> = frozen
                .into_iter()
                .filter(|f| PartitionSlices::partition_of(f, db_id, &table, day).is_some())
                .collect();
            let mut schema = TableSchema::default();
            for f in &holders {
                let part = PartitionSlices::partition_of(f, db_id, &table, day).expect("held");
                schema.union_with(&part.schema());
            }
            let sources = holders
                .into_iter()
                .map(|f| -> SortedBatches {
                    Box::new(PartitionSlices::new(f, db_id, table.clone(), day, &schema))
                })
                .collect();
            let mut out = NewFiles::new(staging, &schema, key, max_bytes, first_id);
            let peak = files::write_sorted(&schema, sources, &mut out)?;
            let (staged, after, writer_peak) = out.finish()?;
            Ok::<_, Error>((staged, after, peak, writer_peak))
        })
        .await
        .map_err(|e| Error::Catalog(format!("persist task failed: {e}")))??;
        next_id = after;
        files::note_peak(inner, peak, writer_peak);
        new_files.extend(files::install(inner, staged).await?);
    }
    let persisted_seq = frozen.iter().map(|f| f.last_seq).max().unwrap_or(0);
    {
        // Same lock order as drop_database: catalog, then state.
        let catalog = inner.catalog.lock();
        let live_now: HashSet<u32> = catalog.databases.values().map(|d| d.id).collect();
        let mut state = inner.state.write();
        let mut manifest = (*state.manifest).clone();
        manifest.persisted_seq = manifest.persisted_seq.max(persisted_seq);
        manifest.next_file_id = manifest.next_file_id.max(next_id);
        for f in new_files {
            if live_now.contains(&f.db_id) {
                manifest.files.push(f);
            } else {
                inner.pending_deletes.lock().push(f.path);
            }
        }
        install_manifest(inner, &mut state, manifest)?;
        let done: HashSet<u64> = frozen.iter().map(|f| f.last_seq).collect();
        state.frozen.retain(|f| !done.contains(&f.last_seq));
        inner
            .metrics
            .buffer_bytes
            .store(state.buffer_bytes() as u64, Ordering::Relaxed);
    }
    inner.wal.delete_persisted(persisted_seq)?;
    Ok(())
}

/// The rows of one partition of a frozen buffer, sorted by series then time (each
/// point once), [`MERGE_BATCH_ROWS`] at a time.
struct PartitionSlices {
    frozen: Arc<Frozen>,
    db_id: u32,
    table: String,
    day: i64,
    schema: TableSchema,
    /// The partition's rows in order (8 bytes a row, beside the rows themselves).
    rows: Vec<usize>,
    pos: usize,
}

impl PartitionSlices {
    fn partition_of<'a>(
        frozen: &'a Frozen,
        db_id: u32,
        table: &str,
        day: i64,
    ) -> Option<&'a PartitionBuffer> {
        frozen.buffer.table(db_id, table)?.partitions.get(&day)
    }

    fn new(
        frozen: Arc<Frozen>,
        db_id: u32,
        table: String,
        day: i64,
        schema: &TableSchema,
    ) -> PartitionSlices {
        let rows = Self::partition_of(&frozen, db_id, &table, day)
            .map(|p| p.sorted_rows(schema, None, &[], None))
            .unwrap_or_default();
        PartitionSlices {
            frozen,
            db_id,
            table,
            day,
            schema: schema.clone(),
            rows,
            pos: 0,
        }
    }
}

impl Iterator for PartitionSlices {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.rows.len() {
            return None;
        }
        let end = (self.pos + MERGE_BATCH_ROWS).min(self.rows.len());
        let part = Self::partition_of(&self.frozen, self.db_id, &self.table, self.day)?;
        let batch = part.rows_to_batch(&self.schema, &self.rows[self.pos..end]);
        self.pos = end;
        Some(batch)
    }
}

/// The union schema of batches read from Parquet files, and the batches conformed to it.
fn conformed(batches: &[RecordBatch]) -> Result<(TableSchema, Vec<RecordBatch>)> {
    let mut schema = TableSchema::default();
    for b in batches {
        schema.union_with(&TableSchema::of_arrow(&b.schema()));
    }
    let arrow_schema = schema.arrow_schema();
    let sources = batches
        .iter()
        .map(|b| crate::merge::conform(b, &arrow_schema))
        .collect::<Result<Vec<_>>>()?;
    Ok((schema, sources))
}

/// Merges the sources `make` returns (oldest first) on a blocking thread, writes them as
/// one Parquet file of partition `key` with id `id` and write order `order`, and returns
/// its manifest entry (`None` when there are no rows). The sources are held whole: for
/// rewriting one file (a delete), whose size compaction and persistence bound.
async fn write_file(
    inner: &Arc<Inner>,
    make: impl FnOnce() -> Result<(TableSchema, Vec<RecordBatch>)> + Send + 'static,
    key: PartitionKey,
    id: u64,
    order: u64,
) -> Result<Option<ParquetFile>> {
    let staging = Staging::of(inner);
    let staged = tokio::task::spawn_blocking(move || {
        let (schema, sources) = make()?;
        let merged = merge(&schema, sources)?;
        let mut out = NewFiles::new(staging, &schema, key, u64::MAX, id).with_order(order);
        out.write(&merged)?;
        out.finish().map(|(staged, _, _)| staged)
    })
    .await
    .map_err(|e| Error::Catalog(format!("persist task failed: {e}")))??;
    Ok(files::install(inner, staged).await?.pop())
}

/// Returns memory freed by a large persistence or compaction to the operating system.
/// glibc's malloc keeps freed memory in per-thread arenas (the blocking threads that
/// merge and write), where it stays counted in the process's RSS until trimmed.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it takes no
    // pointers from us and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Drops buffered partitions and Parquet files older than each database's retention.
fn enforce_retention(inner: &Arc<Inner>) -> Result<()> {
    let now = now_ns();
    let cutoffs: Vec<(u32, i64)> = inner
        .catalog
        .lock()
        .databases
        .values()
        .filter_map(|d| Some((d.id, d.first_kept_day(now)?)))
        .collect();
    if cutoffs.is_empty() {
        return Ok(());
    }
    let storage = Storage {
        inner: inner.clone(),
    };
    let mut state = inner.state.write();
    for (db_id, first_kept) in &cutoffs {
        state.active.drop_before(*db_id, *first_kept);
    }
    storage.edit_manifest(&mut state, |f| {
        !cutoffs
            .iter()
            .any(|(db, first)| f.db_id == *db && f.day < *first)
    })?;
    inner
        .metrics
        .buffer_bytes
        .store(state.buffer_bytes() as u64, Ordering::Relaxed);
    Ok(())
}

/// Saves `manifest` (the durable record of which Parquet files exist) and makes it the
/// one scans read.
fn install_manifest(inner: &Inner, state: &mut State, manifest: Manifest) -> Result<()> {
    manifest.save(&inner.catalog_dir)?;
    inner
        .metrics
        .parquet_files
        .store(manifest.files.len() as u64, Ordering::Relaxed);
    state.manifest = Arc::new(manifest);
    Ok(())
}

/// A write being assembled chunk by chunk; see [`Storage::begin_write`].
pub struct ChunkedWrite<'s> {
    storage: &'s Storage,
    gate: tokio::sync::RwLockReadGuard<'s, ()>,
    db: String,
    no_sync: bool,
    validation: crate::catalog::Validation,
}

impl std::fmt::Debug for ChunkedWrite<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkedWrite")
            .field("db", &self.db)
            .finish()
    }
}

impl ChunkedWrite<'_> {
    /// Validates the next chunk of lines (in input order) into the write; the lines
    /// may be reused once this returns. Rejected lines are reported by `commit`.
    ///
    /// # Errors
    /// [`Error::DatabaseNotFound`] when the database is missing (and auto-creation is
    /// off) or was dropped since an earlier chunk; [`Error::Io`] when a new table or
    /// column cannot be saved to the catalog (the write is then abandoned).
    pub fn add(&mut self, lines: &[sluice_lp::Line<'_>]) -> Result<()> {
        let inner = &self.storage.inner;
        let mut catalog = inner.catalog.lock();
        catalog.validate_chunk(
            &mut self.validation,
            &self.db,
            lines,
            &inner.config.limits,
            inner.config.auto_create_databases,
        )?;
        let changes = std::mem::take(&mut self.validation.changes);
        if !changes.is_empty()
            && let Err(e) = catalog.save(&inner.catalog_dir)
        {
            catalog.rollback(&self.db, changes);
            return Err(e);
        }
        Ok(())
    }

    /// Logs the accepted lines of every chunk as one WAL record (see
    /// [`Storage::write`] for when that returns).
    ///
    /// # Errors
    /// As [`Storage::write`] once validated: [`Error::Closed`], [`Error::Io`].
    pub async fn commit(self) -> Result<WriteOutcome> {
        let ChunkedWrite {
            storage,
            gate,
            no_sync,
            validation,
            ..
        } = self;
        storage.log_write(validation.finish(), gate, no_sync).await
    }
}
