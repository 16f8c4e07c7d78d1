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
frac,host=a x=1.5,n=3i,s=\"7\",b=true 1451606400000000000
frac,host=a x=2.5,n=4i,s=\"8\",b=false 1451606460000000000
frac,host=b x=3.7,n=5i,s=\"9\",b=true 1451606520000000000
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
        // Under DESC, `previous` is the row answered before: the later bucket's.
        format!("SELECT mean(usage) FROM cpu WHERE {RANGE} GROUP BY time(1m), host fill(previous) ORDER BY time DESC"),
        format!("SELECT mean(usage) FROM cpu WHERE {RANGE} GROUP BY time(1m) fill(linear)"),
        format!("SELECT mean(usage) FROM cpu WHERE {RANGE} GROUP BY time(1m) fill(none)"),
        format!("SELECT sum(usage) FROM cpu WHERE {RANGE} GROUP BY time(2m, 1m), host"),
        // An integer field, both hosts' points in each bucket.
        format!(
            "SELECT max(n), min(n), sum(n), mean(n), count(n), first(n), last(n) FROM cpu WHERE {RANGE} GROUP BY time(2m)"
        ),
        // Field comparisons, which scans apply as they read.
        "SELECT * FROM cpu WHERE n > 5".to_owned(),
        "SELECT usage, n FROM cpu WHERE n >= 2.5 AND usage <= 7".to_owned(),
        "SELECT * FROM cpu WHERE 15 > n".to_owned(),
        // Casts of selected fields: numbers convert (a float to an integer drops its
        // fraction), other types become null.
        "SELECT usage::integer, n::float, usage::string, n::boolean FROM cpu".to_owned(),
        "SELECT usage::integer * 2, n::unsigned FROM cpu WHERE host = 'a'".to_owned(),
        format!("SELECT mean(usage) FROM cpu WHERE {RANGE} GROUP BY time(1m), time(2m)"),
        // `GROUP BY *` over two measurements: every key of both, empty where missing.
        "SELECT last(usage), last(free) FROM cpu, mem GROUP BY *".to_owned(),
        format!("SELECT count(*) FROM cpu, mem WHERE {RANGE} GROUP BY time(2m), *"),
        // Fields and tags beside a lone selector: their values at its point.
        "SELECT max(usage), host, n FROM cpu".to_owned(),
        "SELECT host, min(usage) FROM cpu GROUP BY region".to_owned(),
        "SELECT first(n), usage, region FROM cpu GROUP BY host".to_owned(),
        "SELECT percentile(usage, 50), host FROM cpu".to_owned(),
        format!("SELECT last(usage), n, host FROM cpu WHERE {RANGE} GROUP BY time(2m)"),
        // A count of a field the measurement does not have is null, of one without points
        // in a bucket 0.
        format!("SELECT count(usage), count(free) FROM cpu WHERE {RANGE} GROUP BY time(1m)"),
        format!("SELECT count(usage), count(free) FROM cpu WHERE {RANGE} GROUP BY time(1m), host"),
        "SELECT first(usage), last(usage), spread(usage), median(usage), stddev(usage) FROM cpu"
            .to_owned(),
        "SELECT top(usage, 2) FROM cpu".to_owned(),
        // Fields and tags beside `top()`/`bottom()`: their values at each selected point;
        // arithmetic over the selected values; no row for a bucket without points.
        "SELECT top(usage, 2), host, n FROM cpu".to_owned(),
        "SELECT region, bottom(usage, host, 1) FROM cpu".to_owned(),
        "SELECT top(usage, 3) * 2 FROM cpu GROUP BY host".to_owned(),
        format!("SELECT top(usage, 1), host FROM cpu WHERE {RANGE} GROUP BY time(1m) fill(0)"),
        format!("SELECT bottom(n, 1) FROM cpu WHERE {RANGE} GROUP BY time(1m), host"),
        "SELECT top(usage, 2), mean(n) FROM cpu".to_owned(),
        "SELECT distinct(region), host FROM cpu".to_owned(),
        "SELECT percentile(usage, 50) FROM cpu".to_owned(),
        // A percentile that selects no point answers nothing; past 100 it may still
        // select the last.
        "SELECT percentile(usage, 0) FROM cpu".to_owned(),
        // Operators over types InfluxDB does not take are type errors.
        "SELECT usage + 'x' FROM cpu".to_owned(),
        "SELECT host + 'x' FROM cpu".to_owned(),
        "SELECT usage & 1 FROM cpu".to_owned(),
        "SELECT n & 1, n | 2 FROM cpu".to_owned(),
        "SELECT max(usage) + true FROM cpu".to_owned(),
        "SELECT nope + 'x' FROM cpu".to_owned(),
        "SELECT percentile(usage, -5) FROM cpu GROUP BY host".to_owned(),
        "SELECT percentile(usage, 101) FROM cpu GROUP BY host".to_owned(),
        "SELECT percentile(usage, 0), max(usage) FROM cpu".to_owned(),
        format!("SELECT percentile(usage, 0), percentile(usage, 150) FROM cpu WHERE {RANGE} GROUP BY time(2m)"),
        format!("SELECT percentile(usage, 0) FROM cpu WHERE {RANGE} GROUP BY time(2m), host"),
        format!("SELECT count(free) FROM cpu WHERE {RANGE} GROUP BY time(2m)"),
        "SELECT distinct(region) FROM cpu".to_owned(),
        // A zero limit is none.
        "SELECT usage FROM cpu LIMIT 0".to_owned(),
        "SELECT count(usage) FROM cpu GROUP BY host LIMIT 0 SLIMIT 0".to_owned(),
        "SELECT max(u) FROM (SELECT usage AS u FROM cpu LIMIT 0)".to_owned(),
        "SHOW TAG VALUES WITH KEY = host LIMIT 0".to_owned(),
        "SHOW MEASUREMENTS LIMIT 0".to_owned(),
        // A field typed `::tag` is no tag, a tag typed `::field` no field; tags alone are
        // no answer.
        "SELECT host::field, usage FROM cpu".to_owned(),
        "SELECT usage::tag, host FROM cpu".to_owned(),
        "SELECT host::tag, usage::field, n::integer FROM cpu".to_owned(),
        "SELECT host, region FROM cpu".to_owned(),
        // Column names: an alias is kept as written, even twice; a generated name that
        // is taken gets the first free `_N`.
        "SELECT mean(usage) AS a, max(n) AS a FROM cpu".to_owned(),
        "SELECT mean(usage), mean(n), mean(n) AS mean_1 FROM cpu".to_owned(),
        "SELECT mean(usage), mean(usage) AS mean FROM cpu".to_owned(),
        "SELECT usage AS n, n FROM cpu WHERE host = 'b'".to_owned(),
        "SELECT top(usage, host, 2), host FROM cpu".to_owned(),
        // `sample()` asked for more points than a group has answers all of them.
        "SELECT sample(usage, 10), n, host FROM cpu".to_owned(),
        format!("SELECT sample(usage, 10) FROM cpu WHERE {RANGE} GROUP BY time(2m), host"),
        "SELECT sample(usage, 10) * 2 FROM cpu GROUP BY host".to_owned(),
        "SELECT max(a) FROM (SELECT mean(usage) AS a, max(n) AS a FROM cpu GROUP BY host)".to_owned(),
        "SELECT a FROM (SELECT mean(usage) AS a, max(n) AS a FROM cpu GROUP BY host)".to_owned(),
        format!("SELECT derivative(mean(usage)), derivative(mean(usage)) AS derivative FROM cpu WHERE {RANGE} GROUP BY time(1m)"),
        // `time` in the field list is left out (`AS` renames the time column).
        "SELECT usage, time FROM cpu".to_owned(),
        "SELECT time AS t, usage FROM cpu WHERE host = 'a'".to_owned(),
        "SELECT time FROM cpu".to_owned(),
        "SELECT mean(usage), time FROM cpu".to_owned(),
        // Without a start, a series' buckets start at its first point; `LIMIT` keeps
        // the first ones (not every minute since 2016 made first).
        "SELECT count(usage) FROM cpu WHERE time < '2016-01-01T00:06:00Z' GROUP BY time(1m), host".to_owned(),
        "SELECT count(usage) FROM cpu GROUP BY time(1m), host LIMIT 2".to_owned(),
        "SELECT mean(usage) FROM cpu GROUP BY time(1m) fill(0) LIMIT 3 OFFSET 1".to_owned(),
        "SELECT host FROM cpu WHERE usage > 5".to_owned(),
        // Casts inside functions: the function reads the values cast (a float as an
        // integer drops its fraction; a string or boolean as a number is no value).
        "SELECT mean(x::integer), sum(x::integer), max(x::integer), min(x::integer), count(x::integer) FROM frac".to_owned(),
        "SELECT first(x::integer), last(n::float) FROM frac".to_owned(),
        "SELECT median(x::integer), spread(x::integer), stddev(x::integer), mode(x::integer) FROM frac".to_owned(),
        "SELECT mean(n::float), sum(n::float), sum(x::float), sum(x::field) FROM frac".to_owned(),
        "SELECT distinct(x::integer) FROM frac".to_owned(),
        "SELECT count(distinct(x::integer)) FROM frac".to_owned(),
        "SELECT percentile(x::integer, 50) FROM frac".to_owned(),
        "SELECT top(x::integer, 2) FROM frac".to_owned(),
        "SELECT mean(s::float) FROM frac".to_owned(),
        "SELECT count(s::integer) FROM frac".to_owned(),
        "SELECT mean(b::integer) FROM frac".to_owned(),
        "SELECT mean(x::string) FROM frac".to_owned(),
        "SELECT integral(x::integer) FROM frac".to_owned(),
        "SELECT last(n::unsigned) FROM frac".to_owned(),
        "SELECT mean(x::integer) FROM frac GROUP BY host".to_owned(),
        format!("SELECT sum(x::integer) FROM frac WHERE {RANGE} GROUP BY time(2m)"),
        format!("SELECT mean(x::integer), mean(x) FROM frac WHERE {RANGE} GROUP BY time(2m)"),
        "SELECT max(x::integer), host FROM frac".to_owned(),
        "SHOW MEASUREMENTS".to_owned(),
        "SHOW TAG KEYS FROM cpu".to_owned(),
        "SHOW TAG VALUES WITH KEY = host".to_owned(),
        "SHOW FIELD KEYS".to_owned(),
        "SHOW SERIES".to_owned(),
        "SHOW SERIES CARDINALITY".to_owned(),
        "SHOW SERIES EXACT CARDINALITY".to_owned(),
        // Tags compare by equality and patterns only.
        "SHOW TAG VALUES WITH KEY = host WHERE region > 'a'".to_owned(),
        "SHOW SERIES WHERE usage >= 0".to_owned(),
        "SHOW MEASUREMENTS WHERE host = 'a' OR n < 3".to_owned(),
        format!("SHOW TAG KEYS WHERE host = 'a' AND {RANGE}"),
        "SHOW SERIES EXACT CARDINALITY FROM cpu WHERE host = 'a'".to_owned(),
        "SHOW SERIES CARDINALITY FROM cpu".to_owned(),
        "SHOW SERIES CARDINALITY WHERE host = 'a'".to_owned(),
        "SHOW MEASUREMENT CARDINALITY WHERE region = 'eu'".to_owned(),
        "SHOW MEASUREMENT EXACT CARDINALITY WHERE region = 'eu'".to_owned(),
        "SHOW TAG KEY CARDINALITY WHERE region = 'eu'".to_owned(),
        "SHOW MEASUREMENT CARDINALITY".to_owned(),
        "SHOW MEASUREMENT EXACT CARDINALITY".to_owned(),
        "SHOW TAG KEY CARDINALITY".to_owned(),
        "SHOW TAG KEY EXACT CARDINALITY FROM cpu".to_owned(),
        "SHOW TAG VALUES CARDINALITY WITH KEY = host".to_owned(),
        "SHOW TAG VALUES EXACT CARDINALITY FROM cpu WITH KEY IN (host, region)".to_owned(),
        "SHOW FIELD KEY CARDINALITY".to_owned(),
        "SHOW FIELD KEY EXACT CARDINALITY FROM cpu".to_owned(),
    ]
    .into()
}

