//! The compatibility suite: the official InfluxDB client libraries and Telegraf-shaped
//! traffic against a real `sluice serve` (see compat/README.md).
//!
//! Each test starts a fresh server (auth on, admin token from the environment), runs one
//! scenario program from `compat/` with the clients `compat/setup.sh` installed, and, when
//! the program exits 0, stops the server and checks that its data directory holds exactly
//! the rows the program announced (count, tags, typed field values, times).
//!
//! Without the installed clients each test prints `SKIPPED` with the reason and passes,
//! unless `SLUICE_COMPAT_REQUIRED=1` (set by scripts/test.sh), where it fails.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arrow::array::{
    Array, BooleanArray, Float64Array, Int64Array, StringArray, TimestampNanosecondArray,
    UInt64Array,
};
use arrow::datatypes::DataType;
use common::{ADMIN, Options, TestServer};
use serde_json::Value;

/// How long one scenario program may run before it is killed and the test fails.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(600);

/// Prints on the real standard error, past the test harness's capture, so that `SKIPPED`
/// lines show in a plain `cargo test` run.
fn announce(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where compat/setup.sh installed the clients and built the Go and Java programs.
struct CompatEnv {
    python: PathBuf,
    node_modules: PathBuf,
    /// The Go scenarios' binary (compat/go).
    go_program: PathBuf,
    /// The Java scenarios' classes (compat/java) and the jars they run with.
    java_classes: PathBuf,
    java_lib: PathBuf,
    /// Touched by compat/setup.sh when it compiled the Java scenarios.
    java_built: PathBuf,
}

/// Skips (prints `SKIPPED` and returns `None`) unless `SLUICE_COMPAT_REQUIRED=1`, where
/// it fails.
fn skip_or_fail(test: &str, reason: &str) -> Option<CompatEnv> {
    let required = std::env::var("SLUICE_COMPAT_REQUIRED").is_ok_and(|v| v == "1");
    assert!(!required, "{test}: {reason}");
    announce(&format!("SKIPPED: compat::{test}: {reason}"));
    None
}

fn compat_env(test: &str, program: Program) -> Option<CompatEnv> {
    let dir = match std::env::var_os("SLUICE_COMPAT_ENV") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/var/tmp/sluice-target"))
            .join("compat-env"),
    };
    let env = CompatEnv {
        python: dir.join("venv/bin/python"),
        node_modules: dir.join("js/node_modules"),
        go_program: dir.join("go/bin/compat"),
        java_classes: dir.join("java/build/classes"),
        java_lib: dir.join("java/lib"),
        java_built: dir.join("java/built.stamp"),
    };
    if !dir.join("installed.stamp").is_file() {
        let reason = format!(
            "the client libraries are not installed in {} (run `bash compat/setup.sh`)",
            dir.display()
        );
        return skip_or_fail(test, &reason);
    }
    // A compiled program must exist and be newer than every file it is built from.
    let (built, sources) = match program {
        Program::Python | Program::Node => return Some(env),
        Program::Go => (&env.go_program, "compat/go"),
        Program::Java => (&env.java_built, "compat/java"),
    };
    let Ok(built_at) = built.metadata().and_then(|m| m.modified()) else {
        let reason = format!(
            "{} is not built in {} (run `bash compat/setup.sh`)",
            sources,
            dir.display()
        );
        return skip_or_fail(test, &reason);
    };
    if let Some(newer) = newer_file(&repo_root().join(sources), built_at) {
        panic!(
            "{test}: {} changed after compat/setup.sh built {}: run `bash compat/setup.sh`",
            newer.display(),
            built.display()
        );
    }
    Some(env)
}

/// A file under `dir` modified after `time`, if any.
fn newer_file(dir: &Path, time: std::time::SystemTime) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            if let Some(found) = newer_file(&path, time) {
                return Some(found);
            }
        } else if meta.modified().is_ok_and(|m| m > time) {
            return Some(path);
        }
    }
    None
}

/// The program a scenario runs.
#[derive(Clone, Copy)]
enum Program {
    /// `compat/SCRIPT` with the venv's python.
    Python,
    /// `compat/SCRIPT` with node.
    Node,
    /// The Go scenarios' binary, SCRIPT naming the client (`v1`, `v2`, `v3`).
    Go,
    /// `java sluice.compat.SCRIPT` (a class of compat/java).
    Java,
}

