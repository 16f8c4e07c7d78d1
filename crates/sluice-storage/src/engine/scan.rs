//! Scans: the rows of a table in the buffers and the live Parquet files, pruned by
//! day, time and tags, merged so the newest write of each field wins (files in write
//! order, then the buffers), with the caches of file footers and newest rows per file.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;

use super::ingest_peers::{self, PeerRows, PeerRowsRequest, Wanted};
use super::peers::Bands;
use super::{Inner, Storage, blocking, inline, now_ns, peers};
use crate::buffer::PartitionBuffer;
use crate::error::{Error, Result};
use crate::field_filter;
use crate::local_file::LocalFile;
use crate::manifest::ParquetFile;
use crate::merge::{TableSchema, merge_keep_last, project};
use crate::metrics::Metrics;
use crate::persist;
use crate::types::{FieldFilter, ScanExtent, ScanRequest, ScanResult, TagMatch};

/// Most entries of [`Inner::file_metadata`] before it is emptied.
pub(super) const MAX_CACHED_METADATA: usize = 4096;
/// Most entries of [`Inner::last_rows`] before it is emptied.
pub(super) const MAX_CACHED_LAST_ROWS: usize = 256;
/// How often a scan starts again after reading the bucket for a file gone.
const MAX_RETRIES: usize = 3;
/// How often a scan starts again after reading the bucket because an ingest peer was
/// ahead of this node's copy of its manifest (each time, only the manifests are read
/// before the peers are asked again: no file).
const MAX_PEER_RETRIES: usize = 10;

/// What one file's newest rows were read for: the file, the table it belongs to, how
/// many rows per series, the fields read and the predicates.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct LastRowsKey {
    db_id: u32,
    table: String,
    pub(super) path: String,
    per_series: usize,
    fields: Vec<String>,
    time_range: Option<(i64, i64)>,
    tag_matches: Vec<TagMatch>,
}

/// What a scan reads, taken under the state lock: the live files it needs, its rows of
/// this node's buffers, the schema they were read in, and whose files the bands hold.
struct Snapshot {
    files: Vec<ParquetFile>,
    buffered: Vec<RecordBatch>,
    schema: Arc<ReadSchema>,
    /// The request's field filters that the files' reads apply (the buffered rows are
    /// already filtered): none unless dropping rows before the merge is safe.
    field_filters: Arc<[FieldFilter]>,
    bands: Arc<Bands>,
}

/// The columns a scan reads and merges, as the engine and as Arrow know them.
struct ReadSchema {
    table: TableSchema,
    arrow: SchemaRef,
    /// No two of the scan's sources hold rows of the same time, the scan keeps every row
    /// and its caller takes them in any order ([`ScanRequest::any_order`]): their rows
    /// need no merge, only to be put in time order.
    unmerged: bool,
}

/// One attempt of a scan, fixed before it reads anything.
struct Plan {
    db_id: u32,
    first_kept_day: i64,
    table: String,
    /// The table's tags and the projected fields.
    schema: TableSchema,
    request: ScanRequest,
    keep_last: Option<usize>,
    /// Filling caches after the start rather than answering a query.
    warming: bool,
    ingest_peers: bool,
    /// The bytes of rows the scan holds, against `request.max_bytes`.
    held: persist::RowBytes,
}

/// The sorted, unique runs of rows a scan merges, in write order (files, then buffers),
/// and how many files and buffered partitions gave rows.
#[derive(Default)]
struct Sources {
    batches: Vec<RecordBatch>,
    /// Where each unit's batches start in `batches`.
    starts: Vec<usize>,
}

impl Sources {
    /// A file's rows: one unit when it had any.
    fn add_file(&mut self, batches: Vec<RecordBatch>) {
        if !batches.is_empty() {
            self.starts.push(self.batches.len());
        }
        self.batches.extend(batches);
    }

    /// Buffered partitions, one unit each.
    fn add_buffered(&mut self, batches: Vec<RecordBatch>) {
        for batch in batches {
            self.starts.push(self.batches.len());
            self.batches.push(batch);
        }
    }

    /// How many files and buffered partitions gave rows.
    fn units(&self) -> usize {
        self.starts.len()
    }

