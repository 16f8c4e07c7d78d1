//! `sluice serve --wal-object-store` against a real S3-compatible server (`s3s-fs`, see
//! `serve_object_store.rs`): a write is acknowledged once its WAL object is in the
//! bucket, so a node killed and started on an empty disk gets back every acknowledged
//! write that was never persisted; while the store is away writes are refused with 503
//! (none acknowledged) and taken again when it returns; persisted WAL objects are
//! deleted; flags that cannot work together are refused at start.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::s3::{BUCKET, FAST_FAILURE, S3Server, UNREACHED_QUERY_NODE, bucket_options, s3s_fs};
use common::{TestServer, count, metric_starting, points, wait_until, write_db};

/// Node `n1` on the S3 server's bucket with its WAL there, never persisting on its own
/// (an hour's interval, a large buffer) unless `extra` says otherwise.
fn wal_node(s3: &S3Server, data_dir: &Path, extra: &[&str]) -> TestServer {
    TestServer::start(
        bucket_options(s3, data_dir, "n1")
            .args(&[
                "--without-auth",
                "--wal-object-store",
                "--wal-flush-interval",
                "20ms",
                "--persist-interval",
                "1h",
            ])
            .args(extra),
    )
}

/// `SELECT sum(v)` of table `cpu` in database `db`.
fn sum(server: &TestServer) -> f64 {
    let reply = server.get(
        "/api/v3/query_sql?db=db&q=SELECT%20sum(v)%20AS%20s%20FROM%20cpu",
        &[],
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()[0]["s"].as_f64().unwrap()
}

/// The sum of `v` over `points(0, n)` (exact in an `f64`).
fn sum_of_first(n: i64) -> f64 {
    (n * (n - 1) / 2) as f64
}

/// The node's WAL objects in the bucket (s3s-fs keeps an object as a file of its key).
fn wal_objects(s3: &S3Server) -> usize {
    std::fs::read_dir(s3.root.join(BUCKET).join("n1").join("wal")).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".wal"))
            .count()
    })
}

#[test]
fn every_acknowledged_write_comes_back_on_an_empty_disk_and_persisted_wal_objects_go() {
    let Some(binary) = s3s_fs() else { return };
    let temp = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(binary, &temp.path().join("s3"));
    let disk = temp.path().join("data");
    let server = wal_node(&s3, &disk, &[]);
    // Four writers at once, 25 writes of 20 points each: 2,000 points, 0 to 1999.
    std::thread::scope(|scope| {
        for writer in 0..4 {
            let server = &server;
            scope.spawn(move || {
                for i in 0..25 {
                    let from = (writer * 25 + i) * 20;
                    assert_eq!(write_db(server, &points(from, from + 20)), 204);
                }
            });
        }
    });
    assert_eq!(count(&server), 2000);
    assert_eq!(s3.parquet_files(), 0, "nothing was persisted");
    assert!(wal_objects(&s3) > 0);
    assert!(wal_objects(&s3) <= 100, "writes share objects");
    assert!(
        std::fs::read_dir(disk.join("wal"))
            .unwrap()
            .next()
            .is_none()
    );
    assert!(metric_starting(&server, "sluice_wal_put_bytes_total") > 0.0);
    assert!(metric_starting(&server, "sluice_wal_put_seconds_count") > 0.0);

    // kill -9, the disk is lost, and the node starts on an empty one.
    drop(server);
    std::fs::remove_dir_all(&disk).unwrap();
    let server = wal_node(&s3, &disk, &[]);
    assert_eq!(count(&server), 2000);
    assert_eq!(sum(&server), sum_of_first(2000));
    // It goes on logging after what it recovered.
    assert_eq!(write_db(&server, &points(2000, 2100)), 204);
    drop(server);
    std::fs::remove_dir_all(&disk).unwrap();

    // Once persisted (the manifest in the bucket), the WAL objects are deleted.
    let server = wal_node(&s3, &disk, &["--persist-buffer-bytes", "1"]);
    assert_eq!(count(&server), 2100);
    wait_until(
        "the rows are persisted and the wal objects deleted",
        Duration::from_secs(60),
        || s3.parquet_files() > 0 && wal_objects(&s3) == 0,
    );
    drop(server);
    std::fs::remove_dir_all(&disk).unwrap();
    let server = wal_node(&s3, &disk, &[]);
    assert_eq!(count(&server), 2100);
    assert_eq!(sum(&server), sum_of_first(2100));
}

#[test]
fn while_the_store_is_away_writes_are_refused_and_taken_again_when_it_returns() {
    let Some(binary) = s3s_fs() else { return };
    let temp = tempfile::tempdir().unwrap();
    let mut s3 = S3Server::start(binary, &temp.path().join("s3"));
    let disk = temp.path().join("data");
    let server = wal_node(&s3, &disk, &FAST_FAILURE);
    assert_eq!(write_db(&server, &points(0, 100)), 204);

    s3.stop();
    let refused = server.post("/write?db=db", &[], points(100, 200).as_bytes());
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert!(refused.header("retry-after").is_some());
    assert!(
        refused.body.contains("not acknowledged"),
        "{}",
        refused.body
    );
    // Refused at once while the WAL is failing, and /health says so.
    assert_eq!(write_db(&server, &points(100, 200)), 503);
    assert_eq!(server.get("/health", &[]).status, 503);
    assert!(metric_starting(&server, "sluice_wal_failing") == 1.0);

    s3.resume();
    wait_until("writes are taken again", Duration::from_secs(30), || {
        write_db(&server, &points(200, 300)) == 204
    });
    assert_eq!(server.get("/health", &[]).status, 200);
    // Only what was acknowledged is there, before and after a restart on an empty disk.
    let acknowledged = 200;
    assert_eq!(count(&server), acknowledged);
    drop(server);
    std::fs::remove_dir_all(&disk).unwrap();
    let server = wal_node(&s3, &disk, &[]);
    assert_eq!(count(&server), acknowledged);
    assert_eq!(
        sum(&server),
        sum_of_first(100) + (200..300).sum::<i64>() as f64
    );
}

/// Starts `sluice serve` with `args`, expecting it to refuse; its stderr.
fn refused(args: &[&str]) -> String {
    let temp = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["serve", "--bind", "127.0.0.1:0", "--without-auth"])
        .arg("--data-dir")
        .arg(temp.path())
        .args(args)
        .env_clear()
        .output()
        .unwrap();
    assert!(!output.status.success());
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn the_wal_goes_to_the_store_only_of_a_cloud_node_that_ingests() {
    let local = refused(&["--wal-object-store"]);
    assert!(
        local.contains("--wal-object-store needs --object-store s3, google or azure"),
        "{local}"
    );
    let memory = refused(&["--wal-object-store", "--object-store", "memory"]);
    assert!(memory.contains("--wal-object-store needs"), "{memory}");
    let query_node = refused(&[&["--wal-object-store"][..], &UNREACHED_QUERY_NODE].concat());
    assert!(
        query_node.contains("--wal-object-store needs a node that ingests"),
        "{query_node}"
    );
    let no_interval = refused(&["--wal-flush-interval", "soon"]);
    assert!(
        no_interval.contains("--wal-flush-interval"),
        "{no_interval}"
    );
}
