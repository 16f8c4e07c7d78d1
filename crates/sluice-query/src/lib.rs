//! The query engine of sluice: SQL through DataFusion and InfluxQL over
//! [`sluice_storage::Storage`], and the encoders for their results.
//!
//! # Place in the data path
//!
//! ```text
//!  /api/v3/query_sql, Flight SQL ──SQL──┐        ┌── /query, /api/v3/query_influxql
//!                                       v        v        (InfluxQL text)
//!                              ┌──── sluice-query ─────────────────────────┐
//!                              │ QueryEngine::sql                          │
//!                              │   DataFusion session (catalog `public`,   │
//!                              │   schema `iox` = the database) ──> one    │
//!                              │   TableProvider per table                 │
//!                              │ QueryEngine::influxql                     │
//!                              │   sluice-influxql AST ──> series planner: │
//!                              │   time range, tag filters, GROUP BY,      │
//!                              │   aggregates, selectors, fill             │
//!                              └──────────────┬────────────────────────────┘
//!                                             │ Storage::scan(time range,
//!                                             v   tag equality, projection)
//!                                      sluice-storage (buffer ⊕ Parquet)
//! ```
//!
//! Results go out through [`format`]: JSON, JSON lines, CSV, Parquet and pretty text for
//! table outputs, and the InfluxDB 1.x `{"results":[...]}` shape (whole, chunked or CSV)
//! for InfluxQL.
//!
//! ```no_run
//! # async fn demo(storage: sluice_storage::Storage) -> sluice_query::Result<()> {
//! use sluice_query::{QueryEngine, format};
//!
//! let engine = QueryEngine::new(storage);
//! let out = engine.sql("mydb", "SELECT host, usage FROM cpu WHERE host = $h", None).await?;
//! // At most 64 MiB of JSON (`None`: any size).
//! let body = format::encode(&out, format::Format::Json, Some(64 << 20))?;
//! let results = engine.influxql(Some("mydb"), "SELECT mean(usage) FROM cpu GROUP BY host", None).await?;
//! let body = format::v1_json(&results, format::Epoch::Rfc3339);
//! # Ok(()) }
//! ```
//!
//! # Semantics
//!
//! * Every query reads the storage catalog and data afresh: a write acknowledged before
//!   the query started is visible to it.
//! * SQL tables have tags as `Dictionary(Int32, Utf8)`, fields in their type, and `time`
//!   as `Timestamp(Nanosecond, None)`; rows are already deduplicated per (series, time).
//!   Time bounds and tag equalities in `WHERE` are pushed down to storage.
//! * InfluxQL follows InfluxDB 1.x: series split by measurement and `GROUP BY` tags,
//!   `time` first, aggregate rows timed at the start of their bucket (or of the `WHERE`
//!   time range, or 0), a lone selector timed at its point. Transformations
//!   (`derivative`, `non_negative_derivative`, `difference`, `moving_average`,
//!   `cumulative_sum`, `elapsed`) run over what the statement without them answers;
//!   subqueries run first and are read like measurements; math functions apply per row.
//!   `tz('…')` cuts `GROUP BY time` buckets by the zone's clock, reads time strings
//!   without an offset as its local time, and writes RFC 3339 times with its offset.
//!   What sluice does not run (`holt_winters`) is refused with an error naming the
//!   feature, never answered approximately.
//! * `SELECT … INTO` runs the statement and writes its rows through `Storage::write`.
//! * InfluxQL `DELETE`, `DROP SERIES` and `DROP MEASUREMENT` are storage deletes
//!   (`Storage::delete`, `Storage::drop_table`): durable when they answer, conditions on
//!   tags (and, for `DELETE`, time) only, measurements left empty dropped.

mod caches;
mod delete_predicate;
mod engine;
mod error;
pub mod format;
mod function_memory;
mod group_keys;
pub mod influxql;
mod limits;
mod provider;
mod time_chunks;
mod yield_points;

pub use engine::{MAX_SQL_OPERATORS, QUERY_STACK_BYTES, QueryEngine, QueryOutput, check_sql_text};
pub use error::{Error, Result};
pub use influxql::{Series, StatementResult, Value};
pub use limits::QueryLimits;