    /// The batches unit after unit in time order, each unit's in its own order, for
    /// units that do not overlap in time (so any one row of a unit places all of it).
    /// Never a merge: the scan's schema may lack the tags a merge needs.
    fn in_time_order(&self) -> Vec<RecordBatch> {
        let ends = self
            .starts
            .iter()
            .skip(1)
            .copied()
            .chain([self.batches.len()]);
        let mut units: Vec<(i64, std::ops::Range<usize>)> = Vec::with_capacity(self.units());
        for (start, end) in self.starts.iter().copied().zip(ends) {
            // A unit without rows adds nothing.
            let Some(first) = self.batches[start..end].iter().find(|b| b.num_rows() > 0) else {
                continue;
            };
            // Every scan reads the time column.
            let time = first
                .column_by_name("time")
                .and_then(|c| {
                    c.as_any()
                        .downcast_ref::<arrow::array::TimestampNanosecondArray>()
                })
                .map_or(i64::MIN, |t| t.value(0));
            units.push((time, start..end));
        }
        units.sort_by_key(|(time, _)| *time);
        units
            .into_iter()
            .flat_map(|(_, range)| self.batches[range].to_vec())
            .collect()
    }
}

impl Plan {
    /// Copies the scan's buffered rows and lists its live files under the state lock:
    /// CPU work, kept off the async workers.
    fn snapshot(&self, inner: &Inner) -> Result<Snapshot> {
        let range = self.request.time_range;
        let wanted = |day: i64, min: i64, max: i64| {
            day >= self.first_kept_day && range.is_none_or(|(s, e)| max >= s && min < e)
        };
        let state = inner.state.read();
        let bands = state.bands.clone();
        let files: Vec<ParquetFile> = state
            .manifest
            .table_files(self.db_id, &self.table)
            .into_iter()
            .filter(|f| wanted(f.day, f.min_time, f.max_time))
            .cloned()
            .collect();
        let parts: Vec<&PartitionBuffer> = state
            .partitions(self.db_id, &self.table)
            .filter(|(day, p)| wanted(*day, p.min_time, p.max_time))
            .map(|(_, p)| p)
            .collect();
        let mut schema = self.schema.clone();
        let tag_matches = &self.request.tag_matches;
        // No two sources can hold the same point when their times do not overlap: their
        // rows need no merge (unless the scan keeps only each series' newest).
        let disjoint = self.keep_last.is_none()
            && !self.ingest_peers
            && disjoint(
                files
                    .iter()
                    .map(|f| (f.min_time, f.max_time))
                    .chain(parts.iter().map(|p| (p.min_time, p.max_time))),
            );
        // A file's newest rows per series are found by a merge, which needs every tag.
        let file_merge = self.keep_last.is_some() && !files.is_empty();
        let one_source = files.len() + parts.len() == 1 && !file_merge && !self.ingest_peers;
        let unmerged = disjoint && self.request.any_order;
        if (one_source || unmerged)
            && let Some(names) = &self.request.projection
        {
            // Rows not merged need no tags to name their series by: only projected and
            // predicate tags are read.
            schema
                .tags
                .retain(|t| names.contains(t) || tag_matches.iter().any(|m| m.key() == t));
        }
        let arrow = schema.arrow_schema();
        // Rows a field filter rules out can go as each source is read when no merge can
        // combine a dropped row with a kept one.
        let field_filters: Arc<[FieldFilter]> =
            if disjoint && !self.request.field_filters.is_empty() {
                field_filter::applicable(&self.request.field_filters, &arrow).into()
            } else {
                Arc::new([])
            };
        let mut buffered = Vec::new();
        for part in parts {
            if let Some(b) = part.to_batch_last(&schema, range, tag_matches, self.keep_last)? {
                let b = field_filter::apply(&b, &field_filters)?;
                if b.num_rows() > 0 {
                    buffered.push(b);
                }
            }
        }
        Ok(Snapshot {
            files,
            buffered,
            schema: Arc::new(ReadSchema {
                arrow,
                table: schema,
                unmerged,
            }),
            field_filters,
            bands,
        })
    }

