//! `TestServer`: the real `sluice serve` binary on a free port with a temporary data
//! directory, killed on drop; plus a small HTTP client for talking to it like a user.

#![allow(dead_code, unreachable_pub)] // each test binary uses a different part

pub mod certs;
pub mod nodes;
pub mod postgres;
pub mod s3;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The admin token `TestServer::spawn` configures.
pub const ADMIN: &str = "test-admin-token";

/// A running `sluice serve`.
pub struct TestServer {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub address: String,
    /// Keeps the temporary data directory alive unless the caller brought its own.
    _temp: Option<tempfile::TempDir>,
    pub data_dir: PathBuf,
    /// The admin token printed at first start (only when none was configured).
    pub printed_admin_token: Option<String>,
    agent: ureq::Agent,
}

/// Options for [`TestServer::start`].
#[derive(Default, Clone)]
pub struct Options {
    /// Extra command-line arguments.
    pub args: Vec<String>,
    /// Extra environment variables (the environment is otherwise empty).
    pub env: Vec<(String, String)>,
    /// Use this data directory instead of a fresh temporary one.
    pub data_dir: Option<PathBuf>,
    /// Do not set SLUICE_ADMIN_TOKEN.
    pub no_admin_token: bool,
}

impl Options {
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_owned());
        self
    }

    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn data_dir(mut self, dir: &Path) -> Self {
        self.data_dir = Some(dir.to_owned());
        self
    }

    /// `sluice serve` with these options on `data_dir`, in an empty environment but for
    /// the admin token and [`Options::env`].
    fn command(&self, data_dir: &Path) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
        command.arg("serve");
        // A port of its own unless the caller names an address (a restart on the same one).
        if !self.args.iter().any(|a| a == "--bind") {
            command.arg("--bind").arg("127.0.0.1:0");
        }
        command
            .arg("--data-dir")
            .arg(data_dir)
            .args(&self.args)
            .env_clear()
            // SLUICE_TEST_LOG_LEVEL=info shows the servers' logs when a test fails.
            .env(
                "SLUICE_LOG_LEVEL",
                std::env::var("SLUICE_TEST_LOG_LEVEL").unwrap_or_else(|_| "error".to_owned()),
            );
        if !self.no_admin_token && !self.args.iter().any(|a| a == "--without-auth") {
            command.env("SLUICE_ADMIN_TOKEN", ADMIN);
        }
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("body is not json ({err}): {:?}", self.body))
    }
}

impl TestServer {
    /// A server with auth on and the admin token [`ADMIN`].
    pub fn spawn() -> TestServer {
        TestServer::start(Options::default())
    }

    /// A server with auth off.
    pub fn without_auth() -> TestServer {
        TestServer::start(Options::default().arg("--without-auth"))
    }

    pub fn start(options: Options) -> TestServer {
        let (temp, data_dir) = match &options.data_dir {
            Some(dir) => (None, dir.clone()),
            None => {
                let temp = tempfile::tempdir().unwrap();
                let dir = temp.path().join("data");
                (Some(temp), dir)
            }
        };
        let mut command = options.command(&data_dir);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().expect("sluice binary starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut printed_admin_token = None;
        let address = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(token) = line.strip_prefix("admin token: ") {
                        printed_admin_token = Some(token.to_owned());
                    }
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
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        TestServer {
            child,
            address,
            _temp: temp,
            data_dir,
            printed_admin_token,
            agent,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Sends a request; `headers` are `(name, value)` pairs.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Reply {
        let url = self.url(path);
        let mut builder = ureq::http::Request::builder().method(method).uri(&url);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let result = match body {
            Some(body) => self.agent.run(builder.body(body.to_vec()).unwrap()),
            None => self.agent.run(builder.body(()).unwrap()),
        };
        let mut response = result.unwrap_or_else(|err| panic!("{method} {url}: {err}"));
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let body = response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .unwrap_or_default();
        Reply {
            status,
            headers,
            body,
        }
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.request("GET", path, headers, None)
    }

    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        self.request("POST", path, headers, Some(body))
    }

    /// Sends raw bytes on a fresh connection (`Connection: close` is up to the caller) and
    /// returns the status code and the raw response text.
    pub fn raw(&self, request: &[u8]) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        // The server may answer (413) before the whole body is sent; ignore write errors.
        let _ = stream.write_all(request);
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {text:?}"));
        (status, text)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
        self.wait(Duration::from_secs(30))
    }

    /// Waits for the process to exit, killing it after `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        exit_status(&mut self.child, timeout).expect("sluice did not exit in time")
    }
}

/// `child`'s exit status once it exits, or `None` (it is killed) when it still runs after
/// `timeout`.
fn exit_status(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `sluice serve` with `options` (on their data directory, else a temporary one),
/// expecting it to refuse to start within `timeout`; its standard error.
pub fn refused_start(options: Options, timeout: Duration) -> String {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = options
        .data_dir
        .clone()
        .unwrap_or_else(|| temp.path().join("data"));
    let mut child = options
        .command(&data_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sluice binary starts");
    // Read as it comes: a pipe left full would hold the process up.
    let mut pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    });
    let status = exit_status(&mut child, timeout)
        .unwrap_or_else(|| panic!("sluice serve was still running after {timeout:?}, not refused"));
    let stderr = reader.join().unwrap();
    assert!(!status.success(), "sluice serve exited 0: {stderr}");
    stderr
}

