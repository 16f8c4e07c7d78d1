//! Configuration of the storage engine: directories, durability, memory and catalog limits.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::mode::NodeModes;

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
    /// Log writes to the cloud store instead of `data_dir/wal`: the writes of each
    /// `wal_flush_interval` go into one object `node_id/wal/{first seq:020}.wal` (the
    /// record format of a segment file) and are acknowledged once its PUT succeeded, so a
    /// node started on an empty data directory recovers every acknowledged write. Needs
    /// [`ObjectStoreConfig::Cloud`]. Default false.
    pub wal_object_store: bool,
    /// With `wal_object_store`: a WAL object's PUT starts at least this long after the
    /// previous one started, and the writes arriving meanwhile go into it; a write arriving
    /// after a quiet interval is put at once. Default 1 s.
    pub wal_flush_interval: Duration,
    /// Write-buffer ceiling (heap bytes the buffered rows hold, including rows being
    /// persisted). While the buffer is over
    /// it, writes fail fast with [`crate::Error::Backpressure`]. Default 1 GiB.
    pub max_buffer_bytes: usize,
    /// The buffer is persisted to Parquet once its rows hold this many heap bytes (the
    /// series' tags and indexes not counted; the whole buffer is persisted at half of
    /// `max_buffer_bytes` whatever its rows). Default 48 MiB (about one and a half million
    /// rows of ten small integer fields). The peak memory
    /// of a sustained load is about twice this plus the rest: while one buffer is
    /// persisted the next one fills.
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
    /// A partition none of whose rows are buffered and that got no file from persistence
    /// for this long (counted from start-up for older files) is cold: its small files are
    /// merged once there are two, not only past `compact_max_files`, so that queries over
    /// a day that stopped receiving writes read one file rather than merge several.
    /// Zero turns the rule off. Default 10 min.
    pub compact_cold_after: Duration,
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
    /// Test knob: every compaction waits, between merging a partition's files and
    /// committing its outputs, until this hold is released ([`CompactHold::release`]),
    /// so tests can persist, write and delete while it merges. Default none; do not set
    /// it in production.
    pub compact_hold: Option<CompactHold>,
    /// What the node does (`--mode`). A node without `ingest` takes no writes, runs no
    /// persistence, retention or compaction, and (with `query`) answers queries over
    /// every node's files in its cloud bucket. Default [`NodeModes::ALL`].
    pub modes: NodeModes,
    /// How often a node that reads every node's files (see [`NodeModes::reads_peers`])
    /// lists the bucket and reads the catalogs and manifests that changed: the delay
    /// after which a row an ingest node persisted is visible there. Default 2 s.
    pub query_refresh_interval: Duration,
    /// How often a compactor (`compact` in [`NodeModes`]) reads the ingest nodes'
    /// manifests and merges what they need merged, and how often a cloud node that
    /// ingests looks in the bucket for a compactor's outputs to adopt and for a running
    /// compactor (one whose heartbeat is younger than three intervals stops the node
    /// compacting its own files). Give every node of a bucket the same. Default 10 s.
    pub compaction_check_interval: Duration,
    /// How often a cloud node that ingests reconciles its databases and retention
    /// policies with the record the bucket's ingest nodes share: the delay after which a
    /// database created, changed or dropped on one is so on the others. Default 2 s.
    pub catalog_sync_interval: Duration,
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
            wal_object_store: false,
            wal_flush_interval: Duration::from_secs(1),
            max_buffer_bytes: 1 << 30,
            persist_buffer_bytes: 48 << 20,
            persist_interval: Duration::from_secs(600),
            background_interval: Duration::from_secs(1),
            compact_max_files: 8,
            compact_cold_after: Duration::from_secs(600),
            compaction_max_output_bytes: 256 << 20,
            auto_create_databases: true,
            limits: CatalogLimits::default(),
            skip_corrupt_wal_records: false,
            persist_delay: Duration::ZERO,
            compact_hold: None,
            modes: NodeModes::ALL,
            query_refresh_interval: Duration::from_secs(2),
            compaction_check_interval: Duration::from_secs(10),
            catalog_sync_interval: Duration::from_secs(2),
        }
    }
}

/// Holds compactions between merging and committing until released: see
/// [`StorageConfig::compact_hold`]. Clones share the hold.
#[derive(Debug, Clone, Default)]
pub struct CompactHold(std::sync::Arc<tokio::sync::watch::Sender<bool>>);

impl CompactHold {
    /// A hold, not released.
    pub fn new() -> CompactHold {
        CompactHold::default()
    }

    /// Lets every compaction waiting on the hold, and every later one, go on.
    pub fn release(&self) {
        self.0.send_replace(true);
    }

