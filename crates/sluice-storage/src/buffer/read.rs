//! Reading a buffered partition: the rows a scan or a persistence wants, sorted by
//! series then time, as Arrow batches.

use hashbrown::HashMap;
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, DictionaryArray, Int32Array, RecordBatch, StringBuilder, TimestampNanosecondArray,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::Int32Type;
use sluice_lp::FieldType;

use super::PartitionBuffer;
use super::index::prefetch;
use super::tags::tag_value;
use crate::error::Result;
use crate::merge::{TableSchema, number_marked};
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

    /// Where the value of tag key `key` goes among the schema's tags, if it is one of them.
    fn slot(&self, key: u32) -> Option<usize> {
        let i = self.0.binary_search_by_key(&key, |&(k, _)| k).ok()?;
        Some(self.0[i].1)
    }
}

/// How many series ahead of the one whose tag value is read a batch's dictionaries ask
/// for the text of the next values (and twice as far ahead, for where it is).
const READ_AHEAD: usize = 8;

/// A tag a series does not have, where string ids are expected.
const ABSENT: u32 = u32::MAX;

/// The rank of string `id` by `rank` (a rank per string id, from 1): 0 for an absent tag.
fn rank_of(rank: &[u32], id: u32) -> u32 {
    if id == ABSENT { 0 } else { rank[id as usize] }
}

/// Each series' ranks (its tags' string ids, `width` a series, one series after the
/// other, ranked by `rank` with [`rank_of`]) packed into one integer that sorts as they
/// do, with the series' position: each tag's ranks renumbered over the values that tag
/// takes, in as few bits as those need, the first tag in the highest bits. `None` when
/// the tags need more than 64 bits together. Ten TSBS tags of a million hosts need 51;
/// sorting integers beats comparing ten ranks per pair of series. The ranks are taken a
/// tag at a time, not all at once: a million series of ten tags would be 40 MB more.
fn packed_keys(values: &[u32], width: usize, rank: &[u32]) -> Option<Vec<(u64, u32)>> {
    let count = values.len() / width;
    let mut keyed: Vec<(u64, u32)> = (0..count as u32).map(|i| (0, i)).collect();
    // Ranks run from 0 (absent) to one per string.
    let mut dense = vec![0u32; rank.len() + 1];
    let mut column: Vec<u32> = Vec::with_capacity(count);
    let mut used_bits = 0;
    for t in 0..width {
        column.clear();
        column.extend(
            values[t..]
                .iter()
                .step_by(width)
                .map(|&id| rank_of(rank, id)),
        );
        dense.fill(0);
        for &r in &column {
            dense[r as usize] = 1;
        }
        let taken = number_marked(&mut dense);
        let bits = u32::BITS - taken.saturating_sub(1).leading_zeros();
        used_bits += bits;
        if used_bits > u64::BITS {
            return None;
        }
        for ((key, _), &r) in keyed.iter_mut().zip(&column) {
            *key = (*key << bits) | u64::from(dense[r as usize]);
        }
    }
    Some(keyed)
}

/// A partition's rows in the series order, and the tag values of their series: what
/// [`PartitionBuffer::rows_to_batch`] turns into batches, a slice of rows at a time.
#[derive(Default)]
pub(crate) struct SortedRows {
    /// Row indices, sorted by series then time.
    rows: Vec<u32>,
    /// Each series with rows here, in order: where its rows end in `rows`, and where its
    /// tag values are in `values` (in series, `width` values a series).
    ends: Vec<(u32, u32)>,
    /// The values (string ids, [`ABSENT`] for none) of the tags of each series asked for,
    /// in the schema's order, one series after the other: looked up once, in the order
    /// the series were added (each series' tags read in memory order), not once per batch
    /// in the series order, a cache miss per series when there are many. Kept in that
    /// order, not copied into the sorted one: a million series' copy is 40 MB of memory
    /// more (see [`PartitionBuffer::rows_to_batch`]).
    values: Vec<u32>,
}

