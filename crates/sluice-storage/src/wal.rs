//! The write-ahead log: segment files of checksummed records, a group-commit writer thread
//! and replay with torn-tail repair. With `wal_object_store` each group goes to the cloud
//! store instead, as one object laid out as a segment (`objects`), and is acknowledged
//! once put.
//!
//! Segment file `data_dir/wal/{id:016}.wal`:
//!
//! ```text
//! header = "SLUICEWL" version:u32le segment_id:u64le                 (20 bytes)
//! record = payload_len:u32le crc32c(payload):u32le payload
//! payload = seq:u64le kind:u8 body
//! kind    = 0: body is a write batch (format 4 of encoding.rs)
//!         | 1: body is a delete (see `DeleteOp::encode` in predicate.rs)
//! ```
//!
//! New segments are version 5. Older segments are still replayed: version 4 is laid out
//! the same with batches in format 3 (every tag value written out), version 3 with
//! batches in format 2 (rows one after the other); in version 2 (and 1)
//! the payload is `seq batch` with no kind byte, every record a write, the batch in
//! format 2 (format 1, tags in every row, for version 1).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::batch::{BatchRef, LoggedBatch, WriteBatch};
use crate::durable::sync_dir;
use crate::encoding;
use crate::error::{Error, Result, is_disk_full};
use crate::predicate::DeleteOp;

mod objects;
mod replay;
mod writer;

pub(crate) use objects::ObjectWal;
pub(crate) use replay::{Replay, replay};

const MAGIC: &[u8; 8] = b"SLUICEWL";
/// The version written into new segments: records carry a kind byte, and write batches
/// are in format 4 (by column, tag values met before by their number).
const VERSION: u32 = 5;
/// The version whose write batches are in format 3 (by column, every tag value written).
const VERSION_COLUMNS: u32 = 4;
/// The first version whose records carry a kind byte.
const VERSION_KINDS: u32 = 3;
/// Record kind: a write batch.
const KIND_WRITE: u8 = 0;
/// Record kind: a delete.
const KIND_DELETE: u8 = 1;

/// One logged record, as replay reads it: a write borrows the bytes of the piece of the
/// segment it was read in.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Record<'a> {
    Write(BatchRef<'a>),
    Delete(DeleteOp),
}

/// Decodes a record payload (after the sequence number) of a segment of `version`,
/// skipping tag sets `seen` holds (see [`encoding::decode_logged`]).
fn decode_record<'a>(
    body: &'a [u8],
    version: u32,
    seen: &mut encoding::SeenSeries,
) -> Result<Record<'a>, encoding::DecodeError> {
    if version < VERSION_KINDS {
        return encoding::decode_logged(body, version, seen).map(Record::Write);
    }
    let (kind, rest) = body
        .split_first()
        .ok_or(encoding::DecodeError("record without a kind"))?;
    let format = match version {
        VERSION_KINDS => encoding::FORMAT_ROWS,
        VERSION_COLUMNS => encoding::FORMAT_COLUMNS,
        _ => encoding::FORMAT,
    };
    match *kind {
        KIND_WRITE => encoding::decode_logged(rest, format, seen).map(Record::Write),
        KIND_DELETE => DeleteOp::decode(rest).map(Record::Delete),
        _ => Err(encoding::DecodeError("unknown record kind")),
    }
}

/// Bytes of a segment's header.
const HEADER_LEN: u64 = 20;
/// Records larger than this are taken as damage, not data.
const MAX_RECORD_BYTES: u64 = 1 << 30;

/// A closed segment, waiting for its data to be persisted.
#[derive(Debug, Clone)]
pub(crate) struct ClosedSegment {
    pub(crate) path: PathBuf,
    /// Highest sequence number in the segment; `None` when empty.
    pub(crate) last_seq: Option<u64>,
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:016}.wal"))
}

