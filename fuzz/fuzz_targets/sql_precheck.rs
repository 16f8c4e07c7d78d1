//! Fuzz target: the SQL pre-check on any text, then DataFusion's parse, plan and optimize
//! on the query stack; nothing may panic or overflow the stack.

#![no_main]

#[path = "../../crates/sluice-query/tests/support/sql_precheck.rs"]
mod sql_precheck;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sql_precheck::check(data);
});
