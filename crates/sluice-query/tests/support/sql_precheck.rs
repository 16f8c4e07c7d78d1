//! The check of the `sql_precheck` fuzz target, shared with the seed test
//! (`tests/fuzz_seeds.rs`): arbitrary text through the check the SQL entry point runs
//! before DataFusion ([`sluice_query::check_sql_text`]), and text it lets through
//! parsed, planned and optimized by DataFusion on a thread with the stack queries run on
//! ([`sluice_query::QUERY_STACK_BYTES`]), as `QueryEngine::sql` does. Nothing may panic
//! or overflow the stack: the operator limit and DataFusion's own nesting limit together
//! must keep every tree DataFusion builds within that stack.
//!
//! Planning uses a bare session (no tables): a query naming a table fails at once,
//! while constant expressions, which the optimizer folds recursively, are planned in full.
//! Nothing is executed.

use datafusion::prelude::SessionContext;
use sluice_query::{QUERY_STACK_BYTES, check_sql_text};

/// Runs the check on one input; panics when a property fails.
pub(crate) fn check(input: &[u8]) {
    let Ok(sql) = std::str::from_utf8(input) else {
        return;
    };
    if check_sql_text(sql).is_err() {
        return;
    }
    let sql = sql.to_owned();
    let planned = std::thread::Builder::new()
        .name("sql-precheck".to_owned())
        .stack_size(QUERY_STACK_BYTES)
        .spawn(move || plan(&sql))
        .expect("spawn the query thread")
        .join();
    if let Err(panic) = planned {
        std::panic::resume_unwind(panic);
    }
}

/// Parses, plans and optimizes `sql`; errors are answers.
fn plan(sql: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
    let state = SessionContext::new().state();
    runtime.block_on(async {
        if let Ok(plan) = state.create_logical_plan(sql).await {
            let _ = state.optimize(&plan);
        }
    });
}
