//! `ORDER BY time DESC LIMIT n` reads only the newest points of each series from storage:
//! answers must equal a full read, across buffer and Parquet, with null-only points.

use sluice_query::{QueryEngine, Value};

mod common;

use common::{open, write};

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
    let storage = open(dir.path()).await;
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
    // Series in descending tag order too, as InfluxDB 1.x lists them under DESC.
    assert_eq!(
        got,
        vec![
            (
                vec![("host".into(), "b".into())],
                vec![
                    vec![t(30), Value::Float(4.0)],
                    vec![t(25), Value::Float(6.0)]
                ]
            ),
            (
                vec![("host".into(), "a".into())],
                vec![
                    vec![t(20), Value::Float(5.0)],
                    vec![t(10), Value::Float(1.0)]
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
    let storage = open(dir.path()).await;
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

/// `GROUP BY time` with a limit reads only the buckets the limit keeps: every answer
/// must equal the unlimited query cut by hand, including buckets without points.
#[tokio::test]
async fn limited_time_buckets_match_the_unlimited_answer_cut_to_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path()).await;
    // Points every 20 s over minutes 0..6 for two hosts, none in minutes 6..10.
    let mut text = String::new();
    for i in 0..18i64 {
        let t = 1_451_606_400_000_000_000 + i * 20_000_000_000;
        text.push_str(&format!("cpu,host=a u={} {t}\n", (i * 7) % 11));
        text.push_str(&format!("cpu,host=b u={}.5 {t}\n", (i * 5) % 13));
    }
    write(&storage, &text).await;
    storage.persist_now().await.unwrap();
    write(&storage, "cpu,host=a u=100 1451606700000000000\n").await;
    let engine = QueryEngine::new(storage.clone());
    let range = "time >= '2016-01-01T00:00:00Z' AND time < '2016-01-01T00:10:00Z'";
    let cases = [
        ("max(u)", "", "DESC", 3, 0),
        ("max(u)", "", "DESC", 2, 3),
        ("mean(u)", "", "DESC", 5, 0),
        ("count(u)", "", "ASC", 2, 1),
        ("sum(u)", "fill(0)", "DESC", 6, 0),
        ("max(u)", "fill(none)", "DESC", 2, 0),
        ("max(u)", "", "DESC", 12, 0),
        ("max(u)", "WHERE_HOST", "DESC", 3, 0),
    ];
    for (call, extra, order, limit, offset) in cases {
        let (cond, fill) = if extra == "WHERE_HOST" {
            (format!("host = 'b' AND {range}"), "")
        } else {
            (range.to_owned(), extra)
        };
        let base = format!(
            "SELECT {call} FROM cpu WHERE {cond} GROUP BY time(1m) {fill} ORDER BY time {order}"
        );
        let full = times(&engine, &base).await;
        let limited = times(&engine, &format!("{base} LIMIT {limit} OFFSET {offset}")).await;
        let expected: Vec<Vec<Value>> =
            full[0].1.iter().skip(offset).take(limit).cloned().collect();
        if expected.is_empty() {
            assert!(limited.is_empty(), "{base}");
        } else {
            assert_eq!(
                limited[0].1, expected,
                "{base} LIMIT {limit} OFFSET {offset}"
            );
        }
    }
    // The newest buckets hold no points (minutes 6..10 are empty, bar one point at
    // minute 5 written last): the series is still reported, with nulls.
    let got = times(
        &engine,
        &format!("SELECT max(u) FROM cpu WHERE host = 'b' AND {range} GROUP BY time(1m) ORDER BY time DESC LIMIT 2"),
    )
    .await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1.len(), 2);
    assert!(got[0].1.iter().all(|r| r[1] == Value::Null));
    storage.shutdown().await.unwrap();
}
