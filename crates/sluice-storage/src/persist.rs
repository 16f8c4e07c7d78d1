//! Parquet files: encoding a sorted partition (dictionary tags, delta time, zstd,
//! statistics) and reading one back with row-group pruning and predicates.

use arrow::array::TimestampNanosecondArray;
use arrow::array::{Array, BooleanArray, DictionaryArray, RecordBatch, StringArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{Int32Type, SchemaRef};
use arrow::error::ArrowError;
use bytes::Bytes;
use parquet::arrow::arrow_reader::{
    ArrowPredicateFn, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowFilter,
};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::{PageIndexPolicy, RowGroupMetaData};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::statistics::Statistics;
use parquet::schema::types::ColumnPath;

use crate::error::Result;
use crate::merge::conform;

/// Rows per Parquet row group.
const ROW_GROUP_ROWS: usize = 1 << 20;

/// Encodes `batch` (already sorted by tags then time) as a Parquet file.
pub(crate) fn encode(batch: &RecordBatch) -> Result<Vec<u8>> {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_dictionary_enabled(true)
        .set_column_dictionary_enabled(ColumnPath::from("time"), false)
        .set_column_encoding(ColumnPath::from("time"), Encoding::DELTA_BINARY_PACKED)
        .build();
    let mut out = Vec::with_capacity(batch.get_array_memory_size() / 8 + 1024);
    let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), Some(props))?;
    writer.write(batch)?;
    writer.close()?;
    Ok(out)
}

/// Reads a Parquet file into batches in `schema` (decoding only the columns it names),
/// keeping only rows in `time_range` whose tags equal `tag_equals`; row groups whose
/// statistics exclude them are skipped.
pub(crate) fn read(
    data: Bytes,
    schema: &SchemaRef,
    time_range: Option<(i64, i64)>,
    tag_equals: &[(String, String)],
) -> Result<Vec<RecordBatch>> {
    // The page index lets a row filter skip the pages of unselected rows.
    let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
    let mut builder = ParquetRecordBatchReaderBuilder::try_new_with_options(data, options)?;
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
