//! The write-ahead log: segment files of checksummed records, a group-commit writer thread
//! and replay with torn-tail repair.
//!
//! Segment file `data_dir/wal/{id:016}.wal`:
//!
//! ```text
//! header = "SLUICEWL" version:u32le segment_id:u64le                 (20 bytes)
//! record = payload_len:u32le crc32c(payload):u32le payload
//! payload = seq:u64le kind:u8 body
//! kind    = 0: body is a write batch (format 2 of encoding.rs)
//!         | 1: body is a delete (see `DeleteOp::encode` in predicate.rs)
//! ```
//!
//! New segments are version 3. Older segments are still replayed: in version 2 (and 1)
//! the payload is `seq batch` with no kind byte, every record a write, the batch in
//! format 2 (format 1, tags in every row, for version 1).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::batch::WriteBatch;
use crate::durable::sync_dir;
use crate::encoding;
use crate::error::{Error, Result, is_disk_full};
use crate::metrics::Metrics;
use crate::predicate::DeleteOp;

const MAGIC: &[u8; 8] = b"SLUICEWL";
/// The version written into new segments: records carry a kind byte.
const VERSION: u32 = 3;
/// Record kind: a write batch.
const KIND_WRITE: u8 = 0;
/// Record kind: a delete.
const KIND_DELETE: u8 = 1;

/// One logged record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Record {
    Write(WriteBatch),
    Delete(DeleteOp),
}

/// Decodes a record payload (after the sequence number) of a segment of `version`.
fn decode_record(body: &[u8], version: u32) -> Result<Record, encoding::DecodeError> {
    if version < VERSION {
        return encoding::decode(body, version).map(Record::Write);
    }
    let (kind, rest) = body
        .split_first()
        .ok_or(encoding::DecodeError("record without a kind"))?;
    match *kind {
        KIND_WRITE => encoding::decode(rest, encoding::FORMAT).map(Record::Write),
        KIND_DELETE => DeleteOp::decode(rest).map(Record::Delete),
        _ => Err(encoding::DecodeError("unknown record kind")),
    }
}
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

/// What replaying a directory found.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    pub(crate) segments: Vec<ClosedSegment>,
    pub(crate) last_seq: u64,
    pub(crate) next_segment_id: u64,
}

