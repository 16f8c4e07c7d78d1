//! Engine-level ingest benchmark on TSBS-like `cpu` data (10 tags, 10 fields per line):
//! lines/s with fsync and without, 1 and 4 concurrent writers, and bytes per field value
//! once persisted to Parquet.
//!
//! ```sh
//! cargo run --release -p sluice-storage --example ingest -- [LINES] [SIZE_LINES] [BATCH]
//! ```
//!
//! Defaults: 200,000 lines per throughput run, 1,000,000 lines for the size run, 5,000
//! lines per write. Lines are parsed before the clock starts: this measures the engine
//! (validation, WAL, buffer), not the parser.

use std::time::{Duration, Instant};

use sluice_storage::{Storage, StorageConfig, WalSync, WriteOptions};

const HOSTS: u64 = 100;
const FIELDS: [&str; 10] = [
    "usage_user",
    "usage_system",
    "usage_idle",
    "usage_nice",
    "usage_iowait",
    "usage_irq",
    "usage_softirq",
    "usage_steal",
    "usage_guest",
    "usage_guest_nice",
];
const REGIONS: [&str; 9] = [
    "us-east-1",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "sa-east-1",
];

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// A seeded TSBS-like generator: `HOSTS` hosts reporting every 10 s, each field a random
/// walk of integers in 0..=100, as TSBS's `cpu-only` use case writes them.
struct Generator {
    rng: Rng,
    tags: Vec<String>,
    state: Vec<[i64; 10]>,
    step: u64,
}

impl Generator {
    fn new(seed: u64) -> Generator {
        let mut rng = Rng(seed);
        let tags = (0..HOSTS)
            .map(|h| {
                let r = rng.next();
                format!(
                    "hostname=host_{h},region={},datacenter={}a,rack={},os=Ubuntu{},arch={},team={},service={},service_version={},service_environment={}",
                    REGIONS[(r % 9) as usize],
                    REGIONS[(r % 9) as usize],
                    r % 100,
                    ["15.10", "16.04", "16.10"][(r % 3) as usize],
                    ["x64", "x86"][(r % 2) as usize],
                    ["SF", "NYC", "LON", "CHI"][(r % 4) as usize],
                    r % 20,
                    r % 2,
                    ["production", "staging", "test"][(r % 3) as usize],
                )
            })
            .collect();
        let state = (0..HOSTS)
            .map(|_| std::array::from_fn(|_| (rng.next() % 101) as i64))
            .collect();
        Generator {
            rng,
            tags,
            state,
            step: 0,
        }
    }

    /// The next `n` lines as line protocol.
    fn lines(&mut self, n: usize, out: &mut String) {
        use std::fmt::Write;
        out.clear();
        for _ in 0..n {
            let h = (self.step % HOSTS) as usize;
            let t = 1_700_000_000_000_000_000i64 + (self.step / HOSTS) as i64 * 10_000_000_000;
            self.step += 1;
            write!(out, "cpu,{} ", self.tags[h]).unwrap();
            for (i, f) in FIELDS.iter().enumerate() {
                let v = &mut self.state[h][i];
                *v = (*v + (self.rng.next() % 11) as i64 - 5).clamp(0, 100);
                let sep = if i == 0 { "" } else { "," };
                write!(out, "{sep}{f}={v}i").unwrap();
            }
            writeln!(out, " {t}").unwrap();
        }
    }
}

async fn throughput(sync: WalSync, writers: usize, lines: usize, batch: usize) -> (f64, u64) {
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
            let mut g = Generator::new(w as u64 + 1);
            let mut g_tags = g.tags.clone();
            for t in &mut g_tags {
                *t = t.replacen("hostname=host_", &format!("hostname=w{w}_host_"), 1);
            }
            g.tags = g_tags;
            (0..per_writer.div_ceil(batch))
                .map(|_| {
                    let mut text = String::new();
                    g.lines(batch, &mut text);
                    text
                })
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

async fn size(lines: usize, batch: usize) {
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
    let mut g = Generator::new(7);
    let mut text = String::new();
    let mut lp_bytes = 0;
    let mut written = 0;
    while written < lines {
        g.lines(batch.min(lines - written), &mut text);
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
    let values = (written * FIELDS.len()) as f64;
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
    println!(
        "ingest: {lines} lines per run, {batch} lines per write, 10 tags + 10 fields per line"
    );
    for sync in [WalSync::Fsync, WalSync::None] {
        for writers in [1, 4] {
            let (rate, syncs) = throughput(sync, writers, lines, batch).await;
            println!(
                "wal_sync={sync:<5} writers={writers}: {:>10.0} lines/s ({syncs} fdatasyncs)",
                rate
            );
        }
    }
    if size_lines > 0 {
        size(size_lines, batch).await;
    }
}
