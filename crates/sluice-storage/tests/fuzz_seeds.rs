//! Runs the `wal_replay` fuzz target's check over its seeds (`fuzz/seeds/wal_replay/`),
//! so they are exercised by `cargo test` even where the fuzzer cannot be built.

#[path = "support/wal_replay.rs"]
mod wal_replay;

use std::path::PathBuf;

#[test]
fn every_wal_replay_seed_passes_the_check() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/wal_replay");
    let mut seeds = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| {
            wal_replay::check(&data);
        });
        assert!(outcome.is_ok(), "seed {} fails the check", path.display());
        seeds += 1;
    }
    assert!(seeds >= 8, "only {seeds} seeds in {}", dir.display());
}

/// The rows the check recovers from seed `name`, whose one segment is of `version`.
fn recovered_from_seed(name: &str, version: u32) -> Option<Vec<(String, usize)>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/wal_replay");
    let data = std::fs::read(dir.join(name)).unwrap();
    let (files, _) = wal_replay::segments(&data);
    assert_eq!(
        u32::from_le_bytes(files[0].1[8..12].try_into().unwrap()),
        version
    );
    wal_replay::check(&data)
}

#[test]
fn a_version_4_record_by_column_recovers_its_rows() {
    // `columns_v4`: one record of table `m`, three rows of two series, a dense float
    // column, sparse integer, unsigned and string ones and a dense boolean one.
    assert_eq!(
        recovered_from_seed("columns_v4", 4),
        Some(vec![("m".to_owned(), 3)])
    );
}

#[test]
fn a_version_5_record_with_numbered_tag_values_recovers_its_rows() {
    // `columns_v5_numbered_values`: `columns_v4` in version 5, its first series' value
    // written out, the second series the same tag set by the value's number. The two
    // series are then one, whose two rows at the same time are one row: two rows, not
    // three (a misread number would refuse the record or recover three).
    assert_eq!(
        recovered_from_seed("columns_v5_numbered_values", 5),
        Some(vec![("m".to_owned(), 2)])
    );
}

#[test]
fn segments_frame_records_and_keep_raw_tails_raw() {
    // Options 0: version 3. A record of 9 payload bytes, then 2 raw bytes.
    let input = [0, 9, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xfe, 2, 0xaa, 0xbb];
    let (files, skip_corrupt) = wal_replay::segments(&input);
    assert!(!skip_corrupt);
    assert_eq!(files.len(), 1);
    let (name, bytes) = &files[0];
    assert_eq!(name, "0000000000000001.wal");
    assert_eq!(&bytes[..8], b"SLUICEWL");
    assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 3);
    assert_eq!(u32::from_le_bytes(bytes[20..24].try_into().unwrap()), 9);
    let payload = &bytes[28..37];
    assert_eq!(
        u32::from_le_bytes(bytes[24..28].try_into().unwrap()),
        crc32c::crc32c(payload)
    );
    assert_eq!(&bytes[37..], &[0xaa, 0xbb]);
}

#[test]
fn segments_start_new_and_torn_segments() {
    let (files, skip_corrupt) = wal_replay::segments(&[0b101, 0xff, 0xfd, 7]);
    assert!(skip_corrupt);
    let lengths: Vec<usize> = files.iter().map(|(_, b)| b.len()).collect();
    assert_eq!(lengths, [20, 20, 7]);
    // Version bits 2 select version 2.
    assert_eq!(u32::from_le_bytes(files[1].1[8..12].try_into().unwrap()), 2);
    assert_eq!(files[2].0, "0000000000000003.wal");
}

#[test]
fn the_check_survives_a_hostile_length_and_a_torn_header() {
    // A framed record whose body claims 2^32 tables; then a huge raw length field.
    let mut input = vec![0, 14];
    input.extend_from_slice(&1u64.to_le_bytes());
    input.extend_from_slice(&[0, 1, 0xff, 0xff, 0xff, 0x0f]);
    input.extend_from_slice(&[0xfe, 8, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 0xfd, 3]);
    wal_replay::check(&input);
}
