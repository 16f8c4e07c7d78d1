//! The buffer's field columns: values of one type per column (integers in the narrowest
//! width that holds them) with a validity bitmap, and the byte counts the buffer's
//! memory accounting reads.

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, UInt64Array};
use sluice_lp::FieldType;

use crate::batch::{ColumnValues, ValueRef};

/// One field column of a buffered partition.
#[derive(Debug, Clone)]
pub(super) struct FieldColumn {
    values: Values,
    /// Which rows hold a value (one bit per row: the column's only per-row overhead).
    valid: Bits,
    /// Heap bytes of the string values' contents.
    string_bytes: usize,
}

/// A growable bitmap.
#[derive(Debug, Clone, Default)]
struct Bits {
    words: Vec<u64>,
    len: usize,
}

impl Bits {
    /// `len` zero bits.
    fn zeros(len: usize) -> Bits {
        Bits {
            words: vec![0; len.div_ceil(64)],
            len,
        }
    }

    fn push(&mut self, bit: bool) {
        if self.len.is_multiple_of(64) {
            self.words.push(0);
        }
        self.len += 1;
        if bit {
            self.set(self.len - 1);
        }
    }

    /// Appends `n` bits of value `bit`.
    fn extend(&mut self, n: usize, bit: bool) {
        let len = self.len + n;
        self.words.resize(len.div_ceil(64), 0);
        if bit {
            // A word at a time: the bits of `self.len..len` in each word they touch.
            let mut i = self.len;
            while i < len {
                let (word, lo) = (i / 64, i % 64);
                let hi = (len - word * 64).min(64);
                self.words[word] |= (u64::MAX >> (64 - (hi - lo))) << lo;
                i = word * 64 + hi;
            }
        }
        self.len = len;
    }

    fn set(&mut self, i: usize) {
        debug_assert!(i < self.len);
        self.words[i / 64] |= 1 << (i % 64);
    }

    fn get(&self, i: usize) -> bool {
        debug_assert!(i < self.len);
        self.words[i / 64] & (1 << (i % 64)) != 0
    }

    /// Keeps the bits where `keep` is true, in order.
    fn retain(&mut self, keep: &[bool]) {
        let old = std::mem::take(self);
        self.words.reserve(old.words.len());
        for (i, _) in keep.iter().enumerate().filter(|(_, k)| **k) {
            self.push(old.get(i));
        }
    }
}

#[derive(Debug, Clone)]
enum Values {
    Float(Vec<f64>),
    Integer(Ints),
    UInteger(Vec<u64>),
    String(Vec<String>),
    Boolean(Vec<bool>),
}

/// An integer column stored in the narrowest width that holds every value it has seen,
/// widened in place when a value does not fit: gauges and counters usually need one to
/// four bytes, not eight, and the buffer is most of the server's memory.
#[derive(Debug, Clone)]
enum Ints {
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
}

/// Evaluates `$body` with `$v` bound to the vector of whichever width `$ints` holds.
macro_rules! with_ints {
    ($ints:expr, $v:ident => $body:expr) => {
        match $ints {
            Ints::I8($v) => $body,
            Ints::I16($v) => $body,
            Ints::I32($v) => $body,
            Ints::I64($v) => $body,
        }
    };
}

/// `x`'s bits below its sign: `x` for `x >= 0`, `!x` (`-x - 1`) below. A signed integer of
/// `n` bits holds `x` when this is below `1 << (n - 1)`.
fn significant(x: i64) -> u64 {
    (x ^ (x >> 63)) as u64
}

/// Heap bytes of a vector's allocation.
pub(super) fn capacity_bytes<T>(v: &Vec<T>) -> usize {
    v.capacity() * size_of::<T>()
}

/// Keeps the elements of `v` where `keep` is true, in order.
pub(super) fn retain_by_mask<T>(v: &mut Vec<T>, keep: &[bool]) {
    let mut i = 0;
    v.retain(|_| {
        i += 1;
        keep[i - 1]
    });
}

