//! Table schemas as Arrow schemas, and the sort-and-deduplicate merge of row sources
//! (last write wins per series, time and field).
//!
//! # The series order
//! Every row source, every merge output and every Parquet file is sorted the same way:
//! by series, comparing tag values in the schema's tag order (tag keys sorted) with an
//! absent tag before any value, then by time; each (series, time) appears once. Three
//! places produce it, each on the representation it holds: the buffer ranks its series
//! as tuples of `Option<&str>` (`buffer::read`), [`merge`] as dense ranks over the
//! sources' dictionaries, and [`MergeStream`] as Arrow row keys built with
//! [`SERIES_ORDER`]. They are held to this one order by the streaming merge, which
//! refuses a source out of it (so a buffer or file sorted otherwise fails persistence
//! instead of writing a wrong file), and by tests comparing the two merges.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, DictionaryArray, RecordBatch, RecordBatchOptions, StringArray,
    TimestampNanosecondArray, UInt32Array, new_null_array,
};
use arrow::compute::take;
use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use sluice_lp::FieldType;

use crate::catalog::TableDef;
use crate::error::{Error, Result};
use crate::text_order::sort_by_text;
use crate::types::ColumnKind;

mod stream;

pub(crate) use stream::{MergePeak, MergeStream, SortedBatches};

/// How tag and time columns compare in [the series order](self#the-series-order):
/// ascending, an absent (null) tag first.
pub(crate) const SERIES_ORDER: arrow::compute::SortOptions = arrow::compute::SortOptions {
    descending: false,
    nulls_first: true,
};

/// The Arrow type of a field of `kind`.
pub(crate) fn field_data_type(kind: FieldType) -> DataType {
    match kind {
        FieldType::Float => DataType::Float64,
        FieldType::Integer => DataType::Int64,
        FieldType::UInteger => DataType::UInt64,
        FieldType::String => DataType::Utf8,
        FieldType::Boolean => DataType::Boolean,
    }
}

/// The Arrow type of tag columns.
pub(crate) fn tag_data_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// The Arrow type of the `time` column.
pub(crate) fn time_data_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, None)
}

impl ColumnKind {
    /// The Arrow type of a column of this kind in scans: `Dictionary(Int32, Utf8)` for
    /// a tag, Float64, Int64, UInt64, Utf8 or Boolean for a field, `Timestamp(Nanosecond,
    /// None)` for the time.
    pub fn data_type(self) -> DataType {
        match self {
            ColumnKind::Tag => tag_data_type(),
            ColumnKind::Field(kind) => field_data_type(kind),
            ColumnKind::Time => time_data_type(),
        }
    }
}

/// The columns of a table in scan order: tags (sorted), fields (sorted), `time`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct TableSchema {
    pub(crate) tags: Vec<String>,
    pub(crate) fields: Vec<(String, FieldType)>,
}

impl TableSchema {
    pub(crate) fn from_def(def: &TableDef) -> TableSchema {
        TableSchema {
            tags: def.tags().map(str::to_owned).collect(),
            fields: def.fields().map(|(n, t)| (n.to_owned(), t)).collect(),
        }
    }

    /// The table schema of Arrow data read from a Parquet file: dictionary columns are
    /// tags, the field types map back, `time` and anything else is left out.
    pub(crate) fn of_arrow(schema: &Schema) -> TableSchema {
        let mut out = TableSchema::default();
        for f in schema.fields() {
            let kind = match f.data_type() {
                DataType::Dictionary(_, _) => {
                    out.tags.push(f.name().clone());
                    continue;
                }
                DataType::Float64 => FieldType::Float,
                DataType::Int64 => FieldType::Integer,
                DataType::UInt64 => FieldType::UInteger,
                DataType::Utf8 => FieldType::String,
                DataType::Boolean => FieldType::Boolean,
                _ => continue,
            };
            out.fields.push((f.name().clone(), kind));
        }
        out
    }

