//! How a buffered partition keeps its series' tags: every distinct key and value once
//! (a tag of ever new values excepted, see `KeyValues`),
//! as text one after the other, and each series as ids of those, its keys shared with
//! every series that has the same keys.

use std::collections::HashMap;

use super::column::capacity_bytes;

/// A partition's distinct tag keys and values, one after the other in one allocation:
/// a string costs its bytes and where it ends (a high-cardinality tag's values are most
/// of a partition's strings, one per series), not an allocation of its own, and strings
/// added together are read together.
#[derive(Debug, Default, Clone)]
pub(crate) struct Strings {
    text: String,
    ends: Vec<usize>,
}

impl Strings {
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Adds `s`; returns its id.
    pub(super) fn push(&mut self, s: &str) -> u32 {
        self.text.push_str(s);
        self.ends.push(self.text.len());
        (self.ends.len() - 1) as u32
    }

    /// Asks for the cache line of where string `id` starts and ends, the first of the two
    /// reads of its text (see [`Strings::prefetch_text`]).
    pub(super) fn prefetch_bounds(&self, id: u32) {
        if let Some(end) = self.ends.get(id as usize) {
            super::index::prefetch(end);
        }
    }

    /// Asks for the cache line of string `id`'s text (reading where it starts: call
    /// [`Strings::prefetch_bounds`] some time before).
    pub(super) fn prefetch_text(&self, id: u32) {
        let id = id as usize;
        let start = match id {
            0 => 0,
            _ => self.ends.get(id - 1).copied().unwrap_or(usize::MAX),
        };
        if let Some(byte) = self.text.as_bytes().get(start) {
            super::index::prefetch(byte);
        }
    }

    /// Heap bytes of both vectors (their capacities).
    pub(super) fn heap_bytes(&self) -> usize {
        self.text.capacity() + capacity_bytes(&self.ends)
    }
}

impl std::ops::Index<usize> for Strings {
    type Output = str;

    fn index(&self, id: usize) -> &str {
        let start = if id == 0 { 0 } else { self.ends[id - 1] };
        &self.text[start..self.ends[id]]
    }
}

/// The tags of a partition's series, sorted by key: the values of each series one after
/// the other in one vector, and its keys as a shape, the key list it shares with the
/// other series that have the same keys (usually all of a table's). A series of ten
/// tags takes 48 bytes, not 84 as (key, value) pairs, and a new one allocates nothing
/// of its own.
#[derive(Debug, Default, Clone)]
pub(super) struct SeriesTags {
    /// The keys of each shape, one shape after the other.
    keys: Vec<u32>,
    /// Where each shape's keys end in `keys`.
    key_ends: Vec<u32>,
    /// Each shape by its keys.
    shape_ids: HashMap<Box<[u32]>, u32>,
    /// Each series' shape.
    shapes: Vec<u32>,
    /// The values of each series, one series after the other, in its keys' order.
    values: Vec<u32>,
    /// Where each series' values end in `values`.
    ends: Vec<u32>,
    /// The shape of the series added last, which the next one most likely has.
    last_shape: Option<u32>,
}

/// One series' tags: key and value ids of a partition's strings, sorted by key.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tags<'a> {
    pub(super) keys: &'a [u32],
    pub(super) values: &'a [u32],
}

impl<'a> Tags<'a> {
    pub(super) fn len(&self) -> usize {
        self.keys.len()
    }

    /// (key, value) pairs.
    pub(super) fn iter(self) -> impl Iterator<Item = (u32, u32)> + 'a {
        self.keys.iter().copied().zip(self.values.iter().copied())
    }
}

impl SeriesTags {
    pub(super) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Adds a series with `keys` and `values` (as long as each other, sorted by key).
    pub(super) fn push(&mut self, keys: &[u32], values: &[u32]) {
        debug_assert_eq!(keys.len(), values.len());
        let shape = match self.last_shape {
            Some(shape) if self.shape_keys(shape) == keys => shape,
            _ => self.shape_of(keys),
        };
        self.last_shape = Some(shape);
        self.shapes.push(shape);
        self.values.extend_from_slice(values);
        self.ends.push(self.values.len() as u32);
    }

    /// The id of the shape with `keys`, added if new.
    fn shape_of(&mut self, keys: &[u32]) -> u32 {
        if let Some(&shape) = self.shape_ids.get(keys) {
            return shape;
        }
        let shape = self.key_ends.len() as u32;
        self.keys.extend_from_slice(keys);
        self.key_ends.push(self.keys.len() as u32);
        self.shape_ids.insert(keys.into(), shape);
        shape
    }

