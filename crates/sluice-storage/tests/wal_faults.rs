//! Storage faults: what a crash or a full disk leaves in the WAL never stops the next
//! start (a torn last record is cut off, unfinished trailing segments are removed),
//! damage in the middle of the log still does, and on a full disk (a small tmpfs) writes
//! are refused with `DiskFull`, nothing acknowledged is lost and writes resume by
//! themselves once space is freed.

#[path = "support/tmpfs.rs"]
mod tmpfs;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sluice_storage::{Error, ScanRequest, Storage, StorageConfig, WriteOptions};
use tmpfs::{Tmpfs, fill};

fn config(dir: &Path) -> StorageConfig {
    StorageConfig {
        data_dir: dir.to_owned(),
        ..StorageConfig::default()
    }
}

async fn write(s: &Storage, text: &str) -> sluice_storage::Result<usize> {
    let lines: Vec<_> = sluice_lp::parse_lines(text.as_bytes())
        .map(Result::unwrap)
        .collect();
    Ok(s.write("db", &lines, WriteOptions::default())
        .await?
        .accepted)
}

async fn times(s: &Storage) -> Vec<i64> {
    let res = s.scan("db", "cpu", &ScanRequest::default()).await.unwrap();
    let mut out: Vec<i64> = res
        .batches
        .iter()
        .flat_map(|b| {
            b.column_by_name("time")
                .unwrap()
                .as_any()
                .downcast_ref::<arrow::array::TimestampNanosecondArray>()
                .unwrap()
                .values()
                .to_vec()
        })
        .collect();
    out.sort_unstable();
    out
}

fn wal_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// Writes three batches (times 1, 2, 3) and shuts down; returns the bytes of the segment
/// holding them and the offsets where each record starts.
async fn three_batches(dir: &Path) -> (Vec<u8>, Vec<usize>) {
    let s = Storage::open(config(dir)).await.unwrap();
    for i in 1..=3 {
        write(&s, &format!("cpu,host=a x={i} {i}")).await.unwrap();
    }
    s.shutdown().await.unwrap();
    let seg = wal_files(dir)
        .into_iter()
        .max_by_key(|p| fs::metadata(p).unwrap().len())
        .unwrap();
    let data = fs::read(&seg).unwrap();
    let mut offsets = Vec::new();
    let mut pos = 20usize;
    while pos < data.len() {
        offsets.push(pos);
        let len = u32::from_le_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        pos += 8 + len;
    }
    assert_eq!(offsets.len(), 3);
    (data, offsets)
}

/// Replaces the WAL directory's files with `segments` (id, bytes).
fn set_wal(dir: &Path, segments: &[(u64, &[u8])]) {
    for f in wal_files(dir) {
        fs::remove_file(f).unwrap();
    }
    for (id, bytes) in segments {
        fs::write(dir.join("wal").join(format!("{id:016}.wal")), bytes).unwrap();
    }
}

/// A segment header as the WAL writes it.
fn header(id: u64) -> Vec<u8> {
    let mut h = b"SLUICEWL".to_vec();
    h.extend_from_slice(&3u32.to_le_bytes());
    h.extend_from_slice(&id.to_le_bytes());
    h
}

#[tokio::test]
async fn a_last_record_cut_at_any_byte_is_dropped_and_every_complete_record_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (data, offsets) = three_batches(dir.path()).await;
    let last = offsets[2];
    let empty: &[u8] = &[];
    let partial_header = header(8)[..7].to_vec();
    let bare_header = header(8);
    // What may follow the torn segment: nothing, or the next segment as a failed or
    // interrupted switch left it (empty, a partial header, a bare header).
    let followers: [Option<&[u8]>; 4] =
        [None, Some(empty), Some(&partial_header), Some(&bare_header)];
    for follower in followers {
        for cut in last..data.len() {
            let mut segments = vec![(7u64, &data[..cut])];
            if let Some(next) = follower {
                segments.push((8, next));
            }
            set_wal(dir.path(), &segments);
            let s = Storage::open(config(dir.path()))
                .await
                .unwrap_or_else(|e| panic!("cut at {cut}, then {follower:?}: {e}"));
            assert_eq!(times(&s).await, [1, 2], "cut at {cut}, then {follower:?}");
            // And the log goes on: a new write lands after the kept records.
            write(&s, "cpu,host=a x=4 4").await.unwrap();
            s.shutdown().await.unwrap();
            let kept = fs::read(dir.path().join("wal").join(format!("{:016}.wal", 7))).unwrap();
            assert_eq!(kept, data[..last], "cut at {cut}: torn bytes removed");
            let s = Storage::open(config(dir.path())).await.unwrap();
            assert_eq!(
                times(&s).await,
                [1, 2, 4],
                "cut at {cut}, then {follower:?}"
            );
            s.shutdown().await.unwrap();
        }
    }
}

