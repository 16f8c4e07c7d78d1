//! `sluice serve --object-store s3` against a real S3-compatible server (`s3s-fs`, built
//! by `scripts/s3-server.sh`, found through `SLUICE_S3S_FS` or on the PATH): files go to
//! the bucket and read back after a restart, requests show in `/metrics`, a node started
//! on an empty disk recovers everything persisted from the bucket, nodes sharing a bucket
//! keep to their own prefix, and while the store is away writes are still acknowledged,
//! `/health` says degraded, and everything acknowledged is persisted once it returns.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::s3::{ACCESS_KEY, BUCKET, FAST_FAILURE, S3Server, SECRET_KEY, node_options, s3s_fs};
use common::{
    ADMIN, Options, TestServer, count, metric_starting, points, token, wait_until, write_db,
};

/// `sluice serve` as node `n1` on the S3 server's bucket, persisting as soon as anything
/// is buffered.
fn sluice_on(s3: &S3Server, data_dir: &Path, extra: &[&str]) -> TestServer {
    sluice_node(s3, data_dir, "n1", extra)
}

/// `sluice serve` as node `node_id` on the S3 server's bucket, persisting as soon as
/// anything is buffered, without authentication.
fn sluice_node(s3: &S3Server, data_dir: &Path, node_id: &str, extra: &[&str]) -> TestServer {
    TestServer::start(
        node_options(s3, data_dir, node_id)
            .arg("--without-auth")
            .args(extra),
    )
}

/// Rows of the first 50 seconds, read from the data (not from statistics).
fn rows_before_50s(server: &TestServer) -> usize {
    let reply = server.get(
        "/api/v3/query_sql?db=db&q=SELECT%20v%20FROM%20cpu%20WHERE%20time%20%3C%20%271970-01-01T00:00:50Z%27",
        &[],
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json().as_array().unwrap().len()
}

#[test]
fn files_go_to_the_bucket_and_read_back_after_a_restart() {
    let Some(binary) = s3s_fs() else { return };
    let temp = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(binary, &temp.path().join("s3"));
    let data_dir = temp.path().join("data");
    let mut server = sluice_on(&s3, &data_dir, &[]);

    assert_eq!(write_db(&server, &points(0, 1000)), 204);
    wait_until("the buffer is persisted", Duration::from_secs(60), || {
        metric_starting(&server, "sluice_buffer_bytes ") == 0.0 && s3.parquet_files() > 0
    });
    assert_eq!(count(&server), 1000);
    assert!(
        metric_starting(
            &server,
            "sluice_object_store_requests_total{operation=\"put\",outcome=\"ok\"}"
        ) >= 1.0
    );
    assert_eq!(
        metric_starting(
            &server,
            "sluice_object_store_requests_total{operation=\"put\",outcome=\"error\"}"
        ),
        0.0
    );
    let health = server.get("/health", &[]);
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["message"], "ready for queries and writes");
    // Nothing stays staged once uploaded.
    assert_eq!(
        std::fs::read_dir(data_dir.join("staging")).unwrap().count(),
        0
    );

    // After a restart without the cache, the rows come from the bucket (the WAL was
    // persisted and removed).
    server.terminate();
    let mut server = sluice_on(&s3, &data_dir, &["--object-store-cache-bytes", "0"]);
    assert_eq!(rows_before_50s(&server), 50);
    let get_ok = "sluice_object_store_requests_total{operation=\"get\",outcome=\"ok\"}";
    assert!(metric_starting(&server, get_ok) >= 1.0);

    // With it, they come from the copies kept at persistence: nothing is fetched.
    server.terminate();
    let server = sluice_on(&s3, &data_dir, &[]);
    // (Starting reads the node id's lease.)
    let started = metric_starting(&server, get_ok);
    assert_eq!(rows_before_50s(&server), 50);
    assert_eq!(count(&server), 1000);
    assert_eq!(metric_starting(&server, get_ok), started);
}