/// One scenario run: the program, its script under `compat/`, and its arguments.
struct Scenario<'a> {
    test: &'a str,
    program: Program,
    script: &'a str,
    args: &'a [&'a str],
}

/// What a scenario left behind.
struct Outcome {
    server: TestServer,
    expect_file: PathBuf,
    output: String,
    _temp: tempfile::TempDir,
}

fn run_scenario(env: &CompatEnv, scenario: &Scenario<'_>, options: Options) -> Outcome {
    let server = TestServer::start(options);
    let temp = tempfile::tempdir().unwrap();
    let expect_file = temp.path().join("expect.jsonl");
    File::create(&expect_file).unwrap();
    let stdout_path = temp.path().join("stdout");
    let stderr_path = temp.path().join("stderr");
    let root = repo_root();
    let mut command = match scenario.program {
        Program::Python => {
            let mut c = Command::new(&env.python);
            c.env("PYTHONPATH", root.join("compat/python"))
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .env("PYTHONUNBUFFERED", "1")
                .arg(root.join("compat").join(scenario.script));
            c
        }
        Program::Node => {
            let mut c = Command::new("node");
            c.env("NODE_PATH", &env.node_modules)
                .arg(root.join("compat").join(scenario.script));
            c
        }
        Program::Go => {
            let mut c = Command::new(&env.go_program);
            c.arg(scenario.script);
            c
        }
        Program::Java => {
            let mut c = Command::new("java");
            // Arrow's Java memory layer reads java.nio internals (influxdb3-java's Flight).
            c.arg("--add-opens=java.base/java.nio=ALL-UNNAMED")
                .arg("-cp")
                .arg(format!(
                    "{}:{}/*",
                    env.java_classes.display(),
                    env.java_lib.display()
                ))
                .arg(format!("sluice.compat.{}", scenario.script));
            c
        }
    };
    let token = if server.printed_admin_token.is_some() {
        server.printed_admin_token.clone().unwrap()
    } else {
        ADMIN.to_owned()
    };
    command
        .args(scenario.args)
        .current_dir(temp.path())
        .env("SLUICE_URL", server.url(""))
        .env("SLUICE_HOST_PORT", &server.address)
        .env("SLUICE_TOKEN", token)
        .env("SLUICE_EXPECT", &expect_file)
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path).unwrap())
        .stderr(File::create(&stderr_path).unwrap());
    let started = Instant::now();
    let mut child = command
        .spawn()
        .unwrap_or_else(|err| panic!("{}: cannot start {}: {err}", scenario.test, scenario.script));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > SCENARIO_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = format!(
        "--- stdout\n{}--- stderr\n{}",
        std::fs::read_to_string(&stdout_path).unwrap_or_default(),
        std::fs::read_to_string(&stderr_path).unwrap_or_default()
    );
    for line in output.lines().filter(|l| l.starts_with("SKIPPED")) {
        announce(&format!("{line} (compat::{})", scenario.test));
    }
    match status {
        Some(status) if status.success() => {}
        Some(status) => panic!(
            "{} {} exited with {status}\n{output}",
            scenario.script,
            scenario.args.join(" ")
        ),
        None => panic!(
            "{} {} ran longer than {SCENARIO_TIMEOUT:?} and was killed\n{output}",
            scenario.script,
            scenario.args.join(" ")
        ),
    }
    println!("{output}");
    Outcome {
        server,
        expect_file,
        output,
        _temp: temp,
    }
}

/// A stored or expected field value: a type letter (`f i u s b`) and its text.
type Field = (char, String);

/// One row: tags and non-null fields.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    tags: BTreeMap<String, String>,
    fields: BTreeMap<String, Field>,
}

fn expected_field(value: &Value) -> Field {
    let pair = value.as_array().expect("a field is [type, value]");
    let kind = pair[0].as_str().unwrap().chars().next().unwrap();
    let text = match &pair[1] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    (kind, normalise(kind, &text))
}

/// Floats compare by value (`1` and `1.0` are the same float).
fn normalise(kind: char, text: &str) -> String {
    match kind {
        'f' => format!(
            "{:?}",
            text.parse::<f64>()
                .unwrap_or_else(|_| panic!("bad float {text:?}"))
        ),
        _ => text.to_owned(),
    }
}

