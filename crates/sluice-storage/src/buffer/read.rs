//! Reading a buffered partition: the rows a scan or a persistence wants, sorted by
//! series then time, as Arrow batches.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, DictionaryArray, Int32Array, RecordBatch, StringDictionaryBuilder,
    TimestampNanosecondArray,
};
use arrow::datatypes::Int32Type;
use sluice_lp::FieldType;

use super::{PartitionBuffer, tag_value};
use crate::error::Result;
use crate::merge::TableSchema;
use crate::types::TagMatch;

/// A series' values of tags `names`, in that order (`None` where it has no such tag):
/// one walk through both lists when `names` is sorted, as schemas' tags are, rather than
/// a search per name.
fn values_of<'a>(
    tags: &'a [(Arc<str>, Arc<str>)],
    names: &[String],
    names_sorted: bool,
) -> Vec<Option<&'a str>> {
    if !names_sorted {
        return names.iter().map(|n| tag_value(tags, n)).collect();
    }
    let mut out = Vec::with_capacity(names.len());
    let mut rest = tags;
    for name in names {
        while let Some(((k, _), tail)) = rest.split_first()
            && k.as_ref() < name.as_str()
        {
            rest = tail;
        }
        out.push(match rest.first() {
            Some((k, v)) if k.as_ref() == name.as_str() => Some(v.as_ref()),
            _ => None,
        });
    }
    out
}

impl PartitionBuffer {
    /// The rows matching the time range and tag predicates, as a batch in `schema`,
    /// sorted by series (tag values in `schema` tag order) then time.
    #[cfg(test)]
    pub(crate) fn to_batch(
        &self,
        schema: &TableSchema,
        time_range: Option<(i64, i64)>,
        tag_matches: &[TagMatch],
    ) -> Result<Option<RecordBatch>> {
        self.to_batch_last(schema, time_range, tag_matches, None)
    }

    /// [`PartitionBuffer::to_batch`] keeping only the newest `keep_last` rows of each
    /// series when set.
    pub(crate) fn to_batch_last(
        &self,
        schema: &TableSchema,
        time_range: Option<(i64, i64)>,
        tag_matches: &[TagMatch],
        keep_last: Option<usize>,
    ) -> Result<Option<RecordBatch>> {
        let rows = self.sorted_rows(schema, time_range, tag_matches, keep_last);
        if rows.is_empty() {
            return Ok(None);
        }
        self.rows_to_batch(schema, &rows).map(Some)
    }

    /// The rows matching the time range and tag predicates (the newest `keep_last` of
    /// each series when set), sorted by series (tag values in `schema` tag order, an
    /// absent tag first) then time.
    pub(crate) fn sorted_rows(
        &self,
        schema: &TableSchema,
        time_range: Option<(i64, i64)>,
        tag_matches: &[TagMatch],
        keep_last: Option<usize>,
    ) -> Vec<usize> {
        // Series in the series order (the module `merge` defines it): tag by tag, an
        // absent tag (`None`) first. Each series' values in schema order are looked up
        // once, not in every comparison.
        let names_sorted = schema.tags.is_sorted();
        let mut keyed: Vec<(Vec<Option<&str>>, u32)> = (0..self.series.len() as u32)
            .filter(|&s| {
                let tags = &self.series[s as usize];
                tag_matches
                    .iter()
                    .all(|m| m.matches(tag_value(tags, m.key())))
            })
            .map(|s| {
                let key = values_of(&self.series[s as usize], &schema.tags, names_sorted);
                (key, s)
            })
            .collect();
        keyed.sort_unstable();
        let wanted: Vec<u32> = keyed.into_iter().map(|(_, s)| s).collect();
        let mut rows: Vec<usize> = Vec::new();
        let mut scratch: Vec<u32> = Vec::new();
        for s in wanted {
            let time = |r: &u32| self.time[*r as usize];
            let series_rows: &[u32] = &self.series_rows[s as usize];
            if !self.series_sorted[s as usize] {
                // Rows out of time order (e.g. batches of concurrent connections applied
                // in another order than their times): keep the rows in range first and
                // sort only those, so a narrow query does not sort the whole series.
                scratch.clear();
                match time_range {
                    Some((start, end)) => scratch.extend(
                        series_rows
                            .iter()
                            .filter(|r| (start..end).contains(&time(r))),
                    ),
                    None => scratch.extend_from_slice(series_rows),
                }
                if let Some(k) = keep_last
                    && scratch.len() > k
                {
                    let older = scratch.len() - k;
                    if k > 0 {
                        scratch.select_nth_unstable_by_key(older, time);
                    }
                    scratch.drain(..older);
                }
                // A series holds one row per time: an unstable sort is exact.
                scratch.sort_unstable_by_key(time);
                rows.extend(scratch.iter().map(|&r| r as usize));
                continue;
            }
            let (lo, hi) = match time_range {
                Some((start, end)) => (
                    series_rows.partition_point(|r| time(r) < start),
                    series_rows.partition_point(|r| time(r) < end),
                ),
                None => (0, series_rows.len()),
            };
            let lo = keep_last.map_or(lo, |k| lo.max(hi.saturating_sub(k)));
            rows.extend(series_rows[lo..hi].iter().map(|&r| r as usize));
        }
        rows
    }

