//! Engine-level overload: writers that never back off against a small write buffer, so
//! persistence and compaction run all the time; reports peak RSS, lines/s, refusals and
//! RSS once the load stops.
//!
//! ```sh
//! cargo run --release -p sluice-storage --example overload -- [SECONDS] [WRITERS] [MAX_BUFFER_MIB]
//! ```
//!
//! Defaults: 60 s, 16 writers, 128 MiB. Each writer sends 5,000 lines of `sluice-bench`'s
//! TSBS `cpu-only` data (10 tags, 10 integer fields; 10,000 hosts every 10 s from
//! 2016-01-01, so every point of a minute's run falls in one UTC day: one partition that
//! compaction keeps rewriting) per write with the default durable acknowledgements; a
//! refused write (`Error::Backpressure`) is sent again at once. RSS is sampled from /proc/self/status
//! every 100 ms; compaction logs go to standard error.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sluice_bench::generate::{GenerateConfig, UseCase, generate};
use sluice_storage::{Error, Storage, StorageConfig, WriteOptions};

const HOSTS: u64 = 10_000;
const BATCH: u64 = 5_000;
const START_NS: i64 = 1_451_606_400_000_000_000;

fn rss_kib(key: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Batch `n` of the data set as line protocol (the same batch always reads the same):
/// half of one step of `sluice-bench`'s TSBS `cpu-only` data for `HOSTS` hosts.
fn batch(n: u64) -> String {
    let step = n / (HOSTS / BATCH);
    let config = GenerateConfig {
        use_case: UseCase::CpuOnly,
        scale: HOSTS,
        start_ns: START_NS + step as i64 * 10_000_000_000,
        steps: 1,
        seed: step + 1,
        ..GenerateConfig::default()
    };
    let mut text = Vec::new();
    generate(&config, &mut text).expect("generating into memory");
    let text = String::from_utf8(text).expect("generated line protocol is UTF-8");
    let half = (n % (HOSTS / BATCH)) as usize * BATCH as usize;
    let mut batch: String = text
        .lines()
        .skip(half)
        .take(BATCH as usize)
        .collect::<Vec<_>>()
        .join("\n");
    batch.push('\n');
    batch
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numeric arguments"))
        .collect();
    let seconds = args.first().copied().unwrap_or(60);
    let writers = args.get(1).copied().unwrap_or(16);
    let max_buffer_mib = args.get(2).copied().unwrap_or(128);
    let dir = tempfile::tempdir().expect("temporary directory");
    let storage = Storage::open(StorageConfig {
        data_dir: dir.path().to_owned(),
        max_buffer_bytes: (max_buffer_mib as usize) << 20,
        ..StorageConfig::default()
    })
    .await
    .expect("open storage");

    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let peak_rss = Arc::new(AtomicU64::new(0));
    let sampler = {
        let stop = stop.clone();
        let peak = peak_rss.clone();
        let storage = storage.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            let mut last_print = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let rss = rss_kib("VmRSS:");
                peak.fetch_max(rss, Ordering::Relaxed);
                if last_print.elapsed() >= Duration::from_secs(5) {
                    let m = storage.metrics();
                    println!(
                        "t={:>3}s rss={:>5} MiB buffer={:>4} MiB files={:>3} lines={}",
                        started.elapsed().as_secs(),
                        rss >> 10,
                        m.buffer_bytes >> 20,
                        m.parquet_files,
                        m.lines_written
                    );
                    last_print = Instant::now();
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };

    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let storage = storage.clone();
        let next = next.clone();
        let refused = refused.clone();
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let text = tokio::task::spawn_blocking(move || batch(n)).await.unwrap();
                let lines: Vec<_> = sluice_lp::parse_lines(text.as_bytes())
                    .map(|l| l.expect("valid line protocol"))
                    .collect();
                loop {
                    match storage
                        .write("bench", &lines, WriteOptions::default())
                        .await
                    {
                        Ok(_) => break,
                        Err(Error::Backpressure { .. }) => {
                            refused.fetch_add(1, Ordering::Relaxed);
                            if Instant::now() >= deadline {
                                break;
                            }
                            tokio::task::yield_now().await;
                        }
                        Err(e) => panic!("write failed: {e}"),
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let m = storage.metrics();
    let during_peak = peak_rss.load(Ordering::Relaxed);
    println!(
        "load: {seconds} s, {writers} writers, max buffer {max_buffer_mib} MiB: {} lines in {elapsed:.1} s = {:.0} lines/s, {} refused writes",
        m.lines_written,
        m.lines_written as f64 / elapsed,
        refused.load(Ordering::Relaxed)
    );
    println!(
        "peak RSS during the load {} MiB (VmHWM {} MiB)",
        during_peak >> 10,
        rss_kib("VmHWM:") >> 10
    );
    // Idle: persistence and compaction finish what is pending.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let m = storage.metrics();
    println!(
        "20 s after the load: RSS {} MiB, VmHWM {} MiB, buffer {} MiB, {} parquet files",
        rss_kib("VmRSS:") >> 10,
        rss_kib("VmHWM:") >> 10,
        m.buffer_bytes >> 20,
        m.parquet_files
    );
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    storage.shutdown().await.expect("shutdown");
}
