//! Queries that must not take the server down: the nesting that overflowed the stack,
//! InfluxDB 1.x's `max-select-*` guards, the query memory limit, the query timeout and
//! cancellation, sent to a real `sluice serve` (most with a read-only token), after
//! which the server must still answer.

mod common;

use std::io::Write as _;
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{ADMIN, Options, TestServer, token};

/// Creates a token that may only read `db` (with `sluice token create`).
fn read_only_token(server: &TestServer, db: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "token",
            "create",
            "--db",
            db,
            "--permission",
            "read",
            "--name",
            "reader",
        ])
        .env_clear()
        .env("SLUICE_HOST", server.url(""))
        .env("SLUICE_TOKEN", ADMIN)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("token: "))
        .expect("the token is printed")
        .to_owned()
}

/// Writes `lines` to `db` as the admin.
fn write(server: &TestServer, db: &str, lines: &str) {
    let auth = token(ADMIN);
    let reply = server.post(
        &format!("/write?db={db}&precision=s"),
        &[("Authorization", auth.as_str())],
        lines.as_bytes(),
    );
    assert_eq!(reply.status, 204, "{}", reply.body);
}

/// `n` points of `m` at seconds 0..n, spread over `hosts` series.
fn points(n: usize, hosts: usize) -> String {
    (0..n)
        .map(|i| format!("m,host=h{} v={i} {i}\n", i % hosts))
        .collect()
}

/// `application/x-www-form-urlencoded` text of `pairs`.
fn form_text(pairs: &[(&str, &str)]) -> String {
    let encode = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    form_text(pairs).into_bytes()
}

