//! A streaming k-way merge of sorted row sources (Parquet files, buffered partitions)
//! into batches sorted by series then time, one row per (series, time), newest source
//! winning field by field — what [`super::merge`] does, without holding the sources whole.
//!
//! Each source yields batches already sorted by series then time, each (series, time)
//! at most once. The merge holds one batch per source plus the output batch it is
//! building, so its memory is bounded by the number of sources times the sources' batch
//! size, whatever the total number of rows.

use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::compute::interleave;
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, Rows, SortField};

use super::TableSchema;
use crate::error::{Error, Result};

/// Batches of one source, in order.
pub(crate) type SortedBatches = Box<dyn Iterator<Item = Result<RecordBatch>> + Send>;

/// What a merge held at most at once, for the bound on its memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct MergePeak {
    /// Rows of the source batches held plus rows of the output batch being built.
    pub(crate) rows: usize,
    /// Bytes of the source batches held (Arrow buffers and their sort keys) plus the
    /// output batch, as Arrow counts them.
    pub(crate) bytes: usize,
}

/// One source's position: its current batch, that batch's sort keys and the next row.
struct Cursor {
    input: SortedBatches,
    current: Option<Current>,
    finished: bool,
    /// The sort key of the last row of the previous batch, to check the order across
    /// batches.
    last_key: Option<Vec<u8>>,
}

struct Current {
    batch: RecordBatch,
    keys: Rows,
    pos: usize,
    bytes: usize,
}

impl Current {
    fn exhausted(&self) -> bool {
        self.pos >= self.batch.num_rows()
    }
}

/// The merge: call [`MergeStream::next_batch`] until it returns `None`.
pub(crate) struct MergeStream {
    schema: SchemaRef,
    n_tags: usize,
    time_idx: usize,
    converter: RowConverter,
    /// Oldest source first: a later source's value wins.
    cursors: Vec<Cursor>,
    batch_rows: usize,
    /// The output rows so far: (source, row in its current batch).
    pending: Vec<(usize, usize)>,
    /// Field values of pending rows taken from another source than the row's own:
    /// (pending position, column, source, row).
    overrides: Vec<(usize, usize, usize, usize)>,
    peak: MergePeak,
}

impl std::fmt::Debug for MergeStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MergeStream")
            .field("sources", &self.cursors.len())
            .field("batch_rows", &self.batch_rows)
            .field("peak", &self.peak)
            .finish()
    }
}

impl MergeStream {
    /// Merges `sources` (oldest first; each yields batches in `schema`'s Arrow schema,
    /// sorted by series then time with each (series, time) once) into batches of at most
    /// `batch_rows` rows.
    ///
    /// # Errors
    /// [`Error::Arrow`] when the sort keys of the schema cannot be built.
    pub(crate) fn try_new(
        schema: &TableSchema,
        sources: Vec<SortedBatches>,
        batch_rows: usize,
    ) -> Result<MergeStream> {
        let arrow_schema = schema.arrow_schema();
        let n_tags = schema.tags.len();
        let time_idx = schema.width() - 1;
        // The series order: tags then time (see the module `merge`).
        let fields = (0..n_tags)
            .chain([time_idx])
            .map(|i| {
                SortField::new_with_options(
                    arrow_schema.field(i).data_type().clone(),
                    super::SERIES_ORDER,
                )
            })
            .collect();
        Ok(MergeStream {
            schema: arrow_schema,
            n_tags,
            time_idx,
            converter: RowConverter::new(fields)?,
            cursors: sources
                .into_iter()
                .map(|input| Cursor {
                    input,
                    current: None,
                    finished: false,
                    last_key: None,
                })
                .collect(),
            batch_rows: batch_rows.max(1),
            pending: Vec::new(),
            overrides: Vec::new(),
            peak: MergePeak::default(),
        })
    }

    /// The most the merge has held at once so far.
    pub(crate) fn peak(&self) -> MergePeak {
        self.peak
    }

