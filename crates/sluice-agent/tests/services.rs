//! The service inputs (`nginx`, `postgresql`, `redis`) and `internal` memstats against
//! real servers started here: the real agent binary runs `--once` into a real
//! `sluice serve`, and the stored measurement names, tag keys, field names and field
//! types are compared with fixtures taken from Telegraf's documentation
//! (tests/fixtures/telegraf/). Also: TLS with `tls_ca` for an input and an output, and
//! an input whose server is down failing alone until the server comes back.

mod common;
mod servers;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::{Server, run_agent};
use servers::{Fixture, Nginx, Postgres, Redis};
use sluice_agent::plugins::inputs::redis::resp::{Address, Connection, Reply};

/// Tag keys and field types of `db.table` as stored (without the agent's `host` tag).
fn schema(server: &Server, db: &str, table: &str) -> (BTreeSet<String>, BTreeMap<String, String>) {
    let tables = server.tables(db);
    assert!(
        tables.iter().any(|t| t == table),
        "no table {table} in {db}: {tables:?}"
    );
    let mut tags = BTreeSet::new();
    let mut fields = BTreeMap::new();
    for (column, kind) in server.column_kinds(db, table) {
        match kind.as_str() {
            "tag" if column != "host" => {
                tags.insert(column);
            }
            "tag" => {}
            _ => {
                fields.insert(column, kind);
            }
        }
    }
    (tags, fields)
}

/// Checks the stored tables against the fixture: the same tag keys; every documented
/// field present with its documented type, except those marked absent, which must be
/// missing; with `exact`, no field beyond the documented ones.
fn check(server: &Server, db: &str, fixture: &Fixture, exact: bool) {
    for (measurement, expected_fields) in &fixture.fields {
        let (tags, fields) = schema(server, db, measurement);
        let expected_tags = fixture.tags.get(measurement).cloned().unwrap_or_default();
        assert_eq!(tags, expected_tags, "tag keys of {measurement}");
        for (field, (ty, absent)) in expected_fields {
            match (fields.get(field), absent) {
                (Some(stored), false) => {
                    assert_eq!(stored, ty, "type of {measurement}.{field}");
                }
                (None, false) => panic!("{measurement}.{field} is missing; stored: {fields:?}"),
                (Some(_), true) => panic!("{measurement}.{field} is marked absent but present"),
                (None, true) => {}
            }
        }
        if exact {
            let extra: Vec<&String> = fields
                .keys()
                .filter(|f| !expected_fields.contains_key(*f))
                .collect();
            assert!(
                extra.is_empty(),
                "{measurement}: undocumented fields {extra:?}"
            );
        }
    }
}

/// Runs the agent `--once` with `config` on a blocking thread; asserts it succeeded.
async fn once(dir: &std::path::Path, config: String) -> String {
    let dir = dir.to_owned();
    let out = tokio::task::spawn_blocking(move || run_agent(&dir, &config, &["--once"]))
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "agent failed:\n{stderr}");
    stderr
}

