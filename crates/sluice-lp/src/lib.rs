//! InfluxDB line protocol for sluice: a zero-copy parser and a canonical encoder.
//!
//! This crate is the first stage of the write path and does no I/O:
//!
//! ```text
//!  bytes ──► sluice-lp ──► Line (measurement, sorted tags, typed fields, ns time)
//!                              │
//!                              ▼
//!                       sluice-storage (catalog check, WAL, buffer, Parquet)
//! ```
//!
//! ```
//! use sluice_lp::{FieldValue, ParseOptions, Parser, Precision};
//!
//! let input = b"cpu,host=a usage=0.5,count=3i 1700000000\n";
//! let options = ParseOptions { precision: Precision::Second, ..Default::default() };
//! let line = Parser::new(input, options).next().unwrap().unwrap();
//! assert_eq!(line.measurement, "cpu");
//! assert_eq!(line.field("count"), Some(&FieldValue::Integer(3)));
//! assert_eq!(line.timestamp, Some(1_700_000_000_000_000_000));
//! assert_eq!(line.series_key(), "cpu,host=a");
//! ```
//!
//! To read many points without an allocation per point, reuse one [`Line`] with
//! [`Parser::next_into`].
//!
//! Where the rules of line protocol leave room, sluice follows the InfluxDB servers: see
//! [`escape`] for the escaping rules, and `tests/conformance.rs` for each place where it
//! deliberately differs from the public corpus.

mod digits;
mod encode;
mod error;
pub mod escape;
mod line;
pub mod lines;
mod order;
mod parse;
mod precision;
mod scan;
mod template;
pub mod time;

pub use encode::{EncodeError, Point, PointBuilder};
pub use error::{ErrorKind, ParseError};
pub use line::{FieldType, FieldValue, Line};
pub use parse::{ParseOptions, Parser, parse_lines};
pub use precision::{InvalidPrecision, Precision};