    /// Where a file's newest rows are cached, when the scan keeps only those.
    fn last_rows_key(&self, file: &ParquetFile) -> Option<LastRowsKey> {
        self.keep_last.map(|k| LastRowsKey {
            db_id: self.db_id,
            table: self.table.clone(),
            path: file.path.clone(),
            per_series: k,
            fields: self.schema.fields.iter().map(|(n, _)| n.clone()).collect(),
            time_range: self.request.time_range,
            tag_matches: self.request.tag_matches.clone(),
        })
    }

    /// A file's newest rows as an earlier scan read them, if cached.
    fn cached_last_rows(&self, inner: &Inner, file: &ParquetFile) -> Option<Vec<RecordBatch>> {
        let key = self.last_rows_key(file)?;
        inner.last_rows.lock().get(&key).cloned()
    }

    /// Reads a file's rows (its newest per series when the scan keeps only those) and
    /// caches its footer and newest rows. Blocking.
    fn read_file(
        &self,
        inner: &Inner,
        (schema, field_filters): (&ReadSchema, &[FieldFilter]),
        file: &ParquetFile,
        data: persist::FileData,
    ) -> Result<Vec<RecordBatch>> {
        let cached = inner.file_metadata.lock().get(&file.path).cloned();
        let metadata = footer(cached, &data, &inner.metrics)?;
        let (range, tags) = (self.request.time_range, &self.request.tag_matches);
        let mut batches = persist::read(
            data,
            metadata.clone(),
            &schema.arrow,
            range,
            tags,
            field_filters,
            self.keep_last,
            &self.held,
        )?;
        if let Some(k) = self.keep_last {
            // The file's own newest rows: all the merge can keep of it.
            let read = batches_bytes(&batches);
            let last = merge_keep_last(&schema.table, batches, Some(k), None)?;
            self.held.release(read);
            self.held.take_batch(&last)?;
            batches = if last.num_rows() == 0 {
                Vec::new()
            } else {
                vec![last]
            };
        }
        {
            let mut cache = inner.file_metadata.lock();
            if cache.len() >= MAX_CACHED_METADATA {
                cache.clear();
            }
            cache.insert(file.path.clone(), metadata);
        }
        if let Some(key) = self.last_rows_key(file) {
            let counter = if self.warming {
                &inner.metrics.newest_rows_warmed
            } else {
                &inner.metrics.newest_rows_read
            };
            Metrics::add(counter, 1);
            let mut cache = inner.last_rows.lock();
            if cache.len() >= MAX_CACHED_LAST_ROWS {
                cache.clear();
            }
            cache.insert(key, batches.clone());
        }
        Ok(batches)
    }

    /// Counts rows the scan holds that no file read counted (cached newest rows,
    /// buffered rows).
    ///
    /// # Errors
    /// [`Error::ScanTooLarge`] once the scan holds more than it may.
    fn count(&self, batches: &[RecordBatch]) -> Result<()> {
        self.held.take(batches_bytes(batches))
    }

    /// The scan's answer from its sources: merged so the newest write of each field wins
    /// (CPU work when there are several), projected.
    fn finish(&self, schema: &ReadSchema, mut sources: Sources) -> Result<ScanResult> {
        let projection = &self.request.projection;
        let unmerged = if sources.units() == 1 {
            // One file or one buffered partition: already sorted, one row per series and
            // time, and cut to the newest rows; nothing to merge.
            Some(std::mem::take(&mut sources.batches))
        } else if schema.unmerged {
            // Sources apart in time: each series' rows in time order are each source's
            // in turn.
            Some(sources.in_time_order())
        } else {
            None
        };
        if let Some(batches) = unmerged {
            let batches = batches
                .iter()
                .filter(|b| b.num_rows() > 0)
                .map(|b| match projection {
                    Some(names) => project(b, names),
                    None => Ok(b.clone()),
                })
                .collect::<Result<Vec<_>>>()?;
            let schema = match (projection, batches.first()) {
                (_, Some(b)) => b.schema(),
                (Some(names), None) => {
                    project(&RecordBatch::new_empty(schema.arrow.clone()), names)?.schema()
                }
                (None, None) => schema.arrow.clone(),
            };
            return Ok(ScanResult { schema, batches });
        }
        // The merge copies the rows: they are held twice until it returns.
        self.held.take(self.held.held())?;
        let names = projection.as_deref();
        let out = merge_keep_last(&schema.table, sources.batches, self.keep_last, names)?;
        Ok(ScanResult {
            schema: out.schema(),
            batches: if out.num_rows() == 0 {
                Vec::new()
            } else {
                vec![out]
            },
        })
    }
}

