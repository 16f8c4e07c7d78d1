//! Finding the next byte that can end a name token, 64 bytes of input at a time.
//!
//! A measurement, tag key, tag value or field key runs until a space, `,`, `=`, backslash,
//! control byte (0x00..=0x1f, 0x7f) or non-ASCII byte: the special bytes (the ones the
//! parser's class table marks). [`Specials`] classifies 64 bytes at once into a bit mask
//! (with AVX2 on x86_64 where the CPU has it, else with SSE2, with eight-byte words
//! elsewhere) and keeps it, so that finding the end of each of the short tokens of a line
//! costs a shift and a bit count, not a loop over its bytes.

/// Whether `byte` can end a name token (or needs a closer look inside one): space, `,`,
/// `=`, backslash, a control byte (0x00..=0x1f, 0x7f) or a non-ASCII byte (0x80..=0xff).
/// The reference that the block classifiers are tested against.
#[cfg(test)]
fn is_special(byte: u8) -> bool {
    byte <= b' ' || byte >= 0x7f || byte == b',' || byte == b'=' || byte == b'\\'
}

/// The bytes of a block: one bit of the mask per byte.
const BLOCK: usize = 64;

/// A cursor over the special bytes of one input, caching the mask of the last 64-byte
/// block it classified.
#[derive(Debug, Clone)]
pub(crate) struct Specials {
    /// Offset of the first byte of the cached block.
    at: usize,
    /// Bit `k` set when the byte at `at + k` is special or lies past the input's end.
    mask: u64,
    /// How blocks are classified.
    classifier: Classifier,
}

/// The instructions that classify a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Classifier {
    /// AVX2, 32 bytes per step; made only by [`Classifier::detect`], when the CPU has it.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    Avx2,
    /// What every CPU of the target has: SSE2 on x86_64, 64-bit words elsewhere.
    Baseline,
}

impl Classifier {
    /// The fastest classifier this CPU runs.
    fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            return Classifier::Avx2;
        }
        Classifier::Baseline
    }
}

impl Specials {
    /// A cursor over `input`, with its first block classified.
    pub(crate) fn new(input: &[u8]) -> Self {
        Self::with_classifier(input, Classifier::detect())
    }

    fn with_classifier(input: &[u8], classifier: Classifier) -> Self {
        Self {
            at: 0,
            mask: block_mask(input, 0, classifier),
            classifier,
        }
    }

    /// The offset of the first special byte of `input` at or after `from`, or
    /// `input.len()` when there is none (and `from` itself when `from >= input.len()`).
    ///
    /// `input` must be the slice this cursor was made for: the cached mask describes it.
    #[inline(always)]
    pub(crate) fn next(&mut self, input: &[u8], from: usize) -> usize {
        let rel = from.wrapping_sub(self.at);
        if rel < BLOCK {
            let ahead = self.mask >> rel;
            if ahead != 0 {
                return from + ahead.trailing_zeros() as usize;
            }
        }
        #[cfg(target_arch = "x86_64")]
        if self.classifier == Classifier::Avx2 {
            // SAFETY: `Classifier::Avx2` is made only where the CPU has AVX2.
            return unsafe { self.next_in_new_blocks_avx2(input, from) };
        }
        self.next_in_new_blocks(input, from)
    }

    /// [`Specials::next`] past the cached block: classifies blocks until one holds a
    /// special byte at or after `from`.
    #[inline(never)]
    fn next_in_new_blocks(&mut self, input: &[u8], from: usize) -> usize {
        self.classify_from(input, from, classify_baseline)
    }

    /// [`Specials::next_in_new_blocks`] with AVX2, all in one function.
    ///
    /// # Safety
    ///
    /// The CPU must have AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[inline(never)]
    unsafe fn next_in_new_blocks_avx2(&mut self, input: &[u8], from: usize) -> usize {
        // SAFETY: the caller vouches for AVX2.
        self.classify_from(input, from, |block| unsafe { classify_avx2(block) })
    }