#[tokio::test(flavor = "multi_thread")]
async fn nginx_over_http_and_https_matches_telegraf_and_the_output_speaks_tls() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), 0, true).await;
    let upstream = server.url.trim_start_matches("http://").to_owned();
    let nginx_dir = dir.path().join("nginx");
    std::fs::create_dir_all(&nginx_dir).unwrap();
    let Some(nginx) = Nginx::start(&nginx_dir, &upstream) else {
        return;
    };
    let ca = nginx_dir.join("ca.pem");
    // The output reaches sluice through nginx's TLS proxy, trusting only the test CA.
    let config = format!(
        r#"
[[inputs.nginx]]
  urls = ["http://127.0.0.1:{http}/nginx_status", "https://localhost:{https}/nginx_status"]
  response_timeout = "5s"
  tls_ca = "{ca}"
[[outputs.influxdb_v2]]
  urls = ["https://127.0.0.1:{https}"]
  token = "unused"
  organization = "org"
  bucket = "web"
  tls_ca = "{ca}"
"#,
        http = nginx.http_port,
        https = nginx.https_port,
        ca = ca.display()
    );
    once(dir.path(), config).await;
    check(&server, "web", &Fixture::load("nginx"), true);
    let rows = server.rows("web", "nginx").await;
    let mut servers: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r["server"].clone(), r["port"].clone()))
        .collect();
    servers.sort();
    let mut expected = vec![
        ("127.0.0.1".to_owned(), nginx.http_port.to_string()),
        ("localhost".to_owned(), nginx.https_port.to_string()),
    ];
    expected.sort();
    assert_eq!(servers, expected);
    for row in &rows {
        let accepts: i64 = row["accepts"].parse().unwrap();
        assert!(accepts >= 1, "{row:?}");
        assert!(row["active"].parse::<i64>().unwrap() >= 1, "{row:?}");
    }

    // Without the CA, the system roots do not trust the test certificate.
    let config = format!(
        r#"
[[inputs.nginx]]
  urls = ["https://localhost:{https}/nginx_status"]
[[outputs.file]]
  files = ["stdout"]
"#,
        https = nginx.https_port
    );
    let dir2 = dir.path().join("untrusted");
    std::fs::create_dir_all(&dir2).unwrap();
    let out = tokio::task::spawn_blocking(move || run_agent(&dir2, &config, &["--test"]))
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("certificate"), "{stderr}");

    // insecure_skip_verify accepts it.
    let config = format!(
        r#"
[[inputs.nginx]]
  urls = ["https://localhost:{https}/nginx_status"]
  insecure_skip_verify = true
[[outputs.file]]
  files = ["stdout"]
"#,
        https = nginx.https_port
    );
    let dir3 = dir.path().join("insecure");
    std::fs::create_dir_all(&dir3).unwrap();
    let out = tokio::task::spawn_blocking(move || run_agent(&dir3, &config, &["--test"]))
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("> nginx,"));

    // tls_server_name: the certificate (for 127.0.0.1 and localhost) is checked for that
    // name instead of the URL's host. tls_min_version = "TLS13" refuses this nginx, which
    // speaks TLS 1.2 only.
    let cases = [
        ("localhost", "TLS12", None),
        ("elsewhere.test", "TLS12", Some("certificate")),
        ("localhost", "TLS13", Some("ProtocolVersion")),
    ];
    for (i, (name, min_version, refused)) in cases.into_iter().enumerate() {
        let config = format!(
            r#"
[[inputs.nginx]]
  urls = ["https://127.0.0.1:{https}/nginx_status"]
  tls_ca = "{ca}"
  tls_server_name = "{name}"
  tls_min_version = "{min_version}"
[[outputs.file]]
  files = ["stdout"]
"#,
            https = nginx.https_port,
            ca = ca.display()
        );
        let dir = dir.path().join(format!("server-name-{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let out = tokio::task::spawn_blocking(move || run_agent(&dir, &config, &["--test"]))
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.success(),
            refused.is_none(),
            "{name} {min_version}: {stderr}"
        );
        if let Some(why) = refused {
            assert!(stderr.contains(why), "{stderr}");
        }
    }
    drop(nginx);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgresql_over_tls_verifies_the_server_with_sslrootcert() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), 0, true).await;
    let pg_dir = dir.path().join("postgres");
    let Some(pg) = tokio::task::spawn_blocking({
        let pg_dir = pg_dir.clone();
        move || Postgres::start_tls(&pg_dir)
    })
    .await
    .unwrap() else {
        return;
    };
    let config = |root: &std::path::Path| {
        format!(
            r#"
[[inputs.postgresql]]
  address = "host=localhost port={port} user=postgres password=password sslmode=verify-full sslrootcert={root}"
  databases = ["postgres"]
[[outputs.influxdb_v2]]
  urls = ["{url}"]
  token = "unused"
  bucket = "pgtls"
"#,
            port = pg.port,
            root = root.display(),
            url = server.url
        )
    };
    once(dir.path(), config(&pg_dir.join("pg").join("ca.pem"))).await;
    let rows = server.rows("pgtls", "postgresql").await;
    assert!(rows.iter().any(|r| r["db"] == "postgres"), "{rows:?}");
    // The TLS keys are secrets of the address: not in the server tag.
    assert_eq!(
        rows[0]["server"],
        format!("host=localhost port={} user=postgres", pg.port)
    );
    pg.psql("SELECT 1");

    // Another CA does not vouch for the server: the connection fails, and says why.
    let other_ca = dir.path().join("other-ca");
    std::fs::create_dir_all(&other_ca).unwrap();
    servers::make_certificates(&other_ca).unwrap();
    let config = config(&other_ca.join("ca.pem"));
    let agent_dir = dir.path().to_owned();
    let out = tokio::task::spawn_blocking(move || run_agent(&agent_dir, &config, &["--once"]))
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid peer certificate"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn postgresql_rows_match_telegraf() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), 0, true).await;
    let Some(pg) = tokio::task::spawn_blocking({
        let dir = dir.path().join("postgres");
        move || Postgres::start(&dir)
    })
    .await
    .unwrap() else {
        return;
    };
    pg.psql("CREATE DATABASE app");
    pg.psql("CREATE TABLE t(x int); INSERT INTO t VALUES (1), (2)");
    let config = format!(
        r#"
[[inputs.postgresql]]
  address = "host=127.0.0.1 port={port} user=postgres password=password sslmode=disable"
[[outputs.influxdb_v2]]
  urls = ["{url}"]
  token = "unused"
  bucket = "pg"
"#,
        port = pg.port,
        url = server.url
    );
    once(dir.path(), config).await;
    check(&server, "pg", &Fixture::load("postgresql"), true);
    let rows = server.rows("pg", "postgresql").await;
    let dbs: BTreeSet<&str> = rows.iter().map(|r| r["db"].as_str()).collect();
    let expected: BTreeSet<&str> = [
        "app",
        "postgres",
        "postgres_global",
        "template0",
        "template1",
    ]
    .into();
    assert_eq!(dbs, expected);
    for row in &rows {
        assert_eq!(
            row["server"],
            format!("host=127.0.0.1 port={} user=postgres", pg.port)
        );
    }
    let postgres = rows.iter().find(|r| r["db"] == "postgres").unwrap();
    assert_eq!(postgres["datname"], "postgres");
    assert!(
        postgres.contains_key("buffers_alloc"),
        "bgwriter figures on db=postgres"
    );
    let global = rows.iter().find(|r| r["db"] == "postgres_global").unwrap();
    assert_eq!(global["datid"], "0");
    assert!(!global.contains_key("datname"));

    // The course's form: a URL address and `databases`; `--test` prints only those.
    let config = format!(
        r#"
[[inputs.postgresql]]
  address = "postgres://postgres:password@127.0.0.1:{port}/app?sslmode=disable"
  databases = ["postgres"]
  outputaddress = "db01"
[[outputs.file]]
"#,
        port = pg.port
    );
    let test_dir = dir.path().join("test");
    std::fs::create_dir_all(&test_dir).unwrap();
    let out = tokio::task::spawn_blocking(move || run_agent(&test_dir, &config, &["--test"]))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("> postgresql,db=postgres,")
                && l.contains("datname=\"postgres\"")),
        "{stdout}"
    );
    // The bgwriter metric is tagged with the database connected to.
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("> postgresql,db=app,") && l.contains("buffers_alloc=")),
        "{stdout}"
    );
    assert!(lines.iter().all(|l| l.contains("server=db01")), "{stdout}");
    drop(pg);
    server.stop().await;
}

