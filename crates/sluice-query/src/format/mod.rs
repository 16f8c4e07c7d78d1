//! Encoders for query results: SQL/table outputs (JSON, JSON lines, CSV, Parquet, pretty
//! text), InfluxQL results as one such table, and the InfluxDB 1.x `/query` response
//! (JSON, chunked JSON, CSV).

mod influx;
mod influxql_table;
mod table;

pub use influx::{Epoch, v1_csv, v1_error_json, v1_json, v1_json_chunks};
pub use influxql_table::{MEASUREMENT_COLUMN, influxql_table};
pub use sluice_lp::time::format_rfc3339_nano;
pub use table::{Format, encode};