impl Ints {
    fn push_zero(&mut self) {
        with_ints!(self, v => v.push(0))
    }

    /// Appends `x`, widening the column first when it does not fit.
    fn push(&mut self, x: i64) {
        let fits = match self {
            Ints::I8(v) => i8::try_from(x).map(|x| v.push(x)).is_ok(),
            Ints::I16(v) => i16::try_from(x).map(|x| v.push(x)).is_ok(),
            Ints::I32(v) => i32::try_from(x).map(|x| v.push(x)).is_ok(),
            Ints::I64(v) => {
                v.push(x);
                true
            }
        };
        if !fits {
            self.push_zero();
            let last = with_ints!(self, v => v.len()) - 1;
            self.set(last, x);
        }
    }

    /// Widens the column until it holds values of `bits` significant bits (sign aside):
    /// see [`significant`].
    fn fit(&mut self, bits: u64) {
        loop {
            *self = match self {
                Ints::I8(v) if bits >= 1 << 7 => Ints::I16(v.iter().map(|&y| y.into()).collect()),
                Ints::I16(v) if bits >= 1 << 15 => Ints::I32(v.iter().map(|&y| y.into()).collect()),
                Ints::I32(v) if bits >= 1 << 31 => Ints::I64(v.iter().map(|&y| y.into()).collect()),
                _ => return,
            };
        }
    }

    /// Appends `xs`, widening the column first if one does not fit.
    fn extend(&mut self, xs: &[i64]) {
        // Or-ing every value's magnitude is a loop the compiler vectorizes, unlike the
        // smallest and largest value of 64-bit integers.
        self.fit(xs.iter().fold(0, |bits, &x| bits | significant(x)));
        // Every value fits the width now: the casts do not truncate.
        match self {
            Ints::I8(v) => v.extend(xs.iter().map(|&x| x as i8)),
            Ints::I16(v) => v.extend(xs.iter().map(|&x| x as i16)),
            Ints::I32(v) => v.extend(xs.iter().map(|&x| x as i32)),
            Ints::I64(v) => v.extend_from_slice(xs),
        }
    }

    fn set(&mut self, i: usize, x: i64) {
        loop {
            match self {
                Ints::I8(v) => match i8::try_from(x) {
                    Ok(x) => return v[i] = x,
                    Err(_) => *self = Ints::I16(v.iter().map(|&y| y.into()).collect()),
                },
                Ints::I16(v) => match i16::try_from(x) {
                    Ok(x) => return v[i] = x,
                    Err(_) => *self = Ints::I32(v.iter().map(|&y| y.into()).collect()),
                },
                Ints::I32(v) => match i32::try_from(x) {
                    Ok(x) => return v[i] = x,
                    Err(_) => *self = Ints::I64(v.iter().map(|&y| y.into()).collect()),
                },
                Ints::I64(v) => return v[i] = x,
            }
        }
    }
}

impl FieldColumn {
    pub(super) fn new(kind: FieldType, len: usize) -> FieldColumn {
        let values = match kind {
            FieldType::Float => Values::Float(vec![0.0; len]),
            FieldType::Integer => Values::Integer(Ints::I8(vec![0; len])),
            FieldType::UInteger => Values::UInteger(vec![0; len]),
            FieldType::String => Values::String(vec![String::new(); len]),
            FieldType::Boolean => Values::Boolean(vec![false; len]),
        };
        FieldColumn {
            values,
            valid: Bits::zeros(len),
            string_bytes: 0,
        }
    }

    pub(super) fn shrink_to_fit(&mut self) {
        match &mut self.values {
            Values::Float(v) => v.shrink_to_fit(),
            Values::Integer(ints) => with_ints!(ints, v => v.shrink_to_fit()),
            Values::UInteger(v) => v.shrink_to_fit(),
            Values::String(v) => v.shrink_to_fit(),
            Values::Boolean(v) => v.shrink_to_fit(),
        }
        self.valid.words.shrink_to_fit();
    }

