//! `sluice serve`: the InfluxDB-compatible HTTP server on a local data directory.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::builder::FalseyValueParser;
use clap::{Args, ValueEnum};
use sluice_iceberg::{IcebergConfig, IcebergPublisher};
use sluice_server::{
    AppState, Auth, FlightIngestPeers, ListenerConfig, OpenEndpoints, ServerConfig, TOKEN_FILE,
    Tls, TlsConfig, TlsMinimumVersion, TokenStore,
};
use sluice_storage::{
    CloudProvider, CloudStore, NodeModes, ObjectStoreConfig, S3Options, Storage, StorageConfig,
    WalSync,
};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on; port 0 picks a free port. The bound address is printed as
    /// `listening on ADDR`. Default 127.0.0.1:8086.
    #[arg(long, env = "SLUICE_BIND", default_value = "127.0.0.1:8086")]
    bind: String,
    /// Directory for the WAL, catalog, tokens and (with the local object store) Parquet
    /// files; created if missing. Default ./sluice-data.
    #[arg(long, env = "SLUICE_DATA_DIR", default_value = "./sluice-data")]
    data_dir: PathBuf,
    /// Where Parquet files go (docs/server.md, "Object storage").
    #[command(flatten)]
    object_store: ObjectStoreArgs,
    /// What this node does: `all` (ingest and query), `ingest`, `query`, `compact`, or
    /// a comma-separated list of them (`ingest,query` is `all`; `compact` goes alone or
    /// with `query`). A node without ingest refuses writes and database changes with
    /// 403; one without query refuses queries with 403. `query` alone answers over every
    /// node's persisted files in the bucket; `compact` merges the small files of every
    /// ingest node in the bucket (which then stop compacting their own); both need
    /// --object-store s3, google or azure. Default all.
    #[arg(long, env = "SLUICE_MODE", default_value = "all")]
    mode: NodeModes,
    /// How often a query-only node (--mode query) reads the other nodes' catalogs and
    /// manifests from the bucket: the delay after which a row an ingest node persisted
    /// is visible there. Default 2s.
    #[arg(long, env = "SLUICE_QUERY_REFRESH_INTERVAL", default_value = "2s", value_parser = parse_duration)]
    query_refresh_interval: Duration,
    /// On a query node (--mode query): the ingest nodes whose rows not yet persisted it
    /// also reads, asking each one at every query over Arrow Flight on its HTTP port: a
    /// comma-separated list of base addresses (`http://n1:8086,https://n2:8086`; an
    /// `https://` peer is checked as --ingest-peers-ca says), or `auto`: every ingest
    /// node in the bucket, at the address it advertises (--advertise-url). A peer that
    /// does not answer within 10 s, whose certificate is not trusted, or (auto) that
    /// advertises no address, is left out of the answer (its persisted rows still count)
    /// and /health says degraded. Default none (persisted rows only).
    #[arg(long, env = "SLUICE_INGEST_PEERS", value_delimiter = ',')]
    ingest_peers: Vec<String>,
    /// The token a query node presents to its --ingest-peers (it needs read permission on
    /// the databases queried; an admin token has it). Default none (for peers started
    /// with --without-auth).
    #[arg(long, env = "SLUICE_INGEST_PEERS_TOKEN", hide_env_values = true)]
    ingest_peers_token: Option<String>,
    /// Trust the CA certificates in this PEM file, instead of the system's roots, for the
    /// certificates of `https://` --ingest-peers (ingest nodes with certificates of a
    /// private CA). Default: the system's roots.
    #[arg(long, env = "SLUICE_INGEST_PEERS_CA")]
    ingest_peers_ca: Option<PathBuf>,
    /// Publish every table as an Apache Iceberg table in the Iceberg SQL catalog kept in
    /// this PostgreSQL database (`postgres://user:password@host:5432/database`), so that
    /// Spark, Trino, DuckDB or PyIceberg read the Parquet files directly
    /// (docs/iceberg.md). The metadata goes beside the Parquet files (local directory or
    /// bucket); not with --object-store memory. Needs a node that ingests. A failing
    /// catalog never fails writes: it is retried, and reported by /health and /metrics.
    /// Default: off.
    #[arg(long, env = "SLUICE_ICEBERG_CATALOG_URL")]
    iceberg_catalog_url: Option<String>,
    /// The Iceberg catalog's name (readers name the same catalog). Default sluice.
    #[arg(long, env = "SLUICE_ICEBERG_CATALOG_NAME", default_value = "sluice")]
    iceberg_catalog_name: String,
    /// When a write is acknowledged: `fsync` (after the WAL is fdatasync'ed) or `none`
    /// (after write(2); synced in the background every second). Default fsync.
    #[arg(long, env = "SLUICE_WAL_SYNC", default_value = "fsync")]
    wal_sync: WalSync,
    /// Write the WAL to the bucket instead of DATA_DIR/wal: the writes of each
    /// --wal-flush-interval go into one object NODE_ID/wal/SEQ.wal and are acknowledged
    /// once its PUT succeeded (a failed PUT refuses them with 503), so a node started on
    /// an empty data directory recovers every acknowledged write. Needs --object-store
    /// s3, google or azure with --node-id. Default off.
    #[arg(long, env = "SLUICE_WAL_OBJECT_STORE", value_parser = FalseyValueParser::new())]
    wal_object_store: bool,
    /// With --wal-object-store: a WAL object's PUT starts at least this long after the
    /// previous one, and the writes arriving meanwhile go into it (a write after a quiet
    /// interval is put at once). Bounds the PUTs to one per interval; a client that waits
    /// for each write before the next gets at most one write per interval. Default 1s.
    #[arg(long, env = "SLUICE_WAL_FLUSH_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    wal_flush_interval: Duration,
    /// Write-buffer ceiling (memory held by buffered rows, including rows being
    /// persisted); over it writes get 503 with Retry-After until persistence catches up. Accepts suffixes KiB, MiB, GiB (and K, M, G, KB, MB, GB). Default 1GiB.
    #[arg(long, env = "SLUICE_MAX_BUFFER_BYTES", default_value = "1GiB", value_parser = parse_bytes)]
    max_buffer_bytes: usize,
    /// Persist the buffer to Parquet once its rows hold this much memory (its series'
    /// tags and indexes not counted; the whole buffer is persisted at half of
    /// --max-buffer-bytes whatever its rows). Default 48MiB.
    #[arg(long, env = "SLUICE_PERSIST_BUFFER_BYTES", default_value = "48MiB", value_parser = parse_bytes)]
    persist_buffer_bytes: usize,
    /// Persist buffered data once its oldest write is this old (e.g. 30s, 10m, 1h).
    /// Default 10m.
    #[arg(long, env = "SLUICE_PERSIST_INTERVAL", default_value = "10m", value_parser = parse_duration)]
    persist_interval: Duration,
    /// Persistence and compaction cut the Parquet files they write at about this size;
    /// compaction leaves files of at least half of it alone. Memory does not depend on
    /// it. Accepts the suffixes of --max-buffer-bytes. Default 256MiB.
    #[arg(long, env = "SLUICE_COMPACTION_MAX_OUTPUT_BYTES", default_value = "256MiB", value_parser = parse_output_bytes)]
    compaction_max_output_bytes: usize,
    /// Merge the small Parquet files of a partition (table and UTC day) once it has two,
    /// rather than more than 8, when none of its rows are buffered and no file was
    /// persisted into it for this long: a day that stopped receiving writes is read from
    /// one file instead of merged at every query. `0s` turns it off. Default 10m.
    #[arg(long, env = "SLUICE_COMPACT_COLD_AFTER", default_value = "10m", value_parser = parse_duration)]
    compact_cold_after: Duration,
    /// With a cloud object store: how often a compactor (--mode compact) reads the
    /// ingest nodes' manifests and merges their small files, and how often an ingest
    /// node looks for a compactor's outputs to adopt and for a running compactor (while
    /// one's heartbeat changed within three intervals, ingest nodes leave their files to
    /// it). Give every node of a bucket the same. Default 10s.
    #[arg(long, env = "SLUICE_COMPACTION_CHECK_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    compaction_check_interval: Duration,
    /// With a cloud object store: how often a node that ingests reconciles its
    /// databases and retention policies with the record the bucket's ingest nodes share
    /// (`_shared/databases/`), and any node with authentication its tokens
    /// (`_shared/tokens/`): the delay after which a database or token created, changed or
    /// dropped on one node is so on the others. Default 2s.
    #[arg(long, env = "SLUICE_CATALOG_SYNC_INTERVAL", default_value = "2s", value_parser = parse_duration)]
    catalog_sync_interval: Duration,
    /// Largest request body, on the wire and after gunzip; larger gets 413. Default 10MiB.
    #[arg(long, env = "SLUICE_MAX_REQUEST_BYTES", default_value = "10MiB", value_parser = parse_bytes)]
    max_request_bytes: usize,
    /// Write requests processed at once; more get 503 with Retry-After. Default 64.
    #[arg(long, env = "SLUICE_MAX_CONCURRENT_WRITES", default_value_t = 64)]
    max_concurrent_writes: usize,
    /// Stop a query (SQL, InfluxQL or Flight) that runs longer than this; it answers
    /// `query-timeout limit exceeded`. `0` for no limit. Default 60s.
    #[arg(long, env = "SLUICE_QUERY_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    query_timeout: Duration,
    /// Memory one query may hold (DataFusion's memory pool and the collected result for
    /// SQL; scanned data and built rows for InfluxQL); over it the query fails. Accepts
    /// suffixes KiB, MiB, GiB. `0` for no limit. Default 1GiB.
    #[arg(long, env = "SLUICE_QUERY_MEMORY_LIMIT", default_value = "1GiB", value_parser = parse_bytes)]
    query_memory_limit: usize,
    /// Points one InfluxQL SELECT may read (InfluxDB 1.x's max-select-point). `0` for no
    /// limit. Default 100000000.
    #[arg(long, env = "SLUICE_MAX_SELECT_POINT", default_value_t = 100_000_000)]
    max_select_point: u64,
    /// Series one InfluxQL SELECT may produce (InfluxDB 1.x's max-select-series). `0` for
    /// no limit. Default 100000.
    #[arg(long, env = "SLUICE_MAX_SELECT_SERIES", default_value_t = 100_000)]
    max_select_series: u64,
    /// GROUP BY time() buckets one InfluxQL SELECT may produce, over all its series
    /// (InfluxDB 1.x's max-select-buckets counts one series). `0` for no limit. Default
    /// 1000000.
    #[arg(long, env = "SLUICE_MAX_SELECT_BUCKETS", default_value_t = 1_000_000)]
    max_select_buckets: u64,
    /// Do not create databases on first write: writes to an unknown database get 404.
    /// Default off (databases are created automatically).
    #[arg(long, env = "SLUICE_NO_AUTO_CREATE", value_parser = FalseyValueParser::new())]
    no_auto_create: bool,
    /// Turn authentication off: every request may do everything. Default off (auth on).
    #[arg(long, env = "SLUICE_WITHOUT_AUTH", value_parser = FalseyValueParser::new())]
    without_auth: bool,
    /// Status endpoints answered without a token: a comma-separated list of `health`,
    /// `ping`, `ready`, `metrics`, or `none`. Default health,ping,ready (`/metrics` needs a
    /// token).
    #[arg(
        long,
        env = "SLUICE_DISABLE_AUTHZ",
        default_value = "health,ping,ready"
    )]
    disable_authz: OpenEndpoints,
    /// The admin token (prefer the environment variable or --admin-token-file: command
    /// lines are visible to other users). Default: the stored one, or a new one printed
    /// once at first start.
    #[arg(long, env = "SLUICE_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// A file whose content (trimmed) is the admin token. Default none.
    #[arg(long, env = "SLUICE_ADMIN_TOKEN_FILE", conflicts_with = "admin_token")]
    admin_token_file: Option<PathBuf>,
    /// Log filter: a level (error, warn, info, debug, trace) or directives such as
    /// `info,sluice_storage=debug`. Default info.
    #[arg(long, env = "SLUICE_LOG_LEVEL", default_value = "info")]
    log_level: String,
    /// Log format on standard error: `text` or `json`. Default text.
    #[arg(long, env = "SLUICE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// On SIGTERM/SIGINT, wait this long for in-flight requests before syncing the WAL
    /// and exiting. Default 30s.
    #[arg(long, env = "SLUICE_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    shutdown_timeout: Duration,
    /// Connection limits and time limits (docs/server.md, "Connections and time limits").
    #[command(flatten)]
    connections: ConnectionArgs,
    /// Test knob: every persistence sleeps this long first. Default 0s; never set it in
    /// production.
    #[arg(long, env = "SLUICE_TEST_PERSIST_DELAY", default_value = "0s", value_parser = parse_duration, hide = true)]
    test_persist_delay: Duration,
}

