//! Crash test: a child process (this test binary re-invoked) writes through the engine,
//! deletes some of the batches it wrote, and prints each acknowledged batch and delete;
//! it is SIGKILLed at seeded random moments, and after each kill a reopen must hold every
//! acknowledged batch not deleted, none acknowledged as deleted, and no batch only in part.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::Int64Array;
use sluice_bench::rng::Rng;
use sluice_storage::{DeleteRequest, ScanRequest, Storage, StorageConfig, WriteOptions};

const DIR_ENV: &str = "SLUICE_CRASH_CHILD_DIR";
const START_ENV: &str = "SLUICE_CRASH_CHILD_START";
const LINES_PER_BATCH: usize = 20;
const KILLS: u64 = 24;

/// Small thresholds so kills land during persistence, WAL rotation and compaction too.
fn config(dir: &Path) -> StorageConfig {
    StorageConfig {
        data_dir: dir.to_owned(),
        persist_buffer_bytes: 48 << 10,
        wal_segment_bytes: 16 << 10,
        background_interval: Duration::from_millis(5),
        compact_max_files: 3,
        ..StorageConfig::default()
    }
}

/// The first timestamp of batch `n`; its lines follow, one nanosecond apart.
fn batch_start(n: u64) -> i64 {
    1_700_000_000_000_000_000 + n as i64 * 1_000
}

fn batch_text(n: u64) -> String {
    let mut text = String::new();
    for i in 0..LINES_PER_BATCH as u64 {
        // Times are unique per (batch, line), so rows never merge across batches.
        let time = batch_start(n) + i as i64;
        text.push_str(&format!(
            "crash,shard={} n={n}i,i={i}i,v={}.5 {time}\n",
            n % 7,
            n * i
        ));
    }
    text
}

fn print(line: String) {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}").unwrap();
    stdout.flush().unwrap();
}

/// The child: writes batches from two concurrent tasks until killed, printing `ack N`
/// after batch N was acknowledged; a third task deletes every fifth acknowledged batch
/// by its time range, printing `deleting N` before and `deleted N` once acknowledged.
/// Does nothing unless run by the crash test.
#[test]
fn crash_child_writer() {
    let Ok(dir) = std::env::var(DIR_ENV) else {
        return;
    };
    let start: u64 = std::env::var(START_ENV).unwrap().parse().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let s = Storage::open(config(Path::new(&dir))).await.unwrap();
        let acked = Arc::new(Mutex::new(Vec::new()));
        for lane in 0..2u64 {
            let s = s.clone();
            let acked = acked.clone();
            tokio::spawn(async move {
                let mut n = start + lane;
                loop {
                    let text = batch_text(n);
                    let lines: Vec<_> = sluice_lp::parse_lines(text.as_bytes())
                        .map(Result::unwrap)
                        .collect();
                    match s.write("db", &lines, WriteOptions::default()).await {
                        Ok(out) => {
                            assert_eq!(out.accepted, LINES_PER_BATCH);
                            print(format!("ack {n}"));
                            acked.lock().unwrap().push(n);
                        }
                        Err(sluice_storage::Error::Backpressure { retry_after }) => {
                            tokio::time::sleep(retry_after / 10).await;
                            continue;
                        }
                        Err(e) => {
                            eprintln!("write failed: {e}");
                            std::process::exit(3);
                        }
                    }
                    n += 2;
                }
            });
        }
        // Delete until killed.
        loop {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let next = acked
                .lock()
                .unwrap()
                .iter()
                .rev()
                .find(|n| *n % 5 == 0)
                .copied();
            let Some(n) = next else { continue };
            acked.lock().unwrap().retain(|m| *m != n);
            print(format!("deleting {n}"));
            let request = DeleteRequest {
                table: Some("crash".to_owned()),
                time_range: Some((batch_start(n), batch_start(n) + LINES_PER_BATCH as i64)),
                ..DeleteRequest::default()
            };
            if let Err(e) = s.delete("db", &request).await {
                eprintln!("delete failed: {e}");
                std::process::exit(3);
            }
            print(format!("deleted {n}"));
        }
    });
}

