//! The write endpoints of `sluice serve`, driven over HTTP like InfluxDB's own docs do.

mod common;

use common::{Options, TestServer, enc, gzip, stored_tables, stored_times};

const DOC_V1: &[u8] = b"cpu_load_short,host=server01,region=us-west value=0.64 1434055562000000000";
const DOC_V2: &[u8] = b"airSensors,sensor_id=TLM0201 temperature=73.97038159354763,humidity=35.23103248356096,co=0.48445310567793615 1630424257000000000";
const DOC_V3: &[u8] = b"home,room=Living\\ Room temp=21.1,hum=35.9,co=0i 1735545600";

#[test]
fn ping_health_and_ready_answer_like_influxdb() {
    let server = TestServer::spawn();
    for method in ["GET", "HEAD"] {
        let reply = server.request(method, "/ping", &[], None);
        assert_eq!(reply.status, 204, "{method}");
        assert!(reply.header("x-influxdb-version").is_some());
        assert_eq!(reply.header("x-influxdb-build"), Some("sluice"));
        assert!(reply.body.is_empty());
    }
    let verbose = server.get("/ping?verbose=true", &[]);
    assert_eq!(verbose.status, 200);
    assert!(verbose.json()["version"].is_string());
    let health = server.get("/health", &[]);
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["name"], "sluice");
    assert_eq!(health.json()["status"], "pass");
    let ready = server.get("/ready", &[]);
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["status"], "ready");
    assert!(ready.json()["started"].as_str().unwrap().ends_with('Z'));
    assert!(ready.json()["up"].is_string());
}

#[test]
fn the_documented_curl_writes_of_each_api_are_stored() {
    let mut server = TestServer::without_auth();
    let v1 = server.post("/write?db=mydb", &[], DOC_V1);
    assert_eq!((v1.status, v1.body.as_str()), (204, ""));
    let v2 = server.post(
        "/api/v2/write?org=YOUR_ORG&bucket=YOUR_BUCKET&precision=ns",
        &[
            ("Authorization", "Token YOUR_API_TOKEN"),
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Accept", "application/json"),
        ],
        DOC_V2,
    );
    assert_eq!((v2.status, v2.body.as_str()), (204, ""));
    let v3 = server.post("/api/v3/write_lp?db=sensors&precision=auto", &[], DOC_V3);
    assert_eq!((v3.status, v3.body.as_str()), (204, ""));
    assert!(server.terminate().success());
    let dir = &server.data_dir;
    assert_eq!(
        stored_times(dir, "mydb", "cpu_load_short"),
        [1_434_055_562_000_000_000]
    );
    assert_eq!(
        stored_times(dir, "YOUR_BUCKET", "airSensors"),
        [1_630_424_257_000_000_000]
    );
    assert_eq!(
        stored_times(dir, "sensors", "home"),
        [1_735_545_600_000_000_000]
    );
}