    /// Adds the tags and fields of `other` this schema lacks, keeping both sorted (a
    /// field already present keeps its type).
    pub(crate) fn union_with(&mut self, other: &TableSchema) {
        for t in &other.tags {
            if !self.tags.contains(t) {
                self.tags.push(t.clone());
            }
        }
        for f in &other.fields {
            if !self.fields.iter().any(|(n, _)| *n == f.0) {
                self.fields.push(f.clone());
            }
        }
        self.tags.sort();
        self.fields.sort();
    }

    pub(crate) fn width(&self) -> usize {
        self.tags.len() + self.fields.len() + 1
    }

    pub(crate) fn arrow_schema(&self) -> SchemaRef {
        let mut fields: Vec<Field> = self
            .tags
            .iter()
            .map(|t| Field::new(t, tag_data_type(), true))
            .collect();
        fields.extend(
            self.fields
                .iter()
                .map(|(n, t)| Field::new(n, field_data_type(*t), true)),
        );
        fields.push(Field::new("time", time_data_type(), false));
        Arc::new(Schema::new(fields))
    }
}

/// Brings `batch` (any subset of a table's columns, as a scan or a Parquet file returns
/// it) to `schema` by column name, filling missing columns with nulls; a column of
/// another type than the schema's is replaced by nulls too. The row count is kept, also
/// for a `schema` without columns (what `count(*)` reads).
///
/// # Errors
/// An [`ArrowError`] when the columns do not make a batch of `schema` (a column that
/// is not nullable there is missing).
pub fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, ArrowError> {
    let columns = schema
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(c) if c.data_type() == f.data_type() => c.clone(),
            _ => new_null_array(f.data_type(), batch.num_rows()),
        })
        .collect();
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(schema.clone(), columns, &options)
}

/// [`merge_keep_last`] keeping every row: what tests compare other merges with.
#[cfg(test)]
pub(crate) fn merge(schema: &TableSchema, sources: Vec<RecordBatch>) -> Result<RecordBatch> {
    merge_keep_last(schema, sources, None, None)
}

