//! The on-disk spool: batches that could not be delivered, kept in order until they can.
//!
//! A spool directory holds segment files `SEQ.spool` (SEQ a 20-digit number, oldest
//! first) and, beside the one being replayed, `SEQ.ack`. A segment starts with the
//! 8-byte magic `SLSPOOL1`, then records:
//!
//! ```text
//! u32 LE payload length │ u32 LE CRC-32C of payload │ payload
//! payload = u8 precision │ u32 LE point count │ line protocol body
//! ```
//!
//! Every append is fsynced before it returns. `SEQ.ack` holds the u64 LE offset of the
//! first record not yet delivered, fsynced after each delivery, so a restart resends at
//! most the one record that was in flight. A record cut short by a crash (a torn tail)
//! fails its length or CRC check and is dropped, with a warning, when the spool opens.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Seek, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use sluice_lp::Precision;

use crate::batch::Batch;
use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"SLSPOOL1";
/// A new segment is started once the current one is this large.
const SEGMENT_BYTES: u64 = 64 << 20;
/// The largest record accepted when reading: anything bigger is corruption.
const MAX_RECORD_BYTES: u32 = 1 << 30;

/// Where a record sits, for [`Spool::ack`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordPos {
    seq: u64,
    next_offset: u64,
}

/// An open spool directory.
#[derive(Debug)]
pub(crate) struct Spool {
    dir: PathBuf,
    /// Segment numbers on disk, oldest first.
    segments: VecDeque<u64>,
    /// The segment appended to, open for appending.
    writer: Option<(u64, File, u64)>,
    /// Offset of the next record to replay in the oldest segment.
    read_offset: u64,
    /// Points in records not yet delivered.
    points: u64,
    /// Records not yet delivered.
    records: u64,
}

fn io_error(path: &Path, source: io::Error) -> Error {
    Error::Spool {
        path: path.display().to_string(),
        source,
    }
}

fn precision_code(p: Precision) -> u8 {
    match p {
        Precision::Nanosecond => 0,
        Precision::Microsecond => 1,
        Precision::Millisecond => 2,
        Precision::Second => 3,
        Precision::Minute => 4,
        Precision::Hour => 5,
        Precision::Auto => 6,
    }
}

fn precision_from(code: u8) -> Option<Precision> {
    Some(match code {
        0 => Precision::Nanosecond,
        1 => Precision::Microsecond,
        2 => Precision::Millisecond,
        3 => Precision::Second,
        4 => Precision::Minute,
        5 => Precision::Hour,
        6 => Precision::Auto,
        _ => return None,
    })
}

