//! A Parquet file's series index: where each series' rows are in a file sorted by series
//! then time, kept in the file's key-value metadata so that reads and cardinality skip
//! to a series without scanning tag columns.

use arrow::array::{Array, DictionaryArray, RecordBatch, StringArray};
use arrow::datatypes::Int32Type;
use parquet::file::metadata::{KeyValue, ParquetMetaData};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::types::TagMatch;

/// The key of a file's [`SeriesIndex`] in the Parquet key-value metadata. Files
/// written before it existed have none and are read with page statistics alone.
const SERIES_INDEX_KEY: &str = "sluice.series_index.v1";

/// Most series a file's [`SeriesIndex`] lists (beyond, it is left out: the footer
/// would grow with the series count).
pub(crate) const MAX_INDEXED_SERIES: usize = 50_000;

/// Where each series' rows are in a file sorted by series then time: the tag names,
/// and per series its first row, its end (exclusive) and its tag values (`None` for an
/// absent tag), in file order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SeriesIndex {
    tags: Vec<String>,
    series: Vec<(u64, u64, Vec<Option<String>>)>,
}

impl SeriesIndex {
    /// An index of no series, to extend slice by slice as a file is written.
    pub(crate) fn empty() -> SeriesIndex {
        SeriesIndex {
            tags: Vec::new(),
            series: Vec::new(),
        }
    }

    /// Whether it lists no series (a file without rows has no index).
    pub(crate) fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// How many series it lists.
    pub(crate) fn len(&self) -> usize {
        self.series.len()
    }

    /// Calls `visit` with the tag names and each series' tag values (`None`: the series
    /// lacks the tag), in file order, until it returns false.
    pub(crate) fn for_each_series(
        &self,
        mut visit: impl FnMut(&[String], &[Option<&str>]) -> bool,
    ) {
        let mut values: Vec<Option<&str>> = Vec::with_capacity(self.tags.len());
        for (_, _, series) in &self.series {
            values.clear();
            values.extend(series.iter().map(Option::as_deref));
            if !visit(&self.tags, &values) {
                break;
            }
        }
    }

    /// The index as the key-value metadata entry a Parquet footer keeps it in.
    pub(crate) fn key_value(&self) -> Result<KeyValue> {
        let json = serde_json::to_string(self).map_err(|e| Error::Catalog(e.to_string()))?;
        Ok(KeyValue::new(SERIES_INDEX_KEY.to_owned(), json))
    }

    /// The index of `batch` (sorted by series), or `None` past [`MAX_INDEXED_SERIES`].
    pub(crate) fn of_sorted(batch: &RecordBatch) -> Option<SeriesIndex> {
        let schema = batch.schema();
        // Each tag's value id per row (equal ids, equal values), and the values.
        let mut tags = Vec::new();
        let mut columns: Vec<(Vec<u32>, Vec<Option<String>>)> = Vec::new();
        for (i, f) in schema.fields().iter().enumerate() {
            let Some(d) = batch
                .column(i)
                .as_any()
                .downcast_ref::<DictionaryArray<Int32Type>>()
            else {
                continue;
            };
            let values = d.values().as_any().downcast_ref::<StringArray>()?;
            // Only the dictionary entries these rows use are looked at: a slice of a
            // batch shares the whole batch's dictionary, and walking all of it for each
            // slice made persisting a million series quadratic.
            let mut by_key: std::collections::HashMap<i32, u32> = std::collections::HashMap::new();
            let mut ids: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
            let mut names: Vec<Option<String>> = vec![None];
            let keys = d.keys();
            let mut previous: Option<(i32, u32)> = None;
            let row_ids = (0..d.len())
                .map(|r| {
                    if keys.is_null(r) {
                        return 0;
                    }
                    let k = keys.value(r);
                    // Rows come sorted by series: runs of one key are the rule.
                    if let Some((pk, id)) = previous
                        && pk == k
                    {
                        return id;
                    }
                    let id = *by_key.entry(k).or_insert_with(|| {
                        let Ok(k) = usize::try_from(k) else { return 0 };
                        if k >= values.len() || values.is_null(k) {
                            return 0;
                        }
                        let v = values.value(k);
                        *ids.entry(v).or_insert_with(|| {
                            names.push(Some(v.to_owned()));
                            names.len() as u32 - 1
                        })
                    });
                    previous = Some((k, id));
                    id
                })
                .collect();
            tags.push(f.name().clone());
            columns.push((row_ids, names));
        }
        let rows = batch.num_rows();
        let mut series = Vec::new();
        let mut start = 0usize;
        for r in 1..=rows {
            if r == rows || columns.iter().any(|(ids, _)| ids[r] != ids[start]) {
                if series.len() == MAX_INDEXED_SERIES {
                    return None;
                }
                let values = columns
                    .iter()
                    .map(|(ids, names)| names[ids[start] as usize].clone())
                    .collect();
                series.push((start as u64, r as u64, values));
                start = r;
            }
        }
        Some(SeriesIndex { tags, series })
    }