/// Merges `sources` (each in `schema`, ordered oldest to newest) into one batch sorted by
/// tags then time, with one row per (tags, time): each field takes its value from the
/// newest source row that has it. Keeps only the newest `keep_last` rows of each series
/// when set. With `columns`, the batch has only those, in that order (names the schema
/// lacks are skipped, as [`project`] does): the tags a query does not read are compared,
/// not copied.
///
/// Series are ranked by their tag values (absent tags first), rows are placed by a
/// counting sort on the series rank and then ordered by time within each series, so the
/// cost is linear for the usual inputs (each source sorted by time within a series). A
/// lone source that is already in order is returned without copying.
pub(crate) fn merge_keep_last(
    schema: &TableSchema,
    sources: Vec<RecordBatch>,
    keep_last: Option<usize>,
    columns: Option<&[String]>,
) -> Result<RecordBatch> {
    let arrow_schema = schema.arrow_schema();
    let wanted: Vec<usize> = match columns {
        Some(names) => names
            .iter()
            .filter_map(|n| arrow_schema.index_of(n).ok())
            .collect(),
        None => (0..arrow_schema.fields().len()).collect(),
    };
    let out_schema = Arc::new(arrow_schema.project(&wanted)?);
    let sources: Vec<RecordBatch> = sources.into_iter().filter(|b| b.num_rows() > 0).collect();
    let n: usize = sources.iter().map(RecordBatch::num_rows).sum();
    if n == 0 {
        return Ok(RecordBatch::new_empty(out_schema));
    }
    let n_tags = schema.tags.len();
    let time_idx = schema.width() - 1;
    let series = series_ranks(&sources, n_tags, n)?;
    let mut times: Vec<i64> = Vec::with_capacity(n);
    for s in &sources {
        let t = s
            .column(time_idx)
            .as_any()
            .downcast_ref::<TimestampNanosecondArray>()
            .ok_or_else(|| Error::Catalog("scan source without a time column".to_owned()))?;
        times.extend_from_slice(t.values());
    }
    let in_order = (1..n).all(|i| {
        series[i - 1] < series[i] || (series[i - 1] == series[i] && times[i - 1] < times[i])
    });
    if in_order && sources.len() == 1 && keep_last.is_none() {
        let only = sources.into_iter().next().expect("one source");
        let columns = wanted.iter().map(|&i| only.column(i).clone()).collect();
        let options = RecordBatchOptions::new().with_row_count(Some(n));
        let batch = RecordBatch::try_new_with_options(out_schema, columns, &options)?;
        return Ok(batch);
    }
    // Stable counting sort by series rank: equal keys keep source order (oldest first).
    let order: Vec<u32> = if in_order {
        (0..n as u32).collect()
    } else {
        let n_series = series.iter().copied().max().map_or(0, |m| m as usize + 1);
        let (mut order, starts) =
            counting_order(0..n as u32, n_series, |r| series[r as usize] as usize);
        // Time order within each series (a stable sort, so for equal times the older
        // source comes first); runs already in order cost one pass.
        for w in starts.windows(2) {
            let seg = &mut order[w[0] as usize..w[1] as usize];
            if !seg.is_sorted_by_key(|&r| times[r as usize]) {
                seg.sort_by_key(|&r| times[r as usize]);
            }
        }
        order
    };
    // Groups of equal (series, time): [start, end) into `order`.
    let same = |a: u32, b: u32| {
        series[a as usize] == series[b as usize] && times[a as usize] == times[b as usize]
    };
    let mut groups: Vec<(u32, u32)> = Vec::with_capacity(n);
    let mut start = 0usize;
    for i in 1..=n {
        if i == n || !same(order[i], order[start]) {
            groups.push((start as u32, i as u32));
            start = i;
        }
    }
    let unique = groups.len() == n;
    if let Some(k) = keep_last {
        // Keep the last `k` groups of each series.
        let mut kept = Vec::with_capacity(groups.len().min(k * 64));
        let mut end = groups.len();
        while end > 0 {
            let s = series[order[groups[end - 1].0 as usize] as usize];
            let mut begin = end - 1;
            while begin > 0 && series[order[groups[begin - 1].0 as usize] as usize] == s {
                begin -= 1;
            }
            kept.extend(groups[begin.max(end.saturating_sub(k))..end].iter().rev());
            end = begin;
        }
        kept.reverse();
        groups = kept;
    }
    let first: UInt32Array = groups.iter().map(|&(s, _)| order[s as usize]).collect();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(wanted.len());
    for &i in &wanted {
        let parts: Vec<&dyn Array> = sources.iter().map(|s| s.column(i).as_ref()).collect();
        let col = match parts.as_slice() {
            [_] => sources[0].column(i).clone(),
            _ => arrow::compute::concat(&parts)?,
        };
        let col = col.as_ref();
        let is_field = i >= n_tags && i < time_idx;
        if !is_field || unique {
            // Keys are equal within a group; without duplicates fields need no merging.
            columns.push(take(col, &first, None)?);
            continue;
        }
        let winners: UInt32Array = groups
            .iter()
            .map(|&(s, e)| {
                order[s as usize..e as usize]
                    .iter()
                    .rev()
                    .find(|&&r| col.is_valid(r as usize))
                    .copied()
            })
            .collect();
        columns.push(take(col, &winners, None)?);
    }
    let options = RecordBatchOptions::new().with_row_count(Some(groups.len()));
    let batch = RecordBatch::try_new_with_options(out_schema, columns, &options)?;
    Ok(batch)
}

