//! Loads TSBS-like cpu line protocol into a fresh storage and times the six TSBS
//! InfluxQL queries through the engine.
//!
//! ```sh
//! cargo run --release -p sluice-bench -- generate -o /tmp/cpu.lp
//! cargo run --release -p sluice-query --example tsbs -- /tmp/cpu.lp [--persist]
//! ```
//!
//! Prints the median of 10 runs per query in milliseconds (the query and the JSON of its
//! `/query` answer, without HTTP), and the geometric mean of
//! the ratios to InfluxDB 1.6 (30, 0.5, 2.4, 90, 0.9, 157 ms measured on this machine).
//!
//! With `--influxdb URL` (e.g. `http://127.0.0.1:18086`, an `influxd` holding the same
//! file in database `bench`, loaded with `sluice-bench load FILE --url URL --db bench`),
//! the same queries are timed against it too, over HTTP with one kept-alive-free
//! request each, and the ratios use those times instead of the fixed ones. `--first`
//! also prints each query's first (cold) run; `--only NAME` runs one query and
//! `--runs N` (default 10) sets the runs per query, for profiling.

use std::time::Instant;

use sluice_query::QueryEngine;
use sluice_query::format::{Epoch, v1_json};
use sluice_storage::sluice_lp::{ParseOptions, Parser};
use sluice_storage::{Storage, StorageConfig, WalSync, WriteOptions};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: tsbs FILE [--persist]"))?;
    let mut persist = false;
    let mut influxdb: Option<String> = None;
    let mut show_first = false;
    let mut only: Option<String> = None;
    let mut runs = 10usize;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--persist" => persist = true,
            "--first" => show_first = true,
            "--only" => only = args.next(),
            "--runs" => {
                runs = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(10)
                    .max(1)
            }
            "--influxdb" => influxdb = args.next(),
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
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
    let mut n_queries = 0;
    for (name, q, influx_ms) in queries {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        n_queries += 1;
        let mut times = Vec::new();
        let mut rows = 0;
        for _ in 0..runs {
            let t = Instant::now();
            let res = engine.influxql(Some("bench"), q, None).await?;
            // The JSON body `/query` would send, as InfluxDB's time includes it.
            let body = v1_json(&res, Epoch::Rfc3339);
            times.push(t.elapsed().as_secs_f64() * 1e3);
            std::hint::black_box(body);
            if let Some(e) = &res[0].error {
                anyhow::bail!("{name}: {e}");
            }
            rows = res[0].series.iter().map(|s| s.values.len()).sum::<usize>();
        }
        let first = times[0];
        let median = median_of(times);
        let influx_ms = match &influxdb {
            Some(url) => {
                let mut times = Vec::new();
                for _ in 0..10 {
                    let t = Instant::now();
                    let status = influx_query(url, q)?;
                    times.push(t.elapsed().as_secs_f64() * 1e3);
                    anyhow::ensure!(status == 200, "{name}: influxdb answered {status}");
                }
                median_of(times)
            }
            None => influx_ms,
        };
        log_sum += (median / influx_ms).ln();
        let first = if show_first {
            format!(" first {first:8.2} ms")
        } else {
            String::new()
        };
        println!(
            "{name:24} {median:9.2} ms{first}  (influxdb 1.6: {influx_ms:.2} ms, ratio {:.3}, {rows} rows)",
            median / influx_ms
        );
    }
    println!(
        "geometric mean of sluice/influxdb: {:.2}",
        (log_sum / f64::from(n_queries)).exp()
    );
    storage.shutdown().await?;
    Ok(())
}

fn median_of(mut times: Vec<f64>) -> f64 {
    times.sort_by(|a, b| a.total_cmp(b));
    times[times.len() / 2]
}

/// One `GET /query` against InfluxDB 1.x (HTTP/1.0, body read to the end); the status.
fn influx_query(url: &str, q: &str) -> anyhow::Result<u16> {
    use std::io::{Read, Write};
    let host = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("--influxdb takes an http:// URL"))?
        .trim_end_matches('/');
    let encoded: String = q
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let mut s = std::net::TcpStream::connect(host)?;
    write!(
        s,
        "GET /query?db=bench&q={encoded} HTTP/1.0\r\nHost: {host}\r\n\r\n"
    )?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    let status = std::str::from_utf8(out.get(9..12).unwrap_or_default())
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok(status)
}