/// Every row of `table`, keyed by time (several rows may share a time).
fn stored_rows(data_dir: &Path, db: &str, table: &str) -> Vec<(i64, Row)> {
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
            .await;
        storage.shutdown().await.unwrap();
        let result = match result {
            Ok(result) => result,
            Err(err) => panic!("scan of {db}.{table} failed: {err}"),
        };
        let mut rows = Vec::new();
        for batch in &result.batches {
            let mut batch_rows: Vec<(i64, Row)> = (0..batch.num_rows())
                .map(|_| {
                    (
                        0,
                        Row {
                            tags: BTreeMap::new(),
                            fields: BTreeMap::new(),
                        },
                    )
                })
                .collect();
            for (column, array) in batch.schema().fields().iter().zip(batch.columns()) {
                let name = column.name().clone();
                let array: &dyn Array = array.as_ref();
                match array.data_type() {
                    DataType::Dictionary(_, _) => {
                        let strings = arrow::compute::cast(array, &DataType::Utf8).unwrap();
                        let strings = strings.as_any().downcast_ref::<StringArray>().unwrap();
                        for (i, row) in batch_rows.iter_mut().enumerate() {
                            if strings.is_valid(i) {
                                row.1.tags.insert(name.clone(), strings.value(i).to_owned());
                            }
                        }
                    }
                    DataType::Timestamp(_, _) => {
                        let times = array
                            .as_any()
                            .downcast_ref::<TimestampNanosecondArray>()
                            .expect("time is Timestamp(ns)");
                        for (i, row) in batch_rows.iter_mut().enumerate() {
                            row.0 = times.value(i);
                        }
                    }
                    other => {
                        for (i, row) in batch_rows.iter_mut().enumerate() {
                            if let Some(field) = field_at(array, other, i) {
                                row.1.fields.insert(name.clone(), field);
                            }
                        }
                    }
                }
            }
            rows.extend(batch_rows);
        }
        rows
    })
}

fn field_at(array: &dyn Array, data_type: &DataType, i: usize) -> Option<Field> {
    if array.is_null(i) {
        return None;
    }
    let any = array.as_any();
    Some(match data_type {
        DataType::Float64 => {
            let v = any.downcast_ref::<Float64Array>().unwrap().value(i);
            ('f', format!("{v:?}"))
        }
        DataType::Int64 => (
            'i',
            any.downcast_ref::<Int64Array>()
                .unwrap()
                .value(i)
                .to_string(),
        ),
        DataType::UInt64 => (
            'u',
            any.downcast_ref::<UInt64Array>()
                .unwrap()
                .value(i)
                .to_string(),
        ),
        DataType::Utf8 => (
            's',
            any.downcast_ref::<StringArray>()
                .unwrap()
                .value(i)
                .to_owned(),
        ),
        DataType::Boolean => (
            'b',
            any.downcast_ref::<BooleanArray>()
                .unwrap()
                .value(i)
                .to_string(),
        ),
        other => panic!("unexpected column type {other:?}"),
    })
}

/// `(db, table)` → the expected rows, each with its time (`None`: any time).
type Expected = BTreeMap<(String, String), Vec<(Option<i64>, Row)>>;

/// Stops the server and checks every table the scenario announced: exactly the expected
/// rows, no more, no fewer. Returns the number of rows checked.
fn verify_stored(outcome: &mut Outcome) -> usize {
    assert!(
        outcome.server.terminate().success(),
        "sluice serve exits 0 on SIGTERM"
    );
    let text = std::fs::read_to_string(&outcome.expect_file).unwrap();
    let mut expected: Expected = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let entry: Value = serde_json::from_str(line).unwrap();
        let key = (
            entry["db"].as_str().unwrap().to_owned(),
            entry["table"].as_str().unwrap().to_owned(),
        );
        let rows = expected.entry(key).or_default();
        for row in entry["rows"].as_array().unwrap() {
            let time = row[0].as_i64();
            let tags = row[1]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            let fields = row[2]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), expected_field(v)))
                .collect();
            rows.push((time, Row { tags, fields }));
        }
    }
    assert!(
        !expected.is_empty(),
        "the scenario announced no rows to check\n{}",
        outcome.output
    );
    let mut checked = 0;
    for ((db, table), want) in &expected {
        let got = stored_rows(&outcome.server.data_dir, db, table);
        let mut by_key: HashMap<(i64, BTreeMap<String, String>), &Row> = HashMap::new();
        for (time, row) in &got {
            by_key.insert((*time, row.tags.clone()), row);
        }
        let mut problems = Vec::new();
        if got.len() != want.len() {
            problems.push(format!(
                "{db}.{table}: {} rows stored, {} expected",
                got.len(),
                want.len()
            ));
        }
        for (time, row) in want {
            let found = match time {
                Some(time) => by_key.get(&(*time, row.tags.clone())).copied(),
                None => got.iter().map(|(_, r)| r).find(|r| *r == row),
            };
            match found {
                Some(stored) if stored == row => {}
                Some(stored) => problems.push(format!(
                    "{db}.{table} at {time:?}: stored {stored:?}, expected {row:?}"
                )),
                None => problems.push(format!("{db}.{table}: missing {time:?} {row:?}")),
            }
            if problems.len() > 10 {
                break;
            }
        }
        assert!(
            problems.is_empty(),
            "stored data differs:\n{}",
            problems.join("\n")
        );
        checked += want.len();
    }
    checked
}