impl Spool {
    /// Opens (creating it if needed) the spool in `dir`, counts what it holds, and cuts
    /// a torn record off the end of the newest segment.
    pub(crate) fn open(dir: &Path) -> Result<Spool> {
        fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
        let mut segments: Vec<u64> = fs::read_dir(dir)
            .map_err(|e| io_error(dir, e))?
            .filter_map(|entry| {
                let name = entry.ok()?.file_name().into_string().ok()?;
                name.strip_suffix(".spool")?.parse().ok()
            })
            .collect();
        segments.sort_unstable();
        let mut spool = Spool {
            dir: dir.to_owned(),
            segments: segments.into(),
            writer: None,
            read_offset: MAGIC.len() as u64,
            points: 0,
            records: 0,
        };
        if let Some(&first) = spool.segments.front() {
            spool.read_offset = spool.read_ack(first)?;
        }
        let seqs: Vec<u64> = spool.segments.iter().copied().collect();
        for (i, seq) in seqs.iter().enumerate() {
            let start = if i == 0 {
                spool.read_offset
            } else {
                MAGIC.len() as u64
            };
            let path = spool.segment_path(*seq);
            let mut offset = start;
            let mut file = File::open(&path).map_err(|e| io_error(&path, e))?;
            while let Some((batch, next)) = read_record(&mut file, offset) {
                spool.points += batch.points() as u64;
                spool.records += 1;
                offset = next;
            }
            let len = file.metadata().map_err(|e| io_error(&path, e))?.len();
            if offset < len {
                tracing::warn!(
                    segment = %path.display(),
                    lost_bytes = len - offset,
                    "spool segment ends in a damaged record; dropping it"
                );
                let file = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|e| io_error(&path, e))?;
                file.set_len(offset.max(MAGIC.len() as u64))
                    .and_then(|()| file.sync_all())
                    .map_err(|e| io_error(&path, e))?;
            }
        }
        Ok(spool)
    }

    fn segment_path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}.spool"))
    }

    fn ack_path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}.ack"))
    }

    fn read_ack(&self, seq: u64) -> Result<u64> {
        match fs::read(self.ack_path(seq)) {
            Ok(bytes) if bytes.len() == 8 => {
                let mut raw = [0u8; 8];
                raw.copy_from_slice(&bytes);
                Ok(u64::from_le_bytes(raw).max(MAGIC.len() as u64))
            }
            Ok(_) => Ok(MAGIC.len() as u64),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(MAGIC.len() as u64),
            Err(e) => Err(io_error(&self.ack_path(seq), e)),
        }
    }

    /// Points waiting in the spool.
    pub(crate) fn points(&self) -> u64 {
        self.points
    }

    /// True when nothing waits in the spool.
    pub(crate) fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Appends `batch` as one record and fsyncs it.
    pub(crate) fn append(&mut self, batch: &Batch) -> Result<()> {
        let rotate = match &self.writer {
            Some((_, _, len)) => *len >= SEGMENT_BYTES,
            None => true,
        };
        if rotate {
            let seq = self.segments.back().map_or(1, |s| s + 1);
            let reuse = self.writer.is_none()
                && self.segments.back().is_some_and(|&last| {
                    fs::metadata(self.segment_path(last)).is_ok_and(|m| m.len() < SEGMENT_BYTES)
                });
            let seq = if reuse {
                *self.segments.back().unwrap_or(&seq)
            } else {
                seq
            };
            let path = self.segment_path(seq);
            let mut file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| io_error(&path, e))?;
            let mut len = file.metadata().map_err(|e| io_error(&path, e))?.len();
            if len == 0 {
                file.write_all(MAGIC).map_err(|e| io_error(&path, e))?;
                len = MAGIC.len() as u64;
                if let Ok(dir) = File::open(&self.dir) {
                    let _ = dir.sync_all();
                }
            }
            if !reuse {
                self.segments.push_back(seq);
            }
            self.writer = Some((seq, file, len));
        }
        let Some((seq, file, len)) = self.writer.as_mut() else {
            return Ok(());
        };
        let mut payload = Vec::with_capacity(batch.len_bytes() + 5);
        payload.push(precision_code(batch.precision()));
        payload.extend_from_slice(&(batch.points() as u32).to_le_bytes());
        payload.extend_from_slice(batch.body());
        let mut record = Vec::with_capacity(payload.len() + 8);
        record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        record.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
        record.extend_from_slice(&payload);
        let path = self.dir.join(format!("{seq:020}.spool"));
        file.write_all(&record)
            .and_then(|()| file.sync_data())
            .map_err(|e| io_error(&path, e))?;
        *len += record.len() as u64;
        self.points += batch.points() as u64;
        self.records += 1;
        Ok(())
    }

    /// The oldest record not yet delivered, without removing it.
    pub(crate) fn peek(&mut self) -> Result<Option<(Batch, RecordPos)>> {
        loop {
            let Some(&seq) = self.segments.front() else {
                return Ok(None);
            };
            let path = self.segment_path(seq);
            let mut file = File::open(&path).map_err(|e| io_error(&path, e))?;
            if let Some((batch, next_offset)) = read_record(&mut file, self.read_offset) {
                return Ok(Some((batch, RecordPos { seq, next_offset })));
            }
            // The oldest segment is used up. Keep it if it is still being appended to.
            if self.writer.as_ref().is_some_and(|(w, _, _)| *w == seq) {
                return Ok(None);
            }
            self.remove_segment(seq)?;
        }
    }

    /// Marks the record at `pos` (and everything before it) delivered.
    pub(crate) fn ack(&mut self, pos: RecordPos, points: usize) -> Result<()> {
        self.read_offset = pos.next_offset;
        self.points = self.points.saturating_sub(points as u64);
        self.records = self.records.saturating_sub(1);
        let ack = self.ack_path(pos.seq);
        let write = || -> io::Result<()> {
            let mut file = File::create(&ack)?;
            file.write_all(&pos.next_offset.to_le_bytes())?;
            file.sync_data()
        };
        write().map_err(|e| io_error(&ack, e))?;
        if self.records == 0
            && let Some((seq, _, _)) = self.writer.take()
        {
            // Everything is delivered: start afresh with the next append.
            self.remove_segment(seq)?;
        }
        Ok(())
    }

    fn remove_segment(&mut self, seq: u64) -> Result<()> {
        let path = self.segment_path(seq);
        fs::remove_file(&path).map_err(|e| io_error(&path, e))?;
        let _ = fs::remove_file(self.ack_path(seq));
        self.segments.retain(|&s| s != seq);
        self.read_offset = match self.segments.front() {
            Some(&next) => self.read_ack(next)?,
            None => MAGIC.len() as u64,
        };
        Ok(())
    }
}

