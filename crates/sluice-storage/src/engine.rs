//! `Storage`: the engine's public handle tying catalog, WAL, buffer and persistence
//! together, and the state its parts share.
//!
//! Each part of the data path has its own file: opening and recovery (`open`), write
//! admission (`write`), databases (`databases`), scans (`scan`), the background task
//! and retention (`background`), buffer persistence (`persistence`), compaction
//! (`compact`), deletes (`delete`), writing new Parquet files (`files`) and the
//! last-value and distinct-value caches (`caches`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arrow::array::RecordBatch;
use object_store::ObjectStore;
use parking_lot::{Mutex, RwLock};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;

use crate::buffer::{Buffer, PartitionBuffer};
use crate::cache::Caches;
use crate::catalog::Catalog;
use crate::config::StorageConfig;
use crate::error::Result;
use crate::file_cache::FileCache;
use crate::manifest::{Manifest, ParquetFile};
use crate::metrics::Metrics;
use crate::persist;
use crate::predicate::DeleteOp;
use crate::types::{StorageFault, StorageMetrics};
use crate::wal::Wal;

mod background;
mod buffered;
mod caches;
mod cardinality;
mod claims;
mod compact;
mod compactor;
mod databases;
mod delete;
mod files;
mod ingest_peers;
mod inline;
mod lease;
mod node;
mod open;
mod peers;
mod persistence;
mod scan;
mod shared_catalog;
mod shared_record;
mod table_files;
#[cfg(test)]
mod test_bucket;
mod usage;
mod warm;
mod write;

pub use buffered::BufferedRows;
pub use ingest_peers::{IngestNode, IngestPeers, PeerAnswer, PeerRowsRequest};
pub use inline::{StopSignal, with_inline_reads};
pub use node::node_id_problem;
pub use peers::NodeInfo;
pub(crate) use shared_catalog::{SharedDatabase, Synced};
pub use shared_record::{SharedEntries, SharedRound, SharedSynced};
pub use table_files::{FilesPublisher, LiveFile, LiveFiles, PublisherCounts, TableFiles};
pub use write::ChunkedWrite;

