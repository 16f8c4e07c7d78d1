//! Authentication of `sluice serve`: every credential form against valid, invalid, missing
//! and insufficient tokens, the admin token bootstrap, and `sluice token`.

mod common;

use std::process::Command;

use base64_free::basic;
use common::{ADMIN, Options, TestServer, token};

/// Tiny Basic-auth encoder so the tests need no base64 crate.
mod base64_free {
    pub(super) fn basic(user: &str, password: &str) -> String {
        const TABLE: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
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
                    out.push(TABLE[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        format!("Basic {out}")
    }
}

/// Runs `sluice token …` against `server` with `admin` as the token; returns stdout.
fn token_cli(server: &TestServer, admin: &str, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("token")
        .args(args)
        .env_clear()
        .env("SLUICE_HOST", server.url(""))
        .env("SLUICE_TOKEN", admin)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

fn create_token(server: &TestServer, db: &str, permission: &str) -> String {
    let (ok, stdout, stderr) = token_cli(
        server,
        ADMIN,
        &[
            "create",
            "--db",
            db,
            "--permission",
            permission,
            "--name",
            "t",
        ],
    );
    assert!(ok, "{stderr}");
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("token: "))
        .expect("the token is printed")
        .to_owned()
}

/// Sends a v1 write to `db` with `secret` in the given credential form.
fn write_with(server: &TestServer, form: &str, db: &str, secret: Option<&str>) -> u16 {
    let body = b"m v=1";
    match (form, secret) {
        (_, None) => server.post(&format!("/write?db={db}"), &[], body).status,
        ("token", Some(s)) => {
            let header = token(s);
            server
                .post(
                    &format!("/write?db={db}"),
                    &[("Authorization", &header)],
                    body,
                )
                .status
        }
        ("bearer", Some(s)) => {
            let header = format!("Bearer {s}");
            server
                .post(
                    &format!("/api/v2/write?bucket={db}"),
                    &[("Authorization", &header)],
                    body,
                )
                .status
        }
        ("basic", Some(s)) => {
            let header = basic("telegraf", s);
            server
                .post(
                    &format!("/write?db={db}"),
                    &[("Authorization", &header)],
                    body,
                )
                .status
        }
        ("query", Some(s)) => {
            server
                .post(&format!("/write?db={db}&u=me&p={s}"), &[], body)
                .status
        }
        _ => unreachable!(),
    }
}

#[test]
fn every_credential_form_is_checked_for_valid_invalid_missing_and_insufficient_tokens() {
    let server = TestServer::spawn();
    let writer = create_token(&server, "db1", "write");
    let reader = create_token(&server, "db1", "read");
    for form in ["token", "bearer", "basic", "query"] {
        assert_eq!(
            write_with(&server, form, "db1", Some(ADMIN)),
            204,
            "{form} admin"
        );
        assert_eq!(
            write_with(&server, form, "db1", Some(&writer)),
            204,
            "{form} writer"
        );
        assert_eq!(
            write_with(&server, form, "db1", Some("wrong")),
            401,
            "{form} invalid"
        );
        assert_eq!(
            write_with(&server, form, "db1", None),
            401,
            "{form} missing"
        );
        assert_eq!(
            write_with(&server, form, "db1", Some(&reader)),
            403,
            "{form} read-only"
        );
        assert_eq!(
            write_with(&server, form, "db2", Some(&writer)),
            403,
            "{form} other db"
        );
    }
    let denied = server.post(
        "/write?db=db1",
        &[("Authorization", "Token wrong")],
        b"m v=1",
    );
    assert!(denied.json()["error"].is_string());
    let forbidden = server.post(
        "/api/v3/write_lp?db=db2",
        &[("Authorization", &token(&writer))],
        b"m v=1",
    );
    assert_eq!(forbidden.status, 403);
    assert!(
        forbidden.json()["error"]
            .as_str()
            .unwrap()
            .contains("write permission")
    );
    // Database management needs the admin token.
    let create = server.post(
        "/query?q=CREATE+DATABASE+x",
        &[("Authorization", &token(&writer))],
        b"",
    );
    assert_eq!(create.status, 403);
    let query = server.get("/query?q=SHOW+DATABASES", &[]);
    assert_eq!(query.status, 401);
    // Status endpoints stay open.
    assert_eq!(server.get("/ping", &[]).status, 204);
    assert_eq!(server.get("/health", &[]).status, 200);
}

#[test]
fn tokens_are_created_listed_and_deleted_with_the_cli() {
    let server = TestServer::spawn();
    let secret = create_token(&server, "metrics", "read,write");
    assert_eq!(write_with(&server, "token", "metrics", Some(&secret)), 204);
    let (ok, listing, _) = token_cli(&server, ADMIN, &["list"]);
    assert!(ok);
    assert!(listing.contains("admin"), "{listing}");
    let line = listing
        .lines()
        .find(|l| l.contains("metrics:read,write"))
        .unwrap_or_else(|| panic!("{listing}"));
    assert!(!listing.contains(&secret), "secrets are never listed");
    let id = line.split_whitespace().next().unwrap();
    let (ok, _, stderr) = token_cli(&server, ADMIN, &["delete", id]);
    assert!(ok, "{stderr}");
    assert_eq!(write_with(&server, "token", "metrics", Some(&secret)), 401);
    let (ok, _, stderr) = token_cli(&server, &secret, &["list"]);
    assert!(!ok);
    assert!(stderr.contains("401"), "{stderr}");
    let (ok, _, stderr) = token_cli(&server, ADMIN, &["delete", "no-such-id"]);
    assert!(!ok && stderr.contains("404"), "{stderr}");
}

/// A server on `data` started without an admin token given (it makes one).
fn without_admin_token(data: &std::path::Path) -> Options {
    Options {
        no_admin_token: true,
        ..Options::default()
    }
    .data_dir(data)
}

#[test]
fn first_start_prints_an_admin_token_once_and_stores_only_its_hash() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let options = without_admin_token(&data);
    let mut first = TestServer::start(options.clone());
    let admin = first
        .printed_admin_token
        .clone()
        .expect("printed at first start");
    assert!(admin.len() >= 40);
    assert_eq!(write_with(&first, "token", "d", Some(&admin)), 204);
    assert!(first.terminate().success());
    let stored = std::fs::read_to_string(data.join("tokens.json")).unwrap();
    assert!(!stored.contains(&admin));
    let second = TestServer::start(options);
    assert_eq!(second.printed_admin_token, None, "printed only once");
    assert_eq!(write_with(&second, "token", "d", Some(&admin)), 204);
}

#[test]
fn a_first_start_that_cannot_listen_keeps_the_admin_token_for_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let options = without_admin_token(&data);
    // The port is taken (say, by an InfluxDB on 8086).
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let stderr = common::refused_start(
        options.clone().args(&["--bind", &address]),
        std::time::Duration::from_secs(30),
    );
    assert!(stderr.contains("cannot listen on"), "{stderr}");
    assert!(!data.join("tokens.json").exists(), "no token made");
    let server = TestServer::start(options);
    let admin = server
        .printed_admin_token
        .clone()
        .expect("printed at the first start that serves");
    assert_eq!(write_with(&server, "token", "d", Some(&admin)), 204);
}

