//! Reading a buffered partition: the rows a scan or a persistence wants, sorted by
//! series then time, as Arrow batches.

use hashbrown::HashMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, DictionaryArray, Int32Array, RecordBatch, StringBuilder, TimestampNanosecondArray,
};
use arrow::datatypes::Int32Type;
use sluice_lp::FieldType;

use super::{PartitionBuffer, tag_value};
use crate::error::Result;
use crate::merge::TableSchema;
use crate::text_order::sort_by_text;
use crate::types::TagMatch;

/// Where each of a partition's tag keys is among a schema's tags, by the key's string
/// id (sorted by id: a series has a few tags, and a binary search over a few ids beats
/// hashing each); a schema's tag the partition does not have is in no series.
struct TagPositions(Vec<(u32, usize)>);

impl TagPositions {
    fn new(part: &PartitionBuffer, names: &[String]) -> TagPositions {
        let of_key: HashMap<&str, u32> = part.tag_keys.iter().map(|&k| (part.text(k), k)).collect();
        let mut positions: Vec<(u32, usize)> = names
            .iter()
            .enumerate()
            .filter_map(|(at, name)| Some((*of_key.get(name.as_str())?, at)))
            .collect();
        positions.sort_unstable();
        TagPositions(positions)
    }

    /// The value ids of a series' tags in the schema's order, `ABSENT` where it has no
    /// such tag, written to `out` (as long as the schema's tags).
    fn values(&self, tags: &[(u32, u32)], out: &mut [u32]) {
        out.fill(ABSENT);
        for (k, v) in tags {
            if let Ok(i) = self.0.binary_search_by_key(k, |&(key, _)| key) {
                out[self.0[i].1] = *v;
            }
        }
    }
}

