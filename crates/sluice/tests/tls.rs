//! `sluice serve --tls-cert --tls-key`: HTTPS with HTTP/2 and HTTP/1.1 by ALPN, checked
//! with curl, the CLI and the official clients against a CA made here; a wrong CA or an
//! expired certificate fails with a clear message; SIGHUP reloads the certificate
//! without dropping the connections already open.

mod common;
mod raw_h2;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::certs::Ca;
use common::{ADMIN, Options, TestServer};

struct TlsServer {
    server: TestServer,
    ca: PathBuf,
    dir: tempfile::TempDir,
    url: String,
}

fn tls_server(expired: bool, extra: &[&str]) -> TlsServer {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = Ca::new("sluice test CA").issue(dir.path(), "server", expired);
    let mut options = Options::default()
        .arg("--tls-cert")
        .arg(cert.to_str().unwrap())
        .arg("--tls-key")
        .arg(key.to_str().unwrap());
    for arg in extra {
        options = options.arg(arg);
    }
    let server = TestServer::start(options);
    let port = server.address.rsplit(':').next().unwrap().to_owned();
    TlsServer {
        server,
        ca,
        dir,
        url: format!("https://localhost:{port}"),
    }
}

fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "60"])
        .args(args)
        .output()
        .expect("curl runs")
}

fn sluice(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .env_clear()
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn curl_speaks_http2_and_http1_over_tls_and_refuses_a_wrong_ca() {
    let tls = tls_server(false, &[]);
    let ca = tls.ca.to_str().unwrap();
    let ping = format!("{}/ping", tls.url);
    let h2 = curl(&[
        "--cacert",
        ca,
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{http_version}",
        &ping,
    ]);
    assert_eq!(
        String::from_utf8_lossy(&h2.stdout),
        "204 2",
        "{}",
        text(&h2)
    );
    let h1 = curl(&[
        "--http1.1",
        "--cacert",
        ca,
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{http_version}",
        &ping,
    ]);
    assert_eq!(
        String::from_utf8_lossy(&h1.stdout),
        "204 1.1",
        "{}",
        text(&h1)
    );
    let write = curl(&[
        "--cacert",
        ca,
        "-w",
        "%{http_code}",
        "-H",
        &format!("Authorization: Token {ADMIN}"),
        "--data-binary",
        "m,host=a v=1 1000000000",
        &format!("{}/api/v3/write_lp?db=t", tls.url),
    ]);
    assert_eq!(
        String::from_utf8_lossy(&write.stdout),
        "204",
        "{}",
        text(&write)
    );
    // Plain HTTP on the TLS port is not served.
    let plain = curl(&[&format!("http://{}/ping", tls.server.address)]);
    assert!(!plain.status.success(), "{}", text(&plain));

    let other = Ca::new("another CA")
        .issue(tls.dir.path(), "other", false)
        .0;
    let wrong = curl(&["--cacert", other.to_str().unwrap(), &ping]);
    assert_eq!(wrong.status.code(), Some(60), "{}", text(&wrong));
}

#[test]
fn the_cli_queries_and_manages_tokens_over_tls() {
    let tls = tls_server(false, &[]);
    let ca = tls.ca.to_str().unwrap();
    let write = curl(&[
        "--cacert",
        ca,
        "-H",
        &format!("Authorization: Token {ADMIN}"),
        "--data-binary",
        "m,host=a v=42 1000000000",
        &format!("{}/api/v3/write_lp?db=t", tls.url),
    ]);
    assert!(write.status.success(), "{}", text(&write));
    let query = sluice(&[
        "query",
        "--host",
        &tls.url,
        "--tls-ca",
        ca,
        "--token",
        ADMIN,
        "--db",
        "t",
        "--format",
        "csv",
        "SELECT v FROM m",
    ]);
    assert!(query.status.success(), "{}", text(&query));
    assert!(
        String::from_utf8_lossy(&query.stdout).contains("42"),
        "{}",
        text(&query)
    );
    let list = sluice(&[
        "token", "list", "--host", &tls.url, "--tls-ca", ca, "--token", ADMIN,
    ]);
    assert!(list.status.success(), "{}", text(&list));

    // Without the CA the system roots do not trust the test CA: a clear error.
    let untrusted = sluice(&["token", "list", "--host", &tls.url, "--token", ADMIN]);
    assert!(!untrusted.status.success());
    let stderr = String::from_utf8_lossy(&untrusted.stderr);
    assert!(stderr.contains("--tls-ca"), "{}", text(&untrusted));

    // --tls-no-verify works, loudly.
    let unchecked = sluice(&[
        "token",
        "list",
        "--host",
        &tls.url,
        "--tls-no-verify",
        "--token",
        ADMIN,
    ]);
    assert!(unchecked.status.success(), "{}", text(&unchecked));
    assert!(
        String::from_utf8_lossy(&unchecked.stderr).contains("WARNING"),
        "{}",
        text(&unchecked)
    );
}

#[test]
fn sluice_write_sends_over_tls() {
    let tls = tls_server(false, &[]);
    let ca = tls.ca.to_str().unwrap();
    let lines = tls.dir.path().join("in.lp");
    std::fs::write(&lines, "m,host=a v=1 1000000000\nm,host=b v=2 1000000000\n").unwrap();
    let write = |extra: &[&str]| {
        let mut args = vec![
            "write",
            "--host",
            &tls.url,
            "--token",
            ADMIN,
            "--db",
            "w",
            "--max-retries",
            "0",
        ];
        args.extend_from_slice(extra);
        args.push(lines.to_str().unwrap());
        sluice(&args)
    };
    let sent = write(&["--tls-ca", ca]);
    assert!(sent.status.success(), "{}", text(&sent));
    let count = curl(&[
        "--cacert",
        ca,
        "-H",
        &format!("Authorization: Token {ADMIN}"),
        &format!("{}/query?db=w&q=SELECT+count(v)+FROM+m", tls.url),
    ]);
    assert!(
        String::from_utf8_lossy(&count.stdout).contains(",2]"),
        "{}",
        text(&count)
    );

    // The system roots do not trust the test CA: nothing is sent, and the error says why.
    let untrusted = write(&[]);
    assert!(!untrusted.status.success());
    assert!(
        String::from_utf8_lossy(&untrusted.stdout).contains("pass its CA with --tls-ca"),
        "{}",
        text(&untrusted)
    );
    let missing = write(&["--tls-ca", "/nonexistent/ca.pem"]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr)
            .contains("--tls-ca: cannot read /nonexistent/ca.pem"),
        "{}",
        text(&missing)
    );
    let unchecked = write(&["--tls-no-verify"]);
    assert!(unchecked.status.success(), "{}", text(&unchecked));
    assert!(
        String::from_utf8_lossy(&unchecked.stderr).contains("WARNING"),
        "{}",
        text(&unchecked)
    );
}

