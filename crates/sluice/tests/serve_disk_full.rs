//! `sluice serve` on a data directory whose disk fills up (a small tmpfs): writes get a
//! clear 507 in every API's error shape, every acknowledged line stays, `/health` fails
//! while the disk is full and passes again once space is freed, writes resume without a
//! restart, and a server killed while the disk is full starts again with every
//! acknowledged row.
//!
//! Mounting needs root. Where it is impossible the tests do nothing, unless `CI` or
//! `SLUICE_COMPAT_REQUIRED=1` is set: then they fail.

mod common;
#[path = "../../sluice-storage/tests/support/tmpfs.rs"]
mod tmpfs;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Options, TestServer, enc};
use tmpfs::{Tmpfs, fill};

fn server_on(data_dir: &Path) -> TestServer {
    TestServer::start(Options::default().arg("--without-auth").data_dir(data_dir))
}

/// 100 lines at times `batch * 100 + 1 ..= batch * 100 + 100`, about 8 KiB.
fn batch_body(batch: u64) -> (String, Vec<u64>) {
    let times: Vec<u64> = (1..=100).map(|i| batch * 100 + i).collect();
    let body = times
        .iter()
        .map(|t| format!("m,host=h{} x={t}i,pad=\"{}\" {t}\n", t % 7, "p".repeat(50)))
        .collect();
    (body, times)
}

/// Writes batches from `first` on until one is refused; returns the acknowledged times,
/// the refused batch's times and the refusal.
fn write_until_refused(server: &TestServer, first: u64) -> (Vec<u64>, Vec<u64>, common::Reply) {
    let mut acked = Vec::new();
    for batch in first..first + 5_000 {
        let (body, times) = batch_body(batch);
        let reply = server.post("/write?db=d&precision=ns", &[], body.as_bytes());
        if reply.status == 204 {
            acked.extend(times);
        } else {
            return (acked, times, reply);
        }
    }
    panic!("the disk never filled up");
}

