//! The `address` of `inputs.postgresql`: Telegraf's default, and the `server` tag made
//! from it without secrets.

use crate::plugins::inputs::percent_decode;

/// Keys removed from the address before it becomes the `server` tag.
const SECRET_KEYS: &[&str] = &["password", "sslcert", "sslkey", "sslmode", "sslrootcert"];

/// The address Telegraf uses when none (or just `localhost`) is given.
pub fn effective_address(address: &str) -> String {
    let trimmed = address.trim();
    if trimmed.is_empty() || trimmed == "localhost" {
        "host=localhost sslmode=disable".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// What an address asks of TLS, in libpq's terms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsRequest {
    /// `sslmode`: `disable`, `allow`, `prefer` (libpq's default), `require`, `verify-ca`
    /// or `verify-full`.
    pub mode: String,
    /// `sslrootcert`: the CA file that vouches for the server.
    pub root_cert: Option<String>,
    /// `sslcert` and `sslkey`: a client certificate and its key.
    pub cert: Option<String>,
    pub key: Option<String>,
}

impl TlsRequest {
    /// Whether TLS is tried at all.
    pub fn wanted(&self) -> bool {
        self.mode != "disable"
    }

    /// Whether the server's certificate is verified (chain and name): `verify-ca` and
    /// `verify-full`, and, as libpq does, any mode given an `sslrootcert`.
    pub fn verified(&self) -> bool {
        self.mode.starts_with("verify-") || self.root_cert.is_some()
    }
}

/// Splits libpq's TLS keys off `address` (`key=value`, or a `postgres://` URL): returns
/// the address tokio-postgres parses, its `sslmode` reduced to the modes it knows
/// (`disable`, `prefer`, `require`), and what was asked.
///
/// # Errors
/// An address that does not parse, or an unknown `sslmode`.
pub fn split_tls(address: &str) -> Result<(String, TlsRequest), String> {
    let text = if address.starts_with("postgres://") || address.starts_with("postgresql://") {
        url_to_key_value(address)?
    } else {
        address.to_owned()
    };
    let mut request = TlsRequest {
        mode: "prefer".to_owned(),
        ..TlsRequest::default()
    };
    let mut rest = String::new();
    let mut last = 0;
    for pair in pairs(&text)? {
        let slot = match pair.key.as_str() {
            "sslmode" => {
                request.mode = pair.value.clone();
                None
            }
            "sslrootcert" => Some(&mut request.root_cert),
            "sslcert" => Some(&mut request.cert),
            "sslkey" => Some(&mut request.key),
            _ => continue,
        };
        if let Some(slot) = slot {
            *slot = Some(pair.value.clone()).filter(|v| !v.is_empty());
        }
        rest.push_str(text[last..pair.start].trim_end());
        last = pair.end;
    }
    rest.push_str(&text[last..]);
    let mode = match request.mode.as_str() {
        "disable" => "disable",
        "allow" | "prefer" => "prefer",
        "require" | "verify-ca" | "verify-full" => "require",
        other => {
            return Err(format!(
                "`address`: sslmode {other:?} is not one of disable, allow, prefer, require, verify-ca, verify-full"
            ));
        }
    };
    Ok((format!("{} sslmode={mode}", rest.trim()), request))
}

/// One `key=value` pair of a connection string, with the byte span it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pair {
    key: String,
    value: String,
    start: usize,
    end: usize,
}

/// Splits a `key=value key='quoted value'` connection string into pairs.
fn pairs(text: &str) -> Result<Vec<Pair>, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        let start = i;
        while i < bytes.len() && bytes[i] != b'=' && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = text[start..i].to_owned();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() || bytes[i] != b'=' {
            return Err(format!("`address`: {key:?} has no \"=value\""));
        }
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = Vec::new();
        if i < bytes.len() && bytes[i] == b'\'' {
            i += 1;
            loop {
                match bytes.get(i) {
                    None => return Err(format!("`address`: unterminated quote in {key:?}")),
                    Some(b'\\') => {
                        value.extend(bytes.get(i + 1));
                        i += 2;
                    }
                    Some(b'\'') => {
                        i += 1;
                        break;
                    }
                    Some(&b) => {
                        value.push(b);
                        i += 1;
                    }
                }
            }
        } else {
            while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                if bytes[i] == b'\\' {
                    value.extend(bytes.get(i + 1));
                    i += 2;
                } else {
                    value.push(bytes[i]);
                    i += 1;
                }
            }
        }
        out.push(Pair {
            key,
            value: String::from_utf8_lossy(&value).into_owned(),
            start,
            end: i.min(bytes.len()),
        });
    }
    Ok(out)
}

/// Quotes a value for a `key=value` string when it needs it.
fn quote(value: &str) -> String {
    if value.is_empty() || value.contains([' ', '=', '\'', '\\']) {
        format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
    } else {
        value.to_owned()
    }
}

