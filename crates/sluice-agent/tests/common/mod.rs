//! A real `sluice serve` process and helpers to run the real `sluice-agent` binary against
//! it and read the stored data back the way a user would: over HTTP.
//!
//! The server is the `sluice` binary of this build ([`sluice_binary`]), started with
//! authentication off on a loopback port, its log appended to `DATA_DIR.log`. Rows come
//! back with SQL (`/api/v3/query_sql`, JSON); tag keys and field types with InfluxQL
//! (`SHOW TAG KEYS`, `SHOW FIELD KEYS` on `/api/v3/query_influxql`), in InfluxDB's names:
//! `float`, `integer`, `unsigned`, `string`, `boolean`.

#![allow(dead_code, unreachable_pub)] // each test binary uses a different part

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{OnceLock, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long the server may take to start, to answer a query, or to stop.
const LIMIT: Duration = Duration::from_secs(30);

/// The `sluice` binary beside `sluice-agent` (which `cargo test --workspace` builds from
/// the same sources), built with `cargo build -p sluice --bin sluice` (same profile) when
/// it is missing. `SLUICE_BIN` names another binary instead (not built).
pub fn sluice_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("SLUICE_BIN") {
                return PathBuf::from(path);
            }
            let agent = PathBuf::from(env!("CARGO_BIN_EXE_sluice-agent"));
            let sluice = agent.with_file_name("sluice");
            // target/debug holds the dev (and test) profile, target/NAME any other.
            let profile = match agent.parent().and_then(Path::file_name) {
                Some(dir) if dir == "debug" => "dev".to_owned(),
                Some(dir) => dir.to_string_lossy().into_owned(),
                None => "dev".to_owned(),
            };
            // `cargo test --workspace` has built it already; building it again with
            // `-p sluice` would resolve other features and rebuild its dependencies.
            if sluice.is_file() {
                return sluice;
            }
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let status = Command::new(cargo)
                .args([
                    "build",
                    "-p",
                    "sluice",
                    "--bin",
                    "sluice",
                    "--profile",
                    &profile,
                ])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .unwrap();
            assert!(status.success(), "cargo build -p sluice failed");
            assert!(sluice.is_file(), "{} is missing", sluice.display());
            sluice
        })
        .clone()
}

/// A running `sluice serve`, killed when dropped.
pub struct Server {
    pub url: String,
    pub data_dir: PathBuf,
    child: Option<Child>,
    http: Http,
}

impl Server {
    /// Starts `sluice serve` on `data_dir`, on `port` (0 for any), creating databases on
    /// first write when `auto_create`; returns once `/ready` answers 200.
    pub async fn start(data_dir: &Path, port: u16, auto_create: bool) -> Server {
        let data_dir = data_dir.to_owned();
        tokio::task::spawn_blocking(move || Server::start_blocking(data_dir, port, auto_create))
            .await
            .unwrap()
    }