/// The object store's flags, with InfluxDB 3's names.
#[derive(Debug, Args)]
struct ObjectStoreArgs {
    /// Where Parquet files go: `local` (DATA_DIR/objects, or --object-store-dir),
    /// `memory` (lost on exit; for tests), `s3` (Amazon S3 or an S3-compatible server),
    /// `google` (Google Cloud Storage) or `azure` (Azure Blob Storage). Default local.
    #[arg(long, env = "SLUICE_OBJECT_STORE", value_enum, default_value_t = ObjectStore::Local)]
    object_store: ObjectStore,
    /// Directory for Parquet files with `--object-store local`. Default DATA_DIR/objects.
    #[arg(long, env = "SLUICE_OBJECT_STORE_DIR")]
    object_store_dir: Option<PathBuf>,
    /// The bucket (s3, google) or container (azure) Parquet files go to; required with
    /// those stores. Default none.
    #[arg(long, env = "SLUICE_BUCKET")]
    bucket: Option<String>,
    /// This node's id: the prefix (`NODE_ID/`) of its catalog, manifest and Parquet
    /// files in the bucket; required with s3, google and azure. A node started on an
    /// empty data directory with the same id recovers everything persisted there.
    /// 1 to 64 ASCII letters, digits, `-`, `_` and `.`. Default none.
    #[arg(long, env = "SLUICE_NODE_ID")]
    node_id: Option<String>,
    /// The S3 service's URL, for S3-compatible servers (e.g. http://127.0.0.1:9000).
    /// Default: AWS_ENDPOINT, else Amazon's endpoint for the region.
    #[arg(long, env = "SLUICE_AWS_ENDPOINT")]
    aws_endpoint: Option<String>,
    /// The S3 region. Default: AWS_DEFAULT_REGION or AWS_REGION, else us-east-1.
    #[arg(long, env = "SLUICE_AWS_DEFAULT_REGION")]
    aws_default_region: Option<String>,
    /// The S3 access key id. Default: AWS_ACCESS_KEY_ID, else the instance's credentials.
    #[arg(long, env = "SLUICE_AWS_ACCESS_KEY_ID")]
    aws_access_key_id: Option<String>,
    /// The S3 secret access key (prefer the environment variable: command lines are
    /// visible to other users). Default: AWS_SECRET_ACCESS_KEY.
    #[arg(long, env = "SLUICE_AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    aws_secret_access_key: Option<String>,
    /// An S3 session token, with temporary credentials. Default: AWS_SESSION_TOKEN.
    #[arg(long, env = "SLUICE_AWS_SESSION_TOKEN", hide_env_values = true)]
    aws_session_token: Option<String>,
    /// Allow an http:// --aws-endpoint (plain HTTP; for servers on loopback). Default off.
    #[arg(long, env = "SLUICE_AWS_ALLOW_HTTP", value_parser = FalseyValueParser::new())]
    aws_allow_http: bool,
    /// Path of a Google service account's JSON key. Default:
    /// GOOGLE_SERVICE_ACCOUNT, else the application default credentials.
    #[arg(long, env = "SLUICE_GOOGLE_SERVICE_ACCOUNT")]
    google_service_account: Option<PathBuf>,
    /// The Azure storage account. Default: AZURE_STORAGE_ACCOUNT_NAME.
    #[arg(long, env = "SLUICE_AZURE_STORAGE_ACCOUNT")]
    azure_storage_account: Option<String>,
    /// The Azure storage account's access key. Default: AZURE_STORAGE_ACCOUNT_KEY.
    #[arg(long, env = "SLUICE_AZURE_STORAGE_ACCESS_KEY", hide_env_values = true)]
    azure_storage_access_key: Option<String>,
    /// Retries of a failed object store request, with exponential backoff from 100ms to
    /// 15s. Default 10.
    #[arg(long, env = "SLUICE_OBJECT_STORE_MAX_RETRIES", default_value_t = 10)]
    object_store_max_retries: usize,
    /// No retry of an object store request starts later than this after its first
    /// attempt. Default 3m.
    #[arg(long, env = "SLUICE_OBJECT_STORE_RETRY_TIMEOUT", default_value = "3m", value_parser = parse_duration)]
    object_store_retry_timeout: Duration,
    /// One attempt of an object store request fails after this long. Default 30s.
    #[arg(long, env = "SLUICE_OBJECT_STORE_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    object_store_request_timeout: Duration,
    /// Requests to the object store in flight at once, at most. Default 16.
    #[arg(
        long,
        env = "SLUICE_OBJECT_STORE_CONNECTION_LIMIT",
        default_value_t = 16
    )]
    object_store_connection_limit: usize,
    /// Bytes of the cloud store's Parquet files kept in DATA_DIR/cache so queries need
    /// not fetch them again (least recently used first out); 0 turns the cache off.
    /// Accepts the suffixes of --max-buffer-bytes. Default 1GiB.
    #[arg(long, env = "SLUICE_OBJECT_STORE_CACHE_BYTES", default_value = "1GiB", value_parser = parse_bytes)]
    object_store_cache_bytes: usize,
    /// How long a node starting with --node-id waits for a heartbeat of the process that
    /// last held that id before taking it over; a heartbeat means it is alive, and the
    /// start is refused. The holder renews every third of this. A clean shutdown, or a
    /// restart on the same data directory, takes over at once. Default 30s.
    #[arg(long, env = "SLUICE_NODE_LEASE_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    node_lease_timeout: Duration,
    /// On a node that ingests, with a cloud --object-store: the base address other nodes
    /// reach this one's HTTP port at (`http://n1.example:8086`, or `https://…` with
    /// --tls-cert), kept in its manifest in the bucket so that query nodes started with
    /// `--ingest-peers auto` find it. Default none.
    #[arg(long, env = "SLUICE_ADVERTISE_URL")]
    advertise_url: Option<String>,
}

