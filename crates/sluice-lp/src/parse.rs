//! The zero-copy line protocol parser: bytes in, one `Result<Line, ParseError>` per point out.
//!
//! The parser walks the input once. Names without escapes and strings without escapes are
//! borrowed from the input; everything else is decoded into owned strings. A rejected line
//! never stops the parser: it skips to the end of that line (a newline inside a quoted
//! string does not end it) and goes on with the next.

use std::borrow::Cow;

use crate::digits::{digit_run, digits_value, leading_digits, value_of_leading_digits};
use crate::error::{ErrorKind, ParseError};
use crate::escape::{self, Token};
use crate::line::{FieldValue, Line};
use crate::order::{self, TagOrder};
use crate::precision::Precision;
use crate::scan::Specials;
use crate::template::Template;

/// How lines are read: the precision of their timestamps, the time of lines without one,
/// and size limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// The unit of the timestamps in the input. Default: nanoseconds.
    pub precision: Precision,
    /// The time, in nanoseconds since the epoch, given to lines that have no timestamp,
    /// truncated to a whole unit of `precision` (as InfluxDB does). Default: `None`, which
    /// leaves [`Line::timestamp`] empty for such lines.
    pub default_time: Option<i64>,
    /// The longest accepted line, in bytes, line ending excluded. Default: 1 MiB.
    pub max_line_bytes: usize,
    /// The longest accepted measurement, tag key, tag value or field key, in bytes after
    /// unescaping. Default: 65,535 (the longest series key InfluxDB stores).
    pub max_name_bytes: usize,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            precision: Precision::Nanosecond,
            default_time: None,
            max_line_bytes: 1 << 20,
            max_name_bytes: 65_535,
        }
    }
}

/// Parses `input` with default options; see [`Parser`].
pub fn parse_lines(input: &[u8]) -> Parser<'_> {
    Parser::new(input, ParseOptions::default())
}

/// An iterator over the points of a line protocol buffer.
///
/// Yields one item for every line that is neither blank nor a comment, in input order.
#[derive(Debug, Clone)]
pub struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    /// Physical line number of the byte at `pos`.
    line: usize,
    options: ParseOptions,
    /// `options.default_time` truncated to the precision, as InfluxDB stamps lines
    /// that carry no time.
    default_time: Option<i64>,
    /// The number of tags and fields of the last accepted line: the capacity to allocate
    /// for the next one, as lines of one batch tend to look alike.
    tags_hint: usize,
    fields_hint: usize,
    /// Where the special bytes of `input` are, a block at a time.
    specials: Specials,
    /// The names of the last lines the common path read, place by place: a name that
    /// matches its template needs no scan (see [`crate::template`]).
    templates: Box<Templates>,
    /// The order that sorted the tags of the last line the common path read.
    tag_order: TagOrder,
    /// The tags of the line the common path is reading, in input order.
    tag_spans: [(&'a str, &'a str); order::MAX_TAGS],
    /// Whether the field keys of the last line the common path read were all different.
    field_keys: FieldKeys,
    /// How many lines in a row the common path has declined.
    common_declines: u8,
}

/// The templates of the names of the last lines the common path read, place by place.
#[derive(Debug, Clone, Default)]
struct Templates {
    measurement: Template,
    tag_keys: [Template; order::MAX_TAGS],
    field_keys: [Template; SMALL],
}

/// Whether the field keys of the last line the common path read were all different: a
/// line whose keys equal those, place by place, has no key twice either, with no need to
/// compare its keys.
#[derive(Debug, Clone)]
struct FieldKeys {
    /// How many keys the last line had; `usize::MAX` when no line is remembered.
    len: usize,
    distinct: bool,
}

impl FieldKeys {
    /// Drops the remembered line, for when the keys it was for may have changed unseen.
    #[cold]
    fn forget(&mut self) {
        self.len = usize::MAX;
    }

    /// Whether the keys of `fields` are all different. `same` says that they equal, place
    /// by place, the keys of the line this was last asked about.
    #[inline]
    fn distinct_again(&mut self, fields: &[(Cow<'_, str>, FieldValue<'_>)], same: bool) -> bool {
        if !(same && fields.len() == self.len) {
            self.distinct = !has_duplicate_field(fields);
            self.len = fields.len();
        }
        self.distinct
    }
}

/// What went wrong and at which byte of the input.
type Failure = (ErrorKind, usize);

/// A measurement, key or tag value as scanned: its text, still escaped, and whether that
/// text holds a backslash (and so may differ from the name it stands for).
#[derive(Debug, Clone, Copy)]
struct RawName<'a> {
    text: &'a str,
    escaped: bool,
}

impl<'a> RawName<'a> {
    /// The name: borrowed from the input when the text has no escape, decoded otherwise.
    #[inline(always)]
    fn decode(self, token: Token) -> Cow<'a, str> {
        if self.escaped {
            Cow::Owned(unescape_cold(self.text, token))
        } else {
            Cow::Borrowed(self.text)
        }
    }

    /// The name of a key, owned, for an error message.
    #[cold]
    fn owned(self) -> String {
        self.decode(Token::Key).into_owned()
    }
}

/// `vec.push(item)`, written so that the compiler stores `item` straight into the
/// vector: with the growing path out of line, nothing forces `item` through a copy on the
/// stack (whose mixed-width copy defeats the CPU's store-to-load forwarding).
#[inline(always)]
fn push_direct<T>(vec: &mut Vec<T>, item: T) {
    if vec.len() < vec.capacity() {
        vec.push(item);
    } else {
        push_growing(vec, item);
    }
}

/// `vec.push(item)` for a full `vec`, out of the hot path.
#[cold]
#[inline(never)]
fn push_growing<T>(vec: &mut Vec<T>, item: T) {
    vec.push(item);
}

/// `bytes` as text, for bytes known to be ASCII.
#[inline(always)]
fn ascii_str(bytes: &[u8]) -> &str {
    debug_assert!(bytes.is_ascii());
    // SAFETY: every caller passes bytes that a scan stepped over as plain ASCII (below
    // 0x7f: the special-byte scan stops at every byte from 0x7f up), and ASCII is UTF-8.
    unsafe { std::str::from_utf8_unchecked(bytes) }
}

/// [`escape::unescape_name`], kept out of line: most names hold no escape.
#[cold]
#[inline(never)]
fn unescape_cold(raw: &str, token: Token) -> String {
    escape::unescape_name(raw, token)
}

// Byte classes, one table for the whole parser.
const SPACE: u8 = 1; // ' '
const COMMA: u8 = 2; // ','
const EQUALS: u8 = 4; // '='
const BACKSLASH: u8 = 8; // '\\'
const CONTROL: u8 = 16; // 0x00..=0x1f, 0x7f, which covers '\r' and '\n'
const NON_ASCII: u8 = 32; // 0x80..=0xff: the token needs a UTF-8 check

static CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = match i as u8 {
            b' ' => SPACE,
            b',' => COMMA,
            b'=' => EQUALS,
            b'\\' => BACKSLASH,
            0..=0x1f | 0x7f => CONTROL,
            0x80..=0xff => NON_ASCII,
            _ => 0,
        };
        i += 1;
    }
    table
};

/// Whether the class table marks `byte`: the bytes at which the name scan stops.
#[cfg(test)]
pub(crate) fn is_classified(byte: u8) -> bool {
    CLASS[byte as usize] != 0
}

impl<'a> Parser<'a> {
    /// A parser over `input` that reads timestamps and applies limits as `options` say.
    pub fn new(input: &'a [u8], options: ParseOptions) -> Self {
        let default_time = options.default_time.map(|t| {
            let unit = options.precision.nanos_per_unit().unwrap_or(1);
            let rem = t.rem_euclid(unit);
            // Near i64::MIN the unit below `t` does not fit; take the one above instead.
            t.checked_sub(rem).unwrap_or(t + (unit - rem))
        });
        Self {
            input,
            pos: 0,
            line: 1,
            options,
            default_time,
            tags_hint: 0,
            fields_hint: 1,
            specials: Specials::new(input),
            templates: Box::default(),
            tag_order: TagOrder::default(),
            tag_spans: [("", ""); order::MAX_TAGS],
            field_keys: FieldKeys {
                len: usize::MAX,
                distinct: false,
            },
            common_declines: 0,
        }
    }