    /// The next merged batch, `None` when every source is done.
    ///
    /// # Errors
    /// A source's error, or [`Error::Catalog`] when a source is not sorted by series
    /// then time with each (series, time) once (merging it would write wrong files).
    pub(crate) fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        loop {
            // A source whose batch is used up gets its next one, but only once no pending
            // row refers to the old one.
            for c in 0..self.cursors.len() {
                let cursor = &self.cursors[c];
                if cursor.finished || cursor.current.as_ref().is_some_and(|b| !b.exhausted()) {
                    continue;
                }
                if !self.pending.is_empty() {
                    return self.flush().map(Some);
                }
                self.advance_batch(c)?;
            }
            let live: Vec<usize> = (0..self.cursors.len())
                .filter(|&c| self.cursors[c].current.is_some())
                .collect();
            if live.is_empty() {
                return if self.pending.is_empty() {
                    Ok(None)
                } else {
                    self.flush().map(Some)
                };
            }
            // The smallest current row, and the smallest among the other sources.
            let mut min = live[0];
            let mut second: Option<usize> = None;
            for &c in &live[1..] {
                if self.key(c) < self.key(min) {
                    second = Some(min);
                    min = c;
                } else if second.is_none_or(|s| self.key(c) < self.key(s)) {
                    second = Some(c);
                }
            }
            let room = self.batch_rows - self.pending.len();
            match second {
                Some(s) if self.key(s) == self.key(min) => self.take_duplicates(&live),
                _ => {
                    // Every row of `min` before the other sources' smallest is next.
                    let current = self.cursors[min].current.as_ref().expect("live");
                    let start = current.pos;
                    let limit = (start + room).min(current.batch.num_rows());
                    let end = match second {
                        None => limit,
                        Some(s) => {
                            let bound = self.key_of(s);
                            let keys = &current.keys;
                            // Rows are ascending: the first row not below `bound`.
                            let (mut lo, mut hi) = (start + 1, limit);
                            while lo < hi {
                                let mid = lo + (hi - lo) / 2;
                                if keys.row(mid) < bound {
                                    lo = mid + 1;
                                } else {
                                    hi = mid;
                                }
                            }
                            lo
                        }
                    };
                    self.pending.extend((start..end).map(|r| (min, r)));
                    self.cursors[min].current.as_mut().expect("live").pos = end;
                }
            }
            self.note_peak(0);
            if self.pending.len() >= self.batch_rows {
                return self.flush().map(Some);
            }
        }
    }

    fn key(&self, c: usize) -> arrow::row::Row<'_> {
        self.key_of(c)
    }

    fn key_of(&self, c: usize) -> arrow::row::Row<'_> {
        let current = self.cursors[c].current.as_ref().expect("live cursor");
        current.keys.row(current.pos)
    }

    /// Emits one row for the (series, time) several sources hold at their current row:
    /// tags and time from the newest, each field from the newest source that has it.
    fn take_duplicates(&mut self, live: &[usize]) {
        let min = live
            .iter()
            .copied()
            .min_by(|&a, &b| self.key(a).cmp(&self.key(b)))
            .expect("live");
        let group: Vec<usize> = live
            .iter()
            .copied()
            .filter(|&c| self.key(c) == self.key(min))
            .collect();
        let newest = *group.last().expect("group");
        let row_of = |c: usize| self.cursors[c].current.as_ref().expect("live").pos;
        let at = self.pending.len();
        self.pending.push((newest, row_of(newest)));
        for col in self.n_tags..self.time_idx {
            let winner = group.iter().rev().copied().find(|&c| {
                let current = self.cursors[c].current.as_ref().expect("live");
                current.batch.column(col).is_valid(current.pos)
            });
            if let Some(w) = winner
                && w != newest
            {
                self.overrides.push((at, col, w, row_of(w)));
            }
        }
        for c in group {
            self.cursors[c].current.as_mut().expect("live").pos += 1;
        }
    }

    /// Replaces source `c`'s used-up batch by its next non-empty one (or marks it done),
    /// checking that its rows continue in order.
    fn advance_batch(&mut self, c: usize) -> Result<()> {
        let cursor = &mut self.cursors[c];
        if let Some(old) = cursor.current.take()
            && old.batch.num_rows() > 0
        {
            cursor.last_key = Some(old.keys.row(old.batch.num_rows() - 1).as_ref().to_vec());
        }
        loop {
            let Some(batch) = cursor.input.next() else {
                cursor.finished = true;
                return Ok(());
            };
            let batch = batch?;
            if batch.num_rows() == 0 {
                continue;
            }
            let columns: Vec<ArrayRef> = (0..self.n_tags)
                .chain([self.time_idx])
                .map(|i| batch.column(i).clone())
                .collect();
            let keys = self.converter.convert_columns(&columns)?;
            let ordered = cursor
                .last_key
                .as_deref()
                .is_none_or(|last| last < keys.row(0).as_ref())
                && (1..keys.num_rows()).all(|i| keys.row(i - 1) < keys.row(i));
            if !ordered {
                return Err(Error::Catalog(format!(
                    "merge source {c} is not sorted by series then time with each point once"
                )));
            }
            let bytes = batch.get_array_memory_size() + keys.size();
            cursor.current = Some(Current {
                batch,
                keys,
                pos: 0,
                bytes,
            });
            return Ok(());
        }
    }

    fn note_peak(&mut self, output_bytes: usize) {
        let (mut rows, mut bytes) = (self.pending.len(), output_bytes);
        for current in self.cursors.iter().filter_map(|c| c.current.as_ref()) {
            rows += current.batch.num_rows();
            bytes += current.bytes;
        }
        self.peak.rows = self.peak.rows.max(rows);
        self.peak.bytes = self.peak.bytes.max(bytes);
    }

    /// Builds the output batch from the pending rows.
    fn flush(&mut self) -> Result<RecordBatch> {
        let pending = std::mem::take(&mut self.pending);
        let overrides = std::mem::take(&mut self.overrides);
        let first = pending[0];
        let single_run = overrides.is_empty()
            && pending
                .iter()
                .enumerate()
                .all(|(i, &(c, r))| c == first.0 && r == first.1 + i);
        let batch = if single_run {
            // One run of one source: a slice, no copy.
            let current = self.cursors[first.0].current.as_ref().expect("live");
            let slice = current.batch.slice(first.1, pending.len());
            RecordBatch::try_new(self.schema.clone(), slice.columns().to_vec())?
        } else {
            let mut columns = Vec::with_capacity(self.schema.fields().len());
            for col in 0..self.schema.fields().len() {
                let arrays: Vec<&dyn Array> = self
                    .cursors
                    .iter()
                    .map(|c| match &c.current {
                        Some(current) => current.batch.column(col).as_ref(),
                        // Never indexed: no pending row refers to a source without a batch.
                        None => self.cursors[first.0]
                            .current
                            .as_ref()
                            .expect("live")
                            .batch
                            .column(col)
                            .as_ref(),
                    })
                    .collect();
                let mut indices = pending.clone();
                for &(at, _, source, row) in overrides.iter().filter(|o| o.1 == col) {
                    indices[at] = (source, row);
                }
                columns.push(interleave(&arrays, &indices)?);
            }
            RecordBatch::try_new(self.schema.clone(), columns)?
        };
        self.note_peak(batch.get_array_memory_size());
        // `note_peak` counted the pending rows' sources, not the pending rows again.
        Ok(batch)
    }
}