impl ObjectStoreArgs {
    /// The storage engine's object store, validated.
    fn to_config(&self) -> anyhow::Result<ObjectStoreConfig> {
        let cloud = |provider| -> anyhow::Result<ObjectStoreConfig> {
            let store = self
                .object_store
                .to_possible_value()
                .map_or_else(String::new, |v| v.get_name().to_owned());
            let Some(bucket) = self.bucket.clone() else {
                anyhow::bail!("--object-store {store} needs --bucket (or SLUICE_BUCKET)");
            };
            let Some(node_id) = self.node_id.clone() else {
                anyhow::bail!(
                    "--object-store {store} needs --node-id (or SLUICE_NODE_ID): the prefix \
                     of this node's files in the bucket"
                );
            };
            if let Some(problem) = sluice_storage::node_id_problem(&node_id) {
                anyhow::bail!("--node-id {node_id:?} {problem}");
            }
            if self.object_store_connection_limit == 0 {
                anyhow::bail!("--object-store-connection-limit must be at least 1");
            }
            if self.object_store_request_timeout.is_zero() {
                anyhow::bail!("--object-store-request-timeout must be longer than 0");
            }
            if self.node_lease_timeout < Duration::from_millis(300) {
                anyhow::bail!("--node-lease-timeout must be at least 300ms");
            }
            let advertise_url = self
                .advertise_url
                .as_deref()
                .map(|url| url.trim().trim_end_matches('/').to_owned());
            if let Some(url) = &advertise_url
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                anyhow::bail!(
                    "--advertise-url {url:?} is not an http:// or https:// address (the base \
                     address of this node's HTTP port, e.g. http://n1.example:8086)"
                );
            }
            Ok(ObjectStoreConfig::Cloud(Box::new(CloudStore {
                provider,
                bucket,
                node_id,
                max_retries: self.object_store_max_retries,
                retry_timeout: self.object_store_retry_timeout,
                request_timeout: self.object_store_request_timeout,
                connection_limit: self.object_store_connection_limit,
                cache_bytes: self.object_store_cache_bytes as u64,
                lease_timeout: self.node_lease_timeout,
                advertise_url,
            })))
        };
        Ok(match self.object_store {
            ObjectStore::Memory => ObjectStoreConfig::Memory,
            ObjectStore::Local => match &self.object_store_dir {
                Some(dir) => ObjectStoreConfig::LocalPath(dir.clone()),
                None => ObjectStoreConfig::Local,
            },
            ObjectStore::S3 => cloud(CloudProvider::S3(S3Options {
                endpoint: self.aws_endpoint.clone(),
                region: self.aws_default_region.clone(),
                access_key_id: self.aws_access_key_id.clone(),
                secret_access_key: self.aws_secret_access_key.clone(),
                session_token: self.aws_session_token.clone(),
                allow_http: self.aws_allow_http,
            }))?,
            ObjectStore::Google => cloud(CloudProvider::Google {
                service_account: self.google_service_account.clone(),
            })?,
            ObjectStore::Azure => cloud(CloudProvider::Azure {
                account: self.azure_storage_account.clone(),
                access_key: self.azure_storage_access_key.clone(),
            })?,
        })
    }
}

