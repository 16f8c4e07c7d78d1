//! Writing new Parquet files: sorted rows (from a buffered partition or a streaming
//! merge) go into files cut at a target size, staged on disk (beside their final place
//! for a local store, in `data_dir/staging` for a cloud one; in memory for the in-memory
//! store), then installed in the object store.
//!
//! Nothing here holds a whole partition: rows come in batches and leave through the
//! Parquet writer, which buffers at most one row group (`persist::ROW_GROUP_BYTES`) of
//! encoded data; the file itself is written to disk as it grows.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{RecordBatch, TimestampNanosecondArray};
use arrow::datatypes::SchemaRef;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};
use tokio::sync::OwnedSemaphorePermit;

use super::{Inner, blocking};
use crate::durable::sync_paths;
use crate::error::{Error, Result};
use crate::manifest::{Manifest, ParquetFile};
use crate::merge::{MergePeak, MergeStream, SortedBatches, TableSchema};
use crate::metrics::Metrics;
use crate::persist::FileWriter;
use crate::store;

/// Rows per batch that merges read from each source and hand to the file writer. With
/// `k` sources a merge holds about `(k + 1) * MERGE_BATCH_ROWS` decoded rows.
pub(crate) const MERGE_BATCH_ROWS: usize = 8 * 1024;

/// Rows between two checks of the size of the file being written.
const CUT_CHECK_ROWS: usize = 1024;

/// Key of one partition, the unit files are written for: database id, table, UTC day.
pub(super) type PartitionKey = (u32, String, i64);

/// What the new files of one partition are.
#[derive(Debug, Clone)]
pub(super) struct FileSpec {
    pub(super) key: PartitionKey,
    /// Where the files' ids come from: each new file takes the next. Every writer of a
    /// node's files shares one ([`Inner::file_ids`]), so writers running at once never
    /// name two files alike.
    pub(super) ids: Arc<AtomicU64>,
    /// The files' write order (see [`ParquetFile::order`]): `None` gives each its own
    /// id, as new writes; a rewrite or compaction passes the order of what it replaces.
    pub(super) order: Option<u64>,
    /// Files are cut once they reach this size.
    pub(super) max_bytes: u64,
    /// Whether the files may get a series index: false when their rows are known to
    /// have more series than one lists ([`crate::series_index::MAX_INDEXED_SERIES`]).
    pub(super) indexed: bool,
}

/// The files written for one partition, installed in the object store.
#[derive(Debug)]
pub(super) struct Written {
    /// Their manifest entries (none when no row came).
    pub(super) files: Vec<ParquetFile>,
    /// What the merge held at most.
    pub(super) peak: MergePeak,
    /// What the Parquet writer held at most, in bytes.
    pub(super) writer_peak: usize,
}

/// Writes the rows of the sources `open` returns (with their schema; oldest first,
/// each sorted by series then time with each point once) as the new files `spec`
/// describes, on a blocking thread, then installs them. `task` names the work in the
/// error of a failed thread.
pub(super) async fn write_partition(
    inner: &Arc<Inner>,
    spec: FileSpec,
    task: &'static str,
    open: impl FnOnce() -> Result<(TableSchema, Vec<SortedBatches>)> + Send + 'static,
) -> Result<Written> {
    let prefix = inner.object_prefix().to_owned();
    write_partition_at(inner, prefix, spec, task, open).await
}

/// [`write_partition`] with the files' object paths under `prefix` rather than the
/// node's own (a compactor's outputs for another node, see `compactor`).
pub(super) async fn write_partition_at(
    inner: &Arc<Inner>,
    prefix: String,
    spec: FileSpec,
    task: &'static str,
    open: impl FnOnce() -> Result<(TableSchema, Vec<SortedBatches>)> + Send + 'static,
) -> Result<Written> {
    let staging = Staging::of(inner);
    let permit = file_writer(inner)?;
    let (staged, peak, writer_peak) = blocking(task, move || {
        // Dropped last, once nothing more is written here.
        let _permit = permit;
        let (schema, sources) = open()?;
        let mut out = NewFiles::new(staging, prefix, &schema, spec);
        let peak = write_sorted(&schema, sources, &mut out)?;
        let (staged, writer_peak) = out.finish()?;
        Ok((staged, peak, writer_peak))
    })
    .await?;
    Ok(Written {
        files: install(inner, staged).await?,
        peak,
        writer_peak,
    })
}