/// `/query` with `params` as a form body.
fn query_form(server: &TestServer, secret: &str, params: &[(&str, &str)]) -> common::Reply {
    let auth = token(secret);
    server.post(
        "/query",
        &[
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        &form(params),
    )
}

/// InfluxQL through `/query` as a form body.
fn influxql(server: &TestServer, secret: &str, q: &str) -> common::Reply {
    query_form(server, secret, &[("db", "db"), ("q", q)])
}

/// InfluxQL through `/query` with times as nanoseconds since the epoch.
fn influxql_ns(server: &TestServer, secret: &str, q: &str) -> common::Reply {
    query_form(server, secret, &[("db", "db"), ("q", q), ("epoch", "ns")])
}

/// The series of `q`'s answer (epoch ns); fails on an error.
fn select_series(server: &TestServer, secret: &str, q: &str) -> Vec<serde_json::Value> {
    let reply = influxql_ns(server, secret, q);
    let results = &reply.json()["results"][0];
    assert!(results["error"].is_null(), "{q}: {}", reply.body);
    results["series"].as_array().unwrap().clone()
}

/// InfluxQL through `/api/v3/query_influxql`.
fn influxql_v3(server: &TestServer, secret: &str, q: &str) -> common::Reply {
    let auth = token(secret);
    let body = serde_json::json!({"db": "db", "q": q}).to_string();
    server.post(
        "/api/v3/query_influxql",
        &[
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    )
}

/// SQL through `/api/v3/query_sql`.
fn sql(server: &TestServer, secret: &str, q: &str) -> common::Reply {
    let auth = token(secret);
    let body = serde_json::json!({"db": "db", "q": q}).to_string();
    server.post(
        "/api/v3/query_sql",
        &[
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    )
}

/// The server still answers queries.
fn assert_alive(server: &TestServer, secret: &str) {
    let reply = influxql(server, secret, "SELECT count(v) FROM m");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        reply.json()["results"][0]["series"].is_array(),
        "{}",
        reply.body
    );
}

/// The `error` of the first statement of a 200 `/query` answer.
fn statement_error(reply: &common::Reply) -> String {
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["results"][0]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no statement error in {}", reply.body))
        .to_owned()
}

fn nested_parens(n: usize) -> String {
    format!(
        "SELECT v FROM m WHERE {}host = 'h0'{}",
        "(".repeat(n),
        ")".repeat(n)
    )
}

fn nested_subqueries(n: usize) -> String {
    let mut q = "SELECT v FROM m".to_owned();
    for _ in 0..n {
        q = format!("SELECT v FROM ({q})");
    }
    q
}

fn or_chain(n: usize, column: &str) -> String {
    (0..n)
        .map(|i| format!("{column} = {i}"))
        .collect::<Vec<_>>()
        .join(" OR ")
}

#[test]
fn the_queries_that_overflowed_the_stack_answer_400_and_the_server_keeps_serving() {
    let server = TestServer::spawn();
    write(&server, "db", &points(10, 2));
    let reader = read_only_token(&server, "db");
    let killers = [
        // The 6 KB query that aborted the server.
        nested_parens(3_000),
        nested_subqueries(3_000),
        format!("SELECT v FROM m WHERE {}", or_chain(30_000, "v")),
        format!("SELECT {}v FROM m", "- ".repeat(100_000)),
        format!(
            "SELECT {}v{} FROM m",
            "abs(".repeat(20_000),
            ")".repeat(20_000)
        ),
    ];
    for q in &killers {
        for reply in [
            influxql(&server, &reader, q),
            influxql_v3(&server, &reader, q),
        ] {
            assert_eq!(reply.status, 400, "{}", reply.body);
            let error = reply.json()["error"].as_str().unwrap().to_owned();
            assert!(
                error.starts_with(
                    "error parsing query: query nested deeper than the limit of 250 levels"
                ),
                "{error}"
            );
        }
        assert_alive(&server, &reader);
    }
    // The same through GET, as the 6 KB query was sent.
    let auth = token(&reader);
    let q = form_text(&[("db", "db"), ("q", nested_parens(3_000).as_str())]);
    let reply = server.get(&format!("/query?{q}"), &[("Authorization", auth.as_str())]);
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_alive(&server, &reader);

    // SQL refuses the same nesting, and long OR chains, cleanly.
    let sql_killers = [
        format!(
            "SELECT v FROM m WHERE {}host = 'h0'{}",
            "(".repeat(3_000),
            ")".repeat(3_000)
        ),
        format!("SELECT v FROM m WHERE {}", or_chain(30_000, "v")),
        format!("SELECT {}v FROM m", "- ".repeat(100_000)),
        format!(
            "SELECT {}v{} FROM m",
            "abs(".repeat(20_000),
            ")".repeat(20_000)
        ),
        {
            let mut q = "SELECT v FROM m".to_owned();
            for _ in 0..3_000 {
                q = format!("SELECT v FROM ({q}) AS t");
            }
            q
        },
    ];
    for q in &sql_killers {
        let reply = sql(&server, &reader, q);
        assert_eq!(
            reply.status,
            400,
            "{}",
            &reply.body[..reply.body.len().min(500)]
        );
        assert!(reply.json()["error"].is_string(), "{}", reply.body);
        assert_alive(&server, &reader);
    }
    // Moderate chains still run.
    let q = format!("SELECT count(v) FROM m WHERE {}", or_chain(200, "v"));
    let reply = influxql(&server, &reader, &q);
    assert_eq!(
        reply.json()["results"][0]["series"][0]["values"][0][1],
        10,
        "{}",
        reply.body
    );
    let q = format!("SELECT count(*) AS n FROM m WHERE {}", or_chain(200, "v"));
    let reply = sql(&server, &reader, &q);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()[0]["n"], 10, "{}", reply.body);
}

#[test]
fn max_select_guards_answer_influxdb_errors() {
    let server = TestServer::start(
        Options::default()
            .arg("--max-select-point")
            .arg("50")
            .arg("--max-select-series")
            .arg("2")
            .arg("--max-select-buckets")
            .arg("100"),
    );
    write(&server, "db", &points(40, 2));
    write(
        &server,
        "db",
        "other,host=a v=1 0\nother,host=b v=1 0\nother,host=c v=1 0\n\
         other,host=d v=1 0\nother,host=e v=1 0\n",
    );
    let reader = read_only_token(&server, "db");

    // 60 buckets of two series: 120 buckets in all.
    let q = "SELECT count(v) FROM m WHERE time >= 0 AND time < 60s GROUP BY time(1s), host fill(0)";
    assert_eq!(
        statement_error(&influxql(&server, &reader, q)),
        "max-select-buckets limit exceeded: (120/100)"
    );
    let reply = influxql_v3(&server, &reader, q);
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(
        reply.json()["error"],
        "max-select-buckets limit exceeded: (120/100)"
    );
    // One series of 60 buckets fits.
    let q = "SELECT count(v) FROM m WHERE time >= 0 AND time < 60s GROUP BY time(1s) fill(0)";
    let reply = influxql(&server, &reader, q);
    assert_eq!(
        reply.json()["results"][0]["series"][0]["values"]
            .as_array()
            .unwrap()
            .len(),
        60,
        "{}",
        reply.body
    );
    // A nanosecond bucket over a day is refused before anything is allocated.
    let q = "SELECT count(v) FROM m WHERE time >= 0 AND time < 1d GROUP BY time(1ns)";
    assert_eq!(
        statement_error(&influxql(&server, &reader, q)),
        "max-select-buckets limit exceeded: (86400000000000/100)"
    );

    write(&server, "db", &points(80, 2).replace("m,", "big,"));
    assert_eq!(
        statement_error(&influxql(&server, &reader, "SELECT v FROM big")),
        "max-select-point limit exceeded: (80/50)"
    );
    assert_eq!(
        statement_error(&influxql(
            &server,
            &reader,
            "SELECT v FROM other GROUP BY host"
        )),
        "max-select-series limit exceeded: (3/2)",
        "grouping stops at the first series past the limit"
    );
    // Statements within the limits run beside one that is not.
    let reply = influxql(
        &server,
        &reader,
        "SELECT v FROM big; SELECT count(v) FROM m GROUP BY host",
    );
    let results = reply.json()["results"].clone();
    assert_eq!(
        results[0]["error"],
        "max-select-point limit exceeded: (80/50)"
    );
    assert_eq!(
        results[1]["series"].as_array().unwrap().len(),
        2,
        "{}",
        reply.body
    );
    assert_alive(&server, &reader);
}

#[test]
fn huge_limits_answer_what_there_is() {
    let server = TestServer::spawn();
    write(&server, "db", &points(30, 3));
    let reader = read_only_token(&server, "db");
    for q in [
        "SELECT v FROM m LIMIT 1000000000",
        "SELECT v FROM m ORDER BY time DESC LIMIT 1000000000",
        "SELECT v FROM m LIMIT 1000000000 OFFSET 1000000000",
        "SELECT count(v) FROM m WHERE time >= 0 AND time < 30s GROUP BY time(1s) LIMIT 1000000000",
    ] {
        let reply = influxql(&server, &reader, q);
        assert_eq!(reply.status, 200, "{q}: {}", reply.body);
        assert!(
            reply.json()["results"][0]["error"].is_null(),
            "{q}: {}",
            reply.body
        );
    }
    let reply = sql(&server, &reader, "SELECT v FROM m LIMIT 1000000000");
    assert_eq!(reply.json().as_array().unwrap().len(), 30);
}

#[test]
fn the_memory_limit_stops_a_cross_join_and_a_big_influxql_select() {
    let server = TestServer::start(Options::default().arg("--query-memory-limit").arg("1MiB"));
    // 15,000 rows: their InfluxQL result rows take about 2 MiB, their scan half a MiB.
    write(&server, "db", &points(15_000, 10));
    let reader = read_only_token(&server, "db");
    let reply = sql(&server, &reader, "SELECT a.v, b.v FROM m a CROSS JOIN m b");
    assert_eq!(
        reply.status,
        400,
        "{}",
        &reply.body[..reply.body.len().min(300)]
    );
    let error = reply.json()["error"].as_str().unwrap().to_owned();
    assert!(error.starts_with("query-memory-limit exceeded"), "{error}");

    let error = statement_error(&influxql(&server, &reader, "SELECT v, host FROM m"));
    assert!(error.starts_with("query-memory-limit exceeded"), "{error}");
    // Aggregates over the same points fit.
    let reply = influxql(&server, &reader, "SELECT count(v) FROM m");
    assert_eq!(
        reply.json()["results"][0]["series"][0]["values"][0][1],
        15_000,
        "{}",
        reply.body
    );
    assert_alive(&server, &reader);
}

/// SQL through `/api/v3/query_sql` in `format`.
fn sql_as(server: &TestServer, secret: &str, q: &str, format: &str) -> common::Reply {
    let auth = token(secret);
    let body = serde_json::json!({"db": "db", "q": q, "format": format}).to_string();
    server.post(
        "/api/v3/query_sql",
        &[
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    )
}

/// The `error` of a 400 answer.
fn error_400(reply: &common::Reply) -> String {
    assert_eq!(
        reply.status,
        400,
        "{}",
        &reply.body[..reply.body.len().min(300)]
    );
    reply.json()["error"].as_str().unwrap().to_owned()
}

#[test]
fn what_functions_make_and_what_an_answer_encodes_count_against_the_memory_limit() {
    let server = TestServer::start(Options::default().arg("--query-memory-limit").arg("8MiB"));
    // 15,000 rows over host names `h0` … `h9`.
    write(&server, "db", &points(15_000, 10));
    let reader = read_only_token(&server, "db");

    // A function's values (a batch of rows: 8,192 × 2 KB), though the answer is small.
    let error = error_400(&sql(
        &server,
        &reader,
        "SELECT max(length(repeat(host, 1000))) FROM m",
    ));
    assert!(error.starts_with("query-memory-limit exceeded"), "{error}");
    // The same function over fewer bytes is answered.
    let reply = sql(
        &server,
        &reader,
        "SELECT max(length(repeat(host, 10))) AS n FROM m",
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()[0]["n"], 20, "{}", reply.body);

    // `||` doubling a string through common table expressions: 2^12 × 2 bytes a row.
    let mut chain = String::from("WITH t0 AS (SELECT host AS s FROM m)");
    for i in 1..=12 {
        chain.push_str(&format!(", t{i} AS (SELECT s || s AS s FROM t{})", i - 1));
    }
    let error = error_400(&sql(
        &server,
        &reader,
        &format!("{chain} SELECT max(length(s)) FROM t12"),
    ));
    assert!(error.starts_with("query-memory-limit exceeded"), "{error}");
    // `||` keeps its name and its nulls.
    let reply = sql(
        &server,
        &reader,
        "SELECT host || '-x', host || NULL AS n, count(*) AS c FROM m \
         WHERE host = 'h1' GROUP BY host || '-x', host || NULL",
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.json(),
        serde_json::json!([{"m.host || Utf8(\"-x\")": "h1-x", "c": 1500}]),
        "{}",
        reply.body
    );

    // A value made of constants is refused past 64 KiB, naming the function.
    let error = error_400(&sql(&server, &reader, "SELECT repeat('ab', 40000) AS s"));
    assert!(
        error.contains("repeat() would make a value of 80000 bytes out of constants"),
        "{error}"
    );

    // So is a literal typed in (300 KB on each of a batch's rows overflowed the
    // column: a 500), or bound as a parameter.
    let long = "x".repeat(300_000);
    let error = error_400(&sql(
        &server,
        &reader,
        &format!("SELECT '{long}' AS s FROM m"),
    ));
    assert!(
        error.contains(
            "a string literal of 300000 bytes: a literal or parameter may hold at most 65536 bytes"
        ),
        "{error}"
    );
    let body = serde_json::json!({"db": "db", "q": "SELECT $s AS s FROM m", "params": {"s": long}});
    let reply = server.post(
        "/api/v3/query_sql",
        &[
            ("Authorization", token(&reader).as_str()),
            ("Content-Type", "application/json"),
        ],
        body.to_string().as_bytes(),
    );
    let error = error_400(&reply);
    assert!(
        error.contains("a string literal of 300000 bytes"),
        "{error}"
    );

    // One 60 KB value on each of 15,000 rows: little memory as a column of views into
    // one buffer, 900 MB as text.
    let q = "SELECT arrow_cast(repeat('x', 60000), 'Utf8View') AS s FROM m";
    for format in ["csv", "json", "jsonl", "pretty"] {
        let error = error_400(&sql_as(&server, &reader, q, format));
        assert!(
            error.starts_with("query-memory-limit exceeded"),
            "{format}: {error}"
        );
    }
    let reply = sql_as(&server, &reader, &format!("{q} LIMIT 3"), "csv");
    assert_eq!(
        reply.status,
        200,
        "{}",
        &reply.body[..reply.body.len().min(300)]
    );
    assert_eq!(reply.body.len(), "s\n".len() + 3 * 60_001);
    assert_alive(&server, &reader);
}

#[test]
fn a_select_too_big_to_read_at_once_is_answered_in_time_chunks() {
    // Exactly the 11 series the statements below produce: each is met again in every
    // chunk and counted once.
    let server = TestServer::start(
        Options::default()
            .arg("--query-memory-limit")
            .arg("1MiB")
            .arg("--max-select-series")
            .arg("11"),
    );
    // 120,000 points of ten hosts, v = its second, over 33 hours (two UTC days): their
    // scan takes a few MiB. Host `gap` has points in the first and the last hour only.
    write(&server, "db", &points(120_000, 10));
    write(&server, "db", "m,host=gap v=1 10\nm,host=gap v=2 119990\n");
    let reader = read_only_token(&server, "db");
    let range = "time >= 0s AND time < 120000s";
    let hours = (120_000 + 3599) / 3600;

    let series = select_series(
        &server,
        &reader,
        &format!("SELECT mean(v), max(v) FROM m WHERE {range} GROUP BY time(1h), host"),
    );
    assert_eq!(series.len(), 11, "{series:?}");
    for s in &series {
        let host = s["tags"]["host"].as_str().unwrap();
        let values = s["values"].as_array().unwrap();
        // fill(null): every hour of the range, for every host.
        assert_eq!(values.len() as i64, hours, "{host}");
        for (hour, row) in values.iter().enumerate() {
            let start = hour as i64 * 3600;
            assert_eq!(row[0], start * 1_000_000_000, "{host} hour {hour}");
            let points: Vec<i64> = match host.strip_prefix('h') {
                Some(h) => {
                    let h: i64 = h.parse().unwrap();
                    (start..(start + 3600).min(120_000))
                        .filter(|i| i % 10 == h)
                        .collect()
                }
                None => [(10, 1), (119_990, 2)]
                    .into_iter()
                    .filter(|(t, _)| (start..start + 3600).contains(t))
                    .map(|(_, v)| v)
                    .collect(),
            };
            if points.is_empty() {
                assert!(
                    row[1].is_null() && row[2].is_null(),
                    "{host} hour {hour}: {row}"
                );
                continue;
            }
            let mean = points.iter().sum::<i64>() as f64 / points.len() as f64;
            assert_eq!(row[1].as_f64().unwrap(), mean, "{host} hour {hour}");
            assert_eq!(
                row[2].as_f64().unwrap(),
                *points.iter().max().unwrap() as f64
            );
        }
    }

    // fill(none) and fill(0) over the host with a gap.
    let gap = |fill: &str| {
        let reply = influxql_ns(
            &server,
            &reader,
            &format!(
                "SELECT max(v) FROM m WHERE {range} AND host = 'gap' GROUP BY time(1h) {fill}"
            ),
        );
        reply.json()["results"][0]["series"][0]["values"]
            .as_array()
            .unwrap()
            .clone()
    };
    // (A tag predicate narrows the scan to one series: it fits without chunks.)
    let rows = gap("fill(none)");
    assert_eq!(rows.len(), 2);
    let rows = gap("fill(0)");
    assert_eq!(rows.len() as i64, hours);
    assert_eq!(rows[1][1], 0);

    // Raw points with a condition on a field: every series' rows in time order, with a
    // range or without one (then chunks are cut over the table's times).
    for time in [format!("AND {range}"), String::new()] {
        let reply = influxql_ns(
            &server,
            &reader,
            &format!("SELECT v FROM m WHERE v > 118999 {time} GROUP BY host"),
        );
        let results = &reply.json()["results"][0];
        assert!(results["error"].is_null(), "{time}: {}", reply.body);
        let mut total = 0;
        for s in results["series"].as_array().unwrap() {
            let times: Vec<i64> = s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r[0].as_i64().unwrap())
                .collect();
            assert!(times.is_sorted(), "{}", s["tags"]);
            total += times.len();
        }
        assert_eq!(total, 1_000, "{time}");
    }

    // fill(none) buckets without an end: only those with points.
    let reply = influxql_ns(
        &server,
        &reader,
        "SELECT max(v) FROM m WHERE time >= 0s GROUP BY time(1h), host fill(none)",
    );
    let results = &reply.json()["results"][0];
    assert!(results["error"].is_null(), "{}", reply.body);
    for s in results["series"].as_array().unwrap() {
        let host = s["tags"]["host"].as_str().unwrap();
        let values = s["values"].as_array().unwrap();
        if host == "gap" {
            assert_eq!(values.len(), 2, "{s}");
            continue;
        }
        assert_eq!(values.len() as i64, hours, "{host}");
        // The last point of the host in each hour.
        let h: i64 = host[1..].parse().unwrap();
        for (hour, row) in values.iter().enumerate() {
            let end = ((hour as i64 + 1) * 3600).min(120_000);
            let last = (end - 10..end).find(|i| i % 10 == h).unwrap();
            assert_eq!(row[1].as_f64().unwrap(), last as f64, "{host} hour {hour}");
        }
    }

    // Buckets of a time zone's clock (Kolkata, 5:30 ahead of UTC): four-hour buckets of
    // local time start at 22:30, 02:30, … UTC; the chunks are cut at their starts, and
    // the times carry the offset.
    let reply = influxql_ns(
        &server,
        &reader,
        &format!(
            "SELECT max(v) FROM m WHERE {range} AND host =~ /^h/ GROUP BY time(4h), host tz('Asia/Kolkata')"
        ),
    );
    let results = &reply.json()["results"][0];
    assert!(results["error"].is_null(), "{}", reply.body);
    let starts: Vec<i64> = (0..9).map(|k| -5_400 + k * 14_400).collect();
    assert_eq!(results["series"].as_array().unwrap().len(), 10);
    for s in results["series"].as_array().unwrap() {
        let h: i64 = s["tags"]["host"].as_str().unwrap()[1..].parse().unwrap();
        let values = s["values"].as_array().unwrap();
        assert_eq!(values.len(), starts.len(), "{s}");
        for (row, start) in values.iter().zip(&starts) {
            assert_eq!(row[0], start * 1_000_000_000, "{s}");
            let end = (start + 14_400).min(120_000);
            let last = (end - 10..end).find(|i| i % 10 == h).unwrap();
            assert_eq!(row[1].as_f64().unwrap(), last as f64, "{s}");
        }
    }
    let reply = influxql(
        &server,
        &reader,
        &format!(
            "SELECT max(v) FROM m WHERE {range} AND host = 'h1' GROUP BY time(4h) tz('Asia/Kolkata')"
        ),
    );
    let values = &reply.json()["results"][0]["series"][0]["values"];
    assert_eq!(values[0][0], "1970-01-01T04:00:00+05:30", "{}", reply.body);
    assert_eq!(values[8][0], "1970-01-02T12:00:00+05:30", "{}", reply.body);

    // Aggregates without `GROUP BY time`: each chunk's row of a series folds into one.
    // Host hN holds the points N, N + 10, … of value = second; `gap` 1 at 10 s, 2 at
    // 119,990 s.
    let expect = |host: &str| -> (i64, f64, (i64, f64), (i64, f64)) {
        let points: Vec<i64> = match host.strip_prefix('h') {
            Some(h) => (h.parse::<i64>().unwrap()..120_000).step_by(10).collect(),
            None => vec![1, 2],
        };
        let times: Vec<i64> = match host.strip_prefix('h') {
            Some(_) => points.clone(),
            None => vec![10, 119_990],
        };
        let n = points.len();
        (
            n as i64,
            points.iter().sum::<i64>() as f64,
            (times[0], points[0] as f64),
            (times[n - 1], points[n - 1] as f64),
        )
    };
    for time in [format!("WHERE {range}"), String::new()] {
        let series = select_series(
            &server,
            &reader,
            &format!(
                "SELECT count(v), sum(v), min(v), max(v), mean(v) FROM m {time} GROUP BY host"
            ),
        );
        assert_eq!(series.len(), 11, "{series:?}");
        for s in &series {
            let host = s["tags"]["host"].as_str().unwrap();
            let (n, sum, (_, min), (_, max)) = expect(host);
            let row = &s["values"][0];
            assert_eq!(s["values"].as_array().unwrap().len(), 1, "{s}");
            assert_eq!(row[0], 0, "{host}: the range's start, or 0");
            assert_eq!(row[1].as_i64(), Some(n), "{host}");
            assert_eq!(row[2].as_f64(), Some(sum), "{host}");
            assert_eq!(row[3].as_f64(), Some(min), "{host}");
            assert_eq!(row[4].as_f64(), Some(max), "{host}");
            assert_eq!(row[5].as_f64(), Some(sum / n as f64), "{host}");
            assert_eq!(row.as_array().unwrap().len(), 6, "{host}: {row}");
        }
        // A spread and a standard deviation, which each chunk computes beside its
        // field's minimum, maximum, mean and count.
        let series = select_series(
            &server,
            &reader,
            &format!("SELECT spread(v), stddev(v) FROM m {time} GROUP BY host"),
        );
        assert_eq!(series.len(), 11, "{series:?}");
        for s in &series {
            let host = s["tags"]["host"].as_str().unwrap();
            let points: Vec<f64> = match host.strip_prefix('h') {
                Some(h) => (h.parse::<i64>().unwrap()..120_000)
                    .step_by(10)
                    .map(|x| x as f64)
                    .collect(),
                None => vec![1.0, 2.0],
            };
            let n = points.len() as f64;
            let mean = points.iter().sum::<f64>() / n;
            let sd = (points.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
            let row = &s["values"][0];
            assert_eq!(row[0], 0, "{host}");
            assert_eq!(
                row[1].as_f64(),
                Some(points[points.len() - 1] - points[0]),
                "{host}"
            );
            let got = row[2].as_f64().unwrap();
            assert!((got - sd).abs() <= sd * 1e-9, "{host}: {got} against {sd}");
        }
    }
    let reply = influxql_ns(&server, &reader, "SELECT count(v), mean(v) FROM m");
    let all = (0..120_000).sum::<i64>() + 3;
    assert_eq!(
        reply.json()["results"][0]["series"][0]["values"],
        serde_json::json!([[0, 120_002, all as f64 / 120_002.0]]),
        "{}",
        reply.body
    );
    // A lone selector: the row is its point, time included.
    for func in ["first", "last", "min", "max"] {
        let q = format!("SELECT {func}(v) FROM m GROUP BY host");
        for s in select_series(&server, &reader, &q) {
            let host = s["tags"]["host"].as_str().unwrap();
            let (_, _, first, last) = expect(host);
            let (t, v) = if matches!(func, "first" | "min") {
                first
            } else {
                last
            };
            let row = &s["values"][0];
            assert_eq!(row[0].as_i64(), Some(t * 1_000_000_000), "{func} {host}");
            assert_eq!(row[1].as_f64(), Some(v), "{func} {host}");
        }
    }

    // SQL reads the rows in time chunks as its plan runs: aggregates over all of them.
    // (No ORDER BY: a sort sets aside 10 MiB of the pool for spilling.)
    let reply = sql(
        &server,
        &reader,
        "SELECT host, avg(v) AS a, max(v) AS m, count(v) AS n FROM m GROUP BY host",
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let mut rows = reply.json().as_array().unwrap().clone();
    rows.sort_by_key(|r| r["host"].as_str().unwrap().to_owned());
    assert_eq!(rows.len(), 11, "{}", reply.body);
    assert_eq!(rows[0]["host"], "gap");
    assert_eq!(
        (rows[0]["a"].as_f64(), rows[0]["n"].as_i64()),
        (Some(1.5), Some(2))
    );
    for (h, row) in rows[1..].iter().enumerate() {
        let values: Vec<i64> = (0..120_000).filter(|i| i % 10 == h as i64).collect();
        let mean = values.iter().sum::<i64>() as f64 / values.len() as f64;
        assert_eq!(row["host"], format!("h{h}"));
        assert_eq!(row["a"].as_f64().unwrap(), mean, "{row}");
        assert_eq!(row["m"].as_f64().unwrap(), *values.last().unwrap() as f64);
        assert_eq!(row["n"].as_i64().unwrap(), values.len() as i64);
    }
    let reply = sql(
        &server,
        &reader,
        "SELECT count(*) AS n FROM m WHERE time >= '1970-01-01T01:00:00Z'",
    );
    // The points from the first hour on, and the last point of host `gap`.
    assert_eq!(reply.json()[0]["n"], 120_000 - 3_600 + 1, "{}", reply.body);

    // fill(previous) carries values across buckets: it is not cut, and stays over the
    // limit; so do filled buckets without a start or an end.
    for q in [
        format!("SELECT max(v) FROM m WHERE {range} GROUP BY time(1h), host fill(previous)"),
        "SELECT max(v) FROM m WHERE time < 120000s GROUP BY time(1h), host".to_owned(),
        "SELECT max(v) FROM m WHERE time >= 0s GROUP BY time(1h), host".to_owned(),
    ] {
        let error = statement_error(&influxql_ns(&server, &reader, &q));
        assert!(
            error.starts_with("query-memory-limit exceeded"),
            "{q}: {error}"
        );
    }
    let reply = influxql(
        &server,
        &reader,
        "SELECT count(v) FROM m WHERE host = 'gap'",
    );
    assert_eq!(
        reply.json()["results"][0]["series"][0]["values"][0][1],
        2,
        "{}",
        reply.body
    );
}

/// Values a query computes that cannot be, and patterns that do not compile: the
/// query's mistake, 400 naming it.
#[test]
fn sql_whose_values_cannot_be_computed_answers_400_saying_why() {
    let server = TestServer::spawn();
    write(&server, "db", &points(3, 1));
    let reader = read_only_token(&server, "db");
    for (q, expected) in [
        ("SELECT 1 / 0", "Divide by zero"),
        ("SELECT CAST('abc' AS INT)", "Cannot cast string 'abc'"),
        ("SELECT to_timestamp(9999999999999999999)", ""),
        ("SELECT * FROM m WHERE host ~ '(('", "regex parse error"),
        ("SELECT regexp_match('a', '(')", "unclosed group"),
    ] {
        let reply = sql(&server, &reader, q);
        assert_eq!(reply.status, 400, "{q}: {}", reply.body);
        let error = reply.json()["error"].as_str().unwrap().to_owned();
        assert!(error.contains(expected), "{q}: {error}");
        assert!(!error.contains("internal error"), "{q}: {error}");
    }
    assert_alive(&server, &reader);
}

#[test]
fn count_star_over_a_join_counts_the_rows() {
    let server = TestServer::spawn();
    write(&server, "db", &points(20, 2));
    write(
        &server,
        "db",
        "n,host=h0 w=1 0\nn,host=h1 w=2 0\nn,host=h1 w=3 1\n",
    );
    let reader = read_only_token(&server, "db");
    for (q, expected) in [
        ("SELECT count(*) AS c FROM m", 20),
        ("SELECT count(*) AS c FROM m a CROSS JOIN m b", 400),
        ("SELECT count(*) AS c FROM m JOIN n ON m.host = n.host", 30),
        (
            "SELECT count(*) AS c FROM m a JOIN m b ON a.time = b.time",
            20,
        ),
        ("SELECT count(1) AS c FROM m, n", 60),
    ] {
        let reply = sql(&server, &reader, q);
        assert_eq!(reply.status, 200, "{q}: {}", reply.body);
        assert_eq!(reply.json()[0]["c"], expected, "{q}: {}", reply.body);
    }
}

/// CPU time (user + system) the process has used, from /proc.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // The kernel's USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// Waits until the server has used less than half a core over two seconds (an idle
/// server uses next to none), or fails after `patience`.
fn assert_settles(server: &TestServer, patience: Duration, what: &str) {
    let deadline = Instant::now() + patience;
    loop {
        let before = cpu_time(server.pid());
        std::thread::sleep(Duration::from_secs(2));
        let used = cpu_time(server.pid()) - before;
        if used < Duration::from_secs(1) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the server still uses {used:?} of CPU per 2 s"
        );
    }
}

/// A sum over a four-way cross join of [`HEAVY_ROWS`] rows: a million million rows,
/// hours of CPU. The join makes its rows from one batch of input without reading more,
/// so only a yield point above it lets the query stop (`JoinsYield` in sluice-query;
/// without it the server thread running it was held to the end, timeout or not, and
/// every other request waited). Unlike `count(*)` of a plain cross join, the sum cannot
/// be answered from row counts.
const HEAVY: &str = "SELECT sum(a.v * b.v + c.v - d.v) FROM m a, m b, m c, m d";
const HEAVY_ROWS: usize = 1000;

#[test]
fn a_query_past_the_timeout_answers_the_timeout_error_and_stops() {
    let server = TestServer::start(Options::default().arg("--query-timeout").arg("2s"));
    write(&server, "db", &points(HEAVY_ROWS, 4));
    let reader = read_only_token(&server, "db");
    // Writes and other queries are answered while it runs (each request fails after
    // 60 s: the query alone would take hours).
    let reply = std::thread::scope(|scope| {
        let query = scope.spawn(|| sql(&server, &reader, HEAVY));
        std::thread::sleep(Duration::from_millis(500));
        write(&server, "db", "during v=1 1\n");
        assert_alive(&server, &reader);
        query.join().unwrap()
    });
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(
        reply.json()["error"],
        "query-timeout limit exceeded: the query ran longer than 2s (--query-timeout)"
    );
    assert_settles(&server, Duration::from_secs(60), "after the SQL timeout");

    // InfluxQL: a regex evaluated on every row of a large scan, repeated by many
    // statements; the statement running at the deadline reports it.
    write(&server, "db", &points(50_000, 100).replace("m,", "wide,"));
    let statements: Vec<&str> =
        vec!["SELECT count(v) FROM wide WHERE host =~ /^(h1|h2|h3|h4).*5$/ GROUP BY host"; 2_000];
    let reply = influxql(&server, &reader, &statements.join("; "));
    assert_eq!(
        reply.status,
        200,
        "{}",
        &reply.body[..reply.body.len().min(300)]
    );
    let results = reply.json()["results"].as_array().unwrap().clone();
    assert!(
        results.len() < 2_000,
        "all statements ran before the timeout"
    );
    let last = results.last().unwrap();
    assert_eq!(
        last["error"],
        "query-timeout limit exceeded: the query ran longer than 2s (--query-timeout)"
    );
    assert_settles(
        &server,
        Duration::from_secs(60),
        "after the InfluxQL timeout",
    );
    assert_alive(&server, &reader);
}

#[test]
fn a_query_whose_client_left_stops_using_cpu() {
    let server = TestServer::spawn();
    write(&server, "db", &points(HEAVY_ROWS, 4));
    let reader = read_only_token(&server, "db");
    let body = serde_json::json!({"db": "db", "q": HEAVY}).to_string();
    let mut stream = TcpStream::connect(&server.address).unwrap();
    write!(
        stream,
        "POST /api/v3/query_sql HTTP/1.1\r\nHost: x\r\nAuthorization: Token {reader}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    // Let it get going, then hang up.
    std::thread::sleep(Duration::from_secs(2));
    let before = cpu_time(server.pid());
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        cpu_time(server.pid()) > before,
        "the query should be running"
    );
    drop(stream);
    assert_settles(&server, Duration::from_secs(30), "after the client left");
    assert_alive(&server, &reader);
}