/// Replays every segment in `dir` in order, calling `apply(seq, record)` per record.
///
/// The log ends in the last segment longer than a header: segments after it hold no
/// record (a crash or a full disk while a new segment was being started leaves them
/// empty, with a partial header, or with just a header). A torn tail of that last
/// segment, which is a group whose write never completed and so was never acknowledged,
/// is truncated with a warning, and segments after it with a partial header are removed.
/// Any other damage is [`Error::WalCorrupt`], or, with `skip_corrupt`, skipped with an
/// error log.
pub(crate) fn replay(
    dir: &Path,
    skip_corrupt: bool,
    mut apply: impl FnMut(u64, Record),
) -> Result<Replay> {
    let segments = list_segments(dir)?;
    let mut out = Replay {
        next_segment_id: segments.last().map_or(1, |(id, _)| id + 1),
        ..Replay::default()
    };
    let mut lengths = Vec::with_capacity(segments.len());
    for (_, path) in &segments {
        let meta =
            fs::metadata(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        lengths.push(meta.len());
    }
    let log_end = lengths.iter().rposition(|n| *n > HEADER_LEN).unwrap_or(0);
    for (i, (_, path)) in segments.into_iter().enumerate() {
        let at_end = i >= log_end;
        let last = replay_segment(&path, at_end, skip_corrupt, &mut |seq, record| {
            apply(seq, record)
        })?;
        match last {
            SegmentEnd::Removed => continue,
            SegmentEnd::Records(last_seq) => {
                if let Some(s) = last_seq {
                    out.last_seq = out.last_seq.max(s);
                }
                out.segments.push(ClosedSegment { path, last_seq });
            }
        }
    }
    Ok(out)
}

enum SegmentEnd {
    Removed,
    Records(Option<u64>),
}

/// Replays one segment; `at_end` when no later segment holds a record.
fn replay_segment(
    path: &Path,
    at_end: bool,
    skip_corrupt: bool,
    apply: &mut dyn FnMut(u64, Record),
) -> Result<SegmentEnd> {
    let mut data = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut data))
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let corrupt = |offset: u64, reason: String| Error::WalCorrupt {
        file: path.to_owned(),
        offset,
        reason,
    };
    let version = (data.len() as u64 >= HEADER_LEN && &data[..8] == MAGIC)
        .then(|| u32::from_le_bytes(data[8..12].try_into().expect("4 bytes")));
    let header_ok =
        matches!(version, Some(v) if (encoding::FORMAT_ROW_TAGS..=VERSION).contains(&v));
    if !header_ok {
        if at_end && data.len() as u64 <= HEADER_LEN {
            tracing::warn!(file = %path.display(), "removing wal segment with a torn header");
            fs::remove_file(path)
                .map_err(|e| Error::io(format!("removing {}", path.display()), e))?;
            return Ok(SegmentEnd::Removed);
        }
        return Err(corrupt(0, "bad segment header".into()));
    }
    let mut pos = HEADER_LEN as usize;
    let mut last_seq = None;
    while pos < data.len() {
        match check_record(&data, pos) {
            Ok((seq, payload_end)) => {
                let payload = &data[pos + 16..payload_end];
                match decode_record(payload, version.unwrap_or(VERSION)) {
                    Ok(record) => {
                        apply(seq, record);
                        last_seq = Some(seq);
                    }
                    Err(e) => {
                        let err = corrupt(pos as u64, format!("undecodable record: {e}"));
                        if !skip_corrupt {
                            return Err(err);
                        }
                        tracing::error!("skipping damaged wal record: {err}");
                    }
                }
                pos = payload_end;
            }
            Err(damage) => {
                // A torn tail: the damaged record reaches the end of the log's last
                // segment and no intact record follows it (a torn write only hits the
                // last group, so an intact record further on means the damage is in the
                // middle). Its group was never acknowledged: its fdatasync never ran.
                if at_end
                    && damage.reaches_end
                    && !(pos + 1..data.len()).any(|p| check_record(&data, p).is_ok())
                {
                    if damage.reason == CHECKSUM_MISMATCH {
                        // A whole record with a bad checksum is rarely a torn write:
                        // say so loudly in case it was damage to acknowledged data.
                        tracing::error!(
                            file = %path.display(),
                            offset = pos,
                            "truncating a wal segment whose last record fails its checksum \
                             (a torn write, or damage to the disk); {} bytes dropped",
                            data.len() - pos
                        );
                    } else {
                        tracing::warn!(
                            file = %path.display(),
                            offset = pos,
                            "truncating torn tail of wal segment ({}; {} bytes dropped)",
                            damage.reason,
                            data.len() - pos
                        );
                    }
                    let f = OpenOptions::new()
                        .write(true)
                        .open(path)
                        .and_then(|f| f.set_len(pos as u64).and_then(|()| f.sync_all()));
                    f.map_err(|e| Error::io(format!("truncating {}", path.display()), e))?;
                    break;
                }
                let err = corrupt(pos as u64, damage.reason.to_owned());
                if !skip_corrupt {
                    return Err(err);
                }
                tracing::error!("skipping damaged wal data: {err}");
                match (pos + 1..data.len()).find(|&p| check_record(&data, p).is_ok()) {
                    Some(next) => pos = next,
                    None => break,
                }
            }
        }
    }
    Ok(SegmentEnd::Records(last_seq))
}

const CHECKSUM_MISMATCH: &str = "record checksum mismatch";

struct Damage {
    reason: &'static str,
    /// The damage extends to the end of the file (what a torn write looks like).
    reaches_end: bool,
}

