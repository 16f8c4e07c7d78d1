//! The check of the `wal_replay` fuzz target, shared with the seed test
//! (`tests/fuzz_seeds.rs`): WAL segments built from arbitrary bytes, then
//! `Storage::open` on them. It either recovers or refuses with an error; it never
//! panics, hangs or allocates what a hostile length field asks for. What recovers once
//! recovers again, to the same rows.
//!
//! The input is turned into segments rather than written as is, so that the fuzzer
//! reaches the record decoders instead of stopping at a checksum:
//!
//! ```text
//! input   = options:u8 chunk*
//! options = bit 0: skip_corrupt_wal_records; bits 1-3: segment version (0: 3, 1: 1,
//!           2: 2, 3: 4, whose batches are by column, 4: 5, which numbers the tag
//!           values met before; 5-7: 3)
//! chunk   = 0xff                  start a new segment (header, next id)
//!         | 0xfe n:u8 byte{n}     n raw bytes, no frame (a torn or damaged tail)
//!         | 0xfd n:u8             start a new segment whose header is cut to n % 21 bytes
//!         | len:u8 byte{len}      a record: length and checksum framed around the
//!                                 payload (seq:u64le kind:u8 body), which is cut
//!                                 short where the input ends
//! ```
//!
//! Every segment is replayed against a catalog holding database `fuzz` with table `m`
//! (tag `t`; fields `f` float, `i` integer, `u` unsigned, `s` string, `b` boolean), so
//! that records naming it are applied to the buffer.

use std::path::Path;
use std::sync::OnceLock;

use sluice_storage::{ScanRequest, Storage, StorageConfig, WalSync, WriteOptions};

/// The database the template catalog holds.
pub(crate) const DATABASE: &str = "fuzz";

const MAGIC: &[u8; 8] = b"SLUICEWL";
/// Tables scanned after a successful open, at most (each scan costs a merge).
const MAX_SCANNED_TABLES: usize = 8;

/// Segment files (name, bytes) described by `input`, and whether to skip damaged records.
pub(crate) fn segments(input: &[u8]) -> (Vec<(String, Vec<u8>)>, bool) {
    let Some((&options, mut rest)) = input.split_first() else {
        return (Vec::new(), false);
    };
    let skip_corrupt = options & 1 != 0;
    let version: u32 = match (options >> 1) & 7 {
        1 => 1,
        2 => 2,
        3 => 4,
        4 => 5,
        _ => 3,
    };
    let header = |id: u64| {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&version.to_le_bytes());
        out.extend_from_slice(&id.to_le_bytes());
        out
    };
    let mut files = vec![header(1)];
    while let Some((&tag, tail)) = rest.split_first() {
        rest = tail;
        match tag {
            0xff => files.push(header(files.len() as u64 + 1)),
            0xfd => {
                let n = rest.first().map_or(0, |n| usize::from(*n) % 21);
                rest = rest.get(1..).unwrap_or_default();
                let mut cut = header(files.len() as u64 + 1);
                cut.truncate(n);
                files.push(cut);
            }
            0xfe => {
                let n = rest.first().map_or(0, |n| usize::from(*n));
                rest = rest.get(1..).unwrap_or_default();
                let (raw, tail) = rest.split_at(n.min(rest.len()));
                rest = tail;
                files.last_mut().expect("a segment").extend_from_slice(raw);
            }
            len => {
                let (payload, tail) = rest.split_at(usize::from(len).min(rest.len()));
                rest = tail;
                let out = files.last_mut().expect("a segment");
                out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
                out.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
                out.extend_from_slice(payload);
            }
        }
    }
    let named = files
        .into_iter()
        .enumerate()
        .map(|(i, bytes)| (format!("{:016}.wal", i + 1), bytes))
        .collect();
    (named, skip_corrupt)
}

/// Runs the check on one input; panics when a property fails. Returns the rows recovered
/// by table, or `None` when the segments were refused.
pub(crate) fn check(input: &[u8]) -> Option<Vec<(String, usize)>> {
    let (files, skip_corrupt) = segments(input);
    if files.is_empty() {
        return None;
    }
    let dir = scratch_dir();
    let catalog = dir.path().join("catalog");
    let wal = dir.path().join("wal");
    std::fs::create_dir_all(&catalog).expect("catalog directory");
    std::fs::create_dir_all(&wal).expect("wal directory");
    std::fs::write(catalog.join("catalog.json"), template_catalog()).expect("catalog");
    for (name, bytes) in &files {
        std::fs::write(wal.join(name), bytes).expect("segment");
    }
    let runtime = runtime();
    let config = StorageConfig {
        data_dir: dir.path().to_owned(),
        wal_sync: WalSync::None,
        skip_corrupt_wal_records: skip_corrupt,
        ..StorageConfig::default()
    };
    runtime.block_on(async {
        let Ok(storage) = Storage::open(config.clone()).await else {
            // Refusing damaged segments is an answer.
            return None;
        };
        let first = row_counts(&storage).await;
        storage.shutdown().await.expect("shutdown after replay");
        drop(storage);
        // The first open truncated any torn tail: what it recovered opens again, the same.
        let again = Storage::open(config)
            .await
            .unwrap_or_else(|e| panic!("a recovered wal fails to open again: {e}"));
        let second = row_counts(&again).await;
        again
            .shutdown()
            .await
            .expect("shutdown after the second replay");
        assert_eq!(first, second, "a second replay recovers other rows");
        Some(first)
    })
}

/// Rows per table of [`DATABASE`] (the first few tables), by scanning them.
async fn row_counts(storage: &Storage) -> Vec<(String, usize)> {
    let Ok(tables) = storage.tables(DATABASE) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for table in tables.iter().take(MAX_SCANNED_TABLES) {
        let rows = match storage
            .scan(DATABASE, &table.name, &ScanRequest::default())
            .await
        {
            Ok(result) => result.num_rows(),
            Err(e) => panic!("scanning replayed table {:?}: {e}", table.name),
        };
        out.push((table.name.clone(), rows));
    }
    out
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A temporary directory, in memory where the system has `/dev/shm`: each input saves
/// a catalog with fsync, which a disk makes slow.
fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().expect("temporary directory")
}

/// The catalog file of an engine that holds [`DATABASE`] with table `m`, made once.
fn template_catalog() -> &'static [u8] {
    static CATALOG: OnceLock<Vec<u8>> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let dir = scratch_dir();
        runtime().block_on(async {
            let storage = Storage::open(StorageConfig {
                data_dir: dir.path().to_owned(),
                wal_sync: WalSync::None,
                ..StorageConfig::default()
            })
            .await
            .expect("open the template engine");
            let text = b"m,t=a f=1,i=2i,u=3u,s=\"x\",b=true 1\n";
            let lines: Vec<_> = sluice_storage::sluice_lp::parse_lines(text)
                .map(|line| line.expect("template line parses"))
                .collect();
            let outcome = storage
                .write(DATABASE, &lines, WriteOptions::default())
                .await
                .expect("template write");
            assert_eq!(outcome.accepted, 1);
            storage.shutdown().await.expect("template shutdown");
        });
        std::fs::read(dir.path().join("catalog/catalog.json")).expect("template catalog")
    })
}
