//! Compaction end to end: many files merged keep every point with its newest field
//! values, outputs are cut at the target size, and the merge holds a bounded number of
//! rows whatever the size of the partition.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use arrow::array::Array;
use arrow::compute::concat_batches;
use arrow::util::display::array_value_to_string;
use sluice_storage::{CompactHold, ScanRequest, Storage, StorageConfig, WriteOptions};

/// 2024-01-01T00:00:00Z: every point of these tests falls in this UTC day.
const DAY_START: i64 = 1_704_067_200_000_000_000;

/// Rows a persistence or compaction merge reads from each source at a time (the storage
/// crate's `MERGE_BATCH_ROWS`, documented with `StorageMetrics::merge_peak_rows`).
const MERGE_BATCH_ROWS: u64 = 8 * 1024;

fn config(dir: &Path) -> StorageConfig {
    StorageConfig {
        data_dir: dir.to_owned(),
        // Only the explicit calls below persist and compact.
        background_interval: Duration::from_secs(3600),
        ..StorageConfig::default()
    }
}

const PARTIAL: WriteOptions = WriteOptions {
    no_sync: true,
    accept_partial: true,
};

async fn write(s: &Storage, text: &str) {
    let lines: Vec<_> = sluice_lp::parse_lines(text.as_bytes())
        .map(|l| l.expect("valid line protocol"))
        .collect();
    let out = s
        .write("db", &lines, PARTIAL)
        .await
        .expect("write succeeds");
    assert!(out.rejected.is_empty(), "{:?}", out.rejected);
}

/// Every row of `cpu` as `name=value` cells (nulls left out), tags and time first, in
/// scan order.
async fn scan(s: &Storage) -> Vec<String> {
    let res = s
        .scan("db", "cpu", &ScanRequest::default())
        .await
        .expect("scan succeeds");
    if res.batches.is_empty() {
        return Vec::new();
    }
    let b = concat_batches(&res.schema, &res.batches).unwrap();
    (0..b.num_rows())
        .map(|i| {
            let mut cells: Vec<String> = Vec::new();
            for (c, f) in b.columns().iter().zip(b.schema().fields()) {
                if c.is_valid(i) {
                    let v = match f.name().as_str() {
                        "time" => c
                            .as_any()
                            .downcast_ref::<arrow::array::TimestampNanosecondArray>()
                            .unwrap()
                            .value(i)
                            .to_string(),
                        _ => array_value_to_string(c, i).unwrap(),
                    };
                    cells.push(format!("{}={v}", f.name()));
                }
            }
            cells.join(" ")
        })
        .collect()
}

/// xorshift64: reproducible data without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// A point's series (tags in name order) and time.
type Key = (String, Option<String>, i64);

/// The expected table: per point, the last value written of each field.
#[derive(Default)]
struct Model {
    points: BTreeMap<Key, BTreeMap<String, String>>,
}

impl Model {
    /// The rows a scan should return, in scan order: series (an absent tag first), time.
    fn rows(&self) -> Vec<String> {
        self.points
            .iter()
            .map(|((host, rack, time), fields)| {
                let mut cells = vec![format!("host={host}")];
                if let Some(r) = rack {
                    cells.push(format!("rack={r}"));
                }
                // Scan order: tags, fields (by name), time.
                cells.extend(fields.iter().map(|(k, v)| format!("{k}={v}")));
                cells.push(format!("time={time}"));
                cells.join(" ")
            })
            .collect()
    }
}