#[test]
fn a_file_no_manifest_names_is_deleted_once_the_restarted_node_published() {
    let Some(binary) = s3s_fs() else { return };
    let temp = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(binary, &temp.path().join("s3"));
    let data_dir = temp.path().join("n1");
    let server = sluice_on(&s3, &data_dir, &[]);
    assert_eq!(write_db(&server, &points(0, 100)), 204);
    wait_until("the rows are published", Duration::from_secs(60), || {
        published_rows(&s3, "n1") == 100
    });
    // A file of n1's that no manifest names, as an upload whose manifest the process
    // did not live to save leaves.
    drop(server);
    let live = find_parquet(&s3.root.join(BUCKET).join("n1/dbs"));
    let orphan = live.with_file_name("0000000000009999.parquet");
    std::fs::copy(&live, &orphan).unwrap();
    let server = sluice_on(&s3, &data_dir, &[]);
    assert_eq!(count(&server), 100);
    wait_until("the orphan is deleted", Duration::from_secs(60), || {
        !orphan.exists()
    });
    assert!(live.exists());
    assert_eq!(count(&server), 100);
}

/// The first Parquet file under `dir`.
fn find_parquet(dir: &Path) -> std::path::PathBuf {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            return find_parquet(&path);
        }
        if path.extension().is_some_and(|x| x == "parquet") {
            return path;
        }
    }
    panic!("no parquet file under {}", dir.display());
}

/// The rows the bucket's manifest of node `node_id` lists (0 before it has one).
fn published_rows(s3: &S3Server, node_id: &str) -> u64 {
    let path = s3.root.join(BUCKET).join(node_id).join("manifest.json");
    let Ok(bytes) = std::fs::read(path) else {
        return 0;
    };
    let manifest: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rows"].as_u64().unwrap())
        .sum()
}