/// Segment files in `dir`, sorted by id.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    let entries =
        fs::read_dir(dir).map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(id) = name
            .strip_suffix(".wal")
            .and_then(|s| s.parse::<u64>().ok())
        {
            out.push((id, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Receives what the WAL thread logged, in log order.
pub(crate) trait Applier: Send + 'static {
    /// A record is durable (or, for unsynced writes, written): apply it to the buffer.
    fn apply(&mut self, seq: u64, batch: LoggedBatch);
    /// A delete is durable: remove the rows it covers from the buffer.
    fn delete(&mut self, seq: u64, op: &DeleteOp);
    /// A snapshot point: every record up to `last_seq` has been applied.
    fn snapshot(&mut self, last_seq: u64);
}

enum Request {
    Write {
        payload: Vec<u8>,
        entry: Entry,
        sync: bool,
        ack: oneshot::Sender<Result<u64>>,
    },
    /// Close the segment and take a snapshot; answers the last sequence number.
    Rotate { ack: oneshot::Sender<Result<u64>> },
    /// fdatasync and stop.
    Shutdown { ack: oneshot::Sender<Result<()>> },
}

/// Why the WAL refuses writes: the operation that failed and its error. Kept until the
/// writer recovers, answered to every refused request and shown by the engine's health.
#[derive(Debug, Clone)]
pub(crate) struct WalFault {
    /// What was being done: `writing /data/wal/0000000000000007.wal`.
    context: String,
    path: PathBuf,
    kind: io::ErrorKind,
    os_error: Option<i32>,
    message: String,
}

impl WalFault {
    fn new(context: impl Into<String>, path: &Path, error: &io::Error) -> WalFault {
        WalFault {
            context: context.into(),
            path: path.to_owned(),
            kind: error.kind(),
            os_error: error.raw_os_error(),
            message: error.to_string(),
        }
    }

    /// A fault of the object store holding the WAL (`wal_object_store`), at `location`.
    fn store(
        context: impl Into<String>,
        location: &object_store::path::Path,
        error: &object_store::Error,
    ) -> WalFault {
        WalFault {
            context: context.into(),
            path: PathBuf::from(location.as_ref()),
            kind: io::ErrorKind::Other,
            os_error: None,
            message: error.to_string(),
        }
    }

    fn io_error(&self) -> io::Error {
        match self.os_error {
            Some(code) => io::Error::from_raw_os_error(code),
            None => io::Error::new(self.kind, self.message.clone()),
        }
    }

    /// The error a refused request gets: [`Error::DiskFull`] for a full disk or quota,
    /// [`Error::WalUnavailable`] for any other I/O error.
    pub(crate) fn to_error(&self) -> Error {
        let source = self.io_error();
        if is_disk_full(&source) {
            Error::DiskFull {
                what: "write-ahead log",
                path: self.path.clone(),
                source,
            }
        } else {
            Error::WalUnavailable {
                path: self.path.clone(),
                source,
                retry_after: UNAVAILABLE_RETRY_AFTER,
            }
        }
    }
}

impl std::fmt::Display for WalFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.context, self.message)
    }
}

/// How long a client is told to wait after [`Error::WalUnavailable`].
pub(crate) const UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(5);
/// Handle to the WAL writer thread.
#[derive(Debug)]
pub(crate) struct Wal {
    tx: Mutex<Option<mpsc::Sender<Request>>>,
    closed: Arc<Mutex<Vec<ClosedSegment>>>,
    fault: Arc<Mutex<Option<WalFault>>>,
    dir: PathBuf,
    /// With `wal_object_store`: the WAL objects in the store.
    objects: Option<Arc<ObjectWal>>,
}

/// Settings of the writer thread.
#[derive(Debug, Clone)]
pub(crate) struct WalOptions {
    pub(crate) dir: PathBuf,
    pub(crate) background_sync_interval: Duration,
    pub(crate) segment_bytes: u64,
    pub(crate) segment_age: Duration,
    /// A cloud node's WAL objects: those replayed are deleted once persisted.
    pub(crate) objects: Option<Arc<ObjectWal>>,
    /// `Some(interval)`: log to `objects` instead of segment files, at most one PUT per
    /// interval (segments replayed from the directory are still deleted once persisted).
    pub(crate) object_flush_interval: Option<Duration>,
}

