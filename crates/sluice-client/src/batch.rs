//! A batch: whole lines of line protocol, in one precision, ready to be one request body.

use sluice_lp::{Point, Precision};

use crate::lines::{LineKind, lines};

/// Whole lines of line protocol sent as one request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    body: Vec<u8>,
    /// Byte offset of each point line in `body`.
    starts: Vec<usize>,
    precision: Precision,
}

impl Batch {
    /// An empty batch whose timestamps are in `precision`.
    pub fn new(precision: Precision) -> Self {
        Self {
            body: Vec::new(),
            starts: Vec::new(),
            precision,
        }
    }

    /// A batch of raw line protocol, kept byte for byte (blank and comment lines too, so
    /// that the server's line numbers are those of `text`); a final line without a
    /// newline gets one.
    pub fn from_line_protocol(text: &[u8], precision: Precision) -> Self {
        let mut batch = Self::new(precision);
        batch.push_line_protocol(text);
        batch
    }

    /// Appends raw line protocol (see [`Batch::from_line_protocol`]).
    pub fn push_line_protocol(&mut self, text: &[u8]) {
        let base = self.body.len();
        for span in lines(text) {
            if span.kind == LineKind::Point {
                self.starts.push(base + span.start);
            }
        }
        self.body.extend_from_slice(text);
        if !text.is_empty() && text.last() != Some(&b'\n') {
            self.body.push(b'\n');
        }
    }

    /// Appends one line known to be a single whole point ending in `\n`.
    pub(crate) fn push_point_line(&mut self, line: &[u8]) {
        self.starts.push(self.body.len());
        self.body.extend_from_slice(line);
    }

    /// Appends an encoded point (its timestamp is in nanoseconds: the batch must be too).
    pub fn push_point(&mut self, point: &Point) {
        let mut line = String::with_capacity(64);
        encode_point(point, &mut line);
        self.push_point_line(line.as_bytes());
    }

    /// The request body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The number of points (lines that are neither blank nor comments).
    pub fn points(&self) -> usize {
        self.starts.len()
    }

    /// The precision of the timestamps.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// True when the batch holds no point.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// The body's size in bytes.
    pub fn len_bytes(&self) -> usize {
        self.body.len()
    }

    /// Splits the batch into two halves of whole lines; also returns how many physical
    /// lines the first half spans, which is what the second half's line numbers must be
    /// shifted by. `None` for a batch of fewer than two points.
    pub fn split_in_halves(&self) -> Option<(Batch, Batch, usize)> {
        if self.starts.len() < 2 {
            return None;
        }
        let half = self.starts.len() / 2;
        let mid = self.starts[half];
        let first = Batch {
            body: self.body[..mid].to_vec(),
            starts: self.starts[..half].to_vec(),
            precision: self.precision,
        };
        let second = Batch {
            body: self.body[mid..].to_vec(),
            starts: self.starts[half..].iter().map(|s| s - mid).collect(),
            precision: self.precision,
        };
        let shift = first.body.iter().filter(|&&b| b == b'\n').count();
        Some((first, second, shift))
    }
}

/// Appends `point` and exactly one `\n` to `out` (whether or not the encoder adds one).
pub(crate) fn encode_point(point: &Point, out: &mut String) {
    point.write_line_protocol(out);
    if !out.ends_with('\n') {
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_line_protocol_counts_points_only_and_gets_a_final_newline() {
        let batch = Batch::from_line_protocol(b"# c\na f=1\n\nb f=2", Precision::Second);
        assert_eq!(batch.points(), 2);
        assert_eq!(batch.body(), b"# c\na f=1\n\nb f=2\n");
    }

    #[test]
    fn halves_hold_whole_lines_and_report_the_line_shift() {
        let batch = Batch::from_line_protocol(
            b"a s=\"x\ny\" 1\nb f=1\nc f=1\nd f=1\n",
            Precision::Nanosecond,
        );
        let (first, second, shift) = batch.split_in_halves().unwrap();
        assert_eq!(first.body(), b"a s=\"x\ny\" 1\nb f=1\n");
        assert_eq!(second.body(), b"c f=1\nd f=1\n");
        assert_eq!((first.points(), second.points(), shift), (2, 2, 3));
        assert!(
            Batch::from_line_protocol(b"a f=1\n", Precision::Nanosecond)
                .split_in_halves()
                .is_none()
        );
    }
}
