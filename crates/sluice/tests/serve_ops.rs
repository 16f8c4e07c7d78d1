//! Operations: `/metrics`, backpressure (503 + Retry-After, then success), and graceful
//! shutdown that loses nothing acknowledged.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Options, TestServer, stored_tables, stored_times};

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in\n{text}"))
}

#[test]
fn metrics_count_requests_lines_bytes_and_storage_activity() {
    let server = TestServer::without_auth();
    let first = b"m v=1 1\nm v=2 2\n";
    let second = b"m v=3 3\nm,bad\n";
    assert_eq!(server.post("/write?db=x", &[], first).status, 204);
    assert_eq!(server.post("/write?db=x", &[], second).status, 400);
    assert_eq!(server.get("/ping", &[]).status, 204);
    let reply = server.get("/metrics", &[]);
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let text = reply.body;
    assert_eq!(
        metric(
            &text,
            "sluice_http_requests_total{endpoint=\"/write\",status=\"204\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            "sluice_http_requests_total{endpoint=\"/write\",status=\"400\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            "sluice_http_requests_total{endpoint=\"/ping\",status=\"204\"}"
        ),
        1.0
    );
    assert_eq!(metric(&text, "sluice_lines_accepted_total"), 3.0);
    assert_eq!(metric(&text, "sluice_lines_rejected_total"), 1.0);
    assert_eq!(
        metric(&text, "sluice_http_write_bytes_received_total"),
        (first.len() + second.len()) as f64
    );
    assert!(metric(&text, "sluice_wal_sync_seconds_count") >= 1.0);
    assert!(metric(&text, "sluice_wal_sync_seconds_bucket{le=\"+Inf\"}") >= 1.0);
    assert!(metric(&text, "sluice_buffer_bytes") > 0.0);
    assert_eq!(metric(&text, "sluice_backpressure_events_total"), 0.0);
    for name in [
        "sluice_persisted_files_total",
        "sluice_persisted_bytes_total",
    ] {
        assert!(text.contains(&format!("# TYPE {name} counter")), "{name}");
    }
}

#[test]
fn a_full_buffer_gives_503_with_retry_after_and_the_retry_succeeds() {
    let mut server = TestServer::start(
        Options::default()
            .arg("--without-auth")
            .arg("--max-buffer-bytes")
            .arg("64KiB")
            .arg("--persist-buffer-bytes")
            .arg("16KiB")
            .env("SLUICE_TEST_PERSIST_DELAY", "2s"),
    );
    let batch = |n: usize| -> Vec<u8> {
        (0..500)
            .map(|i| format!("bp,host=h{} value={i} {}\n", i % 7, n * 1000 + i))
            .collect::<String>()
            .into_bytes()
    };
    // Fill the buffer until the server pushes back.
    let mut accepted = Vec::new();
    let mut refusal = None;
    for n in 0..200 {
        let reply = server.post("/api/v3/write_lp?db=bp&precision=ns", &[], &batch(n));
        match reply.status {
            204 => accepted.push(n),
            503 => {
                refusal = Some((n, reply));
                break;
            }
            other => panic!("unexpected {other}: {}", reply.body),
        }
    }
    let (n, reply) = refusal.expect("the buffer limit was reached");
    let retry_after: u64 = reply
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("integer seconds");
    assert!(retry_after >= 1);
    assert!(
        reply.json()["error"].as_str().unwrap().contains("buffer"),
        "{}",
        reply.body
    );
    // A client that honours Retry-After gets through once persistence drained the buffer.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut wait = retry_after;
    loop {
        std::thread::sleep(Duration::from_secs(wait));
        let reply = server.post("/api/v3/write_lp?db=bp&precision=ns", &[], &batch(n));
        if reply.status == 204 {
            accepted.push(n);
            break;
        }
        assert_eq!(reply.status, 503, "{}", reply.body);
        wait = reply.header("retry-after").unwrap().parse().unwrap();
        assert!(Instant::now() < deadline, "still refused after a minute");
    }
    let metrics = server.get("/metrics", &[]).body;
    assert!(metric(&metrics, "sluice_backpressure_events_total") >= 1.0);
    assert!(
        metric(
            &metrics,
            "sluice_http_requests_total{endpoint=\"/api/v3/write_lp\",status=\"503\"}"
        ) >= 1.0
    );
    assert!(server.terminate().success());
    assert_eq!(
        stored_tables(&server.data_dir, "bp"),
        [("bp".to_owned(), accepted.len() * 500)]
    );
}

#[test]
fn sigterm_finishes_in_flight_writes_and_loses_nothing_acknowledged() {
    let mut server = TestServer::without_auth();
    let mut acknowledged = 0;
    for batch in 0..20 {
        let body: String = (0..100)
            .map(|i| format!("acked v={i} {}\n", batch * 100 + i))
            .collect();
        assert_eq!(server.post("/write?db=s", &[], body.as_bytes()).status, 204);
        acknowledged += 100;
    }
    // A write whose body is still arriving when SIGTERM comes.
    let mut stream = TcpStream::connect(&server.address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .write_all(b"POST /write?db=s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nc\r\ninflight v=1\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let kill = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(server_pid(&server))
        .status()
        .unwrap();
    assert!(kill.success());
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(b"3\r\n 5\n\r\n0\r\n\r\n").unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 204"), "{response}");
    let status = server.wait(Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
    assert_eq!(
        stored_times(&server.data_dir, "s", "acked").len(),
        acknowledged
    );
    assert_eq!(stored_times(&server.data_dir, "s", "inflight"), [5]);
}

fn server_pid(server: &TestServer) -> String {
    server.pid().to_string()
}

#[test]
fn sigterm_right_after_start_is_a_clean_exit() {
    for _ in 0..3 {
        let mut server = TestServer::without_auth();
        let status = server.terminate();
        assert!(status.success(), "{status:?}");
    }
}

#[test]
fn write_bodies_over_the_memory_budget_get_503_with_retry_after() {
    // Bodies are read before a write slot is taken; what they hold meanwhile is bounded
    // by a budget of --max-concurrent-writes x --max-request-bytes bytes (here 1 KiB).
    let server = TestServer::start(
        Options::default()
            .arg("--without-auth")
            .arg("--max-concurrent-writes")
            .arg("1")
            .arg("--max-request-bytes")
            .arg("1KiB")
            .arg("--http-body-idle-timeout")
            .arg("120s"),
    );
    // A slow body that has sent 996 bytes and pauses. Its bytes must have been read
    // before the probe; each attempt gives it a longer head start (the whole suite
    // shares two cores).
    let held = "m v=1\n".repeat(166);
    let open_slow = || {
        let mut slow = TcpStream::connect(&server.address).unwrap();
        let head = format!(
            "POST /write?db=c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{held}\r\n",
            held.len()
        );
        slow.write_all(head.as_bytes()).unwrap();
        slow
    };
    let probe = "n v=1\n".repeat(10);
    let mut head_start = Duration::from_millis(50);
    let (mut slow, refused) = loop {
        let slow = open_slow();
        std::thread::sleep(head_start);
        let reply = server.post("/write?db=c", &[], probe.as_bytes());
        if reply.status == 503 {
            break (slow, reply);
        }
        assert_eq!(reply.status, 204, "{}", reply.body);
        assert!(
            head_start < Duration::from_secs(30),
            "the budget was never taken"
        );
        head_start *= 2;
    };
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert!(
        refused.json()["error"]
            .as_str()
            .unwrap()
            .contains("too many write request bytes")
    );
    slow.write_all(b"6\r\nm v=2\n\r\n0\r\n\r\n").unwrap();
    let mut response = [0u8; 12];
    slow.read_exact(&mut response).unwrap();
    assert_eq!(&response, b"HTTP/1.1 204");
    assert_eq!(
        server.post("/write?db=c", &[], probe.as_bytes()).status,
        204
    );
}

/// Polls `/metrics` until `sluice_parquet_files` is `files` (or panics after 30 s).
fn wait_for_parquet_files(server: &TestServer, files: f64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = metric(&server.get("/metrics", &[]).body, "sluice_parquet_files");
        if now == files {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{now} parquet files, not {files}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_day_that_stopped_receiving_writes_is_compacted_into_one_file() {
    let server = TestServer::start(Options::default().args(&[
        "--without-auth",
        "--persist-interval",
        "1s",
        "--compact-cold-after",
        "2s",
    ]));
    // Two files of 2020-01-01, the second writing two of the first's points again.
    let first = b"cpu,host=a v=1 1577836800000000000\ncpu,host=b v=2 1577836800000000000\n";
    assert_eq!(server.post("/write?db=cold", &[], first).status, 204);
    wait_for_parquet_files(&server, 1.0);
    let second = b"cpu,host=a v=10 1577836800000000000\ncpu,host=b v=20 1577836800000000000\n\
        cpu,host=c v=30 1577836800000000000\n";
    assert_eq!(server.post("/write?db=cold", &[], second).status, 204);
    wait_for_parquet_files(&server, 2.0);
    // Far fewer than 8 files: only the rule for cold partitions merges them.
    wait_for_parquet_files(&server, 1.0);
    let reply = server.get("/query?db=cold&q=SELECT+sum(v)+FROM+cpu", &[]);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.json()["results"][0]["series"][0]["values"][0][1],
        60.0,
        "the newest value of each point, once: {}",
        reply.body
    );
}

#[test]
fn every_setting_can_come_from_the_environment() {
    let server = TestServer::start(
        Options {
            no_admin_token: true,
            ..Options::default()
        }
        .env("SLUICE_WITHOUT_AUTH", "true")
        .env("SLUICE_NO_AUTO_CREATE", "1")
        .env("SLUICE_MAX_REQUEST_BYTES", "1KiB")
        .env("SLUICE_WAL_SYNC", "none")
        .env("SLUICE_LOG_FORMAT", "json"),
    );
    let unknown = server.post("/write?db=env", &[], b"m v=1");
    assert_eq!(
        unknown.status, 404,
        "auth off, no auto-create: {}",
        unknown.body
    );
    let create = server.post("/query?q=CREATE+DATABASE+env", &[], b"");
    assert_eq!(create.status, 200);
    assert_eq!(server.post("/write?db=env", &[], b"m v=1").status, 204);
    let big = vec![b'#'; 2048];
    assert_eq!(server.post("/write?db=env", &[], &big).status, 413);
}

#[test]
fn a_refused_write_whose_body_stalls_is_still_answered_and_closed() {
    // Auth on and no token: refused before the body is read. The client then stops
    // sending mid-body; the server stops waiting for the rest, answers and closes.
    let server = TestServer::start(Options::default());
    let mut stalled = TcpStream::connect(&server.address).unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stalled
        .write_all(b"POST /write?db=c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nm v=\r\n")
        .unwrap();
    let mut response = Vec::new();
    let closed = stalled.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 401"), "{response}");
    assert!(closed.is_ok(), "connection not closed: {closed:?}");
    assert_eq!(server.get("/ping", &[]).status, 204);
}

#[test]
fn a_second_server_on_the_same_data_directory_is_refused_naming_the_first() {
    let mut first = TestServer::without_auth();
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "serve",
            "--without-auth",
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(&first.data_dir)
        .env_clear()
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("is in use by another sluice process")
            && stderr.contains(&format!("(pid {})", first.pid())),
        "{stderr}"
    );
    // The first one is untouched, and once it has stopped the directory opens again.
    let reply = first.post("/write?db=db", &[], b"cpu v=1 1");
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert!(first.terminate().success());
    let again = TestServer::start(
        Options::default()
            .arg("--without-auth")
            .data_dir(&first.data_dir),
    );
    let reply = again.get("/query?db=db&q=SELECT%20count(v)%20FROM%20cpu", &[]);
    assert!(reply.body.contains(r#"00Z",1]]"#), "{}", reply.body);
}
