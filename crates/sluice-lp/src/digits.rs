//! Reading runs of ASCII decimal digits eight bytes at a time.

/// 10^k for k in 0..=8.
const POWERS: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// Continues `value` with the run of ASCII digits at `bytes[at..]` and returns the new
/// value and the run's length. The value is the one a digit-by-digit loop computes,
/// `value * 10 + digit` with wrapping arithmetic for each digit, so it is exact while
/// it stays below 2^64 and wraps (as that loop would) beyond.
#[inline(always)]
pub(crate) fn digit_run(bytes: &[u8], at: usize, mut value: u64) -> (u64, usize) {
    let mut i = at;
    while let Some(chunk) = bytes.get(i..).and_then(<[u8]>::first_chunk::<8>) {
        let word = u64::from_le_bytes(*chunk);
        let count = leading_digits(word);
        value = value
            .wrapping_mul(POWERS[count])
            .wrapping_add(value_of_leading_digits(word, count));
        i += count;
        if count < 8 {
            return (value, i - at);
        }
    }
    // Fewer than eight bytes left: one at a time.
    while let Some(&b) = bytes.get(i) {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        value = value.wrapping_mul(10).wrapping_add(u64::from(digit));
        i += 1;
    }
    (value, i - at)
}

/// The value of the run of 1 to 19 ASCII digits that fills `bytes[at..end]`, read eight
/// digits at a time; `None` when the run is empty, longer, holds a byte that is no digit,
/// or when the input ends within eight bytes of its last digits' word (the caller then
/// reads it with [`digit_run`]). Below 10^19, the value is exact.
#[inline(always)]
pub(crate) fn digits_value(bytes: &[u8], at: usize, end: usize) -> Option<u64> {
    let mut left = end.checked_sub(at)?;
    if left == 0 || left > 19 {
        return None;
    }
    let mut i = at;
    let mut value = 0u64;
    while left > 8 {
        let word = u64::from_le_bytes(*bytes.get(i..)?.first_chunk::<8>()?);
        if leading_digits(word) != 8 {
            return None;
        }
        value = value * POWERS[8] + value_of_leading_digits(word, 8);
        i += 8;
        left -= 8;
    }
    let word = u64::from_le_bytes(*bytes.get(i..)?.first_chunk::<8>()?);
    if leading_digits(word) < left {
        return None;
    }
    Some(value * POWERS[left] + value_of_leading_digits(word, left))
}

/// How many of the bytes of `word` (little-endian, first byte lowest) are ASCII digits
/// before the first that is not: 0 to 8.
#[inline(always)]
pub(crate) fn leading_digits(word: u64) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    // A digit byte d (0x30..=0x39) neither borrows in d - 0x30 nor carries in d + 0x46,
    // and sets the high bit in neither; any other byte sets it in one of the two. Carries
    // and borrows start only at non-digit bytes, so the lowest flagged byte is exact.
    let below = word.wrapping_sub(ONES * 0x30);
    let above = word.wrapping_add(ONES * 0x46);
    let not_digit = (below | above) & (ONES * 0x80);
    (not_digit.trailing_zeros() / 8) as usize
}

/// The value of the first `count` (0 to 8) bytes of `word`, which are ASCII digits, most
/// significant first.
#[inline(always)]
pub(crate) fn value_of_leading_digits(word: u64, count: usize) -> u64 {
    if count == 0 {
        return 0;
    }
    const ONES: u64 = 0x0101_0101_0101_0101;
    // Digit values, moved to the top bytes so that the zero bytes below them stand for
    // leading zeros.
    if count <= 4 {
        // The common short number: the same steps on the low half, one fewer.
        let digits = (word as u32).wrapping_sub(0x3030_3030) << (8 * (4 - count));
        let pairs = (digits.wrapping_mul(10 * 256 + 1) >> 8) & 0x00ff_00ff;
        return u64::from(pairs.wrapping_mul(100 * 65_536 + 1) >> 16);
    }
    let digits = word.wrapping_sub(ONES * 0x30) << (8 * (8 - count));
    // Combine neighbours: pairs of digits into 16-bit lanes, then 4-digit lanes, then all.
    let pairs = (digits.wrapping_mul(10 * 256 + 1) >> 8) & 0x00ff_00ff_00ff_00ff;
    let quads = (pairs.wrapping_mul(100 * 65_536 + 1) >> 16) & 0x0000_ffff_0000_ffff;
    quads.wrapping_mul(10_000 * (1 << 32) + 1) >> 32
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The digit-by-digit loop that [`digit_run`] stands for.
    fn by_bytes(bytes: &[u8], at: usize, mut value: u64) -> (u64, usize) {
        let mut i = at;
        while let Some(&b) = bytes.get(i) {
            if !b.is_ascii_digit() {
                break;
            }
            value = value.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
            i += 1;
        }
        (value, i - at)
    }

    #[test]
    fn every_byte_ends_a_run_where_the_loop_ends_it() {
        for stop in 0..=255u8 {
            for len in 0..=20 {
                let mut input: Vec<u8> = (0..len).map(|k| b'0' + (k * 7 % 10) as u8).collect();
                input.push(stop);
                input.extend_from_slice(b"123456789");
                assert_eq!(
                    digit_run(&input, 0, 0),
                    by_bytes(&input, 0, 0),
                    "{stop:#x} {len}"
                );
            }
        }
    }

    /// The answer [`digits_value`] stands for, where it gives one.
    fn value_by_bytes(bytes: &[u8], at: usize, end: usize) -> Option<u64> {
        let run = bytes.get(at..end)?;
        if run.is_empty() || run.len() > 19 || !run.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(run.iter().fold(0, |v, d| v * 10 + u64::from(d - b'0')))
    }

    proptest! {
        #[test]
        fn whole_runs_read_like_the_loop(
            bytes in prop::collection::vec(
                prop_oneof![8 => b'0'..=b'9', 1 => any::<u8>()],
                0..48,
            ),
            at in 0usize..48,
            len in 0usize..24,
        ) {
            let end = at + len;
            let fast = digits_value(&bytes, at, end);
            // Either the byte answer, or nothing where the input ends too soon for words.
            let want = value_by_bytes(&bytes, at, end);
            match fast {
                Some(value) => prop_assert_eq!(Some(value), want),
                None => prop_assert!(want.is_none() || bytes.len() < end.max(at + 8) + 8),
            }
            // With room for the words, every whole run is read.
            let mut padded = bytes.clone();
            padded.extend_from_slice(&[b' '; 32]);
            prop_assert_eq!(digits_value(&padded, at, end), value_by_bytes(&padded, at, end));
        }
    }

    proptest! {
        #[test]
        fn runs_read_like_the_loop(
            bytes in prop::collection::vec(
                prop_oneof![4 => b'0'..=b'9', 1 => any::<u8>()],
                0..40,
            ),
            at in 0usize..40,
            start in any::<u64>(),
        ) {
            let at = at.min(bytes.len());
            prop_assert_eq!(digit_run(&bytes, at, start), by_bytes(&bytes, at, start));
        }
    }
}
