//! SQL through the engine: parameters, freshness after writes, formats and pushdown.

use sluice_query::format::{self, Format};
use sluice_query::{Error, QueryEngine};
use sluice_storage::Storage;

mod common;

use common::{open, write, write_to};

async fn setup(dir: &std::path::Path, text: &str) -> (Storage, QueryEngine) {
    let storage = open(dir).await;
    write(&storage, text).await;
    let engine = QueryEngine::new(storage.clone());
    (storage, engine)
}

const DATA: &str = "cpu,host=a usage=1.5 1000000000\ncpu,host=b usage=2.5 2000000000\n";

#[tokio::test]
async fn named_parameters_are_bound_from_json() {
    let dir = tempfile::tempdir().unwrap();
    let (_s, engine) = setup(dir.path(), DATA).await;
    let params = serde_json::json!({"h": "b", "min": 2})
        .as_object()
        .unwrap()
        .clone();
    let out = engine
        .sql(
            "db",
            "SELECT usage FROM cpu WHERE host = $h AND usage > $min",
            Some(&params),
        )
        .await
        .unwrap();
    let json = String::from_utf8(format::encode(&out, Format::Json, None).unwrap()).unwrap();
    assert_eq!(json, r#"[{"usage":2.5}]"#);
}

#[tokio::test]
async fn a_missing_parameter_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_s, engine) = setup(dir.path(), DATA).await;
    let params = serde_json::Map::new();
    let err = engine
        .sql("db", "SELECT usage FROM cpu WHERE host = $h", Some(&params))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("$h"), "{err}");
    let bad = serde_json::json!({"h": [1]}).as_object().unwrap().clone();
    let err = engine
        .sql("db", "SELECT usage FROM cpu WHERE host = $h", Some(&bad))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidParam { .. }), "{err}");
}

#[tokio::test]
async fn acknowledged_writes_are_visible_to_the_next_query() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, engine) = setup(dir.path(), DATA).await;
    let count = |out: sluice_query::QueryOutput| out.num_rows();
    assert_eq!(
        count(engine.sql("db", "SELECT * FROM cpu", None).await.unwrap()),
        2
    );
    write(
        &storage,
        "cpu,host=c usage=3,extra=1i 3000000000\nnew,t=x f=1 1",
    )
    .await;
    let out = engine
        .sql("db", "SELECT host, extra FROM cpu WHERE extra = 1", None)
        .await
        .unwrap();
    assert_eq!(count(out), 1);
    assert_eq!(
        count(engine.sql("db", "SELECT * FROM new", None).await.unwrap()),
        1
    );
}

#[tokio::test]
async fn every_table_format_encodes_the_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (_s, engine) = setup(dir.path(), DATA).await;
    let out = engine
        .sql(
            "db",
            "SELECT host, usage, time FROM cpu ORDER BY time",
            None,
        )
        .await
        .unwrap();
    let text = |f| String::from_utf8(format::encode(&out, f, None).unwrap()).unwrap();
    assert_eq!(
        text(Format::Json),
        r#"[{"host":"a","usage":1.5,"time":"1970-01-01T00:00:01"},{"host":"b","usage":2.5,"time":"1970-01-01T00:00:02"}]"#
    );
    assert_eq!(
        text(Format::Jsonl),
        "{\"host\":\"a\",\"usage\":1.5,\"time\":\"1970-01-01T00:00:01\"}\n{\"host\":\"b\",\"usage\":2.5,\"time\":\"1970-01-01T00:00:02\"}\n"
    );
    assert_eq!(
        text(Format::Csv),
        "host,usage,time\na,1.5,1970-01-01T00:00:01\nb,2.5,1970-01-01T00:00:02\n"
    );
    assert!(text(Format::Pretty).contains("| a    | 1.5   | 1970-01-01T00:00:01 |"));
    let parquet = format::encode(&out, Format::Parquet, None).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::from(parquet),
    )
    .unwrap()
    .build()
    .unwrap();
    let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, 2);
}