    /// Appends the index of the slice that follows this one, whose rows start at
    /// `offset`, joining a series that continues across the boundary; false when the
    /// result would list more than [`MAX_INDEXED_SERIES`] series.
    pub(crate) fn extend(&mut self, next: SeriesIndex, offset: u64) -> bool {
        if self.series.is_empty() {
            self.tags = next.tags;
        } else if self.tags != next.tags {
            return false;
        }
        for (start, end, values) in next.series {
            match self.series.last_mut() {
                Some(last) if last.1 == start + offset && last.2 == values => last.1 = end + offset,
                _ => self.series.push((start + offset, end + offset, values)),
            }
        }
        self.series.len() <= MAX_INDEXED_SERIES
    }

    /// The file's index, if it has a valid one.
    pub(crate) fn of_file(meta: &ParquetMetaData) -> Option<SeriesIndex> {
        let kv = meta.file_metadata().key_value_metadata()?;
        let value = kv
            .iter()
            .find(|kv| kv.key == SERIES_INDEX_KEY)?
            .value
            .as_ref()?;
        let index: SeriesIndex = serde_json::from_str(value).ok()?;
        let rows = u64::try_from(meta.file_metadata().num_rows()).ok()?;
        let consistent = index
            .series
            .iter()
            .all(|(s, e, v)| s < e && v.len() == index.tags.len())
            && index.series.windows(2).all(|w| w[0].1 == w[1].0)
            && index.series.last().is_none_or(|l| l.1 == rows);
        consistent.then_some(index)
    }

    /// Row ranges (file order, one per series) of the series every one of `tag_matches`
    /// matches, cut to each series' last `newest` rows when set.
    pub(crate) fn matching(
        &self,
        tag_matches: &[TagMatch],
        newest: Option<usize>,
    ) -> Vec<std::ops::Range<usize>> {
        self.matching_series(tag_matches, newest)
            .into_iter()
            .map(|(rows, _)| rows)
            .collect()
    }

    /// [`SeriesIndex::matching`], each range with its series' position in the index.
    fn matching_series(
        &self,
        tag_matches: &[TagMatch],
        newest: Option<usize>,
    ) -> Vec<(std::ops::Range<usize>, usize)> {
        let cols: Vec<Option<usize>> = tag_matches
            .iter()
            .map(|m| self.tags.iter().position(|t| t == m.key()))
            .collect();
        let mut out = Vec::new();
        for (i, (start, end, values)) in self.series.iter().enumerate() {
            let ok = tag_matches
                .iter()
                .zip(&cols)
                .all(|(m, c)| c.is_some_and(|c| m.matches(values[c].as_deref())));
            if ok {
                let (start, end) = (*start as usize, *end as usize);
                let start = newest.map_or(start, |k| start.max(end.saturating_sub(k)));
                out.push((start..end, i));
            }
        }
        out
    }

    /// The rows of the series every one of `tag_matches` matches (each cut to its last
    /// `newest` rows when set), with their tag columns built from the index: what a read
    /// of those rows needs to decode of the file is only its other columns.
    pub(crate) fn selection(&self, tag_matches: &[TagMatch], newest: Option<usize>) -> Selection {
        let ranges = self.matching_series(tag_matches, newest);
        // Per tag, the distinct values of the selected series (a dictionary) and each
        // selected series' key into it.
        let mut dictionaries = Vec::with_capacity(self.tags.len());
        for t in 0..self.tags.len() {
            let mut values: Vec<&str> = Vec::new();
            let mut keys: Vec<Option<i32>> = Vec::with_capacity(ranges.len());
            let mut seen: std::collections::HashMap<&str, i32> = std::collections::HashMap::new();
            for (_, s) in &ranges {
                keys.push(self.series[*s].2[t].as_deref().map(|v| {
                    *seen.entry(v).or_insert_with(|| {
                        values.push(v);
                        values.len() as i32 - 1
                    })
                }));
            }
            dictionaries.push((std::sync::Arc::new(StringArray::from(values)), keys));
        }
        Selection {
            tags: self.tags.clone(),
            rows: ranges.into_iter().map(|(rows, _)| rows).collect(),
            dictionaries,
        }
    }
}