#[tokio::test]
async fn an_empty_or_header_only_trailing_segment_starts_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = three_batches(dir.path()).await;
    let bare = header(8);
    for (name, trailing) in [("empty", &[][..]), ("header only", &bare[..])] {
        set_wal(dir.path(), &[(7, &data), (8, trailing)]);
        let s = Storage::open(config(dir.path()))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(times(&s).await, [1, 2, 3], "{name}");
        write(&s, "cpu,host=a x=4 4").await.unwrap();
        s.shutdown().await.unwrap();
        let s = Storage::open(config(dir.path())).await.unwrap();
        assert_eq!(times(&s).await, [1, 2, 3, 4], "{name}");
        s.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn a_torn_record_followed_by_a_segment_with_records_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let (data, offsets) = three_batches(dir.path()).await;
    // Segment 7 cut inside its last record, then a segment 8 that holds a record: the
    // damage is in the middle of the log, and the records after it were acknowledged.
    let mut next = header(8);
    next.extend_from_slice(&data[offsets[2]..]);
    let cut = offsets[2] + 5;
    set_wal(dir.path(), &[(7, &data[..cut]), (8, &next)]);
    let err = Storage::open(config(dir.path())).await.unwrap_err();
    assert!(
        matches!(&err, Error::WalCorrupt { offset, .. } if *offset == offsets[2] as u64),
        "{err}"
    );
    let seg = dir.path().join("wal").join(format!("{:016}.wal", 7));
    assert_eq!(fs::read(seg).unwrap(), data[..cut], "nothing truncated");
}

#[tokio::test]
async fn a_bad_checksum_in_the_middle_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let (mut data, offsets) = three_batches(dir.path()).await;
    data[offsets[1] + 12] ^= 0xff;
    set_wal(dir.path(), &[(7, &data)]);
    let err = Storage::open(config(dir.path())).await.unwrap_err();
    assert!(
        matches!(&err, Error::WalCorrupt { offset, .. } if *offset == offsets[1] as u64),
        "{err}"
    );
}