/// The binary `name` of a server the tests run against: `$env_var`, else `name` on the
/// PATH; `None` (the test is skipped) when it is not installed and the suite does not
/// require it. `script` is what installs it.
pub fn installed_tool(env_var: &str, name: &str, script: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env_var) {
        return Some(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    if on_path.is_none() {
        not_installed(name, script, env_var);
    }
    on_path
}

/// Says that the test is skipped because `what` is not installed, or fails it when the
/// suite requires everything (`SLUICE_COMPAT_REQUIRED=1`, as `scripts/test.sh` runs it).
pub fn not_installed(what: &str, script: &str, env_var: &str) {
    assert!(
        std::env::var("SLUICE_COMPAT_REQUIRED").as_deref() != Ok("1"),
        "{what} is not installed: run {script} and set {env_var}"
    );
    eprintln!("skipped: {what} is not installed ({script})");
}

/// A loopback port nothing listens on (at the moment of asking).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts connections on loopback port `port`; fails the test,
/// naming `what`, after `timeout`.
pub fn wait_listening(what: &str, port: u16, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen in time");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Lines of `cpu,host=h{i % 10} v={i}` at seconds `from..to`, one per second.
pub fn points(from: i64, to: i64) -> String {
    (from..to)
        .map(|i| format!("cpu,host=h{} v={i} {}\n", i % 10, i * 1_000_000_000))
        .collect()
}

/// Writes `body` to database `db` (v1 API); the status.
pub fn write_db(server: &TestServer, body: &str) -> u16 {
    server.post("/write?db=db", &[], body.as_bytes()).status
}

/// The value of the first series of `/metrics` whose name and labels start with `prefix`
/// (0 when there is none).
pub fn metric_starting(server: &TestServer, prefix: &str) -> f64 {
    let text = server.get("/metrics", &[]).body;
    text.lines()
        .find_map(|l| l.strip_prefix(prefix)?.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

/// `SELECT count(*)` of table `cpu` in database `db` (SQL, read from the data).
pub fn count(server: &TestServer) -> u64 {
    let reply = server.get(
        "/api/v3/query_sql?db=db&q=SELECT%20count(*)%20AS%20n%20FROM%20cpu",
        &[],
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()[0]["n"].as_u64().unwrap()
}

/// How many `.parquet` files there are under `dir`, at any depth (0 when it is missing).
pub fn parquet_files_under(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .map(|e| {
                let path = e.path();
                if path.is_dir() {
                    parquet_files_under(&path)
                } else {
                    usize::from(path.extension().is_some_and(|x| x == "parquet"))
                }
            })
            .sum()
    })
}

/// `text` percent-encoded for a URL's query string.
pub fn enc(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `Authorization: Token <token>`.
/// Polls `done` every 100 ms until it is true; fails the test, naming `what`, when it is
/// still false after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn token(token: &str) -> String {
    format!("Token {token}")
}

/// Gzips `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// Opens the storage in `data_dir` (the server must have stopped) and returns, for
/// `table` in `db`, every row's time in nanoseconds, sorted.
pub fn stored_times(data_dir: &Path, db: &str, table: &str) -> Vec<i64> {
    use arrow::array::{Array as _, TimestampNanosecondArray};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let config = sluice_storage::StorageConfig {
            data_dir: data_dir.to_owned(),
            ..Default::default()
        };
        let storage = sluice_storage::Storage::open(config).await.unwrap();
        let result = storage
            .scan(db, table, &sluice_storage::ScanRequest::default())
            .await
            .unwrap();
        let mut times = Vec::new();
        for batch in &result.batches {
            let column = batch
                .column_by_name("time")
                .expect("a time column")
                .as_any()
                .downcast_ref::<TimestampNanosecondArray>()
                .expect("time is Timestamp(ns)")
                .clone();
            for i in 0..column.len() {
                times.push(column.value(i));
            }
        }
        storage.shutdown().await.unwrap();
        times.sort_unstable();
        times
    })
}

/// Like [`stored_times`] but for every table: `(table, rows)`.
pub fn stored_tables(data_dir: &Path, db: &str) -> Vec<(String, usize)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let config = sluice_storage::StorageConfig {
            data_dir: data_dir.to_owned(),
            ..Default::default()
        };
        let storage = sluice_storage::Storage::open(config).await.unwrap();
        let mut out = Vec::new();
        for table in storage.tables(db).unwrap_or_default() {
            let result = storage
                .scan(db, &table.name, &sluice_storage::ScanRequest::default())
                .await
                .unwrap();
            out.push((table.name, result.num_rows()));
        }
        storage.shutdown().await.unwrap();
        out
    })
}