use background::enforce_retention;
use compact::compact;
use persistence::persist_buffer;
use scan::LastRowsKey;

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
    /// With a cloud store: the directory new files are written to before their upload.
    upload_staging: Option<PathBuf>,
    /// With a cloud store: local copies of its files.
    file_cache: Option<FileCache>,
    /// With a cloud store: the node's place in the bucket, which holds its catalog and
    /// manifest too.
    node: Option<node::Node>,
    /// With a cloud store: this process's lease on the node id, and the task renewing it.
    lease: Option<Arc<lease::Lease>>,
    lease_task: Mutex<Option<JoinHandle<()>>>,
    /// Bumped by every save of the catalog and of the manifest: what [`node::publish`]
    /// compares with what it last put into the bucket.
    catalog_generation: AtomicU64,
    manifest_generation: AtomicU64,
    metrics: Arc<Metrics>,
    /// Serializes the changes to the manifest that read it, write files and then
    /// commit: persistence, deletes, adopting a compactor's outputs, and the commit of a
    /// compaction (its merge runs beside them, see `compact`).
    persist_lock: tokio::sync::Mutex<()>,
    /// Serializes compactions: the background task's and [`Storage::compact_now`].
    compact_lock: tokio::sync::Mutex<()>,
    /// The background compaction, while one runs (persistence goes on meanwhile).
    compaction: Mutex<Option<JoinHandle<()>>>,
    /// The id of the next file under this node's prefix. Every writer of files
    /// (persistence, compaction, deletes, adopting a compactor's outputs) takes its ids
    /// here, so writers running at once never take the same one; each commit raises
    /// the manifest's `next_file_id` to it.
    file_ids: Arc<AtomicU64>,
    /// Lends a permit to each blocking thread that writes a Parquet file into the data
    /// directory or renames one into place (see `files`). Aborting the background task
    /// does not stop the blocking thread it was waiting for, so [`Storage::shutdown`]
    /// takes every permit, waiting for such threads to end, and closes the semaphore
    /// before it releases the directory: a thread left running could otherwise write a
    /// file under the name the next engine on the directory gives its own.
    file_writers: Arc<Semaphore>,
    wakeup: Arc<Notify>,
    closed: AtomicBool,
    background: Mutex<Option<JoinHandle<()>>>,
    /// Objects no longer in the manifest, deleted by the background task.
    pending_deletes: Mutex<Vec<String>>,
    /// Files dropped from the manifest that a files publisher may still list, with the
    /// manifest generation that dropped them (see `table_files`).
    held_deletes: Mutex<Vec<(u64, String)>>,
    /// Told of every manifest change (see [`Storage::set_files_publisher`]).
    publisher: Mutex<Option<Arc<dyn FilesPublisher>>>,
    /// Held shared by writes from validation until their record is queued in the WAL, and
    /// exclusively by a table drop from logging its record until the catalog without the
    /// table is saved, so no write validated against the old table is logged after the
    /// drop and no catalog without the table is saved before the drop is durable.
    ddl: tokio::sync::RwLock<()>,
    /// Why the last persistence failed; cleared when one succeeds.
    persist_fault: Mutex<Option<PersistFault>>,
    /// Logged deletes (with their sequence numbers) not yet applied to Parquet files;
    /// applied before the next persistence, which fails while they cannot be.
    unapplied_deletes: Mutex<Vec<(u64, DeleteOp)>>,
    /// Parsed footers and page indexes of Parquet files by object path (files never
    /// change once written).
    file_metadata: Mutex<HashMap<String, persist::FileMeta>>,
    /// The newest rows per series of single Parquet files, as `scan_last` read them.
    last_rows: Mutex<HashMap<LastRowsKey, Vec<RecordBatch>>>,
    /// Since when each partition last got a file from persistence (what tells a cold one).
    activity: Mutex<compact::Activity>,
    /// The data directory's lock: held until shutdown (or until the last handle is
    /// dropped), so that no other process opens the directory meanwhile.
    dir_lock: Mutex<Option<crate::lock::DirLock>>,
    /// The last-value and distinct-value caches, which the WAL's apply thread feeds
    /// (lock order: catalog, state, caches).
    caches: Arc<Mutex<Caches>>,
    /// On a node that reads every node's files (`NodeModes::reads_peers`): what it knows
    /// of the others, which replaces its catalog and manifest (`peers`).
    peers: Option<peers::Peers>,
    /// On a compactor (`NodeModes::compact`): what it knows of the ingest nodes.
    compactor: Option<compactor::Compactor>,
    /// The last version read of each shared record (`shared_record`), by prefix.
    shared_records: Mutex<HashMap<String, (u64, bytes::Bytes)>>,
}

/// What scans see: the buffer being written, buffers being persisted, and live files.
#[derive(Debug)]
struct State {
    active: Buffer,
    /// When the oldest write still only in `active` arrived.
    active_since: Option<Instant>,
    frozen: Vec<Arc<Frozen>>,
    manifest: Arc<Manifest>,
    /// A cloud node's buffers already in Parquet files named by `manifest`, kept until a
    /// manifest naming those files is in the bucket: until then query nodes read their
    /// rows from here (`buffered`), not from a bucket that lacks them. Scans of this
    /// node read the files instead.
    unpublished: Vec<Arc<Frozen>>,
    /// The `persisted_seq` of the manifest this node last put into its bucket; `None`
    /// before its first publication since it started.
    published_seq: Option<u64>,
    /// On a query node: whose files `manifest`'s bands hold (`peers`), installed with it.
    bands: Arc<peers::Bands>,
}

/// Why the last persistence failed.
#[derive(Debug, Clone)]
struct PersistFault {
    /// What `/health` says.
    message: String,
    /// The object store failed the request (not a full disk).
    store_failing: bool,
}

/// The permits of [`Inner::file_writers`]: far more than there are Parquet files being
/// written at once (the persist lock serializes their writers).
const FILE_WRITER_PERMITS: u32 = 1 << 16;

/// A buffer snapshot taken at a WAL rotation, being persisted.
#[derive(Debug, Clone)]
struct Frozen {
    last_seq: u64,
    buffer: Buffer,
}

