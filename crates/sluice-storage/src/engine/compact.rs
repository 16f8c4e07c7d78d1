//! Compaction: merging the small Parquet files of a partition (database, table, UTC day)
//! into files of up to `compaction_max_output_bytes`, streaming.
//!
//! # Which files
//!
//! Files of a partition are ordered by write order ([`ParquetFile::write_order`]: a
//! higher order holds newer writes of the same points). Compaction takes the newest
//! files back to (not including) the newest *full* file — one of at least half of
//! `compaction_max_output_bytes` — and at most `2 × compact_max_files` of them, and
//! merges them once there are more than `compact_max_files`. Taking only the newest
//! files keeps precedence right: the outputs take the newest order of their inputs,
//! and every file left out is older than every file merged. Full files are never rewritten, so a day of any size costs a bounded number
//! of rewrites per row, and files stay at about the target size.
//!
//! # Cold partitions
//!
//! A partition that stopped receiving writes would otherwise keep up to
//! `compact_max_files` overlapping files for good (a backfilled day, yesterday after
//! midnight), and every query over it would merge them again. Once a partition is
//! *cold* — none of its rows in the buffer, and no file persisted into it for
//! `compact_cold_after` (counted from start-up for files older than that; a compactor
//! node, which cannot see the buffer, judges by the files alone) — its tail of
//! small files is merged as soon as it has two, as InfluxDB 1.x does for a shard after
//! `compact-full-write-cold-duration`. The merged tail is one file (or a few full ones
//! and one), so a partition that stays cold is not rewritten again; one that gets a
//! straggler now and then is rewritten at most once per `compact_cold_after`, and never
//! beyond its tail of small files.
//!
//! # Memory
//!
//! Each input is read page by page in batches of [`MERGE_BATCH_ROWS`] rows
//! ([`crate::persist::read_in_order`]), merged by a k-way merge that holds one batch
//! per input ([`crate::merge::MergeStream`]), and written to a staging file on disk
//! through one Parquet writer that buffers at most one row group
//! ([`crate::persist::ROW_GROUP_BYTES`]). So a compaction holds about
//! `(inputs + 1) × MERGE_BATCH_ROWS` decoded rows plus one row group, whatever the size
//! of the partition.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use super::Inner;
use super::files::{self, FileSpec, MERGE_BATCH_ROWS, PartitionKey};
use crate::config::StorageConfig;
use crate::error::{Error, Result};
use crate::manifest::{Manifest, ParquetFile};
use crate::merge::{SortedBatches, TableSchema, conform};
use crate::persist;

/// The files of one partition (oldest write first) to merge now, if any: its tail of
/// small files once there are more than `max_files` of them, or more than one when the
/// partition is `cold`.
pub(super) fn select_inputs<'a>(
    files: &[&'a ParquetFile],
    max_files: usize,
    max_output_bytes: u64,
    cold: bool,
) -> Vec<&'a ParquetFile> {
    let max_files = max_files.max(1);
    let max_inputs = 2 * max_files;
    let full = |f: &ParquetFile| f.bytes >= max_output_bytes / 2;
    let mut start = files.len();
    while start > 0 && !full(files[start - 1]) && files.len() - start < max_inputs {
        start -= 1;
    }
    let tail = &files[start..];
    let merge_above = if cold { 1 } else { max_files };
    if tail.len() > merge_above {
        tail.to_vec()
    } else {
        Vec::new()
    }
}

/// Since when each partition's newest file has been its newest: what tells a cold
/// partition (see the module docs). A persisted file takes a write order above every
/// earlier one, while compaction outputs and files rewritten by a delete keep their
/// inputs' newest, so the newest order of a partition's files moves only when
/// persistence gave it a file. A partition first seen is taken to have just had one.
#[derive(Debug, Default)]
pub(super) struct Activity {
    /// Per partition: its newest write order, since when, and quiet time counted on top
    /// of the clock's ([`Activity::age`]).
    newest: HashMap<PartitionKey, (u64, Instant, Duration)>,
}