    /// Heap bytes of the column: its vectors' capacities and its strings.
    pub(super) fn heap_bytes(&self) -> usize {
        let values = match &self.values {
            Values::Float(v) => capacity_bytes(v),
            Values::Integer(ints) => with_ints!(ints, v => capacity_bytes(v)),
            Values::UInteger(v) => capacity_bytes(v),
            Values::String(v) => capacity_bytes(v),
            Values::Boolean(v) => capacity_bytes(v),
        };
        values + self.string_bytes + capacity_bytes(&self.valid.words)
    }

    pub(super) fn kind(&self) -> FieldType {
        match self.values {
            Values::Float(_) => FieldType::Float,
            Values::Integer(_) => FieldType::Integer,
            Values::UInteger(_) => FieldType::UInteger,
            Values::String(_) => FieldType::String,
            Values::Boolean(_) => FieldType::Boolean,
        }
    }

    /// Rows in the column.
    pub(super) fn len(&self) -> usize {
        self.valid.len
    }

    /// Appends a row holding `value`; a value of another type appends a null and
    /// returns false.
    #[inline]
    pub(super) fn push(&mut self, value: ValueRef<'_>) -> bool {
        match (&mut self.values, value) {
            (Values::Float(v), ValueRef::Float(x)) => v.push(x),
            (Values::Integer(v), ValueRef::Integer(x)) => v.push(x),
            (Values::UInteger(v), ValueRef::UInteger(x)) => v.push(x),
            (Values::String(v), ValueRef::String(x)) => {
                let x = x.to_owned();
                self.string_bytes += x.capacity();
                v.push(x);
            }
            (Values::Boolean(v), ValueRef::Boolean(x)) => v.push(x),
            _ => {
                self.push_null();
                return false;
            }
        }
        self.valid.push(true);
        true
    }

    /// Writes `values[at]` at rows `rows` (one row per value, ascending but for rows
    /// below the column's length): a row below the length is set, the next row
    /// appended, and a row past it appended after nulls. `next` says the caller knows
    /// `rows` to be the rows from the column's length on, one after the other. False
    /// (nothing written) when the values' type is not the column's.
    pub(super) fn put(
        &mut self,
        rows: &[u32],
        next: bool,
        values: &ColumnValues<'_>,
        at: Range<usize>,
    ) -> bool {
        debug_assert_eq!(rows.len(), at.len());
        if rows.is_empty() {
            return true;
        }
        if values.kind() != self.kind() {
            return false;
        }
        let first = rows[0] as usize;
        debug_assert!(!next || first == self.len());
        let appended = next || (first >= self.len() && rows.windows(2).all(|w| w[1] == w[0] + 1));
        if appended {
            // The usual case: every value starts a row of its own at the end.
            self.push_nulls(first - self.len());
            match (&mut self.values, values) {
                (Values::Float(v), ColumnValues::Float(x)) => v.extend_from_slice(&x[at]),
                (Values::Integer(v), ColumnValues::Integer(x)) => v.extend(&x[at]),
                (Values::UInteger(v), ColumnValues::UInteger(x)) => v.extend_from_slice(&x[at]),
                (Values::String(v), ColumnValues::String(x)) => {
                    for x in &x[at.clone()] {
                        let x = (*x).to_owned();
                        self.string_bytes += x.capacity();
                        v.push(x);
                    }
                }
                (Values::Boolean(v), ColumnValues::Boolean(x)) => v.extend_from_slice(&x[at]),
                _ => unreachable!("the kinds match"),
            }
            self.valid.extend(rows.len(), true);
            return true;
        }
        for (&row, k) in rows.iter().zip(at) {
            let row = row as usize;
            let value = values.get(k);
            if row < self.len() {
                self.set(row, value);
            } else {
                self.push_nulls(row - self.len());
                self.push(value);
            }
        }
        true
    }