impl State {
    /// `table`'s buffered partitions by UTC day, in the frozen buffers being persisted,
    /// then in the active one: the rows a scan of this node reads beside its files.
    fn partitions<'a>(
        &'a self,
        db_id: u32,
        table: &'a str,
    ) -> impl Iterator<Item = (i64, &'a PartitionBuffer)> + 'a {
        self.frozen
            .iter()
            .map(|f| &f.buffer)
            .chain([&self.active])
            .filter_map(move |b| b.table(db_id, table))
            .flat_map(|tb| tb.partitions.iter().map(|(day, p)| (*day, p)))
    }

    fn buffer_bytes(&self) -> usize {
        self.active.bytes
            + self
                .frozen
                .iter()
                .chain(&self.unpublished)
                .map(|f| f.buffer.bytes)
                .sum::<usize>()
    }

    /// Sets the `buffer_bytes` metric (which write backpressure reads) to what the
    /// buffers hold now.
    fn publish_buffer_bytes(&self, metrics: &Metrics) {
        metrics
            .buffer_bytes
            .store(self.buffer_bytes() as u64, Ordering::Relaxed);
    }
}

/// Runs blocking `work` (`task` names it in the error if its thread panics) off the
/// async workers, on the blocking pool.
async fn blocking<T: Send + 'static>(
    task: &str,
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| crate::error::Error::Catalog(format!("{task} task failed: {e}")))?
}

/// The current time in nanoseconds since the epoch.
fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

impl Storage {
    /// A snapshot of the engine's counters.
    pub fn metrics(&self) -> StorageMetrics {
        let mut metrics = self.inner.metrics.snapshot();
        metrics.wal_failing = self.inner.wal.fault().is_some();
        if let Some(publisher) = &*self.inner.publisher.lock() {
            metrics.publisher = Some(publisher.counts());
        }
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
                degraded: false,
            });
        }
        if let Some(Err(fenced)) = self.inner.lease.as_ref().map(|l| l.fenced()) {
            out.push(StorageFault {
                component: "node",
                message: fenced.to_string(),
                degraded: false,
            });
        }
        if let Some(message) = self.peers_fault() {
            out.push(StorageFault {
                component: "peers",
                message,
                degraded: true,
            });
        }
        if let Some(message) = self
            .inner
            .compactor
            .as_ref()
            .and_then(|c| c.fault.lock().clone())
        {
            out.push(StorageFault {
                component: "compactor",
                message,
                degraded: true,
            });
        }
        if let Some(message) = self.ingest_peers_fault() {
            out.push(StorageFault {
                component: "ingest_peers",
                message,
                degraded: true,
            });
        }
        if let Some(message) = self.inner.publisher.lock().as_ref().and_then(|p| p.fault()) {
            out.push(StorageFault {
                component: "publisher",
                message,
                degraded: true,
            });
        }
        if let Some(fault) = self.inner.persist_fault.lock().clone() {
            let room = self.inner.state.read().buffer_bytes() <= self.inner.config.max_buffer_bytes;
            out.push(StorageFault {
                component: if fault.store_failing {
                    "object_store"
                } else {
                    "persistence"
                },
                message: fault.message,
                degraded: fault.store_failing && room,
            });
        }
        out
    }

    /// What this node does (`StorageConfig::modes`).
    pub fn modes(&self) -> crate::NodeModes {
        self.inner.config.modes
    }

    /// The write buffer's ceiling (`StorageConfig::max_buffer_bytes`): above it writes
    /// are refused with [`Error::Backpressure`].
    pub fn max_buffer_bytes(&self) -> usize {
        self.inner.config.max_buffer_bytes
    }

    /// Stops the background task, syncs the WAL and stops its writer; later writes fail
    /// with [`Error::Closed`]. Buffered data is not persisted to Parquet (the WAL holds
    /// it and is replayed on the next open). Once this returns, the background task
    /// writes nothing more into the data directory, and another engine may open it.
    ///
    /// # Errors
    /// [`Error::Io`] when the final WAL sync fails.
    pub async fn shutdown(&self) -> Result<()> {
        self.inner.closed.store(true, Ordering::Relaxed);
        let tasks = [
            self.inner.background.lock().take(),
            self.inner.compaction.lock().take(),
        ];
        for task in tasks.into_iter().flatten() {
            // Every persistence and compaction step is atomic on disk, so stopping
            // mid-way is safe.
            task.abort();
            let _ = task.await;
        }
        // The aborted task may have left a blocking thread writing a Parquet file: wait
        // for it, and let no other start (see `Inner::file_writers`).
        let _idle = self
            .inner
            .file_writers
            .acquire_many(FILE_WRITER_PERMITS)
            .await;
        self.inner.file_writers.close();
        let result = self.inner.wal.shutdown().await;
        let renewing = self.inner.lease_task.lock().take();
        if let Some(task) = renewing {
            task.abort();
            let _ = task.await;
        }
        if let Some(lease) = &self.inner.lease {
            lease.release(self.inner.store.as_ref()).await;
        }
        self.inner.dir_lock.lock().take();
        result
    }

    /// Persists all buffered data to Parquet now (what the size and age triggers do),
    /// then deletes the WAL segments it covered. For tests and operators.
    ///
    /// # Errors
    /// [`Error::ObjectStore`], [`Error::Parquet`], [`Error::Io`].
    pub async fn persist_now(&self) -> Result<()> {
        persist_buffer(&self.inner).await
    }

    /// Counts `by` more quiet time for the newest file of every partition that has files
    /// now, as if that much time had passed since it was persisted: what tests of the
    /// rule for cold partitions (`compact_cold_after`) use instead of sleeping, so that a
    /// slow machine neither makes them wait nor turns a partition cold before they mean
    /// it to be. A partition persisted into later counts from its new file, unaged.
    #[doc(hidden)]
    pub fn age_partitions(&self, by: Duration) {
        self.inner.activity.lock().age(by);
    }

    /// Compacts now every partition with more than `compact_max_files` small files, or
    /// with two once it is cold (`compact_cold_after`): what the background task does.
    ///
    /// # Errors
    /// [`Error::ObjectStore`], [`Error::Parquet`], [`Error::Io`].
    pub async fn compact_now(&self) -> Result<()> {
        if !self.inner.config.modes.ingest {
            return Ok(());
        }
        compact(&self.inner).await
    }

    /// Applies retention now (what the background task does).
    ///
    /// # Errors
    /// [`Error::Io`] when the manifest cannot be saved.
    pub fn enforce_retention_now(&self) -> Result<()> {
        if !self.inner.config.modes.ingest {
            return Ok(());
        }
        enforce_retention(&self.inner)
    }
}

