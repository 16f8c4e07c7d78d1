//! Loads TSBS-like cpu line protocol into a fresh storage and times the six TSBS
//! InfluxQL queries through the engine.
//!
//! ```sh
//! cargo run --release -p sluice-bench -- generate -o /tmp/cpu.lp
//! cargo run --release -p sluice-query --example tsbs -- /tmp/cpu.lp [--persist]
//! ```
//!
//! Prints the median of 10 runs per query in milliseconds, and the geometric mean of
//! the ratios to InfluxDB 1.6 (30, 0.5, 2.4, 90, 0.9, 157 ms measured on this machine).

use std::time::Instant;

use sluice_query::QueryEngine;
use sluice_storage::sluice_lp::{ParseOptions, Parser};
use sluice_storage::{Storage, StorageConfig, WalSync, WriteOptions};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: tsbs FILE [--persist]"))?;
    let persist = args.next().as_deref() == Some("--persist");
    let dir = tempfile::tempdir()?;
    let storage = Storage::open(StorageConfig {
        data_dir: dir.path().to_owned(),
        wal_sync: WalSync::None,
        max_buffer_bytes: 8 << 30,
        persist_buffer_bytes: 4 << 30,
        ..StorageConfig::default()
    })
    .await?;
    let text = std::fs::read(&path)?;
    let start = Instant::now();
    let mut chunk = Vec::new();
    let mut n = 0usize;
    for line in Parser::new(&text, ParseOptions::default()) {
        chunk.push(line?);
        if chunk.len() == 10_000 {
            n += storage
                .write("bench", &chunk, WriteOptions::default())
                .await?
                .accepted;
            chunk.clear();
        }
    }
    n += storage
        .write("bench", &chunk, WriteOptions::default())
        .await?
        .accepted;
    drop(chunk);
    println!("loaded {n} lines in {:.1}s", start.elapsed().as_secs_f64());
    if persist {
        storage.persist_now().await?;
        println!("persisted to parquet");
    }
    let engine = QueryEngine::new(storage.clone());
    let queries = [
        (
            "lastpoint",
            r#"SELECT * FROM cpu GROUP BY "hostname" ORDER BY time DESC LIMIT 1"#,
            30.0,
        ),
        (
            "single-groupby-1-1-1",
            "SELECT max(usage_user) FROM cpu WHERE (hostname = 'host_42') AND time >= '2016-01-01T08:00:00Z' AND time < '2016-01-01T09:00:00Z' GROUP BY time(1m)",
            0.5,
        ),
        (
            "single-groupby-5-1-12",
            "SELECT max(usage_user),max(usage_system),max(usage_idle),max(usage_nice),max(usage_iowait) FROM cpu WHERE (hostname = 'host_42') AND time >= '2016-01-01T08:00:00Z' AND time < '2016-01-01T20:00:00Z' GROUP BY time(1m)",
            2.4,
        ),
        (
            "double-groupby-1",
            "SELECT mean(usage_user) FROM cpu WHERE time >= '2016-01-01T08:00:00Z' AND time < '2016-01-01T20:00:00Z' GROUP BY time(1h),hostname",
            90.0,
        ),
        (
            "high-cpu-1",
            "SELECT * FROM cpu WHERE usage_user > 90.0 AND (hostname = 'host_42') AND time >= '2016-01-01T08:00:00Z' AND time < '2016-01-01T20:00:00Z'",
            0.9,
        ),
        (
            "groupby-orderby-limit",
            "SELECT max(usage_user) FROM cpu WHERE time >= '2016-01-01T00:00:00Z' AND time < '2016-01-01T20:00:00Z' GROUP BY time(1m) ORDER BY time DESC LIMIT 5",
            157.0,
        ),
    ];
    let mut log_sum = 0.0;
    for (name, q, influx_ms) in queries {
        let mut times = Vec::new();
        let mut rows = 0;
        for _ in 0..10 {
            let t = Instant::now();
            let res = engine.influxql(Some("bench"), q, None).await?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
            if let Some(e) = &res[0].error {
                anyhow::bail!("{name}: {e}");
            }
            rows = res[0].series.iter().map(|s| s.values.len()).sum::<usize>();
        }
        times.sort_by(|a, b| a.total_cmp(b));
        let median = times[times.len() / 2];
        log_sum += (median / influx_ms).ln();
        println!("{name:24} {median:9.2} ms  (influxdb 1.6: {influx_ms} ms, {rows} rows)");
    }
    println!(
        "geometric mean of sluice/influxdb: {:.2}",
        (log_sum / 6.0).exp()
    );
    storage.shutdown().await?;
    Ok(())
}
