//! Parquet files: encoding a sorted partition (dictionary tags, delta time and
//! integers, LZ4 or zstd by column type, statistics) and reading one back with
//! row-group pruning and predicates.

use arrow::array::TimestampNanosecondArray;
use arrow::array::{
    Array, ArrayRef, BooleanArray, DictionaryArray, RecordBatch, RecordBatchOptions, StringArray,
};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef};
use arrow::error::ArrowError;
use bytes::Bytes;
use parquet::arrow::arrow_reader::{
    ArrowPredicateFn, ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
    RowFilter, RowSelection,
};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, RowGroupMetaData};
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::reader::ChunkReader;
use parquet::file::statistics::Statistics;
use parquet::schema::types::ColumnPath;

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::field_filter;
use crate::local_file::LocalFile;
use crate::merge::conform;
use crate::series_index::{Selection, SeriesIndex};
use crate::types::{FieldFilter, TagMatch};

/// Rows per Parquet row group.
const ROW_GROUP_ROWS: usize = 1 << 20;

/// Most rows per data page. Rows are sorted by series then time, so with pages this
/// small a tag-equality and time-range predicate selects a few pages of each column
/// through the page index (the statistics of each page), and only those are decoded.
const PAGE_ROWS: usize = 4096;

/// Encodes `batch` (already sorted by tags then time) as a Parquet file.
#[cfg(test)]
pub(crate) fn encode(batch: &RecordBatch) -> Result<Vec<u8>> {
    let mut file = FileWriter::new(&batch.schema())?;
    file.write(batch)?;
    file.finish()
}

/// Bytes of encoded rows a file being written holds in memory before they go out as a
/// row group (also cut at [`ROW_GROUP_ROWS`]), so wide or string-heavy rows cannot make
/// one row group, and the memory buffering it, grow large.
pub(crate) const ROW_GROUP_BYTES: usize = 32 << 20;

/// A Parquet file written from consecutive slices of rows sorted by series then time
/// (a series may continue from one slice into the next), so that persisting a large
/// partition never holds more than one slice decoded at a time. Written into `W`: a
/// staging file on disk, or memory for tests and the in-memory object store.
pub(crate) struct FileWriter<W: std::io::Write + Send = Vec<u8>> {
    writer: ArrowWriter<W>,
    /// The series index so far; `None` once it outgrew [`MAX_INDEXED_SERIES`].
    index: Option<SeriesIndex>,
    rows: u64,
}

impl FileWriter {
    /// A file of `schema` (tags, fields, time as [`crate::merge::TableSchema`] builds it),
    /// in memory.
    #[cfg(test)]
    pub(crate) fn new(schema: &SchemaRef) -> Result<FileWriter> {
        FileWriter::with_sink(schema, Vec::new(), true)
    }
}

impl<W: std::io::Write + Send> FileWriter<W> {
    /// A file of `schema` written into `sink`, with a series index if `indexed` and the
    /// file's series turn out few enough (see [`SeriesIndex`]); a writer that knows its
    /// rows have more passes false and skips building an index only to drop it.
    pub(crate) fn with_sink(schema: &SchemaRef, sink: W, indexed: bool) -> Result<FileWriter<W>> {
        // Compression by what the encoding leaves: dictionary indices, delta-packed
        // integers and times take little more from zstd than from LZ4 (a few percent on
        // TSBS data), and every reader of a zstd column chunk pays for two zstd contexts
        // (tens of microseconds on virtual machines, where `cpuid` traps); plain floats
        // and strings keep zstd, which makes them a third smaller than LZ4 does.
        let zstd = Compression::ZSTD(ZstdLevel::try_new(3)?);
        let mut props = WriterProperties::builder()
            .set_compression(Compression::LZ4_RAW)
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_data_page_row_count_limit(PAGE_ROWS)
            .set_write_batch_size(PAGE_ROWS.min(1024))
            .set_dictionary_enabled(true)
            .set_column_dictionary_enabled(ColumnPath::from("time"), false)
            .set_column_encoding(ColumnPath::from("time"), Encoding::DELTA_BINARY_PACKED);
        for f in schema.fields() {
            let column = || ColumnPath::from(f.name().as_str());
            match f.data_type() {
                // Measured floats rarely repeat: a dictionary only adds a page every
                // reader of the column chunk must decode first.
                DataType::Float64 => {
                    props = props
                        .set_column_dictionary_enabled(column(), false)
                        .set_column_compression(column(), zstd);
                }
                // Gauges with few values stay in a dictionary; counters and wide values
                // overflow it and fall back to deltas (a quarter of plain's size).
                DataType::Int64 | DataType::UInt64 => {
                    props = props.set_column_encoding(column(), Encoding::DELTA_BINARY_PACKED);
                }
                DataType::Utf8 => {
                    props = props.set_column_compression(column(), zstd);
                }
                _ => {}
            }
        }
        let writer = ArrowWriter::try_new(sink, schema.clone(), Some(props.build()))?;
        Ok(FileWriter {
            writer,
            index: indexed.then(SeriesIndex::empty),
            rows: 0,
        })
    }

    /// Appends the next slice (sorted, and after every row written before).
    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        // Once the file has too many series for an index, its slices are not indexed.
        self.index = self.index.take().and_then(|mut index| {
            let slice = SeriesIndex::of_sorted(batch)?;
            index.extend(slice, self.rows).then_some(index)
        });
        self.rows += batch.num_rows() as u64;
        self.writer.write(batch)?;
        if self.writer.in_progress_size() >= ROW_GROUP_BYTES {
            self.writer.flush()?;
        }
        Ok(())
    }

    /// About how many bytes the file has when closed now: those written out plus the
    /// encoded size of the rows still buffered.
    pub(crate) fn estimated_bytes(&self) -> u64 {
        (self.writer.bytes_written() + self.writer.in_progress_size()) as u64
    }

    /// Bytes the writer holds in memory (buffered encoded rows and encoder state).
    pub(crate) fn memory_bytes(&self) -> usize {
        self.writer.memory_size()
    }

    /// Closes the file and returns its sink (for `Vec<u8>`, the file's bytes).
    pub(crate) fn finish(mut self) -> Result<W> {
        if let Some(index) = self.index.take().filter(|i| !i.is_empty()) {
            self.writer.append_key_value_metadata(index.key_value()?);
        }
        Ok(self.writer.into_inner()?)
    }
}