/// The reason `test` is listed in compat/known-issues.txt, if it is.
fn known_issue(test: &str) -> Option<String> {
    let text = std::fs::read_to_string(repo_root().join("compat/known-issues.txt")).unwrap();
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('|'))
        .find(|(name, _)| name.trim() == test)
        .map(|(_, reason)| reason.trim().to_owned())
}

/// Runs a scenario against a fresh server and checks what it stored. A scenario listed in
/// compat/known-issues.txt must fail (reported as `KNOWN ISSUE`); once it passes, the test
/// fails until the line is removed.
fn scenario(test: &str, program: Program, script: &str, args: &[&str], options: Options) {
    let Some(env) = compat_env(test, program) else {
        return;
    };
    let Some(reason) = known_issue(test) else {
        run_and_verify(&env, test, program, script, args, options);
        return;
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_and_verify(&env, test, program, script, args, options);
    }));
    match result {
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            // The scenario's own complaint, so the log shows it failed as described.
            let line = message
                .lines()
                .find(|l| {
                    l.contains("Error:") || l.contains("differs") || l.contains("check failed")
                })
                .or_else(|| message.lines().next())
                .unwrap_or("");
            announce(&format!(
                "KNOWN ISSUE: compat::{test}: {reason}\n  failed with: {}",
                line.trim()
            ));
        }
        Ok(()) => panic!(
            "{test} passes but compat/known-issues.txt lists it ({reason}): the fix landed, \
             delete its line"
        ),
    }
}

fn run_and_verify(
    env: &CompatEnv,
    test: &str,
    program: Program,
    script: &str,
    args: &[&str],
    options: Options,
) {
    let mut outcome = run_scenario(
        env,
        &Scenario {
            test,
            program,
            script,
            args,
        },
        options,
    );
    let rows = verify_stored(&mut outcome);
    println!("{test}: {rows} stored rows checked");
}

// ---- Python v2 client (influxdb-client) ----

#[test]
fn python_v2_client_pings_checks_health_and_manages_buckets() {
    scenario(
        "python_v2_client_pings_checks_health_and_manages_buckets",
        Program::Python,
        "python/v2_client.py",
        &["status"],
        Options::default(),
    );
}

#[test]
fn python_v2_client_synchronous_writes_store_every_type_and_precision() {
    scenario(
        "python_v2_client_synchronous_writes_store_every_type_and_precision",
        Program::Python,
        "python/v2_client.py",
        &["sync"],
        Options::default(),
    );
}

#[test]
fn python_v2_client_deletes_by_time_range_and_predicate() {
    scenario(
        "python_v2_client_deletes_by_time_range_and_predicate",
        Program::Python,
        "python/v2_client.py",
        &["delete"],
        Options::default(),
    );
}

#[test]
fn python_v2_client_batching_writes_100000_points() {
    scenario(
        "python_v2_client_batching_writes_100000_points",
        Program::Python,
        "python/v2_client.py",
        &["batching"],
        Options::default(),
    );
}

#[test]
fn python_v2_client_retries_through_503_backpressure_and_delivers_every_point() {
    scenario(
        "python_v2_client_retries_through_503_backpressure_and_delivers_every_point",
        Program::Python,
        "python/v2_client.py",
        &["backpressure"],
        tiny_buffer(),
    );
}

