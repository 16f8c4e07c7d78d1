//! The lexer: turns query text into tokens on demand, one at a time from a byte offset.
//!
//! Regular expressions are not tokens of their own: `/` is division except where the
//! grammar wants a regex, so the parser asks for one with [`Lexer::scan_regex`].

use crate::error::Error;
use crate::literal::{is_keyword, parse_duration, quote_ident, quote_string};

/// One token of InfluxQL.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Token {
    /// The end of the input.
    Eof,
    /// A bare word; keywords are bare words too.
    Ident(String),
    /// A double-quoted identifier, unescaped.
    QuotedIdent(String),
    /// A single-quoted string, unescaped.
    String(String),
    /// Digits only; the sign is a separate token.
    Integer(String),
    /// Digits with a `.`.
    Float(String),
    /// Digits followed by duration units, checked by [`parse_duration`].
    Duration(String),
    /// `$name`: a bound parameter.
    Param(String),
    /// An operator or punctuation mark.
    Symbol(&'static str),
}

impl Token {
    /// The token as error messages name it.
    pub(crate) fn describe(&self) -> String {
        match self {
            Token::Eof => "EOF".to_owned(),
            Token::Ident(word) if is_keyword(word) => word.to_ascii_uppercase(),
            Token::Ident(word) => word.clone(),
            Token::QuotedIdent(name) => quote_ident(name),
            Token::String(s) => quote_string(s),
            Token::Integer(t) | Token::Float(t) | Token::Duration(t) => t.clone(),
            Token::Param(name) => format!("${name}"),
            Token::Symbol(s) => (*s).to_owned(),
        }
    }

    /// Whether this is the bare keyword `keyword` (compared case-insensitively).
    pub(crate) fn is_keyword(&self, keyword: &str) -> bool {
        matches!(self, Token::Ident(word) if word.eq_ignore_ascii_case(keyword))
    }
}

/// A token and the byte range it covers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Spanned {
    pub(crate) token: Token,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// Symbols, longest first so that `<=` wins over `<`.
const SYMBOLS: [&str; 24] = [
    "::", "!=", "<>", "<=", ">=", "=~", "!~", "+", "-", "*", "/", "%", "&", "|", "^", "=", "<",
    ">", "(", ")", ",", ";", ".", ":",
];