    /// The options this parser was made with.
    pub fn options(&self) -> &ParseOptions {
        &self.options
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    /// True at the end of a line: end of input, `\n`, or `\r\n`.
    #[inline]
    fn at_line_end(&self) -> bool {
        line_ends_at(self.input, self.pos)
    }

    /// Steps over the line ending at `pos`, if any.
    #[inline]
    fn consume_line_end(&mut self) {
        match self.peek() {
            Some(b'\n') => {
                self.pos += 1;
                self.line += 1;
            }
            Some(b'\r') => {
                self.pos += 2;
                self.line += 1;
                self.pos = self.pos.min(self.input.len());
            }
            _ => {}
        }
    }

    #[inline]
    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    /// Moves past the rest of a rejected line, honouring quoted strings in the field set
    /// (the boundary rule of [`crate::lines`]), and returns where the line's text ends.
    fn skip_rejected_line(&mut self, start: usize) -> (usize, bool) {
        let (past, newlines, terminated, open) = crate::lines::point_extent(self.input, start);
        self.line += newlines;
        // The text stops before the newline that ends the line (an escaped one included).
        let end = if terminated { past - 1 } else { past };
        self.pos = end;
        let text_end = if end > start && self.input.get(end - 1) == Some(&b'\r') {
            end - 1
        } else {
            end
        };
        self.consume_line_end();
        (text_end, open)
    }

    /// Scans a measurement, key or tag value at `pos`; returns its raw text, still
    /// escaped, and whether it holds a backslash. Stops before the first unescaped byte of
    /// `stop` or a line end.
    #[inline(always)]
    fn scan_name(&mut self, stop: u8, what: &'static str) -> Result<RawName<'a>, Failure> {
        let start = self.pos;
        let bytes = self.input;
        let mut i = start;
        let mut check_utf8 = false;
        let mut escaped = false;
        loop {
            // Jump to the next byte the class table marks: the bytes in between are
            // plain ASCII.
            i = self.specials.next(bytes, i);
            let Some(&byte) = bytes.get(i) else { break };
            let class = CLASS[byte as usize];
            debug_assert_ne!(class, 0, "the scan stops only at classified bytes");
            if class & stop != 0 {
                break;
            }
            if class & BACKSLASH != 0 {
                escaped = true;
                // A run of backslashes, then one escaped character of any kind but a
                // control byte (so a backslash cannot swallow the line's end).
                while i < bytes.len() && bytes[i] == b'\\' {
                    i += 1;
                }
                match bytes.get(i) {
                    None | Some(b'\n') => return Err((ErrorKind::BadEscape, i)),
                    Some(b'\r') if bytes.get(i + 1) == Some(&b'\n') => {
                        return Err((ErrorKind::BadEscape, i));
                    }
                    Some(&b) if CLASS[b as usize] & CONTROL != 0 => {
                        return Err((
                            ErrorKind::UnexpectedCharacter {
                                found: b,
                                context: what,
                            },
                            i,
                        ));
                    }
                    Some(&b) => {
                        check_utf8 |= b >= 0x80;
                        i += 1;
                    }
                }
                continue;
            }
            if class & NON_ASCII != 0 {
                check_utf8 = true;
                i += 1;
                continue;
            }
            if class & CONTROL != 0 {
                break;
            }
            // A byte that ends some other token but not this one (`=` in a measurement).
            i += 1;
        }
        self.pos = i;
        let raw = &bytes[start..i];
        let text = if check_utf8 {
            std::str::from_utf8(raw)
                .map_err(|e| (ErrorKind::InvalidUtf8, start + e.valid_up_to()))?
        } else {
            // Every byte of `raw` is ASCII: a byte >= 0x80 sets `check_utf8`, both where
            // the scan stops and after a backslash.
            ascii_str(raw)
        };
        Ok(RawName { text, escaped })
    }

    /// Applies the length limit to a scanned name (to its decoded length).
    #[inline(always)]
    fn check_name(&self, raw: RawName<'a>, token: Token, at: usize) -> Result<(), Failure> {
        // Unescaping only shortens a name, so a short raw text is within the limit.
        if raw.text.len() > self.options.max_name_bytes
            && raw.decode(token).len() > self.options.max_name_bytes
        {
            return Err((
                ErrorKind::NameTooLong {
                    limit: self.options.max_name_bytes,
                },
                at,
            ));
        }
        Ok(())
    }

    /// The error for the byte at `pos`, which ended a token where it should not have.
    fn unexpected(&self, context: &'static str) -> Failure {
        match self.peek() {
            Some(b) => (
                ErrorKind::UnexpectedCharacter { found: b, context },
                self.pos,
            ),
            None => (
                ErrorKind::UnexpectedCharacter { found: 0, context },
                self.pos,
            ),
        }
    }

    /// Reads the point at `pos` into `out` (whose tags and fields are empty) when it has
    /// the common shape: names of plain ASCII without escapes, tags and fields that
    /// parse without a doubt, a line no longer than the name limit. Returns true when it
    /// has read the point, exactly as [`Parser::point`] would (and moved `pos` to the
    /// line's end); false, with `pos` and the line count as they were, for anything else,
    /// which [`Parser::point`] then reads, errors included.
    ///
    /// Names that repeat the last line's, place by place, are compared rather than
    /// scanned (see [`crate::template`]); when all of a line's tag keys or all of its field
    /// keys repeat, so do the order of its tags and the absence of a field key written
    /// twice.
    #[inline(always)]
    fn common_point(&mut self, out: &mut Line<'a>) -> bool {
        let (pos, line) = (self.pos, self.line);
        let mut specials = self.specials.clone();
        let read = self.common_point_at(out, &mut specials);
        self.specials = specials;
        if !read {
            (self.pos, self.line) = (pos, line);
            // The declined line may have changed some templates: what is remembered of the
            // keys of the last line read no longer goes with them.
            self.field_keys.forget();
            self.tag_order.forget();
        }
        read
    }

    /// The body of [`Parser::common_point`], which restores `pos` and the line count when
    /// this declines.
    #[inline(always)]
    fn common_point_at(&mut self, out: &mut Line<'a>, specials: &mut Specials) -> bool {
        let bytes = self.input;
        let start = self.pos;
        // No name is checked against `max_name_bytes` on its own: the whole line is, at
        // the end (a line within the limit holds no longer name).
        // The measurement: up to a `,` or a space, with no special byte before it.
        let Some(mut end) = common_name(
            bytes,
            specials,
            &mut self.templates.measurement,
            start,
            &mut true,
            [b',', b' '],
        ) else {
            return false;
        };
        let measurement = ascii_str(&bytes[start..end]);

        // Tags: `,key=value` while a `,` follows; each name free of special bytes. They go
        // into `out` in key order once all are known.
        let (n, same_keys) = if bytes[end] == b',' {
            let Some((n, same_keys, space)) = self.common_tags(end, specials) else {
                return false;
            };
            end = space;
            (n, same_keys)
        } else {
            (0, true)
        };
        // At the space after the tags: then at least one field.
        self.pos = end;
        self.skip_spaces();
        if self.at_line_end() {
            return false;
        }
        let spans = &self.tag_spans;
        let key = |k: usize| spans[k].0.as_bytes();
        let Some(source) = self.tag_order.order(n, same_keys, key) else {
            return false;
        };
        let tags = &mut out.tags;
        // One reservation for all (the iterator knows its length), then plain stores.
        // (`source` holds positions below `MAX_TAGS`: the `%` only spares a bounds check.)
        tags.extend(source.iter().map(|&k| {
            let (key, value) = spans[usize::from(k) % order::MAX_TAGS];
            (Cow::Borrowed(key), Cow::Borrowed(value))
        }));

        // Fields: `key=value` while a `,` follows.
        let fields = &mut out.fields;
        if !self.common_fields(fields, specials) {
            return false;
        }

        // The timestamp, if any, then the line's end.
        self.skip_spaces();
        let timestamp = if self.at_line_end() {
            self.default_time
        } else {
            // As for field values, the scan says where the timestamp ends.
            let end = specials.next(bytes, self.pos);
            let value = match digits_value(bytes, self.pos, end) {
                Some(digits) => i64::try_from(digits).ok().map(|value| (value, end)),
                None => fast_timestamp(bytes, self.pos),
            };
            let precision = self.options.precision;
            let nanos = |value| match precision {
                Precision::Nanosecond => Some(value),
                _ => precision.to_nanos(value),
            };
            match value.and_then(|(value, read)| Some((nanos(value)?, read))) {
                Some((nanos, read)) if read == end => {
                    self.pos = end;
                    self.skip_spaces();
                    if !self.at_line_end() {
                        return false;
                    }
                    Some(nanos)
                }
                _ => return false,
            }
        };
        let len = self.pos - start;
        if len > self.options.max_line_bytes || len > self.options.max_name_bytes {
            return false;
        }
        self.tags_hint = tags.len();
        self.fields_hint = fields.len();
        out.measurement = Cow::Borrowed(measurement);
        out.timestamp = timestamp;
        true
    }

    /// The tags of [`Parser::common_point_at`], from the `,` at `end`: reads their
    /// places into `tag_spans`, in input order, and returns how many there are, whether
    /// their keys equal those of the last line's tags place by place, and where the space
    /// after them is; `None` (declining the line) for anything else.
    #[inline(never)]
    fn common_tags(
        &mut self,
        mut end: usize,
        specials: &mut Specials,
    ) -> Option<(usize, bool, usize)> {
        let bytes = self.input;
        let mut same = true;
        let mut n = 0;
        loop {
            let key_at = end + 1;
            let template = self.templates.tag_keys.get_mut(n)?;
            let key_end = common_name(bytes, specials, template, key_at, &mut same, [b'='; 2])?;
            let value_at = key_end + 1;
            end = specials.next(bytes, value_at);
            let delimiter = *bytes.get(end)?;
            let value = bytes.get(value_at..end).filter(|value| !value.is_empty())?;
            let key = bytes.get(key_at..key_end)?;
            *self.tag_spans.get_mut(n)? = (ascii_str(key), ascii_str(value));
            n += 1;
            match delimiter {
                b',' => {}
                b' ' => return Some((n, same, end)),
                _ => return None,
            }
        }
    }

    /// The field set of [`Parser::common_point_at`]: reads `key=value` pairs from `pos`
    /// into `fields` while a `,` follows, as [`Parser::point`] would; false (declining the
    /// line) for anything else.
    #[inline(never)]
    fn common_fields(
        &mut self,
        fields: &mut Vec<(Cow<'a, str>, FieldValue<'a>)>,
        specials: &mut Specials,
    ) -> bool {
        let bytes = self.input;
        // Whether the keys so far equal the last line's, place by place.
        let mut same_keys = true;
        // Where each token ends comes from the special-byte scan alone, never from
        // reading a value: so finding the next field need not wait for the last number.
        let mut pos = self.pos;
        loop {
            let key_at = pos;
            let key_end = match self.templates.field_keys.get_mut(fields.len()) {
                Some(template) => {
                    common_name(bytes, specials, template, key_at, &mut same_keys, [b'='; 2])
                }
                None => {
                    same_keys = false;
                    scan_common_name(bytes, specials, key_at, [b'='; 2])
                }
            };
            let Some(key_end) = key_end else {
                return false;
            };
            let value_at = key_end + 1;
            let key = ascii_str(&bytes[key_at..key_end]);
            let (value, value_end) = if bytes.get(value_at) == Some(&b'"') {
                self.pos = value_at;
                let raw = RawName {
                    text: key,
                    escaped: false,
                };
                let Ok(value) = self.string_value(raw) else {
                    return false;
                };
                (value, self.pos)
            } else {
                // Up to the next special byte: unless that byte ends the value (which the
                // match below checks), the line is declined, whatever this reads.
                let value_end = specials.next(bytes, value_at);
                let Some(value) = span_value(bytes, value_at, value_end, key) else {
                    return false;
                };
                (value, value_end)
            };
            push_direct(fields, (Cow::Borrowed(key), value));
            match bytes.get(value_end) {
                Some(b',') => pos = value_end + 1,
                Some(b' ') => {
                    pos = value_end;
                    break;
                }
                _ if line_ends_at(bytes, value_end) => {
                    pos = value_end;
                    break;
                }
                _ => return false,
            }
        }
        self.pos = pos;
        if !self.field_keys.distinct_again(fields, same_keys) {
            dedup_fields(fields);
        }
        true
    }

    /// Reads the point at `pos` into `out`, whose tags and fields are empty.
    #[inline(always)]
    fn point(&mut self, out: &mut Line<'a>) -> Result<(), Failure> {
        let start = self.pos;
        let raw = self.scan_name(SPACE | COMMA, "in measurement")?;
        let measurement_len = raw.text.len();
        if raw.text.is_empty() {
            return Err(match self.peek() {
                Some(b',' | b' ') => (ErrorKind::MissingMeasurement, self.pos),
                _ => self.unexpected("at start of measurement"),
            });
        }
        self.check_name(raw, Token::Measurement, start)?;

        let tags = &mut out.tags;
        let in_order = self.tag_set(tags)?;
        if self.peek() != Some(b' ') {
            return Err(if self.at_line_end() {
                (ErrorKind::MissingFields, self.pos)
            } else {
                self.unexpected("after measurement and tags")
            });
        }
        self.skip_spaces();
        if self.at_line_end() {
            return Err((ErrorKind::MissingFields, self.pos));
        }
        if !in_order {
            sort_tags(tags)
                .map_err(|key| (ErrorKind::DuplicateTagKey { key }, start + measurement_len))?;
        }
        self.tags_hint = tags.len();

        let fields = &mut out.fields;
        if self.field_set(fields)? {
            dedup_fields(fields);
        }
        self.fields_hint = fields.len();

        self.skip_spaces();
        let timestamp = if self.at_line_end() {
            self.default_time
        } else {
            Some(self.timestamp()?)
        };
        let len = self.pos - start;
        if len > self.options.max_line_bytes {
            return Err((
                ErrorKind::LineTooLong {
                    limit: self.options.max_line_bytes,
                },
                start,
            ));
        }
        out.measurement = raw.decode(Token::Measurement);
        out.timestamp = timestamp;
        Ok(())
    }

    /// Reads the tags at `pos` (each after a `,`) into `tags`, in input order; stops at
    /// the first byte after them that is not a `,`. Returns true when the keys came in
    /// strictly increasing byte order, so that the tag set is sorted and has no key twice.
    #[inline(never)]
    fn tag_set(&mut self, tags: &mut Vec<(Cow<'a, str>, Cow<'a, str>)>) -> Result<bool, Failure> {
        let mut in_order = true;
        let mut last_prefix = 0u64;
        while self.peek() == Some(b',') {
            self.pos += 1;
            let key_at = self.pos;
            let raw_key = self.scan_name(SPACE | COMMA | EQUALS, "in tag key")?;
            if raw_key.text.is_empty() {
                return Err(match self.peek() {
                    Some(b'=' | b',') => (ErrorKind::EmptyTagKey, key_at),
                    Some(b' ') | None => (ErrorKind::MissingFields, key_at),
                    _ => self.unexpected("in tag key"),
                });
            }
            self.check_name(raw_key, Token::Key, key_at)?;
            if self.peek() != Some(b'=') {
                return Err((
                    ErrorKind::MissingTagValue {
                        key: raw_key.decode(Token::Key).into_owned(),
                    },
                    self.pos,
                ));
            }
            self.pos += 1;
            let value_at = self.pos;
            let raw_value = self.scan_name(SPACE | COMMA | EQUALS, "in tag value")?;
            if self.peek() == Some(b'=') {
                return Err((
                    ErrorKind::UnexpectedCharacter {
                        found: b'=',
                        context: "in tag value (escape it as \\=)",
                    },
                    self.pos,
                ));
            }
            if raw_value.text.is_empty() {
                return Err((
                    ErrorKind::EmptyTagValue {
                        key: raw_key.decode(Token::Key).into_owned(),
                    },
                    value_at,
                ));
            }
            self.check_name(raw_value, Token::Key, value_at)?;
            let key = raw_key.decode(Token::Key);
            // Keys in order so far: this one must come after the last. The eight-byte
            // prefixes settle it but for a tie, which the whole keys then settle.
            let prefix = if raw_key.escaped {
                order_prefix(key.as_bytes())
            } else {
                order_prefix_at(self.input, key_at, raw_key.text.len())
            };
            in_order &= prefix > last_prefix
                || (prefix == last_prefix && tags.last().is_none_or(|(last, _)| **last < *key));
            last_prefix = prefix;
            tags.push((key, raw_value.decode(Token::Key)));
        }
        Ok(in_order)
    }

    /// Reads the fields at `pos` into `fields`, up to the space or line end after them.
    /// Returns false when no two field keys can be equal, true when some may be (so that
    /// [`dedup_fields`] has to look).
    #[inline(never)]
    fn field_set(
        &mut self,
        fields: &mut Vec<(Cow<'a, str>, FieldValue<'a>)>,
    ) -> Result<bool, Failure> {
        // One bit of 128 per key: while no two keys share a bit, no two keys are equal.
        let (mut seen, mut shared) = (0u128, false);
        loop {
            let key_at = self.pos;
            let raw_key = self.scan_name(SPACE | COMMA | EQUALS, "in field key")?;
            if raw_key.text.is_empty() {
                return Err(match self.peek() {
                    Some(b'=' | b',' | b' ') => (ErrorKind::EmptyFieldKey, key_at),
                    _ if self.at_line_end() => (ErrorKind::EmptyFieldKey, key_at),
                    _ => self.unexpected("at start of field key"),
                });
            }
            self.check_name(raw_key, Token::Key, key_at)?;
            if self.peek() != Some(b'=') {
                return Err((
                    ErrorKind::MissingFieldValue {
                        key: raw_key.decode(Token::Key).into_owned(),
                    },
                    self.pos,
                ));
            }
            self.pos += 1;
            let value = self.field_value(raw_key)?;
            let key = raw_key.decode(Token::Key);
            let print = if raw_key.escaped {
                fingerprint(key.as_bytes())
            } else {
                fingerprint_at(self.input, key_at, raw_key.text.len())
            };
            let bit = 1u128 << (print.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 57);
            shared |= seen & bit != 0;
            seen |= bit;
            fields.push((key, value));
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b' ') => break,
                _ if self.at_line_end() => break,
                _ => return Err(self.unexpected("after field value")),
            }
        }
        Ok(shared)
    }

