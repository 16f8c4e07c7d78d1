//! A client for sluice and other InfluxDB-compatible servers: line protocol over HTTP,
//! with batching, retries, bounded queues and an on-disk spool.
//!
//! ```text
//!  Point / raw line protocol
//!        │
//!        ▼
//!  BatchWriter ──► bounded queue ──► N senders ──► Client ──► POST /api/v3/write_lp
//!        │                               │  (retry 429/5xx with backoff, split on 413)
//!        ▼                               ▼
//!      metrics                  spool dir (undeliverable batches, replayed in order)
//! ```
//!
//! [`Client`] sends one request at a time and retries it; [`BatchWriter`] collects
//! points into batches and keeps several requests in flight. Both are async (tokio);
//! [`blocking`] wraps them for synchronous code.

mod batch;
pub mod blocking;
mod client;
mod error;
mod retry;
mod spool;
#[cfg(feature = "test-server")]
pub mod testing;
pub mod tls;
mod writer;

pub use batch::Batch;
pub use client::{Client, ClientBuilder, Target};
pub use error::{Error, RejectedLine, Result, WriteFailure, error_chain};
pub use retry::{RetryOptions, random_unit};
pub use sluice_lp::{Point, Precision, lines};
pub use tls::{TlsError, TlsMaxVersion, TlsMinVersion, TlsOption, TlsOptions};
pub use writer::{BatchWriter, QueueFullPolicy, WriteOptions, WriterMetrics};