/// A permit for a blocking thread to write into the data directory (see
/// `Inner::file_writers`); [`Error::Closed`] once the engine is shutting down.
fn file_writer(inner: &Inner) -> Result<OwnedSemaphorePermit> {
    inner
        .file_writers
        .clone()
        .try_acquire_owned()
        .map_err(|_| Error::Closed)
}

/// Where new files are written before they are installed.
#[derive(Debug, Clone)]
enum Staging {
    /// Next to their final path under this local object-store root, renamed into place.
    Local(PathBuf),
    /// In this directory, then uploaded to a cloud store.
    Upload(PathBuf),
    /// In memory, then put into the object store (the in-memory store of tests).
    Memory,
}

impl Staging {
    fn of(inner: &Inner) -> Staging {
        match (&inner.local_root, &inner.upload_staging) {
            (Some(root), _) => Staging::Local(root.clone()),
            (None, Some(dir)) => Staging::Upload(dir.clone()),
            (None, None) => Staging::Memory,
        }
    }
}

/// Where a file being written goes.
enum Sink {
    File(BufWriter<fs::File>),
    Memory(Vec<u8>),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::File(f) => f.write(buf),
            Sink::Memory(v) => v.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::File(f) => f.flush(),
            Sink::Memory(_) => Ok(()),
        }
    }
}

/// A file written and synced but not yet in the object store.
#[derive(Debug)]
struct StagedFile {
    /// Its manifest entry once installed.
    file: ParquetFile,
    data: StagedData,
}

#[derive(Debug)]
enum StagedData {
    /// The staging file, renamed to the final path on install.
    Local {
        staging: PathBuf,
        dest: PathBuf,
    },
    /// The staging file, uploaded on install, then removed.
    Upload(PathBuf),
    Memory(Vec<u8>),
}

impl StagedData {
    /// The local file holding the data, if any.
    fn staging_file(&self) -> Option<&Path> {
        match self {
            StagedData::Local { staging, .. } | StagedData::Upload(staging) => Some(staging),
            StagedData::Memory(_) => None,
        }
    }
}

/// The file currently being written.
struct OpenFile {
    writer: FileWriter<Sink>,
    id: u64,
    path: String,
    /// The local file being written, when not in memory.
    staging: Option<PathBuf>,
    rows: u64,
    min_time: i64,
    max_time: i64,
}

/// New files of one partition (database, table, UTC day), each cut once it reaches
/// `max_bytes`, taking their ids from `ids`.
struct NewFiles {
    staging: Staging,
    /// The object path prefix (a cloud node's `node_id/`).
    prefix: String,
    schema: SchemaRef,
    db_id: u32,
    table: String,
    day: i64,
    max_bytes: u64,
    ids: Arc<AtomicU64>,
    /// The write order of the files (see [`ParquetFile::order`]); `None` gives each its
    /// own id, as new writes.
    order: Option<u64>,
    indexed: bool,
    open: Option<OpenFile>,
    done: Vec<StagedFile>,
    /// Most bytes the Parquet writer held in memory at once.
    writer_peak: usize,
}

impl NewFiles {
    fn new(staging: Staging, prefix: String, schema: &TableSchema, spec: FileSpec) -> NewFiles {
        let (db_id, table, day) = spec.key;
        NewFiles {
            staging,
            prefix,
            schema: schema.arrow_schema(),
            db_id,
            table,
            day,
            max_bytes: spec.max_bytes.max(1),
            ids: spec.ids,
            order: spec.order,
            indexed: spec.indexed,
            open: None,
            done: Vec::new(),
            writer_peak: 0,
        }
    }