/// The rank of each row's series (all sources in order) by its tag values, compared tag
/// by tag with an absent tag before any value; ranks are dense from 0.
fn series_ranks(sources: &[RecordBatch], n_tags: usize, n: usize) -> Result<Vec<u32>> {
    let mut ids = vec![0u64; n];
    let mut count: u64 = 1;
    let mut ranks = vec![0u32; n];
    for t in 0..n_tags {
        let dicts = SharedDictionaries::of(sources, t);
        let (entry_ranks, distinct) = dicts.ranks();
        let card = distinct + 1;
        // Rank of each row's value: 0 when absent.
        let mut offset = 0;
        for (s, used) in sources.iter().zip(&dicts.used) {
            let len = s.num_rows();
            let out = &mut ranks[offset..offset + len];
            match used {
                Some((keys, d)) => {
                    let map = &entry_ranks[*d];
                    for (i, r) in out.iter_mut().enumerate() {
                        *r = if keys.is_valid(i) {
                            map.get(keys.value(i) as usize).copied().unwrap_or(0)
                        } else {
                            0
                        };
                    }
                }
                None => out.fill(0),
            }
            offset += len;
        }
        // Combine with the ranks so far, keeping order, and make the result dense again.
        let total = count.saturating_mul(card);
        if total <= 1 << 24 {
            let mut used = vec![0u32; total as usize];
            for (id, r) in ids.iter().zip(&ranks) {
                used[(*id * card + u64::from(*r)) as usize] = 1;
            }
            let next = number_marked(&mut used);
            for (id, r) in ids.iter_mut().zip(&ranks) {
                *id = u64::from(used[(*id * card + u64::from(*r)) as usize]);
            }
            count = u64::from(next);
        } else {
            count = combine_ranks(&mut ids, &ranks, count, card);
        }
    }
    Ok(ids.into_iter().map(|id| id as u32).collect())
}

