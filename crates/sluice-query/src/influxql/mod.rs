//! InfluxQL statements run against storage: `SELECT` through the series planner, `SHOW`
//! and database statements against the catalog.

mod result;

pub use result::{Series, StatementResult, Value};

use sluice_influxql::Statement;
use sluice_storage::Storage;

use crate::error::{Error, Result};

/// Runs one statement with `db` as the default database.
pub(crate) async fn run_statement(
    _storage: &Storage,
    _db: Option<&str>,
    statement: &Statement,
) -> Result<Vec<Series>> {
    Err(Error::Unsupported(format!("{statement}")))
}