/// The connection layer's flags: time limits for slow and idle clients, the connection
/// limit, header sizes and HTTP/2 streams.
#[derive(Debug, Args)]
struct ConnectionArgs {
    /// A client must send a request's line and headers within this long of their first
    /// byte, or the connection is closed. Default 10s.
    #[arg(long, env = "SLUICE_HTTP_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    http_header_read_timeout: Duration,
    /// Close a connection that has had no request in flight for this long (idle
    /// keep-alive connections, connections that never send). Default 60s.
    #[arg(long, env = "SLUICE_HTTP_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    http_idle_timeout: Duration,
    /// Cut a request body that sends nothing for this long (408, connection closed); also
    /// the grace period before --http-body-min-rate applies. Default 10s.
    #[arg(long, env = "SLUICE_HTTP_BODY_IDLE_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    http_body_idle_timeout: Duration,
    /// Bytes per second a request body must average once its first
    /// --http-body-idle-timeout is over, or it is cut (408); 0 turns the rule off.
    /// Accepts KiB, MiB suffixes. Default 1KiB.
    #[arg(long, env = "SLUICE_HTTP_BODY_MIN_RATE", default_value = "1KiB", value_parser = parse_bytes)]
    http_body_min_rate: usize,
    /// Open connections at most; a connection over the limit is answered 503 with
    /// Retry-After: 1 and closed. Default 1024.
    #[arg(long, env = "SLUICE_MAX_CONNECTIONS", default_value_t = 1024)]
    max_connections: usize,
    /// Largest request line plus headers (HTTP/1.1) or header list (HTTP/2); larger gets
    /// 431. At least 8KiB. Default 64KiB.
    #[arg(long, env = "SLUICE_HTTP_MAX_HEADER_BYTES", default_value = "64KiB", value_parser = parse_bytes)]
    http_max_header_bytes: usize,
    /// Most header fields in one request; more gets 431. Default 100.
    #[arg(long, env = "SLUICE_HTTP_MAX_HEADERS", default_value_t = 100)]
    http_max_headers: usize,
    /// Longest request target (path and query string); longer gets 414. Default 32KiB.
    #[arg(long, env = "SLUICE_HTTP_MAX_URI_BYTES", default_value = "32KiB", value_parser = parse_bytes)]
    http_max_uri_bytes: usize,
    /// Streams one HTTP/2 connection may have open at once. Default 100.
    #[arg(
        long,
        env = "SLUICE_HTTP2_MAX_CONCURRENT_STREAMS",
        default_value_t = 100
    )]
    http2_max_concurrent_streams: u32,
    /// Serve HTTPS with this PEM certificate chain (server certificate first); needs
    /// --tls-key. Reloaded on SIGHUP. Default none (plain HTTP).
    #[arg(long, env = "SLUICE_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert (PKCS#8, RSA or EC). Default none.
    #[arg(long, env = "SLUICE_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The oldest TLS version accepted: 1.2 or 1.3. Default 1.2.
    #[arg(long, env = "SLUICE_TLS_MINIMUM_VERSION", default_value = "1.2", value_parser = ["1.2", "1.3"])]
    tls_minimum_version: String,
}

