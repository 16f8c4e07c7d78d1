//! Last-value and distinct-value caches through a real `sluice serve`: the configure
//! API's statuses and bodies, the SQL table functions and system tables, and InfluxQL
//! answers that must not change when a cache answers them — through late writes,
//! deletes, persistence and restarts. Every write goes to two databases, `cached` (with
//! the caches) and `plain` (without), and the same InfluxQL must answer both alike.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{ADMIN, Options, Reply, TestServer, enc, token, wait_until};
use serde_json::{Value, json};

const CACHED: &str = "cached";
const PLAIN: &str = "plain";

fn auth() -> String {
    token(ADMIN)
}

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn write(server: &TestServer, db: &str, lines: &str) {
    let reply = server.post(
        &format!("/api/v3/write_lp?db={db}&precision=second"),
        &[("Authorization", &auth())],
        lines.as_bytes(),
    );
    assert_eq!(reply.status, 204, "{}", reply.body);
}

/// Writes `lines` to both databases.
fn write_both(server: &TestServer, lines: &str) {
    write(server, CACHED, lines);
    write(server, PLAIN, lines);
}

fn influxql(server: &TestServer, db: &str, q: &str) -> Value {
    let reply = server.post(
        &format!("/query?db={db}&q={}", enc(q)),
        &[("Authorization", &auth())],
        b"",
    );
    assert_eq!(reply.status, 200, "{q}: {}", reply.body);
    reply.json()
}

/// Runs `q` on both databases and asserts they answer alike (and without an error).
fn same_answer(server: &TestServer, q: &str) -> Value {
    let cached = influxql(server, CACHED, q);
    let plain = influxql(server, PLAIN, q);
    assert_eq!(cached, plain, "{q}");
    assert!(!cached.to_string().contains("\"error\""), "{q}: {cached}");
    cached
}

fn sql(server: &TestServer, db: &str, q: &str) -> Reply {
    server.get(
        &format!("/api/v3/query_sql?db={db}&format=json&q={}", enc(q)),
        &[("Authorization", &auth())],
    )
}

fn sql_rows(server: &TestServer, db: &str, q: &str) -> Vec<Value> {
    let reply = sql(server, db, q);
    assert_eq!(reply.status, 200, "{q}: {}", reply.body);
    reply.json().as_array().unwrap().clone()
}

fn configure(server: &TestServer, method: &str, path: &str, body: &Value) -> Reply {
    let body = body.to_string();
    server.request(
        method,
        path,
        &[
            ("Authorization", &auth()),
            ("Content-Type", "application/json"),
        ],
        Some(body.as_bytes()),
    )
}

fn metric(server: &TestServer, name: &str) -> f64 {
    let reply = server.get("/metrics", &[("Authorization", &auth())]);
    reply
        .body
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no metric {name}"))
}

const LAST_ANSWERS: &str = "sluice_storage_last_cache_answers_total";
const DISTINCT_ANSWERS: &str = "sluice_storage_distinct_cache_answers_total";

/// A server on `dir` (kept across restarts).
fn start(dir: &Path, extra: &[&str]) -> TestServer {
    let mut options = Options::default().data_dir(dir);
    for arg in extra {
        options = options.arg(arg);
    }
    TestServer::start(options)
}

/// `cpu` points of hosts h0..h3 in two regions, 20 per host, ten seconds apart, ending
/// `age` seconds ago; values are made from the host and the point's index.
fn cpu_points(age: i64) -> (String, BTreeMap<String, Vec<(i64, f64)>>) {
    let end = now_s() - age;
    let mut lines = String::new();
    let mut by_host: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for i in 0..20i64 {
        for h in 0..4 {
            let host = format!("h{h}");
            let region = if h % 2 == 0 { "east" } else { "west" };
            let time = end - (19 - i) * 10;
            let usage = (h * 100 + i) as f64 + 0.5;
            lines.push_str(&format!(
                "cpu,host={host},region={region} usage={usage},idle={} {time}\n",
                100.0 - usage
            ));
            by_host.entry(host).or_default().push((time, usage));
        }
    }
    (lines, by_host)
}

