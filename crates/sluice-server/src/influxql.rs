//! The few InfluxQL statements sluice runs so far: `CREATE DATABASE`, `DROP DATABASE` and
//! `SHOW DATABASES`; every other statement is recognised only as "not supported yet".

use std::time::Duration;

/// One statement of a `q` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Statement {
    /// `CREATE DATABASE name [WITH [DURATION d] [REPLICATION n] [SHARD DURATION d] [NAME rp]]`;
    /// `retention` is `None` without `DURATION`, `Some(None)` for `INF` or zero.
    CreateDatabase {
        name: String,
        retention: Option<Option<Duration>>,
    },
    /// `DROP DATABASE name`.
    DropDatabase { name: String },
    /// `SHOW DATABASES`.
    ShowDatabases,
    /// Anything else, by its leading keywords (e.g. `SELECT`).
    Unsupported { keywords: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// An unquoted word: a keyword, a name or a duration literal.
    Word(String),
    /// A `"double quoted"` identifier (or `'single quoted'` string), unescaped.
    Quoted(String),
    Semicolon,
    /// Any other character.
    Symbol(char),
}

fn tokenize(q: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut pos = 0;
    while let Some(c) = q[pos..].chars().next() {
        let rest = &q[pos..];
        if c.is_whitespace() {
            pos += c.len_utf8();
        } else if c == ';' {
            pos += 1;
            tokens.push(Token::Semicolon);
        } else if rest.starts_with("--") {
            // A comment runs to the end of the line.
            pos += rest.find('\n').unwrap_or(rest.len());
        } else if c == '"' || c == '\'' {
            let mut text = String::new();
            let mut chars = rest.char_indices().skip(1);
            loop {
                match chars.next() {
                    None => return Err(format!("unterminated quoted identifier: {rest}")),
                    Some((_, '\\')) => match chars.next() {
                        Some((_, escaped)) => text.push(escaped),
                        None => return Err("bad escape at end of query".into()),
                    },
                    Some((i, end)) if end == c => {
                        pos += i + 1;
                        break;
                    }
                    Some((_, other)) => text.push(other),
                }
            }
            tokens.push(Token::Quoted(text));
        } else if c.is_alphanumeric() || c == '_' {
            let len = rest
                .find(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.')))
                .unwrap_or(rest.len());
            tokens.push(Token::Word(rest[..len].to_owned()));
            pos += len;
        } else {
            pos += c.len_utf8();
            tokens.push(Token::Symbol(c));
        }
    }
    Ok(tokens)
}

/// Splits `q` into statements (empty statements between `;` are skipped).
///
/// # Errors
/// A lower-case message for a statement that starts like a supported one but is malformed.
pub(crate) fn parse(q: &str) -> Result<Vec<Statement>, String> {
    let tokens = tokenize(q)?;
    tokens
        .split(|t| *t == Token::Semicolon)
        .filter(|statement| !statement.is_empty())
        .map(parse_statement)
        .collect()
}

fn keyword(token: Option<&Token>) -> Option<String> {
    match token {
        Some(Token::Word(word)) => Some(word.to_ascii_uppercase()),
        _ => None,
    }
}

fn name(token: Option<&Token>, what: &str) -> Result<String, String> {
    match token {
        Some(Token::Word(word) | Token::Quoted(word)) if !word.is_empty() => Ok(word.clone()),
        _ => Err(format!("found {}, expected {what}", describe(token))),
    }
}

fn describe(token: Option<&Token>) -> String {
    match token {
        None => "EOF".into(),
        Some(Token::Word(w)) => w.clone(),
        Some(Token::Quoted(q)) => format!("{q:?}"),
        Some(Token::Semicolon) => ";".into(),
        Some(Token::Symbol(c)) => c.to_string(),
    }
}

fn parse_statement(tokens: &[Token]) -> Result<Statement, String> {
    let first = keyword(tokens.first());
    let second = keyword(tokens.get(1));
    match (first.as_deref(), second.as_deref()) {
        (Some("CREATE"), Some("DATABASE")) => {
            let name = name(tokens.get(2), "identifier")?;
            let mut retention = None;
            let mut rest = tokens[3..].iter();
            if let Some(token) = rest.next() {
                if keyword(Some(token)).as_deref() != Some("WITH") {
                    return Err(format!("found {}, expected WITH", describe(Some(token))));
                }
                let mut rest = rest.peekable();
                if rest.peek().is_none() {
                    return Err("found EOF, expected DURATION, NAME, REPLICATION, SHARD".into());
                }
                while let Some(token) = rest.next() {
                    match keyword(Some(token)).as_deref() {
                        Some("DURATION") => {
                            retention = Some(parse_retention(rest.next())?);
                        }
                        Some("REPLICATION") | Some("NAME") => {
                            name_or_number(rest.next())?;
                        }
                        Some("SHARD") => {
                            if keyword(rest.next()).as_deref() != Some("DURATION") {
                                return Err("expected DURATION after SHARD".into());
                            }
                            parse_retention(rest.next())?;
                        }
                        _ => {
                            return Err(format!(
                                "found {}, expected DURATION, NAME, REPLICATION, SHARD",
                                describe(Some(token))
                            ));
                        }
                    }
                }
            }
            Ok(Statement::CreateDatabase { name, retention })
        }
        (Some("DROP"), Some("DATABASE")) => {
            let name = name(tokens.get(2), "identifier")?;
            if let Some(extra) = tokens.get(3) {
                return Err(format!("found {}, expected ;", describe(Some(extra))));
            }
            Ok(Statement::DropDatabase { name })
        }
        (Some("SHOW"), Some("DATABASES")) => {
            if let Some(extra) = tokens.get(2) {
                return Err(format!("found {}, expected ;", describe(Some(extra))));
            }
            Ok(Statement::ShowDatabases)
        }
        _ => Ok(Statement::Unsupported {
            keywords: [first, second]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" "),
        }),
    }
}

