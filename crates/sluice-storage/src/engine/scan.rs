//! Scans: the rows of a table in the buffers and the live Parquet files, pruned by
//! day, time and tags, merged so the newest write of each field wins (files in write
//! order, then the buffers), with the caches of file footers and newest rows per file.

use std::collections::BTreeMap;
use std::fs;
use std::sync::Arc;

use arrow::array::RecordBatch;
use bytes::Bytes;
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;

use super::ingest_peers::{self, PeerRows, PeerRowsRequest, Wanted};
use super::peers::Bands;
use super::{Inner, Storage, now_ns, peers};
use crate::buffer::PartitionBuffer;
use crate::error::{Error, Result};
use crate::manifest::ParquetFile;
use crate::merge::{TableSchema, merge_keep_last, project};
use crate::metrics::Metrics;
use crate::persist;
use crate::types::{ScanRequest, ScanResult, TagMatch};

/// Most entries of [`Inner::file_metadata`] before it is emptied.
pub(super) const MAX_CACHED_METADATA: usize = 4096;
/// Most entries of [`Inner::last_rows`] before it is emptied.
const MAX_CACHED_LAST_ROWS: usize = 256;
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
    schema: TableSchema,
    bands: Arc<Bands>,
}

impl Storage {
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
        let mut behind = 0;
        loop {
            match self
                .scan_once(db, table, request, keep_last, behind == MAX_PEER_RETRIES)
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
        let range = request.time_range;
        let ingest_peers = inner.has_ingest_peers();
        // Copying buffered rows out is CPU work under the state lock: keep it off the
        // async workers.
        let snapshot = {
            let state = inner.state.clone();
            let schema = schema.clone();
            let table = table.to_owned();
            let tag_matches = request.tag_matches.clone();
            let projection = request.projection.clone();
            move || -> Result<Snapshot> {
                let wanted = |day: i64, min: i64, max: i64| {
                    day >= first_kept_day && range.is_none_or(|(s, e)| max >= s && min < e)
                };
                let state = state.read();
                let bands = state.bands.clone();
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
                    && !ingest_peers
                    && let Some(names) = &projection
                {
                    // One source needs no merge, so the tags that name series for the
                    // merge are not needed: only projected and predicate tags are read.
                    schema
                        .tags
                        .retain(|t| names.contains(t) || tag_matches.iter().any(|m| m.key() == t));
                }
                let mut buffered = Vec::new();
                for part in parts {
                    if let Some(b) = part.to_batch_last(&schema, range, &tag_matches, keep_last)? {
                        buffered.push(b);
                    }
                }
                Ok(Snapshot {
                    files,
                    buffered,
                    schema,
                    bands,
                })
            }
        };
        let Snapshot {
            files,
            buffered,
            schema,
            bands,
        } = tokio::task::spawn_blocking(snapshot)
            .await
            .map_err(|e| Error::Catalog(format!("scan task failed: {e}")))??;
        // After the manifest snapshot: each peer's answer is then never older than the
        // copy of its manifest the snapshot holds (see `ingest_peers`).
        let mut peer_rows = if ingest_peers {
            let peer_request = PeerRowsRequest {
                database: db.to_owned(),
                table: table.to_owned(),
                time_range: range,
            };
            let wanted = Wanted {
                schema: &schema,
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
        let arrow_schema = schema.arrow_schema();
        let mut sources = Vec::new();
        // Files and buffered partitions with rows (each sorted and unique by itself).
        let mut units = 0usize;
        for file in &files {
            // A node's buffered rows go after its files and before the next node's.
            while let Some((node, _)) = peer_rows.peek()
                && node.as_str() < bands.owner(file.order)
            {
                let (_, batches) = peer_rows.next().expect("peeked");
                units += batches.len();
                sources.extend(batches);
            }
            let last_key = keep_last.map(|k| LastRowsKey {
                db_id,
                table: table.to_owned(),
                path: file.path.clone(),
                per_series: k,
                fields: schema.fields.iter().map(|(n, _)| n.clone()).collect(),
                time_range: range,
                tag_matches: request.tag_matches.clone(),
            });
            if let Some(key) = &last_key
                && let Some(batches) = inner.last_rows.lock().get(key)
            {
                units += usize::from(!batches.is_empty());
                sources.extend(batches.iter().cloned());
                continue;
            }
            let data = inner.open_file(&file.path).await?;
            let cached = inner.file_metadata.lock().get(&file.path).cloned();
            let s = arrow_schema.clone();
            let table_schema = schema.clone();
            let tags = request.tag_matches.clone();
            let metrics = inner.metrics.clone();
            let (metadata, batches) = tokio::task::spawn_blocking(move || {
                let metadata = footer(cached, &data, &metrics)?;
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
        for (_, batches) in peer_rows {
            units += batches.len();
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
            return Ok(Some(ScanResult { schema, batches }));
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
        Ok(Some(ScanResult {
            schema: out.schema(),
            batches: if out.num_rows() == 0 {
                Vec::new()
            } else {
                vec![out]
            },
        }))
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