#[tokio::test]
async fn empty_results_keep_their_shape_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let (_s, engine) = setup(dir.path(), DATA).await;
    let out = engine
        .sql("db", "SELECT host, usage FROM cpu WHERE host = 'zzz'", None)
        .await
        .unwrap();
    assert_eq!(format::encode(&out, Format::Json, None).unwrap(), b"[]");
    assert_eq!(
        format::encode(&out, Format::Csv, None).unwrap(),
        b"host,usage\n"
    );
    assert_eq!(format::encode(&out, Format::Jsonl, None).unwrap(), b"");
}

#[tokio::test]
async fn explain_shows_time_and_tag_filters_pushed_to_the_scan() {
    let dir = tempfile::tempdir().unwrap();
    let (_s, engine) = setup(dir.path(), DATA).await;
    let out = engine
        .sql(
            "db",
            "EXPLAIN SELECT usage FROM cpu WHERE host = 'a' AND time >= '1970-01-01T00:00:01Z'",
            None,
        )
        .await
        .unwrap();
    let plan = String::from_utf8(format::encode(&out, Format::Csv, None).unwrap()).unwrap();
    assert!(plan.contains("partial_filters="), "{plan}");
    assert!(plan.contains("host"), "{plan}");
}

#[tokio::test]
async fn tag_in_lists_are_pushed_to_the_scan_and_answer_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (_s, engine) = setup(dir.path(), DATA).await;
    let out = engine
        .sql(
            "db",
            "SELECT host, usage FROM cpu WHERE host IN ('a', 'zzz') ORDER BY time",
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8(format::encode(&out, Format::Csv, None).unwrap()).unwrap(),
        "host,usage\na,1.5\n"
    );
    let out = engine
        .sql(
            "db",
            "SELECT host, usage FROM cpu WHERE host = 'b' OR host = 'zzz' OR host = 'b'",
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8(format::encode(&out, Format::Csv, None).unwrap()).unwrap(),
        "host,usage\nb,2.5\n"
    );
    for list in ["('a', 'b')", "('a', 'b', 'c', 'd', 'e')"] {
        let out = engine
            .sql(
                "db",
                &format!("EXPLAIN SELECT usage FROM cpu WHERE host IN {list}"),
                None,
            )
            .await
            .unwrap();
        let plan = String::from_utf8(format::encode(&out, Format::Csv, None).unwrap()).unwrap();
        assert!(plan.contains("partial_filters="), "{plan}");
    }
}

#[test]
fn format_names_parse_case_insensitively() {
    assert_eq!("JSONL".parse::<Format>().unwrap(), Format::Jsonl);
    assert!("xml".parse::<Format>().is_err());
}

#[tokio::test]
async fn statements_that_write_or_read_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_s, engine) = setup(dir.path(), DATA).await;
    let target = dir.path().join("copied.csv");
    let copy = format!(
        "COPY (SELECT usage FROM cpu) TO '{}' STORED AS CSV",
        target.display()
    );
    let passwd = "CREATE EXTERNAL TABLE p STORED AS CSV LOCATION '/etc/passwd'";
    for sql in [copy.as_str(), "INSERT INTO cpu SELECT * FROM cpu", passwd] {
        let err = engine.sql("db", sql, None).await.unwrap_err();
        assert!(err.to_string().contains("not supported"), "{sql}: {err}");
    }
    assert!(!target.exists(), "COPY wrote {}", target.display());
    // Reading still works.
    let out = engine
        .sql("db", "SELECT count(*) FROM cpu", None)
        .await
        .unwrap();
    assert_eq!(out.num_rows(), 1);
}

