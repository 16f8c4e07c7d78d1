//! Sorting a line's tags by key cheaply when the lines of a batch repeat one key order.
//!
//! Line protocol writers tend to send every line of a series with its tags in the same
//! (often unsorted) order. [`TagOrder`] remembers the moves that sorted the last line's
//! tags and, after checking that they sort this line too, replays them: a few compares
//! and swaps, with no sorting and no branch that depends on the keys.

use std::borrow::Cow;

/// The most tags [`TagOrder`] sorts; a line with more goes to the general sort.
pub(crate) const MAX_TAGS: usize = 32;

/// A tag as the parser holds it: key, then value.
type Tag<'a> = (Cow<'a, str>, Cow<'a, str>);

/// The order that sorted the last line's tags, and their keys' prefixes for this line.
#[derive(Debug, Clone)]
pub(crate) struct TagOrder {
    /// `prefixes[k]`: [`order_prefix`] of the key of the line's `k`-th tag, in input order
    /// (set by the parser as it reads each tag).
    pub(crate) prefixes: [u128; MAX_TAGS],
    /// How many tags the remembered order is for; 0 when none is remembered.
    len: usize,
    /// `source[s]`: the input position of the tag that belongs in slot `s`.
    source: [u8; MAX_TAGS],
    /// The swaps, in order, that move the tags from input order into key order.
    swaps: [(u8, u8); MAX_TAGS],
    swap_count: usize,
}

impl Default for TagOrder {
    fn default() -> Self {
        Self {
            prefixes: [0; MAX_TAGS],
            len: 0,
            source: [0; MAX_TAGS],
            swaps: [(0, 0); MAX_TAGS],
            swap_count: 0,
        }
    }
}

/// Up to the first sixteen bytes of `name` as a big-endian number, zero-padded: comparing
/// two of these orders names as their bytes do, up to a tie that only the full names
/// settle (names never hold a zero byte).
pub(crate) fn order_prefix(name: &[u8]) -> u128 {
    let mut head = [0u8; 16];
    let n = name.len().min(16);
    head[..n].copy_from_slice(&name[..n]);
    u128::from_be_bytes(head)
}

/// `KEEP[n]`: the mask that keeps the first `n` bytes of a big-endian sixteen-byte word.
const KEEP: [u128; 17] = {
    let mut masks = [0u128; 17];
    let mut n = 1;
    while n < 16 {
        masks[n] = !(u128::MAX >> (8 * n));
        n += 1;
    }
    masks[16] = u128::MAX;
    masks
};

/// [`order_prefix`] of the name at `input[at..at + len]`, read as one sixteen-byte word
/// when the input holds sixteen bytes from `at`.
#[inline(always)]
pub(crate) fn order_prefix_at(input: &[u8], at: usize, len: usize) -> u128 {
    match input.get(at..).and_then(<[u8]>::first_chunk::<16>) {
        Some(word) => u128::from_be_bytes(*word) & KEEP[len.min(16)],
        None => order_prefix(&input[at..at + len]),
    }
}

