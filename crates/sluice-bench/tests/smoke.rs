//! End-to-end smoke test: `sluice-bench generate` → `sluice-bench load` / `query` against an
//! in-process axum server that parses and counts what it receives.

use std::io::Read as _;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use sluice_lp::{ParseOptions, Parser};

#[derive(Debug, Default)]
struct Counts {
    requests: AtomicU64,
    lines: AtomicU64,
    values: AtomicU64,
    queries: Mutex<Vec<(String, String)>>,
}

async fn write(
    State(counts): State<Arc<Counts>>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let db = params
        .iter()
        .find(|(k, _)| k == "db" || k == "bucket")
        .map(|(_, v)| v.as_str());
    if db == Some("refuse") {
        return StatusCode::BAD_REQUEST;
    }
    let body = if headers.get("content-encoding").is_some_and(|v| v == "gzip") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        body.to_vec()
    };
    let (mut lines, mut values) = (0, 0);
    for line in Parser::new(&body, ParseOptions::default()) {
        let Ok(line) = line else {
            return StatusCode::BAD_REQUEST;
        };
        lines += 1;
        values += line.fields.len() as u64;
    }
    counts.requests.fetch_add(1, Ordering::Relaxed);
    counts.lines.fetch_add(lines, Ordering::Relaxed);
    counts.values.fetch_add(values, Ordering::Relaxed);
    StatusCode::NO_CONTENT
}

async fn query(
    State(counts): State<Arc<Counts>>,
    Query(params): Query<Vec<(String, String)>>,
) -> String {
    let get = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    counts.queries.lock().unwrap().push((get("db"), get("q")));
    r#"{"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","max"],"values":[[0,1],[1,2]]}]}]}"#.to_owned()
}

/// An axum server on a port of its own, on a runtime of its own, for the test's lifetime.
struct TestServer {
    addr: SocketAddr,
    counts: Arc<Counts>,
    _runtime: tokio::runtime::Runtime,
}

impl TestServer {
    fn spawn() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let counts = Arc::new(Counts::default());
        let app = Router::new()
            .route("/write", post(write))
            .route("/api/v2/write", post(write))
            .route("/api/v3/write_lp", post(write))
            .route("/query", get(query))
            .with_state(counts.clone());
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            addr,
            counts,
            _runtime: runtime,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn bench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sluice-bench"))
}

fn generate(dir: &std::path::Path, name: &str, args: &[&str]) -> std::path::PathBuf {
    let path = dir.join(name);
    let out = bench()
        .args(["generate", "--output"])
        .arg(&path)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

fn load(server: &TestServer, file: &std::path::Path, args: &[&str]) -> (i32, serde_json::Value) {
    let out = bench()
        .arg("load")
        .arg(file)
        .args(["--url", &server.url(), "--output", "json"])
        .args(args)
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), report)
}

#[test]
fn generated_lines_all_reach_the_server_and_are_counted_by_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::spawn();
    let file = generate(dir.path(), "cpu.lp", &["--hosts", "10", "--steps", "200"]);
    let (code, report) = load(
        &server,
        &file,
        &["--batch-lines", "333", "--connections", "3"],
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["lines"], 2000);
    assert_eq!(report["values"], 20_000);
    assert_eq!(report["requests"], 7); // ceil(2000 / 333)
    assert_eq!(report["requests_failed"], 0);
    assert_eq!(report["latency"]["count"], 7);
    assert_eq!(server.counts.lines.load(Ordering::Relaxed), 2000);
    assert_eq!(server.counts.values.load(Ordering::Relaxed), 20_000);
    assert_eq!(server.counts.requests.load(Ordering::Relaxed), 7);
}

#[test]
fn every_write_api_with_gzip_delivers_the_iot_data_set() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::spawn();
    let file = generate(
        dir.path(),
        "iot.lp.gz",
        &[
            "--use-case",
            "iot",
            "--hosts",
            "5",
            "--steps",
            "100",
            "--gzip",
        ],
    );
    let mut expected_values = 0;
    for (i, endpoint) in ["v1", "v2", "v3"].into_iter().enumerate() {
        let (code, report) = load(
            &server,
            &file,
            &[
                "--endpoint",
                endpoint,
                "--gzip",
                "--batch-lines",
                "64",
                "--token",
                "t",
            ],
        );
        assert_eq!(code, 0, "{report}");
        assert_eq!(report["lines"], 1000, "{endpoint}");
        assert!(report["gzip"].as_bool().unwrap());
        expected_values += report["values"].as_u64().unwrap();
        assert_eq!(
            server.counts.lines.load(Ordering::Relaxed),
            1000 * (i as u64 + 1)
        );
        assert_eq!(
            server.counts.values.load(Ordering::Relaxed),
            expected_values
        );
    }
}

#[test]
fn refused_requests_are_reported_by_status_and_fail_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::spawn();
    let file = generate(dir.path(), "cpu.lp", &["--hosts", "2", "--steps", "50"]);
    let (code, report) = load(&server, &file, &["--db", "refuse", "--batch-lines", "10"]);
    assert_eq!(code, 1);
    assert_eq!(report["requests_failed"], 10);
    assert_eq!(report["lines"], 0);
    assert_eq!(report["lines_failed"], 100);
    assert_eq!(report["errors"]["400"], 10);
    assert!(
        report["first_error"]
            .as_str()
            .unwrap()
            .starts_with("status 400")
    );
}

#[test]
fn a_server_that_is_not_there_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = generate(dir.path(), "cpu.lp", &["--hosts", "1", "--steps", "1"]);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let out = bench()
        .arg("load")
        .arg(&file)
        .args(["--url", &url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("error: i/o error"));
}

#[test]
fn query_driver_sends_each_kind_and_counts_rows() {
    let server = TestServer::spawn();
    let out = bench()
        .args([
            "query",
            "--url",
            &server.url(),
            "--db",
            "metrics",
            "--iterations",
            "3",
        ])
        .args(["--hosts", "10", "--steps", "8640", "--output", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds = report["kinds"].as_array().unwrap();
    // TSBS's 15 cpu-only kinds and grafana-rate, three of each, in report order.
    assert_eq!(kinds.len(), 16);
    for kind in kinds {
        assert_eq!(kind["ok"], 3);
        assert_eq!(kind["rows"], 6);
        assert_eq!(kind["digest"].as_str().unwrap().len(), 16);
    }
    let queries = server.counts.queries.lock().unwrap();
    assert_eq!(queries.len(), 48);
    assert!(queries.iter().all(|(db, _)| db == "metrics"));
    // cpu-max-all-8: every metric's max over 8 of the 10 hosts.
    assert_eq!(kinds[1]["query"], "cpu-max-all-8");
    assert!(
        queries[3]
            .1
            .starts_with("SELECT max(usage_user), max(usage_system)")
    );
    assert_eq!(queries[3].1.matches("hostname = 'host_").count(), 8);
    // single-groupby-1-1-1: one metric, one host.
    assert_eq!(kinds[9]["query"], "single-groupby-1-1-1");
    assert!(
        queries[27]
            .1
            .starts_with("SELECT max(usage_user) FROM cpu WHERE (hostname = 'host_")
    );
}
