//! Parquet files: encoding a sorted partition (dictionary tags, delta time, zstd,
//! statistics) and reading one back with row-group pruning and predicates.

use arrow::array::TimestampNanosecondArray;
use arrow::array::{Array, BooleanArray, DictionaryArray, RecordBatch, StringArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{Int32Type, SchemaRef};
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

use crate::error::Result;
use crate::merge::conform;

/// Rows per Parquet row group.
const ROW_GROUP_ROWS: usize = 1 << 20;

/// Most rows per data page. Rows are sorted by series then time, so with pages this
/// small a tag-equality and time-range predicate selects a few pages of each column
/// through the page index (the statistics of each page), and only those are decoded.
const PAGE_ROWS: usize = 4096;

/// Encodes `batch` (already sorted by tags then time) as a Parquet file.
pub(crate) fn encode(batch: &RecordBatch) -> Result<Vec<u8>> {
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_data_page_row_count_limit(PAGE_ROWS)
        .set_write_batch_size(PAGE_ROWS.min(1024))
        .set_dictionary_enabled(true)
        .set_column_dictionary_enabled(ColumnPath::from("time"), false)
        .set_column_encoding(ColumnPath::from("time"), Encoding::DELTA_BINARY_PACKED);
    for f in batch.schema().fields() {
        // Measured floats rarely repeat: a dictionary only adds a page every reader of
        // the column chunk must decode first.
        if f.data_type() == &arrow::datatypes::DataType::Float64 {
            props = props.set_column_dictionary_enabled(ColumnPath::from(f.name().as_str()), false);
        }
    }
    let props = props.build();
    let mut out = Vec::with_capacity(batch.get_array_memory_size() / 8 + 1024);
    let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), Some(props))?;
    writer.write(batch)?;
    writer.close()?;
    Ok(out)
}

/// The bytes of a Parquet file: in memory, or a local file read page by page.
#[derive(Debug)]
pub(crate) enum FileData {
    Bytes(Bytes),
    File(std::fs::File),
}

/// Reads the footer and page index of a Parquet file (what [`read`] needs each time;
/// files never change, so callers keep it).
pub(crate) fn load_metadata(data: &FileData) -> Result<ArrowReaderMetadata> {
    // The page index lets reads skip the pages of unselected rows.
    let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
    Ok(match data {
        FileData::Bytes(b) => ArrowReaderMetadata::load(b, options)?,
        FileData::File(f) => ArrowReaderMetadata::load(f, options)?,
    })
}

/// Reads a Parquet file into batches in `schema` (decoding only the columns it names),
/// keeping only rows in `time_range` whose tags equal `tag_equals`; row groups and
/// pages whose statistics exclude them are skipped. `metadata` is the file's
/// [`load_metadata`].
pub(crate) fn read(
    data: FileData,
    metadata: ArrowReaderMetadata,
    schema: &SchemaRef,
    time_range: Option<(i64, i64)>,
    tag_equals: &[(String, String)],
) -> Result<Vec<RecordBatch>> {
    match data {
        FileData::Bytes(b) => read_from(
            ParquetRecordBatchReaderBuilder::new_with_metadata(b, metadata),
            schema,
            time_range,
            tag_equals,
        ),
        FileData::File(f) => read_from(
            ParquetRecordBatchReaderBuilder::new_with_metadata(f, metadata),
            schema,
            time_range,
            tag_equals,
        ),
    }
}