/// Listed in compat/known-issues.txt until the server resolves bucket IDs in `bucket`.
#[test]
fn python_v2_client_writes_to_a_bucket_by_id() {
    scenario(
        "python_v2_client_writes_to_a_bucket_by_id",
        Program::Python,
        "python/v2_client.py",
        &["bucket_id"],
        Options::default(),
    );
}

// ---- Python v1 client (influxdb) ----

#[test]
fn python_v1_client_creates_lists_and_drops_databases() {
    scenario(
        "python_v1_client_creates_lists_and_drops_databases",
        Program::Python,
        "python/v1_client.py",
        &["databases"],
        Options::default(),
    );
}

#[test]
fn python_v1_client_write_points_stores_tags_fields_and_every_precision() {
    scenario(
        "python_v1_client_write_points_stores_tags_fields_and_every_precision",
        Program::Python,
        "python/v1_client.py",
        &["write"],
        Options::default(),
    );
}

/// Reads back through `/query` SELECT; prints SKIPPED while SELECT is not implemented.
#[test]
fn python_v1_client_query_reads_the_points_back() {
    scenario(
        "python_v1_client_query_reads_the_points_back",
        Program::Python,
        "python/v1_client.py",
        &["query"],
        Options::default(),
    );
}

// ---- Python v3 client (influxdb3-python) ----

#[test]
fn python_v3_client_writes_through_its_default_path_and_the_v2_path() {
    scenario(
        "python_v3_client_writes_through_its_default_path_and_the_v2_path",
        Program::Python,
        "python/v3_client.py",
        &["write"],
        Options::default(),
    );
}

/// Reads back over Arrow Flight; prints SKIPPED while the server has no query layer.
#[test]
fn python_v3_client_query_reads_back_over_flight_with_sql_and_influxql() {
    scenario(
        "python_v3_client_query_reads_back_over_flight_with_sql_and_influxql",
        Program::Python,
        "python/v3_client.py",
        &["query"],
        Options::default(),
    );
}

// ---- JavaScript clients ----

#[test]
fn js_v2_client_reports_health_and_refuses_a_wrong_token() {
    scenario(
        "js_v2_client_reports_health_and_refuses_a_wrong_token",
        Program::Node,
        "js/v2_client.cjs",
        &["status"],
        Options::default(),
    );
}

#[test]
fn js_v2_client_batches_gzips_flushes_and_reports_a_bad_line() {
    scenario(
        "js_v2_client_batches_gzips_flushes_and_reports_a_bad_line",
        Program::Node,
        "js/v2_client.cjs",
        &["write"],
        Options::default(),
    );
}

#[test]
fn js_v3_client_writes_line_protocol_and_points() {
    scenario(
        "js_v3_client_writes_line_protocol_and_points",
        Program::Node,
        "js/v3_client.cjs",
        &["write"],
        Options::default(),
    );
}

/// Reads back over Arrow Flight; prints SKIPPED while the server has no query layer.
#[test]
fn js_v3_client_query_reads_back_over_flight() {
    scenario(
        "js_v3_client_query_reads_back_over_flight",
        Program::Node,
        "js/v3_client.cjs",
        &["query"],
        Options::default(),
    );
}

// ---- Go clients ----

/// A server whose write buffer fills at once and drains slowly, so that writes are
/// answered 503 + `Retry-After` (as the Python backpressure scenario uses).
fn tiny_buffer() -> Options {
    Options::default()
        .arg("--max-buffer-bytes")
        .arg("256KiB")
        .arg("--persist-buffer-bytes")
        .arg("64KiB")
        .env("SLUICE_TEST_PERSIST_DELAY", "1s")
}

#[test]
fn go_v2_client_course_blocking_write_stores_the_point() {
    scenario(
        "go_v2_client_course_blocking_write_stores_the_point",
        Program::Go,
        "v2",
        &["course_blocking"],
        Options::default(),
    );
}

/// The course's code: 100,000 points at `time.Now()` over 100 series; the program
/// announces one row per distinct (series, time) it sent, since sluice keeps one row per
/// series and time (the last write wins).
#[test]
fn go_v2_client_course_batching_writes_100000_points_one_row_per_series_and_time() {
    scenario(
        "go_v2_client_course_batching_writes_100000_points_one_row_per_series_and_time",
        Program::Go,
        "v2",
        &["course_batching"],
        Options::default(),
    );
}