impl Activity {
    /// Notes the newest write order of each partition of `manifest`, and forgets those
    /// it no longer has.
    pub(super) fn observe(&mut self, manifest: &Manifest) {
        let now = Instant::now();
        let mut seen: HashMap<PartitionKey, u64> = HashMap::new();
        for f in &manifest.files {
            let newest = seen.entry((f.db_id, f.table.clone(), f.day)).or_default();
            *newest = (*newest).max(f.write_order().0);
        }
        self.newest.retain(|key, _| seen.contains_key(key));
        for (key, order) in seen {
            let (known, since, aged) =
                self.newest
                    .entry(key)
                    .or_insert((order, now, Duration::ZERO));
            if *known != order {
                (*known, *since, *aged) = (order, now, Duration::ZERO);
            }
        }
    }

    /// Counts `by` more quiet time for every partition known now, as if that much time
    /// had passed ([`crate::Storage::age_partitions`]); a partition given a file later
    /// starts again from none.
    pub(super) fn age(&mut self, by: Duration) {
        for (_, _, aged) in self.newest.values_mut() {
            *aged = aged.saturating_add(by);
        }
    }

    /// Whether a partition's newest file has been its newest for at least `quiet`
    /// (never when `quiet` is zero: the rule is off).
    pub(super) fn quiet_for(&self, quiet: Duration) -> impl Fn(&PartitionKey) -> bool + '_ {
        move |key: &PartitionKey| {
            !quiet.is_zero()
                && self
                    .newest
                    .get(key)
                    .is_some_and(|(_, since, aged)| since.elapsed().saturating_add(*aged) >= quiet)
        }
    }
}

/// The partitions of `manifest` to compact now, each with its inputs (oldest write
/// first), as `select_inputs` picks them; `cold` tells the cold partitions.
pub(super) fn plan(
    manifest: &Manifest,
    config: &StorageConfig,
    cold: impl Fn(&PartitionKey) -> bool,
) -> Vec<(PartitionKey, Vec<ParquetFile>)> {
    let mut groups: BTreeMap<PartitionKey, Vec<&ParquetFile>> = BTreeMap::new();
    for f in &manifest.files {
        groups
            .entry((f.db_id, f.table.clone(), f.day))
            .or_default()
            .push(f);
    }
    groups
        .into_iter()
        .filter_map(|(key, mut files)| {
            files.sort_by_key(|f| f.write_order());
            let inputs: Vec<ParquetFile> = select_inputs(
                &files,
                config.compact_max_files,
                config.compaction_max_output_bytes,
                cold(&key),
            )
            .into_iter()
            .cloned()
            .collect();
            (!inputs.is_empty()).then_some((key, inputs))
        })
        .collect()
}

/// The partitions to compact now, each with its inputs (see the module docs).
fn due(inner: &Inner) -> Vec<(PartitionKey, Vec<ParquetFile>)> {
    let state = inner.state.read();
    let buffered = |key: &PartitionKey| {
        let (db_id, table, day) = key;
        std::iter::once(&state.active)
            .chain(state.frozen.iter().map(|f| &f.buffer))
            .any(|buffer| {
                buffer
                    .table(*db_id, table)
                    .is_some_and(|t| t.partitions.contains_key(day))
            })
    };
    // Up to date: every manifest the node installs is observed (`install_manifest`).
    let activity = inner.activity.lock();
    let quiet = activity.quiet_for(inner.config.compact_cold_after);
    plan(&state.manifest, &inner.config, |key| {
        quiet(key) && !buffered(key)
    })
}

