//! `SELECT … INTO` and continuous queries against the real binary, including a restart
//! in the middle of a continuous query's life.

mod common;

use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{ADMIN, Options, TestServer, token};
use serde_json::{Value, json};

fn query(server: &TestServer, auth: &str, db: &str, q: &str) -> (u16, Value) {
    let path = format!("/query?db={db}&epoch=ns&q={}", url_escape(q));
    let reply = server.post(&path, &[("Authorization", auth)], b"");
    let body = if reply.body.is_empty() {
        Value::Null
    } else {
        reply.json()
    };
    (reply.status, body)
}

fn url_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn ok(server: &TestServer, db: &str, q: &str) -> Value {
    let (status, body) = query(server, &token(ADMIN), db, q);
    assert_eq!(status, 200, "{q}: {body}");
    let result = body["results"][0].clone();
    assert!(result.get("error").is_none(), "{q}: {body}");
    result
}

fn write(server: &TestServer, db: &str, lines: &str) {
    let auth = token(ADMIN);
    let reply = server.post(
        &format!("/write?db={db}"),
        &[("Authorization", auth.as_str())],
        lines.as_bytes(),
    );
    assert_eq!(reply.status, 204, "{}", reply.body);
}

fn read_token(server: &TestServer, db: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "token",
            "create",
            "--db",
            db,
            "--permission",
            "read",
            "--name",
            "r",
        ])
        .env_clear()
        .env("SLUICE_HOST", server.url(""))
        .env("SLUICE_TOKEN", ADMIN)
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("token: "))
        .expect("the token is printed")
        .to_owned()
}