/// A lexer over one query string.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lexer<'a> {
    src: &'a str,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Lexer { src }
    }

    pub(crate) fn src(&self) -> &'a str {
        self.src
    }

    /// 1-based line and character of a byte offset.
    pub(crate) fn position(&self, offset: usize) -> (usize, usize) {
        let before = &self.src[..offset.min(self.src.len())];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }

    /// An [`Error::Invalid`] at a byte offset.
    pub(crate) fn invalid(&self, offset: usize, message: impl Into<String>) -> Error {
        let (line, column) = self.position(offset);
        Error::Invalid {
            message: message.into(),
            line,
            column,
        }
    }

    /// Skips whitespace and comments (`-- to end of line`, `/* ... */`).
    fn skip_trivia(&self, mut pos: usize) -> usize {
        let bytes = self.src.as_bytes();
        loop {
            while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
                pos += 1;
            }
            if bytes[pos..].starts_with(b"--") {
                pos = self.src[pos..]
                    .find('\n')
                    .map_or(bytes.len(), |i| pos + i + 1);
            } else if bytes[pos..].starts_with(b"/*") {
                pos = self.src[pos + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |i| pos + 2 + i + 2);
            } else {
                return pos;
            }
        }
    }

    /// The token starting at or after `pos`.
    pub(crate) fn scan(&self, pos: usize) -> Result<Spanned, Error> {
        let start = self.skip_trivia(pos);
        let rest = &self.src[start..];
        let Some(first) = rest.chars().next() else {
            return Ok(Spanned {
                token: Token::Eof,
                start,
                end: start,
            });
        };
        let spanned = |token, len: usize| Spanned {
            token,
            start,
            end: start + len,
        };
        if first.is_ascii_alphabetic() || first == '_' {
            let len = word_len(rest);
            return Ok(spanned(Token::Ident(rest[..len].to_owned()), len));
        }
        if first.is_ascii_digit()
            || (first == '.' && rest[1..].starts_with(|c: char| c.is_ascii_digit()))
        {
            return self.scan_number(start);
        }
        match first {
            '"' => {
                let (name, len) = self.scan_quoted(start, '"')?;
                return Ok(spanned(Token::QuotedIdent(name), len));
            }
            '\'' => {
                let (value, len) = self.scan_quoted(start, '\'')?;
                return Ok(spanned(Token::String(value), len));
            }
            '$' => {
                let len = word_len(&rest[1..]);
                if len == 0 {
                    return Err(self.invalid(start, "expected a parameter name after '$'"));
                }
                return Ok(spanned(Token::Param(rest[1..=len].to_owned()), len + 1));
            }
            _ => {}
        }
        for symbol in SYMBOLS {
            if rest.starts_with(symbol) {
                return Ok(spanned(Token::Symbol(symbol), symbol.len()));
            }
        }
        Err(self.invalid(start, format!("unexpected character {first:?}")))
    }

    /// A number or a duration starting at `start`.
    fn scan_number(&self, start: usize) -> Result<Spanned, Error> {
        let rest = &self.src[start..];
        let bytes = rest.as_bytes();
        let mut len = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
        let mut is_float = false;
        if bytes.get(len) == Some(&b'.') && bytes.get(len + 1).is_some_and(u8::is_ascii_digit) {
            is_float = true;
            len += 1;
            len += bytes[len..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
        }
        let token = if !is_float && rest[len..].starts_with(|c: char| c.is_alphabetic()) {
            // A duration such as `10s` or `1h30m`: take the whole run of letters and digits
            // so that `10x` is reported as one bad duration rather than `10` then `x`.
            len += rest[len..]
                .char_indices()
                .find(|(_, c)| !c.is_alphanumeric())
                .map_or(rest.len() - len, |(i, _)| i);
            let text = &rest[..len];
            if parse_duration(text).is_err() {
                return Err(self.invalid(start, format!("invalid duration {text:?}")));
            }
            Token::Duration(text.to_owned())
        } else if is_float {
            Token::Float(rest[..len].to_owned())
        } else {
            Token::Integer(rest[..len].to_owned())
        };
        Ok(Spanned {
            token,
            start,
            end: start + len,
        })
    }

    /// A quoted string or identifier at `start`: its unescaped value and its length.
    ///
    /// Escapes: `\\`, `\n`, `\'` and `\"`; any other backslash sequence is an error.
    fn scan_quoted(&self, start: usize, quote: char) -> Result<(String, usize), Error> {
        let mut value = String::new();
        let mut chars = self.src[start..].char_indices().skip(1);
        while let Some((i, c)) = chars.next() {
            match c {
                c if c == quote => return Ok((value, i + 1)),
                '\\' => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, '\'')) => value.push('\''),
                    Some((_, '"')) => value.push('"'),
                    Some((_, other)) => {
                        return Err(self.invalid(start + i, format!("bad escape \\{other}")));
                    }
                    None => break,
                },
                c => value.push(c),
            }
        }
        let what = if quote == '"' {
            "unterminated quoted identifier"
        } else {
            "unterminated string"
        };
        Err(self.invalid(start, what))
    }

    /// A regex literal `/.../` starting at or after `pos` (after whitespace only), if one
    /// starts there.
    ///
    /// `\/` stands for `/`; every other backslash sequence is kept as written, for the
    /// regex engine to read.
    pub(crate) fn scan_regex(&self, pos: usize) -> Result<Option<(String, Spanned)>, Error> {
        let bytes = self.src.as_bytes();
        let mut start = pos;
        while start < bytes.len() && bytes[start].is_ascii_whitespace() {
            start += 1;
        }
        // `/*` opens a comment, never a regex (a pattern cannot start with `*`).
        if bytes.get(start) != Some(&b'/') || bytes.get(start + 1) == Some(&b'*') {
            return Ok(None);
        }
        let mut pattern = String::new();
        let mut chars = self.src[start..].char_indices().skip(1);
        while let Some((i, c)) = chars.next() {
            match c {
                '/' => {
                    let spanned = Spanned {
                        token: Token::Symbol("/"),
                        start,
                        end: start + i + 1,
                    };
                    return Ok(Some((pattern, spanned)));
                }
                '\\' => match chars.next() {
                    Some((_, '/')) => pattern.push('/'),
                    Some((_, other)) => {
                        pattern.push('\\');
                        pattern.push(other);
                    }
                    None => break,
                },
                c => pattern.push(c),
            }
        }
        Err(self.invalid(start, "unterminated regex"))
    }
}