    /// Rows `rows` (indices into the partition) as a batch in `schema`.
    pub(crate) fn rows_to_batch(
        &self,
        schema: &TableSchema,
        rows: &[usize],
    ) -> Result<RecordBatch> {
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.width());
        // The series these rows belong to, each once: the dictionaries cover only those,
        // so a batch of a few rows costs nothing for the partition's other series
        // (persistence cuts a partition of a million series into many batches).
        let mut slot_of: HashMap<u32, usize> = HashMap::new();
        let mut used: Vec<u32> = Vec::new();
        let row_slots: Vec<usize> = rows
            .iter()
            .map(|&i| {
                let s = self.series_of_row[i];
                *slot_of.entry(s).or_insert_with(|| {
                    used.push(s);
                    used.len() - 1
                })
            })
            .collect();
        let names_sorted = schema.tags.is_sorted();
        let values: Vec<Vec<Option<&str>>> = used
            .iter()
            .map(|&s| values_of(&self.series[s as usize], &schema.tags, names_sorted))
            .collect();
        for t in 0..schema.tags.len() {
            // Dictionary over the used series, keys looked up per row (scan-side copy).
            let mut dict = StringDictionaryBuilder::<Int32Type>::new();
            let slot_keys: Vec<Option<i32>> = values
                .iter()
                .map(|v| v[t].map(|v| dict.append(v).map_err(crate::error::Error::from)))
                .map(Option::transpose)
                .collect::<Result<_>>()?;
            let keys: Int32Array = row_slots.iter().map(|&slot| slot_keys[slot]).collect();
            let dict_values = dict.finish().values().clone();
            columns.push(Arc::new(DictionaryArray::<Int32Type>::try_new(
                keys,
                dict_values,
            )?));
        }
        for (name, kind) in &schema.fields {
            match self.field_index.get(name).map(|i| &self.fields[*i].1) {
                Some(col) if col.kind() == *kind => columns.push(col.to_array(rows)),
                _ => columns.push(arrow::array::new_null_array(
                    &crate::merge::field_data_type(*kind),
                    rows.len(),
                )),
            }
        }
        columns.push(Arc::new(TimestampNanosecondArray::from_iter_values(
            rows.iter().map(|&i| self.time[i]),
        )));
        Ok(RecordBatch::try_new(schema.arrow_schema(), columns)?)
    }

    /// The schema of what this partition holds (tags and fields it has seen).
    pub(crate) fn schema(&self) -> TableSchema {
        TableSchema {
            tags: self.tag_keys.iter().map(|k| k.to_string()).collect(),
            fields: {
                let mut f: Vec<(String, FieldType)> = self
                    .fields
                    .iter()
                    .map(|(n, c)| (n.clone(), c.kind()))
                    .collect();
                f.sort();
                f
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_values_come_in_the_names_order_with_none_for_absent_tags() {
        let tags: Vec<(Arc<str>, Arc<str>)> = [("b", "2"), ("d", "4"), ("e", "5")]
            .into_iter()
            .map(|(k, v)| (Arc::from(k), Arc::from(v)))
            .collect();
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let sorted = names(&["a", "b", "c", "d", "f"]);
        let expected = vec![None, Some("2"), None, Some("4"), None];
        assert_eq!(values_of(&tags, &sorted, true), expected);
        assert_eq!(values_of(&tags, &sorted, false), expected);
        let unsorted = names(&["e", "a", "b"]);
        assert_eq!(
            values_of(&tags, &unsorted, false),
            vec![Some("5"), None, Some("2")]
        );
        assert_eq!(values_of(&[], &sorted, true), vec![None; 5]);
    }
}