impl ConnectionArgs {
    /// The listener's configuration, validated; `grace` is the shutdown grace period.
    fn to_config(&self, grace: Duration) -> anyhow::Result<ListenerConfig> {
        for (flag, value) in [
            ("--http-header-read-timeout", self.http_header_read_timeout),
            ("--http-idle-timeout", self.http_idle_timeout),
            ("--http-body-idle-timeout", self.http_body_idle_timeout),
        ] {
            if value.is_zero() {
                anyhow::bail!("{flag} must be longer than 0");
            }
        }
        if self.http_max_header_bytes < 8 << 10 {
            anyhow::bail!(
                "--http-max-header-bytes must be at least 8KiB (got {} bytes)",
                self.http_max_header_bytes
            );
        }
        for (flag, value) in [
            ("--max-connections", self.max_connections),
            ("--http-max-headers", self.http_max_headers),
            ("--http-max-uri-bytes", self.http_max_uri_bytes),
            (
                "--http2-max-concurrent-streams",
                self.http2_max_concurrent_streams as usize,
            ),
        ] {
            if value == 0 {
                anyhow::bail!("{flag} must be at least 1");
            }
        }
        Ok(ListenerConfig {
            header_read_timeout: self.http_header_read_timeout,
            idle_timeout: self.http_idle_timeout,
            body_idle_timeout: self.http_body_idle_timeout,
            body_min_bytes_per_second: self.http_body_min_rate as u64,
            max_connections: self.max_connections,
            max_header_bytes: self.http_max_header_bytes,
            max_headers: self.http_max_headers,
            max_uri_bytes: self.http_max_uri_bytes,
            http2_max_concurrent_streams: self.http2_max_concurrent_streams,
            shutdown_grace: grace,
            tls: self.tls()?,
        })
    }