/// Reads the record at `offset`; `None` at the end or at a damaged record.
fn read_record(file: &mut File, offset: u64) -> Option<(Batch, u64)> {
    file.seek(SeekFrom::Start(offset)).ok()?;
    let mut header = [0u8; 8];
    file.read_exact(&mut header).ok()?;
    let len = u32::from_le_bytes(header[..4].try_into().ok()?);
    let crc = u32::from_le_bytes(header[4..].try_into().ok()?);
    if !(5..=MAX_RECORD_BYTES).contains(&len) {
        return None;
    }
    let mut payload = vec![0u8; len as usize];
    file.read_exact(&mut payload).ok()?;
    if crc32c::crc32c(&payload) != crc {
        return None;
    }
    let precision = precision_from(payload[0])?;
    let batch = Batch::from_line_protocol(&payload[5..], precision);
    Some((batch, offset + 8 + u64::from(len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(text: &str) -> Batch {
        Batch::from_line_protocol(text.as_bytes(), Precision::Second)
    }

    fn drain(spool: &mut Spool) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some((b, pos)) = spool.peek().unwrap() {
            out.push(b.body().to_vec());
            spool.ack(pos, b.points()).unwrap();
        }
        out
    }

    #[test]
    fn records_come_back_in_order_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut spool = Spool::open(dir.path()).unwrap();
            spool.append(&batch("a f=1\n")).unwrap();
            spool.append(&batch("b f=1\nc f=1\n")).unwrap();
            assert_eq!(spool.points(), 3);
        }
        let mut spool = Spool::open(dir.path()).unwrap();
        assert_eq!(spool.points(), 3);
        let (first, pos) = spool.peek().unwrap().unwrap();
        assert_eq!(first.precision(), Precision::Second);
        spool.ack(pos, first.points()).unwrap();
        drop(spool);
        // The ack survives a restart: only the second record is left.
        let mut spool = Spool::open(dir.path()).unwrap();
        assert_eq!(drain(&mut spool), vec![b"b f=1\nc f=1\n".to_vec()]);
        assert!(spool.is_empty());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_torn_last_record_is_dropped_and_appends_continue_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path()).unwrap();
        spool.append(&batch("a f=1\n")).unwrap();
        spool.append(&batch("b f=1\n")).unwrap();
        drop(spool);
        let path = dir.path().join(format!("{:020}.spool", 1));
        let len = fs::metadata(&path).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let mut spool = Spool::open(dir.path()).unwrap();
        assert_eq!(spool.points(), 1);
        spool.append(&batch("c f=1\n")).unwrap();
        assert_eq!(
            drain(&mut spool),
            vec![b"a f=1\n".to_vec(), b"c f=1\n".to_vec()]
        );
    }

    #[test]
    fn a_flipped_byte_fails_the_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path()).unwrap();
        spool.append(&batch("a f=1\n")).unwrap();
        drop(spool);
        let path = dir.path().join(format!("{:020}.spool", 1));
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 2;
        bytes[last] ^= 0x20;
        fs::write(&path, bytes).unwrap();
        let mut spool = Spool::open(dir.path()).unwrap();
        assert!(spool.is_empty());
        assert!(drain(&mut spool).is_empty());
    }
}
