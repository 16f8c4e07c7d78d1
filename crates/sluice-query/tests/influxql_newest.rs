//! `ORDER BY time DESC LIMIT n` reads only the newest points of each series from storage:
//! answers must equal a full read, across buffer and Parquet, with null-only points.

use sluice_query::{QueryEngine, Value};
use sluice_storage::sluice_lp::{ParseOptions, Parser};
use sluice_storage::{Storage, StorageConfig, WalSync, WriteOptions};

async fn write(storage: &Storage, text: &str) {
    let lines: Vec<_> = Parser::new(text.as_bytes(), ParseOptions::default())
        .map(|l| l.unwrap())
        .collect();
    storage
        .write("db", &lines, WriteOptions::default())
        .await
        .unwrap();
}

async fn times(engine: &QueryEngine, q: &str) -> Vec<(Vec<(String, String)>, Vec<Vec<Value>>)> {
    let res = engine.influxql(Some("db"), q, None).await.unwrap();
    assert_eq!(res[0].error, None, "{q}");
    res[0]
        .series
        .iter()
        .map(|s| (s.tags.clone(), s.values.clone()))
        .collect()
}

#[tokio::test]
async fn newest_points_per_group_match_across_buffer_and_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(StorageConfig {
        data_dir: dir.path().to_owned(),
        wal_sync: WalSync::None,
        ..StorageConfig::default()
    })
    .await
    .unwrap();
    write(
        &storage,
        "cpu,host=a,dc=x a=1,b=1 10\ncpu,host=a,dc=x a=2 20\ncpu,host=b,dc=x a=3 15\ncpu,host=b,dc=y a=4 30\n",
    )
    .await;
    storage.persist_now().await.unwrap();
    // Newer points in the buffer, one overwriting a persisted point.
    write(&storage, "cpu,host=a,dc=x a=5 20\ncpu,host=b,dc=x a=6 25\n").await;
    let engine = QueryEngine::new(storage.clone());
    let got = times(
        &engine,
        "SELECT a FROM cpu GROUP BY host ORDER BY time DESC LIMIT 2",
    )
    .await;
    let t = |n| Value::Time(n);
    assert_eq!(
        got,
        vec![
            (
                vec![("host".into(), "a".into())],
                vec![
                    vec![t(20), Value::Float(5.0)],
                    vec![t(10), Value::Float(1.0)]
                ]
            ),
            (
                vec![("host".into(), "b".into())],
                vec![
                    vec![t(30), Value::Float(4.0)],
                    vec![t(25), Value::Float(6.0)]
                ]
            ),
        ]
    );
    let got = times(
        &engine,
        "SELECT a FROM cpu ORDER BY time DESC LIMIT 1 OFFSET 1",
    )
    .await;
    assert_eq!(got[0].1, vec![vec![t(25), Value::Float(6.0)]]);
    storage.shutdown().await.unwrap();
}

#[tokio::test]
async fn points_with_only_null_selected_values_do_not_hide_older_points() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(StorageConfig {
        data_dir: dir.path().to_owned(),
        wal_sync: WalSync::None,
        ..StorageConfig::default()
    })
    .await
    .unwrap();
    // The newest two points of host a have no `a`.
    write(
        &storage,
        "cpu,host=a a=1 10\ncpu,host=a a=2 20\ncpu,host=a b=1 30\ncpu,host=a b=2 40\n",
    )
    .await;
    let engine = QueryEngine::new(storage.clone());
    let got = times(&engine, "SELECT a FROM cpu ORDER BY time DESC LIMIT 1").await;
    assert_eq!(got[0].1, vec![vec![Value::Time(20), Value::Float(2.0)]]);
    storage.shutdown().await.unwrap();
}
