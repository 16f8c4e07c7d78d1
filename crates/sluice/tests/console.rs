//! The web console: its assets and APIs over HTTP, and an end-to-end run of every page in
//! headless Chromium (console/e2e/console.cjs, driven by playwright-core) against a real
//! `sluice serve`.
//!
//! The browser run needs Debian's chromium and console/e2e's npm packages, both installed
//! by scripts/console-deps.sh. Without them the test prints `SKIPPED` and passes, unless
//! `SLUICE_COMPAT_REQUIRED=1` (set by scripts/test.sh), where it fails. Screenshots of each
//! page are kept in `$CARGO_TARGET_DIR/console-screenshots` (or `SLUICE_CONSOLE_SCREENSHOTS`).

mod common;

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{ADMIN, TestServer, token};

/// How long the browser run may take before it is killed and the test fails.
const E2E_TIMEOUT: Duration = Duration::from_secs(600);

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/sluice-target"))
}

fn announce(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

#[test]
fn the_console_page_is_served_at_the_root_with_cache_headers_and_gzip() {
    let server = TestServer::spawn();
    let (status, index) = server.raw(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(status, 200, "{index}");
    let lower = index.to_lowercase();
    assert!(lower.contains("content-type: text/html"), "{index}");
    assert!(lower.contains("cache-control: no-cache"), "{index}");
    assert!(
        lower.contains("content-security-policy: default-src 'self'"),
        "{index}"
    );
    assert!(!lower.contains("content-encoding"), "{index}");
    let script = index
        .split("src=\"/assets/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no script in {index}"));

    let (status, plain) = server.raw(
        format!("GET /assets/{script} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!(status, 200);
    let plain_lower = plain.to_lowercase();
    assert!(plain_lower.contains("cache-control: public, max-age=31536000, immutable"));
    assert!(plain_lower.contains("content-type: text/javascript"));
    let (status, gzipped) = server.raw(
        format!(
            "GET /assets/{script} HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip, br\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(status, 200);
    assert!(gzipped.to_lowercase().contains("content-encoding: gzip"));
    let length = |response: &str| -> usize {
        let lower = response.to_lowercase();
        let rest = lower
            .split("content-length: ")
            .nth(1)
            .expect("a content-length");
        rest.split("\r\n").next().unwrap().trim().parse().unwrap()
    };
    assert!(
        length(&gzipped) * 2 < length(&plain),
        "gzip saves at least half: {} vs {} bytes",
        length(&gzipped),
        length(&plain)
    );

    let missing = server.get("/assets/nope-123.js", &[]);
    assert_eq!(missing.status, 404);
    assert!(
        missing.body.contains("no console asset"),
        "{}",
        missing.body
    );
}

#[test]
fn whoami_tells_a_token_which_databases_it_may_read_and_write() {
    let server = TestServer::spawn();
    let admin = token(ADMIN);
    for db in ["a", "b"] {
        let w = server.post(
            &format!("/api/v3/write_lp?db={db}"),
            &[("Authorization", &admin)],
            b"m v=1",
        );
        assert_eq!(w.status, 204);
    }
    let me = server.get("/api/v3/console/whoami", &[("Authorization", &admin)]);
    assert_eq!(me.status, 200, "{}", me.body);
    let me = me.json();
    assert_eq!(me["admin"], true);
    assert_eq!(me["read"], serde_json::json!(["a", "b"]));

    let created = server.post(
        "/api/v3/configure/token",
        &[("Authorization", &admin)],
        br#"{"name":"ro","permissions":[{"database":"a","actions":["read"]}]}"#,
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let ro = token(created.json()["token"].as_str().unwrap());
    let me = server
        .get("/api/v3/console/whoami", &[("Authorization", &ro)])
        .json();
    assert_eq!(me["admin"], false);
    assert_eq!(me["name"], "ro");
    assert_eq!(me["read"], serde_json::json!(["a"]));
    assert_eq!(me["write"], serde_json::json!([]));

    let anonymous = server.get("/api/v3/console/whoami", &[]);
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
}

#[test]
fn rejected_lines_are_kept_and_shown_only_to_tokens_that_may_read_their_database() {
    let server = TestServer::spawn();
    let admin = token(ADMIN);
    let w = server.post(
        "/api/v3/write_lp?db=a",
        &[("Authorization", &admin), ("User-Agent", "telegraf/1.30")],
        b"m v=1\nm,host=x\nm v=\"s\"",
    );
    assert_eq!(w.status, 400, "{}", w.body);
    let w = server.post(
        "/write?db=b",
        &[
            ("Authorization", &admin),
            ("X-Forwarded-For", "10.1.2.3, 10.0.0.1"),
        ],
        b"n v=",
    );
    assert_eq!(w.status, 400, "{}", w.body);

    let all = server.get("/api/v3/rejections", &[("Authorization", &admin)]);
    assert_eq!(all.status, 200, "{}", all.body);
    let all = all.json();
    let entries = all["rejections"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "{all}");
    // Newest first.
    assert_eq!(entries[0]["database"], "b");
    assert_eq!(entries[0]["client_address"], "10.1.2.3");
    assert_eq!(entries[0]["text"], "n v=");
    let conflict = &entries[1];
    assert_eq!(conflict["database"], "a");
    assert_eq!(conflict["line_number"], 3);
    assert_eq!(conflict["kind"], "field type conflict");
    assert_eq!(conflict["user_agent"], "telegraf/1.30");
    assert_eq!(conflict["client_address"], "127.0.0.1");
    assert_eq!(entries[2]["line_number"], 2);
    assert_eq!(entries[2]["reason"], "missing fields");
    assert_eq!(all["kinds"]["missing fields"], 1, "{all}");

    let only = server
        .get(
            "/api/v3/rejections?reason=field%20type%20conflict",
            &[("Authorization", &admin)],
        )
        .json();
    assert_eq!(only["rejections"].as_array().unwrap().len(), 1, "{only}");
    let in_b = server
        .get(
            "/api/v3/rejections?db=b&limit=5",
            &[("Authorization", &admin)],
        )
        .json();
    assert_eq!(in_b["rejections"].as_array().unwrap().len(), 1, "{in_b}");
    let newer = server
        .get(
            &format!("/api/v3/rejections?after={}", entries[1]["id"]),
            &[("Authorization", &admin)],
        )
        .json();
    assert_eq!(newer["rejections"].as_array().unwrap().len(), 1, "{newer}");

    let created = server.post(
        "/api/v3/configure/token",
        &[("Authorization", &admin)],
        br#"{"name":"ro","permissions":[{"database":"a","actions":["read"]}]}"#,
    );
    let ro = token(created.json()["token"].as_str().unwrap());
    let mine = server
        .get("/api/v3/rejections", &[("Authorization", &ro)])
        .json();
    let mine = mine["rejections"].as_array().unwrap();
    assert_eq!(mine.len(), 2);
    assert!(mine.iter().all(|e| e["database"] == "a"));
    let theirs = server.get("/api/v3/rejections?db=b", &[("Authorization", &ro)]);
    assert_eq!(theirs.status, 403, "{}", theirs.body);
    assert_eq!(server.get("/api/v3/rejections", &[]).status, 401);
    let bad = server.get("/api/v3/rejections?limit=0", &[("Authorization", &admin)]);
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("limit"), "{}", bad.body);
}

#[test]
fn metrics_carry_write_latency_and_the_buffer_ceiling() {
    let server = TestServer::start(
        common::Options::default()
            .arg("--max-buffer-bytes")
            .arg("32MiB"),
    );
    let w = server.post(
        "/api/v3/write_lp?db=a",
        &[("Authorization", &token(ADMIN))],
        b"m v=1",
    );
    assert_eq!(w.status, 204);
    let metrics = server
        .get("/metrics", &[("Authorization", &token(ADMIN))])
        .body;
    assert!(
        metrics.contains("sluice_buffer_limit_bytes 33554432"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sluice_http_write_duration_seconds_count 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sluice_http_write_duration_seconds_bucket{le=\"+Inf\"} 1"),
        "{metrics}"
    );
}

/// Where scripts/console-deps.sh put playwright-core, and the browser.
fn e2e_env() -> Option<(PathBuf, PathBuf)> {
    let dir = std::env::var_os("SLUICE_CONSOLE_E2E_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("console-e2e"));
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    let modules = dir.join("node_modules");
    let missing = if !modules.join("playwright-core").is_dir() {
        Some(format!(
            "playwright-core is not installed in {}",
            dir.display()
        ))
    } else if !chromium.is_file() {
        Some(format!("{} is missing", chromium.display()))
    } else {
        None
    };
    let Some(reason) = missing else {
        return Some((modules, chromium));
    };
    let reason = format!("{reason} (run `bash scripts/console-deps.sh`)");
    let required = std::env::var("SLUICE_COMPAT_REQUIRED").is_ok_and(|v| v == "1");
    assert!(!required, "console e2e: {reason}");
    announce(&format!(
        "SKIPPED: console::every_page_works_in_a_real_browser: {reason}"
    ));
    None
}

#[test]
fn every_page_works_in_a_real_browser() {
    let Some((modules, chromium)) = e2e_env() else {
        return;
    };
    // Persisting every second puts the seed data in Parquet files before the Databases
    // page shows each table's bytes on disk.
    let server = TestServer::start(
        common::Options::default()
            .arg("--persist-interval")
            .arg("1s"),
    );
    let shots = std::env::var_os("SLUICE_CONSOLE_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("console-screenshots"));
    let _ = std::fs::remove_dir_all(&shots);
    let temp = tempfile::tempdir().unwrap();
    let log = temp.path().join("output");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../console/e2e/console.cjs");
    let mut child = Command::new("node")
        .arg(&script)
        .current_dir(temp.path())
        .env("NODE_PATH", &modules)
        .env("CHROMIUM", &chromium)
        .env("SLUICE_URL", server.url(""))
        .env("SLUICE_TOKEN", ADMIN)
        .env("SCREENSHOT_DIR", &shots)
        .env("HOME", temp.path())
        .stdin(Stdio::null())
        .stdout(File::create(&log).unwrap())
        .stderr(File::create(temp.path().join("errors")).unwrap())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start node {}: {err}", script.display()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > E2E_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = format!(
        "--- output\n{}--- errors\n{}",
        std::fs::read_to_string(&log).unwrap_or_default(),
        std::fs::read_to_string(temp.path().join("errors")).unwrap_or_default()
    );
    println!("{output}\nscreenshots in {}", shots.display());
    match status {
        Some(status) => assert!(
            status.success(),
            "console.cjs exited with {status}\n{output}"
        ),
        None => panic!("console.cjs ran longer than {E2E_TIMEOUT:?}\n{output}"),
    }
    for page in [
        "01-signin",
        "02-ingest",
        "03-rejections",
        "04-query-sql",
        "07-databases",
        "08-tokens",
        "11-phone-ingest",
        "12-phone-databases",
    ] {
        assert!(
            shots.join(format!("{page}.png")).is_file(),
            "no screenshot of {page}"
        );
    }
}