    #[inline(always)]
    fn field_value(&mut self, key: RawName<'a>) -> Result<FieldValue<'a>, Failure> {
        let at = self.pos;
        match self.peek() {
            Some(b'"') => self.string_value(key),
            None | Some(b',' | b' ') => {
                Err((ErrorKind::MissingFieldValue { key: key.owned() }, at))
            }
            _ if self.at_line_end() => Err((ErrorKind::MissingFieldValue { key: key.owned() }, at)),
            Some(_) => {
                let bytes = self.input;
                if let Some((value, end)) = fast_number(bytes, at) {
                    self.pos = end;
                    return Ok(value);
                }
                let mut end = at;
                while end < bytes.len()
                    && !matches!(bytes[end], b',' | b' ' | b'\n')
                    && !(bytes[end] == b'\r' && matches!(bytes.get(end + 1), None | Some(b'\n')))
                {
                    end += 1;
                }
                self.pos = end;
                scalar_value(&bytes[at..end], &key.decode(Token::Key)).map_err(|kind| (kind, at))
            }
        }
    }

    fn string_value(&mut self, key: RawName<'a>) -> Result<FieldValue<'a>, Failure> {
        let bytes = self.input;
        let open = self.pos;
        let body = open + 1;
        let mut i = body;
        let mut escaped = false;
        loop {
            match memchr::memchr3(b'"', b'\\', b'\n', &bytes[i..]) {
                None => {
                    return Err((
                        ErrorKind::UnterminatedString {
                            key: key.owned(),
                            lines: 0,
                        },
                        open,
                    ));
                }
                Some(off) => {
                    i += off;
                    match bytes[i] {
                        b'"' => break,
                        b'\n' => {
                            self.line += 1;
                            i += 1;
                        }
                        _ => {
                            escaped = true;
                            if bytes.get(i + 1) == Some(&b'\n') {
                                self.line += 1;
                            }
                            i += 2;
                            if i > bytes.len() {
                                return Err((
                                    ErrorKind::UnterminatedString {
                                        key: key.owned(),
                                        lines: 0,
                                    },
                                    open,
                                ));
                            }
                        }
                    }
                }
            }
        }
        self.pos = i + 1;
        let raw = std::str::from_utf8(&bytes[body..i])
            .map_err(|e| (ErrorKind::InvalidUtf8, body + e.valid_up_to()))?;
        Ok(FieldValue::String(if escaped {
            Cow::Owned(escape::unescape_string(raw))
        } else {
            Cow::Borrowed(raw)
        }))
    }

    #[inline(always)]
    fn timestamp(&mut self) -> Result<i64, Failure> {
        let at = self.pos;
        let bytes = self.input;
        if let Some((value, end)) = fast_timestamp(bytes, at)
            && let Some(nanos) = self.options.precision.to_nanos(value)
        {
            self.pos = end;
            self.skip_spaces();
            if !self.at_line_end() {
                return Err((ErrorKind::TrailingText, self.pos));
            }
            return Ok(nanos);
        }
        let mut end = at;
        while end < bytes.len() && !matches!(bytes[end], b' ' | b'\n' | b'\r') {
            end += 1;
        }
        let raw = &bytes[at..end];
        let text = || String::from_utf8_lossy(raw).into_owned();
        let value = parse_i64(raw).ok_or_else(|| {
            let kind = if is_signed_digits(raw) {
                ErrorKind::TimestampOutOfRange { value: text() }
            } else {
                ErrorKind::InvalidTimestamp { value: text() }
            };
            (kind, at)
        })?;
        let nanos = self
            .options
            .precision
            .to_nanos(value)
            .ok_or_else(|| (ErrorKind::TimestampOutOfRange { value: text() }, at))?;
        self.pos = end;
        self.skip_spaces();
        if !self.at_line_end() {
            return Err((ErrorKind::TrailingText, self.pos));
        }
        Ok(nanos)
    }
}

impl<'a> Parser<'a> {
    /// Reads the next point into `line`, reusing the allocations of its tag and field
    /// vectors: the fast way to read many points when each is consumed before the next.
    ///
    /// Returns `None` at the end of the input. On `Some(Ok(()))` every field of `line` is
    /// set; on `Some(Err(_))` its contents are unspecified (but valid), and parsing goes on
    /// with the next line.
    pub fn next_into(&mut self, line: &mut Line<'a>) -> Option<Result<(), ParseError>> {
        loop {
            if self.pos >= self.input.len() {
                return None;
            }
            let line_start = self.pos;
            let line_number = self.line;
            self.skip_spaces();
            if self.at_line_end() {
                self.consume_line_end();
                continue;
            }
            if self.peek() == Some(b'#') {
                match memchr::memchr(b'\n', &self.input[self.pos..]) {
                    Some(off) => {
                        self.pos += off + 1;
                        self.line += 1;
                    }
                    None => self.pos = self.input.len(),
                }
                continue;
            }
            line.line_number = line_number;
            line.tags.clear();
            line.fields.clear();
            // The common path, unless it has just declined line after line (a batch of
            // escaped names, say); then it is tried again now and then.
            if self.common_declines < 4 || line_number.is_multiple_of(16) {
                if self.common_point(line) {
                    self.common_declines = 0;
                    self.consume_line_end();
                    return Some(Ok(()));
                }
                self.common_declines = self.common_declines.saturating_add(1);
                line.tags.clear();
                line.fields.clear();
            }
            return Some(match self.point(line) {
                Ok(()) => {
                    self.consume_line_end();
                    Ok(())
                }
                Err((mut kind, at)) => {
                    // Rewind the line counter: the failed attempt may have counted newlines
                    // inside strings that the recovery scan counts again.
                    self.line = line_number;
                    let (end, open) = self.skip_rejected_line(line_start);
                    let mut point = &self.input[line_start..end];
                    if let ErrorKind::UnterminatedString { lines, .. } = &mut kind {
                        // (A newline ending the input starts no line.)
                        let body = point.strip_suffix(b"\n").unwrap_or(point);
                        *lines = memchr::memchr_iter(b'\n', body).count();
                    }
                    // A string left open took the rest of the input (of a large body,
                    // perhaps) into the point: only its first physical line is quoted.
                    if open && let Some(at) = memchr::memchr(b'\n', point) {
                        point = point[..at].strip_suffix(b"\r").unwrap_or(&point[..at]);
                    }
                    let text = String::from_utf8_lossy(point).into_owned();
                    Err(ParseError {
                        line: line_number,
                        column: at.saturating_sub(line_start) + 1,
                        kind,
                        text,
                    })
                }
            });
        }
    }
}

impl<'a> Iterator for Parser<'a> {
    type Item = Result<Line<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut line = Line {
            line_number: 0,
            measurement: Cow::Borrowed(""),
            tags: Vec::with_capacity(self.tags_hint),
            fields: Vec::with_capacity(self.fields_hint),
            timestamp: None,
        };
        Some(self.next_into(&mut line)?.map(|()| line))
    }
}

/// Where the plain name at `at` ends, for the common path: at a byte of `ends`, with no
/// special byte before it and at least one byte (its length is left to the check of the
/// whole line). A name that matches its template ends where the template's did; any other
/// is scanned, clears `same`, and becomes the template. `None` when the name is not plain.
#[inline(always)]
fn common_name(
    bytes: &[u8],
    specials: &mut Specials,
    template: &mut Template,
    at: usize,
    same: &mut bool,
    ends: [u8; 2],
) -> Option<usize> {
    if let Some(end) = template.end_at(bytes, at) {
        return Some(end);
    }
    *same = false;
    let end = scan_common_name(bytes, specials, at, ends)?;
    *template = Template::of(bytes, at, end - at);
    Some(end)
}

/// [`common_name`] without a template: scans the name.
#[inline(never)]
fn scan_common_name(
    bytes: &[u8],
    specials: &mut Specials,
    at: usize,
    ends: [u8; 2],
) -> Option<usize> {
    let end = specials.next(bytes, at);
    let ended = bytes.get(end).is_some_and(|b| ends.contains(b));
    (end != at && ended).then_some(end)
}

/// Up to the first eight bytes of `name` as a big-endian number, zero-padded: comparing
/// two of these orders names as their bytes do, up to a tie that only the full names
/// settle (names never hold a zero byte, which is a control byte).
#[inline]
fn order_prefix(name: &[u8]) -> u64 {
    match name.first_chunk::<8>() {
        Some(head) => u64::from_be_bytes(*head),
        None => {
            // Short names: a byte loop, cheaper than a variable-length copy.
            let mut prefix = 0u64;
            for (i, &b) in name.iter().enumerate() {
                prefix |= u64::from(b) << (56 - 8 * i);
            }
            prefix
        }
    }
}

/// [`order_prefix`] of the name at `input[at..at + len]`, read as one eight-byte word
/// when the input holds eight bytes from `at` (no loop over short names).
#[inline(always)]
fn order_prefix_at(input: &[u8], at: usize, len: usize) -> u64 {
    match input.get(at..at + 8) {
        Some(word) => {
            let word = u64::from_be_bytes(word.try_into().expect("eight bytes"));
            // Keep the name's bytes, the high ones; zero the bytes after it.
            let keep = if len >= 8 {
                u64::MAX
            } else {
                !(u64::MAX >> (8 * len))
            };
            word & keep
        }
        None => order_prefix(&input[at..at + len]),
    }
}

/// [`fingerprint`] of the name at `input[at..at + len]`, with word reads rather than
/// loops where the input allows them; equal to `fingerprint(&input[at..at + len])`.
#[inline(always)]
fn fingerprint_at(input: &[u8], at: usize, len: usize) -> u64 {
    let tail = match input[..at + len].last_chunk::<8>() {
        Some(tail) if len >= 8 => u64::from_le_bytes(*tail),
        _ => 0,
    };
    order_prefix_at(input, at, len) ^ tail.rotate_left(29) ^ (len as u64)
}

/// A cheap digest of `name` for telling keys apart: equal names give equal digests.
#[inline]
fn fingerprint(name: &[u8]) -> u64 {
    let tail = match name.last_chunk::<8>() {
        Some(tail) => u64::from_le_bytes(*tail),
        None => 0,
    };
    order_prefix(name) ^ tail.rotate_left(29) ^ (name.len() as u64)
}

/// How many tags or fields get the fast, allocation-free path below.
const SMALL: usize = 32;

/// Sorts tags by key (a no-op for the common, already sorted line) and rejects a key
/// that appears twice.
fn sort_tags(tags: &mut [(Cow<'_, str>, Cow<'_, str>)]) -> Result<(), String> {
    let n = tags.len();
    if n < 2 {
        return Ok(());
    }
    if n > SMALL {
        if !tags.is_sorted_by(|a, b| a.0 < b.0) {
            tags.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        }
        return match tags.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            Some(pair) => Err(pair[0].0.to_string()),
            None => Ok(()),
        };
    }
    // Insertion sort on the eight-byte prefixes, with the full keys only to break ties:
    // tag sets are short, and most keys differ in their first bytes.
    let mut prefixes = [0u64; SMALL];
    for (prefix, (key, _)) in prefixes.iter_mut().zip(tags.iter()) {
        *prefix = order_prefix(key.as_bytes());
    }
    for i in 1..n {
        let mut j = i;
        while j > 0
            && (prefixes[j] < prefixes[j - 1]
                || (prefixes[j] == prefixes[j - 1] && tags[j].0 < tags[j - 1].0))
        {
            prefixes.swap(j, j - 1);
            tags.swap(j, j - 1);
            j -= 1;
        }
    }
    for i in 1..n {
        if prefixes[i] == prefixes[i - 1] && tags[i].0 == tags[i - 1].0 {
            return Err(tags[i].0.to_string());
        }
    }
    Ok(())
}