/// `last_cache('cpu')`'s rows as (host, time in seconds, usage).
fn last_rows(server: &TestServer) -> Vec<(String, i64, Option<f64>)> {
    let q = "SELECT host, usage, CAST(time AS BIGINT) AS t FROM last_cache('cpu')";
    sql_rows(server, CACHED, q)
        .iter()
        .map(|r| {
            (
                r["host"].as_str().unwrap().to_owned(),
                r["t"].as_i64().unwrap() / 1_000_000_000,
                r["usage"].as_f64(),
            )
        })
        .collect()
}

/// The newest `count` (time, usage) of each host, newest first, as the cache must hold.
fn newest(
    by_host: &BTreeMap<String, Vec<(i64, f64)>>,
    count: usize,
) -> Vec<(String, i64, Option<f64>)> {
    let mut out = Vec::new();
    for (host, points) in by_host {
        let mut points = points.clone();
        points.sort_by_key(|p| std::cmp::Reverse(p.0));
        out.extend(
            points
                .into_iter()
                .take(count)
                .map(|(t, u)| (host.clone(), t, Some(u))),
        );
    }
    out
}

const LASTPOINT: &str = "SELECT last(usage) FROM cpu GROUP BY host";

#[test]
fn the_configure_api_creates_lists_and_deletes_caches_with_influxdb_3s_statuses() {
    let server = TestServer::spawn();
    write(&server, CACHED, &cpu_points(0).0);
    let last = "/api/v3/configure/last_cache";
    let created = configure(
        &server,
        "POST",
        last,
        &json!({"db": CACHED, "table": "cpu"}),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        created.json(),
        json!({"table": "cpu", "name": "cpu_host_region_last_cache",
               "key_columns": ["host", "region"], "value_columns": null,
               "count": 1, "ttl": 14400})
    );
    let again = configure(
        &server,
        "POST",
        last,
        &json!({"db": CACHED, "table": "cpu"}),
    );
    assert_eq!(again.status, 204, "{}", again.body);
    let other = json!({"db": CACHED, "table": "cpu", "name": "cpu_host_region_last_cache",
                       "ttl": 60});
    let conflict = configure(&server, "POST", last, &other);
    assert_eq!(conflict.status, 409, "{}", conflict.body);
    assert!(
        conflict.body.contains("cpu_host_region_last_cache"),
        "{}",
        conflict.body
    );

    let refused: [(Value, u16, &str); 6] = [
        (json!({"db": "nope", "table": "cpu"}), 404, "nope"),
        (json!({"db": CACHED, "table": "nope"}), 404, "nope"),
        (
            json!({"db": CACHED, "table": "cpu", "key_columns": ["gone"]}),
            400,
            "\\\"gone\\\" does not exist",
        ),
        (
            json!({"db": CACHED, "table": "cpu", "key_columns": ["usage"]}),
            400,
            "\\\"usage\\\" is a float field",
        ),
        (
            json!({"db": CACHED, "table": "cpu", "count": 11}),
            400,
            "count 11 is out of range",
        ),
        (json!({"table": "cpu"}), 400, "missing field `db`"),
    ];
    for (body, status, says) in refused {
        let reply = configure(&server, "POST", last, &body);
        assert_eq!(reply.status, status, "{body}: {}", reply.body);
        assert!(
            reply.body.contains(says),
            "{body}: {} lacks {says}",
            reply.body
        );
    }

    let distinct = "/api/v3/configure/distinct_cache";
    let body = json!({"db": CACHED, "table": "cpu", "columns": ["region", "host"]});
    let created = configure(&server, "POST", distinct, &body);
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.json()["name"], "cpu_region_host_distinct_cache");
    assert_eq!(configure(&server, "POST", distinct, &body).status, 204);
    let conflict = json!({"db": CACHED, "table": "cpu", "columns": ["region", "host"],
                          "max_cardinality": 5, "name": "cpu_region_host_distinct_cache"});
    assert_eq!(configure(&server, "POST", distinct, &conflict).status, 409);
    let float = json!({"db": CACHED, "table": "cpu", "columns": ["usage"]});
    let reply = configure(&server, "POST", distinct, &float);
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(
        reply.body.contains("not a tag or string field"),
        "{}",
        reply.body
    );

    let listed = sql_rows(
        &server,
        CACHED,
        "SELECT \"table\", name, count, ttl FROM system.last_caches",
    );
    assert_eq!(
        listed,
        [json!({"table": "cpu", "name": "cpu_host_region_last_cache", "count": 1, "ttl": 14400})]
    );
    let listed = sql_rows(
        &server,
        CACHED,
        "SELECT name, max_cardinality, max_age_seconds FROM system.distinct_caches",
    );
    assert_eq!(
        listed,
        [
            json!({"name": "cpu_region_host_distinct_cache", "max_cardinality": 100000,
                "max_age_seconds": 86400})
        ]
    );

    // Deletes name the cache in the query string or in a JSON body.
    let by_query = format!("{last}?db={CACHED}&table=cpu&name=cpu_host_region_last_cache");
    let deleted = server.request("DELETE", &by_query, &[("Authorization", &auth())], None);
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    let gone = server.request("DELETE", &by_query, &[("Authorization", &auth())], None);
    assert_eq!(gone.status, 404, "{}", gone.body);
    assert!(
        gone.body.contains("cpu_host_region_last_cache"),
        "{}",
        gone.body
    );
    let partial = format!("{last}?db={CACHED}&table=cpu");
    let reply = server.request("DELETE", &partial, &[("Authorization", &auth())], None);
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("name"), "{}", reply.body);
    let body = json!({"db": CACHED, "table": "cpu", "name": "cpu_region_host_distinct_cache"});
    assert_eq!(configure(&server, "DELETE", distinct, &body).status, 200);
    assert!(sql_rows(&server, CACHED, "SELECT * FROM system.distinct_caches").is_empty());

    // Without the admin token nothing is configured.
    let reply = server.post(
        last,
        &[],
        json!({"db": CACHED, "table": "cpu"}).to_string().as_bytes(),
    );
    assert_eq!(reply.status, 401, "{}", reply.body);
    // The table functions refuse what they cannot read with a 400 naming it.
    let reply = sql(&server, CACHED, "SELECT * FROM last_cache('cpu')");
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("no last cache"), "{}", reply.body);
    let reply = sql(
        &server,
        CACHED,
        "SELECT * FROM distinct_cache('cpu', 'nope')",
    );
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(
        reply.body.contains("\\\"nope\\\" not found"),
        "{}",
        reply.body
    );
}