/// A file's metadata as reads need it: the Arrow reader metadata (footer and page
/// index) and the series index, if the file has one.
#[derive(Debug, Clone)]
pub(crate) struct FileMeta {
    arrow: ArrowReaderMetadata,
    pub(crate) series: Option<Arc<SeriesIndex>>,
}

/// The bytes of a Parquet file: in memory, or a local file read page by page.
#[derive(Debug)]
pub(crate) enum FileData {
    Bytes(Bytes),
    File(LocalFile),
}

/// Reads the footer, page index and series index of a Parquet file (what [`read`]
/// needs each time; files never change, so callers keep it).
pub(crate) fn load_metadata(data: &FileData) -> Result<FileMeta> {
    // The page index lets reads skip the pages of unselected rows.
    let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
    let arrow = match data {
        FileData::Bytes(b) => ArrowReaderMetadata::load(b, options)?,
        FileData::File(f) => ArrowReaderMetadata::load(f, options)?,
    };
    let series = SeriesIndex::of_file(arrow.metadata()).map(Arc::new);
    Ok(FileMeta { arrow, series })
}

/// Reads a Parquet file into batches in `schema` (decoding only the columns it names),
/// keeping only rows in `time_range` that every one of `tag_matches` matches; row groups and
/// pages whose statistics exclude them are skipped. `metadata` is the file's
/// [`load_metadata`].
///
/// With `newest_per_series`, rows older than each series' newest that many may be left
/// out (they are when the file has a series index and no time range is given). Rows
/// that do not match every one of `field_filters` (from [`crate::field_filter::applicable`])
/// are left out.
///
/// Each batch read is counted in `held`, and the read stops with its error once that is
/// over its limit.
#[allow(clippy::too_many_arguments)]
pub(crate) fn read(
    data: FileData,
    metadata: FileMeta,
    schema: &SchemaRef,
    time_range: Option<(i64, i64)>,
    tag_matches: &[TagMatch],
    field_filters: &[FieldFilter],
    newest_per_series: Option<usize>,
    held: &RowBytes,
) -> Result<Vec<RecordBatch>> {
    let series = metadata.series.clone();
    let predicates = Predicates {
        time_range,
        tag_matches,
        field_filters,
        newest_per_series,
        held,
    };
    let arrow = metadata.arrow;
    match data {
        FileData::Bytes(b) => read_from(
            &|| {
                Ok(ParquetRecordBatchReaderBuilder::new_with_metadata(
                    b.clone(),
                    arrow.clone(),
                ))
            },
            series.as_deref(),
            schema,
            predicates,
        ),
        FileData::File(f) => read_from(
            &|| {
                Ok(ParquetRecordBatchReaderBuilder::new_with_metadata(
                    f.clone(),
                    arrow.clone(),
                ))
            },
            series.as_deref(),
            schema,
            predicates,
        ),
    }
}

/// Opens a reader of one file (again): reads that look at a column first to choose
/// the rows they decode open the file twice.
type Open<'a, T> = &'a dyn Fn() -> Result<ParquetRecordBatchReaderBuilder<T>>;

/// Opens a Parquet file for reading all its rows in file order, `batch_rows` at a time;
/// returns the file's Arrow schema and its batches. Pages are read one at a time from a
/// local file, so a file of any size costs about one page per column plus one batch.
///
/// # Errors
/// [`Error::Parquet`] when the footer cannot be read.
pub(crate) fn read_in_order(
    data: FileData,
    batch_rows: usize,
) -> Result<(SchemaRef, crate::merge::SortedBatches)> {
    fn open<T: ChunkReader + 'static>(
        input: T,
        batch_rows: usize,
    ) -> Result<(SchemaRef, crate::merge::SortedBatches)> {
        let builder = ParquetRecordBatchReaderBuilder::try_new(input)?;
        let schema = builder.schema().clone();
        let reader = builder.with_batch_size(batch_rows.max(1)).build()?;
        Ok((schema, Box::new(reader.map(|b| b.map_err(Error::from)))))
    }
    match data {
        FileData::Bytes(b) => open(b, batch_rows),
        FileData::File(f) => open(f, batch_rows),
    }
}