/// `n` random lines: 12 hosts (some with a `rack` tag, from file 5 on), times in a small
/// range so points are written again in later files, each field present or not; field
/// `c` appears from file 10 on. Returns the line protocol and records it in `model`.
fn random_lines(rng: &mut Rng, file: usize, n: usize, model: &mut Model) -> String {
    let mut text = String::new();
    for _ in 0..n {
        let h = rng.below(12);
        let host = format!("h{h:02}");
        let rack = (file >= 5 && h.is_multiple_of(3)).then(|| format!("r{}", h % 2));
        let time = DAY_START + rng.below(400) as i64 * 1_000_000_000;
        let mut fields: Vec<(String, String, String)> = Vec::new();
        let v = rng.below(1000);
        if rng.below(10) < 6 {
            fields.push(("a".into(), format!("{v}.5"), format!("{v}.5")));
        }
        if rng.below(10) < 6 {
            fields.push(("b".into(), format!("{v}i"), v.to_string()));
        }
        if rng.below(10) < 4 {
            fields.push(("s".into(), format!("\"s{v}\""), format!("s{v}")));
        }
        if rng.below(10) < 4 {
            let b = v.is_multiple_of(2);
            fields.push(("flag".into(), b.to_string(), b.to_string()));
        }
        if file >= 10 && rng.below(10) < 5 {
            fields.push(("c".into(), format!("{}i", v + 1), (v + 1).to_string()));
        }
        if fields.is_empty() {
            fields.push(("a".into(), format!("{v}.5"), format!("{v}.5")));
        }
        let series = match &rack {
            Some(r) => format!("cpu,host={host},rack={r}"),
            None => format!("cpu,host={host}"),
        };
        let set: Vec<String> = fields
            .iter()
            .map(|(k, lp, _)| format!("{k}={lp}"))
            .collect();
        text.push_str(&format!("{series} {} {time}\n", set.join(",")));
        let point = model.points.entry((host, rack, time)).or_default();
        for (k, _, shown) in fields {
            point.insert(k, shown);
        }
    }
    text
}

#[tokio::test]
async fn compacting_many_files_keeps_every_point_with_the_newest_value_of_each_field() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(StorageConfig {
        compact_max_files: 3,
        ..config(dir.path())
    })
    .await
    .unwrap();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut model = Model::default();
    for file in 0..20 {
        let text = random_lines(&mut rng, file, 150, &mut model);
        write(&s, &text).await;
        s.persist_now().await.unwrap();
    }
    assert_eq!(s.metrics().parquet_files, 20);
    let expected = model.rows();
    assert_eq!(scan(&s).await, expected, "before compaction");
    // At most six files are merged at a time, so this takes rounds, each merging the
    // previous round's output with older files.
    let mut files = s.metrics().parquet_files;
    loop {
        s.compact_now().await.unwrap();
        let now = s.metrics().parquet_files;
        assert_eq!(
            scan(&s).await,
            expected,
            "after compacting down to {now} files"
        );
        if now == files {
            break;
        }
        files = now;
    }
    assert!(files <= 3, "{files} files left");
    s.shutdown().await.unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    assert_eq!(scan(&s).await, expected, "after a restart");
    s.shutdown().await.unwrap();
}

/// The live Parquet files (those the manifest names) with their sizes on disk, by
/// path; each is checked to exist with the size the manifest records.
fn parquet_files(dir: &Path) -> BTreeMap<PathBuf, u64> {
    let text = std::fs::read(dir.join("catalog/manifest.json")).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&text).unwrap();
    let mut out = BTreeMap::new();
    for f in manifest["files"].as_array().unwrap() {
        let path = dir.join("objects").join(f["path"].as_str().unwrap());
        let size = path.metadata().unwrap().len();
        assert_eq!(Some(size), f["bytes"].as_u64(), "{}", path.display());
        out.insert(path, size);
    }
    out
}

/// `rows` lines over 20 hosts with three fields of noise (which compresses badly, so
/// files have a predictable size), at times starting at `first`.
fn noisy_lines(rng: &mut Rng, rows: usize, first: i64) -> String {
    let mut text = String::new();
    for i in 0..rows {
        let time = DAY_START + (first + (i / 20) as i64) * 1_000_000_000;
        text.push_str(&format!(
            "cpu,host=h{} x={}.{},y={}.{},z={}.{} {time}\n",
            i % 20,
            rng.below(1 << 30),
            rng.below(1 << 30),
            rng.below(1 << 30),
            rng.below(1 << 30),
            rng.below(1 << 30),
            rng.below(1 << 30),
        ));
    }
    text
}

