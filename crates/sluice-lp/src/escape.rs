//! The escaping rules of line protocol names and string values, both directions.
//!
//! In a measurement, tag key, tag value or field key a backslash makes the character after
//! it literal. The parser follows the grammar of the public line-protocol corpus: a run of
//! backslashes followed by a character that would otherwise end the token (`,`, `=`, space)
//! stands for the run less one backslash, then that character; a run followed by any other
//! character stands for itself. So `a\ b` is `a b`, `a\\ b` is `a\ b`, and `a\b` is `a\b`.
//! Encoding is the inverse: one backslash goes before each character that would end the
//! token.
//!
//! In a string field value `\"` is `"` and `\\` is `\`; any other backslash is kept, so
//! `"a\nb"` is the four characters `a`, `\`, `n`, `b`, as InfluxDB servers store it.

/// Which characters end a token, and so must be escaped inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Token {
    /// Measurement: `,` and space.
    Measurement,
    /// Tag key, tag value, field key: `,`, `=` and space.
    Key,
}

impl Token {
    #[inline]
    fn is_special(self, b: u8) -> bool {
        match self {
            Token::Measurement => b == b',' || b == b' ',
            Token::Key => b == b',' || b == b'=' || b == b' ',
        }
    }
}

/// Decodes a raw token known to contain a backslash and to be valid (no backslash at its
/// end).
pub(crate) fn unescape_name(raw: &str, token: Token) -> String {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while let Some(offset) = memchr::memchr(b'\\', &bytes[i..]) {
        // Every cut below falls next to an ASCII byte, so on a character boundary.
        let run_start = i + offset;
        out.push_str(&raw[i..run_start]);
        let mut run_end = run_start;
        while bytes.get(run_end) == Some(&b'\\') {
            run_end += 1;
        }
        let run = run_end - run_start;
        match bytes.get(run_end) {
            Some(&c) if token.is_special(c) => {
                out.extend(std::iter::repeat_n('\\', run - 1));
                out.push(char::from(c));
                i = run_end + 1;
            }
            _ => {
                out.extend(std::iter::repeat_n('\\', run));
                i = run_end;
            }
        }
    }
    out.push_str(&raw[i..]);
    out
}

/// Decodes the inside of a quoted string that contains a backslash.
pub(crate) fn unescape_string(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while let Some(offset) = memchr::memchr(b'\\', &bytes[i..]) {
        let at = i + offset;
        out.push_str(&raw[i..at]);
        match bytes.get(at + 1) {
            // `\"` and `\\` stand for the character after the backslash.
            Some(&c @ (b'"' | b'\\')) => {
                out.push(char::from(c));
                i = at + 2;
            }
            // Any other backslash is kept, and the character after it is copied as is.
            _ => {
                out.push('\\');
                i = at + 1;
            }
        }
    }
    out.push_str(&raw[i..]);
    out
}

#[inline]
fn push_escaped(value: &str, out: &mut String, needs: impl Fn(u8) -> bool) {
    let bytes = value.as_bytes();
    let mut last = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if needs(b) {
            out.push_str(&value[last..i]);
            out.push('\\');
            last = i;
        }
    }
    out.push_str(&value[last..]);
}

/// Appends `value` escaped as a measurement.
pub fn measurement(value: &str, out: &mut String) {
    push_escaped(value, out, |b| Token::Measurement.is_special(b));
}

/// Appends `value` escaped as a tag key, tag value or field key.
pub fn key(value: &str, out: &mut String) {
    push_escaped(value, out, |b| Token::Key.is_special(b));
}

/// Appends `value` quoted and escaped as a string field value.
pub fn string_value(value: &str, out: &mut String) {
    out.push('"');
    push_escaped(value, out, |b| b == b'"' || b == b'\\');
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_names_by_backslash_runs() {
        let cases = [
            (r"a\ b", Token::Key, "a b"),
            (r"a\\ b", Token::Key, r"a\ b"),
            (r"a\\\ b", Token::Key, r"a\\ b"),
            (r"a\b", Token::Key, r"a\b"),
            (r"a\\b", Token::Key, r"a\\b"),
            (r"a\=b", Token::Key, "a=b"),
            (r"a\=b", Token::Measurement, r"a\=b"),
            (r"a\,b", Token::Measurement, "a,b"),
        ];
        for (raw, token, want) in cases {
            assert_eq!(unescape_name(raw, token), want, "{raw}");
        }
    }

    #[test]
    fn unescapes_only_quote_and_backslash_in_strings() {
        assert_eq!(unescape_string(r#"a\"b\\c\nd"#), "a\"b\\c\\nd");
    }

    #[test]
    fn escaping_inverts_unescaping() {
        for value in ["a b", r"a\ b", "a,b=c", r"x\", r"\\,", "plain"] {
            let mut out = String::new();
            key(value, &mut out);
            if !value.ends_with('\\') {
                assert_eq!(unescape_name(&out, Token::Key), value, "{out}");
            }
        }
    }
}
