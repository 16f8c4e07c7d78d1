//! Fuzz target: the InfluxQL parser on any text; see the check for what must hold.

#![no_main]

#[path = "../../crates/sluice-influxql/tests/support/round_trip.rs"]
mod round_trip;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    round_trip::check(data);
});