    /// Appends `n` nulls.
    pub(super) fn push_nulls(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        let len = self.len() + n;
        match &mut self.values {
            Values::Float(v) => v.resize(len, 0.0),
            Values::Integer(ints) => with_ints!(ints, v => v.resize(len, 0)),
            Values::UInteger(v) => v.resize(len, 0),
            Values::String(v) => v.resize(len, String::new()),
            Values::Boolean(v) => v.resize(len, false),
        }
        self.valid.extend(n, false);
    }

    pub(super) fn push_null(&mut self) {
        match &mut self.values {
            Values::Float(v) => v.push(0.0),
            Values::Integer(v) => v.push_zero(),
            Values::UInteger(v) => v.push(0),
            Values::String(v) => v.push(String::new()),
            Values::Boolean(v) => v.push(false),
        }
        self.valid.push(false);
    }

    /// Sets row `i`; false (and nothing set) when the value's type does not match.
    pub(super) fn set(&mut self, i: usize, value: ValueRef<'_>) -> bool {
        match (&mut self.values, value) {
            (Values::Float(v), ValueRef::Float(x)) => v[i] = x,
            (Values::Integer(v), ValueRef::Integer(x)) => v.set(i, x),
            (Values::UInteger(v), ValueRef::UInteger(x)) => v[i] = x,
            (Values::String(v), ValueRef::String(x)) => {
                let old = std::mem::replace(&mut v[i], x.to_owned());
                self.string_bytes = self.string_bytes + v[i].capacity() - old.capacity();
            }
            (Values::Boolean(v), ValueRef::Boolean(x)) => v[i] = x,
            _ => return false,
        }
        self.valid.set(i);
        true
    }

    /// Keeps the rows where `keep` is true.
    pub(super) fn retain(&mut self, keep: &[bool]) {
        match &mut self.values {
            Values::Float(v) => retain_by_mask(v, keep),
            Values::Integer(ints) => with_ints!(ints, v => retain_by_mask(v, keep)),
            Values::UInteger(v) => retain_by_mask(v, keep),
            Values::String(v) => {
                retain_by_mask(v, keep);
                self.string_bytes = v.iter().map(String::capacity).sum();
            }
            Values::Boolean(v) => retain_by_mask(v, keep),
        }
        self.valid.retain(keep);
    }

