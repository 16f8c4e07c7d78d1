//! Runs the fuzz target's check over its seed corpus (`fuzz/seeds/parse/`), so the seeds
//! are exercised by `cargo test` even where the fuzzer cannot be built.

#[path = "support/round_trip.rs"]
mod round_trip;

use std::path::PathBuf;

#[test]
fn every_fuzz_seed_passes_the_round_trip_check() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/parse");
    let mut seeds = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| round_trip::check(&data));
        assert!(outcome.is_ok(), "seed {} fails the check", path.display());
        seeds += 1;
    }
    assert!(seeds >= 30, "only {seeds} seeds in {}", dir.display());
}

#[test]
fn the_round_trip_check_passes_mixed_good_and_bad_input() {
    round_trip::check(b"m f=1\nm,t=a\\ b s=\"x\\\"y\",i=-3i,u=4u,b=T 5\n");
    round_trip::check(b"garbage\n\xff\xfe f=1\nm f=-0\nm s=\"open");
}
