//! Ingest and query nodes of `sluice serve` on one bucket of the S3 server of
//! [`super::s3`], and what a query node answers.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::s3::{BUCKET, S3Server, node_options};
use super::{TestServer, enc, metric_starting};

/// A node in `mode` as `node_id` on the bucket, without authentication.
pub fn node(
    s3: &S3Server,
    data_dir: &Path,
    node_id: &str,
    mode: &str,
    extra: &[&str],
) -> TestServer {
    let mut options = node_options(s3, data_dir, node_id)
        .arg("--without-auth")
        .arg("--mode")
        .arg(mode);
    for arg in extra {
        options = options.arg(arg);
    }
    TestServer::start(options)
}

/// A query node that reads the bucket every 200 ms.
pub fn query_node(s3: &S3Server, data_dir: &Path, extra: &[&str]) -> TestServer {
    let mut args = vec!["--query-refresh-interval", "200ms"];
    args.extend_from_slice(extra);
    node(s3, data_dir, "q", "query", &args)
}

/// An ingest node as `node_id` that keeps what it is written in memory for an hour
/// (nothing is persisted unless `persist_buffer_bytes` is reached), with `extra`.
pub fn buffering_node(
    s3: &S3Server,
    data_dir: &Path,
    node_id: &str,
    persist_buffer_bytes: &str,
    extra: &[&str],
) -> TestServer {
    let mut options = node_options(s3, data_dir, node_id);
    let at = options
        .args
        .iter()
        .position(|a| a == "--persist-buffer-bytes")
        .unwrap();
    options.args[at + 1] = persist_buffer_bytes.to_owned();
    for arg in ["--mode", "ingest", "--persist-interval", "1h"]
        .iter()
        .chain(extra)
    {
        options = options.arg(arg);
    }
    TestServer::start(options)
}

/// The rows of a SQL query, as JSON objects.
pub fn sql(server: &TestServer, q: &str) -> Vec<Value> {
    let reply = server.get(&format!("/api/v3/query_sql?db=db&q={}", enc(q)), &[]);
    assert_eq!(reply.status, 200, "{q}: {}", reply.body);
    reply.json().as_array().unwrap().clone()
}

/// `SELECT count(*)` of `table` on the query node, or `None` while it does not know the
/// database or table yet.
pub fn visible_rows(server: &TestServer, table: &str) -> Option<u64> {
    let q = format!("SELECT count(*) AS n FROM {table}");
    let reply = server.get(&format!("/api/v3/query_sql?db=db&q={}", enc(&q)), &[]);
    match reply.status {
        200 => reply.json()[0]["n"].as_u64(),
        404 => None,
        // The planner's word for a table the catalog does not have yet.
        400 if reply.body.contains("not found") => None,
        // A file a node's published manifest still named was compacted away: the node
        // publishes again within seconds.
        503 => None,
        status => panic!("{q}: {status} {}", reply.body),
    }
}

/// Count, distinct times, sum and max of `v` of `host` on `server` (SQL).
pub fn host_summary(server: &TestServer, table: &str, host: &str) -> (u64, u64, f64, f64) {
    let rows = sql(
        server,
        &format!(
            "SELECT count(*) AS n, count(DISTINCT time) AS distinct_times, \
             sum(v) AS total, max(v) AS last FROM {table} WHERE host = '{host}'"
        ),
    );
    let r = &rows[0];
    (
        r["n"].as_u64().unwrap(),
        r["distinct_times"].as_u64().unwrap(),
        r["total"].as_f64().unwrap_or(0.0),
        r["last"].as_f64().unwrap_or(-1.0),
    )
}

/// Asserts that the query node `q`'s `/health` says it is ready, nothing degraded.
pub fn assert_ready_for_queries(q: &TestServer) {
    let health = q.get("/health", &[]).json();
    assert_eq!(
        health["message"], "ready for queries (--mode query)",
        "{health}"
    );
}

/// Asserts that `q` counted an ingest peer's failure and that its `/health` passes but
/// says degraded for its ingest peers (`storage.ingest_peers`); the check's message.
pub fn ingest_peers_degraded(q: &TestServer) -> String {
    let json = q.get("/health", &[]).json();
    assert_eq!(json["status"], "pass", "{json}");
    assert!(
        json["message"].as_str().unwrap().starts_with("degraded:"),
        "{json}"
    );
    let check = &json["checks"][0];
    assert_eq!(check["name"], "storage.ingest_peers", "{json}");
    let failures = metric_starting(q, "sluice_ingest_peer_failures_total ");
    assert!(failures >= 1.0, "{failures}");
    check["message"].as_str().unwrap().to_owned()
}

/// The files and rows the bucket's manifest of `node_id` lists (zero before it has one).
pub fn published(s3: &S3Server, node_id: &str) -> (usize, u64) {
    let path = s3.root.join(BUCKET).join(node_id).join("manifest.json");
    let Ok(bytes) = std::fs::read(path) else {
        return (0, 0);
    };
    let manifest: Value = serde_json::from_slice(&bytes).unwrap();
    let files = manifest["files"].as_array().unwrap();
    let rows = files.iter().map(|f| f["rows"].as_u64().unwrap()).sum();
    (files.len(), rows)
}

/// Lines of `cpu,host={host}` at seconds `from..to` with `v` = the second plus `offset`.
pub fn cpu(host: &str, from: i64, to: i64, offset: f64, extra: &str) -> String {
    (from..to)
        .map(|s| {
            format!(
                "cpu,host={host} v={}{extra} {}\n",
                s as f64 + offset,
                s * 1_000_000_000
            )
        })
        .collect()
}

/// Starts `sluice serve` with `args`, expecting it to refuse; its exit code and stderr.
pub fn refused(data_dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    refused_with_env(data_dir, args, &[])
}

/// [`refused`] with the environment variables `env` (the environment is otherwise empty).
pub fn refused_with_env(
    data_dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["serve", "--bind", "127.0.0.1:0", "--without-auth"])
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