#[test]
fn a_last_cache_answers_lastpoint_as_a_scan_does_through_late_writes_deletes_and_restarts() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    let mut server = start(&dir, &[]);
    let (lines, mut by_host) = cpu_points(100);
    write_both(&server, &lines);
    let before = same_answer(&server, LASTPOINT);

    let body = json!({"db": CACHED, "table": "cpu", "count": 2});
    let created = configure(&server, "POST", "/api/v3/configure/last_cache", &body);
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(last_rows(&server), newest(&by_host, 2));
    let answers = metric(&server, LAST_ANSWERS);
    assert_eq!(same_answer(&server, LASTPOINT), before);
    assert_eq!(
        metric(&server, LAST_ANSWERS),
        answers + 1.0,
        "the cache answered"
    );
    for q in [
        "SELECT last(usage) FROM cpu WHERE host = 'h1' GROUP BY host",
        "SELECT last(usage), last(idle) FROM cpu GROUP BY region",
        "SELECT last(usage) FROM cpu WHERE time > now() - 150s GROUP BY *",
        "SELECT last(usage) FROM cpu",
    ] {
        same_answer(&server, q);
    }
    assert_eq!(metric(&server, LAST_ANSWERS), answers + 5.0);

    // A late write (older than what the cache holds) changes nothing; a newer one wins.
    let late = now_s() - 5000;
    write_both(
        &server,
        &format!("cpu,host=h0,region=east usage=999,idle=1 {late}\n"),
    );
    by_host.get_mut("h0").unwrap().push((late, 999.0));
    assert_eq!(last_rows(&server), newest(&by_host, 2));
    let fresh = now_s() - 50;
    write_both(
        &server,
        &format!("cpu,host=h0,region=east usage=7.25,idle=1 {fresh}\n"),
    );
    by_host.get_mut("h0").unwrap().push((fresh, 7.25));
    assert_eq!(last_rows(&server), newest(&by_host, 2));
    // A new series appears in the cache, a row with only `idle` does not hide `usage`.
    write_both(
        &server,
        &format!("cpu,host=h9,region=west usage=3.5 {fresh}\n"),
    );
    by_host.insert("h9".to_owned(), vec![(fresh, 3.5)]);
    write_both(
        &server,
        &format!("cpu,host=h1,region=west idle=2 {}\n", fresh + 1),
    );
    same_answer(&server, LASTPOINT);
    same_answer(&server, "SELECT last(idle) FROM cpu GROUP BY host");

    // Across a restart (the buffer replayed from the WAL) the cache holds the same rows;
    // the second run persists everything to Parquet, and the third fills from it.
    let held = last_rows(&server);
    server.terminate();
    let mut server = start(&dir, &["--persist-buffer-bytes", "1"]);
    assert_eq!(last_rows(&server), held);
    let answers = metric(&server, LAST_ANSWERS);
    same_answer(&server, LASTPOINT);
    assert_eq!(metric(&server, LAST_ANSWERS), answers + 1.0);
    wait_until("the buffer is persisted", Duration::from_secs(60), || {
        !sql_rows(&server, CACHED, "SELECT * FROM system.parquet_files").is_empty()
            && metric(&server, "sluice_buffer_bytes") == 0.0
    });
    server.terminate();
    let server = start(&dir, &[]);
    assert_eq!(last_rows(&server), held);
    same_answer(&server, LASTPOINT);

    // Deletes never leave a deleted row in the cache.
    for q in [
        "DROP SERIES FROM cpu WHERE host = 'h2'",
        &format!("DELETE FROM cpu WHERE time >= {}000000000", fresh - 1),
    ] {
        influxql(&server, CACHED, q);
        influxql(&server, PLAIN, q);
    }
    by_host.remove("h2");
    by_host.remove("h9");
    for points in by_host.values_mut() {
        points.retain(|(t, _)| *t < fresh - 1);
    }
    assert_eq!(last_rows(&server), newest(&by_host, 2));
    let answers = metric(&server, LAST_ANSWERS);
    same_answer(&server, LASTPOINT);
    assert_eq!(metric(&server, LAST_ANSWERS), answers + 1.0);

    // Dropping the measurement drops its caches; a new `cpu` has none.
    influxql(&server, CACHED, "DROP MEASUREMENT cpu");
    assert!(sql_rows(&server, CACHED, "SELECT * FROM system.last_caches").is_empty());
    write(&server, CACHED, &cpu_points(0).0);
    assert_eq!(
        sql(&server, CACHED, "SELECT * FROM last_cache('cpu')").status,
        400
    );
}

