//! Retention policies end to end: each policy is a storage database of its own (`D/r`)
//! with its own data and expiry, saved in the catalog and gone with its database.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sluice_storage::{
    Error, RetentionPolicySpec, RetentionPolicyUpdate, ScanRequest, Storage, StorageConfig,
    WriteOptions,
};

const DAY: i64 = 86_400_000_000_000;
const HOUR: Duration = Duration::from_secs(3600);

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

async fn write(s: &Storage, db: &str, text: &str) -> sluice_storage::WriteOutcome {
    let lines: Vec<_> = sluice_lp::parse_lines(text.as_bytes())
        .map(|l| l.expect("valid line protocol"))
        .collect();
    let options = WriteOptions {
        no_sync: false,
        accept_partial: true,
    };
    s.write(db, &lines, options).await.expect("write succeeds")
}

/// The times of a table's rows, or `None` when the table or database does not exist.
async fn times(s: &Storage, db: &str, table: &str) -> Option<Vec<i64>> {
    let scanned = s.scan(db, table, &ScanRequest::default()).await.ok()?;
    let mut out = Vec::new();
    for batch in &scanned.batches {
        let time = batch
            .column_by_name("time")
            .unwrap()
            .as_any()
            .downcast_ref::<arrow::array::TimestampNanosecondArray>()
            .unwrap();
        out.extend(time.values().iter().copied());
    }
    Some(out)
}

fn spec(duration: Option<Duration>) -> RetentionPolicySpec {
    RetentionPolicySpec {
        duration,
        ..RetentionPolicySpec::default()
    }
}

/// (name, duration, shard group duration, replication, default) of each policy.
fn summary(s: &Storage, db: &str) -> Vec<(String, Option<Duration>, Duration, u32, bool)> {
    s.retention_policies(db)
        .unwrap()
        .into_iter()
        .map(|p| {
            (
                p.name,
                p.duration,
                p.shard_group_duration,
                p.replication,
                p.default,
            )
        })
        .collect()
}

#[tokio::test]
async fn policies_keep_their_settings_data_and_default_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    s.create_database("d", None).unwrap();
    let week = RetentionPolicySpec {
        duration: Some(7 * 24 * HOUR),
        shard_group_duration: None,
        replication: 3,
    };
    s.create_retention_policy("d", "week", &week, true).unwrap();
    s.create_retention_policy("d", "forever", &spec(None), false)
        .unwrap();
    let t = now();
    let week_db = s.policy_database("d", None).unwrap();
    assert_eq!(week_db, "d/week");
    write(&s, &week_db, &format!("m v=1 {t}\n")).await;
    write(&s, "d", &format!("m v=2 {}\n", t + 1)).await;
    s.persist_now().await.unwrap();
    let before = summary(&s, "d");
    assert_eq!(
        before,
        vec![
            ("autogen".to_owned(), None, 7 * 24 * HOUR, 1, false),
            ("week".to_owned(), Some(7 * 24 * HOUR), 24 * HOUR, 3, true),
            ("forever".to_owned(), None, 7 * 24 * HOUR, 1, false),
        ]
    );
    let names: Vec<String> = s.databases().into_iter().map(|d| d.name).collect();
    assert_eq!(names, ["d"], "policies are not databases of their own");
    let all: Vec<String> = s.all_databases().into_iter().map(|d| d.name).collect();
    assert_eq!(all, ["d", "d/forever", "d/week"]);
    s.shutdown().await.unwrap();

    let s = Storage::open(config(dir.path())).await.unwrap();
    assert_eq!(summary(&s, "d"), before);
    assert_eq!(times(&s, "d/week", "m").await, Some(vec![t]));
    assert_eq!(times(&s, "d", "m").await, Some(vec![t + 1]));
    // Switching the default back changes where writes without a policy go.
    let default = RetentionPolicyUpdate {
        make_default: true,
        ..RetentionPolicyUpdate::default()
    };
    s.alter_retention_policy("d", "autogen", &default).unwrap();
    assert_eq!(s.policy_database("d", None).unwrap(), "d");
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn dropping_a_database_drops_its_policies_and_their_data_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    s.create_database("d", None).unwrap();
    s.create_retention_policy("d", "r", &spec(None), false)
        .unwrap();
    write(&s, "d/r", "m v=1 100\n").await;
    s.persist_now().await.unwrap();
    write(&s, "d/r", "m v=2 200\n").await;
    assert_eq!(s.metrics().parquet_files, 1);
    assert!(s.drop_database("d").await.unwrap());
    assert_eq!(s.metrics().parquet_files, 0);
    assert!(s.all_databases().is_empty());
    s.shutdown().await.unwrap();

    let s = Storage::open(config(dir.path())).await.unwrap();
    assert!(s.all_databases().is_empty());
    s.create_database("d", None).unwrap();
    assert_eq!(summary(&s, "d").len(), 1);
    assert!(matches!(
        s.policy_database("d", Some("r")),
        Err(Error::RetentionPolicyNotFound { .. })
    ));
    s.create_retention_policy("d", "r", &spec(None), false)
        .unwrap();
    assert!(
        s.tables("d/r").unwrap().is_empty(),
        "the new policy is empty"
    );
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn dropping_a_policy_drops_its_data_and_leaves_the_database_alone() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    s.create_database("d", None).unwrap();
    s.create_retention_policy("d", "r", &spec(None), true)
        .unwrap();
    write(&s, "d", "m v=1 100\n").await;
    write(&s, "d/r", "m v=2 200\n").await;
    assert!(s.drop_retention_policy("d", "r").unwrap());
    assert!(!s.drop_retention_policy("d", "r").unwrap());
    assert!(matches!(
        s.drop_retention_policy("d", "autogen"),
        Err(Error::DatabasePolicy { .. })
    ));
    assert_eq!(s.policy_database("d", None).unwrap(), "d");
    assert_eq!(times(&s, "d", "m").await, Some(vec![100]));
    assert_eq!(times(&s, "d/r", "m").await, None);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_short_policy_expires_its_old_days_while_the_database_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    s.create_database("d", None).unwrap();
    s.create_retention_policy("d", "short", &spec(None), false)
        .unwrap();
    let today = now();
    let old = today - 3 * DAY;
    let text = format!("m v=1 {old}\nm v=2 {today}\n");
    write(&s, "d", &text).await;
    write(&s, "d/short", &text).await;
    s.persist_now().await.unwrap();
    write(&s, "d/short", &format!("m v=3 {}\n", old + 1)).await;
    let shorter = RetentionPolicyUpdate {
        duration: Some(Some(24 * HOUR)),
        shard_group_duration: Some(HOUR),
        ..RetentionPolicyUpdate::default()
    };
    s.alter_retention_policy("d", "short", &shorter).unwrap();
    s.enforce_retention_now().unwrap();
    // Both the Parquet file and the buffered row of the old day are gone.
    assert_eq!(times(&s, "d/short", "m").await, Some(vec![today]));
    assert_eq!(times(&s, "d", "m").await, Some(vec![old, today]));
    let out = write(&s, "d/short", &format!("m v=4 {old}\n")).await;
    assert_eq!(
        out.accepted, 0,
        "old points are refused by the short policy"
    );
    s.shutdown().await.unwrap();
}