impl SortedRows {
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
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
        let sorted = self.sorted_rows(schema, time_range, tag_matches, keep_last);
        if sorted.is_empty() {
            return Ok(None);
        }
        self.rows_to_batch(schema, &sorted, 0..sorted.len())
            .map(Some)
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
    ) -> SortedRows {
        let wanted: Vec<u32> = (0..self.series.len() as u32)
            .filter(|&s| {
                let tags = self.series.get(s as usize);
                tag_matches
                    .iter()
                    .all(|m| m.matches(tag_value(&self.strings, tags, m.key())))
            })
            .collect();
        let width = schema.tags.len();
        let values = self.series_values(&schema.tags, &wanted);
        let order = self.in_series_order(width, &values, wanted.len());
        // Every row (what persistence asks for): as many as the partition has.
        let all_rows = time_range.is_none() && tag_matches.is_empty() && keep_last.is_none();
        let mut sorted = SortedRows {
            rows: Vec::with_capacity(if all_rows { self.time.len() } else { 0 }),
            ends: Vec::with_capacity(order.len()),
            values,
        };
        let mut scratch: Vec<u32> = Vec::new();
        for (n, &i) in order.iter().enumerate() {
            // The series come in tag order, not in the order they were added: the row
            // list and order flag of a series a few ahead are asked of the memory (a
            // cache miss each when there are many series).
            if let Some(&ahead) = order.get(n + READ_AHEAD) {
                let ahead = wanted[ahead as usize] as usize;
                prefetch(&self.series_rows[ahead]);
                prefetch(&self.series_sorted[ahead]);
            }
            let (i, s) = (i as usize, wanted[i as usize]);
            let time = |r: &u32| self.time[*r as usize];
            let series_rows: &[u32] = &self.series_rows[s as usize];
            let rows_before = sorted.rows.len();
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
                sorted.rows.extend_from_slice(&scratch);
            } else {
                let (lo, hi) = match time_range {
                    Some((start, end)) => (
                        series_rows.partition_point(|r| time(r) < start),
                        series_rows.partition_point(|r| time(r) < end),
                    ),
                    None => (0, series_rows.len()),
                };
                let lo = keep_last.map_or(lo, |k| lo.max(hi.saturating_sub(k)));
                sorted.rows.extend_from_slice(&series_rows[lo..hi]);
            }
            if sorted.rows.len() > rows_before {
                sorted.ends.push((sorted.rows.len() as u32, i as u32));
            }
        }
        sorted
    }

    /// The order of `count` series (the module `merge` defines it) by their tag values
    /// (`width` string ids a series, [`PartitionBuffer::series_values`]), tag by tag, an
    /// absent tag first: positions among them. The values are compared as ranks of the
    /// partition's strings when the series are many (an integer comparison instead of a
    /// string comparison per tag), else as text: ranking sorts every string of the
    /// partition, worth it only when the series to order are a good part of them.
    fn in_series_order(&self, width: usize, values: &[u32], count: usize) -> Vec<u32> {
        if count < 2 || width == 0 {
            (0..count as u32).collect()
        } else if count * 4 < self.strings.len() {
            self.ordered_by_text(width, values)
        } else {
            self.ordered_by_rank(width, values)
        }
    }

    /// The values of tags `names` of each of `series`, one after the other.
    fn series_values(&self, names: &[String], series: &[u32]) -> Vec<u32> {
        if names.is_empty() {
            return Vec::new();
        }
        let positions = TagPositions::new(self, names);
        let mut values = vec![ABSENT; series.len() * names.len()];
        // Series share their key lists (a table's series usually all have one): where each
        // key of the last list goes in `out` is worked out once per list, not per series.
        let mut shape = None;
        let mut slots: Vec<Option<usize>> = Vec::new();
        for (s, out) in series.iter().zip(values.chunks_exact_mut(names.len())) {
            let tags = self.series.get(*s as usize);
            if shape != Some(self.series.shape(*s as usize)) {
                shape = Some(self.series.shape(*s as usize));
                slots.clear();
                slots.extend(tags.keys.iter().map(|&k| positions.slot(k)));
            }
            for (slot, &v) in slots.iter().zip(tags.values) {
                if let Some(at) = slot {
                    out[*at] = v;
                }
            }
        }
        values
    }

    /// The order of series by their tag values (`width` string ids a series, one series
    /// after the other), comparing text: positions in `values`.
    fn ordered_by_text(&self, width: usize, values: &[u32]) -> Vec<u32> {
        let text = |id: u32| (id != ABSENT).then(|| self.text(id));
        let mut keyed: Vec<(Vec<Option<&str>>, u32)> = values
            .chunks_exact(width)
            .enumerate()
            .map(|(i, ids)| (ids.iter().map(|&id| text(id)).collect(), i as u32))
            .collect();
        keyed.sort_unstable();
        keyed.into_iter().map(|(_, i)| i).collect()
    }

    /// [`PartitionBuffer::ordered_by_text`], comparing the ranks of the strings.
    fn ordered_by_rank(&self, width: usize, values: &[u32]) -> Vec<u32> {
        let mut by_text: Vec<(u64, u32)> =
            (0..self.strings.len() as u32).map(|id| (0, id)).collect();
        sort_by_text(&mut by_text, &|id| self.text(id).as_bytes());
        // 0 for an absent tag, which sorts first; strings of one text (values added
        // without the string index) share a rank. The sort leaves such strings the same
        // key, so texts are compared only where the keys agree.
        let mut rank = vec![0u32; self.strings.len()];
        let mut r = 0;
        let mut last: Option<(u64, u32)> = None;
        for &(key, id) in &by_text {
            let repeated = self.repeated_texts
                && last.is_some_and(|(k, l)| k == key && self.text(l) == self.text(id));
            if !repeated {
                r += 1;
            }
            rank[id as usize] = r;
            last = Some((key, id));
        }
        drop(by_text);
        if let Some(mut keyed) = packed_keys(values, width, &rank) {
            keyed.sort_unstable();
            return keyed.into_iter().map(|(_, i)| i).collect();
        }
        let ranks: Vec<u32> = values.iter().map(|&id| rank_of(&rank, id)).collect();
        let mut order: Vec<u32> = (0..(values.len() / width) as u32).collect();
        let key = |i: u32| &ranks[i as usize * width..(i as usize + 1) * width];
        order.sort_unstable_by(|a, b| key(*a).cmp(key(*b)));
        order
    }

    /// Rows `at` of `sorted` as a batch in `schema` (the schema `sorted` was made for).
    pub(crate) fn rows_to_batch(
        &self,
        schema: &TableSchema,
        sorted: &SortedRows,
        at: Range<usize>,
    ) -> Result<RecordBatch> {
        let rows = &sorted.rows[at.clone()];
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.width());
        // The series of these rows, a slot for each (rows come sorted by series): the
        // dictionaries cover only those, so a batch of a few rows costs nothing for the
        // partition's other series (persistence cuts a partition of a million series
        // into many batches).
        let first = sorted
            .ends
            .partition_point(|&(end, _)| end as usize <= at.start);
        let mut row_slots: Vec<usize> = Vec::with_capacity(rows.len());
        let mut slot = 0;
        for r in at.clone() {
            while sorted.ends[first + slot].0 as usize <= r {
                slot += 1;
            }
            row_slots.push(slot);
        }
        let width = schema.tags.len();
        let used = row_slots.last().map_or(0, |last| last + 1);
        // The used series' values gathered in their order: a read of memory per series
        // here, then each tag's pass below reads them in order.
        let mut values: Vec<u32> = Vec::with_capacity(used * width);
        for &(_, at) in &sorted.ends[first..first + used] {
            let at = at as usize * width;
            values.extend_from_slice(&sorted.values[at..at + width]);
        }
        let mut dict_index: HashMap<u32, i32> = HashMap::with_capacity(used);
        let mut slot_keys: Vec<i32> = Vec::with_capacity(used);
        for t in 0..width {
            // Dictionary over the used series' values (each string once, found by its
            // id), keys looked up per row. Series in order share their first tags' values,
            // so a value like the previous series' is not looked up again.
            dict_index.clear();
            slot_keys.clear();
            let mut dict = StringBuilder::with_capacity(used.min(1024), 0);
            let mut previous: Option<(u32, i32)> = None;
            let mut absent = false;
            for slot in 0..used {
                // Values of many series (a host name each) are read in the series order,
                // not the order they were added in: their text is asked of the memory
                // a few series ahead.
                if let Some(&ahead) = values.get((slot + 2 * READ_AHEAD) * width + t)
                    && ahead != ABSENT
                {
                    self.strings.prefetch_bounds(ahead);
                }
                if let Some(&ahead) = values.get((slot + READ_AHEAD) * width + t)
                    && ahead != ABSENT
                {
                    self.strings.prefetch_text(ahead);
                }
                let id = values[slot * width + t];
                let key = if id == ABSENT {
                    absent = true;
                    0
                } else if let Some((_, key)) = previous.filter(|&(same, _)| same == id) {
                    key
                } else {
                    let next = dict_index.len() as i32;
                    let key = *dict_index.entry(id).or_insert_with(|| {
                        dict.append_value(self.text(id));
                        next
                    });
                    previous = Some((id, key));
                    key
                };
                slot_keys.push(key);
            }
            let nulls = absent.then(|| {
                let present = |slot: usize| values[slot * width + t] != ABSENT;
                NullBuffer::from_iter(row_slots.iter().map(|&slot| present(slot)))
            });
            let keys = Int32Array::new(
                row_slots.iter().map(|&slot| slot_keys[slot]).collect(),
                nulls,
            );
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
            rows.iter().map(|&i| self.time[i as usize]),
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

    /// Table `cpu` with tags `tags` and a float field `f`, without rows.
    fn table_with_tags<'a>(tags: &[&'a str]) -> TableRef<'a> {
        let mut columns: Vec<(&str, ColumnType)> =
            tags.iter().map(|t| (*t, ColumnType::Tag)).collect();
        columns.push(("f", ColumnType::Field(sluice_lp::FieldType::Float)));
        TableRef {
            name: "cpu",
            columns,
            ..TableRef::default()
        }
    }

    /// A buffer holding `table`'s rows (of database 1), with `floats` in its last
    /// column (as [`table_with_tags`] makes it).
    fn applied(mut table: TableRef<'_>, floats: Vec<f64>) -> Buffer {
        table.fields = vec![FieldValues {
            column: (table.columns.len() - 1) as u32,
            rows: None,
            values: ColumnValues::Float(floats),
        }];
        let mut buffer = Buffer::default();
        buffer.apply(&BatchRef {
            db_id: 1,
            tables: vec![table],
        });
        buffer
    }

    #[test]
    fn series_keep_their_tags_when_values_repeat_in_no_order_across_tags_and_days() {
        // Values shared by many series and by two tags, in no order, in runs that
        // alternate between two days: two partitions, each with its own string ids.
        let values: Vec<[String; 3]> = (0..3000usize)
            .map(|i| {
                [
                    format!("v{}", (i * 7) % 11),
                    format!("v{}", (i * 5) % 13),
                    format!("h{}", i % 2000),
                ]
            })
            .collect();
        let mut table = table_with_tags(&["a", "b", "h"]);
        let day = 86_400_000_000_000i64;
        let mut floats = Vec::new();
        let mut expected: [Vec<Vec<(String, String)>>; 2] = Default::default();
        for (i, [a, b, h]) in values.iter().enumerate() {
            let d = (i / 100) % 2;
            table.push_series([(0, a.as_str()), (1, b.as_str()), (2, h.as_str())].into_iter());
            table.push_row(d as i64 * day + i as i64, i as u32);
            floats.push(i as f64);
            let set = [("a", a), ("b", b), ("h", h)].map(|(k, v)| (k.to_owned(), v.clone()));
            expected[d].push(set.to_vec());
        }
        let buffer = applied(table, floats);
        for (d, mut want) in expected.into_iter().enumerate() {
            let part = &buffer.table(1, "cpu").unwrap().partitions[&(d as i64)];
            let mut got: Vec<Vec<(String, String)>> = part
                .tag_sets()
                .iter()
                .map(|tags| tags.map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
                .collect();
            got.sort();
            want.sort();
            want.dedup();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn series_come_in_the_same_order_by_rank_as_by_text_with_absent_tags_first() {
        // Tags `a`, `b` and `c`, some series without `a` or `c`, values sharing text
        // across tags and sorting differently by length and by bytes.
        let values = ["", "x", "xy", "y", "b", "a", "Z", "10", "9"];
        let mut table = table_with_tags(&["a", "b", "c"]);
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
        let buffer = applied(table, floats);
        let part = &buffer.table(1, "cpu").unwrap().partitions[&0];
        let names: Vec<String> = ["a", "b", "c", "missing"].map(String::from).to_vec();
        let all: Vec<u32> = (0..part.series.len() as u32).rev().collect();
        let values = part.series_values(&names, &all);
        let positions = part.ordered_by_text(names.len(), &values);
        assert_eq!(part.ordered_by_rank(names.len(), &values), positions);
        let by_text: Vec<u32> = positions.iter().map(|&i| all[i as usize]).collect();
        // The order itself: tag by tag, absent first.
        let key = |s: u32| {
            names
                .iter()
                .map(|n| tag_value(&part.strings, part.series.get(s as usize), n))
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

    /// Applies rows `(dc, h, time)` of table `cpu` (tags `dc` and `h`) to `buffer`, a
    /// tag set per row, in one batch.
    fn apply_dc_h(buffer: &mut Buffer, rows: &[(&str, &str, i64)]) {
        let mut table = table_with_tags(&["dc", "h"]);
        for (i, &(dc, h, time)) in rows.iter().enumerate() {
            table.push_series([(0, dc), (1, h)].into_iter());
            table.push_row(time, i as u32);
        }
        table.fields = vec![FieldValues {
            column: 2,
            rows: None,
            values: ColumnValues::Float(vec![1.0; rows.len()]),
        }];
        buffer.apply(&BatchRef {
            db_id: 1,
            tables: vec![table],
        });
    }

    #[test]
    fn a_tag_of_ever_new_values_skips_the_string_index_and_its_values_seen_again_keep_their_order()
    {
        // A new host name with every series: past the look-ups `KeyValues` waits for,
        // the key's new values are added without the string index.
        let hosts: Vec<String> = (0..5000).map(|i| format!("h{i:05}")).collect();
        let mut buffer = Buffer::default();
        let first: Vec<(&str, &str, i64)> = hosts.iter().map(|h| ("a", h.as_str(), 1)).collect();
        apply_dc_h(&mut buffer, &first);
        let part = &buffer.table(1, "cpu").unwrap().partitions[&0];
        let h = part.tag_keys[1];
        assert_eq!(part.text(h), "h");
        assert!(part.key_values[&h].unindexed);
        assert!(!part.key_values[&part.tag_keys[0]].unindexed);
        assert!(!part.repeated_texts);

        // A hundred series again (found by their texts: no new series) and a hundred new
        // ones with those host names: each takes its host's text a second time.
        let again: Vec<(&str, &str, i64)> = (0..100)
            .flat_map(|i| [("a", hosts[i].as_str(), 2), ("b", hosts[i].as_str(), 2)])
            .collect();
        apply_dc_h(&mut buffer, &again);
        let part = &buffer.table(1, "cpu").unwrap().partitions[&0];
        assert_eq!(part.series.len(), 5100);
        assert_eq!(part.len(), 5200);
        // Two keys, two data centres, the hosts, and those of the hundred that are not
        // sampled (the sampled ones are found in the index) a second time.
        let unsampled = hosts[..100].iter().filter(|h| !part.samples(h)).count();
        assert!(unsampled > 80, "{unsampled} of 100 not sampled");
        assert_eq!(part.strings.len(), 2 + 2 + 5000 + unsampled);
        assert!(part.repeated_texts);
        assert!(part.key_values[&h].unindexed);

        // Ranks still order the series as their texts do, and persistence writes them so.
        let names: Vec<String> = ["dc", "h"].map(String::from).to_vec();
        let all: Vec<u32> = (0..part.series.len() as u32).collect();
        let values = part.series_values(&names, &all);
        assert_eq!(
            part.ordered_by_rank(names.len(), &values),
            part.ordered_by_text(names.len(), &values)
        );
        let schema = part.schema();
        let sorted = part.sorted_rows(&schema, None, &[], None);
        let batch = part
            .rows_to_batch(&schema, &sorted, 0..sorted.len())
            .unwrap();
        let text = |c: usize| -> Vec<String> {
            let column =
                arrow::compute::cast(batch.column(c), &arrow::datatypes::DataType::Utf8).unwrap();
            let column = column
                .as_any()
                .downcast_ref::<arrow::array::StringArray>()
                .unwrap();
            column.iter().map(|v| v.unwrap().to_owned()).collect()
        };
        let written: Vec<(String, String)> = text(0).into_iter().zip(text(1)).collect();
        let mut expected: Vec<(String, String)> = first
            .iter()
            .chain(&again)
            .map(|&(dc, h, _)| (dc.to_owned(), h.to_owned()))
            .collect();
        expected.sort();
        assert_eq!(written, expected);

        // A delete renumbers the strings; the key's rule follows its new id.
        let op = crate::predicate::DeleteOp {
            db_id: 1,
            drop_table: false,
            request: crate::types::DeleteRequest {
                table: Some("cpu".into()),
                time_range: None,
                tag_predicate: Some(crate::TagPredicate::eq("dc", "b")),
                drop_emptied_tables: false,
            },
        };
        buffer.delete(&op);
        let part = &buffer.table(1, "cpu").unwrap().partitions[&0];
        let strings = part.strings.len();
        assert_eq!(strings, 2 + 1 + 5000);
        let host = hosts.iter().find(|h| !part.samples(h)).unwrap();
        apply_dc_h(&mut buffer, &[("c", host.as_str(), 3)]);
        let part = &buffer.table(1, "cpu").unwrap().partitions[&0];
        // `c` through the index, the host's text again without it.
        assert_eq!(part.strings.len(), strings + 2);
        assert_eq!(part.series.len(), 5001);
    }

    #[test]
    fn an_unindexed_tag_whose_sampled_values_come_back_is_indexed_again() {
        // Host names sorted by another tag first: all hosts with `dc` a, then again with
        // b and with c. The first pass makes `h` unindexed.
        let hosts: Vec<String> = (0..20_000).map(|i| format!("h{i:05}")).collect();
        let mut buffer = Buffer::default();
        let mut pass = |dc: &'static str| {
            let rows: Vec<(&str, &str, i64)> = hosts.iter().map(|h| (dc, h.as_str(), 1)).collect();
            apply_dc_h(&mut buffer, &rows);
            let part = &buffer.table(1, "cpu").unwrap().partitions[&0];
            (
                part.key_values[&part.tag_keys[1]].unindexed,
                part.strings.len(),
            )
        };
        assert_eq!(pass("a"), (true, 2 + 1 + 20_000));
        // The sampled hosts (about 300) are found again: indexed after this pass. The
        // others take their text a second time.
        let (unindexed, strings) = pass("b");
        assert!(!unindexed);
        assert!(
            (2 + 2 + 20_000 + 19_000..2 + 2 + 20_000 + 20_000).contains(&strings),
            "{strings} strings"
        );
        // Indexed again: every host is found (the first pass, indexed until its end, put
        // them all in the index), so only `c` is new.
        assert_eq!(pass("c"), (false, strings + 1));
    }

    #[test]
    fn a_partition_read_in_slices_is_the_partition_read_whole() {
        // Series of one to five rows, some without tag `b`, added in another order than
        // the series order, so that slices start and end inside series and the series of
        // a slice are not those of the partition.
        let mut table = table_with_tags(&["a", "b"]);
        let mut floats = Vec::new();
        let mut texts = Vec::new();
        for s in 0..40usize {
            texts.push((format!("host_{}", (s * 7) % 40), format!("r{}", s % 3)));
        }
        for (s, (a, b)) in texts.iter().enumerate() {
            let mut tags = vec![(0, a.as_str())];
            if s % 4 != 0 {
                tags.push((1, b.as_str()));
            }
            table.push_series(tags.into_iter());
            for t in 0..=(s % 5) {
                table.push_row(t as i64, s as u32);
                floats.push((s * 10 + t) as f64);
            }
        }
        let buffer = applied(table, floats);
        let part = &buffer.table(1, "cpu").unwrap().partitions[&0];
        let schema = part.schema();
        let sorted = part.sorted_rows(&schema, None, &[], None);
        let whole = part
            .rows_to_batch(&schema, &sorted, 0..sorted.len())
            .unwrap();
        assert_eq!(whole.num_rows(), 8 * (1 + 2 + 3 + 4 + 5));
        for size in [1, 2, 3, 7, 50] {
            let slices: Vec<RecordBatch> = (0..sorted.len())
                .step_by(size)
                .map(|at| {
                    let end = (at + size).min(sorted.len());
                    part.rows_to_batch(&schema, &sorted, at..end).unwrap()
                })
                .collect();
            let joined = arrow::compute::concat_batches(&whole.schema(), &slices).unwrap();
            // Dictionaries differ by slice; their values, row by row, may not.
            for (c, column) in whole.columns().iter().enumerate() {
                let text = |a: &ArrayRef| {
                    arrow::compute::cast(a, &arrow::datatypes::DataType::Utf8).unwrap()
                };
                assert_eq!(
                    &text(joined.column(c)),
                    &text(column),
                    "column {c}, slices of {size}"
                );
            }
        }
    }

    #[test]
    fn packed_keys_sort_as_the_ranks_do_and_are_refused_past_64_bits() {
        // A constant tag, one of three values or absent, one of a thousand values with
        // gaps between their ranks; string ids ranked in the reverse of their order.
        let values: Vec<u32> = (0..3000u32)
            .flat_map(|i| {
                let second = match (i * 7) % 4 {
                    0 => ABSENT,
                    k => k * 5,
                };
                [7, second, (i * 7919) % 1000 * 3]
            })
            .collect();
        let rank: Vec<u32> = (0..3000).rev().map(|r| r + 1).collect();
        let mut keyed = packed_keys(&values, 3, &rank).unwrap();
        keyed.sort_unstable();
        let mut expected: Vec<u32> = (0..3000).collect();
        expected.sort_by_key(|&i| {
            let tags = &values[i as usize * 3..i as usize * 3 + 3];
            tags.iter()
                .map(|&id| rank_of(&rank, id))
                .collect::<Vec<_>>()
        });
        assert_eq!(keyed.iter().map(|k| k.1).collect::<Vec<_>>(), expected);
        assert_eq!(expected[0] % 4, 0, "an absent tag sorts first");

        // Five tags of 8,193 values each need 70 bits: refused, and the partition's
        // order by rank is still its order by text.
        let texts: Vec<[String; 5]> = (0..8193usize)
            .map(|i| [1, 2, 4, 5, 7].map(|k| format!("v{}", (i * k) % 8193)))
            .collect();
        let mut table = table_with_tags(&["a", "b", "c", "d", "e"]);
        for (i, values) in texts.iter().enumerate() {
            table.push_series((0..5).map(|t| (t as u32, values[t].as_str())));
            table.push_row(0, i as u32);
        }
        let buffer = applied(table, vec![1.0; texts.len()]);
        let part = &buffer.table(1, "cpu").unwrap().partitions[&0];
        let names: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
        let all: Vec<u32> = (0..part.series.len() as u32).collect();
        let values = part.series_values(&names, &all);
        let by_rank = part.ordered_by_rank(names.len(), &values);
        assert_eq!(by_rank, part.ordered_by_text(names.len(), &values));
        assert_eq!(by_rank.len(), 8193);
    }
}
