//! The sluice benchmark harness: TSBS-like data generation, a write load driver and a
//! query driver for any InfluxDB-compatible server.
//!
//! ```text
//!  generate ──► data.lp ──► load (N keep-alive connections) ──► sluice / InfluxDB / VictoriaMetrics
//!                                      query (InfluxQL on /query) ──┘
//! ```
//!
//! Everything that costs CPU on the client side (reading, splitting, gzipping, rendering
//! requests) happens before the clock starts, so the numbers measure the server.

mod error;
pub mod generate;
pub mod http;
pub mod load;
pub mod query;
pub mod rng;
pub mod stats;
pub mod time;

pub use error::{Error, Result};