impl TagOrder {
    /// Sorts `tags`, read in input order with their key prefixes in `self.prefixes`, by
    /// key. Returns false, leaving `tags` in some order, when two keys are equal.
    #[inline]
    pub(crate) fn sort(&mut self, tags: &mut [Tag<'_>]) -> bool {
        if tags.len() > MAX_TAGS {
            return false;
        }
        if !self.sorts(tags) && !self.learn(tags) {
            return false;
        }
        for &(a, b) in &self.swaps[..self.swap_count] {
            tags.swap(usize::from(a), usize::from(b));
        }
        true
    }

    /// Whether tag `a` goes strictly before tag `b` (in input positions).
    #[inline(always)]
    fn before(&self, tags: &[Tag<'_>], a: usize, b: usize) -> bool {
        let (pa, pb) = (self.prefixes[a], self.prefixes[b]);
        pa < pb || (pa == pb && tags[a].0 < tags[b].0)
    }

    /// Whether the remembered order puts these tags' keys in strictly increasing order.
    #[inline]
    fn sorts(&self, tags: &[Tag<'_>]) -> bool {
        self.len == tags.len()
            && self.source[..self.len]
                .windows(2)
                .all(|pair| self.before(tags, usize::from(pair[0]), usize::from(pair[1])))
    }

    /// Finds and remembers the order of `tags` (and the swaps that make it); false when
    /// two keys are equal.
    #[cold]
    fn learn(&mut self, tags: &[Tag<'_>]) -> bool {
        let n = tags.len();
        self.len = 0;
        self.swap_count = 0;
        let mut source = [0u8; MAX_TAGS];
        for (k, slot) in source.iter_mut().enumerate().take(n) {
            *slot = k as u8;
        }
        // Insertion sort of the positions: tag sets are short.
        for i in 1..n {
            let mut j = i;
            while j > 0 && self.before(tags, usize::from(source[j]), usize::from(source[j - 1])) {
                source.swap(j, j - 1);
                j -= 1;
            }
        }
        // Neither before the other: equal keys.
        if source[..n]
            .windows(2)
            .any(|pair| !self.before(tags, usize::from(pair[0]), usize::from(pair[1])))
        {
            return false;
        }
        // The swaps: fill slot by slot, tracking where each tag has moved.
        let mut slot_of = [0u8; MAX_TAGS];
        let mut held_by = [0u8; MAX_TAGS];
        for k in 0..n {
            slot_of[k] = k as u8;
            held_by[k] = k as u8;
        }
        for (s, &wanted) in source.iter().enumerate().take(n) {
            let from = usize::from(slot_of[usize::from(wanted)]);
            if from != s {
                let displaced = held_by[s];
                self.swaps[self.swap_count] = (s as u8, from as u8);
                self.swap_count += 1;
                held_by.swap(s, from);
                slot_of[usize::from(wanted)] = s as u8;
                slot_of[usize::from(displaced)] = from as u8;
            }
        }
        self.source = source;
        self.len = n;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tags_of(keys: &[String]) -> Vec<Tag<'_>> {
        keys.iter()
            .enumerate()
            .map(|(i, k)| (Cow::Borrowed(k.as_str()), Cow::Owned(i.to_string())))
            .collect()
    }

    fn prefixes_for(order: &mut TagOrder, tags: &[Tag<'_>]) {
        for (k, (key, _)) in tags.iter().enumerate() {
            order.prefixes[k] = order_prefix(key.as_bytes());
        }
    }

    #[test]
    fn prefix_words_match_prefixes_of_the_name() {
        let input = b"service_environment=test,service_version=1,a=b,x";
        for at in 0..input.len() {
            for len in 1..=input.len() - at {
                assert_eq!(
                    order_prefix_at(input, at, len),
                    order_prefix(&input[at..at + len]),
                    "at {at} len {len}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn sorts_like_a_plain_sort_and_reuses_orders_safely(
            lines in prop::collection::vec(
                prop::collection::vec(
                    prop::sample::select(vec![
                        "a", "b", "ab", "service", "service_version", "service_environment",
                        "service_environment_x", "service_environment_y", "zz", "é",
                    ]),
                    0..12,
                ),
                1..8,
            ),
            repeat in 0usize..3,
        ) {
            let mut order = TagOrder::default();
            for line in &lines {
                for _ in 0..=repeat {
                    let keys: Vec<String> = line.iter().map(|k| k.to_string()).collect();
                    let mut tags = tags_of(&keys);
                    prefixes_for(&mut order, &tags);
                    let mut want = tags.clone();
                    want.sort_by(|a, b| a.0.cmp(&b.0));
                    let duplicate = want.windows(2).any(|p| p[0].0 == p[1].0);
                    let sorted = order.sort(&mut tags);
                    prop_assert_eq!(sorted, !duplicate);
                    if sorted {
                        prop_assert_eq!(&tags, &want);
                    }
                }
            }
        }
    }
}