/// Calls `visit` with the tag names and, once per series of the file, its tag values
/// (`None`: the series lacks the tag), in file order, until `visit` returns false. A file
/// with a series index is answered from its footer; any other has its tag columns read
/// batch by batch (a series' rows are adjacent), so memory stays at one batch of them.
///
/// # Errors
/// [`Error::Parquet`] / [`Error::Arrow`] when the file cannot be read.
pub(crate) fn for_each_series(
    data: FileData,
    metadata: FileMeta,
    mut visit: impl FnMut(&[String], &[Option<&str>]) -> bool,
) -> Result<()> {
    if let Some(index) = &metadata.series {
        index.for_each_series(visit);
        return Ok(());
    }
    fn tag_columns<T: ChunkReader + 'static>(
        builder: ParquetRecordBatchReaderBuilder<T>,
    ) -> Result<(
        Vec<String>,
        parquet::arrow::arrow_reader::ParquetRecordBatchReader,
    )> {
        let schema = builder.schema().clone();
        let wanted: Vec<usize> = (0..schema.fields().len())
            .filter(|&i| matches!(schema.field(i).data_type(), DataType::Dictionary(..)))
            .collect();
        let names = wanted
            .iter()
            .map(|&i| schema.field(i).name().clone())
            .collect();
        let mask = ProjectionMask::roots(builder.parquet_schema(), wanted);
        let reader = builder
            .with_projection(mask)
            .with_batch_size(8 * 1024)
            .build()?;
        Ok((names, reader))
    }
    let (tags, reader) = match data {
        FileData::Bytes(b) => tag_columns(ParquetRecordBatchReaderBuilder::new_with_metadata(
            b,
            metadata.arrow,
        ))?,
        FileData::File(f) => tag_columns(ParquetRecordBatchReaderBuilder::new_with_metadata(
            f,
            metadata.arrow,
        ))?,
    };
    let mut previous: Option<Vec<Option<String>>> = None;
    for batch in reader {
        let batch = batch?;
        let columns: Vec<(&DictionaryArray<Int32Type>, &StringArray)> = (0..batch.num_columns())
            .filter_map(|i| {
                let d = batch
                    .column(i)
                    .as_any()
                    .downcast_ref::<DictionaryArray<Int32Type>>()?;
                let values = d.values().as_any().downcast_ref::<StringArray>()?;
                Some((d, values))
            })
            .collect();
        if columns.len() != tags.len() {
            return Err(Error::Catalog(
                "a tag column is not a string dictionary".into(),
            ));
        }
        let mut row_values: Vec<Option<&str>> = Vec::with_capacity(tags.len());
        for row in 0..batch.num_rows() {
            row_values.clear();
            row_values.extend(columns.iter().map(|(d, values)| {
                let key = d.keys();
                (!key.is_null(row))
                    .then(|| usize::try_from(key.value(row)).ok())
                    .flatten()
                    .filter(|&k| k < values.len() && !values.is_null(k))
                    .map(|k| values.value(k))
            }));
            let same = previous
                .as_ref()
                .is_some_and(|p| p.iter().zip(&row_values).all(|(a, b)| a.as_deref() == *b));
            if same {
                continue;
            }
            if !visit(&tags, &row_values) {
                return Ok(());
            }
            previous = Some(row_values.iter().map(|v| v.map(str::to_owned)).collect());
        }
    }
    Ok(())
}

/// What [`read`] keeps, and what counts the bytes of the rows it read.
#[derive(Debug, Clone, Copy)]
struct Predicates<'a> {
    time_range: Option<(i64, i64)>,
    tag_matches: &'a [TagMatch],
    /// From [`crate::field_filter::applicable`]: every row read matches them.
    field_filters: &'a [FieldFilter],
    newest_per_series: Option<usize>,
    held: &'a RowBytes,
}

/// The bytes of rows (Arrow's [`RecordBatch::get_array_memory_size`]) a scan holds,
/// against the most it may hold ([`crate::ScanRequest::max_bytes`]): counted as batches
/// are read, so a scan over its bound stops at the batch that crosses it.
#[derive(Debug, Default)]
pub(crate) struct RowBytes {
    limit: Option<usize>,
    held: std::sync::atomic::AtomicUsize,
}

impl RowBytes {
    pub(crate) fn new(limit: Option<usize>) -> RowBytes {
        RowBytes {
            limit,
            held: Default::default(),
        }
    }

    /// Counts `bytes` more.
    ///
    /// # Errors
    /// [`Error::ScanTooLarge`] once the count passes the limit.
    pub(crate) fn take(&self, bytes: usize) -> Result<()> {
        use std::sync::atomic::Ordering::Relaxed;
        let held = self.held.fetch_add(bytes, Relaxed).saturating_add(bytes);
        match self.limit {
            Some(limit) if held > limit => Err(Error::ScanTooLarge { limit }),
            _ => Ok(()),
        }
    }

    /// [`RowBytes::take`] for the rows of `batch`.
    ///
    /// # Errors
    /// As [`RowBytes::take`].
    pub(crate) fn take_batch(&self, batch: &RecordBatch) -> Result<()> {
        self.take(batch.get_array_memory_size())
    }

    /// Stops counting `bytes` (rows let go of).
    pub(crate) fn release(&self, bytes: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        let _ = self
            .held
            .fetch_update(Relaxed, Relaxed, |h| Some(h.saturating_sub(bytes)));
    }

    /// The bytes counted now.
    pub(crate) fn held(&self) -> usize {
        self.held.load(std::sync::atomic::Ordering::Relaxed)
    }
}

