//! Runs the fuzz target's check over its seed corpus (`fuzz/seeds/influxql_parse/`), so
//! the seeds are exercised by `cargo test` even where the fuzzer cannot be built.

#[path = "support/round_trip.rs"]
mod round_trip;

use std::path::PathBuf;

#[test]
fn every_fuzz_seed_passes_the_round_trip_check() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/influxql_parse");
    let mut seeds = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| round_trip::check(&data));
        assert!(outcome.is_ok(), "seed {} fails the check", path.display());
        seeds += 1;
    }
    assert!(seeds >= 10, "only {seeds} seeds in {}", dir.display());
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    // The parser recurses up to its nesting limit: on a stack the size the server gives
    // each query (16 MiB; a debug build's frames do not fit the test thread's 2 MiB).
    let checked = std::thread::Builder::new()
        .stack_size(16 << 20)
        .spawn(|| {
            let deep = format!(
                "SELECT v FROM m WHERE {}v = 1{}",
                "(".repeat(5000),
                ")".repeat(5000)
            );
            round_trip::check(deep.as_bytes());
            sluice_influxql::parse(&deep).is_err()
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(checked);
}
