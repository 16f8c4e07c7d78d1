//! The storage engine of sluice: catalog, write-ahead log, write buffer, Parquet
//! persistence and scans.
//!
//! # Place in the data path
//!
//! ```text
//!  HTTP /write ──> sluice-server ──parse──> sluice-lp::Line
//!                                              │ Storage::write
//!                                              v
//!                       ┌──────────── sluice-storage ─────────────┐
//!                       │ catalog ── validate types & limits,     │
//!                       │            create tables/columns        │
//!                       │    │                                    │
//!                       │    v                                    │
//!                       │ WAL writer thread: append record,       │
//!                       │   fdatasync (group commit); WAL apply   │
//!                       │   thread: apply to the buffer in WAL    │
//!                       │   order, then acknowledge               │
//!                       │    │                                    │
//!                       │    v                                    │
//!                       │ write buffer (columnar per table and    │
//!                       │   UTC day, series-aware, merged)        │
//!                       │    │ size / age trigger                 │
//!                       │    v                                    │
//!                       │ Parquet per table per UTC day ──> object_store
//!                       │   (+ manifest), WAL segments deleted    │
//!                       └─────────────────────────────────────────┘
//!                                              │ Storage::scan
//!                                              v
//!                   query layer <── Arrow RecordBatches (buffer ⊕ Parquet,
//!                                   last write wins per series, time, field)
//! ```
//!
//! # Durability contract of each write path
//!
//! * **`WalSync::Fsync`, `no_sync = false` (default).** [`Storage::write`] returns `Ok` only
//!   after the WAL record holding the accepted lines was written and the WAL file
//!   fdatasync'ed. Concurrent writers share fdatasyncs: while one sync runs, the writes
//!   that arrive gather into the next batch; a lone write waits only for its own sync.
//!   On return the data is visible to [`Storage::scan`]. After any crash (process kill,
//!   power loss) every acknowledged write is recovered on restart.
//! * **`no_sync = true` or `WalSync::None`.** `write` returns once the WAL record was
//!   handed to the operating system with `write(2)` (and applied to the buffer), without
//!   waiting for fdatasync. A crash of the sluice **process** (including `kill -9`) loses
//!   nothing acknowledged, since the bytes are in the kernel's page cache. A crash of the
//!   **machine** (power loss, kernel panic) may lose the writes acknowledged since the
//!   last fdatasync: at most `wal_background_sync_interval` (default 1 s) of them, plus
//!   any not yet covered by a later synced write. The records lost are always a suffix
//!   of the WAL; a torn final record is truncated on restart.
//! * **Catalog changes** (new database, table or column, retention) are written to
//!   `data_dir/catalog/catalog.json` through a temporary file, fsync and rename before
//!   the write that caused them is logged, so a recovered record always finds its columns.
//! * **Deletes** ([`Storage::delete`], [`Storage::drop_table`]) are WAL records of their
//!   own (segment versions 3 and later; older segments still replay), fdatasync'ed like writes, and
//!   applied in log order: buffered rows at once, Parquet files by rewriting the files
//!   holding deleted rows (a file left empty is dropped) and saving the manifest, which
//!   records the last delete applied to files; replay re-applies later ones. A write
//!   acknowledged after a delete returned is never deleted by it, also after a crash.
//! * **Persistence.** Parquet files are put into the object store (local: temporary file
//!   then rename), then the manifest `data_dir/catalog/manifest.json` naming them and the
//!   last persisted WAL sequence number is replaced atomically, and only then are the WAL
//!   segments it covers deleted. Objects not named by the manifest (left by a crash in
//!   between) are deleted at start-up.
//! * **A cloud bucket** ([`ObjectStoreConfig::Cloud`]) holds the node's catalog and
//!   manifest too, under its node id: they are put into it after their local copies are
//!   saved and before the WAL segments a manifest covers, or the files it no longer names,
//!   are deleted. A node opened on an empty data directory takes them from the bucket and
//!   so recovers everything persisted (`engine/node.rs`).
//!
//! # Recovery
//!
//! [`Storage::open`] loads the catalog and manifest, then replays every WAL segment in
//! order. A torn tail (a final record cut short or failing its checksum at the end of the
//! newest segment) is truncated with a warning. Damage anywhere else stops start-up with
//! [`Error::WalCorrupt`] naming the file and offset, unless
//! [`StorageConfig::skip_corrupt_wal_records`] is set, in which case damaged records are
//! skipped with an error log.
//!
//! # Defaults that matter
//!
//! The buffer counts the heap memory its rows hold (vector capacities, not an estimate
//! per line). Persistence runs when its rows hold `persist_buffer_bytes` (48 MiB; the
//! series' tags and indexes not counted), when the whole of it holds half of
//! `max_buffer_bytes`, or when its oldest unpersisted write is `persist_interval` (10
//! min) old. Writes fail with
//! [`Error::Backpressure`] while the buffer is over `max_buffer_bytes` (1 GiB). A UTC day
//! of one table with more than `compact_max_files` (8) small Parquet files has them merged,
//! and so does one with two once it is cold (nothing buffered and no file persisted into
//! it for `compact_cold_after`, 10 min);
//! persistence and compaction cut files at `compaction_max_output_bytes` (256 MiB) and
//! stream (a k-way merge reading each file page by page, writing to disk as it goes), so
//! their memory does not grow with the data: about `(inputs + 1) × 8,192` decoded rows
//! plus one row group of at most 32 MiB encoded.
//! Retention drops whole UTC days once their end is older than the retention period.
//! Each InfluxDB 1.x retention policy of a database other than the one it was created
//! with is a storage database of its own, `db/rp`, with its own retention (see
//! [`Storage::create_retention_policy`]).
//! [`StorageConfig::persist_delay`] (default zero) is a test knob that slows every
//! persistence down, so tests can fill the buffer faster than it drains.
//!
//! # Benchmark
//!
//! `cargo run --release -p sluice-storage --example ingest` measures engine-level ingest of
//! TSBS-like `cpu` lines (fsync and none, 1 and 4 writers) and bytes per field value after
//! persistence.

