//! Cross-check against a real InfluxDB 1.x: the same points are written to `influxd` and
//! to sluice, and the JSON of a set of InfluxQL queries must match. Skipped, with a
//! printed reason, when `influxd` is not on PATH (Debian package `influxdb`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sluice_query::QueryEngine;
use sluice_query::format::{Epoch, v1_json};

mod common;

const DATA: &str = "\
cpu,host=a,region=us usage=1,n=10i 1451606400000000000
cpu,host=a,region=us usage=3,n=20i 1451606460000000000
cpu,host=b,region=eu usage=10,n=1i 1451606400000000000
cpu,host=b,region=eu usage=20,n=2i 1451606520000000000
cpu,host=a,region=us usage=4 1451606460000000000
cpu,host=a,region=us usage=7,n=30i 1451606640000000000
mem,host=a free=5i 1451606400000000000
";

const RANGE: &str = "time >= '2016-01-01T00:00:00Z' AND time < '2016-01-01T00:06:00Z'";

fn queries() -> Vec<String> {
    [
        "SELECT * FROM cpu".to_owned(),
        "SELECT usage, n FROM cpu WHERE host = 'a' ORDER BY time DESC LIMIT 2".to_owned(),
        "SELECT usage FROM cpu WHERE usage > 3 GROUP BY host".to_owned(),
        "SELECT mean(usage), sum(n), max(usage) FROM cpu GROUP BY host".to_owned(),
        format!("SELECT max(usage) FROM cpu WHERE {RANGE}"),
        format!("SELECT mean(usage) FROM cpu WHERE {RANGE} GROUP BY time(1m)"),
        format!("SELECT count(usage) FROM cpu WHERE {RANGE} GROUP BY time(1m)"),
        format!("SELECT mean(usage) FROM cpu WHERE {RANGE} GROUP BY time(1m), host fill(previous)"),
        format!("SELECT mean(usage) FROM cpu WHERE {RANGE} GROUP BY time(1m) fill(linear)"),
        format!("SELECT mean(usage) FROM cpu WHERE {RANGE} GROUP BY time(1m) fill(none)"),
        format!("SELECT sum(usage) FROM cpu WHERE {RANGE} GROUP BY time(2m, 1m), host"),
        "SELECT first(usage), last(usage), spread(usage), median(usage), stddev(usage) FROM cpu"
            .to_owned(),
        "SELECT top(usage, 2) FROM cpu".to_owned(),
        "SELECT percentile(usage, 50) FROM cpu".to_owned(),
        "SELECT distinct(region) FROM cpu".to_owned(),
        "SHOW MEASUREMENTS".to_owned(),
        "SHOW TAG KEYS FROM cpu".to_owned(),
        "SHOW TAG VALUES WITH KEY = host".to_owned(),
        "SHOW FIELD KEYS".to_owned(),
        "SHOW SERIES".to_owned(),
    ]
    .into()
}

/// Delete statements run in order after `queries()`, each with the queries whose answers
/// must then match.
fn deletes() -> Vec<(&'static str, Vec<&'static str>)> {
    let checks = vec!["SELECT * FROM cpu", "SHOW SERIES", "SHOW MEASUREMENTS"];
    vec![
        (
            "DELETE FROM cpu WHERE host = 'a' AND time < '2016-01-01T00:02:00Z'",
            checks.clone(),
        ),
        ("DROP SERIES FROM cpu WHERE region = 'eu'", checks.clone()),
        ("DROP SERIES FROM cpu WHERE time > 0", checks.clone()),
        // (A field in DELETE fails on both; InfluxDB prefixes its message with the shard.)
        ("DELETE WHERE host = 'a'", checks.clone()),
        ("DROP MEASUREMENT nope", checks),
    ]
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.0 request (so the answer is never chunked); returns status and body.
fn http(port: u16, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let status = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    Ok((status, body))
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

struct Influxd(Child);

impl Drop for Influxd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn influxql_answers_match_influxdb_1x() {
    let Ok(path) = which_influxd() else {
        println!(
            "SKIPPED influxql_answers_match_influxdb_1x: influxd not on PATH (install the Debian package influxdb)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let rpc = free_port();
    let d = dir.path().display();
    let config = format!(
        "reporting-disabled = true\nbind-address = \"127.0.0.1:{rpc}\"\n[meta]\ndir = \"{d}/meta\"\n[data]\ndir = \"{d}/data\"\nwal-dir = \"{d}/wal\"\nquery-log-enabled = false\n[http]\nbind-address = \"127.0.0.1:{port}\"\nlog-enabled = false\n"
    );
    std::fs::write(dir.path().join("influxdb.conf"), config).unwrap();
    let child = Command::new(path)
        .arg("-config")
        .arg(dir.path().join("influxdb.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _guard = Influxd(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while http(port, "GET", "/ping", "").map(|r| r.0).ok() != Some(204) {
        assert!(Instant::now() < deadline, "influxd did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    http(port, "POST", "/query?q=CREATE%20DATABASE%20db", "").unwrap();
    let (status, body) = http(port, "POST", "/write?db=db", DATA).unwrap();
    assert_eq!(status, 204, "{body}");

    let sluice_dir = tempfile::tempdir().unwrap();
    let storage = common::open(sluice_dir.path()).await;
    common::write(&storage, DATA).await;
    let engine = QueryEngine::new(storage.clone());

    let mut mismatches = Vec::new();
    for q in queries() {
        let (_, theirs) = http(port, "GET", &format!("/query?db=db&q={}", encode(&q)), "").unwrap();
        let ours = v1_json(
            &engine.influxql(Some("db"), &q, None).await.unwrap(),
            Epoch::Rfc3339,
        );
        let a: serde_json::Value = serde_json::from_str(&ours).unwrap();
        let b: serde_json::Value = serde_json::from_str(theirs.trim()).unwrap();
        if a != b {
            mismatches.push(format!(
                "{q}\n  sluice:   {ours}\n  influxdb: {}",
                theirs.trim()
            ));
        }
    }
    // Deletes run on both, then what is left must match.
    for (statement, checks) in deletes() {
        let (status, body) = http(
            port,
            "POST",
            &format!("/query?db=db&q={}", encode(statement)),
            "",
        )
        .unwrap();
        assert_eq!(status, 200, "{statement}: {body}");
        let ours = v1_json(
            &engine.influxql(Some("db"), statement, None).await.unwrap(),
            Epoch::Rfc3339,
        );
        let a: serde_json::Value = serde_json::from_str(&ours).unwrap();
        let b: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
        if a != b {
            mismatches.push(format!(
                "{statement}\n  sluice:   {ours}\n  influxdb: {}",
                body.trim()
            ));
        }
        for q in checks {
            let (_, theirs) =
                http(port, "GET", &format!("/query?db=db&q={}", encode(q)), "").unwrap();
            let ours = v1_json(
                &engine.influxql(Some("db"), q, None).await.unwrap(),
                Epoch::Rfc3339,
            );
            let a: serde_json::Value = serde_json::from_str(&ours).unwrap();
            let b: serde_json::Value = serde_json::from_str(theirs.trim()).unwrap();
            if a != b {
                mismatches.push(format!(
                    "after {statement}: {q}\n  sluice:   {ours}\n  influxdb: {}",
                    theirs.trim()
                ));
            }
        }
    }
    storage.shutdown().await.unwrap();
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

fn which_influxd() -> Result<std::path::PathBuf, ()> {
    let path = std::env::var_os("PATH").ok_or(())?;
    std::env::split_paths(&path)
        .map(|d| d.join("influxd"))
        .find(|p| p.is_file())
        .ok_or(())
}
