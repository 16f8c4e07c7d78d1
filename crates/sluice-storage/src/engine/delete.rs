//! Deleting data: `Storage::delete` and `Storage::drop_table`, logged in the WAL, applied
//! to the buffer in log order and to Parquet files by rewriting the files they touch.
//!
//! A delete takes the persist lock, so no persistence or compaction runs meanwhile: every
//! row of every live Parquet file was then written before the delete, which is what lets
//! a delete (and its replay after a crash) rewrite the files without looking at sequence
//! numbers, and what lets the buffer's frozen snapshots be edited in place.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use arrow::array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::claims;
use super::files::{self, FileSpec};
use super::{Inner, Storage, blocking};
use crate::config::WalSync;
use crate::error::{Error, Result};
use crate::manifest::ParquetFile;
use crate::merge::{SortedBatches, TableSchema, conform};
use crate::predicate::{DeleteOp, keep_rows};
use crate::types::DeleteRequest;

impl Storage {
    /// Deletes the rows `request` selects from database `db`: buffered rows at once,
    /// rows in Parquet files by rewriting each file that holds any (a file left empty is
    /// dropped). Tables stay in the catalog even when left without rows.
    ///
    /// Durability, as for [`Storage::write`]: the delete is logged in the WAL as its own
    /// record and, with `WalSync::Fsync` (the default), fdatasync'ed before it is applied.
    /// When this returns `Ok` the delete is durable and no later scan sees the deleted
    /// rows. The delete is ordered with writes by its place in the WAL: a write
    /// acknowledged before the delete was called is deleted, one acknowledged after it
    /// returned is kept, and replay after a crash reproduces exactly that (rows in Parquet
    /// files are older than any delete still in the WAL, so replay re-applies such deletes
    /// to the files, unless the manifest records them as applied). A delete waits for a
    /// running persistence or compaction to finish.
    ///
    /// # Errors
    /// [`Error::DatabaseNotFound`], [`Error::TableNotFound`] (a named table that does not
    /// exist), [`Error::Closed`], [`Error::Io`] when the WAL or the manifest cannot be
    /// written, [`Error::ObjectStore`] / [`Error::Parquet`] when a file cannot be
    /// rewritten. An error after the delete was logged leaves it durable and visible for
    /// buffered rows; its Parquet side is retried before the next persistence.
    pub async fn delete(&self, db: &str, request: &DeleteRequest) -> Result<()> {
        let inner = &self.inner;
        if inner.closed.load(Ordering::Relaxed) {
            return Err(Error::Closed);
        }
        let _persist = inner.persist_lock.lock().await;
        // Earlier deletes reach the files first: the manifest records only the newest
        // delete applied to them.
        apply_unapplied(inner).await?;
        let db_id = {
            let catalog = inner.catalog.lock();
            let def = catalog.database(db)?;
            if let Some(table) = &request.table
                && !def.tables.contains_key(table)
            {
                return Err(Error::TableNotFound {
                    database: db.to_owned(),
                    table: table.clone(),
                });
            }
            def.id
        };
        let op = DeleteOp {
            db_id,
            drop_table: false,
            request: DeleteRequest {
                // Only what replay needs is logged.
                drop_emptied_tables: false,
                ..request.clone()
            },
        };
        let sync = inner.config.wal_sync == WalSync::Fsync;
        inner.check_lease()?;
        let seq = inner.wal.submit_delete(op.clone(), sync)?.wait().await?;
        finish(inner, seq, op).await?;
        // The WAL's apply emptied the caches of the tables the delete touches; now that
        // the files no longer hold the deleted rows, refill them.
        self.refill_caches(db, request.table.as_deref()).await?;
        if request.drop_emptied_tables {
            drop_emptied_tables(inner, db_id, request.table.as_deref()).await?;
        }
        Ok(())
    }

    /// Drops table `table` of database `db`: its rows (buffered and in Parquet files,
    /// whose objects are deleted in the background) and its catalog entry, so it is no
    /// longer listed and a later write creates it afresh, with any field types. True if
    /// the table existed.
    ///
    /// Durability as for [`Storage::delete`]: the drop is logged (and fdatasync'ed) before
    /// the catalog without the table is saved; writes to the table wait while it runs,
    /// and one acknowledged after the drop returned recreates the table, also after a
    /// crash and replay.
    ///
    /// # Errors
    /// [`Error::DatabaseNotFound`], [`Error::Closed`], [`Error::Io`] when the WAL, the
    /// catalog or the manifest cannot be written, [`Error::ObjectStore`].
    pub async fn drop_table(&self, db: &str, table: &str) -> Result<bool> {
        let inner = &self.inner;
        if inner.closed.load(Ordering::Relaxed) {
            return Err(Error::Closed);
        }
        let _persist = inner.persist_lock.lock().await;
        apply_unapplied(inner).await?;
        // No write is validated from here until the catalog without the table is saved.
        let gate = inner.ddl.write().await;
        let db_id = {
            let catalog = inner.catalog.lock();
            let def = catalog.database(db)?;
            if !def.tables.contains_key(table) {
                return Ok(false);
            }
            def.id
        };
        let (seq, op) = log_drop(inner, db_id, table).await?;
        let saved = inner.save_catalog(&inner.catalog.lock());
        drop(gate);
        if let Err(e) = saved {
            inner.unapplied_deletes.lock().push((seq, op));
            return Err(e);
        }
        finish(inner, seq, op).await?;
        claims::forget(inner, db, Some(table)).await;
        Ok(true)
    }
}

