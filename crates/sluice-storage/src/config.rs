//! Configuration of the storage engine: directories, durability, memory and catalog limits.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Everything [`crate::Storage::open`] needs. Every field has a documented default.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// Root directory: the WAL lives in `data_dir/wal`, the catalog and the Parquet file
    /// manifest in `data_dir/catalog`, and with [`ObjectStoreConfig::Local`] the Parquet
    /// files under `data_dir/objects`. Default `./sluice-data`.
    pub data_dir: PathBuf,
    /// Where Parquet files go. Default [`ObjectStoreConfig::Local`].
    pub object_store: ObjectStoreConfig,
    /// How the WAL makes writes durable. Default [`WalSync::Fsync`].
    pub wal_sync: WalSync,
    /// With [`WalSync::None`] (and for `no_sync` writes) the WAL is still fdatasync'ed in
    /// the background this often. Default 1 s.
    pub wal_background_sync_interval: Duration,
    /// A WAL segment is closed and a new one started once it holds this many bytes.
    /// Default 64 MiB.
    pub wal_segment_bytes: u64,
    /// A WAL segment is closed and a new one started once it is this old (checked when a
    /// write arrives). Default 10 min.
    pub wal_segment_age: Duration,
    /// Write-buffer ceiling (heap bytes the buffered rows hold, including rows being
    /// persisted). While the buffer is over
    /// it, writes fail fast with [`crate::Error::Backpressure`]. Default 1 GiB.
    pub max_buffer_bytes: usize,
    /// The buffer is persisted to Parquet once it holds this many heap bytes. Default 64 MiB
    /// (about two million rows of ten small integer fields).
    pub persist_buffer_bytes: usize,
    /// The buffer is persisted to Parquet once its oldest unpersisted write is this old,
    /// whatever its size. Default 10 min.
    pub persist_interval: Duration,
    /// How often the background task checks the persistence triggers, retention and
    /// compaction. Default 1 s.
    pub background_interval: Duration,
    /// A partition (table, UTC day) with more than this many Parquet files below half of
    /// `compaction_max_output_bytes` (after its last such file of full size) has them
    /// merged in the background. A merge reads at most twice this many files at once.
    /// Default 8.
    pub compact_max_files: usize,
    /// Persistence and compaction cut the Parquet files they write at about this size,
    /// so no file grows with the data; files of at least half this size are left alone
    /// by compaction. Memory does not depend on it (files are written to disk as they
    /// grow). Default 256 MiB.
    pub compaction_max_output_bytes: u64,
    /// Create a database on its first write. Default true.
    pub auto_create_databases: bool,
    /// Limits the catalog enforces per line.
    pub limits: CatalogLimits,
    /// When true, WAL records that fail their checksum in the middle of a file are skipped
    /// (with an error log) instead of stopping start-up. Default false.
    pub skip_corrupt_wal_records: bool,
    /// Test knob: every persistence of the buffer to Parquet sleeps this long first, so
    /// tests can fill the buffer faster than it drains. Default zero; do not set it in
    /// production.
    pub persist_delay: Duration,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: PathBuf::from("./sluice-data"),
            object_store: ObjectStoreConfig::Local,
            wal_sync: WalSync::Fsync,
            wal_background_sync_interval: Duration::from_secs(1),
            wal_segment_bytes: 64 << 20,
            wal_segment_age: Duration::from_secs(600),
            max_buffer_bytes: 1 << 30,
            persist_buffer_bytes: 64 << 20,
            persist_interval: Duration::from_secs(600),
            background_interval: Duration::from_secs(1),
            compact_max_files: 8,
            compaction_max_output_bytes: 256 << 20,
            auto_create_databases: true,
            limits: CatalogLimits::default(),
            skip_corrupt_wal_records: false,
            persist_delay: Duration::ZERO,
        }
    }
}

/// Limits on the catalog, checked for every line; a line over a limit is rejected alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogLimits {
    /// Tables (measurements) per database. Default 10,000.
    pub max_tables_per_database: usize,
    /// Columns (tags, fields and `time`) per table. Default 1,000.
    pub max_columns_per_table: usize,
    /// Bytes in one tag value. Default 4,096.
    pub max_tag_value_bytes: usize,
}

impl Default for CatalogLimits {
    fn default() -> Self {
        CatalogLimits {
            max_tables_per_database: 10_000,
            max_columns_per_table: 1_000,
            max_tag_value_bytes: 4_096,
        }
    }
}

/// How the WAL makes a write durable before acknowledging it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WalSync {
    /// Acknowledge after the WAL file holding the write was fdatasync'ed (group commit).
    #[default]
    Fsync,
    /// Acknowledge after the write reached the operating system (`write(2)`); the WAL is
    /// fdatasync'ed in the background every `wal_background_sync_interval`.
    None,
}

impl FromStr for WalSync {
    type Err = InvalidWalSync;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "fsync" => Ok(WalSync::Fsync),
            "none" => Ok(WalSync::None),
            _ => Err(InvalidWalSync(s.to_owned())),
        }
    }
}

impl fmt::Display for WalSync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WalSync::Fsync => "fsync",
            WalSync::None => "none",
        })
    }
}

/// A `wal_sync` setting that is neither `fsync` nor `none`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid wal sync mode {0:?}: expected \"fsync\" or \"none\"")]
pub struct InvalidWalSync(pub String);

/// Where Parquet files are stored.
#[derive(Debug, Clone, Default)]
pub enum ObjectStoreConfig {
    /// Files under `data_dir/objects` (written to a temporary file, then renamed).
    #[default]
    Local,
    /// In memory, lost on restart: for tests only.
    Memory,
    /// Files under the given directory instead of `data_dir/objects`.
    LocalPath(PathBuf),
}