/// Merges the small files of every partition that needs it (see the module docs), a
/// partition at a time.
///
/// A merge holds no lock: persistence, deletes and writes go on beside it (a merge of
/// a day's files takes seconds, and the buffer must not grow meanwhile), and the ids of
/// its outputs come from the node's counter ([`Inner::file_ids`]). Its outputs are
/// committed under the persist lock, and only while every input is still in the
/// manifest: a delete may have rewritten one meanwhile, or retention or a dropped
/// database removed it, and then the outputs are deleted and the next round plans
/// again.
pub(super) async fn compact(inner: &Arc<Inner>) -> Result<()> {
    let _one_at_a_time = inner.compact_lock.lock().await;
    let mut compacted = false;
    let keys: Vec<PartitionKey> = due(inner).into_iter().map(|(key, _)| key).collect();
    for key in keys {
        inner.check_lease()?;
        // What the partition needs now: earlier merges and persistence may have changed it.
        let Some((_, inputs)) = due(inner).into_iter().find(|(k, _)| *k == key) else {
            continue;
        };
        let (db_id, table, day) = key;
        let written = match merge_files(
            inner,
            inner.object_prefix().to_owned(),
            (db_id, table.clone(), day),
            &inputs,
            inner.file_ids.clone(),
        )
        .await
        {
            Ok(written) => written,
            // An input deleted since it was planned: the next round plans again.
            Err(Error::ObjectStore(object_store::Error::NotFound { .. })) => continue,
            Err(e) => return Err(e),
        };
        let (peak, writer_peak) = (written.peak, written.writer_peak);
        files::note_peak(inner, peak, writer_peak);
        let new = written.files;
        let old: HashSet<u64> = inputs.iter().map(|f| f.id).collect();
        if let Some(hold) = &inner.config.compact_hold {
            hold.wait().await;
        }
        let _guard = inner.persist_lock.lock().await;
        inner.check_lease()?;
        let mut state = inner.state.write();
        let mut m = (*state.manifest).clone();
        let present = m.files.iter().filter(|f| old.contains(&f.id)).count();
        if present < old.len() {
            inner
                .pending_deletes
                .lock()
                .extend(new.into_iter().map(|n| n.path));
            continue;
        }
        let (dropped, kept): (Vec<_>, Vec<_>) =
            m.files.into_iter().partition(|f| old.contains(&f.id));
        m.files = kept;
        let outputs = new.len();
        let (rows, bytes) = new
            .iter()
            .fold((0, 0), |(r, b), f| (r + f.rows, b + f.bytes));
        m.files.extend(new);
        inner.install_manifest(&mut state, m)?;
        inner
            .pending_deletes
            .lock()
            .extend(dropped.into_iter().map(|f| f.path));
        compacted = true;
        // Which rule: more files than the limit, or a cold partition's fewer.
        let rule = if old.len() > inner.config.compact_max_files {
            "count"
        } else {
            "cold"
        };
        tracing::info!(
            table,
            day,
            rule,
            files = old.len(),
            outputs,
            rows,
            bytes,
            peak_rows = peak.rows,
            peak_bytes = peak.bytes + writer_peak,
            "compacted partition"
        );
    }
    if compacted {
        release_freed_memory();
    }
    Ok(())
}

/// Merges `inputs` (files of partition `key`, oldest write first) into new files under
/// `prefix`, their ids taken from `ids`; the outputs take the newest write order of
/// their inputs.
pub(super) async fn merge_files(
    inner: &Arc<Inner>,
    prefix: String,
    key: PartitionKey,
    inputs: &[ParquetFile],
    ids: Arc<AtomicU64>,
) -> Result<files::Written> {
    let mut data = Vec::with_capacity(inputs.len());
    for f in inputs {
        data.push(inner.open_file(&f.path).await?);
    }
    let spec = FileSpec {
        key,
        ids,
        // The outputs hold the inputs' writes, the newest of them as new as the newest
        // input.
        order: inputs.iter().map(|f| f.order).max(),
        max_bytes: inner.config.compaction_max_output_bytes,
        indexed: true,
    };
    files::write_partition_at(inner, prefix, spec, "compaction", move || {
        // Inputs oldest first, so the newest value of a point wins.
        let mut schema = TableSchema::default();
        let mut opened = Vec::with_capacity(data.len());
        for d in data {
            let (file_schema, batches) = persist::read_in_order(d, MERGE_BATCH_ROWS)?;
            schema.union_with(&TableSchema::of_arrow(&file_schema));
            opened.push(batches);
        }
        let arrow_schema = schema.arrow_schema();
        let sources = opened
            .into_iter()
            .map(|batches| -> SortedBatches {
                let s = arrow_schema.clone();
                Box::new(batches.map(move |b| Ok(conform(&b?, &s)?)))
            })
            .collect();
        Ok((schema, sources))
    })
    .await
}

