//! The server's configuration and the state every handler shares.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use sluice_query::{QueryEngine, QueryLimits};
use sluice_storage::Storage;
use tokio::sync::Semaphore;

use crate::auth::Auth;
use crate::metrics::HttpMetrics;

/// Settings of the HTTP layer (the storage engine has its own `StorageConfig`).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest accepted request body, on the wire and after gunzip. Default 10 MiB.
    pub max_request_bytes: usize,
    /// Whether writes to an unknown database create it. Must match the storage engine's
    /// `auto_create_databases`. Default true.
    pub auto_create_databases: bool,
    /// Write requests processed at once; more are refused with 503 and `Retry-After`, so
    /// that memory stays bounded (about this many times `max_request_bytes`, times the
    /// parse overhead). Default 64.
    pub max_concurrent_writes: usize,
    /// How long a query (SQL, InfluxQL, Flight) may run; zero for no limit. Default 60 s.
    pub query_timeout: Duration,
    /// Memory one query may hold; zero for no limit. Default 1 GiB.
    pub query_memory_limit_bytes: usize,
    /// Points one InfluxQL `SELECT` may read; zero for no limit. Default 100,000,000.
    pub max_select_point: u64,
    /// Series one InfluxQL `SELECT` may produce; zero for no limit. Default 100,000.
    pub max_select_series: u64,
    /// `GROUP BY time()` buckets one InfluxQL `SELECT` may produce over all its series;
    /// zero for no limit. Default 1,000,000.
    pub max_select_buckets: u64,
}

impl ServerConfig {
    /// The bounds the query engine runs each query under.
    pub fn query_limits(&self) -> QueryLimits {
        QueryLimits {
            timeout: self.query_timeout,
            memory_limit_bytes: self.query_memory_limit_bytes,
            max_select_point: self.max_select_point,
            max_select_series: self.max_select_series,
            max_select_buckets: self.max_select_buckets,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        let limits = QueryLimits::default();
        ServerConfig {
            max_request_bytes: 10 << 20,
            auto_create_databases: true,
            max_concurrent_writes: 64,
            query_timeout: limits.timeout,
            query_memory_limit_bytes: limits.memory_limit_bytes,
            max_select_point: limits.max_select_point,
            max_select_series: limits.max_select_series,
            max_select_buckets: limits.max_select_buckets,
        }
    }
}

/// Everything handlers share: cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Shared>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) storage: Storage,
    pub(crate) query: QueryEngine,
    pub(crate) config: ServerConfig,
    pub(crate) auth: Auth,
    pub(crate) metrics: HttpMetrics,
    pub(crate) started: SystemTime,
    pub(crate) started_at: Instant,
    pub(crate) write_slots: Arc<Semaphore>,
}

impl AppState {
    /// State for a server on `storage` with `config`, authorizing requests with `auth`.
    pub fn new(storage: Storage, config: ServerConfig, auth: Auth) -> AppState {
        let write_slots = Arc::new(Semaphore::new(config.max_concurrent_writes.max(1)));
        AppState {
            inner: Arc::new(Shared {
                query: QueryEngine::with_limits(storage.clone(), config.query_limits()),
                storage,
                config,
                auth,
                metrics: HttpMetrics::default(),
                started: SystemTime::now(),
                started_at: Instant::now(),
                write_slots,
            }),
        }
    }

    /// The storage engine.
    pub fn storage(&self) -> &Storage {
        &self.inner.storage
    }

    /// The query engine over [`AppState::storage`].
    pub fn query(&self) -> &QueryEngine {
        &self.inner.query
    }

    /// How requests are authorized.
    pub fn auth(&self) -> &Auth {
        &self.inner.auth
    }
}