/// Whether no two of the closed ranges `[min, max]` overlap.
fn disjoint(ranges: impl Iterator<Item = (i64, i64)>) -> bool {
    let mut ranges: Vec<(i64, i64)> = ranges.collect();
    ranges.sort_unstable();
    ranges.windows(2).all(|w| w[0].1 < w[1].0)
}

/// The bytes of the rows of `batches`, as a scan counts them.
fn batches_bytes(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::get_array_memory_size).sum()
}

/// A Parquet file of a local store, opened in place.
fn open_local(root: &std::path::Path, path: &str) -> Result<persist::FileData> {
    match LocalFile::open(root.join(path)) {
        Ok(f) => Ok(persist::FileData::File(f)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(Error::ObjectStore(object_store::Error::NotFound {
                path: path.to_owned(),
                source: Box::new(e),
            }))
        }
        Err(e) => Err(Error::io(format!("opening {path}"), e)),
    }
}

impl Storage {
    /// What a scan of `table` for `request` would read, from the live files' statistics
    /// and the buffered partitions, in one look at them; `None` when the table has
    /// neither.
    ///
    /// # Errors
    /// [`Error::DatabaseNotFound`], [`Error::TableNotFound`].
    pub fn scan_extent(
        &self,
        db: &str,
        table: &str,
        request: &ScanRequest,
    ) -> Result<Option<ScanExtent>> {
        let (db_id, _, schema) = self.inner.table_to_scan(db, table)?;
        let fields = match &request.projection {
            Some(names) => schema
                .fields
                .iter()
                .filter(|(n, _)| names.contains(n))
                .count(),
            None => schema.fields.len(),
        };
        let row_bytes = 8 * (1 + schema.tags.len() + fields) * 2;
        let time_range = request.time_range;
        let share = |rows: u64, min: i64, max: i64| -> f64 {
            let Some((start, end)) = time_range else {
                return rows as f64;
            };
            let (lo, hi) = (start.max(min), end.min(max.saturating_add(1)));
            if hi <= lo {
                return 0.0;
            }
            let span = (max as f64 - min as f64 + 1.0).max(1.0);
            rows as f64 * ((hi as f64 - lo as f64) / span).min(1.0)
        };
        let state = self.inner.state.read();
        let files = state
            .manifest
            .files
            .iter()
            .filter(|f| f.db_id == db_id && f.table == table)
            .map(|f| (f.rows, f.min_time, f.max_time));
        let buffered = state
            .partitions(db_id, table)
            .filter(|(_, p)| !p.is_empty())
            .map(|(_, p)| (p.len() as u64, p.min_time, p.max_time));
        let mut extent: Option<(f64, i64, i64)> = None;
        for (rows, min, max) in files.chain(buffered) {
            let (sum, first, last) = extent.get_or_insert((0.0, min, max));
            *sum += share(rows, min, max);
            (*first, *last) = ((*first).min(min), (*last).max(max));
        }
        Ok(extent.map(|(rows, first, last)| ScanExtent {
            bytes: (rows * row_bytes as f64).ceil() as u64,
            first,
            last,
        }))
    }

    /// Reads a table: buffered and persisted rows matching the request, merged so there
    /// is one row per (series, time) with the newest value of each field, sorted by tags
    /// then time. Parquet files are pruned by day, time statistics and tag statistics.
    ///
    /// # Errors
    /// [`Error::DatabaseNotFound`], [`Error::TableNotFound`], [`Error::ObjectStore`] /
    /// [`Error::Parquet`] when a file cannot be read.
    pub async fn scan(&self, db: &str, table: &str, request: &ScanRequest) -> Result<ScanResult> {
        self.scan_with(db, table, request, None, false).await
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
        self.scan_with(db, table, request, Some(per_series), false)
            .await
    }