fn name_or_number(token: Option<&Token>) -> Result<(), String> {
    name(token, "identifier or number").map(drop)
}

/// A retention duration: `INF`, or an InfluxQL duration literal such as `30d`, `1h30m`
/// or `2w`; zero means infinite.
fn parse_retention(token: Option<&Token>) -> Result<Option<Duration>, String> {
    let word = match token {
        Some(Token::Word(word)) => word,
        other => return Err(format!("found {}, expected duration", describe(other))),
    };
    if word.eq_ignore_ascii_case("inf") {
        return Ok(None);
    }
    let duration = parse_duration(word).ok_or_else(|| format!("invalid duration {word:?}"))?;
    Ok(if duration.is_zero() {
        None
    } else {
        Some(duration)
    })
}

/// Parses an InfluxQL duration literal: one or more `<integer><unit>` with units `ns`, `u`
/// or `µ`, `ms`, `s`, `m`, `h`, `d`, `w`; a bare `0` is zero.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let mut total: u128 = 0;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let value: u128 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let nanos_per_unit: u128 = match &rest[..unit_len] {
            "ns" => 1,
            "u" | "µ" | "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            "w" => 604_800_000_000_000,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total = total.checked_add(value.checked_mul(nanos_per_unit)?)?;
    }
    let secs = u64::try_from(total / 1_000_000_000).ok()?;
    Some(Duration::new(secs, (total % 1_000_000_000) as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_statements_telegraf_and_clients_send() {
        assert_eq!(
            parse("CREATE DATABASE \"telegraf\"").unwrap(),
            vec![Statement::CreateDatabase {
                name: "telegraf".into(),
                retention: None
            }]
        );
        assert_eq!(
            parse("create database mydb with duration 30d replication 1 shard duration 1h name \"rp\";")
                .unwrap(),
            vec![Statement::CreateDatabase {
                name: "mydb".into(),
                retention: Some(Some(Duration::from_secs(30 * 86_400)))
            }]
        );
        assert_eq!(
            parse(
                "CREATE DATABASE x WITH DURATION INF; DROP DATABASE \"a \\\" b\"; SHOW DATABASES"
            )
            .unwrap(),
            vec![
                Statement::CreateDatabase {
                    name: "x".into(),
                    retention: Some(None)
                },
                Statement::DropDatabase {
                    name: "a \" b".into()
                },
                Statement::ShowDatabases
            ]
        );
    }

    #[test]
    fn other_statements_are_unsupported_not_errors() {
        assert_eq!(
            parse("SELECT * FROM cpu").unwrap(),
            vec![Statement::Unsupported {
                keywords: "SELECT".into()
            }]
        );
        assert_eq!(
            parse("show measurements").unwrap(),
            vec![Statement::Unsupported {
                keywords: "SHOW MEASUREMENTS".into()
            }]
        );
    }

    #[test]
    fn malformed_database_statements_are_errors() {
        assert!(parse("CREATE DATABASE").is_err());
        assert!(parse("CREATE DATABASE x WITH").is_err());
        assert!(parse("CREATE DATABASE x WITH DURATION forever").is_err());
        assert!(parse("DROP DATABASE x y").is_err());
        assert!(parse("CREATE DATABASE \"x").is_err());
    }

    #[test]
    fn parses_duration_literals() {
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2w"), Some(Duration::from_secs(1_209_600)));
        assert_eq!(parse_duration("15ms"), Some(Duration::from_millis(15)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("h"), None);
        assert_eq!(parse_duration("5y"), None);
    }
}
