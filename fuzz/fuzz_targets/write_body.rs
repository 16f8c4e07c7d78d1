//! Fuzz target: a write request body through the server's gzip decoding and write path
//! into a fresh engine; see the check for the input layout and what must hold.

#![no_main]

#[path = "../../crates/sluice-server/tests/support/write_body.rs"]
mod write_body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    write_body::check(data);
});
