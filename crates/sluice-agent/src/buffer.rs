//! An output's buffer of metrics not yet written: in memory, or in an append-only file so
//! that an outage or a restart loses nothing. Full buffers drop their oldest metrics.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::metric::{Metric, parse_line_protocol};

/// Metrics waiting for an output, oldest first.
#[derive(Debug)]
pub enum Buffer {
    /// Kept in memory.
    Memory(MemoryBuffer),
    /// Kept in a file.
    Disk(DiskBuffer),
}

impl Buffer {
    /// A memory buffer of at most `limit` metrics.
    pub fn memory(limit: usize) -> Buffer {
        Buffer::Memory(MemoryBuffer {
            limit: limit.max(1),
            metrics: VecDeque::new(),
        })
    }

    /// Opens (creating if needed) the disk buffer `dir/name.buf` of at most `limit`
    /// metrics; metrics left by an earlier run are kept.
    ///
    /// # Errors
    /// When the directory or files cannot be created or read.
    pub fn disk(dir: &Path, name: &str, limit: usize) -> Result<Buffer> {
        DiskBuffer::open(dir, name, limit).map(Buffer::Disk)
    }

    /// Adds metrics at the end; returns how many were dropped to make room. The oldest
    /// are dropped, except the first `in_flight` (a batch being written, which is
    /// accepted or kept as a whole); when only those are left, the new metric is dropped.
    ///
    /// # Errors
    /// Disk buffers: when the file cannot be written.
    pub fn add(&mut self, metrics: Vec<Metric>, in_flight: usize) -> Result<usize> {
        match self {
            Buffer::Memory(b) => Ok(b.add(metrics, in_flight)),
            Buffer::Disk(b) => b.add(metrics, in_flight),
        }
    }

    /// The oldest `n` metrics (fewer if the buffer holds fewer), left in the buffer.
    ///
    /// # Errors
    /// Disk buffers: when the file cannot be read.
    pub fn batch(&mut self, n: usize) -> Result<Vec<Metric>> {
        match self {
            Buffer::Memory(b) => Ok(b.metrics.iter().take(n).cloned().collect()),
            Buffer::Disk(b) => b.batch(n),
        }
    }

    /// Removes the oldest `n` metrics (after they were written).
    ///
    /// # Errors
    /// Disk buffers: when the acknowledgement cannot be saved.
    pub fn accept(&mut self, n: usize) -> Result<()> {
        match self {
            Buffer::Memory(b) => {
                let n = n.min(b.metrics.len());
                b.metrics.drain(..n);
                Ok(())
            }
            Buffer::Disk(b) => b.accept(n),
        }
    }

