//! WAL recovery on crafted files: a torn tail is truncated, damage in the middle stops
//! start-up with the file and offset, or is skipped when configured.

use std::fs;
use std::path::{Path, PathBuf};

use sluice_storage::{Error, ScanRequest, Storage, StorageConfig, WriteOptions};

fn config(dir: &Path) -> StorageConfig {
    StorageConfig {
        data_dir: dir.to_owned(),
        ..StorageConfig::default()
    }
}

/// Writes three batches (x=1, x=2, x=3 at distinct times) and shuts down; returns the
/// segment holding them and the offsets where each record starts.
async fn three_batches(dir: &Path) -> (PathBuf, Vec<u64>) {
    let s = Storage::open(config(dir)).await.unwrap();
    for i in 1..=3 {
        let text = format!("cpu,host=a x={i} {i}");
        let lines: Vec<_> = sluice_lp::parse_lines(text.as_bytes())
            .map(Result::unwrap)
            .collect();
        s.write("db", &lines, WriteOptions::default())
            .await
            .unwrap();
    }
    s.shutdown().await.unwrap();
    let seg = fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| fs::metadata(p).unwrap().len())
        .unwrap();
    let data = fs::read(&seg).unwrap();
    let mut offsets = Vec::new();
    let mut pos = 20usize;
    while pos < data.len() {
        offsets.push(pos as u64);
        let len = u32::from_le_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        pos += 8 + len;
    }
    assert_eq!(offsets.len(), 3);
    (seg, offsets)
}

async fn times(s: &Storage) -> Vec<i64> {
    let res = s.scan("db", "cpu", &ScanRequest::default()).await.unwrap();
    res.batches
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
        .collect()
}

#[tokio::test]
async fn torn_final_record_is_truncated_and_earlier_records_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let (seg, offsets) = three_batches(dir.path()).await;
    let len = fs::metadata(&seg).unwrap().len();
    // Cut the last record short, as a crash in the middle of its write would.
    fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    assert_eq!(times(&s).await, vec![1, 2]);
    assert_eq!(fs::metadata(&seg).unwrap().len(), offsets[2]);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn zeroed_or_garbled_tail_is_truncated() {
    for tail in [vec![0u8; 37], vec![0xff; 3], {
        // A complete-length record whose checksum fails: a torn page at the very end.
        let mut r = vec![16, 0, 0, 0, 1, 2, 3, 4];
        r.extend_from_slice(&[9; 16]);
        r
    }] {
        let dir = tempfile::tempdir().unwrap();
        let (seg, _) = three_batches(dir.path()).await;
        let len = fs::metadata(&seg).unwrap().len();
        let mut data = fs::read(&seg).unwrap();
        data.extend_from_slice(&tail);
        fs::write(&seg, &data).unwrap();
        let s = Storage::open(config(dir.path())).await.unwrap();
        assert_eq!(times(&s).await, vec![1, 2, 3], "tail {tail:?}");
        assert_eq!(fs::metadata(&seg).unwrap().len(), len);
        s.shutdown().await.unwrap();
    }
}

/// A group whose file size reached the disk but whose data did not reads back as zeros,
/// as long as the group was: replay must cut such a tail in one pass (it used to ask, at
/// every offset of the tail, whether only zeros followed, which never finished for a
/// tail of megabytes).
#[tokio::test]
async fn a_long_zeroed_tail_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let (seg, _) = three_batches(dir.path()).await;
    let len = fs::metadata(&seg).unwrap().len();
    let mut data = fs::read(&seg).unwrap();
    data.resize(data.len() + (16 << 20), 0);
    fs::write(&seg, &data).unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    assert_eq!(times(&s).await, vec![1, 2, 3]);
    assert_eq!(fs::metadata(&seg).unwrap().len(), len);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn corruption_in_the_middle_stops_start_up_naming_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (seg, offsets) = three_batches(dir.path()).await;
    let mut data = fs::read(&seg).unwrap();
    // Flip a payload byte of the first record.
    data[offsets[0] as usize + 12] ^= 0x55;
    fs::write(&seg, &data).unwrap();
    let err = Storage::open(config(dir.path())).await.unwrap_err();
    match &err {
        Error::WalCorrupt { file, offset, .. } => {
            assert_eq!(file, &seg);
            assert_eq!(*offset, offsets[0]);
        }
        other => panic!("expected WalCorrupt, got {other}"),
    }
    let msg = err.to_string();
    assert!(msg.contains(&seg.display().to_string()), "{msg}");
    assert!(msg.contains(&format!("offset {}", offsets[0])), "{msg}");
    // The file is left as it was for an operator to inspect.
    assert_eq!(fs::read(&seg).unwrap(), data);

    // With the flag, the damaged record is skipped and the others recovered.
    let s = Storage::open(StorageConfig {
        skip_corrupt_wal_records: true,
        ..config(dir.path())
    })
    .await
    .unwrap();
    assert_eq!(times(&s).await, vec![2, 3]);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_garbled_length_in_the_middle_is_skipped_by_resynchronising() {
    let dir = tempfile::tempdir().unwrap();
    let (seg, offsets) = three_batches(dir.path()).await;
    let mut data = fs::read(&seg).unwrap();
    let p = offsets[1] as usize;
    data[p..p + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    fs::write(&seg, &data).unwrap();
    assert!(matches!(
        Storage::open(config(dir.path())).await,
        Err(Error::WalCorrupt { offset, .. }) if offset == offsets[1]
    ));
    let s = Storage::open(StorageConfig {
        skip_corrupt_wal_records: true,
        ..config(dir.path())
    })
    .await
    .unwrap();
    assert_eq!(times(&s).await, vec![1, 3]);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_bad_header_on_an_older_segment_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let (seg, _) = three_batches(dir.path()).await;
    // Reopen once so a newer (empty) segment exists, then damage the older header.
    let s = Storage::open(config(dir.path())).await.unwrap();
    s.shutdown().await.unwrap();
    let mut data = fs::read(&seg).unwrap();
    data[0] = b'X';
    fs::write(&seg, &data).unwrap();
    let err = Storage::open(config(dir.path())).await.unwrap_err();
    assert!(
        matches!(&err, Error::WalCorrupt { file, offset: 0, .. } if file == &seg),
        "{err}"
    );
}

#[tokio::test]
async fn damage_before_intact_records_at_the_end_is_not_taken_for_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (seg, offsets) = three_batches(dir.path()).await;
    let mut data = fs::read(&seg).unwrap();
    // A length garbled to point past the end of the file, with intact records after it.
    let p = offsets[1] as usize;
    let past_end = (data.len() as u32) * 2;
    data[p..p + 4].copy_from_slice(&past_end.to_le_bytes());
    fs::write(&seg, &data).unwrap();
    let err = Storage::open(config(dir.path())).await.unwrap_err();
    assert!(
        matches!(&err, Error::WalCorrupt { offset, .. } if *offset == offsets[1]),
        "{err}"
    );
    assert_eq!(fs::read(&seg).unwrap(), data, "nothing truncated");
}