/// A tag a series does not have, where string ids are expected.
const ABSENT: u32 = u32::MAX;

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
        let wanted: Vec<u32> = (0..self.series.len() as u32)
            .filter(|&s| {
                let tags = &self.series[s as usize];
                tag_matches
                    .iter()
                    .all(|m| m.matches(tag_value(&self.strings, tags, m.key())))
            })
            .collect();
        let wanted = self.in_series_order(&schema.tags, wanted);
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

    /// Series `series` in the series order (the module `merge` defines it): by their
    /// values of tags `names`, tag by tag, an absent tag first. Each series' values are
    /// looked up once, as ranks of the partition's strings when the series are many (an
    /// integer comparison instead of a string comparison per tag), else as text: ranking
    /// sorts every string of the partition, worth it only when the series to order are a
    /// good part of them.
    fn in_series_order(&self, names: &[String], series: Vec<u32>) -> Vec<u32> {
        if series.len() < 2 || names.is_empty() {
            return series;
        }
        if series.len() * 4 < self.strings.len() {
            self.ordered_by_text(names, series)
        } else {
            self.ordered_by_rank(names, series)
        }
    }

    /// The values of tags `names` of each of `series`, one after the other.
    fn series_values(&self, names: &[String], series: &[u32]) -> Vec<u32> {
        let positions = TagPositions::new(self, names);
        let mut values = vec![ABSENT; series.len() * names.len()];
        for (s, out) in series.iter().zip(values.chunks_exact_mut(names.len())) {
            positions.values(&self.series[*s as usize], out);
        }
        values
    }

    /// [`PartitionBuffer::in_series_order`], comparing text.
    fn ordered_by_text(&self, names: &[String], series: Vec<u32>) -> Vec<u32> {
        let values = self.series_values(names, &series);
        let text = |id: u32| (id != ABSENT).then(|| self.text(id));
        let mut keyed: Vec<(Vec<Option<&str>>, u32)> = series
            .iter()
            .zip(values.chunks_exact(names.len()))
            .map(|(s, ids)| (ids.iter().map(|&id| text(id)).collect(), *s))
            .collect();
        keyed.sort_unstable();
        keyed.into_iter().map(|(_, s)| s).collect()
    }

    /// [`PartitionBuffer::in_series_order`], comparing the ranks of the strings.
    fn ordered_by_rank(&self, names: &[String], series: Vec<u32>) -> Vec<u32> {
        let width = names.len();
        let mut values = self.series_values(names, &series);
        let mut by_text: Vec<(u64, u32)> =
            (0..self.strings.len() as u32).map(|id| (0, id)).collect();
        sort_by_text(&mut by_text, &|id| self.text(id).as_bytes());
        // 0 for an absent tag, which sorts first.
        let mut rank = vec![0u32; self.strings.len()];
        for (r, (_, id)) in by_text.iter().enumerate() {
            rank[*id as usize] = r as u32 + 1;
        }
        for id in &mut values {
            *id = if *id == ABSENT { 0 } else { rank[*id as usize] };
        }
        let mut order: Vec<u32> = (0..series.len() as u32).collect();
        let key = |i: u32| &values[i as usize * width..(i as usize + 1) * width];
        order.sort_unstable_by(|a, b| key(*a).cmp(key(*b)));
        order.iter().map(|&i| series[i as usize]).collect()
    }

    /// Rows `rows` (indices into the partition) as a batch in `schema`.
    pub(crate) fn rows_to_batch(
        &self,
        schema: &TableSchema,
        rows: &[usize],
    ) -> Result<RecordBatch> {
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.width());
        // The series these rows belong to, a slot for each run of a series' rows (each
        // series once, as rows come sorted by series): the dictionaries cover only those,
        // so a batch of a few rows costs nothing for the partition's other series
        // (persistence cuts a partition of a million series into many batches).
        let mut used: Vec<u32> = Vec::new();
        let row_slots: Vec<usize> = rows
            .iter()
            .map(|&i| {
                let s = self.series_of_row[i];
                if used.last() != Some(&s) {
                    used.push(s);
                }
                used.len() - 1
            })
            .collect();
        let width = schema.tags.len();
        let values = if width == 0 {
            Vec::new()
        } else {
            self.series_values(&schema.tags, &used)
        };
        let mut dict_index: HashMap<u32, i32> = HashMap::with_capacity(used.len());
        for t in 0..width {
            // Dictionary over the used series' values (each string once, found by its
            // id), keys looked up per row.
            dict_index.clear();
            let mut dict = StringBuilder::new();
            let slot_keys: Vec<Option<i32>> = (0..used.len())
                .map(|slot| {
                    let id = values[slot * width + t];
                    (id != ABSENT).then(|| {
                        let next = dict_index.len() as i32;
                        *dict_index.entry(id).or_insert_with(|| {
                            dict.append_value(self.text(id));
                            next
                        })
                    })
                })
                .collect();
            let keys: Int32Array = row_slots.iter().map(|&slot| slot_keys[slot]).collect();
            columns.push(Arc::new(DictionaryArray::<Int32Type>::try_new(
                keys,
                Arc::new(dict.finish()),
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
            tags: self
                .tag_keys
                .iter()
                .map(|&k| self.text(k).to_owned())
                .collect(),
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
    use crate::batch::{BatchRef, ColumnType, ColumnValues, FieldValues, TableRef};
    use crate::buffer::Buffer;

    #[test]
    fn series_come_in_the_same_order_by_rank_as_by_text_with_absent_tags_first() {
        // Tags `a`, `b` and `c`, some series without `a` or `c`, values sharing text
        // across tags and sorting differently by length and by bytes.
        let values = ["", "x", "xy", "y", "b", "a", "Z", "10", "9"];
        let mut table = TableRef {
            name: "cpu",
            columns: vec![
                ("a", ColumnType::Tag),
                ("b", ColumnType::Tag),
                ("c", ColumnType::Tag),
                ("f", ColumnType::Field(sluice_lp::FieldType::Float)),
            ],
            ..TableRef::default()
        };
        let mut floats = Vec::new();
        for i in 0..200usize {
            let a = values[i % values.len()];
            let b = values[(i / 3) % values.len()];
            let c = values[(i / 7) % values.len()];
            let mut tags = Vec::new();
            if !a.is_empty() {
                tags.push((0, a));
            }
            tags.push((1, b));
            if !c.is_empty() {
                tags.push((2, c));
            }
            table.push_series(tags.into_iter());
            table.push_row(i as i64, i as u32);
            floats.push(i as f64);
        }
        table.fields = vec![FieldValues {
            column: 3,
            rows: None,
            values: ColumnValues::Float(floats),
        }];
        let mut buffer = Buffer::default();
        buffer.apply(&BatchRef {
            db_id: 1,
            tables: vec![table],
        });
        let part = &buffer.table(1, "cpu").unwrap().partitions[&0];
        let names: Vec<String> = ["a", "b", "c", "missing"].map(String::from).to_vec();
        let all: Vec<u32> = (0..part.series.len() as u32).rev().collect();
        let by_text = part.ordered_by_text(&names, all.clone());
        assert_eq!(part.ordered_by_rank(&names, all.clone()), by_text);
        // The order itself: tag by tag, absent first.
        let key = |s: u32| {
            names
                .iter()
                .map(|n| tag_value(&part.strings, &part.series[s as usize], n))
                .collect::<Vec<_>>()
        };
        let mut expected = all;
        expected.sort_by_key(|s| key(*s));
        expected.dedup_by_key(|s| key(*s));
        assert_eq!(
            by_text.iter().map(|s| key(*s)).collect::<Vec<_>>(),
            expected.iter().map(|s| key(*s)).collect::<Vec<_>>()
        );
    }
}