#[tokio::test]
async fn a_full_disk_refuses_writes_keeps_what_was_acknowledged_and_recovers_by_itself() {
    let Some(fs_) = Tmpfs::mount("4m") else {
        return;
    };
    let data_dir = fs_.path().join("data");
    let s = Storage::open(config(&data_dir)).await.unwrap();
    // Leave about 256 KiB: fill the disk, then free a slack file written first.
    fs::write(fs_.path().join("slack"), vec![0u8; 256 * 1024]).unwrap();
    fill(fs_.path(), "filler");
    fs::remove_file(fs_.path().join("slack")).unwrap();

    let mut acked = Vec::new();
    let mut refused = None;
    for batch in 0..10_000i64 {
        let text: String = (0..100)
            .map(|i| {
                format!(
                    "cpu,host=a x={i},pad=\"{}\" {}\n",
                    "p".repeat(50),
                    batch * 100 + i + 1
                )
            })
            .collect();
        match write(&s, &text).await {
            Ok(n) => {
                assert_eq!(n, 100);
                acked.extend((0..100).map(|i| batch * 100 + i + 1));
            }
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let refused = refused.expect("the disk fills up");
    assert!(
        matches!(
            &refused,
            Error::DiskFull {
                what: "write-ahead log",
                ..
            }
        ),
        "{refused:?}"
    );
    assert!(
        refused
            .to_string()
            .starts_with("insufficient storage: the write-ahead log's disk is full"),
        "{refused}"
    );
    assert!(!acked.is_empty(), "some writes fit before the disk filled");
    let faults = s.faults();
    assert_eq!(faults.len(), 1, "{faults:?}");
    assert_eq!(faults[0].component, "wal");
    assert!(s.metrics().wal_write_errors >= 1);
    assert!(s.metrics().wal_failing);
    // Still refused while full, even after the writer's own recovery attempts.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let again = write(&s, "cpu,host=a x=1 999999999").await.unwrap_err();
    assert!(matches!(again, Error::DiskFull { .. }), "{again:?}");
    assert_eq!(
        times(&s).await,
        acked,
        "every acknowledged row, nothing else"
    );

    // Space returns: writes resume without a restart.
    fs::remove_file(fs_.path().join("filler")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match write(&s, "cpu,host=a x=1 1000000000").await {
            Ok(_) => break,
            Err(e) if Instant::now() < deadline => {
                assert!(matches!(e, Error::DiskFull { .. }), "{e:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("writes did not resume after space was freed: {e}"),
        }
    }
    acked.push(1_000_000_000);
    assert!(s.faults().is_empty(), "{:?}", s.faults());
    assert!(!s.metrics().wal_failing);
    assert_eq!(times(&s).await, acked);
    s.shutdown().await.unwrap();

    // Nothing left behind stops the next start, and every acknowledged row is there.
    let s = Storage::open(config(&data_dir)).await.unwrap();
    assert_eq!(times(&s).await, acked);
    s.shutdown().await.unwrap();
    drop(fs_);
}

#[tokio::test]
async fn opening_on_a_full_disk_serves_reads_and_takes_writes_once_space_returns() {
    let Some(fs_) = Tmpfs::mount("4m") else {
        return;
    };
    let data_dir = fs_.path().join("data");
    let s = Storage::open(config(&data_dir)).await.unwrap();
    write(&s, "cpu,host=a x=1 1\ncpu,host=a x=2 2")
        .await
        .unwrap();
    s.shutdown().await.unwrap();
    fill(fs_.path(), "filler");

    let s = Storage::open(config(&data_dir)).await.unwrap();
    assert_eq!(times(&s).await, [1, 2]);
    assert_eq!(s.faults().len(), 1, "{:?}", s.faults());
    let err = write(&s, "cpu,host=a x=3 3").await.unwrap_err();
    assert!(matches!(err, Error::DiskFull { .. }), "{err:?}");

    fs::remove_file(fs_.path().join("filler")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while write(&s, "cpu,host=a x=3 3").await.is_err() {
        assert!(Instant::now() < deadline, "writes did not resume");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(s.faults().is_empty());
    s.shutdown().await.unwrap();
    let s = Storage::open(config(&data_dir)).await.unwrap();
    assert_eq!(times(&s).await, [1, 2, 3]);
    s.shutdown().await.unwrap();
    drop(fs_);
}

#[tokio::test]
async fn persistence_on_a_full_disk_keeps_the_buffer_and_retries_until_it_succeeds() {
    let Some(objects) = Tmpfs::mount("2m") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = objects.path().join("store");
    let config = StorageConfig {
        object_store: sluice_storage::ObjectStoreConfig::LocalPath(store.clone()),
        // Persist as soon as anything is buffered.
        persist_buffer_bytes: 1,
        background_interval: Duration::from_millis(100),
        ..config(dir.path())
    };
    let s = Storage::open(config.clone()).await.unwrap();
    fill(objects.path(), "filler");
    let text: String = (1..=1000)
        .map(|i| format!("cpu,host=a x={i} {i}\n"))
        .collect();
    write(&s, &text).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !s.faults().iter().any(|f| f.component == "persistence") {
        assert!(Instant::now() < deadline, "no persistence fault reported");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let fault = s
        .faults()
        .into_iter()
        .find(|f| f.component == "persistence");
    assert!(
        fault
            .as_ref()
            .unwrap()
            .message
            .contains("insufficient storage"),
        "{fault:?}"
    );
    // The rows stay readable and writes still go to the (healthy) WAL.
    assert_eq!(times(&s).await, (1..=1000).collect::<Vec<_>>());
    write(&s, "cpu,host=a x=1 1001").await.unwrap();
    assert_eq!(s.metrics().persisted_files, 0);

    fs::remove_file(objects.path().join("filler")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !s.faults().is_empty() || s.metrics().persisted_files == 0 {
        assert!(
            Instant::now() < deadline,
            "persistence did not retry: {:?}",
            s.faults()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.shutdown().await.unwrap();
    // Persisted to Parquet, and nothing lost: the WAL alone no longer holds the rows.
    for f in wal_files(dir.path()) {
        fs::remove_file(f).unwrap();
    }
    let s = Storage::open(config).await.unwrap();
    let kept = times(&s).await;
    assert!(kept.len() >= 1000, "{} rows", kept.len());
    assert_eq!(kept[..1000], (1..=1000).collect::<Vec<_>>()[..]);
    s.shutdown().await.unwrap();
    drop(objects);
}