#[tokio::test]
async fn compaction_cuts_its_outputs_at_the_target_size_and_leaves_full_files_alone() {
    let dir = tempfile::tempdir().unwrap();
    let target: u64 = 256 << 10;
    let s = Storage::open(StorageConfig {
        compact_max_files: 5,
        compaction_max_output_bytes: target,
        ..config(dir.path())
    })
    .await
    .unwrap();
    let mut rng = Rng(7);
    for file in 0..10 {
        write(&s, &noisy_lines(&mut rng, 4_000, file * 1_000)).await;
        s.persist_now().await.unwrap();
    }
    let rows_before = scan(&s).await;
    assert_eq!(rows_before.len(), 40_000);
    let small = parquet_files(dir.path());
    assert_eq!(small.len(), 10);
    assert!(
        small.values().all(|&b| b < target / 2),
        "persisted files are small: {small:?}"
    );
    let total: u64 = small.values().sum();
    assert!(
        total > 3 * target,
        "{total} bytes are enough for several outputs"
    );

    // All ten small files (up to twice `compact_max_files` at once), merged and cut.
    s.compact_now().await.unwrap();
    let cut = parquet_files(dir.path());
    assert_eq!(scan(&s).await, rows_before);
    assert!(cut.len() >= 3, "{cut:?}");
    let sizes: Vec<u64> = cut.values().copied().collect();
    // Files are cut once they reach the target, checked every 1,024 rows (under 32 KiB
    // of this data); the last holds what is left.
    let slack = 64 << 10;
    for (i, &size) in sizes.iter().enumerate() {
        assert!(
            size <= target + slack,
            "file {i} of {sizes:?} over the target"
        );
        if i + 1 < sizes.len() {
            assert!(size >= target / 2, "file {i} of {sizes:?} cut too early");
        }
    }

    // New small files are merged among themselves; full files are not rewritten.
    let full: Vec<PathBuf> = cut
        .iter()
        .filter(|(_, b)| **b >= target / 2)
        .map(|(p, _)| p.clone())
        .collect();
    for file in 10..16 {
        write(&s, &noisy_lines(&mut rng, 300, file * 1_000)).await;
        s.persist_now().await.unwrap();
    }
    let rows_after = scan(&s).await;
    assert_eq!(rows_after.len(), 41_800);
    s.compact_now().await.unwrap();
    let later = parquet_files(dir.path());
    for p in &full {
        assert!(
            later.contains_key(p),
            "full file {} was rewritten",
            p.display()
        );
    }
    assert!(later.len() < cut.len() + 6, "{later:?}");
    assert_eq!(scan(&s).await, rows_after);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn compaction_holds_a_bounded_number_of_rows_whatever_the_partition_size() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(StorageConfig {
        compact_max_files: 5,
        ..config(dir.path())
    })
    .await
    .unwrap();
    // Six files of 40,000 rows: 100 series whose times interleave across files, so the
    // merge switches between files every few hundred rows.
    let files = 6u64;
    let per_file = 40_000u64;
    for f in 0..files {
        let mut text = String::new();
        for i in 0..per_file {
            let step = (i / 100) * files + f;
            let time = DAY_START + step as i64 * 1_000_000_000;
            text.push_str(&format!("cpu,host=h{:03} v={i}i {time}\n", i % 100));
        }
        write(&s, &text).await;
        s.persist_now().await.unwrap();
    }
    assert_eq!(s.metrics().parquet_files, files);
    s.compact_now().await.unwrap();
    let m = s.metrics();
    assert_eq!(m.parquet_files, 1);
    let total = files * per_file;
    assert_eq!(scan(&s).await.len() as u64, total);
    // One batch per input plus the output being built, however many rows there are.
    let bound = (files + 1) * MERGE_BATCH_ROWS;
    assert!(
        m.merge_peak_rows > 0 && m.merge_peak_rows <= bound,
        "held {} rows at once (bound {bound}) of {total}",
        m.merge_peak_rows
    );
    assert!(bound * 4 < total, "the bound is well below the partition");
    assert!(m.merge_peak_bytes > 0);
    s.shutdown().await.unwrap();
}

/// Storage on `dir` whose partitions are cold after `cold`.
async fn open_cold(dir: &Path, cold: Duration) -> Storage {
    Storage::open(StorageConfig {
        compact_cold_after: cold,
        ..config(dir)
    })
    .await
    .unwrap()
}

/// Compacts what is due now; returns the live Parquet files then.
async fn compacted_files(s: &Storage, dir: &Path) -> usize {
    s.compact_now().await.unwrap();
    parquet_files(dir).len()
}

