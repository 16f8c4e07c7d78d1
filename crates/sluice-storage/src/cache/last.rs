//! A last-value cache: the newest `count` rows of each combination of key column values,
//! by row time, newest first.

use std::collections::{HashMap, VecDeque};

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::Schema;

use super::{
    KeyValue, LastCacheDef, RowSource, Source, column_field, cutoff, next_generation, time_array,
    time_field, to_array,
};
use crate::batch::{ColumnType, Row, TableBatch, Value};

/// The key values of one entry, in the order of the cache's key columns (`None` where a
/// row has no value for the column).
pub(crate) type Key = Vec<Option<KeyValue>>;

#[derive(Debug)]
pub(crate) struct LastCache {
    pub(crate) def: LastCacheDef,
    /// The value columns: as defined, or as rows brought them.
    columns: Vec<String>,
    slots: HashMap<String, usize>,
    entries: HashMap<Key, Entry>,
    /// Bumped each time the cache is emptied, so a fill that read storage before can
    /// tell its rows may be stale.
    pub(crate) generation: u64,
    /// Filled from storage since it was created or last emptied.
    filled: bool,
    /// Since then, rows of some key may have been left out: an entry evicted whole, or
    /// a filled row without values for the cache's columns.
    lost: bool,
}

#[derive(Debug, Default)]
struct Entry {
    /// Newest first, at most `count`, one per time.
    rows: VecDeque<CachedRow>,
    /// Storage may hold older rows of this key than the cache does.
    truncated: bool,
}

impl Entry {
    /// Whether a row at `time` would be dropped at once: the entry holds `count` rows,
    /// every one newer.
    fn keeps_nothing_older_than(&self, time: i64, count: usize) -> bool {
        self.rows.len() >= count && self.rows.back().is_some_and(|r| r.time > time)
    }

    /// Takes a row at `time` if it is among the newest `count` (merging it into a row of
    /// the same time).
    fn offer(&mut self, time: i64, values: Vec<Option<Value>>, source: Source, count: usize) {
        match self.rows.iter().position(|r| r.time <= time) {
            Some(i) if self.rows[i].time == time => self.rows[i].merge(values, source),
            Some(i) => self.rows.insert(i, CachedRow { time, values }),
            None if self.rows.len() < count => self.rows.push_back(CachedRow { time, values }),
            None => self.truncated = true,
        }
        if self.rows.len() > count {
            self.rows.pop_back();
            self.truncated = true;
        }
    }
}

/// Whether column `name` is one of the cache's value columns: those defined, or every
/// column that is not a key.
fn is_value_column(def: &LastCacheDef, name: &str) -> bool {
    match &def.value_columns {
        Some(values) => values.iter().any(|v| v == name),
        None => !def.key_columns.iter().any(|k| k == name),
    }
}

/// The slot of value column `name`, added at the end if the cache has none yet.
fn slot_of(columns: &mut Vec<String>, slots: &mut HashMap<String, usize>, name: &str) -> usize {
    if let Some(&slot) = slots.get(name) {
        return slot;
    }
    columns.push(name.to_owned());
    slots.insert(name.to_owned(), columns.len() - 1);
    columns.len() - 1
}

/// One cached row: its time and its values by the cache's value column slots.
#[derive(Debug, Clone)]
pub(crate) struct CachedRow {
    pub(crate) time: i64,
    values: Vec<Option<Value>>,
}

impl CachedRow {
    pub(crate) fn value(&self, slot: usize) -> Option<&Value> {
        self.values.get(slot).and_then(Option::as_ref)
    }

    /// Takes `values` into the row: a write's values are the newest for this time and
    /// win; a fill's only fill what no write brought.
    fn merge(&mut self, values: Vec<Option<Value>>, source: Source) {
        if self.values.len() < values.len() {
            self.values.resize(values.len(), None);
        }
        for (slot, value) in values.into_iter().enumerate() {
            if value.is_some() && (source == Source::Write || self.values[slot].is_none()) {
                self.values[slot] = value;
            }
        }
    }
}

