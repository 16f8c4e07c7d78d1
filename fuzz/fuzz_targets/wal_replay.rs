//! Fuzz target: `Storage::open` on WAL segments built from arbitrary bytes recovers or
//! refuses, never panics; see the check for the input layout and the other properties.

#![no_main]

#[path = "../../crates/sluice-storage/tests/support/wal_replay.rs"]
mod wal_replay;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wal_replay::check(data);
});
