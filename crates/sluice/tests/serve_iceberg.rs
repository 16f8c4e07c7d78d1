//! `sluice serve --iceberg-catalog-url`: every table published as an Apache Iceberg
//! table in an Iceberg SQL catalog on a real PostgreSQL (Debian's, a throwaway cluster),
//! then read back by other engines — PyIceberg's scan and DuckDB over the Parquet files
//! the Iceberg table lists (pinned, installed by scripts/iceberg-deps.sh) — and compared
//! with sluice's own answer, through persistence, compaction, a new column, a delete, a
//! dropped table and a restart; tables in an S3 bucket (s3s-fs, PyIceberg only: DuckDB
//! would download its S3 extension); and a catalog that is down fails no write.
//!
//! Skipped (printing why) when PostgreSQL or the Python packages are missing, unless
//! `SLUICE_COMPAT_REQUIRED=1` (set by scripts/test.sh), where it fails.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::postgres::Postgres;
use common::s3::{ACCESS_KEY, BUCKET, S3Server, SECRET_KEY, node_options, s3s_fs};
use common::{Options, TestServer, wait_until};
use serde_json::Value;

/// The Python with PyIceberg and DuckDB, or `None` (skipped) when it is missing and the
/// suite does not require it.
fn python(test: &str) -> Option<PathBuf> {
    let dir = match std::env::var_os("SLUICE_ICEBERG_ENV") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/var/tmp/sluice-target"))
            .join("iceberg-env"),
    };
    let python = dir.join("venv/bin/python");
    let ready = python.is_file()
        && Command::new(&python)
            .args(["-c", "import pyiceberg, duckdb, psycopg2"])
            .output()
            .is_ok_and(|o| o.status.success());
    if ready {
        return Some(python);
    }
    skip_or_fail(
        test,
        &format!(
            "PyIceberg and DuckDB are not installed in {}: run scripts/iceberg-deps.sh",
            dir.display()
        ),
    );
    None
}

fn skip_or_fail(test: &str, reason: &str) {
    let required = std::env::var("SLUICE_COMPAT_REQUIRED").is_ok_and(|v| v == "1");
    assert!(!required, "{test}: {reason}");
    eprintln!("SKIPPED: serve_iceberg::{test}: {reason}");
}

fn postgres(test: &str, dir: &Path) -> Option<Postgres> {
    let pg = Postgres::start(dir);
    if pg.is_none() {
        skip_or_fail(
            test,
            "PostgreSQL is not installed: run scripts/agent-services.sh",
        );
    }
    pg
}

fn sluice(data_dir: &Path, catalog_url: &str) -> TestServer {
    TestServer::start(
        Options::default()
            .arg("--without-auth")
            .arg("--persist-buffer-bytes")
            .arg("1")
            .arg("--iceberg-catalog-url")
            .arg(catalog_url)
            .data_dir(data_dir),
    )
}

fn write(server: &TestServer, lines: &str) {
    let reply = server.post(
        "/api/v2/write?bucket=ice&precision=ns",
        &[],
        lines.as_bytes(),
    );
    assert_eq!(reply.status, 204, "{}", reply.body);
}

fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.*".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A row with its null columns left out and every number as an f64, so that the three
/// readers' rows compare equal when their values do.
type Row = BTreeMap<String, Value>;

fn normalize(row: &Value) -> Row {
    row.as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            let v = match v.as_f64() {
                Some(n) => Value::from(n),
                None => v.clone(),
            };
            (k.clone(), v)
        })
        .collect()
}

fn sorted(rows: &[Value]) -> Vec<Row> {
    let mut rows: Vec<Row> = rows.iter().map(normalize).collect();
    rows.sort_by(|a, b| {
        let key = |r: &Row| (r["time"].as_f64().unwrap() as i64, r.get("host").cloned());
        key(a)
            .0
            .cmp(&key(b).0)
            .then_with(|| format!("{:?}", key(a).1).cmp(&format!("{:?}", key(b).1)))
    });
    rows
}