/// Length in bytes of the run of ASCII letters, digits and `_` at the start of `text`.
fn word_len(text: &str) -> usize {
    text.bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(src: &str) -> Vec<Token> {
        let lexer = Lexer::new(src);
        let mut pos = 0;
        let mut out = Vec::new();
        loop {
            let spanned = lexer.scan(pos).unwrap();
            if spanned.token == Token::Eof {
                return out;
            }
            pos = spanned.end;
            out.push(spanned.token);
        }
    }

    #[test]
    fn lexer_splits_words_numbers_durations_and_symbols() {
        assert_eq!(
            tokens("SELECT x::float,1.5 >= 10s <> .5 $p -- trailing comment"),
            vec![
                Token::Ident("SELECT".into()),
                Token::Ident("x".into()),
                Token::Symbol("::"),
                Token::Ident("float".into()),
                Token::Symbol(","),
                Token::Float("1.5".into()),
                Token::Symbol(">="),
                Token::Duration("10s".into()),
                Token::Symbol("<>"),
                Token::Float(".5".into()),
                Token::Param("p".into()),
            ]
        );
    }

    #[test]
    fn lexer_unescapes_strings_and_quoted_identifiers() {
        assert_eq!(
            tokens(r#"'it\'s\n' "a \"b\" \\" /* c */ 'µ'"#),
            vec![
                Token::String("it's\n".into()),
                Token::QuotedIdent("a \"b\" \\".into()),
                Token::String("µ".into()),
            ]
        );
    }

    #[test]
    fn lexer_rejects_bad_escapes_unterminated_strings_and_bad_durations() {
        let cases = [
            ("'a\\x'", "bad escape \\x", 3),
            ("x = 'abc", "unterminated string", 5),
            ("\"abc", "unterminated quoted identifier", 1),
            ("time > 10x", "invalid duration \"10x\"", 8),
            ("a # b", "unexpected character '#'", 3),
        ];
        for (src, message, column) in cases {
            let lexer = Lexer::new(src);
            let mut pos = 0;
            let err = loop {
                match lexer.scan(pos) {
                    Ok(s) => pos = s.end,
                    Err(e) => break e,
                }
            };
            assert_eq!(
                err,
                Error::Invalid {
                    message: message.to_owned(),
                    line: 1,
                    column
                },
                "{src}"
            );
        }
    }

    #[test]
    fn regexes_keep_escapes_except_for_slashes() {
        let lexer = Lexer::new(r" /a\/b\d+/ rest");
        let (pattern, spanned) = lexer.scan_regex(0).unwrap().unwrap();
        assert_eq!(pattern, r"a/b\d+");
        assert_eq!(spanned.end, 10);
        assert_eq!(lexer.scan_regex(10).unwrap(), None);
        assert!(Lexer::new("/abc").scan_regex(0).is_err());
    }

    #[test]
    fn positions_count_lines_and_characters() {
        let lexer = Lexer::new("ab\nµcd");
        assert_eq!(lexer.position(0), (1, 1));
        assert_eq!(lexer.position(3), (2, 1));
        assert_eq!(lexer.position(5), (2, 2));
    }
}