/// Rows of a file chosen through its [`SeriesIndex`], and their tag values.
#[derive(Debug)]
pub(crate) struct Selection {
    /// The file's tag names.
    pub(crate) tags: Vec<String>,
    /// The selected rows, one range per series, in file order.
    pub(crate) rows: Vec<std::ops::Range<usize>>,
    /// Per tag (as `tags`), the values of the selected series and each one's key into
    /// them (as `rows`; `None` where the series lacks the tag).
    dictionaries: Vec<(std::sync::Arc<StringArray>, Vec<Option<i32>>)>,
}

impl Selection {
    /// Keeps only the selected rows within `keep` (ascending, disjoint file row ranges),
    /// a series' rows split where `keep` splits them; their tags stay those of their
    /// series.
    pub(crate) fn narrow(&mut self, keep: &[std::ops::Range<usize>]) {
        let mut rows = Vec::with_capacity(self.rows.len());
        // The series (index into the old `rows`) each new range belongs to.
        let mut of_series = Vec::with_capacity(self.rows.len());
        let mut first = 0usize;
        for (s, range) in self.rows.iter().enumerate() {
            while first < keep.len() && keep[first].end <= range.start {
                first += 1;
            }
            for k in keep[first..].iter().take_while(|k| k.start < range.end) {
                let (start, end) = (range.start.max(k.start), range.end.min(k.end));
                if start < end {
                    rows.push(start..end);
                    of_series.push(s);
                }
            }
        }
        for (_, keys) in &mut self.dictionaries {
            *keys = of_series.iter().map(|&s| keys[s]).collect();
        }
        self.rows = rows;
    }

