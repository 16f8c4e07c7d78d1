//! InfluxQL statements run against storage: `SELECT` through the series planner, `SHOW`
//! and database statements against the catalog, deletes as storage deletes.

mod aggregate;
pub(crate) mod delete;
mod expr;
mod into;
mod math;
mod policy;
mod result;
mod row;
mod select;
mod show;
mod subquery;
mod transform;
mod type_check;
mod view;
pub(crate) mod zone;

pub use result::{Series, StatementResult, Value};
pub use zone::TimeZone;

use sluice_influxql::Statement;
use sluice_storage::Storage;

use crate::error::Result;
use crate::limits::Budget;

/// The zone a statement's times are written in: its `tz()`, for a `SELECT` that has one.
pub(crate) fn time_zone_of(statement: &Statement) -> Option<TimeZone> {
    match statement {
        Statement::Select(s) => TimeZone::of(s).ok().flatten(),
        _ => None,
    }
}

/// Runs one statement with `db` as the default database and `rp` as the default
/// retention policy (`None`: each database's default); `now()` is the wall clock.
/// `SELECT` counts what it reads and builds against `budget`.
pub(crate) async fn run_statement(
    storage: &Storage,
    db: Option<&str>,
    rp: Option<&str>,
    statement: &Statement,
    budget: &Budget,
) -> Result<Vec<Series>> {
    let normalized;
    let statement = match rp {
        Some(rp) => {
            normalized = policy::with_default_policy(statement, rp);
            &normalized
        }
        None => statement,
    };
    budget.check()?;
    budget.start_statement();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    match statement {
        Statement::Select(s) => select::select(storage, db, s, now, budget).await,
        Statement::DropMeasurement(d) => {
            delete::drop_measurement(storage, db, &d.name).await?;
            Ok(Vec::new())
        }
        Statement::Delete(d) => {
            let kind = delete::Kind::Delete;
            delete::delete(storage, db, kind, &d.from, d.condition.as_ref(), now).await?;
            Ok(Vec::new())
        }
        Statement::DropSeries(d) => {
            let kind = delete::Kind::DropSeries;
            delete::delete(storage, db, kind, &d.from, d.condition.as_ref(), now).await?;
            Ok(Vec::new())
        }
        other => show::run(storage, db, rp, other).await,
    }
}

/// Leaves out every `LIMIT 0` and `SLIMIT 0` of `statement`: InfluxDB 1.x reads a zero
/// limit as none. Done once on a parsed query, before its statements run.
pub(crate) fn without_zero_limits(statement: &mut Statement) {
    fn select(s: &mut sluice_influxql::SelectStatement) {
        s.limit = s.limit.filter(|&n| n > 0);
        s.slimit = s.slimit.filter(|&n| n > 0);
        for f in &mut s.from {
            if let sluice_influxql::Source::Subquery(inner) = f {
                select(inner);
            }
        }
    }
    let limit = match statement {
        Statement::Select(s) => {
            select(s);
            return;
        }
        Statement::ShowMeasurements(s) => &mut s.limit,
        Statement::ShowTagKeys(s) => &mut s.limit,
        Statement::ShowTagValues(s) => &mut s.limit,
        Statement::ShowFieldKeys(s) => &mut s.limit,
        Statement::ShowSeries(s) => &mut s.limit,
        Statement::ShowCardinality(s) => &mut s.limit,
        _ => return,
    };
    *limit = limit.filter(|&n| n > 0);
}