    /// The body of [`Specials::next_in_new_blocks`], with `classify` for full blocks.
    #[inline(always)]
    fn classify_from(
        &mut self,
        input: &[u8],
        from: usize,
        classify: impl Fn(&[u8; BLOCK]) -> u64,
    ) -> usize {
        let rel = from.wrapping_sub(self.at);
        // Inside the cached block there is nothing left: go on right after it. Elsewhere
        // (before it, or beyond its end) start afresh at `from`.
        let mut at = if rel < BLOCK { self.at + BLOCK } else { from };
        loop {
            let mask = match input.get(at..at.saturating_add(BLOCK)) {
                Some(block) => classify(block.try_into().expect("a slice of BLOCK bytes")),
                None => tail_mask(input, at, self.classifier),
            };
            if mask != 0 {
                self.at = at;
                self.mask = mask;
                return at + mask.trailing_zeros() as usize;
            }
            at += BLOCK;
        }
    }
}

/// Bit `k` set when the byte at `at + k` is special or lies past the end of `input`
/// (so a block reaching past the end always has a bit set, at `input.len()`).
#[inline(always)]
fn block_mask(input: &[u8], at: usize, classifier: Classifier) -> u64 {
    match input.get(at..at.saturating_add(BLOCK)) {
        Some(block) => {
            let block: &[u8; BLOCK] = block.try_into().expect("a slice of BLOCK bytes");
            classify(block, classifier)
        }
        None => tail_mask(input, at, classifier),
    }
}

/// [`block_mask`] for the last, short block (or one past the end), out of the hot path.
#[cold]
#[inline(never)]
fn tail_mask(input: &[u8], at: usize, classifier: Classifier) -> u64 {
    // Padded with zero bytes, which are control bytes and so special.
    let tail = input.get(at..).unwrap_or(&[]);
    let mut padded = [0u8; BLOCK];
    padded[..tail.len()].copy_from_slice(tail);
    classify(&padded, classifier)
}

/// Bit `k` set when `block[k]` is special.
#[inline(always)]
fn classify(block: &[u8; BLOCK], classifier: Classifier) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if classifier == Classifier::Avx2 {
        // SAFETY: `Classifier::Avx2` is made only where the CPU has AVX2.
        return unsafe { classify_avx2(block) };
    }
    let _ = classifier;
    classify_baseline(block)
}

/// [`classify`] with what every CPU of the target has.
#[inline(always)]
fn classify_baseline(block: &[u8; BLOCK]) -> u64 {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        classify_sse2(block)
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        classify_words(block)
    }
}

/// [`classify`] with SSE2: sixteen bytes per step.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn classify_sse2(block: &[u8; BLOCK]) -> u64 {
    use std::arch::x86_64::{
        __m128i, _mm_add_epi8, _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8,
        _mm_or_si128, _mm_set1_epi8,
    };

    /// Bit `k` set when byte `k` of the sixteen at `block[offset..]` is special.
    #[inline(always)]
    fn sixteen(block: &[u8; BLOCK], offset: usize) -> u64 {
        let bytes: &[u8; 16] = block[offset..offset + 16]
            .try_into()
            .expect("sixteen bytes");
        // SAFETY: SSE2 is enabled for this build (the `cfg` above), so its intrinsics
        // may run; the one load reads the sixteen bytes of `bytes`, which it borrows,
        // and an unaligned load accepts any address.
        unsafe {
            let v = _mm_loadu_si128(bytes.as_ptr().cast::<__m128i>());
            // Signed comparison of the byte plus one (wrapping): below 0x22 are the
            // control bytes and space (0x01..=0x21), 0x7f and the non-ASCII bytes
            // (negative as `i8`, or 0 for 0xff).
            let plus_one = _mm_add_epi8(v, _mm_set1_epi8(1));
            let below = _mm_cmplt_epi8(plus_one, _mm_set1_epi8(0x22));
            let comma = _mm_cmpeq_epi8(v, _mm_set1_epi8(b',' as i8));
            let equals = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'=' as i8));
            let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
            let special = _mm_or_si128(_mm_or_si128(below, backslash), _mm_or_si128(comma, equals));
            u64::from(_mm_movemask_epi8(special) as u16)
        }
    }

    sixteen(block, 0)
        | sixteen(block, 16) << 16
        | sixteen(block, 32) << 32
        | sixteen(block, 48) << 48
}

