//! Continuous queries: their definitions and run state, kept in
//! `data_dir/continuous_queries.json` (replaced atomically, like `tokens.json`), the
//! `CREATE`/`SHOW`/`DROP CONTINUOUS QUERY` statements, and (in [`scheduler`]) the task
//! that runs them.
//!
//! When a query runs, as InfluxDB 1.x does it: at every multiple of `RESAMPLE EVERY`
//! (default: the `GROUP BY time` interval), over `[end - FOR, end)` where `end` is the
//! run time rounded up to the interval and `FOR` defaults to the larger of the interval
//! and `EVERY`. With the defaults each run covers the interval that just ended.
//!
//! Each query records the last run time it completed, so a restarted server runs the
//! runs it missed while down (at most [`MAX_CATCH_UP_RUNS`] of them, the newest), and
//! never one twice.

pub(crate) mod scheduler;

use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sluice_influxql::{CreateContinuousQuery, SelectStatement, Statement};
use sluice_query::{Series, Value};
use sluice_storage::Storage;

use crate::error::{Error, Result};

/// The name of the continuous query file inside the data directory.
pub const CONTINUOUS_QUERY_FILE: &str = "continuous_queries.json";

/// Runs missed while the server was down that are made up on start, per query; older
/// ones are skipped (InfluxDB 1.x makes up none).
pub const MAX_CATCH_UP_RUNS: i64 = 1_000;

/// One stored continuous query.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredQuery {
    database: String,
    name: String,
    /// The `CREATE CONTINUOUS QUERY` statement, as `SHOW CONTINUOUS QUERIES` lists it.
    query: String,
    /// The last run time (a multiple of `EVERY`) whose run completed, nanoseconds.
    last_run_ns: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct QueryFile {
    queries: Vec<StoredQuery>,
}

/// A query's schedule, from its statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Schedule {
    /// `GROUP BY time` interval.
    pub(crate) interval: i64,
    /// `GROUP BY time` offset.
    pub(crate) offset: i64,
    /// How often it runs.
    pub(crate) every: i64,
    /// How far back a run reads.
    pub(crate) window: i64,
}

impl Schedule {
    pub(crate) fn of(statement: &CreateContinuousQuery) -> Schedule {
        let (interval, offset) = statement.query.group_by_time().unwrap_or((1, 0));
        let interval = interval.max(1);
        let every = statement.resample_every.unwrap_or(interval).max(1);
        let window = statement.resample_for.unwrap_or(interval.max(every));
        Schedule {
            interval,
            offset,
            every,
            window,
        }
    }

    /// The last run time at or before `now`.
    pub(crate) fn run_at_or_before(&self, now: i64) -> i64 {
        floor_to(now, self.every, self.offset)
    }

    /// The time range `[start, end)` the run at `run` reads.
    pub(crate) fn window_of(&self, run: i64) -> (i64, i64) {
        let floor = floor_to(run, self.interval, self.offset);
        let end = if floor == run {
            run
        } else {
            floor + self.interval
        };
        (end - self.window, end)
    }
}

/// `t` rounded down to a multiple of `step` shifted by `offset`.
fn floor_to(t: i64, step: i64, offset: i64) -> i64 {
    (t - offset).div_euclid(step) * step + offset
}

/// A continuous query due to run.
#[derive(Debug, Clone)]
pub(crate) struct DueRun {
    pub(crate) database: String,
    pub(crate) name: String,
    /// The statement's `SELECT`.
    pub(crate) select: SelectStatement,
    /// The run time.
    pub(crate) run: i64,
    /// The range it reads.
    pub(crate) window: (i64, i64),
}

/// The continuous queries of a server and where they are kept.
#[derive(Debug)]
pub struct ContinuousQueries {
    path: PathBuf,
    queries: Mutex<Vec<(StoredQuery, CreateContinuousQuery)>>,
    /// Keeps a copy of the file in a cloud node's bucket (see
    /// [`ContinuousQueries::kept_by`]).
    storage: Option<Storage>,
}