/// Every time in `d.m`, through InfluxQL.
fn stored(server: &TestServer) -> BTreeSet<u64> {
    let reply = server.get(
        &format!("/query?db=d&epoch=ns&q={}", enc("SELECT x FROM m")),
        &[],
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let json = reply.json();
    let mut out = BTreeSet::new();
    if let Some(series) = json["results"][0]["series"].as_array() {
        for s in series {
            for row in s["values"].as_array().unwrap() {
                out.insert(row[0].as_u64().unwrap());
            }
        }
    }
    out
}

fn health(server: &TestServer) -> (u16, serde_json::Value) {
    let reply = server.get("/health", &[]);
    (reply.status, reply.json())
}

fn metric(server: &TestServer, name: &str) -> u64 {
    let reply = server.get("/metrics", &[]);
    reply
        .body
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

/// Retries `write` (a body for `/write?db=d`) until it is acknowledged.
fn write_until_accepted(server: &TestServer, body: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = server.post("/write?db=d&precision=ns", &[], body.as_bytes());
        if reply.status == 204 {
            return;
        }
        assert_eq!(reply.status, 507, "{}", reply.body);
        assert!(
            Instant::now() < deadline,
            "writes did not resume after space was freed: {}",
            reply.body
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_full_disk_answers_507_keeps_every_acknowledged_line_and_recovers_without_restart() {
    let Some(disk) = Tmpfs::mount("4m") else {
        return;
    };
    let data_dir = disk.path().join("data");
    let server = server_on(&data_dir);
    assert_eq!(health(&server).0, 200);
    // Leave about 512 KiB free: fill the disk around a slack file, then delete it.
    fs::write(disk.path().join("slack"), vec![0u8; 512 * 1024]).unwrap();
    fill(disk.path(), "filler");
    fs::remove_file(disk.path().join("slack")).unwrap();

    let (mut acked, refused, reply) = write_until_refused(&server, 0);
    assert!(!acked.is_empty(), "some writes fit first");
    assert_eq!(reply.status, 507, "{}", reply.body);
    let message = reply.json()["error"].as_str().unwrap().to_owned();
    assert!(
        message.starts_with("insufficient storage: the write-ahead log's disk is full"),
        "{message}"
    );
    assert!(!message.contains(data_dir.to_str().unwrap()), "{message}");
    assert!(
        reply
            .header("x-influxdb-error")
            .is_some_and(|h| h.starts_with("insufficient storage")),
        "{:?}",
        reply.headers
    );

    // Every API says so, in its own error shape.
    let line = b"m,host=h0 x=1i 999999999999";
    let v2 = server.post("/api/v2/write?org=o&bucket=d&precision=ns", &[], line);
    assert_eq!(v2.status, 507, "{}", v2.body);
    assert_eq!(v2.json()["code"], "unavailable");
    assert!(
        v2.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("insufficient storage: the write-ahead log's disk is full")
    );
    let v3 = server.post("/api/v3/write_lp?db=d&precision=nanosecond", &[], line);
    assert_eq!(v3.status, 507, "{}", v3.body);
    assert!(
        v3.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("insufficient storage: the write-ahead log's disk is full")
    );

    // /health fails, saying why; /metrics counts the failed WAL writes.
    let (status, body) = health(&server);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "fail");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("insufficient storage"),
        "{body}"
    );
    assert_eq!(body["checks"][0]["name"], "storage.wal");
    assert!(metric(&server, "sluice_wal_write_errors_total") >= 1);
    assert_eq!(metric(&server, "sluice_wal_failing"), 1);

    // Every acknowledged line is there, and nothing refused.
    let acked_set: BTreeSet<u64> = acked.iter().copied().collect();
    assert_eq!(stored(&server), acked_set);

    // Space returns: writes resume by themselves, /health passes again.
    fs::remove_file(disk.path().join("filler")).unwrap();
    let (body, times) = batch_body(1_000_000);
    write_until_accepted(&server, &body);
    acked.extend(times);
    // The refused batch, retried, is taken too.
    let (body, _) = batch_body(refused[0] / 100);
    write_until_accepted(&server, &body);
    acked.extend(refused);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = health(&server);
        if status == 200 {
            assert_eq!(body["status"], "pass");
            break;
        }
        assert!(Instant::now() < deadline, "/health still fails: {body}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(metric(&server, "sluice_wal_failing"), 0);
    let acked_set: BTreeSet<u64> = acked.iter().copied().collect();
    assert_eq!(stored(&server), acked_set);
    drop(server);
    drop(disk);
}

#[test]
fn killed_while_the_disk_is_full_the_server_restarts_with_every_acknowledged_row() {
    let Some(disk) = Tmpfs::mount("4m") else {
        return;
    };
    let data_dir = disk.path().join("data");
    let mut server = server_on(&data_dir);
    fs::write(disk.path().join("slack"), vec![0u8; 512 * 1024]).unwrap();
    fill(disk.path(), "filler");
    fs::remove_file(disk.path().join("slack")).unwrap();
    let (acked, refused, reply) = write_until_refused(&server, 0);
    assert_eq!(reply.status, 507, "{}", reply.body);

    let kill = Command::new("kill")
        .arg("-KILL")
        .arg(server.pid().to_string())
        .status()
        .unwrap();
    assert!(kill.success());
    server.wait(Duration::from_secs(30));
    drop(server);

    // Restarted on the still-full disk: it starts, serves every acknowledged row, and
    // refuses writes until space returns.
    let server = server_on(&data_dir);
    let kept = stored(&server);
    let acked_set: BTreeSet<u64> = acked.iter().copied().collect();
    assert!(
        acked_set.is_subset(&kept),
        "lost: {:?}",
        acked_set.difference(&kept).take(10).collect::<Vec<_>>()
    );
    // Only the refused batch may have reached the log whole before it failed.
    let possible: BTreeSet<u64> = acked_set.iter().chain(&refused).copied().collect();
    assert!(kept.is_subset(&possible));
    let (body_text, times) = batch_body(1_000_000);
    let reply = server.post("/write?db=d&precision=ns", &[], body_text.as_bytes());
    assert_eq!(reply.status, 507, "{}", reply.body);
    let (status, body) = health(&server);
    assert_eq!(status, 503, "{body}");

    fs::remove_file(disk.path().join("filler")).unwrap();
    write_until_accepted(&server, &body_text);
    let mut expected = kept.clone();
    expected.extend(times);
    assert_eq!(stored(&server), expected);
    drop(server);

    // A clean restart after all that: everything is still there.
    let server = server_on(&data_dir);
    assert_eq!(stored(&server), expected);
    assert_eq!(health(&server).0, 200);
    drop(server);
    drop(disk);
}
