//! End-to-end tests of the storage engine: writes, scans, restarts, persistence,
//! retention, compaction and backpressure.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrow::array::{Array, DictionaryArray, Float64Array, Int64Array, TimestampNanosecondArray};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Int32Type, TimeUnit};
use sluice_storage::{
    ColumnKind, Comparison, Error, FieldFilter, FieldType, Number, ObjectStoreConfig, Rejection,
    ScanRequest, Storage, StorageConfig, TagMatch, WriteOptions,
};

const DAY: i64 = 86_400_000_000_000;

fn config(dir: &Path) -> StorageConfig {
    StorageConfig {
        data_dir: dir.to_owned(),
        background_interval: Duration::from_millis(50),
        ..StorageConfig::default()
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

const PARTIAL: WriteOptions = WriteOptions {
    no_sync: false,
    accept_partial: true,
};

async fn write(s: &Storage, db: &str, text: &str) -> sluice_storage::WriteOutcome {
    let lines: Vec<_> = sluice_lp::parse_lines(text.as_bytes())
        .map(|l| l.expect("valid line protocol"))
        .collect();
    s.write(db, &lines, PARTIAL).await.expect("write succeeds")
}

/// All rows of a table as (host, time, field values as strings) for easy comparison.
async fn rows(s: &Storage, db: &str, table: &str, req: &ScanRequest) -> Vec<String> {
    format_rows(s.scan(db, table, req).await.expect("scan succeeds"))
}

/// The rows of a scan result as `name=value` cells joined by spaces, in result order.
fn format_rows(res: sluice_storage::ScanResult) -> Vec<String> {
    if res.batches.is_empty() {
        return Vec::new();
    }
    let b = concat_batches(&res.schema, &res.batches).unwrap();
    let mut out = Vec::new();
    for i in 0..b.num_rows() {
        let cells: Vec<String> = b
            .columns()
            .iter()
            .zip(b.schema().fields())
            .map(|(c, f)| {
                if c.is_null(i) {
                    return format!("{}=null", f.name());
                }
                let v = match c.data_type() {
                    DataType::Dictionary(_, _) => {
                        let d = c
                            .as_any()
                            .downcast_ref::<DictionaryArray<Int32Type>>()
                            .unwrap();
                        let values = d
                            .values()
                            .as_any()
                            .downcast_ref::<arrow::array::StringArray>()
                            .unwrap();
                        values.value(d.keys().value(i) as usize).to_owned()
                    }
                    DataType::Float64 => c
                        .as_any()
                        .downcast_ref::<Float64Array>()
                        .unwrap()
                        .value(i)
                        .to_string(),
                    DataType::Int64 => c
                        .as_any()
                        .downcast_ref::<Int64Array>()
                        .unwrap()
                        .value(i)
                        .to_string(),
                    DataType::Timestamp(TimeUnit::Nanosecond, None) => c
                        .as_any()
                        .downcast_ref::<TimestampNanosecondArray>()
                        .unwrap()
                        .value(i)
                        .to_string(),
                    other => format!("{other:?}"),
                };
                format!("{}={v}", f.name())
            })
            .collect();
        out.push(cells.join(" "));
    }
    out
}

fn all() -> ScanRequest {
    ScanRequest::default()
}

#[tokio::test]
async fn written_lines_are_visible_to_scans_with_arrow_types() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    let out = write(
        &s,
        "db",
        "cpu,host=a,region=eu f=1.5,i=2i,u=3u,s=\"x\",b=true 10\ncpu,host=b f=2 20\n",
    )
    .await;
    assert_eq!(out.accepted, 2);
    assert!(out.rejected.is_empty());
    let res = s.scan("db", "cpu", &all()).await.unwrap();
    let types: Vec<(String, DataType)> = res
        .schema
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect();
    let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    assert_eq!(
        types,
        vec![
            ("host".into(), dict.clone()),
            ("region".into(), dict),
            ("b".into(), DataType::Boolean),
            ("f".into(), DataType::Float64),
            ("i".into(), DataType::Int64),
            ("s".into(), DataType::Utf8),
            ("u".into(), DataType::UInt64),
            (
                "time".into(),
                DataType::Timestamp(TimeUnit::Nanosecond, None)
            ),
        ]
    );
    assert_eq!(res.num_rows(), 2);
    let tables = s.tables("db").unwrap();
    assert_eq!(tables[0].name, "cpu");
    assert_eq!(tables[0].columns[0].kind, ColumnKind::Tag);
    assert_eq!(
        tables[0].columns[3].kind,
        ColumnKind::Field(FieldType::Float)
    );
    assert_eq!(s.databases()[0].name, "db");
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn field_type_conflicts_reject_only_the_conflicting_lines() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    write(&s, "db", "t f=1.0 1\n").await;
    let out = write(&s, "db", "t f=1i 2\nt f=3.0 3\nt g=1i 4\nt g=true 5\n").await;
    assert_eq!(out.accepted, 2);
    let conflict = |field: &str, existing, attempted| Rejection::FieldTypeConflict {
        table: "t".into(),
        field: field.into(),
        existing,
        attempted,
    };
    let reasons: Vec<_> = out
        .rejected
        .iter()
        .map(|r| (r.line_number, r.reason.clone()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (1, conflict("f", FieldType::Float, FieldType::Integer)),
            (4, conflict("g", FieldType::Integer, FieldType::Boolean)),
        ]
    );
    assert_eq!(
        out.rejected[1].reason.to_string(),
        r#"field type conflict: field "g" on table "t" is integer, got boolean"#
    );
    assert_eq!(rows(&s, "db", "t", &all()).await.len(), 3);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_batch_with_rejections_writes_nothing_without_accept_partial() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    write(&s, "db", "t f=1.0 1\n").await;
    let lines: Vec<_> = sluice_lp::parse_lines(b"t,h=x f=2.0 2\nt f=1i 3\n")
        .map(Result::unwrap)
        .collect();
    let out = s
        .write("db", &lines, WriteOptions::default())
        .await
        .unwrap();
    assert_eq!(out.accepted, 0);
    assert_eq!(out.rejected.len(), 1);
    assert_eq!(rows(&s, "db", "t", &all()).await.len(), 1);
    // The tag the rejected batch introduced was rolled back.
    assert_eq!(s.tables("db").unwrap()[0].columns.len(), 2);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn missing_database_is_an_error_when_auto_create_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(StorageConfig {
        auto_create_databases: false,
        ..config(dir.path())
    })
    .await
    .unwrap();
    let lines: Vec<_> = sluice_lp::parse_lines(b"t f=1 1")
        .map(Result::unwrap)
        .collect();
    let err = s.write("nope", &lines, PARTIAL).await.unwrap_err();
    assert_eq!(err.to_string(), r#"database not found: "nope""#);
    assert!(s.create_database("nope", None).unwrap());
    assert!(!s.create_database("nope", None).unwrap());
    assert_eq!(s.write("nope", &lines, PARTIAL).await.unwrap().accepted, 1);
    assert!(matches!(
        s.create_database("", None),
        Err(Error::InvalidDatabaseName { .. })
    ));
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn same_series_and_time_merge_across_buffer_and_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    write(&s, "db", "cpu,host=a x=1,y=1 100\ncpu,host=b x=5 100\n").await;
    s.persist_now().await.unwrap();
    assert_eq!(s.metrics().parquet_files, 1);
    write(&s, "db", "cpu,host=a y=2 100\ncpu,host=a x=3 200\n").await;
    let expect = vec![
        "host=a x=1 y=2 time=100",
        "host=a x=3 y=null time=200",
        "host=b x=5 y=null time=100",
    ];
    assert_eq!(rows(&s, "db", "cpu", &all()).await, expect);
    // And again once the newer write is persisted too (file ordering decides).
    s.persist_now().await.unwrap();
    assert_eq!(s.metrics().parquet_files, 2);
    assert_eq!(rows(&s, "db", "cpu", &all()).await, expect);
    s.shutdown().await.unwrap();
}

/// A thread marked with `with_inline_reads` (a query's own thread) scans in place: the
/// same rows as a scan on the blocking pool, and a stop signal that says yes fails the
/// scan before its files are read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_on_a_thread_that_may_block_reads_in_place_and_stops_when_told() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    write(&s, "db", "cpu,host=a x=1 100\ncpu,host=b x=2 100\n").await;
    s.persist_now().await.unwrap();
    write(&s, "db", "cpu,host=a x=3 200\n").await;
    let pooled = rows(&s, "db", "cpu", &all()).await;
    assert_eq!(pooled.len(), 3, "{pooled:?}");

    let scan_on_own_thread = |stop: bool| {
        let (s, runtime) = (s.clone(), tokio::runtime::Handle::current());
        std::thread::spawn(move || {
            sluice_storage::with_inline_reads(std::sync::Arc::new(move || stop), || {
                runtime.block_on(s.scan("db", "cpu", &all()))
            })
        })
        .join()
        .unwrap()
    };
    let result = scan_on_own_thread(false);
    assert_eq!(format_rows(result.expect("the scan succeeds")), pooled);
    // Only a scan done in place asks the signal.
    let result = scan_on_own_thread(true);
    assert!(matches!(result, Err(Error::Stopped)), "{result:?}");
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_partition_larger_than_one_persist_slice_reads_back_the_same_from_parquet() {
    // Persistence writes a buffered partition in slices of 65,536 rows; 150,000 rows of
    // three series written out of order (one overwritten) must read back identically.
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    let mut text = String::new();
    for i in (0..50_000).rev() {
        for host in ["c", "a", "b"] {
            text.push_str(&format!("cpu,host={host} x={i} {}\n", i * 10 + 1));
        }
    }
    text.push_str("cpu,host=b x=-1 11\n");
    write(&s, "db", &text).await;
    let buffered = rows(&s, "db", "cpu", &all()).await;
    assert_eq!(buffered.len(), 150_000);
    assert_eq!(buffered[0], "host=a x=0 time=1");
    assert_eq!(buffered[50_001], "host=b x=-1 time=11");
    s.persist_now().await.unwrap();
    assert_eq!(s.metrics().parquet_files, 1);
    assert_eq!(rows(&s, "db", "cpu", &all()).await, buffered);
    let only_b = ScanRequest {
        tag_matches: vec![TagMatch::equals("host", "b")],
        ..all()
    };
    assert_eq!(
        rows(&s, "db", "cpu", &only_b).await,
        buffered[50_000..100_000]
    );
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_scan_stops_once_its_rows_would_take_more_than_it_may_hold() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    // Two files and a buffered partition: reads of each, and their merge, count.
    for part in 0..3 {
        let text: String = (0..20_000)
            .map(|i| format!("cpu,host=h{} x={i}i {}\n", i % 100, part * 1_000_000 + i))
            .collect();
        write(&s, "db", &text).await;
        if part < 2 {
            s.persist_now().await.unwrap();
        }
    }
    assert_eq!(s.metrics().parquet_files, 2);
    let bounded = |max_bytes| ScanRequest {
        max_bytes: Some(max_bytes),
        ..all()
    };
    let whole = s.scan("db", "cpu", &all()).await.unwrap();
    let bytes: usize = whole
        .batches
        .iter()
        .map(|b| b.get_array_memory_size())
        .sum();
    for small in [0, 1_000, bytes / 2] {
        match s.scan("db", "cpu", &bounded(small)).await {
            Err(sluice_storage::Error::ScanTooLarge { limit }) => assert_eq!(limit, small),
            other => panic!("max_bytes {small}: {:?}", other.map(|r| r.batches.len())),
        }
    }
    // The newest row of each series is far less than everything.
    for small in [0, 1_000] {
        match s.scan_last("db", "cpu", &bounded(small), 1).await {
            Err(sluice_storage::Error::ScanTooLarge { .. }) => {}
            other => panic!(
                "newest, max_bytes {small}: {:?}",
                other.map(|r| r.batches.len())
            ),
        }
    }
    // Room for the rows read and their merged copy: the same answer as unbounded.
    let roomy = s.scan("db", "cpu", &bounded(bytes * 8)).await.unwrap();
    let rows =
        |r: &sluice_storage::ScanResult| -> usize { r.batches.iter().map(|b| b.num_rows()).sum() };
    assert_eq!(rows(&roomy), 60_000);
    assert_eq!(rows(&roomy), rows(&whole));
    let newest = s
        .scan_last("db", "cpu", &bounded(bytes / 2), 1)
        .await
        .unwrap();
    assert_eq!(rows(&newest), 100);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn field_filters_drop_rows_only_where_no_newer_write_could_change_them() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    let above_90 = ScanRequest {
        projection: Some(vec!["time".into(), "x".into(), "y".into()]),
        field_filters: vec![FieldFilter {
            field: "x".into(),
            op: Comparison::Gt,
            value: Number::Integer(90),
        }],
        ..ScanRequest::default()
    };
    write(&s, "db", "cpu,host=a x=95,y=1 100\ncpu,host=a x=10 200\n").await;
    s.persist_now().await.unwrap();
    write(&s, "db", "cpu,host=a x=99 300\ncpu,host=b x=5 300\n").await;
    // A file and the buffer, apart in time: each drops its rows as it is read.
    assert_eq!(
        rows(&s, "db", "cpu", &above_90).await,
        ["time=100 x=95 y=1", "time=300 x=99 y=null"]
    );
    // A newer write of the point at 100 in the buffer: the file's x=95 is replaced by 50,
    // so the point no longer matches; its y stays. The rows are merged before any is
    // dropped, so the point comes back with its newest values (the caller's condition
    // rules it out) and never with the replaced 95.
    write(&s, "db", "cpu,host=a x=50 100\n").await;
    let got = rows(&s, "db", "cpu", &above_90).await;
    assert!(got.contains(&"time=100 x=50 y=1".to_owned()), "{got:?}");
    assert!(got.contains(&"time=300 x=99 y=null".to_owned()), "{got:?}");
    assert!(!got.iter().any(|r| r.contains("x=95")), "{got:?}");
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn sources_apart_in_time_come_unmerged_in_time_order_when_any_order_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    write(
        &s,
        "db",
        "cpu,host=b,dc=x v=1 100\ncpu,host=a,dc=x v=2 200\n",
    )
    .await;
    s.persist_now().await.unwrap();
    write(
        &s,
        "db",
        "cpu,host=b,dc=x v=3 300\ncpu,host=a,dc=x v=4 400\n",
    )
    .await;
    let sorted = ScanRequest {
        projection: Some(vec!["time".into(), "host".into(), "v".into()]),
        ..ScanRequest::default()
    };
    // A file and the buffer, apart in time: merged, sorted by series then time.
    assert_eq!(
        rows(&s, "db", "cpu", &sorted).await,
        [
            "time=200 host=a v=2",
            "time=400 host=a v=4",
            "time=100 host=b v=1",
            "time=300 host=b v=3"
        ]
    );
    // In any order: the file's rows, then the buffer's, each sorted by series; only the
    // projected tag is read.
    let any = ScanRequest {
        any_order: true,
        ..sorted.clone()
    };
    let res = s.scan("db", "cpu", &any).await.unwrap();
    assert!(
        res.schema.field_with_name("dc").is_err(),
        "{:?}",
        res.schema
    );
    assert_eq!(
        format_rows(res),
        [
            "time=200 host=a v=2",
            "time=100 host=b v=1",
            "time=400 host=a v=4",
            "time=300 host=b v=3"
        ]
    );
    // A newer write into the file's time: the sources overlap and are merged, the
    // newest value winning, whatever the request allows.
    write(&s, "db", "cpu,host=a,dc=x v=9 200\n").await;
    assert_eq!(
        rows(&s, "db", "cpu", &any).await,
        [
            "time=200 host=a v=9",
            "time=400 host=a v=4",
            "time=100 host=b v=1",
            "time=300 host=b v=3"
        ]
    );
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn predicates_and_projection_apply_to_buffer_and_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    write(&s, "db", "cpu,host=a x=1 100\ncpu,host=b x=2 200\n").await;
    s.persist_now().await.unwrap();
    write(&s, "db", "cpu,host=a x=3 300\ncpu,host=b x=4 400\n").await;
    let req = ScanRequest {
        time_range: Some((150, 400)),
        tag_matches: vec![TagMatch::equals("host", "b")],
        projection: Some(vec!["time".into(), "x".into()]),
        ..ScanRequest::default()
    };
    assert_eq!(rows(&s, "db", "cpu", &req).await, vec!["time=200 x=2"]);
    let none = ScanRequest {
        tag_matches: vec![TagMatch::equals("host", "zzz")],
        ..ScanRequest::default()
    };
    assert!(rows(&s, "db", "cpu", &none).await.is_empty());
    let unknown_tag = ScanRequest {
        tag_matches: vec![TagMatch::equals("dc", "a")],
        ..ScanRequest::default()
    };
    assert!(rows(&s, "db", "cpu", &unknown_tag).await.is_empty());
    // `host = 'a' OR host = 'b'` over a persisted file and the buffer; a value that no
    // series has matches nothing and takes nothing away.
    write(&s, "db", "cpu,host=c x=5 500\n").await;
    let a_or_b = ScanRequest {
        tag_matches: vec![TagMatch::one_of(
            "host",
            ["b".to_owned(), "zzz".to_owned(), "a".to_owned()],
        )],
        projection: Some(vec!["host".into(), "x".into()]),
        ..ScanRequest::default()
    };
    assert_eq!(
        rows(&s, "db", "cpu", &a_or_b).await,
        vec!["host=a x=1", "host=a x=3", "host=b x=2", "host=b x=4"]
    );
    let none_of = ScanRequest {
        tag_matches: vec![TagMatch::one_of("host", Vec::new())],
        ..ScanRequest::default()
    };
    assert!(rows(&s, "db", "cpu", &none_of).await.is_empty());
    assert!(matches!(
        s.scan("db", "nope", &all()).await,
        Err(Error::TableNotFound { .. })
    ));
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn restart_with_only_the_wal_recovers_every_write() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    write(&s, "db", "cpu,host=a x=1 100\n").await;
    write(&s, "db", "cpu,host=a x=2 100\ncpu,host=b y=1i 5\n").await;
    s.shutdown().await.unwrap();
    assert!(matches!(
        write_err(&s, "db", "cpu x=1 1").await,
        Error::Closed
    ));
    let s = Storage::open(config(dir.path())).await.unwrap();
    assert_eq!(s.metrics().parquet_files, 0);
    assert_eq!(
        rows(&s, "db", "cpu", &all()).await,
        vec!["host=a x=2 y=null time=100", "host=b x=null y=1 time=5"]
    );
    s.shutdown().await.unwrap();
}

async fn write_err(s: &Storage, db: &str, text: &str) -> Error {
    let lines: Vec<_> = sluice_lp::parse_lines(text.as_bytes())
        .map(Result::unwrap)
        .collect();
    s.write(db, &lines, PARTIAL).await.unwrap_err()
}

fn wal_records_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len().saturating_sub(20))
        .sum()
}

