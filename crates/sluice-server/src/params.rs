//! Query-string (and form body) parameters, parsed leniently and read by name.

use crate::error::{Error, Result};

/// The `key=value` pairs of a query string or an urlencoded form, in order.
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parses a query string (without the `?`); `None` gives no parameters.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a name or value that is not UTF-8 once
    /// percent-decoded.
    pub fn parse(query: Option<&str>) -> Result<Params> {
        let Some(query) = query else {
            return Ok(Params::default());
        };
        decode(query.as_bytes())
            .map(Params)
            .map_err(|reason| Error::InvalidParameter {
                name: "query string",
                reason,
            })
    }

    /// Adds the pairs of an urlencoded form body after the existing ones.
    ///
    /// # Errors
    /// [`Error::InvalidBody`] for a name or value that is not UTF-8 once percent-decoded.
    pub fn extend_from_form(&mut self, body: &[u8]) -> Result<()> {
        let pairs = decode(body).map_err(|reason| Error::InvalidBody {
            reason: format!("invalid form body: {reason}"),
        })?;
        self.0.extend(pairs);
        Ok(())
    }

    /// Adds the pairs of `other` after the existing ones.
    pub fn extend(&mut self, other: Params) {
        self.0.extend(other.0);
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The first non-empty value of `key`.
    pub fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    /// A boolean parameter: `true`/`false` (also `1`/`0`, `yes`/`no`), or `default` when
    /// absent or empty.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for another value.
    pub fn flag(&self, key: &'static str, default: bool) -> Result<bool> {
        match self.non_empty(key).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(default),
            Some("true" | "1" | "yes" | "on") => Ok(true),
            Some("false" | "0" | "no" | "off") => Ok(false),
            Some(other) => Err(Error::InvalidParameter {
                name: key,
                reason: format!("expected true or false, got {other:?}"),
            }),
        }
    }
}

/// The `name=value` pairs of urlencoded `text`: `+` is a space and `%XX` a byte (a `%`
/// not followed by two hex digits stays as it is, as browsers and Go's `net/url` leave
/// it). The bytes must be UTF-8: read as lossy text, bytes that are not would name, say,
/// a new database `x\u{FFFD}(` the client never wrote.
fn decode(text: &[u8]) -> std::result::Result<Vec<(String, String)>, String> {
    fn unescape(part: &[u8]) -> Option<String> {
        // `+` first: an escaped `%2B` is a plus, not a space.
        let spaced: Vec<u8> = part
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        let decoded = percent_encoding::percent_decode(&spaced)
            .decode_utf8()
            .ok()?;
        Some(decoded.into_owned())
    }
    text.split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &[][..]),
            };
            let name = unescape(name).ok_or_else(|| {
                format!(
                    "a parameter name is not UTF-8 once percent-decoded: {:?}",
                    String::from_utf8_lossy(name)
                )
            })?;
            let value = unescape(value).ok_or_else(|| {
                format!("the value of {name:?} is not UTF-8 once percent-decoded")
            })?;
            Ok((name, value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_first_values_and_flags() {
        let params = Params::parse(Some("db=a%20b&db=c&x=&partial=false")).unwrap();
        assert_eq!(params.get("db"), Some("a b"));
        assert_eq!(params.non_empty("x"), None);
        assert!(!params.flag("partial", true).unwrap());
        assert!(params.flag("missing", true).unwrap());
        assert!(
            Params::parse(Some("p=maybe"))
                .unwrap()
                .flag("p", true)
                .is_err()
        );
    }

    #[test]
    fn values_are_percent_decoded_and_must_be_utf8() {
        let params = Params::parse(Some("q=a+b%2Bc%3d&e=%C3%A9&bad=%zz%4&n&&=v")).unwrap();
        assert_eq!(params.get("q"), Some("a b+c="));
        assert_eq!(params.get("e"), Some("é"));
        assert_eq!(params.get("bad"), Some("%zz%4"));
        assert_eq!(params.get("n"), Some(""));
        assert_eq!(params.get(""), Some("v"));
        let err = Params::parse(Some("db=x%c3%28")).unwrap_err().to_string();
        assert_eq!(
            err,
            r#"invalid parameter "query string": the value of "db" is not UTF-8 once percent-decoded"#
        );
        let mut params = Params::default();
        let err = params.extend_from_form(b"%ff=1").unwrap_err().to_string();
        assert!(err.contains("a parameter name is not UTF-8"), "{err}");
    }

    #[test]
    fn form_bodies_add_to_the_query_string() {
        let mut params = Params::parse(Some("db=x")).unwrap();
        params.extend_from_form(b"q=SHOW+DATABASES").unwrap();
        assert_eq!(params.get("q"), Some("SHOW DATABASES"));
        assert_eq!(params.get("db"), Some("x"));
    }
}
