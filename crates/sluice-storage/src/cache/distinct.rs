//! A distinct-value cache: the distinct combinations of a few tag or string columns'
//! values, each with the newest row time it was seen at.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};

use super::{DistinctCacheDef, RowSource, cutoff, next_generation};
use crate::batch::{ColumnType, TableBatch, Value};

/// The values of one combination, in the order of the cache's columns.
type Combination = Vec<Option<String>>;

#[derive(Debug)]
pub(crate) struct DistinctCache {
    pub(crate) def: DistinctCacheDef,
    /// Each combination seen, with the newest time it was seen at.
    combinations: BTreeMap<Combination, i64>,
    /// Bumped each time the cache is emptied, so a fill that read storage before can
    /// tell its rows may be stale.
    pub(crate) generation: u64,
    /// Filled from storage since it was created or last emptied.
    filled: bool,
    /// Since then, a combination may have been evicted (max age or max cardinality).
    lost: bool,
}

impl DistinctCache {
    pub(crate) fn new(def: DistinctCacheDef) -> DistinctCache {
        DistinctCache {
            def,
            combinations: BTreeMap::new(),
            generation: next_generation(),
            filled: false,
            lost: false,
        }
    }

    /// Forgets every combination (until the next fill).
    pub(crate) fn clear(&mut self) {
        self.combinations.clear();
        self.generation = next_generation();
        self.filled = false;
        self.lost = false;
    }

    /// Whether the cache holds every combination storage holds.
    pub(crate) fn is_complete(&self) -> bool {
        self.filled && !self.lost
    }

    /// Records the row's combination (a row with none of the columns has none).
    pub(crate) fn offer(&mut self, row: &dyn RowSource) {
        let combination: Combination = self
            .def
            .columns
            .iter()
            .map(|c| match row.get(c) {
                Some(Value::String(s)) => Some(s),
                _ => None,
            })
            .collect();
        self.record(combination, row.time());
    }

    /// Records the combinations of every row of a logged batch, as [`DistinctCache::offer`]
    /// does row by row, but once per series: its newest row's time for the combination
    /// of its tags. Returns false, offering nothing, when a cache column is a field in
    /// this batch (the combination is then the row's: offer the rows one by one).
    pub(crate) fn offer_batch(&mut self, table: &TableBatch) -> bool {
        // Where each of the batch's columns goes in a combination.
        let mut position = vec![None; table.columns.len()];
        for (id, (name, kind)) in table.columns.iter().enumerate() {
            if let Some(p) = self.def.columns.iter().position(|c| c == name) {
                if matches!(kind, ColumnType::Field(_)) {
                    return false;
                }
                position[id] = Some(p);
            }
        }
        let mut newest: Vec<Option<i64>> = vec![None; table.series_count()];
        for row in &table.rows {
            let t = &mut newest[row.series as usize];
            *t = Some(t.map_or(row.time, |t| t.max(row.time)));
        }
        for (series, time) in newest.iter().enumerate() {
            let Some(time) = *time else { continue };
            let mut combination: Combination = vec![None; self.def.columns.len()];
            for (column, value) in table.series_tags(series as u32) {
                if let Some(p) = position[column as usize] {
                    combination[p] = Some(value.to_owned());
                }
            }
            self.record(combination, time);
        }
        true
    }

    /// Records that `combination` was seen at `time`.
    fn record(&mut self, combination: Combination, time: i64) {
        if combination.iter().all(Option::is_none) {
            return;
        }
        let seen = self.combinations.entry(combination).or_insert(time);
        *seen = (*seen).max(time);
        if self.combinations.len() > self.def.max_cardinality {
            self.shrink();
        }
    }

    /// Over `max_cardinality`: evicts the least recently seen tenth of it, so that the
    /// eviction (a sort) runs once per that many new combinations.
    fn shrink(&mut self) {
        let max = self.def.max_cardinality;
        let target = max - max / 10;
        let mut by_age: Vec<(i64, Combination)> = self
            .combinations
            .iter()
            .map(|(c, t)| (*t, c.clone()))
            .collect();
        by_age.sort_unstable();
        let excess = self.combinations.len().saturating_sub(target);
        for (_, combination) in by_age.into_iter().take(excess) {
            self.combinations.remove(&combination);
        }
        self.lost = true;
    }

    /// Ends a fill from storage that read every row (`complete`) or only the recent ones.
    pub(crate) fn fill_done(&mut self, complete: bool, now_ns: i64) {
        self.filled = true;
        self.lost |= !complete;
        self.evict(now_ns);
    }

    /// Drops the combinations last seen before the max age.
    pub(crate) fn evict(&mut self, now_ns: i64) {
        let oldest = cutoff(now_ns, self.def.max_age_secs);
        let before = self.combinations.len();
        self.combinations.retain(|_, t| *t >= oldest);
        self.lost |= self.combinations.len() < before;
    }