#[tokio::test]
async fn system_parquet_files_lists_the_live_files_of_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, engine) = setup(dir.path(), DATA).await;
    let files = "SELECT table_name, path, row_count, min_time, max_time, size_bytes > 0 AS sized \
                 FROM system.parquet_files ORDER BY table_name";
    let json = |out| String::from_utf8(format::encode(&out, Format::Json, None).unwrap()).unwrap();
    // Nothing persisted yet: the rows are in the buffer only.
    assert_eq!(json(engine.sql("db", files, None).await.unwrap()), "[]");
    storage.persist_now().await.unwrap();
    write(&storage, "mem,host=a used=3i 5000000000\n").await;
    storage.persist_now().await.unwrap();
    let listed: serde_json::Value =
        serde_json::from_str(&json(engine.sql("db", files, None).await.unwrap())).unwrap();
    let rows = listed.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{listed}");
    assert_eq!(rows[0]["table_name"], "cpu");
    assert_eq!(rows[0]["row_count"], 2);
    assert_eq!(rows[0]["min_time"], 1_000_000_000);
    assert_eq!(rows[0]["max_time"], 2_000_000_000);
    assert_eq!(rows[0]["sized"], true);
    assert!(
        rows[0]["path"].as_str().unwrap().ends_with(".parquet"),
        "{listed}"
    );
    assert_eq!(rows[1]["table_name"], "mem");
    assert_eq!(rows[1]["row_count"], 1);
    // Another database's files are not listed.
    write_to(&storage, "other", "disk free=1i 1\n").await;
    storage.persist_now().await.unwrap();
    let counted = engine
        .sql("db", "SELECT count(*) AS n FROM system.parquet_files", None)
        .await
        .unwrap();
    assert_eq!(json(counted), r#"[{"n":2}]"#);
}

/// Rows of five series over two regions, one of them without a region, on 1970-01-01.
const GROUPED: &str = "cpu,host=a,region=eu usage=1 1000000000
cpu,host=a,region=eu usage=3 2000000000
cpu,host=b,region=eu usage=2 1000000000
cpu,host=c,region=us usage=5 1000000000
cpu,host=c,region=us usage=7 3000000000
cpu,host=d usage=4 1000000000
";

/// [`GROUPED`], and 200,000 more series on the next day: a table of many series, whose
/// tags SQL groups by their text. The queries below read only the first day.
async fn setup_many_series(dir: &std::path::Path) -> QueryEngine {
    let (storage, engine) = setup(dir, GROUPED).await;
    let next_day: String = (0..200_000)
        .map(|i| {
            format!(
                "cpu,host=f{i},region=x usage=0 {}\n",
                86_400_000_000_000i64 + i
            )
        })
        .collect();
    write(&storage, &next_day).await;
    engine
}

async fn csv(engine: &QueryEngine, sql: &str) -> String {
    let out = engine.sql("db", sql, None).await.unwrap();
    String::from_utf8(format::encode(&out, Format::Csv, None).unwrap()).unwrap()
}

const FIRST_DAY: &str = "time < '1970-01-02'";

#[tokio::test]
async fn tags_of_many_series_are_grouped_by_their_text_and_come_back_as_dictionaries() {
    use arrow::datatypes::DataType;
    let dir = tempfile::tempdir().unwrap();
    let engine = setup_many_series(dir.path()).await;
    let sql = format!(
        "SELECT region, host, count(*) AS n, sum(usage) AS total FROM cpu WHERE {FIRST_DAY} \
         GROUP BY region, host ORDER BY region, host"
    );
    assert_eq!(
        csv(&engine, &sql).await,
        "region,host,n,total\neu,a,2,4.0\neu,b,1,2.0\nus,c,2,12.0\n,d,1,4.0\n"
    );
    let out = engine.sql("db", &sql, None).await.unwrap();
    let dictionary = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    assert_eq!(out.schema.field(0).data_type(), &dictionary);
    assert_eq!(out.schema.field(1).data_type(), &dictionary);
    // The aggregate groups on the tags' text, not on their dictionaries.
    let plan = csv(&engine, &format!("EXPLAIN {sql}")).await;
    assert!(plan.contains("CAST(cpu.region AS Utf8)"), "{plan}");
    assert!(plan.contains("CAST(cpu.host AS Utf8)"), "{plan}");
    assert_eq!(
        csv(
            &engine,
            "SELECT DISTINCT region FROM cpu WHERE region IS NOT NULL ORDER BY region"
        )
        .await,
        "region\neu\nus\nx\n"
    );
    assert_eq!(
        csv(&engine, "SELECT count(DISTINCT host) AS hosts FROM cpu").await,
        "hosts\n200004\n"
    );
    // Grouped by an expression of a tag, and beside a time bucket.
    assert_eq!(
        csv(
            &engine,
            "SELECT date_bin(INTERVAL '2 seconds', time) AS bucket, host, max(usage) AS m \
             FROM cpu WHERE host IN ('a', 'c') GROUP BY bucket, host ORDER BY bucket, host"
        )
        .await,
        "bucket,host,m\n1970-01-01T00:00:00,a,1.0\n1970-01-01T00:00:00,c,5.0\n\
         1970-01-01T00:00:02,a,3.0\n1970-01-01T00:00:02,c,7.0\n"
    );
    assert_eq!(
        csv(
            &engine,
            &format!(
                "SELECT upper(host) AS h, count(*) AS n FROM cpu WHERE {FIRST_DAY} \
                 GROUP BY upper(host) HAVING count(*) > 1 ORDER BY h"
            )
        )
        .await,
        "h,n\nA,2\nC,2\n"
    );
}