    /// How many metrics are buffered.
    pub fn len(&self) -> usize {
        match self {
            Buffer::Memory(b) => b.metrics.len(),
            Buffer::Disk(b) => b.offsets.len(),
        }
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most metrics the buffer keeps.
    pub fn limit(&self) -> usize {
        match self {
            Buffer::Memory(b) => b.limit,
            Buffer::Disk(b) => b.limit,
        }
    }

    /// Takes every buffered metric out (for handing a memory buffer to a reloaded
    /// output).
    ///
    /// # Errors
    /// As [`Buffer::batch`].
    pub fn drain_all(&mut self) -> Result<Vec<Metric>> {
        let n = self.len();
        let all = self.batch(n)?;
        debug_assert_eq!(all.len(), n);
        self.accept(n)?;
        Ok(all)
    }
}

/// The in-memory buffer.
#[derive(Debug)]
pub struct MemoryBuffer {
    limit: usize,
    metrics: VecDeque<Metric>,
}

impl MemoryBuffer {
    fn add(&mut self, metrics: Vec<Metric>, in_flight: usize) -> usize {
        let mut dropped = 0;
        for metric in metrics {
            if self.metrics.len() >= self.limit {
                dropped += 1;
                if in_flight >= self.metrics.len() {
                    continue;
                }
                self.metrics.remove(in_flight);
            }
            self.metrics.push_back(metric);
        }
        dropped
    }
}

/// The disk buffer: records (`u32` little-endian length, then one line of line
/// protocol) appended to `NAME.buf` and synced; `NAME.ack` holds the byte offset of the
/// first record not yet written. When everything is written the file is truncated.
#[derive(Debug)]
pub struct DiskBuffer {
    limit: usize,
    data_path: PathBuf,
    ack_path: PathBuf,
    file: File,
    /// Start offsets of the records still buffered.
    offsets: VecDeque<u64>,
    end: u64,
}

impl DiskBuffer {
    fn open(dir: &Path, name: &str, limit: usize) -> Result<DiskBuffer> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display(), e))?;
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let data_path = dir.join(format!("{safe}.buf"));
        let ack_path = dir.join(format!("{safe}.ack"));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&data_path)
            .map_err(|e| Error::io(data_path.display(), e))?;
        let ack: u64 = std::fs::read_to_string(&ack_path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| Error::io(data_path.display(), e))?;
        let mut offsets = VecDeque::new();
        let mut pos = usize::try_from(ack).unwrap_or(usize::MAX).min(bytes.len());
        while pos + 4 <= bytes.len() {
            let len =
                u32::from_le_bytes([bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]])
                    as usize;
            if pos + 4 + len > bytes.len() {
                break; // a record torn by a crash: dropped below
            }
            offsets.push_back(pos as u64);
            pos += 4 + len;
        }
        let end = pos as u64;
        if end < bytes.len() as u64 {
            tracing::warn!(file = %data_path.display(), "disk buffer ends in a torn record; truncating it");
            file.set_len(end)
                .map_err(|e| Error::io(data_path.display(), e))?;
        }
        let mut buffer = DiskBuffer {
            limit: limit.max(1),
            data_path,
            ack_path,
            file,
            offsets,
            end,
        };
        let excess = buffer.offsets.len().saturating_sub(buffer.limit);
        if excess > 0 {
            buffer.accept(excess)?;
        }
        Ok(buffer)
    }

    fn add(&mut self, metrics: Vec<Metric>, in_flight: usize) -> Result<usize> {
        let mut out = Vec::new();
        let mut line = String::new();
        let mut added = 0;
        for metric in &metrics {
            line.clear();
            if let Err(err) = metric.write_line_protocol(&mut line) {
                tracing::warn!(metric = %metric.name, "dropping a metric that cannot be written as line protocol: {err}");
                continue;
            }
            self.offsets.push_back(self.end + out.len() as u64);
            out.extend_from_slice(&(line.len() as u32).to_le_bytes());
            out.extend_from_slice(line.as_bytes());
            added += 1;
        }
        let io = |e| Error::io(self.data_path.display(), e);
        self.file.seek(SeekFrom::Start(self.end)).map_err(io)?;
        self.file.write_all(&out).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.end += out.len() as u64;
        let _ = added;
        let excess = self.offsets.len().saturating_sub(self.limit);
        if excess == 0 {
            return Ok(0);
        }
        if in_flight == 0 {
            self.accept(excess)?;
        } else {
            // Keep the batch being written; drop the oldest after it (or the newest
            // records when nothing else is left).
            for _ in 0..excess {
                if in_flight < self.offsets.len() - 1 {
                    self.offsets.remove(in_flight);
                } else {
                    self.offsets.pop_back();
                }
            }
        }
        Ok(excess)
    }

    fn batch(&mut self, n: usize) -> Result<Vec<Metric>> {
        let n = n.min(self.offsets.len());
        if n == 0 {
            return Ok(Vec::new());
        }
        let start = self.offsets[0];
        let stop = self.offsets.get(n).copied().unwrap_or(self.end);
        let wanted: std::collections::BTreeSet<u64> =
            self.offsets.iter().take(n).copied().collect();
        let mut bytes = vec![0; (stop - start) as usize];
        let io = |e| Error::io(self.data_path.display(), e);
        self.file.seek(SeekFrom::Start(start)).map_err(io)?;
        self.file.read_exact(&mut bytes).map_err(io)?;
        let mut text = Vec::with_capacity(bytes.len());
        let mut pos = 0;
        while pos + 4 <= bytes.len() {
            let len =
                u32::from_le_bytes([bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]])
                    as usize;
            if wanted.contains(&(start + pos as u64)) {
                text.extend_from_slice(&bytes[pos + 4..pos + 4 + len]);
            }
            pos += 4 + len;
        }
        parse_line_protocol(&text, 0).map_err(|message| Error::Io {
            path: self.data_path.display().to_string(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, message),
        })
    }

    fn accept(&mut self, n: usize) -> Result<()> {
        let n = n.min(self.offsets.len());
        self.offsets.drain(..n);
        let io = |path: &Path, e| Error::io(path.display(), e);
        if self.offsets.is_empty() {
            self.file.set_len(0).map_err(|e| io(&self.data_path, e))?;
            self.file.sync_data().map_err(|e| io(&self.data_path, e))?;
            self.end = 0;
        }
        let ack = self.offsets.front().copied().unwrap_or(self.end);
        let tmp = self.ack_path.with_extension("ack.tmp");
        let mut f = File::create(&tmp).map_err(|e| io(&tmp, e))?;
        f.write_all(ack.to_string().as_bytes())
            .and_then(|()| f.sync_data())
            .map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, &self.ack_path).map_err(|e| io(&self.ack_path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(range: std::ops::Range<i64>) -> Vec<Metric> {
        range
            .map(|i| Metric::new("m", i).with_field("v", i))
            .collect()
    }

    fn times(metrics: &[Metric]) -> Vec<i64> {
        metrics.iter().map(|m| m.time).collect()
    }

    #[test]
    fn a_full_memory_buffer_drops_the_oldest_and_counts_them() {
        let mut buffer = Buffer::memory(3);
        assert_eq!(buffer.add(metrics(0..2), 0).unwrap(), 0);
        assert_eq!(buffer.add(metrics(2..5), 0).unwrap(), 2);
        assert_eq!(times(&buffer.batch(10).unwrap()), vec![2, 3, 4]);
        buffer.accept(2).unwrap();
        assert_eq!(times(&buffer.batch(10).unwrap()), vec![4]);
    }

    #[test]
    fn a_full_buffer_keeps_the_batch_in_flight_and_drops_the_oldest_after_it() {
        let dir = tempfile::tempdir().unwrap();
        for mut buffer in [Buffer::memory(4), Buffer::disk(dir.path(), "b", 4).unwrap()] {
            buffer.add(metrics(0..4), 0).unwrap();
            assert_eq!(buffer.add(metrics(4..6), 2).unwrap(), 2);
            assert_eq!(times(&buffer.batch(10).unwrap()), vec![0, 1, 4, 5]);
            buffer.accept(2).unwrap();
            assert_eq!(times(&buffer.batch(10).unwrap()), vec![4, 5]);
        }
    }

    #[test]
    fn a_disk_buffer_survives_reopening_with_only_unwritten_metrics() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut buffer = Buffer::disk(dir.path(), "out", 100).unwrap();
            buffer.add(metrics(0..5), 0).unwrap();
            assert_eq!(times(&buffer.batch(2).unwrap()), vec![0, 1]);
            buffer.accept(2).unwrap();
        }
        let mut buffer = Buffer::disk(dir.path(), "out", 100).unwrap();
        assert_eq!(buffer.len(), 3);
        buffer.add(metrics(5..6), 0).unwrap();
        assert_eq!(times(&buffer.batch(10).unwrap()), vec![2, 3, 4, 5]);
        buffer.accept(4).unwrap();
        assert!(buffer.is_empty());
        assert_eq!(
            std::fs::metadata(dir.path().join("out.buf")).unwrap().len(),
            0
        );
        drop(buffer);
        assert!(Buffer::disk(dir.path(), "out", 100).unwrap().is_empty());
    }

    #[test]
    fn a_disk_buffer_drops_a_torn_last_record_and_its_oldest_when_full() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut buffer = Buffer::disk(dir.path(), "out", 3).unwrap();
            assert_eq!(buffer.add(metrics(0..4), 0).unwrap(), 1);
        }
        let path = dir.path().join("out.buf");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[200, 0, 0, 0, b'm']).unwrap();
        let mut buffer = Buffer::disk(dir.path(), "out", 3).unwrap();
        assert_eq!(times(&buffer.batch(10).unwrap()), vec![1, 2, 3]);
    }
}
