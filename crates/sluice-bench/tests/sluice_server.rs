//! Smoke test against the real `sluice serve`: generate → load over every write API, with
//! auth on and off, checking the harness's counts against the server's own metrics.
//!
//! The `sluice` binary belongs to another package, so `CARGO_BIN_EXE_sluice` is not set
//! here. The test looks for it next to this test executable's directory
//! (`target/<profile>/deps/..` = `target/<profile>/sluice`), where `cargo test --workspace`
//! (or `cargo build -p sluice` first) puts it; `SLUICE_BIN` overrides the path. When the
//! binary is missing the test fails under CI (`CI` set) and is skipped with a message
//! otherwise.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn sluice_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SLUICE_BIN") {
        return Some(PathBuf::from(path));
    }
    let exe = std::env::current_exe().ok()?;
    let path = exe
        .parent()?
        .parent()?
        .join(format!("sluice{}", std::env::consts::EXE_SUFFIX));
    path.is_file().then_some(path)
}

/// `sluice serve` on a free port with its own data directory, killed on drop.
/// The admin token of servers started with auth; also sent to read `/metrics`.
const METRICS_TOKEN: &str = "bench-admin";

struct SluiceServer {
    child: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl SluiceServer {
    fn start(binary: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(binary)
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(args)
            .env("SLUICE_LOG_LEVEL", "warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("sluice serve starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let address = loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    if let Some(address) = line.strip_prefix("listening on ") {
                        break address.to_owned();
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("sluice serve did not print `listening on` in time");
                }
            }
        };
        Self {
            child,
            address,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The value of an unlabelled counter from `/metrics` (read with [`METRICS_TOKEN`],
    /// which servers started with auth use as their admin token; ignored without auth).
    fn metric(&self, name: &str) -> u64 {
        let mut stream = TcpStream::connect(&self.address).unwrap();
        write!(
            stream,
            "GET /metrics HTTP/1.1\r\nHost: {}\r\nAuthorization: Token {METRICS_TOKEN}\r\nConnection: close\r\n\r\n",
            self.address
        )
        .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text.lines()
            .find_map(|l| {
                l.strip_prefix(name)?
                    .strip_prefix(' ')?
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}")) as u64
    }
}

impl Drop for SluiceServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sluice-bench"))
}

fn load(url: &str, file: &Path, args: &[&str]) -> (i32, serde_json::Value) {
    let out = bench()
        .arg("load")
        .arg(file)
        .args(["--url", url, "--output", "json"])
        .args(args)
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), report)
}

fn binary_or_skip() -> Option<PathBuf> {
    let binary = sluice_binary();
    if binary.is_none() {
        let why = "the sluice binary is not next to the test executable: run `cargo build -p sluice` \
                   first, or `cargo test --workspace`, or set SLUICE_BIN";
        assert!(std::env::var_os("CI").is_none(), "{why}");
        eprintln!("skipped: {why}");
    }
    binary
}

#[test]
fn every_generated_line_is_accepted_by_sluice_over_each_write_api() {
    let Some(binary) = binary_or_skip() else {
        return;
    };
    let server = SluiceServer::start(&binary, &["--without-auth"], &[]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("devops.lp");
    let out = bench()
        .args([
            "generate",
            "--use-case",
            "devops",
            "--hosts",
            "4",
            "--steps",
            "50",
            "--output",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut sent = 0;
    for (endpoint, gzip) in [("v1", false), ("v2", true), ("v3", false)] {
        let mut args = vec![
            "--endpoint",
            endpoint,
            "--batch-lines",
            "250",
            "--connections",
            "2",
        ];
        if gzip {
            args.push("--gzip");
        }
        let (code, report) = load(&server.url(), &file, &args);
        assert_eq!(code, 0, "{endpoint}: {report}");
        assert_eq!(report["lines"], 4 * 50 * 9, "{endpoint}");
        assert_eq!(report["requests"], 8, "{endpoint}"); // ceil(1800 / 250)
        sent += 1800;
        assert_eq!(
            server.metric("sluice_lines_accepted_total"),
            sent,
            "{endpoint}"
        );
    }
}

#[test]
fn sluice_refusing_a_missing_token_is_reported_as_401_and_fails_the_run() {
    let Some(binary) = binary_or_skip() else {
        return;
    };
    let server = SluiceServer::start(&binary, &[], &[("SLUICE_ADMIN_TOKEN", METRICS_TOKEN)]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cpu.lp");
    let out = bench()
        .args(["generate", "--hosts", "3", "--steps", "20", "--output"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    let (code, report) = load(&server.url(), &file, &["--batch-lines", "20"]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["errors"]["401"], 3);
    assert_eq!(report["lines"], 0);
    let (code, report) = load(&server.url(), &file, &["--token", METRICS_TOKEN]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["lines"], 60);
    assert_eq!(server.metric("sluice_lines_accepted_total"), 60);
}
