//! Query-string (and form body) parameters, parsed leniently and read by name.

use crate::error::{Error, Result};

/// The `key=value` pairs of a query string or an urlencoded form, in order.
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parses a query string (without the `?`); `None` gives no parameters.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a string that is not urlencoded.
    pub fn parse(query: Option<&str>) -> Result<Params> {
        let Some(query) = query else {
            return Ok(Params::default());
        };
        serde_urlencoded::from_str(query)
            .map(Params)
            .map_err(|err| Error::InvalidParameter {
                name: "query string",
                reason: err.to_string(),
            })
    }

    /// Adds the pairs of an urlencoded form body after the existing ones.
    ///
    /// # Errors
    /// [`Error::InvalidBody`] for a body that is not an urlencoded form.
    pub fn extend_from_form(&mut self, body: &[u8]) -> Result<()> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(body).map_err(|err| Error::InvalidBody {
                reason: format!("invalid form body: {err}"),
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
    fn form_bodies_add_to_the_query_string() {
        let mut params = Params::parse(Some("db=x")).unwrap();
        params.extend_from_form(b"q=SHOW+DATABASES").unwrap();
        assert_eq!(params.get("q"), Some("SHOW DATABASES"));
        assert_eq!(params.get("db"), Some("x"));
    }
}
