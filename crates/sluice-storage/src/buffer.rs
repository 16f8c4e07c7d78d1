//! The write buffer: per database, table and UTC day, columnar and series-aware, merging
//! rows of the same series and time field by field (last write wins).

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use sluice_lp::FieldType;

use crate::batch::{BatchRef, ColumnType, ColumnValues, TableRef};
use crate::catalog::day_of;
use crate::encoding;
use crate::predicate::DeleteOp;
use crate::recent::RecentValues;

mod column;
mod index;
mod read;
mod tags;

pub(crate) use read::SortedRows;
pub(crate) use tags::TagSets;
use tags::{SeriesTags, Strings, Tags, tag_value};

use column::{FieldColumn, capacity_bytes, retain_by_mask};
use index::{IdIndex, Short};

/// How far from the end of a sorted series' row list a late row is still inserted in place
/// (a memmove of at most this many entries); later than that, the series becomes unsorted.
const MAX_SORTED_SHIFT: usize = 1024;

/// Where a row of a series goes.
enum Slot {
    /// The series already has a row at this time.
    Row(usize),
    /// A new row, at this position of the sorted series' row list.
    SortedAt(usize),
    /// A new row of an unsorted series.
    Unsorted,
}

/// Buffered data of all databases.
#[derive(Debug, Default, Clone)]
pub(crate) struct Buffer {
    pub(crate) dbs: HashMap<u32, BTreeMap<String, TableBuffer>>,
    /// Heap bytes held: the sum of the partitions' [`PartitionBuffer::bytes`].
    pub(crate) bytes: usize,
}

/// One table's buffered partitions by UTC day.
#[derive(Debug, Default, Clone)]
pub(crate) struct TableBuffer {
    pub(crate) partitions: BTreeMap<i64, PartitionBuffer>,
}

/// The rows of one table in one UTC day.
#[derive(Debug, Default, Clone)]
pub(crate) struct PartitionBuffer {
    /// Series ids with 32 bits of the hash of their tags ([`tags_hash`], [`Short`]), found
    /// by those; the tags are compared in `series`. The bits are kept so that growing the
    /// table does not hash every series' tags again.
    series_index: IdIndex,
    /// Tags of each series, sorted by name, as ids of `strings`: a series takes 4 bytes a
    /// tag (its key list is shared), and every distinct key or value is kept once (but
    /// see [`KeyValues`]).
    series: SeriesTags,
    /// Every tag key and value of the partition's series, once, by id (a value of a key
    /// whose values skip `string_ids` may be there twice).
    strings: Strings,
    /// The ids of `strings` with 32 bits of the hash of their text, found by those (kept,
    /// so that growing the table does not read and hash every string again).
    string_ids: IdIndex,
    /// The ids of the tag keys of the partition's series, sorted by their text: its
    /// schema's tags without a walk over every series.
    tag_keys: Vec<u32>,
    /// How the values of each tag key (by its string id) fared when looked up in
    /// `string_ids`, and whether new ones skip it (see [`KeyValues`]).
    key_values: HashMap<u32, KeyValues>,
    /// Whether some tag values were added without `string_ids`, so that two strings may
    /// have the same text (ranks then give them one rank).
    repeated_texts: bool,
    /// Row index by (series, time) of the unsorted series (see `series_sorted`), hashed
    /// with [`row_hash`]; the key is read from `series_of_row` and `time`. Rows of sorted
    /// series (the usual case) are found by binary search in `series_rows` instead, and
    /// cost neither the hashing nor the index's memory.
    rows: hashbrown::HashTable<u32>,
    hasher: hashbrown::DefaultHashBuilder,
    time: Vec<i64>,
    series_of_row: Vec<u32>,
    /// Rows of each series (4 bytes per row), so predicates on tags and newest-row
    /// lookups visit only the series they need; in time order while the series is sorted.
    series_rows: Vec<RowList>,
    /// Whether each series' row list is in time order, which lets rows, ranges and newest
    /// rows be found by binary search. A row a little older than the series' newest (say,
    /// batches of concurrent connections applied out of order) is inserted in place; one
    /// that would move more than [`MAX_SORTED_SHIFT`] entries makes the series unsorted,
    /// and its rows are hashed in `rows` from then on.
    series_sorted: Vec<bool>,
    /// The time of each series' newest row (`i64::MIN` before its first): the usual new
    /// row, newer than all of its series', is placed without reading the series' row list,
    /// whose end is a cache miss per row once there are many series.
    series_newest: Vec<i64>,
    fields: Vec<(String, FieldColumn)>,
    field_index: HashMap<String, usize>,
    pub(crate) min_time: i64,
    pub(crate) max_time: i64,
    /// Heap bytes of the series (tags, index slots, distinct strings, row lists'
    /// headers), kept as series are added.
    series_bytes: usize,
    /// Heap bytes of the row lists' contents (their capacities), kept as rows are added.
    series_rows_bytes: usize,
    /// Heap bytes the partition holds, as of the last write or delete
    /// ([`PartitionBuffer::heap_bytes`]): what the persistence trigger, the buffer ceiling
    /// and the `sluice_buffer_bytes` metric count.
    pub(crate) bytes: usize,
    /// While the WAL replays: the series ids found for the tag sets of the last logged
    /// table applied here, so that the next one logged with the same tag sets takes them
    /// without a lookup. Forgotten when a delete renumbers the series, and after replay
    /// ([`Buffer::forget_logged_series`]).
    logged_series: Option<LoggedSeries>,
}

/// The series ids of a logged table's tag sets in a partition.
#[derive(Debug, Default, Clone)]
struct LoggedSeries {
    /// The table's [`TableRef::series_key`], and how those bytes give their tag values
    /// ([`TableRef::tag_values`]: the same bytes in two formats are not the same tag sets).
    key: Vec<u8>,
    tag_values: encoding::TagValues,
    /// The partition's series id of each of the table's tag sets that had a row here.
    sids: Vec<Option<u32>>,
}

/// How the values of one tag key of a partition fared in its string index, which decides
/// whether the index is worth asking: a tag that takes a new value with nearly every new
/// series (a host name, a request id) finds nothing there, and the look-up is a cache
/// miss per series once the partition holds many. After [`INDEXED_WINDOW`] look-ups of
/// which at most one in a hundred found the value, the key's new values are added
/// without the index: a value seen again then takes its text again (ids are not unique
/// per text from then on). The series index, which compares texts, still finds every
/// series once.
///
/// While unindexed, the values [`PartitionBuffer::samples`] picks (one in 64, by hash,
/// so the same values each time) are still looked up and added to the index. Once
/// more than one in a hundred of [`UNINDEXED_WINDOW`] such look-ups find their value
/// (the host names of a load sorted by another tag first, coming back), the key is
/// indexed again: a value is then kept at most twice.
#[derive(Debug, Default, Clone, Copy)]
struct KeyValues {
    looked_up: u32,
    found: u32,
    unindexed: bool,
}

/// Look-ups of an indexed key's values that decide whether it stays indexed.
const INDEXED_WINDOW: u32 = 4096;

/// Look-ups of an unindexed key's sampled values that decide whether it stays
/// unindexed.
const UNINDEXED_WINDOW: u32 = 64;

impl KeyValues {
    /// Counts a run's look-ups of the key's values; a full window decides whether the
    /// key's new values skip the index, and a new window starts.
    fn note(&mut self, looked_up: u32, found: u32) {
        self.looked_up = self.looked_up.saturating_add(looked_up);
        self.found = self.found.saturating_add(found);
        let window = match self.unindexed {
            false => INDEXED_WINDOW,
            true => UNINDEXED_WINDOW,
        };
        if self.looked_up >= window {
            self.unindexed = u64::from(self.found) * 100 <= u64::from(self.looked_up);
            (self.looked_up, self.found) = (0, 0);
        }
    }
}