/// Delete statements run in order after `queries()`, each with the queries whose answers
/// must then match.
fn deletes() -> Vec<(&'static str, Vec<&'static str>)> {
    let checks = vec![
        "SELECT * FROM cpu",
        "SHOW SERIES",
        "SHOW MEASUREMENTS",
        "SHOW SERIES EXACT CARDINALITY",
        "SHOW TAG KEY CARDINALITY",
    ];
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

/// A loopback port free now and never handed out before in this process: the tests
/// start their `influxd`s at once, and two given the same port would find one server.
fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap();
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
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

/// The running `influxd` and its directory, both gone on drop.
struct Influxd(
    Child,
    #[allow(dead_code, reason = "held to be removed on drop")] tempfile::TempDir,
);

impl Drop for Influxd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `influxd` on free loopback ports in a temporary directory; `None` (with a
/// printed reason) when it is not installed.
fn start_influxd(test: &str) -> Option<(Influxd, u16)> {
    let Ok(path) = which_influxd() else {
        println!("SKIPPED {test}: influxd not on PATH (install the Debian package influxdb)");
        return None;
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
    let mut guard = Influxd(child, dir);
    let deadline = Instant::now() + Duration::from_secs(30);
    while http(port, "GET", "/ping", "").map(|r| r.0).ok() != Some(204) {
        assert!(Instant::now() < deadline, "influxd did not start");
        if let Some(status) = guard.0.try_wait().unwrap() {
            panic!("influxd exited at start ({status}): a port of {port} and {rpc} taken?");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Some((guard, port))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn influxql_answers_match_influxdb_1x() {
    let Some((_guard, port)) = start_influxd("influxql_answers_match_influxdb_1x") else {
        return;
    };
    // The points across the changes of the clocks go to a database of their own: InfluxDB
    // counts a series once per shard (weekly) in `SHOW … CARDINALITY`.
    for (db, data) in [("db", DATA), ("zones", ZONE_DATA)] {
        http(
            port,
            "POST",
            &format!("/query?q=CREATE%20DATABASE%20{db}"),
            "",
        )
        .unwrap();
        let (status, body) = http(port, "POST", &format!("/write?db={db}"), data).unwrap();
        assert_eq!(status, 204, "{body}");
    }

    let sluice_dir = tempfile::tempdir().unwrap();
    let storage = common::open(sluice_dir.path()).await;
    common::write(&storage, DATA).await;
    common::write_to(&storage, "zones", ZONE_DATA).await;
    let engine = QueryEngine::new(storage.clone());

    let mut mismatches = Vec::new();
    let queries = (queries().into_iter().map(|q| ("db", q)))
        .chain(ZONE_QUERIES.iter().map(|q| ("zones", q.to_string())));
    for (db, q) in queries {
        let (_, theirs) =
            http(port, "GET", &format!("/query?db={db}&q={}", encode(&q)), "").unwrap();
        // A query that does not parse is an error for the whole request.
        let ours = match engine.influxql(Some(db), &q, None).await {
            Ok(results) => v1_json(&results, Epoch::Rfc3339),
            Err(e) => sluice_query::format::v1_error_json(&e.to_string()),
        };
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

/// Grafana's `$timeFilter` and friends, filled in the way its InfluxDB 1.x data source
/// fills them.
struct Grafana {
    /// `time >= now() - 6h`
    relative: String,
    /// `time >= 1700000000000ms and time <= 1700021600000ms`
    absolute: String,
}

/// Hosts and their regions in the golden data set.
const HOSTS: [(&str, &str); 4] = [
    ("server01", "us"),
    ("server02", "us"),
    ("server03", "eu"),
    ("server04", "eu"),
];

/// Two hours of 10 s points ending just before `end_s` (seconds, a multiple of 10):
/// `cpu` (floats that are multiples of 0.5, so sums are exact whatever their order,
/// and an integer counter that resets once) and `mem`, for four hosts; `server03` has a
/// 20 minute gap, `server04` only reports in the last hour.
fn golden_data(end_s: i64) -> String {
    let mut out = String::new();
    let mut seed: u64 = 42;
    let mut next = move |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let steps = 720;
    let mut counters = [0i64; 4];
    for step in 0..steps {
        let t = end_s - (steps - step) * 10;
        let ago = end_s - t;
        for (h, (host, region)) in HOSTS.iter().enumerate() {
            let r_user = next(200);
            let r_sys = next(40);
            let r_bytes = next(5000);
            let r_mem = next(100);
            if h == 2 && (70 * 60..90 * 60).contains(&ago) {
                continue;
            }
            if h == 3 && ago > 3600 {
                continue;
            }
            counters[h] += r_bytes as i64;
            if h == 1 && step == 400 {
                counters[h] = 0;
            }
            let user = r_user as f64 * 0.5;
            let system = r_sys as f64 * 0.25;
            out.push_str(&format!(
                "cpu,host={host},region={region} usage_user={user},usage_system={system},bytes_recv={}i {t}000000000\n",
                counters[h]
            ));
            out.push_str(&format!(
                "mem,host={host},region={region} used_percent={},free={}i {t}000000000\n",
                r_mem as f64 * 0.5,
                1000 + r_mem as i64
            ));
        }
    }
    out
}

/// The golden set: queries in the shapes Grafana's InfluxDB 1.x data source sends.
fn grafana_queries(g: &Grafana) -> Vec<String> {
    let rel = &g.relative;
    let abs = &g.absolute;
    let mut q: Vec<String> = Vec::new();
    for tf in [rel, abs] {
        q.extend([
            format!("SELECT mean(\"usage_user\") FROM \"cpu\" WHERE {tf} GROUP BY time(1m) fill(null)"),
            format!("SELECT mean(\"usage_user\") FROM \"cpu\" WHERE (\"host\" =~ /^(server01|server03)$/) AND {tf} GROUP BY time(5m), \"host\" fill(null)"),
            format!("SELECT max(\"usage_user\"), min(\"usage_system\") FROM \"cpu\" WHERE \"host\" = 'server03' AND {tf} GROUP BY time(10m) fill(none)"),
            format!("SELECT last(\"bytes_recv\") FROM \"cpu\" WHERE {tf} GROUP BY time(15m), \"host\" fill(0)"),
            format!("SELECT non_negative_derivative(mean(\"bytes_recv\"), 1s) FROM \"cpu\" WHERE {tf} GROUP BY time(1m), \"host\" fill(null)"),
            format!("SELECT derivative(mean(\"usage_user\"), 1m) FROM \"cpu\" WHERE \"host\" = 'server03' AND {tf} GROUP BY time(5m) fill(null)"),
            format!("SELECT count(\"usage_user\") FROM \"cpu\" WHERE {tf} GROUP BY time(30m), \"region\" fill(0)"),
        ]);
    }
    let tf = rel;
    let gap = "\"host\" = 'server03' AND time >= now() - 100m AND time <= now() - 60m";
    for fill in ["null", "none", "0", "previous", "linear", "-1"] {
        q.extend([
            format!("SELECT moving_average(mean(\"usage_user\"), 3) FROM \"cpu\" WHERE {gap} GROUP BY time(5m) fill({fill})"),
            format!("SELECT mean(\"usage_user\") FROM \"cpu\" WHERE {gap} GROUP BY time(5m) fill({fill})"),
            format!("SELECT derivative(mean(\"usage_user\")) FROM \"cpu\" WHERE {gap} GROUP BY time(5m) fill({fill})"),
            format!("SELECT non_negative_derivative(max(\"bytes_recv\"), 1s) FROM \"cpu\" WHERE {gap} GROUP BY time(5m) fill({fill})"),
            format!("SELECT difference(mean(\"usage_user\")), moving_average(mean(\"usage_user\"), 3) FROM \"cpu\" WHERE {gap} GROUP BY time(5m) fill({fill})"),
            // A running sum starts at the range, though points come before it.
            format!("SELECT cumulative_sum(count(\"usage_user\")), cumulative_sum(mean(\"usage_user\")) FROM \"cpu\" WHERE {gap} GROUP BY time(5m) fill({fill})"),
        ]);
    }
    q.extend([
        // Aggregates and selectors.
        format!("SELECT sum(\"usage_user\"), count(\"usage_user\"), spread(\"usage_user\") FROM \"cpu\" WHERE {tf} GROUP BY time(20m), \"host\""),
        format!("SELECT median(\"usage_user\"), percentile(\"usage_user\", 95) FROM \"cpu\" WHERE {tf} GROUP BY time(30m)"),
        // (Without `GROUP BY time` rows are dated at the range start: absolute bounds, so
        // that both answers see the same `now()`.)
        format!("SELECT first(\"usage_user\"), last(\"usage_user\") FROM \"cpu\" WHERE {abs} GROUP BY \"host\""),
        format!("SELECT max(\"usage_user\") FROM \"cpu\" WHERE \"region\" =~ /^eu$/ AND {tf} GROUP BY time(10s) LIMIT 5"),
        format!("SELECT mean(\"usage_user\") FROM \"cpu\" WHERE \"host\" !~ /^server0[12]$/ AND {tf} GROUP BY time(1h), *"),
        format!("SELECT mean(\"used_percent\") AS \"used\" FROM \"mem\" WHERE {tf} GROUP BY time(30m), \"host\" fill(null)"),
        format!("SELECT \"usage_user\" FROM \"cpu\" WHERE \"host\" = 'server01' AND {tf} ORDER BY time DESC LIMIT 3"),
        format!("SELECT mean(\"usage_user\") + mean(\"usage_system\") FROM \"cpu\" WHERE {tf} GROUP BY time(30m)"),
        format!("SELECT \"usage_user\" * 2 + \"usage_system\" FROM \"cpu\" WHERE \"host\" = 'server02' AND {tf} LIMIT 3"),
        // Transformations over raw points.
        format!("SELECT derivative(\"usage_user\") FROM \"cpu\" WHERE \"host\" = 'server01' AND {tf} LIMIT 5"),
        format!("SELECT derivative(\"usage_user\", 10s), difference(\"bytes_recv\"), non_negative_difference(\"bytes_recv\") FROM \"cpu\" WHERE {tf} GROUP BY \"host\" LIMIT 4"),
        format!("SELECT non_negative_derivative(\"bytes_recv\", 1s) FROM \"cpu\" WHERE \"host\" = 'server02' AND {tf} LIMIT 3 OFFSET 398"),
        format!("SELECT difference(\"bytes_recv\"), cumulative_sum(\"usage_user\"), moving_average(\"usage_user\", 4), elapsed(\"usage_user\", 1s) FROM \"cpu\" WHERE {gap}"),
        format!("SELECT elapsed(\"usage_user\") FROM \"cpu\" WHERE \"host\" = 'server04' AND {tf} LIMIT 2"),
        format!("SELECT cumulative_sum(\"bytes_recv\") FROM \"cpu\" WHERE {tf} GROUP BY \"host\" ORDER BY time DESC LIMIT 2"),
        format!("SELECT derivative(\"usage_user\", 1m) FROM \"cpu\" WHERE {tf} GROUP BY \"host\" ORDER BY time DESC LIMIT 2"),
        // Transformations over aggregates.
        format!("SELECT cumulative_sum(sum(\"bytes_recv\")) FROM \"cpu\" WHERE {tf} GROUP BY time(10m), \"host\""),
        format!("SELECT elapsed(count(\"usage_user\"), 1m) FROM \"cpu\" WHERE {gap} GROUP BY time(5m) fill(none)"),
        format!("SELECT non_negative_difference(last(\"bytes_recv\")) FROM \"cpu\" WHERE {tf} GROUP BY time(10m), \"host\""),
        format!("SELECT mean(\"usage_user\"), derivative(mean(\"usage_user\"), 1m) FROM \"cpu\" WHERE {tf} GROUP BY time(10m)"),
        format!("SELECT derivative(mean(\"usage_user\"), 1m) FROM \"cpu\" WHERE {tf} GROUP BY time(10m) fill(0) ORDER BY time DESC"),
        format!("SELECT moving_average(max(\"usage_user\"), 2) FROM \"cpu\" WHERE {tf} GROUP BY time(15m), \"host\" fill(linear)"),
        format!("SELECT integral(\"usage_user\") FROM \"cpu\" WHERE \"host\" = 'server01' AND {tf}"),
        format!("SELECT integral(\"usage_user\", 1m) FROM \"cpu\" WHERE {tf} GROUP BY \"host\""),
        format!("SELECT integral(\"bytes_recv\") FROM \"cpu\" WHERE {abs} GROUP BY \"host\""),
        format!("SELECT integral(\"usage_user\", 1m), integral(\"bytes_recv\") FROM \"cpu\" WHERE {abs} GROUP BY \"host\""),
        format!("SELECT integral(\"usage_user\", 1m) FROM \"cpu\" WHERE {gap} GROUP BY time(10m)"),
        format!("SELECT round(derivative(mean(\"usage_user\"), 1m)) FROM \"cpu\" WHERE {tf} GROUP BY time(10m)"),
        // Math over raw fields and over aggregates.
        format!("SELECT abs(\"usage_user\" - 50), ceil(\"usage_system\"), floor(\"usage_system\"), round(\"usage_system\") FROM \"cpu\" WHERE \"host\" = 'server01' AND {tf} LIMIT 5"),
        format!("SELECT sqrt(\"usage_user\"), pow(\"usage_system\", 2), exp(\"usage_system\" / 10), ln(\"usage_user\" + 1) FROM \"cpu\" WHERE \"host\" = 'server02' AND {tf} LIMIT 5"),
        format!("SELECT log(\"usage_user\" + 1, 10), log2(\"usage_user\" + 1), log10(\"usage_user\" + 1) FROM \"cpu\" WHERE \"host\" = 'server03' AND {tf} LIMIT 5"),
        format!("SELECT sin(\"usage_user\"), cos(\"usage_user\"), tan(\"usage_user\") FROM \"cpu\" WHERE \"host\" = 'server04' AND {tf} LIMIT 5"),
        format!("SELECT asin(\"usage_user\" / 100), acos(\"usage_user\" / 100), atan(\"usage_user\"), atan2(\"usage_user\", \"usage_system\") FROM \"cpu\" WHERE \"host\" = 'server01' AND {tf} LIMIT 5"),
        format!("SELECT abs(\"bytes_recv\"), round(\"bytes_recv\"), floor(\"free\") FROM \"cpu\", \"mem\" WHERE \"host\" = 'server01' AND {tf} LIMIT 2"),
        format!("SELECT round(mean(\"usage_user\")), ceil(max(\"usage_system\")), floor(min(\"usage_system\")) FROM \"cpu\" WHERE {tf} GROUP BY time(30m), \"host\""),
        format!("SELECT sqrt(mean(\"usage_user\")), abs(min(\"usage_user\") - 50), pow(max(\"usage_system\"), 2) FROM \"cpu\" WHERE {tf} GROUP BY time(1h)"),
        // Subqueries.
        format!("SELECT max(\"m\") FROM (SELECT mean(\"usage_user\") AS \"m\" FROM \"cpu\" WHERE {tf} GROUP BY time(1m), \"host\") WHERE {tf} GROUP BY time(10m)"),
        format!("SELECT max(\"m\") FROM (SELECT mean(\"usage_user\") AS \"m\" FROM \"cpu\" WHERE {tf} GROUP BY time(1m), \"host\") WHERE {tf} GROUP BY time(10m), \"host\""),
        format!("SELECT mean(\"mx\") FROM (SELECT max(\"m\") AS \"mx\" FROM (SELECT mean(\"usage_user\") AS \"m\" FROM \"cpu\" WHERE {tf} GROUP BY time(1m), \"host\") GROUP BY time(10m), \"host\") WHERE {tf} GROUP BY time(30m)"),
        format!("SELECT count(\"m\") FROM (SELECT mean(\"usage_user\") AS \"m\" FROM \"cpu\" WHERE {tf} GROUP BY time(5m), \"host\") WHERE \"m\" > 50 GROUP BY \"host\""),
        format!("SELECT sum(\"b\") FROM (SELECT last(\"bytes_recv\") AS \"b\" FROM \"cpu\" WHERE {tf} GROUP BY \"host\")"),
        format!("SELECT mean(\"usage_user\") FROM (SELECT \"usage_user\" FROM \"cpu\" WHERE {tf}) WHERE \"host\" = 'server02'"),
        format!("SELECT \"m\" FROM (SELECT max(\"usage_user\") AS \"m\" FROM \"cpu\" WHERE {tf} GROUP BY \"host\") WHERE \"m\" >= 99 GROUP BY \"host\""),
        format!("SELECT max(\"d\") FROM (SELECT non_negative_derivative(max(\"bytes_recv\"), 1s) AS \"d\" FROM \"cpu\" WHERE {tf} GROUP BY time(1m), \"host\") WHERE {tf} GROUP BY time(10m) fill(none)"),
        format!("SELECT max(\"m\") FROM (SELECT mean(\"usage_user\") AS \"m\" FROM \"cpu\" WHERE {tf} GROUP BY time(1m), \"host\") GROUP BY time(10m)"),
        format!("SELECT derivative(\"usage_user\", 10s) FROM \"cpu\" WHERE {tf} LIMIT 6"),
        format!("SELECT sum(\"r\") FROM (SELECT non_negative_derivative(max(\"bytes_recv\"), 1s) AS \"r\" FROM \"cpu\" WHERE {tf} GROUP BY time(1m), \"host\" fill(none)) WHERE {tf} GROUP BY time(1m)"),
        format!("SELECT top(\"m\", \"host\", 3) FROM (SELECT mean(\"usage_user\") AS \"m\" FROM \"cpu\" WHERE {abs} GROUP BY \"host\")"),
        // Grafana's math() part on top of a transformation or of aggregates.
        format!("SELECT non_negative_derivative(mean(\"bytes_recv\"), 1s) * 8 FROM \"cpu\" WHERE {tf} GROUP BY time(5m), \"host\" fill(null)"),
        format!("SELECT derivative(mean(\"usage_user\"), 1s) / 100 AS \"d\" FROM \"cpu\" WHERE {gap} GROUP BY time(5m) fill(linear)"),
        format!("SELECT mean(\"usage_user\") * 100 / mean(\"usage_system\") FROM \"cpu\" WHERE {tf} GROUP BY time(30m)"),
        // Series order under ORDER BY time DESC (TSBS lastpoint).
        "SELECT * FROM \"cpu\" GROUP BY \"host\" ORDER BY time DESC LIMIT 1".to_owned(),
        format!("SELECT last(\"usage_user\") FROM \"cpu\", \"mem\" WHERE {tf} GROUP BY \"host\" ORDER BY time DESC"),
        format!("SELECT max(\"usage_user\") FROM \"cpu\" WHERE {tf} GROUP BY time(1h), \"host\" ORDER BY time DESC LIMIT 2"),
        // Several statements in one request.
        format!("SELECT mean(\"usage_user\") FROM \"cpu\" WHERE {tf} GROUP BY time(30m); SELECT max(\"used_percent\") FROM \"mem\" WHERE {tf} GROUP BY time(30m), \"host\""),
        format!("SHOW TAG VALUES WITH KEY = \"host\"; SELECT count(\"free\") FROM \"mem\" WHERE {abs}"),
        // The retention policy Grafana's query editor writes before the measurement.
        format!("SELECT mean(\"usage_user\") AS \"user\" FROM \"autogen\".\"cpu\" WHERE {tf} GROUP BY time(10m), \"host\" fill(null)"),
        format!("SELECT non_negative_derivative(last(\"bytes_recv\"), 1s) FROM \"db\".\"autogen\".\"cpu\" WHERE {tf} GROUP BY time(10m) fill(none)"),
        "SHOW FIELD KEYS FROM \"autogen\".\"cpu\"".to_owned(),
        "SHOW TAG VALUES FROM \"autogen\".\"mem\" WITH KEY = \"region\"".to_owned(),
        // Template variables and the query editor.
        "SHOW MEASUREMENTS".to_owned(),
        "SHOW MEASUREMENTS WITH MEASUREMENT =~ /cp/ LIMIT 100".to_owned(),
        "SHOW TAG KEYS".to_owned(),
        "SHOW TAG KEYS FROM \"cpu\"".to_owned(),
        "SHOW FIELD KEYS".to_owned(),
        "SHOW FIELD KEYS FROM \"mem\"".to_owned(),
        "SHOW TAG VALUES WITH KEY = \"host\"".to_owned(),
        "SHOW TAG VALUES FROM \"cpu\" WITH KEY = \"host\" WHERE \"region\" =~ /^eu$/".to_owned(),
        "SHOW TAG VALUES WITH KEY IN (\"host\", \"region\")".to_owned(),
        "SHOW RETENTION POLICIES ON \"db\"".to_owned(),
        // Errors, with InfluxDB's words.
        "SELECT foo(\"usage_user\") FROM \"cpu\"".to_owned(),
        format!("SELECT derivative(\"usage_user\") FROM \"cpu\" WHERE {tf} GROUP BY time(1m)"),
        "SELECT derivative(mean(\"usage_user\")) FROM \"cpu\"".to_owned(),
        format!("SELECT mean(\"usage_user\"), \"usage_user\" FROM \"cpu\" WHERE {tf}"),
    ]);
    q
}

/// Queries whose answers differ from InfluxDB 1.6 on purpose, with the reason (matched
/// by the start of the query).
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    (
        "SELECT integral(\"usage_user\", 1m), integral(\"bytes_recv\")",
        "InfluxDB 1.6 dates a float integral at the epoch and an integer one at the range \
         start, so it splits the row in two and then lists the series out of order; sluice \
         answers one row per series, dated as each column's integral is alone",
    ),
    (
        "SELECT integral(\"usage_user\", 1m) FROM \"cpu\" WHERE time >= now() - 6h GROUP BY \"host\"",
        "InfluxDB 1.6 lists integral()'s series in reverse tag order (and, under GROUP BY \
         time, once per bucket); sluice lists them once each in tag order",
    ),
    (
        "SELECT integral(\"bytes_recv\") FROM \"cpu\"",
        "as above: InfluxDB 1.6 lists integral()'s series in reverse tag order",
    ),
    (
        "SELECT derivative(\"usage_user\", 10s) FROM \"cpu\" WHERE time >= now() - 6h LIMIT 6",
        "a raw transformation over several series merged into one, with points at equal \
         times: each takes the first point of a time, and which series InfluxDB 1.6 hands \
         over first depends on the state of its merge heap (here it rotates through the \
         hosts); sluice takes the first series in tag order. Dashboards group by the tag \
         or select one series, where both agree",
    ),
];

/// Functions whose results may differ from InfluxDB's in the last bits: Go computes
/// them with its own algorithms, sluice with the platform's libm (both within an ulp or
/// two of the exact value). Answers to queries calling them are compared within 4 ulps.
const LAST_BIT_FUNCTIONS: &[&str] = &[
    "exp(", "ln(", "log(", "log2(", "log10(", "sin(", "cos(", "tan(", "asin(", "acos(", "atan(",
    "atan2(", "pow(",
];

/// Whether two JSON answers are equal, numbers within `ulps` units in the last place.
fn nearly_equal(a: &serde_json::Value, b: &serde_json::Value, ulps: u64) -> bool {
    use serde_json::Value as J;
    match (a, b) {
        (J::Number(x), J::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) if x == y => true,
            (Some(x), Some(y)) if x.signum() == y.signum() => {
                x.to_bits().abs_diff(y.to_bits()) <= ulps
            }
            _ => x == y,
        },
        (J::Array(x), J::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| nearly_equal(x, y, ulps))
        }
        (J::Object(x), J::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| nearly_equal(v, w, ulps)))
        }
        _ => a == b,
    }
}

/// What one system answers to `q`: the JSON document, parsed.
async fn both(
    engine: &QueryEngine,
    port: u16,
    q: &str,
    epoch: Epoch,
) -> (serde_json::Value, serde_json::Value, String, String) {
    let (_, theirs) = http(
        port,
        "GET",
        &format!("/query?db=db&epoch=ms&q={}", encode(q)),
        "",
    )
    .unwrap();
    let ours = match engine.influxql(Some("db"), q, None).await {
        Ok(results) => v1_json(&results, epoch),
        Err(e) => sluice_query::format::v1_error_json(&e.to_string()),
    };
    let a = serde_json::from_str(&ours).unwrap();
    let b = serde_json::from_str(theirs.trim()).unwrap_or(serde_json::Value::Null);
    (a, b, ours, theirs.trim().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grafana_queries_match_influxdb_1x() {
    let Some((_guard, port)) = start_influxd("grafana_queries_match_influxdb_1x") else {
        return;
    };
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let end_s = now_s - now_s % 10;
    let data = golden_data(end_s);
    http(port, "POST", "/query?q=CREATE%20DATABASE%20db", "").unwrap();
    let (status, body) = http(port, "POST", "/write?db=db", &data).unwrap();
    assert_eq!(status, 204, "{body}");
    let sluice_dir = tempfile::tempdir().unwrap();
    let storage = common::open(sluice_dir.path()).await;
    common::write(&storage, &data).await;
    let engine = QueryEngine::new(storage.clone());

    let grafana = Grafana {
        relative: "time >= now() - 6h".to_owned(),
        absolute: format!(
            "time >= {}ms and time <= {}ms",
            (end_s - 6 * 3600) * 1000,
            end_s * 1000
        ),
    };
    let queries = grafana_queries(&grafana);
    assert!(queries.len() >= 80, "{} queries", queries.len());
    let mut mismatches = Vec::new();
    for q in &queries {
        if KNOWN_DIFFERENCES.iter().any(|(k, _)| q.starts_with(k)) {
            continue;
        }
        let ulps = if LAST_BIT_FUNCTIONS.iter().any(|f| q.contains(f)) {
            4
        } else {
            0
        };
        // `now()` moves between the two answers: a bucket edge may pass in between, so a
        // mismatch is asked again before it counts.
        let mut attempt = 0;
        loop {
            let (a, b, ours, theirs) = both(&engine, port, q, Epoch::Milliseconds).await;
            if nearly_equal(&a, &b, ulps) {
                break;
            }
            attempt += 1;
            if attempt == 3 {
                mismatches.push(format!("{q}\n  sluice:   {ours}\n  influxdb: {theirs}"));
                break;
            }
        }
    }
    // Chunked answers, as Grafana's and the 1.x clients' `chunked=true` asks for them.
    for (q, size) in [
        (
            format!(
                "SELECT \"usage_user\" FROM \"cpu\" WHERE {} GROUP BY \"host\" LIMIT 5",
                grafana.absolute
            ),
            2,
        ),
        (
            format!(
                "SELECT mean(\"usage_user\") FROM \"cpu\" WHERE {} GROUP BY time(30m), \"region\"; SHOW TAG KEYS",
                grafana.absolute
            ),
            5,
        ),
        // A `SHOW` answer is one chunk per series, uncut, but `SHOW SERIES` is cut as a
        // `SELECT` is.
        ("SHOW TAG VALUES WITH KEY = \"host\"".to_owned(), 1),
        (
            "SHOW SERIES; SHOW TAG KEYS; SHOW MEASUREMENTS".to_owned(),
            2,
        ),
    ] {
        let (_, theirs) = http(
            port,
            "GET",
            &format!(
                "/query?db=db&epoch=ms&chunked=true&chunk_size={size}&q={}",
                encode(&q)
            ),
            "",
        )
        .unwrap();
        let results = engine.influxql(Some("db"), &q, None).await.unwrap();
        let ours = sluice_query::format::v1_json_chunks(&results, Epoch::Milliseconds, size);
        let theirs: Vec<&str> = theirs.lines().filter(|l| !l.is_empty()).collect();
        if ours != theirs {
            mismatches.push(format!(
                "chunked ({size}) {q}\n  sluice:   {}\n  influxdb: {}",
                ours.join("\n            "),
                theirs.join("\n            ")
            ));
        }
    }
    storage.shutdown().await.unwrap();
    assert!(
        mismatches.is_empty(),
        "{} of {} queries differ:\n{}",
        mismatches.len(),
        queries.len(),
        mismatches.join("\n")
    );
}

/// `SELECT … INTO` statements run in order on both, each with the queries whose answers
/// must then match. (`:MEASUREMENT` runs first: once `copy` has `host` as a field, `*`
/// over `/.*/` writes `host` to `cpu` as both a tag and a field, which InfluxDB 1.x
/// accepts and sluice's catalog refuses.)
fn into_statements() -> Vec<(String, Vec<&'static str>)> {
    vec![
        (
            "SELECT * INTO db2..:MEASUREMENT FROM /.*/ GROUP BY *".to_owned(),
            vec![
                "SHOW MEASUREMENTS ON db2",
                "SELECT * FROM db2..cpu",
                "SELECT * FROM db2..mem",
            ],
        ),
        (
            format!(
                "SELECT mean(usage) INTO cpu_mean FROM cpu WHERE {RANGE} GROUP BY time(1m), host"
            ),
            vec!["SELECT * FROM cpu_mean", "SHOW TAG KEYS FROM cpu_mean"],
        ),
        (
            "SELECT * INTO db.autogen.copy FROM cpu".to_owned(),
            vec![
                "SELECT * FROM copy",
                "SHOW TAG KEYS FROM copy",
                "SHOW FIELD KEYS FROM copy",
            ],
        ),
        ("SELECT * INTO db.nope.x FROM cpu".to_owned(), vec![]),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn select_into_answers_match_influxdb_1x() {
    let Some((_guard, port)) = start_influxd("select_into_answers_match_influxdb_1x") else {
        return;
    };
    let sluice_dir = tempfile::tempdir().unwrap();
    let storage = common::open(sluice_dir.path()).await;
    let engine = QueryEngine::new(storage.clone());
    for q in ["CREATE DATABASE db", "CREATE DATABASE db2"] {
        http(port, "POST", &format!("/query?q={}", encode(q)), "").unwrap();
        engine.influxql(None, q, None).await.unwrap();
    }
    let (status, body) = http(port, "POST", "/write?db=db", DATA).unwrap();
    assert_eq!(status, 204, "{body}");
    common::write(&storage, DATA).await;

    let mut mismatches = Vec::new();
    for (statement, checks) in into_statements() {
        for q in std::iter::once(statement.as_str()).chain(checks) {
            let (_, theirs) =
                http(port, "POST", &format!("/query?db=db&q={}", encode(q)), "").unwrap();
            let ours = v1_json(
                &engine.influxql(Some("db"), q, None).await.unwrap(),
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
    }
    storage.shutdown().await.unwrap();
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// Retention policy statements, run in order on both; each answer must match.
const POLICY_STATEMENTS: &[&str] = &[
    "SHOW RETENTION POLICIES ON rp",
    "CREATE RETENTION POLICY r ON rp DURATION 2h REPLICATION 1",
    // The same settings again: nothing to do.
    "CREATE RETENTION POLICY r ON rp DURATION 2h REPLICATION 1",
    "CREATE RETENTION POLICY r ON rp DURATION 3h REPLICATION 1",
    "CREATE RETENTION POLICY r ON rp DURATION 2h REPLICATION 1 DEFAULT",
    "CREATE RETENTION POLICY s ON rp DURATION 30m REPLICATION 1",
    "CREATE RETENTION POLICY s ON nodb DURATION 3h REPLICATION 1",
    "CREATE RETENTION POLICY s ON rp DURATION 3h REPLICATION 1 SHARD DURATION 4h",
    "CREATE RETENTION POLICY half ON rp DURATION 180d REPLICATION 1",
    "CREATE RETENTION POLICY two ON rp DURATION 2d REPLICATION 2 SHARD DURATION 1m",
    "CREATE RETENTION POLICY hour ON rp DURATION 1h REPLICATION 1",
    "CREATE RETENTION POLICY forever ON rp DURATION 0s REPLICATION 1",
    "SHOW RETENTION POLICIES ON rp",
    "ALTER RETENTION POLICY r ON rp DURATION 1d",
    "ALTER RETENTION POLICY r ON rp SHARD DURATION 2d",
    "ALTER RETENTION POLICY r ON rp DURATION 30m",
    "ALTER RETENTION POLICY nope ON rp DURATION 3h",
    "ALTER RETENTION POLICY r ON nodb DURATION 3h",
    "ALTER RETENTION POLICY autogen ON rp DURATION 1h",
    "ALTER RETENTION POLICY r ON rp REPLICATION 3 DEFAULT",
    "CREATE RETENTION POLICY two ON rp DURATION 2d REPLICATION 2 DEFAULT",
    "SHOW RETENTION POLICIES ON rp",
    "DROP RETENTION POLICY half ON rp",
    "DROP RETENTION POLICY nope ON rp",
    "DROP RETENTION POLICY nope ON nodb",
    "SHOW RETENTION POLICIES",
    "SHOW RETENTION POLICIES ON nodb",
    "CREATE DATABASE week WITH DURATION 3d REPLICATION 1 SHARD DURATION 1d NAME w",
    "SHOW RETENTION POLICIES ON week",
    "CREATE DATABASE short WITH DURATION 30m",
    "CREATE DATABASE short WITH DURATION 2h SHARD DURATION 3h",
];

/// Queries over data written to several policies of database `rp` (`r`, the default
/// by then, and `autogen`), with the `rp` parameter they are asked with.
const POLICY_QUERIES: &[(&str, Option<&str>)] = &[
    ("SELECT * FROM rp.r.mem", None),
    ("SELECT * FROM r.mem", None),
    ("SELECT * FROM mem", None),
    ("SELECT * FROM autogen.cpu", None),
    ("SELECT * FROM cpu", None),
    ("SELECT * FROM cpu", Some("autogen")),
    ("SELECT * FROM r.mem", Some("autogen")),
    ("SELECT * FROM nope.cpu", None),
    ("SELECT * FROM cpu", Some("nope")),
    ("SHOW MEASUREMENTS", None),
    ("SHOW TAG KEYS", None),
    ("SHOW TAG VALUES WITH KEY = host", None),
    ("SHOW TAG VALUES FROM mem WITH KEY = host", Some("autogen")),
    ("SHOW FIELD KEYS", None),
    ("SHOW FIELD KEYS", Some("autogen")),
    ("SHOW FIELD KEYS FROM autogen.cpu", None),
    ("SHOW FIELD KEYS FROM nope.cpu", None),
    ("SHOW SERIES FROM autogen.cpu", None),
    // The series of every policy, whatever the request's or the FROM names, as InfluxDB
    // 1.x's per-database series index lists them.
    ("SHOW SERIES", None),
    ("SHOW SERIES", Some("r")),
    ("SHOW SERIES FROM r.mem", None),
    ("SHOW SERIES FROM r.cpu", None),
    ("SHOW SERIES FROM mem WHERE host = 'a'", None),
    ("SELECT * INTO rp.forever.copy FROM autogen.cpu", None),
    ("SELECT * FROM forever.copy", None),
    ("SELECT * INTO rp.nope.copy FROM autogen.cpu", None),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_policies_match_influxdb_1x() {
    let Some((_guard, port)) = start_influxd("retention_policies_match_influxdb_1x") else {
        return;
    };
    let sluice_dir = tempfile::tempdir().unwrap();
    let storage = common::open(sluice_dir.path()).await;
    let engine = QueryEngine::new(storage.clone());
    let mut mismatches = Vec::new();
    let mut compare = async |q: &str, rp: Option<&str>| {
        let rp_param = rp.map_or(String::new(), |rp| format!("&rp={rp}"));
        let (status, theirs) = http(
            port,
            "POST",
            &format!("/query?db=rp{rp_param}&q={}", encode(q)),
            "",
        )
        .unwrap();
        let parsed = engine.parse_influxql(q, None).await.unwrap();
        let results = engine
            .influxql_parsed_with_rp(Some("rp"), rp, parsed)
            .await
            .unwrap();
        let ours = v1_json(&results, Epoch::Rfc3339);
        let a: serde_json::Value = serde_json::from_str(&ours).unwrap();
        let b: serde_json::Value = serde_json::from_str(theirs.trim()).unwrap();
        if status != 200 || a != b {
            mismatches.push(format!(
                "{q} (rp {rp:?})\n  sluice:   {ours}\n  influxdb: {status} {}",
                theirs.trim()
            ));
        }
    };
    compare("CREATE DATABASE rp", None).await;
    for q in POLICY_STATEMENTS {
        compare(q, None).await;
    }
    // Points of now (policy `r` keeps a day) in `r`, the default by now; the 2016
    // points in `autogen`.
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let recent = format!("mem,host=b free=9i {now_s}000000000\n");
    for (rp, data) in [("r", recent.as_str()), ("autogen", DATA)] {
        let (status, body) = http(port, "POST", &format!("/write?db=rp&rp={rp}"), data).unwrap();
        assert_eq!(status, 204, "{body}");
        let storage_db = storage.policy_database("rp", Some(rp)).unwrap();
        common::write_to(&storage, &storage_db, data).await;
    }
    for (q, rp) in POLICY_QUERIES {
        compare(q, *rp).await;
    }
    storage.shutdown().await.unwrap();
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// Points on both sides of the 2019 changes of the clocks in Europe (31 March and 27
/// October, at 01:00 UTC).
const ZONE_DATA: &str = "\
m,h=a v=1 1553990400000000000
m,h=a v=2 1554001200000000000
m,h=b v=3 1554080400000000000
m,h=a v=4 1554112800000000000
m,h=a v=5 1572134400000000000
m,h=b v=6 1572145200000000000
m,h=a v=7 1572220800000000000
";

const ZONE_QUERIES: &[&str] = &[
    // Raw times carry the offset in force at each point.
    "SELECT v FROM m tz('Europe/Berlin')",
    "SELECT v FROM m tz('America/Chicago')",
    "SELECT v FROM m tz('UTC')",
    // A time without an offset is local time; one with `Z` is not.
    "SELECT v FROM m WHERE time >= '2019-03-31 00:30:00' tz('Europe/Berlin')",
    "SELECT v FROM m WHERE time >= '2019-03-31T00:30:00Z' tz('Europe/Berlin')",
    // Days from local midnight, 23 and 25 hours long across the changes.
    "SELECT sum(v) FROM m WHERE time >= '2019-03-30T00:00:00Z' AND time < '2019-04-02T00:00:00Z' GROUP BY time(1d) tz('Europe/Berlin')",
    "SELECT sum(v) FROM m WHERE time >= '2019-10-26T00:00:00Z' AND time < '2019-10-29T00:00:00Z' GROUP BY time(1d), h tz('Europe/Berlin')",
    "SELECT count(v) FROM m WHERE time >= '2019-03-31T00:00:00Z' AND time < '2019-03-31T05:00:00Z' GROUP BY time(1h) tz('Europe/Berlin')",
    "SELECT count(v) FROM m WHERE time >= '2019-10-26T23:00:00Z' AND time < '2019-10-27T04:00:00Z' GROUP BY time(1h) tz('Europe/Berlin')",
    "SELECT count(v) FROM m WHERE time >= '2019-10-26T23:00:00Z' AND time < '2019-10-27T04:00:00Z' GROUP BY time(2h) tz('Europe/Berlin')",
    "SELECT sum(v) FROM m WHERE time >= '2019-03-25T00:00:00Z' AND time < '2019-04-10T00:00:00Z' GROUP BY time(7d) tz('America/Chicago')",
    "SELECT sum(v) FROM m WHERE time >= '2019-03-30T00:00:00Z' AND time < '2019-04-02T00:00:00Z' GROUP BY time(1d, 6h) tz('Asia/Kolkata')",
    "SELECT max(v) FROM m WHERE time >= '2019-03-30T00:00:00Z' AND time < '2019-04-02T00:00:00Z' GROUP BY time(1d) fill(none) tz('Europe/Berlin')",
    "SELECT mean(v) FROM m WHERE time >= '2019-10-26T00:00:00Z' AND time < '2019-10-29T00:00:00Z' GROUP BY time(1d) fill(previous) tz('Europe/Berlin')",
    "SELECT last(v) FROM m WHERE time >= '2019-03-30T00:00:00Z' AND time < '2019-04-02T00:00:00Z' GROUP BY time(1d) tz('Europe/Berlin')",
    "SELECT difference(sum(v)) FROM m WHERE time >= '2019-03-30T00:00:00Z' AND time < '2019-04-03T00:00:00Z' GROUP BY time(1d) tz('Europe/Berlin')",
    "SELECT sum(v) FROM m WHERE time >= '2019-03-30T00:00:00Z' AND time < '2019-04-02T00:00:00Z' GROUP BY time(1d) ORDER BY time DESC tz('Europe/Berlin')",
    "SELECT v FROM m tz('Foo/Bar')",
];