#[test]
fn an_expired_certificate_fails_with_a_clear_message() {
    let tls = tls_server(true, &[]);
    let ca = tls.ca.to_str().unwrap();
    let output = sluice(&[
        "token", "list", "--host", &tls.url, "--tls-ca", ca, "--token", ADMIN,
    ]);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("expired"),
        "{}",
        text(&output)
    );
    let curl = curl(&["--cacert", ca, &format!("{}/ping", tls.url)]);
    assert_eq!(curl.status.code(), Some(60), "{}", text(&curl));
}

#[test]
fn sighup_reloads_the_certificate() {
    let tls = tls_server(false, &[]);
    reload_with_a_new_ca(&tls);
    let old = curl(&[
        "--cacert",
        tls.ca.to_str().unwrap(),
        &format!("{}/ping", tls.url),
    ]);
    assert_eq!(old.status.code(), Some(60), "{}", text(&old));
}

/// Replaces the server's certificate and key with ones from a new CA, sends SIGHUP and
/// waits until a new connection is served the new certificate; returns the new CA file.
fn reload_with_a_new_ca(tls: &TlsServer) -> PathBuf {
    let ping = format!("{}/ping", tls.url);
    let (ca2, cert2, key2) = Ca::new("second CA").issue(tls.dir.path(), "second", false);
    std::fs::copy(&cert2, tls.dir.path().join("server-cert.pem")).unwrap();
    std::fs::copy(&key2, tls.dir.path().join("server-key.pem")).unwrap();
    let status = Command::new("kill")
        .args(["-HUP", &tls.server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let output = curl(&["--cacert", ca2.to_str().unwrap(), "-o", "/dev/null", &ping]);
        if output.status.success() {
            return ca2;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the new certificate was not served: {}",
            text(&output)
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn sighup_keeps_open_keep_alive_and_http2_connections_serving() {
    let tls = tls_server(false, &[]);
    let ca = tls.ca.to_str().unwrap();
    let ping = b"GET /ping HTTP/1.1\r\nHost: localhost\r\n\r\n";
    // One HTTP/1.1 keep-alive connection and one HTTP/2 connection, each verified
    // against the first CA and each serving a request.
    let mut http1 = raw_h2::Pipe::tls(&tls.server.address, ca, "http/1.1");
    http1.send(ping);
    let head = http1.http1_head();
    assert!(head.starts_with("HTTP/1.1 204"), "{head}");
    let mut http2 = raw_h2::Pipe::tls(&tls.server.address, ca, "h2");
    http2.h2_handshake();
    assert_eq!(http2.h2_get(1, "/ping"), Some(204));

    let ca2 = reload_with_a_new_ca(&tls);

    // The same connections still serve requests (a new connection trusting only the
    // first CA would fail its handshake now).
    http1.send(ping);
    let head = http1.http1_head();
    assert!(head.starts_with("HTTP/1.1 204"), "{head}");
    assert_eq!(http2.h2_get(3, "/ping"), Some(204));
    // New connections get the new certificate, over HTTP/2 too.
    let mut fresh = raw_h2::Pipe::tls(&tls.server.address, ca2.to_str().unwrap(), "h2");
    fresh.h2_handshake();
    assert_eq!(fresh.h2_get(1, "/ping"), Some(204));
    let old = curl(&["--cacert", ca, &format!("{}/ping", tls.url)]);
    assert_eq!(old.status.code(), Some(60), "{}", text(&old));
}

#[test]
fn tls_minimum_version_13_refuses_tls_12() {
    let tls = tls_server(false, &["--tls-minimum-version", "1.3"]);
    let ca = tls.ca.to_str().unwrap();
    let ping = format!("{}/ping", tls.url);
    let tls12 = curl(&["--cacert", ca, "--tlsv1.2", "--tls-max", "1.2", &ping]);
    assert!(!tls12.status.success(), "{}", text(&tls12));
    let tls13 = curl(&["--cacert", ca, "--tlsv1.3", "-o", "/dev/null", &ping]);
    assert!(tls13.status.success(), "{}", text(&tls13));
}

#[test]
fn a_missing_or_mismatched_key_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (_, cert, _) = Ca::new("a").issue(dir.path(), "a", false);
    let (_, _, other_key) = Ca::new("b").issue(dir.path(), "b", false);
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "serve",
            "--without-auth",
            "--bind",
            "127.0.0.1:0",
            "--tls-cert",
        ])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&other_key)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env_clear()
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("cannot be used with the certificate"),
        "{}",
        text(&output)
    );
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["serve", "--without-auth", "--tls-cert"])
        .arg(&cert)
        .env_clear()
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--tls-key"),
        "{}",
        text(&output)
    );
}

