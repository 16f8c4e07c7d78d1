//! Runs the `sql_precheck` fuzz target's check over its seeds (`fuzz/seeds/sql_precheck/`),
//! so they are exercised by `cargo test` even where the fuzzer cannot be built.

#[path = "support/sql_precheck.rs"]
mod sql_precheck;

use std::path::PathBuf;

#[test]
fn every_sql_precheck_seed_passes_the_check() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/sql_precheck");
    let mut seeds = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| sql_precheck::check(&data));
        assert!(outcome.is_ok(), "seed {} fails the check", path.display());
        seeds += 1;
    }
    assert!(seeds >= 8, "only {seeds} seeds in {}", dir.display());
}

#[test]
fn chains_at_the_operator_limit_plan_within_the_query_stack() {
    let limit = sluice_query::MAX_SQL_OPERATORS;
    // Each `+` and `OR` and `=` counts: the longest chains the check lets through.
    let sum = vec!["1"; limit + 1].join(" + ");
    assert!(sluice_query::check_sql_text(&format!("SELECT {sum}")).is_ok());
    sql_precheck::check(format!("SELECT {sum}").as_bytes());
    let terms: Vec<String> = (0..limit / 2).map(|i| format!("{i} = {i}")).collect();
    let or_chain = format!("SELECT 1 WHERE {}", terms.join(" OR "));
    assert!(sluice_query::check_sql_text(&or_chain).is_ok());
    sql_precheck::check(or_chain.as_bytes());
    // One more operator is refused before DataFusion sees it.
    let over = vec!["1"; limit + 2].join(" + ");
    assert!(sluice_query::check_sql_text(&format!("SELECT {over}")).is_err());
}
