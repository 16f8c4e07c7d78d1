//! Queries against the real `sluice serve`: `/api/v3/query_sql`, `/query` and
//! `/api/v3/query_influxql` in every format, with params, errors and auth, reading data
//! from the buffer and from Parquet.

mod common;

use std::time::{Duration, Instant};

use common::{ADMIN, Options, Reply, TestServer, enc, token};
use serde_json::json;

const LINES: &str = "cpu,host=a usage=1.5,count=3i 1000000000\n\
                     cpu,host=b usage=2.5,count=4i 2000000000\n\
                     mem,host=a free=10i 1000000000\n";

fn write(server: &TestServer, db: &str, headers: &[(&str, &str)], lines: &str) {
    let reply = server.post(
        &format!("/api/v3/write_lp?db={db}&precision=ns"),
        headers,
        lines.as_bytes(),
    );
    assert_eq!(reply.status, 204, "{}", reply.body);
}

/// A GET whose body is bytes (Parquet).
fn get_bytes(server: &TestServer, path: &str) -> Vec<u8> {
    let mut response = ureq::get(&server.url(path))
        .call()
        .expect("request succeeds");
    response
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .unwrap()
}

fn sql(server: &TestServer, db: &str, q: &str, extra: &str) -> Reply {
    server.get(
        &format!("/api/v3/query_sql?db={db}&q={}{extra}", enc(q)),
        &[],
    )
}

fn influxql(server: &TestServer, db: &str, q: &str, extra: &str) -> Reply {
    server.get(&format!("/query?db={db}&q={}{extra}", enc(q)), &[])
}

#[test]
fn sql_answers_json_jsonl_csv_parquet_and_pretty() {
    let server = TestServer::without_auth();
    write(&server, "db", &[], LINES);
    let q = "SELECT host, usage, count, time FROM cpu ORDER BY time";

    let json = sql(&server, "db", q, "");
    assert_eq!(json.status, 200, "{}", json.body);
    assert_eq!(json.header("content-type"), Some("application/json"));
    assert_eq!(
        json.json(),
        json!([
            {"host": "a", "usage": 1.5, "count": 3, "time": "1970-01-01T00:00:01"},
            {"host": "b", "usage": 2.5, "count": 4, "time": "1970-01-01T00:00:02"}
        ])
    );

    let jsonl = sql(&server, "db", q, "&format=jsonl");
    assert_eq!(jsonl.status, 200);
    let rows: Vec<serde_json::Value> = jsonl
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["host"], "b");

    let csv = sql(&server, "db", q, "&format=csv");
    assert_eq!(csv.status, 200);
    assert_eq!(
        csv.body,
        "host,usage,count,time\na,1.5,3,1970-01-01T00:00:01\nb,2.5,4,1970-01-01T00:00:02\n"
    );

    let parquet = sql(&server, "db", q, "&format=parquet");
    assert_eq!(parquet.status, 200);
    assert_eq!(
        parquet.header("content-type"),
        Some("application/vnd.apache.parquet")
    );
    let bytes = get_bytes(
        &server,
        &format!("/api/v3/query_sql?db=db&q={}&format=parquet", enc(q)),
    );
    assert!(bytes.len() > 8, "{} bytes", bytes.len());
    assert_eq!(&bytes[..4], b"PAR1");
    assert_eq!(&bytes[bytes.len() - 4..], b"PAR1");

    let pretty = sql(&server, "db", q, "&format=pretty");
    assert_eq!(pretty.status, 200);
    assert!(
        pretty.body.contains("| host | usage | count |"),
        "{}",
        pretty.body
    );
    assert!(
        pretty.body.contains("| b    | 2.5   | 4     |"),
        "{}",
        pretty.body
    );
}