/// Sends commands to redis, so that INFO has command, error and keyspace statistics.
fn exercise_redis(port: u16, password: &str) {
    let mut c = Connection::connect(
        &Address::Tcp(format!("127.0.0.1:{port}")),
        Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(
        c.command(&[b"AUTH", password.as_bytes()]).unwrap(),
        Reply::Status("OK".into())
    );
    c.command(&[b"SET", b"k1", b"v"]).unwrap();
    c.command(&[b"SET", b"k2", b"v", b"EX", b"1000"]).unwrap();
    c.command(&[b"GET", b"k1"]).unwrap();
    c.command(&[b"GET", b"missing"]).unwrap();
    assert!(matches!(
        c.command(&[b"NOSUCHCOMMAND"]).unwrap(),
        Reply::Error(_)
    ));
}

/// Waits until the master reports an attached, online replica.
fn wait_for_replica(port: u16, password: &str) {
    let mut c = Connection::connect(
        &Address::Tcp(format!("127.0.0.1:{port}")),
        Duration::from_secs(10),
    )
    .unwrap();
    c.command(&[b"AUTH", password.as_bytes()]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let info = c
            .command(&[b"INFO", b"replication"])
            .unwrap()
            .into_text()
            .unwrap();
        if info.contains("state=online") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "replica never came online:\n{info}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_over_tls_is_read_with_its_ca_and_refused_with_another() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), 0, true).await;
    let redis_dir = dir.path().join("redis");
    let Some(redis) = Redis::start_tls(&redis_dir, "s3cret") else {
        return;
    };
    let config = |tls_keys: &str| {
        format!(
            r#"
[[inputs.redis]]
  servers = ["tcp://:s3cret@localhost:{port}"]
  {tls_keys}
[[outputs.influxdb_v2]]
  urls = ["{url}"]
  token = "unused"
  bucket = "secure"
"#,
            port = redis.port,
            url = server.url
        )
    };
    once(
        dir.path(),
        config(&format!("tls_ca = {:?}", redis_dir.join("ca.pem"))),
    )
    .await;
    let rows = server.rows("secure", "redis").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["server"], "localhost");
    assert_eq!(rows[0]["replication_role"], "master");

    // Another CA does not vouch for the server: the handshake fails, and says so.
    let other_ca = dir.path().join("other-ca");
    std::fs::create_dir_all(&other_ca).unwrap();
    servers::make_certificates(&other_ca).unwrap();
    let config = config(&format!("tls_ca = {:?}", other_ca.join("ca.pem")));
    let agent_dir = dir.path().to_owned();
    let out = tokio::task::spawn_blocking(move || run_agent(&agent_dir, &config, &["--once"]))
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("TLS handshake failed: invalid peer certificate"),
        "{stderr}"
    );
    assert_eq!(server.rows("secure", "redis").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_info_matches_telegraf() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), 0, true).await;
    let Some(master) = Redis::start(&dir.path().join("master"), "s3cret", None) else {
        return;
    };
    let Some(_replica) = Redis::start(&dir.path().join("replica"), "s3cret", Some(master.port))
    else {
        return;
    };
    let port = master.port;
    tokio::task::spawn_blocking(move || {
        exercise_redis(port, "s3cret");
        wait_for_replica(port, "s3cret");
    })
    .await
    .unwrap();
    let config = format!(
        r#"
[[inputs.redis]]
  servers = ["tcp://:s3cret@127.0.0.1:{port}"]
  [[inputs.redis.commands]]
    command = ["get", "k1"]
    field = "k1_value"
    type = "string"
[[outputs.influxdb_v2]]
  urls = ["{url}"]
  token = "unused"
  bucket = "cache"
"#,
        url = server.url
    );
    once(dir.path(), config).await;
    check(&server, "cache", &Fixture::load("redis"), false);
    let redis = server.rows("cache", "redis").await;
    assert_eq!(redis[0]["replication_role"], "master");
    assert_eq!(redis[0]["port"], port.to_string());
    assert_eq!(redis[0]["server"], "127.0.0.1");
    let keyspace = server.rows("cache", "redis_keyspace").await;
    assert_eq!(keyspace[0]["database"], "db0");
    assert_eq!(keyspace[0]["keys"], "2");
    assert_eq!(keyspace[0]["expires"], "1");
    let commands: BTreeSet<String> = server
        .rows("cache", "redis_cmdstat")
        .await
        .iter()
        .map(|r| r["command"].clone())
        .collect();
    assert!(
        commands.contains("get") && commands.contains("set"),
        "{commands:?}"
    );
    let errors = server.rows("cache", "redis_errorstat").await;
    assert!(errors.iter().any(|r| r["err"] == "ERR"), "{errors:?}");
    let values = server.rows("cache", "redis_commands").await;
    assert_eq!(values[0]["k1_value"], "v");

    // The password option instead of the URL's, and a wrong one failing alone.
    let config = format!(
        r#"
[[inputs.redis]]
  servers = ["tcp://127.0.0.1:{port}"]
  password = "wrong"
[[inputs.internal]]
[[outputs.file]]
"#
    );
    let bad_dir = dir.path().join("bad");
    std::fs::create_dir_all(&bad_dir).unwrap();
    let out = tokio::task::spawn_blocking(move || run_agent(&bad_dir, &config, &["--test"]))
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("AUTH failed"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("> internal_agent"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn internal_memstats_match_telegraf() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), 0, true).await;
    let config = format!(
        r#"
[[inputs.internal]]
  collect_memstats = true
[[outputs.influxdb_v2]]
  urls = ["{url}"]
  token = "unused"
  bucket = "self"
"#,
        url = server.url
    );
    once(dir.path(), config).await;
    check(&server, "self", &Fixture::load("internal"), true);
    let row = &server.rows("self", "internal_memstats").await[0];
    let int = |k: &str| row[k].parse::<i64>().unwrap();
    assert!(int("mallocs") >= int("frees"));
    assert!(int("total_alloc_bytes") >= int("alloc_bytes"));
    assert!(int("sys_bytes") > 0 && int("heap_sys_bytes") > 0);
    server.stop().await;
}