    /// The combinations seen at or after `min_time` as `distinct_cache()` shows them:
    /// one `Utf8` column per cache column, sorted.
    pub(crate) fn to_batch(&self, min_time: i64) -> arrow::error::Result<RecordBatch> {
        let rows: Vec<&Combination> = self
            .combinations
            .iter()
            .filter(|(_, t)| **t >= min_time)
            .map(|(c, _)| c)
            .collect();
        let fields: Vec<Field> = self
            .def
            .columns
            .iter()
            .map(|c| Field::new(c, DataType::Utf8, true))
            .collect();
        let arrays: Vec<ArrayRef> = (0..fields.len())
            .map(|i| {
                Arc::new(StringArray::from_iter(rows.iter().map(|r| r[i].as_deref()))) as ArrayRef
            })
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
    }

    /// The distinct non-empty values of `column` among the combinations seen at or after
    /// `min_time`; `None` when the cache is not complete or has no such column.
    pub(crate) fn values_of(&self, column: &str, min_time: i64) -> Option<BTreeSet<String>> {
        if !self.is_complete() {
            return None;
        }
        let i = self.def.columns.iter().position(|c| c == column)?;
        Some(
            self.combinations
                .iter()
                .filter(|(_, t)| **t >= min_time)
                .filter_map(|(c, _)| c[i].clone())
                .filter(|v| !v.is_empty())
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Tags(i64, Vec<(&'static str, &'static str)>);

    impl RowSource for Tags {
        fn time(&self) -> i64 {
            self.0
        }

        fn get(&self, column: &str) -> Option<Value> {
            self.1
                .iter()
                .find(|(k, _)| *k == column)
                .map(|(_, v)| Value::String((*v).to_owned()))
        }

        fn each(&self, _: &dyn Fn(&str) -> bool, _: &mut dyn FnMut(&str, Value)) {}
    }

    fn cache(max_cardinality: usize) -> DistinctCache {
        let mut c = DistinctCache::new(DistinctCacheDef {
            columns: vec!["region".into(), "host".into()],
            max_cardinality,
            max_age_secs: 10,
        });
        c.fill_done(true, 0);
        c
    }

    #[test]
    fn combinations_are_distinct_and_sorted_and_values_of_a_column_deduplicate() {
        let mut c = cache(100);
        c.offer(&Tags(1, vec![("region", "west"), ("host", "b")]));
        c.offer(&Tags(2, vec![("region", "east"), ("host", "a")]));
        c.offer(&Tags(3, vec![("region", "west"), ("host", "b")]));
        c.offer(&Tags(4, vec![("region", "west"), ("host", "a")]));
        c.offer(&Tags(5, vec![("other", "x")]));
        let batch = c.to_batch(i64::MIN).unwrap();
        assert_eq!(batch.num_rows(), 3);
        let regions = c.values_of("region", i64::MIN).unwrap();
        assert_eq!(regions.into_iter().collect::<Vec<_>>(), ["east", "west"]);
        assert!(c.is_complete());
    }

    #[test]
    fn max_cardinality_evicts_the_least_recently_seen_and_loses_completeness() {
        let mut c = cache(10);
        for (t, host) in ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"]
            .into_iter()
            .enumerate()
        {
            c.offer(&Tags(t as i64, vec![("region", "r"), ("host", host)]));
        }
        let hosts = c.combinations.keys().map(|k| k[1].clone().unwrap());
        assert_eq!(
            hosts.collect::<Vec<_>>(),
            ["c", "d", "e", "f", "g", "h", "i", "j", "k"]
        );
        assert!(!c.is_complete());
        assert!(c.values_of("host", i64::MIN).is_none());
    }

    #[test]
    fn max_age_evicts_by_row_time() {
        let mut c = cache(100);
        let second = 1_000_000_000;
        c.offer(&Tags(second, vec![("host", "old")]));
        c.offer(&Tags(100 * second, vec![("host", "new")]));
        c.evict(105 * second);
        assert_eq!(c.combinations.len(), 1);
        assert!(!c.is_complete());
    }

    #[test]
    fn a_batch_offered_whole_leaves_the_cache_as_row_by_row_offers_do() {
        use crate::cache::last::batch_tests::{Line, batch};
        let table = batch();
        for columns in [
            vec!["host"],
            vec!["region", "host"],
            vec!["region"],
            vec!["x"],
        ] {
            let def = DistinctCacheDef {
                columns: columns.iter().map(|c| c.to_string()).collect(),
                max_cardinality: 100,
                max_age_secs: 3600,
            };
            let mut whole = DistinctCache::new(def.clone());
            assert!(whole.offer_batch(&table));
            let mut by_row = DistinctCache::new(def.clone());
            for row in &table.rows {
                by_row.offer(&Line(&table, row));
            }
            assert_eq!(whole.combinations, by_row.combinations, "{columns:?}");
        }
        // A string field among the columns: the rows' own values, row by row.
        let mut whole = DistinctCache::new(DistinctCacheDef {
            columns: vec!["host".into(), "note".into()],
            max_cardinality: 100,
            max_age_secs: 3600,
        });
        assert!(!whole.offer_batch(&table));
        assert!(whole.combinations.is_empty());
    }
}