/// The rows of one series. Up to four are held in place, so the series of a
/// high-cardinality load (one or two rows each) cost no allocation of their own.
type RowList = smallvec::SmallVec<[u32; 4]>;

/// Heap bytes of a row list: none while its rows are held in place.
fn row_list_bytes(rows: &RowList) -> usize {
    if rows.spilled() {
        rows.capacity() * size_of::<u32>()
    } else {
        0
    }
}

/// Heap bytes a series takes besides its rows, its tags (counted in
/// [`SeriesTags::heap_bytes`]) and their strings: its index slot, its row list, order
/// flag and newest time.
const SERIES_HEAP_BYTES: usize = index::ENTRY_BYTES + size_of::<RowList>() + 1 + size_of::<i64>();

/// The hash a series is found by: of its tags (sorted by name) as key ids and value
/// texts, the same for a batch's tags and for stored ones.
fn tags_hash<'t>(
    hasher: &hashbrown::DefaultHashBuilder,
    len: usize,
    tags: impl Iterator<Item = (u32, &'t str)>,
) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut h = hasher.build_hasher();
    len.hash(&mut h);
    for (k, v) in tags {
        h.write_u32(k);
        v.hash(&mut h);
    }
    h.finish()
}

/// The hash of stored tags (ids of `strings`), the same as of a batch's.
fn stored_tags_hash(
    hasher: &hashbrown::DefaultHashBuilder,
    strings: &Strings,
    tags: Tags<'_>,
) -> u64 {
    tags_hash(
        hasher,
        tags.len(),
        tags.iter().map(|(k, v)| (k, &strings[v as usize])),
    )
}

/// Whether stored tags (ids of `strings`) equal a batch's (key ids, value texts).
fn same_tags(strings: &Strings, stored: Tags<'_>, tags: &[(u32, &str)]) -> bool {
    stored.len() == tags.len()
        && stored
            .iter()
            .zip(tags)
            .all(|((k, v), &(k2, v2))| k == k2 && &strings[v as usize] == v2)
}

/// The id of `s` in `strings`, added if new; the heap bytes a new one takes in the index
/// (its text is counted in [`Strings::heap_bytes`]).
fn intern(
    strings: &mut Strings,
    ids: &mut IdIndex,
    hasher: &hashbrown::DefaultHashBuilder,
    s: &str,
) -> (u32, usize) {
    use std::hash::BuildHasher;
    let short = Short::of(hasher.hash_one(s));
    if let Some(id) = ids.find(short, |id| &strings[id as usize] == s) {
        return (id, 0);
    }
    let id = strings.push(s);
    ids.insert(short, id);
    (id, index::ENTRY_BYTES)
}

/// How many rows ahead of the one being placed applying a batch asks for the series
/// index's cache line (a series not found yet): about as many look-ups as the processor
/// keeps in flight.
const LOOK_UP_AHEAD: usize = 16;

/// The tags of series `series` of a logged table, read from the table or, when the
/// decoder skipped them (the same as the table before's), decoded once into `skipped`.
fn tags_of<'t, 'a>(
    table: &'t TableRef<'a>,
    skipped: &'t mut Option<TableRef<'a>>,
    series: usize,
) -> &'t [(u32, &'a str)] {
    match table.skipped_series {
        None => table.series_tags(series as u32),
        Some(_) => skipped
            .get_or_insert_with(|| encoding::read_skipped_series(table))
            .series_tags(series as u32),
    }
}

/// A partition's shared tag strings for one run of a batch's rows, by batch column: each
/// tag's key, and the value of the last new series that had the tag. The series a run
/// adds mostly differ in a few tags (a host name, not its region or rack), so a new series
/// interns, hashing and looking up, only what changed; the rest are shared copies' counts.
#[derive(Default)]
struct RunStrings<'b> {
    keys: Vec<Option<u32>>,
    values: Vec<Option<(&'b str, u32)>>,
    /// The series being looked up: its tags as (key id, value text).
    tags: Vec<(u32, &'b str)>,
    /// A new series' key and value ids.
    key_ids: Vec<u32>,
    value_ids: Vec<u32>,
    /// Values the run found among the partition's strings, by id. The series a run adds
    /// share a few values of their low-cardinality tags (a region, a rack) in no order;
    /// found here, such a value costs a comparison of its text with the batch's, not a
    /// hash and a look-up in the index of every string of the partition (a cache miss
    /// once the partition has many). Only values the partition had before come here, not
    /// those a series adds, so the new host name each new series brings does not push
    /// them out.
    recent: RecentValues<'b>,
    /// By batch column: whether the tag's new values skip the string index (as the
    /// partition's [`KeyValues`] said when the run began), and how many of its values
    /// the run looked up there and found.
    lookups: Vec<KeyValues>,
}

impl RunStrings<'_> {
    /// Forgets every string, for a run in another partition of a batch with `columns`.
    fn reset(&mut self, columns: usize) {
        self.keys.clear();
        self.keys.resize(columns, None);
        self.values.clear();
        self.values.resize(columns, None);
        self.recent.clear();
        self.lookups.clear();
        self.lookups.resize(columns, KeyValues::default());
    }
}

/// The first position of `rows` (ordered so that `older` holds for a prefix) where
/// `older` does not hold, found from the end: probes 1, 2, 4, … back from the newest row,
/// then a binary search between the last two. A late row is usually only a little older
/// than its series' newest (the batches of concurrent writers applied out of order), and
/// the newest rows are the ones still in the cache; a plain binary search starts in the
/// middle of the series, a cache miss per probe.
fn newest_first_partition(rows: &[u32], older: impl Fn(u32) -> bool) -> usize {
    // rows[hi..] are not older; rows[..lo] are.
    let mut hi = rows.len();
    let mut step = 1;
    let lo = loop {
        if step >= hi {
            break 0;
        }
        let probe = hi - step;
        if older(rows[probe]) {
            break probe + 1;
        }
        hi = probe;
        step *= 2;
    };
    lo + rows[lo..hi].partition_point(|&r| older(r))
}

/// The hash of a buffered row's key.
fn row_hash(hasher: &hashbrown::DefaultHashBuilder, sid: u32, time: i64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = hasher.build_hasher();
    h.write_u32(sid);
    h.write_i64(time);
    h.finish()
}

impl PartitionBuffer {
    /// Rows held.
    pub(crate) fn len(&self) -> usize {
        self.time.len()
    }

    /// Series held.
    pub(crate) fn series_count(&self) -> usize {
        self.series.len()
    }

    /// The tags of each series with rows here, sorted by name (absent tags left out).
    pub(crate) fn tag_sets(&self) -> TagSets {
        TagSets {
            series: self.series.clone(),
            strings: self.strings.clone(),
        }
    }

    /// The text of string `id`.
    fn text(&self, id: u32) -> &str {
        &self.strings[id as usize]
    }

    /// The slot of field column `name`, created if new with nulls in the first `rows` rows
    /// (the rest are put or filled by the caller); `None` when the partition holds the
    /// field with another type (the catalog prevents that).
    fn field_slot(&mut self, name: &str, kind: FieldType, rows: usize) -> Option<usize> {
        if let Some(i) = self.field_index.get(name) {
            return (self.fields[*i].1.kind() == kind).then_some(*i);
        }
        let i = self.fields.len();
        self.fields
            .push((name.to_owned(), FieldColumn::new(kind, rows)));
        self.field_index.insert(name.to_owned(), i);
        Some(i)
    }

