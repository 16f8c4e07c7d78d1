//! Sluice's tables published as Apache Iceberg tables, so that Spark, Trino, DuckDB or
//! PyIceberg read sluice's Parquet files directly, without sluice in the way.
//!
//! ```text
//!  sluice-storage ──(manifest changed)──▶ IcebergPublisher ──▶ Iceberg SQL catalog
//!   Parquet files ◀──── listed by ────── manifests, metadata      (PostgreSQL)
//!                                          (DATA_DIR/objects/iceberg/db/table/metadata)
//! ```
//!
//! Each sluice table is the Iceberg table `database.table` (namespace = the database),
//! format version 2, unpartitioned, located at `<object store>/<node>/iceberg/<db>/<table>`.
//! Each time the engine's manifest changes (persistence, compaction, a delete applied to
//! the files, retention), the publisher commits a new snapshot listing exactly the
//! table's live files, with an evolved schema when the table gained columns. The files
//! are sluice's own: nothing is copied. See `docs/iceberg.md` for what readers see.

mod config;
mod error;
mod object_io;
mod publisher;
mod schema;
mod table;

pub use config::IcebergConfig;
pub use error::{Error, Result};
pub use publisher::IcebergPublisher;