#[test]
fn every_precision_spelling_works_on_every_endpoint() {
    let mut server = TestServer::without_auth();
    let spellings = [
        ("n", 1),
        ("ns", 1),
        ("nanosecond", 1),
        ("u", 1_000),
        ("us", 1_000),
        ("%C2%B5s", 1_000),
        ("ms", 1_000_000),
        ("millisecond", 1_000_000),
        ("s", 1_000_000_000),
        ("second", 1_000_000_000),
        ("m", 60_000_000_000),
        ("minute", 60_000_000_000),
        ("h", 3_600_000_000_000),
        ("hour", 3_600_000_000_000),
    ];
    let endpoints = [
        ("/write?db=v1", "v1"),
        ("/api/v2/write?org=o&bucket=v2", "v2"),
        ("/api/v3/write_lp?db=v3", "v3"),
    ];
    for (endpoint, _) in endpoints {
        for (i, (spelling, _)) in spellings.iter().enumerate() {
            let body = format!("p{i} v=1 400000");
            let reply = server.post(
                &format!("{endpoint}&precision={spelling}"),
                &[],
                body.as_bytes(),
            );
            assert_eq!(reply.status, 204, "{endpoint} {spelling}: {}", reply.body);
        }
        let auto = server.post(
            &format!("{endpoint}&precision=auto"),
            &[],
            b"auto v=1 1735545600123",
        );
        assert_eq!(auto.status, 204, "{endpoint} auto");
        let bad = server.post(&format!("{endpoint}&precision=fortnight"), &[], b"x v=1");
        assert_eq!(bad.status, 400, "{endpoint}");
        assert!(bad.body.contains("invalid precision"), "{}", bad.body);
    }
    assert!(server.terminate().success());
    for (_, db) in endpoints {
        for (i, (spelling, nanos)) in spellings.iter().enumerate() {
            assert_eq!(
                stored_times(&server.data_dir, db, &format!("p{i}")),
                [400_000 * nanos],
                "{db} {spelling}"
            );
        }
        assert_eq!(
            stored_times(&server.data_dir, db, "auto"),
            [1_735_545_600_123_000_000]
        );
    }
}

#[test]
fn lines_without_a_timestamp_get_the_server_time() {
    let mut server = TestServer::without_auth();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    assert_eq!(
        server
            .post("/write?db=d&precision=s", &[], b"cpu v=1")
            .status,
        204
    );
    assert_eq!(
        server.post("/api/v3/write_lp?db=d", &[], b"mem v=1").status,
        204
    );
    let after = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    assert!(server.terminate().success());
    let cpu = stored_times(&server.data_dir, "d", "cpu");
    assert_eq!(cpu.len(), 1);
    assert!(cpu[0] % 1_000_000_000 == 0, "truncated to the precision");
    assert!(cpu[0] >= before - 1_000_000_000 && cpu[0] <= after);
    let mem = stored_times(&server.data_dir, "d", "mem");
    assert!(mem[0] >= before && mem[0] <= after);
}

#[test]
fn gzip_and_chunked_bodies_are_accepted_without_a_content_type() {
    let mut server = TestServer::without_auth();
    let gz = server.post(
        "/write?db=g",
        &[("Content-Encoding", "gzip")],
        &gzip(b"a v=1 1\n"),
    );
    assert_eq!(gz.status, 204, "{}", gz.body);
    let xgz = server.post(
        "/api/v2/write?bucket=g",
        &[("Content-Encoding", "x-gzip")],
        &gzip(b"b v=1 1\n"),
    );
    assert_eq!(xgz.status, 204, "{}", xgz.body);
    let chunked = b"POST /api/v3/write_lp?db=g HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n6\r\nc v=1 \r\n2\r\n1\n\r\n0\r\n\r\n";
    let (status, text) = server.raw(chunked);
    assert_eq!(status, 204, "{text}");
    let compressed = gzip(b"d v=1 1\nd v=2 2\n");
    let mut request = format!(
        "POST /write?db=g HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\nConnection: close\r\n\r\n{:x}\r\n",
        compressed.len()
    )
    .into_bytes();
    request.extend_from_slice(&compressed);
    request.extend_from_slice(b"\r\n0\r\n\r\n");
    let (status, text) = server.raw(&request);
    assert_eq!(status, 204, "{text}");
    let broken = server.post("/write?db=g", &[("Content-Encoding", "gzip")], b"not gzip");
    assert_eq!(broken.status, 400);
    assert!(broken.body.contains("gzip"), "{}", broken.body);
    // Compressed without saying so (or twice): told so, not every line rejected.
    for (path, headers) in [
        ("/write?db=g", vec![]),
        ("/api/v3/write_lp?db=g", vec![]),
        ("/api/v2/write?bucket=g", vec![("Content-Encoding", "gzip")]),
    ] {
        let body = if headers.is_empty() {
            gzip(b"e v=1 1\n")
        } else {
            gzip(&gzip(b"e v=1 1\n"))
        };
        let reply = server.post(path, &headers, &body);
        assert_eq!(reply.status, 400, "{path}: {}", reply.body);
        assert!(
            reply
                .body
                .contains("the body is gzip data (it starts with gzip's bytes 1f 8b)"),
            "{path}: {}",
            reply.body
        );
    }
    assert!(server.terminate().success());
    let mut tables = stored_tables(&server.data_dir, "g");
    tables.sort();
    assert_eq!(
        tables,
        [
            ("a".into(), 1),
            ("b".into(), 1),
            ("c".into(), 1),
            ("d".into(), 2)
        ]
    );
}