    /// Leaves in `run.tags` the tags `tags` (sorted by name, as (batch column, value))
    /// with their keys as ids of the partition's strings, for
    /// [`PartitionBuffer::series_short`] and (kept by the caller)
    /// [`PartitionBuffer::series_id`]. `columns`
    /// are the batch's, by which `run` keeps the strings of the run's series.
    fn key_tags<'b>(
        &mut self,
        tags: &[(u32, &'b str)],
        columns: &[(&'b str, ColumnType)],
        run: &mut RunStrings<'b>,
    ) {
        // Keys by id: a run resolves each of its tag keys once.
        run.tags.clear();
        for &(column, value) in tags {
            let column = column as usize;
            let id = match run.keys[column] {
                Some(id) => id,
                None => {
                    // Every series looked up in a run gets a row here, so its keys are
                    // the partition's keys from now on.
                    let key = columns[column].0;
                    let (id, new) =
                        intern(&mut self.strings, &mut self.string_ids, &self.hasher, key);
                    self.series_bytes += new;
                    let strings = &self.strings;
                    if let Err(at) = self
                        .tag_keys
                        .binary_search_by(|k| strings[*k as usize].cmp(key))
                    {
                        self.tag_keys.insert(at, id);
                    }
                    run.keys[column] = Some(id);
                    run.lookups[column].unindexed =
                        self.key_values.get(&id).is_some_and(|k| k.unindexed);
                    id
                }
            };
            run.tags.push((id, value));
        }
    }

    /// The hash bits the series with the tags in `run.tags` is filed under in the series
    /// index ([`PartitionBuffer::key_tags`] put them there).
    fn series_short(&self, run: &RunStrings<'_>) -> Short {
        let keyed = &run.tags;
        Short::of(tags_hash(&self.hasher, keyed.len(), keyed.iter().copied()))
    }

    /// The id of the series with `tags` and hash bits `short`, created if new: `keyed` are
    /// its tags keyed by id, as [`PartitionBuffer::key_tags`] made them.
    fn series_id<'b>(
        &mut self,
        short: Short,
        tags: &[(u32, &'b str)],
        keyed: &[(u32, &'b str)],
        run: &mut RunStrings<'b>,
    ) -> u32 {
        let (series, strings) = (&self.series, &self.strings);
        if let Some(s) = self
            .series_index
            .find(short, |s| same_tags(strings, series.get(s as usize), keyed))
        {
            return s;
        }
        let s = self.series.len() as u32;
        let mut bytes = SERIES_HEAP_BYTES;
        run.key_ids.clear();
        run.value_ids.clear();
        for (&(key, value), &(column, _)) in keyed.iter().zip(tags) {
            let column = column as usize;
            let value = match run.values[column] {
                Some((last, id)) if last == value => id,
                _ => {
                    let id = match run.recent.get(value) {
                        Some(id) => id,
                        None if run.lookups[column].unindexed && !self.samples(value) => {
                            self.repeated_texts = true;
                            self.strings.push(value)
                        }
                        None => {
                            let (id, new) = intern(
                                &mut self.strings,
                                &mut self.string_ids,
                                &self.hasher,
                                value,
                            );
                            run.lookups[column].looked_up += 1;
                            if new == 0 {
                                run.lookups[column].found += 1;
                                run.recent.put(value, id);
                            }
                            bytes += new;
                            id
                        }
                    };
                    run.values[column] = Some((value, id));
                    id
                }
            };
            run.key_ids.push(key);
            run.value_ids.push(value);
        }
        self.series.push(&run.key_ids, &run.value_ids);
        self.series_bytes += bytes;
        self.series_index.insert(short, s);
        self.series_rows.push(RowList::new());
        self.series_sorted.push(true);
        self.series_newest.push(i64::MIN);
        s
    }

    /// Sets `sids` to the series ids found for the tag sets of the last logged table
    /// applied here if it had `table`'s tag sets (see [`LoggedSeries`]), else to none;
    /// returns whether it had.
    fn known_series(&self, table: &TableRef<'_>, sids: &mut [Option<u32>]) -> bool {
        match &self.logged_series {
            Some(known)
                if !table.series_key.is_empty()
                    && known.key == table.series_key
                    && known.tag_values == table.tag_values =>
            {
                sids.copy_from_slice(&known.sids);
                true
            }
            _ => {
                sids.fill(None);
                false
            }
        }
    }

    /// Keeps the series ids `sids` found for the tag sets of logged table `table`
    /// (nothing for a batch that was not logged); `known` when its tag sets are the ones
    /// kept.
    fn remember_series(&mut self, table: &TableRef<'_>, sids: &[Option<u32>], known: bool) {
        if table.series_key.is_empty() {
            return;
        }
        let kept = self.logged_series.get_or_insert_default();
        if !known {
            kept.key.clear();
            kept.key.extend_from_slice(table.series_key);
            kept.tag_values = table.tag_values;
        }
        kept.sids.clear();
        kept.sids.extend_from_slice(sids);
    }

    /// Whether `value` of an unindexed key is still looked up in the string index (see
    /// [`KeyValues`]): one value in 64, the same ones each time.
    fn samples(&self, value: &str) -> bool {
        use std::hash::BuildHasher;
        self.hasher.hash_one(value) >> 58 == 0
    }

    /// Counts the look-ups of a run's tag values in the string index into the keys'
    /// [`KeyValues`].
    fn note_key_values(&mut self, run: &RunStrings<'_>) {
        for (counts, key) in run.lookups.iter().zip(&run.keys) {
            if let (true, Some(key)) = (counts.looked_up > 0, key) {
                let values = self.key_values.entry(*key).or_default();
                values.note(counts.looked_up, counts.found);
            }
        }
    }

    /// Widens the partition's time range to `times`, a run of rows about to be placed.
    fn cover(&mut self, times: &[i64]) {
        let (Some(&lo), Some(&hi)) = (times.iter().min(), times.iter().max()) else {
            return;
        };
        if self.time.is_empty() {
            (self.min_time, self.max_time) = (lo, hi);
        } else {
            self.min_time = self.min_time.min(lo);
            self.max_time = self.max_time.max(hi);
        }
    }

    /// The row of series `sid` at `time`: the one the partition holds, or a new one
    /// appended (its time and series set, no field value yet). The partition's time range
    /// must cover `time` already ([`PartitionBuffer::cover`]).
    fn place(&mut self, sid: u32, time: i64) -> u32 {
        let slot = self.locate(sid, time);
        if let Slot::Row(row) = slot {
            return row as u32;
        }
        let r = self.time.len();
        let rows = &mut self.series_rows[sid as usize];
        let before = row_list_bytes(rows);
        match slot {
            Slot::SortedAt(at) if at == rows.len() => rows.push(r as u32),
            Slot::SortedAt(at) => rows.insert(at, r as u32),
            _ => rows.push(r as u32),
        }
        self.series_rows_bytes += row_list_bytes(rows) - before;
        let newest = &mut self.series_newest[sid as usize];
        *newest = (*newest).max(time);
        self.time.push(time);
        self.series_of_row.push(sid);
        if let Slot::Unsorted = slot {
            self.index_row(r);
        }
        r as u32
    }

    /// Writes the values of field column `slot` at rows `rows` (value `k` at `rows[k]`):
    /// a row's earlier value is replaced (last write wins), and a new row gets nulls in
    /// the columns without a value once [`PartitionBuffer::fill_nulls`] runs.
    fn put(
        &mut self,
        slot: usize,
        rows: &[u32],
        next: bool,
        values: &ColumnValues<'_>,
        at: Range<usize>,
    ) {
        let (name, col) = &mut self.fields[slot];
        if !col.put(rows, next, values, at) {
            tracing::error!(field = %name, "dropping buffered values of a mismatched type");
        }
    }

    /// Gives every column a null in the new rows it has no value for.
    fn fill_nulls(&mut self) {
        let rows = self.time.len();
        for (_, col) in &mut self.fields {
            col.push_nulls(rows - col.len());
        }
    }

    /// Where the row of series `sid` at `time` is or goes. A new row too far back in a
    /// sorted series makes it unsorted: its rows are indexed by hash from then on.
    fn locate(&mut self, sid: u32, time: i64) -> Slot {
        let s = sid as usize;
        if !self.series_sorted[s] {
            let hash = row_hash(&self.hasher, sid, time);
            let (times, sids) = (&self.time, &self.series_of_row);
            return match self.rows.find(hash, |&r| {
                times[r as usize] == time && sids[r as usize] == sid
            }) {
                Some(&r) => Slot::Row(r as usize),
                None => Slot::Unsorted,
            };
        }
        let rows = &self.series_rows[s];
        if rows.is_empty() || self.series_newest[s] < time {
            return Slot::SortedAt(rows.len());
        }
        let at = newest_first_partition(rows, |r| self.time[r as usize] < time);
        if self.time[rows[at] as usize] == time {
            return Slot::Row(rows[at] as usize);
        }
        if rows.len() - at <= MAX_SORTED_SHIFT {
            return Slot::SortedAt(at);
        }
        self.series_sorted[s] = false;
        for i in 0..self.series_rows[s].len() {
            self.index_row(self.series_rows[s][i] as usize);
        }
        Slot::Unsorted
    }

    /// Heap bytes the partition holds: its vectors' capacities (what is allocated, not
    /// just what is used), the series and the field columns.
    fn heap_bytes(&self) -> usize {
        const HASH_SLOT: usize = 4 + 1;
        capacity_bytes(&self.time)
            + capacity_bytes(&self.series_of_row)
            + self.rows.capacity() * HASH_SLOT
            + self.series_bytes
            + self.series.heap_bytes()
            + self.strings.heap_bytes()
            + self.series_rows_bytes
            + self
                .fields
                .iter()
                .map(|(name, col)| 2 * name.len() + col.heap_bytes())
                .sum::<usize>()
    }

    /// Of [`PartitionBuffer::bytes`], what the series hold (their tags, the distinct tag
    /// strings, the indexes finding them): the rest is the rows'.
    fn series_heap_bytes(&self) -> usize {
        self.series_bytes + self.series.heap_bytes() + self.strings.heap_bytes()
    }

    /// Recounts [`PartitionBuffer::bytes`] after a change; returns the old count.
    fn recount(&mut self) -> usize {
        let now = self.heap_bytes();
        std::mem::replace(&mut self.bytes, now)
    }

    /// Adds row `r` to the hash index of out-of-order rows.
    fn index_row(&mut self, r: usize) {
        let hash = row_hash(&self.hasher, self.series_of_row[r], self.time[r]);
        let (times, sids, hasher) = (&self.time, &self.series_of_row, &self.hasher);
        self.rows.insert_unique(hash, r as u32, |&r| {
            row_hash(hasher, sids[r as usize], times[r as usize])
        });
    }

    /// Removes the rows `op` covers (it concerns this partition's table) and gives their
    /// memory back; returns the bytes freed. Series left without rows are forgotten.
    pub(crate) fn delete(&mut self, op: &DeleteOp) -> usize {
        let hit: Vec<bool> = self
            .series
            .iter()
            .map(|tags| op.covers_series(&|k: &str| tag_value(&self.strings, tags, k)))
            .collect();
        if !hit.iter().any(|h| *h) {
            return 0;
        }
        let keep: Vec<bool> = (0..self.time.len())
            .map(|i| !(hit[self.series_of_row[i] as usize] && op.covers_time(self.time[i])))
            .collect();
        let kept = keep.iter().filter(|k| **k).count();
        if kept == keep.len() {
            return 0;
        }
        // Series ids change below.
        self.logged_series = None;
        retain_by_mask(&mut self.time, &keep);
        retain_by_mask(&mut self.series_of_row, &keep);
        for (_, col) in &mut self.fields {
            col.retain(&keep);
        }
        // Renumber the series that still have rows.
        let mut new_id: Vec<Option<u32>> = vec![None; self.series.len()];
        let mut series = SeriesTags::default();
        for sid in &mut self.series_of_row {
            let id = *new_id[*sid as usize].get_or_insert_with(|| {
                let tags = self.series.get(*sid as usize);
                series.push(tags.keys, tags.values);
                (series.len() - 1) as u32
            });
            *sid = id;
        }
        self.series = series;
        self.keep_used_strings();
        self.series_index = IdIndex::with_capacity(self.series.len());
        for (s, tags) in self.series.iter().enumerate() {
            let short = Short::of(stored_tags_hash(&self.hasher, &self.strings, tags));
            self.series_index.insert(short, s as u32);
        }
        // Every series comes out sorted: the hash index is not needed any more.
        self.rows = hashbrown::HashTable::new();
        self.series_rows = vec![RowList::new(); self.series.len()];
        self.series_sorted = vec![true; self.series.len()];
        for r in 0..self.time.len() {
            self.series_rows[self.series_of_row[r] as usize].push(r as u32);
        }
        for rows in &mut self.series_rows {
            rows.sort_unstable_by_key(|&r| self.time[r as usize]);
        }
        self.series_newest = self
            .series_rows
            .iter()
            .map(|rows| rows.last().map_or(i64::MIN, |&r| self.time[r as usize]))
            .collect();
        self.min_time = self.time.iter().copied().min().unwrap_or(0);
        self.max_time = self.time.iter().copied().max().unwrap_or(0);
        self.time.shrink_to_fit();
        self.series_of_row.shrink_to_fit();
        for (_, col) in &mut self.fields {
            col.shrink_to_fit();
        }
        self.series_bytes =
            self.series.len() * SERIES_HEAP_BYTES + self.strings.len() * index::ENTRY_BYTES;
        self.series_rows_bytes = self.series_rows.iter().map(row_list_bytes).sum();
        self.recount().saturating_sub(self.bytes)
    }

    /// Keeps only the strings and tag keys the series use, renumbered in their order.
    fn keep_used_strings(&mut self) {
        let mut new_id = vec![u32::MAX; self.strings.len()];
        for &id in self
            .series
            .all_keys()
            .iter()
            .chain(self.series.all_values())
        {
            new_id[id as usize] = 0;
        }
        let mut kept = Strings::default();
        for (id, renumbered) in new_id.iter_mut().enumerate() {
            if *renumbered == 0 {
                *renumbered = kept.push(&self.strings[id]);
            }
        }
        self.strings = kept;
        self.series.renumber(&new_id);
        self.key_values = std::mem::take(&mut self.key_values)
            .into_iter()
            .filter(|(key, _)| new_id[*key as usize] != u32::MAX)
            .map(|(key, values)| (new_id[key as usize], values))
            .collect();
        let mut keys = self.series.all_keys().to_vec();
        keys.sort_unstable();
        keys.dedup();
        let strings = &self.strings;
        keys.sort_unstable_by(|a, b| strings[*a as usize].cmp(&strings[*b as usize]));
        self.tag_keys = keys;
        use std::hash::BuildHasher;
        let hasher = &self.hasher;
        self.string_ids = IdIndex::with_capacity(strings.len());
        for id in 0..strings.len() {
            let short = Short::of(hasher.hash_one(&strings[id]));
            self.string_ids.insert(short, id as u32);
        }
    }

    /// Whether the partition holds no rows.
    pub(crate) fn is_empty(&self) -> bool {
        self.time.is_empty()
    }
}

impl Buffer {
    /// Of [`Buffer::bytes`], what the rows hold (times, values, each row's series and
    /// place in its series), not the series themselves: what persistence is sized by
    /// (see `persistence_due`).
    pub(crate) fn row_bytes(&self) -> usize {
        let tables = self.dbs.values().flat_map(BTreeMap::values);
        tables
            .flat_map(|t| t.partitions.values())
            .map(|p| p.bytes.saturating_sub(p.series_heap_bytes()))
            .sum()
    }

    /// Applies a logged batch.
    pub(crate) fn apply<'a>(&mut self, batch: &BatchRef<'a>) {
        let db = self.dbs.entry(batch.db_id).or_default();
        for table in &batch.tables {
            let tb = match db.get_mut(table.name) {
                Some(tb) => tb,
                None => db.entry(table.name.to_owned()).or_default(),
            };
            let columns = &table.columns;
            // Partition series ids per batch series, resolved once per partition (day) run.
            let mut sids: Vec<Option<u32>> = vec![None; table.series_count()];
            // The tag sets the decoder skipped, read here if a run needs them.
            let mut skipped: Option<TableRef<'a>> = None;
            let mut strings = RunStrings::default();
            // The hash bits of the batch series a run looks up.
            let mut shorts: Vec<Option<(Short, usize)>> = Vec::new();
            // Their tags keyed by id, one series after the other (where each starts is
            // beside its hash bits in `shorts`).
            let mut keyed: Vec<(u32, &'a str)> = Vec::new();
            // The partition row of each batch row of the run, then of each value.
            let mut placed: Vec<u32> = Vec::new();
            let mut rows_of_values: Vec<u32> = Vec::new();
            let mut start = 0;
            // Rows run by run of the same day: one partition lookup per run.
            while start < table.len() {
                let day = day_of(table.times[start]);
                let end = table.times[start..]
                    .iter()
                    .position(|t| day_of(*t) != day)
                    .map_or(table.len(), |n| start + n);
                let part = tb.partitions.entry(day).or_default();
                let rows_before = part.len();
                let known = part.known_series(table, &mut sids);
                strings.reset(columns.len());
                placed.clear();
                part.cover(&table.times[start..end]);
                let run_series = &table.row_series[start..end];
                // The hash bits of each series to look up, first, so that the look-up of
                // a series can be asked of the memory some rows before it is made: the
                // index of a partition of many series is far bigger than the caches.
                shorts.clear();
                shorts.resize(sids.len(), None);
                keyed.clear();
                for &series in run_series {
                    let series = series as usize;
                    if sids[series].is_none() && shorts[series].is_none() {
                        let tags = tags_of(table, &mut skipped, series);
                        part.key_tags(tags, columns, &mut strings);
                        shorts[series] = Some((part.series_short(&strings), keyed.len()));
                        keyed.extend_from_slice(&strings.tags);
                    }
                }
                for (i, (&time, &series)) in
                    table.times[start..end].iter().zip(run_series).enumerate()
                {
                    if let Some(&ahead) = run_series.get(i + LOOK_UP_AHEAD)
                        && sids[ahead as usize].is_none()
                        && let Some((short, _)) = shorts[ahead as usize]
                    {
                        part.series_index.prefetch(short);
                    }
                    let series = series as usize;
                    let sid = match (sids[series], shorts[series]) {
                        (Some(sid), _) => sid,
                        (None, Some((short, from))) => {
                            let tags = tags_of(table, &mut skipped, series);
                            let keyed = &keyed[from..from + tags.len()];
                            let sid = part.series_id(short, tags, keyed, &mut strings);
                            sids[series] = Some(sid);
                            sid
                        }
                        (None, None) => unreachable!("every series to look up was hashed"),
                    };
                    placed.push(part.place(sid, time));
                }
                // Every row new (none merged into one the partition had): the run's rows
                // are the next ones, in order, and a column with a value in each takes
                // them whole.
                let all_new = part.len() - rows_before == placed.len();
                part.remember_series(table, &sids, known);
                part.note_key_values(&strings);
                for field in &table.fields {
                    let at = field.values_of_rows(start..end);
                    let (name, ColumnType::Field(kind)) = columns[field.column as usize] else {
                        continue;
                    };
                    if at.is_empty() {
                        continue;
                    }
                    let Some(slot) = part.field_slot(name, kind, rows_before) else {
                        continue;
                    };
                    let (rows, next) = match &field.rows {
                        None => (&placed[..], all_new),
                        Some(rows) => {
                            rows_of_values.clear();
                            rows_of_values.extend(
                                rows[at.clone()].iter().map(|r| placed[*r as usize - start]),
                            );
                            (&rows_of_values[..], false)
                        }
                    };
                    part.put(slot, rows, next, &field.values, at);
                }
                part.fill_nulls();
                let before = part.recount();
                self.bytes = self.bytes + part.bytes - before;
                start = end;
            }
        }
    }

    /// Forgets the series ids kept for the tag sets of logged tables ([`LoggedSeries`]):
    /// the WAL has been replayed.
    pub(crate) fn forget_logged_series(&mut self) {
        let tables = self.dbs.values_mut().flat_map(|tables| tables.values_mut());
        for part in tables.flat_map(|table| table.partitions.values_mut()) {
            part.logged_series = None;
        }
    }

    /// Drops a database's data; returns the bytes freed.
    pub(crate) fn drop_database(&mut self, db_id: u32) -> usize {
        let freed = self.dbs.remove(&db_id).map_or(0, |tables| {
            tables
                .values()
                .flat_map(|t| t.partitions.values())
                .map(|p| p.bytes)
                .sum()
        });
        self.bytes = self.bytes.saturating_sub(freed);
        freed
    }

    /// Drops partitions of `db_id` before `first_kept_day`; returns the bytes freed.
    pub(crate) fn drop_before(&mut self, db_id: u32, first_kept_day: i64) -> usize {
        let mut freed = 0;
        if let Some(tables) = self.dbs.get_mut(&db_id) {
            for t in tables.values_mut() {
                let kept = t.partitions.split_off(&first_kept_day);
                freed += t.partitions.values().map(|p| p.bytes).sum::<usize>();
                t.partitions = kept;
            }
        }
        self.bytes = self.bytes.saturating_sub(freed);
        freed
    }

    /// Removes what `op` covers: its table (all rows) when it drops one, otherwise the
    /// rows it matches in its table or in every table of its database; returns the bytes
    /// freed. Partitions and tables left empty are removed.
    pub(crate) fn delete(&mut self, op: &DeleteOp) -> usize {
        let Some(tables) = self.dbs.get_mut(&op.db_id) else {
            return 0;
        };
        let mut freed = 0;
        for tb in tables
            .iter_mut()
            .filter(|(name, _)| op.covers_table(name))
            .map(|(_, tb)| tb)
        {
            for part in tb.partitions.values_mut() {
                if op.covers_times(part.min_time, part.max_time) {
                    freed += part.delete(op);
                }
            }
            tb.partitions.retain(|_, p| {
                if p.is_empty() {
                    freed += p.bytes;
                }
                !p.is_empty()
            });
        }
        tables.retain(|_, tb| !tb.partitions.is_empty());
        self.bytes = self.bytes.saturating_sub(freed);
        freed
    }

    pub(crate) fn table(&self, db_id: u32, table: &str) -> Option<&TableBuffer> {
        self.dbs.get(&db_id)?.get(table)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.dbs
            .values()
            .all(|t| t.values().all(|t| t.partitions.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, Float64Array, Int64Array, RecordBatch, TimestampNanosecondArray};

    use super::*;
    use crate::batch::{TableBatch, Value, WriteBatch};

    type TestRow<'a> = (&'a str, i64, Vec<(u32, Value)>);

    fn apply(buf: &mut Buffer, batch: WriteBatch) {
        buf.apply(&batch.as_ref());
    }

    fn batch(rows: Vec<TestRow<'_>>) -> WriteBatch {
        let mut table = TableBatch::new(
            "cpu".into(),
            vec![
                ("host".into(), ColumnType::Tag),
                ("a".into(), ColumnType::Field(FieldType::Float)),
                ("b".into(), ColumnType::Field(FieldType::Integer)),
                ("c".into(), ColumnType::Field(FieldType::String)),
            ],
        );
        let mut hosts: Vec<&str> = Vec::new();
        for (host, time, fields) in rows {
            let series = match hosts.iter().position(|h| *h == host) {
                Some(i) => i as u32,
                None => {
                    hosts.push(host);
                    table.push_series([(0, host)])
                }
            };
            let start = table.values.len();
            table.values.extend(fields);
            table.push_row(time, series, start);
        }
        WriteBatch {
            db_id: 1,
            tables: vec![table],
        }
    }

    #[test]
    fn same_series_and_time_merge_field_by_field_with_last_write_winning() {
        let mut buf = Buffer::default();
        apply(
            &mut buf,
            batch(vec![(
                "x",
                5,
                vec![(1, Value::Float(1.0)), (2, Value::Integer(1))],
            )]),
        );
        apply(
            &mut buf,
            batch(vec![("x", 5, vec![(1, Value::Float(2.0))])]),
        );
        apply(
            &mut buf,
            batch(vec![("y", 5, vec![(2, Value::Integer(9))])]),
        );
        let part = &buf.table(1, "cpu").unwrap().partitions[&0];
        assert_eq!(part.len(), 2);
        let schema = part.schema();
        let rb = part.to_batch(&schema, None, &[]).unwrap().unwrap();
        let a = rb
            .column_by_name("a")
            .unwrap()
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        let b = rb
            .column_by_name("b")
            .unwrap()
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(a.value(0), 2.0);
        assert_eq!(b.value(0), 1);
        assert!(a.is_null(1));
        assert_eq!(b.value(1), 9);
    }

    /// Integer or time column `name` of `rb`, nulls as zero.
    fn i64s(rb: &RecordBatch, name: &str) -> Vec<i64> {
        let col = rb.column_by_name(name).unwrap().as_any();
        match col.downcast_ref::<Int64Array>() {
            Some(ints) => ints.values().to_vec(),
            None => col
                .downcast_ref::<TimestampNanosecondArray>()
                .unwrap()
                .values()
                .to_vec(),
        }
    }

    /// A delete of the rows of table `cpu` in database 1 in `time_range` whose series
    /// match `tag_predicate`.
    fn delete_in_cpu(
        time_range: Option<(i64, i64)>,
        tag_predicate: Option<crate::TagPredicate>,
    ) -> DeleteOp {
        DeleteOp {
            db_id: 1,
            drop_table: false,
            request: crate::types::DeleteRequest {
                table: Some("cpu".into()),
                time_range,
                tag_predicate,
                drop_emptied_tables: false,
            },
        }
    }

    /// Column `name` of a whole-partition batch, as `(time, value)` of the rows that have
    /// one, for one series.
    fn column<A: Array + 'static, T>(
        part: &PartitionBuffer,
        name: &str,
        value: impl Fn(&A, usize) -> T,
    ) -> Vec<(i64, Option<T>)> {
        let rb = part.to_batch(&part.schema(), None, &[]).unwrap().unwrap();
        let times = rb
            .column_by_name("time")
            .unwrap()
            .as_any()
            .downcast_ref::<TimestampNanosecondArray>()
            .unwrap();
        let col = rb
            .column_by_name(name)
            .unwrap()
            .as_any()
            .downcast_ref::<A>()
            .unwrap();
        (0..rb.num_rows())
            .map(|i| (times.value(i), (!col.is_null(i)).then(|| value(col, i))))
            .collect()
    }

    #[test]
    fn a_batch_puts_each_column_on_its_rows_with_repeats_gaps_and_new_columns() {
        use arrow::array::StringArray;
        let mut buf = Buffer::default();
        apply(
            &mut buf,
            batch(vec![
                ("x", 1, vec![(1, Value::Float(1.0))]),
                ("y", 1, vec![(2, Value::Integer(5))]),
            ]),
        );
        // One batch: a new row of x with only `b`, x at 1 again (a repeat of a held row,
        // then of a row of this batch), a row of z with every field, b too wide for a
        // byte and `c` a column the partition had not seen.
        apply(
            &mut buf,
            batch(vec![
                ("x", 2, vec![(2, Value::Integer(300))]),
                ("x", 1, vec![(2, Value::Integer(-7))]),
                (
                    "z",
                    3,
                    vec![
                        (1, Value::Float(3.0)),
                        (2, Value::Integer(1 << 40)),
                        (3, Value::String("s".into())),
                    ],
                ),
                ("x", 2, vec![(1, Value::Float(2.5))]),
            ]),
        );
        let part = &buf.table(1, "cpu").unwrap().partitions[&0];
        fn values<T>(col: Vec<(i64, Option<T>)>) -> Vec<Option<T>> {
            col.into_iter().map(|(_, v)| v).collect()
        }
        let a: Vec<Option<f64>> = values(column(part, "a", Float64Array::value));
        let b: Vec<Option<i64>> = values(column(part, "b", Int64Array::value));
        let c: Vec<Option<String>> = values(column(part, "c", |a: &StringArray, i| {
            a.value(i).to_owned()
        }));
        // Rows by series, then time: x@1, x@2, y@1, z@3.
        assert_eq!(a, [Some(1.0), Some(2.5), None, Some(3.0)]);
        assert_eq!(b, [Some(-7), Some(300), Some(5), Some(1 << 40)]);
        assert_eq!(c, [None, None, None, Some("s".to_owned())]);

        // A batch across two days: each day's partition gets the columns of its rows.
        let day = 86_400_000_000_000;
        apply(
            &mut buf,
            batch(vec![
                ("x", day + 1, vec![(3, Value::String("t".into()))]),
                ("x", 2, vec![(1, Value::Float(9.0))]),
            ]),
        );
        let fields = |d: i64| {
            let part = &buf.table(1, "cpu").unwrap().partitions[&d];
            let schema = part.schema();
            schema
                .fields
                .into_iter()
                .map(|(n, _)| n)
                .collect::<Vec<_>>()
        };
        assert_eq!(fields(0), ["a", "b", "c"]);
        assert_eq!(fields(1), ["c"]);
    }

    #[test]
    fn integers_are_widened_as_values_need_and_read_back_exactly() {
        let mut buf = Buffer::default();
        let values = [
            1,
            -128,
            127,
            300,
            -40_000,
            i64::from(i32::MAX),
            i64::from(i32::MAX) + 1,
            i64::MIN,
            i64::MAX,
        ];
        let mut rows: Vec<TestRow<'_>> = values
            .iter()
            .enumerate()
            .map(|(t, &v)| ("x", t as i64 * 10, vec![(2, Value::Integer(v))]))
            .collect();
        // A row without the integer field in the middle reads as null.
        rows.insert(2, ("x", 15, vec![(1, Value::Float(0.5))]));
        // One write at a time, so that each widening happens with rows already stored.
        for row in rows {
            apply(&mut buf, batch(vec![row]));
        }
        let part = &buf.table(1, "cpu").unwrap().partitions[&0];
        let mut expected: Vec<(i64, Option<i64>)> = values
            .iter()
            .enumerate()
            .map(|(t, &v)| (t as i64 * 10, Some(v)))
            .collect();
        expected.insert(2, (15, None));
        assert_eq!(column(part, "b", Int64Array::value), expected);
    }

    #[test]
    fn the_byte_count_follows_what_the_buffer_holds() {
        let mut buf = Buffer::default();
        let rows = |from: i64, n: i64, value: i64| -> Vec<TestRow<'static>> {
            (from..from + n)
                .map(|t| ("x", t, vec![(2, Value::Integer(value))]))
                .collect()
        };
        apply(&mut buf, batch(rows(0, 1000, 1)));
        let small = buf.bytes;
        // time 8, row's series 4, series' row list 4, one byte of integer, a validity bit.
        assert!(
            (17_000..40_000).contains(&small),
            "1,000 in-order rows of one small integer: {small} bytes"
        );
        // Rewriting the same rows adds nothing; a value that needs 64 bits widens the column.
        apply(&mut buf, batch(rows(0, 1000, 1)));
        assert_eq!(buf.bytes, small);
        apply(&mut buf, batch(rows(0, 1, i64::MAX)));
        assert!(buf.bytes >= small + 6_000, "{}", buf.bytes);
        let part = &buf.table(1, "cpu").unwrap().partitions[&0];
        assert_eq!(buf.bytes, part.heap_bytes());
        // Strings count their contents.
        let before = buf.bytes;
        apply(
            &mut buf,
            batch(vec![("x", 5, vec![(3, Value::String("s".repeat(10_000)))])]),
        );
        assert!(buf.bytes >= before + 10_000);
    }

    #[test]
    fn rows_arriving_out_of_order_still_merge_with_their_duplicates() {
        let mut buf = Buffer::default();
        let int = |v| vec![(2, Value::Integer(v))];
        let float = |v| vec![(1, Value::Float(v))];
        // In order, then rewrites of older rows (found without leaving time order), then
        // a new older row (the series turns out of order), then rewrites of all kinds.
        let writes: Vec<TestRow<'_>> = vec![
            ("x", 10, int(1)),
            ("x", 20, int(2)),
            ("y", 20, int(50)),
            ("x", 30, int(3)),
            ("x", 20, float(2.5)),
            ("x", 10, int(11)),
            ("x", 15, int(5)),
            ("x", 15, float(1.5)),
            ("x", 30, int(33)),
            ("x", 40, int(4)),
            ("x", 5, int(0)),
            ("x", 40, int(44)),
            ("y", 10, int(49)),
            ("y", 20, int(51)),
        ];
        for write in writes {
            apply(&mut buf, batch(vec![write]));
        }
        let part = &buf.table(1, "cpu").unwrap().partitions[&0];
        assert_eq!(part.len(), 8);
        // Late rows this close to the newest were inserted in place: nothing was hashed.
        assert!(part.series_sorted.iter().all(|s| *s));
        assert_eq!(part.rows.len(), 0);
        // Sorted by series, then time.
        assert_eq!(
            column(part, "b", Int64Array::value),
            [
                (5, Some(0)),
                (10, Some(11)),
                (15, Some(5)),
                (20, Some(2)),
                (30, Some(33)),
                (40, Some(44)),
                (10, Some(49)),
                (20, Some(51)),
            ]
        );
        // A time range and the newest rows of each series, without sorting all of them.
        let schema = part.schema();
        let times = |rb: Option<RecordBatch>| i64s(&rb.unwrap(), "time");
        let range = Some((10, 35));
        assert_eq!(
            times(part.to_batch_last(&schema, range, &[], Some(2)).unwrap()),
            [20, 30, 10, 20]
        );
        assert_eq!(
            times(part.to_batch_last(&schema, range, &[], None).unwrap()),
            [10, 15, 20, 30, 10, 20]
        );
        assert_eq!(
            times(part.to_batch_last(&schema, None, &[], Some(1)).unwrap()),
            [40, 20]
        );
        assert!(
            part.to_batch_last(&schema, None, &[], Some(0))
                .unwrap()
                .is_none()
        );
        assert_eq!(
            column(part, "a", Float64Array::value),
            [
                (5, None),
                (10, None),
                (15, Some(1.5)),
                (20, Some(2.5)),
                (30, None),
                (40, None),
                (10, None),
                (20, None),
            ]
        );
    }

    #[test]
    fn the_search_from_the_newest_row_finds_what_a_binary_search_finds() {
        // Times with repeats, so equal keys sit at the boundary too.
        let times: Vec<i64> = (0..300).map(|i| i / 3 * 10).collect();
        let rows: Vec<u32> = (0..times.len() as u32).collect();
        for len in 0..times.len() {
            let rows = &rows[..len];
            for t in -10..=1000 {
                let older = |r: u32| times[r as usize] < t;
                assert_eq!(
                    newest_first_partition(rows, older),
                    rows.partition_point(|&r| older(r)),
                    "{len} rows, time {t}"
                );
            }
        }
    }

    #[test]
    fn a_row_far_older_than_its_series_newest_switches_the_series_to_the_hash_index() {
        let mut buf = Buffer::default();
        let int = |v| vec![(2, Value::Integer(v))];
        let newer: Vec<TestRow<'_>> = (0..5000).map(|i| ("x", 1000 + i, int(i))).collect();
        apply(&mut buf, batch(newer));
        apply(&mut buf, batch(vec![("y", 7, int(7))]));
        // 5,000 rows newer than it: too far to insert in place (MAX_SORTED_SHIFT).
        apply(&mut buf, batch(vec![("x", 0, int(-1))]));
        let part = &buf.table(1, "cpu").unwrap().partitions[&0];
        assert_eq!(part.series_sorted, [false, true]);
        assert_eq!(part.rows.len(), 5001);
        // Rewrites are found through the index; new rows join it.
        apply(
            &mut buf,
            batch(vec![
                ("x", 0, int(-2)),
                ("x", 3500, int(-3)),
                ("x", 500, int(-4)),
                ("x", 500, int(-5)),
            ]),
        );
        let part = &buf.table(1, "cpu").unwrap().partitions[&0];
        assert_eq!(part.len(), 5003);
        let schema = part.schema();
        let rb = part
            .to_batch_last(&schema, Some((0, 1001)), &[], None)
            .unwrap()
            .unwrap();
        assert_eq!(i64s(&rb, "time"), [0, 500, 1000, 7]);
        assert_eq!(i64s(&rb, "b"), [-2, -5, 0, 7]);
        let newest = part
            .to_batch_last(&schema, None, &[], Some(2))
            .unwrap()
            .unwrap();
        assert_eq!(i64s(&newest, "time"), [5998, 5999, 7]);
        assert_eq!(
            column(part, "b", Int64Array::value)
                .iter()
                .find(|(t, _)| *t == 3500),
            Some(&(3500, Some(-3)))
        );
        // A delete re-sorts every series and drops the index.
        let op = delete_in_cpu(Some((4000, 4500)), None);
        buf.delete(&op);
        let part = &buf.table(1, "cpu").unwrap().partitions[&0];
        assert_eq!(part.series_sorted, [true, true]);
        assert_eq!(part.rows.len(), 0);
        assert_eq!(part.len(), 5003 - 500);
        let rb = part
            .to_batch_last(&schema, Some((0, 1001)), &[], None)
            .unwrap()
            .unwrap();
        assert_eq!(i64s(&rb, "time"), [0, 500, 1000, 7]);
        apply(&mut buf, batch(vec![("x", 500, int(-6))]));
        let part = &buf.table(1, "cpu").unwrap().partitions[&0];
        assert_eq!(part.len(), 5003 - 500);
    }

    #[test]
    fn predicates_select_rows_and_retention_drops_whole_days() {
        let day = crate::catalog::DAY_NS;
        let mut buf = Buffer::default();
        apply(
            &mut buf,
            batch(vec![
                ("x", 1, vec![(1, Value::Float(1.0))]),
                ("y", 2, vec![(1, Value::Float(2.0))]),
                ("x", day + 1, vec![(1, Value::Float(3.0))]),
            ]),
        );
        let t = buf.table(1, "cpu").unwrap();
        let schema = t.partitions[&0].schema();
        let only_y = t.partitions[&0]
            .to_batch(
                &schema,
                None,
                &[crate::types::TagMatch::equals("host", "y")],
            )
            .unwrap()
            .unwrap();
        assert_eq!(only_y.num_rows(), 1);
        assert!(
            t.partitions[&0]
                .to_batch(&schema, Some((2, 3)), &[])
                .unwrap()
                .unwrap()
                .num_rows()
                == 1
        );
        assert!(
            t.partitions[&0]
                .to_batch(&schema, Some((3, 9)), &[])
                .unwrap()
                .is_none()
        );
        let day0 = t.partitions[&0].bytes;
        let before = buf.bytes;
        let freed = buf.drop_before(1, 1);
        assert_eq!(freed, day0);
        assert_eq!(buf.bytes, before - day0);
        assert_eq!(
            buf.table(1, "cpu")
                .unwrap()
                .partitions
                .keys()
                .copied()
                .collect::<Vec<_>>(),
            vec![1]
        );
    }

    #[test]
    fn logged_tables_whose_tag_sets_were_skipped_land_as_batches_read_whole_do() {
        const DAY: i64 = 86_400_000_000_000;
        let at = |time: i64| {
            // Hosts x, y, z named in that order in every batch: the same tag sets.
            batch(vec![
                ("x", time, vec![(1, Value::Float(time as f64))]),
                ("y", time + 1, vec![(2, Value::Integer(time))]),
                ("z", time, vec![(1, Value::Float(-1.0))]),
            ])
        };
        let mut across_days = at(3);
        across_days.tables[0].rows[1].time = DAY + 1;
        let delete_y = delete_in_cpu(None, Some(crate::TagPredicate::eq("host", "y")));
        let steps = [
            Ok(at(1)),
            Ok(at(2)),
            // y's row starts a partition: its tag set is read from the skipped bytes.
            Ok(across_days),
            // Renumbers day 0's series: x and z only, and then y again, new.
            Err(delete_y),
            Ok(at(5)),
            Ok(at(DAY + 7)),
        ];
        let (mut logged, mut whole) = (Buffer::default(), Buffer::default());
        let mut seen = encoding::SeenSeries::default();
        let mut skipped = 0;
        for step in &steps {
            match step {
                Ok(batch) => {
                    let mut bytes = Vec::new();
                    encoding::encode(batch, &mut bytes);
                    let decoded = encoding::decode_logged(&bytes, encoding::FORMAT, &mut seen);
                    let decoded = decoded.unwrap();
                    skipped += usize::from(decoded.tables[0].skipped_series.is_some());
                    logged.apply(&decoded);
                    whole.apply(&batch.as_ref());
                }
                Err(op) => {
                    assert!(logged.delete(op) > 0);
                    whole.delete(op);
                }
            }
        }
        assert_eq!(skipped, 4);
        let read = |buf: &Buffer, day| {
            let part = &buf.table(1, "cpu").unwrap().partitions[&day];
            part.to_batch(&part.schema(), None, &[]).unwrap().unwrap()
        };
        for day in [0, 1] {
            assert_eq!(read(&logged, day), read(&whole, day), "day {day}");
        }
        let hosts = |buf: &Buffer| buf.table(1, "cpu").unwrap().partitions[&0].series.len();
        assert_eq!((hosts(&logged), hosts(&whole)), (3, 3));
        logged.forget_logged_series();
        let kept = logged.dbs[&1]["cpu"].partitions.values();
        assert!(kept.into_iter().all(|part| part.logged_series.is_none()));
    }

    #[test]
    fn a_delete_forgets_emptied_series_and_later_writes_still_merge_with_kept_rows() {
        let mut buf = Buffer::default();
        apply(
            &mut buf,
            batch(vec![
                ("x", 1, vec![(1, Value::Float(1.0))]),
                ("y", 1, vec![(1, Value::Float(2.0))]),
                ("y", 2, vec![(1, Value::Float(3.0))]),
                ("z", 2, vec![(1, Value::Float(4.0))]),
            ]),
        );
        let op = delete_in_cpu(None, Some(crate::TagPredicate::not_eq("host", "y")));
        let before = buf.bytes;
        let freed = buf.delete(&op);
        assert!(freed > 0);
        assert_eq!(buf.bytes, before - freed);
        assert_eq!(
            buf.bytes,
            buf.table(1, "cpu").unwrap().partitions[&0].heap_bytes()
        );
        let part = &buf.table(1, "cpu").unwrap().partitions[&0];
        assert_eq!((part.len(), part.series.len()), (2, 1));
        // Same series and time as a kept row: merged into it, not a second row.
        apply(
            &mut buf,
            batch(vec![("y", 2, vec![(2, Value::Integer(7))])]),
        );
        apply(
            &mut buf,
            batch(vec![("x", 1, vec![(2, Value::Integer(8))])]),
        );
        let part = &buf.table(1, "cpu").unwrap().partitions[&0];
        assert_eq!(part.len(), 3);
        let rb = part.to_batch(&part.schema(), None, &[]).unwrap().unwrap();
        let a = rb.column_by_name("a").unwrap();
        let b = rb.column_by_name("b").unwrap();
        assert_eq!((a.null_count(), b.null_count()), (1, 1));
        // Deleting every row removes the partition and the table.
        let all = DeleteOp {
            request: crate::types::DeleteRequest::default(),
            ..op
        };
        buf.delete(&all);
        assert!(buf.table(1, "cpu").is_none());
        assert_eq!(buf.bytes, 0);
    }

    #[test]
    fn series_share_one_copy_of_each_tag_string_and_a_delete_lets_go_of_unused_ones() {
        let mut buf = Buffer::default();
        let hosts: Vec<String> = (0..1000).map(|i| format!("host-{i:04}")).collect();
        apply(
            &mut buf,
            batch(
                hosts
                    .iter()
                    .map(|h| (h.as_str(), 1, vec![(1, Value::Float(1.0))]))
                    .collect(),
            ),
        );
        let part = &buf.table(1, "cpu").unwrap().partitions[&0];
        // The key `host` once, each value once.
        assert_eq!(part.strings.len(), 1001);
        let key = part.series.get(0).keys[0];
        assert!(part.series.iter().all(|tags| tags.keys[0] == key));
        assert_eq!(part.text(key), "host");
        // One small row each; a series' own bookkeeping is about a hundred bytes.
        let per_series = buf.bytes / 1000;
        assert!(
            (60..200).contains(&per_series),
            "{per_series} bytes per series"
        );
        assert_eq!(buf.bytes, part.heap_bytes());
        let op = delete_in_cpu(None, Some(crate::TagPredicate::not_eq("host", "host-0007")));
        buf.delete(&op);
        let part = &buf.table(1, "cpu").unwrap().partitions[&0];
        assert_eq!((part.series.len(), part.strings.len()), (1, 2));
        assert_eq!(part.schema().tags, ["host"]);
        assert_eq!(buf.bytes, part.heap_bytes());
        // Found again after the index was rebuilt: merged, not a second series.
        apply(
            &mut buf,
            batch(vec![("host-0007", 1, vec![(2, Value::Integer(3))])]),
        );
        apply(
            &mut buf,
            batch(vec![("host-0008", 1, vec![(2, Value::Integer(4))])]),
        );
        let part = &buf.table(1, "cpu").unwrap().partitions[&0];
        assert_eq!(
            (part.len(), part.series.len(), part.strings.len()),
            (2, 2, 3)
        );
    }

    #[test]
    fn after_a_delete_rows_still_come_out_by_series_then_time_and_newest_rows_are_right() {
        let mut buf = Buffer::default();
        apply(
            &mut buf,
            batch(vec![
                ("y", 2, vec![(1, Value::Float(20.0))]),
                ("x", 5, vec![(1, Value::Float(5.0))]),
                ("x", 1, vec![(1, Value::Float(1.0))]),
                ("x", 3, vec![(1, Value::Float(3.0))]),
                ("x", 4, vec![(1, Value::Float(4.0))]),
            ]),
        );
        let op = delete_in_cpu(Some((4, 6)), Some(crate::TagPredicate::eq("host", "x")));
        buf.delete(&op);
        let part = &buf.table(1, "cpu").unwrap().partitions[&0];
        let schema = part.schema();
        let all = part.to_batch(&schema, None, &[]).unwrap().unwrap();
        assert_eq!(i64s(&all, "time"), [1, 3, 2]);
        let newest = part
            .to_batch_last(&schema, None, &[], Some(1))
            .unwrap()
            .unwrap();
        assert_eq!(i64s(&newest, "time"), [3, 2]);
    }
}
