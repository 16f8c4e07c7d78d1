//! What tables hold and which tags make their series: `Storage::table_usage` (Parquet
//! files and bytes from the manifest, buffered rows) and `Storage::cardinality` (series
//! counted once across the buffer and the files, ranked).

use std::path::Path;
use std::time::Duration;

use sluice_storage::{CardinalityRequest, Error, Storage, StorageConfig, WriteOptions};

const DAY_START: i64 = 1_704_067_200_000_000_000;

fn config(dir: &Path) -> StorageConfig {
    StorageConfig {
        data_dir: dir.to_owned(),
        background_interval: Duration::from_secs(3600),
        ..StorageConfig::default()
    }
}

async fn write(s: &Storage, db: &str, text: &str) {
    let lines: Vec<_> = sluice_lp::parse_lines(text.as_bytes())
        .map(|l| l.expect("valid line protocol"))
        .collect();
    let options = WriteOptions {
        no_sync: true,
        accept_partial: true,
    };
    let out = s.write(db, &lines, options).await.expect("write succeeds");
    assert!(out.rejected.is_empty(), "{:?}", out.rejected);
}

/// Bytes of every `.parquet` file under `dir`.
fn parquet_bytes_on_disk(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            total += parquet_bytes_on_disk(&path);
        } else if path.extension().is_some_and(|e| e == "parquet") {
            total += std::fs::metadata(&path).unwrap().len();
        }
    }
    total
}

/// `cpu`: 40 series (host h00…h39, dc 0 or 1, region eu); `mem`: 3 series (host a, b, c).
fn cpu_lines(hosts: std::ops::Range<usize>, time: i64) -> String {
    hosts
        .map(|h| format!("cpu,host=h{h:02},dc={},region=eu v={h} {time}\n", h % 2))
        .collect()
}

#[tokio::test]
async fn table_usage_counts_buffered_rows_then_the_persisted_files() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    write(&s, "db", &cpu_lines(0..40, DAY_START)).await;
    write(&s, "db", "mem,host=a used=1 1\n").await;
    write(&s, "other", "disk,host=a free=1 1\n").await;

    let before = s.table_usage("db").unwrap();
    let names: Vec<&str> = before.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["cpu", "mem"]);
    assert_eq!(before[0].buffer_rows, 40);
    assert!(before[0].buffer_bytes > 0);
    assert_eq!((before[0].parquet_files, before[0].parquet_bytes), (0, 0));

    s.persist_now().await.unwrap();
    let after = s.table_usage("db").unwrap();
    assert_eq!(after[0].parquet_rows, 40);
    assert_eq!(after[1].parquet_rows, 1);
    assert!(
        after
            .iter()
            .all(|t| t.parquet_files == 1 && t.parquet_bytes > 0)
    );
    assert!(
        after
            .iter()
            .all(|t| t.buffer_rows == 0 && t.buffer_bytes == 0)
    );
    let other = s.table_usage("other").unwrap();
    let all: u64 = after.iter().chain(&other).map(|t| t.parquet_bytes).sum();
    assert_eq!(
        all,
        parquet_bytes_on_disk(dir.path()),
        "the manifest's sizes are the files'"
    );

    assert!(matches!(
        s.table_usage("nope"),
        Err(Error::DatabaseNotFound { .. })
    ));
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn cardinality_ranks_a_known_data_set_counting_each_series_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    // Half the cpu series persisted, then all of them written again (buffered), and on
    // another day: each series is in a file and in two buffered partitions.
    write(&s, "db", &cpu_lines(0..20, DAY_START)).await;
    s.persist_now().await.unwrap();
    write(&s, "db", &cpu_lines(0..40, DAY_START + 1)).await;
    write(&s, "db", &cpu_lines(0..40, DAY_START + 86_400_000_000_000)).await;
    write(
        &s,
        "db",
        "mem,host=a u=1 1\nmem,host=b u=1 1\nmem,host=c u=1 1\n",
    )
    .await;

    let all = s
        .cardinality("db", &CardinalityRequest::default())
        .await
        .unwrap();
    assert_eq!(all.series, 43);
    assert!(!all.truncated);
    let tables: Vec<(&str, u64)> = all
        .tables
        .iter()
        .map(|t| (t.table.as_str(), t.series))
        .collect();
    assert_eq!(tables, [("cpu", 40), ("mem", 3)]);
    let keys: Vec<(&str, &str, u64, u64)> = all
        .tag_keys
        .iter()
        .map(|k| (k.table.as_str(), k.key.as_str(), k.values, k.series))
        .collect();
    assert_eq!(
        keys,
        [
            ("cpu", "host", 40, 40),
            ("mem", "host", 3, 3),
            ("cpu", "dc", 2, 40),
            ("cpu", "region", 1, 40)
        ]
    );
    let values: Vec<(&str, &str, &str, u64)> = all
        .tag_values
        .iter()
        .take(4)
        .map(|v| (v.table.as_str(), v.key.as_str(), v.value.as_str(), v.series))
        .collect();
    assert_eq!(
        values,
        [
            ("cpu", "region", "eu", 40),
            ("cpu", "dc", "0", 20),
            ("cpu", "dc", "1", 20),
            ("cpu", "host", "h00", 1)
        ]
    );
    assert_eq!(all.tag_values.len(), 10, "the default limit");

    // The same counts once everything is persisted.
    s.persist_now().await.unwrap();
    let persisted = s
        .cardinality("db", &CardinalityRequest::default())
        .await
        .unwrap();
    assert_eq!(persisted, all);

    let mem = s
        .cardinality(
            "db",
            &CardinalityRequest {
                table: Some("mem".into()),
                limit: 2,
                ..CardinalityRequest::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(mem.series, 3);
    assert_eq!(mem.tag_values.len(), 2);
    assert_eq!(mem.tag_values[0].value, "a");

    let capped = s
        .cardinality(
            "db",
            &CardinalityRequest {
                max_series: 5,
                ..CardinalityRequest::default()
            },
        )
        .await
        .unwrap();
    assert!(capped.truncated);
    assert_eq!(capped.series, 5);

    let missing = CardinalityRequest {
        table: Some("nope".into()),
        ..CardinalityRequest::default()
    };
    assert!(matches!(
        s.cardinality("db", &missing).await,
        Err(Error::TableNotFound { .. })
    ));
    assert!(matches!(
        s.cardinality("nope", &CardinalityRequest::default()).await,
        Err(Error::DatabaseNotFound { .. })
    ));
    s.shutdown().await.unwrap();
}