#[test]
fn sql_takes_a_json_or_form_body_and_binds_params() {
    let server = TestServer::without_auth();
    write(&server, "db", &[], LINES);
    let json_body = json!({
        "db": "db",
        "q": "SELECT host, usage FROM cpu WHERE host = $h AND usage > $min",
        "format": "jsonl",
        "params": {"h": "b", "min": 1.0}
    });
    let reply = server.post(
        "/api/v3/query_sql",
        &[("Content-Type", "application/json")],
        json_body.to_string().as_bytes(),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body.trim(), r#"{"host":"b","usage":2.5}"#);

    let form = format!(
        "db=db&format=csv&q={}&params={}",
        enc("SELECT count FROM cpu WHERE host = $h"),
        enc(r#"{"h":"a"}"#)
    );
    let reply = server.post(
        "/api/v3/query_sql",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body, "count\n3\n");

    let get = sql(
        &server,
        "db",
        "SELECT count FROM cpu WHERE host = $h",
        &format!("&params={}", enc(r#"{"h":"b"}"#)),
    );
    assert_eq!(get.json(), json!([{"count": 4}]));
}

#[test]
fn sql_errors_are_400_with_the_error_text_and_unknown_databases_404() {
    let server = TestServer::without_auth();
    write(&server, "db", &[], LINES);
    let bad = sql(&server, "db", "SELEC nonsense", "");
    assert_eq!(bad.status, 400, "{}", bad.body);
    let message = bad.json()["error"].as_str().unwrap().to_owned();
    assert!(message.to_lowercase().contains("sql"), "{message}");

    let no_table = sql(&server, "db", "SELECT * FROM nope", "");
    assert_eq!(no_table.status, 400, "{}", no_table.body);
    assert!(no_table.json()["error"].as_str().unwrap().contains("nope"));

    let unbound = sql(&server, "db", "SELECT * FROM cpu WHERE host = $h", "");
    assert_eq!(unbound.status, 400, "{}", unbound.body);

    let unknown = sql(&server, "nodb", "SELECT 1", "");
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    assert!(
        unknown.json()["error"]
            .as_str()
            .unwrap()
            .contains("database not found")
    );

    assert_eq!(sql(&server, "db", "SELECT 1", "&format=xml").status, 400);
    assert_eq!(server.get("/api/v3/query_sql?db=db", &[]).status, 400);
    assert_eq!(server.get("/api/v3/query_sql?q=SELECT+1", &[]).status, 400);
}

#[test]
fn v1_query_answers_in_influxdb_1x_shape() {
    let server = TestServer::without_auth();
    write(&server, "db", &[], LINES);

    let grouped = influxql(&server, "db", "SELECT usage FROM cpu GROUP BY host", "");
    assert_eq!(grouped.status, 200);
    assert_eq!(
        grouped.body,
        r#"{"results":[{"statement_id":0,"series":[{"name":"cpu","tags":{"host":"a"},"columns":["time","usage"],"values":[["1970-01-01T00:00:01Z",1.5]]},{"name":"cpu","tags":{"host":"b"},"columns":["time","usage"],"values":[["1970-01-01T00:00:02Z",2.5]]}]}]}"#
    );

    let epoch = influxql(&server, "db", "SELECT usage FROM cpu", "&epoch=ms");
    assert_eq!(
        epoch.json()["results"][0]["series"][0]["values"],
        json!([[1000, 1.5], [2000, 2.5]])
    );

    let nothing = influxql(&server, "db", "SELECT usage FROM cpu WHERE host = 'z'", "");
    assert_eq!(nothing.body, r#"{"results":[{"statement_id":0}]}"#);

    let chunked = influxql(
        &server,
        "db",
        "SELECT usage FROM cpu",
        "&chunked=true&chunk_size=1&epoch=s",
    );
    let chunks: Vec<serde_json::Value> = chunked
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(chunks.len(), 2, "{}", chunked.body);
    assert_eq!(chunks[0]["results"][0]["partial"], true);
    assert_eq!(
        chunks[1]["results"][0]["series"][0]["values"],
        json!([[2, 2.5]])
    );

    let csv = server.get(
        &format!("/query?db=db&q={}", enc("SELECT usage FROM cpu")),
        &[("Accept", "application/csv")],
    );
    assert_eq!(csv.header("content-type"), Some("application/csv"));
    assert_eq!(
        csv.body,
        "name,tags,time,usage\ncpu,,1000000000,1.5\ncpu,,2000000000,2.5\n"
    );

    let pretty = influxql(&server, "db", "SHOW MEASUREMENTS", "&pretty=true");
    assert!(pretty.body.contains("\n"), "{}", pretty.body);
    assert_eq!(
        pretty.json()["results"][0]["series"][0]["values"],
        json!([["cpu"], ["mem"]])
    );

    let params = influxql(
        &server,
        "db",
        "SELECT count FROM cpu WHERE host = $h",
        &format!("&epoch=ns&params={}", enc(r#"{"h":"b"}"#)),
    );
    assert_eq!(
        params.json()["results"][0]["series"][0]["values"],
        json!([[2_000_000_000i64, 4]])
    );

    let form = format!("db=db&epoch=s&q={}", enc("SELECT free FROM mem"));
    let posted = server.post(
        "/query",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    );
    assert_eq!(
        posted.json()["results"][0]["series"][0]["values"],
        json!([[1, 10]])
    );
}

#[test]
fn v1_statement_errors_are_200_and_parse_errors_400() {
    let server = TestServer::without_auth();
    write(&server, "db", &[], LINES);
    let mixed = influxql(
        &server,
        "db",
        "SELECT usage FROM cpu; SELECT x FROM db2..cpu; SHOW DATABASES",
        "&epoch=s",
    );
    assert_eq!(mixed.status, 200);
    let results = mixed.json()["results"].clone();
    assert_eq!(
        results[0]["series"][0]["values"],
        json!([[1, 1.5], [2, 2.5]])
    );
    assert_eq!(results[1]["statement_id"], 1);
    assert!(results[1]["error"].is_string(), "{}", mixed.body);
    assert_eq!(results[2]["series"][0]["values"], json!([["db"]]));

    let parse = influxql(&server, "db", "SELECT FROM", "");
    assert_eq!(parse.status, 400);
    let error = parse.json()["error"].as_str().unwrap().to_owned();
    assert!(error.starts_with("error parsing query: "), "{error}");

    let no_db = server.get(&format!("/query?q={}", enc("SELECT usage FROM cpu")), &[]);
    assert_eq!(no_db.status, 200);
    assert_eq!(
        no_db.json()["results"][0]["error"],
        "database name required"
    );
    assert_eq!(server.get("/query?db=db", &[]).status, 400);
}

#[test]
fn v3_influxql_answers_tables_with_the_measurement_column() {
    let server = TestServer::without_auth();
    write(&server, "db", &[], LINES);
    let reply = server.get(
        &format!(
            "/api/v3/query_influxql?db=db&q={}",
            enc("SELECT usage FROM cpu GROUP BY host")
        ),
        &[],
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.json(),
        json!([
            {"iox::measurement": "cpu", "time": "1970-01-01T00:00:01", "host": "a", "usage": 1.5},
            {"iox::measurement": "cpu", "time": "1970-01-01T00:00:02", "host": "b", "usage": 2.5}
        ])
    );
    let body = json!({"db": "db", "q": "SELECT free FROM mem WHERE host = $h", "format": "csv", "params": {"h": "a"}});
    let csv = server.post(
        "/api/v3/query_influxql",
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    );
    assert_eq!(csv.status, 200, "{}", csv.body);
    assert_eq!(
        csv.body,
        "iox::measurement,time,free\nmem,1970-01-01T00:00:01,10\n"
    );
    let unknown = server.get("/api/v3/query_influxql?db=nodb&q=SHOW+MEASUREMENTS", &[]);
    assert_eq!(unknown.status, 404);
    let parse = server.get("/api/v3/query_influxql?db=db&q=SELECT", &[]);
    assert_eq!(parse.status, 400);
    let failed = server.get(
        &format!(
            "/api/v3/query_influxql?db=db&q={}",
            enc("SELECT usage FROM cpu WHERE x =~ /(/")
        ),
        &[],
    );
    assert_eq!(failed.status, 400, "{}", failed.body);
}

fn create_token(server: &TestServer, db: &str, actions: &[&str]) -> String {
    let body = json!({"name": "t", "permissions": [{"database": db, "actions": actions}]});
    let reply = server.post(
        "/api/v3/configure/token",
        &[("Authorization", &token(ADMIN))],
        body.to_string().as_bytes(),
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.json()["token"].as_str().unwrap().to_owned()
}

#[test]
fn every_query_path_needs_read_permission() {
    let server = TestServer::spawn();
    let admin = token(ADMIN);
    write(&server, "db", &[("Authorization", &admin)], LINES);
    write(&server, "other", &[("Authorization", &admin)], LINES);
    let reader = create_token(&server, "db", &["read"]);
    let writer = create_token(&server, "db", &["write"]);
    let select = enc("SELECT usage FROM cpu");
    let paths = [
        format!("/api/v3/query_sql?db=db&q={select}"),
        format!("/api/v3/query_influxql?db=db&q={select}"),
        format!("/query?db=db&q={select}"),
    ];
    for path in &paths {
        assert_eq!(server.get(path, &[]).status, 401, "{path}");
        let bad = server.get(path, &[("Authorization", &token("wrong"))]);
        assert_eq!(bad.status, 401, "{path}");
        let forbidden = server.get(path, &[("Authorization", &token(&writer))]);
        assert_eq!(forbidden.status, 403, "{path}: {}", forbidden.body);
        assert!(
            forbidden.body.contains("read permission"),
            "{}",
            forbidden.body
        );
        let ok = server.get(path, &[("Authorization", &format!("Bearer {reader}"))]);
        assert_eq!(ok.status, 200, "{path}: {}", ok.body);
        let elsewhere = path.replace("db=db", "db=other");
        let other = server.get(&elsewhere, &[("Authorization", &token(&reader))]);
        assert_eq!(other.status, 403, "{elsewhere}");
    }
    // The v1 credential forms: u/p parameters and Basic auth.
    let with_p = server.get(&format!("/query?db=db&u=me&p={reader}&q={select}"), &[]);
    assert_eq!(with_p.status, 200);
    let basic = basic("me", &reader);
    assert_eq!(
        server
            .get(
                &format!("/query?db=db&q={select}"),
                &[("Authorization", &basic)]
            )
            .status,
        200
    );
    // A statement reading another database fails the whole request.
    let cross = server.get(
        &format!(
            "/query?db=db&q={}",
            enc("SELECT usage FROM cpu; SELECT usage FROM other..cpu")
        ),
        &[("Authorization", &token(&reader))],
    );
    assert_eq!(cross.status, 403);
    // SHOW DATABASES lists only what the token may use.
    let show = server.get(
        "/query?q=SHOW+DATABASES",
        &[("Authorization", &token(&reader))],
    );
    assert_eq!(
        show.json()["results"][0]["series"][0]["values"],
        json!([["db"]])
    );
    // CREATE DATABASE: admin, or write permission on that database; DROP: admin only.
    let create = server.post(
        "/query?q=CREATE+DATABASE+%22db%22",
        &[("Authorization", &token(&writer))],
        b"",
    );
    assert_eq!(create.status, 200);
    assert_eq!(create.body, r#"{"results":[{"statement_id":0}]}"#);
    let created = server.post(
        "/query?q=CREATE+DATABASE+fresh",
        &[("Authorization", &admin)],
        b"",
    );
    assert_eq!(created.body, r#"{"results":[{"statement_id":0}]}"#);
    assert_eq!(
        server
            .post(
                "/query?q=CREATE+DATABASE+x",
                &[("Authorization", &token(&writer))],
                b""
            )
            .status,
        403
    );
    assert_eq!(
        server
            .post(
                "/query?q=DROP+DATABASE+db",
                &[("Authorization", &token(&writer))],
                b""
            )
            .status,
        403
    );
    assert_eq!(
        server
            .post(
                "/query?q=DROP+DATABASE+fresh",
                &[("Authorization", &admin)],
                b""
            )
            .body,
        r#"{"results":[{"statement_id":0}]}"#
    );
}

/// `Authorization: Basic …` for `user:password`.
fn basic(user: &str, password: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}").into_bytes();
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

fn metric(server: &TestServer, name: &str) -> f64 {
    let text = server.get("/metrics", &[]).body;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn queries_see_the_next_write_across_buffer_and_parquet_with_last_write_wins() {
    let server = TestServer::start(
        Options::default()
            .arg("--without-auth")
            .arg("--persist-buffer-bytes")
            .arg("16KiB"),
    );
    // 1000 points, enough to cross the persistence threshold.
    let first: String = (0..1000)
        .map(|i| format!("m,host=h{} v={i} {}\n", i % 4, (i + 1) * 1_000_000_000i64))
        .collect();
    write(&server, "db", &[], &first);
    let deadline = Instant::now() + Duration::from_secs(60);
    while metric(&server, "sluice_persisted_files_total") < 1.0 {
        assert!(Instant::now() < deadline, "nothing was persisted");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Overwrite ten persisted points and add one; these stay in the buffer.
    let second: String = (0..10)
        .map(|i| format!("m,host=h{} v=-1 {}\n", i % 4, (i + 1) * 1_000_000_000i64))
        .chain(std::iter::once(
            "m,host=h0 v=5000 2000000000000\n".to_owned(),
        ))
        .collect();
    write(&server, "db", &[], &second);

    // Sum of 10..999 plus ten times -1 plus 5000.
    let expected = (10..1000).sum::<i64>() as f64 - 10.0 + 5000.0;
    let totals = sql(
        &server,
        "db",
        "SELECT count(*) AS n, sum(v) AS total FROM m",
        "",
    );
    assert_eq!(totals.status, 200, "{}", totals.body);
    assert_eq!(totals.json(), json!([{"n": 1001, "total": expected}]));
    let overwritten = sql(
        &server,
        "db",
        "SELECT v FROM m WHERE time = '1970-01-01T00:00:03Z'",
        "",
    );
    assert_eq!(overwritten.json(), json!([{"v": -1.0}]));

    let v1 = influxql(&server, "db", "SELECT count(v), sum(v) FROM m", "&epoch=s");
    assert_eq!(
        v1.json()["results"][0]["series"][0]["values"],
        json!([[0, 1001, expected as i64]])
    );
}

/// Runs `sluice query` against `server`; returns (success, stdout, stderr).
fn query_cli(server: &TestServer, token: Option<&str>, args: &[&str]) -> (bool, String, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"));
    command
        .arg("query")
        .args(args)
        .env_clear()
        .env("SLUICE_HOST", server.url(""));
    if let Some(token) = token {
        command.env("SLUICE_TOKEN", token);
    }
    let output = command.output().expect("sluice query runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn query_cli_prints_tables_json_and_csv_and_fails_with_the_server_message() {
    let server = TestServer::spawn();
    write(&server, "db", &[("Authorization", &token(ADMIN))], LINES);
    let q = "SELECT host, usage FROM cpu ORDER BY host";

    let (ok, table, stderr) = query_cli(&server, Some(ADMIN), &["--db", "db", q]);
    assert!(ok, "{stderr}");
    assert!(table.contains("| host | usage |"), "{table}");
    assert!(table.contains("| a    | 1.5   |"), "{table}");

    let (ok, json, _) = query_cli(&server, Some(ADMIN), &["--db", "db", "--format", "json", q]);
    assert!(ok);
    let rows: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        rows,
        json!([{"host": "a", "usage": 1.5}, {"host": "b", "usage": 2.5}])
    );

    let (ok, csv, _) = query_cli(
        &server,
        Some(ADMIN),
        &[
            "--db",
            "db",
            "--format",
            "csv",
            "--param",
            "h=b",
            "SELECT usage FROM cpu WHERE host = $h",
        ],
    );
    assert!(ok);
    assert_eq!(csv, "usage\n2.5\n");

    let (ok, jsonl, _) = query_cli(
        &server,
        Some(ADMIN),
        &[
            "--db",
            "db",
            "--influxql",
            "--format",
            "jsonl",
            "SELECT free FROM mem",
        ],
    );
    assert!(ok);
    assert_eq!(
        jsonl.trim(),
        r#"{"iox::measurement":"mem","time":"1970-01-01T00:00:01","free":10}"#
    );

    let (ok, out, stderr) = query_cli(&server, Some(ADMIN), &["--db", "db", "SELECT * FROM nope"]);
    assert!(!ok);
    assert!(out.is_empty());
    assert!(
        stderr.contains("400") && stderr.contains("nope"),
        "{stderr}"
    );

    let (ok, _, stderr) = query_cli(&server, Some(ADMIN), &["--db", "nodb", q]);
    assert!(!ok);
    assert!(stderr.contains("database not found"), "{stderr}");

    let (ok, _, stderr) = query_cli(&server, None, &["--db", "db", q]);
    assert!(!ok);
    assert!(stderr.contains("401"), "{stderr}");
}
