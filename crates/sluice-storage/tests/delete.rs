//! Deleting data: `Storage::delete` and `Storage::drop_table` over buffered rows, Parquet
//! files and both, across restarts and replays of the WAL in log order.

use std::path::Path;
use std::time::Duration;

use arrow::compute::concat_batches;
use arrow::util::display::array_value_to_string;
use sluice_storage::{
    ColumnKind, DeleteRequest, Error, FieldType, ObjectStoreConfig, ScanRequest, Storage,
    StorageConfig, TagPredicate, WriteOptions,
};

fn config(dir: &Path) -> StorageConfig {
    StorageConfig {
        data_dir: dir.to_owned(),
        object_store: ObjectStoreConfig::Local,
        background_interval: Duration::from_millis(50),
        ..StorageConfig::default()
    }
}

async fn write(s: &Storage, db: &str, text: &str) {
    let lines: Vec<_> = sluice_lp::parse_lines(text.as_bytes())
        .map(|l| l.expect("valid line protocol"))
        .collect();
    let out = s
        .write(db, &lines, WriteOptions::default())
        .await
        .expect("write succeeds");
    assert!(out.rejected.is_empty(), "{:?}", out.rejected);
}

/// Every row of a table as `col=value ...` (nulls left out), in scan order.
async fn rows(s: &Storage, table: &str) -> Vec<String> {
    let res = s
        .scan("db", table, &ScanRequest::default())
        .await
        .expect("scan succeeds");
    if res.batches.is_empty() {
        return Vec::new();
    }
    let b = concat_batches(&res.schema, &res.batches).unwrap();
    (0..b.num_rows())
        .map(|i| {
            b.columns()
                .iter()
                .zip(b.schema().fields())
                .filter(|(c, _)| c.is_valid(i))
                .map(|(c, f)| format!("{}={}", f.name(), array_value_to_string(c, i).unwrap()))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn delete_in(table: &str) -> DeleteRequest {
    DeleteRequest {
        table: Some(table.to_owned()),
        ..DeleteRequest::default()
    }
}

const CPU: &str = "cpu,host=a x=1 100\ncpu,host=a x=2 200\ncpu,host=b x=3 100\ncpu x=4 100\n";

#[tokio::test]
async fn a_delete_removes_buffered_rows_by_time_and_tag_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    write(&s, "db", CPU).await;
    write(&s, "db", "mem,host=a used=1i 100\n").await;
    let request = DeleteRequest {
        time_range: Some((0, 150)),
        tag_predicate: Some(TagPredicate::eq("host", "a")),
        ..delete_in("cpu")
    };
    s.delete("db", &request).await.unwrap();
    assert_eq!(
        rows(&s, "cpu").await,
        [
            "x=4.0 time=1970-01-01T00:00:00.000000100",
            "host=a x=2.0 time=1970-01-01T00:00:00.000000200",
            "host=b x=3.0 time=1970-01-01T00:00:00.000000100",
        ]
    );
    assert_eq!(rows(&s, "mem").await.len(), 1, "other tables are untouched");
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_missing_tag_reads_as_empty_so_not_equal_matches_series_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    write(&s, "db", CPU).await;
    s.persist_now().await.unwrap();
    let request = DeleteRequest {
        tag_predicate: Some(TagPredicate::not_eq("host", "a")),
        ..delete_in("cpu")
    };
    s.delete("db", &request).await.unwrap();
    assert_eq!(
        rows(&s, "cpu").await,
        [
            "host=a x=1.0 time=1970-01-01T00:00:00.000000100",
            "host=a x=2.0 time=1970-01-01T00:00:00.000000200",
        ]
    );
    // `host = ''` matches only the series without a host (none left), regexes and OR too.
    write(&s, "db", "cpu x=5 300\ncpu,host=ab x=6 300\n").await;
    let request = DeleteRequest {
        tag_predicate: Some(
            TagPredicate::eq("host", "").or(TagPredicate::regex("host", "^a.$").unwrap()),
        ),
        ..delete_in("cpu")
    };
    s.delete("db", &request).await.unwrap();
    assert_eq!(rows(&s, "cpu").await.len(), 2);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_delete_rewrites_parquet_files_and_drops_files_left_empty() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    write(&s, "db", CPU).await;
    write(&s, "db", "mem,host=a used=1i 100\n").await;
    s.persist_now().await.unwrap();
    assert_eq!(s.metrics().parquet_files, 2);
    let request = DeleteRequest {
        tag_predicate: Some(TagPredicate::eq("host", "b")),
        ..delete_in("cpu")
    };
    s.delete("db", &request).await.unwrap();
    assert_eq!(rows(&s, "cpu").await.len(), 3);
    assert_eq!(s.metrics().parquet_files, 2, "the cpu file was rewritten");
    // Every row of mem: its file goes.
    s.delete("db", &delete_in("mem")).await.unwrap();
    assert!(rows(&s, "mem").await.is_empty());
    assert_eq!(s.metrics().parquet_files, 1);
    assert!(
        s.tables("db").unwrap().iter().any(|t| t.name == "mem"),
        "a delete keeps the table"
    );
    s.shutdown().await.unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    assert_eq!(rows(&s, "cpu").await.len(), 3);
    assert!(rows(&s, "mem").await.is_empty());
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_delete_spans_buffer_and_parquet_for_rows_merged_from_both() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    write(&s, "db", "cpu,host=a x=1 100\ncpu,host=a x=1 200\n").await;
    s.persist_now().await.unwrap();
    // The same row again (a second field) in the buffer, and a new one.
    write(&s, "db", "cpu,host=a y=2 100\ncpu,host=a y=3 300\n").await;
    s.delete(
        "db",
        &DeleteRequest {
            time_range: Some((100, 101)),
            ..delete_in("cpu")
        },
    )
    .await
    .unwrap();
    let expected = [
        "host=a x=1.0 time=1970-01-01T00:00:00.000000200",
        "host=a y=3.0 time=1970-01-01T00:00:00.000000300",
    ];
    assert_eq!(rows(&s, "cpu").await, expected);
    s.persist_now().await.unwrap();
    s.compact_now().await.unwrap();
    assert_eq!(rows(&s, "cpu").await, expected);
    s.shutdown().await.unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    assert_eq!(rows(&s, "cpu").await, expected);
    s.shutdown().await.unwrap();
}

/// The configuration of `dir` with compaction only when asked, and of any two files.
fn compact_on_request(dir: &Path) -> StorageConfig {
    StorageConfig {
        background_interval: Duration::from_secs(3600),
        compact_max_files: 1,
        ..config(dir)
    }
}

/// Writes a point to one file and an overwrite of it to a newer file, then deletes
/// another series of the older file, which rewrites it under a new id.
async fn overwrite_then_rewrite_the_older_file(s: &Storage) {
    write(s, "db", "cpu,host=a x=1 100\ncpu,host=b x=9 100\n").await;
    s.persist_now().await.unwrap();
    write(s, "db", "cpu,host=a x=2 100\n").await;
    s.persist_now().await.unwrap();
    let request = DeleteRequest {
        tag_predicate: Some(TagPredicate::eq("host", "b")),
        ..delete_in("cpu")
    };
    s.delete("db", &request).await.unwrap();
}

#[tokio::test]
async fn a_file_rewritten_by_a_delete_keeps_its_place_in_write_order() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(compact_on_request(dir.path())).await.unwrap();
    overwrite_then_rewrite_the_older_file(&s).await;
    assert_eq!(s.metrics().parquet_files, 2, "the older file was rewritten");
    let expected = ["host=a x=2.0 time=1970-01-01T00:00:00.000000100"];
    assert_eq!(rows(&s, "cpu").await, expected, "the newer write wins");
    s.compact_now().await.unwrap();
    assert_eq!(s.metrics().parquet_files, 1, "the two files were compacted");
    assert_eq!(rows(&s, "cpu").await, expected, "also after compaction");
    s.shutdown().await.unwrap();
    let s = Storage::open(compact_on_request(dir.path())).await.unwrap();
    assert_eq!(rows(&s, "cpu").await, expected, "also after a restart");
    // A later write still wins over the files.
    write(&s, "db", "cpu,host=a x=3 100\n").await;
    let newest = ["host=a x=3.0 time=1970-01-01T00:00:00.000000100"];
    assert_eq!(rows(&s, "cpu").await, newest);
    s.persist_now().await.unwrap();
    assert_eq!(rows(&s, "cpu").await, newest);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_write_order_of_a_rewritten_file_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(compact_on_request(dir.path())).await.unwrap();
    overwrite_then_rewrite_the_older_file(&s).await;
    s.shutdown().await.unwrap();
    // The write order of the rewritten file survives in the manifest.
    let s = Storage::open(compact_on_request(dir.path())).await.unwrap();
    let expected = ["host=a x=2.0 time=1970-01-01T00:00:00.000000100"];
    assert_eq!(rows(&s, "cpu").await, expected);
    s.compact_now().await.unwrap();
    assert_eq!(rows(&s, "cpu").await, expected);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn replay_orders_deletes_with_writes_as_they_were_logged() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    write(&s, "db", "cpu,host=a x=1 100\ncpu,host=b x=1 100\n").await;
    s.delete("db", &delete_in("cpu")).await.unwrap();
    // Written after the delete: survives it, also when the WAL is replayed.
    write(&s, "db", "cpu,host=a x=2 100\n").await;
    s.delete(
        "db",
        &DeleteRequest {
            tag_predicate: Some(TagPredicate::eq("host", "zzz")),
            ..DeleteRequest::default()
        },
    )
    .await
    .unwrap();
    write(&s, "db", "cpu,host=zzz x=3 100\n").await;
    let expected = [
        "host=a x=2.0 time=1970-01-01T00:00:00.000000100",
        "host=zzz x=3.0 time=1970-01-01T00:00:00.000000100",
    ];
    assert_eq!(rows(&s, "cpu").await, expected);
    s.shutdown().await.unwrap();
    assert_eq!(s.metrics().parquet_files, 0);
    let s = Storage::open(config(dir.path())).await.unwrap();
    assert_eq!(rows(&s, "cpu").await, expected, "after replaying the wal");
    // Persisted, then reopened from Parquet alone.
    s.persist_now().await.unwrap();
    s.shutdown().await.unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    assert_eq!(rows(&s, "cpu").await, expected, "after persisting");
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn deleting_from_every_table_and_from_missing_tables_or_databases() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    write(&s, "db", CPU).await;
    write(&s, "db", "mem,host=a used=1i 100\nmem,host=c used=1i 100\n").await;
    s.persist_now().await.unwrap();
    write(&s, "db", "mem,host=a used=2i 500\n").await;
    s.delete(
        "db",
        &DeleteRequest {
            tag_predicate: Some(TagPredicate::eq("host", "a")),
            ..DeleteRequest::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(rows(&s, "cpu").await.len(), 2);
    assert_eq!(
        rows(&s, "mem").await,
        ["host=c used=1 time=1970-01-01T00:00:00.000000100"]
    );
    assert!(matches!(
        s.delete("db", &delete_in("nope")).await,
        Err(Error::TableNotFound { .. })
    ));
    assert!(matches!(
        s.delete("nodb", &DeleteRequest::default()).await,
        Err(Error::DatabaseNotFound { .. })
    ));
    s.shutdown().await.unwrap();
}

fn field_type(s: &Storage, table: &str, field: &str) -> Option<ColumnKind> {
    s.tables("db")
        .unwrap()
        .into_iter()
        .find(|t| t.name == table)?
        .columns
        .into_iter()
        .find(|c| c.name == field)
        .map(|c| c.kind)
}

#[tokio::test]
async fn a_dropped_table_is_gone_and_comes_back_with_other_field_types() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    write(&s, "db", "cpu,host=a x=1 100\nmem v=1 1\n").await;
    s.persist_now().await.unwrap();
    write(&s, "db", "cpu,host=b x=2 200\n").await;
    assert!(s.drop_table("db", "cpu").await.unwrap());
    assert!(!s.drop_table("db", "cpu").await.unwrap(), "already gone");
    assert!(s.tables("db").unwrap().iter().all(|t| t.name != "cpu"));
    assert!(matches!(
        s.scan("db", "cpu", &ScanRequest::default()).await,
        Err(Error::TableNotFound { .. })
    ));
    assert_eq!(s.metrics().parquet_files, 1, "only mem's file is left");
    write(&s, "db", "cpu,dc=x x=\"text\" 300\n").await;
    assert_eq!(
        field_type(&s, "cpu", "x"),
        Some(ColumnKind::Field(FieldType::String))
    );
    assert_eq!(field_type(&s, "cpu", "host"), None);
    let expected = ["dc=x x=text time=1970-01-01T00:00:00.000000300"];
    assert_eq!(rows(&s, "cpu").await, expected);
    s.shutdown().await.unwrap();
    // Replaying the write, the drop and the new write ends in the same place.
    let s = Storage::open(config(dir.path())).await.unwrap();
    assert_eq!(rows(&s, "cpu").await, expected);
    assert_eq!(
        field_type(&s, "cpu", "x"),
        Some(ColumnKind::Field(FieldType::String))
    );
    s.persist_now().await.unwrap();
    s.shutdown().await.unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    assert_eq!(rows(&s, "cpu").await, expected);
    assert_eq!(rows(&s, "mem").await.len(), 1);
    s.shutdown().await.unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Puts back `catalog/` and `objects/` as `saved` holds them, keeping the WAL: the state
/// on disk of a process that died after logging later records but before saving the
/// catalog and manifest they led to.
fn roll_back_all_but_the_wal(dir: &Path, saved: &Path) {
    for sub in ["catalog", "objects"] {
        std::fs::remove_dir_all(dir.join(sub)).unwrap();
        copy_dir(&saved.join(sub), &dir.join(sub));
    }
}

#[tokio::test]
async fn a_logged_delete_whose_files_were_not_rewritten_is_replayed_against_them() {
    let dir = tempfile::tempdir().unwrap();
    let saved = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    write(&s, "db", CPU).await;
    s.persist_now().await.unwrap();
    s.shutdown().await.unwrap();
    copy_dir(dir.path(), saved.path());
    let s = Storage::open(config(dir.path())).await.unwrap();
    let request = DeleteRequest {
        tag_predicate: Some(TagPredicate::eq("host", "a")),
        ..delete_in("cpu")
    };
    s.delete("db", &request).await.unwrap();
    write(&s, "db", "cpu,host=a x=9 100\n").await;
    s.shutdown().await.unwrap();
    roll_back_all_but_the_wal(dir.path(), saved.path());
    let s = Storage::open(config(dir.path())).await.unwrap();
    assert_eq!(
        rows(&s, "cpu").await,
        [
            "x=4.0 time=1970-01-01T00:00:00.000000100",
            "host=a x=9.0 time=1970-01-01T00:00:00.000000100",
            "host=b x=3.0 time=1970-01-01T00:00:00.000000100",
        ]
    );
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_logged_table_drop_whose_catalog_was_not_saved_is_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let saved = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    write(&s, "db", CPU).await;
    write(&s, "db", "mem v=1 1\n").await;
    s.persist_now().await.unwrap();
    s.shutdown().await.unwrap();
    copy_dir(dir.path(), saved.path());
    let s = Storage::open(config(dir.path())).await.unwrap();
    write(&s, "db", "cpu,host=c x=5 500\n").await;
    assert!(s.drop_table("db", "cpu").await.unwrap());
    write(&s, "db", "cpu y=1i 600\n").await;
    s.shutdown().await.unwrap();
    roll_back_all_but_the_wal(dir.path(), saved.path());
    let s = Storage::open(config(dir.path())).await.unwrap();
    assert_eq!(
        rows(&s, "cpu").await,
        ["y=1 time=1970-01-01T00:00:00.000000600"]
    );
    assert_eq!(field_type(&s, "cpu", "x"), None);
    assert_eq!(field_type(&s, "cpu", "host"), None);
    assert_eq!(rows(&s, "mem").await.len(), 1);
    assert_eq!(s.metrics().parquet_files, 1, "cpu's old file is dropped");
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_racing_a_table_drop_are_rejected_before_it_or_recreate_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    write(
        &s,
        "db",
        "cpu x=1 1
",
    )
    .await;
    // Integer values of x are rejected while x is a float, and accepted once the drop
    // made way for a new table: none may be lost, and no old row may come back.
    let writer = {
        let s = s.clone();
        tokio::spawn(async move {
            let mut accepted = 0;
            for i in 0..100_000i64 {
                if accepted >= 50 {
                    break;
                }
                let text = format!("cpu x={i}i {}\n", 1000 + i);
                let lines: Vec<_> = sluice_lp::parse_lines(text.as_bytes())
                    .map(Result::unwrap)
                    .collect();
                let options = WriteOptions {
                    accept_partial: true,
                    ..WriteOptions::default()
                };
                accepted += s.write("db", &lines, options).await.unwrap().accepted;
                tokio::task::yield_now().await;
            }
            accepted
        })
    };
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(s.drop_table("db", "cpu").await.unwrap());
    let accepted = writer.await.unwrap();
    assert!(accepted > 0, "writes after the drop are accepted");
    assert_eq!(rows(&s, "cpu").await.len(), accepted);
    s.shutdown().await.unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    assert_eq!(
        field_type(&s, "cpu", "x"),
        Some(ColumnKind::Field(FieldType::Integer))
    );
    let rows = rows(&s, "cpu").await;
    assert_eq!(rows.len(), accepted);
    assert!(rows.iter().all(|r| !r.ends_with("00:00:00.000000001")));
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_delete_can_drop_the_tables_it_leaves_without_rows() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    write(&s, "db", CPU).await;
    write(&s, "db", "mem,host=a used=1i 100\n").await;
    s.persist_now().await.unwrap();
    write(&s, "db", "disk,host=a used=1i 100\n").await;
    let request = DeleteRequest {
        tag_predicate: Some(TagPredicate::eq("host", "a")),
        drop_emptied_tables: true,
        ..DeleteRequest::default()
    };
    s.delete("db", &request).await.unwrap();
    let names = |s: &Storage| -> Vec<String> {
        s.tables("db")
            .unwrap()
            .into_iter()
            .map(|t| t.name)
            .collect()
    };
    assert_eq!(
        names(&s),
        ["cpu"],
        "mem (in Parquet) and disk (buffered) are emptied"
    );
    assert_eq!(rows(&s, "cpu").await.len(), 2);
    s.shutdown().await.unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    assert_eq!(names(&s), ["cpu"]);
    s.shutdown().await.unwrap();
}