fn databases(server: &TestServer) -> Vec<String> {
    let reply = server.get("/query?q=SHOW%20DATABASES", &[]);
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["results"][0]["series"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v[0].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_node_started_on_an_empty_disk_recovers_everything_persisted_and_nodes_keep_apart() {
    let Some(binary) = s3s_fs() else { return };
    let temp = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(binary, &temp.path().join("s3"));
    let first_disk = temp.path().join("n1");
    let n1 = sluice_node(&s3, &first_disk, "n1", &[]);
    let reply = n1.post("/query?q=CREATE%20DATABASE%20quiet", &[], b"");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(write_db(&n1, &points(0, 1000)), 204);
    // A second node in the same bucket, writing the same database name.
    let n2 = sluice_node(&s3, &temp.path().join("n2"), "n2", &[]);
    assert_eq!(write_db(&n2, &points(5000, 5100)), 204);
    wait_until(
        "both nodes' manifests are in the bucket",
        Duration::from_secs(60),
        || published_rows(&s3, "n1") == 1000 && published_rows(&s3, "n2") == 100,
    );

    // n1's disk is lost with the process (SIGKILL); n1 starts again on a new, empty one,
    // without a file cache: everything comes from the bucket.
    drop(n1);
    std::fs::remove_dir_all(&first_disk).unwrap();
    let mut n1 = sluice_node(&s3, &first_disk, "n1", &["--object-store-cache-bytes", "0"]);
    assert_eq!(count(&n1), 1000);
    assert_eq!(rows_before_50s(&n1), 50);
    let names = databases(&n1);
    assert!(names.contains(&"quiet".to_owned()), "{names:?}");
    // n2 was left alone: its files were not taken for n1's leftovers.
    assert_eq!(count(&n2), 100);

    // The recovered node goes on: new files continue its ids, and a second loss of the
    // disk recovers them too.
    assert_eq!(write_db(&n1, &points(1000, 1100)), 204);
    wait_until(
        "the new rows are published",
        Duration::from_secs(60),
        || published_rows(&s3, "n1") == 1100,
    );
    n1.terminate();
    std::fs::remove_dir_all(&first_disk).unwrap();
    let n1 = sluice_node(&s3, &first_disk, "n1", &[]);
    assert_eq!(count(&n1), 1100);
    assert_eq!(count(&n2), 100);
}

#[test]
fn tokens_and_continuous_queries_come_back_with_the_node() {
    let Some(binary) = s3s_fs() else { return };
    let temp = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(binary, &temp.path().join("s3"));
    let disk = temp.path().join("n1");
    let server = TestServer::start(node_options(&s3, &disk, "n1"));
    let admin = token(ADMIN);
    let created = server.post(
        "/api/v3/configure/token",
        &[("Authorization", &admin)],
        br#"{"name":"reader","permissions":[{"database":"db","actions":["read"]}]}"#,
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let reader = token(created.json()["token"].as_str().unwrap());
    let written = server.post("/write?db=db", &[("Authorization", &admin)], b"cpu v=1 1");
    assert_eq!(written.status, 204, "{}", written.body);
    let cq = "CREATE CONTINUOUS QUERY per_minute ON db BEGIN SELECT mean(v) INTO m FROM cpu \
              GROUP BY time(1m) END";
    let reply = server.post(
        &format!(
            "/query?q={}",
            cq.replace(' ', "%20")
                .replace('(', "%28")
                .replace(')', "%29")
        ),
        &[("Authorization", &admin)],
        b"",
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let in_bucket = |name: &str, needle: &str| {
        std::fs::read_to_string(s3.root.join(BUCKET).join("n1/files").join(name))
            .is_ok_and(|text| text.contains(needle))
    };
    wait_until(
        "the server's files are in the bucket",
        Duration::from_secs(60),
        || in_bucket("tokens.json", "reader") && in_bucket("continuous_queries.json", "per_minute"),
    );

    // The disk is lost; the node starts again without being given an admin token.
    drop(server);
    std::fs::remove_dir_all(&disk).unwrap();
    let mut options = node_options(&s3, &disk, "n1");
    options.no_admin_token = true;
    let server = TestServer::start(options);
    assert_eq!(
        server.printed_admin_token, None,
        "a new admin token was made"
    );
    let databases = server.get("/query?q=SHOW%20DATABASES", &[("Authorization", &reader)]);
    assert_eq!(databases.status, 200, "{}", databases.body);
    let queries = server.get(
        "/query?q=SHOW%20CONTINUOUS%20QUERIES",
        &[("Authorization", &admin)],
    );
    assert_eq!(queries.status, 200, "{}", queries.body);
    assert!(queries.body.contains("per_minute"), "{}", queries.body);
}

#[test]
fn a_token_created_or_deleted_on_one_node_is_so_on_every_node_of_the_bucket() {
    let Some(binary) = s3s_fs() else { return };
    let temp = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(binary, &temp.path().join("s3"));
    let sync = |options: Options| options.arg("--catalog-sync-interval").arg("200ms");
    let n1 = TestServer::start(sync(node_options(&s3, &temp.path().join("n1"), "n1")));
    let n2 = TestServer::start(sync(node_options(&s3, &temp.path().join("n2"), "n2")));
    let q = TestServer::start(sync(
        node_options(&s3, &temp.path().join("q"), "q")
            .arg("--mode")
            .arg("query")
            .arg("--query-refresh-interval")
            .arg("200ms"),
    ));
    let admin = token(ADMIN);
    let written = n1.post("/write?db=db", &[("Authorization", &admin)], b"cpu v=1 1");
    assert_eq!(written.status, 204, "{}", written.body);
    let created = n1.post(
        "/api/v3/configure/token",
        &[("Authorization", &admin)],
        br#"{"name":"reader","permissions":[{"database":"db","actions":["read"]}]}"#,
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let reader = token(created.json()["token"].as_str().unwrap());
    let status = |server: &TestServer| {
        server
            .get(
                "/query?db=db&q=SHOW%20MEASUREMENTS",
                &[("Authorization", &reader)],
            )
            .status
    };
    assert_eq!(status(&n1), 200);
    wait_until(
        "the token works on the other nodes",
        Duration::from_secs(30),
        || status(&n2) == 200 && status(&q) == 200,
    );
    // Only what it was given: no writes, no other database.
    let refused = n2.post("/write?db=db", &[("Authorization", &reader)], b"cpu v=2 2");
    assert_eq!(refused.status, 403, "{}", refused.body);

    // Deleted on the query node: refused everywhere.
    let deleted = q.request(
        "DELETE",
        &format!("/api/v3/configure/token?id={id}"),
        &[("Authorization", &admin)],
        None,
    );
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    assert_eq!(status(&q), 401);
    wait_until(
        "the token is refused on every node",
        Duration::from_secs(30),
        || status(&n1) == 401 && status(&n2) == 401,
    );
}

/// Starts `sluice serve` on the bucket with `args`, expecting it to refuse; its stderr.
fn refused(s3: &S3Server, data_dir: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["serve", "--bind", "127.0.0.1:0", "--without-auth"])
        .arg("--data-dir")
        .arg(data_dir)
        .args([
            "--object-store",
            "s3",
            "--bucket",
            BUCKET,
            "--aws-allow-http",
        ])
        .args(["--aws-endpoint", &s3.endpoint()])
        .args(["--aws-access-key-id", ACCESS_KEY])
        .args(["--aws-secret-access-key", SECRET_KEY])
        .args(args)
        .env_clear()
        .output()
        .unwrap();
    assert!(!output.status.success());
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_node_id_runs_in_one_process_and_one_taken_over_stops_writing() {
    let Some(binary) = s3s_fs() else { return };
    let temp = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(binary, &temp.path().join("s3"));
    let first = sluice_node(&s3, &temp.path().join("a"), "n1", &[]);
    assert_eq!(write_db(&first, &points(0, 10)), 204);
    wait_until("the rows are published", Duration::from_secs(60), || {
        published_rows(&s3, "n1") == 10
    });

    // The same node id on another disk, while the first process runs: refused, naming it.
    let second_disk = temp.path().join("b");
    let stderr = refused(
        &s3,
        &second_disk,
        &["--node-id", "n1", "--node-lease-timeout", "2s"],
    );
    let holder = format!("node id n1 is in use by pid {}", first.pid());
    assert!(stderr.contains(&holder), "{stderr}");

    // The first process falls silent (stopped, as if cut off from the store): after the
    // timeout a second one takes the node id over, with everything published.
    signal(&first, "-STOP");
    let second = sluice_node(&s3, &second_disk, "n1", &[]);
    assert_eq!(count(&second), 10);

    // The first one wakes up: it finds out, stops persisting and refuses writes for good.
    signal(&first, "-CONT");
    wait_until("the first process knows", Duration::from_secs(30), || {
        write_db(&first, &points(100, 110)) == 503
    });
    let reply = first.post("/write?db=db", &[], points(100, 110).as_bytes());
    assert!(
        reply
            .body
            .contains("another process took over this node id"),
        "{}",
        reply.body
    );
    let health = first.get("/health", &[]);
    assert_eq!(health.status, 503, "{}", health.body);
    assert!(health.body.contains("took over"), "{}", health.body);
    // The second one goes on as the node.
    assert_eq!(write_db(&second, &points(10, 20)), 204);
    wait_until(
        "the new rows are published",
        Duration::from_secs(60),
        || published_rows(&s3, "n1") == 20,
    );
    assert_eq!(count(&second), 20);
}

fn signal(server: &TestServer, signal: &str) {
    let status = Command::new("kill")
        .arg(signal)
        .arg(server.pid().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_data_dir_refuses_another_node_id_and_a_cloud_node_needs_one() {
    let Some(binary) = s3s_fs() else { return };
    let temp = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(binary, &temp.path().join("s3"));
    let disk = temp.path().join("disk");
    let server = sluice_node(&s3, &disk, "n1", &[]);
    assert_eq!(write_db(&server, &points(0, 10)), 204);
    wait_until("the rows are published", Duration::from_secs(60), || {
        published_rows(&s3, "n1") == 10
    });
    drop(server);

    let stderr = refused(&s3, &disk, &["--node-id", "n2"]);
    assert!(stderr.contains("belongs to node n1, not n2"), "{stderr}");
    let stderr = refused(&s3, &disk, &[]);
    assert!(
        stderr.contains("--object-store s3 needs --node-id"),
        "{stderr}"
    );
    let stderr = refused(&s3, &disk, &["--node-id", "a/b"]);
    assert!(stderr.contains("--node-id \"a/b\""), "{stderr}");
    // A data directory whose files are in a local object store cannot move to a bucket.
    let local = temp.path().join("local");
    let server = TestServer::start(
        Options::default()
            .arg("--without-auth")
            .arg("--persist-buffer-bytes")
            .arg("1")
            .data_dir(&local),
    );
    assert_eq!(write_db(&server, &points(0, 10)), 204);
    let manifest = local.join("catalog").join("manifest.json");
    wait_until("a local file is persisted", Duration::from_secs(60), || {
        std::fs::read_to_string(&manifest).is_ok_and(|m| m.contains(".parquet"))
    });
    drop(server);
    let stderr = refused(&s3, &local, &["--node-id", "n3"]);
    assert!(stderr.contains("in a local object store"), "{stderr}");
    // The bucket's own node is untouched by all of this.
    assert!(s3.parquet_files() > 0);
    let server = sluice_node(&s3, &disk, "n1", &[]);
    assert_eq!(count(&server), 10);
}

#[test]
fn while_the_store_is_away_writes_are_acknowledged_and_all_of_them_persist_when_it_returns() {
    let Some(binary) = s3s_fs() else { return };
    let temp = tempfile::tempdir().unwrap();
    let mut s3 = S3Server::start(binary, &temp.path().join("s3"));
    let data_dir = temp.path().join("data");
    // Give up on a request quickly, so the fault shows within the outage; no cache, so
    // queries need the store.
    let fast_failure = [&["--object-store-cache-bytes", "0"], &FAST_FAILURE[..]].concat();
    let mut server = sluice_on(&s3, &data_dir, &fast_failure);
    assert_eq!(write_db(&server, &points(0, 100)), 204);
    wait_until(
        "the first rows are persisted",
        Duration::from_secs(60),
        || s3.parquet_files() > 0,
    );

    // The store goes away for 30 s while a writer keeps writing.
    s3.stop();
    let outage = Instant::now();
    let mut acknowledged = 100;
    let mut degraded = None;
    while outage.elapsed() < Duration::from_secs(30) {
        let status = write_db(&server, &points(acknowledged, acknowledged + 100));
        assert_eq!(status, 204, "a write during the outage was refused");
        acknowledged += 100;
        let health = server.get("/health", &[]);
        assert_eq!(health.status, 200, "{}", health.body);
        if health.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("degraded:")
        {
            degraded = Some(health.json());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let degraded = degraded.expect("/health never said degraded while the store was away");
    assert_eq!(degraded["status"], "pass");
    assert_eq!(degraded["checks"][0]["name"], "storage.object_store");
    assert_eq!(degraded["checks"][0]["status"], "warn");
    assert!(
        metric_starting(
            &server,
            "sluice_object_store_requests_total{operation=\"put\",outcome=\"error\"}"
        ) >= 1.0
    );
    // A query that needs rows of the persisted file is told to come back (SQL), or gets
    // the store's error as its statement's result (InfluxQL on /query, as InfluxDB does).
    let sql = server.get(
        "/api/v3/query_sql?db=db&q=SELECT%20v%20FROM%20cpu%20WHERE%20time%20%3C%20%271970-01-01T00:00:50Z%27",
        &[],
    );
    assert_eq!(sql.status, 503, "{}", sql.body);
    assert_eq!(sql.header("retry-after"), Some("5"));
    assert!(
        sql.body.contains("the object store is unavailable"),
        "{}",
        sql.body
    );
    let influxql = server.get(
        "/query?db=db&q=SELECT%20v%20FROM%20cpu%20WHERE%20time%20%3C%2050s",
        &[],
    );
    assert_eq!(influxql.status, 200, "{}", influxql.body);
    let error = influxql.json()["results"][0]["error"].clone();
    assert!(
        error.as_str().unwrap().starts_with("object store:"),
        "{error}"
    );

    // The store returns: persistence catches up by itself and /health passes again.
    s3.resume();
    wait_until(
        "the buffer is persisted after the outage",
        Duration::from_secs(90),
        || {
            metric_starting(&server, "sluice_buffer_bytes ") == 0.0
                && server.get("/health", &[]).json()["message"] == "ready for queries and writes"
        },
    );
    assert_eq!(count(&server), acknowledged as u64);

    // Every acknowledged row is in the bucket: with the disk gone, a restart reads them all.
    server.terminate();
    std::fs::remove_dir_all(&data_dir).unwrap();
    let server = sluice_on(&s3, &data_dir, &fast_failure);
    assert_eq!(count(&server), acknowledged as u64);
}
