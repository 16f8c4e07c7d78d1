//! Finding where each line protocol line starts and ends, without parsing it.
//!
//! A batch sent to the server must hold whole lines, and a newline inside a quoted string
//! field does not end a line. The rules here are the ones this crate's parser uses to
//! find the end of a line (a `"` opens a string only in the field set, right after an
//! unescaped `=`; a backslash inside a string escapes the next byte), so a buffer cut at
//! these boundaries parses, piece by piece, exactly as it parses whole.

/// What a line holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// A point (valid or not: the server decides).
    Point,
    /// Nothing but spaces.
    Blank,
    /// A comment: the first byte after leading spaces is `#`.
    Comment,
}

/// One line of a line protocol buffer, by byte offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineSpan {
    /// Offset of the line's first byte.
    pub start: usize,
    /// Offset just past the line's terminator (`\n`), or the buffer's length.
    pub end: usize,
    /// 1-based physical line number of the line's first byte, counting from the start of
    /// the buffer; a point continued by newlines inside a string keeps the first number.
    pub line_number: usize,
    /// How many physical lines (newline-separated) the line covers: more than 1 when a
    /// string field holds newlines.
    pub physical_lines: usize,
    /// What the line holds.
    pub kind: LineKind,
    /// False when the buffer ended before the line's terminating newline (possibly
    /// inside an open string), so that more input could still extend the line.
    pub terminated: bool,
}

/// An iterator over the lines of `input`: every line, points, blanks and comments alike.
#[derive(Debug, Clone)]
pub struct Lines<'a> {
    input: &'a [u8],
    pos: usize,
    line: usize,
}

/// The lines of `input`, with physical line numbers starting at 1.
pub fn lines(input: &[u8]) -> Lines<'_> {
    Lines {
        input,
        pos: 0,
        line: 1,
    }
}

impl Lines<'_> {
    /// Offset of the next line's first byte: everything before it has been yielded.
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl Iterator for Lines<'_> {
    type Item = LineSpan;

    fn next(&mut self) -> Option<LineSpan> {
        let bytes = self.input;
        let start = self.pos;
        if start >= bytes.len() {
            return None;
        }
        let mut i = start;
        while bytes.get(i) == Some(&b' ') {
            i += 1;
        }
        let kind = match bytes.get(i) {
            None | Some(b'\n') => LineKind::Blank,
            Some(b'\r') if matches!(bytes.get(i + 1), None | Some(b'\n')) => LineKind::Blank,
            Some(b'#') => LineKind::Comment,
            _ => LineKind::Point,
        };
        let mut physical_lines = 1;
        let (end, terminated) = if kind == LineKind::Point {
            // From the line's start, leading spaces included (the parser skips a
            // rejected line with the same scan).
            let (end, newlines, terminated) = point_end(bytes, start);
            physical_lines += newlines;
            (end, terminated)
        } else {
            let end = memchr_newline(bytes, i);
            (end, bytes[end - 1] == b'\n')
        };
        let span = LineSpan {
            start,
            end,
            line_number: self.line,
            physical_lines,
            kind,
            terminated,
        };
        self.line += physical_lines;
        self.pos = end;
        Some(span)
    }
}

/// Offset just past the newline ending the line at `i`, or the buffer's end.
fn memchr_newline(bytes: &[u8], i: usize) -> usize {
    memchr::memchr(b'\n', &bytes[i..]).map_or(bytes.len(), |off| i + off + 1)
}

/// The end of a point starting at `i` (just past its newline), how many newlines inside
/// strings it holds, and whether a newline ended it (rather than the buffer's end).
pub(crate) fn point_end(bytes: &[u8], i: usize) -> (usize, usize, bool) {
    let (end, newlines, terminated, _) = point_extent(bytes, i);
    (end, newlines, terminated)
}

/// [`point_end`], and whether the buffer ended inside a string.
pub(crate) fn point_extent(bytes: &[u8], mut i: usize) -> (usize, usize, bool, bool) {
    // The common case: up to the next newline there is neither a quote nor a backslash,
    // so that newline ends the line (found with vectorized searches, not byte by byte).
    if let Some(off) = memchr::memchr(b'\n', &bytes[i..])
        && memchr::memchr2(b'"', b'\\', &bytes[i..i + off]).is_none()
    {
        return (i + off + 1, 0, true, false);
    }
    let mut in_fields = false;
    let mut in_string = false;
    let mut after_equals = false;
    let mut newlines = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' => {
                    if bytes.get(i + 1) == Some(&b'\n') {
                        newlines += 1;
                    }
                    i += 1;
                }
                b'"' => in_string = false,
                b'\n' => newlines += 1,
                _ => {}
            }
            after_equals = false;
        } else {
            match b {
                b'\\' => {
                    // An escaped newline still ends the line; anything else is literal.
                    if bytes.get(i + 1) == Some(&b'\n') {
                        return (i + 2, newlines, true, false);
                    }
                    i += 1;
                }
                b' ' => in_fields = true,
                b'"' if in_fields && after_equals => in_string = true,
                b'\n' => return (i + 1, newlines, true, false),
                _ => {}
            }
            after_equals = b == b'=';
        }
        i += 1;
    }
    (bytes.len(), newlines, false, in_string)
}

