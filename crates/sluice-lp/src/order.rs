//! Sorting a line's tags by key cheaply when the lines of a batch repeat their tag keys.
//!
//! Line protocol writers tend to send every line of a series with the same tag keys in the
//! same (often unsorted) order. [`TagOrder`] remembers the order that sorted the last
//! line's keys; the parser, which knows when a line's keys equal the last line's (see
//! [`crate::template`]), reuses it with no comparison of keys at all.

/// The most tags [`TagOrder`] sorts; a line with more goes to the general sort.
pub(crate) const MAX_TAGS: usize = 32;

/// Up to the first sixteen bytes of `name` as a big-endian number, zero-padded: comparing
/// two of these orders names as their bytes do, up to a tie that only the full names
/// settle (names never hold a zero byte).
fn order_prefix(name: &[u8]) -> u128 {
    let mut head = [0u8; 16];
    let n = name.len().min(16);
    head[..n].copy_from_slice(&name[..n]);
    u128::from_be_bytes(head)
}

/// The order that sorted the last line's tags.
#[derive(Debug, Clone)]
pub(crate) struct TagOrder {
    /// How many tags `source` orders; [`TagOrder::NONE`] when it orders none.
    len: usize,
    /// `source[s]`: the input position of the tag that belongs in slot `s`.
    source: [u8; MAX_TAGS],
}

impl Default for TagOrder {
    fn default() -> Self {
        Self {
            len: Self::NONE,
            source: [0; MAX_TAGS],
        }
    }
}

impl TagOrder {
    /// [`TagOrder::len`] when no order is remembered.
    const NONE: usize = usize::MAX;

    /// Drops the remembered order, for when the keys it was found for may have changed
    /// unseen.
    #[cold]
    pub(crate) fn forget(&mut self) {
        self.len = Self::NONE;
    }

    /// The input positions of a line's `n` tags in key order, or `None` when two keys are
    /// equal. `same` says that the line's keys equal, place by place, those of the line
    /// this was last asked about: then, with as many tags, its order is this line's.
    /// `key(k)` is the key of input tag `k`.
    #[inline]
    pub(crate) fn order<'k>(
        &mut self,
        n: usize,
        same: bool,
        key: impl Fn(usize) -> &'k [u8],
    ) -> Option<&[u8]> {
        let known = same && n == self.len;
        if known || self.learn(n, key) {
            Some(&self.source[..n])
        } else {
            None
        }
    }

    /// Finds and remembers the order of `n` tags; false when two keys are equal.
    #[cold]
    #[inline(never)]
    fn learn<'k>(&mut self, n: usize, key: impl Fn(usize) -> &'k [u8]) -> bool {
        self.len = Self::NONE;
        if n > MAX_TAGS {
            return false;
        }
        let mut prefixes = [0u128; MAX_TAGS];
        for (k, prefix) in prefixes.iter_mut().enumerate().take(n) {
            *prefix = order_prefix(key(k));
        }
        // Whether tag `a` goes strictly before tag `b` (in input positions).
        let before = |a: u8, b: u8| {
            let (a, b) = (usize::from(a), usize::from(b));
            let (pa, pb) = (prefixes[a], prefixes[b]);
            pa < pb || (pa == pb && key(a) < key(b))
        };
        let mut source = [0u8; MAX_TAGS];
        for (k, slot) in source.iter_mut().enumerate().take(n) {
            *slot = k as u8;
        }
        // Insertion sort of the positions: tag sets are short.
        for i in 1..n {
            let mut j = i;
            while j > 0 && before(source[j], source[j - 1]) {
                source.swap(j, j - 1);
                j -= 1;
            }
        }
        // Neither before the other: equal keys.
        if source[..n].windows(2).any(|pair| !before(pair[0], pair[1])) {
            return false;
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

    proptest! {
        #[test]
        fn orders_like_a_plain_sort_and_reuses_orders_safely(
            lines in prop::collection::vec(
                prop::collection::vec(
                    prop::sample::select(vec![
                        "a", "b", "ab", "service", "service_version", "service_environment",
                        "service_environment_x", "service_environment_y", "zz", "é",
                        "abcdefghijklmnopqrstuvwxyz0123456_a",
                        "abcdefghijklmnopqrstuvwxyz0123456_b",
                    ]),
                    0..12,
                ),
                1..8,
            ),
            repeat in 0usize..3,
            forget in any::<bool>(),
        ) {
            let mut order = TagOrder::default();
            let mut last: Option<&Vec<&str>> = None;
            for line in &lines {
                for _ in 0..=repeat {
                    let mut want: Vec<usize> = (0..line.len()).collect();
                    want.sort_by_key(|&k| line[k]);
                    let duplicate = want.windows(2).any(|p| line[p[0]] == line[p[1]]);
                    // `same` as the parser passes it: the keys equal the last line's,
                    // place by place (where the last line had them).
                    let same = last.is_some_and(|last| {
                        line.iter().zip(last.iter()).all(|(a, b)| a == b)
                    });
                    let got = order
                        .order(line.len(), same, |k| line[k].as_bytes())
                        .map(|source| source.iter().map(|&k| usize::from(k)).collect::<Vec<_>>());
                    prop_assert_eq!(got.is_none(), duplicate);
                    if let Some(got) = got {
                        prop_assert_eq!(got, want);
                    }
                    last = Some(line);
                    if forget {
                        order.forget();
                    }
                }
            }
        }
    }
}