/// Whether some field key is written twice in `fields`.
fn has_duplicate_field(fields: &[(Cow<'_, str>, FieldValue<'_>)]) -> bool {
    let n = fields.len();
    if n < 2 {
        return false;
    }
    if n <= SMALL {
        let mut prints = [0u64; SMALL];
        // One bit of 128 per key: when no two keys share a bit, no two keys are equal,
        // and the pairwise check below is skipped.
        let (mut seen, mut shared) = (0u128, false);
        for (print, (key, _)) in prints.iter_mut().zip(fields.iter()) {
            *print = fingerprint(key.as_bytes());
            let bit = 1u128 << (print.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 57);
            shared |= seen & bit != 0;
            seen |= bit;
        }
        shared
            && (1..n).any(|i| (0..i).any(|j| prints[j] == prints[i] && fields[j].0 == fields[i].0))
    } else {
        (1..n).any(|i| fields[..i].iter().any(|(k, _)| *k == fields[i].0))
    }
}

/// Keeps only the last value of a field key written twice in one line.
fn dedup_fields(fields: &mut Vec<(Cow<'_, str>, FieldValue<'_>)>) {
    if has_duplicate_field(fields) {
        let mut seen = std::collections::HashSet::new();
        let mut keep: Vec<bool> = fields
            .iter()
            .rev()
            .map(|(k, _)| seen.insert(k.clone()))
            .collect();
        keep.reverse();
        let mut keep = keep.into_iter();
        fields.retain(|_| keep.next().unwrap_or(true));
    }
}

