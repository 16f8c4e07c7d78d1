//! A hand-rolled line protocol writer for generated data: pre-rendered series keys, integer
//! and fixed-point float formatting without going through `fmt`.

/// An output buffer that lines of line protocol are appended to.
#[derive(Debug, Default)]
pub struct LineBuf {
    buf: Vec<u8>,
}

impl LineBuf {
    /// An empty buffer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: Vec::with_capacity(capacity),
        }
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Number of bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Forgets the contents, keeping the allocation.
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// Appends bytes that are already valid line protocol (a series key, `name=`, `,`).
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Appends one byte.
    pub fn byte(&mut self, byte: u8) {
        self.buf.push(byte);
    }

    /// Appends the decimal digits of `value`.
    pub fn decimal(&mut self, value: i64) {
        if value < 0 {
            self.buf.push(b'-');
        }
        self.unsigned_decimal(value.unsigned_abs());
    }

    fn unsigned_decimal(&mut self, mut value: u64) {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (value % 10) as u8;
            value /= 10;
            if value == 0 {
                break;
            }
        }
        self.buf.extend_from_slice(&digits[at..]);
    }

    /// Appends an integer field value (`42i`).
    pub fn int_value(&mut self, value: i64) {
        self.decimal(value);
        self.buf.push(b'i');
    }

    /// Appends a float field value rounded to `decimals` places (at most 9), written without
    /// an exponent; it always parses as a float (`3.25`, `-0.5`, `7.0`).
    pub fn float_value(&mut self, value: f64, decimals: u32) {
        let decimals = decimals.clamp(1, 9);
        let scale = 10u64.pow(decimals);
        let scaled = (value.abs() * scale as f64).round();
        // Values a benchmark writes stay far from u64's range; saturate rather than wrap.
        let scaled = if scaled >= u64::MAX as f64 {
            u64::MAX
        } else {
            scaled as u64
        };
        if value < 0.0 && scaled != 0 {
            self.buf.push(b'-');
        }
        self.unsigned_decimal(scaled / scale);
        self.buf.push(b'.');
        let frac = scaled % scale;
        let mut digits = [b'0'; 9];
        let mut rest = frac;
        for i in (0..decimals as usize).rev() {
            digits[i] = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        self.buf.extend_from_slice(&digits[..decimals as usize]);
    }

    /// Appends ` <timestamp>\n`, ending the line.
    pub fn end_line(&mut self, timestamp_ns: i64) {
        self.buf.push(b' ');
        self.decimal(timestamp_ns);
        self.buf.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_lp::{FieldValue, parse_lines};

    #[test]
    fn integers_and_floats_round_trip_through_the_parser() {
        let ints = [0i64, 7, -7, 42, i64::MAX, i64::MIN, 1_000_000];
        let floats = [0.0, 1.0, -0.5, 3.25, 99.999, -123.456, 0.004];
        for (i, f) in ints.iter().zip(floats.iter()) {
            let mut buf = LineBuf::default();
            buf.raw(b"m,t=a i=");
            buf.int_value(*i);
            buf.raw(b",f=");
            buf.float_value(*f, 3);
            buf.end_line(1_451_606_400_000_000_000);
            let line = parse_lines(buf.as_bytes()).next().unwrap().unwrap();
            assert_eq!(line.field("i"), Some(&FieldValue::Integer(*i)));
            match line.field("f") {
                Some(FieldValue::Float(got)) => assert!((got - f).abs() < 0.0005, "{got} vs {f}"),
                other => panic!("not a float: {other:?}"),
            }
            assert_eq!(line.timestamp, Some(1_451_606_400_000_000_000));
        }
    }

    #[test]
    fn floats_keep_the_requested_decimals() {
        let mut buf = LineBuf::default();
        buf.float_value(7.0, 2);
        buf.byte(b' ');
        buf.float_value(-0.0001, 2);
        buf.byte(b' ');
        buf.float_value(-1.005, 1);
        assert_eq!(
            std::str::from_utf8(buf.as_bytes()).unwrap(),
            "7.00 0.00 -1.0"
        );
    }
}
