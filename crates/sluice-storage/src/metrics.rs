//! Engine counters kept in atomics, snapshotted into [`crate::StorageMetrics`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::types::{Histogram, StorageMetrics, StoreRequestMetrics};

/// Upper bounds (seconds) of the duration histograms' buckets: a WAL fdatasync takes
/// from 100 µs, an object store request (with its retries) up to a minute.
const SECONDS_BUCKETS: [f64; 18] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0,
];

/// A histogram of durations over [`SECONDS_BUCKETS`], updated with a few atomic adds.
#[derive(Debug, Default)]
pub(crate) struct DurationHistogram {
    /// Observations per bucket (not cumulative); the last slot is above every bound.
    buckets: [AtomicU64; SECONDS_BUCKETS.len() + 1],
    count: AtomicU64,
    nanos: AtomicU64,
}

impl DurationHistogram {
    pub(crate) fn observe(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        let slot = SECONDS_BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(SECONDS_BUCKETS.len());
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        self.nanos
            .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> Histogram {
        let mut cumulative = 0;
        let buckets = SECONDS_BUCKETS
            .iter()
            .zip(&self.buckets)
            .map(|(bound, n)| {
                cumulative += n.load(Ordering::Relaxed);
                (*bound, cumulative)
            })
            .collect();
        Histogram {
            buckets,
            sum: self.nanos.load(Ordering::Relaxed) as f64 / 1e9,
            count: self.count.load(Ordering::Relaxed),
        }
    }
}

/// The object store requests the engine counts, by the operation they perform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreOperation {
    Put,
    CreateUpload,
    UploadPart,
    CompleteUpload,
    AbortUpload,
    Get,
    Delete,
    List,
    Copy,
}

impl StoreOperation {
    const ALL: [StoreOperation; 9] = [
        StoreOperation::Put,
        StoreOperation::CreateUpload,
        StoreOperation::UploadPart,
        StoreOperation::CompleteUpload,
        StoreOperation::AbortUpload,
        StoreOperation::Get,
        StoreOperation::Delete,
        StoreOperation::List,
        StoreOperation::Copy,
    ];

    fn name(self) -> &'static str {
        match self {
            StoreOperation::Put => "put",
            StoreOperation::CreateUpload => "create_upload",
            StoreOperation::UploadPart => "upload_part",
            StoreOperation::CompleteUpload => "complete_upload",
            StoreOperation::AbortUpload => "abort_upload",
            StoreOperation::Get => "get",
            StoreOperation::Delete => "delete",
            StoreOperation::List => "list",
            StoreOperation::Copy => "copy",
        }
    }
}

/// Requests to the object store of one operation: how many failed, how long they took
/// (failed ones included).
#[derive(Debug, Default)]
struct StoreRequests {
    errors: AtomicU64,
    seconds: DurationHistogram,
}

#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub(crate) buffer_bytes: AtomicU64,
    pub(crate) lines_written: AtomicU64,
    pub(crate) lines_rejected: AtomicU64,
    pub(crate) persisted_files: AtomicU64,
    pub(crate) persisted_bytes: AtomicU64,
    pub(crate) backpressure_events: AtomicU64,
    pub(crate) parquet_files: AtomicU64,
    /// Failed WAL writes, fdatasyncs and segment starts.
    pub(crate) wal_write_errors: AtomicU64,
    pub(crate) merge_peak_rows: AtomicU64,
    pub(crate) merge_peak_bytes: AtomicU64,
    pub(crate) last_cache_answers: AtomicU64,
    pub(crate) distinct_cache_answers: AtomicU64,
    /// Requests to ingest peers that gave no buffered rows.
    pub(crate) ingest_peer_failures: AtomicU64,
    /// Parquet footers read by queries that did not find them cached.
    pub(crate) footers_read: AtomicU64,
    /// Parquet footers read into the cache after the start (`engine::warm`).
    pub(crate) footers_warmed: AtomicU64,
    /// Files whose newest rows per series queries read because they were not cached.
    pub(crate) newest_rows_read: AtomicU64,
    /// Files whose newest rows per series were read into the cache after the start.
    pub(crate) newest_rows_warmed: AtomicU64,
    wal_sync_seconds: DurationHistogram,
    wal_put_seconds: DurationHistogram,
    wal_put_bytes: AtomicU64,
    store_requests: [StoreRequests; StoreOperation::ALL.len()],
}

impl Metrics {
    pub(crate) fn observe_wal_sync(&self, took: Duration) {
        self.wal_sync_seconds.observe(took);
    }

    /// Counts one WAL object put to the store (`wal_object_store`).
    pub(crate) fn observe_wal_put(&self, took: Duration, bytes: u64) {
        self.wal_put_seconds.observe(took);
        Metrics::add(&self.wal_put_bytes, bytes);
    }

    /// Counts one request to the object store.
    pub(crate) fn observe_store_request(
        &self,
        operation: StoreOperation,
        took: Duration,
        ok: bool,
    ) {
        let requests = &self.store_requests[operation as usize];
        requests.seconds.observe(took);
        if !ok {
            requests.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> StorageMetrics {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let wal_sync_seconds = self.wal_sync_seconds.snapshot();
        StorageMetrics {
            buffer_bytes: get(&self.buffer_bytes),
            lines_written: get(&self.lines_written),
            lines_rejected: get(&self.lines_rejected),
            wal_syncs: wal_sync_seconds.count,
            wal_sync_seconds,
            wal_put_seconds: self.wal_put_seconds.snapshot(),
            wal_put_bytes: get(&self.wal_put_bytes),
            object_store_requests: StoreOperation::ALL
                .iter()
                .zip(&self.store_requests)
                .map(|(operation, requests)| StoreRequestMetrics {
                    operation: operation.name(),
                    errors: get(&requests.errors),
                    seconds: requests.seconds.snapshot(),
                })
                .collect(),
            persisted_files: get(&self.persisted_files),
            persisted_bytes: get(&self.persisted_bytes),
            backpressure_events: get(&self.backpressure_events),
            parquet_files: get(&self.parquet_files),
            wal_write_errors: get(&self.wal_write_errors),
            wal_failing: false,
            merge_peak_rows: get(&self.merge_peak_rows),
            merge_peak_bytes: get(&self.merge_peak_bytes),
            last_cache_answers: get(&self.last_cache_answers),
            distinct_cache_answers: get(&self.distinct_cache_answers),
            ingest_peer_failures: get(&self.ingest_peer_failures),
            footers_read: get(&self.footers_read),
            footers_warmed: get(&self.footers_warmed),
            newest_rows_read: get(&self.newest_rows_read),
            newest_rows_warmed: get(&self.newest_rows_warmed),
            publisher: None,
        }
    }
}
