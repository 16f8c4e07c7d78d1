//! Query nodes (`sluice serve --mode query`) on a real S3-compatible server (`s3s-fs`,
//! see `common/s3.rs`) with two ingest nodes (`--mode ingest`) writing to the same
//! bucket: the query node answers SQL and InfluxQL over every point the ingest nodes
//! persisted, each once (where both hold a series and time, the node whose id sorts last
//! wins field by field), refuses writes with 403, keeps answering while an ingest node
//! compacts away files it still names and from what it read while the bucket is away,
//! and bad `--mode` values stop the start.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::s3::{ACCESS_KEY, BUCKET, FAST_FAILURE, S3Server, SECRET_KEY, node_options, s3s_fs};
use common::{TestServer, enc, wait_until};
use serde_json::Value;

/// A node in `mode` as `node_id` on the bucket, without authentication.
fn node(s3: &S3Server, data_dir: &Path, node_id: &str, mode: &str, extra: &[&str]) -> TestServer {
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
fn query_node(s3: &S3Server, data_dir: &Path, extra: &[&str]) -> TestServer {
    let mut args = vec!["--query-refresh-interval", "200ms"];
    args.extend_from_slice(extra);
    node(s3, data_dir, "q", "query", &args)
}

fn write(server: &TestServer, body: &str) {
    let reply = server.post("/write?db=db", &[], body.as_bytes());
    assert_eq!(reply.status, 204, "{}", reply.body);
}

/// The rows of a SQL query, as JSON objects.
fn sql(server: &TestServer, q: &str) -> Vec<Value> {
    let reply = server.get(&format!("/api/v3/query_sql?db=db&q={}", enc(q)), &[]);
    assert_eq!(reply.status, 200, "{q}: {}", reply.body);
    reply.json().as_array().unwrap().clone()
}

/// `SELECT count(*)` of `table` on the query node, or `None` while it does not know the
/// database or table yet.
fn visible_rows(server: &TestServer, table: &str) -> Option<u64> {
    let q = format!("SELECT count(*) AS n FROM {table}");
    let reply = server.get(&format!("/api/v3/query_sql?db=db&q={}", enc(&q)), &[]);
    match reply.status {
        200 => reply.json()[0]["n"].as_u64(),
        404 => None,
        status => panic!("{q}: {status} {}", reply.body),
    }
}

/// The values of the first series of an InfluxQL query through `/query`.
fn influxql(server: &TestServer, q: &str) -> Vec<Value> {
    let reply = server.get(&format!("/query?db=db&q={}", enc(q)), &[]);
    assert_eq!(reply.status, 200, "{q}: {}", reply.body);
    let json = reply.json();
    assert!(json["results"][0]["error"].is_null(), "{q}: {json}");
    json["results"][0]["series"][0]["values"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The files and rows the bucket's manifest of `node_id` lists (zero before it has one).
fn published(s3: &S3Server, node_id: &str) -> (usize, u64) {
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
fn cpu(host: &str, from: i64, to: i64, offset: f64, extra: &str) -> String {
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

#[test]
fn a_query_node_returns_every_persisted_point_of_both_ingest_nodes_once() {
    let Some(binary) = s3s_fs() else { return };
    let temp = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(binary, &temp.path().join("s3"));
    let n1 = node(&s3, &temp.path().join("n1"), "n1", "ingest", &[]);
    let n2 = node(&s3, &temp.path().join("n2"), "n2", "ingest", &[]);
    let q = query_node(&s3, &temp.path().join("q"), &[]);

    // Distinct series on each node, and one series both hold at the same times: n1's
    // rows carry a field n2's lack.
    write(&n1, &cpu("a", 0, 100, 0.0, ""));
    write(&n1, &cpu("shared", 0, 10, 1000.0, ",only1=1i"));
    write(&n2, &cpu("b", 0, 100, 0.0, ""));
    write(&n2, &cpu("shared", 0, 10, 2000.0, ""));
    wait_until(
        "both nodes' rows are in the bucket",
        Duration::from_secs(60),
        || published(&s3, "n1").1 == 110 && published(&s3, "n2").1 == 110,
    );
    wait_until(
        "the query node sees every row",
        Duration::from_secs(60),
        || visible_rows(&q, "cpu") == Some(210),
    );

    // Every point once, with its values (read from the data, not from statistics).
    let rows = sql(&q, "SELECT host, v, time FROM cpu ORDER BY host, time");
    assert_eq!(rows.len(), 210);
    let per_host = |host: &str| rows.iter().filter(|r| r["host"] == host).count();
    assert_eq!(
        (per_host("a"), per_host("b"), per_host("shared")),
        (100, 100, 10)
    );
    for host in ["a", "b"] {
        let values: Vec<f64> = rows
            .iter()
            .filter(|r| r["host"] == host)
            .map(|r| r["v"].as_f64().unwrap())
            .collect();
        let expected: Vec<f64> = (0..100).map(f64::from).collect();
        assert_eq!(values, expected, "{host}");
    }
    // The shared series: n2 (the id sorting last) wins each field both have; n1's
    // field n2 lacks is kept.
    let shared = sql(
        &q,
        "SELECT v, only1 FROM cpu WHERE host = 'shared' ORDER BY time",
    );
    assert_eq!(shared.len(), 10);
    for (s, r) in shared.iter().enumerate() {
        assert_eq!(r["v"].as_f64().unwrap(), 2000.0 + s as f64, "{r}");
        assert_eq!(r["only1"], 1, "{r}");
    }

    // InfluxQL over HTTP gives the same answer.
    assert_eq!(influxql(&q, "SELECT count(v) FROM cpu")[0][1], 210);
    let shared = influxql(&q, "SELECT v FROM cpu WHERE host = 'shared'");
    assert_eq!(shared.len(), 10);
    assert!(shared.iter().all(|r| r[1].as_f64().unwrap() >= 2000.0));
    let measurements = influxql(&q, "SHOW MEASUREMENTS");
    assert_eq!(measurements, [serde_json::json!(["cpu"])]);
    let tag_values = influxql(&q, "SHOW TAG VALUES FROM cpu WITH KEY = host");
    assert_eq!(tag_values.len(), 3, "{tag_values:?}");

    // system.nodes lists the query node and the two nodes whose files it reads.
    let nodes = sql(
        &q,
        "SELECT node_id, mode, parquet_files, last_refresh IS NOT NULL AS read \
         FROM system.nodes ORDER BY node_id",
    );
    let summary: Vec<(String, String, bool, bool)> = nodes
        .iter()
        .map(|n| {
            (
                n["node_id"].as_str().unwrap().to_owned(),
                n["mode"].as_str().unwrap().to_owned(),
                n["parquet_files"].as_u64().unwrap() > 0,
                n["read"].as_bool().unwrap(),
            )
        })
        .collect();
    let row = |id: &str, mode: &str, files, read| (id.to_owned(), mode.to_owned(), files, read);
    assert_eq!(
        summary,
        [
            row("n1", "ingest", true, true),
            row("n2", "ingest", true, true),
            row("q", "query", false, false),
        ]
    );

    // Writes to the query node are refused with 403, in each API's shape, saying where
    // to write.
    let v1 = q.post("/write?db=db", &[], b"cpu v=1 1");
    assert_eq!(v1.status, 403, "{}", v1.body);
    let message = v1.json()["error"].as_str().unwrap().to_owned();
    assert!(message.contains("--mode query"), "{message}");
    assert!(message.contains("includes ingest"), "{message}");
    assert!(message.contains("n1, n2"), "{message}");
    let v2 = q.post("/api/v2/write?bucket=db", &[], b"cpu v=1 1");
    assert_eq!(v2.status, 403, "{}", v2.body);
    assert_eq!(v2.json()["code"], "forbidden");
    let v3 = q.post("/api/v3/write_lp?db=db", &[], b"cpu v=1 1");
    assert_eq!(v3.status, 403, "{}", v3.body);
    let create = q.post(
        "/api/v3/configure/database",
        &[("content-type", "application/json")],
        br#"{"db":"other"}"#,
    );
    assert_eq!(create.status, 403, "{}", create.body);
    for statement in [
        "CREATE DATABASE other",
        "DELETE FROM cpu",
        "SELECT v INTO copy FROM cpu",
    ] {
        let reply = q.post(&format!("/query?db=db&q={}", enc(statement)), &[], b"");
        assert_eq!(reply.status, 403, "{statement}: {}", reply.body);
    }
    // Nothing reached the bucket through it.
    assert_eq!(sql(&q, "SELECT count(*) AS n FROM cpu")[0]["n"], 210);

    // An ingest node refuses queries the same way, but lists its databases.
    let refused = n1.get(
        &format!("/api/v3/query_sql?db=db&q={}", enc("SELECT 1")),
        &[],
    );
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(
        refused.body.contains("cannot query this node"),
        "{}",
        refused.body
    );
    let select = n1.get(&format!("/query?db=db&q={}", enc("SELECT v FROM cpu")), &[]);
    assert_eq!(select.status, 403, "{}", select.body);
    let shown = n1.get(&format!("/query?q={}", enc("SHOW DATABASES")), &[]);
    assert_eq!(shown.status, 200, "{}", shown.body);
}

#[test]
fn a_field_typed_differently_on_two_nodes_reads_as_the_type_of_higher_precedence() {
    let Some(binary) = s3s_fs() else { return };
    let temp = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(binary, &temp.path().join("s3"));
    let n1 = node(&s3, &temp.path().join("n1"), "n1", "ingest", &[]);
    let n2 = node(&s3, &temp.path().join("n2"), "n2", "ingest", &[]);
    let q = query_node(&s3, &temp.path().join("q"), &[]);
    // `v` is an integer on n1 and a float on n2; `w` is a float on both.
    write(&n1, "m,host=a v=1i,w=10 1000000000\n");
    write(&n2, "m,host=b v=2.5,w=20 2000000000\n");
    wait_until(
        "both nodes' rows are in the bucket",
        Duration::from_secs(60),
        || published(&s3, "n1").1 == 1 && published(&s3, "n2").1 == 1,
    );
    wait_until(
        "the query node sees both rows",
        Duration::from_secs(60),
        || visible_rows(&q, "m") == Some(2),
    );
    // Float wins over integer; n1's integer values read as null.
    let rows = sql(&q, "SELECT host, v, w FROM m ORDER BY host");
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows[0]["v"].is_null(), "{rows:?}");
    assert_eq!(rows[0]["w"], 10.0);
    assert_eq!(rows[1]["v"], 2.5);
    let fields = influxql(&q, "SHOW FIELD KEYS FROM m");
    assert!(
        fields.contains(&serde_json::json!(["v", "float"])),
        "{fields:?}"
    );
    // InfluxQL leaves out rows whose selected fields are all null, as for any field.
    let values = influxql(&q, "SELECT v FROM m");
    assert_eq!(values, [serde_json::json!(["1970-01-01T00:00:02Z", 2.5])]);
    assert_eq!(influxql(&q, "SELECT count(w) FROM m")[0][1], 2);
}

#[test]
fn a_query_node_answers_while_an_ingest_node_compacts_away_the_files_it_names() {
    let Some(binary) = s3s_fs() else { return };
    let temp = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(binary, &temp.path().join("s3"));
    let n1 = node(&s3, &temp.path().join("n1"), "n1", "ingest", &[]);
    // Eight files of one partition: one more and n1 compacts them.
    let batch = 20;
    for i in 0..8 {
        write(&n1, &cpu("a", i * batch, (i + 1) * batch, 0.0, ""));
        let files = (i + 1) as usize;
        wait_until(
            "the batch is a file in the bucket",
            Duration::from_secs(60),
            || published(&s3, "n1").0 == files,
        );
    }
    // A query node that reads the bucket once at start (an hour is longer than this
    // test) and fetches every file from the bucket (no file cache): only a missing file
    // makes it read again.
    let q = node(
        &s3,
        &temp.path().join("q"),
        "q",
        "query",
        &[
            "--query-refresh-interval",
            "1h",
            "--object-store-cache-bytes",
            "0",
        ],
    );
    let rows = |q: &TestServer| sql(q, "SELECT host, v, time FROM cpu ORDER BY time");
    assert_eq!(rows(&q).len(), 8 * batch as usize);

    // The ninth file makes n1 compact the nine into one and delete the eight the query
    // node still names.
    write(&n1, &cpu("a", 8 * batch, 9 * batch, 0.0, ""));
    wait_until("n1 compacted its files", Duration::from_secs(60), || {
        let (files, rows) = published(&s3, "n1");
        files < 9 && rows == 9 * batch as u64 && s3.parquet_files() == files
    });
    // The query finds a file gone, reads n1's new manifest and answers from it: every
    // row once, none missing.
    let after = rows(&q);
    assert_eq!(after.len(), 9 * batch as usize);
    for (i, r) in after.iter().enumerate() {
        assert_eq!(r["v"].as_f64().unwrap(), i as f64, "{r}");
    }
    assert_eq!(influxql(&q, "SELECT count(v) FROM cpu")[0][1], 9 * batch);

    // A node id that ingested cannot become a query node: its rows would be read by
    // nobody.
    drop(n1);
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["serve", "--bind", "127.0.0.1:0", "--without-auth"])
        .arg("--data-dir")
        .arg(temp.path().join("n1"))
        .args([
            "--mode",
            "query",
            "--object-store",
            "s3",
            "--bucket",
            BUCKET,
        ])
        .args(["--node-id", "n1", "--aws-allow-http"])
        .args(["--aws-endpoint", &s3.endpoint()])
        .args(["--aws-access-key-id", ACCESS_KEY])
        .args(["--aws-secret-access-key", SECRET_KEY])
        .env_clear()
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("node n1 holds rows it ingested"),
        "{stderr}"
    );
}

#[test]
fn a_query_node_that_cannot_read_the_bucket_says_so_and_answers_from_what_it_read() {
    let Some(binary) = s3s_fs() else { return };
    let temp = tempfile::tempdir().unwrap();
    let mut s3 = S3Server::start(binary, &temp.path().join("s3"));
    let n1 = node(&s3, &temp.path().join("n1"), "n1", "ingest", &[]);
    let q = query_node(
        &s3,
        &temp.path().join("q"),
        &["--object-store-max-retries", "0"],
    );
    let health = |server: &TestServer| {
        let reply = server.get("/health", &[]);
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.json()
    };
    assert_eq!(health(&n1)["message"], "ready for writes (--mode ingest)");
    assert_eq!(health(&q)["message"], "ready for queries (--mode query)");
    write(&n1, &cpu("a", 0, 10, 0.0, ""));
    wait_until(
        "the query node sees the rows",
        Duration::from_secs(60),
        || visible_rows(&q, "cpu") == Some(10),
    );
    // Read once, so the file is in the query node's cache.
    let select = "SELECT v FROM cpu ORDER BY time";
    assert_eq!(sql(&q, select).len(), 10);

    s3.stop();
    wait_until(
        "the query node reports the bucket unreadable",
        Duration::from_secs(60),
        || {
            let json = health(&q);
            json["status"] == "pass"
                && json["message"].as_str().unwrap().starts_with("degraded:")
                && json["checks"][0]["name"] == "storage.peers"
        },
    );
    assert_eq!(sql(&q, select).len(), 10);

    s3.resume();
    wait_until(
        "the query node reads the bucket again",
        Duration::from_secs(60),
        || health(&q)["message"] == "ready for queries (--mode query)",
    );
}

/// Writes batches of `cpu,host={host}` lines, second after second, to whichever address
/// `address` holds, until `stop` is set; a batch that is not acknowledged (the node is
/// down, the request failed) is sent again until it is, so every batch it counts was
/// acknowledged once and sent at most a few times (the same points: a resend overwrites).
/// Returns how many batches were acknowledged.
fn writer(
    host: &'static str,
    address: Arc<Mutex<String>>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<i64> {
    std::thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let mut batches = 0;
        while !stop.load(Ordering::Relaxed) {
            let from = batches * E2E_BATCH;
            let body = cpu(host, from, from + E2E_BATCH, 0.0, "");
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                let url = format!("http://{}/write?db=db", address.lock().unwrap());
                match agent.post(&url).send(body.as_bytes()) {
                    Ok(reply) if reply.status() == 204 => break,
                    Ok(reply) => assert!(
                        reply.status() == 503,
                        "{host}: a write got {}",
                        reply.status()
                    ),
                    Err(_) => {} // the node is down: try again
                }
                assert!(
                    Instant::now() < deadline,
                    "{host}: a batch was never acknowledged"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            batches += 1;
            std::thread::sleep(Duration::from_millis(50));
        }
        batches
    })
}

/// Lines per batch of [`writer`].
const E2E_BATCH: i64 = 100;

/// Two ingest nodes take writes while one of them is killed (`kill -9`) and restarted and
/// the bucket is away for 30 s; the query node then returns every acknowledged point
/// exactly once, with its value.
#[test]
fn every_point_acknowledged_through_a_crash_and_a_store_outage_reads_back_once_from_the_query_node()
{
    let Some(binary) = s3s_fs() else { return };
    let temp = tempfile::tempdir().unwrap();
    let mut s3 = S3Server::start(binary, &temp.path().join("s3"));
    // Requests to a store that is away fail within seconds, so persistence retries
    // during the outage instead of hanging in one request.
    let fast_failure = FAST_FAILURE;
    let n1_dir = temp.path().join("n1");
    let mut n1 = node(&s3, &n1_dir, "n1", "ingest", &fast_failure);
    let n2 = node(&s3, &temp.path().join("n2"), "n2", "ingest", &fast_failure);
    let q = query_node(&s3, &temp.path().join("q"), &[]);

    let stop = Arc::new(AtomicBool::new(false));
    let n1_address = Arc::new(Mutex::new(n1.address.clone()));
    let w1 = writer("w1", n1_address.clone(), stop.clone());
    let w2 = writer("w2", Arc::new(Mutex::new(n2.address.clone())), stop.clone());

    // kill -9 of n1 mid-load, and a restart on its disk.
    std::thread::sleep(Duration::from_secs(3));
    drop(n1);
    std::thread::sleep(Duration::from_millis(500));
    n1 = node(&s3, &n1_dir, "n1", "ingest", &fast_failure);
    *n1_address.lock().unwrap() = n1.address.clone();
    std::thread::sleep(Duration::from_secs(3));

    // The store goes away for 30 s mid-load: the ingest nodes keep acknowledging.
    s3.stop();
    std::thread::sleep(Duration::from_secs(30));
    s3.resume();
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    let (b1, b2) = (w1.join().unwrap(), w2.join().unwrap());
    assert!(b1 > 10 && b2 > 10, "the load ran ({b1}, {b2} batches)");

    let expected = ((b1 + b2) * E2E_BATCH) as u64;
    wait_until(
        "the query node sees every acknowledged point",
        Duration::from_secs(120),
        || visible_rows(&q, "cpu").is_some_and(|n| n >= expected),
    );
    // Each host: every second once, none beyond what was acknowledged, with its value.
    for (host, batches) in [("w1", b1), ("w2", b2)] {
        let rows = sql(
            &q,
            &format!(
                "SELECT count(*) AS n, count(DISTINCT time) AS distinct_times, \
                 sum(v) AS total, max(v) AS last FROM cpu WHERE host = '{host}'"
            ),
        );
        let points = batches * E2E_BATCH;
        let sum: i64 = (0..points).sum();
        assert_eq!(rows[0]["n"], points, "{host}: {}", rows[0]);
        assert_eq!(rows[0]["distinct_times"], points, "{host}: {}", rows[0]);
        assert_eq!(rows[0]["total"].as_f64().unwrap(), sum as f64, "{host}");
        assert_eq!(
            rows[0]["last"].as_f64().unwrap(),
            (points - 1) as f64,
            "{host}"
        );
    }
    assert_eq!(visible_rows(&q, "cpu"), Some(expected));
    drop(n1);
}

/// Starts `sluice serve` with `args`, expecting it to refuse; its exit code and stderr.
fn refused(data_dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["serve", "--bind", "127.0.0.1:0", "--without-auth"])
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_clear()
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn bad_modes_stop_the_start_with_a_clear_error() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    for (args, expected) in [
        (&["--mode", "compact"][..], "compact is not available yet"),
        (
            &["--mode", "ingest,compact"][..],
            "each ingest node compacts its own files",
        ),
        (&["--mode", "process"][..], "unknown mode \"process\""),
        (&["--mode", "all,query"][..], "give it alone"),
        (&["--mode", ""][..], "no mode given"),
        (
            &["--mode", "query"][..],
            "needs --object-store s3, google or azure",
        ),
        (
            &["--mode", "query", "--query-refresh-interval", "0"][..],
            "needs --object-store",
        ),
    ] {
        let (code, stderr) = refused(&dir, args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    let mut env = Command::new(env!("CARGO_BIN_EXE_sluice"));
    let output = env
        .args(["serve", "--bind", "127.0.0.1:0", "--without-auth"])
        .arg("--data-dir")
        .arg(&dir)
        .env_clear()
        .env("SLUICE_MODE", "compact")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("compact is not available yet"));
}
