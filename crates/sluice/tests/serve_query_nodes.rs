//! Query nodes (`sluice serve --mode query`) on a real S3-compatible server (`s3s-fs`,
//! see `common/s3.rs`) with two ingest nodes (`--mode ingest`) writing to the same
//! bucket: the query node answers SQL and InfluxQL over every point the ingest nodes
//! persisted, each once (where both hold a series and time, the node whose id sorts last
//! wins field by field), refuses writes with 403, keeps answering while an ingest node
//! compacts away files it still names and from what it read while the bucket is away,
//! and bad `--mode` values stop the start.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::nodes::{
    assert_ready_for_queries, buffering_node, cpu, host_summary, ingest_peers_degraded, node,
    published, query_node, refused, sql, visible_rows,
};
use common::s3::{
    ACCESS_KEY, BUCKET, FAST_FAILURE, S3Server, SECRET_KEY, UNREACHED_QUERY_NODE, node_options,
    s3s_fs,
};
use common::{TestServer, enc, free_port, wait_until};
use serde_json::Value;

fn write(server: &TestServer, body: &str) {
    let reply = server.post("/write?db=db", &[], body.as_bytes());
    assert_eq!(reply.status, 204, "{}", reply.body);
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

/// Distinct series on each node (`a` on n1, `b` on n2, 100 points each), and one series
/// both hold at the same times (`shared`, 10 points): n1's rows carry a field n2's lack.
fn write_distinct_and_shared(n1: &TestServer, n2: &TestServer) {
    write(n1, &cpu("a", 0, 100, 0.0, ""));
    write(n1, &cpu("shared", 0, 10, 1000.0, ",only1=1i"));
    write(n2, &cpu("b", 0, 100, 0.0, ""));
    write(n2, &cpu("shared", 0, 10, 2000.0, ""));
}

/// The series of [`write_distinct_and_shared`] both nodes hold: n2 (the id sorting last)
/// wins each field both have; n1's field n2 lacks is kept (SQL and InfluxQL).
fn assert_the_shared_series_is_n2s_with_n1s_field(q: &TestServer) {
    let shared = sql(
        q,
        "SELECT v, only1 FROM cpu WHERE host = 'shared' ORDER BY time",
    );
    assert_eq!(shared.len(), 10);
    for (s, r) in shared.iter().enumerate() {
        assert_eq!(r["v"].as_f64().unwrap(), 2000.0 + s as f64, "{r}");
        assert_eq!(r["only1"], 1, "{r}");
    }
    let shared = influxql(q, "SELECT v FROM cpu WHERE host = 'shared'");
    assert_eq!(shared.len(), 10);
    assert!(shared.iter().all(|r| r[1].as_f64().unwrap() >= 2000.0));
}

#[test]
fn a_query_node_returns_every_persisted_point_of_both_ingest_nodes_once() {
    let Some(binary) = s3s_fs() else { return };
    let temp = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(binary, &temp.path().join("s3"));
    let n1 = node(&s3, &temp.path().join("n1"), "n1", "ingest", &[]);
    let n2 = node(&s3, &temp.path().join("n2"), "n2", "ingest", &[]);
    let q = query_node(&s3, &temp.path().join("q"), &[]);

    write_distinct_and_shared(&n1, &n2);
    wait_until(
        "both nodes' rows are in the bucket",
        Duration::from_secs(60),
        || published(&s3, "n1").1 == 110 && published(&s3, "n2").1 == 110,
    );
    // 210 rows are also what a copy of n2's manifest without its `shared` file gives.
    wait_until(
        "the query node sees every row",
        Duration::from_secs(60),
        || visible_rows(&q, "cpu") == Some(210) && host_summary(&q, "cpu", "shared").3 >= 2000.0,
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
    assert_the_shared_series_is_n2s_with_n1s_field(&q);

    // InfluxQL over HTTP gives the same answer.
    assert_eq!(influxql(&q, "SELECT count(v) FROM cpu")[0][1], 210);
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

/// The error of a write `server` refuses (400, a partial write).
fn refused_write(server: &TestServer, body: &str) -> String {
    let reply = server.post("/write?db=db", &[], body.as_bytes());
    assert_eq!(reply.status, 400, "{body}: {}", reply.body);
    reply.json()["error"].as_str().unwrap().to_owned()
}

/// Two ingest nodes agree on a new column's type through the bucket: the first to claim
/// it wins, and the other's lines of another type are rejected with the usual conflict
/// error; the query node reads every accepted row with that one type.
#[test]
fn a_column_two_nodes_type_differently_gets_the_first_claims_type_and_the_other_lines_rejected() {
    let Some(binary) = s3s_fs() else { return };
    let temp = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(binary, &temp.path().join("s3"));
    let n1 = node(&s3, &temp.path().join("n1"), "n1", "ingest", &[]);
    let n2 = node(&s3, &temp.path().join("n2"), "n2", "ingest", &[]);
    let q = query_node(&s3, &temp.path().join("q"), &[]);
    // `v` is claimed an integer by n1; n2's float lines of it are refused, the rest kept.
    write(&n1, "m,host=a v=1i,w=10 1000000000\n");
    let error = refused_write(
        &n2,
        "m,host=b v=2.5,w=20 2000000000\nm,host=b v=3i,w=30 3000000000\n",
    );
    assert!(error.contains("line 1: field type conflict"), "{error}");
    assert!(error.contains("integer"), "{error}");
    assert!(error.ends_with("dropped=1"), "{error}");
    // A tag on one node is a tag on the other: a field of that name is refused.
    write(&n1, "t,k=x f=1 1000000000\n");
    let error = refused_write(&n2, "t k=\"s\",f=2 2000000000\n");
    assert!(error.contains("tag/field conflict"), "{error}");
    // The claim holds after a restart of n2 on an empty disk too (nothing of it is local).
    wait_until("n2's row is in the bucket", Duration::from_secs(60), || {
        published(&s3, "n2").1 == 1
    });
    drop(n2);
    let n2 = node(&s3, &temp.path().join("n2-again"), "n2", "ingest", &[]);
    let error = refused_write(&n2, "m,host=c v=4.5 4000000000\n");
    assert!(error.contains("field type conflict"), "{error}");
    wait_until(
        "both nodes' rows are in the bucket",
        Duration::from_secs(60),
        || published(&s3, "n1").1 == 2 && published(&s3, "n2").1 == 1,
    );
    wait_until(
        "the query node sees both nodes' rows",
        Duration::from_secs(60),
        || visible_rows(&q, "m") == Some(2),
    );
    let rows = sql(&q, "SELECT host, v, w FROM m ORDER BY host");
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        (rows[0]["v"].as_i64(), rows[1]["v"].as_i64()),
        (Some(1), Some(3))
    );
    assert_eq!(
        (rows[0]["w"].as_f64(), rows[1]["w"].as_f64()),
        (Some(10.0), Some(30.0))
    );
    let fields = influxql(&q, "SHOW FIELD KEYS FROM m");
    assert!(
        fields.contains(&serde_json::json!(["v", "integer"])),
        "{fields:?}"
    );
    // The claims are in the bucket for anyone to read.
    let claim =
        std::fs::read_to_string(s3.root.join(BUCKET).join("_shared/columns/db/m/v")).unwrap();
    assert!(claim.contains(r#""node_id":"n1""#), "{claim}");
}

/// A node that drops a table or database forgets its claims, in the bucket too: created
/// again there, its columns may take other types, as on a node without a bucket.
#[test]
fn a_table_or_database_dropped_and_created_again_may_type_its_columns_anew() {
    let Some(binary) = s3s_fs() else { return };
    let temp = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(binary, &temp.path().join("s3"));
    let n1 = node(&s3, &temp.path().join("n1"), "n1", "all", &[]);
    let statement = |q: &str| {
        let reply = n1.post(&format!("/query?db=db&q={}", enc(q)), &[], b"");
        assert_eq!(reply.status, 200, "{q}: {}", reply.body);
    };
    let claim = |table: &str, column: &str| {
        std::fs::read_to_string(
            s3.root
                .join(BUCKET)
                .join(format!("_shared/columns/db/{table}/{column}")),
        )
        .ok()
    };
    write(&n1, "t f=1i 1000000000\n");
    assert!(refused_write(&n1, "t f=1.5 2000000000\n").contains("field type conflict"));
    statement("DROP MEASUREMENT t");
    assert_eq!(claim("t", "f"), None);
    write(&n1, "t f=1.5 3000000000\n");
    assert!(claim("t", "f").unwrap().contains("float"));

    write(&n1, "m v=1i 1000000000\n");
    statement("DROP DATABASE db");
    assert_eq!((claim("m", "v"), claim("t", "f")), (None, None));
    write(&n1, "m v=2.5 2000000000\n");
    assert!(claim("m", "v").unwrap().contains("float"));
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

/// The object paths node `node_id`'s manifest in the bucket names.
fn published_paths(s3: &S3Server, node_id: &str) -> Vec<String> {
    let path = s3.root.join(BUCKET).join(node_id).join("manifest.json");
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    let manifest: Value = serde_json::from_slice(&bytes).unwrap();
    manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_owned())
        .collect()
}

/// The compaction requests waiting in the bucket for node `node_id`.
fn waiting_requests(s3: &S3Server, node_id: &str) -> usize {
    let dir = s3
        .root
        .join(BUCKET)
        .join("_shared/compactions")
        .join(node_id);
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .count()
    })
}

/// Whether node `node_id`'s manifest in the bucket names files the compactor `c` wrote,
/// holds `rows` rows in fewer than `under` files, no request waits for it, and the
/// bucket holds no Parquet file that no manifest names.
fn compacted_by_c(s3: &S3Server, node_id: &str, rows: u64, under: usize) -> bool {
    let paths = published_paths(s3, node_id);
    let (files, published_rows) = published(s3, node_id);
    let adopted = paths
        .iter()
        .any(|p| p.starts_with(&format!("c/compacted/{node_id}/")));
    adopted && files < under && published_rows == rows && waiting_requests(s3, node_id) == 0
}

#[test]
fn a_compactor_merges_both_ingest_nodes_files_which_they_adopt_and_queries_read_once() {
    let Some(binary) = s3s_fs() else { return };
    let temp = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(binary, &temp.path().join("s3"));
    let check = ["--compaction-check-interval", "200ms"];
    let compactor =
        |temp: &tempfile::TempDir| node(&s3, &temp.path().join("c"), "c", "compact", &check);
    let c = compactor(&temp);
    let n1 = node(&s3, &temp.path().join("n1"), "n1", "ingest", &check);
    let n2 = node(&s3, &temp.path().join("n2"), "n2", "ingest", &check);
    // Twelve files on each node, more than the eight a partition may have: each
    // write is persisted as a file of its own.
    let batch = 20;
    for i in 0..12 {
        write(&n1, &cpu("a", i * batch, (i + 1) * batch, 0.0, ""));
        write(&n2, &cpu("b", i * batch, (i + 1) * batch, 0.0, ""));
        let rows = (i + 1) as u64 * batch as u64;
        wait_until("both batches are in files", Duration::from_secs(60), || {
            published(&s3, "n1").1 == rows && published(&s3, "n2").1 == rows
        });
    }
    write(&n1, &cpu("shared", 0, 10, 1000.0, ",only1=1i"));
    write(&n2, &cpu("shared", 0, 10, 2000.0, ""));
    let rows = 12 * batch as u64 + 10;
    wait_until(
        "the compactor merged both nodes' files and they adopted them",
        Duration::from_secs(60),
        || {
            compacted_by_c(&s3, "n1", rows, 8)
                && compacted_by_c(&s3, "n2", rows, 8)
                && s3.parquet_files() == published(&s3, "n1").0 + published(&s3, "n2").0
        },
    );
    // The compactor answers neither writes nor queries.
    let write_refused = c.post("/write?db=db", &[], b"cpu v=1 1");
    assert_eq!(write_refused.status, 403, "{}", write_refused.body);
    let health = c.get("/health", &[]).json();
    assert_eq!(health["status"], "pass", "{health}");

    let q = query_node(&s3, &temp.path().join("q"), &[]);
    let every_row_once = |q: &TestServer| {
        wait_until(
            "the query node sees every row",
            Duration::from_secs(60),
            || visible_rows(q, "cpu") == Some(2 * rows - 10),
        );
        for host in ["a", "b"] {
            let n = 12 * batch as u64;
            let sum = (0..n).sum::<u64>() as f64;
            assert_eq!(
                host_summary(q, "cpu", host),
                (n, n, sum, (n - 1) as f64),
                "{host}"
            );
        }
        assert_the_shared_series_is_n2s_with_n1s_field(q);
    };
    every_row_once(&q);

    // A compactor restarted finds nothing of its own to delete: every output it wrote
    // was adopted.
    let files = s3.parquet_files();
    drop(c);
    let c = compactor(&temp);
    wait_until("the compactor is up", Duration::from_secs(10), || {
        c.get("/health", &[]).status == 200
    });
    assert_eq!(s3.parquet_files(), files);
    every_row_once(&q);

    // Without a compactor, n1 compacts its files again after three check intervals,
    // the compactor's outputs among them, and deletes those from the compactor's
    // prefix.
    drop(c);
    std::thread::sleep(Duration::from_secs(1));
    for i in 12..21 {
        write(&n1, &cpu("a", i * batch, (i + 1) * batch, 0.0, ""));
        let rows = (i + 1) as u64 * batch as u64 + 10;
        wait_until("the batch is in a file", Duration::from_secs(60), || {
            published(&s3, "n1").1 == rows
        });
    }
    wait_until(
        "n1 compacted its files itself",
        Duration::from_secs(60),
        || {
            let paths = published_paths(&s3, "n1");
            paths.len() < 9
                && paths.iter().all(|p| p.starts_with("n1/"))
                && published(&s3, "n1").1 == 21 * batch as u64 + 10
                && s3.parquet_files() == paths.len() + published(&s3, "n2").0
        },
    );
    wait_until(
        "the query node sees n1's new rows",
        Duration::from_secs(60),
        || host_summary(&q, "cpu", "a").0 == 21 * batch as u64,
    );
    assert_the_shared_series_is_n2s_with_n1s_field(&q);
}

/// Runs InfluxQL statements through `POST /query` on `server`; the first result.
fn influxql_post(server: &TestServer, q: &str) -> Value {
    let reply = server.post(&format!("/query?q={}", enc(q)), &[], b"");
    assert_eq!(reply.status, 200, "{q}: {}", reply.body);
    let json = reply.json();
    assert!(json["results"][0]["error"].is_null(), "{q}: {json}");
    json["results"][0].clone()
}

/// The databases `server` lists.
fn database_names(server: &TestServer) -> Vec<String> {
    influxql_post(server, "SHOW DATABASES")["series"][0]["values"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|v| v[0].as_str().unwrap().to_owned())
        .collect()
}

/// `policy`'s duration on database `db` as `server` shows it, if it has both.
fn policy_duration(server: &TestServer, db: &str, policy: &str) -> Option<String> {
    let reply = server.get(
        &format!(
            "/query?q={}",
            enc(&format!("SHOW RETENTION POLICIES ON {db}"))
        ),
        &[],
    );
    let json = reply.json();
    let rows = json["results"][0]["series"][0]["values"]
        .as_array()?
        .clone();
    rows.iter()
        .find(|r| r[0] == policy)
        .map(|r| r[1].as_str().unwrap().to_owned())
}

#[test]
fn databases_and_retention_policies_changed_on_one_ingest_node_are_so_on_the_others() {
    let Some(binary) = s3s_fs() else { return };
    let temp = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(binary, &temp.path().join("s3"));
    let sync = ["--catalog-sync-interval", "200ms"];
    let n1 = node(&s3, &temp.path().join("n1"), "n1", "ingest", &sync);
    let n2_dir = temp.path().join("n2");
    let mut n2 = node(&s3, &n2_dir, "n2", "ingest", &sync);
    let within = Duration::from_secs(30);

    // Created on n1 with a retention: n2 has it, with that retention.
    influxql_post(&n1, "CREATE DATABASE metrics WITH DURATION 3d");
    wait_until("n2 has the database", within, || {
        policy_duration(&n2, "metrics", "autogen").as_deref() == Some("72h0m0s")
    });
    // Changed on n2, and a policy added there: n1 follows.
    influxql_post(&n2, "ALTER RETENTION POLICY autogen ON metrics DURATION 5d");
    influxql_post(
        &n2,
        "CREATE RETENTION POLICY short ON metrics DURATION 1h REPLICATION 1",
    );
    wait_until("n1 has n2's changes", within, || {
        policy_duration(&n1, "metrics", "autogen").as_deref() == Some("120h0m0s")
            && policy_duration(&n1, "metrics", "short").as_deref() == Some("1h0m0s")
    });
    // A database a write created on n2 reaches n1.
    let reply = n2.post("/write?db=written", &[], cpu("a", 0, 5, 0.0, "").as_bytes());
    assert_eq!(reply.status, 204, "{}", reply.body);
    wait_until("n1 has the written database", within, || {
        database_names(&n1).contains(&"written".to_owned())
    });

    // Dropped on n1 with rows on both nodes: gone from n2 with its rows.
    write(&n1, &cpu("a", 0, 10, 0.0, ""));
    write(&n2, &cpu("b", 0, 10, 0.0, ""));
    let q = query_node(&s3, &temp.path().join("q"), &[]);
    wait_until("the query node sees both nodes' rows", within, || {
        visible_rows(&q, "cpu") == Some(20)
    });
    influxql_post(&n1, "DROP DATABASE db");
    wait_until("n2 dropped the database", within, || {
        !database_names(&n2).contains(&"db".to_owned())
    });
    wait_until("the query node no longer has it", within, || {
        visible_rows(&q, "cpu").is_none()
    });

    // A database dropped while n2 is down is dropped there when it comes back.
    n2.terminate();
    influxql_post(&n1, "DROP DATABASE written");
    std::thread::sleep(Duration::from_secs(1));
    n2 = node(&s3, &n2_dir, "n2", "ingest", &sync);
    wait_until("the restarted n2 dropped it too", within, || {
        !database_names(&n2).contains(&"written".to_owned())
    });
    assert!(database_names(&n2).contains(&"metrics".to_owned()));
    assert!(database_names(&n1).contains(&"metrics".to_owned()));
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
/// the bucket is away for 30 s, a compactor merging their files; the query node then
/// returns every acknowledged point exactly once, with its value.
#[test]
fn every_point_acknowledged_through_a_crash_and_a_store_outage_reads_back_once_from_the_query_node()
{
    let Some(binary) = s3s_fs() else { return };
    let temp = tempfile::tempdir().unwrap();
    let mut s3 = S3Server::start(binary, &temp.path().join("s3"));
    // Requests to a store that is away fail within seconds, so persistence retries
    // during the outage instead of hanging in one request.
    let fast_failure = [&FAST_FAILURE[..], &["--compaction-check-interval", "200ms"]].concat();
    let _c = node(&s3, &temp.path().join("c"), "c", "compact", &fast_failure);
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
    // The compactor merged files of both nodes, which adopted them.
    for node_id in ["n1", "n2"] {
        let prefix = format!("c/compacted/{node_id}/");
        wait_until(
            "the node adopted the compactor's files",
            Duration::from_secs(60),
            || {
                published_paths(&s3, node_id)
                    .iter()
                    .any(|p| p.starts_with(&prefix))
            },
        );
    }
    assert_eq!(visible_rows(&q, "cpu"), Some(expected));
    drop(n1);
}

#[test]
fn bad_modes_stop_the_start_with_a_clear_error() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    for (args, expected) in [
        (
            &["--mode", "compact"][..],
            "a compactor merges the ingest nodes' files",
        ),
        (
            &["--mode", "ingest,compact"][..],
            "mode compact goes alone or with query",
        ),
        (
            &["--compaction-check-interval", "0"][..],
            "--compaction-check-interval must be longer than 0",
        ),
        (
            &["--catalog-sync-interval", "0"][..],
            "--catalog-sync-interval must be longer than 0",
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
        (
            &["--ingest-peers", "http://127.0.0.1:1"][..],
            "--ingest-peers is for a query node (--mode query): a node in mode all",
        ),
        (
            &["--mode", "ingest", "--ingest-peers", "http://127.0.0.1:1"][..],
            "a node in mode ingest reads no other node's rows",
        ),
        (
            &["--ingest-peers-token", "t"][..],
            "--ingest-peers-token needs --ingest-peers",
        ),
        (
            &[
                &UNREACHED_QUERY_NODE[..],
                &["--ingest-peers", "ftp://n1:8086"],
            ]
            .concat()[..],
            "--ingest-peers: \"ftp://n1:8086\" is not an http:// or https:// address",
        ),
        (
            &[
                &UNREACHED_QUERY_NODE[..],
                &["--ingest-peers", "auto,http://n1:8086"],
            ]
            .concat()[..],
            "--ingest-peers auto finds every ingest node itself: list no address with it",
        ),
        (
            &[
                &UNREACHED_QUERY_NODE[..],
                &["--advertise-url", "http://q:8086"],
            ]
            .concat()[..],
            "--advertise-url is for a node that ingests (--mode all or ingest)",
        ),
        (
            &["--advertise-url", "http://n1:8086"][..],
            "--advertise-url needs --object-store s3, google or azure",
        ),
        (
            &[
                "--object-store",
                "s3",
                "--bucket",
                "b",
                "--node-id",
                "n1",
                "--advertise-url",
                "n1:8086",
            ][..],
            "--advertise-url \"n1:8086\" is not an http:// or https:// address",
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
        .env("SLUICE_MODE", "ingest,compact")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("goes alone or with query"));
}

/// Waits until `q` sees the rows [`write_distinct_and_shared`] wrote into two nodes that
/// persist nothing, and checks they come from the nodes' memory, each once.
fn assert_every_row_in_memory_once(s3: &S3Server, q: &TestServer) {
    // The query node learns of the table from the catalogs the nodes publish.
    wait_until(
        "the query node sees every row",
        Duration::from_secs(60),
        || visible_rows(q, "cpu") == Some(210),
    );
    // A column only n1 has is known once n1's catalog reached the query node, which
    // may be after the rows are visible.
    wait_until(
        "the query node knows n1's column only1",
        Duration::from_secs(60),
        || {
            let q_only1 = enc("SELECT count(only1) AS n FROM cpu");
            q.get(&format!("/api/v3/query_sql?db=db&q={q_only1}"), &[])
                .status
                == 200
        },
    );
    // Nothing was persisted: every row came from the ingest nodes' memory.
    assert_eq!(published(s3, "n1"), (0, 0));
    assert_eq!(published(s3, "n2"), (0, 0));
    for host in ["a", "b"] {
        assert_eq!(
            host_summary(q, "cpu", host),
            (100, 100, 4950.0, 99.0),
            "{host}"
        );
    }
    assert_the_shared_series_is_n2s_with_n1s_field(q);
}

/// A [`buffering_node`] without authentication that persists once it holds
/// `persist_buffer_bytes`, its data directory under `temp`.
fn peer_node(
    s3: &S3Server,
    temp: &tempfile::TempDir,
    node_id: &str,
    persist_buffer_bytes: &str,
) -> TestServer {
    buffering_node(
        s3,
        &temp.path().join(node_id),
        node_id,
        persist_buffer_bytes,
        &["--without-auth"],
    )
}

/// A [`peer_node`] that persists nothing.
fn memory_node(s3: &S3Server, temp: &tempfile::TempDir, node_id: &str) -> TestServer {
    peer_node(s3, temp, node_id, "1GiB")
}

/// `--ingest-peers` naming `peers`.
fn peers_flag(peers: &[&TestServer]) -> String {
    let urls: Vec<String> = peers.iter().map(|p| p.url("")).collect();
    urls.join(",")
}

/// A query node (`q`, its data directory under `temp`) with `--ingest-peers` naming
/// `peers`, and `extra`.
fn peer_query_node(
    s3: &S3Server,
    temp: &tempfile::TempDir,
    peers: &[&TestServer],
    extra: &[&str],
) -> TestServer {
    let peers = peers_flag(peers);
    let mut args = vec!["--ingest-peers", peers.as_str()];
    args.extend_from_slice(extra);
    query_node(s3, &temp.path().join("q"), &args)
}

#[test]
fn with_ingest_peers_a_query_node_returns_every_point_still_in_memory_once() {
    let Some(binary) = s3s_fs() else { return };
    let temp = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(binary, &temp.path().join("s3"));
    let n1 = memory_node(&s3, &temp, "n1");
    let n2 = memory_node(&s3, &temp, "n2");
    let q = peer_query_node(&s3, &temp, &[&n1, &n2], &[]);
    write_distinct_and_shared(&n1, &n2);
    assert_every_row_in_memory_once(&s3, &q);
    let rows = sql(&q, "SELECT host, v, time FROM cpu ORDER BY host, time");
    assert_eq!(rows.len(), 210);
    // A time range is pushed down to the peers; the answer is the same as filtering.
    let narrow = sql(
        &q,
        "SELECT count(*) AS n FROM cpu \
         WHERE time >= '1970-01-01T00:00:05Z' AND time < '1970-01-01T00:00:15Z'",
    );
    assert_eq!(narrow[0]["n"], 10 + 10 + 5);

    // InfluxQL gives the same answer.
    assert_eq!(influxql(&q, "SELECT count(v) FROM cpu")[0][1], 210);
    // Grafana's template variables: tag values only the nodes' memory holds.
    assert_eq!(
        influxql(&q, "SHOW TAG VALUES FROM cpu WITH KEY = host"),
        [
            serde_json::json!(["host", "a"]),
            serde_json::json!(["host", "b"]),
            serde_json::json!(["host", "shared"])
        ]
    );
    // `shared` is n2's 2000s after the merge, not n1's 1000s.
    let least = influxql(&q, "SELECT min(v) FROM cpu WHERE host = 'shared'");
    assert!(least[0][1].as_f64().unwrap() >= 2000.0, "{least:?}");
    assert_eq!(
        influxql(&q, "SELECT last(v) FROM cpu WHERE host = 'a'")[0][1],
        99.0
    );

    // A later write of a point in memory replaces it, as on one node.
    write(&n1, "cpu,host=a v=-1 0\n");
    let first = sql(
        &q,
        "SELECT v FROM cpu WHERE host = 'a' AND time = '1970-01-01T00:00:00Z'",
    );
    assert_eq!(first[0]["v"], -1.0);
    assert_eq!(visible_rows(&q, "cpu"), Some(210));

    // A table only n2 has: n1 answers with no rows, which is no failure.
    write(&n2, "mem,host=x v=1 1\n");
    wait_until(
        "the query node sees the new table",
        Duration::from_secs(60),
        || visible_rows(&q, "mem") == Some(1),
    );
    assert_ready_for_queries(&q);
}

/// An ingest node persisting every few lines while queries run: its rows move from
/// memory to files under the query node, which sees each exactly once throughout.
#[test]
fn with_ingest_peers_points_read_back_once_while_the_ingest_node_persists_them() {
    let Some(binary) = s3s_fs() else { return };
    let temp = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(binary, &temp.path().join("s3"));
    // A persistence about every ten batches of the writer below.
    let n1 = peer_node(&s3, &temp, "n1", "24KiB");
    let q = peer_query_node(&s3, &temp, &[&n1], &[]);
    write(&n1, &cpu("w", 0, E2E_BATCH, 0.0, ""));
    wait_until(
        "the query node knows the table",
        Duration::from_secs(60),
        || visible_rows(&q, "cpu").is_some(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(std::sync::atomic::AtomicI64::new(1));
    let load = {
        let (stop, acknowledged) = (stop.clone(), acknowledged.clone());
        let address = n1.address.clone();
        std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into();
            let mut batch = 1;
            while !stop.load(Ordering::Relaxed) {
                let from = batch * E2E_BATCH;
                let body = cpu("w", from, from + E2E_BATCH, 0.0, "");
                let reply = agent
                    .post(&format!("http://{address}/write?db=db"))
                    .send(body.as_bytes())
                    .unwrap();
                assert_eq!(reply.status(), 204);
                batch += 1;
                acknowledged.store(batch, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    // Query while files come and go, until several persistences happened under the
    // queries (and at least 30 queries ran).
    let mut queries = 0;
    while queries < 30 || published(&s3, "n1").0 < 3 {
        let before = acknowledged.load(Ordering::SeqCst) * E2E_BATCH;
        let (n, distinct, total, last) = host_summary(&q, "cpu", "w");
        // Every acknowledged point, each once, and nothing but a prefix of seconds.
        assert!(n >= before as u64, "{n} rows, {before} acknowledged");
        assert_eq!(n, distinct, "a point read twice");
        let expected: i64 = (0..n as i64).sum();
        assert_eq!(
            total, expected as f64,
            "{n} rows: a point missing or doubled"
        );
        assert_eq!(last, (n - 1) as f64);
        queries += 1;
        assert!(queries < 3000, "n1 did not persist under the queries");
    }
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    let points = (acknowledged.load(Ordering::SeqCst) * E2E_BATCH) as u64;
    let (n, distinct, ..) = host_summary(&q, "cpu", "w");
    assert_eq!((n, distinct), (points, points));
    assert_eq!(
        influxql(&q, "SELECT count(v) FROM cpu")[0][1],
        points as i64
    );
}

#[test]
fn an_ingest_peer_that_is_down_leaves_out_only_its_rows_in_memory_and_health_says_so() {
    let Some(binary) = s3s_fs() else { return };
    let temp = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(binary, &temp.path().join("s3"));
    let n1 = memory_node(&s3, &temp, "n1");
    // n2 persists what it is written at once.
    let n2 = node(&s3, &temp.path().join("n2"), "n2", "ingest", &[]);
    let q = peer_query_node(&s3, &temp, &[&n1, &n2], &[]);
    write(&n1, &cpu("a", 0, 10, 0.0, ""));
    write(&n2, &cpu("b", 0, 10, 0.0, ""));
    wait_until(
        "n2's rows are in the bucket",
        Duration::from_secs(60),
        || published(&s3, "n2").1 == 10,
    );
    wait_until(
        "the query node sees both nodes' rows",
        Duration::from_secs(60),
        || visible_rows(&q, "cpu") == Some(20),
    );
    assert_ready_for_queries(&q);

    // n1 goes away with its rows in memory (its WAL keeps them): the query node answers
    // from what the others hold, n2's persisted rows included.
    let n1_address = n1.address.clone();
    drop(n1);
    assert_eq!(visible_rows(&q, "cpu"), Some(10));
    assert_eq!(host_summary(&q, "cpu", "b").0, 10);
    let message = ingest_peers_degraded(&q);
    assert!(message.contains("http://"), "{message}");

    // n1 back on its disk and address: its rows come back from its WAL, and the
    // query node's health with them.
    let n1 = buffering_node(
        &s3,
        &temp.path().join("n1"),
        "n1",
        "1GiB",
        &["--without-auth", "--bind", &n1_address],
    );
    wait_until(
        "the query node sees n1's rows again",
        Duration::from_secs(60),
        || visible_rows(&q, "cpu") == Some(20),
    );
    assert_eq!(host_summary(&q, "cpu", "a"), (10, 10, 45.0, 9.0));
    assert_ready_for_queries(&q);
    drop(n1);
}

/// With `--ingest-peers auto` a query node asks every ingest node of the bucket, at the
/// address its manifest advertises (`--advertise-url`): both nodes' rows in memory read
/// back once; a node that advertises none is named in `/health`, its rows in memory left
/// out.
#[test]
fn with_ingest_peers_auto_a_query_node_finds_the_ingest_nodes_in_the_bucket() {
    let Some(binary) = s3s_fs() else { return };
    let temp = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(binary, &temp.path().join("s3"));
    let advertising = |node_id: &str| {
        let address = format!("127.0.0.1:{}", free_port());
        let url = format!("http://{address}");
        buffering_node(
            &s3,
            &temp.path().join(node_id),
            node_id,
            "1GiB",
            &[
                "--without-auth",
                "--bind",
                &address,
                "--advertise-url",
                &url,
            ],
        )
    };
    let n1 = advertising("n1");
    let n2 = advertising("n2");
    let q = query_node(&s3, &temp.path().join("q"), &["--ingest-peers", "auto"]);
    write_distinct_and_shared(&n1, &n2);
    assert_every_row_in_memory_once(&s3, &q);
    assert_ready_for_queries(&q);
    // system.nodes shows where each node says it is reached.
    let nodes = sql(
        &q,
        "SELECT node_id, advertise_url FROM system.nodes ORDER BY node_id",
    );
    let urls: Vec<(&str, Option<&str>)> = nodes
        .iter()
        .map(|n| (n["node_id"].as_str().unwrap(), n["advertise_url"].as_str()))
        .collect();
    let (n1_url, n2_url) = (n1.url(""), n2.url(""));
    assert_eq!(
        urls,
        [
            ("n1", Some(n1_url.as_str())),
            ("n2", Some(n2_url.as_str())),
            ("q", None)
        ]
    );

    // A node that advertises no address is in the bucket, but cannot be asked.
    let n3 = memory_node(&s3, &temp, "n3");
    write(&n3, &cpu("c", 0, 10, 0.0, ""));
    wait_until(
        "the query node names n3 in /health",
        Duration::from_secs(60),
        || {
            visible_rows(&q, "cpu");
            q.get("/health", &[]).body.contains("node n3")
        },
    );
    let message = ingest_peers_degraded(&q);
    assert!(
        message
            .contains("node n3 advertises no URL in its manifest (start it with --advertise-url)"),
        "{message}"
    );
    assert_eq!(visible_rows(&q, "cpu"), Some(210));
    drop(n3);
}

/// The peer-rows ticket of `table`, for `DoGet`.
fn peer_rows_ticket(table: &str) -> arrow_flight::Ticket {
    let ticket = serde_json::json!({"peer_rows": {"database": "db", "table": table}});
    arrow_flight::Ticket::new(ticket.to_string().into_bytes())
}

/// `DoGet` of `ticket` on `server` presenting `bearer`: the schema and the rows, or the
/// gRPC status code.
fn do_get(
    server: &TestServer,
    bearer: Option<&str>,
    ticket: arrow_flight::Ticket,
) -> Result<(arrow::datatypes::SchemaRef, usize), tonic::Code> {
    use futures::TryStreamExt as _;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(server.url(""))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut client = arrow_flight::FlightClient::new(channel);
        if let Some(bearer) = bearer {
            client
                .add_header("authorization", &format!("Bearer {bearer}"))
                .unwrap();
        }
        let code = |e: arrow_flight::error::FlightError| match e {
            arrow_flight::error::FlightError::Tonic(status) => status.code(),
            other => panic!("{other}"),
        };
        let mut stream = client.do_get(ticket).await.map_err(code)?;
        let mut rows = 0;
        while let Some(batch) = stream.try_next().await.map_err(code)? {
            rows += batch.num_rows();
        }
        Ok((stream.schema().unwrap().clone(), rows))
    })
}

#[test]
fn an_ingest_node_gives_its_buffered_rows_to_holders_of_a_read_token_only() {
    let Some(binary) = s3s_fs() else { return };
    let temp = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(binary, &temp.path().join("s3"));
    // With authentication (the admin token of the test servers).
    let n1 = buffering_node(&s3, &temp.path().join("n1"), "n1", "1GiB", &[]);
    let reply = n1.post(
        "/write?db=db",
        &[("Authorization", &common::token(common::ADMIN))],
        cpu("a", 0, 10, 0.0, "").as_bytes(),
    );
    assert_eq!(reply.status, 204, "{}", reply.body);
    // Until the node's first manifest is in the bucket it answers Unavailable (retry).
    let mut answer = Err(tonic::Code::Unavailable);
    wait_until(
        "n1 has published its first manifest",
        Duration::from_secs(60),
        || {
            answer = do_get(&n1, Some(common::ADMIN), peer_rows_ticket("cpu"));
            answer != Err(tonic::Code::Unavailable)
        },
    );
    let (schema, rows) = answer.unwrap();
    assert_eq!(rows, 10);
    assert_eq!(schema.metadata()["sluice.node_id"], "n1");
    assert_eq!(schema.metadata()["sluice.published_seq"], "0");
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["host", "v", "time"]);
    // Tags stay dictionaries, as in scans.
    assert!(matches!(
        schema.field(0).data_type(),
        arrow::datatypes::DataType::Dictionary(..)
    ));

    assert_eq!(
        do_get(&n1, None, peer_rows_ticket("cpu")).unwrap_err(),
        tonic::Code::Unauthenticated
    );
    assert_eq!(
        do_get(&n1, Some("wrong"), peer_rows_ticket("cpu")).unwrap_err(),
        tonic::Code::Unauthenticated
    );
    // A table the node does not have: no rows (another node may have it).
    let (_, rows) = do_get(&n1, Some(common::ADMIN), peer_rows_ticket("mem")).unwrap();
    assert_eq!(rows, 0);
    let malformed = arrow_flight::Ticket::new(br#"{"peer_rows":{"database":"db"}}"#.to_vec());
    assert_eq!(
        do_get(&n1, Some(common::ADMIN), malformed).unwrap_err(),
        tonic::Code::InvalidArgument
    );

    // A query node presenting the token reads the rows; without it, only what is
    // persisted (nothing), and says why.
    let with_token = query_node(
        &s3,
        &temp.path().join("q"),
        &[
            "--ingest-peers",
            &peers_flag(&[&n1]),
            "--ingest-peers-token",
            common::ADMIN,
        ],
    );
    wait_until(
        "the query node sees the rows",
        Duration::from_secs(60),
        || visible_rows(&with_token, "cpu") == Some(10),
    );
    let options = node_options(&s3, &temp.path().join("q2"), "q2")
        .arg("--without-auth")
        .arg("--mode")
        .arg("query")
        .arg("--query-refresh-interval")
        .arg("200ms")
        .arg("--ingest-peers")
        .arg(&peers_flag(&[&n1]));
    let without_token = TestServer::start(options);
    wait_until(
        "the other query node knows the table",
        Duration::from_secs(60),
        || visible_rows(&without_token, "cpu").is_some(),
    );
    assert_eq!(visible_rows(&without_token, "cpu"), Some(0));
    let health = without_token.get("/health", &[]).json();
    let message = health["checks"][0]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("Unauthenticated"), "{message}");
}

/// A query node whose memory limit makes its SQL scans read in time chunks: the chunks
/// are cut between the persisted files' times, and an ingest peer's rows in memory newer
/// than every file are still read (by the last chunk, which keeps the query's end).
#[test]
fn with_ingest_peers_a_scan_read_in_time_chunks_keeps_rows_newer_than_every_file() {
    let Some(binary) = s3s_fs() else { return };
    let temp = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(binary, &temp.path().join("s3"));
    // Persists once its buffer holds 1 MiB: the 120,000 points go to files, the 100
    // written after them stay in memory.
    let n1 = peer_node(&s3, &temp, "n1", "1MiB");
    write(&n1, &cpu("a", 0, 120_000, 0.0, ""));
    wait_until("n1 persists", Duration::from_secs(60), || {
        published(&s3, "n1").1 == 120_000
    });
    write(&n1, &cpu("a", 200_000, 200_100, 0.0, ""));
    let q = peer_query_node(&s3, &temp, &[&n1], &["--query-memory-limit", "1MiB"]);
    wait_until(
        "the query node sees n1's table",
        Duration::from_secs(60),
        || visible_rows(&q, "cpu").is_some(),
    );
    // 120,100 rows do not fit in a quarter of 1 MiB: SQL reads them in time chunks.
    assert_eq!(visible_rows(&q, "cpu"), Some(120_100));
    let newest = sql(&q, "SELECT max(time) AS t FROM cpu");
    assert_eq!(newest[0]["t"], "1970-01-03T07:34:59");
}
