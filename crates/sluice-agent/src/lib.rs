//! sluice-agent: a Telegraf-compatible collection agent. It reads Telegraf's TOML
//! configuration, gathers metrics with input plugins, transforms them with processors
//! and aggregators, and writes them with output plugins (to sluice or InfluxDB).
//!
//! ```text
//!  inputs (cpu, mem, ...) ─► processors ─► aggregators ─► per-output buffer ─► outputs
//!        │ filters, name_override, tags                    (memory or disk)   (influxdb_v2,
//!        ▼                                                                      influxdb, file)
//!   sluice-client (retries, 413 splitting) ◄────────────────────────────────────────┘
//! ```
//!
//! [`config::Config`] loads the files, [`agent::Agent`] runs them, and each plugin
//! lives in its own folder under [`plugins`].

pub mod agent;
pub mod blocking;
pub mod buffer;
pub mod config;
pub mod delivery;
pub mod error;
pub mod filter;
pub mod metric;
pub mod parsers;
pub mod plugins;
pub mod sample;
pub mod stats;
pub mod tls;

pub use error::{Error, Result};