    /// The certificate and key, loaded, when TLS is asked for.
    fn tls(&self) -> anyhow::Result<Option<Tls>> {
        let (Some(cert_path), Some(key_path)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        let minimum_version = match self.tls_minimum_version.as_str() {
            "1.3" => TlsMinimumVersion::Tls13,
            _ => TlsMinimumVersion::Tls12,
        };
        let tls = Tls::new(TlsConfig {
            cert_path: cert_path.clone(),
            key_path: key_path.clone(),
            minimum_version,
        })?;
        Ok(Some(tls))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ObjectStore {
    Local,
    Memory,
    S3,
    Google,
    Azure,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    without_fast_bins();
    init_logging(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sluice")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(args))?;
    Ok(ExitCode::SUCCESS)
}

/// Turns off glibc malloc's "fast bins" before any thread starts, unless
/// `GLIBC_TUNABLES` sets them. Small blocks freed into fast bins stay unmerged until a
/// later large allocation merges them all at once (`malloc_consolidate`): after a query
/// whose answer freed hundreds of thousands of small values (`SELECT *` of 36,000 TSBS
/// rows), the next request waited 2–5 ms for that. Without fast bins a freed block is
/// merged with its neighbours when it is freed; each thread's cache of small blocks
/// (tcache) still serves the common sizes first. Ingest rate and memory measured the
/// same either way (bench/RESULTS.md).
fn without_fast_bins() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if !std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("mxfast")) {
        // SAFETY: mallopt changes a malloc parameter; it takes no pointers and runs here
        // before the process has other threads.
        unsafe {
            libc::mallopt(libc::M_MXFAST, 0);
        }
    }
}

fn init_logging(args: &ServeArgs) -> anyhow::Result<()> {
    let filter: Targets = args
        .log_level
        .parse()
        .with_context(|| format!("invalid --log-level {:?}", args.log_level))?;
    let registry = tracing_subscriber::registry().with(filter);
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match args.log_format {
        LogFormat::Text => registry.with(layer).try_init(),
        LogFormat::Json => registry.with(layer.json()).try_init(),
    }
    .context("cannot install the logger")
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let listener_config = args.connections.to_config(args.shutdown_timeout)?;
    let object_store = args.object_store.to_config()?;
    if args.iceberg_catalog_url.is_some() && !args.mode.ingest {
        anyhow::bail!(
            "--iceberg-catalog-url needs a node that ingests (--mode all or ingest): the \
             ingest nodes publish their own tables"
        );
    }
    if (args.mode.reads_peers() || args.mode.compact)
        && !matches!(object_store, ObjectStoreConfig::Cloud(_))
    {
        let what = if args.mode.compact {
            "a compactor merges"
        } else {
            "a query node reads"
        };
        anyhow::bail!(
            "--mode {} needs --object-store s3, google or azure (with --bucket and \
             --node-id): {what} the ingest nodes' files in their shared bucket",
            args.mode
        );
    }
    let ingest_peers: Vec<String> = args
        .ingest_peers
        .iter()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    if !ingest_peers.is_empty() && !args.mode.reads_peers() {
        anyhow::bail!(
            "--ingest-peers is for a query node (--mode query): a node in mode {} reads \
             no other node's rows",
            args.mode
        );
    }
    if args.ingest_peers_token.is_some() && ingest_peers.is_empty() {
        anyhow::bail!("--ingest-peers-token needs --ingest-peers");
    }
    let discover = ingest_peers.iter().any(|p| p == "auto");
    if discover && ingest_peers.len() > 1 {
        anyhow::bail!(
            "--ingest-peers auto finds every ingest node itself: list no address with it"
        );
    }
    if args.object_store.advertise_url.is_some() && !args.mode.ingest {
        anyhow::bail!(
            "--advertise-url is for a node that ingests (--mode all or ingest): query nodes \
             find ingest nodes by it, and nothing asks a node in mode {} for rows",
            args.mode
        );
    }
    if args.object_store.advertise_url.is_some()
        && !matches!(object_store, ObjectStoreConfig::Cloud(_))
    {
        anyhow::bail!(
            "--advertise-url needs --object-store s3, google or azure: it is kept in the \
             node's manifest in the bucket, where query nodes find it"
        );
    }
    let token = args.ingest_peers_token.as_deref();
    let peers_tls = ingest_peers_tls(&ingest_peers, discover, args.ingest_peers_ca.as_deref())?;
    let ingest_peers = if discover {
        Some(FlightIngestPeers::discovered(token, peers_tls))
    } else {
        (!ingest_peers.is_empty())
            .then(|| FlightIngestPeers::new(&ingest_peers, token, peers_tls))
            .transpose()
            .map_err(|e| anyhow::anyhow!("--ingest-peers: {e}"))?
    };
    if args.wal_object_store && !matches!(object_store, ObjectStoreConfig::Cloud(_)) {
        anyhow::bail!(
            "--wal-object-store needs --object-store s3, google or azure (with --bucket and \
             --node-id): the WAL objects go under the node's prefix in the bucket"
        );
    }
    if args.wal_object_store && !args.mode.ingest {
        anyhow::bail!("--wal-object-store needs a node that ingests (--mode all or ingest)");
    }
    if args.query_refresh_interval.is_zero() {
        anyhow::bail!("--query-refresh-interval must be longer than 0");
    }
    if args.compaction_check_interval.is_zero() {
        anyhow::bail!("--compaction-check-interval must be longer than 0");
    }
    if args.catalog_sync_interval.is_zero() {
        anyhow::bail!("--catalog-sync-interval must be longer than 0");
    }
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create data dir {}", args.data_dir.display()))?;
    let config = StorageConfig {
        data_dir: args.data_dir.clone(),
        object_store,
        wal_sync: args.wal_sync,
        wal_object_store: args.wal_object_store,
        wal_flush_interval: args.wal_flush_interval,
        max_buffer_bytes: args.max_buffer_bytes,
        persist_buffer_bytes: args.persist_buffer_bytes,
        persist_interval: args.persist_interval,
        compaction_max_output_bytes: args.compaction_max_output_bytes as u64,
        compact_cold_after: args.compact_cold_after,
        auto_create_databases: !args.no_auto_create,
        persist_delay: args.test_persist_delay,
        modes: args.mode,
        query_refresh_interval: args.query_refresh_interval,
        compaction_check_interval: args.compaction_check_interval,
        catalog_sync_interval: args.catalog_sync_interval,
        ..StorageConfig::default()
    };
    let storage = Storage::open(config)
        .await
        .with_context(|| format!("cannot open storage in {}", args.data_dir.display()))?;
    if let Some(peers) = ingest_peers {
        storage.set_ingest_peers(std::sync::Arc::new(peers))?;
    }
    let iceberg = match &args.iceberg_catalog_url {
        None => None,
        Some(url) => {
            let mut config = IcebergConfig::new(url.clone());
            config.catalog_name = args.iceberg_catalog_name.clone();
            Some(
                IcebergPublisher::start(config, storage.clone())
                    .map_err(|e| anyhow::anyhow!("--iceberg-catalog-url: {e}"))?,
            )
        }
    };
    // On an empty data directory, a cloud node's tokens and continuous queries come back
    // from its bucket before they are opened.
    for file in [TOKEN_FILE, sluice_server::CONTINUOUS_QUERY_FILE] {
        storage
            .restore_server_file(file)
            .await
            .with_context(|| format!("cannot recover {file} from the bucket"))?;
    }
    // Listening comes before the admin token is made: a first start that cannot listen
    // (the port is taken, say by an InfluxDB) must not use up the token's one showing.
    let listener = tokio::net::TcpListener::bind(&args.bind)
        .await
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    let auth = if args.without_auth {
        tracing::warn!(
            "authentication is off (--without-auth): anyone who can connect may read, write and drop data"
        );
        Auth::Disabled
    } else {
        let admin_token = match (&args.admin_token, &args.admin_token_file) {
            (Some(token), _) => Some(token.trim().to_owned()),
            (None, Some(path)) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read admin token file {}", path.display()))?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => None,
        };
        if admin_token.as_deref() == Some("") {
            anyhow::bail!("the admin token is empty");
        }
        let (store, created) =
            TokenStore::open(args.data_dir.join(TOKEN_FILE), admin_token.as_deref())?;
        if let Some(created) = created {
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "created the admin token; it is shown only now (only its hash is stored):\nadmin token: {}",
                created.token
            )?;
            out.flush()?;
        }
        Auth::Tokens(store.kept_by(storage.clone()))
    };
    let server_config = ServerConfig {
        max_request_bytes: args.max_request_bytes,
        auto_create_databases: !args.no_auto_create,
        max_concurrent_writes: args.max_concurrent_writes,
        open_endpoints: args.disable_authz,
        query_timeout: args.query_timeout,
        query_memory_limit_bytes: args.query_memory_limit,
        max_select_point: args.max_select_point,
        max_select_series: args.max_select_series,
        max_select_buckets: args.max_select_buckets,
    };
    let state = AppState::new(storage.clone(), server_config, auth);
    share_tokens(&state, args.catalog_sync_interval).await;
    let continuous_queries = sluice_server::ContinuousQueries::open(
        args.data_dir.join(sluice_server::CONTINUOUS_QUERY_FILE),
    )?
    .kept_by(storage.clone());
    state.enable_continuous_queries(continuous_queries);
    // Continuous queries write their results: only a node that ingests runs them.
    let scheduler = args
        .mode
        .ingest
        .then(|| sluice_server::ContinuousQueryScheduler::start(state.clone()));
    let address = listener.local_addr()?;
    let shutdown = shutdown_signal()?;
    if let Some(tls) = listener_config.tls.clone() {
        reload_on_sighup(tls)?;
    }
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {address}")?;
        out.flush()?;
    }
    let scheme = if listener_config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!(%address, scheme, mode = %args.mode, data_dir = %args.data_dir.display(), "sluice ready");
    let served = sluice_server::serve_with(listener, state, listener_config, shutdown).await;
    if let Some(scheduler) = scheduler {
        scheduler.stop().await;
    }
    if let Some(iceberg) = iceberg {
        iceberg.stop().await;
    }
    let stopped = storage.shutdown().await;
    served.context("the http server failed")?;
    stopped.context("storage shutdown failed")?;
    tracing::info!("stopped: wal synced");
    Ok(())
}