#[tokio::test]
async fn restart_with_only_parquet_and_catalog_after_the_wal_was_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    write(&s, "db", "cpu,host=a x=1 100\ncpu,host=b x=2 200\n").await;
    write(&s, "db", &format!("mem,host=a used=7i {}\n", 3 * DAY + 1)).await;
    assert!(wal_records_bytes(dir.path()) > 0);
    s.persist_now().await.unwrap();
    assert_eq!(s.metrics().parquet_files, 2, "one file per table and day");
    // The persisted segments are gone; what remains holds no records.
    assert_eq!(wal_records_bytes(dir.path()), 0);
    s.shutdown().await.unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    assert_eq!(
        rows(&s, "db", "cpu", &all()).await,
        vec!["host=a x=1 time=100", "host=b x=2 time=200"]
    );
    assert_eq!(rows(&s, "db", "mem", &all()).await.len(), 1);
    // Writes after a restart from Parquet alone survive the next restart too (their WAL
    // sequence numbers continue after the persisted ones).
    write(&s, "db", "cpu,host=c x=3 300\n").await;
    s.shutdown().await.unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    assert_eq!(rows(&s, "db", "cpu", &all()).await.len(), 3);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn persistence_triggers_on_buffer_size_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(StorageConfig {
        persist_buffer_bytes: 1,
        ..config(dir.path())
    })
    .await
    .unwrap();
    write(&s, "db", "cpu,host=a x=1 100\n").await;
    for _ in 0..200 {
        if s.metrics().parquet_files > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(s.metrics().parquet_files, 1);
    assert_eq!(rows(&s, "db", "cpu", &all()).await.len(), 1);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn series_count_toward_half_the_ceiling_not_toward_the_persistence_size() {
    // 5,000 series of one row each, with long host names: their tags take about 1.3 MB,
    // their rows far less than the 400 kB persistence size.
    let text: String = (0..5_000)
        .map(|i| format!("cpu,host={i:0>200} x=1 {}\n", 1_000 + i))
        .collect();
    let persisted_after = |max_buffer_bytes: usize| {
        let text = text.clone();
        async move {
            let dir = tempfile::tempdir().unwrap();
            let s = Storage::open(StorageConfig {
                persist_buffer_bytes: 400_000,
                max_buffer_bytes,
                background_interval: Duration::from_millis(5),
                ..config(dir.path())
            })
            .await
            .unwrap();
            write(&s, "db", &text).await;
            assert!(s.metrics().buffer_bytes > 1_000_000, "{:?}", s.metrics());
            for _ in 0..40 {
                if s.metrics().parquet_files > 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let files = s.metrics().parquet_files;
            assert_eq!(rows(&s, "db", "cpu", &all()).await.len(), 5_000);
            s.shutdown().await.unwrap();
            files
        }
    };
    // The rows alone do not reach the persistence size.
    assert_eq!(persisted_after(1 << 30).await, 0);
    // Half of a 2 MiB ceiling is reached.
    assert_eq!(persisted_after(2 << 20).await, 1);
}

#[tokio::test]
async fn retention_drops_whole_days_from_buffer_and_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    let today = now();
    let old = today - 3 * DAY;
    write(
        &s,
        "db",
        &format!("cpu,host=a x=1 {old}\ncpu,host=a x=2 {today}\n"),
    )
    .await;
    s.persist_now().await.unwrap();
    write(
        &s,
        "db",
        &format!("cpu,host=b x=3 {old}\ncpu,host=b x=4 {today}\n"),
    )
    .await;
    assert_eq!(s.metrics().parquet_files, 2);
    s.set_retention("db", Some(Duration::from_secs(86_400)))
        .unwrap();
    s.enforce_retention_now().unwrap();
    assert_eq!(s.metrics().parquet_files, 1);
    let got = rows(&s, "db", "cpu", &all()).await;
    assert_eq!(
        got,
        vec![
            format!("host=a x=2 time={today}"),
            format!("host=b x=4 time={today}")
        ]
    );
    // New points beyond the retention period are rejected.
    let out = write(&s, "db", &format!("cpu,host=c x=5 {old}\n")).await;
    assert_eq!(out.accepted, 0);
    assert!(
        matches!(&out.rejected[0].reason, Rejection::OutsideRetention { database, policy: None, .. } if database == "db"),
        "{:?}",
        out.rejected
    );
    assert_eq!(
        s.databases()[0].retention,
        Some(Duration::from_secs(86_400))
    );
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn small_files_of_a_partition_are_compacted_into_one() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(StorageConfig {
        compact_max_files: 2,
        background_interval: Duration::from_secs(3600),
        ..config(dir.path())
    })
    .await
    .unwrap();
    for i in 0..3 {
        write(
            &s,
            "db",
            &format!("cpu,host=a x={i} 100\ncpu,host=h{i} x={i} {i}\n"),
        )
        .await;
        s.persist_now().await.unwrap();
    }
    assert_eq!(s.metrics().parquet_files, 3);
    let before = rows(&s, "db", "cpu", &all()).await;
    s.compact_now().await.unwrap();
    assert_eq!(s.metrics().parquet_files, 1);
    assert_eq!(rows(&s, "db", "cpu", &all()).await, before);
    assert!(before.contains(&"host=a x=2 time=100".to_owned()));
    s.shutdown().await.unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    assert_eq!(rows(&s, "db", "cpu", &all()).await, before);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn full_buffer_fails_writes_fast_with_backpressure() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(StorageConfig {
        max_buffer_bytes: 2_000,
        persist_delay: Duration::from_millis(400),
        ..config(dir.path())
    })
    .await
    .unwrap();
    let mut refused = None;
    for i in 0..1_000 {
        let text = format!("cpu,host=a x={i} {i}");
        let lines: Vec<_> = sluice_lp::parse_lines(text.as_bytes())
            .map(Result::unwrap)
            .collect();
        match s.write("db", &lines, PARTIAL).await {
            Ok(_) => {}
            Err(Error::Backpressure { retry_after }) => {
                refused = Some((i, retry_after));
                break;
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    let (i, retry_after) = refused.expect("the buffer filled up");
    assert!(retry_after > Duration::ZERO);
    assert!(s.metrics().backpressure_events >= 1);
    // Once persistence drains the buffer, writes succeed again and nothing was lost.
    let mut ok = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if s.metrics().buffer_bytes < 2_000 {
            ok = true;
            break;
        }
    }
    assert!(ok, "buffer drained");
    write(&s, "db", "cpu,host=a x=1 1000000").await;
    assert_eq!(rows(&s, "db", "cpu", &all()).await.len(), i + 1);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn dropped_database_loses_its_data_and_can_be_recreated_empty() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    write(&s, "db", "cpu,host=a x=1 100\n").await;
    s.persist_now().await.unwrap();
    write(&s, "db", "cpu,host=a x=2 200\n").await;
    assert!(s.drop_database("db").await.unwrap());
    assert!(!s.drop_database("db").await.unwrap());
    assert!(matches!(
        s.scan("db", "cpu", &all()).await,
        Err(Error::DatabaseNotFound { .. })
    ));
    write(&s, "db", "cpu,host=b x=3 300\n").await;
    assert_eq!(
        rows(&s, "db", "cpu", &all()).await,
        vec!["host=b x=3 time=300"]
    );
    s.shutdown().await.unwrap();
    // After a restart the old database's WAL records stay dropped.
    let s = Storage::open(config(dir.path())).await.unwrap();
    assert_eq!(
        rows(&s, "db", "cpu", &all()).await,
        vec!["host=b x=3 time=300"]
    );
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn concurrent_writers_share_syncs_and_all_writes_land() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    write(&s, "db", "cpu,w=0 x=0 0\n").await;
    let one = s.metrics().wal_syncs;
    assert_eq!(one, 1, "a lone write waits for exactly its own sync");
    let mut tasks = Vec::new();
    for w in 1..=8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for i in 1..=25 {
                write(&s, "db", &format!("cpu,w={w} x={i} {i}\n")).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let m = s.metrics();
    assert_eq!(m.lines_written, 201);
    assert!(m.wal_syncs <= 201);
    assert_eq!(m.wal_sync_seconds.count, m.wal_syncs);
    assert_eq!(rows(&s, "db", "cpu", &all()).await.len(), 201);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn no_sync_writes_are_acknowledged_without_an_fdatasync() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    let lines: Vec<_> = sluice_lp::parse_lines(b"cpu x=1 1")
        .map(Result::unwrap)
        .collect();
    let opts = WriteOptions {
        no_sync: true,
        accept_partial: true,
    };
    s.write("db", &lines, opts).await.unwrap();
    assert_eq!(s.metrics().wal_syncs, 0);
    assert_eq!(rows(&s, "db", "cpu", &all()).await.len(), 1);
    s.shutdown().await.unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    assert_eq!(rows(&s, "db", "cpu", &all()).await.len(), 1);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn in_memory_object_store_works_for_tests() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(StorageConfig {
        object_store: ObjectStoreConfig::Memory,
        ..config(dir.path())
    })
    .await
    .unwrap();
    write(&s, "db", "cpu,host=a x=1 100\n").await;
    s.persist_now().await.unwrap();
    assert!(!dir.path().join("objects").exists());
    assert_eq!(rows(&s, "db", "cpu", &all()).await.len(), 1);
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_during_persistence_and_compaction_never_miss_acknowledged_rows() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(StorageConfig {
        persist_buffer_bytes: 2_000,
        compact_max_files: 2,
        background_interval: Duration::from_millis(2),
        ..config(dir.path())
    })
    .await
    .unwrap();
    let acked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writer = {
        let s = s.clone();
        let acked = acked.clone();
        tokio::spawn(async move {
            for i in 0..150 {
                let text = format!("cpu,host=h{} x={i} {i}\ncpu,host=g x={i} {i}\n", i % 3);
                let lines: Vec<_> = sluice_lp::parse_lines(text.as_bytes())
                    .map(Result::unwrap)
                    .collect();
                s.write("db", &lines, PARTIAL).await.unwrap();
                acked.store(2 * (i + 1), std::sync::atomic::Ordering::SeqCst);
            }
        })
    };
    let mut scans = 0;
    while !writer.is_finished() {
        let before = acked.load(std::sync::atomic::Ordering::SeqCst);
        let n = match s.scan("db", "cpu", &all()).await {
            Ok(r) => r.num_rows(),
            Err(Error::DatabaseNotFound { .. }) | Err(Error::TableNotFound { .. }) => 0,
            Err(e) => panic!("scan failed: {e}"),
        };
        assert!(
            n >= before,
            "scan saw {n} rows after {before} were acknowledged"
        );
        scans += 1;
    }
    writer.await.unwrap();
    assert!(scans > 0);
    assert_eq!(s.scan("db", "cpu", &all()).await.unwrap().num_rows(), 300);
    assert!(s.metrics().persisted_files > 0);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn files_left_by_an_interrupted_persistence_are_removed_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    write(&s, "db", "cpu,host=a x=1 100\n").await;
    s.persist_now().await.unwrap();
    s.shutdown().await.unwrap();
    // A file the manifest does not name (crash before the manifest was saved) and an
    // upload that never got renamed into place.
    let day_dir = dir.path().join("objects/dbs/1/0");
    let live: Vec<_> = std::fs::read_dir(&day_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(live.len(), 1);
    let orphan = day_dir.join("0000000000000099.parquet");
    let staged = day_dir.join("0000000000000100.parquet#7");
    std::fs::copy(&live[0], &orphan).unwrap();
    std::fs::write(&staged, b"partial").unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    assert!(!orphan.exists());
    assert!(!staged.exists());
    assert!(live[0].exists());
    assert_eq!(
        rows(&s, "db", "cpu", &all()).await,
        vec!["host=a x=1 time=100"]
    );
    s.shutdown().await.unwrap();
}

/// The newest `k` rows of each series of `all` (rows sorted by series, then time; the
/// series is the first cell).
fn newest(all: &[String], k: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < all.len() {
        let series = all[i].split(' ').next().unwrap();
        let mut j = i;
        while j < all.len() && all[j].split(' ').next().unwrap() == series {
            j += 1;
        }
        out.extend(all[j.saturating_sub(k).max(i)..j].iter().cloned());
        i = j;
    }
    out
}

async fn check_newest(s: &Storage, what: &str) {
    let full = rows(s, "db", "cpu", &all()).await;
    for k in [1, 2, 3] {
        let got = format_rows(s.scan_last("db", "cpu", &all(), k).await.unwrap());
        assert_eq!(got, newest(&full, k), "{what}, {k} per series");
        let only_a = ScanRequest {
            tag_matches: vec![TagMatch::equals("host", "a")],
            time_range: Some((0, 35)),
            ..ScanRequest::default()
        };
        let full_a = rows(s, "db", "cpu", &only_a).await;
        let got = format_rows(s.scan_last("db", "cpu", &only_a, k).await.unwrap());
        assert_eq!(
            got,
            newest(&full_a, k),
            "{what}, host a before 35, {k} per series"
        );
    }
}

#[tokio::test]
async fn newest_rows_per_series_follow_out_of_order_writes_overwrites_and_persistence() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(StorageConfig {
        compact_max_files: 1,
        ..config(dir.path())
    })
    .await
    .unwrap();
    // Out of order within series a; a later write overwrites one field of a@30.
    write(
        &s,
        "db",
        "cpu,host=a u=1,n=1i 10\ncpu,host=a u=3,n=3i 30\ncpu,host=a u=2 20\ncpu,host=b u=5 5",
    )
    .await;
    write(&s, "db", "cpu,host=a u=33 30\ncpu,host=c u=7 50").await;
    check_newest(&s, "buffer only").await;
    let newest_a = format_rows(
        s.scan_last(
            "db",
            "cpu",
            &ScanRequest {
                tag_matches: vec![TagMatch::equals("host", "a")],
                ..ScanRequest::default()
            },
            1,
        )
        .await
        .unwrap(),
    );
    assert_eq!(newest_a, vec!["host=a n=3 u=33 time=30".to_owned()]);

    s.persist_now().await.unwrap();
    check_newest(&s, "parquet only").await;
    // Older and newer points in the buffer, and an overwrite of a persisted point.
    write(
        &s,
        "db",
        "cpu,host=a u=25 25\ncpu,host=b u=6 60\ncpu,host=a n=9i 30",
    )
    .await;
    check_newest(&s, "buffer and parquet").await;
    s.persist_now().await.unwrap();
    check_newest(&s, "two files").await;
    write(&s, "db", "cpu,host=a u=0 1\ncpu,host=b u=61 60").await;
    s.invalidate_table("db", "cpu");
    check_newest(&s, "two files and the buffer").await;
    s.persist_now().await.unwrap();
    s.compact_now().await.unwrap();
    check_newest(&s, "after compaction").await;
    s.shutdown().await.unwrap();

    // Reopened: the same answers from what was saved.
    let s = Storage::open(config(dir.path())).await.unwrap();
    check_newest(&s, "after a restart").await;
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn buffered_rows_are_the_rows_the_manifest_does_not_hold_yet() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    write(&s, "db", "cpu,host=a u=1 10\ncpu,host=b u=2 20").await;
    let buffered = s.buffered_rows("db", "cpu", None).await.unwrap();
    // A node without a cloud store has no node id; its manifest is its own to read.
    assert_eq!(buffered.node_id, None);
    assert_eq!(buffered.published_seq, Some(0));
    let rows = |b: &sluice_storage::BufferedRows| {
        format_rows(sluice_storage::ScanResult {
            schema: b.schema.clone(),
            batches: b.batches.clone(),
        })
    };
    assert_eq!(
        rows(&buffered),
        ["host=a u=1 time=10", "host=b u=2 time=20"]
    );
    let narrow = s.buffered_rows("db", "cpu", Some((15, 30))).await.unwrap();
    assert_eq!(rows(&narrow), ["host=b u=2 time=20"]);

    // Persisted: the rows are the files' now, and the number says which manifest.
    s.persist_now().await.unwrap();
    write(&s, "db", "cpu,host=a u=3 30").await;
    let after = s.buffered_rows("db", "cpu", None).await.unwrap();
    assert!(after.published_seq.unwrap() > 0, "{after:?}");
    assert_eq!(rows(&after), ["host=a u=3 time=30"]);

    // A table or database this node lacks has no rows here.
    for (db, table) in [("db", "mem"), ("other", "cpu")] {
        let missing = s.buffered_rows(db, table, None).await.unwrap();
        assert!(missing.batches.is_empty(), "{db}.{table}");
        assert_eq!(missing.schema.fields().len(), 1, "only time: {missing:?}");
    }
    s.shutdown().await.unwrap();
}

/// A storage in `dir` that persisted `lines` (of two UTC days: two files) and started
/// again, once `warmed` says its background warm-up after the start is done.
async fn restarted_with_two_files(
    dir: &Path,
    lines: &str,
    warmed: impl Fn(&sluice_storage::StorageMetrics) -> bool,
) -> Storage {
    let s = Storage::open(config(dir)).await.unwrap();
    write(&s, "db", lines).await;
    s.persist_now().await.unwrap();
    assert_eq!(s.metrics().parquet_files, 2);
    s.shutdown().await.unwrap();
    drop(s);

    let s = Storage::open(config(dir)).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !warmed(&s.metrics()) {
        assert!(std::time::Instant::now() < deadline, "{:?}", s.metrics());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    s
}

#[tokio::test]
async fn after_a_restart_the_footers_of_the_files_are_read_before_queries_ask() {
    let dir = tempfile::tempdir().unwrap();
    let t = now();
    let lines = format!("cpu,host=a x=1 {t}\ncpu,host=a x=2 {}\n", t - DAY);
    let s = restarted_with_two_files(dir.path(), &lines, |m| m.footers_warmed >= 2).await;
    assert_eq!(rows(&s, "db", "cpu", &all()).await.len(), 2);
    // The query found both footers read already.
    assert_eq!(s.metrics().footers_read, 0);
    assert_eq!(s.metrics().footers_warmed, 2);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn after_a_restart_the_last_point_of_every_series_is_read_before_queries_ask() {
    let dir = tempfile::tempdir().unwrap();
    let t = now();
    // Two series, two fields.
    let lines = format!(
        "cpu,host=a x=1,y=1 {old}\ncpu,host=b x=2,y=2 {old}\n\
         cpu,host=a x=3,y=3 {t}\ncpu,host=b x=4 {t}\n",
        old = t - DAY
    );
    let s = restarted_with_two_files(dir.path(), &lines, |m| m.newest_rows_warmed >= 2).await;
    // A write after the start is newer than the files' rows.
    write(&s, "db", &format!("cpu,host=b x=5 {}\n", t + 1)).await;
    // The last point of every series with every column (as `SELECT *` asks it): from
    // the cache and the buffer, no file read.
    let every = ScanRequest {
        projection: Some(vec!["host".into(), "x".into(), "y".into(), "time".into()]),
        ..all()
    };
    let last = format_rows(s.scan_last("db", "cpu", &every, 1).await.unwrap());
    assert_eq!(
        last,
        [
            format!("host=a x=3 y=3 time={t}"),
            format!("host=b x=5 y=null time={}", t + 1)
        ]
    );
    assert_eq!(s.metrics().newest_rows_read, 0, "{:?}", s.metrics());
    // Other fields are other entries of the cache: read from the files.
    let x = ScanRequest {
        projection: Some(vec!["host".into(), "x".into(), "time".into()]),
        ..all()
    };
    assert_eq!(
        format_rows(s.scan_last("db", "cpu", &x, 1).await.unwrap()).len(),
        2
    );
    assert_eq!(s.metrics().newest_rows_read, 2);
    assert_eq!(s.metrics().newest_rows_warmed, 2);
    s.shutdown().await.unwrap();
}