/// A `postgres://` URL as a `key=value` string with the keys sorted, as Telegraf writes
/// it before removing secrets.
fn url_to_key_value(uri: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(uri).map_err(|err| format!("`address`: {uri:?}: {err}"))?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err(format!(
            "`address`: invalid connection protocol {:?}",
            url.scheme()
        ));
    }
    let mut parts = Vec::new();
    if !url.username().is_empty() {
        parts.push(format!("user={}", quote(&percent_decode(url.username()))));
    }
    if let Some(password) = url.password() {
        parts.push(format!("password={}", quote(&percent_decode(password))));
    }
    if let Some(host) = url.host_str().filter(|h| !h.is_empty()) {
        parts.push(format!("host={host}"));
    }
    if let Some(port) = url.port() {
        parts.push(format!("port={port}"));
    }
    let database = url.path().trim_start_matches('/');
    if !database.is_empty() {
        parts.push(format!("dbname={}", quote(&percent_decode(database))));
    }
    for (k, v) in url.query_pairs() {
        parts.push(format!("{k}={}", quote(&v)));
    }
    parts.sort();
    Ok(parts.join(" "))
}

/// The `server` tag: `outputaddress` if set, else the address (a URL first written as
/// `key=value`) without `password`, `sslcert`, `sslkey`, `sslmode`, `sslrootcert`.
///
/// # Errors
/// An address that does not parse.
pub fn sanitized(address: &str, output_address: &str) -> Result<String, String> {
    if !output_address.is_empty() {
        return Ok(output_address.to_owned());
    }
    let text = if address.starts_with("postgres://") || address.starts_with("postgresql://") {
        url_to_key_value(address)?
    } else {
        address.to_owned()
    };
    let mut out = String::new();
    let mut last = 0;
    for pair in pairs(&text)? {
        if SECRET_KEYS.contains(&pair.key.as_str()) {
            out.push_str(text[last..pair.start].trim_end());
            last = pair.end;
        }
    }
    out.push_str(&text[last..]);
    Ok(out.trim().to_owned())
}

/// The database the connection is made to, as the `db` tag of the `pg_stat_bgwriter`
/// metric: `dbname` of the sanitized address, else `postgres`.
pub fn connection_database(sanitized: &str) -> String {
    pairs(sanitized)
        .ok()
        .and_then(|pairs| {
            pairs
                .into_iter()
                .find(|p| p.key == "dbname" || p.key == "database")
                .map(|p| p.value)
        })
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "postgres".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_removed_from_key_value_addresses() {
        assert_eq!(
            sanitized(
                "host=localhost user=postgres password=password sslmode=disable",
                ""
            )
            .unwrap(),
            "host=localhost user=postgres"
        );
        assert_eq!(
            sanitized("password='a b\\'c' host=h sslrootcert=/ca.pem dbname=x", "").unwrap(),
            "host=h dbname=x"
        );
        assert_eq!(sanitized("host=h password=p", "db01").unwrap(), "db01");
    }

    #[test]
    fn urls_become_sorted_key_value_strings_without_secrets() {
        assert_eq!(
            sanitized(
                "postgres://postgres:s3cret@localhost:5432/postgres?sslmode=disable&statement_timeout=10000",
                ""
            )
            .unwrap(),
            "dbname=postgres host=localhost port=5432 statement_timeout=10000 user=postgres"
        );
        assert!(sanitized("mysql://h/db", "").is_err());
    }

    #[test]
    fn the_connection_database_defaults_to_postgres() {
        assert_eq!(connection_database("host=h user=u"), "postgres");
        assert_eq!(connection_database("dbname=app host=h"), "app");
    }

    #[test]
    fn tls_keys_are_split_off_in_libpqs_terms() {
        let (rest, tls) = split_tls(
            "host=h user=u sslmode=verify-full sslrootcert=/ca.pem sslcert=/c.pem sslkey=/k.pem",
        )
        .unwrap();
        assert_eq!(rest, "host=h user=u sslmode=require");
        assert!(tls.wanted() && tls.verified());
        assert_eq!(tls.root_cert.as_deref(), Some("/ca.pem"));
        assert_eq!(tls.cert.as_deref(), Some("/c.pem"));
        assert_eq!(tls.key.as_deref(), Some("/k.pem"));
        // libpq's default is prefer, which encrypts without verifying.
        let (rest, tls) = split_tls("host=h").unwrap();
        assert_eq!(rest, "host=h sslmode=prefer");
        assert!(tls.wanted() && !tls.verified());
        let (rest, tls) = split_tls("postgres://u:p@h:5432/db?sslmode=disable").unwrap();
        assert_eq!(
            rest,
            "dbname=db host=h password=p port=5432 user=u sslmode=disable"
        );
        assert!(!tls.wanted());
        assert!(
            split_tls("host=h sslmode=sometimes")
                .unwrap_err()
                .contains("sslmode")
        );
    }

    #[test]
    fn an_empty_address_means_localhost_without_tls() {
        assert_eq!(effective_address(""), "host=localhost sslmode=disable");
        assert_eq!(
            effective_address("localhost"),
            "host=localhost sslmode=disable"
        );
        assert_eq!(effective_address(" host=h "), "host=h");
    }
}