/// Rows per batch number found in the table.
async fn batches_present(dir: &Path) -> BTreeMap<u64, usize> {
    let s = Storage::open(config(dir)).await.expect("reopen after kill");
    let mut counts = BTreeMap::new();
    match s.scan("db", "crash", &ScanRequest::default()).await {
        Ok(res) => {
            for b in &res.batches {
                let n = b
                    .column_by_name("n")
                    .unwrap()
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap();
                for v in n.values() {
                    *counts.entry(*v as u64).or_insert(0) += 1;
                }
            }
        }
        // Killed before the first write created the database or table.
        Err(sluice_storage::Error::DatabaseNotFound { .. })
        | Err(sluice_storage::Error::TableNotFound { .. }) => {}
        Err(e) => panic!("scan failed: {e}"),
    }
    s.shutdown().await.unwrap();
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9_at_random_points() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng::new(0x5eed_cafe);
    let mut acked = BTreeSet::new();
    // Deletes acknowledged, and deletes started whose outcome the first reopen after
    // them settled (rows found then), which later reopens must keep.
    let mut deleted = BTreeSet::new();
    let mut in_doubt: BTreeMap<u64, Option<usize>> = BTreeMap::new();
    let mut total_kills = 0;
    for round in 0..KILLS {
        let start = round * 10_000_000;
        let mut child = Command::new(&exe)
            .args([
                "crash_child_writer",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DIR_ENV, dir.path())
            .env(START_ENV, start.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let reader = {
            let seen = seen.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    seen.lock().unwrap().push(line);
                }
            })
        };
        // Kill anywhere from during start-up (replay) to well into writing.
        tokio::time::sleep(Duration::from_millis(20 + rng.below(300))).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        total_kills += 1;
        for line in seen.lock().unwrap().iter() {
            // The test harness prints its own lines too, and its `test crash_child_writer
            // ... ` ends without a newline, so the child's first line follows it: a line
            // is read by its last two words (reading it by its first dropped the first
            // batch acknowledged in every round from the check).
            let mut words = line.split_whitespace().rev();
            let (Some(Ok(n)), Some(what)) = (words.next().map(str::parse::<u64>), words.next())
            else {
                continue;
            };
            match what {
                "ack" => {
                    acked.insert(n);
                }
                "deleting" => {
                    in_doubt.insert(n, None);
                }
                "deleted" => {
                    in_doubt.remove(&n);
                    deleted.insert(n);
                }
                _ => {}
            }
        }

        let present = batches_present(dir.path()).await;
        for n in &acked {
            let found = present.get(n).copied().unwrap_or(0);
            if deleted.contains(n) {
                assert_eq!(found, 0, "round {round}: deleted batch {n} came back");
            } else if let Some(settled) = in_doubt.get_mut(n) {
                // A delete cut short by the kill may or may not have happened, but once
                // a reopen found out, every later reopen agrees.
                assert_eq!(
                    *settled.get_or_insert(found),
                    found,
                    "round {round}: batch {n}"
                );
            } else {
                assert_eq!(
                    found, LINES_PER_BATCH,
                    "round {round}: acknowledged batch {n} lost or partial"
                );
            }
        }
        for (n, count) in &present {
            assert_eq!(
                *count, LINES_PER_BATCH,
                "round {round}: batch {n} half-applied"
            );
        }
    }
    assert_eq!(total_kills, KILLS);
    // The kills also landed while data was being persisted to Parquet.
    let s = Storage::open(config(dir.path())).await.unwrap();
    assert!(s.metrics().parquet_files > 0);
    s.shutdown().await.unwrap();
    assert!(
        acked.len() > 100,
        "the children acknowledged too few batches to test anything: {}",
        acked.len()
    );
    assert!(
        deleted.len() > 10,
        "the children acknowledged too few deletes to test anything: {}",
        deleted.len()
    );
}
