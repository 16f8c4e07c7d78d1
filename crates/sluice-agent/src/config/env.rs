//! Environment variables in configuration text: `$VAR`, `${VAR}`, `${VAR:-default}`,
//! `${VAR-default}` and `${VAR:?message}`, as Telegraf expands them.

/// Why a variable could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EnvError {
    /// 1-based line of the reference.
    pub(crate) line: usize,
    /// The message, naming the variable.
    pub(crate) message: String,
}

/// Expands variables in `text` using `lookup`. Lines whose first non-blank character is
/// `#` are left alone. A variable that is undefined and has no default is left literally.
pub(crate) fn expand(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, EnvError> {
    let mut out = String::with_capacity(text.len());
    for (index, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            continue;
        }
        expand_line(line, lookup, &mut out).map_err(|message| EnvError {
            line: index + 1,
            message,
        })?;
    }
    Ok(out)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn expand_line(
    line: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut String,
) -> Result<(), String> {
    let mut rest = line;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(body) = after.strip_prefix('{') {
            let Some(end) = body.find('}') else {
                out.push_str(&rest[pos..]);
                return Ok(());
            };
            let inner = &body[..end];
            let name_len = inner
                .find(|c: char| !is_name_char(c))
                .unwrap_or(inner.len());
            let (name, op) = inner.split_at(name_len);
            let value = lookup(name);
            let set_nonempty = value.as_deref().is_some_and(|v| !v.is_empty());
            let replacement = if op.is_empty() {
                value
            } else if let Some(default) = op.strip_prefix(":-") {
                Some(if set_nonempty {
                    value.unwrap_or_default()
                } else {
                    default.to_owned()
                })
            } else if let Some(default) = op.strip_prefix('-') {
                Some(value.unwrap_or_else(|| default.to_owned()))
            } else if let Some(message) = op.strip_prefix(":?") {
                if !set_nonempty {
                    return Err(format!(
                        "environment variable {name} is required: {message}"
                    ));
                }
                value
            } else if let Some(message) = op.strip_prefix('?') {
                if value.is_none() {
                    return Err(format!(
                        "environment variable {name} is required: {message}"
                    ));
                }
                value
            } else {
                None
            };
            match replacement {
                Some(v) if !name.is_empty() => out.push_str(&v),
                _ => out.push_str(&rest[pos..pos + 2 + end + 1]),
            }
            rest = &body[end + 1..];
        } else {
            let name_len = after
                .find(|c: char| !is_name_char(c))
                .unwrap_or(after.len());
            let name = &after[..name_len];
            match (!name.is_empty()).then(|| lookup(name)).flatten() {
                Some(v) => out.push_str(&v),
                None => {
                    out.push('$');
                    out.push_str(name);
                }
            }
            rest = &after[name_len..];
        }
    }
    out.push_str(rest);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("db1".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn every_form_expands_as_telegraf_does() {
        let cases = [
            ("a = \"$HOST\"", "a = \"db1\""),
            ("a = \"${HOST}:8086\"", "a = \"db1:8086\""),
            ("a = \"${MISSING:-x}\"", "a = \"x\""),
            ("a = \"${EMPTY:-x}\"", "a = \"x\""),
            ("a = \"${EMPTY-x}\"", "a = \"\""),
            ("a = \"${MISSING-x}\"", "a = \"x\""),
            ("a = \"${HOST:?need it}\"", "a = \"db1\""),
            ("a = \"$MISSING\"", "a = \"$MISSING\""),
            ("a = \"${MISSING}\"", "a = \"${MISSING}\""),
            ("a = \"5$\"", "a = \"5$\""),
            ("# $HOST stays in comments", "# $HOST stays in comments"),
        ];
        for (input, expected) in cases {
            assert_eq!(expand(input, &env).unwrap(), expected, "{input}");
        }
    }

    #[test]
    fn required_variables_fail_with_their_message_and_line() {
        let err = expand("a = 1\nb = \"${MISSING:?set MISSING}\"", &env).unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("MISSING") && err.message.contains("set MISSING"));
        assert!(expand("b = \"${EMPTY:?x}\"", &env).is_err());
    }
}