fn read_from<T: ChunkReader + 'static>(
    mut builder: ParquetRecordBatchReaderBuilder<T>,
    schema: &SchemaRef,
    time_range: Option<(i64, i64)>,
    tag_equals: &[(String, String)],
) -> Result<Vec<RecordBatch>> {
    let meta = builder.metadata().clone();
    let columns = meta.file_metadata().schema_descr();
    let col_index =
        |name: &str| (0..columns.num_columns()).find(|&i| columns.column(i).name() == name);
    let time_col = col_index("time");
    let tag_cols: Vec<(Option<usize>, &str)> = tag_equals
        .iter()
        .map(|(k, v)| (col_index(k), v.as_str()))
        .collect();
    // A predicate on a tag the file lacks matches nothing.
    if tag_cols.iter().any(|(c, _)| c.is_none()) {
        return Ok(Vec::new());
    }
    let row_groups: Vec<usize> = meta
        .row_groups()
        .iter()
        .enumerate()
        .filter(|(_, rg)| {
            time_col.is_none_or(|c| time_may_match(rg, c, time_range))
                && tag_cols
                    .iter()
                    .all(|(c, v)| tag_may_match(rg, c.expect("checked"), v))
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
    let mut page_predicates: Vec<(usize, PagePredicate<'_>)> = tag_cols
        .iter()
        .map(|(c, v)| (c.expect("checked"), PagePredicate::Equals(v.as_bytes())))
        .collect();
    if let (Some(c), Some((s, e))) = (time_col, time_range) {
        page_predicates.push((c, PagePredicate::Range(s, e)));
    }
    if let Some(selection) = page_selection(&meta, &row_groups, &page_predicates) {
        if !selection.selects_any() {
            return Ok(Vec::new());
        }
        builder = builder.with_row_selection(selection);
    }
    if time_range.is_some() || !tag_equals.is_empty() {
        // Predicate columns are decoded first; the others only for the rows that match.
        let predicate_columns: Vec<usize> = tag_cols
            .iter()
            .filter_map(|(c, _)| *c)
            .chain(time_col.filter(|_| time_range.is_some()))
            .collect();
        let tags = tag_equals.to_vec();
        let predicate = ArrowPredicateFn::new(
            ProjectionMask::roots(columns, predicate_columns),
            move |batch: RecordBatch| {
                keep_mask(&batch, time_range, &tags)
                    .map_err(|e| ArrowError::ExternalError(Box::new(e)))
            },
        );
        builder = builder.with_row_filter(RowFilter::new(vec![Box::new(predicate)]));
    }
    let reader = builder
        .with_projection(mask)
        .with_row_groups(row_groups)
        .with_batch_size(64 * 1024)
        .build()?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = conform(&batch?, schema)?;
        let batch = filter(&batch, time_range, tag_equals)?;
        if batch.num_rows() > 0 {
            out.push(batch);
        }
    }
    Ok(out)
}

/// A predicate a page's statistics can rule out.
#[derive(Debug, Clone, Copy)]
enum PagePredicate<'a> {
    /// A tag equal to these bytes.
    Equals(&'a [u8]),
    /// A time in `[start, end)`.
    Range(i64, i64),
}

/// The rows of `row_groups` (in that order) on pages whose statistics allow every
/// predicate, or `None` when the file has no page index (or nothing is ruled out).
fn page_selection(
    meta: &ParquetMetaData,
    row_groups: &[usize],
    predicates: &[(usize, PagePredicate<'_>)],
) -> Option<RowSelection> {
    if predicates.is_empty() {
        return None;
    }
    let (column_index, offset_index) = (meta.column_index()?, meta.offset_index()?);
    let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
    let mut base = 0usize;
    let mut pruned = false;
    for &rg in row_groups {
        let rows = usize::try_from(meta.row_group(rg).num_rows()).ok()?;
        // Selected row ranges within this row group, ascending and disjoint.
        let mut selected: Vec<std::ops::Range<usize>> = std::iter::once(0..rows).collect();
        for &(col, predicate) in predicates {
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
        (ColumnIndexMetaData::BYTE_ARRAY(ix), PagePredicate::Equals(v)) => {
            match (ix.min_value(page), ix.max_value(page)) {
                (Some(min), Some(max)) => min <= v && v <= max,
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

fn tag_may_match(rg: &RowGroupMetaData, col: usize, value: &str) -> bool {
    match rg.column(col).statistics() {
        Some(Statistics::ByteArray(s)) => match (s.min_opt(), s.max_opt()) {
            (Some(min), Some(max)) => {
                min.data() <= value.as_bytes() && value.as_bytes() <= max.data()
            }
            _ => true,
        },
        _ => true,
    }
}

/// Keeps the rows of `batch` in `time_range` whose tags equal `tag_equals`.
pub(crate) fn filter(
    batch: &RecordBatch,
    time_range: Option<(i64, i64)>,
    tag_equals: &[(String, String)],
) -> Result<RecordBatch> {
    if time_range.is_none() && tag_equals.is_empty() {
        return Ok(batch.clone());
    }
    let mask = keep_mask(batch, time_range, tag_equals)?;
    Ok(filter_record_batch(batch, &mask)?)
}

/// Which rows of `batch` are in `time_range` with tags equal to `tag_equals`.
fn keep_mask(
    batch: &RecordBatch,
    time_range: Option<(i64, i64)>,
    tag_equals: &[(String, String)],
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
    for (tag, value) in tag_equals {
        let Some(col) = batch
            .column_by_name(tag)
            .and_then(|c| c.as_any().downcast_ref::<DictionaryArray<Int32Type>>())
        else {
            keep.fill(false);
            break;
        };
        let values = col
            .values()
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("tag dictionaries hold strings");
        let matching: Vec<bool> = (0..values.len())
            .map(|i| values.is_valid(i) && values.value(i) == value)
            .collect();
        for (i, k) in keep.iter_mut().enumerate() {
            *k &= col.is_valid(i) && matching[col.keys().value(i) as usize];
        }
    }
    Ok(BooleanArray::from(keep))
}
