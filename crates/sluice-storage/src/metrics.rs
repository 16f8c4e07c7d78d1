//! Engine counters kept in atomics, snapshotted into [`crate::StorageMetrics`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::types::{Histogram, StorageMetrics};

/// Upper bounds (seconds) of the WAL sync histogram buckets.
const SYNC_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

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
    sync_buckets: [AtomicU64; SYNC_BUCKETS.len()],
    sync_count: AtomicU64,
    sync_nanos: AtomicU64,
}

impl Metrics {
    pub(crate) fn observe_wal_sync(&self, took: Duration) {
        let secs = took.as_secs_f64();
        if let Some(i) = SYNC_BUCKETS.iter().position(|b| secs <= *b) {
            self.sync_buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.sync_nanos
            .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
        self.sync_count.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> StorageMetrics {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut cumulative = 0;
        let buckets = SYNC_BUCKETS
            .iter()
            .zip(&self.sync_buckets)
            .map(|(bound, n)| {
                cumulative += get(n);
                (*bound, cumulative)
            })
            .collect();
        StorageMetrics {
            buffer_bytes: get(&self.buffer_bytes),
            lines_written: get(&self.lines_written),
            lines_rejected: get(&self.lines_rejected),
            wal_syncs: get(&self.sync_count),
            wal_sync_seconds: Histogram {
                buckets,
                sum: get(&self.sync_nanos) as f64 / 1e9,
                count: get(&self.sync_count),
            },
            persisted_files: get(&self.persisted_files),
            persisted_bytes: get(&self.persisted_bytes),
            backpressure_events: get(&self.backpressure_events),
            parquet_files: get(&self.parquet_files),
            wal_write_errors: get(&self.wal_write_errors),
            wal_failing: false,
            merge_peak_rows: get(&self.merge_peak_rows),
            merge_peak_bytes: get(&self.merge_peak_bytes),
        }
    }
}