#[tokio::test]
async fn a_partition_that_stopped_receiving_writes_has_its_few_files_merged() {
    let dir = tempfile::tempdir().unwrap();
    // Cold after an hour, aged by the test (`age_partitions`) rather than waited for: no
    // stall of the machine makes the partition cold before the test means it to be.
    let cold = Duration::from_secs(3600);
    let s = open_cold(dir.path(), cold).await;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut model = Model::default();
    // Three files of the same day writing the same points again: far fewer than
    // `compact_max_files` (8), so only the rule for cold partitions merges them.
    for file in 0..3 {
        write(&s, &random_lines(&mut rng, file, 200, &mut model)).await;
        s.persist_now().await.unwrap();
    }
    assert_eq!(
        compacted_files(&s, dir.path()).await,
        3,
        "persisted into just now"
    );

    // A buffered row keeps the partition warm however long it waits.
    write(&s, &random_lines(&mut rng, 3, 1, &mut model)).await;
    s.age_partitions(2 * cold);
    assert_eq!(
        compacted_files(&s, dir.path()).await,
        3,
        "rows of the day buffered"
    );
    s.persist_now().await.unwrap();
    assert_eq!(
        compacted_files(&s, dir.path()).await,
        4,
        "persisted into just now"
    );

    s.age_partitions(2 * cold);
    assert_eq!(compacted_files(&s, dir.path()).await, 1, "cold: merged");
    let expected = model.rows();
    assert_eq!(scan(&s).await, expected);
    // One file is what a cold partition ends with: no rewrite after that.
    let merged = parquet_files(dir.path());
    s.age_partitions(2 * cold);
    s.compact_now().await.unwrap();
    assert_eq!(parquet_files(dir.path()), merged);
    s.shutdown().await.unwrap();
    let s = Storage::open(config(dir.path())).await.unwrap();
    assert_eq!(scan(&s).await, expected, "after a restart");
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_rule_for_cold_partitions_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let s = open_cold(dir.path(), Duration::ZERO).await;
    let mut rng = Rng(5);
    let mut model = Model::default();
    for file in 0..2 {
        write(&s, &random_lines(&mut rng, file, 50, &mut model)).await;
        s.persist_now().await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(compacted_files(&s, dir.path()).await, 2);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn every_cold_day_of_a_backfill_is_merged() {
    let dir = tempfile::tempdir().unwrap();
    let cold = Duration::from_secs(3600);
    let s = open_cold(dir.path(), cold).await;
    const DAY: i64 = 86_400_000_000_000;
    // Two files for each of five days, the second writing the first's points again.
    for round in 0..2 {
        let mut text = String::new();
        for day in 0..5 {
            for host in 0..3 {
                let time = DAY_START + day * DAY;
                text.push_str(&format!("cpu,host=h{host} v={round}i {time}\n"));
            }
        }
        write(&s, &text).await;
        s.persist_now().await.unwrap();
    }
    assert_eq!(parquet_files(dir.path()).len(), 10);
    s.age_partitions(2 * cold);
    assert_eq!(compacted_files(&s, dir.path()).await, 5, "one file a day");
    let rows = scan(&s).await;
    assert_eq!(rows.len(), 15);
    assert!(rows.iter().all(|r| r.contains(" v=1 ")), "{rows:?}");
    s.shutdown().await.unwrap();
}

/// Files of the partition on disk (`objects/…/ID.parquet`), named by the manifest or
/// not: a compaction's outputs are there before it commits them.
fn files_on_disk(dir: &Path) -> usize {
    fn walk(dir: &Path, n: &mut usize) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, n);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                *n += 1;
            }
        }
    }
    let mut n = 0;
    walk(&dir.join("objects"), &mut n);
    n
}

/// A storage that merges any two files of a day when asked, and with `hold` waits
/// between merging and committing until it is released.
async fn open_held_compaction(dir: &Path, hold: Option<CompactHold>) -> Storage {
    Storage::open(StorageConfig {
        compact_max_files: 1,
        compact_hold: hold,
        ..config(dir)
    })
    .await
    .unwrap()
}

