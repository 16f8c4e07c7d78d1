//! Runs the `write_body` fuzz target's check over its seeds (`fuzz/seeds/write_body/`),
//! so they are exercised by `cargo test` even where the fuzzer cannot be built.

#[path = "support/write_body.rs"]
mod write_body;

use std::io::Write as _;
use std::path::PathBuf;

#[test]
fn every_write_body_seed_passes_the_check() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/write_body");
    let mut seeds = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| write_body::check(&data));
        assert!(outcome.is_ok(), "seed {} fails the check", path.display());
        seeds += 1;
    }
    assert!(seeds >= 8, "only {seeds} seeds in {}", dir.display());
}

#[test]
fn the_check_passes_good_bad_and_duplicate_lines_in_both_modes() {
    let body = b"m,t=a f=1 1\nm,t=a f=2 1\nm,t=b f=1i 2\nbroken\nn s=\"x\" 3\n";
    for flags in [0u8, 4, 8, 12] {
        let mut input = vec![flags];
        input.extend_from_slice(body);
        write_body::check(&input);
    }
}

#[test]
fn gzip_bodies_decode_and_broken_ones_are_refused() {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), Default::default());
    encoder.write_all(b"m f=1 1\n").unwrap();
    let gzip = encoder.finish().unwrap();
    assert_eq!(
        write_body::decoded_body(2, &gzip).as_deref(),
        Some(&b"m f=1 1\n"[..])
    );
    assert_eq!(write_body::decoded_body(2, b"m f=1 1\n"), None);
    assert_eq!(
        write_body::decoded_body(1, b"m f=1 1\n").as_deref(),
        Some(&b"m f=1 1\n"[..])
    );
    // A bomb: far more than the limit, stopped at it.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), Default::default());
    encoder
        .write_all(&vec![b'a'; write_body::MAX_BODY_BYTES * 4])
        .unwrap();
    assert_eq!(
        write_body::decoded_body(2, &encoder.finish().unwrap()),
        None
    );
}
