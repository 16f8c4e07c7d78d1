//! Persistence: the buffer snapshotted at a WAL rotation and written to Parquet, one
//! partition (table and UTC day) at a time, then the manifest committed (and published to
//! a cloud node's bucket) and the WAL segments (or objects) it covers deleted.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use arrow::array::RecordBatch;

use super::files::{self, FileSpec, MERGE_BATCH_ROWS, PartitionKey};
use super::{Frozen, Inner, delete, node, now_ns};
use crate::buffer::{PartitionBuffer, SortedRows};
use crate::error::Result;
use crate::merge::{SortedBatches, TableSchema};
use crate::series_index::MAX_INDEXED_SERIES;

/// Snapshots the active buffer at a WAL rotation and writes every frozen buffer to
/// Parquet, one file per table and day (cut at `compaction_max_output_bytes`), then
/// commits the manifest and deletes the WAL segments covered.
///
/// A partition one frozen buffer holds is written a slice at a time in order; one that
/// several hold is merged by a streaming k-way merge of their slices. Either way
/// persistence holds a few slices of decoded rows and one row group beyond the buffer
/// itself, and the file goes to disk as it is written.
pub(super) async fn persist_buffer(inner: &Arc<Inner>) -> Result<()> {
    let _guard = inner.persist_lock.lock().await;
    inner.check_lease()?;
    // New files hold rows written after these deletes, so the deletes must reach the
    // older files first (and the WAL holding them must not be deleted before).
    delete::apply_unapplied(inner).await?;
    inner.wal.rotate().await?;
    let (frozen, persisted) = {
        let state = inner.state.read();
        (state.frozen.clone(), state.manifest.persisted_seq)
    };
    if frozen.is_empty() {
        // Nothing new, but segments replayed at start-up may be fully persisted already
        // (and a cloud node's manifest may not be in its bucket yet).
        node::publish(inner).await?;
        inner.wal.delete_persisted(persisted).await?;
        return Ok(());
    }
    if !inner.config.persist_delay.is_zero() {
        tokio::time::sleep(inner.config.persist_delay).await;
    }
    let now = now_ns();
    let live: HashMap<u32, i64> = inner
        .catalog
        .lock()
        .databases
        .values()
        .map(|d| (d.id, d.first_kept_day(now).unwrap_or(i64::MIN)))
        .collect();
    // The (database, table, day) units of all frozen buffers.
    let mut units: BTreeSet<PartitionKey> = BTreeSet::new();
    for f in &frozen {
        for (db_id, tables) in &f.buffer.dbs {
            let Some(first_kept) = live.get(db_id) else {
                continue;
            };
            for (table, tb) in tables {
                for day in tb.partitions.range(*first_kept..).map(|(d, _)| *d) {
                    units.insert((*db_id, table.clone(), day));
                }
            }
        }
    }
    let mut new_files = Vec::new();
    for (db_id, table, day) in units {
        // Each buffer's series are a part of the unit's: with more than an index lists
        // in one, no file of the unit gets an index (were the unit cut into several
        // files by size, each might have had few enough; the index is only a shortcut).
        let series = frozen
            .iter()
            .filter_map(|f| PartitionSlices::partition_of(f, db_id, &table, day))
            .map(PartitionBuffer::series_count)
            .max()
            .unwrap_or(0);
        let frozen = frozen.clone();
        let spec = FileSpec {
            key: (db_id, table.clone(), day),
            ids: inner.file_ids.clone(),
            order: None,
            max_bytes: inner.config.compaction_max_output_bytes,
            indexed: series <= MAX_INDEXED_SERIES,
        };
        let written = files::write_partition(inner, spec, "persist", move || {
            // The unit's partition in every frozen buffer, oldest buffer first.
            let holders: Vec<Arc<Frozen>> = frozen
                .into_iter()
                .filter(|f| PartitionSlices::partition_of(f, db_id, &table, day).is_some())
                .collect();
            let mut schema = TableSchema::default();
            for f in &holders {
                let part = PartitionSlices::partition_of(f, db_id, &table, day).expect("held");
                schema.union_with(&part.schema());
            }
            let sources = holders
                .into_iter()
                .map(|f| -> SortedBatches {
                    Box::new(PartitionSlices::new(f, db_id, table.clone(), day, &schema))
                })
                .collect();
            Ok((schema, sources))
        })
        .await?;
        files::note_peak(inner, written.peak, written.writer_peak);
        new_files.extend(written.files);
    }
    let persisted_seq = frozen.iter().map(|f| f.last_seq).max().unwrap_or(0);
    {
        // Same lock order as drop_database: catalog, then state.
        let catalog = inner.catalog.lock();
        let live_now: HashSet<u32> = catalog.databases.values().map(|d| d.id).collect();
        let mut state = inner.state.write();
        let mut manifest = (*state.manifest).clone();
        manifest.persisted_seq = manifest.persisted_seq.max(persisted_seq);
        for f in new_files {
            if live_now.contains(&f.db_id) {
                manifest.files.push(f);
            } else {
                inner.pending_deletes.lock().push(f.path);
            }
        }
        inner.install_manifest(&mut state, manifest)?;
        let done: HashSet<u64> = frozen.iter().map(|f| f.last_seq).collect();
        let (persisted, still_frozen) = std::mem::take(&mut state.frozen)
            .into_iter()
            .partition(|f| done.contains(&f.last_seq));
        state.frozen = still_frozen;
        // Until the bucket has this manifest, query nodes read these rows from the
        // buffers (see `buffered`): publication comes before the rows leave memory.
        if inner.node.is_some() {
            state.unpublished.extend(persisted);
        }
        state.publish_buffer_bytes(&inner.metrics);
    }
    // A cloud node's bucket must hold the manifest before the WAL it replaces goes.
    node::publish(inner).await?;
    inner.wal.delete_persisted(persisted_seq).await?;
    Ok(())
}

/// The rows of one partition of a frozen buffer, sorted by series then time (each
/// point once), [`MERGE_BATCH_ROWS`] at a time.
struct PartitionSlices {
    frozen: Arc<Frozen>,
    db_id: u32,
    table: String,
    day: i64,
    schema: TableSchema,
    /// The partition's rows in order (8 bytes a row, beside the rows themselves) with
    /// their series' tag values.
    rows: SortedRows,
    pos: usize,
}

impl PartitionSlices {
    fn partition_of<'a>(
        frozen: &'a Frozen,
        db_id: u32,
        table: &str,
        day: i64,
    ) -> Option<&'a PartitionBuffer> {
        frozen.buffer.table(db_id, table)?.partitions.get(&day)
    }

    fn new(
        frozen: Arc<Frozen>,
        db_id: u32,
        table: String,
        day: i64,
        schema: &TableSchema,
    ) -> PartitionSlices {
        let rows = Self::partition_of(&frozen, db_id, &table, day)
            .map(|p| p.sorted_rows(schema, None, &[], None))
            .unwrap_or_default();
        PartitionSlices {
            frozen,
            db_id,
            table,
            day,
            schema: schema.clone(),
            rows,
            pos: 0,
        }
    }
}

impl Iterator for PartitionSlices {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.rows.len() {
            return None;
        }
        let end = (self.pos + MERGE_BATCH_ROWS).min(self.rows.len());
        let part = Self::partition_of(&self.frozen, self.db_id, &self.table, self.day)?;
        let batch = part.rows_to_batch(&self.schema, &self.rows, self.pos..end);
        self.pos = end;
        Some(batch)
    }
}