/// Reads the agent's stderr on a thread, keeping it for the assertion messages.
fn collect_stderr(child: &mut std::process::Child) -> std::sync::Arc<std::sync::Mutex<String>> {
    use std::io::BufRead as _;
    let text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let stderr = child.stderr.take().unwrap();
    let sink = text.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let mut t = sink.lock().unwrap();
            t.push_str(&line);
            t.push('\n');
        }
    });
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn an_input_whose_server_is_down_fails_alone_and_recovers_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), 0, true).await;
    if servers::program("redis-server").is_none() {
        servers::unavailable("redis-server is not installed");
        return;
    }
    let port = servers::free_port();
    let config = format!(
        r#"
[agent]
  interval = "1s"
  flush_interval = "1s"
  round_interval = false
[[inputs.redis]]
  servers = ["tcp://127.0.0.1:{port}"]
[[inputs.mem]]
[[outputs.influxdb_v2]]
  urls = ["{url}"]
  token = "unused"
  bucket = "live"
"#,
        url = server.url
    );
    let path = dir.path().join("agent.conf");
    std::fs::write(&path, config).unwrap();
    let mut agent = servers::Process {
        child: std::process::Command::new(env!("CARGO_BIN_EXE_sluice-agent"))
            .arg("--config")
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    };
    let stderr = collect_stderr(&mut agent.child);
    let wait_until = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(90);
        while !done() {
            assert!(
                Instant::now() < deadline,
                "{what}; agent log:\n{}",
                stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let srv = &server;
    tokio::task::block_in_place(|| {
        wait_until("mem was never written while redis was down", &|| {
            srv.tables("live").contains(&"mem".to_owned())
        });
        wait_until("the redis error was never logged", &|| {
            stderr
                .lock()
                .unwrap()
                .contains(&format!("tcp://127.0.0.1:{port}"))
        });
    });
    assert!(!server.tables("live").contains(&"redis".to_owned()));
    assert!(
        agent.child.try_wait().unwrap().is_none(),
        "the agent keeps running"
    );
    let Some(_redis) = Redis::start_on(&dir.path().join("redis"), port, "", None) else {
        return;
    };
    tokio::task::block_in_place(|| {
        wait_until(
            "redis metrics never arrived after the server came back",
            &|| srv.tables("live").contains(&"redis".to_owned()),
        );
    });
    assert!(agent.child.try_wait().unwrap().is_none());
    drop(agent);
    server.stop().await;
}
