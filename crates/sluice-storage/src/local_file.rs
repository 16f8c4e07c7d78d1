//! A Parquet file on local disk, read with positional reads.
//!
//! The parquet crate reads a `std::fs::File` by duplicating its descriptor, seeking the
//! copy and closing it again for every range (four system calls), and asks the file
//! its length with a `stat` each time. A query reading a few pages of one series made
//! about twenty system calls that way; [`LocalFile`] makes one `pread` per range, and
//! its clones share one open descriptor.

use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::Bytes;
use parquet::errors::ParquetError;
use parquet::file::reader::{ChunkReader, Length};

/// An open local file and its length, read at offsets; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct LocalFile {
    file: Arc<File>,
    len: u64,
}

impl LocalFile {
    /// Opens `path`, reading its length once.
    ///
    /// # Errors
    /// Opening the file or reading its length.
    pub(crate) fn open(path: impl AsRef<std::path::Path>) -> std::io::Result<Self> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok(Self {
            file: Arc::new(file),
            len,
        })
    }
}

impl Length for LocalFile {
    fn len(&self) -> u64 {
        self.len
    }
}

impl ChunkReader for LocalFile {
    type T = BufReader<ReadAt>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(BufReader::new(ReadAt {
            file: self.file.clone(),
            at: start,
        }))
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        let available = self.len.saturating_sub(start);
        if (length as u64) > available {
            return Err(ParquetError::EOF(format!(
                "expected to read {length} bytes at offset {start}, the file has {available} from there"
            )));
        }
        let mut buffer = vec![0; length];
        self.file.read_exact_at(&mut buffer, start)?;
        Ok(buffer.into())
    }
}

/// Reads a file onwards from an offset, without moving the descriptor's own position.
#[derive(Debug)]
pub(crate) struct ReadAt {
    file: Arc<File>,
    at: u64,
}

impl Read for ReadAt {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read_at(out, self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn file_with(bytes: &[u8]) -> (tempfile::TempDir, LocalFile) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        File::create(&path).unwrap().write_all(bytes).unwrap();
        let file = LocalFile::open(&path).unwrap();
        (dir, file)
    }

    #[test]
    fn ranges_and_readers_start_where_asked_and_share_no_position() {
        let (_dir, file) = file_with(b"0123456789");
        assert_eq!(file.len(), 10);
        assert_eq!(file.get_bytes(3, 4).unwrap().as_ref(), b"3456");
        let mut a = file.get_read(8).unwrap();
        let mut b = file.clone().get_read(0).unwrap();
        let mut text = String::new();
        a.read_to_string(&mut text).unwrap();
        assert_eq!(text, "89");
        let mut two = [0; 2];
        b.read_exact(&mut two).unwrap();
        assert_eq!(&two, b"01");
        assert_eq!(file.get_bytes(0, 10).unwrap().as_ref(), b"0123456789");
        assert_eq!(file.get_bytes(10, 0).unwrap().len(), 0);
    }

    #[test]
    fn a_range_past_the_end_is_an_error_naming_it() {
        let (_dir, file) = file_with(b"0123456789");
        let err = file.get_bytes(8, 5).unwrap_err().to_string();
        assert!(err.contains("5 bytes at offset 8"), "{err}");
        assert!(file.get_bytes(11, 1).is_err());
    }

    #[test]
    fn parquet_reads_a_file_through_it() {
        use arrow::array::{Int64Array, RecordBatch};
        use parquet::arrow::ArrowWriter;
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let values = Int64Array::from_iter_values(0..10_000);
        let batch = RecordBatch::try_from_iter([("v", Arc::new(values) as _)]).unwrap();
        let mut writer =
            ArrowWriter::try_new(File::create(&path).unwrap(), batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();

        let reader = ParquetRecordBatchReaderBuilder::try_new(LocalFile::open(&path).unwrap())
            .unwrap()
            .build()
            .unwrap();
        let read: Vec<RecordBatch> = reader.collect::<Result<_, _>>().unwrap();
        let total: i64 = read
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .values()
                    .to_vec()
            })
            .sum();
        assert_eq!(total, (0..10_000).sum::<i64>());
    }
}