    /// A scan; `warming` when it only fills caches after the start (`warm`), which
    /// counts what it reads apart from queries' cache misses.
    pub(super) async fn scan_with(
        &self,
        db: &str,
        table: &str,
        request: &ScanRequest,
        keep_last: Option<usize>,
        warming: bool,
    ) -> Result<ScanResult> {
        let mut attempt = 0;
        let mut behind = 0;
        loop {
            match self
                .scan_once(
                    db,
                    table,
                    request,
                    keep_last,
                    warming,
                    behind == MAX_PEER_RETRIES,
                )
                .await
            {
                // A file compacted or expired away between listing and reading: list again.
                Err(Error::ObjectStore(object_store::Error::NotFound { .. }))
                    if attempt < MAX_RETRIES =>
                {
                    attempt += 1;
                    peers::after_missing_file(&self.inner).await?;
                }
                // An ingest peer answered for a manifest newer than this node's copy.
                Ok(None) if behind < MAX_PEER_RETRIES => {
                    behind += 1;
                    peers::refresh(&self.inner).await?;
                }
                Ok(None) => {
                    return Err(Error::IngestPeersAhead {
                        database: db.to_owned(),
                        table: table.to_owned(),
                    });
                }
                Ok(Some(result)) => return Ok(result),
                Err(e) => return Err(e),
            }
        }
    }