/// Whether a line ends at `bytes[i]`: end of input, `\n`, or `\r\n` (or, the grammar
/// allows it, a lone `\r` ending the input).
#[inline(always)]
fn line_ends_at(bytes: &[u8], i: usize) -> bool {
    match bytes.get(i) {
        None | Some(b'\n') => true,
        Some(b'\r') => matches!(bytes.get(i + 1), None | Some(b'\n')),
        _ => false,
    }
}

/// Whether a field value that starts before `i` ends at `i`, as the field value scan in
/// [`Parser::field_value`] decides it.
#[inline(always)]
fn ends_value(bytes: &[u8], i: usize) -> bool {
    match bytes.get(i) {
        None | Some(b',' | b' ' | b'\n') => true,
        Some(b'\r') => matches!(bytes.get(i + 1), None | Some(b'\n')),
        Some(_) => false,
    }
}

/// The powers of ten that an `f64` holds exactly.
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Reads the common numbers in one pass: up to 18 digits with an `i` or `u` suffix, or a
/// float of up to 15 digits in all whose value is those digits times a power of ten
/// between 10^-22 and 10^22. Returns the value and where it ends,
/// or `None` for anything else (which [`scalar_value`] then reads, errors included).
#[inline(always)]
fn fast_number(bytes: &[u8], at: usize) -> Option<(FieldValue<'static>, usize)> {
    let mut i = at;
    let negative = bytes.get(i) == Some(&b'-');
    if negative {
        i += 1;
    }
    // Wrapping: a run longer than 18 digits is handed to the full reader below.
    let (mut mantissa, int_digits) = digit_run(bytes, i, 0);
    i += int_digits;
    let mut frac_digits = 0;
    match bytes.get(i) {
        Some(b'i') if (1..=18).contains(&int_digits) && ends_value(bytes, i + 1) => {
            // At most 18 digits: below 10^18, so it fits with either sign.
            let magnitude = mantissa as i64;
            let value = if negative { -magnitude } else { magnitude };
            return Some((FieldValue::Integer(value), i + 1));
        }
        Some(b'u') if !negative && (1..=18).contains(&int_digits) && ends_value(bytes, i + 1) => {
            return Some((FieldValue::UInteger(mantissa), i + 1));
        }
        Some(b'.') => {
            i += 1;
            (mantissa, frac_digits) = digit_run(bytes, i, mantissa);
            i += frac_digits;
        }
        _ => {}
    }
    let digits = int_digits + frac_digits;
    let mut exponent = -(frac_digits as i32);
    if digits > 0 && matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        let exponent_negative = match bytes.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let exponent_at = i;
        let mut written = 0i32;
        while let Some(&b) = bytes.get(i) {
            let digit = b.wrapping_sub(b'0');
            if digit > 9 {
                break;
            }
            if i - exponent_at == 3 {
                return None;
            }
            written = written * 10 + i32::from(digit);
            i += 1;
        }
        if i == exponent_at {
            return None;
        }
        exponent += if exponent_negative { -written } else { written };
    }
    if digits == 0 || digits > 15 || !(-22..=22).contains(&exponent) || !ends_value(bytes, i) {
        return None;
    }
    // Both operands are exact (the mantissa is below 10^15 < 2^53, and so are the powers
    // of ten up to 10^22), so the one rounding of the product or quotient gives the
    // correctly rounded value of the decimal.
    let power = EXACT_POWERS_OF_TEN[exponent.unsigned_abs() as usize];
    let magnitude = if exponent >= 0 {
        mantissa as f64 * power
    } else {
        mantissa as f64 / power
    };
    Some((
        FieldValue::Float(if negative { -magnitude } else { magnitude }),
        i,
    ))
}