    /// Appends rows that follow every row written before in series-then-time order.
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        // The size is checked every `CUT_CHECK_ROWS`, so a file ends within that many
        // rows of reaching the target.
        let mut offset = 0;
        while offset < batch.num_rows() {
            let len = CUT_CHECK_ROWS.min(batch.num_rows() - offset);
            self.write_slice(&batch.slice(offset, len))?;
            offset += len;
        }
        Ok(())
    }

    fn write_slice(&mut self, batch: &RecordBatch) -> Result<()> {
        let times = batch
            .column(batch.num_columns() - 1)
            .as_any()
            .downcast_ref::<TimestampNanosecondArray>()
            .ok_or_else(|| Error::Catalog("rows to persist without a time column".to_owned()))?;
        let file = match &mut self.open {
            Some(file) => file,
            None => {
                let file = self.start_file()?;
                self.open.insert(file)
            }
        };
        for &t in times.values().iter() {
            file.min_time = file.min_time.min(t);
            file.max_time = file.max_time.max(t);
        }
        file.rows += batch.num_rows() as u64;
        file.writer.write(batch)?;
        self.writer_peak = self.writer_peak.max(file.writer.memory_bytes());
        if file.writer.estimated_bytes() >= self.max_bytes {
            self.close_file()?;
        }
        Ok(())
    }

    fn start_file(&mut self) -> Result<OpenFile> {
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        let path = Manifest::object_path(&self.prefix, self.db_id, self.day, id);
        let staging = match &self.staging {
            Staging::Memory => None,
            Staging::Local(root) => {
                let dest = root.join(&path);
                if let Some(dir) = dest.parent() {
                    fs::create_dir_all(dir)
                        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
                }
                // `name#digits` is how an interrupted upload looks: the store's listing
                // skips it and start-up removes it.
                Some(PathBuf::from(format!("{}#1", dest.display())))
            }
            // File ids are unique, and start-up empties the directory.
            Staging::Upload(dir) => Some(dir.join(format!("{id}.parquet"))),
        };
        let sink = match &staging {
            None => Sink::Memory(Vec::new()),
            Some(staging) => {
                let file = fs::File::create(staging)
                    .map_err(|e| Error::io(format!("creating {}", staging.display()), e))?;
                Sink::File(BufWriter::with_capacity(1 << 20, file))
            }
        };
        Ok(OpenFile {
            writer: FileWriter::with_sink(&self.schema, sink, self.indexed)?,
            id,
            path,
            staging,
            rows: 0,
            min_time: i64::MAX,
            max_time: i64::MIN,
        })
    }

    /// Finishes the open file: closes it, syncs it to disk and records it as staged.
    fn close_file(&mut self) -> Result<()> {
        let Some(open) = self.open.take() else {
            return Ok(());
        };
        let sink = match open.writer.finish() {
            Ok(sink) => sink,
            Err(e) => {
                if let Some(staging) = &open.staging {
                    let _ = fs::remove_file(staging);
                }
                return Err(e);
            }
        };
        let (bytes, data) = match (sink, open.staging) {
            (Sink::Memory(v), _) => (v.len() as u64, StagedData::Memory(v)),
            (Sink::File(f), Some(staging)) => {
                // The manifest will name a local file and the WAL covering it will be
                // deleted, so it must survive a power loss; a file to upload only has
                // to be read back by this process.
                let local_dest = match &self.staging {
                    Staging::Local(root) => Some(root.join(&open.path)),
                    _ => None,
                };
                let synced = f.into_inner().map_err(|e| e.into_error()).and_then(|file| {
                    if local_dest.is_some() {
                        file.sync_all()?;
                    }
                    file.metadata()
                });
                match synced {
                    Ok(meta) => (
                        meta.len(),
                        match local_dest {
                            Some(dest) => StagedData::Local { staging, dest },
                            None => StagedData::Upload(staging),
                        },
                    ),
                    Err(e) => {
                        let _ = fs::remove_file(&staging);
                        return Err(Error::io(format!("writing {}", staging.display()), e));
                    }
                }
            }
            (Sink::File(_), None) => unreachable!("a file sink always has a staging path"),
        };
        self.done.push(StagedFile {
            file: ParquetFile {
                id: open.id,
                order: self.order.unwrap_or(open.id),
                db_id: self.db_id,
                table: self.table.clone(),
                day: self.day,
                path: open.path,
                min_time: open.min_time,
                max_time: open.max_time,
                rows: open.rows,
                bytes,
            },
            data,
        });
        Ok(())
    }

    /// Closes the last file; returns the staged files (none when no row came) and the
    /// writer's peak memory.
    fn finish(mut self) -> Result<(Vec<StagedFile>, usize)> {
        if let Err(e) = self.close_file() {
            discard(std::mem::take(&mut self.done));
            return Err(e);
        }
        Ok((std::mem::take(&mut self.done), self.writer_peak))
    }
}

impl Drop for NewFiles {
    fn drop(&mut self) {
        // Files of an abandoned write (an error on the way) are not left behind.
        if let Some(open) = self.open.take()
            && let Some(staging) = open.staging
        {
            drop(open.writer);
            let _ = fs::remove_file(staging);
        }
        discard(std::mem::take(&mut self.done));
    }
}