impl LastCache {
    pub(crate) fn new(def: LastCacheDef) -> LastCache {
        let columns = def.value_columns.clone().unwrap_or_default();
        let slots = columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i))
            .collect();
        LastCache {
            def,
            columns,
            slots,
            entries: HashMap::new(),
            generation: next_generation(),
            filled: false,
            lost: false,
        }
    }

    /// Forgets every row (until the next fill).
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.generation = next_generation();
        self.filled = false;
        self.lost = false;
    }

    /// Whether the cache holds, for every key with rows in storage, its newest rows.
    pub(crate) fn is_complete(&self) -> bool {
        self.filled && !self.lost
    }

    /// The slot of value column `name`, if the cache has it.
    pub(crate) fn slot(&self, name: &str) -> Option<usize> {
        self.slots.get(name).copied()
    }

    /// Keeps `row` if it is among the newest `count` of its key and has a value for some
    /// value column.
    pub(crate) fn offer(&mut self, row: &dyn RowSource, source: Source) {
        let key: Key = self
            .def
            .key_columns
            .iter()
            .map(|c| row.get(c).and_then(KeyValue::of))
            .collect();
        let LastCache {
            def,
            columns,
            slots,
            ..
        } = self;
        let mut values: Vec<Option<Value>> = vec![None; columns.len()];
        let mut any = false;
        row.each(&|name| is_value_column(def, name), &mut |name, value| {
            let slot = slot_of(columns, slots, name);
            if values.len() <= slot {
                values.resize(slot + 1, None);
            }
            values[slot] = Some(value);
            any = true;
        });
        if !any {
            self.lost |= source == Source::Fill;
            return;
        }
        let count = self.def.count;
        self.entries
            .entry(key)
            .or_default()
            .offer(row.time(), values, source, count);
    }

    /// Keeps the rows of a logged write that are among the newest `count` of their key,
    /// as [`LastCache::offer`] does row by row, but with the batch's columns matched to
    /// the cache's once per batch and each series' key built and looked up once: what
    /// keeps a cache from halving the rate of ingest. Returns false, offering nothing,
    /// when a key column is a field in this batch (its key is then the row's: offer the
    /// rows one by one).
    pub(crate) fn offer_batch(&mut self, table: &TableBatch) -> bool {
        let LastCache {
            def,
            columns,
            slots,
            entries,
            ..
        } = self;
        // What each of the batch's columns is to the cache: a key position, a value
        // slot, or nothing.
        let mut key_position = vec![None; table.columns.len()];
        let mut value_slot = vec![None; table.columns.len()];
        for (id, (name, kind)) in table.columns.iter().enumerate() {
            if let Some(position) = def.key_columns.iter().position(|k| k == name) {
                if matches!(kind, ColumnType::Field(_)) {
                    return false;
                }
                key_position[id] = Some(position);
            } else if is_value_column(def, name) {
                value_slot[id] = Some(slot_of(columns, slots, name));
            }
        }
        let width = columns.len();
        let count = def.count;
        let mut rows_of: Vec<Vec<usize>> = vec![Vec::new(); table.series_count()];
        for (i, row) in table.rows.iter().enumerate() {
            rows_of[row.series as usize].push(i);
        }
        for (series, rows) in rows_of.iter().enumerate() {
            if rows.is_empty() {
                continue;
            }
            let mut key: Key = vec![None; def.key_columns.len()];
            let mut tag_values = Vec::new();
            for (column, value) in table.series_tags(series as u32) {
                let column = column as usize;
                if let Some(position) = key_position[column] {
                    key[position] = Some(KeyValue::Str(value.to_owned()));
                } else if let Some(slot) = value_slot[column] {
                    tag_values.push((slot, value));
                }
            }
            // Rows without a value for the cache are not offered (and make no entry).
            let has_values = |row: &Row| {
                !tag_values.is_empty()
                    || table
                        .fields(row)
                        .iter()
                        .any(|(c, _)| value_slot[*c as usize].is_some())
            };
            let mut offered = rows
                .iter()
                .map(|&i| &table.rows[i])
                .filter(|r| has_values(r));
            let Some(first) = offered.next() else {
                continue;
            };
            let entry = entries.entry(key).or_default();
            for row in std::iter::once(first).chain(offered) {
                let fields = table.fields(row);
                if entry.keeps_nothing_older_than(row.time, count) {
                    entry.truncated = true;
                    continue;
                }
                let mut values: Vec<Option<Value>> = vec![None; width];
                for (slot, value) in &tag_values {
                    values[*slot] = Some(Value::String((*value).to_owned()));
                }
                for (column, value) in fields {
                    if let Some(slot) = value_slot[*column as usize] {
                        values[slot] = Some(value.clone());
                    }
                }
                entry.offer(row.time, values, Source::Write, count);
            }
        }
        true
    }

    /// Ends a fill from storage that read the newest `count` rows of every key
    /// (`complete`), or only some rows (then the cache is not complete).
    pub(crate) fn fill_done(&mut self, complete: bool, now_ns: i64) {
        let count = self.def.count;
        for entry in self.entries.values_mut() {
            // Storage may hold more of a key whose `count` rows were read.
            entry.truncated |= entry.rows.len() >= count;
        }
        self.filled = true;
        self.lost |= !complete;
        self.evict(now_ns);
    }

    /// Drops rows older than the ttl.
    pub(crate) fn evict(&mut self, now_ns: i64) {
        let oldest = cutoff(now_ns, self.def.ttl_secs);
        let mut lost = false;
        self.entries.retain(|_, entry| {
            while entry.rows.back().is_some_and(|r| r.time < oldest) {
                entry.rows.pop_back();
                entry.truncated = true;
            }
            lost |= entry.rows.is_empty();
            !entry.rows.is_empty()
        });
        self.lost |= lost;
    }

    /// Every row at or after `min_time`, by key, newest first.
    fn rows(&self, min_time: i64) -> Vec<(&Key, &CachedRow)> {
        let mut keys: Vec<&Key> = self.entries.keys().collect();
        keys.sort();
        keys.into_iter()
            .flat_map(|k| {
                self.entries[k]
                    .rows
                    .iter()
                    .take_while(move |r| r.time >= min_time)
                    .map(move |r| (k, r))
            })
            .collect()
    }

    /// The cache's rows at or after `min_time` as `last_cache()` shows them: the key
    /// columns, the value columns and `time`, typed by `kind` (the table's columns).
    pub(crate) fn to_batch(
        &self,
        kind: &dyn Fn(&str) -> Option<ColumnType>,
        min_time: i64,
    ) -> arrow::error::Result<RecordBatch> {
        let rows = self.rows(min_time);
        let mut fields = Vec::new();
        let mut arrays: Vec<ArrayRef> = Vec::new();
        for (i, name) in self.def.key_columns.iter().enumerate() {
            let field = column_field(name, kind(name), false);
            let values: Vec<Option<Value>> = rows
                .iter()
                .map(|(k, _)| k[i].as_ref().map(KeyValue::to_value))
                .collect();
            arrays.push(to_array(&field, &values));
            fields.push(field);
        }
        for (slot, name) in self.columns.iter().enumerate() {
            let field = column_field(name, kind(name), false);
            let values: Vec<Option<Value>> =
                rows.iter().map(|(_, r)| r.value(slot).cloned()).collect();
            arrays.push(to_array(&field, &values));
            fields.push(field);
        }
        fields.push(time_field());
        arrays.push(time_array(rows.iter().map(|(_, r)| r.time).collect()));
        RecordBatch::try_new(std::sync::Arc::new(Schema::new(fields)), arrays)
    }

    /// For `last()` of each of `slots` per key: of every key `keep` accepts, the rows
    /// holding the newest value of each slot within `[min_time, end)` (each row once).
    /// `None` when the cache cannot tell: it is not complete, a key's newest value may
    /// be older than what it holds, or at or after `end` (older ones may be inside).
    pub(crate) fn newest_values(
        &self,
        slots: &[usize],
        min_time: i64,
        end: Option<i64>,
        keep: &dyn Fn(&Key) -> bool,
    ) -> Option<Vec<(&Key, &CachedRow)>> {
        if !self.is_complete() {
            return None;
        }
        let mut keys: Vec<&Key> = self.entries.keys().filter(|k| keep(k)).collect();
        keys.sort();
        let mut out = Vec::new();
        for key in keys {
            let entry = &self.entries[key];
            let mut chosen: Vec<&CachedRow> = Vec::new();
            for &slot in slots {
                let Some(row) = entry.rows.iter().find(|r| r.value(slot).is_some()) else {
                    if entry.truncated {
                        return None;
                    }
                    continue;
                };
                if end.is_some_and(|e| row.time >= e) {
                    return None;
                }
                if row.time >= min_time && !chosen.iter().any(|c| c.time == row.time) {
                    chosen.push(row);
                }
            }
            chosen.sort_by_key(|r| r.time);
            out.extend(chosen.into_iter().map(|r| (key, r)));
        }
        Some(out)
    }

    /// Rows held, for tests and sizing.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.values().map(|e| e.rows.len()).sum()
    }

    /// The value columns, in slot order.
    #[cfg(test)]
    pub(crate) fn columns(&self) -> &[String] {
        &self.columns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row for tests: `host` tag and fields.
    struct TestRow {
        time: i64,
        host: &'static str,
        fields: Vec<(&'static str, Value)>,
    }

    impl RowSource for TestRow {
        fn time(&self) -> i64 {
            self.time
        }

        fn get(&self, column: &str) -> Option<Value> {
            if column == "host" {
                return Some(Value::String(self.host.to_owned()));
            }
            self.fields
                .iter()
                .find(|(n, _)| *n == column)
                .map(|(_, v)| v.clone())
        }

        fn each(&self, wanted: &dyn Fn(&str) -> bool, f: &mut dyn FnMut(&str, Value)) {
            if wanted("host") {
                f("host", Value::String(self.host.to_owned()));
            }
            for (n, v) in &self.fields {
                if wanted(n) {
                    f(n, v.clone());
                }
            }
        }
    }

    fn row(time: i64, host: &'static str, usage: f64) -> TestRow {
        TestRow {
            time,
            host,
            fields: vec![("usage", Value::Float(usage))],
        }
    }

    fn cache(count: usize) -> LastCache {
        let mut c = LastCache::new(LastCacheDef {
            key_columns: vec!["host".into()],
            value_columns: None,
            count,
            ttl_secs: 3600,
        });
        c.fill_done(true, 0);
        c
    }

    fn times(c: &LastCache) -> Vec<(String, i64, Option<Value>)> {
        c.rows(i64::MIN)
            .into_iter()
            .map(|(k, r)| {
                let host = k[0].as_ref().and_then(KeyValue::as_str).unwrap().to_owned();
                (host, r.time, r.value(0).cloned())
            })
            .collect()
    }

    #[test]
    fn a_late_write_does_not_replace_a_newer_row() {
        let mut c = cache(1);
        c.offer(&row(20, "a", 2.0), Source::Write);
        c.offer(&row(10, "a", 1.0), Source::Write);
        assert_eq!(times(&c), [("a".into(), 20, Some(Value::Float(2.0)))]);
    }

    #[test]
    fn count_keeps_the_newest_rows_by_time_whatever_their_order() {
        let mut c = cache(2);
        for (t, v) in [(30, 3.0), (10, 1.0), (40, 4.0), (20, 2.0)] {
            c.offer(&row(t, "a", v), Source::Write);
        }
        c.offer(&row(5, "b", 0.5), Source::Write);
        assert_eq!(
            times(&c),
            [
                ("a".into(), 40, Some(Value::Float(4.0))),
                ("a".into(), 30, Some(Value::Float(3.0))),
                ("b".into(), 5, Some(Value::Float(0.5))),
            ]
        );
    }

    #[test]
    fn a_write_at_the_same_time_wins_over_a_fill_and_a_fill_only_adds() {
        let mut c = cache(1);
        c.offer(&row(10, "a", 2.0), Source::Write);
        let filled = TestRow {
            time: 10,
            host: "a",
            fields: vec![("usage", Value::Float(1.0)), ("idle", Value::Float(9.0))],
        };
        c.offer(&filled, Source::Fill);
        let r = &c.entries.values().next().unwrap().rows[0];
        assert_eq!(r.value(c.slot("usage").unwrap()), Some(&Value::Float(2.0)));
        assert_eq!(r.value(c.slot("idle").unwrap()), Some(&Value::Float(9.0)));
        c.offer(&row(10, "a", 3.0), Source::Write);
        let r = &c.entries.values().next().unwrap().rows[0];
        assert_eq!(r.value(0), Some(&Value::Float(3.0)));
    }

    #[test]
    fn new_fields_become_value_columns_and_keys_do_not() {
        let mut c = cache(1);
        c.offer(&row(1, "a", 1.0), Source::Write);
        let later = TestRow {
            time: 2,
            host: "a",
            fields: vec![("temp", Value::Integer(3))],
        };
        c.offer(&later, Source::Write);
        assert_eq!(c.columns(), ["usage", "temp"]);
    }

    #[test]
    fn ttl_evicts_old_rows_and_makes_the_cache_incomplete() {
        let mut c = cache(1);
        let second = 1_000_000_000;
        c.offer(&row(10 * second, "a", 1.0), Source::Write);
        c.offer(&row(5000 * second, "b", 1.0), Source::Write);
        assert!(c.is_complete());
        c.evict(4000 * second);
        assert_eq!(c.len(), 1);
        assert!(!c.is_complete());
    }

    #[test]
    fn newest_values_skip_nulls_and_refuse_what_they_cannot_know() {
        let mut c = cache(2);
        c.offer(&row(10, "a", 1.0), Source::Write);
        let sparse = TestRow {
            time: 20,
            host: "a",
            fields: vec![("idle", Value::Float(5.0))],
        };
        c.offer(&sparse, Source::Write);
        let usage = c.slot("usage").unwrap();
        let all = |_: &Key| true;
        let got = c.newest_values(&[usage], i64::MIN, None, &all).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1.time, 10);
        // A third, sparse row pushes the only `usage` out: older ones may exist.
        let sparser = TestRow {
            time: 30,
            host: "a",
            fields: vec![("idle", Value::Float(6.0))],
        };
        c.offer(&sparser, Source::Write);
        assert!(c.newest_values(&[usage], i64::MIN, None, &all).is_none());
        // An end before the newest value: older values may lie inside the range.
        let idle = c.slot("idle").unwrap();
        assert!(c.newest_values(&[idle], i64::MIN, Some(25), &all).is_none());
        assert_eq!(
            c.newest_values(&[idle], 31, None, &all).unwrap().len(),
            0,
            "nothing at or after the start"
        );
    }
}