/// The field value `bytes[at..end]`, for the common path, which has found that `end` is
/// the first special byte after `at`; when that byte ends the value (`,`, space, line end),
/// this is the value [`Parser::field_value`] reads. `None` when the value is not valid.
#[inline(always)]
fn span_value<'v>(bytes: &[u8], at: usize, end: usize, key: &str) -> Option<FieldValue<'v>> {
    if let Some(value) = span_integer(bytes, at, end) {
        return Some(value);
    }
    match fast_number(bytes, at) {
        Some((value, stop)) if stop == end => Some(value),
        Some(_) => None,
        None => scalar_value(bytes.get(at..end)?, key).ok(),
    }
}

/// The common integer: `-?[0-9]{1,8}i` or `[0-9]{1,8}u` filling `bytes[at..end]`, its digits
/// read as one word; `None` for anything else, which [`fast_number`] then reads.
#[inline(always)]
fn span_integer(bytes: &[u8], at: usize, end: usize) -> Option<FieldValue<'static>> {
    let suffix_at = end.checked_sub(1)?;
    let suffix = *bytes.get(suffix_at)?;
    let negative = bytes.get(at) == Some(&b'-');
    let digits_at = at + usize::from(negative);
    let count = suffix_at.checked_sub(digits_at)?;
    let word = u64::from_le_bytes(*bytes.get(digits_at..)?.first_chunk::<8>()?);
    // Exactly `count` digits, then the suffix (which is no digit).
    if count == 0 || count > 8 || leading_digits(word) != count {
        return None;
    }
    // At most eight digits: below 10^8, exact as either integer type.
    let magnitude = value_of_leading_digits(word, count);
    match suffix {
        b'i' => {
            let magnitude = magnitude as i64;
            Some(FieldValue::Integer(if negative {
                -magnitude
            } else {
                magnitude
            }))
        }
        b'u' if !negative => Some(FieldValue::UInteger(magnitude)),
        _ => None,
    }
}

/// Reads a timestamp of up to 19 digits that fits an `i64`; `None` for anything else,
/// which the full reader then handles.
#[inline(always)]
fn fast_timestamp(bytes: &[u8], at: usize) -> Option<(i64, usize)> {
    let mut i = at;
    let negative = bytes.get(i) == Some(&b'-');
    if negative {
        i += 1;
    }
    // Wrapping: a run longer than 19 digits is handed to the full reader below.
    let (magnitude, digits) = digit_run(bytes, i, 0);
    i += digits;
    // Nineteen digits stay below 10^19 < 2^64, so `magnitude` is exact here.
    if !(1..=19).contains(&digits) || !matches!(bytes.get(i), None | Some(b' ' | b'\n' | b'\r')) {
        return None;
    }
    let value = if negative {
        0i64.checked_sub_unsigned(magnitude)?
    } else {
        i64::try_from(magnitude).ok()?
    };
    Some((value, i))
}

fn is_signed_digits(raw: &[u8]) -> bool {
    let digits = raw.strip_prefix(b"-").unwrap_or(raw);
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

/// `-?[0-9]+` as an `i64`; `None` for any other text or on overflow.
#[inline]
fn parse_i64(raw: &[u8]) -> Option<i64> {
    let (negative, digits) = match raw.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, raw),
    };
    if digits.is_empty() {
        return None;
    }
    // Accumulate negatively so that i64::MIN parses.
    let mut value: i64 = 0;
    for &d in digits {
        let digit = d.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value.checked_mul(10)?.checked_sub(i64::from(digit))?;
    }
    if negative {
        Some(value)
    } else {
        value.checked_neg()
    }
}

/// `[0-9]+` as a `u64`; `None` for any other text or on overflow.
#[inline]
fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    let mut value: u64 = 0;
    for &d in digits {
        let digit = d.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(digit))?;
    }
    Some(value)
}

/// Whether `raw` follows the float grammar: `-? (digits ('.' digits?)? | '.' digits) exp?`.
fn is_float_syntax(raw: &[u8]) -> bool {
    let mut s = raw.strip_prefix(b"-").unwrap_or(raw);
    let int_len = s.iter().take_while(|b| b.is_ascii_digit()).count();
    s = &s[int_len..];
    let mut frac_len = 0;
    if let Some(rest) = s.strip_prefix(b".") {
        frac_len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        s = &rest[frac_len..];
    }
    if int_len == 0 && frac_len == 0 {
        return false;
    }
    if let Some(rest) = s.strip_prefix(b"e").or_else(|| s.strip_prefix(b"E")) {
        let rest = rest
            .strip_prefix(b"+")
            .or_else(|| rest.strip_prefix(b"-"))
            .unwrap_or(rest);
        let exp_len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        return exp_len > 0 && exp_len == rest.len();
    }
    s.is_empty()
}