impl Iterator for MergeStream {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_batch().transpose()
    }
}

#[cfg(test)]
mod tests {
    use sluice_bench::rng::Rng;

    use super::*;
    use crate::merge::merge;
    use crate::merge::test_rows::{self, batch, schema};

    type Row = test_rows::Row<String>;

    /// A source handing out `rows` (sorted, unique) in batches of `per_batch`.
    fn source(rows: Vec<Row>, per_batch: usize) -> SortedBatches {
        let batches: Vec<Result<RecordBatch>> =
            rows.chunks(per_batch).map(|c| Ok(batch(c))).collect();
        Box::new(batches.into_iter())
    }

    /// A deterministic pseudo-random generator (xorshift), so cases are reproducible.
    /// Sorted unique rows drawn from a small key space so sources overlap, with some
    /// absent tags and missing fields.
    fn random_rows(rng: &mut Rng, n: usize) -> Vec<Row> {
        let mut keys: Vec<(Option<String>, i64)> = (0..n)
            .map(|_| {
                let h = rng.below(6);
                let host = (h > 0).then(|| format!("h{h}"));
                (host, rng.below(40) as i64)
            })
            .collect();
        keys.sort();
        keys.dedup();
        keys.into_iter()
            .map(|(h, t)| {
                let a = (rng.below(4) > 0).then(|| rng.below(1000) as f64);
                let b = (rng.below(4) > 0).then(|| rng.below(1000) as i64);
                (h, t, a, b)
            })
            .collect()
    }