/// Sluice's rows of `table`, `time` in microseconds since the epoch like the readers'.
fn sluice_rows(server: &TestServer, table: &str) -> Vec<Row> {
    let q = format!("SELECT * EXCLUDE (time), CAST(time AS BIGINT) / 1000 AS time FROM {table}");
    let reply = server.get(
        &format!("/api/v3/query_sql?db=ice&format=json&q={}", enc(&q)),
        &[],
    );
    assert_eq!(reply.status, 200, "{q}: {}", reply.body);
    sorted(reply.json().as_array().unwrap())
}

/// What PyIceberg and DuckDB read of `tables`, by table.
fn read_iceberg(python: &Path, pg: &Postgres, tables: &[&str]) -> BTreeMap<String, Value> {
    read_iceberg_with(python, pg, tables, "{}")
}

/// [`read_iceberg`] with PyIceberg FileIO `properties` (JSON).
fn read_iceberg_with(
    python: &Path,
    pg: &Postgres,
    tables: &[&str],
    properties: &str,
) -> BTreeMap<String, Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/iceberg/read.py");
    let uri = pg.url().replace("postgres://", "postgresql+psycopg2://");
    let run = || {
        Command::new(python)
            .arg(&script)
            .args([uri.as_str(), "sluice", "ice"])
            .args(tables)
            .env("SLUICE_ICEBERG_PROPERTIES", properties)
            .output()
            .unwrap()
    };
    // A read that began from the snapshot before a commit can find that snapshot's
    // files gone (docs/iceberg.md: sluice expires snapshots at once, as other writers
    // may): it is read again from the new one.
    let mut out = run();
    for _ in 0..3 {
        let raced = String::from_utf8_lossy(&out.stderr).contains("FileNotFoundError");
        if out.status.success() || !raced {
            break;
        }
        out = run();
    }
    assert!(
        out.status.success(),
        "read.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            (v["table"].as_str().unwrap().to_owned(), v)
        })
        .collect()
}

/// The live files of `table` in sluice's manifest.
fn manifest_files(data_dir: &Path, table: &str) -> usize {
    let path = data_dir.join("catalog/manifest.json");
    let Ok(text) = std::fs::read_to_string(path) else {
        return 0;
    };
    let manifest: Value = serde_json::from_str(&text).unwrap();
    manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["table"] == table)
        .count()
}

/// The id the next Parquet file will get: it grows with every file written.
fn next_file_id(data_dir: &Path) -> u64 {
    std::fs::read_to_string(data_dir.join("catalog/manifest.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|m| m["next_file_id"].as_u64())
        .unwrap_or(0)
}

/// `total-data-files` of the current snapshot of `ice.table`.
fn iceberg_files(root: &Path, table: &str) -> Option<usize> {
    current_summary(root, table)?["total-data-files"]
        .as_str()?
        .parse()
        .ok()
}

/// The summary of the current snapshot of `ice.table` in its newest metadata file under
/// `root` (the directory holding the `iceberg/` of the object store), if it has one.
fn current_summary(root: &Path, table: &str) -> Option<Value> {
    let dir = root.join(format!("iceberg/ice/{table}/metadata"));
    let newest = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".metadata.json"))
        .max()?;
    let text = std::fs::read_to_string(dir.join(newest)).ok()?;
    let metadata: Value = serde_json::from_str(&text).ok()?;
    let current = metadata["current-snapshot-id"].as_i64()?;
    let snapshot = metadata["snapshots"]
        .as_array()?
        .iter()
        .find(|s| s["snapshot-id"].as_i64() == Some(current))?;
    Some(snapshot["summary"].clone())
}

/// `total-records` of the current snapshot of `ice.table`.
fn iceberg_records(root: &Path, table: &str) -> Option<u64> {
    current_summary(root, table)?["total-records"]
        .as_str()?
        .parse()
        .ok()
}

fn influxql(server: &TestServer, q: &str) {
    let reply = server.post(&format!("/query?db=ice&q={}", enc(q)), &[], b"");
    assert_eq!(reply.status, 200, "{q}: {}", reply.body);
    assert!(!reply.body.contains("\"error\""), "{q}: {}", reply.body);
}

