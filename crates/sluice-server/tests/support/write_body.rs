//! The check of the `write_body` fuzz target, shared with the seed test
//! (`tests/fuzz_seeds.rs`): a write request body taken through the server's own
//! decoding ([`sluice_server::gunzip`]) and write path ([`sluice_server::write_body`]:
//! line protocol, catalog validation, WAL and buffer) into a fresh storage engine.
//!
//! Nothing may panic; every line of the body is counted once (accepted, rejected or
//! withheld); an all-or-nothing write writes all or nothing; and what was accepted reads
//! back: each table holds one row per distinct (tag set, time) of its accepted lines.
//!
//! ```text
//! input = flags:u8 body
//! flags = bits 0-1: 0 and 3 plain body; 1 the body gzipped here, then gunzipped (which
//!         must give it back); 2 the body taken as gzip data as it is
//!         bit 2: accept_partial; bit 3: precision `auto` (else nanoseconds)
//! ```

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::Write as _;
use std::path::Path;

use sluice_lp::{ParseOptions, Parser, Precision};
use sluice_server::{WriteRequest, gunzip, write_body};
use sluice_storage::{ObjectStoreConfig, ScanRequest, Storage, StorageConfig, WalSync};

/// The database written to (auto-created).
pub(crate) const DATABASE: &str = "fuzz";
/// Most bytes a gzip body may decompress to, as the server's request limit does.
pub(crate) const MAX_BODY_BYTES: usize = 1 << 16;
/// The time stamped on lines without one.
const NOW_NS: i64 = 1_700_000_000_000_000_000;

/// What identifies a row of a table: its tag set (sorted by key) and its time.
type RowKey = (Vec<(String, String)>, i64);

/// The body a `flags` byte and the rest of the input stand for, after decoding; `None`
/// when the gzip data does not decode (an answer, not a failure).
pub(crate) fn decoded_body(flags: u8, rest: &[u8]) -> Option<Vec<u8>> {
    match flags & 3 {
        1 => {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), Default::default());
            encoder.write_all(rest).expect("gzip into memory");
            let compressed = encoder.finish().expect("gzip into memory");
            let body = gunzip(&compressed, MAX_BODY_BYTES)
                .unwrap_or_else(|e| panic!("a body gzipped here fails to decode: {e}"));
            assert_eq!(body, rest, "gzip round trip changes the body");
            Some(body)
        }
        2 => {
            let body = gunzip(rest, MAX_BODY_BYTES).ok()?;
            assert!(body.len() <= MAX_BODY_BYTES, "gunzip went over its limit");
            Some(body)
        }
        _ => Some(rest.to_vec()),
    }
}

/// Runs the check on one input; panics when a property fails.
pub(crate) fn check(input: &[u8]) {
    let Some((&flags, rest)) = input.split_first() else {
        return;
    };
    let Some(body) = decoded_body(flags, rest) else {
        return;
    };
    let request = WriteRequest {
        database: DATABASE.to_owned(),
        rp: None,
        precision: if flags & 8 != 0 {
            Precision::Auto
        } else {
            Precision::Nanosecond
        },
        accept_partial: flags & 4 != 0,
        no_sync: true,
    };
    let options = ParseOptions {
        precision: request.precision,
        default_time: Some(NOW_NS),
        ..ParseOptions::default()
    };
    let parsed: Vec<_> = Parser::new(&body, options).collect();

    let dir = scratch_dir();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let storage = Storage::open(StorageConfig {
            data_dir: dir.path().to_owned(),
            object_store: ObjectStoreConfig::Memory,
            wal_sync: WalSync::None,
            ..StorageConfig::default()
        })
        .await
        .expect("open a fresh engine");
        let written = write_body(&storage, DATABASE, &request, &body, NOW_NS)
            .await
            .unwrap_or_else(|e| panic!("a body fails as a whole: {e}"));

        assert_eq!(
            written.accepted + written.rejected.len() + written.withheld,
            parsed.len(),
            "lines accepted ({}), rejected ({}) and withheld ({}) do not add up to the lines parsed",
            written.accepted,
            written.rejected.len(),
            written.withheld,
        );
        let rejected: HashSet<usize> = written.rejected.iter().map(|r| r.line_number).collect();
        assert_eq!(rejected.len(), written.rejected.len(), "a line rejected twice");
        assert!(
            written.rejected.is_sorted_by_key(|r| r.line_number),
            "rejected lines out of order"
        );
        if !request.accept_partial {
            assert!(
                written.rejected.is_empty() || written.accepted == 0,
                "an all-or-nothing write wrote part of a body"
            );
        }

        // One row per distinct (tag set, time) of the accepted lines, per table.
        let mut expected: BTreeMap<String, BTreeSet<RowKey>> = BTreeMap::new();
        if written.accepted > 0 {
            for line in parsed.iter().flatten() {
                if rejected.contains(&line.line_number) {
                    continue;
                }
                let tags = line
                    .tags
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                expected
                    .entry(line.measurement.to_string())
                    .or_default()
                    .insert((tags, line.timestamp.unwrap_or(NOW_NS)));
            }
        }
        let accepted_lines = parsed
            .iter()
            .flatten()
            .filter(|l| !rejected.contains(&l.line_number))
            .count();
        assert_eq!(
            written.accepted + written.withheld,
            accepted_lines,
            "lines parsed and not rejected are neither accepted nor withheld"
        );
        for (table, rows) in &expected {
            let found = storage
                .scan(DATABASE, table, &ScanRequest::default())
                .await
                .unwrap_or_else(|e| panic!("scanning written table {table:?}: {e}"))
                .num_rows();
            assert_eq!(found, rows.len(), "rows read back from table {table:?}");
        }
        storage.shutdown().await.expect("shutdown");
    });
}

/// A temporary directory, in memory where the system has `/dev/shm`: a new table saves
/// the catalog with fsync, which a disk makes slow.
fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().expect("temporary directory")
}
