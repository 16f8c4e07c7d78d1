//! Cardinality: which tables, tag keys and tag values make the most series, counted from
//! the series the buffer keeps and the series of each live Parquet file (its footer's
//! series index, else its tag columns read batch by batch), never from rows.
//!
//! ```text
//! buffer partitions ──series──┐
//!                              ├─► dedup by series hash (≤ max_series) ─► counts per
//! Parquet files ──series──────┘     table / tag key / tag value ─► top `limit` of each
//! ```

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use super::{Storage, blocking, now_ns, peers, scan};
use crate::buffer::TagSets;
use crate::error::{Error, Result};
use crate::manifest::ParquetFile;
use crate::persist;
use crate::types::{
    Cardinality, CardinalityRequest, TableCardinality, TagKeyCardinality, TagValueCardinality,
};

/// Counts per table while series are visited.
#[derive(Debug, Default)]
struct TableCount {
    series: u64,
    /// Per tag key: series carrying it, and series per value.
    keys: HashMap<String, (u64, HashMap<Box<str>, u64>)>,
}

/// Distinct series seen so far and what they count for.
#[derive(Debug)]
struct Counter {
    seen: HashSet<u64>,
    max_series: usize,
    truncated: bool,
    tables: Vec<(String, TableCount)>,
}

impl Counter {
    /// Counts the series of table `t` with tags `pairs` (absent tags left out) unless
    /// it was seen; false once `max_series` series were counted and a new one came.
    fn add(&mut self, t: usize, pairs: &mut Vec<(&str, &str)>) -> bool {
        pairs.sort_unstable();
        // Deterministic (SipHash with fixed keys): a series hashes the same from any source.
        let mut h = DefaultHasher::new();
        t.hash(&mut h);
        for (k, v) in pairs.iter() {
            k.hash(&mut h);
            v.hash(&mut h);
        }
        let hash = h.finish();
        if self.seen.contains(&hash) {
            return true;
        }
        if self.seen.len() >= self.max_series {
            self.truncated = true;
            return false;
        }
        self.seen.insert(hash);
        let table = &mut self.tables[t].1;
        table.series += 1;
        for (k, v) in pairs.iter() {
            let key = match table.keys.get_mut(*k) {
                Some(key) => key,
                None => table.keys.entry((*k).to_owned()).or_default(),
            };
            key.0 += 1;
            match key.1.get_mut(*v) {
                Some(n) => *n += 1,
                None => {
                    key.1.insert((*v).into(), 1);
                }
            }
        }
        true
    }

    fn finish(self, limit: usize) -> Cardinality {
        let mut tables = Vec::new();
        let mut tag_keys = Vec::new();
        let mut tag_values = Vec::new();
        for (name, count) in self.tables {
            if count.series == 0 {
                continue;
            }
            tables.push(TableCardinality {
                table: name.clone(),
                series: count.series,
            });
            for (key, (series, values)) in count.keys {
                tag_keys.push(TagKeyCardinality {
                    table: name.clone(),
                    key: key.clone(),
                    values: values.len() as u64,
                    series,
                });
                tag_values.extend(
                    values
                        .into_iter()
                        .map(|(value, series)| TagValueCardinality {
                            table: name.clone(),
                            key: key.clone(),
                            value: value.into(),
                            series,
                        }),
                );
            }
        }
        tables.sort_by(|a, b| b.series.cmp(&a.series).then_with(|| a.table.cmp(&b.table)));
        tables.truncate(limit);
        tag_keys.sort_by(|a, b| {
            (b.values, b.series)
                .cmp(&(a.values, a.series))
                .then_with(|| (&a.table, &a.key).cmp(&(&b.table, &b.key)))
        });
        tag_keys.truncate(limit);
        let by_rank = |a: &TagValueCardinality, b: &TagValueCardinality| {
            b.series
                .cmp(&a.series)
                .then_with(|| (&a.table, &a.key, &a.value).cmp(&(&b.table, &b.key, &b.value)))
        };
        // Only the top `limit` values are sorted.
        if tag_values.len() > limit && limit > 0 {
            tag_values.select_nth_unstable_by(limit - 1, by_rank);
        }
        tag_values.truncate(limit);
        tag_values.sort_by(by_rank);
        Cardinality {
            series: self.seen.len() as u64,
            truncated: self.truncated,
            tables,
            tag_keys,
            tag_values,
        }
    }
}

impl Storage {
    /// At most how many series the largest source of table `table` holds, as far as
    /// can be told without reading anything: a buffered partition's series, and per live
    /// Parquet file whose footer is cached, its series index's length, or its rows when
    /// it has no index (it then has more series than an index lists). Files whose footer
    /// is not cached count for nothing. A sign of how many distinct tag values a scan of
    /// the table meets; 0 for an unknown database or table.
    pub fn most_series_in_a_source(&self, db: &str, table: &str) -> u64 {
        let inner = &self.inner;
        let Ok(db_id) = inner.catalog.lock().database(db).map(|d| d.id) else {
            return 0;
        };
        let (buffered, files) = {
            let state = inner.state.read();
            let buffered = state
                .partitions(db_id, table)
                .map(|(_, p)| p.series_count() as u64)
                .max()
                .unwrap_or(0);
            let files: Vec<(String, u64)> = state
                .manifest
                .table_files(db_id, table)
                .into_iter()
                .map(|f| (f.path.clone(), f.rows))
                .collect();
            (buffered, files)
        };
        let cached = inner.file_metadata.lock();
        files
            .iter()
            .filter_map(|(path, rows)| {
                let meta = cached.get(path)?;
                Some(meta.series.as_ref().map_or(*rows, |s| s.len() as u64))
            })
            .fold(buffered, u64::max)
    }

