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

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use super::Inner;
use super::scan::MAX_CACHED_METADATA;
use crate::metrics::Metrics;
use crate::persist;

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
            Some(root) => std::fs::File::open(root.join(path)).ok()?,
            None => self.file_cache.as_ref()?.get(path)?,
        };
        Some(persist::FileData::File(file))
    }
}

/// Starts [`file_metadata`] for `inner`, logging what it did.
pub(super) fn start(inner: &Arc<Inner>) {
    let weak = Arc::downgrade(inner);
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        let read = file_metadata(weak).await;
        if read > 0 {
            tracing::debug!(
                files = read,
                elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                "read the footers of the newest parquet files"
            );
        }
    });
}