/// [`classify`] with AVX2: 32 bytes per step.
///
/// # Safety
///
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn classify_avx2(block: &[u8; BLOCK]) -> u64 {
    use std::arch::x86_64::{
        __m256i, _mm256_add_epi8, _mm256_cmpeq_epi8, _mm256_cmpgt_epi8, _mm256_loadu_si256,
        _mm256_movemask_epi8, _mm256_or_si256, _mm256_set1_epi8,
    };

    /// Bit `k` set when byte `k` of the 32 at `block[offset..]` is special.
    #[inline(always)]
    fn thirty_two(block: &[u8; BLOCK], offset: usize) -> u64 {
        let bytes: &[u8; 32] = block[offset..offset + 32].try_into().expect("32 bytes");
        // SAFETY: this runs inside `classify_avx2`, whose caller vouches for AVX2; the
        // one load reads the 32 bytes of `bytes`, which it borrows, and an unaligned load
        // accepts any address.
        unsafe {
            let v = _mm256_loadu_si256(bytes.as_ptr().cast::<__m256i>());
            // As in `classify_baseline`: the byte plus one, signed, below 0x22.
            let plus_one = _mm256_add_epi8(v, _mm256_set1_epi8(1));
            let below = _mm256_cmpgt_epi8(_mm256_set1_epi8(0x22), plus_one);
            let comma = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b',' as i8));
            let equals = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b'=' as i8));
            let backslash = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b'\\' as i8));
            let special = _mm256_or_si256(
                _mm256_or_si256(below, backslash),
                _mm256_or_si256(comma, equals),
            );
            u64::from(_mm256_movemask_epi8(special) as u32)
        }
    }

    thirty_two(block, 0) | thirty_two(block, 32) << 32
}