/// Logs the drop of `table` and removes it from the in-memory catalog (the caller holds
/// the persist lock and the `ddl` gate, and saves the catalog).
async fn log_drop(inner: &Arc<Inner>, db_id: u32, table: &str) -> Result<(u64, DeleteOp)> {
    let op = DeleteOp {
        db_id,
        drop_table: true,
        request: DeleteRequest {
            table: Some(table.to_owned()),
            ..DeleteRequest::default()
        },
    };
    let sync = inner.config.wal_sync == WalSync::Fsync;
    inner.check_lease()?;
    let seq = inner.wal.submit_delete(op.clone(), sync)?.wait().await?;
    inner.catalog.lock().absorb_delete(&op);
    Ok((seq, op))
}

/// Drops the tables of database `db_id` (`table`, or all) that hold no rows, neither
/// buffered nor in files. The caller holds the persist lock; writes wait meanwhile, so
/// no row arrives between the check and the drop.
async fn drop_emptied_tables(inner: &Arc<Inner>, db_id: u32, table: Option<&str>) -> Result<()> {
    let _gate = inner.ddl.write().await;
    let candidates: Vec<String> = {
        let catalog = inner.catalog.lock();
        let Some(def) = catalog.databases.values().find(|d| d.id == db_id) else {
            return Ok(());
        };
        def.tables
            .keys()
            .filter(|t| table.is_none_or(|name| name == t.as_str()))
            .cloned()
            .collect()
    };
    let empty: Vec<String> = {
        let state = inner.state.read();
        let buffered = |t: &str| {
            state
                .frozen
                .iter()
                .map(|f| &f.buffer)
                .chain([&state.active])
                .any(|b| {
                    b.table(db_id, t)
                        .is_some_and(|tb| !tb.partitions.is_empty())
                })
        };
        candidates
            .into_iter()
            .filter(|t| !buffered(t) && state.manifest.table_files(db_id, t).is_empty())
            .collect()
    };
    if empty.is_empty() {
        return Ok(());
    }
    for t in &empty {
        // No files hold the table, so there is nothing to apply to them.
        log_drop(inner, db_id, t).await?;
    }
    inner.save_catalog(&inner.catalog.lock())
}

/// Applies a logged delete to the Parquet files; on failure leaves it for the next
/// persistence to retry.
async fn finish(inner: &Arc<Inner>, seq: u64, op: DeleteOp) -> Result<()> {
    let ops = [(seq, op)];
    if let Err(e) = apply_to_files(inner, &ops).await {
        let [pending] = ops;
        inner.unapplied_deletes.lock().push(pending);
        return Err(e);
    }
    Ok(())
}

/// Applies the deletes that are logged but not yet applied to Parquet files. The caller
/// holds the persist lock (or is opening the engine).
pub(super) async fn apply_unapplied(inner: &Arc<Inner>) -> Result<()> {
    let ops = std::mem::take(&mut *inner.unapplied_deletes.lock());
    if ops.is_empty() {
        return Ok(());
    }
    if let Err(e) = apply_to_files(inner, &ops).await {
        let mut pending = inner.unapplied_deletes.lock();
        let later = std::mem::replace(&mut *pending, ops);
        pending.extend(later);
        return Err(e);
    }
    Ok(())
}

/// At start-up: applies the deletes replay found unapplied to the files, then drops
/// files of tables and databases the catalog no longer holds (a crash while a table or
/// database was being dropped can leave them).
pub(super) async fn recover(inner: &Arc<Inner>) -> Result<()> {
    apply_unapplied(inner).await?;
    let live: HashSet<(u32, String)> = inner
        .catalog
        .lock()
        .databases
        .values()
        .flat_map(|d| d.tables.keys().map(|t| (d.id, t.clone())))
        .collect();
    let mut state = inner.state.write();
    inner.edit_manifest(&mut state, |f| live.contains(&(f.db_id, f.table.clone())))
}

