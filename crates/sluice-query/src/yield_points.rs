//! Yield points above the operators that make rows faster than they read them.
//!
//! A query stops (at `--query-timeout`, or when its client leaves) only when the task
//! running it yields. DataFusion's operators yield when their inputs do, and its own
//! rule (`EnsureCooperative`) makes the scans yield. A join, though, can make millions
//! of rows from one batch of its input: an aggregate over a cross join of four small
//! tables polls the join, which is always ready, in one loop that never returns, and
//! holds a thread of the server until it ends.
//!
//! [`JoinsYield`] wraps the output of every operator with more than one input (joins,
//! unions) and of `UNNEST` in a `CooperativeExec`, which spends a unit of the task's
//! tokio budget per batch and yields when it is gone: a few hundred microseconds of work
//! at most between two chances to stop.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::unnest::UnnestExec;

/// The physical optimizer rule; see the [module](self) docs. Runs after DataFusion's own
/// rules.
#[derive(Debug, Default)]
pub(crate) struct JoinsYield;

impl JoinsYield {
    fn multiplies_rows(plan: &dyn ExecutionPlan) -> bool {
        plan.children().len() > 1 || plan.is::<UnnestExec>()
    }
}

impl PhysicalOptimizerRule for JoinsYield {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            if !Self::multiplies_rows(node.as_ref()) {
                return Ok(Transformed::no(node));
            }
            let wrapped: Arc<dyn ExecutionPlan> = Arc::new(CooperativeExec::new(node));
            Ok(Transformed::yes(wrapped))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "JoinsYield"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    async fn plan_text(sql: &str) -> String {
        let ctx = SessionContext::new();
        ctx.sql("CREATE TABLE t (v BIGINT) AS VALUES (1), (2), (3)")
            .await
            .unwrap();
        let plan = ctx
            .sql(sql)
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        let plan = JoinsYield
            .optimize(plan, &ConfigOptions::default())
            .unwrap();
        datafusion::physical_plan::displayable(plan.as_ref())
            .indent(false)
            .to_string()
    }

    #[tokio::test]
    async fn a_join_yields_above_itself() {
        let text = plan_text("SELECT sum(a.v * b.v) FROM t a, t b").await;
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        let join = lines
            .iter()
            .position(|l| l.starts_with("CrossJoinExec"))
            .unwrap_or_else(|| panic!("no cross join in\n{text}"));
        assert!(
            lines[join - 1].starts_with("CooperativeExec"),
            "no yield point above the join in\n{text}"
        );
        assert!(
            !lines[..join - 1]
                .last()
                .is_some_and(|l| l.starts_with("CooperativeExec")),
            "two yield points in a row in\n{text}"
        );
    }

    #[tokio::test]
    async fn a_plan_without_joins_is_left_alone() {
        let text = plan_text("SELECT sum(v) FROM t WHERE v > 1").await;
        assert!(!text.contains("CooperativeExec"), "{text}");
    }
}
