//! The index a partition finds its series and its strings by: ids filed under 32 bits
//! of their key's hash, in one array probed linearly, so that a look-up reads one cache
//! line (entry and hash bits together) and can be asked for ahead of time
//! ([`IdIndex::prefetch`]). A partition of a million series misses the cache on each
//! look-up; applying a batch asks for the lines of its next series while it places the
//! rows of the current one.

/// 32 bits of a hash, what the index keeps of its entries' hashes: an entry of 8 bytes
/// rather than 16 (a partition of a million series has two million entries), and eight
/// to a cache line. Two keys sharing the 32 bits are told apart by comparing them, as
/// keys sharing a full hash would be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Short(u32);

impl Short {
    pub(super) fn of(hash: u64) -> Short {
        Short(hash as u32)
    }

    /// The bits spread over 64 (by an odd multiplier): the index takes an entry's first
    /// slot from the high bits, which depend on all 32.
    fn spread(self) -> u64 {
        u64::from(self.0).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}

/// Asks the processor to bring the cache line of `at` in, ahead of a read that would
/// otherwise wait for memory; a hint, with no effect on what the program sees.
#[inline]
pub(super) fn prefetch<T>(at: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        let at: *const T = at;
        // SAFETY: `at` comes from a reference, so it points at live memory; a prefetch
        // reads nothing the program sees and cannot fault.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.cast::<i8>());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// An entry: the hash bits high, the id low. An id of `u32::MAX` marks a vacant slot.
type Entry = u64;

const VACANT: Entry = u64::MAX;

/// Ids (below `u32::MAX`) by 32 bits of their key's hash, in open addressing with linear
/// probing, at most three quarters full. Entries are never removed one by one: a
/// partition that forgets series builds its index again.
#[derive(Debug, Clone)]
pub(super) struct IdIndex {
    slots: Vec<Entry>,
    len: usize,
    /// 64 minus log2 of the slot count: an entry's first slot is its spread hash shifted
    /// right by this.
    shift: u32,
}

impl Default for IdIndex {
    fn default() -> IdIndex {
        IdIndex::with_capacity(0)
    }
}

/// Bytes an entry takes, at the index's fullest (what the byte counts charge per entry).
pub(super) const ENTRY_BYTES: usize = size_of::<Entry>() * 4 / 3;

impl IdIndex {
    /// An index that takes `n` entries before it grows.
    pub(super) fn with_capacity(n: usize) -> IdIndex {
        let slots = (n * 4 / 3 + 1).next_power_of_two().max(8);
        IdIndex {
            slots: vec![VACANT; slots],
            len: 0,
            shift: 64 - slots.trailing_zeros(),
        }
    }

    fn first_slot(&self, short: Short) -> usize {
        (short.spread() >> self.shift) as usize
    }

    /// Asks the processor to bring in the cache line `short`'s look-up starts at; a
    /// hint, with no effect on what the index holds.
    #[inline]
    pub(super) fn prefetch(&self, short: Short) {
        prefetch(&self.slots[self.first_slot(short)]);
    }

    /// The id filed under `short` for which `same` holds, if any.
    #[inline]
    pub(super) fn find(&self, short: Short, mut same: impl FnMut(u32) -> bool) -> Option<u32> {
        let mask = self.slots.len() - 1;
        let mut at = self.first_slot(short);
        loop {
            let entry = self.slots[at];
            if entry == VACANT {
                return None;
            }
            if (entry >> 32) as u32 == short.0 && same(entry as u32) {
                return Some(entry as u32);
            }
            at = (at + 1) & mask;
        }
    }

    /// Files `id` (below `u32::MAX`) under `short`; the caller knows its key is not in
    /// the index yet.
    pub(super) fn insert(&mut self, short: Short, id: u32) {
        debug_assert!(id != u32::MAX);
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        self.put(short, id);
        self.len += 1;
    }

    fn put(&mut self, short: Short, id: u32) {
        let mask = self.slots.len() - 1;
        let mut at = self.first_slot(short);
        while self.slots[at] != VACANT {
            at = (at + 1) & mask;
        }
        self.slots[at] = (u64::from(short.0) << 32) | u64::from(id);
    }

    /// Twice the slots, the entries filed again by their kept hash bits.
    fn grow(&mut self) {
        let doubled = vec![VACANT; self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, doubled);
        self.shift -= 1;
        for entry in old.into_iter().filter(|&e| e != VACANT) {
            self.put(Short((entry >> 32) as u32), entry as u32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_found_by_hash_bits_and_key_through_growth_and_collisions() {
        // Keys are numbers; a third of them share their hash bits with another.
        let short = |key: u32| Short::of(u64::from(key / 3).wrapping_mul(2_654_435_761));
        let mut index = IdIndex::default();
        let keys: Vec<u32> = (0..10_000).map(|k| k * 7).collect();
        for (id, &key) in keys.iter().enumerate() {
            assert_eq!(index.find(short(key), |i| keys[i as usize] == key), None);
            index.insert(short(key), id as u32);
            index.prefetch(short(key));
        }
        assert!(index.slots.len() * 3 >= keys.len() * 4);
        for (id, &key) in keys.iter().enumerate() {
            let found = index.find(short(key), |i| keys[i as usize] == key);
            assert_eq!(found, Some(id as u32), "key {key}");
        }
        // Absent keys, some with the hash bits of present ones.
        for key in [1, 2, 8, 69_995, 70_001] {
            assert_eq!(index.find(short(key), |i| keys[i as usize] == key), None);
        }
    }

    #[test]
    fn every_slot_but_a_quarter_may_fill_and_a_probe_wraps_around() {
        // All entries in the last slots: probes run past the end of the array.
        let mut index = IdIndex::with_capacity(6);
        let slots = index.slots.len();
        let last = (0..=u32::MAX / 4)
            .map(|k| Short(k.wrapping_mul(4) + 1))
            .find(|&s| index.first_slot(s) == slots - 1)
            .expect("a hash whose first slot is the last");
        for id in 0..6 {
            index.insert(last, id);
        }
        assert_eq!(index.slots.len(), slots);
        for id in 0..6 {
            assert_eq!(index.find(last, |i| i == id), Some(id));
        }
        assert_eq!(index.find(last, |_| false), None);
    }
}
