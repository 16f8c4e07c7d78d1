//! Reading a name by comparing it with the name in the same place of the last line.
//!
//! The lines of one batch repeat their measurement, tag keys and field keys. A
//! [`Template`] holds one such name and the byte that ended it (`=`, `,` or a space) as the
//! parser read them last time. Where the input holds those bytes again, the name ends where
//! it ended then and holds no special byte, so the parser need not scan it: one compare of
//! 32 bytes stands for the scan and for the checks of the name.

/// A name and the byte after it, as read from an earlier line.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Template {
    /// The bytes of the name and the byte after it, zero-padded to 32, little-endian.
    bytes: [u128; 2],
    /// All ones over the bytes of `bytes` that count, zero over the padding.
    mask: [u128; 2],
    /// The length of the name; 0 for a template that matches nothing.
    len: usize,
}

impl Template {
    /// The longest name a template holds (with the byte after it, 32 bytes).
    pub(crate) const MAX_NAME: usize = 31;

    /// The template of the name at `input[at..at + len]` and the byte after it; one that
    /// matches nothing when the name is empty or longer than [`Template::MAX_NAME`], or
    /// when the input ends before the byte after it.
    ///
    /// The caller vouches for the name: it was read (and accepted) up to that byte, so
    /// that any later match of the template can be read the same way.
    pub(crate) fn of(input: &[u8], at: usize, len: usize) -> Self {
        let Some(window) = input.get(at..at + len + 1) else {
            return Self::default();
        };
        if len == 0 || len > Self::MAX_NAME {
            return Self::default();
        }
        let mut bytes = [0u8; 32];
        let mut mask = [0u8; 32];
        bytes[..=len].copy_from_slice(window);
        mask[..=len].fill(0xff);
        let halves = |b: [u8; 32]| {
            let (lo, hi) = b.split_at(16);
            [
                u128::from_le_bytes(lo.try_into().expect("sixteen bytes")),
                u128::from_le_bytes(hi.try_into().expect("sixteen bytes")),
            ]
        };
        Self {
            bytes: halves(bytes),
            mask: halves(mask),
            len,
        }
    }

    /// Where the name ends (the offset of the byte after it) when the input at `at` holds
    /// the template's name and the byte after it; `None` otherwise, and when fewer than 32
    /// bytes of input remain at `at`.
    #[inline(always)]
    pub(crate) fn end_at(&self, input: &[u8], at: usize) -> Option<usize> {
        // (`at` is an offset into `input`, far from overflowing.)
        let window: &[u8; 32] = input.get(at..at.wrapping_add(32))?.try_into().ok()?;
        let (lo, hi) = window.split_at(16);
        let lo = u128::from_le_bytes(lo.try_into().expect("sixteen bytes"));
        let hi = u128::from_le_bytes(hi.try_into().expect("sixteen bytes"));
        let differ = ((lo ^ self.bytes[0]) & self.mask[0]) | ((hi ^ self.bytes[1]) & self.mask[1]);
        (differ == 0 && self.len != 0).then_some(at + self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The obvious answer to [`Template::end_at`]: the same name and byte after it, in an
    /// input with 32 bytes from `at`.
    fn end_by_bytes(
        input: &[u8],
        at: usize,
        name: &[u8],
        after: u8,
        usable: bool,
    ) -> Option<usize> {
        let fits = input.len().checked_sub(at).is_some_and(|rest| rest >= 32);
        let same = input.get(at..at + name.len()) == Some(name)
            && input.get(at + name.len()) == Some(&after);
        (usable && fits && same).then_some(at + name.len())
    }

    proptest! {
        #[test]
        fn a_template_matches_exactly_its_name_and_the_byte_after(
            recorded in prop::collection::vec(prop::sample::select(b"ab=, ".to_vec()), 1..40),
            len in 0usize..36,
            input in prop::collection::vec(prop::sample::select(b"ab=, ".to_vec()), 0..80),
            at in 0usize..80,
        ) {
            let len = len.min(recorded.len() - 1);
            let template = Template::of(&recorded, 0, len);
            let usable = len > 0 && len <= Template::MAX_NAME;
            prop_assert_eq!(
                template.end_at(&input, at),
                end_by_bytes(&input, at, &recorded[..len], recorded[len], usable)
            );
            // And wherever the recorded bytes themselves stand in the input.
            let mut planted = input.clone();
            let at = at.min(planted.len());
            planted.splice(at..at, recorded[..=len].iter().copied());
            prop_assert_eq!(
                template.end_at(&planted, at),
                end_by_bytes(&planted, at, &recorded[..len], recorded[len], usable)
            );
        }
    }

    #[test]
    fn a_default_template_matches_nothing() {
        let input = [b'='; 64];
        assert_eq!(Template::default().end_at(&input, 0), None);
        assert_eq!(Template::of(&input, 0, 0).end_at(&input, 0), None);
        assert_eq!(Template::of(&input, 60, 10).end_at(&input, 0), None);
    }
}
