//! The files publisher seam (`Storage::set_files_publisher`): the publisher hears of every
//! manifest change, reads each table's live files and schema, and the files a change
//! dropped stay on disk until it has published a generation without them.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use sluice_storage::{FilesPublisher, PublisherCounts, Storage, StorageConfig, WriteOptions};

/// A publisher that publishes when the test says so.
#[derive(Debug, Default)]
struct Manual {
    announced: Mutex<Vec<u64>>,
    published: AtomicU64,
    fault: Mutex<Option<String>>,
}

impl FilesPublisher for Manual {
    fn files_changed(&self, generation: u64) {
        self.announced.lock().push(generation);
    }
    fn published_generation(&self) -> u64 {
        self.published.load(Ordering::SeqCst)
    }
    fn fault(&self) -> Option<String> {
        self.fault.lock().clone()
    }
    fn counts(&self) -> PublisherCounts {
        PublisherCounts {
            published: 1,
            failed: 2,
        }
    }
}

fn parquet_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .map(|e| {
                let path = e.path();
                if path.is_dir() {
                    parquet_files(&path)
                } else {
                    usize::from(path.extension().is_some_and(|x| x == "parquet"))
                }
            })
            .sum()
    })
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn dropped_files_wait_for_the_publisher_and_live_files_name_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(StorageConfig {
        data_dir: dir.path().to_owned(),
        background_interval: Duration::from_millis(20),
        compact_max_files: 3,
        ..StorageConfig::default()
    })
    .await
    .unwrap();
    let publisher = Arc::new(Manual::default());
    s.set_files_publisher(publisher.clone());
    assert_eq!(publisher.announced.lock().len(), 1, "told at once");
    let options = WriteOptions {
        no_sync: true,
        accept_partial: false,
    };
    // Four files of one day: the background task compacts them into one.
    for i in 0..4i64 {
        let text = format!("cpu,host=h{i} v={i}i {}", 1_704_067_200_000_000_000 + i);
        let lines: Vec<_> = sluice_lp::parse_lines(text.as_bytes())
            .map(|l| l.unwrap())
            .collect();
        s.write("db", &lines, options).await.unwrap();
        s.persist_now().await.unwrap();
    }
    let objects = dir.path().join("objects");
    wait_until("the four files are compacted", || {
        s.live_files()
            .tables
            .first()
            .is_some_and(|t| t.files.len() == 1)
    })
    .await;
    let live = s.live_files();
    assert!(
        publisher.announced.lock().contains(&live.generation),
        "every manifest change is announced"
    );
    let table = &live.tables[0];
    assert_eq!(
        (table.database.as_str(), table.table.as_str()),
        ("db", "cpu")
    );
    let columns: Vec<_> = table
        .schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(columns, ["host", "v", "time"]);
    let file = &table.files[0];
    assert!(file.url.starts_with("file:///"), "{}", file.url);
    assert!(Path::new(file.url.trim_start_matches("file://")).is_file());
    assert_eq!(file.rows, 4);
    assert_eq!(file.max_time - file.min_time, 3);

    // Nothing published yet: the compaction's inputs stay.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(parquet_files(&objects), 5);
    *publisher.fault.lock() = Some("catalog down".to_owned());
    let fault = s.faults().into_iter().find(|f| f.component == "publisher");
    assert!(fault.is_some_and(|f| f.degraded && f.message == "catalog down"));
    assert_eq!(s.metrics().publisher.unwrap().failed, 2);

    // Published: they go.
    publisher.published.store(live.generation, Ordering::SeqCst);
    *publisher.fault.lock() = None;
    wait_until("the inputs are deleted", || parquet_files(&objects) == 1).await;
    assert!(s.faults().is_empty());
    s.shutdown().await.unwrap();
}