/// Waits until the Iceberg table `table` (its metadata under `root`) lists as many files
/// as sluice's manifest in `data_dir` (at least `min_files`).
fn wait_published(data_dir: &Path, root: &Path, table: &str, min_files: usize) {
    wait_until(
        &format!("{table} is persisted and published to the Iceberg catalog"),
        Duration::from_secs(60),
        || {
            let live = manifest_files(data_dir, table);
            live >= min_files && iceberg_files(root, table) == Some(live)
        },
    );
}

/// The Parquet files under the local object store's `dbs/`.
fn parquet_files_on_disk(data_dir: &Path) -> usize {
    common::parquet_files_under(&data_dir.join("objects/dbs"))
}

/// Checks that PyIceberg's scan and DuckDB's read of the listed files both return
/// exactly sluice's rows for each table.
fn assert_readers_agree(
    python: &Path,
    pg: &Postgres,
    server: &TestServer,
    tables: &[&str],
) -> BTreeMap<String, Value> {
    assert_readers_agree_with(python, pg, server, tables, "{}")
}

/// [`assert_readers_agree`] with PyIceberg FileIO `properties`; DuckDB's rows are
/// checked when it read the files (local ones).
fn assert_readers_agree_with(
    python: &Path,
    pg: &Postgres,
    server: &TestServer,
    tables: &[&str],
    properties: &str,
) -> BTreeMap<String, Value> {
    let read = read_iceberg_with(python, pg, tables, properties);
    for table in tables {
        let expected = sluice_rows(server, table);
        let got = &read[*table];
        let iceberg = sorted(got["iceberg"].as_array().unwrap());
        assert_eq!(iceberg, expected, "PyIceberg's rows of {table}");
        if let Some(duckdb) = got["duckdb"].as_array() {
            assert_eq!(sorted(duckdb), expected, "DuckDB's rows of {table}");
        }
    }
    read
}

/// Nanoseconds of 2023-11-14, a whole number of microseconds apart.
const T0: i64 = 1_700_000_000_000_000_000;