    fn shape_keys(&self, shape: u32) -> &[u32] {
        let s = shape as usize;
        let start = if s == 0 { 0 } else { self.key_ends[s - 1] };
        &self.keys[start as usize..self.key_ends[s] as usize]
    }

    /// The tags of series `s`.
    /// The id of series `s`'s key list, shared by every series with the same keys.
    pub(super) fn shape(&self, s: usize) -> u32 {
        self.shapes[s]
    }

    pub(super) fn get(&self, s: usize) -> Tags<'_> {
        let start = if s == 0 { 0 } else { self.ends[s - 1] };
        Tags {
            keys: self.shape_keys(self.shapes[s]),
            values: &self.values[start as usize..self.ends[s] as usize],
        }
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = Tags<'_>> {
        (0..self.len()).map(|s| self.get(s))
    }

    /// Renumbers every key and value id `id` to `new_id[id]` (the order of a shape's keys
    /// by text is unchanged: only their ids change).
    pub(super) fn renumber(&mut self, new_id: &[u32]) {
        for id in self.keys.iter_mut().chain(self.values.iter_mut()) {
            *id = new_id[*id as usize];
        }
        self.shape_ids = (0..self.key_ends.len() as u32)
            .map(|shape| (self.shape_keys(shape).into(), shape))
            .collect();
    }

    /// Every key id of every shape.
    pub(super) fn all_keys(&self) -> &[u32] {
        &self.keys
    }

    /// Every value id of every series.
    pub(super) fn all_values(&self) -> &[u32] {
        &self.values
    }

    /// Heap bytes of the vectors (their capacities) and the shapes' index.
    pub(super) fn heap_bytes(&self) -> usize {
        const SHAPE_SLOT: usize = size_of::<(Box<[u32]>, u32)>() + 1;
        capacity_bytes(&self.keys) * 2
            + capacity_bytes(&self.key_ends)
            + self.shape_ids.capacity() * SHAPE_SLOT
            + capacity_bytes(&self.shapes)
            + capacity_bytes(&self.values)
            + capacity_bytes(&self.ends)
    }
}

/// The tag sets of a partition's series, copied out of it: a few vectors, however many
/// series and strings there are.
pub(crate) struct TagSets {
    pub(super) series: SeriesTags,
    pub(super) strings: Strings,
}

impl TagSets {
    /// Each series' tags as (key, value), sorted by key.
    pub(crate) fn iter(&self) -> impl Iterator<Item = impl Iterator<Item = (&str, &str)>> {
        self.series.iter().map(|tags| {
            tags.iter()
                .map(|(k, v)| (&self.strings[k as usize], &self.strings[v as usize]))
        })
    }
}

/// The value of tag `name` in a series' tags (ids of `strings`).
pub(super) fn tag_value<'a>(strings: &'a Strings, tags: Tags<'_>, name: &str) -> Option<&'a str> {
    tags.keys
        .binary_search_by(|k| strings[*k as usize].cmp(name))
        .ok()
        .map(|i| &strings[tags.values[i] as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_share_the_keys_of_their_shape_and_keep_their_own_values() {
        let mut series = SeriesTags::default();
        series.push(&[1, 2], &[10, 20]);
        series.push(&[1, 2], &[11, 21]);
        series.push(&[1], &[12]);
        series.push(&[], &[]);
        series.push(&[1, 2], &[13, 23]);
        let all: Vec<Vec<(u32, u32)>> = series.iter().map(|t| t.iter().collect()).collect();
        assert_eq!(
            all,
            [
                vec![(1, 10), (2, 20)],
                vec![(1, 11), (2, 21)],
                vec![(1, 12)],
                vec![],
                vec![(1, 13), (2, 23)],
            ]
        );
        // Three shapes, each key list once.
        assert_eq!(series.all_keys(), [1, 2, 1]);
        series.renumber(&(0..30).map(|id| id + 100).collect::<Vec<u32>>());
        series.push(&[101, 102], &[7, 8]);
        assert_eq!(series.all_keys(), [101, 102, 101]);
        assert_eq!(
            series.get(1).iter().collect::<Vec<_>>(),
            [(101, 111), (102, 121)]
        );
        assert_eq!(
            series.get(5).iter().collect::<Vec<_>>(),
            [(101, 7), (102, 8)]
        );
    }
}