#[cfg(test)]
pub(in crate::cache) mod batch_tests {
    use sluice_lp::FieldType;

    use super::*;

    /// A row of a [`TableBatch`] as the row-by-row path sees it.
    pub(in crate::cache) struct Line<'a>(
        pub(in crate::cache) &'a TableBatch,
        pub(in crate::cache) &'a Row,
    );

    impl RowSource for Line<'_> {
        fn time(&self) -> i64 {
            self.1.time
        }

        fn get(&self, column: &str) -> Option<Value> {
            let mut found = None;
            self.each(&|name| name == column, &mut |_, v| found = Some(v));
            found
        }

        fn each(&self, wanted: &dyn Fn(&str) -> bool, f: &mut dyn FnMut(&str, Value)) {
            let Line(table, row) = self;
            let name = |c: u32| table.columns[c as usize].0.as_str();
            for (c, v) in table.series_tags(row.series) {
                if wanted(name(c)) {
                    f(name(c), Value::String(v.to_owned()));
                }
            }
            for (c, v) in table.fields(row) {
                if wanted(name(*c)) {
                    f(name(*c), v.clone());
                }
            }
        }
    }

    /// Rows of two hosts in two regions, out of time order, one without fields the
    /// cache keeps, a field that appears late.
    pub(in crate::cache) fn batch() -> TableBatch {
        let mut t = TableBatch::new(
            "cpu".into(),
            vec![
                ("host".into(), ColumnType::Tag),
                ("region".into(), ColumnType::Tag),
                ("usage".into(), ColumnType::Field(FieldType::Float)),
                ("idle".into(), ColumnType::Field(FieldType::Integer)),
                ("note".into(), ColumnType::Field(FieldType::String)),
            ],
        );
        t.push_series([(0, "a"), (1, "eu")]);
        t.push_series([(0, "b"), (1, "us")]);
        t.push_series([(1, "eu")]);
        let rows = [
            (30, 0, vec![(2, Value::Float(3.0))]),
            (10, 0, vec![(2, Value::Float(1.0)), (3, Value::Integer(9))]),
            (40, 1, vec![(3, Value::Integer(4))]),
            (20, 0, vec![(2, Value::Float(2.0))]),
            (50, 0, vec![(4, Value::String("late".into()))]),
            (30, 0, vec![(3, Value::Integer(7))]),
            (5, 1, vec![(2, Value::Float(0.5))]),
            (60, 2, vec![(2, Value::Float(6.0))]),
            (70, 1, vec![(4, Value::String("only note".into()))]),
        ];
        for (time, series, fields) in rows {
            let start = t.values.len();
            t.values.extend(fields);
            t.push_row(time, series, start);
        }
        t
    }

    fn snapshot(c: &LastCache) -> (Vec<String>, Vec<String>) {
        // Values by slot: a row's vector may stop before slots added after it.
        let mut entries: Vec<String> = c
            .entries
            .iter()
            .map(|(k, e)| {
                let rows: Vec<String> = e
                    .rows
                    .iter()
                    .map(|r| {
                        let values: Vec<_> = (0..c.columns.len()).map(|s| r.value(s)).collect();
                        format!("{} {values:?}", r.time)
                    })
                    .collect();
                format!("{k:?} {rows:?} truncated={}", e.truncated)
            })
            .collect();
        entries.sort();
        (c.columns.clone(), entries)
    }

    #[test]
    fn a_batch_offered_whole_leaves_the_cache_as_row_by_row_offers_do() {
        let table = batch();
        let defs = [
            (vec!["host"], None, 2),
            (vec!["host", "region"], None, 1),
            (vec!["region"], Some(vec!["usage", "host"]), 3),
            (vec!["host"], Some(vec!["note"]), 2),
            (vec![], None, 10),
        ];
        for (keys, values, count) in defs {
            let def = LastCacheDef {
                key_columns: keys.iter().map(|k| k.to_string()).collect(),
                value_columns: values
                    .as_ref()
                    .map(|v: &Vec<&str>| v.iter().map(|c| c.to_string()).collect()),
                count,
                ttl_secs: 3600,
            };
            let mut whole = LastCache::new(def.clone());
            assert!(whole.offer_batch(&table));
            let mut by_row = LastCache::new(def.clone());
            for row in &table.rows {
                by_row.offer(&Line(&table, row), Source::Write);
            }
            assert_eq!(snapshot(&whole), snapshot(&by_row), "{def:?}");
        }
    }

    #[test]
    fn a_field_key_column_leaves_the_batch_to_the_row_by_row_path() {
        let mut whole = LastCache::new(LastCacheDef {
            key_columns: vec!["note".into()],
            value_columns: None,
            count: 1,
            ttl_secs: 3600,
        });
        assert!(!whole.offer_batch(&batch()));
        assert_eq!(whole.len(), 0);
    }
}
