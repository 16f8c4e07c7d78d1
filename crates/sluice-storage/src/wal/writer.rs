//! The WAL's threads: the writer, which appends records to segment files in groups
//! (one fdatasync per group), rotates segments and recovers from failed writes, and the
//! apply thread, which hands each logged group to the buffer in log order and then
//! acknowledges it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::objects::{FlushPacer, ObjectSink};
use super::{
    Applier, ClosedSegment, Entry, HEADER_LEN, MAGIC, Replay, Request, VERSION, Wal, WalFault,
    WalOptions, segment_path,
};
use crate::error::{Error, Result};
use crate::metrics::Metrics;

/// While failed, the writer tries to recover this often without being asked...
const RECOVER_INTERVAL: Duration = Duration::from_secs(1);
/// ...and at most this often when writes arrive.
const RECOVER_MIN_GAP: Duration = Duration::from_millis(200);
/// Bytes written (and removed) to check that the WAL's disk has room again.
const PROBE_BYTES: usize = 256 * 1024;
/// The file of that check, in the WAL directory (not a segment: no `.wal`).
const PROBE_FILE: &str = "space-probe.tmp";

impl Wal {
    /// Starts the writer thread on a new segment after the replayed ones. When that
    /// segment cannot be created (a full disk) the writer starts failed and creates it
    /// once it recovers, so the engine can still open and serve reads. With
    /// `options.object_flush_interval` no segment is written: groups go to the object
    /// store, through the tokio runtime this is called in.
    ///
    /// # Errors
    /// [`Error::Io`] when a thread cannot be started, or when logging to objects is asked
    /// outside a tokio runtime.
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
        if let Some(wal) = &options.objects {
            wal.adopt(replay.objects);
        }
        let objects = match (&options.objects, options.object_flush_interval) {
            (Some(wal), Some(flush_interval)) => {
                let runtime = tokio::runtime::Handle::try_current().map_err(|e| {
                    Error::io("starting the object store's wal", io::Error::other(e))
                })?;
                Some(ObjectSink {
                    wal: wal.clone(),
                    runtime,
                    pacer: FlushPacer::new(flush_interval),
                    refused: None,
                })
            }
            _ => None,
        };
        let created = match objects {
            Some(_) => Ok(None),
            None => Segment::create(&options.dir, replay.next_segment_id).map(Some),
        };
        let (segment, next_segment_id) = match created {
            Ok(None) => (None, replay.next_segment_id),
            Ok(Some(segment)) => (Some(segment), replay.next_segment_id + 1),
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
            objects,
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
            objects: options.objects,
        })
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
    /// With `wal_object_store`: groups are put there, and `segment` stays `None`.
    objects: Option<ObjectSink>,
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
            } else if let Some(sink) = &self.objects {
                // At most one object per flush interval: what arrives meanwhile joins it.
                let deadline = Instant::now() + sink.pacer.wait();
                while !matches!(requests.last(), Some(Request::Shutdown { .. })) {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    match rx.recv_timeout(left) {
                        Ok(r) => requests.push(r),
                        Err(_) => break,
                    }
                }
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
        if self.objects.is_some() {
            self.put_group(buf, pending);
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

    /// [`Writer::commit`] to the object store: puts `buf` as one object, then hands
    /// `pending` to the apply thread; when the PUT fails none of them is acknowledged and
    /// the writer enters the failed state.
    fn put_group(&mut self, buf: &mut Vec<u8>, pending: &mut Vec<Pending>) {
        let sink = self.objects.as_mut().expect("an object wal");
        let first = pending.first().expect("a group").seq;
        let last = pending.last().expect("a group").seq;
        sink.pacer.started();
        let start = Instant::now();
        let put = sink.runtime.block_on(sink.wal.put(first, last, buf));
        let bytes = buf.len() as u64;
        buf.clear();
        match put {
            Ok(()) => {
                self.metrics.observe_wal_put(start.elapsed(), bytes);
                let group = std::mem::take(pending);
                self.to_applier(ApplyMsg::Apply(group));
            }
            Err((location, e)) => {
                let fault = WalFault::store(format!("putting {location}"), &location, &e);
                sink.refused = Some(location);
                let refused = fault.clone();
                self.fail(fault);
                for p in pending.drain(..) {
                    let _ = p.ack.send(Err(refused.to_error()));
                }
            }
        }
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
        if self.objects.is_some() {
            // Every group is an object of its own already.
            return Ok(());
        }
        if self.segment.as_ref().is_some_and(|s| s.last_seq.is_none()) {
            return Ok(());
        }
        self.sync()?;
        self.start_next_segment()
    }

    /// Starts the next segment, closing the current one (if any) for deletion once
    /// persisted.
    fn start_next_segment(&mut self) -> Result<(), WalFault> {
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
        if let Some(sink) = &mut self.objects {
            if let Some(location) = &sink.refused {
                sink.runtime
                    .block_on(sink.wal.remove_refused(location))
                    .map_err(|e| WalFault::store(format!("deleting {location}"), location, &e))?;
                sink.refused = None;
            }
            return Ok(());
        }
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
            _ => self.start_next_segment(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{ColumnType, LoggedBatch, TableBatch, Value, WriteBatch};
    use crate::encoding;
    use crate::predicate::DeleteOp;
    use crate::wal::{KIND_WRITE, ObjectWal, Record, VERSION_COLUMNS, list_segments, replay};
    use futures::TryStreamExt;
    use object_store::ObjectStore;

    struct Recorder(Arc<Mutex<Vec<u64>>>);

    /// A replayed record, owned.
    #[derive(Debug, PartialEq)]
    enum Owned {
        Write(WriteBatch),
        Delete(DeleteOp),
    }

    fn owned(record: Record<'_>) -> Owned {
        match record {
            Record::Write(batch) => Owned::Write(batch.to_batch()),
            Record::Delete(op) => Owned::Delete(op),
        }
    }

    impl Applier for Recorder {
        fn apply(&mut self, seq: u64, _batch: LoggedBatch) {
            self.0.lock().push(seq);
        }
        fn delete(&mut self, seq: u64, _op: &DeleteOp) {
            self.0.lock().push(seq);
        }
        fn snapshot(&mut self, _last_seq: u64) {}
    }

    /// A writer's options on `dir`: never rotating, synced in the background every minute.
    fn options(
        dir: &Path,
        objects: Option<Arc<ObjectWal>>,
        object_flush_interval: Option<Duration>,
    ) -> WalOptions {
        WalOptions {
            dir: dir.to_owned(),
            background_sync_interval: Duration::from_secs(60),
            segment_bytes: 1 << 30,
            segment_age: Duration::from_secs(3600),
            objects,
            object_flush_interval,
        }
    }

    /// A runtime for the object WAL's requests (from the writer thread, which blocks on
    /// them) and an empty store.
    fn runtime_and_store() -> (tokio::runtime::Runtime, Arc<dyn ObjectStore>) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        (rt, Arc::new(object_store::memory::InMemory::new()))
    }

    /// Logs `batch(i)`; its sequence number, once acknowledged.
    async fn log(wal: &Wal, i: i64) -> u64 {
        wal.submit(batch(i), 10, true)
            .unwrap()
            .wait()
            .await
            .unwrap()
    }

    fn batch(i: i64) -> WriteBatch {
        let mut table = TableBatch::new(
            "t".into(),
            vec![("f".into(), ColumnType::Field(sluice_lp::FieldType::Integer))],
        );
        let series = table.push_series([]);
        table.values.push((0, Value::Integer(i)));
        table.push_row(i, series, 0);
        WriteBatch {
            db_id: 1,
            tables: vec![table],
        }
    }

    #[test]
    fn writes_queued_during_a_sync_share_one_fdatasync_and_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let metrics = Arc::new(Metrics::default());
        let applied = Arc::new(Mutex::new(Vec::new()));
        let options = options(dir.path(), None, None);
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
            objects: None,
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
                entry: Entry::Write(LoggedBatch::of(b)),
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
        let r = replay(dir.path(), Vec::new(), false, |seq, b| {
            replayed.push((seq, owned(b)))
        })
        .unwrap();
        assert_eq!(r.last_seq, 10);
        assert_eq!(replayed.len(), 10);
        assert_eq!(replayed[3].1, Owned::Write(batch(3)));
    }

    #[test]
    fn an_undecodable_record_stops_replay_after_the_records_before_it_or_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        // Records enough after the damaged one to fill every channel of the replay's
        // threads, which must still all stop when it does.
        let payloads = (1..=60u64).map(|seq| {
            let mut payload = seq.to_le_bytes().to_vec();
            payload.push(KIND_WRITE);
            if seq == 2 {
                // Intact (its checksum matches) but not a batch: a table count of 9
                // with nothing after it.
                payload.extend_from_slice(&[1, 9]);
            } else {
                encoding::encode(&batch(seq as i64), &mut payload);
            }
            payload
        });
        let (segment, offsets) = framed(VERSION, 1, payloads);
        fs::write(segment_path(dir.path(), 1), segment).unwrap();

        let mut applied = Vec::new();
        let err = replay(dir.path(), Vec::new(), false, |seq, record| {
            applied.push((seq, owned(record)))
        })
        .unwrap_err();
        match err {
            Error::WalCorrupt { offset, reason, .. } => {
                assert_eq!(offset, offsets[1] as u64);
                assert!(reason.starts_with("undecodable record"), "{reason}");
            }
            other => panic!("expected WalCorrupt, got {other:?}"),
        }
        assert_eq!(applied, [(1, Owned::Write(batch(1)))]);

        let mut applied = Vec::new();
        let r = replay(dir.path(), Vec::new(), true, |seq, record| {
            applied.push((seq, owned(record)))
        })
        .unwrap();
        let expected: Vec<(u64, Owned)> = (1..=60u64)
            .filter(|seq| *seq != 2)
            .map(|seq| (seq, Owned::Write(batch(seq as i64))))
            .collect();
        assert_eq!(applied, expected);
        assert_eq!(r.last_seq, 60);
    }

    /// A segment of `version` and `id` holding a record per payload (sequence number and
    /// what follows it), with where each record starts.
    fn framed(
        version: u32,
        id: u64,
        payloads: impl IntoIterator<Item = Vec<u8>>,
    ) -> (Vec<u8>, Vec<usize>) {
        let mut segment = Vec::new();
        segment.extend_from_slice(MAGIC);
        segment.extend_from_slice(&version.to_le_bytes());
        segment.extend_from_slice(&id.to_le_bytes());
        let mut offsets = Vec::new();
        for payload in payloads {
            offsets.push(segment.len());
            segment.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            segment.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
            segment.extend_from_slice(&payload);
        }
        (segment, offsets)
    }

    /// A current segment of write records, batch `seq` for each `seq` of `seqs`, with where
    /// each record starts.
    fn segment_of(id: u64, seqs: std::ops::RangeInclusive<u64>) -> (Vec<u8>, Vec<usize>) {
        let payloads = seqs.map(|seq| {
            let mut payload = seq.to_le_bytes().to_vec();
            payload.push(KIND_WRITE);
            // Records of different lengths, so that they straddle pieces differently.
            let mut b = batch(seq as i64);
            for k in 0..seq % 7 {
                b.tables[0].values.push((0, Value::Integer(k as i64)));
                let series = b.tables[0].push_series([]);
                b.tables[0].push_row(1_000 + k as i64, series, 1 + k as usize);
            }
            encoding::encode(&b, &mut payload);
            payload
        });
        framed(VERSION, id, payloads)
    }

    #[test]
    fn segments_read_in_pieces_of_any_size_replay_as_when_read_whole() {
        let (first, _) = segment_of(1, 1..=30);
        let (second, offsets) = segment_of(2, 31..=60);
        let record = |k: usize| offsets[k]..offsets.get(k + 1).copied().unwrap_or(second.len());
        // Each case: the second segment as damaged, and whether damage is skipped.
        let mut zeroed = second.clone();
        zeroed.resize(second.len() + 3_000, 0);
        let torn = second[..record(29).start + 11].to_vec();
        let mut bad_checksum = second.clone();
        bad_checksum[record(12).start + 20] ^= 0xff;
        let mut implausible = second.clone();
        implausible[record(5).start..record(5).start + 4].copy_from_slice(&[0xff; 4]);
        let cases: [(&str, &[u8], bool); 7] = [
            ("intact", &second, false),
            ("zeroed tail", &zeroed, false),
            ("torn tail", &torn, false),
            ("bad checksum", &bad_checksum, false),
            ("bad checksum, skipped", &bad_checksum, true),
            ("implausible length, skipped", &implausible, true),
            ("torn header", &second[..9], false),
        ];
        for (case, damaged, skip) in cases {
            let run = |piece: usize| {
                let dir = tempfile::tempdir().unwrap();
                fs::write(segment_path(dir.path(), 1), &first).unwrap();
                fs::write(segment_path(dir.path(), 2), damaged).unwrap();
                let mut applied = Vec::new();
                let result = crate::wal::replay::replay_in_pieces(
                    dir.path(),
                    Vec::new(),
                    skip,
                    piece,
                    |seq, record| applied.push((seq, owned(record))),
                );
                let outcome = match result {
                    Ok(r) => Ok((r.last_seq, r.segments.len())),
                    Err(e) => Err(e.to_string().replace(&dir.path().display().to_string(), "")),
                };
                let left = list_segments(dir.path())
                    .unwrap()
                    .iter()
                    .map(|(_, path)| fs::metadata(path).unwrap().len())
                    .collect::<Vec<_>>();
                (applied, outcome, left)
            };
            let whole = run(1 << 20);
            for piece in [1, 2, 9, 64, 333] {
                assert_eq!(run(piece), whole, "{case}, pieces of {piece} bytes");
            }
            let (applied, outcome, left) = whole;
            let seqs: Vec<u64> = applied.iter().map(|(seq, _)| *seq).collect();
            let upto = |last: u64| (1..=last).collect::<Vec<_>>();
            match case {
                "intact" | "zeroed tail" => {
                    assert_eq!(seqs, upto(60));
                    assert_eq!(outcome, Ok((60, 2)));
                }
                "torn tail" => {
                    assert_eq!(seqs, upto(59));
                    assert_eq!(left, [first.len() as u64, record(29).start as u64]);
                }
                "bad checksum" => {
                    assert_eq!(seqs, upto(42));
                    let offset = format!("offset {}", record(12).start);
                    assert!(outcome.is_err_and(|e| e.contains(&offset)), "{case}");
                }
                "bad checksum, skipped" => {
                    let expected: Vec<u64> = (1..=60).filter(|s| *s != 43).collect();
                    assert_eq!(seqs, expected);
                }
                "implausible length, skipped" => {
                    let expected: Vec<u64> = (1..=60).filter(|s| *s != 36).collect();
                    assert_eq!(seqs, expected);
                }
                _ => {
                    assert_eq!(seqs, upto(30));
                    assert_eq!(left, [first.len() as u64]);
                }
            }
            assert!(applied.iter().all(|(seq, w)| match w {
                Owned::Write(b) => b.tables[0].rows[0].time == *seq as i64,
                Owned::Delete(_) => false,
            }));
        }
    }

    #[test]
    fn version_2_and_3_segments_replay_as_writes_before_newer_records() {
        let dir = tempfile::tempdir().unwrap();
        // Segments as earlier releases wrote them, batches by row: version 2 with no
        // kind byte in records, version 3 with one.
        let old_segment = |version: u32, seq: u64, kind: Option<u8>, b: WriteBatch| {
            let mut payload = seq.to_le_bytes().to_vec();
            payload.extend(kind);
            encoding::encode_rows(&b, &mut payload);
            let (old, _) = framed(version, seq, [payload]);
            fs::write(segment_path(dir.path(), seq), old).unwrap();
        };
        old_segment(2, 1, None, batch(7));
        old_segment(3, 2, Some(KIND_WRITE), batch(6));
        let replay_all = || {
            let mut out = Vec::new();
            let r = replay(dir.path(), Vec::new(), false, |seq, record| {
                out.push((seq, owned(record)))
            })
            .unwrap();
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
            options(dir.path(), None, None),
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
                3
            );
            assert_eq!(log(&wal, 8).await, 4);
            wal.shutdown().await.unwrap();
        });
        assert_eq!(*applied.lock(), [3, 4]);
        let (_, records) = replay_all();
        assert_eq!(
            records,
            [
                (1, Owned::Write(batch(7))),
                (2, Owned::Write(batch(6))),
                (3, Owned::Delete(op)),
                (4, Owned::Write(batch(8)))
            ]
        );
    }

    #[test]
    fn version_4_segments_replay_with_their_tag_values_written_out() {
        // A segment as the previous release wrote it: batches by column, every tag value
        // written out (format 3), which format 4 would misread as value numbers.
        let dir = tempfile::tempdir().unwrap();
        let tagged = |i: i64| {
            let mut b = batch(i);
            let table = &mut b.tables[0];
            table.columns.push(("host".into(), ColumnType::Tag));
            let series = table.push_series([(1, "server-a")]);
            table.values.push((0, Value::Integer(i + 1)));
            table.push_row(i + 1, series, 1);
            b
        };
        let payloads = (1..=2u64).map(|seq| {
            let mut payload = seq.to_le_bytes().to_vec();
            payload.push(KIND_WRITE);
            encoding::encode_format3(&tagged(seq as i64), &mut payload);
            payload
        });
        let (old, _) = framed(VERSION_COLUMNS, 1, payloads);
        fs::write(segment_path(dir.path(), 1), old).unwrap();
        let mut records = Vec::new();
        replay(dir.path(), Vec::new(), false, |seq, record| {
            records.push((seq, owned(record)))
        })
        .unwrap();
        assert_eq!(
            records,
            [(1, Owned::Write(tagged(1))), (2, Owned::Write(tagged(2)))]
        );
    }

    #[test]
    fn object_groups_are_acknowledged_once_put_replay_on_an_empty_dir_and_go_once_persisted() {
        let (rt, store) = runtime_and_store();
        let start = |dir: &Path, replay: Replay, applied: &Arc<Mutex<Vec<u64>>>| {
            let _entered = rt.enter();
            Wal::start(
                options(
                    dir,
                    Some(Arc::new(ObjectWal::new(store.clone(), "n1/"))),
                    Some(Duration::from_millis(50)),
                ),
                replay,
                Recorder(applied.clone()),
                Arc::new(Metrics::default()),
            )
            .unwrap()
        };
        let objects = || -> Vec<String> {
            rt.block_on(async {
                let listed: Vec<_> = store.list(None).try_collect().await.unwrap();
                let mut names: Vec<String> =
                    listed.into_iter().map(|m| m.location.to_string()).collect();
                names.sort();
                names
            })
        };
        let first_disk = tempfile::tempdir().unwrap();
        let applied = Arc::new(Mutex::new(Vec::new()));
        let wal = start(first_disk.path(), Replay::default(), &applied);
        rt.block_on(async {
            // A write after a quiet interval is put at once; two arriving within the
            // interval after it wait for its end and share an object.
            assert_eq!(log(&wal, 1).await, 1);
            let tickets = [
                wal.submit(batch(2), 10, true).unwrap(),
                wal.submit(batch(3), 10, true).unwrap(),
            ];
            for (ticket, seq) in tickets.into_iter().zip(2..) {
                assert_eq!(ticket.wait().await.unwrap(), seq);
            }
            wal.shutdown().await.unwrap();
        });
        assert_eq!(*applied.lock(), [1, 2, 3]);
        assert_eq!(
            objects(),
            [
                "n1/wal/00000000000000000001.wal",
                "n1/wal/00000000000000000002.wal"
            ]
        );
        assert!(
            list_segments(first_disk.path()).unwrap().is_empty(),
            "no segment file on the disk"
        );

        // A new disk: the records come back from the objects, and the log goes on after
        // them.
        let second_disk = tempfile::tempdir().unwrap();
        let fetched = rt
            .block_on(ObjectWal::new(store.clone(), "n1/").fetch(0))
            .unwrap();
        let mut replayed = Vec::new();
        let replay = replay(second_disk.path(), fetched, false, |seq, record| {
            replayed.push((seq, owned(record)));
        })
        .unwrap();
        assert_eq!(
            replayed,
            [
                (1, Owned::Write(batch(1))),
                (2, Owned::Write(batch(2))),
                (3, Owned::Write(batch(3)))
            ]
        );
        assert_eq!(replay.last_seq, 3);
        let applied = Arc::new(Mutex::new(Vec::new()));
        let wal = start(second_disk.path(), replay, &applied);
        rt.block_on(async {
            assert_eq!(log(&wal, 4).await, 4);
            // Persisted up to 3: the objects holding only 1..=3 go.
            assert_eq!(wal.delete_persisted(3).await.unwrap(), 2);
            wal.shutdown().await.unwrap();
        });
        assert_eq!(objects(), ["n1/wal/00000000000000000004.wal"]);
        // Fetching after the manifest covers the first objects reads only the rest.
        let fetched = rt
            .block_on(ObjectWal::new(store.clone(), "n1/").fetch(3))
            .unwrap();
        assert_eq!(fetched.len(), 1);
        assert_eq!(fetched[0].first_seq, 4);
    }

    #[test]
    fn segments_and_objects_replay_in_sequence_order_when_the_wal_moves_back_and_forth() {
        let (rt, store) = runtime_and_store();
        let dir = tempfile::tempdir().unwrap();
        let replay_all = || {
            let fetched = rt
                .block_on(ObjectWal::new(store.clone(), "n1/").fetch(0))
                .unwrap();
            let mut seqs = Vec::new();
            let replayed = replay(dir.path(), fetched, false, |seq, _| seqs.push(seq)).unwrap();
            (replayed, seqs)
        };
        // A cloud node's WAL, to objects or to segments.
        let start = |replayed: Replay, to_objects: bool| {
            let _entered = rt.enter();
            Wal::start(
                options(
                    dir.path(),
                    Some(Arc::new(ObjectWal::new(store.clone(), "n1/"))),
                    to_objects.then_some(Duration::ZERO),
                ),
                replayed,
                Recorder(Arc::new(Mutex::new(Vec::new()))),
                Arc::new(Metrics::default()),
            )
            .unwrap()
        };
        // Local segments, then objects, then segments again, then objects: one write each.
        for (i, to_objects) in [false, true, false, true].into_iter().enumerate() {
            let (replayed, seqs) = replay_all();
            assert_eq!(seqs, (1..=i as u64).collect::<Vec<_>>());
            let wal = start(replayed, to_objects);
            rt.block_on(async {
                assert_eq!(log(&wal, 0).await, i as u64 + 1);
                wal.shutdown().await.unwrap();
            });
        }
        assert_eq!(replay_all().1, [1, 2, 3, 4]);

        // A node logging to segments again deletes the objects once they are persisted.
        let wal = start(replay_all().0, false);
        rt.block_on(async {
            // Two objects and two segments (not the one being written).
            assert_eq!(wal.delete_persisted(4).await.unwrap(), 4);
            wal.shutdown().await.unwrap();
        });
        assert!(
            rt.block_on(ObjectWal::new(store.clone(), "n1/").fetch(0))
                .unwrap()
                .is_empty()
        );
    }
}