#[test]
fn an_admin_token_file_sets_the_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("admin");
    std::fs::write(&file, "from-a-file\n").unwrap();
    let options = Options {
        no_admin_token: true,
        ..Options::default()
    }
    .arg("--admin-token-file")
    .arg(file.to_str().unwrap());
    let server = TestServer::start(options);
    assert_eq!(server.printed_admin_token, None);
    assert_eq!(write_with(&server, "token", "d", Some("from-a-file")), 204);
    assert_eq!(write_with(&server, "token", "d", Some(ADMIN)), 401);
}

#[test]
fn without_auth_any_credentials_are_tolerated() {
    let server = TestServer::without_auth();
    for header in [
        "Token ",
        "Token whatever",
        "Bearer x",
        "Digest nonsense",
        &basic("a", "b"),
    ] {
        let reply = server.post("/write?db=d", &[("Authorization", header)], b"m v=1");
        assert_eq!(reply.status, 204, "{header}");
    }
    assert_eq!(
        server.post("/write?db=d&u=x&p=y", &[], b"m v=1").status,
        204
    );
    let tokens = server.get("/api/v3/configure/token", &[]);
    assert_eq!(tokens.status, 400);
    assert!(tokens.body.contains("auth is disabled"));
}

#[test]
fn metrics_need_a_token_unless_opened_and_count_failed_authentications() {
    let server = TestServer::spawn();
    let refused = server.get("/metrics", &[]);
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert!(refused.body.contains("missing token"), "{}", refused.body);
    assert_eq!(
        server
            .get("/metrics", &[("Authorization", "Token wrong")])
            .status,
        401
    );
    let reader = create_token(&server, "somedb", "read");
    let reply = server.get("/metrics", &[("Authorization", &token(&reader))]);
    assert_eq!(reply.status, 200, "any valid token may read metrics");
    assert!(
        reply
            .body
            .contains("sluice_auth_failures_total{reason=\"missing\"} 1"),
        "{}",
        reply.body
    );
    assert!(
        reply
            .body
            .contains("sluice_auth_failures_total{reason=\"invalid\"} 1"),
        "{}",
        reply.body
    );
    // Status endpoints stay open by default.
    assert_eq!(server.get("/ping", &[]).status, 204);
    assert_eq!(server.get("/ready", &[]).status, 200);

    let open = TestServer::start(Options::default().arg("--disable-authz").arg("metrics"));
    assert_eq!(open.get("/metrics", &[]).status, 200);
    let ping = open.get("/ping", &[]);
    assert_eq!(ping.status, 401, "only what --disable-authz lists is open");
    assert_eq!(
        open.get("/ping", &[("Authorization", &token(ADMIN))])
            .status,
        204
    );
    assert_eq!(open.get("/health", &[]).status, 401);
}

