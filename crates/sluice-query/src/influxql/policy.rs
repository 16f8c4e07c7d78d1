//! Retention policies in statements: which storage database a measurement reference
//! reads (`db.rp.m`, the request's `rp` parameter, or the database's default policy),
//! and the statements that read or delete across every policy of a database, as
//! InfluxDB 1.x answers them.

use sluice_influxql::{MeasurementRef, SelectStatement, Source, Statement};
use sluice_storage::Storage;

use crate::error::{Error, Result};

/// Which retention policies' storage a statement reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Policies {
    /// The policy a source names, else the request's `rp`, else the database's default.
    Named,
    /// Every policy of the database, as InfluxDB 1.x answers `SHOW MEASUREMENTS`,
    /// `SHOW TAG KEYS`, `SHOW TAG VALUES` (its series index is per database) and runs
    /// `DELETE`, `DROP SERIES` and `DROP MEASUREMENT` (on every shard of the database).
    Every,
}

/// The storage database of policy `rp` of database `db` (`None`: the default).
///
/// # Errors
/// [`Error::DatabaseNotFound`], `retention policy not found: rp`.
pub(crate) fn policy_database(storage: &Storage, db: &str, rp: Option<&str>) -> Result<String> {
    storage.policy_database(db, rp).map_err(not_found(db))
}

fn not_found(db: &str) -> impl Fn(sluice_storage::Error) -> Error + '_ {
    move |e| match e {
        sluice_storage::Error::DatabaseNotFound { .. } => Error::DatabaseNotFound(db.to_owned()),
        e => Error::from(e),
    }
}

/// The storage databases to read for database `db` and policy `rp` (`None`: the
/// default).
///
/// # Errors
/// [`Error::DatabaseNotFound`]; `retention policy not found: rp` with
/// [`Policies::Named`].
pub(crate) fn storage_databases(
    storage: &Storage,
    db: &str,
    rp: Option<&str>,
    policies: Policies,
) -> Result<Vec<String>> {
    match policies {
        Policies::Named => Ok(vec![policy_database(storage, db, rp)?]),
        Policies::Every => Ok(storage
            .retention_policies(db)
            .map_err(not_found(db))?
            .into_iter()
            .map(|p| p.storage_database)
            .collect()),
    }
}

/// `statement` with `rp` as the policy of every measurement reference that names
/// none (`FROM`, subqueries, `INTO`), as InfluxDB 1.x applies the `/query` `rp`
/// parameter.
pub(crate) fn with_default_policy(statement: &Statement, rp: &str) -> Statement {
    let mut statement = statement.clone();
    let fill = |m: &mut MeasurementRef| {
        if m.retention_policy.is_none() {
            m.retention_policy = Some(rp.to_owned());
        }
    };
    match &mut statement {
        Statement::Select(s) => fill_select(s, &fill),
        Statement::ShowTagKeys(s) => s.from.iter_mut().for_each(fill),
        Statement::ShowTagValues(s) => s.from.iter_mut().for_each(fill),
        Statement::ShowFieldKeys(s) => s.from.iter_mut().for_each(fill),
        Statement::ShowSeries(s) => s.from.iter_mut().for_each(fill),
        Statement::Delete(d) => d.from.iter_mut().for_each(fill),
        Statement::DropSeries(d) => d.from.iter_mut().for_each(fill),
        _ => {}
    }
    statement
}

fn fill_select(s: &mut SelectStatement, fill: &impl Fn(&mut MeasurementRef)) {
    if let Some(into) = &mut s.into {
        fill(into);
    }
    for source in &mut s.from {
        match source {
            Source::Measurement(m) => fill(m),
            Source::Subquery(inner) => fill_select(inner, fill),
        }
    }
}