/// Rows `rows` stably ordered by `key` (below `buckets`) by a counting sort, and where
/// each key's rows start in that order (`buckets + 1` entries, the last one the end).
fn counting_order(
    rows: impl Iterator<Item = u32> + Clone,
    buckets: usize,
    key: impl Fn(u32) -> usize,
) -> (Vec<u32>, Vec<u32>) {
    let mut starts = vec![0u32; buckets + 1];
    for r in rows.clone() {
        starts[key(r) + 1] += 1;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let mut order = vec![0u32; starts[buckets] as usize];
    let mut next = starts.clone();
    for r in rows {
        let k = key(r);
        order[next[k] as usize] = r;
        next[k] += 1;
    }
    (order, starts)
}

/// Numbers each row's pair (`ids[row]` below `count`, `ranks[row]` below `card`) densely
/// in pair order, into `ids`; returns how many distinct pairs there are. Two stable
/// counting sorts (by rank, then by id: a radix sort whose digits are the pair's) put
/// the rows in pair order in time linear in the rows and digits, where sorting two
/// million rows' combined keys, once per tag after the host name, took about a fifth
/// of a scan of a million series.
fn combine_ranks(ids: &mut [u64], ranks: &[u32], count: u64, card: u64) -> u64 {
    let n = ids.len() as u32;
    let (by_rank, _) = counting_order(0..n, card as usize, |r| ranks[r as usize] as usize);
    let (order, _) = counting_order(by_rank.into_iter(), count as usize, |r| {
        ids[r as usize] as usize
    });
    let mut numbered = vec![0u64; ids.len()];
    let mut distinct = 0;
    let mut last = None;
    for r in order {
        let pair = (ids[r as usize], ranks[r as usize]);
        if last != Some(pair) {
            last = Some(pair);
            distinct += 1;
        }
        numbered[r as usize] = distinct - 1;
    }
    ids.copy_from_slice(&numbered);
    distinct
}

/// Numbers the marked (non-zero) slots of `marks` 0, 1, 2, … in slot order and returns
/// how many there are: the values marked, ranked densely. Unmarked slots are left as
/// they are.
pub(crate) fn number_marked(marks: &mut [u32]) -> u32 {
    let mut next = 0;
    for mark in marks.iter_mut().filter(|m| **m != 0) {
        *mark = next;
        next += 1;
    }
    next
}

/// One tag column's dictionaries over a merge's sources. The batches Parquet reads from
/// a row group share its dictionary while the column chunk is dictionary-encoded, so
/// each distinct one is sorted into the ranks once rather than once per batch.
struct SharedDictionaries<'a> {
    /// Each distinct dictionary's values.
    distinct: Vec<&'a StringArray>,
    /// Each source's keys and which of `distinct` they index; `None` when the source's
    /// column is not a dictionary of strings (every row ranks as absent).
    used: Vec<Option<(&'a arrow::array::Int32Array, usize)>>,
}

impl<'a> SharedDictionaries<'a> {
    fn of(sources: &'a [RecordBatch], column: usize) -> SharedDictionaries<'a> {
        let mut distinct: Vec<&StringArray> = Vec::new();
        // The same memory is the same dictionary (a slice has its own offsets).
        let mut found: HashMap<(*const i32, *const u8, usize), usize> = HashMap::new();
        let mut used = Vec::with_capacity(sources.len());
        for s in sources {
            let dict = s
                .column(column)
                .as_any()
                .downcast_ref::<DictionaryArray<Int32Type>>()
                .and_then(|d| {
                    let values = d.values().as_any().downcast_ref::<StringArray>()?;
                    Some((d.keys(), values))
                });
            used.push(dict.map(|(keys, values)| {
                let memory = (
                    values.offsets().as_ptr(),
                    values.values().as_ptr(),
                    values.len(),
                );
                let at = *found.entry(memory).or_insert_with(|| {
                    distinct.push(values);
                    distinct.len() - 1
                });
                (keys, at)
            }));
        }
        SharedDictionaries { distinct, used }
    }

    /// The rank of each entry of each distinct dictionary: 0 when null, else 1 + the
    /// place of its value among the distinct values of them all; and how many distinct
    /// values there are. One sort of every entry ([`sort_by_text`]), then one walk: a
    /// binary search per entry in the sorted values costs a cache miss a step once they
    /// are a million host names.
    fn ranks(&self) -> (Vec<Vec<u32>>, u64) {
        // Every entry by number, dictionary after dictionary.
        let total = self.distinct.iter().map(|d| d.len()).sum();
        let mut texts: Vec<&[u8]> = Vec::with_capacity(total);
        let mut entries: Vec<(u64, u32)> = Vec::with_capacity(total);
        for dict in &self.distinct {
            for value in dict.iter() {
                if value.is_some() {
                    entries.push((0, texts.len() as u32));
                }
                texts.push(value.unwrap_or_default().as_bytes());
            }
        }
        sort_by_text(&mut entries, &|e| texts[e as usize]);
        let mut flat = vec![0u32; texts.len()];
        let mut rank = 0;
        let mut last = None;
        for &(_, e) in &entries {
            let value = texts[e as usize];
            if last != Some(value) {
                last = Some(value);
                rank += 1;
            }
            flat[e as usize] = rank;
        }
        let mut rest = flat.as_slice();
        let ranks = self.distinct.iter().map(|d| {
            let (mine, after) = rest.split_at(d.len());
            rest = after;
            mine.to_vec()
        });
        (ranks.collect(), u64::from(rank))
    }
}

/// Keeps the named columns in the given order (unknown names skipped).
pub(crate) fn project(batch: &RecordBatch, names: &[String]) -> Result<RecordBatch> {
    let schema = batch.schema();
    let indices: Vec<usize> = names
        .iter()
        .filter_map(|n| schema.index_of(n).ok())
        .collect();
    Ok(batch.project(&indices)?)
}

/// Rows of a small table (tag `host`, float field `a`, integer field `b`) for the tests
/// of both merges.
#[cfg(test)]
mod test_rows {
    use super::*;
    use arrow::array::{Float64Array, Int64Array};

    pub(super) fn schema() -> TableSchema {
        TableSchema {
            tags: vec!["host".into()],
            fields: vec![
                ("a".into(), FieldType::Float),
                ("b".into(), FieldType::Integer),
            ],
        }
    }

    /// One row: host (absent when `None`), time, `a`, `b`.
    pub(super) type Row<S> = (Option<S>, i64, Option<f64>, Option<i64>);

    /// Rows as a batch in [`schema`].
    pub(super) fn batch<S: AsRef<str>>(rows: &[Row<S>]) -> RecordBatch {
        let host: DictionaryArray<Int32Type> = rows
            .iter()
            .map(|r| r.0.as_ref().map(AsRef::as_ref))
            .collect();
        let a: Float64Array = rows.iter().map(|r| r.2).collect();
        let b: Int64Array = rows.iter().map(|r| r.3).collect();
        let t = TimestampNanosecondArray::from_iter_values(rows.iter().map(|r| r.1));
        RecordBatch::try_new(
            schema().arrow_schema(),
            vec![Arc::new(host), Arc::new(a), Arc::new(b), Arc::new(t)],
        )
        .unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::test_rows::{Row, batch, schema};
    use super::*;
    use arrow::array::{Float64Array, Int64Array};
    use std::collections::BTreeMap;

    fn source(rows: &[(&str, i64, Option<f64>, Option<i64>)]) -> RecordBatch {
        let rows: Vec<_> = rows.iter().map(|r| (Some(r.0), r.1, r.2, r.3)).collect();
        batch(&rows)
    }

    #[test]
    fn pairs_of_ranks_are_numbered_in_pair_order_as_a_sort_numbers_them() {
        // Pseudo-random pairs with repeats, ids below 50 and ranks below 7.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |below: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % below
        };
        let (count, card) = (50u64, 7u64);
        let mut ids: Vec<u64> = (0..1000).map(|_| next(count)).collect();
        let ranks: Vec<u32> = (0..1000).map(|_| next(card) as u32).collect();
        let mut pairs: Vec<(u64, u32)> = ids.iter().copied().zip(ranks.iter().copied()).collect();
        pairs.sort_unstable();
        pairs.dedup();
        let want: Vec<u64> = ids
            .iter()
            .zip(&ranks)
            .map(|(&id, &r)| pairs.binary_search(&(id, r)).unwrap() as u64)
            .collect();
        let distinct = combine_ranks(&mut ids, &ranks, count, card);
        assert_eq!(distinct, pairs.len() as u64);
        assert_eq!(ids, want);
    }

    #[test]
    fn newer_sources_win_field_by_field_and_output_is_sorted() {
        let old = source(&[("b", 1, Some(1.0), Some(1)), ("a", 2, Some(5.0), None)]);
        let new = source(&[("b", 1, Some(2.0), None), ("a", 1, None, Some(7))]);
        let out = merge(&schema(), vec![old, new]).unwrap();
        assert_eq!(out.num_rows(), 3);
        let a = out
            .column(1)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        let b = out.column(2).as_any().downcast_ref::<Int64Array>().unwrap();
        let t = out
            .column(3)
            .as_any()
            .downcast_ref::<TimestampNanosecondArray>()
            .unwrap();
        // Sorted: (a,1) (a,2) (b,1).
        assert_eq!(t.values().to_vec(), vec![1, 2, 1]);
        assert!(a.is_null(0));
        assert_eq!(b.value(0), 7);
        assert_eq!(a.value(1), 5.0);
        assert_eq!(a.value(2), 2.0, "newer value wins");
        assert_eq!(
            b.value(2),
            1,
            "older value kept where the newer row has none"
        );
    }

    fn column_f64(b: &RecordBatch, i: usize) -> Vec<Option<f64>> {
        let a = b.column(i).as_any().downcast_ref::<Float64Array>().unwrap();
        a.iter().collect()
    }

    fn times(b: &RecordBatch) -> Vec<i64> {
        b.column(3)
            .as_any()
            .downcast_ref::<TimestampNanosecondArray>()
            .unwrap()
            .values()
            .to_vec()
    }

    fn hosts(b: &RecordBatch) -> Vec<Option<String>> {
        let d = b
            .column(0)
            .as_any()
            .downcast_ref::<DictionaryArray<Int32Type>>()
            .unwrap();
        let v = d.values().as_any().downcast_ref::<StringArray>().unwrap();
        d.keys()
            .iter()
            .map(|k| k.map(|k| v.value(k as usize).to_owned()))
            .collect()
    }

    #[test]
    fn unsorted_sources_come_out_sorted_by_series_then_time_with_absent_tags_first() {
        let host: DictionaryArray<Int32Type> = vec![Some("b"), None, Some("a"), Some("b")]
            .into_iter()
            .collect();
        let a: Float64Array = vec![Some(1.0), Some(2.0), Some(3.0), Some(4.0)].into();
        let b: Int64Array = vec![None, None, None, None].into();
        let t = TimestampNanosecondArray::from_iter_values([9, 5, 7, 3]);
        let batch = RecordBatch::try_new(
            schema().arrow_schema(),
            vec![Arc::new(host), Arc::new(a), Arc::new(b), Arc::new(t)],
        )
        .unwrap();
        let out = merge(&schema(), vec![batch]).unwrap();
        assert_eq!(
            hosts(&out),
            vec![None, Some("a".into()), Some("b".into()), Some("b".into())]
        );
        assert_eq!(times(&out), vec![5, 7, 3, 9]);
        assert_eq!(
            column_f64(&out, 1),
            vec![Some(2.0), Some(3.0), Some(4.0), Some(1.0)]
        );
    }

    #[test]
    fn keep_last_keeps_the_newest_rows_of_each_series_after_merging() {
        let old = source(&[
            ("a", 1, Some(1.0), None),
            ("a", 2, Some(2.0), None),
            ("a", 3, Some(3.0), None),
            ("b", 1, Some(10.0), None),
        ]);
        let new = source(&[("a", 3, Some(30.0), None), ("b", 0, Some(9.0), None)]);
        let out = merge_keep_last(&schema(), vec![old, new], Some(2), None).unwrap();
        assert_eq!(
            hosts(&out),
            vec![
                Some("a".into()),
                Some("a".into()),
                Some("b".into()),
                Some("b".into())
            ]
        );
        assert_eq!(times(&out), vec![2, 3, 0, 1]);
        assert_eq!(
            column_f64(&out, 1),
            vec![Some(2.0), Some(30.0), Some(9.0), Some(10.0)]
        );
        let one = merge_keep_last(&schema(), vec![out], Some(1), None).unwrap();
        assert_eq!(times(&one), vec![3, 1]);
    }

    #[test]
    fn a_source_already_in_order_is_returned_as_is() {
        let sorted = source(&[("a", 1, Some(1.0), None), ("b", 1, Some(2.0), None)]);
        let out = merge(&schema(), vec![sorted.clone()]).unwrap();
        assert_eq!(out, sorted);
    }

    /// The rows of a batch in [`schema`] as values, whatever their dictionaries.
    fn rows_of(b: &RecordBatch) -> Vec<Row<String>> {
        let hosts = b
            .column(0)
            .as_any()
            .downcast_ref::<DictionaryArray<Int32Type>>();
        let hosts = hosts.unwrap().downcast_dict::<StringArray>().unwrap();
        let a = column_f64(b, 1);
        let bs = b.column(2).as_any().downcast_ref::<Int64Array>().unwrap();
        let rows = hosts.into_iter().zip(times(b)).zip(a).zip(bs);
        rows.map(|(((h, t), a), b)| (h.map(str::to_owned), t, a, b))
            .collect()
    }

    #[test]
    fn batches_sharing_a_dictionary_merge_as_batches_with_their_own() {
        // Parquet hands out the batches of a row group as slices of keys over one
        // dictionary; the merge ranks that dictionary once. Another dictionary of the
        // same length (the second source) must not be taken for it.
        let older = source(&[
            ("d", 1, Some(1.0), None),
            ("b", 1, Some(2.0), None),
            ("c", 1, Some(3.0), Some(3)),
            ("a", 1, Some(4.0), None),
        ]);
        let newer = source(&[
            ("c", 1, Some(5.0), None),
            ("e", 1, Some(6.0), None),
            ("f", 1, Some(7.0), None),
            ("g", 1, Some(8.0), None),
        ]);
        let shared = vec![
            older.slice(0, 1),
            older.slice(1, 2),
            older.slice(3, 1),
            newer,
        ];
        let own: Vec<RecordBatch> = shared.iter().map(|b| batch(&rows_of(b))).collect();
        let merged = rows_of(&merge(&schema(), shared).unwrap());
        assert_eq!(merged, rows_of(&merge(&schema(), own).unwrap()));
        let row = |h: &str, a: f64, b: Option<i64>| (Some(h.to_owned()), 1, Some(a), b);
        assert_eq!(
            merged,
            [
                row("a", 4.0, None),
                row("b", 2.0, None),
                row("c", 5.0, Some(3)),
                row("d", 1.0, None),
                row("e", 6.0, None),
                row("f", 7.0, None),
                row("g", 8.0, None),
            ]
        );
    }

    #[test]
    fn series_of_more_tag_combinations_than_the_direct_rank_table_holds_merge_in_order() {
        // Two tags of 5,000 values each: 25M combinations, past the table of 2^24 the
        // ranks of few combinations are made dense in; these are sorted instead.
        let schema = TableSchema {
            tags: vec!["a".into(), "b".into()],
            fields: vec![("v".into(), FieldType::Integer)],
        };
        let source = |rows: &[(String, String, i64, i64)]| {
            let a: DictionaryArray<Int32Type> = rows.iter().map(|r| r.0.as_str()).collect();
            let b: DictionaryArray<Int32Type> = rows.iter().map(|r| r.1.as_str()).collect();
            let v = Int64Array::from_iter_values(rows.iter().map(|r| r.3));
            let t = TimestampNanosecondArray::from_iter_values(rows.iter().map(|r| r.2));
            let columns: Vec<ArrayRef> = vec![Arc::new(a), Arc::new(b), Arc::new(v), Arc::new(t)];
            RecordBatch::try_new(schema.arrow_schema(), columns).unwrap()
        };
        let n = 5_000;
        let row = |i: usize, v: i64| {
            let (a, b) = (
                format!("a{}", i * 7_919 % n),
                format!("b{}", i * 104_729 % n),
            );
            (a, b, (i % 3) as i64, v)
        };
        let older: Vec<_> = (0..n).map(|i| row(i, i as i64)).collect();
        // Every third series written again at the same time, and new times of others.
        let newer: Vec<_> = (0..n)
            .step_by(3)
            .map(|i| row(i, -(i as i64)))
            .chain((0..n).step_by(7).map(|i| (row(i, 1).0, row(i, 1).1, 9, 1)))
            .collect();
        let merged = merge(&schema, vec![source(&older), source(&newer)]).unwrap();
        let mut expected: BTreeMap<(String, String, i64), i64> = BTreeMap::new();
        for (a, b, t, v) in older.into_iter().chain(newer) {
            expected.insert((a, b, t), v);
        }
        let text = |i: usize| arrow::compute::cast(merged.column(i), &DataType::Utf8).unwrap();
        let (a, b) = (text(0), text(1));
        let (a, b) = (
            a.as_any().downcast_ref::<StringArray>().unwrap(),
            b.as_any().downcast_ref::<StringArray>().unwrap(),
        );
        let v = merged
            .column(2)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        let t = times(&merged);
        let got: Vec<_> = (0..merged.num_rows())
            .map(|r| {
                (
                    (a.value(r).to_owned(), b.value(r).to_owned(), t[r]),
                    v.value(r),
                )
            })
            .collect();
        assert_eq!(got, expected.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn a_merge_for_some_columns_is_the_whole_merge_projected() {
        let old = source(&[("b", 1, Some(1.0), Some(1)), ("a", 2, Some(5.0), None)]);
        let new = source(&[("b", 1, None, Some(2)), ("a", 1, None, Some(7))]);
        let whole = merge(&schema(), vec![old.clone(), new.clone()]).unwrap();
        for names in [vec!["time", "nope", "b"], vec!["host"], vec![]] {
            let names: Vec<String> = names.into_iter().map(str::to_owned).collect();
            let sources = vec![old.clone(), new.clone()];
            let some = merge_keep_last(&schema(), sources, None, Some(&names)).unwrap();
            assert_eq!(some, project(&whole, &names).unwrap(), "{names:?}");
            assert_eq!(some.num_rows(), 3, "{names:?}");
        }
    }

    #[test]
    fn projection_keeps_requested_order_and_skips_unknown_names() {
        let out = merge(&schema(), vec![source(&[("a", 1, Some(1.0), Some(2))])]).unwrap();
        let p = project(&out, &["time".into(), "nope".into(), "a".into()]).unwrap();
        let names: Vec<_> = p
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, vec!["time", "a"]);
    }
}
