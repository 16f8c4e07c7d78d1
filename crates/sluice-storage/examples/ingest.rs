//! Engine-level ingest benchmark on TSBS-like `cpu` data (10 tags, 10 fields per line):
//! lines/s with fsync and without, 1 and 4 concurrent writers, and bytes per field value
//! once persisted to Parquet.
//!
//! ```sh
//! cargo run --release -p sluice-storage --example ingest -- [LINES] [SIZE_LINES] [BATCH] [HOSTS]
//! ```
//!
//! Defaults: 200,000 lines per throughput run, 1,000,000 lines for the size run, 5,000
//! lines per write, 100 hosts per writer (each writer's hosts are its own, so 4 writers
//! write 4 × HOSTS series). `HOSTS` of 1,000,000 with 2,000,000 lines is #20's
//! high-cardinality load without HTTP; compare it with 1,000 hosts in the same run.
//! Lines are parsed before the clock starts: this measures the engine (validation, WAL,
//! buffer), not the parser.

use std::time::{Duration, Instant};

use sluice_bench::generate::{GenerateConfig, UseCase, generate};
use sluice_storage::{Storage, StorageConfig, WalSync, WriteOptions};

const FIELDS_PER_LINE: usize = 10;

/// `lines` lines of `sluice-bench`'s TSBS `cpu-only` data for `hosts` hosts (10 tags,
/// 10 integer fields), seeded, in writes of `batch` lines each.
fn cpu_batches(seed: u64, hosts: u64, lines: usize, batch: usize) -> Vec<String> {
    let config = GenerateConfig {
        use_case: UseCase::CpuOnly,
        scale: hosts,
        steps: (lines as u64).div_ceil(hosts),
        seed,
        ..GenerateConfig::default()
    };
    let mut text = Vec::new();
    generate(&config, &mut text).expect("generating into memory");
    let text = String::from_utf8(text).expect("generated line protocol is UTF-8");
    let lines: Vec<&str> = text.lines().take(lines).collect();
    lines
        .chunks(batch)
        .map(|chunk| {
            let mut batch = chunk.join("\n");
            batch.push('\n');
            batch
        })
        .collect()
}

async fn throughput(
    sync: WalSync,
    writers: usize,
    hosts: u64,
    lines: usize,
    batch: usize,
) -> (f64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(StorageConfig {
        data_dir: dir.path().to_owned(),
        wal_sync: sync,
        ..StorageConfig::default()
    })
    .await
    .unwrap();
    // Pre-generate each writer's batches (distinct seeds: distinct series per writer).
    let per_writer = lines / writers;
    let texts: Vec<Vec<String>> = (0..writers)
        .map(|w| {
            let prefix = format!("hostname=w{w}_host_");
            cpu_batches(w as u64 + 1, hosts, per_writer, batch)
                .into_iter()
                .map(|text| text.replace("hostname=host_", &prefix))
                .collect()
        })
        .collect();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(writers));
    let mut tasks = Vec::new();
    for batches in texts {
        let s = s.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let parsed: Vec<Vec<sluice_lp::Line<'_>>> = batches
                .iter()
                .map(|t| {
                    sluice_lp::parse_lines(t.as_bytes())
                        .map(Result::unwrap)
                        .collect()
                })
                .collect();
            // Every writer starts writing together, after parsing.
            barrier.wait().await;
            let start = Instant::now();
            let mut n = 0;
            for lines in &parsed {
                n += s
                    .write("bench", lines, WriteOptions::default())
                    .await
                    .unwrap()
                    .accepted;
            }
            (n, start, Instant::now())
        }));
    }
    let mut total = 0;
    let mut first_start: Option<Instant> = None;
    let mut last_end: Option<Instant> = None;
    for t in tasks {
        let (n, start, end) = t.await.unwrap();
        total += n;
        first_start = Some(first_start.map_or(start, |f| f.min(start)));
        last_end = Some(last_end.map_or(end, |l| l.max(end)));
    }
    let elapsed = last_end.unwrap() - first_start.unwrap();
    let syncs = s.metrics().wal_syncs;
    s.shutdown().await.unwrap();
    (total as f64 / elapsed.as_secs_f64(), syncs)
}

async fn size(hosts: u64, lines: usize, batch: usize) {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(StorageConfig {
        data_dir: dir.path().to_owned(),
        wal_sync: WalSync::None,
        persist_buffer_bytes: usize::MAX,
        max_buffer_bytes: usize::MAX,
        persist_interval: Duration::from_secs(3600),
        ..StorageConfig::default()
    })
    .await
    .unwrap();
    let mut lp_bytes = 0;
    let mut written = 0;
    for text in cpu_batches(7, hosts, lines, batch) {
        lp_bytes += text.len();
        let parsed: Vec<_> = sluice_lp::parse_lines(text.as_bytes())
            .map(Result::unwrap)
            .collect();
        written += s
            .write("bench", &parsed, WriteOptions::default())
            .await
            .unwrap()
            .accepted;
    }
    let t0 = Instant::now();
    s.persist_now().await.unwrap();
    let took = t0.elapsed();
    let m = s.metrics();
    let values = (written * FIELDS_PER_LINE) as f64;
    println!(
        "size: {written} lines, {} line-protocol bytes -> {} Parquet files, {} bytes: {:.3} bytes per field value ({:.1}x smaller than line protocol), persisted in {:.2?}",
        lp_bytes,
        m.parquet_files,
        m.persisted_bytes,
        m.persisted_bytes as f64 / values,
        lp_bytes as f64 / m.persisted_bytes as f64,
        took
    );
    s.shutdown().await.unwrap();
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numeric argument"))
        .collect();
    let lines = args.first().copied().unwrap_or(200_000);
    let size_lines = args.get(1).copied().unwrap_or(1_000_000);
    let batch = args.get(2).copied().unwrap_or(5_000);
    let hosts = args.get(3).copied().unwrap_or(100) as u64;
    println!(
        "ingest: {lines} lines per run, {batch} lines per write, {hosts} hosts per writer, 10 tags + 10 fields per line"
    );
    for sync in [WalSync::Fsync, WalSync::None] {
        for writers in [1, 4] {
            let (rate, syncs) = throughput(sync, writers, hosts, lines, batch).await;
            println!(
                "wal_sync={sync:<5} writers={writers}: {:>10.0} lines/s ({syncs} fdatasyncs)",
                rate
            );
        }
    }
    if size_lines > 0 {
        size(hosts, size_lines, batch).await;
    }
}
