//! InfluxQL for sluice: a lexer and recursive-descent parser that turn query text into a
//! typed syntax tree, and canonical text back from the tree.
//!
//! This crate is the first stage of the query path and does no I/O:
//!
//! ```text
//!  q=... ──► sluice-influxql ──► Query { statements: [Statement] }
//!                                      │
//!                                      ▼
//!                     sluice-server (plans SELECT onto DataFusion, answers SHOW/CREATE/...)
//! ```
//!
//! ```
//! use sluice_influxql::{parse, Dimension, Statement};
//!
//! let query = parse("SELECT max(usage_user) FROM cpu WHERE time >= now() - 1h GROUP BY time(1m), hostname")?;
//! let Statement::Select(select) = &query.statements[0] else { unreachable!() };
//! assert_eq!(select.group_by_time(), Some((60_000_000_000, 0)));
//! assert_eq!(select.group_by[1], Dimension::Tag("hostname".into()));
//! // Display writes canonical InfluxQL that parses back to the same tree.
//! assert_eq!(parse(&query.to_string())?, query);
//! # Ok::<(), sluice_influxql::Error>(())
//! ```
//!
//! The tree's conventions are in [`ast`]; what a planner must still check is in
//! [`validate_select`] (function names and arguments). Statements InfluxQL has but sluice
//! does not run parse to [`Statement::Unsupported`], so one such statement does not fail
//! the others in a multi-statement query.

pub mod ast;
mod display;
mod error;
mod functions;
mod literal;
mod params;
mod parser;
mod time;
mod token;

pub use ast::*;
pub use error::{Error, Result};
pub use functions::{FunctionKind, function_kind, validate_select};
pub use literal::{
    format_duration, go_duration, is_keyword, parse_duration, parse_time, parse_time_zoned,
    quote_ident, quote_regex, quote_string,
};
pub use params::ParamValue;
pub use parser::{MAX_NESTING_DEPTH, parse, parse_expr, parse_statement, parse_with_params};