/// [`classify`] with plain 64-bit arithmetic, eight bytes per step; exact per byte (no
/// carry or borrow crosses from one byte into the next).
#[cfg_attr(all(target_arch = "x86_64", target_feature = "sse2"), allow(dead_code))]
#[inline(always)]
fn classify_words(block: &[u8; BLOCK]) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const ONES: u64 = 0x0101_0101_0101_0101;

    /// High bit of each byte set when that byte of `word` is not `byte`.
    #[inline(always)]
    fn differs(word: u64, byte: u8) -> u64 {
        let x = word ^ (ONES * u64::from(byte));
        ((x & LOW7) + LOW7) | x
    }

    let mut mask = 0u64;
    for (k, chunk) in block.chunks_exact(8).enumerate() {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let low = word & LOW7;
        // High bit set when the low seven bits are at least 0x21 (so, for an ASCII byte,
        // when it is printable and not a space) …
        let printable = low + ONES * (0x80 - 0x21);
        // … and when they are all ones (0x7f, or 0xff).
        let all_ones = low + ONES;
        let plain = printable
            & !all_ones
            & !word
            & differs(word, b',')
            & differs(word, b'=')
            & differs(word, b'\\');
        let special = !plain & HIGH;
        // Gather the eight high bits into the low byte: bit 7 of byte j lands on bit
        // 56 + j, with no two partial products overlapping.
        let packed = (special >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56;
        mask |= packed << (8 * k);
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The byte-at-a-time answer to [`Specials::next`].
    fn next_by_bytes(input: &[u8], from: usize) -> usize {
        if from >= input.len() {
            return from;
        }
        input[from..]
            .iter()
            .position(|&b| is_special(b))
            .map_or(input.len(), |off| from + off)
    }

    /// Every classifier this CPU runs: the baseline one, and AVX2 where the CPU has it.
    fn classifiers() -> Vec<Classifier> {
        let mut all = vec![Classifier::Baseline];
        if Classifier::detect() == Classifier::Avx2 {
            all.push(Classifier::Avx2);
        }
        all
    }

    fn mask_by_bytes(block: &[u8; BLOCK]) -> u64 {
        block
            .iter()
            .enumerate()
            .fold(0, |m, (k, &b)| m | u64::from(is_special(b)) << k)
    }

    #[test]
    fn every_byte_value_is_classified_alike_at_every_position() {
        for byte in 0..=255u8 {
            for k in 0..BLOCK {
                let mut block = [b'a'; BLOCK];
                block[k] = byte;
                let want = u64::from(is_special(byte)) << k;
                for classifier in classifiers() {
                    assert_eq!(
                        classify(&block, classifier),
                        want,
                        "{classifier:?}: byte {byte:#x} at {k}"
                    );
                }
                assert_eq!(classify_words(&block), want, "words: byte {byte:#x} at {k}");
            }
        }
    }

    #[test]
    fn specials_match_the_parser_class_table() {
        for byte in 0..=255u8 {
            let class_table = crate::parse::is_classified(byte);
            assert_eq!(is_special(byte), class_table, "byte {byte:#x}");
        }
    }

    #[test]
    fn tokens_ending_around_block_and_word_edges_are_found() {
        for len in [
            0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 200,
        ] {
            for end in 0..len {
                for stop in [b' ', b',', b'=', b'\\', b'\n', 0x7f, 0x80, 0xff] {
                    let mut input = vec![b'x'; len];
                    input[end] = stop;
                    for from in [0, end.saturating_sub(1), end, end + 1, len] {
                        for classifier in classifiers() {
                            let mut specials = Specials::with_classifier(&input, classifier);
                            assert_eq!(
                                specials.next(&input, from),
                                next_by_bytes(&input, from),
                                "{classifier:?}: len {len}, stop {stop:#x} at {end}, from {from}"
                            );
                        }
                    }
                }
            }
            // No special byte at all: the end of the input.
            let input = vec![b'y'; len];
            for classifier in classifiers() {
                let mut specials = Specials::with_classifier(&input, classifier);
                assert_eq!(specials.next(&input, 0), len);
            }
        }
    }

    /// Bytes that matter to the scan, and plain ones, in random runs.
    fn scan_input() -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![
            6 => prop::sample::select(b"abcxyz019_-.".to_vec()),
            3 => prop::sample::select(b" ,=\\\"\n\r\t#".to_vec()),
            1 => any::<u8>(),
        ];
        prop::collection::vec(byte, 0..300)
    }

    proptest! {
        #[test]
        fn the_block_scan_agrees_with_the_byte_scan(
            input in scan_input(),
            starts in prop::collection::vec(0usize..320, 1..40),
        ) {
            // One cursor for a whole sequence of look-ups, forwards and backwards, as a
            // parser (and its recovery from a rejected line) makes them.
            for classifier in classifiers() {
                let mut specials = Specials::with_classifier(&input, classifier);
                for &from in &starts {
                    prop_assert_eq!(specials.next(&input, from), next_by_bytes(&input, from));
                }
                // And walking it from one special byte to the next, as the parser does.
                let mut walk = Specials::with_classifier(&input, classifier);
                let mut from = 0;
                while from < input.len() {
                    let found = walk.next(&input, from);
                    prop_assert_eq!(found, next_by_bytes(&input, from));
                    from = found + 1;
                }
            }
        }

        #[test]
        fn every_classifier_agrees_with_the_byte_test(bytes in prop::collection::vec(any::<u8>(), BLOCK)) {
            let block: &[u8; BLOCK] = bytes.as_slice().try_into().unwrap();
            for classifier in classifiers() {
                prop_assert_eq!(classify(block, classifier), mask_by_bytes(block));
            }
            prop_assert_eq!(classify_words(block), mask_by_bytes(block));
        }
    }
}