fn read_from<T: ChunkReader + 'static>(
    open: Open<'_, T>,
    series: Option<&SeriesIndex>,
    schema: &SchemaRef,
    predicates: Predicates<'_>,
) -> Result<Vec<RecordBatch>> {
    let mut builder = open()?;
    let Predicates {
        time_range,
        tag_matches,
        field_filters,
        newest_per_series,
        held,
    } = predicates;
    // Without a time range the newest rows of a series are its last rows in the file.
    let newest = newest_per_series.filter(|_| time_range.is_none());
    let meta = builder.metadata().clone();
    let columns = meta.file_metadata().schema_descr();
    let col_index =
        |name: &str| (0..columns.num_columns()).find(|&i| columns.column(i).name() == name);
    let time_col = col_index("time");
    let tag_cols: Vec<(Option<usize>, &TagMatch)> = tag_matches
        .iter()
        .map(|m| (col_index(m.key()), m))
        .collect();
    let field_cols: Vec<Option<usize>> =
        field_filters.iter().map(|f| col_index(&f.field)).collect();
    // A predicate on a tag or field the file lacks matches nothing.
    if tag_cols.iter().any(|(c, _)| c.is_none()) || field_cols.iter().any(Option::is_none) {
        return Ok(Vec::new());
    }
    if let Some(index) = series
        && (newest.is_some() || !tag_matches.is_empty())
    {
        // The index names the series' rows exactly and holds their tags: the tag
        // columns need not be decoded. A time range narrows them to the pages whose
        // statistics allow it, then to the rows whose time is in it (the time column
        // alone decoded first), so the other columns are decoded for those rows only.
        let mut selection = index.selection(tag_matches, newest);
        if let (Some(c), Some((start, end))) = (time_col, time_range) {
            let all: Vec<usize> = (0..meta.num_row_groups()).collect();
            let pages = [(c, PagePredicate::Range(start, end))];
            if let Some(rows) = page_selection(&meta, &all, &pages, Some(&selection.rows)) {
                selection.narrow(&selected_ranges(&rows));
            }
            let (in_range, times) = rows_in_time_range(builder, c, &selection.rows, (start, end))?;
            selection.narrow(&in_range);
            return read_selection(open()?, &selection, schema, times, field_filters, held);
        }
        return read_selection(builder, &selection, schema, None, field_filters, held);
    }
    let row_groups: Vec<usize> = meta
        .row_groups()
        .iter()
        .enumerate()
        .filter(|(_, rg)| {
            time_col.is_none_or(|c| time_may_match(rg, c, time_range))
                && tag_cols
                    .iter()
                    .all(|(c, m)| tag_may_match(rg, c.expect("checked"), m))
        })
        .map(|(i, _)| i)
        .collect();
    if row_groups.is_empty() {
        return Ok(Vec::new());
    }
    // Only the columns `schema` names (the scan's projection) are decoded.
    let wanted: Vec<usize> = (0..columns.num_columns())
        .filter(|&i| schema.field_with_name(columns.column(i).name()).is_ok())
        .collect();
    let mask = ProjectionMask::roots(columns, wanted);
    // The series index names the exact rows of the series a tag predicate selects; page
    // statistics narrow by time (and by tag without an index).
    let series_rows = series
        .filter(|_| !tag_matches.is_empty() || newest.is_some())
        .map(|index| index.matching(tag_matches, newest));
    let mut page_predicates: Vec<(usize, PagePredicate<'_>)> = Vec::new();
    if series_rows.is_none() {
        page_predicates.extend(
            tag_cols
                .iter()
                .map(|(c, m)| (c.expect("checked"), PagePredicate::OneOf(m))),
        );
    }
    if let (Some(c), Some((s, e))) = (time_col, time_range) {
        page_predicates.push((c, PagePredicate::Range(s, e)));
    }
    if let Some(selection) =
        page_selection(&meta, &row_groups, &page_predicates, series_rows.as_deref())
    {
        if !selection.selects_any() {
            return Ok(Vec::new());
        }
        builder = builder.with_row_selection(selection);
    }
    if time_range.is_some() || !tag_matches.is_empty() || !field_filters.is_empty() {
        // Predicate columns are decoded first; the others only for the rows that match.
        let predicate_columns: Vec<usize> = tag_cols
            .iter()
            .filter_map(|(c, _)| *c)
            .chain(time_col.filter(|_| time_range.is_some()))
            .chain(field_cols.iter().flatten().copied())
            .collect();
        let tags = tag_matches.to_vec();
        let fields = field_filters.to_vec();
        let predicate = ArrowPredicateFn::new(
            ProjectionMask::roots(columns, predicate_columns),
            move |batch: RecordBatch| {
                let keep = keep_mask(&batch, time_range, &tags)
                    .map_err(|e| ArrowError::ExternalError(Box::new(e)))?;
                if fields.is_empty() {
                    return Ok(keep);
                }
                arrow::compute::kernels::boolean::and(&keep, &field_filter::mask(&batch, &fields)?)
            },
        );
        builder = builder.with_row_filter(RowFilter::new(vec![Box::new(predicate)]));
    }
    let reader = builder
        .with_projection(mask)
        .with_row_groups(row_groups)
        .with_batch_size(64 * 1024)
        .build()?;
    // The row filter above already kept only matching rows.
    let mut out = Vec::new();
    for batch in reader {
        let batch = conform(&batch?, schema)?;
        if batch.num_rows() > 0 {
            held.take_batch(&batch)?;
            out.push(batch);
        }
    }
    Ok(out)
}

/// The rows of `rows` (ascending, disjoint file row ranges, each within one series) whose
/// time (column `time_col`) is in `[start, end)`, as ranges, and their times (none when
/// no row is); only the time column is decoded. A file's rows are sorted by series then
/// time, so the rows kept of each range are one run, found by binary search.
fn rows_in_time_range<T: ChunkReader + 'static>(
    builder: ParquetRecordBatchReaderBuilder<T>,
    time_col: usize,
    rows: &[std::ops::Range<usize>],
    (start, end): (i64, i64),
) -> Result<(Vec<std::ops::Range<usize>>, Option<ArrayRef>)> {
    if rows.is_empty() {
        return Ok((Vec::new(), None));
    }
    let meta = builder.metadata().clone();
    let all: Vec<usize> = (0..meta.num_row_groups()).collect();
    let selection = page_selection(&meta, &all, &[], Some(rows))
        .ok_or_else(|| Error::Catalog("a row group's row count overflows".to_owned()))?;
    let columns = meta.file_metadata().schema_descr();
    let reader = builder
        .with_projection(ProjectionMask::roots(columns, [time_col]))
        .with_row_selection(selection)
        .with_batch_size(64 * 1024)
        .build()?;
    let mut kept: Vec<std::ops::Range<usize>> = Vec::new();
    // The kept times, decoded once: the second read decodes only the other columns.
    let mut kept_times: Vec<ArrayRef> = Vec::new();
    // Where the next decoded time is: range `range` of `rows`, `within` rows into it.
    let (mut range, mut within) = (0usize, 0usize);
    for batch in reader {
        let batch = batch?;
        let times = batch
            .column(0)
            .as_any()
            .downcast_ref::<TimestampNanosecondArray>()
            .ok_or_else(|| Error::Catalog("the time column is not a timestamp".to_owned()))?
            .values();
        let mut at = 0;
        while at < times.len() {
            let Some(r) = rows.get(range) else {
                return Err(Error::Catalog(
                    "a file gave more rows than were selected".to_owned(),
                ));
            };
            let take = (r.len() - within).min(times.len() - at);
            let run = &times[at..at + take];
            debug_assert!(
                run.is_sorted(),
                "a series' rows are sorted by time in a file"
            );
            let (lo, hi) = (
                run.partition_point(|t| *t < start),
                run.partition_point(|t| *t < end),
            );
            if lo < hi {
                let first = r.start + within + lo;
                match kept.last_mut() {
                    Some(last) if last.end == first => last.end = first + (hi - lo),
                    _ => kept.push(first..first + (hi - lo)),
                }
                kept_times.push(batch.column(0).slice(at + lo, hi - lo));
            }
            at += take;
            within += take;
            if within == r.len() {
                range += 1;
                within = 0;
            }
        }
    }
    let parts: Vec<&dyn Array> = kept_times.iter().map(AsRef::as_ref).collect();
    let times = if kept.is_empty() {
        None
    } else {
        Some(arrow::compute::concat(&parts)?)
    };
    Ok((kept, times))
}