impl Wal {
    /// Why the WAL refuses writes right now; `None` while it takes them.
    pub(crate) fn fault(&self) -> Option<WalFault> {
        self.fault.lock().clone()
    }

    fn send(&self, req: Request) -> Result<()> {
        let tx = self.tx.lock();
        tx.as_ref()
            .ok_or(Error::Closed)?
            .send(req)
            .map_err(|_| Error::Closed)
    }

    /// Queues `batch` for logging; its place in the log (and so its sequence number) is
    /// fixed when this returns. Await the ticket for the sequence number once durable (or
    /// written, if `!sync`) and applied, or for [`Error::DiskFull`] /
    /// [`Error::WalUnavailable`] when the WAL cannot be written (nothing acknowledged).
    pub(crate) fn submit(&self, batch: WriteBatch, bytes: usize, sync: bool) -> Result<Ticket> {
        let mut payload = Vec::with_capacity(bytes / 2 + 64);
        payload.push(KIND_WRITE);
        let batch = LoggedBatch::of(batch);
        encoding::encode_view(batch.view(), &mut payload);
        self.submit_entry(payload, Entry::Write(batch), sync)
    }

    /// Queues a delete for logging, as [`Wal::submit`] does a write; once the ticket
    /// resolves the delete is durable (or written, if `!sync`) and applied to the buffer.
    pub(crate) fn submit_delete(&self, op: DeleteOp, sync: bool) -> Result<Ticket> {
        let mut payload = vec![KIND_DELETE];
        op.encode(&mut payload);
        self.submit_entry(payload, Entry::Delete(op), sync)
    }

    fn submit_entry(&self, payload: Vec<u8>, entry: Entry, sync: bool) -> Result<Ticket> {
        let (ack, rx) = oneshot::channel();
        self.send(Request::Write {
            payload,
            entry,
            sync,
            ack,
        })?;
        Ok(Ticket(rx))
    }

    /// Closes the current segment and takes a buffer snapshot in log order.
    pub(crate) async fn rotate(&self) -> Result<u64> {
        let (ack, rx) = oneshot::channel();
        self.send(Request::Rotate { ack })?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Syncs and stops the writer; later writes fail with [`Error::Closed`].
    pub(crate) async fn shutdown(&self) -> Result<()> {
        let (ack, rx) = oneshot::channel();
        let sent = self.send(Request::Shutdown { ack });
        self.tx.lock().take();
        if sent.is_err() {
            return Ok(());
        }
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Deletes closed segments, and WAL objects, whose records are all at or below `seq`.
    ///
    /// # Errors
    /// [`Error::Io`] when the WAL directory cannot be synced; objects the store fails to
    /// delete are logged and deleted by a later call.
    pub(crate) async fn delete_persisted(&self, seq: u64) -> Result<usize> {
        let mut deleted = self.delete_persisted_segments(seq)?;
        if let Some(objects) = &self.objects {
            deleted += objects.delete_persisted(seq).await;
        }
        Ok(deleted)
    }

    fn delete_persisted_segments(&self, seq: u64) -> Result<usize> {
        let mut closed = self.closed.lock();
        let mut deleted = 0;
        let mut keep = Vec::new();
        for seg in closed.drain(..) {
            if seg.last_seq.is_none_or(|s| s <= seq) {
                match fs::remove_file(&seg.path) {
                    Ok(()) => deleted += 1,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => {
                        tracing::error!(file = %seg.path.display(), "deleting wal segment: {e}");
                        keep.push(seg);
                    }
                }
            } else {
                keep.push(seg);
            }
        }
        *closed = keep;
        if deleted > 0 {
            sync_dir(&self.dir)?;
        }
        Ok(deleted)
    }
}

/// A queued record's acknowledgement.
#[derive(Debug)]
pub(crate) struct Ticket(oneshot::Receiver<Result<u64>>);

impl Ticket {
    /// The record's sequence number, once durable (or written) and applied.
    pub(crate) async fn wait(self) -> Result<u64> {
        self.0.await.map_err(|_| Error::Closed)?
    }
}

/// What a logged record does to the buffer.
enum Entry {
    Write(LoggedBatch),
    Delete(DeleteOp),
}
