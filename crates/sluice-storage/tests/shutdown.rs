//! Shutdown hands the data directory back: once `Storage::shutdown` returns (and with it
//! the directory's lock), nothing of the engine writes there any more, so another
//! `Storage` (in this process or another) can open it at once. The crash test does just
//! that after every reopen, and a Parquet file still being written by the closed engine
//! could then overwrite the one the next engine wrote under the same name.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use sluice_storage::{Storage, StorageConfig, WriteOptions};

/// Every file under `dir` with its length and modification time.
fn listing(dir: &Path) -> BTreeMap<String, (u64, SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(path);
            } else {
                let name = path.strip_prefix(dir).unwrap().display().to_string();
                out.insert(name, (meta.len(), meta.modified().unwrap()));
            }
        }
    }
    out
}

/// Whether a Parquet file is being written: its staging file (`name#1`, see
/// `engine/files.rs`) exists.
fn staging_file_exists(dir: &Path) -> bool {
    listing(dir).keys().any(|name| name.ends_with("#1"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_during_a_persistence_returns_only_once_its_files_are_no_longer_written() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(StorageConfig {
        data_dir: dir.path().to_owned(),
        persist_buffer_bytes: 1 << 20,
        background_interval: Duration::from_millis(5),
        ..StorageConfig::default()
    })
    .await
    .unwrap();
    // One write over the persistence threshold: the background task persists all of it
    // in one file, which takes a while to encode.
    let mut text = String::new();
    for i in 0..100_000u64 {
        let time = 1_700_000_000_000_000_000 + i as i64;
        text.push_str(&format!(
            "m,host=h{} a={i}i,b={}.25,c=\"s{}\" {time}\n",
            i % 1_000,
            i * 7,
            i % 333
        ));
    }
    let lines: Vec<_> = sluice_lp::parse_lines(text.as_bytes())
        .map(Result::unwrap)
        .collect();
    s.write("db", &lines, WriteOptions::default())
        .await
        .unwrap();
    let started = Instant::now();
    while !staging_file_exists(dir.path()) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the background task never started persisting"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    s.shutdown().await.unwrap();
    let at_shutdown = listing(dir.path());
    // Long enough for a persistence left running to finish its file.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        listing(dir.path()),
        at_shutdown,
        "the data directory changed after shutdown returned"
    );
}