/// Reads the rows of `selection` (rows named by a file's series index), decoding only
/// the columns of `schema` that are not tags; the tag columns come from the index, and
/// the time column from `times` (the selected rows' times, in order) when given.
fn read_selection<T: ChunkReader + 'static>(
    builder: ParquetRecordBatchReaderBuilder<T>,
    selection: &Selection,
    schema: &SchemaRef,
    times: Option<ArrayRef>,
    field_filters: &[FieldFilter],
    held: &RowBytes,
) -> Result<Vec<RecordBatch>> {
    if selection.rows.is_empty() {
        return Ok(Vec::new());
    }
    let meta = builder.metadata().clone();
    let columns = meta.file_metadata().schema_descr();
    let mut wanted: Vec<usize> = (0..columns.num_columns())
        .filter(|&i| {
            let column = columns.column(i);
            let name = column.name();
            schema.field_with_name(name).is_ok() && !selection.tags.iter().any(|t| t == name)
        })
        .collect();
    // The times given need no decoding, unless they are all there is to decode (a read
    // of no column would not say how many rows it holds).
    let times = times.filter(|_| wanted.iter().any(|&i| columns.column(i).name() != "time"));
    if times.is_some() {
        wanted.retain(|&i| columns.column(i).name() != "time");
    }
    // Only the row groups that hold selected rows are opened.
    let mut row_groups: Vec<usize> = Vec::new();
    let mut first = 0usize;
    for (i, rg) in meta.row_groups().iter().enumerate() {
        let rows = usize::try_from(rg.num_rows())
            .map_err(|_| Error::Catalog("a row group's row count overflows".to_owned()))?;
        let end = first + rows;
        if selection
            .rows
            .iter()
            .any(|r| r.start < end && r.end > first)
        {
            row_groups.push(i);
        }
        first = end;
    }
    let rows = page_selection(&meta, &row_groups, &[], Some(&selection.rows))
        .ok_or_else(|| Error::Catalog("a row group's row count overflows".to_owned()))?;
    let reader = builder
        .with_projection(ProjectionMask::roots(columns, wanted))
        .with_row_groups(row_groups)
        .with_row_selection(rows)
        .with_batch_size(64 * 1024)
        .build()?;
    let mut out = Vec::new();
    let mut offset = 0;
    for batch in reader {
        let batch = batch?;
        let n = batch.num_rows();
        let mut fields: Vec<Field> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let mut arrays = batch.columns().to_vec();
        // Only the tags `schema` keeps (a scan that merges nothing reads only projected
        // and predicate tags; see the scan's snapshot): the others would be dropped.
        let wanted = |name: &str| schema.field_with_name(name).is_ok();
        for (name, column) in selection.tag_columns(offset, n, wanted) {
            fields.push(Field::new(name, column.data_type().clone(), true));
            arrays.push(Arc::new(column));
        }
        if let Some(times) = &times {
            fields.push(Field::new("time", times.data_type().clone(), true));
            arrays.push(times.slice(offset, n));
        }
        offset += n;
        let options = RecordBatchOptions::new().with_row_count(Some(n));
        let with_tags =
            RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), arrays, &options)?;
        let batch = field_filter::apply(&conform(&with_tags, schema)?, field_filters)?;
        if batch.num_rows() > 0 {
            held.take_batch(&batch)?;
            out.push(batch);
        }
    }
    Ok(out)
}

/// The rows a [`RowSelection`] selects, as ascending, disjoint ranges.
fn selected_ranges(selection: &RowSelection) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut row = 0usize;
    for selector in selection.iter() {
        if !selector.skip {
            ranges.push(row..row + selector.row_count);
        }
        row += selector.row_count;
    }
    ranges
}

/// A predicate a page's statistics can rule out.
#[derive(Debug, Clone, Copy)]
enum PagePredicate<'a> {
    /// A tag with one of these values.
    OneOf(&'a TagMatch),
    /// A time in `[start, end)`.
    Range(i64, i64),
}