#[test]
fn go_v2_client_writes_every_type_and_precision_gzip_and_reports_errors() {
    scenario(
        "go_v2_client_writes_every_type_and_precision_gzip_and_reports_errors",
        Program::Go,
        "v2",
        &["writes"],
        Options::default(),
    );
}

#[test]
fn go_v2_client_retries_through_503_backpressure_and_delivers_every_point() {
    scenario(
        "go_v2_client_retries_through_503_backpressure_and_delivers_every_point",
        Program::Go,
        "v2",
        &["backpressure"],
        tiny_buffer(),
    );
}

#[test]
fn go_v2_client_pings_checks_health_and_manages_orgs_and_buckets() {
    scenario(
        "go_v2_client_pings_checks_health_and_manages_orgs_and_buckets",
        Program::Go,
        "v2",
        &["status"],
        Options::default(),
    );
}

/// Listed in compat/known-issues.txt: `QueryAPI` speaks Flux, which sluice does not.
#[test]
fn go_v2_client_query_api_reads_back_with_flux() {
    scenario(
        "go_v2_client_query_api_reads_back_with_flux",
        Program::Go,
        "v2",
        &["query"],
        Options::default(),
    );
}

#[test]
fn go_v3_client_writes_points_line_protocol_and_structs_with_options() {
    scenario(
        "go_v3_client_writes_points_line_protocol_and_structs_with_options",
        Program::Go,
        "v3",
        &["write"],
        Options::default(),
    );
}

#[test]
fn go_v3_client_queries_over_flight_with_sql_and_influxql() {
    scenario(
        "go_v3_client_queries_over_flight_with_sql_and_influxql",
        Program::Go,
        "v3",
        &["query"],
        Options::default(),
    );
}

#[test]
fn go_v1_client_writes_batches_with_precision_and_gzip() {
    scenario(
        "go_v1_client_writes_batches_with_precision_and_gzip",
        Program::Go,
        "v1",
        &["write"],
        Options::default(),
    );
}

/// `client.Query{…}` as a struct literal sends `params=null`, which means no parameters.
#[test]
fn go_v1_client_queries_with_a_struct_literal_and_in_chunks() {
    scenario(
        "go_v1_client_queries_with_a_struct_literal_and_in_chunks",
        Program::Go,
        "v1",
        &["query"],
        Options::default(),
    );
}

// ---- Java clients ----

#[test]
fn java_v2_client_course_blocking_write_stores_the_point() {
    scenario(
        "java_v2_client_course_blocking_write_stores_the_point",
        Program::Java,
        "V2Client",
        &["course"],
        Options::default(),
    );
}

#[test]
fn java_v2_client_blocking_writes_pojos_every_precision_and_a_partial_write() {
    scenario(
        "java_v2_client_blocking_writes_pojos_every_precision_and_a_partial_write",
        Program::Java,
        "V2Client",
        &["sync"],
        Options::default(),
    );
}

#[test]
fn java_v2_client_batching_write_api_reports_success_and_error_events() {
    scenario(
        "java_v2_client_batching_write_api_reports_success_and_error_events",
        Program::Java,
        "V2Client",
        &["batching"],
        Options::default(),
    );
}

#[test]
fn java_v2_client_retries_through_503_backpressure_and_reports_retriable_events() {
    scenario(
        "java_v2_client_retries_through_503_backpressure_and_reports_retriable_events",
        Program::Java,
        "V2Client",
        &["backpressure"],
        tiny_buffer(),
    );
}

#[test]
fn java_v2_client_pings_checks_health_and_manages_buckets() {
    scenario(
        "java_v2_client_pings_checks_health_and_manages_buckets",
        Program::Java,
        "V2Client",
        &["status"],
        Options::default(),
    );
}

#[test]
fn java_v3_client_writes_points_and_records_with_options() {
    scenario(
        "java_v3_client_writes_points_and_records_with_options",
        Program::Java,
        "V3Client",
        &["write"],
        Options::default(),
    );
}

#[test]
fn java_v3_client_queries_over_flight_with_sql_and_influxql() {
    scenario(
        "java_v3_client_queries_over_flight_with_sql_and_influxql",
        Program::Java,
        "V3Client",
        &["query"],
        Options::default(),
    );
}

// ---- Telegraf's output plugins, replayed ----

#[test]
fn telegraf_v1_output_creates_its_database_and_writes_gzip_chunked_with_basic_auth() {
    scenario(
        "telegraf_v1_output_creates_its_database_and_writes_gzip_chunked_with_basic_auth",
        Program::Python,
        "python/telegraf_replay.py",
        &["v1"],
        Options::default(),
    );
}