/// Good, unparsable, good, type conflict, unparsable.
const MIXED: &[u8] = b"m f=1 1\nm,host=a\nm f=2 2\nm f=\"text\" 3\nbad line here\n";

#[test]
fn partial_writes_keep_valid_lines_and_report_every_rejected_line_per_api() {
    let mut server = TestServer::without_auth();

    let v1 = server.post("/write?db=p1", &[], MIXED);
    assert_eq!(v1.status, 400);
    let error = v1.json()["error"].as_str().unwrap().to_owned();
    assert!(
        error.starts_with("partial write: unable to parse 'm,host=a': line 2"),
        "{error}"
    );
    assert!(error.contains("line 4: field type conflict"), "{error}");
    assert!(
        error.contains("unable to parse 'bad line here': line 5"),
        "{error}"
    );
    assert!(error.ends_with("dropped=3"), "{error}");
    let header = v1.header("x-influxdb-error").unwrap();
    assert!(
        header.starts_with("partial write: unable to parse"),
        "{header}"
    );

    let v2 = server.post("/api/v2/write?org=o&bucket=p2", &[], MIXED);
    assert_eq!(v2.status, 400);
    assert_eq!(v2.json()["code"], "invalid");
    let message = v2.json()["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("partial write") && message.contains("unable to parse"),
        "{message}"
    );
    assert!(message.contains("field type conflict"), "{message}");
    assert_eq!(v2.header("x-platform-error-code"), Some("invalid"));

    let v3 = server.post("/api/v3/write_lp?db=p3&precision=ns", &[], MIXED);
    assert_eq!(v3.status, 400);
    let body = v3.json();
    assert_eq!(body["error"], "partial write of line protocol occurred");
    let data = body["data"].as_array().unwrap();
    let numbers: Vec<u64> = data
        .iter()
        .map(|d| d["line_number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [2, 4, 5]);
    assert_eq!(data[0]["original_line"], "m,host=a");
    assert_eq!(data[1]["original_line"], "m f=\"text\" 3");
    assert!(
        data[0]["error_message"]
            .as_str()
            .unwrap()
            .contains("missing fields")
    );
    assert!(
        data[1]["error_message"]
            .as_str()
            .unwrap()
            .contains("field type conflict")
    );

    assert!(server.terminate().success());
    for db in ["p1", "p2", "p3"] {
        assert_eq!(stored_times(&server.data_dir, db, "m"), [1, 2], "{db}");
    }
}

#[test]
fn rejections_spread_over_a_large_body_keep_their_line_numbers_and_the_rest_is_stored() {
    // Bodies are parsed and validated in chunks of about a thousand lines: errors of
    // both kinds (parse, catalog) in the first, middle and last chunks must all be
    // reported with their physical line numbers, and every other line stored.
    let mut server = TestServer::without_auth();
    let mut body = String::new();
    let mut expected_times = Vec::new();
    let (parse_errors, type_conflicts) = ([1usize, 1500, 3000], [1024usize, 1025, 2049]);
    for number in 1..=3000usize {
        if parse_errors.contains(&number) {
            body.push_str("no_fields_here\n");
        } else if type_conflicts.contains(&number) {
            body.push_str(&format!("m,host=h{} f=\"text\" {number}\n", number % 7));
        } else {
            body.push_str(&format!("m,host=h{} f={number}i {number}\n", number % 7));
            expected_times.push(number as i64);
        }
    }
    let reply = server.post("/api/v3/write_lp?db=big&precision=ns", &[], body.as_bytes());
    assert_eq!(reply.status, 400, "{}", reply.body);
    let data = reply.json()["data"].as_array().unwrap().clone();
    let numbers: Vec<u64> = data
        .iter()
        .map(|d| d["line_number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 1024, 1025, 1500, 2049, 3000]);
    assert_eq!(data[1]["original_line"], "m,host=h2 f=\"text\" 1024");
    assert!(
        data[4]["error_message"]
            .as_str()
            .unwrap()
            .contains("field type conflict")
    );
    assert!(server.terminate().success());
    let mut stored = stored_times(&server.data_dir, "big", "m");
    stored.sort_unstable();
    assert_eq!(stored, expected_times);
}

#[test]
fn accept_partial_false_writes_nothing_when_any_line_fails() {
    let mut server = TestServer::without_auth();
    assert_eq!(
        server
            .post("/api/v3/write_lp?db=a&precision=ns", &[], b"m f=1 1")
            .status,
        204
    );
    for body in [&b"m f=2 2\nm,x\n"[..], b"m f=3 3\nm f=\"s\" 4\n"] {
        let reply = server.post(
            "/api/v3/write_lp?db=a&precision=ns&accept_partial=false",
            &[],
            body,
        );
        assert_eq!(reply.status, 400, "{}", reply.body);
        assert_eq!(reply.json()["data"].as_array().unwrap().len(), 1);
    }
    // A line that does not parse and one of the wrong type: both are listed (and a new
    // table the good line would have made is not kept).
    let reply = server.post(
        "/api/v3/write_lp?db=a&precision=ns&accept_partial=false",
        &[],
        b"m f=6 6\nm f=\"x\" 7\nm,host=a\nn g=1 8\n",
    );
    assert_eq!(reply.status, 400, "{}", reply.body);
    let data = reply.json()["data"].clone();
    let listed: Vec<(i64, &str)> = data
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["line_number"].as_i64().unwrap(),
                d["error_message"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(listed.len(), 2, "{}", reply.body);
    assert_eq!(listed[0].0, 2);
    assert!(listed[0].1.contains("type conflict"), "{}", reply.body);
    assert_eq!(listed[1].0, 3);
    assert!(listed[1].1.starts_with("missing fields"), "{}", reply.body);
    let tables = server.post("/query?db=a&q=SHOW+MEASUREMENTS", &[], b"");
    assert!(!tables.body.contains("\"n\""), "{}", tables.body);
    let ok = server.post(
        "/api/v3/write_lp?db=a&precision=ns&accept_partial=false&no_sync=true",
        &[],
        b"m f=5 5",
    );
    assert_eq!(ok.status, 204);
    assert!(server.terminate().success());
    assert_eq!(stored_times(&server.data_dir, "a", "m"), [1, 5]);
}

#[test]
fn bodies_over_the_limit_get_413_on_the_wire_and_after_gunzip() {
    let server = TestServer::start(
        Options::default()
            .arg("--without-auth")
            .arg("--max-request-bytes")
            .arg("1MiB"),
    );
    let line = b"m,host=abcdefgh value=1.5 1\n";
    let fits: Vec<u8> = line
        .iter()
        .copied()
        .cycle()
        .take(line.len() * 30_000)
        .collect();
    assert!(fits.len() < 1 << 20);
    assert_eq!(server.post("/write?db=l", &[], &fits).status, 204);

    let big: Vec<u8> = line.iter().copied().cycle().take(2 << 20).collect();
    let reply = server.post("/write?db=l", &[], &big);
    assert_eq!(reply.status, 413);
    assert!(
        reply.json()["error"]
            .as_str()
            .unwrap()
            .contains("too large")
    );
    assert_eq!(server.post("/api/v2/write?bucket=l", &[], &big).status, 413);

    let mut chunked = b"POST /api/v3/write_lp?db=l HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for chunk in big.chunks(64 << 10) {
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(server.raw(&chunked).0, 413);

    // 200 MiB of zeros gzip to ~200 KiB (at the best level: flate2's zlib-rs backend
    // compresses far less at its fast one): a bomb must be refused, not inflated.
    let bomb = {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut encoder, &vec![b'0'; 200 << 20]).unwrap();
        encoder.finish().unwrap()
    };
    assert!(bomb.len() < 1 << 20);
    let reply = server.post("/write?db=l", &[("Content-Encoding", "gzip")], &bomb);
    assert_eq!(reply.status, 413);
    assert_eq!(server.get("/ping", &[]).status, 204, "still alive");
}

#[test]
fn unknown_databases_are_404_when_auto_create_is_off() {
    let server = TestServer::start(
        Options::default()
            .arg("--without-auth")
            .arg("--no-auto-create"),
    );
    let v1 = server.post("/write?db=nope", &[], b"m v=1");
    assert_eq!(v1.status, 404);
    assert!(
        v1.json()["error"]
            .as_str()
            .unwrap()
            .contains("database not found")
    );
    let v2 = server.post("/api/v2/write?org=o&bucket=nope", &[], b"m v=1");
    assert_eq!(v2.status, 404);
    assert_eq!(v2.json()["message"], "bucket \"nope\" not found");
    let v3 = server.post("/api/v3/write_lp?db=nope", &[], b"m v=1");
    assert_eq!(v3.status, 404);
    assert!(
        v3.json()["error"]
            .as_str()
            .unwrap()
            .contains("database not found")
    );

    let create = server.post("/query?q=CREATE+DATABASE+nope", &[], b"");
    assert_eq!(create.status, 200);
    assert_eq!(server.post("/write?db=nope", &[], b"m v=1").status, 204);
}

#[test]
fn missing_database_parameters_are_400() {
    let server = TestServer::without_auth();
    let v1 = server.post("/write", &[], b"m v=1");
    assert_eq!(v1.status, 400);
    assert!(v1.json()["error"].as_str().unwrap().contains("\"db\""));
    let v2 = server.post("/api/v2/write?org=o", &[], b"m v=1");
    assert_eq!(v2.status, 400);
    assert_eq!(v2.json()["code"], "invalid");
    let flag = server.post("/api/v3/write_lp?db=x&accept_partial=maybe", &[], b"m v=1");
    assert_eq!(flag.status, 400);
}

#[test]
fn a_retention_policy_named_in_db_is_the_one_written_by_every_api() {
    let server = TestServer::without_auth();
    let query = |q: &str| server.post(&format!("/query?db=sensors&q={}", enc(q)), &[], b"");
    assert_eq!(query("CREATE DATABASE sensors").status, 200);
    let create = query("CREATE RETENTION POLICY week ON sensors DURATION 7d REPLICATION 1");
    assert_eq!(create.status, 200, "{}", create.body);
    for (path, table) in [
        ("/write?db=sensors/week", "v1"),
        ("/write?db=sensors&rp=week", "v1rp"),
        ("/write?db=sensors/week&rp=week", "v1both"),
        ("/api/v2/write?org=o&bucket=sensors/week", "v2"),
        ("/api/v3/write_lp?db=sensors/week", "v3"),
    ] {
        let reply = server.post(path, &[], format!("{table} v=1").as_bytes());
        assert_eq!(reply.status, 204, "{path}: {}", reply.body);
    }
    let counts =
        query("SELECT count(v) FROM week.v1, week.v1rp, week.v1both, week.v2, week.v3, autogen.v1");
    let series = counts.json()["results"][0]["series"].clone();
    let names: Vec<&str> = series
        .as_array()
        .unwrap_or_else(|| panic!("{}", counts.body))
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["v1", "v1both", "v1rp", "v2", "v3"],
        "{}",
        counts.body
    );
    let autogen = query("SELECT count(v) FROM autogen.v1");
    assert!(
        autogen.json()["results"][0]["series"].is_null(),
        "{}",
        autogen.body
    );

    // Two different policies named: 400.
    let reply = server.post("/write?db=sensors/week&rp=autogen", &[], b"m v=1");
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(
        reply.json()["error"]
            .as_str()
            .unwrap()
            .contains("db names retention policy \"week\""),
        "{}",
        reply.body
    );
    // A policy the database does not have, by either spelling: 404, as on v2 and v3.
    for path in [
        "/write?db=sensors/nosuchrp",
        "/write?db=sensors&rp=nosuchrp",
        "/api/v3/write_lp?db=sensors/nosuchrp",
    ] {
        let reply = server.post(path, &[], b"m v=1");
        assert_eq!(reply.status, 404, "{path}: {}", reply.body);
    }
    // A database a write would create has only `autogen`: nothing is created.
    for path in [
        "/write?db=fresh/whatever",
        "/api/v3/write_lp?db=fresh/whatever",
    ] {
        let reply = server.post(path, &[], b"m v=1");
        assert_eq!(reply.status, 404, "{path}: {}", reply.body);
        assert!(
            reply.json()["error"].as_str().unwrap().starts_with(
                "database not found: \"fresh\" (a write creates a database for its default retention policy \"autogen\" only, not for \"whatever\")"
            ),
            "{path}: {}",
            reply.body
        );
    }
    let databases = query("SHOW DATABASES");
    assert!(!databases.body.contains("fresh"), "{}", databases.body);
}

#[test]
fn parameters_that_are_not_utf8_once_decoded_are_400() {
    let server = TestServer::without_auth();
    for path in [
        "/write?db=x%c3%28",
        "/api/v2/write?org=o&bucket=%ff%fe",
        "/api/v3/write_lp?db=x%c3%28",
    ] {
        let reply = server.post(path, &[], b"m v=1");
        assert_eq!(reply.status, 400, "{path}: {}", reply.body);
        assert!(
            reply.body.contains("is not UTF-8 once percent-decoded"),
            "{path}: {}",
            reply.body
        );
    }
    let databases = server.get("/query?q=SHOW+DATABASES", &[]);
    assert!(!databases.body.contains('\u{FFFD}'), "{}", databases.body);
    // Escaped UTF-8 is decoded.
    assert_eq!(
        server.post("/write?db=caf%C3%A9", &[], b"m v=1").status,
        204
    );
    assert!(
        server
            .get("/query?q=SHOW+DATABASES", &[])
            .body
            .contains("café")
    );
}

#[test]
fn a_string_left_open_is_reported_with_the_lines_it_took() {
    let server = TestServer::without_auth();
    let body = b"ok v=1 1\nbad s=\"open\nok v=2 2\nok v=3 3";
    let v3 = server.post("/api/v3/write_lp?db=edge", &[], body);
    assert_eq!(v3.status, 400, "{}", v3.body);
    let data = v3.json()["data"].clone();
    assert_eq!(data.as_array().map(Vec::len), Some(1), "{}", v3.body);
    assert_eq!(data[0]["original_line"], "bad s=\"open");
    assert_eq!(data[0]["line_number"], 2);
    assert_eq!(
        data[0]["error_message"],
        "unterminated string for field \"s\": it runs to the end of the body, taking the 2 lines after it (column 7)"
    );
    let v1 = server.post("/write?db=edge", &[], body);
    assert_eq!(v1.status, 400);
    assert!(
        v1.json()["error"]
            .as_str()
            .unwrap()
            .contains("taking the 2 lines after it"),
        "{}",
        v1.body
    );
}