    pub(super) fn to_array(&self, rows: &[u32]) -> ArrayRef {
        let valid = |i: u32| self.valid.get(i as usize);
        match &self.values {
            Values::Float(v) => Arc::new(
                rows.iter()
                    .map(|&i| valid(i).then(|| v[i as usize]))
                    .collect::<Float64Array>(),
            ),
            Values::Integer(v) => {
                fn gather<T: Copy + Into<i64>>(
                    v: &[T],
                    rows: &[u32],
                    valid: impl Fn(u32) -> bool,
                ) -> Int64Array {
                    rows.iter()
                        .map(|&i| valid(i).then(|| v[i as usize].into()))
                        .collect()
                }
                Arc::new(with_ints!(v, v => gather(v, rows, valid)))
            }
            Values::UInteger(v) => Arc::new(
                rows.iter()
                    .map(|&i| valid(i).then(|| v[i as usize]))
                    .collect::<UInt64Array>(),
            ),
            Values::String(v) => Arc::new(
                rows.iter()
                    .map(|&i| valid(i).then(|| v[i as usize].as_str()))
                    .collect::<StringArray>(),
            ),
            Values::Boolean(v) => Arc::new(
                rows.iter()
                    .map(|&i| valid(i).then(|| v[i as usize]))
                    .collect::<BooleanArray>(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_bits_grow_set_and_retain_across_word_boundaries() {
        let mut bits = Bits::zeros(3);
        for i in 3..200 {
            bits.push(i % 3 == 0);
        }
        bits.set(1);
        bits.set(130);
        let expected: Vec<bool> = (0..200)
            .map(|i| i == 1 || i == 130 || (i >= 3 && i % 3 == 0))
            .collect();
        assert_eq!((0..200).map(|i| bits.get(i)).collect::<Vec<_>>(), expected);
        let keep: Vec<bool> = (0..200).map(|i| i % 5 != 0).collect();
        bits.retain(&keep);
        let kept: Vec<bool> = (0..200)
            .filter(|i| i % 5 != 0)
            .map(|i| expected[i])
            .collect();
        assert_eq!(bits.len, kept.len());
        assert_eq!(
            (0..kept.len()).map(|i| bits.get(i)).collect::<Vec<_>>(),
            kept
        );
    }

    #[test]
    fn extending_by_a_run_of_bits_matches_pushing_them_one_by_one() {
        for start in [0, 1, 5, 63, 64, 65, 127, 130] {
            for n in [0, 1, 2, 62, 63, 64, 65, 128, 129, 200] {
                for bit in [false, true] {
                    let (mut run, mut one_by_one) = (Bits::zeros(start), Bits::zeros(start));
                    run.extend(n, bit);
                    (0..n).for_each(|_| one_by_one.push(bit));
                    // A bit after the run starts from a cleared one, as every push does.
                    run.push(false);
                    one_by_one.push(false);
                    assert_eq!(run.len, start + n + 1);
                    assert_eq!(run.words, one_by_one.words, "start {start}, {n} x {bit}");
                }
            }
        }
    }

    #[test]
    fn a_run_of_integers_takes_the_narrowest_width_that_holds_each() {
        fn width(ints: &Ints) -> usize {
            match ints {
                Ints::I8(_) => 1,
                Ints::I16(_) => 2,
                Ints::I32(_) => 4,
                Ints::I64(_) => 8,
            }
        }
        let cases: [(&[i64], usize); 12] = [
            (&[], 1),
            (&[0, 127, -128], 1),
            (&[128], 2),
            (&[-129], 2),
            (&[5, i16::MAX.into(), i16::MIN.into()], 2),
            (&[i16::MAX as i64 + 1], 4),
            (&[i16::MIN as i64 - 1], 4),
            (&[i32::MAX.into(), i32::MIN.into()], 4),
            (&[i32::MAX as i64 + 1], 8),
            (&[i32::MIN as i64 - 1], 8),
            (&[i64::MIN, 0], 8),
            (&[-1, i64::MAX], 8),
        ];
        for (xs, bytes) in cases {
            let mut ints = Ints::I8(vec![3]);
            ints.extend(xs);
            assert_eq!(width(&ints), bytes, "{xs:?}");
            let mut back = vec![3];
            back.extend_from_slice(xs);
            fn widened<T: Copy + Into<i64>>(v: &[T]) -> Vec<i64> {
                v.iter().map(|&x| x.into()).collect()
            }
            let read = with_ints!(&ints, v => widened(v));
            assert_eq!(read, back);
        }
    }

    #[test]
    fn pushed_rows_read_back_as_pushed_and_set_ones_as_set() {
        let mut ints = FieldColumn::new(FieldType::Integer, 0);
        assert!(ints.push(ValueRef::Integer(7)));
        ints.push_null();
        // Wider than the column's bytes: widened on the way in.
        assert!(ints.push(ValueRef::Integer(1 << 40)));
        assert!(ints.push(ValueRef::Integer(-200)));
        assert!(!ints.push(ValueRef::Float(1.0)));
        assert!(ints.set(1, ValueRef::Integer(-3)));
        assert_eq!(ints.len(), 5);
        let array = ints.to_array(&[0, 1, 2, 3, 4]);
        let array = array.as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(
            array.iter().collect::<Vec<_>>(),
            [Some(7), Some(-3), Some(1 << 40), Some(-200), None]
        );

        let mut strings = FieldColumn::new(FieldType::String, 1);
        assert!(strings.push(ValueRef::String("hello")));
        let array = strings.to_array(&[0, 1]);
        let array = array.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(array.iter().collect::<Vec<_>>(), [None, Some("hello")]);
        assert!(strings.heap_bytes() >= 5);
    }
}