/// Reads an unquoted field value: a number or a boolean.
fn scalar_value<'a>(raw: &[u8], key: &str) -> Result<FieldValue<'a>, ErrorKind> {
    let text = || String::from_utf8_lossy(raw).into_owned();
    match raw {
        b"t" | b"T" | b"true" | b"True" | b"TRUE" => return Ok(FieldValue::Boolean(true)),
        b"f" | b"F" | b"false" | b"False" | b"FALSE" => return Ok(FieldValue::Boolean(false)),
        _ => {}
    }
    let Some((&last, body)) = raw.split_last() else {
        return Err(ErrorKind::MissingFieldValue { key: key.into() });
    };
    let first = raw[0];
    let numeric_start = first.is_ascii_digit() || first == b'-' || first == b'.';
    if !numeric_start {
        let lower = raw.to_ascii_lowercase();
        let unsigned = lower.strip_prefix(b"+").unwrap_or(&lower);
        return Err(if matches!(unsigned, b"nan" | b"inf" | b"infinity") {
            ErrorKind::NonFiniteFloat { key: key.into() }
        } else {
            ErrorKind::InvalidFieldValue {
                key: key.into(),
                value: text(),
            }
        });
    }
    match last {
        b'i' => parse_i64(body).map(FieldValue::Integer).ok_or_else(|| {
            if is_signed_digits(body) {
                ErrorKind::NumberOutOfRange {
                    key: key.into(),
                    value: text(),
                }
            } else {
                ErrorKind::InvalidNumber {
                    key: key.into(),
                    value: text(),
                }
            }
        }),
        b'u' => parse_u64(body).map(FieldValue::UInteger).ok_or_else(|| {
            if !body.is_empty() && body.iter().all(u8::is_ascii_digit) {
                ErrorKind::NumberOutOfRange {
                    key: key.into(),
                    value: text(),
                }
            } else {
                ErrorKind::InvalidNumber {
                    key: key.into(),
                    value: text(),
                }
            }
        }),
        _ => {
            if !is_float_syntax(raw) {
                let lower = raw.to_ascii_lowercase();
                return Err(
                    if matches!(lower.as_slice(), b"-nan" | b"-inf" | b"-infinity") {
                        ErrorKind::NonFiniteFloat { key: key.into() }
                    } else {
                        ErrorKind::InvalidNumber {
                            key: key.into(),
                            value: text(),
                        }
                    },
                );
            }
            // SAFETY: `is_float_syntax` admits ASCII bytes only.
            let s = unsafe { std::str::from_utf8_unchecked(raw) };
            let value: f64 = s.parse().map_err(|_| ErrorKind::InvalidNumber {
                key: key.into(),
                value: text(),
            })?;
            if value.is_finite() {
                Ok(FieldValue::Float(value))
            } else {
                Err(ErrorKind::NumberOutOfRange {
                    key: key.into(),
                    value: text(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Reads the point at the start of `input` with [`Parser::common_point`] and with
    /// [`Parser::point`]; when the first reads it, both must agree on everything. Returns
    /// whether the common path read it.
    fn assert_common_point_agrees(input: &[u8], options: ParseOptions) -> bool {
        assert_common_point_agrees_after(b"", input, options)
    }

    /// [`assert_common_point_agrees`] for the point that follows the lines of `before`
    /// (whole lines, each ending with a newline), which one parser reads first: so the
    /// common path meets the point with what it remembers of those lines.
    fn assert_common_point_agrees_after(before: &[u8], text: &[u8], options: ParseOptions) -> bool {
        let blank = || Line {
            line_number: 1,
            measurement: Cow::Borrowed(""),
            tags: Vec::new(),
            fields: Vec::new(),
            timestamp: None,
        };
        let input = [before, text].concat();
        let input = input.as_slice();
        let mut primed = Parser::new(input, options);
        let mut line = blank();
        while primed.pos < before.len() {
            let _ = primed.next_into(&mut line);
        }
        assert_eq!(
            primed.pos,
            before.len(),
            "the lines before end with a newline"
        );
        let (pos, line_count) = (primed.pos, primed.line);
        let mut common = primed.clone();
        let mut common_line = blank();
        if !common.common_point(&mut common_line) {
            assert_eq!(common.pos, pos, "a declined line leaves the position");
            assert_eq!(
                common.line, line_count,
                "a declined line leaves the line count"
            );
            return false;
        }
        let mut general = primed;
        let mut general_line = blank();
        let text = String::from_utf8_lossy(&input[pos..]);
        assert_eq!(general.point(&mut general_line), Ok(()), "{text:?}");
        assert_eq!(common_line, general_line, "{text:?}");
        assert_eq!(
            (common.pos, common.line),
            (general.pos, general.line),
            "{text:?}"
        );
        true
    }

    #[test]
    fn the_common_path_reads_tokens_ending_at_block_edges_like_the_general_one() {
        // Names and values whose ends fall on either side of 16-, 32- and 64-byte edges.
        for pad in 0..70 {
            let name = "n".repeat(pad + 1);
            for line in [
                format!("{name},t=v f=1i 5\n"),
                format!("m,{name}={name} {name}=1.5,g=2u\n"),
                format!("m,b=1,a=2 f=\"{name}\",g=t 7"),
                format!("m,a={name},a=x f=1\n"),
                format!("m f=1,{name}=2,{name}=3\r\n"),
                format!("m,a=1 f={pad} -{pad}\n"),
                format!("m,a\\ b=1 f=1\n{name}"),
                "m,a=é f=1\n".to_string(),
            ] {
                assert_common_point_agrees(line.as_bytes(), ParseOptions::default());
            }
            // The plain shapes are the common path's to read.
            for line in [
                format!("{name},t=v f=1i 5\n"),
                format!("m,{name}={name} {name}=1.5,g=2u\n"),
                format!("m,b=1,a=2 f=\"{name}\",g=t 7"),
            ] {
                assert!(
                    assert_common_point_agrees(line.as_bytes(), ParseOptions::default()),
                    "{line}"
                );
            }
        }
    }

    #[test]
    fn word_read_prefixes_and_digests_equal_those_of_the_name() {
        let input = "usage_guest_nice=1,a=2,service_environment=x,é=1,zz".as_bytes();
        for at in 0..input.len() {
            for len in 1..=input.len() - at {
                let name = &input[at..at + len];
                assert_eq!(
                    order_prefix_at(input, at, len),
                    order_prefix(name),
                    "{at} {len}"
                );
                assert_eq!(
                    fingerprint_at(input, at, len),
                    fingerprint(name),
                    "{at} {len}"
                );
            }
        }
    }

    /// `input` parsed in one go, each result as [`parse_alone`] gives it (line 1 of its
    /// own input, error line 0).
    fn parse_together(input: &str) -> Vec<Result<Line<'_>, ParseError>> {
        Parser::new(input.as_bytes(), ParseOptions::default())
            .map(|r| {
                r.map(|mut line| {
                    line.line_number = 1;
                    line
                })
                .map_err(|mut e| {
                    e.line = 0;
                    e
                })
            })
            .collect()
    }

    /// Every line's result, each line parsed by a fresh parser (nothing remembered from
    /// the lines before it).
    fn parse_alone(input: &str) -> Vec<Result<Line<'_>, ParseError>> {
        input
            .split_inclusive('\n')
            .filter_map(|line| Parser::new(line.as_bytes(), ParseOptions::default()).next())
            .map(|r| {
                r.map_err(|mut e| {
                    e.line = 0;
                    e
                })
            })
            .collect()
    }

    #[test]
    fn what_the_parser_remembers_between_lines_never_changes_a_result() {
        // Tag orders and field keys repeat, then change: duplicates after a remembered
        // order, fewer and more tags, keys whose digests repeat, lines that decline.
        let input = "m,b=1,a=2,c=3 f=1,g=2 1\n\
                     m,b=1,a=2,c=3 f=1,g=2 2\n\
                     m,b=1,a=2,b=3 f=1,g=2 3\n\
                     m,b=1,a=2,c=3 f=1,f=2 4\n\
                     m,b=1,a=2,c=3 f=1,g=2,f=3 5\n\
                     m,b=1,a=2 g=1,f=2 6\n\
                     m,c=1,b=2,a=3,d=4 f=1 7\n\
                     m,b=1,a=2,c=3 f=1,g=2 8\n\
                     m,service_version=1,service_environment=2,service=3 f=1 9\n\
                     m,service_version=1,service_environment=2,service=3 f=1 10\n\
                     m,service_version=1,service_version=2,service=3 f=1 11\n\
                     m,b=1,a=2,c=3 f=1,g=2 12\n\
                     m,b=1,a=2,c=3 f=1,f=2 13\n\
                     m f=1,g=2 14\n\
                     m g=1,g=2,x=oops 15\n\
                     m g=1,g=2 16\n\
                     m\\ x,a=1 f\\ g=1 17\n\
                     m\\ x,a=1 f\\ g=1 18\n\
                     m\\ x,a=1 f\\ g=1 19\n\
                     m\\ x,a=1 f\\ g=1 20\n\
                     m\\ x,a=1 f\\ g=1,f\\ g=2 21\n\
                     m f=1,g=2 22\n\
                     m f=1,f=2 23\n";
        let together = parse_together(input);
        assert_eq!(together, parse_alone(input));
        assert!(together[2].is_err(), "a tag key twice");
        assert_eq!(
            together[3].as_ref().unwrap().fields.len(),
            1,
            "a field key twice"
        );
        assert_eq!(
            together[15].as_ref().unwrap().fields.len(),
            1,
            "a field key twice after a declined line"
        );
    }

    /// A batch of lines alike in shape: few keys, in varying order, repeated or not, with
    /// now and then a value or name that the common path declines.
    fn similar_lines() -> impl Strategy<Value = String> {
        let key = prop::sample::select(vec!["a", "b", "f", "service_environment"]);
        let tag_key = prop::sample::select(vec![
            "host",
            "region",
            "rack",
            "os",
            "team",
            "service",
            "service_version",
            "arch",
        ]);
        let value = prop_oneof![
            12 => prop::sample::select(vec!["1", "2i", "1.5", "t", "\"s\""]),
            1 => prop::sample::select(vec!["oops", "x"]),
        ];
        let tag = (tag_key, prop_oneof![19 => Just("v"), 1 => Just("a\\ b")]);
        let line = (
            prop_oneof![19 => Just("m"), 1 => Just("m\\ n")],
            prop::collection::vec(tag, 0..4),
            prop::collection::vec((key, value), 1..4),
        )
            .prop_map(|(measurement, tags, fields)| {
                let mut line = measurement.to_string();
                for (k, v) in tags {
                    line.push_str(&format!(",{k}={v}"));
                }
                let fields: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
                line.push(' ');
                line.push_str(&fields.join(","));
                line.push('\n');
                line
            });
        prop::collection::vec(line, 1..30).prop_map(|lines| lines.concat())
    }

    proptest! {
        #[test]
        fn batches_parse_like_their_lines_alone(input in similar_lines()) {
            prop_assert_eq!(parse_together(&input), parse_alone(&input));
        }
    }

    /// Line-protocol-like text: names, separators, escapes and number pieces.
    fn line_text() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            8 => prop::sample::select(vec![
                &b"m"[..], b"cpu", b"host", b"t", b"a", b"b", b"usage_user", b"x",
                b",", b"=", b" ", b"1", b"42", b"-3", b"1.5", b"i", b"u", b"e-2",
                b"t", b"false", b"\"s\"", b"1700000000000000000",
            ]),
            2 => prop::sample::select(vec![
                &b"\\"[..], b"\n", b"\r", b"\r\n", b"\t", b"\"", b"#", b"\xc3\xa9", b"\xff",
                b"  ", b"==", b",,",
            ]),
        ];
        prop::collection::vec(piece, 1..40).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #[test]
        fn the_common_path_agrees_with_the_general_one(
            text in line_text(),
            max_name_bytes in prop::sample::select(vec![3usize, 65_535]),
            max_line_bytes in prop::sample::select(vec![20usize, 1 << 20]),
        ) {
            let options = ParseOptions {
                max_name_bytes,
                max_line_bytes,
                default_time: Some(123),
                ..ParseOptions::default()
            };
            assert_common_point_agrees(&text, options);
            // And from a shape the common path reads, cut anywhere.
            let line = b"cpu,hostname=host_0,region=eu,rack=7 usage_user=58i,usage_idle=2.5,ok=t,s=\"a\\\"b\" 1451606400000000000\n";
            let mut joined = line.to_vec();
            joined.extend_from_slice(&text);
            prop_assert!(assert_common_point_agrees(&joined, ParseOptions::default()));
            assert_common_point_agrees(&joined, options);
            for cut in 0..line.len() {
                assert_common_point_agrees(&line[..cut], options);
            }
        }
    }

    /// Lines whose names repeat, or nearly repeat, those of a line before them: names
    /// that are prefixes of others, names around the 31 bytes a template holds.
    fn primed_lines() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
        let name = prop::sample::select(vec![
            "m",
            "mm",
            "host",
            "hostname",
            "usage_guest",
            "usage_guest_nice",
            "abcdefghijklmnopqrstuvwxyz0123",
            "abcdefghijklmnopqrstuvwxyz01234",
            "abcdefghijklmnopqrstuvwxyz012345",
            "abcdefghijklmnopqrstuvwxyz0123456",
        ]);
        let value = prop::sample::select(vec![
            "1",
            "12i",
            "-7i",
            "99999999i",
            "123456789i",
            "3u",
            "-3u",
            "1.5",
            "t",
            "\"s\"",
            "x",
            "1=2",
            "",
        ]);
        let line = (
            name.clone(),
            prop::collection::vec((name.clone(), name.clone()), 0..4),
            prop::collection::vec((name, value), 1..4),
            prop::sample::select(vec!["", " 5", "  6 ", " x"]),
        )
            .prop_map(|(measurement, tags, fields, time)| {
                let mut line = measurement.to_string();
                for (k, v) in tags {
                    line.push_str(&format!(",{k}={v}"));
                }
                let fields: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
                line.push(' ');
                line.push_str(&fields.join(","));
                line.push_str(time);
                line.push('\n');
                line.into_bytes()
            });
        (prop::collection::vec(line.clone(), 1..4), line)
            .prop_map(|(before, after)| (before.concat(), after))
    }

    proptest! {
        #[test]
        fn the_common_path_agrees_with_the_general_one_after_other_lines(
            (before, line) in primed_lines(),
            text in line_text(),
            cut in any::<prop::sample::Index>(),
            max_name_bytes in prop::sample::select(vec![3usize, 65_535]),
        ) {
            let options = ParseOptions { max_name_bytes, ..ParseOptions::default() };
            assert_common_point_agrees_after(&before, &line, options);
            // The line again, then text of any kind after it, or the line cut short.
            let mut joined = line.clone();
            joined.extend_from_slice(&text);
            assert_common_point_agrees_after(&before, &joined, options);
            assert_common_point_agrees_after(&before, &line[..cut.index(line.len())], options);
            assert_common_point_agrees_after(&[before.as_slice(), &line].concat(), &text, options);
        }
    }

    /// Number-like text: digits, signs, dots, exponents and suffixes in any order.
    fn number_text() -> impl Strategy<Value = Vec<u8>> {
        let byte = prop::sample::select(b"0123456789-.eEiu+".to_vec());
        prop_oneof![
            prop::collection::vec(byte, 1..24),
            (any::<i64>(), 0..20usize).prop_map(|(v, cut)| {
                let s = format!("{v}.{}", v.unsigned_abs());
                s.as_bytes()[..s.len().min(cut + 1)].to_vec()
            }),
            any::<f64>().prop_map(|f| format!("{f}").into_bytes()),
            any::<i64>().prop_map(|v| format!("{}i", v >> (v & 63)).into_bytes()),
            any::<u64>().prop_map(|v| format!("{}u", v >> (v & 63)).into_bytes()),
            // Short integers of either sign with either suffix.
            (-99_999_999i64..99_999_999, 0u32..8, prop::sample::select(vec!["i", "u"]))
                .prop_map(|(v, cut, suffix)| format!("{}{suffix}", v / 10i64.pow(cut)).into_bytes()),
        ]
    }

    proptest! {
        #[test]
        fn the_fast_number_reader_agrees_with_the_full_one(
            text in number_text(),
            end in prop::sample::select(vec![&b""[..], b",", b" ", b"\n", b"\r\n", b"\r", b"x"]),
        ) {
            let mut input = text.clone();
            input.extend_from_slice(end);
            if let Some((value, stop)) = fast_number(&input, 0) {
                prop_assert_eq!(stop, text.len());
                prop_assert_ne!(end, b"x", "a value runs on into the x");
                let full = scalar_value(&text, "f").expect("the full reader accepts it too");
                match (&value, &full) {
                    (FieldValue::Float(a), FieldValue::Float(b)) => {
                        prop_assert_eq!(a.to_bits(), b.to_bits(), "{:?}", String::from_utf8_lossy(&text));
                    }
                    _ => prop_assert_eq!(&value, &full),
                }
            }
        }

        #[test]
        fn the_span_reader_agrees_with_the_full_one(
            text in number_text(),
            end in prop::sample::select(vec![&b""[..], b",", b" ", b"\n", b"\r\n"]),
            padding in 0usize..12,
        ) {
            // The value's span as the common path finds it: up to the special byte after it.
            let mut input = text.clone();
            input.extend_from_slice(end);
            input.extend(std::iter::repeat_n(b'x', padding));
            let span = span_value(&input, 0, text.len(), "f");
            match (span, scalar_value(&text, "f")) {
                (Some(FieldValue::Float(a)), Ok(FieldValue::Float(b))) => {
                    prop_assert_eq!(a.to_bits(), b.to_bits(), "{:?}", String::from_utf8_lossy(&text));
                }
                (Some(value), Ok(full)) => prop_assert_eq!(value, full),
                (None, Err(_)) => {}
                (span, full) => prop_assert!(false, "{:?}: {:?} but {:?}", String::from_utf8_lossy(&text), span, full),
            }
        }

        #[test]
        fn the_fast_timestamp_reader_agrees_with_the_full_one(
            text in prop::collection::vec(prop::sample::select(b"0123456789-".to_vec()), 1..21),
        ) {
            if let Some((value, stop)) = fast_timestamp(&text, 0) {
                prop_assert_eq!(stop, text.len());
                prop_assert_eq!(Some(value), parse_i64(&text));
            }
        }
    }
}
