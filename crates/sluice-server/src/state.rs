//! The server's configuration and the state every handler shares.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use sluice_query::{QueryEngine, QueryLimits};
use sluice_storage::Storage;
use tokio::sync::Semaphore;

use crate::auth::{Auth, OpenEndpoints};
use crate::continuous::ContinuousQueries;
use crate::listener::ConnectionMetrics;
use crate::metrics::HttpMetrics;
use crate::rejections::Rejections;

/// Settings of the HTTP layer (the storage engine has its own `StorageConfig`).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest accepted request body, on the wire and after gunzip. Default 10 MiB.
    pub max_request_bytes: usize,
    /// Whether writes to an unknown database create it. Must match the storage engine's
    /// `auto_create_databases`. Default true.
    pub auto_create_databases: bool,
    /// Write requests parsed and stored at once (a request takes its slot once its body
    /// is read; it waits up to a few seconds for one, then gets 503 with `Retry-After`).
    /// Bodies being received share a budget of this many times `max_request_bytes`
    /// bytes; a body that does not fit gets 503 too. Default 64.
    pub max_concurrent_writes: usize,
    /// Status endpoints answered without a token (`--disable-authz`). Default: `/health`,
    /// `/ping` and `/ready`; `/metrics` needs a token.
    pub open_endpoints: OpenEndpoints,
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
            open_endpoints: OpenEndpoints::default(),
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
    /// Recent rejected lines, for `GET /api/v3/rejections` and the console.
    pub(crate) rejections: Rejections,
    pub(crate) started: SystemTime,
    pub(crate) started_at: Instant,
    pub(crate) write_slots: Arc<Semaphore>,
    /// Bytes of write bodies being received (one permit per byte): bodies are read
    /// before a write slot is taken, and this bounds their memory instead.
    pub(crate) write_body_bytes: Arc<Semaphore>,
    pub(crate) connections: Arc<ConnectionMetrics>,
    /// The continuous queries, once [`AppState::enable_continuous_queries`] gave them;
    /// without them `CREATE CONTINUOUS QUERY` fails.
    pub(crate) continuous: OnceLock<Arc<ContinuousQueries>>,
}

impl AppState {
    /// State for a server on `storage` with `config`, authorizing requests with `auth`.
    pub fn new(storage: Storage, config: ServerConfig, auth: Auth) -> AppState {
        let write_slots = Arc::new(Semaphore::new(config.max_concurrent_writes.max(1)));
        let body_budget = config
            .max_concurrent_writes
            .max(1)
            .saturating_mul(config.max_request_bytes.max(1))
            .min(Semaphore::MAX_PERMITS);
        let write_body_bytes = Arc::new(Semaphore::new(body_budget));
        AppState {
            inner: Arc::new(Shared {
                query: QueryEngine::with_limits(storage.clone(), config.query_limits()),
                storage,
                config,
                auth,
                metrics: HttpMetrics::default(),
                rejections: Rejections::default(),
                started: SystemTime::now(),
                started_at: Instant::now(),
                write_slots,
                write_body_bytes,
                connections: Arc::default(),
                continuous: OnceLock::new(),
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

    /// Lets the InfluxQL statements create, list and drop `queries`, which
    /// [`ContinuousQueryScheduler`](crate::ContinuousQueryScheduler) runs. Only the first
    /// call has an effect.
    pub fn enable_continuous_queries(&self, queries: ContinuousQueries) {
        let _ = self.inner.continuous.set(Arc::new(queries));
    }

    /// How requests are authorized.
    pub fn auth(&self) -> &Auth {
        &self.inner.auth
    }
}