fn keys(result: &Value) -> Vec<String> {
    result["series"][0]["values"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| r[0].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn select_into_writes_rows_through_storage_and_answers_the_count_written() {
    let server = TestServer::spawn();
    ok(&server, "", "CREATE DATABASE db; CREATE DATABASE other");
    write(
        &server,
        "db",
        "cpu,host=a,region=us v=1 10000000000\n\
         cpu,host=a,region=us v=3 20000000000\n\
         cpu,host=b,region=eu v=5 10000000000\n\
         mem,host=a free=7i 10000000000",
    );

    // `:MEASUREMENT` keeps each source's name, `GROUP BY *` keeps the tags.
    let result = ok(
        &server,
        "db",
        "SELECT * INTO other..:MEASUREMENT FROM /.*/ GROUP BY *",
    );
    assert_eq!(
        result["series"],
        json!([{"name": "result", "columns": ["time", "written"], "values": [[0, 4]]}])
    );
    assert_eq!(
        keys(&ok(&server, "other", "SHOW MEASUREMENTS")),
        ["cpu", "mem"]
    );
    assert_eq!(
        keys(&ok(&server, "other", "SHOW TAG KEYS FROM cpu")),
        ["host", "region"]
    );
    let mem = ok(&server, "other", "SELECT free, host FROM mem");
    assert_eq!(
        mem["series"][0]["values"],
        json!([[10_000_000_000_i64, 7, "a"]])
    );

    // An aggregate grouped by a tag: that tag stays a tag, the other one is gone.
    let result = ok(
        &server,
        "db",
        "SELECT mean(v) INTO db.autogen.cpu_mean FROM cpu WHERE time >= 0 AND time < 60s GROUP BY time(1m), host",
    );
    assert_eq!(result["series"][0]["values"], json!([[0, 2]]));
    assert_eq!(
        keys(&ok(&server, "db", "SHOW TAG KEYS FROM cpu_mean")),
        ["host"]
    );
    let means = ok(&server, "db", "SELECT mean FROM cpu_mean GROUP BY host");
    assert_eq!(means["series"][0]["tags"], json!({"host": "a"}));
    assert_eq!(means["series"][0]["values"][0][0], 0);
    assert_eq!(means["series"][0]["values"][0][1].as_f64(), Some(2.0));
    assert_eq!(means["series"][1]["values"][0][1].as_f64(), Some(5.0));

    // Without GROUP BY *, tags come out as columns and are written as fields.
    let result = ok(&server, "db", "SELECT * INTO db..copy FROM cpu");
    assert_eq!(result["series"][0]["values"], json!([[0, 3]]));
    assert!(keys(&ok(&server, "db", "SHOW TAG KEYS FROM copy")).is_empty());
    assert_eq!(
        keys(&ok(&server, "db", "SHOW FIELD KEYS FROM copy")),
        ["host", "region", "v"]
    );
    let copy = ok(&server, "db", "SELECT v FROM copy WHERE host = 'b'");
    assert_eq!(copy["series"][0]["values"][0][0], 10_000_000_000_i64);
    assert_eq!(copy["series"][0]["values"][0][1].as_f64(), Some(5.0));

    // `week` does not exist; an unknown database is an error too.
    let (_, body) = query(
        &server,
        &token(ADMIN),
        "db",
        "SELECT * INTO db.week.x FROM cpu",
    );
    assert_eq!(
        body["results"][0]["error"],
        "retention policy not found: week"
    );
    let (_, body) = query(
        &server,
        &token(ADMIN),
        "db",
        "SELECT * INTO nope..x FROM cpu",
    );
    assert_eq!(body["results"][0]["error"], "database not found: nope");

    // Reading is not enough: INTO needs write permission on the target.
    let reader = token(&read_token(&server, "db"));
    let (status, _) = query(&server, &reader, "db", "SELECT * FROM cpu");
    assert_eq!(status, 200);
    let (status, body) = query(&server, &reader, "db", "SELECT * INTO y FROM cpu");
    assert_eq!(status, 403, "{body}");
    let (status, _) = query(
        &server,
        &reader,
        "db",
        "CREATE CONTINUOUS QUERY c ON db BEGIN SELECT mean(v) INTO y FROM cpu GROUP BY time(1m) END",
    );
    assert_eq!(status, 403);
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

const STEP: i64 = 100_000_000;
const INTERVAL: i64 = 2_000_000_000;

/// The rows of `per2s` as `(time, n, s)`.
fn rollups(server: &TestServer) -> Vec<(i64, i64, f64)> {
    let result = ok(server, "db", "SELECT n, s FROM per2s");
    result["series"][0]["values"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    (
                        r[0].as_i64().unwrap(),
                        r[1].as_i64().unwrap(),
                        r[2].as_f64().unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn wait_for(server: &TestServer, what: &str, done: impl Fn(&[(i64, i64, f64)]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rows = rollups(server);
        if done(&rows) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {rows:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_continuous_query_runs_every_interval_and_resumes_after_a_restart_without_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let mut server = TestServer::start(Options::default().data_dir(&data_dir));
    ok(&server, "", "CREATE DATABASE db");
    // One point every 100 ms (20 a bucket), from before now to well after the test.
    let start = now_ns().div_euclid(INTERVAL) * INTERVAL - 2 * INTERVAL;
    let lines: Vec<String> = (0..600)
        .map(|i| format!("cpu,host=a v=1 {}", start + i * STEP))
        .collect();
    write(&server, "db", &lines.join("\n"));

    let create = "CREATE CONTINUOUS QUERY per2s ON db BEGIN SELECT count(v) AS n, sum(v) AS s INTO db..per2s FROM cpu GROUP BY time(2s), host END";
    let asked = now_ns();
    ok(&server, "db", create);
    let created = now_ns();
    ok(&server, "db", create); // the same definition again is not an error
    let (_, body) = query(
        &server,
        &token(ADMIN),
        "db",
        "CREATE CONTINUOUS QUERY per2s ON db BEGIN SELECT max(v) INTO db..x FROM cpu GROUP BY time(2s) END",
    );
    assert_eq!(
        body["results"][0]["error"],
        "continuous query already exists"
    );
    let shown = ok(&server, "", "SHOW CONTINUOUS QUERIES");
    assert_eq!(
        shown["series"],
        json!([{"name": "db", "columns": ["name", "query"], "values": [["per2s", create]]}])
    );

    wait_for(&server, "two runs", |rows| rows.len() >= 2);
    let before = rollups(&server);
    // The first run covers the interval in which the query was created (the one the
    // request was sent in, or the next when an interval ended while it was answered).
    let first = before[0].0;
    assert!(
        (asked.div_euclid(INTERVAL) * INTERVAL..=created.div_euclid(INTERVAL) * INTERVAL)
            .contains(&first),
        "first run at {first}, created between {asked} and {created}"
    );

    // Down for a few intervals: the runs missed are made up on start.
    assert!(server.terminate().success());
    std::thread::sleep(Duration::from_millis(5_000));
    let server = TestServer::start(Options::default().data_dir(&data_dir));
    let restarted = now_ns();
    // The made-up runs end with the interval before the restart; then the next run
    // comes on schedule.
    let on_schedule = restarted.div_euclid(INTERVAL) * INTERVAL;
    wait_for(&server, "a run after the restart", |rows| {
        rows.last().is_some_and(|r| r.0 >= on_schedule)
    });
    let shown = ok(&server, "", "SHOW CONTINUOUS QUERIES");
    assert_eq!(shown["series"][0]["values"][0][0], "per2s");

    let rows = rollups(&server);
    assert!(rows.len() >= before.len() + 3, "{before:?} then {rows:?}");
    for (at, row) in rows.iter().enumerate() {
        assert_eq!(
            row.0,
            before[0].0 + at as i64 * INTERVAL,
            "one row per bucket, no gap: {rows:?}"
        );
        assert_eq!((row.1, row.2), (20, 20.0), "{rows:?}");
    }

    ok(&server, "", "DROP CONTINUOUS QUERY per2s ON db");
    let (_, body) = query(
        &server,
        &token(ADMIN),
        "",
        "DROP CONTINUOUS QUERY per2s ON db",
    );
    assert_eq!(body["results"][0]["error"], "continuous query not found");
    let shown = ok(&server, "", "SHOW CONTINUOUS QUERIES");
    assert_eq!(
        shown["series"],
        json!([{"name": "db", "columns": ["name", "query"]}])
    );
    let count = rollups(&server).len();
    std::thread::sleep(Duration::from_millis(2_500));
    assert_eq!(
        rollups(&server).len(),
        count,
        "a dropped query does not run"
    );
}

/// The values of `v` that `q` answers, in time order.
fn values(server: &TestServer, q: &str) -> Vec<f64> {
    let result = ok(server, "db", q);
    result["series"][0]["values"]
        .as_array()
        .map(|rows| rows.iter().map(|r| r[1].as_f64().unwrap()).collect())
        .unwrap_or_default()
}

#[test]
fn a_retention_policy_takes_continuous_query_output_expires_by_itself_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let mut server = TestServer::start(Options::default().data_dir(&data_dir));
    ok(&server, "", "CREATE DATABASE db");
    ok(
        &server,
        "",
        "CREATE RETENTION POLICY short ON db DURATION 7d REPLICATION 1",
    );
    let now = now_ns();
    let day: i64 = 86_400_000_000_000;
    let auth = token(ADMIN);
    let reply = server.post(
        "/write?db=db&rp=short",
        &[("Authorization", auth.as_str())],
        format!("old v=1 {}\nold v=2 {now}", now - 3 * day).as_bytes(),
    );
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(values(&server, "SELECT v FROM short.old"), [1.0, 2.0]);

    // A continuous query over `autogen` (the default) writing into `short`.
    let start = now.div_euclid(INTERVAL) * INTERVAL - 2 * INTERVAL;
    let lines: Vec<String> = (0..300)
        .map(|i| format!("cpu v=1 {}", start + i * STEP))
        .collect();
    write(&server, "db", &lines.join("\n"));
    ok(
        &server,
        "db",
        "CREATE CONTINUOUS QUERY tos ON db BEGIN SELECT count(v) AS v INTO db.short.per2s FROM cpu GROUP BY time(2s) END",
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while values(&server, "SELECT v FROM short.per2s").is_empty() {
        assert!(Instant::now() < deadline, "the continuous query never ran");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        values(&server, "SELECT v FROM per2s").is_empty(),
        "not in autogen"
    );

    // A shorter duration drops the old day in the background.
    ok(
        &server,
        "",
        "ALTER RETENTION POLICY short ON db DURATION 1h SHARD DURATION 1h",
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while values(&server, "SELECT v FROM short.old") != [2.0] {
        assert!(Instant::now() < deadline, "the old day never expired");
        std::thread::sleep(Duration::from_millis(100));
    }
    let policies = ok(&server, "", "SHOW RETENTION POLICIES ON db");
    assert_eq!(
        policies["series"][0]["values"],
        json!([
            ["autogen", "0s", "168h0m0s", 1, true],
            ["short", "1h0m0s", "1h0m0s", 1, false]
        ])
    );
    ok(&server, "", "DROP CONTINUOUS QUERY tos ON db");
    assert!(server.terminate().success());

    let server = TestServer::start(Options::default().data_dir(&data_dir));
    assert_eq!(
        ok(&server, "", "SHOW RETENTION POLICIES ON db")["series"],
        policies["series"]
    );
    assert_eq!(values(&server, "SELECT v FROM short.old"), [2.0]);
    assert!(!values(&server, "SELECT v FROM short.per2s").is_empty());
    let databases = ok(&server, "", "SHOW DATABASES");
    assert_eq!(databases["series"][0]["values"], json!([["db"]]));
}