/// The rows of `row_groups` (in that order) on pages whose statistics allow every
/// predicate, or `None` when the file has no page index (or nothing is ruled out).
fn page_selection(
    meta: &ParquetMetaData,
    row_groups: &[usize],
    predicates: &[(usize, PagePredicate<'_>)],
    file_rows: Option<&[std::ops::Range<usize>]>,
) -> Option<RowSelection> {
    let indexes = meta.column_index().zip(meta.offset_index());
    if file_rows.is_none() && (predicates.is_empty() || indexes.is_none()) {
        return None;
    }
    let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
    let mut base = 0usize;
    let mut pruned = file_rows.is_some();
    // The first row of each row group within the file.
    let mut rg_first = Vec::with_capacity(meta.num_row_groups());
    let mut first = 0usize;
    for rg in meta.row_groups() {
        rg_first.push(first);
        first += usize::try_from(rg.num_rows()).ok()?;
    }
    for &rg in row_groups {
        let rows = usize::try_from(meta.row_group(rg).num_rows()).ok()?;
        // Selected row ranges within this row group, ascending and disjoint.
        let mut selected: Vec<std::ops::Range<usize>> = match file_rows {
            Some(file_rows) => {
                let (lo, hi) = (rg_first[rg], rg_first[rg] + rows);
                file_rows
                    .iter()
                    .filter(|r| r.start < hi && r.end > lo)
                    .map(|r| r.start.max(lo) - lo..r.end.min(hi) - lo)
                    .collect()
            }
            None => std::iter::once(0..rows).collect(),
        };
        for &(col, predicate) in predicates {
            let Some((column_index, offset_index)) = indexes else {
                break;
            };
            let pages = offset_index.get(rg)?.get(col)?.page_locations();
            let index = column_index.get(rg)?.get(col)?;
            let mut keep: Vec<std::ops::Range<usize>> = Vec::new();
            for (p, page) in pages.iter().enumerate() {
                let start = usize::try_from(page.first_row_index).ok()?;
                let end = match pages.get(p + 1) {
                    Some(next) => usize::try_from(next.first_row_index).ok()?,
                    None => rows,
                };
                if page_may_match(index, p, predicate) {
                    match keep.last_mut() {
                        Some(last) if last.end == start => last.end = end,
                        _ => keep.push(start..end),
                    }
                } else {
                    pruned = true;
                }
            }
            selected = intersect(&selected, &keep);
        }
        ranges.extend(selected.into_iter().map(|r| r.start + base..r.end + base));
        base += rows;
    }
    pruned.then(|| RowSelection::from_consecutive_ranges(ranges.into_iter(), base))
}

/// The intersection of two ascending lists of disjoint ranges.
fn intersect(
    a: &[std::ops::Range<usize>],
    b: &[std::ops::Range<usize>],
) -> Vec<std::ops::Range<usize>> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        let start = a[i].start.max(b[j].start);
        let end = a[i].end.min(b[j].end);
        if start < end {
            out.push(start..end);
        }
        if a[i].end < b[j].end {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

fn page_may_match(index: &ColumnIndexMetaData, page: usize, predicate: PagePredicate<'_>) -> bool {
    if matches!(index, ColumnIndexMetaData::NONE) {
        return true;
    }
    if index.is_null_page(page) {
        // Only nulls: no tag value, no time.
        return false;
    }
    match (index, predicate) {
        (ColumnIndexMetaData::BYTE_ARRAY(ix), PagePredicate::OneOf(m)) => {
            match (ix.min_value(page), ix.max_value(page)) {
                (Some(min), Some(max)) => m.may_match_range(min, max),
                _ => true,
            }
        }
        (ColumnIndexMetaData::INT64(ix), PagePredicate::Range(start, end)) => {
            match (ix.min_value(page), ix.max_value(page)) {
                (Some(min), Some(max)) => *max >= start && *min < end,
                _ => true,
            }
        }
        _ => true,
    }
}

fn time_may_match(rg: &RowGroupMetaData, col: usize, range: Option<(i64, i64)>) -> bool {
    let Some((start, end)) = range else {
        return true;
    };
    match rg.column(col).statistics() {
        Some(Statistics::Int64(s)) => match (s.min_opt(), s.max_opt()) {
            (Some(min), Some(max)) => *max >= start && *min < end,
            _ => true,
        },
        _ => true,
    }
}

fn tag_may_match(rg: &RowGroupMetaData, col: usize, m: &TagMatch) -> bool {
    match rg.column(col).statistics() {
        Some(Statistics::ByteArray(s)) => match (s.min_opt(), s.max_opt()) {
            (Some(min), Some(max)) => m.may_match_range(min.data(), max.data()),
            _ => true,
        },
        _ => true,
    }
}

/// Keeps the rows of `batch` in `time_range` that every one of `tag_matches` matches (what the
/// row filter of [`read`] does while decoding; tests use it as the reference, and scans
/// apply it to ingest peers' rows).
pub(crate) fn filter(
    batch: &RecordBatch,
    time_range: Option<(i64, i64)>,
    tag_matches: &[TagMatch],
) -> Result<RecordBatch> {
    if time_range.is_none() && tag_matches.is_empty() {
        return Ok(batch.clone());
    }
    let mask = keep_mask(batch, time_range, tag_matches)?;
    Ok(arrow::compute::filter_record_batch(batch, &mask)?)
}

/// Which rows of `batch` are in `time_range` that every one of `tag_matches` matches.
fn keep_mask(
    batch: &RecordBatch,
    time_range: Option<(i64, i64)>,
    tag_matches: &[TagMatch],
) -> Result<BooleanArray> {
    let n = batch.num_rows();
    let mut keep = vec![true; n];
    if let Some((start, end)) = time_range
        && let Some(t) = batch
            .column_by_name("time")
            .and_then(|c| c.as_any().downcast_ref::<TimestampNanosecondArray>())
    {
        for (k, v) in keep.iter_mut().zip(t.values().iter()) {
            *k &= *v >= start && *v < end;
        }
    }
    for m in tag_matches {
        let rows = crate::predicate::tag_rows(batch, m.key(), &|v| m.matches(v));
        for (k, matches) in keep.iter_mut().zip(rows) {
            *k &= matches;
        }
    }
    Ok(BooleanArray::from(keep))
}

#[cfg(test)]
mod tests {
    use arrow::array::Float64Array;
    use sluice_lp::FieldType;

    use super::*;
    use crate::merge::TableSchema;

    fn schema() -> TableSchema {
        TableSchema {
            tags: vec!["host".into()],
            fields: vec![("v".into(), FieldType::Float)],
        }
    }

    /// `hosts` series of `per_host` rows each, sorted by host then time.
    fn sorted_batch(hosts: usize, per_host: usize) -> RecordBatch {
        let names: Vec<String> = (0..hosts).map(|h| format!("h{h:03}")).collect();
        let host: DictionaryArray<Int32Type> = names
            .iter()
            .flat_map(|n| std::iter::repeat_n(Some(n.as_str()), per_host))
            .collect();
        let v: Float64Array = (0..hosts * per_host).map(|i| Some(i as f64)).collect();
        let t = TimestampNanosecondArray::from_iter_values(
            (0..hosts).flat_map(|_| (0..per_host as i64).map(|i| i * 10)),
        );
        RecordBatch::try_new(
            schema().arrow_schema(),
            vec![Arc::new(host), Arc::new(v), Arc::new(t)],
        )
        .unwrap()
    }

    fn read_all(bytes: &[u8], range: Option<(i64, i64)>, tags: &[TagMatch]) -> Vec<RecordBatch> {
        read_filtered(bytes, range, tags, &[])
    }

    fn read_filtered(
        bytes: &[u8],
        range: Option<(i64, i64)>,
        tags: &[TagMatch],
        fields: &[FieldFilter],
    ) -> Vec<RecordBatch> {
        let data = FileData::Bytes(Bytes::from(bytes.to_vec()));
        let meta = load_metadata(&data).unwrap();
        read(
            data,
            meta,
            &schema().arrow_schema(),
            range,
            tags,
            fields,
            None,
            &RowBytes::default(),
        )
        .unwrap()
    }

    /// The `v` values of `batches`.
    fn values(batches: &[RecordBatch]) -> Vec<f64> {
        batches
            .iter()
            .flat_map(|b| {
                let v = b.column_by_name("v").unwrap();
                let v = v.as_any().downcast_ref::<Float64Array>().unwrap();
                v.values().to_vec()
            })
            .collect()
    }

    #[test]
    fn a_field_filter_keeps_the_matching_rows_with_and_without_the_series_index() {
        // 50 series of 400 rows, v = 0..20,000 in file order.
        let bytes = encode(&sorted_batch(50, 400)).unwrap();
        let above = |x: f64| FieldFilter {
            field: "v".into(),
            op: crate::Comparison::GtEq,
            value: crate::Number::Float(x),
        };
        // No tag predicate: the row filter decodes `v` first.
        let all = read_filtered(&bytes, None, &[], &[above(19_500.0)]);
        assert_eq!(
            values(&all),
            (19_500..20_000).map(f64::from).collect::<Vec<_>>()
        );
        // A time range too (each series' times are 0, 10, …, 3,990).
        let late = read_filtered(&bytes, Some((3_000, 4_000)), &[], &[above(19_500.0)]);
        let want: Vec<f64> = (19_500..20_000)
            .filter(|i| i % 400 >= 300)
            .map(f64::from)
            .collect();
        assert_eq!(values(&late), want);
        // A tag predicate: the series index names the rows, `v` is filtered once decoded.
        let host = [TagMatch::one_of(
            "host",
            ["h048".to_owned(), "h049".to_owned()],
        )];
        let tagged = read_filtered(&bytes, None, &host, &[above(19_500.0)]);
        assert_eq!(values(&tagged), values(&all));
        let tagged_late = read_filtered(&bytes, Some((3_000, 4_000)), &host, &[above(19_500.0)]);
        assert_eq!(values(&tagged_late), want);
        let none = read_filtered(&bytes, None, &host, &[above(20_000.0)]);
        assert!(values(&none).is_empty());
    }

    #[test]
    fn series_are_listed_alike_from_the_series_index_and_from_the_tag_columns() {
        // 20,000 rows over 3 batches of the reader: series cross batch boundaries.
        let bytes = encode(&sorted_batch(50, 400)).unwrap();
        let data = || FileData::Bytes(Bytes::from(bytes.clone()));
        let meta = load_metadata(&data()).unwrap();
        assert!(meta.series.is_some());
        let list = |meta: FileMeta| {
            let mut out = Vec::new();
            for_each_series(data(), meta, |tags, values| {
                assert_eq!(tags, ["host"]);
                out.push(values[0].map(str::to_owned));
                true
            })
            .unwrap();
            out
        };
        let indexed = list(meta.clone());
        let scanned = list(FileMeta {
            series: None,
            ..meta
        });
        assert_eq!(indexed.len(), 50);
        assert_eq!(indexed, scanned);
        assert_eq!(indexed[49].as_deref(), Some("h049"));
    }

    #[test]
    fn a_file_written_in_slices_equals_one_written_whole_incl_its_series_index() {
        let batch = sorted_batch(5, 3_000);
        let whole = encode(&batch).unwrap();
        // Slices of 2,500 rows: series continue across slice boundaries.
        let mut file = FileWriter::new(&batch.schema()).unwrap();
        let mut offset = 0;
        while offset < batch.num_rows() {
            let len = 2_500.min(batch.num_rows() - offset);
            file.write(&batch.slice(offset, len)).unwrap();
            offset += len;
        }
        let sliced = file.finish().unwrap();
        let index = |bytes: &[u8]| {
            let meta = load_metadata(&FileData::Bytes(Bytes::from(bytes.to_vec()))).unwrap();
            SeriesIndex::of_file(meta.arrow.metadata()).expect("series index")
        };
        assert_eq!(index(&sliced), index(&whole));
        assert_eq!(index(&sliced).len(), 5);
        let rows = |bytes: &[u8]| {
            arrow::compute::concat_batches(&schema().arrow_schema(), &read_all(bytes, None, &[]))
                .unwrap()
        };
        assert_eq!(rows(&sliced), batch);
        let tags = vec![TagMatch::equals("host", "h002")];
        let one = read_all(&sliced, None, &tags);
        assert_eq!(one.iter().map(RecordBatch::num_rows).sum::<usize>(), 3_000);
        // A writer told its rows have too many series for an index writes none, and
        // the same rows.
        let mut unindexed = FileWriter::with_sink(&batch.schema(), Vec::new(), false).unwrap();
        unindexed.write(&batch).unwrap();
        let unindexed = unindexed.finish().unwrap();
        let meta = load_metadata(&FileData::Bytes(Bytes::from(unindexed.clone()))).unwrap();
        assert!(meta.series.is_none());
        assert_eq!(rows(&unindexed), batch);
        assert_eq!(read_all(&unindexed, None, &tags), one);
    }

    #[test]
    fn columns_are_compressed_by_type_and_wide_integers_fall_back_to_deltas() {
        let schema = TableSchema {
            tags: vec!["host".into()],
            fields: vec![
                ("f".into(), FieldType::Float),
                ("gauge".into(), FieldType::Integer),
                ("counter".into(), FieldType::UInteger),
                ("s".into(), FieldType::String),
                ("b".into(), FieldType::Boolean),
            ],
        };
        let n = 200_000u64;
        let host: DictionaryArray<Int32Type> = (0..n)
            .map(|i| Some(if i < n / 2 { "a" } else { "b" }))
            .collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(host),
            Arc::new(Float64Array::from_iter_values(
                (0..n).map(|i| i as f64 / 3.0),
            )),
            Arc::new(arrow::array::Int64Array::from_iter_values(
                (0..n).map(|i| (i % 7) as i64),
            )),
            Arc::new(arrow::array::UInt64Array::from_iter_values(
                (0..n).map(|i| 1_000_000_000 + i * 37),
            )),
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|i| format!("m{}", i % 3)),
            )),
            Arc::new(BooleanArray::from_iter((0..n).map(|i| Some(i % 2 == 0)))),
            Arc::new(TimestampNanosecondArray::from_iter_values(
                (0..n as i64).map(|i| (i % (n as i64 / 2)) * 10),
            )),
        ];
        let batch = RecordBatch::try_new(schema.arrow_schema(), columns).unwrap();
        let bytes = Bytes::from(encode(&batch).unwrap());
        let meta = load_metadata(&FileData::Bytes(bytes.clone())).unwrap();
        let group = meta.arrow.metadata().row_group(0);
        let column = |name: &str| {
            group
                .columns()
                .iter()
                .find(|c| c.column_path().string() == name)
                .unwrap()
        };
        let zstd = Compression::ZSTD(ZstdLevel::try_new(3).unwrap());
        for (name, codec) in [
            ("host", Compression::LZ4_RAW),
            ("f", zstd),
            ("gauge", Compression::LZ4_RAW),
            ("counter", Compression::LZ4_RAW),
            ("s", zstd),
            ("b", Compression::LZ4_RAW),
            ("time", Compression::LZ4_RAW),
        ] {
            // The footer records the codec, not its level.
            let written = match column(name).compression() {
                Compression::ZSTD(_) => zstd,
                other => other,
            };
            assert_eq!(written, codec, "{name}");
        }
        let encodings = |name: &str| column(name).encodings().collect::<Vec<_>>();
        assert!(encodings("gauge").contains(&Encoding::RLE_DICTIONARY));
        assert!(!encodings("gauge").contains(&Encoding::DELTA_BINARY_PACKED));
        assert!(encodings("counter").contains(&Encoding::DELTA_BINARY_PACKED));
        assert!(!encodings("f").contains(&Encoding::RLE_DICTIONARY));
        assert!(encodings("time").contains(&Encoding::DELTA_BINARY_PACKED));
        let back = arrow::compute::concat_batches(
            &schema.arrow_schema(),
            &read(
                FileData::Bytes(bytes),
                meta,
                &schema.arrow_schema(),
                None,
                &[],
                &[],
                None,
                &RowBytes::default(),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(back, batch);
    }

    #[test]
    fn pages_hold_at_most_page_rows_and_the_page_index_is_written() {
        let bytes = encode(&sorted_batch(4, 10_000)).unwrap();
        let meta = load_metadata(&FileData::Bytes(Bytes::from(bytes))).unwrap();
        let meta = meta.arrow.metadata();
        let offsets = meta.offset_index().expect("offset index");
        assert!(meta.column_index().is_some(), "column index");
        for (c, col) in offsets[0].iter().enumerate() {
            let pages = col.page_locations();
            assert!(
                pages.len() >= 40_000 / PAGE_ROWS,
                "column {c}: {} pages",
                pages.len()
            );
            for w in pages.windows(2) {
                assert!(w[1].first_row_index - w[0].first_row_index <= PAGE_ROWS as i64);
            }
        }
    }

    #[test]
    fn tag_and_time_predicates_read_only_matching_rows_through_page_pruning() {
        let batch = sorted_batch(6, 9_000);
        let bytes = encode(&batch).unwrap();
        let tags = vec![TagMatch::equals("host", "h003")];
        let got = read_all(&bytes, Some((10_000, 20_000)), &tags);
        let expected = filter(&batch, Some((10_000, 20_000)), &tags).unwrap();
        assert_eq!(expected.num_rows(), 1_000);
        let got = arrow::compute::concat_batches(&schema().arrow_schema(), &got).unwrap();
        assert_eq!(got, expected);
        let meta = load_metadata(&FileData::Bytes(Bytes::from(bytes.clone()))).unwrap();
        let host = schema().arrow_schema().index_of("host").unwrap();
        let time = schema().arrow_schema().index_of("time").unwrap();
        let selection = page_selection(
            meta.arrow.metadata(),
            &[0],
            &[
                (
                    host,
                    PagePredicate::OneOf(&TagMatch::equals("host", "h003")),
                ),
                (time, PagePredicate::Range(10_000, 20_000)),
            ],
            None,
        )
        .expect("pages pruned");
        // The series' rows span two pages of each column, and the pages of the host and
        // time columns need not start at the same rows.
        assert!(
            selection.row_count() <= 3 * PAGE_ROWS,
            "{} rows selected",
            selection.row_count()
        );
        assert!(read_all(&bytes, None, &[TagMatch::equals("host", "nope")]).is_empty());
        assert!(read_all(&bytes, Some((1_000_000, 2_000_000)), &[]).is_empty());
    }

    #[test]
    fn a_time_range_over_many_series_keeps_each_ones_run_across_decoded_batches() {
        // 12 series of 9,000 rows (times 0, 10, … 89,990): the 10 chosen series' rows in
        // range (over 64Ki) arrive in more than one decoded batch, a series split
        // between two of them.
        let batch = sorted_batch(12, 9_000);
        let bytes = encode(&batch).unwrap();
        let chosen = (1..11).map(|h| format!("h{h:03}"));
        let tags = vec![TagMatch::one_of("host", chosen)];
        for range in [
            (5, 85_001),
            (0, 90_000),
            (44_995, 45_005),
            (-10, 0),
            (90_000, 99_999),
        ] {
            let got = read_all(&bytes, Some(range), &tags);
            let expected = filter(&batch, Some(range), &tags).unwrap();
            let schema = schema().arrow_schema();
            let got = arrow::compute::concat_batches(&schema, &got).unwrap();
            assert_eq!(got.num_rows(), expected.num_rows(), "{range:?}");
            assert_eq!(got, expected, "{range:?}");
        }
    }
}
