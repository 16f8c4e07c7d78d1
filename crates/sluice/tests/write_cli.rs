//! `sluice write` as a user runs it: against the real `sluice serve`, and against a
//! fault-injecting server for retries and undeliverable batches.

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{ADMIN, TestServer};
use sluice_client::testing::{Fault, FaultServer};

fn sluice_write(args: &[&str], env: &[(&str, &str)], stdin: Option<&[u8]>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
    command
        .arg("write")
        .args(args)
        .env_remove("SLUICE_HOST")
        .env_remove("SLUICE_TOKEN")
        .env_remove("SLUICE_DATABASE")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("sluice runs");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The server's count of lines its storage engine accepted.
fn lines_stored(server: &TestServer) -> u64 {
    let metrics = server.get("/metrics", &[("Authorization", &common::token(ADMIN))]);
    metrics
        .body
        .lines()
        .filter(|l| l.starts_with("sluice_storage_lines_written_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

fn write_file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn a_file_is_written_to_the_real_server_in_batches_and_every_line_is_stored() {
    let server = TestServer::without_auth();
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("# generated\n");
    for i in 0..1000 {
        text.push_str(&format!(
            "cpu,host=h{} usage={i} {}\n",
            i % 7,
            1_700_000_000 + i
        ));
    }
    text.push_str("note,host=a text=\"two\nlines\" 1700000000\n");
    let file = write_file(dir.path(), "cpu.lp", &text);
    let output = sluice_write(
        &[
            "--db",
            "metrics",
            "--host",
            &server.url(""),
            "--precision",
            "s",
            "--batch-size",
            "100",
            &file,
        ],
        &[],
        None,
    );
    assert!(output.status.success(), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("1001 lines written, 0 rejected, 0 undeliverable"),
        "{}",
        stdout(&output)
    );
    assert_eq!(lines_stored(&server), 1001);
}

#[test]
fn rejected_lines_are_reported_with_their_line_numbers_in_the_file() {
    let server = TestServer::without_auth();
    let dir = tempfile::tempdir().unwrap();
    // Batches of 3 lines: the bad lines sit in the second and third batches.
    let text = "a f=1\nb f=1\nc f=1\n\nd f=1\nbad_line_no_fields\ne f=1\nf f=1\nthis is=wrong\n";
    let file = write_file(dir.path(), "mixed.lp", text);
    let output = sluice_write(
        &[
            "--db",
            "d",
            "--host",
            &server.url(""),
            "--batch-size",
            "3",
            &file,
        ],
        &[],
        None,
    );
    let report = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert!(report.contains("line 6: missing fields"), "{report}");
    assert!(report.contains("    bad_line_no_fields"), "{report}");
    assert!(report.contains("line 9: "), "{report}");
    assert!(
        report.contains("6 lines written, 2 rejected, 0 undeliverable"),
        "{report}"
    );
    assert_eq!(lines_stored(&server), 6);
}

#[test]
fn the_token_comes_from_the_environment_and_a_refusal_is_undeliverable() {
    let server = TestServer::spawn();
    let url = server.url("");
    let args = ["--bucket", "b", "--org", "o", "-"];
    let refused = sluice_write(&args, &[("SLUICE_HOST", &url)], Some(b"m f=1\n"));
    assert_eq!(refused.status.code(), Some(1));
    assert!(stdout(&refused).contains("0 lines written, 0 rejected, 1 undeliverable"));
    assert!(stdout(&refused).contains("401"), "{}", stdout(&refused));
    let accepted = sluice_write(
        &args,
        &[("SLUICE_HOST", &url), ("SLUICE_TOKEN", ADMIN)],
        Some(b"m f=1\nm f=2\n"),
    );
    assert!(accepted.status.success(), "{}", stdout(&accepted));
    assert_eq!(lines_stored(&server), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directories_and_gzip_files_are_read_in_order_and_overload_is_retried() {
    let server = FaultServer::start().await;
    server.push_faults([
        Fault::Status {
            status: 503,
            retry_after: Some(1),
        },
        Fault::DropConnection,
    ]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("sub")).unwrap();
    write_file(dir.path(), "a.lp", "a f=1\n");
    write_file(dir.path(), "ignored.md", "not line protocol\n");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"b f=1\nb f=2\n").unwrap();
    std::fs::write(dir.path().join("sub/b.lp.gz"), gz.finish().unwrap()).unwrap();
    let url = server.url();
    let root = dir.path().display().to_string();
    let output = tokio::task::spawn_blocking(move || {
        sluice_write(
            &["--db", "d", "--host", &url, "--concurrency", "1", &root],
            &[],
            None,
        )
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{}", stdout(&output));
    assert_eq!(server.accepted(), vec!["a f=1", "b f=1", "b f=2"]);
    assert_eq!(
        server.requests(),
        4,
        "two failed attempts, then one request per file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_to_a_loopback_host_are_sent_plain_unless_gzip_is_on() {
    let server = FaultServer::start().await;
    let input: String = (0..200).map(|i| format!("m,host=h{i} f={i}\n")).collect();
    assert!(input.len() > 2048);
    let mut runs = Vec::new();
    for gzip in [None, Some("off"), Some("on")] {
        let url = server.url();
        let input = input.clone();
        let before = (server.requests(), server.gzipped_requests());
        let output = tokio::task::spawn_blocking(move || {
            let mut args = vec!["--db", "d", "--host", &url, "--batch-size", "100"];
            if let Some(gzip) = gzip {
                args.extend(["--gzip", gzip]);
            }
            args.push("-");
            sluice_write(&args, &[], Some(input.as_bytes()))
        })
        .await
        .unwrap();
        assert!(output.status.success(), "{}", stdout(&output));
        runs.push((
            server.requests() - before.0,
            server.gzipped_requests() - before.1,
        ));
    }
    assert_eq!(runs, vec![(2, 0), (2, 0), (2, 2)]);
    assert_eq!(server.accepted().len(), 600);
    let bad = sluice_write(&["--db", "d", "--gzip", "maybe", "-"], &[], Some(b""));
    assert_eq!(bad.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_fails_the_run_with_undeliverable_lines() {
    let server = FaultServer::start().await;
    let url = server.url();
    drop(server);
    let output = tokio::task::spawn_blocking(move || {
        sluice_write(
            &["--db", "d", "--host", &url, "--max-retries", "0", "-"],
            &[],
            Some(b"a f=1\nb f=1\n"),
        )
    })
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let report = stdout(&output);
    assert!(
        report.contains("2 line(s) from line 1 of standard input undeliverable"),
        "{report}"
    );
    assert!(report.contains("cannot reach the server"), "{report}");
}

#[test]
fn what_was_not_delivered_is_named_by_its_file_and_a_missing_token_is_asked_for() {
    let server = TestServer::spawn();
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "a.lp", "m f=1\nm f=2\n");
    let refused = sluice_write(
        &["--db", "d", "--host", &server.url(""), "--token", "", &file],
        &[],
        None,
    );
    assert_eq!(refused.status.code(), Some(1));
    let report = stdout(&refused);
    assert!(
        report.contains(&format!("2 line(s) from line 1 of {file} undeliverable")),
        "{report}"
    );
    assert!(
        report.contains("missing token")
            && report.contains("give one with --token or SLUICE_TOKEN"),
        "{report}"
    );
}

#[test]
fn a_dry_run_reads_directories_as_a_write_does() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "a.lp", "a f=1\n");
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    write_file(&dir.path().join("sub"), "b.lp", "b f=1\nb,x f=\n");
    write_file(dir.path(), "notes.md", "not line protocol\n");
    let dry = sluice_write(&["--dry-run", &dir.path().display().to_string()], &[], None);
    assert_eq!(dry.status.code(), Some(1), "{}", stdout(&dry));
    let report = stdout(&dry);
    assert!(
        report.ends_with("2 lines ok, 1 lines rejected\n"),
        "{report}"
    );
    assert!(report.contains("sub/b.lp: line 2"), "{report}");
}

#[test]
fn a_database_is_required_unless_dry_run() {
    let output = sluice_write(&["-"], &[], Some(b"a f=1\n"));
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--db"));
    let dry = sluice_write(&["--dry-run", "-"], &[], Some(b"a f=1\n"));
    assert!(dry.status.success());
    assert_eq!(stdout(&dry), "1 lines ok, 0 lines rejected\n");
}