/// Offset of the end of the last complete line of `input`: the bytes after it are a
/// line whose terminator has not been read yet (it may continue in the next chunk).
pub fn complete_prefix(input: &[u8]) -> usize {
    lines(input)
        .take_while(|span| span.terminated)
        .last()
        .map_or(0, |span| span.end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ParseOptions, Parser};

    fn spans(input: &str) -> Vec<(usize, usize, LineKind)> {
        lines(input.as_bytes())
            .map(|s| (s.line_number, s.physical_lines, s.kind))
            .collect()
    }

    #[test]
    fn splits_plain_lines_blanks_and_comments() {
        let input = "a f=1\n\n# c \"x\n  \nb f=2";
        assert_eq!(
            spans(input),
            vec![
                (1, 1, LineKind::Point),
                (2, 1, LineKind::Blank),
                (3, 1, LineKind::Comment),
                (4, 1, LineKind::Blank),
                (5, 1, LineKind::Point),
            ]
        );
    }

    #[test]
    fn newline_inside_a_string_field_does_not_end_the_line() {
        let input = "a s=\"x\ny\nz\" 1\nb f=1\n";
        assert_eq!(
            spans(input),
            vec![(1, 3, LineKind::Point), (4, 1, LineKind::Point)]
        );
    }

    #[test]
    fn quotes_in_measurement_and_tags_do_not_open_strings() {
        let input = "\"m,t=\"v f=1\nb f=1\n";
        assert_eq!(spans(input).len(), 2);
    }

    #[test]
    fn escaped_quote_inside_a_string_keeps_it_open() {
        let input = "a s=\"x\\\"\ny\"\nb f=1\n";
        assert_eq!(
            spans(input),
            vec![(1, 2, LineKind::Point), (3, 1, LineKind::Point)]
        );
    }

    #[test]
    fn complete_prefix_stops_before_a_partial_line() {
        assert_eq!(complete_prefix(b"a f=1\nb f="), 6);
        assert_eq!(complete_prefix(b"a f=1\nb f=2\n"), 12);
        assert_eq!(complete_prefix(b"a f=1\nb s=\"open\n"), 6);
        assert_eq!(complete_prefix(b""), 0);
    }

    /// Parses `input` whole and piece by piece along the spans; both must agree.
    fn assert_pieces_parse_like_whole(input: &[u8]) {
        let whole: Vec<_> = Parser::new(input, ParseOptions::default())
            .map(|r| match r {
                Ok(l) => (l.line_number, format!("{:?}", l.fields)),
                Err(e) => (e.line, e.kind.to_string()),
            })
            .collect();
        let mut pieces = Vec::new();
        for span in lines(input) {
            for r in Parser::new(&input[span.start..span.end], ParseOptions::default()) {
                pieces.push(match r {
                    Ok(l) => (
                        l.line_number + span.line_number - 1,
                        format!("{:?}", l.fields),
                    ),
                    Err(e) => (e.line + span.line_number - 1, e.kind.to_string()),
                });
            }
            // Every point span yields exactly one parser item.
        }
        assert_eq!(whole, pieces, "input {:?}", String::from_utf8_lossy(input));
    }

    #[test]
    fn pieces_parse_exactly_like_the_whole_buffer() {
        let cases: &[&[u8]] = &[
            b"a f=1\nb s=\"x\ny\" 5\n\n# c\nc f=1i\n",
            b"a,t=\"q f=\"a\nb\"\nx f=1\n",
            b"a f=\"unterminated\nb f=1\n",
            b"a\\\nb f=1\n",
            b"a s=\"\\\\\" 1\nb s=\"\\\"\n\" 2\n",
            b"bad line\n  a f=1\r\nc f=\"\r\n\"\r\n",
            b"a f=1 1\n#\"\nb f==\"x\ny\"\n",
        ];
        for case in cases {
            assert_pieces_parse_like_whole(case);
        }
    }

    #[test]
    fn random_inputs_split_like_the_parser_reads_them() {
        // A seeded generator over the bytes that matter to line boundaries.
        let alphabet: &[&[u8]] = &[
            b"a", b"f", b"=", b"\"", b"\\", b"\n", b" ", b",", b"#", b"1", b"i", b"\r\n",
        ];
        let mut rng = sluice_bench::rng::Rng::new(11);
        for _ in 0..3000 {
            let mut input = Vec::new();
            let len = rng.below(32) as usize + 2;
            for _ in 0..len {
                input.extend_from_slice(rng.choose::<&[u8]>(alphabet));
            }
            assert_pieces_parse_like_whole(&input);
        }
    }
}