    fn collect(stream: MergeStream) -> RecordBatch {
        let batches: Vec<RecordBatch> = stream.map(Result::unwrap).collect();
        arrow::compute::concat_batches(&schema().arrow_schema(), &batches).unwrap()
    }

    #[test]
    fn streaming_merge_equals_the_in_memory_merge_for_random_overlapping_sources() {
        let mut rng = Rng::new(7);
        for case in 0..200 {
            let n_sources = 1 + rng.below(5) as usize;
            let sources: Vec<Vec<Row>> = (0..n_sources)
                .map(|_| {
                    let n = rng.below(120) as usize;
                    random_rows(&mut rng, n)
                })
                .collect();
            let expected = merge(&schema(), sources.iter().map(|s| batch(s)).collect()).unwrap();
            let per_batch = 1 + rng.below(9) as usize;
            let out_rows = 1 + rng.below(17) as usize;
            let stream = MergeStream::try_new(
                &schema(),
                sources.into_iter().map(|s| source(s, per_batch)).collect(),
                out_rows,
            )
            .unwrap();
            let got = collect(stream);
            // Dictionaries may differ; compare values.
            let cast = |b: &RecordBatch| {
                let host =
                    arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8).unwrap();
                (
                    host,
                    b.column(1).clone(),
                    b.column(2).clone(),
                    b.column(3).clone(),
                )
            };
            assert_eq!(cast(&got), cast(&expected), "case {case}");
        }
    }

    #[test]
    fn the_merge_holds_one_batch_per_source_whatever_the_rows() {
        let rows = |offset: i64| -> Vec<Row> {
            (0..20_000)
                .map(|i| {
                    (
                        Some(format!("h{:02}", i / 1000)),
                        i % 1000 + offset,
                        Some(1.0),
                        None,
                    )
                })
                .collect()
        };
        // Three sources of 20,000 rows each, interleaved in time within each series.
        let sources: Vec<SortedBatches> = (0..3).map(|k| source(rows(k * 1000), 500)).collect();
        let mut stream = MergeStream::try_new(&schema(), sources, 700).unwrap();
        let mut total = 0;
        while let Some(b) = stream.next_batch().unwrap() {
            assert!(b.num_rows() <= 700);
            total += b.num_rows();
        }
        assert_eq!(total, 60_000);
        let peak = stream.peak();
        assert!(
            peak.rows <= 3 * 500 + 700,
            "held {} rows at once of 60,000",
            peak.rows
        );
        assert!(peak.rows >= 500);
    }

    #[test]
    fn an_unsorted_source_is_an_error_not_a_wrong_file() {
        let rows: Vec<Row> = vec![
            (Some("b".into()), 1, Some(1.0), None),
            (Some("a".into()), 2, Some(1.0), None),
        ];
        let mut stream = MergeStream::try_new(&schema(), vec![source(rows, 10)], 10).unwrap();
        assert!(matches!(stream.next_batch(), Err(Error::Catalog(_))));
        let dup: Vec<Row> = vec![
            (Some("a".into()), 1, Some(1.0), None),
            (Some("a".into()), 1, Some(2.0), None),
        ];
        // Across a batch boundary too.
        let mut stream = MergeStream::try_new(&schema(), vec![source(dup, 1)], 10).unwrap();
        assert!(stream.next_batch().is_err() || stream.next_batch().is_err());
    }
}
