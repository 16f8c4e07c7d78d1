//! The task that runs continuous queries when they are due, started by `sluice serve`
//! and stopped, between two runs, on shutdown.

use std::sync::Arc;
use std::time::Duration;

use sluice_influxql::{BinaryOp, Expr, Literal, Query, SelectStatement, Statement};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{ContinuousQueries, DueRun};
use crate::state::AppState;
use crate::time::now_nanos;

/// How often the task looks for due runs.
const TICK: Duration = Duration::from_millis(200);

/// The running scheduler; [`ContinuousQueryScheduler::stop`] ends it.
#[derive(Debug)]
pub struct ContinuousQueryScheduler {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl ContinuousQueryScheduler {
    /// Starts running the continuous queries of `state` (none if it has none).
    pub fn start(state: AppState) -> ContinuousQueryScheduler {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let Some(queries) = state.inner.continuous.get().cloned() else {
                return;
            };
            loop {
                run_due(&state, &queries, &stopped).await;
                tokio::select! {
                    () = tokio::time::sleep(TICK) => {}
                    _ = stopped.changed() => return,
                }
            }
        });
        ContinuousQueryScheduler { stop, task }
    }

    /// Stops the task once the run in progress (if any) has finished, and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Runs every due run, oldest first, recording each as completed.
async fn run_due(
    state: &AppState,
    queries: &Arc<ContinuousQueries>,
    stopped: &watch::Receiver<bool>,
) {
    for due in queries.due(now_nanos()) {
        if *stopped.borrow() {
            return;
        }
        run_one(state, &due).await;
        if let Err(e) = queries.completed(&due.database, &due.name, due.run) {
            tracing::error!(database = %due.database, name = %due.name, error = %e, "cannot record a continuous query run");
            return;
        }
    }
}

/// Runs one window of a query; a failure is logged and the run counts as done, as in
/// InfluxDB 1.x (the next run is not held back by this one).
async fn run_one(state: &AppState, due: &DueRun) {
    let select = with_window(&due.select, due.window);
    let query = Query {
        statements: vec![Statement::Select(Box::new(select))],
    };
    let outcome = state
        .inner
        .query
        .influxql_parsed(Some(&due.database), query)
        .await;
    let error = match &outcome {
        Ok(results) => results.iter().find_map(|r| r.error.clone()),
        Err(e) => Some(e.to_string()),
    };
    match error {
        None => tracing::debug!(
            database = %due.database,
            name = %due.name,
            start = due.window.0,
            end = due.window.1,
            "continuous query ran"
        ),
        Some(error) => tracing::warn!(
            database = %due.database,
            name = %due.name,
            start = due.window.0,
            end = due.window.1,
            %error,
            "continuous query failed"
        ),
    }
}

/// `select` with its own time bounds dropped (InfluxDB 1.x ignores them in a continuous
/// query) and `time >= start AND time < end` added to its condition.
pub(crate) fn with_window(select: &SelectStatement, (start, end): (i64, i64)) -> SelectStatement {
    let time = |op, t| Expr::binary(Expr::var("time"), op, Expr::Literal(Literal::Integer(t)));
    let mut select = select.clone();
    // Left-nested, `(cond AND time >= start) AND time < end`: the planner reads the time
    // range from the top-level `AND`s.
    let from = match select.condition.take().and_then(without_time_bounds) {
        Some(condition) => Expr::binary(condition, BinaryOp::And, time(BinaryOp::GtEq, start)),
        None => time(BinaryOp::GtEq, start),
    };
    select.condition = Some(Expr::binary(from, BinaryOp::And, time(BinaryOp::Lt, end)));
    select
}

/// `condition` without its top-level `AND`ed comparisons of `time`; `None` when nothing
/// else is left.
fn without_time_bounds(condition: Expr) -> Option<Expr> {
    match condition {
        Expr::Binary {
            op: BinaryOp::And,
            lhs,
            rhs,
        } => match (without_time_bounds(*lhs), without_time_bounds(*rhs)) {
            (Some(lhs), Some(rhs)) => Some(Expr::binary(lhs, BinaryOp::And, rhs)),
            (one, None) | (None, one) => one,
        },
        Expr::Binary { op, lhs, .. } | Expr::Binary { op, rhs: lhs, .. }
            if op.is_comparison() && lhs.is_time() =>
        {
            None
        }
        other => Some(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_replaces_the_query_time_bounds_and_is_anded_to_the_rest() {
        let select = |q: &str| match sluice_influxql::parse_statement(q).unwrap() {
            Statement::Select(s) => *s,
            other => panic!("{other:?}"),
        };
        let plain = select("SELECT mean(v) INTO m FROM c GROUP BY time(2s)");
        assert_eq!(
            with_window(&plain, (10, 20)).to_string(),
            "SELECT mean(v) INTO m FROM c WHERE time >= 10 AND time < 20 GROUP BY time(2s)"
        );
        let filtered =
            select("SELECT mean(v) INTO m FROM c WHERE a = 'x' OR b = 'y' GROUP BY time(2s)");
        assert_eq!(
            with_window(&filtered, (10, 20)).to_string(),
            "SELECT mean(v) INTO m FROM c WHERE (a = 'x' OR b = 'y') AND time >= 10 AND time < 20 GROUP BY time(2s)"
        );
        let bounded = select(
            "SELECT mean(v) INTO m FROM c WHERE time > now() - 1h AND a = 'x' AND 5 < time GROUP BY time(2s)",
        );
        assert_eq!(
            with_window(&bounded, (10, 20)).to_string(),
            "SELECT mean(v) INTO m FROM c WHERE a = 'x' AND time >= 10 AND time < 20 GROUP BY time(2s)"
        );
    }
}