mod batch;
mod buffer;
mod cache;
mod catalog;
mod config;
mod durable;
mod encoding;
mod engine;
mod error;
mod field_filter;
mod file_cache;
mod local_file;
mod lock;
mod manifest;
mod merge;
mod metrics;
mod mode;
mod persist;
mod policy;
mod predicate;
mod recent;
mod rejection;
mod series_index;
mod store;
mod text_order;
mod types;
mod wal;

pub use config::{
    CatalogLimits, CloudProvider, CloudStore, CompactHold, InvalidWalSync, ObjectStoreConfig,
    S3Options, StorageConfig, WalSync,
};
pub use engine::{
    BufferedRows, ChunkedWrite, FilesPublisher, IngestNode, IngestPeers, LiveFile, LiveFiles,
    NodeInfo, PeerAnswer, PeerRowsRequest, PublisherCounts, SharedEntries, SharedRound,
    SharedSynced, StopSignal, Storage, TableFiles, node_id_problem, with_inline_reads,
};
pub use error::{Error, Result};
pub use merge::conform;
pub use mode::{InvalidNodeModes, NodeModes};
pub use predicate::TagPredicate;
pub use rejection::{MAX_TIME, MIN_TIME, Rejection};
pub use sluice_lp;
pub use types::{
    Cardinality, CardinalityRequest, ColumnInfo, ColumnKind, Comparison, Created, DatabaseInfo,
    DeleteRequest, DistinctCacheInfo, DistinctCacheSpec, FieldFilter, FieldType, Histogram,
    LastCacheInfo, LastCacheSpec, Number, ParquetFileInfo, RejectedLine, RetentionPolicyInfo,
    RetentionPolicySpec, RetentionPolicyUpdate, ScanExtent, ScanRequest, ScanResult, StorageFault,
    StorageMetrics, StoreRequestMetrics, TableCardinality, TableInfo, TableUsage,
    TagKeyCardinality, TagMatch, TagValueCardinality, WriteOptions, WriteOutcome,
};