/// Two files of the same points, the second overwriting every other host's values.
async fn two_overlapping_files(s: &Storage) {
    for round in 0..2 {
        let mut text = String::new();
        for host in (0..10).filter(|h| round == 0 || h % 2 == 0) {
            for t in 0..5 {
                text.push_str(&format!(
                    "cpu,host=h{host} v={}i {}\n",
                    round * 100 + host,
                    DAY_START + t
                ));
            }
        }
        write(s, &text).await;
        s.persist_now().await.unwrap();
    }
}

/// Runs `during` once the compaction `s.compact_now()` started has merged and waits
/// on `hold` to commit, then releases the hold; returns what `during` returned once the
/// compaction has ended. `during` must not wait for the compaction: a minute without
/// its end fails the test.
async fn while_compaction_waits<T>(
    s: &Storage,
    dir: &Path,
    hold: &CompactHold,
    during: impl std::future::Future<Output = T>,
) -> T {
    let manifest_files = parquet_files(dir).len();
    let then = async {
        while files_on_disk(dir) <= manifest_files {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let out = tokio::time::timeout(Duration::from_secs(60), during)
            .await
            .expect("what ran beside the merge waited for it");
        hold.release();
        out
    };
    let (compacted, out) = tokio::join!(s.compact_now(), then);
    compacted.unwrap();
    out
}

#[tokio::test]
async fn persistence_goes_on_while_a_compaction_merges() {
    let dir = tempfile::tempdir().unwrap();
    let hold = CompactHold::new();
    let s = open_held_compaction(dir.path(), Some(hold.clone())).await;
    two_overlapping_files(&s).await;
    while_compaction_waits(&s, dir.path(), &hold, async {
        // Newer than both files being merged: host h1 and h2 get new values.
        write(
            &s,
            &format!("cpu,host=h1 v=7001i {DAY_START}\ncpu,host=h2 v=7002i {DAY_START}\n"),
        )
        .await;
        s.persist_now().await.unwrap();
        assert_eq!(
            parquet_files(dir.path()).len(),
            3,
            "persisted beside the merge"
        );
    })
    .await;
    assert_eq!(
        parquet_files(dir.path()).len(),
        2,
        "the merged file and the new one"
    );
    let rows = scan(&s).await;
    assert_eq!(rows.len(), 50);
    // The newest write of each point: persisted beside the merge, then the newer of the
    // merged files, then the older.
    for (host, v) in [("h1", 7001), ("h2", 7002), ("h4", 104), ("h3", 3)] {
        let row = format!("host={host} v={v} time={DAY_START}");
        assert!(rows.contains(&row), "{row} in {rows:?}");
    }
    s.shutdown().await.unwrap();
    let s = open_held_compaction(dir.path(), None).await;
    assert_eq!(scan(&s).await, rows, "the same after a restart");
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_merge_whose_input_a_delete_rewrote_meanwhile_is_not_committed() {
    let dir = tempfile::tempdir().unwrap();
    let hold = CompactHold::new();
    let s = open_held_compaction(dir.path(), Some(hold.clone())).await;
    two_overlapping_files(&s).await;
    let request = sluice_storage::DeleteRequest {
        table: Some("cpu".to_owned()),
        tag_predicate: Some(sluice_storage::TagPredicate::eq("host", "h3")),
        ..sluice_storage::DeleteRequest::default()
    };
    let rows = while_compaction_waits(&s, dir.path(), &hold, async {
        // h3 is only in the older file, which the delete rewrites.
        s.delete("db", &request).await.unwrap();
        scan(&s).await
    })
    .await;
    assert_eq!(rows.len(), 45);
    assert!(rows.iter().all(|r| !r.starts_with("host=h3 ")), "{rows:?}");
    assert_eq!(scan(&s).await, rows, "the merge of the old inputs left out");
    assert_eq!(parquet_files(dir.path()).len(), 2);
    assert_eq!(
        compacted_files(&s, dir.path()).await,
        1,
        "merged again, from the rewrite"
    );
    assert_eq!(scan(&s).await, rows);
    s.shutdown().await.unwrap();
    let s = open_held_compaction(dir.path(), None).await;
    assert_eq!(scan(&s).await, rows, "the same after a restart");
    s.shutdown().await.unwrap();
}