    /// One attempt of a scan; `None` when an ingest peer's rows need a newer copy of its
    /// manifest (`ingest_peers`).
    async fn scan_once(
        &self,
        db: &str,
        table: &str,
        request: &ScanRequest,
        keep_last: Option<usize>,
        warming: bool,
        last_attempt: bool,
    ) -> Result<Option<ScanResult>> {
        let inner = &self.inner;
        let (db_id, first_kept_day, mut schema) = inner.table_to_scan(db, table)?;
        // Only projected fields are read and merged; every tag is kept, since together
        // they name the series that rows merge by. (A row exists when any field of the
        // table has a value, so merging a subset of fields yields the same rows.)
        if let Some(names) = &request.projection {
            schema.fields.retain(|(n, _)| names.contains(n));
        }
        let ingest_peers = inner.has_ingest_peers();
        let plan = Arc::new(Plan {
            db_id,
            first_kept_day,
            table: table.to_owned(),
            schema,
            request: request.clone(),
            keep_last,
            warming,
            ingest_peers,
            held: persist::RowBytes::new(request.max_bytes),
        });
        if let (Some(root), false) = (&inner.local_root, ingest_peers) {
            // Files on local disk and nobody to ask: every step (copying buffered rows
            // under the state lock, reading files, merging) is blocking work, done in
            // one go rather than handed over step by step: here on a thread that may
            // block (see `inline`), else in one task off the async workers.
            let (inner, root) = (inner.clone(), root.clone());
            let scan = move |stop: Option<inline::StopSignal>| {
                let snapshot = plan.snapshot(&inner)?;
                plan.count(&snapshot.buffered)?;
                let mut sources = Sources::default();
                for file in &snapshot.files {
                    inline::check(stop.as_ref())?;
                    if let Some(batches) = plan.cached_last_rows(&inner, file) {
                        plan.count(&batches)?;
                        sources.add_file(batches);
                        continue;
                    }
                    let data = open_local(&root, &file.path)?;
                    let read = (snapshot.schema.as_ref(), snapshot.field_filters.as_ref());
                    sources.add_file(plan.read_file(&inner, read, file, data)?);
                }
                sources.add_buffered(snapshot.buffered);
                plan.finish(&snapshot.schema, sources).map(Some)
            };
            return match inline::inline_reads() {
                Some(stop) => scan(Some(stop)),
                None => blocking("scan", move || scan(None)).await,
            };
        }
        let snapshot = {
            let (plan, inner) = (plan.clone(), inner.clone());
            blocking("scan", move || plan.snapshot(&inner)).await?
        };
        let Snapshot {
            files,
            buffered,
            schema,
            field_filters,
            bands,
        } = snapshot;
        plan.count(&buffered)?;
        // After the manifest snapshot: each peer's answer is then never older than the
        // copy of its manifest the snapshot holds (see `ingest_peers`).
        let mut peer_rows = if ingest_peers {
            let peer_request = PeerRowsRequest {
                database: db.to_owned(),
                table: table.to_owned(),
                time_range: request.time_range,
            };
            let wanted = Wanted {
                schema: &schema.table,
                tag_matches: &request.tag_matches,
                keep_last,
            };
            match ingest_peers::fetch(inner, &peer_request, &bands, wanted, last_attempt).await? {
                PeerRows::Rows(rows) => rows.into_iter().peekable(),
                PeerRows::Behind => return Ok(None),
            }
        } else {
            BTreeMap::new().into_iter().peekable()
        };
        let mut sources = Sources::default();
        for file in &files {
            // A node's buffered rows go after its files and before the next node's.
            while let Some((node, _)) = peer_rows.peek()
                && node.as_str() < bands.owner(file.order)
            {
                let (_, batches) = peer_rows.next().expect("peeked");
                plan.count(&batches)?;
                sources.add_buffered(batches);
            }
            if let Some(batches) = plan.cached_last_rows(inner, file) {
                plan.count(&batches)?;
                sources.add_file(batches);
                continue;
            }
            let data = inner.open_file(&file.path).await?;
            let (plan, inner, schema, filters, file) = (
                plan.clone(),
                inner.clone(),
                schema.clone(),
                field_filters.clone(),
                file.clone(),
            );
            let batches = blocking("scan", move || {
                plan.read_file(&inner, (&schema, &filters), &file, data)
            })
            .await?;
            sources.add_file(batches);
        }
        for (_, batches) in peer_rows {
            plan.count(&batches)?;
            sources.add_buffered(batches);
        }
        sources.add_buffered(buffered);
        if sources.units() <= 1 {
            return plan.finish(&schema, sources).map(Some);
        }
        blocking("scan", move || plan.finish(&schema, sources))
            .await
            .map(Some)
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
}

/// A file's footer: `cached`, or read from `data` and counted as a miss of the cache.
pub(super) fn footer(
    cached: Option<persist::FileMeta>,
    data: &persist::FileData,
    metrics: &Metrics,
) -> Result<persist::FileMeta> {
    match cached {
        Some(metadata) => Ok(metadata),
        None => {
            Metrics::add(&metrics.footers_read, 1);
            persist::load_metadata(data)
        }
    }
}

impl Inner {
    /// Table `table` of `db` as a scan reads it: the database's id, the first day its
    /// retention keeps, and the table's columns.
    ///
    /// # Errors
    /// [`Error::DatabaseNotFound`], [`Error::TableNotFound`].
    pub(super) fn table_to_scan(&self, db: &str, table: &str) -> Result<(u32, i64, TableSchema)> {
        let catalog = self.catalog.lock();
        let def = catalog.database(db)?;
        let t = def.tables.get(table).ok_or_else(|| Error::TableNotFound {
            database: db.to_owned(),
            table: table.to_owned(),
        })?;
        Ok((
            def.id,
            def.first_kept_day(now_ns()).unwrap_or(i64::MIN),
            TableSchema::from_def(t),
        ))
    }

    /// A Parquet file to read: opened in place from a local store or the cache of a
    /// cloud one (so only the pages needed are read), fetched whole (and cached) otherwise.
    pub(super) async fn open_file(&self, path: &str) -> Result<persist::FileData> {
        match &self.local_root {
            Some(root) => open_local(root, path),
            None => {
                if let Some(file) = self.file_cache.as_ref().and_then(|c| c.get(path)) {
                    return Ok(persist::FileData::File(file));
                }
                let bytes = self.get_object(path).await?;
                if let Some(cache) = &self.file_cache {
                    cache.insert(path, &bytes);
                }
                Ok(persist::FileData::Bytes(bytes))
            }
        }
    }

    /// A whole object of the store.
    pub(super) async fn get_object(&self, path: &str) -> Result<Bytes> {
        let path = ObjectPath::from(path);
        Ok(self.store.get(&path).await?.bytes().await?)
    }
}
