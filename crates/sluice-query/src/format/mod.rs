//! Encoders for query results: SQL/table outputs (JSON, JSON lines, CSV, Parquet, pretty
//! text) and the InfluxDB 1.x `/query` response (JSON, chunked JSON, CSV).

mod influx;
mod table;
mod time;

pub use influx::{Epoch, v1_csv, v1_error_json, v1_json, v1_json_chunks};
pub use table::{Format, encode};
pub use time::format_rfc3339_nano;