impl Inner {
    /// Saves `manifest` (the durable record of which Parquet files exist) and makes it
    /// the one scans read.
    fn install_manifest(&self, state: &mut State, mut manifest: Manifest) -> Result<()> {
        // Above every id taken, committed or still being written.
        manifest.next_file_id = manifest
            .next_file_id
            .max(self.file_ids.load(Ordering::Acquire));
        manifest.save(&self.catalog_dir)?;
        let generation = self.manifest_generation.fetch_add(1, Ordering::AcqRel) + 1;
        self.metrics
            .parquet_files
            .store(manifest.files.len() as u64, Ordering::Relaxed);
        self.activity.lock().observe(&manifest);
        state.manifest = Arc::new(manifest);
        if let Some(publisher) = &*self.publisher.lock() {
            publisher.files_changed(generation);
        }
        Ok(())
    }

    /// Saves the catalog (its local copy; a cloud node's bucket gets it from
    /// [`node::publish`]).
    fn save_catalog(&self, catalog: &Catalog) -> Result<()> {
        catalog.save(&self.catalog_dir)?;
        self.catalog_generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// `Ok` unless another process took over this cloud node's id: then nothing more is
    /// persisted, published or written.
    ///
    /// # Errors
    /// [`Error::Fenced`].
    fn check_lease(&self) -> Result<()> {
        self.lease.as_ref().map_or(Ok(()), |l| l.fenced())
    }

    /// The prefix of new Parquet files' object paths: a cloud node's `node_id/`.
    fn object_prefix(&self) -> &str {
        self.node.as_ref().map_or("", |n| n.prefix.as_str())
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
        self.install_manifest(state, manifest)?;
        self.pending_deletes
            .lock()
            .extend(dropped.into_iter().map(|f| f.path));
        Ok(())
    }
}