#[test]
fn a_last_cache_past_its_ttl_holds_nothing_and_is_not_used() {
    let server = TestServer::spawn();
    write_both(&server, &cpu_points(3600).0);
    let body = json!({"db": CACHED, "table": "cpu", "ttl": 600, "value_columns": ["usage"]});
    let created = configure(&server, "POST", "/api/v3/configure/last_cache", &body);
    assert_eq!(created.status, 201, "{}", created.body);
    assert!(last_rows(&server).is_empty());
    same_answer(&server, LASTPOINT);
    // A fresh point is cached, but the hosts evicted make the cache incomplete.
    let (fresh, by_host) = cpu_points(0);
    let h0: String = fresh
        .lines()
        .filter(|l| l.contains("host=h0"))
        .collect::<Vec<_>>()
        .join("\n");
    write_both(&server, &h0);
    let h0_newest: Vec<_> = newest(&by_host, 1)
        .into_iter()
        .filter(|(h, _, _)| h == "h0")
        .collect();
    assert_eq!(last_rows(&server), h0_newest);
    same_answer(&server, LASTPOINT);
    assert_eq!(metric(&server, LAST_ANSWERS), 0.0);
}

#[test]
fn a_distinct_cache_answers_show_tag_values_as_a_scan_does() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    let mut server = start(&dir, &[]);
    let (lines, by_host) = cpu_points(100);
    write_both(&server, &lines);
    let hosts = "SHOW TAG VALUES FROM cpu WITH KEY = host";
    let before = same_answer(&server, hosts);
    let body = json!({"db": CACHED, "table": "cpu", "columns": ["region", "host"]});
    let created = configure(&server, "POST", "/api/v3/configure/distinct_cache", &body);
    assert_eq!(created.status, 201, "{}", created.body);

    let combinations = |server: &TestServer| -> Vec<(String, String)> {
        let q = "SELECT * FROM distinct_cache('cpu', 'cpu_region_host_distinct_cache')";
        sql_rows(server, CACHED, q)
            .iter()
            .map(|r| {
                (
                    r["region"].as_str().unwrap().to_owned(),
                    r["host"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let mut expected: Vec<(String, String)> = by_host
        .keys()
        .map(|h| {
            let n: u32 = h[1..].parse().unwrap();
            let region = if n.is_multiple_of(2) { "east" } else { "west" };
            (region.to_owned(), h.clone())
        })
        .collect();
    expected.sort();
    assert_eq!(combinations(&server), expected);
    let answers = metric(&server, DISTINCT_ANSWERS);
    assert_eq!(same_answer(&server, hosts), before);
    same_answer(&server, "SHOW TAG VALUES FROM cpu WITH KEY = region");
    same_answer(
        &server,
        "SHOW TAG VALUES FROM cpu WITH KEY IN (region, host)",
    );
    assert_eq!(metric(&server, DISTINCT_ANSWERS), answers + 4.0);

    write_both(
        &server,
        &format!("cpu,host=new,region=north usage=1 {}\n", now_s()),
    );
    assert!(combinations(&server).contains(&("north".to_owned(), "new".to_owned())));
    same_answer(&server, hosts);
    for q in [
        "DROP SERIES FROM cpu WHERE host = 'h1'",
        "DROP SERIES FROM cpu WHERE region = 'north'",
    ] {
        influxql(&server, CACHED, q);
        influxql(&server, PLAIN, q);
    }
    let after = same_answer(&server, hosts);
    assert!(!after.to_string().contains("\"h1\""), "{after}");
    same_answer(&server, "SHOW TAG VALUES FROM cpu WITH KEY = region");

    // A cache that cannot hold every combination is never used for SHOW TAG VALUES.
    let small = json!({"db": CACHED, "table": "cpu", "columns": ["host"], "max_cardinality": 2});
    let created = configure(&server, "POST", "/api/v3/configure/distinct_cache", &small);
    assert_eq!(created.status, 201, "{}", created.body);
    let held = sql_rows(
        &server,
        CACHED,
        "SELECT * FROM distinct_cache('cpu', 'cpu_host_distinct_cache')",
    );
    assert!(held.len() <= 2, "{held:?}");

    let before_restart = combinations(&server);
    server.terminate();
    let server = start(&dir, &[]);
    assert_eq!(combinations(&server), before_restart);
    let answers = metric(&server, DISTINCT_ANSWERS);
    same_answer(&server, hosts);
    assert_eq!(metric(&server, DISTINCT_ANSWERS), answers + 1.0);
    influxql(&server, CACHED, "DROP MEASUREMENT cpu");
    influxql(&server, PLAIN, "DROP MEASUREMENT cpu");
    same_answer(&server, hosts);
    assert!(sql_rows(&server, CACHED, "SELECT * FROM system.distinct_caches").is_empty());
}