    /// The tag columns named by `wanted` of `len` selected rows from the `offset`-th on
    /// (counting the selected rows in order), as the dictionaries scans return.
    pub(crate) fn tag_columns(
        &self,
        offset: usize,
        len: usize,
        wanted: impl Fn(&str) -> bool,
    ) -> Vec<(String, DictionaryArray<Int32Type>)> {
        // The series (index into `rows`) of each of the `len` rows.
        let mut series = Vec::with_capacity(len);
        let mut skipped = 0usize;
        for (s, range) in self.rows.iter().enumerate() {
            if series.len() == len {
                break;
            }
            let n = range.len();
            let from = offset.saturating_sub(skipped).min(n);
            skipped += n;
            let take = (n - from).min(len - series.len());
            series.extend(std::iter::repeat_n(s, take));
        }
        self.tags
            .iter()
            .zip(&self.dictionaries)
            .filter(|(name, _)| wanted(name))
            .map(|(name, (values, keys))| {
                let keys: arrow::array::Int32Array = series.iter().map(|&s| keys[s]).collect();
                let column = DictionaryArray::<Int32Type>::try_new(keys, values.clone())
                    .expect("keys index the values they were made with");
                (name.clone(), column)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::Float64Array;
    use sluice_lp::FieldType;

    use arrow::array::TimestampNanosecondArray;
    use bytes::Bytes;
    use parquet::arrow::ArrowWriter;

    use super::*;
    use crate::merge::TableSchema;
    use crate::persist::{FileData, RowBytes, encode, filter, load_metadata, read};

    fn schema() -> TableSchema {
        TableSchema {
            tags: vec!["dc".into(), "host".into()],
            fields: vec![("v".into(), FieldType::Float)],
        }
    }

    /// Series sorted by (dc, host) whose hosts are not in name order, so page statistics
    /// of `host` straddle series and only the index finds a host's rows exactly.
    fn batch() -> RecordBatch {
        let series: Vec<(Option<&str>, &str)> = vec![
            (None, "m"),
            (Some("a"), "b"),
            (Some("a"), "z"),
            (Some("b"), "c"),
            (Some("b"), "q"),
        ];
        let per = 5_000usize;
        let dc: DictionaryArray<Int32Type> = series
            .iter()
            .flat_map(|s| std::iter::repeat_n(s.0, per))
            .collect();
        let host: DictionaryArray<Int32Type> = series
            .iter()
            .flat_map(|s| std::iter::repeat_n(Some(s.1), per))
            .collect();
        let v: Float64Array = (0..series.len() * per).map(|i| Some(i as f64)).collect();
        let t = TimestampNanosecondArray::from_iter_values(
            (0..series.len()).flat_map(|_| (0..per as i64).map(|i| i * 10)),
        );
        RecordBatch::try_new(
            schema().arrow_schema(),
            vec![Arc::new(dc), Arc::new(host), Arc::new(v), Arc::new(t)],
        )
        .unwrap()
    }

    fn read_bytes(bytes: Vec<u8>, range: Option<(i64, i64)>, tags: &[TagMatch]) -> RecordBatch {
        let data = FileData::Bytes(Bytes::from(bytes));
        let meta = load_metadata(&data).unwrap();
        let held = RowBytes::default();
        let out = read(
            data,
            meta,
            &schema().arrow_schema(),
            range,
            tags,
            &[],
            None,
            &held,
        )
        .unwrap();
        arrow::compute::concat_batches(&schema().arrow_schema(), &out).unwrap()
    }

    #[test]
    fn the_series_index_lists_each_series_rows_and_tags_in_file_order() {
        let bytes = encode(&batch()).unwrap();
        let meta = load_metadata(&FileData::Bytes(Bytes::from(bytes))).unwrap();
        let index = meta.series.expect("series index written");
        assert_eq!(index.tags, vec!["dc".to_owned(), "host".to_owned()]);
        let starts: Vec<(u64, u64)> = index.series.iter().map(|s| (s.0, s.1)).collect();
        assert_eq!(
            starts,
            vec![
                (0, 5000),
                (5000, 10000),
                (10000, 15000),
                (15000, 20000),
                (20000, 25000)
            ]
        );
        assert_eq!(index.series[0].2, vec![None, Some("m".to_owned())]);
        assert_eq!(
            index.matching(&[TagMatch::equals("host", "q")], None),
            vec![20000..25000]
        );
        assert_eq!(
            index.matching(&[TagMatch::equals("dc", "a")], None),
            vec![5000..10000, 10000..15000]
        );
        assert_eq!(
            index.matching(&[TagMatch::equals("dc", "b")], Some(2)),
            vec![19998..20000, 24998..25000]
        );
        assert!(
            index
                .matching(&[TagMatch::equals("rack", "1")], None)
                .is_empty()
        );
    }

    #[test]
    fn files_with_and_without_a_series_index_answer_predicates_alike() {
        let b = batch();
        let with_index = encode(&b).unwrap();
        // A file as written before the index existed: default writer settings, no
        // key-value metadata.
        let mut old = Vec::new();
        let mut w = ArrowWriter::try_new(&mut old, b.schema(), None).unwrap();
        w.write(&b).unwrap();
        w.close().unwrap();
        type Case = (Option<(i64, i64)>, Vec<TagMatch>);
        let one_of = |k: &str, vs: &[&str]| TagMatch::one_of(k, vs.iter().map(|v| v.to_string()));
        let cases: Vec<Case> = vec![
            (None, vec![TagMatch::equals("host", "q")]),
            (Some((100, 20_000)), vec![TagMatch::equals("host", "b")]),
            (Some((100, 200)), vec![TagMatch::equals("dc", "b")]),
            (
                None,
                vec![TagMatch::equals("dc", "a"), TagMatch::equals("host", "z")],
            ),
            (None, vec![TagMatch::equals("host", "nope")]),
            (Some((49_990, 60_000)), vec![]),
            (None, vec![one_of("host", &["q", "b", "nope"])]),
            (
                Some((100, 30_000)),
                vec![one_of("host", &["z", "b"]), one_of("dc", &["a", "b"])],
            ),
            (None, vec![one_of("host", &[])]),
            // Ranges that start and end inside pages, and cross page boundaries.
            (Some((30_000, 45_000)), vec![TagMatch::equals("dc", "a")]),
            (Some((40_950, 40_970)), vec![one_of("host", &["m", "c"])]),
            (Some((0, 1)), vec![TagMatch::equals("host", "z")]),
            (Some((60_000, 70_000)), vec![TagMatch::equals("host", "z")]),
        ];
        for (range, tags) in cases {
            let expected = filter(&b, range, &tags).unwrap();
            assert_eq!(
                read_bytes(with_index.clone(), range, &tags),
                expected,
                "{range:?} {tags:?}"
            );
            assert_eq!(
                read_bytes(old.clone(), range, &tags),
                expected,
                "{range:?} {tags:?}"
            );
        }
    }

    #[test]
    fn newest_rows_per_series_read_through_the_index_carry_their_tags() {
        let b = batch();
        let bytes = Bytes::from(encode(&b).unwrap());
        let cases: Vec<Vec<TagMatch>> = vec![
            vec![],
            vec![TagMatch::equals("host", "q")],
            vec![TagMatch::equals("dc", "a")],
            vec![TagMatch::equals("dc", "nope")],
        ];
        for tags in cases {
            let data = FileData::Bytes(bytes.clone());
            let meta = load_metadata(&data).unwrap();
            let out = read(
                data,
                meta,
                &schema().arrow_schema(),
                None,
                &tags,
                &[],
                Some(2),
                &RowBytes::default(),
            )
            .unwrap();
            let got = arrow::compute::concat_batches(&schema().arrow_schema(), &out).unwrap();
            let matching = filter(&b, None, &tags).unwrap();
            let expected =
                crate::merge::merge_keep_last(&schema(), vec![matching], Some(2), None).unwrap();
            assert_eq!(got, expected, "{tags:?}");
        }
    }

    #[test]
    fn a_narrowed_selection_keeps_each_pieces_series_tags() {
        let bytes = encode(&batch()).unwrap();
        let meta = load_metadata(&FileData::Bytes(Bytes::from(bytes))).unwrap();
        let index = meta.series.expect("series index written");
        // Hosts b (rows 5000..10000) and z (10000..15000).
        let mut selection = index.selection(&[TagMatch::equals("dc", "a")], None);
        selection.narrow(&[4000..6000, 9000..11000, 14_000..20_000]);
        assert_eq!(
            selection.rows,
            vec![5000..6000, 9000..10000, 10000..11000, 14_000..15_000]
        );
        let hosts = |offset: usize| {
            let columns = selection.tag_columns(offset, 1, |_| true);
            let (_, host) = columns.iter().find(|(n, _)| n == "host").unwrap();
            let values = host
                .values()
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap();
            values.value(host.keys().value(0) as usize).to_owned()
        };
        // Rows 0..1000 are b, 1000..2000 b, 2000..3000 z, 3000..4000 z.
        assert_eq!(
            [0, 1999, 2000, 3999].map(hosts),
            ["b", "b", "z", "z"].map(str::to_owned)
        );
        selection.narrow(&[]);
        assert!(selection.rows.is_empty());
    }

    #[test]
    fn a_selections_tag_columns_follow_its_series_from_any_offset() {
        let bytes = encode(&batch()).unwrap();
        let meta = load_metadata(&FileData::Bytes(Bytes::from(bytes))).unwrap();
        let index = meta.series.expect("series index written");
        // Three rows of each series: m m m b b b z z z c c c q q q.
        let selection = index.selection(&[], Some(3));
        let columns = selection.tag_columns(4, 7, |_| true);
        let values = |name: &str| -> Vec<Option<String>> {
            let (_, column) = columns.iter().find(|(n, _)| n == name).unwrap();
            let values = column
                .values()
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap();
            column
                .keys()
                .iter()
                .map(|k| k.map(|k| values.value(k as usize).to_owned()))
                .collect()
        };
        let some = |v: &[&str]| v.iter().map(|s| Some((*s).to_owned())).collect::<Vec<_>>();
        assert_eq!(values("host"), some(&["b", "b", "z", "z", "z", "c", "c"]));
        assert_eq!(values("dc"), some(&["a", "a", "a", "a", "a", "b", "b"]));
        assert_eq!(
            selection.tag_columns(0, 1, |_| true)[0]
                .1
                .keys()
                .null_count(),
            1,
            "m has no dc"
        );
        assert_eq!(selection.tag_columns(14, 1, |_| true)[1].1.len(), 1);
        let only_host = selection.tag_columns(0, 3, |name| name == "host");
        assert_eq!(only_host.len(), 1);
        assert_eq!(only_host[0].0, "host");
    }
}