/// Returns memory freed by a persistence or compaction to the operating system.
/// glibc's malloc keeps freed memory in per-thread arenas (the blocking threads that
/// merge and write, the workers that filled the buffers), where it stays counted in the
/// process's RSS until trimmed.
pub(super) fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it takes no
    // pointers from us and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(id: u64, bytes: u64) -> ParquetFile {
        ParquetFile {
            id,
            order: id,
            db_id: 1,
            table: "cpu".into(),
            day: 0,
            path: String::new(),
            min_time: 0,
            max_time: 0,
            rows: 1,
            bytes,
        }
    }

    fn ids(files: &[ParquetFile], max_files: usize, max_bytes: u64) -> Vec<u64> {
        cold_ids(files, max_files, max_bytes, false)
    }

    fn cold_ids(files: &[ParquetFile], max_files: usize, max_bytes: u64, cold: bool) -> Vec<u64> {
        let refs: Vec<&ParquetFile> = files.iter().collect();
        select_inputs(&refs, max_files, max_bytes, cold)
            .iter()
            .map(|f| f.id)
            .collect()
    }

    #[test]
    fn merges_the_newest_small_files_once_there_are_more_than_the_limit() {
        let small: Vec<ParquetFile> = (1..=4).map(|i| file(i, 10)).collect();
        assert!(
            ids(&small, 4, 1000).is_empty(),
            "four files are not over four"
        );
        let five: Vec<ParquetFile> = (1..=5).map(|i| file(i, 10)).collect();
        assert_eq!(ids(&five, 4, 1000), vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn full_files_are_left_alone_and_stop_the_selection() {
        // 1 and 3 are full (at least half of 1000 bytes): only files after 3 count.
        let mut files = vec![file(1, 900), file(2, 10), file(3, 500)];
        files.extend((4..=8).map(|i| file(i, 10)));
        assert_eq!(ids(&files, 4, 1000), vec![4, 5, 6, 7, 8]);
        files.pop();
        assert!(ids(&files, 4, 1000).is_empty());
    }

    #[test]
    fn at_most_twice_the_limit_of_the_newest_files_are_merged_at_once() {
        let files: Vec<ParquetFile> = (1..=30).map(|i| file(i, 10)).collect();
        assert_eq!(ids(&files, 4, 1000), (23..=30).collect::<Vec<_>>());
    }

    #[test]
    fn a_cold_partition_merges_a_tail_of_two_small_files() {
        let one = vec![file(1, 900), file(2, 10)];
        assert!(
            cold_ids(&one, 4, 1000, true).is_empty(),
            "one small file after a full one is already merged"
        );
        let two = vec![file(1, 900), file(2, 10), file(3, 10)];
        assert!(ids(&two, 4, 1000).is_empty());
        assert_eq!(cold_ids(&two, 4, 1000, true), vec![2, 3]);
        let many: Vec<ParquetFile> = (1..=30).map(|i| file(i, 10)).collect();
        assert_eq!(
            cold_ids(&many, 4, 1000, true),
            (23..=30).collect::<Vec<_>>(),
            "still at most twice the limit at once"
        );
    }

    #[test]
    fn a_partition_is_quiet_once_persistence_gave_it_no_file_for_the_interval() {
        let key = |day: i64| (1, "cpu".to_owned(), day);
        let hour = Duration::from_secs(3600);
        let on = |files: &[(u64, i64)]| Manifest {
            files: files
                .iter()
                .map(|&(order, day)| ParquetFile {
                    order,
                    day,
                    ..file(order, 10)
                })
                .collect(),
            ..Manifest::default()
        };
        let mut activity = Activity::default();
        activity.observe(&on(&[(1, 1), (2, 1), (3, 2)]));
        assert!(
            !activity.quiet_for(hour)(&key(1)),
            "first seen: it may just have had a file"
        );
        activity.age(2 * hour);
        // Day 1's two files merged into one of the newest order: nothing new.
        // Day 2 got a file (a higher order); day 3 is new.
        activity.observe(&on(&[(2, 1), (4, 2), (5, 3)]));
        let quiet = activity.quiet_for(hour);
        assert!(quiet(&key(1)), "compacted, not persisted into");
        assert!(!quiet(&key(2)), "persisted into just now");
        assert!(!quiet(&key(3)), "first seen just now");
        assert!(
            !activity.quiet_for(Duration::ZERO)(&key(1)),
            "zero turns it off"
        );
        drop(quiet);
        activity.observe(&on(&[(5, 3)]));
        assert_eq!(activity.newest.len(), 1, "partitions gone are forgotten");
    }
}