/// How a query node checks the certificates of its `https://` ingest peers (`None` when
/// it has none): the CA certificates of `--ingest-peers-ca`, else the system's roots, by
/// the rules of the CLI's `--tls-ca` (`sluice_client::TlsOptions`), checked now so that a
/// bad file stops the start naming the flag.
fn ingest_peers_tls(
    peers: &[String],
    discover: bool,
    ca: Option<&Path>,
) -> anyhow::Result<Option<std::sync::Arc<rustls::ClientConfig>>> {
    // Found in the bucket, any peer may be `https://`.
    let https = discover || peers.iter().any(|p| p.starts_with("https://"));
    if ca.is_some() && peers.is_empty() {
        anyhow::bail!("--ingest-peers-ca needs --ingest-peers");
    }
    if ca.is_some() && !https {
        anyhow::bail!(
            "--ingest-peers-ca is for https:// peers, and every --ingest-peers address is \
             http:// (the traffic to them is not encrypted)"
        );
    }
    if !https {
        return Ok(None);
    }
    let options = sluice_client::TlsOptions {
        ca_file: ca.map(Path::to_owned),
        ..sluice_client::TlsOptions::default()
    };
    let config = options
        .client_config()
        .map_err(|err| anyhow::anyhow!("--ingest-peers-ca: {err}"))?;
    Ok(Some(std::sync::Arc::new(config)))
}