#[test]
fn other_engines_read_every_row_once_through_persistence_compaction_and_new_columns() {
    let test = "other_engines_read_every_row_once_through_persistence_compaction_and_new_columns";
    let Some(python) = python(test) else { return };
    let temp = tempfile::tempdir().unwrap();
    let Some(pg) = postgres(test, temp.path()) else {
        return;
    };
    let data = temp.path().join("data");
    let objects = data.join("objects");
    let server = sluice(&data, &pg.url());

    // Every column type sluice has: tags, floats, integers, unsigned, booleans, strings.
    write(
        &server,
        &format!(
            "cpu,host=a,region=eu usage=0.5,count=3i,ok=true,note=\"hello\",big=42u {}\n\
             cpu,host=b usage=1.25,count=-7i,ok=false,note=\"w\u{f6}rld, \\\"q\\\"\" {}\n\
             mem,host=a free=1024i,used=0.25 {}\n",
            T0 + 1_000,
            // Below a microsecond: readers see it truncated, like sluice's answer here.
            T0 + 2_345,
            T0 + 1_000
        ),
    );
    wait_published(&data, &objects, "cpu", 1);
    wait_published(&data, &objects, "mem", 1);
    let read = assert_readers_agree(&python, &pg, &server, &["cpu", "mem"]);
    let schema = &read["cpu"]["schema"];
    for (column, kind) in [
        ("host", "string"),
        ("region", "string"),
        ("usage", "double"),
        ("count", "long"),
        ("ok", "boolean"),
        ("note", "string"),
        ("big", "long"),
        ("time", "timestamp"),
    ] {
        assert_eq!(schema[column], kind, "{column} in {schema}");
    }
    assert_eq!(read["cpu"]["iceberg"].as_array().unwrap().len(), 2);

    // Nine more files of the same day: the ninth makes sluice compact them (eight is the
    // most a partition keeps). One rewrites a point, which compaction keeps once, with
    // its newest value.
    let files_before = manifest_files(&data, "cpu");
    for i in 0..9 {
        let line = if i == 4 {
            format!(
                "cpu,host=a,region=eu usage=9.5,count=4i,ok=false,note=\"again\",big=43u {}",
                T0 + 1_000
            )
        } else {
            format!(
                "cpu,host=c usage={i}.5,count={i}i {}",
                T0 + 10_000 * (i + 1)
            )
        };
        let next_id = next_file_id(&data);
        write(&server, &line);
        wait_until("the write is persisted", Duration::from_secs(60), || {
            next_file_id(&data) > next_id
        });
    }
    wait_until("sluice compacted cpu", Duration::from_secs(60), || {
        manifest_files(&data, "cpu") < files_before + 9
    });
    wait_published(&data, &objects, "cpu", 1);
    let read = assert_readers_agree(&python, &pg, &server, &["cpu", "mem"]);
    let rows = read["cpu"]["iceberg"].as_array().unwrap();
    assert_eq!(rows.len(), 2 + 8, "every row once: {rows:?}");
    let rewritten: Vec<_> = rows
        .iter()
        .filter(|r| r["host"] == "a" && r["time"] == (T0 + 1_000) / 1_000)
        .collect();
    assert_eq!(rewritten.len(), 1, "{rewritten:?}");
    assert_eq!(rewritten[0]["usage"], 9.5);
    // The compacted-away files are deleted once the Iceberg table no longer lists them.
    wait_until(
        "the compacted files are deleted",
        Duration::from_secs(60),
        || {
            parquet_files_on_disk(&data)
                == manifest_files(&data, "cpu") + manifest_files(&data, "mem")
        },
    );

    // A new column: the Iceberg table's schema evolves, and older rows read it as null.
    let files = manifest_files(&data, "cpu");
    write(
        &server,
        &format!("cpu,host=d usage=2.0,temp=21.5 {}", T0 + 1_000_000),
    );
    wait_published(&data, &objects, "cpu", files + 1);
    let read = assert_readers_agree(&python, &pg, &server, &["cpu", "mem"]);
    assert_eq!(read["cpu"]["schema"]["temp"], "double");
    let rows = read["cpu"]["iceberg"].as_array().unwrap();
    assert_eq!(rows.len(), 2 + 8 + 1);
    assert_eq!(rows.iter().filter(|r| !r["temp"].is_null()).count(), 1);

    // A delete rewrites the files holding the rows: the next snapshot no longer has them.
    influxql(&server, "DELETE FROM cpu WHERE host = 'c'");
    let left = sluice_rows(&server, "cpu").len();
    assert_eq!(left, 2 + 1);
    wait_until("the delete is published", Duration::from_secs(60), || {
        iceberg_records(&objects, "cpu") == Some(left as u64)
    });
    assert_readers_agree(&python, &pg, &server, &["cpu", "mem"]);

    // A dropped table leaves the catalog.
    influxql(&server, "DROP MEASUREMENT mem");
    wait_until(
        "mem is dropped from the catalog",
        Duration::from_secs(60),
        || read_iceberg(&python, &pg, &[])[""]["tables"] == serde_json::json!(["cpu"]),
    );

    // After a restart the publisher takes up the tables as the catalog has them.
    drop(server);
    let server = sluice(&data, &pg.url());
    let files = manifest_files(&data, "cpu");
    write(&server, &format!("cpu,host=e usage=3.0 {}", T0 + 2_000_000));
    wait_published(&data, &objects, "cpu", files + 1);
    let read = assert_readers_agree(&python, &pg, &server, &["cpu"]);
    assert_eq!(read["cpu"]["iceberg"].as_array().unwrap().len(), left + 1);

    // Over more than a dozen commits the metadata stays small: the current snapshot's
    // manifest list and manifest, and the newest metadata files.
    let names: Vec<String> = std::fs::read_dir(objects.join("iceberg/ice/cpu/metadata"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let json = names
        .iter()
        .filter(|n| n.ends_with(".metadata.json"))
        .count();
    let avro = names.iter().filter(|n| n.ends_with(".avro")).count();
    assert!((2..=11).contains(&json), "{names:?}");
    assert_eq!(avro, 2, "{names:?}");
}

#[test]
fn a_catalog_that_is_down_fails_no_write_and_shows_in_health_and_metrics() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    // Nothing listens on port 1.
    let server = sluice(&data, "postgres://postgres@127.0.0.1:1/postgres");
    write(&server, &format!("cpu,host=a usage=1 {T0}"));
    wait_until("the write is persisted", Duration::from_secs(60), || {
        manifest_files(&data, "cpu") == 1
    });
    wait_until(
        "/health reports the catalog",
        Duration::from_secs(60),
        || {
            let health = server.get("/health", &[]);
            health.status == 200
                && health.body.contains("storage.publisher")
                && health.json()["status"] == "pass"
        },
    );
    let health = server.get("/health", &[]).json();
    let check = health["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "storage.publisher")
        .unwrap()
        .clone();
    assert_eq!(check["status"], "warn", "{health}");
    assert!(
        check["message"]
            .as_str()
            .unwrap()
            .contains("Iceberg catalog"),
        "{check}"
    );
    let metrics = server.get("/metrics", &[]).body;
    let failures = metrics
        .lines()
        .find_map(|l| l.strip_prefix("sluice_iceberg_failures_total "))
        .expect("the failure counter is exported");
    assert!(failures.parse::<u64>().unwrap() >= 1, "{metrics}");
    // Writes and sluice's own queries go on.
    write(&server, &format!("cpu,host=b usage=2 {}", T0 + 1_000));
    assert_eq!(sluice_rows(&server, "cpu").len(), 2);
}

#[test]
fn tables_in_a_bucket_are_published_with_their_metadata_beside_them() {
    let test = "tables_in_a_bucket_are_published_with_their_metadata_beside_them";
    let Some(binary) = s3s_fs() else { return };
    let Some(python) = python(test) else { return };
    let temp = tempfile::tempdir().unwrap();
    let Some(pg) = postgres(test, temp.path()) else {
        return;
    };
    let s3 = S3Server::start(binary, &temp.path().join("s3"));
    let data = temp.path().join("data");
    let server = TestServer::start(
        node_options(&s3, &data, "n1")
            .arg("--without-auth")
            .arg("--iceberg-catalog-url")
            .arg(&pg.url()),
    );
    // The metadata goes under the node's prefix in the bucket, beside its files.
    let root = s3.root.join(BUCKET).join("n1");
    write(
        &server,
        &format!(
            "cpu,host=a usage=0.5,count=3i,ok=true,note=\"x\" {}\ncpu,host=b usage=1.5 {}\n",
            T0 + 1_000,
            T0 + 2_000
        ),
    );
    wait_published(&data, &root, "cpu", 1);
    let properties = serde_json::json!({
        "s3.endpoint": s3.endpoint(),
        "s3.access-key-id": ACCESS_KEY,
        "s3.secret-access-key": SECRET_KEY,
        "s3.region": "us-east-1",
    })
    .to_string();
    let read = assert_readers_agree_with(&python, &pg, &server, &["cpu"], &properties);
    assert_eq!(read["cpu"]["iceberg"].as_array().unwrap().len(), 2);
    let files = manifest_files(&data, "cpu");
    write(
        &server,
        &format!("cpu,host=c usage=2.5,temp=20.5 {}", T0 + 3_000),
    );
    wait_published(&data, &root, "cpu", files + 1);
    let read = assert_readers_agree_with(&python, &pg, &server, &["cpu"], &properties);
    assert_eq!(read["cpu"]["schema"]["temp"], "double");
    assert_eq!(read["cpu"]["iceberg"].as_array().unwrap().len(), 3);
}

#[test]
fn a_catalog_that_comes_back_gets_every_table_and_the_files_held_for_it_go() {
    let test = "a_catalog_that_comes_back_gets_every_table_and_the_files_held_for_it_go";
    let Some(python) = python(test) else { return };
    let temp = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = temp.path().join("data");
    let objects = data.join("objects");
    // The catalog's database is not there yet.
    let server = sluice(
        &data,
        &format!("postgres://postgres@127.0.0.1:{port}/postgres"),
    );
    // Nine files of one day: sluice compacts them, but keeps the inputs on disk while
    // the catalog cannot be told.
    for i in 0..9 {
        let next_id = next_file_id(&data);
        write(&server, &format!("cpu,host=h{i} v={i} {}", T0 + i));
        wait_until("the write is persisted", Duration::from_secs(60), || {
            next_file_id(&data) > next_id
        });
    }
    wait_until("sluice compacted cpu", Duration::from_secs(60), || {
        manifest_files(&data, "cpu") < 9
    });
    let live = manifest_files(&data, "cpu");
    assert!(
        parquet_files_on_disk(&data) >= live + 9,
        "the compacted files are held"
    );
    // (The catalog's connection pool tries for a while before it reports a failure.)
    wait_until(
        "/health reports the catalog",
        Duration::from_secs(60),
        || {
            server
                .get("/health", &[])
                .body
                .contains("storage.publisher")
        },
    );

    let Some(pg) = Postgres::start_on(temp.path(), port) else {
        skip_or_fail(
            test,
            "PostgreSQL is not installed: run scripts/agent-services.sh",
        );
        return;
    };
    wait_published(&data, &objects, "cpu", 1);
    assert_readers_agree(&python, &pg, &server, &["cpu"]);
    wait_until(
        "the held files are deleted and /health passes",
        Duration::from_secs(60),
        || {
            parquet_files_on_disk(&data) == manifest_files(&data, "cpu")
                && !server
                    .get("/health", &[])
                    .body
                    .contains("storage.publisher")
        },
    );
}

#[test]
fn a_start_that_cannot_publish_stops_with_a_clear_error() {
    let temp = tempfile::tempdir().unwrap();
    for (args, expected) in [
        (
            &["--object-store", "memory"][..],
            "need an object store other programs can read",
        ),
        (
            &["--mode", "query"][..],
            "--iceberg-catalog-url needs a node that ingests",
        ),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["serve", "--bind", "127.0.0.1:0", "--without-auth"])
            .arg("--data-dir")
            .arg(temp.path().join("data"))
            .args(args)
            .env_clear()
            .env(
                "SLUICE_ICEBERG_CATALOG_URL",
                "postgres://postgres@127.0.0.1:1/postgres",
            )
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn ingest_nodes_of_a_bucket_publish_one_iceberg_table_with_every_nodes_rows() {
    let test = "ingest_nodes_of_a_bucket_publish_one_iceberg_table_with_every_nodes_rows";
    let Some(binary) = s3s_fs() else { return };
    let Some(python) = python(test) else { return };
    let temp = tempfile::tempdir().unwrap();
    let Some(pg) = postgres(test, temp.path()) else {
        return;
    };
    let s3 = S3Server::start(binary, &temp.path().join("s3"));
    let node = |id: &str| {
        TestServer::start(
            node_options(&s3, &temp.path().join(id), id)
                .arg("--without-auth")
                .arg("--iceberg-catalog-url")
                .arg(&pg.url()),
        )
    };
    let (n1, n2) = (node("n1"), node("n2"));
    let properties = serde_json::json!({
        "s3.endpoint": s3.endpoint(),
        "s3.access-key-id": ACCESS_KEY,
        "s3.secret-access-key": SECRET_KEY,
        "s3.region": "us-east-1",
    })
    .to_string();
    // The rows of both nodes, as each answers for its own.
    let every_row = |nodes: &[&TestServer]| {
        let rows: Vec<Value> = nodes
            .iter()
            .flat_map(|n| sluice_rows(n, "cpu"))
            .map(|r| serde_json::to_value(r).unwrap())
            .collect();
        sorted(&rows)
    };
    let iceberg_rows = || {
        let read = read_iceberg_with(&python, &pg, &["cpu"], &properties);
        sorted(read["cpu"]["iceberg"].as_array().unwrap())
    };
    write(&n1, &format!("cpu,host=a usage=0.5 {}", T0 + 1_000));
    write(
        &n2,
        &format!("cpu,host=b usage=1.5,temp=20.5 {}", T0 + 2_000),
    );
    wait_until(
        "the Iceberg table holds both nodes' rows",
        Duration::from_secs(60),
        || iceberg_rows().len() == 2,
    );
    assert_eq!(iceberg_rows(), every_row(&[&n1, &n2]));

    // A new file of one node leaves the other's listed.
    write(&n1, &format!("cpu,host=c usage=2.5 {}", T0 + 3_000));
    wait_until(
        "the Iceberg table holds n1's new row",
        Duration::from_secs(60),
        || iceberg_rows().len() == 3,
    );
    assert_eq!(iceberg_rows(), every_row(&[&n1, &n2]));
}