    /// Waits until the hold is released.
    pub(crate) async fn wait(&self) {
        // The sender is kept by `self`: the wait ends only with a release.
        let _ = self.0.subscribe().wait_for(|released| *released).await;
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
    /// A cloud object store (or a server speaking its API), holding the node's catalog,
    /// manifest and Parquet files under its node id. Parquet files are written to
    /// `data_dir/staging` first, then uploaded; the WAL stays in `data_dir`, with local
    /// copies of the catalog and manifest and a cache of the files.
    Cloud(Box<CloudStore>),
}

/// A cloud bucket and how to talk to it: requests are retried with exponential backoff
/// (100 ms doubling up to 15 s) while `max_retries` and `retry_timeout` allow.
#[derive(Debug, Clone)]
pub struct CloudStore {
    /// Which service, with its credentials.
    pub provider: CloudProvider,
    /// The bucket (S3, Google Cloud Storage) or container (Azure) the files go to.
    pub bucket: String,
    /// The node's name, and the prefix (`node_id/`) of everything it keeps in the bucket:
    /// its catalog, manifest and Parquet files. Objects under the prefix that the manifest
    /// does not list are deleted at start-up as leftovers of an interrupted persistence;
    /// nothing outside it is touched. A node started on an empty data directory with the
    /// same id recovers everything persisted there. One process per node id.
    pub node_id: String,
    /// Retries of a failed request. Default 10.
    pub max_retries: usize,
    /// No retry starts later than this after the first attempt. Default 3 min.
    pub retry_timeout: Duration,
    /// One attempt of a request fails after this long. Default 30 s.
    pub request_timeout: Duration,
    /// Requests in flight to the store at once, at most. Default 16.
    pub connection_limit: usize,
    /// Bytes of Parquet files kept on local disk (`data_dir/cache`) so queries need not
    /// fetch them again; 0 turns the cache off. Default 1 GiB.
    pub cache_bytes: u64,
    /// How long a node starting with this id waits for a heartbeat of the process that
    /// last held it before taking it over (the node's lease, `engine/lease.rs`); the
    /// holder renews every third of it. Default 30 s.
    pub lease_timeout: Duration,
    /// Where other nodes reach this one's HTTP port (`--advertise-url`, for example
    /// `http://n1.example:8086`): kept in its manifest in the bucket, so that query
    /// nodes with `--ingest-peers auto` ask it for the rows it holds in memory. Default
    /// none: such query nodes report this node as unreachable.
    pub advertise_url: Option<String>,
}

impl CloudStore {
    /// Node `node_id`'s store in `bucket`, with the default retries, timeouts and
    /// connection limit.
    pub fn new(
        provider: CloudProvider,
        bucket: impl Into<String>,
        node_id: impl Into<String>,
    ) -> CloudStore {
        CloudStore {
            provider,
            bucket: bucket.into(),
            node_id: node_id.into(),
            max_retries: 10,
            retry_timeout: Duration::from_secs(180),
            request_timeout: Duration::from_secs(30),
            connection_limit: 16,
            cache_bytes: 1 << 30,
            lease_timeout: Duration::from_secs(30),
            advertise_url: None,
        }
    }
}

/// The cloud service behind a [`CloudStore`]. Settings left `None` are taken from the
/// service's usual environment variables (`AWS_*`, `GOOGLE_*`, `AZURE_*`), then from its
/// defaults (instance credentials, for example).
#[derive(Clone)]
pub enum CloudProvider {
    /// Amazon S3 or an S3-compatible server.
    S3(S3Options),
    /// Google Cloud Storage.
    Google {
        /// Path of a service account's JSON key.
        service_account: Option<PathBuf>,
    },
    /// Azure Blob Storage.
    Azure {
        /// The storage account.
        account: Option<String>,
        /// The storage account's access key.
        access_key: Option<String>,
    },
}

/// How to reach an S3 bucket.
#[derive(Clone, Default)]
pub struct S3Options {
    /// The service's URL, for S3-compatible servers (for example `http://127.0.0.1:9000`).
    pub endpoint: Option<String>,
    /// The region. Default `us-east-1`.
    pub region: Option<String>,
    /// The access key id.
    pub access_key_id: Option<String>,
    /// The secret access key.
    pub secret_access_key: Option<String>,
    /// A session token, with temporary credentials.
    pub session_token: Option<String>,
    /// Allow `http://` endpoints. Default false.
    pub allow_http: bool,
}

/// Shows a secret as whether it is set, never its value.
fn redacted(secret: &Option<String>) -> &'static str {
    if secret.is_some() { "<set>" } else { "<unset>" }
}

impl fmt::Debug for CloudProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloudProvider::S3(options) => f.debug_tuple("S3").field(options).finish(),
            CloudProvider::Google { service_account } => f
                .debug_struct("Google")
                .field("service_account", service_account)
                .finish(),
            CloudProvider::Azure {
                account,
                access_key,
            } => f
                .debug_struct("Azure")
                .field("account", account)
                .field("access_key", &redacted(access_key))
                .finish(),
        }
    }
}

impl fmt::Debug for S3Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Options")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &redacted(&self.secret_access_key))
            .field("session_token", &redacted(&self.session_token))
            .field("allow_http", &self.allow_http)
            .finish()
    }
}