impl ContinuousQueries {
    /// Reads the queries kept at `path`; none when the file does not exist.
    ///
    /// # Errors
    /// [`Error::Internal`] for a file that cannot be read or parsed.
    pub fn open(path: PathBuf) -> Result<ContinuousQueries> {
        let fail = |what: String| {
            Error::Internal(format!(
                "cannot {what} continuous query file {}",
                path.display()
            ))
        };
        let file: QueryFile = match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| fail(format!("parse ({e}) the")))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => QueryFile::default(),
            Err(e) => return Err(fail(format!("read ({e}) the"))),
        };
        let mut queries = Vec::with_capacity(file.queries.len());
        for stored in file.queries {
            match sluice_influxql::parse_statement(&stored.query) {
                Ok(Statement::CreateContinuousQuery(statement)) => {
                    queries.push((stored, statement))
                }
                Ok(_) => return Err(fail(format!("use {:?} from the", stored.query))),
                Err(e) => return Err(fail(format!("parse {:?} ({e}) from the", stored.query))),
            }
        }
        Ok(ContinuousQueries {
            path,
            queries: Mutex::new(queries),
            storage: None,
        })
    }

    /// Adds a query whose first run is the first multiple of `EVERY` after `now`.
    /// Creating a query again with the same text does nothing, as in InfluxDB.
    ///
    /// # Errors
    /// `continuous query already exists` for another query of that name on the database;
    /// a failure to save the file.
    pub(crate) fn create(&self, statement: &CreateContinuousQuery, now: i64) -> Result<(), String> {
        let text = Statement::CreateContinuousQuery(statement.clone()).to_string();
        let mut queries = self.queries.lock().expect("not poisoned");
        if let Some((existing, _)) = queries
            .iter()
            .find(|(q, _)| q.database == statement.database && q.name == statement.name)
        {
            return if existing.query == text {
                Ok(())
            } else {
                Err("continuous query already exists".to_owned())
            };
        }
        let mut next = queries.clone();
        next.push((
            StoredQuery {
                database: statement.database.clone(),
                name: statement.name.clone(),
                query: text,
                last_run_ns: Schedule::of(statement).run_at_or_before(now),
            },
            statement.clone(),
        ));
        self.save(&next).map_err(|e| e.to_string())?;
        *queries = next;
        Ok(())
    }

    /// Removes a query.
    ///
    /// # Errors
    /// `continuous query not found`; a failure to save the file.
    pub(crate) fn drop_query(&self, database: &str, name: &str) -> Result<(), String> {
        let mut queries = self.queries.lock().expect("not poisoned");
        let Some(at) = queries
            .iter()
            .position(|(q, _)| q.database == database && q.name == name)
        else {
            return Err("continuous query not found".to_owned());
        };
        let mut next = queries.clone();
        next.remove(at);
        self.save(&next).map_err(|e| e.to_string())?;
        *queries = next;
        Ok(())
    }

    /// Removes every query of `database` (which was dropped).
    ///
    /// # Errors
    /// A failure to save the file.
    pub(crate) fn drop_database(&self, database: &str) -> Result<()> {
        let mut queries = self.queries.lock().expect("not poisoned");
        if !queries.iter().any(|(q, _)| q.database == database) {
            return Ok(());
        }
        let next: Vec<_> = queries
            .iter()
            .filter(|(q, _)| q.database != database)
            .cloned()
            .collect();
        self.save(&next)?;
        *queries = next;
        Ok(())
    }

    /// `SHOW CONTINUOUS QUERIES`: one series per database of `databases` (in that
    /// order), columns `name` and `query`.
    pub(crate) fn show(&self, databases: &[String]) -> Vec<Series> {
        let queries = self.queries.lock().expect("not poisoned");
        databases
            .iter()
            .map(|db| Series {
                name: db.clone(),
                tags: Vec::new(),
                columns: vec!["name".to_owned(), "query".to_owned()],
                values: queries
                    .iter()
                    .filter(|(q, _)| &q.database == db)
                    .map(|(q, _)| {
                        vec![
                            Value::String(q.name.clone()),
                            Value::String(q.query.clone()),
                        ]
                    })
                    .collect(),
            })
            .collect()
    }

    /// The runs due at `now` that have not run, oldest first: for each query the run
    /// times after its last completed one, up to [`MAX_CATCH_UP_RUNS`] of the newest.
    pub(crate) fn due(&self, now: i64) -> Vec<DueRun> {
        let queries = self.queries.lock().expect("not poisoned");
        let mut due = Vec::new();
        for (stored, statement) in queries.iter() {
            let schedule = Schedule::of(statement);
            let latest = schedule.run_at_or_before(now);
            let first = (stored.last_run_ns + schedule.every)
                .max(latest - (MAX_CATCH_UP_RUNS - 1) * schedule.every);
            let mut run = first;
            while run <= latest {
                due.push(DueRun {
                    database: stored.database.clone(),
                    name: stored.name.clone(),
                    select: (*statement.query).clone(),
                    run,
                    window: schedule.window_of(run),
                });
                run += schedule.every;
            }
        }
        due.sort_by_key(|d| d.run);
        due
    }

    /// Records that the run at `run` of a query completed (if the query still exists).
    ///
    /// # Errors
    /// A failure to save the file.
    pub(crate) fn completed(&self, database: &str, name: &str, run: i64) -> Result<()> {
        let mut queries = self.queries.lock().expect("not poisoned");
        let mut next = queries.clone();
        let Some((stored, _)) = next
            .iter_mut()
            .find(|(q, _)| q.database == database && q.name == name)
        else {
            return Ok(());
        };
        stored.last_run_ns = stored.last_run_ns.max(run);
        self.save(&next)?;
        *queries = next;
        Ok(())
    }

    /// Writes the file atomically: a temporary file, fsync, rename, fsync of the directory.
    fn save(&self, queries: &[(StoredQuery, CreateContinuousQuery)]) -> Result<()> {
        let file = QueryFile {
            queries: queries.iter().map(|(q, _)| q.clone()).collect(),
        };
        crate::state_file::save_json(
            &self.path,
            "continuous query file",
            &file,
            false,
            self.storage.as_ref(),
        )
    }

    /// Hands every later save of the file to `storage`, which keeps a copy in a cloud
    /// node's bucket (restore it with [`Storage::restore_server_file`] before
    /// [`ContinuousQueries::open`]), and the file as it is now.
    pub fn kept_by(mut self, storage: Storage) -> ContinuousQueries {
        crate::state_file::publish_existing(&self.path, &storage);
        self.storage = Some(storage);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn create(text: &str) -> CreateContinuousQuery {
        match sluice_influxql::parse_statement(text).unwrap() {
            Statement::CreateContinuousQuery(c) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn windows_follow_influxdb_resample_rules() {
        let base = "BEGIN SELECT mean(v) INTO m FROM c GROUP BY time(1h) END";
        let h = 3600 * S;
        let m = 60 * S;
        let default = Schedule::of(&create(&format!("CREATE CONTINUOUS QUERY q ON db {base}")));
        assert_eq!(default.window_of(8 * h), (7 * h, 8 * h));
        let every = Schedule::of(&create(&format!(
            "CREATE CONTINUOUS QUERY q ON db RESAMPLE EVERY 30m {base}"
        )));
        assert_eq!(every.window_of(8 * h), (7 * h, 8 * h));
        assert_eq!(every.window_of(8 * h + 30 * m), (8 * h, 9 * h));
        let window = Schedule::of(&create(&format!(
            "CREATE CONTINUOUS QUERY q ON db RESAMPLE EVERY 2h FOR 3h {base}"
        )));
        assert_eq!(window.every, 2 * h);
        assert_eq!(window.window_of(8 * h), (5 * h, 8 * h));
        let longer = Schedule::of(&create(
            "CREATE CONTINUOUS QUERY q ON db RESAMPLE EVERY 1h BEGIN SELECT mean(v) INTO m FROM c GROUP BY time(30m) END",
        ));
        assert_eq!(longer.window_of(8 * h), (7 * h, 8 * h));
    }

    #[test]
    fn due_runs_resume_after_the_last_completed_one_and_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CONTINUOUS_QUERY_FILE);
        let queries = ContinuousQueries::open(path.clone()).unwrap();
        let statement = create(
            "CREATE CONTINUOUS QUERY q ON db BEGIN SELECT mean(v) INTO m FROM c GROUP BY time(2s) END",
        );
        queries.create(&statement, 11 * S).unwrap();
        assert!(
            queries.create(&statement, 11 * S).is_ok(),
            "same text again"
        );
        assert!(
            queries.due(11 * S).is_empty(),
            "nothing before the next boundary"
        );
        let due = queries.due(15 * S);
        let windows: Vec<_> = due.iter().map(|d| d.window).collect();
        assert_eq!(windows, [(10 * S, 12 * S), (12 * S, 14 * S)]);
        queries.completed("db", "q", 12 * S).unwrap();
        let reopened = ContinuousQueries::open(path).unwrap();
        let due = reopened.due(15 * S);
        assert_eq!(due.iter().map(|d| d.run).collect::<Vec<_>>(), [14 * S]);
        let far = reopened.due(14 * S + 10_000 * 2 * S);
        assert_eq!(far.len() as i64, MAX_CATCH_UP_RUNS);
        assert!(reopened.drop_query("db", "q").is_ok());
        assert_eq!(
            reopened.drop_query("db", "q").unwrap_err(),
            "continuous query not found"
        );
        let other = create(
            "CREATE CONTINUOUS QUERY q ON db BEGIN SELECT max(v) INTO m FROM c GROUP BY time(2s) END",
        );
        reopened.create(&statement, 0).unwrap();
        assert_eq!(
            reopened.create(&other, 0).unwrap_err(),
            "continuous query already exists"
        );
    }
}