    /// Ranks the tables of storage database `db` (or only `request.table`) by their
    /// series, their tag keys by distinct values and their tag values by series, the top
    /// `request.limit` of each, as vmui's cardinality explorer does. Series are counted
    /// once however many partitions and files hold them; expired days are left out.
    ///
    /// Reads no rows: the buffer's series lists, and per Parquet file its series index
    /// (files over 50,000 series have none; their tag columns are read instead).
    /// Memory grows with the series counted, up to `request.max_series`.
    ///
    /// # Errors
    /// [`Error::DatabaseNotFound`], [`Error::TableNotFound`], [`Error::ObjectStore`] /
    /// [`Error::Parquet`] when a file cannot be read.
    pub async fn cardinality(&self, db: &str, request: &CardinalityRequest) -> Result<Cardinality> {
        let mut attempt = 0;
        loop {
            match self.cardinality_once(db, request).await {
                // A file compacted or expired away meanwhile: its series are in the
                // files that replaced it; count again.
                Err(Error::ObjectStore(object_store::Error::NotFound { .. })) if attempt < 3 => {
                    attempt += 1;
                    peers::after_missing_file(&self.inner).await?;
                }
                other => return other,
            }
        }
    }

    async fn cardinality_once(
        &self,
        db: &str,
        request: &CardinalityRequest,
    ) -> Result<Cardinality> {
        let inner = &self.inner;
        let (db_id, first_kept_day, names) = {
            let catalog = inner.catalog.lock();
            let def = catalog.database(db)?;
            let names: Vec<String> = match &request.table {
                Some(t) if def.tables.contains_key(t) => vec![t.clone()],
                Some(t) => {
                    return Err(Error::TableNotFound {
                        database: db.to_owned(),
                        table: t.clone(),
                    });
                }
                None => def.tables.keys().cloned().collect(),
            };
            (
                def.id,
                def.first_kept_day(now_ns()).unwrap_or(i64::MIN),
                names,
            )
        };
        let mut counter = Counter {
            seen: HashSet::new(),
            max_series: request.max_series,
            truncated: false,
            tables: names
                .iter()
                .map(|n| (n.clone(), TableCount::default()))
                .collect(),
        };
        for (t, name) in names.iter().enumerate() {
            // The buffer's series, copied out (each partition's tag sets and strings,
            // a few vectors) so the state lock is not held while they are counted.
            let (files, buffered): (Vec<ParquetFile>, Vec<TagSets>) = {
                let state = inner.state.read();
                let files = state
                    .manifest
                    .table_files(db_id, name)
                    .into_iter()
                    .filter(|f| f.day >= first_kept_day)
                    .cloned()
                    .collect();
                let buffered = state
                    .partitions(db_id, name)
                    .filter(|(day, _)| *day >= first_kept_day)
                    .map(|(_, p)| p.tag_sets())
                    .collect();
                (files, buffered)
            };
            let mut pairs = Vec::new();
            for tags in buffered.iter().flat_map(TagSets::iter) {
                pairs.clear();
                pairs.extend(tags);
                if !counter.add(t, &mut pairs) {
                    return Ok(counter.finish(request.limit));
                }
            }
            drop(buffered);
            for file in files {
                let data = inner.open_file(&file.path).await?;
                let cached = inner.file_metadata.lock().get(&file.path).cloned();
                let metrics = inner.metrics.clone();
                let (back, full) = blocking("cardinality", move || {
                    let metadata = scan::footer(cached, &data, &metrics)?;
                    let mut full = false;
                    persist::for_each_series(data, metadata, |tags, values| {
                        let mut pairs: Vec<(&str, &str)> = tags
                            .iter()
                            .zip(values)
                            .filter_map(|(k, v)| v.map(|v| (k.as_str(), v)))
                            .collect();
                        full = !counter.add(t, &mut pairs);
                        !full
                    })?;
                    Ok((counter, full))
                })
                .await?;
                counter = back;
                if full {
                    return Ok(counter.finish(request.limit));
                }
            }
        }
        Ok(counter.finish(request.limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(max_series: usize) -> Counter {
        Counter {
            seen: HashSet::new(),
            max_series,
            truncated: false,
            tables: vec![("cpu".into(), TableCount::default())],
        }
    }

    #[test]
    fn a_series_counts_once_whatever_the_order_of_its_tags() {
        let mut c = counter(10);
        assert!(c.add(0, &mut vec![("host", "a"), ("dc", "x")]));
        assert!(c.add(0, &mut vec![("dc", "x"), ("host", "a")]));
        assert!(c.add(0, &mut vec![("dc", "x"), ("host", "b")]));
        let out = c.finish(10);
        assert_eq!(out.series, 2);
        assert_eq!(out.tag_keys[0].key, "host");
        assert_eq!((out.tag_keys[0].values, out.tag_keys[0].series), (2, 2));
        assert_eq!(out.tag_values[0].value, "x");
        assert_eq!(out.tag_values[0].series, 2);
    }

    #[test]
    fn counting_stops_at_max_series_and_says_so() {
        let mut c = counter(2);
        assert!(c.add(0, &mut vec![("host", "a")]));
        assert!(c.add(0, &mut vec![("host", "b")]));
        assert!(c.add(0, &mut vec![("host", "a")]), "seen series still pass");
        assert!(!c.add(0, &mut vec![("host", "c")]));
        let out = c.finish(1);
        assert!(out.truncated);
        assert_eq!(out.series, 2);
        assert_eq!(out.tag_values.len(), 1);
        assert_eq!(out.tag_values[0].value, "a", "ties rank by value");
    }
}