/// Removes staged files that will not be installed.
fn discard(files: Vec<StagedFile>) {
    for f in files {
        if let Some(staging) = f.data.staging_file() {
            let _ = fs::remove_file(staging);
        }
    }
}

/// Writes the rows of `sources` (oldest first, each sorted by series then time with each
/// point once) into `out`: merged when there are several, newest value winning field by
/// field. Returns what the merge held at most.
fn write_sorted(
    schema: &TableSchema,
    sources: Vec<SortedBatches>,
    out: &mut NewFiles,
) -> Result<MergePeak> {
    if sources.len() == 1 {
        // One source holds each (series, time) once, in order: no merge needed.
        let mut peak = MergePeak::default();
        for batch in sources.into_iter().next().expect("one source") {
            let batch = batch?;
            peak.rows = peak.rows.max(batch.num_rows());
            peak.bytes = peak.bytes.max(batch.get_array_memory_size());
            out.write(&batch)?;
        }
        return Ok(peak);
    }
    let mut merge = MergeStream::try_new(schema, sources, MERGE_BATCH_ROWS)?;
    while let Some(batch) = merge.next_batch()? {
        out.write(&batch)?;
    }
    Ok(merge.peak())
}

/// Moves staged files to their final place in the object store and returns their
/// manifest entries. On error the files not yet installed are removed; installed ones
/// are orphans the next start-up deletes.
async fn install(inner: &Arc<Inner>, staged: Vec<StagedFile>) -> Result<Vec<ParquetFile>> {
    let mut out = Vec::with_capacity(staged.len());
    let mut rest = staged.into_iter();
    while let Some(f) = rest.next() {
        let result = match f.data {
            StagedData::Memory(bytes) => inner
                .store
                .put(
                    &ObjectPath::from(f.file.path.as_str()),
                    PutPayload::from(bytes),
                )
                .await
                .map(|_| ())
                .map_err(Error::from),
            StagedData::Upload(staging) => {
                let location = ObjectPath::from(f.file.path.as_str());
                let result = store::upload_file(inner.store.as_ref(), &location, &staging).await;
                let cached = result.is_ok()
                    && inner
                        .file_cache
                        .as_ref()
                        .is_some_and(|c| c.adopt(&f.file.path, &staging));
                if !cached {
                    let _ = fs::remove_file(&staging);
                }
                result
            }
            // Without a permit (shutting down) the staging file is left for start-up to
            // remove.
            StagedData::Local { staging, dest } => match file_writer(inner) {
                Ok(permit) => {
                    blocking("install", move || {
                        let _permit = permit;
                        rename_synced(&staging, &dest)
                    })
                    .await
                }
                Err(e) => Err(e),
            },
        };
        if let Err(e) = result {
            discard(rest.collect());
            return Err(e);
        }
        Metrics::add(&inner.metrics.persisted_files, 1);
        Metrics::add(&inner.metrics.persisted_bytes, f.file.bytes);
        out.push(f.file);
    }
    Ok(out)
}

/// Renames a synced staging file to `dest` and syncs the directories above it.
fn rename_synced(staging: &Path, dest: &Path) -> Result<()> {
    fs::rename(staging, dest).map_err(|e| {
        let _ = fs::remove_file(staging);
        Error::io(format!("renaming {} into place", staging.display()), e)
    })?;
    sync_paths(&root_dirs(dest)[1..])
}

/// Records a merge's peak (and the writer's) in the engine's metrics.
pub(super) fn note_peak(inner: &Inner, peak: MergePeak, writer_bytes: usize) {
    inner
        .metrics
        .merge_peak_rows
        .fetch_max(peak.rows as u64, Ordering::Relaxed);
    inner
        .metrics
        .merge_peak_bytes
        .fetch_max((peak.bytes + writer_bytes) as u64, Ordering::Relaxed);
}

/// The file itself and its parent directories up to the object store root (day,
/// database, `dbs`, root), any of which may have just been created.
fn root_dirs(file: &Path) -> Vec<PathBuf> {
    let mut out = vec![file.to_owned()];
    let mut p = file.parent();
    for _ in 0..4 {
        let Some(dir) = p else { break };
        out.push(dir.to_owned());
        p = dir.parent();
    }
    out
}