    fn start_blocking(data_dir: PathBuf, port: u16, auto_create: bool) -> Server {
        let log = PathBuf::from(format!("{}.log", data_dir.display()));
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut command = Command::new(sluice_binary());
        // Only the flags below configure it, whatever the environment holds.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("SLUICE_") {
                command.env_remove(key);
            }
        }
        command
            .arg("serve")
            .arg("--bind")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--without-auth", "--shutdown-timeout", "1s"]);
        if !auto_create {
            command.arg("--no-auto-create");
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .unwrap();
        // The bound address is printed as `listening on ADDR`; the thread then drains
        // stdout until the server exits.
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(address) = line.strip_prefix("listening on ") {
                    let _ = tx.send(address.to_owned());
                }
            }
        });
        let mut server = Server {
            url: String::new(),
            data_dir,
            child: Some(child),
            http: Http {
                url: String::new(),
                agent: ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(LIMIT))
                    .build()
                    .into(),
                log,
            },
        };
        match rx.recv_timeout(LIMIT) {
            Ok(address) => server.url = format!("http://{address}"),
            Err(_) => panic!(
                "sluice serve did not print `listening on`:\n{}",
                server.http.log()
            ),
        }
        server.http.url.clone_from(&server.url);
        let deadline = Instant::now() + LIMIT;
        loop {
            let ready = server
                .http
                .agent
                .get(format!("{}/ready", server.url))
                .call()
                .is_ok_and(|r| r.status() == 200);
            if ready {
                return server;
            }
            let exited = server.child.as_mut().unwrap().try_wait().unwrap();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "sluice serve never became ready ({exited:?}):\n{}",
                server.http.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.url.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// Stops it with SIGTERM (it syncs its WAL and exits) and checks that it exits 0.
    pub async fn stop(mut self) {
        let mut child = self.child.take().unwrap();
        let http = self.http.clone();
        tokio::task::spawn_blocking(move || {
            // SAFETY: kill(2) on a child we spawned and have not reaped.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + LIMIT;
            let status = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break status;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("sluice serve did not stop on SIGTERM:\n{}", http.log());
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            assert!(
                status.success(),
                "sluice serve exited with {status}:\n{}",
                http.log()
            );
        })
        .await
        .unwrap();
    }

    /// Table names of `db`, sorted (empty when the database does not exist).
    pub fn tables(&self, db: &str) -> Vec<String> {
        let sql = "SELECT table_name FROM information_schema.tables \
                   WHERE table_schema = 'iox' ORDER BY table_name";
        self.http
            .query("query_sql", db, sql)
            .unwrap_or_default()
            .iter()
            .map(|row| string(row, "table_name"))
            .collect()
    }

    /// Every row of `db.table` (`SELECT *`), as `column → value` rendered as text
    /// (strings as they are, floats with a fraction: `22.0`), null columns left out.
    pub async fn rows(&self, db: &str, table: &str) -> Vec<BTreeMap<String, String>> {
        let http = self.http.clone();
        let sql = format!("SELECT * FROM \"{}\"", table.replace('"', "\"\""));
        let db = db.to_owned();
        tokio::task::spawn_blocking(move || {
            let rows = http
                .query("query_sql", &db, &sql)
                .unwrap_or_else(|| panic!("no database {db}"));
            rows.into_iter()
                .map(|row| {
                    row.into_iter()
                        .filter_map(|(column, value)| Some((column, text(value)?)))
                        .collect()
                })
                .collect()
        })
        .await
        .unwrap()
    }

    /// Column kinds of `db.table` as text: `tag`, or the field's type as `SHOW FIELD
    /// KEYS` names it (`float`, `integer`, `unsigned`, `string`, `boolean`); `time` left
    /// out. Empty when the database or the table does not exist.
    pub fn column_kinds(&self, db: &str, table: &str) -> BTreeMap<String, String> {
        let from = format!("\"{}\"", table.replace('\\', "\\\\").replace('"', "\\\""));
        let show = |what: &str| {
            self.http
                .query(
                    "query_influxql",
                    db,
                    &format!("SHOW {what} KEYS FROM {from}"),
                )
                .unwrap_or_default()
        };
        let mut kinds = BTreeMap::new();
        for row in show("TAG") {
            kinds.insert(string(&row, "tagKey"), "tag".to_owned());
        }
        for row in show("FIELD") {
            let name = string(&row, "fieldKey");
            let previous = kinds.insert(name.clone(), string(&row, "fieldType"));
            assert!(previous.is_none(), "{table}.{name} is a tag and a field");
        }
        kinds
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The server's query API, usable from a blocking thread.
#[derive(Clone)]
struct Http {
    url: String,
    agent: ureq::Agent,
    /// The server's log file.
    log: PathBuf,
}

impl Http {
    /// The rows `q` answers on `/api/v3/ENDPOINT` as JSON, or None when `db` does not
    /// exist; any other failure panics with the answer and the server's log.
    fn query(&self, endpoint: &str, db: &str, q: &str) -> Option<Vec<Row>> {
        let mut response = self
            .agent
            .get(format!("{}/api/v3/{endpoint}", self.url))
            .query("db", db)
            .query("q", q)
            .query("format", "json")
            .call()
            .unwrap_or_else(|e| panic!("{q}: {e}\n{}", self.log()));
        let status = response.status();
        let body = response.body_mut().read_to_string().unwrap();
        if status == 404 && body.contains("database not found") {
            return None;
        }
        assert!(status == 200, "{q}: {status} {body}\n{}", self.log());
        Some(serde_json::from_str(&body).unwrap_or_else(|e| panic!("{q}: {e}: {body}")))
    }

    /// The server's log so far.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// One row of a query's JSON answer.
type Row = serde_json::Map<String, Value>;

/// A JSON value of a query's answer as text; None for null.
fn text(value: Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s),
        Value::Bool(_) | Value::Number(_) => Some(value.to_string()),
        other => panic!("unexpected value {other}"),
    }
}

/// The string `column` of `row`.
fn string(row: &Row, column: &str) -> String {
    match row.get(column) {
        Some(Value::String(s)) => s.clone(),
        other => panic!("{column} is {other:?} in {row:?}"),
    }
}

/// Runs `sluice-agent ARGS` with `config` written to a file in `dir`.
pub fn run_agent(dir: &Path, config: &str, args: &[&str]) -> Output {
    let path = dir.join("agent.conf");
    std::fs::write(&path, config).unwrap();
    Command::new(env!("CARGO_BIN_EXE_sluice-agent"))
        .arg("--config")
        .arg(&path)
        .args(args)
        .output()
        .unwrap()
}

/// Reads one value of `/proc/meminfo` in bytes.
pub fn meminfo(key: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{key}:")))
        .unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024
}