#[test]
fn telegraf_v2_output_writes_gzip_chunked_with_a_token() {
    scenario(
        "telegraf_v2_output_writes_gzip_chunked_with_a_token",
        Program::Python,
        "python/telegraf_replay.py",
        &["v2"],
        Options::default(),
    );
}

#[test]
fn telegraf_with_auth_off_sends_an_empty_token_header_that_is_ignored() {
    scenario(
        "telegraf_with_auth_off_sends_an_empty_token_header_that_is_ignored",
        Program::Python,
        "python/telegraf_replay.py",
        &["auth_off"],
        Options::default().arg("--without-auth"),
    );
}

#[test]
fn telegraf_v2_output_splits_a_batch_answered_413_until_every_half_is_accepted() {
    scenario(
        "telegraf_v2_output_splits_a_batch_answered_413_until_every_half_is_accepted",
        Program::Python,
        "python/telegraf_replay.py",
        &["split413"],
        Options::default().arg("--max-request-bytes").arg("64KiB"),
    );
}

// ---- curl examples from the documentation ----

/// A fenced `sh` block marked `<!-- test: curl -->` (or `<!-- test: curl allow-errors -->`).
#[derive(Debug)]
struct DocBlock {
    /// `FILE:LINE` of the opening fence.
    place: String,
    script: String,
    allow_errors: bool,
}

/// The marked blocks of a markdown document, in order. Every `sh`/`bash` block that runs
/// `curl` must carry a marker (`<!-- test: curl -->`, `<!-- test: curl allow-errors -->`, or
/// `<!-- test: skip REASON -->`): an unmarked one is an error, so no example goes untested
/// by accident.
fn doc_blocks(name: &str, text: &str) -> Result<Vec<DocBlock>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut blocks = Vec::new();
    let mut marker: Option<&str> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if let Some(rest) = line
            .strip_prefix("<!-- test:")
            .and_then(|r| r.strip_suffix("-->"))
        {
            marker = Some(rest.trim());
            i += 1;
            continue;
        }
        if let Some(info) = line.strip_prefix("```") {
            let fence_line = i + 1;
            let mut body = Vec::new();
            i += 1;
            while i < lines.len() && !lines[i].trim_start().starts_with("```") {
                body.push(lines[i]);
                i += 1;
            }
            i += 1; // the closing fence
            let shell = matches!(info.trim(), "sh" | "bash" | "shell");
            let script = body.join("\n");
            let runs_curl = script.split_whitespace().any(|w| w == "curl");
            match marker.take() {
                Some("curl") | Some("curl allow-errors") if !shell => {
                    return Err(format!(
                        "{name}:{fence_line}: a `test: curl` marker before a non-sh block"
                    ));
                }
                Some(kind @ ("curl" | "curl allow-errors")) => blocks.push(DocBlock {
                    place: format!("{name}:{fence_line}"),
                    script,
                    allow_errors: kind == "curl allow-errors",
                }),
                Some(kind) if kind.starts_with("skip") => {}
                Some(other) => {
                    return Err(format!(
                        "{name}:{fence_line}: unknown marker `test: {other}`"
                    ));
                }
                None if shell && runs_curl => {
                    return Err(format!(
                        "{name}:{fence_line}: a sh block runs curl without a \
                         `<!-- test: curl -->` (or `test: skip REASON`) marker"
                    ));
                }
                None => {}
            }
            continue;
        }
        if !line.is_empty() {
            marker = None;
        }
        i += 1;
    }
    Ok(blocks)
}

/// Runs `blocks` in order against one fresh server (auth on), the documented port
/// replaced by the server's address; returns each failure as text.
fn run_doc_blocks(blocks: &[DocBlock], server: &TestServer) -> Vec<String> {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_sluice")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let temp = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for block in blocks {
        let script = block
            .script
            .replace("127.0.0.1:8086", &server.address)
            .replace("localhost:8086", &server.address);
        // Unless errors are allowed, every curl must get a 2xx.
        let prelude = if block.allow_errors {
            "set -uo pipefail\n"
        } else {
            "set -euo pipefail\ncurl() { command curl --silent --show-error --fail-with-body \"$@\"; }\n"
        };
        let output = Command::new("bash")
            .arg("-c")
            .arg(format!("{prelude}{script}"))
            .current_dir(temp.path())
            .env("PATH", &path)
            .env("SLUICE_TOKEN", ADMIN)
            .env("SLUICE_HOST", server.url(""))
            .stdin(Stdio::null())
            .output()
            .expect("bash runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        println!("{}: {}\n{text}", block.place, output.status);
        if !output.status.success() {
            failures.push(format!(
                "{} exited with {}:\n{script}\n--- output\n{text}",
                block.place, output.status
            ));
        }
    }
    failures
}

