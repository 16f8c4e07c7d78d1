//! A small cache of strings met lately, each with a number, for code that sees the same
//! few values again and again among many (the region, rack or service of every series
//! of a batch): finding one costs a cheap hash of its text and one comparison, not a
//! hash and a look-up in a table of every string.

/// Slots of a [`RecentValues`] made by [`RecentValues::clear`], and the most
/// [`RecentValues::with_slots`] makes; a power of two.
const SLOTS: usize = 256;

/// Strings by a cheap hash of their text, each slot holding the last one that fell in
/// it, with its number. A string that was pushed out is simply not found: users fall back
/// to a full look-up (or to taking it as new).
#[derive(Default)]
pub(crate) struct RecentValues<'b> {
    /// (text, number); a vacant slot has the number `u32::MAX`.
    slots: Vec<(&'b str, u32)>,
}

impl<'b> RecentValues<'b> {
    /// A cache of about `n` slots (a power of two from 2 to 256): one for a few strings
    /// costs little to make.
    pub(crate) fn with_slots(n: usize) -> RecentValues<'b> {
        RecentValues {
            slots: vec![("", u32::MAX); n.clamp(2, SLOTS).next_power_of_two()],
        }
    }

    /// Forgets every string; a cache made by `default` gets 256 slots here.
    pub(crate) fn clear(&mut self) {
        let n = match self.slots.len() {
            0 => SLOTS,
            n => n,
        };
        self.slots.clear();
        self.slots.resize(n, ("", u32::MAX));
    }

    /// The slot of `s`: from its length and its first and last bytes, read as whole
    /// words (a copy into a zeroed word stalls the load that follows it).
    fn slot(&self, s: &str) -> usize {
        let b = s.as_bytes();
        let n = b.len();
        let ends = if n >= 8 {
            let word = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
            word(0) ^ word(n - 8).rotate_left(29)
        } else if n >= 4 {
            let word = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"));
            u64::from(word(0)) << 32 | u64::from(word(n - 4))
        } else if n > 0 {
            u64::from(b[0]) << 16 | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1])
        } else {
            0
        };
        let mixed = ends ^ n as u64;
        // At least 2 slots (a shift by 64 would overflow); none before `clear`.
        let bits = self.slots.len().max(2).trailing_zeros();
        (mixed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - bits)) as usize
    }

    /// The number `s` was put with, if it is still here.
    pub(crate) fn get(&self, s: &str) -> Option<u32> {
        let &(text, id) = self.slots.get(self.slot(s))?;
        (id != u32::MAX && text == s).then_some(id)
    }

    /// Keeps `s` with number `id` (below `u32::MAX`), in place of the string in its slot.
    /// Does nothing before [`RecentValues::clear`] made the slots.
    pub(crate) fn put(&mut self, s: &'b str, id: u32) {
        let at = self.slot(s);
        if let Some(slot) = self.slots.get_mut(at) {
            *slot = (s, id);
        }
    }
}
