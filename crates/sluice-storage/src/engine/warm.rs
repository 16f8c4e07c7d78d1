//! After a start, the footers of the live Parquet files are read into the cache scans
//! keep of them ([`Inner::file_metadata`]), newest files first, in the background: the
//! first query of a restarted node then costs what the same query costs later, not that
//! plus a footer, page index and series index per file it touches.
//!
//! Only files that open without a download are read (a local store, or the local cache
//! of a bucket's files): fetching a bucket's files for queries that may never come is
//! not worth its requests. At most half the cache is filled, so queries' own files
//! still fit before it is emptied. A query that reaches a file first reads its footer
//! itself; the warm-up then skips it.
//!
//! Then, on a node whose files are on local disk, each table's newest row per series
//! (every field, no condition: the last point of every series, as
//! `SELECT * FROM t GROUP BY * ORDER BY time DESC LIMIT 1` asks it) is read from each
//! file into the cache of files' newest rows, so that query answers from the cache
//! from the start. A file's newest rows never change (a delete writes a new file), so
//! this cache needs no invalidation. Bounded: at most half the cache's entries and
//! [`NEWEST_ROWS_WARM_BYTES`] of rows; a table that would not fit is left to queries.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use super::scan::{MAX_CACHED_LAST_ROWS, MAX_CACHED_METADATA};
use super::{Inner, Storage};
use crate::local_file::LocalFile;
use crate::metrics::Metrics;
use crate::persist;
use crate::types::ScanRequest;

/// The most bytes of rows the warm-up leaves in the cache of files' newest rows.
pub(super) const NEWEST_ROWS_WARM_BYTES: usize = 64 << 20;

/// Reads the footers of `inner`'s live files into its metadata cache (see the module);
/// returns how many it read. Stops early when the engine closes or is dropped.
pub(super) async fn file_metadata(inner: Weak<Inner>) -> usize {
    let paths = {
        let Some(me) = inner.upgrade() else { return 0 };
        let state = me.state.read();
        let mut files: Vec<_> = state.manifest.files.iter().collect();
        // Newest data first: it is what dashboards ask for.
        files.sort_by_key(|f| std::cmp::Reverse((f.max_time, f.order)));
        files
            .into_iter()
            .take(MAX_CACHED_METADATA / 2)
            .map(|f| f.path.clone())
            .collect::<Vec<_>>()
    };
    let mut read = 0;
    for path in paths {
        let Some(me) = inner.upgrade() else { break };
        if me.closed.load(Ordering::Relaxed) {
            break;
        }
        if me.file_metadata.lock().contains_key(&path) {
            continue;
        }
        let Some(data) = me.open_without_download(&path) else {
            continue;
        };
        drop(me);
        let Ok(Ok(metadata)) =
            tokio::task::spawn_blocking(move || persist::load_metadata(&data)).await
        else {
            // Gone (compacted away) or unreadable: a query that needs it will say so.
            continue;
        };
        let Some(me) = inner.upgrade() else { break };
        Metrics::add(&me.metrics.footers_warmed, 1);
        read += 1;
        let mut cache = me.file_metadata.lock();
        if cache.len() < MAX_CACHED_METADATA {
            cache.entry(path).or_insert(metadata);
        }
    }
    read
}

impl Inner {
    /// `path` opened from local disk (the local store, or the cache of a bucket's files),
    /// or `None` when reading it would need a download or it cannot be opened.
    fn open_without_download(&self, path: &str) -> Option<persist::FileData> {
        let file = match &self.local_root {
            Some(root) => LocalFile::open(root.join(path)).ok()?,
            None => self.file_cache.as_ref()?.get(path)?,
        };
        Some(persist::FileData::File(file))
    }
}

/// Reads each table's newest row per series from its files into the cache of files'
/// newest rows (see the module); returns the tables it read. Stops early when the engine
/// closes or is dropped.
pub(super) async fn newest_rows(inner: Weak<Inner>) -> usize {
    let tables: Vec<(String, String)> = {
        let Some(me) = inner.upgrade() else { return 0 };
        if me.local_root.is_none() {
            return 0;
        }
        let storage = Storage { inner: me };
        storage
            .databases()
            .into_iter()
            .flat_map(|db| {
                let tables = storage.tables(&db.name).unwrap_or_default();
                tables.into_iter().map(move |t| (db.name.clone(), t.name))
            })
            .collect()
    };
    let mut read = 0;
    for (db, table) in tables {
        let Some(me) = inner.upgrade() else { break };
        if me.closed.load(Ordering::Relaxed) {
            break;
        }
        let files = me
            .state
            .read()
            .manifest
            .files
            .iter()
            .filter(|f| f.table == table)
            .count();
        let (entries, bytes) = {
            let cache = me.last_rows.lock();
            let bytes = cache
                .values()
                .flatten()
                .map(arrow::array::RecordBatch::get_array_memory_size)
                .sum::<usize>();
            (cache.len(), bytes)
        };
        if files == 0 || entries + files > MAX_CACHED_LAST_ROWS / 2 {
            continue;
        }
        let Some(left) = NEWEST_ROWS_WARM_BYTES.checked_sub(bytes).filter(|&b| b > 0) else {
            break;
        };
        let request = ScanRequest {
            max_bytes: Some(left),
            ..ScanRequest::default()
        };
        let storage = Storage { inner: me };
        // Too large, or gone meanwhile: queries read what they need.
        if storage
            .scan_with(&db, &table, &request, Some(1), true)
            .await
            .is_ok()
        {
            read += 1;
        }
    }
    read
}

/// Starts [`file_metadata`], then [`newest_rows`], for `inner`, logging what they did.
pub(super) fn start(inner: &Arc<Inner>) {
    let weak = Arc::downgrade(inner);
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        let read = file_metadata(weak.clone()).await;
        let elapsed_ms = || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if read > 0 {
            tracing::debug!(
                files = read,
                elapsed_ms = elapsed_ms(),
                "read the footers of the newest parquet files"
            );
        }
        let tables = newest_rows(weak).await;
        if tables > 0 {
            tracing::debug!(
                tables,
                elapsed_ms = elapsed_ms(),
                "read the newest row of every series from the parquet files"
            );
        }
    });
}