/// Every `<!-- test: curl -->` block of README.md and docs/*.md, run verbatim (the
/// documented port 8086 replaced by the test server's, so that tests never collide on it).
#[test]
fn documented_curl_examples_in_readme_and_docs_run_against_a_fresh_server() {
    let root = repo_root();
    let mut documents = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .map(|dir| dir.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    docs.retain(|p| p.extension().is_some_and(|e| e == "md"));
    docs.sort();
    documents.extend(docs);
    let mut ran = 0;
    for document in &documents {
        let name = document.strip_prefix(&root).unwrap().display().to_string();
        let text = std::fs::read_to_string(document).unwrap();
        let blocks = doc_blocks(&name, &text).unwrap_or_else(|err| panic!("{err}"));
        if blocks.is_empty() {
            continue;
        }
        let server = TestServer::spawn();
        let failures = run_doc_blocks(&blocks, &server);
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));
        ran += blocks.len();
    }
    if ran == 0 {
        announce(
            "SKIPPED: compat::documented_curl_examples_in_readme_and_docs_run_against_a_fresh_server: \
             no `<!-- test: curl -->` blocks in README.md or docs/*.md yet \
             (compat/fixtures/curl_examples.md shows the form)",
        );
    }
}

#[test]
fn documented_curl_examples_runner_runs_the_fixture_and_its_writes_are_stored() {
    let root = repo_root();
    let text = std::fs::read_to_string(root.join("compat/fixtures/curl_examples.md")).unwrap();
    let blocks = doc_blocks("compat/fixtures/curl_examples.md", &text).unwrap();
    assert_eq!(blocks.len(), 9, "{blocks:#?}");
    assert_eq!(blocks.iter().filter(|b| b.allow_errors).count(), 1);
    let mut server = TestServer::spawn();
    let failures = run_doc_blocks(&blocks, &server);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(server.terminate().success());
    let dir = &server.data_dir;
    assert_eq!(
        common::stored_times(dir, "mydb", "cpu"),
        [1, 2, 1_434_055_562_000_000_000]
    );
    assert_eq!(
        common::stored_times(dir, "mybucket", "airSensors"),
        [1_630_424_257_000_000_000]
    );
    assert_eq!(
        common::stored_times(dir, "sensors", "home"),
        [1_735_545_600_000_000_000]
    );
}

#[test]
fn documented_curl_examples_runner_reports_a_failing_example() {
    let doc = "<!-- test: curl -->\n```sh\ncurl -XPOST \"http://127.0.0.1:8086/write?db=x\" \
               -H 'Authorization: Token wrong' --data-binary 'm v=1'\n```\n";
    let blocks = doc_blocks("inline.md", doc).unwrap();
    let server = TestServer::spawn();
    let failures = run_doc_blocks(&blocks, &server);
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].contains("401"), "{}", failures[0]);
}

#[test]
fn documented_curl_examples_must_be_marked() {
    let unmarked = "Write:\n\n```sh\ncurl -XPOST http://127.0.0.1:8086/write?db=x\n```\n";
    let err = doc_blocks("x.md", unmarked).unwrap_err();
    assert!(err.contains("x.md:3") && err.contains("without"), "{err}");
    let unknown = "<!-- test: curly -->\n```sh\ncurl x\n```\n";
    assert!(
        doc_blocks("x.md", unknown)
            .unwrap_err()
            .contains("unknown marker")
    );
    // A marker applies only to the block right after it (blank lines allowed).
    let stale = "<!-- test: curl -->\n\ntext\n\n```sh\ncurl x\n```\n";
    assert!(doc_blocks("x.md", stale).is_err());
    let not_sh = "```json\n{\"curl\": 1}\n```\n```sh\ncargo build\n```\n";
    assert!(doc_blocks("x.md", not_sh).unwrap().is_empty());
}