#[tokio::test]
async fn tags_of_few_series_are_grouped_as_dictionaries() {
    let dir = tempfile::tempdir().unwrap();
    let (_s, engine) = setup(dir.path(), GROUPED).await;
    let sql = "SELECT region, host, count(*) AS n FROM cpu GROUP BY region, host";
    let plan = csv(&engine, &format!("EXPLAIN {sql}")).await;
    assert!(!plan.contains("CAST(cpu.host AS Utf8)"), "{plan}");
    assert_eq!(
        csv(&engine, &format!("{sql} ORDER BY region, host")).await,
        "region,host,n\neu,a,2\neu,b,1\nus,c,2\n,d,1\n"
    );
}

#[tokio::test]
async fn grouped_tags_of_many_series_still_union_and_roll_up() {
    let dir = tempfile::tempdir().unwrap();
    let engine = setup_many_series(dir.path()).await;
    assert_eq!(
        csv(
            &engine,
            "SELECT host FROM cpu WHERE usage > 3 GROUP BY host \
             UNION SELECT host FROM cpu WHERE region = 'eu' GROUP BY host ORDER BY host"
        )
        .await,
        "host\na\nb\nc\nd\n"
    );
    assert_eq!(
        csv(
            &engine,
            &format!(
                "SELECT host, count(*) AS n FROM cpu WHERE {FIRST_DAY} GROUP BY host \
                 UNION ALL SELECT 'all', count(*) FROM cpu WHERE {FIRST_DAY} ORDER BY host"
            )
        )
        .await,
        "host,n\na,2\nall,6\nb,1\nc,2\nd,1\n"
    );
    assert_eq!(
        csv(
            &engine,
            &format!(
                "SELECT region, host, count(*) AS n FROM cpu \
                 WHERE region IS NOT NULL AND {FIRST_DAY} \
                 GROUP BY ROLLUP (region, host) ORDER BY region NULLS FIRST, host NULLS FIRST"
            )
        )
        .await,
        "region,host,n\n,,5\neu,,3\neu,a,2\neu,b,1\nus,,2\nus,c,2\n"
    );
    // A condition on a grouped tag, and two grouped sides joined on one.
    assert_eq!(
        csv(
            &engine,
            &format!(
                "SELECT host, max(usage) AS m FROM cpu WHERE {FIRST_DAY} GROUP BY host \
                 HAVING host <> 'a' AND max(usage) > 2 ORDER BY host"
            )
        )
        .await,
        "host,m\nc,7.0\nd,4.0\n"
    );
    assert_eq!(
        csv(
            &engine,
            &format!(
                "SELECT l.host, l.n, r.m FROM \
                 (SELECT host, count(*) AS n FROM cpu WHERE {FIRST_DAY} GROUP BY host) l \
                 JOIN (SELECT host, max(usage) AS m FROM cpu WHERE region = 'eu' GROUP BY host) r \
                 ON l.host = r.host ORDER BY l.host"
            )
        )
        .await,
        "host,n,m\na,2,3.0\nb,1,2.0\n"
    );
}