#[test]
fn a_token_with_an_expiry_is_refused_after_it() {
    let server = TestServer::spawn();
    let created = server.post(
        "/api/v3/configure/token",
        &[("Authorization", &token(ADMIN))],
        br#"{"name":"brief","permissions":[{"database":"e","actions":["write"]}],"expiry":"2s"}"#,
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let body = created.json();
    assert!(body["expires_at"].is_string(), "{body}");
    let secret = body["token"].as_str().unwrap().to_owned();
    assert_eq!(write_with(&server, "token", "e", Some(&secret)), 204);
    let (ok, listing, _) = token_cli(&server, ADMIN, &["list"]);
    assert!(ok);
    let line = listing.lines().find(|l| l.contains("brief")).unwrap();
    assert!(!line.contains("never"), "{listing}");

    std::thread::sleep(std::time::Duration::from_millis(2500));
    let refused = server.post(
        "/write?db=e",
        &[("Authorization", &token(&secret))],
        b"m v=1",
    );
    assert_eq!(refused.status, 401);
    assert!(refused.body.contains("token expired"), "{}", refused.body);
    let metrics = server.get("/metrics", &[("Authorization", &token(ADMIN))]);
    assert!(
        metrics
            .body
            .contains("sluice_auth_failures_total{reason=\"expired\"} 1"),
        "{}",
        metrics.body
    );

    let bad = server.post(
        "/api/v3/configure/token",
        &[("Authorization", &token(ADMIN))],
        br#"{"permissions":[{"database":"e","actions":["write"]}],"expiry":"soon"}"#,
    );
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("invalid expiry"), "{}", bad.body);

    let (ok, stdout, stderr) = token_cli(
        &server,
        ADMIN,
        &[
            "create",
            "--db",
            "e",
            "--permission",
            "read",
            "--expiry",
            "30d",
        ],
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("expires: "), "{stdout}");
}
