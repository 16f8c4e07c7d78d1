//! Fuzz target: parse arbitrary bytes; every accepted line must encode to text that parses
//! back to the same line.

#![no_main]

#[path = "../../crates/sluice-lp/tests/support/round_trip.rs"]
mod round_trip;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    round_trip::check(data);
});