/// What a delete does to one file.
enum Rewrite {
    /// No row deleted.
    Unchanged,
    /// Every row deleted.
    Removed,
    /// Some rows deleted: the rest, to be written as a new file.
    Kept(Vec<RecordBatch>),
}

/// Rewrites every live file holding rows `ops` delete, then commits the manifest with the
/// replaced files and `deletes_applied_seq` advanced past `ops`.
async fn apply_to_files(inner: &Arc<Inner>, ops: &[(u64, DeleteOp)]) -> Result<()> {
    let Some(last_seq) = ops.iter().map(|(s, _)| *s).max() else {
        return Ok(());
    };
    let manifest = inner.state.read().manifest.clone();
    // (old file id, the file replacing it).
    let mut replaced: Vec<(u64, Option<ParquetFile>)> = Vec::new();
    for file in &manifest.files {
        let hits: Vec<DeleteOp> = ops
            .iter()
            .map(|(_, op)| op)
            .filter(|op| {
                op.db_id == file.db_id
                    && op.covers_table(&file.table)
                    && op.covers_times(file.min_time, file.max_time)
            })
            .cloned()
            .collect();
        if hits.is_empty() {
            continue;
        }
        // A drop, or a delete of every series over the file's whole time span, removes
        // the file without reading it.
        let whole = hits.iter().any(|op| {
            op.drop_table
                || (op.request.tag_predicate.is_none()
                    && op
                        .request
                        .time_range
                        .is_none_or(|(s, e)| s <= file.min_time && file.max_time < e))
        });
        let rewrite = if whole {
            Rewrite::Removed
        } else {
            let data = inner.get_object(&file.path).await?;
            blocking("delete", move || filter_file(data, &hits)).await?
        };
        match rewrite {
            Rewrite::Unchanged => {}
            Rewrite::Removed => replaced.push((file.id, None)),
            Rewrite::Kept(batches) => {
                let spec = FileSpec {
                    key: (file.db_id, file.table.clone(), file.day),
                    ids: inner.file_ids.clone(),
                    // The rewrite holds the same writes, so it keeps the file's place in
                    // write order (its new id alone would make it newer than later files).
                    order: Some(file.order),
                    // One file, as the one it replaces.
                    max_bytes: u64::MAX,
                    indexed: true,
                };
                let written =
                    files::write_partition(inner, spec, "persist", move || conformed(batches))
                        .await?;
                replaced.push((file.id, written.files.into_iter().next()));
            }
        }
    }
    let mut state = inner.state.write();
    let mut m = (*state.manifest).clone();
    let mut deletes = Vec::new();
    for (old, new) in replaced {
        match m.files.iter().position(|f| f.id == old) {
            Some(i) => {
                deletes.push(m.files.swap_remove(i).path);
                m.files.extend(new);
            }
            // Expired or its database dropped meanwhile: the replacement is not needed.
            None => deletes.extend(new.map(|f| f.path)),
        }
    }
    m.deletes_applied_seq = m.deletes_applied_seq.max(last_seq);
    inner.install_manifest(&mut state, m)?;
    inner.pending_deletes.lock().extend(deletes);
    inner.wakeup.notify_one();
    Ok(())
}

/// Reads a Parquet file and drops the rows any of `ops` deletes.
fn filter_file(data: bytes::Bytes, ops: &[DeleteOp]) -> Result<Rewrite> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(data)?
        .with_batch_size(64 * 1024)
        .build()?;
    let mut kept = Vec::new();
    let mut changed = false;
    for batch in reader {
        let batch = batch?;
        let mut deleted = vec![false; batch.num_rows()];
        for op in ops {
            for (d, x) in deleted.iter_mut().zip(op.deleted_rows(&batch)) {
                *d |= x;
            }
        }
        match keep_rows(&batch, &deleted)? {
            None => kept.push(batch),
            Some(rest) => {
                changed = true;
                if rest.num_rows() > 0 {
                    kept.push(rest);
                }
            }
        }
    }
    Ok(if !changed {
        Rewrite::Unchanged
    } else if kept.is_empty() {
        Rewrite::Removed
    } else {
        Rewrite::Kept(kept)
    })
}

/// The rows a delete keeps of one file (sorted by series then time, each point once, as
/// the file was) as the one source of a rewrite, in the union schema of its batches.
fn conformed(batches: Vec<RecordBatch>) -> Result<(TableSchema, Vec<SortedBatches>)> {
    let mut schema = TableSchema::default();
    for b in &batches {
        schema.union_with(&TableSchema::of_arrow(&b.schema()));
    }
    let arrow_schema = schema.arrow_schema();
    let rows = batches
        .iter()
        .map(|b| conform(b, &arrow_schema))
        .collect::<Result<Vec<_>, _>>()?;
    let source: SortedBatches = Box::new(rows.into_iter().map(Ok));
    Ok((schema, vec![source]))
}