/// Reloads the TLS certificate and key on every SIGHUP; connections already open keep
/// theirs, and a failed reload keeps the previous certificate.
fn reload_on_sighup(tls: Tls) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangup = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                match tls.reload() {
                    Ok(()) => tracing::info!(
                        cert = %tls.cert_path().display(),
                        "SIGHUP: reloaded the TLS certificate"
                    ),
                    Err(err) => tracing::error!(
                        error = %err,
                        "SIGHUP: the TLS certificate was not reloaded; the previous one stays in use"
                    ),
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = tls;
    Ok(())
}

/// Installs the SIGINT/SIGTERM handlers now (so that a signal arriving right after the
/// server announced itself is not fatal) and returns a future that completes on either.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
        let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        // `systemctl reload` (packaging/sluice.service) sends SIGHUP, which would
        // otherwise end the process: flags and environment are read at start only.
        let mut hangup = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
        Ok(async move {
            loop {
                tokio::select! {
                    _ = interrupt.recv() => break tracing::info!("received SIGINT"),
                    _ = terminate.recv() => break tracing::info!("received SIGTERM"),
                    _ = hangup.recv() => tracing::info!(
                        "received SIGHUP: nothing to reload (flags and environment are read at start; restart to change them)"
                    ),
                }
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            if tokio::signal::ctrl_c().await.is_ok() {
                tracing::info!("received ctrl-c");
            } else {
                std::future::pending::<()>().await;
            }
        })
    }
}

/// Parses a byte size: digits with an optional suffix `B`, `K`/`KB`/`KiB`, `M`/`MB`/`MiB`,
/// `G`/`GB`/`GiB` (all binary multiples, case-insensitive).
pub(crate) fn parse_bytes(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let number: usize = text[..digits]
        .parse()
        .map_err(|_| format!("invalid size {text:?}: expected a number such as 10MiB"))?;
    let shift = match text[digits..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        other => return Err(format!("invalid size unit {other:?}: use KiB, MiB or GiB")),
    };
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("size {text:?} is too large"))
}

/// Parses `--compaction-max-output-bytes`: a size of at least 1MiB (smaller files would
/// only multiply the files a query opens).
fn parse_output_bytes(text: &str) -> Result<usize, String> {
    let bytes = parse_bytes(text)?;
    if bytes < 1 << 20 {
        return Err(format!(
            "compaction output size {text:?} is too small: use at least 1MiB"
        ));
    }
    Ok(bytes)
}

/// Parses a duration: digits with a unit `ms`, `s`, `m`, `h` or `d` (`0` alone is zero).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let number: u64 = text[..digits]
        .parse()
        .map_err(|_| format!("invalid duration {text:?}: expected e.g. 30s or 10m"))?;
    let millis = match &text[digits..] {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        other => {
            return Err(format!(
                "invalid duration unit {other:?}: use ms, s, m, h or d"
            ));
        }
    };
    number
        .checked_mul(millis)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("duration {text:?} is too large"))
}

/// Reconciles the node's tokens with those the nodes of its bucket share, every
/// `interval` (nothing without authentication or a cloud store). A failure is logged at
/// once, then once a minute while it lasts.
async fn share_tokens(state: &AppState, interval: Duration) {
    let Some(store) = state.auth().store() else {
        return;
    };
    // Once before the first request: the tokens other nodes created are accepted at once.
    if let Err(e) = store.sync_shared().await {
        tracing::warn!("{e}; retried every --catalog-sync-interval");
    }
    let state = state.clone();
    tokio::spawn(async move {
        let mut failing = false;
        let mut last_logged: Option<std::time::Instant> = None;
        loop {
            let Some(store) = state.auth().store() else {
                return;
            };
            tokio::time::sleep(interval).await;
            match store.sync_shared().await {
                Ok(()) => {
                    if std::mem::take(&mut failing) {
                        tracing::info!("sharing tokens through the bucket works again");
                    }
                }
                Err(e) => {
                    failing = true;
                    if last_logged.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                        tracing::warn!("{e}; retried every --catalog-sync-interval");
                        last_logged = Some(std::time::Instant::now());
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes_with_binary_suffixes() {
        assert_eq!(parse_bytes("10MiB"), Ok(10 << 20));
        assert_eq!(parse_bytes("1G"), Ok(1 << 30));
        assert_eq!(parse_bytes("512"), Ok(512));
        assert_eq!(parse_bytes("64 kb"), Ok(64 << 10));
        assert!(parse_bytes("ten").is_err());
        assert!(parse_bytes("1TiB").is_err());
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("10").is_err());
    }
}
