//! WAL replay at start-up on TSBS-like `cpu` data (10 tags, 10 fields per line): how long
//! `Storage::open` takes with a WAL of LINES lines and nothing persisted, against the time
//! it takes to read the WAL's files.
//!
//! ```sh
//! cargo run --release -p sluice-storage --example replay -- write DIR [LINES] [HOSTS]
//! cargo run --release -p sluice-storage --example replay -- open DIR
//! ```
//!
//! `write` fills a new data directory and ends the process without shutting the storage
//! down (as `kill -9` would: the rows are only in the WAL); `open` replays it, prints the
//! times and ends the same way, so it can be run again on the same directory (under
//! `valgrind --tool=cachegrind` to count instructions, say). Defaults: 1,000,000 lines,
//! 1,000 hosts, 5,000 lines per write.

use std::path::{Path, PathBuf};
use std::time::Instant;

use sluice_bench::generate::{GenerateConfig, UseCase, generate};
use sluice_storage::{Storage, StorageConfig, WriteOptions};

const BATCH: usize = 5_000;

fn config(dir: &Path) -> StorageConfig {
    StorageConfig {
        data_dir: dir.to_owned(),
        // Nothing is persisted while writing or after opening.
        persist_buffer_bytes: usize::MAX / 4,
        max_buffer_bytes: usize::MAX / 2,
        persist_interval: std::time::Duration::from_secs(1 << 30),
        ..StorageConfig::default()
    }
}

async fn write(dir: &Path, lines: u64, hosts: u64) {
    let generated = GenerateConfig {
        use_case: UseCase::CpuOnly,
        scale: hosts,
        steps: lines.div_ceil(hosts),
        seed: 1,
        ..GenerateConfig::default()
    };
    let mut text = Vec::new();
    generate(&generated, &mut text).expect("generating into memory");
    let text = String::from_utf8(text).expect("generated line protocol is UTF-8");
    let s = Storage::open(config(dir))
        .await
        .expect("opening a new data directory");
    let all: Vec<&str> = text.lines().take(lines as usize).collect();
    for chunk in all.chunks(BATCH) {
        let batch = chunk.join("\n");
        let parsed: Vec<_> = sluice_lp::parse_lines(batch.as_bytes())
            .map(|l| l.expect("generated lines parse"))
            .collect();
        s.write("benchmark", &parsed, WriteOptions::default())
            .await
            .expect("write");
    }
    println!("wrote {} lines to {}", all.len(), dir.display());
}

fn wal_read_ms(dir: &Path) -> (f64, u64) {
    let start = Instant::now();
    let mut bytes = 0;
    for entry in std::fs::read_dir(dir.join("wal")).expect("listing the wal") {
        let data = std::fs::read(entry.expect("wal entry").path()).expect("reading the wal");
        bytes += data.len() as u64;
    }
    (start.elapsed().as_secs_f64() * 1e3, bytes)
}

async fn open(dir: &Path) {
    let (read_ms, bytes) = wal_read_ms(dir);
    let start = Instant::now();
    let s = Storage::open(config(dir)).await.expect("opening");
    let open_ms = start.elapsed().as_secs_f64() * 1e3;
    println!(
        "read {:.1} MiB of wal in {read_ms:.1} ms; open (replay) {open_ms:.1} ms; buffer {} MiB",
        bytes as f64 / (1 << 20) as f64,
        s.metrics().buffer_bytes >> 20
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: replay write DIR [LINES] [HOSTS] | replay open DIR";
    let dir = PathBuf::from(args.get(1).expect(usage));
    match args[0].as_str() {
        "write" => {
            let lines = args.get(2).map_or(1_000_000, |a| a.parse().expect(usage));
            let hosts = args.get(3).map_or(1_000, |a| a.parse().expect(usage));
            write(&dir, lines, hosts).await;
        }
        "open" => open(&dir).await,
        _ => panic!("{usage}"),
    }
    // As a crash would: no shutdown, the WAL stays as it is.
    std::process::exit(0);
}
