//! Golden tests: scripts under `tests/golden/` write line protocol, persist, and run SQL
//! and InfluxQL queries, comparing the output to the text recorded after `----`.
//!
//! Script syntax (blocks separated by blank lines):
//!
//! ```text
//! write <db>            # then line protocol lines (timestamps in ns)
//! persist               # moves everything buffered to Parquet
//! create <db>           # creates an empty database
//! sql <db>              # then the query, then `----`, then the expected pretty table
//! influxql <db|->       # then the query, then `----`, then the expected v1 JSON
//! influxql-epoch <unit> <db|->  # the same with epoch=<unit>
//! ```
//!
//! Errors are recorded as `error: <message>`. Set `GOLDEN_BLESS=1` to rewrite the expected
//! outputs from what the engine answers (then review the diff by hand).

use std::path::Path;

use sluice_query::QueryEngine;
use sluice_query::format::{self, Epoch, Format};
use sluice_storage::sluice_lp::{ParseOptions, Parser};
use sluice_storage::{Storage, StorageConfig, WalSync, WriteOptions};

async fn open(dir: &Path) -> Storage {
    Storage::open(StorageConfig {
        data_dir: dir.to_owned(),
        wal_sync: WalSync::None,
        ..StorageConfig::default()
    })
    .await
    .expect("open storage")
}

async fn write(storage: &Storage, db: &str, text: &str) {
    let lines: Vec<_> = Parser::new(text.as_bytes(), ParseOptions::default())
        .map(|l| l.expect("valid line protocol"))
        .collect();
    let outcome = storage
        .write(db, &lines, WriteOptions::default())
        .await
        .expect("write");
    assert!(outcome.rejected.is_empty(), "{:?}", outcome.rejected);
}

async fn run(engine: &QueryEngine, kind: &str, query: &str) -> String {
    let mut words = kind.split_whitespace();
    let verb = words.next().unwrap_or_default();
    match verb {
        "sql" => {
            let db = words.next().expect("sql needs a database");
            match engine.sql(db, query, None).await {
                Ok(out) => String::from_utf8(format::encode(&out, Format::Pretty, None).unwrap())
                    .unwrap()
                    .trim_end()
                    .to_owned(),
                Err(e) => format!("error: {e}"),
            }
        }
        "influxql" | "influxql-epoch" => {
            let epoch = if verb == "influxql-epoch" {
                words.next().expect("epoch unit").parse().expect("epoch")
            } else {
                Epoch::Rfc3339
            };
            let db = words.next().expect("influxql needs a database or -");
            let db = (db != "-").then_some(db);
            match engine.influxql(db, query, None).await {
                Ok(results) => format::v1_json(&results, epoch),
                Err(e) => format!("error: {e}"),
            }
        }
        other => panic!("unknown query kind {other:?}"),
    }
}

async fn run_script(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path()).await;
    let engine = QueryEngine::new(storage.clone());
    let bless = std::env::var_os("GOLDEN_BLESS").is_some();
    let mut out = String::new();
    let mut failures = Vec::new();
    for block in text.split("\n\n") {
        let block = block.trim_matches('\n');
        if block.is_empty() {
            continue;
        }
        // Comments before a directive are kept as they are.
        let mut lines = block.lines().peekable();
        let mut head = String::new();
        while let Some(l) = lines.peek()
            && l.starts_with('#')
        {
            head.push_str(l);
            head.push('\n');
            lines.next();
        }
        let Some(directive) = lines.next() else {
            out.push_str(block);
            out.push_str("\n\n");
            continue;
        };
        let rest: Vec<&str> = lines.collect();
        out.push_str(&head);
        out.push_str(directive);
        out.push('\n');
        let verb = directive.split_whitespace().next().unwrap_or_default();
        match verb {
            "write" => {
                let db = directive
                    .split_whitespace()
                    .nth(1)
                    .expect("write needs a db");
                write(&storage, db, &rest.join("\n")).await;
                for l in &rest {
                    out.push_str(l);
                    out.push('\n');
                }
            }
            "persist" => storage.persist_now().await.unwrap(),
            "create" => {
                let db = directive
                    .split_whitespace()
                    .nth(1)
                    .expect("create needs a db");
                storage.create_database(db, None).unwrap();
            }
            _ => {
                let sep = rest
                    .iter()
                    .position(|l| *l == "----")
                    .unwrap_or_else(|| panic!("{}: no ---- after {directive}", path.display()));
                let query = rest[..sep].join("\n");
                let expected = rest[sep + 1..].join("\n");
                let actual = run(&engine, directive, &query).await;
                if actual != expected {
                    failures.push(format!(
                        "{directive}\n{query}\n--- expected\n{expected}\n--- actual\n{actual}\n"
                    ));
                }
                out.push_str(&query);
                out.push_str("\n----\n");
                out.push_str(&actual);
                out.push('\n');
            }
        }
        out.push('\n');
    }
    storage.shutdown().await.unwrap();
    if bless {
        std::fs::write(path, out.trim_end().to_owned() + "\n").unwrap();
    } else if !failures.is_empty() {
        panic!(
            "{}: {} mismatches\n{}",
            path.display(),
            failures.len(),
            failures.join("\n")
        );
    }
}

macro_rules! golden {
    ($name:ident, $file:literal) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            run_script(
                &Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/golden")
                    .join($file),
            )
            .await;
        }
    };
}

golden!(
    sql_queries_read_buffered_persisted_and_overwritten_points,
    "sql.txt"
);
golden!(influxql_queries_answer_as_influxdb_1x_does, "influxql.txt");
golden!(
    influxql_deletes_remove_points_series_and_measurements,
    "influxql_delete.txt"
);