/// Checks the record at `pos`; returns its sequence number and end offset.
fn check_record(data: &[u8], pos: usize) -> Result<(u64, usize), Damage> {
    let rest = &data[pos..];
    if rest.len() < 8 {
        return Err(Damage {
            reason: "record header cut short",
            reaches_end: true,
        });
    }
    let len = u64::from(u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")));
    let crc = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
    if !(8..=MAX_RECORD_BYTES).contains(&len) {
        return Err(Damage {
            reason: "implausible record length",
            // Zeros to the end are a torn (pre-extended) tail.
            reaches_end: rest.iter().all(|b| *b == 0),
        });
    }
    let end = 8 + len as usize;
    if end > rest.len() {
        return Err(Damage {
            reason: "record cut short",
            reaches_end: true,
        });
    }
    let payload = &rest[8..end];
    if crc32c::crc32c(payload) != crc {
        return Err(Damage {
            reason: CHECKSUM_MISMATCH,
            reaches_end: end == rest.len(),
        });
    }
    let seq = u64::from_le_bytes(payload[..8].try_into().expect("8 bytes"));
    Ok((seq, pos + end))
}

/// Receives what the WAL thread logged, in log order.
pub(crate) trait Applier: Send + 'static {
    /// A record is durable (or, for unsynced writes, written): apply it to the buffer.
    fn apply(&mut self, seq: u64, batch: WriteBatch);
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
const UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(5);
/// While failed, the writer tries to recover this often without being asked...
const RECOVER_INTERVAL: Duration = Duration::from_secs(1);
/// ...and at most this often when writes arrive.
const RECOVER_MIN_GAP: Duration = Duration::from_millis(200);
/// Bytes written (and removed) to check that the WAL's disk has room again.
const PROBE_BYTES: usize = 256 * 1024;
/// The file of that check, in the WAL directory (not a segment: no `.wal`).
const PROBE_FILE: &str = "space-probe.tmp";

/// Handle to the WAL writer thread.
#[derive(Debug)]
pub(crate) struct Wal {
    tx: Mutex<Option<mpsc::Sender<Request>>>,
    closed: Arc<Mutex<Vec<ClosedSegment>>>,
    fault: Arc<Mutex<Option<WalFault>>>,
    dir: PathBuf,
}

/// Settings of the writer thread.
#[derive(Debug, Clone)]
pub(crate) struct WalOptions {
    pub(crate) dir: PathBuf,
    pub(crate) background_sync_interval: Duration,
    pub(crate) segment_bytes: u64,
    pub(crate) segment_age: Duration,
}

impl Wal {
    /// Starts the writer thread on a new segment after the replayed ones. When that
    /// segment cannot be created (a full disk) the writer starts failed and creates it
    /// once it recovers, so the engine can still open and serve reads.
    pub(crate) fn start(
        options: WalOptions,
        replay: Replay,
        applier: impl Applier,
        metrics: Arc<Metrics>,
    ) -> Result<Wal> {
        let closed = Arc::new(Mutex::new(replay.segments));
        // A check for free space interrupted by a crash leaves its file behind.
        match fs::remove_file(options.dir.join(PROBE_FILE)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("removing the wal's space probe: {e}"),
        }
        let fault = Arc::new(Mutex::new(None));
        let (segment, next_segment_id) = match Segment::create(&options.dir, replay.next_segment_id)
        {
            Ok(segment) => (Some(segment), replay.next_segment_id + 1),
            Err(f) => {
                tracing::error!("starting the wal failed, refusing writes until it can: {f}");
                Metrics::add(&metrics.wal_write_errors, 1);
                *fault.lock() = Some(f);
                (None, replay.next_segment_id)
            }
        };
        let (tx, rx) = mpsc::channel();
        // Applying to the buffer runs on its own thread, fed in log order, so the next
        // group's write and fdatasync overlap with applying the previous group.
        let (apply_tx, apply_rx) = mpsc::channel();
        let apply_thread = thread::Builder::new()
            .name("sluice-wal-apply".into())
            .spawn(move || run_applier(applier, apply_rx))
            .map_err(|e| Error::io("starting the wal apply thread", e))?;
        let mut writer = Writer {
            options: options.clone(),
            segment,
            next_segment_id,
            next_seq: replay.last_seq + 1,
            closed: closed.clone(),
            apply_tx: Some(apply_tx),
            apply_thread: Some(apply_thread),
            metrics,
            fault: fault.clone(),
            torn: false,
            last_recovery: None,
            dirty: false,
        };
        thread::Builder::new()
            .name("sluice-wal".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| Error::io("starting the wal thread", e))?;
        Ok(Wal {
            tx: Mutex::new(Some(tx)),
            closed,
            fault,
            dir: options.dir,
        })
    }

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
        encoding::encode(&batch, &mut payload);
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

    /// Deletes closed segments whose records are all at or below `seq`.
    pub(crate) fn delete_persisted(&self, seq: u64) -> Result<usize> {
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

struct Segment {
    file: File,
    path: PathBuf,
    /// Bytes of the header and of every group written whole; a failed group's bytes
    /// may follow until the segment is cut back to this length.
    bytes: u64,
    opened: Instant,
    last_seq: Option<u64>,
}

impl Segment {
    /// Creates segment `id` with its header, fsynced with its directory. On failure
    /// nothing is left behind: a partly created file is removed, as is one that an
    /// earlier failed attempt left (empty or a bare header, so no record is lost).
    fn create(dir: &Path, id: u64) -> Result<Segment, WalFault> {
        let path = segment_path(dir, id);
        if fs::metadata(&path).is_ok_and(|m| m.len() <= HEADER_LEN) {
            tracing::warn!(file = %path.display(), "removing an unfinished wal segment");
            fs::remove_file(&path)
                .map_err(|e| WalFault::new(format!("removing {}", path.display()), &path, &e))?;
        }
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(|e| WalFault::new(format!("creating {}", path.display()), &path, &e))?;
        let mut header = Vec::with_capacity(HEADER_LEN as usize);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&VERSION.to_le_bytes());
        header.extend_from_slice(&id.to_le_bytes());
        let written = file
            .write_all(&header)
            .and_then(|()| file.sync_all())
            .map_err(|e| WalFault::new(format!("writing {}", path.display()), &path, &e))
            .and_then(|()| {
                File::open(dir).and_then(|d| d.sync_all()).map_err(|e| {
                    WalFault::new(format!("syncing directory {}", dir.display()), dir, &e)
                })
            });
        if let Err(fault) = written {
            drop(file);
            if let Err(e) = fs::remove_file(&path) {
                tracing::warn!(file = %path.display(), "removing an unfinished wal segment: {e}");
            }
            return Err(fault);
        }
        Ok(Segment {
            file,
            path,
            bytes: HEADER_LEN,
            opened: Instant::now(),
            last_seq: None,
        })
    }
}

/// Checks that `dir`'s disk takes writes again: writes [`PROBE_BYTES`], fsyncs, and
/// removes the file whatever happened.
fn probe_space(dir: &Path) -> Result<(), WalFault> {
    let path = dir.join(PROBE_FILE);
    let written = File::create(&path).and_then(|mut f| {
        f.write_all(&vec![0u8; PROBE_BYTES])?;
        f.sync_all()
    });
    let removed = fs::remove_file(&path);
    written.and(removed).map_err(|e| {
        WalFault::new(
            format!("checking for free space in {}", dir.display()),
            &path,
            &e,
        )
    })
}

struct Writer {
    options: WalOptions,
    /// The segment being written; `None` only while failed.
    segment: Option<Segment>,
    /// Id of the next segment to create.
    next_segment_id: u64,
    next_seq: u64,
    closed: Arc<Mutex<Vec<ClosedSegment>>>,
    apply_tx: Option<mpsc::Sender<ApplyMsg>>,
    apply_thread: Option<thread::JoinHandle<()>>,
    metrics: Arc<Metrics>,
    /// Set while the WAL refuses writes; cleared by a recovery.
    fault: Arc<Mutex<Option<WalFault>>>,
    /// Bytes of a failed group may follow the current segment's `bytes`.
    torn: bool,
    last_recovery: Option<Instant>,
    /// Written since the last fdatasync.
    dirty: bool,
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
    Write(WriteBatch),
    Delete(DeleteOp),
}

struct Pending {
    seq: u64,
    entry: Entry,
    ack: oneshot::Sender<Result<u64>>,
}

enum ApplyMsg {
    Apply(Vec<Pending>),
    Snapshot {
        last_seq: u64,
        ack: oneshot::Sender<Result<u64>>,
    },
}

fn run_applier(mut applier: impl Applier, rx: mpsc::Receiver<ApplyMsg>) {
    for msg in rx {
        match msg {
            ApplyMsg::Apply(pending) => {
                for p in pending {
                    match p.entry {
                        Entry::Write(batch) => applier.apply(p.seq, batch),
                        Entry::Delete(op) => applier.delete(p.seq, &op),
                    }
                    let _ = p.ack.send(Ok(p.seq));
                }
            }
            ApplyMsg::Snapshot { last_seq, ack } => {
                applier.snapshot(last_seq);
                let _ = ack.send(Ok(last_seq));
            }
        }
    }
}

impl Writer {
    fn to_applier(&self, msg: ApplyMsg) {
        if let Some(tx) = &self.apply_tx
            && tx.send(msg).is_err()
        {
            tracing::error!("wal apply thread is gone");
        }
    }

    /// Waits for every queued apply to finish.
    fn stop_applier(&mut self) {
        self.apply_tx.take();
        if let Some(t) = self.apply_thread.take()
            && t.join().is_err()
        {
            tracing::error!("wal apply thread panicked");
        }
    }

    fn current_fault(&self) -> Option<WalFault> {
        self.fault.lock().clone()
    }

    /// Enters (or stays in) the failed state: later writes are refused with `fault`'s
    /// error until [`Writer::recover`] succeeds.
    fn fail(&mut self, fault: WalFault) {
        Metrics::add(&self.metrics.wal_write_errors, 1);
        let mut current = self.fault.lock();
        if current.is_none() {
            tracing::error!("wal write failed, refusing writes until it recovers: {fault}");
        }
        *current = Some(fault);
    }

    fn run(&mut self, rx: mpsc::Receiver<Request>) {
        let mut buf = Vec::new();
        loop {
            let failed = self.current_fault().is_some();
            let wait = if failed {
                Some(RECOVER_INTERVAL)
            } else if self.dirty {
                Some(self.options.background_sync_interval)
            } else {
                None
            };
            let first = match wait {
                Some(wait) => match rx.recv_timeout(wait) {
                    Ok(r) => r,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        if failed {
                            self.try_recover(true);
                        } else if let Err(f) = self.sync() {
                            self.fail(f);
                        }
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                },
                None => match rx.recv() {
                    Ok(r) => r,
                    Err(_) => break,
                },
            };
            // Group commit: everything that queued up while the last sync ran goes together.
            let mut requests = vec![first];
            while let Ok(r) = rx.try_recv() {
                requests.push(r);
            }
            if failed {
                self.try_recover(false);
            }
            let mut pending = Vec::new();
            let mut need_sync = false;
            buf.clear();
            for req in requests {
                match req {
                    Request::Write {
                        payload,
                        entry,
                        sync,
                        ack,
                    } => {
                        if let Some(fault) = self.current_fault() {
                            let _ = ack.send(Err(fault.to_error()));
                            continue;
                        }
                        let seq = self.next_seq;
                        self.next_seq += 1;
                        let len = (payload.len() + 8) as u32;
                        let mut crc = crc32c::crc32c(&seq.to_le_bytes());
                        crc = crc32c::crc32c_append(crc, &payload);
                        buf.extend_from_slice(&len.to_le_bytes());
                        buf.extend_from_slice(&crc.to_le_bytes());
                        buf.extend_from_slice(&seq.to_le_bytes());
                        buf.extend_from_slice(&payload);
                        need_sync |= sync;
                        pending.push(Pending { seq, entry, ack });
                    }
                    Request::Rotate { ack } => {
                        self.commit(&mut buf, &mut pending, need_sync);
                        need_sync = false;
                        let rotated = match self.current_fault() {
                            Some(fault) => Err(fault),
                            None => self.rotate().inspect_err(|f| self.fail(f.clone())),
                        };
                        match rotated {
                            Ok(()) => self.to_applier(ApplyMsg::Snapshot {
                                last_seq: self.next_seq - 1,
                                ack,
                            }),
                            Err(fault) => {
                                let _ = ack.send(Err(fault.to_error()));
                            }
                        }
                    }
                    Request::Shutdown { ack } => {
                        self.commit(&mut buf, &mut pending, need_sync);
                        let result = self.close();
                        self.stop_applier();
                        let _ = ack.send(result);
                        return;
                    }
                }
            }
            self.commit(&mut buf, &mut pending, need_sync);
            let full = self.segment.as_ref().is_some_and(|s| {
                s.bytes >= self.options.segment_bytes
                    || (s.last_seq.is_some() && s.opened.elapsed() >= self.options.segment_age)
            });
            if full
                && self.current_fault().is_none()
                && let Err(f) = self.rotate()
            {
                self.fail(f);
            }
        }
        if let Err(e) = self.close() {
            tracing::error!("final wal sync failed: {e}");
        }
        self.stop_applier();
    }

    /// Syncs the segment at shutdown; after a failure, cuts off what a failed group
    /// left (best effort: replay would truncate it too).
    fn close(&mut self) -> Result<()> {
        if self.current_fault().is_none() {
            return self.sync().map_err(|f| f.to_error());
        }
        if self.torn
            && let Some(seg) = &self.segment
            && let Err(e) = seg
                .file
                .set_len(seg.bytes)
                .and_then(|()| seg.file.sync_all())
        {
            tracing::warn!(file = %seg.path.display(), "cutting off a failed wal write: {e}");
        }
        Ok(())
    }

    /// Writes `buf`, syncs if asked, then hands `pending` to the apply thread, which
    /// applies and acknowledges them in order. On failure none of them is acknowledged
    /// and the writer enters the failed state.
    fn commit(&mut self, buf: &mut Vec<u8>, pending: &mut Vec<Pending>, sync: bool) {
        if pending.is_empty() {
            return;
        }
        let Some(segment) = &mut self.segment else {
            // Only a failed writer has no segment, and it takes no writes.
            for p in pending.drain(..) {
                let _ = p.ack.send(Err(Error::Closed));
            }
            return;
        };
        let result = segment.file.write_all(buf).map_err(|e| {
            WalFault::new(
                format!("writing {}", segment.path.display()),
                &segment.path,
                &e,
            )
        });
        // Whatever happened, bytes of this group may now follow the segment's end.
        self.torn = true;
        let result = result.and_then(|()| {
            self.dirty = true;
            if sync { self.sync() } else { Ok(()) }
        });
        let written = buf.len() as u64;
        buf.clear();
        if let Err(fault) = result {
            // The file's state after a failed write or fdatasync is unknown: no record
            // of the group is acknowledged, and nothing more is written to this segment
            // before it is cut back to its last whole group (see `recover`).
            let refused = fault.clone();
            self.fail(fault);
            // Cut the group off now (freeing the space it took), so that a crash before
            // the recovery does not replay records that were refused. `recover` repeats
            // this and syncs.
            if let Some(seg) = &self.segment
                && let Err(e) = seg.file.set_len(seg.bytes)
            {
                tracing::warn!(file = %seg.path.display(), "cutting off a failed wal write: {e}");
            }
            for p in pending.drain(..) {
                let _ = p.ack.send(Err(refused.to_error()));
            }
            return;
        }
        self.torn = false;
        let segment = self.segment.as_mut().expect("written to a segment");
        segment.bytes += written;
        segment.last_seq = pending.last().map(|p| p.seq);
        let group = std::mem::take(pending);
        self.to_applier(ApplyMsg::Apply(group));
    }

    fn sync(&mut self) -> Result<(), WalFault> {
        if !self.dirty {
            return Ok(());
        }
        let Some(segment) = &self.segment else {
            return Ok(());
        };
        let start = Instant::now();
        segment.file.sync_data().map_err(|e| {
            WalFault::new(
                format!("syncing {}", segment.path.display()),
                &segment.path,
                &e,
            )
        })?;
        self.metrics.observe_wal_sync(start.elapsed());
        self.dirty = false;
        Ok(())
    }

    /// Closes the current segment (when it holds records) and starts the next one.
    fn rotate(&mut self) -> Result<(), WalFault> {
        if self.segment.as_ref().is_some_and(|s| s.last_seq.is_none()) {
            return Ok(());
        }
        self.sync()?;
        let next = Segment::create(&self.options.dir, self.next_segment_id)?;
        self.next_segment_id += 1;
        if let Some(old) = self.segment.replace(next) {
            self.closed.lock().push(ClosedSegment {
                path: old.path,
                last_seq: old.last_seq,
            });
        }
        Ok(())
    }

    /// Tries [`Writer::recover`] (at most every [`RECOVER_MIN_GAP`] unless `now`),
    /// leaving the failed state when it succeeds.
    fn try_recover(&mut self, now: bool) {
        if !now
            && self
                .last_recovery
                .is_some_and(|t| t.elapsed() < RECOVER_MIN_GAP)
        {
            return;
        }
        self.last_recovery = Some(Instant::now());
        match self.recover() {
            Ok(()) => {
                tracing::info!("the wal recovered: writes are taken again");
                *self.fault.lock() = None;
            }
            Err(fault) => {
                tracing::debug!("the wal has not recovered yet: {fault}");
                *self.fault.lock() = Some(fault);
            }
        }
    }

    /// Makes the WAL writable again after a failure: cuts the current segment back to
    /// its last whole group (dropping what the failed group left), checks that the disk
    /// has room, and goes on in a fresh segment (a new file, so no page the failed
    /// fdatasync may have dropped is relied on). Every step can be retried.
    fn recover(&mut self) -> Result<(), WalFault> {
        if let Some(seg) = &self.segment {
            let cut = if self.torn {
                seg.file.set_len(seg.bytes)
            } else {
                Ok(())
            };
            cut.and_then(|()| seg.file.sync_all()).map_err(|e| {
                WalFault::new(format!("truncating {}", seg.path.display()), &seg.path, &e)
            })?;
            self.torn = false;
            self.dirty = false;
        }
        probe_space(&self.options.dir)?;
        match &self.segment {
            // Cut back to its header, the segment holds nothing the failed write touched.
            Some(seg) if seg.last_seq.is_none() => Ok(()),
            _ => {
                let next = Segment::create(&self.options.dir, self.next_segment_id)?;
                self.next_segment_id += 1;
                if let Some(old) = self.segment.replace(next) {
                    self.closed.lock().push(ClosedSegment {
                        path: old.path,
                        last_seq: old.last_seq,
                    });
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{ColumnType, Row, TableBatch, Value};

    struct Recorder(Arc<Mutex<Vec<u64>>>);

    impl Applier for Recorder {
        fn apply(&mut self, seq: u64, _batch: WriteBatch) {
            self.0.lock().push(seq);
        }
        fn delete(&mut self, seq: u64, _op: &DeleteOp) {
            self.0.lock().push(seq);
        }
        fn snapshot(&mut self, _last_seq: u64) {}
    }

    fn batch(i: i64) -> WriteBatch {
        WriteBatch {
            db_id: 1,
            tables: vec![TableBatch {
                name: "t".into(),
                columns: vec![("f".into(), ColumnType::Field(sluice_lp::FieldType::Integer))],
                series: vec![vec![]],
                rows: vec![Row {
                    time: i,
                    series: 0,
                    fields_start: 0,
                    fields_end: 1,
                }],
                values: vec![(0, Value::Integer(i))],
            }],
        }
    }

    #[test]
    fn writes_queued_during_a_sync_share_one_fdatasync_and_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let metrics = Arc::new(Metrics::default());
        let applied = Arc::new(Mutex::new(Vec::new()));
        let options = WalOptions {
            dir: dir.path().to_owned(),
            background_sync_interval: Duration::from_secs(60),
            segment_bytes: 1 << 30,
            segment_age: Duration::from_secs(3600),
        };
        let (apply_tx, apply_rx) = mpsc::channel();
        let recorder = Recorder(applied.clone());
        let apply_thread = thread::spawn(move || run_applier(recorder, apply_rx));
        let mut writer = Writer {
            options: options.clone(),
            segment: Some(Segment::create(dir.path(), 1).unwrap()),
            next_segment_id: 2,
            next_seq: 1,
            closed: Arc::new(Mutex::new(Vec::new())),
            apply_tx: Some(apply_tx),
            apply_thread: Some(apply_thread),
            metrics: metrics.clone(),
            fault: Arc::new(Mutex::new(None)),
            torn: false,
            last_recovery: None,
            dirty: false,
        };
        // Ten writers queue up while the writer thread is busy (it has not started).
        let (tx, rx) = mpsc::channel();
        let mut acks = Vec::new();
        for i in 0..10 {
            let (ack, ack_rx) = oneshot::channel();
            let b = batch(i);
            let mut payload = vec![KIND_WRITE];
            encoding::encode(&b, &mut payload);
            tx.send(Request::Write {
                payload,
                entry: Entry::Write(b),
                sync: true,
                ack,
            })
            .unwrap();
            acks.push(ack_rx);
        }
        drop(tx);
        writer.run(rx);
        assert_eq!(
            metrics.snapshot().wal_syncs,
            1,
            "one fdatasync for the group"
        );
        let seqs: Vec<u64> = acks
            .into_iter()
            .map(|a| a.blocking_recv().unwrap().unwrap())
            .collect();
        assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
        assert_eq!(*applied.lock(), seqs, "applied in log order");
        // And the log replays to the same records.
        let mut replayed = Vec::new();
        let r = replay(dir.path(), false, |seq, b| replayed.push((seq, b))).unwrap();
        assert_eq!(r.last_seq, 10);
        assert_eq!(replayed.len(), 10);
        assert_eq!(replayed[3].1, Record::Write(batch(3)));
    }

    #[test]
    fn version_2_segments_replay_as_writes_before_version_3_deletes() {
        let dir = tempfile::tempdir().unwrap();
        // A segment as the previous release wrote it: no kind byte in records.
        let mut old = Vec::new();
        old.extend_from_slice(MAGIC);
        old.extend_from_slice(&2u32.to_le_bytes());
        old.extend_from_slice(&1u64.to_le_bytes());
        let mut payload = 1u64.to_le_bytes().to_vec();
        encoding::encode(&batch(7), &mut payload);
        old.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        old.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
        old.extend_from_slice(&payload);
        fs::write(segment_path(dir.path(), 1), old).unwrap();
        let replay_all = || {
            let mut out = Vec::new();
            let r = replay(dir.path(), false, |seq, record| out.push((seq, record))).unwrap();
            (r, out)
        };
        let (r, _) = replay_all();
        let op = DeleteOp {
            db_id: 1,
            drop_table: false,
            request: crate::types::DeleteRequest {
                table: Some("t".into()),
                ..Default::default()
            },
        };
        let applied = Arc::new(Mutex::new(Vec::new()));
        let wal = Wal::start(
            WalOptions {
                dir: dir.path().to_owned(),
                background_sync_interval: Duration::from_secs(60),
                segment_bytes: 1 << 30,
                segment_age: Duration::from_secs(3600),
            },
            r,
            Recorder(applied.clone()),
            Arc::new(Metrics::default()),
        )
        .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            assert_eq!(
                wal.submit_delete(op.clone(), true)
                    .unwrap()
                    .wait()
                    .await
                    .unwrap(),
                2
            );
            assert_eq!(
                wal.submit(batch(8), 10, true)
                    .unwrap()
                    .wait()
                    .await
                    .unwrap(),
                3
            );
            wal.shutdown().await.unwrap();
        });
        assert_eq!(*applied.lock(), [2, 3]);
        let (_, records) = replay_all();
        assert_eq!(
            records,
            [
                (1, Record::Write(batch(7))),
                (2, Record::Delete(op)),
                (3, Record::Write(batch(8)))
            ]
        );
    }
}
