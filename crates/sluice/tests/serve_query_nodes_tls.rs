//! Query nodes with `https://` ingest peers (`--ingest-peers https://… --ingest-peers-ca
//! FILE`) on a real S3-compatible server (`s3s-fs`, see `common/s3.rs`): an ingest node
//! serving Flight over TLS with a certificate of a CA made here gives its rows in memory
//! to a query node that trusts the CA, each once; one whose certificate another CA signed
//! is a peer failure (the query answers from the files, /health says degraded and that
//! the certificate is not trusted); a bad `--ingest-peers-ca` stops the start naming the
//! flag.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::certs::Ca;
use common::nodes::{
    assert_ready_for_queries, buffering_node, cpu, host_summary, ingest_peers_degraded, node,
    published, query_node, refused, refused_with_env, visible_rows,
};
use common::s3::{S3Server, UNREACHED_QUERY_NODE};
use common::{TestServer, wait_until, write_db};

/// An ingest node `n1` without authentication serving HTTPS (and Flight) with `cert` and
/// `key`, keeping what it is written in memory.
fn tls_ingest_node(s3: &S3Server, data_dir: &Path, cert: &Path, key: &Path) -> TestServer {
    buffering_node(
        s3,
        data_dir,
        "n1",
        "1GiB",
        &[
            "--without-auth",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    )
}

/// Writes `body` to the database `db` of `server` over HTTPS trusting `ca` (with curl:
/// the test servers' client speaks plain HTTP).
fn write_tls(server: &TestServer, ca: &Path, body: &str) {
    let output = Command::new("curl")
        .args(["-sS", "--max-time", "60", "-w", "%{http_code}", "--cacert"])
        .arg(ca)
        .args(["--data-binary", body])
        .arg(format!("https://{}/write?db=db", server.address))
        .output()
        .expect("curl runs");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "204",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_query_node_reads_the_rows_in_memory_of_an_https_peer_signed_by_its_ca_once() {
    let Some((temp, s3)) = S3Server::in_temp_dir() else {
        return;
    };
    let (ca, cert, key) = Ca::new("sluice peers CA").issue(temp.path(), "n1", false);
    let n1 = tls_ingest_node(&s3, &temp.path().join("n1"), &cert, &key);
    let q = query_node(
        &s3,
        &temp.path().join("q"),
        &[
            "--ingest-peers",
            &format!("https://{}", n1.address),
            "--ingest-peers-ca",
            ca.to_str().unwrap(),
        ],
    );
    write_tls(&n1, &ca, &cpu("a", 0, 100, 0.0, ""));
    wait_until(
        "the query node sees n1's rows",
        Duration::from_secs(60),
        || visible_rows(&q, "cpu") == Some(100),
    );
    // Nothing was persisted: every row came from n1's memory over TLS, each once.
    assert_eq!(published(&s3, "n1"), (0, 0));
    assert_eq!(host_summary(&q, "cpu", "a"), (100, 100, 4950.0, 99.0));
    assert_ready_for_queries(&q);
}

#[test]
fn an_https_peer_whose_certificate_is_not_trusted_is_left_out_and_health_says_why() {
    let Some((temp, s3)) = S3Server::in_temp_dir() else {
        return;
    };
    let (n1_ca, cert, key) = Ca::new("n1's CA").issue(temp.path(), "n1", false);
    let other_ca = Ca::new("another CA").issue(temp.path(), "other", false).0;
    let n1 = tls_ingest_node(&s3, &temp.path().join("n1"), &cert, &key);
    // n2 persists what it is written at once: the rows of the files.
    let n2 = node(&s3, &temp.path().join("n2"), "n2", "ingest", &[]);
    let peer = format!("https://{}", n1.address);
    let q = query_node(
        &s3,
        &temp.path().join("q"),
        &[
            "--ingest-peers",
            &peer,
            "--ingest-peers-ca",
            other_ca.to_str().unwrap(),
        ],
    );
    // Without --ingest-peers-ca: the system's roots, which do not hold n1's CA either.
    let q2 = node(
        &s3,
        &temp.path().join("q2"),
        "q2",
        "query",
        &["--query-refresh-interval", "200ms", "--ingest-peers", &peer],
    );
    write_tls(&n1, &n1_ca, &cpu("a", 0, 10, 0.0, ""));
    assert_eq!(write_db(&n2, &cpu("b", 0, 10, 0.0, "")), 204);
    wait_until(
        "n2's rows are in the bucket",
        Duration::from_secs(60),
        || published(&s3, "n2").1 == 10,
    );
    for q in [&q, &q2] {
        wait_until(
            "the query node sees n2's rows",
            Duration::from_secs(60),
            || visible_rows(q, "cpu") == Some(10),
        );
        // The answer is the files' rows alone.
        assert_eq!(host_summary(q, "cpu", "b"), (10, 10, 45.0, 9.0));
        assert_eq!(host_summary(q, "cpu", "a").0, 0);
        let message = ingest_peers_degraded(q);
        assert!(message.contains(&peer), "{message}");
        assert!(
            message.contains(
                "TLS handshake failed: its certificate is not signed by a CA this node trusts"
            ),
            "{message}"
        );
    }
}

#[test]
fn a_bad_ingest_peers_ca_stops_the_start_naming_the_flag() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    let not_pem = temp.path().join("not.pem");
    std::fs::write(&not_pem, "not a certificate\n").unwrap();
    let not_pem = not_pem.to_str().unwrap();
    let query = UNREACHED_QUERY_NODE;
    let https_peer = ["--ingest-peers", "https://127.0.0.1:1"];
    for (args, expected) in [
        (
            vec!["--ingest-peers-ca", "/nonexistent/ca.pem"],
            "--ingest-peers-ca: cannot read /nonexistent/ca.pem".to_owned(),
        ),
        (
            vec!["--ingest-peers-ca", not_pem],
            format!("--ingest-peers-ca: {not_pem} holds no PEM certificate"),
        ),
    ] {
        let args = [&query[..], &https_peer[..], &args[..]].concat();
        let (code, stderr) = refused(&dir, &args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(&expected), "{args:?}: {stderr}");
    }
    let (code, stderr) = refused(
        &dir,
        &[&query[..], &["--ingest-peers-ca", not_pem]].concat(),
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--ingest-peers-ca needs --ingest-peers"),
        "{stderr}"
    );
    let http_peer = ["--ingest-peers", "http://127.0.0.1:1"];
    let (code, stderr) = refused(
        &dir,
        &[&query[..], &http_peer[..], &["--ingest-peers-ca", not_pem]].concat(),
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--ingest-peers-ca is for https:// peers"),
        "{stderr}"
    );

    // The environment variable is the flag.
    let (code, stderr) = refused_with_env(
        &dir,
        &[&query[..], &https_peer[..]].concat(),
        &[("SLUICE_INGEST_PEERS_CA", "/nonexistent/ca.pem")],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--ingest-peers-ca: cannot read /nonexistent/ca.pem"),
        "{stderr}"
    );
}