/// The official Python (v2 and v3, whose queries go through Arrow Flight over TLS) and
/// JavaScript clients, trusting the test CA.
#[test]
fn the_official_clients_work_over_tls() {
    // Where compat/setup.sh installs the clients (as crates/sluice/tests/compat.rs finds them).
    let env = std::env::var_os("SLUICE_COMPAT_ENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/var/tmp/sluice-target"))
                .join("compat-env")
        });
    if !env.join("venv/bin/python").exists() {
        assert!(
            std::env::var("SLUICE_COMPAT_REQUIRED").as_deref() != Ok("1"),
            "SLUICE_COMPAT_REQUIRED=1 but the official clients are not installed in {} \
             (run bash compat/setup.sh)",
            env.display()
        );
        eprintln!("the official clients are not installed: skipping them over TLS");
        return;
    }
    let python = env.join("venv/bin/python");
    let tls = tls_server(false, &[]);
    let ca = tls.ca.to_str().unwrap();
    let script = r#"
import sys
from influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client_3 import InfluxDBClient3, flight_client_options
url, token, ca = sys.argv[1], sys.argv[2], sys.argv[3]
with InfluxDBClient(url=url, token=token, org="sluice", ssl_ca_cert=ca) as client:
    assert client.ping()
    client.write_api(write_options=SYNCHRONOUS).write("py", record="m,src=v2 v=1 1000000000")
pem = open(ca, "rb").read()
client = InfluxDBClient3(host=url, token=token, database="py", ssl_ca_cert=ca,
                         flight_client_options=flight_client_options(tls_root_certs=pem))
client.write(record="m,src=v3 v=2 2000000000")
table = client.query("SELECT src, v FROM m ORDER BY time")
print(sorted(table.column("src").to_pylist()))
"#;
    let output = Command::new(&python)
        .args(["-c", script, &tls.url, ADMIN, ca])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "['v2', 'v3']",
        "{}",
        text(&output)
    );

    let script = r#"
const {InfluxDB} = require('@influxdata/influxdb-client');
const [url, token] = process.argv.slice(-2);
const api = new InfluxDB({url, token}).getWriteApi('sluice', 'js', 'ns');
api.writeRecord('m,src=js v=3 3000000000');
api.close().then(() => console.log('ok'), (e) => { console.error(String(e)); process.exit(1); });
"#;
    let output = Command::new("node")
        .args(["-e", script, &tls.url, ADMIN])
        .env("NODE_PATH", env.join("js/node_modules"))
        .env("NODE_EXTRA_CA_CERTS", ca)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let count = curl(&[
        "--cacert",
        ca,
        "-G",
        "-H",
        &format!("Authorization: Token {ADMIN}"),
        "--data-urlencode",
        "db=js",
        "--data-urlencode",
        "q=SELECT count(v) FROM m",
        &format!("{}/query", tls.url),
    ]);
    assert!(
        String::from_utf8_lossy(&count.stdout).contains("[[0,1]]")
            || String::from_utf8_lossy(&count.stdout).contains(",1]]"),
        "{}",
        text(&count)
    );
}
